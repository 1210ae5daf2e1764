#include "rpipe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rds.h"

#define BATCH_MAX 512   /* calls written in one pipeline at most */

typedef struct call {
    const char *name;       /* embedded script (static storage) */
    char *cmd;              /* its EVALSHA, formatted; owned */
    long long len;          /* bytes in cmd */
    rpipe_done done;        /* callback */
    void *arg;              /* its argument */
    redisReply *rep;        /* the reply, or NULL */
    struct call *next;      /* queue link */
} call;

struct rpipe {
    rds *r;                 /* used by the pipeline thread only */
    pthread_t thread;
    pthread_mutex_t mu;     /* guards head, tail and stopping */
    pthread_cond_t work;    /* signalled when a call is queued or on stop */
    call *head, *tail;      /* calls waiting for the next batch */
    int stopping;
};

static void finish(call *c, const char *why)
{
    c->done(c->rep, c->rep ? NULL : why, c->arg);
    if (c->rep)
        freeReplyObject(c->rep);
    free(c->cmd);
    free(c);
}

/* One batch: every call appended, one flush, the replies read in order. A script Redis does not
 * know yet (NOSCRIPT: it did not run) is loaded and its call sent again. */
static void run_batch(rds *r, call *batch)
{
    if (rds_ensure(r) == 0) {
        int appended = 0;
        for (call *c = batch; c; c = c->next, appended++)
            if (rds_append_formatted(r, c->cmd, (size_t)c->len) != 0)
                break;
        call *c = batch;
        for (int i = 0; i < appended; i++, c = c->next)
            c->rep = rds_read(r);
        for (c = batch; c; c = c->next)
            if (rds_noscript(c->rep)) {
                freeReplyObject(c->rep);
                c->rep = NULL;
                if (rds_script_load(r, c->name) == 0 &&
                    rds_append_formatted(r, c->cmd, (size_t)c->len) == 0)
                    c->rep = rds_read(r);
            }
    }
    const char *why = rds_error(r)[0] ? rds_error(r) : "Redis connection lost";
    log_hold();   /* the callbacks' log lines go out in one write */
    for (call *c = batch, *next; c; c = next) {
        next = c->next;
        finish(c, why);
    }
    log_release();
}

static void *pipeline(void *arg)
{
    rpipe *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->work, &p->mu);
        if (!p->head)
            break;
        call *batch = p->head, *last = batch;
        for (int n = 1; n < BATCH_MAX && last->next; n++)
            last = last->next;
        p->head = last->next;
        if (!p->head)
            p->tail = NULL;
        last->next = NULL;
        int stopping = p->stopping;
        pthread_mutex_unlock(&p->mu);
        if (stopping) {
            for (call *c = batch, *next; c; c = next) {
                next = c->next;
                finish(c, "the hub is stopping");
            }
        } else {
            run_batch(p->r, batch);
        }
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

rpipe *rpipe_start(const char *url, int timeout_ms, char *err, size_t errlen)
{
    rpipe *p = calloc(1, sizeof *p);
    p->r = rds_new(url, timeout_ms, err, errlen);
    if (!p->r) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    if (pthread_create(&p->thread, NULL, pipeline, p) != 0) {
        snprintf(err, errlen, "cannot start the Redis pipeline thread");
        rds_free(p->r);
        free(p);
        return NULL;
    }
    return p;
}

void rpipe_stop(rpipe *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
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
        finish(c, "no such embedded script");
        return;
    }
    pthread_mutex_lock(&p->mu);
    int stopping = p->stopping;
    if (!stopping) {
        if (p->tail)
            p->tail->next = c;
        else
            p->head = c;
        p->tail = c;
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->mu);
    if (stopping)
        finish(c, "the hub is stopping");
}
