#include "rpipe.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rds.h"

typedef struct call {
    const char *name;       /* embedded script (static storage); NULL for our own SCRIPT LOAD */
    char *cmd;              /* its EVALSHA, formatted; owned */
    long long len;          /* bytes in cmd */
    rpipe_done done;        /* callback */
    void *arg;              /* its argument */
    int64_t sent_ms;        /* when it was appended (monotonic): its answer is due by + timeout */
    int reloaded;           /* 1 once it was sent again after NOSCRIPT */
    struct call *next;      /* queue link */
} call;

/* A FIFO of calls. */
typedef struct queue {
    call *head, *tail;
} queue;

struct rpipe {
    loop *l;                /* the loop that drives it */
    rds *r;                 /* the connection; its context is non-blocking while connected */
    redisContext *c;        /* the context last seen connected, or NULL */
    int fd;                 /* c's socket as watched on l, or -1 */
    unsigned watching;      /* LOOP_* watched on fd */
    int timeout_ms;         /* connect timeout, and how long a call may wait for its answer */
    queue sent;             /* appended to c, in the order their replies will come */
    queue failed;           /* failed before they were sent; answered before the next wait */
    char failed_why[300];   /* why (the same for all of them: Redis is away) */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void push(queue *q, call *c)
{
    c->next = NULL;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
}

static call *pop(queue *q)
{
    call *c = q->head;
    if (c && !(q->head = c->next))
        q->tail = NULL;
    return c;
}

static void finish(call *c, redisReply *rep, const char *why)
{
    if (c->done)
        c->done(rep, rep ? NULL : why, c->arg);
    free(c->cmd);
    free(c);
}

/* Answers every call in q with why. */
static void fail_all(queue *q, const char *why)
{
    log_hold();
    for (call *c; (c = pop(q));)
        finish(c, NULL, why);
    log_release();
}

static void set_watch(rpipe *p, unsigned events);
static void on_io(void *arg, unsigned events);

/* The connection failed: it goes, and every call sent on it fails with why. */
static void lost(rpipe *p, const char *why)
{
    char reason[300];
    snprintf(reason, sizeof reason, "%s", why);
    if (p->fd >= 0)
        loop_unwatch(p->l, p->fd);
    p->fd = -1;
    p->watching = 0;
    p->c = NULL;
    rds_drop(p->r, reason);
    log_msg(LOG_WARN, "redis.lost", "error=\"%s\"", reason);
    fail_all(&p->sent, reason);
}

static void lost_io(rpipe *p)
{
    char why[300];
    snprintf(why, sizeof why, "Redis connection lost: %s", rds_lost_reason(p->r));
    lost(p, why);
}

static void set_watch(rpipe *p, unsigned events)
{
    if (p->fd < 0 || events == p->watching)
        return;
    if (loop_watch(p->l, p->fd, events, on_io, p) != 0) {
        lost(p, "cannot watch the Redis connection");
        return;
    }
    p->watching = events;
}

/* Writes what is buffered, as far as the socket takes it; watches for room if some is left. */
static void flush(rpipe *p)
{
    if (!p->c || !p->c->obuf || !*p->c->obuf)
        return;
    int done = 0;
    if (redisBufferWrite(p->c, &done) != REDIS_OK) {
        lost_io(p);
        return;
    }
    set_watch(p, done ? LOOP_IN : LOOP_IN | LOOP_OUT);
}

/* Connected (again, perhaps): the context becomes non-blocking and watched. Returns 0, or -1. */
static int connected(rpipe *p)
{
    if (rds_ensure(p->r) != 0)
        return -1;
    redisContext *c = rds_context(p->r);
    if (c == p->c)
        return 0;
    p->c = c;
    p->fd = c->fd;
    p->watching = 0;
    int fl = fcntl(c->fd, F_GETFL);
    if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        lost(p, "cannot make the Redis connection non-blocking");
        return -1;
    }
    c->flags &= ~REDIS_BLOCK;
    set_watch(p, LOOP_IN);
    return p->c ? 0 : -1;
}

/* Sends c again after NOSCRIPT, behind a SCRIPT LOAD: Redis runs them in order. */
static int resend(rpipe *p, call *c)
{
    if (rds_script_load_append(p->r, c->name) != 0 ||
        redisAppendFormattedCommand(p->c, c->cmd, (size_t)c->len) != REDIS_OK)
        return -1;
    call *load = calloc(1, sizeof *load);
    load->sent_ms = c->sent_ms = mono_ms();
    c->reloaded = 1;
    push(&p->sent, load);
    push(&p->sent, c);
    return 0;
}

static void on_io(void *arg, unsigned events)
{
    rpipe *p = arg;
    if (events & LOOP_OUT) {
        flush(p);
        if (!p->c)
            return;
    }
    if (!(events & (LOOP_IN | LOOP_ERR)))
        return;
    if (redisBufferRead(p->c) != REDIS_OK) {
        lost_io(p);
        return;
    }
    log_hold();   /* the callbacks' log lines go out in one write */
    for (;;) {
        void *v = NULL;
        if (redisGetReplyFromReader(p->c, &v) != REDIS_OK) {
            log_release();
            lost(p, "Redis sent a reply that cannot be read");
            return;
        }
        if (!v)
            break;
        redisReply *rep = v;
        call *c = pop(&p->sent);
        if (!c) {   /* nothing asked for it: the stream is out of step */
            freeReplyObject(rep);
            log_release();
            lost(p, "Redis sent a reply nothing asked for");
            return;
        }
        if (c->name && !c->reloaded && rds_noscript(rep) && resend(p, c) == 0) {
            freeReplyObject(rep);
            continue;
        }
        finish(c, rep, NULL);
        freeReplyObject(rep);
    }
    log_release();
}

/* Before each wait: answer what failed unsent, write what was queued this round, and fail the
 * connection if its oldest call has waited too long. Returns how long the loop may wait. */
static int before_wait(void *arg)
{
    rpipe *p = arg;
    if (p->failed.head)
        fail_all(&p->failed, p->failed_why);
    flush(p);
    if (!p->sent.head)
        return -1;
    int64_t left = p->sent.head->sent_ms + p->timeout_ms - mono_ms();
    if (left <= 0) {
        char why[120];
        snprintf(why, sizeof why, "Redis did not answer within %d ms", p->timeout_ms);
        lost(p, why);
        return -1;
    }
    return (int)left;
}

rpipe *rpipe_new(loop *l, const char *url, int timeout_ms, char *err, size_t errlen)
{
    rpipe *p = calloc(1, sizeof *p);
    p->l = l;
    p->fd = -1;
    p->timeout_ms = timeout_ms;
    p->r = rds_new(url, timeout_ms, err, errlen);
    if (!p->r) {
        free(p);
        return NULL;
    }
    if (loop_before_wait(l, before_wait, p) != 0) {
        snprintf(err, errlen, "the event loop has no room for another Redis pipeline");
        rds_free(p->r);
        free(p);
        return NULL;
    }
    return p;
}

void rpipe_free(rpipe *p)
{
    if (!p)
        return;
    fail_all(&p->failed, p->failed_why);
    fail_all(&p->sent, "the hub is stopping");
    if (p->fd >= 0)
        loop_unwatch(p->l, p->fd);
    rds_free(p->r);
    free(p);
}

void rpipe_submit(rpipe *p, const char *name, int argc, const char **argv, const size_t *lens,
                  rpipe_done done, void *arg)
{
    call *c = calloc(1, sizeof *c);
    c->name = name;
    c->done = done;
    c->arg = arg;
    c->cmd = rds_script_format(name, argc, argv, lens, &c->len);
    if (!c->cmd) {
        snprintf(p->failed_why, sizeof p->failed_why, "no embedded script %s", name);
        push(&p->failed, c);
        return;
    }
    if (connected(p) != 0 ||
        redisAppendFormattedCommand(p->c, c->cmd, (size_t)c->len) != REDIS_OK) {
        snprintf(p->failed_why, sizeof p->failed_why, "%s",
                 rds_error(p->r)[0] ? rds_error(p->r) : "Redis is not reachable");
        push(&p->failed, c);
        return;
    }
    c->sent_ms = mono_ms();
    push(&p->sent, c);
}
