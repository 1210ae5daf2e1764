#include "settler.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct settle_item {    /* an outcome waiting for Redis */
    queue_job job;               /* owned */
    queue_outcome o;             /* its strings owned */
    struct settle_item *next;    /* oldest first */
} settle_item;

struct settler {
    pthread_t thread;            /* runs settler_main */
    pthread_mutex_t mu;          /* guards incoming, nincoming, stopping */
    pthread_cond_t cv;           /* signalled on add and stop */
    settle_item *incoming;       /* handed over, not yet taken by the thread, oldest first */
    settle_item **incoming_tail; /* where the next one is linked */
    int stopping;                /* 1: record what is left, then end */
    int64_t stop_by_ms;          /* monotonic ms: give up on Redis after this */
    size_t dropped;              /* outcomes left unrecorded at the end */
    rds *r;                      /* the thread's connection */
    char *prefix;                /* key prefix, owned */
    int64_t retention_s;         /* as queue_settle */
    queue_breaker breaker;       /* as queue_settle */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void settle_item_free(settle_item *it)
{
    queue_job_free(&it->job);
    free((char *)it->o.state);
    free((char *)it->o.last_error);
    free((char *)it->o.breaker);
    free(it);
}

/* Records the items in one pipelined round trip; returns those Redis did not take, in order. */
static settle_item *settle_items(settler *s, settle_item *list)
{
    size_t n = 0;
    for (settle_item *it = list; it; it = it->next)
        n++;
    const queue_job **jobs = malloc(n * sizeof *jobs);
    queue_outcome *o = malloc(n * sizeof *o);
    int *done = malloc(n * sizeof *done);
    size_t i = 0;
    for (settle_item *it = list; it; it = it->next, i++)
        jobs[i] = &it->job, o[i] = it->o;
    queue_settle_many(s->r, s->prefix, s->retention_s, &s->breaker, jobs, o, n, done);
    settle_item *left = NULL, **tail = &left;
    i = 0;
    for (settle_item *it = list, *next; it; it = next, i++) {
        next = it->next;
        if (done[i]) {
            settle_item_free(it);
        } else {
            it->next = NULL;
            *tail = it;
            tail = &it->next;
        }
    }
    free(jobs);
    free(o);
    free(done);
    return left;
}

static void *settler_main(void *arg)
{
    settler *s = arg;
    settle_item *left = NULL;   /* what Redis did not take yet, oldest first */
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->incoming && !s->stopping && !left)
            pthread_cond_wait(&s->cv, &s->mu);
        settle_item *batch = s->incoming;
        s->incoming = NULL;
        s->incoming_tail = &s->incoming;
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        settle_item **tail = &left;
        while (*tail)
            tail = &(*tail)->next;
        *tail = batch;
        if (left && rds_ensure(s->r) == 0)
            left = settle_items(s, left);
        if (!left && stopping)
            break;
        if (left) {   /* Redis is away: try again in a moment, or give up when stopping */
            if (stopping && mono_ms() > s->stop_by_ms)
                break;
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    for (settle_item *it = left, *next; it; it = next) {
        next = it->next;
        settle_item_free(it);
        s->dropped++;
    }
    return NULL;
}

settler *settler_start(const char *url, const char *prefix, int64_t retention_s,
                                   const queue_breaker *b, char *err, size_t errlen)
{
    settler *s = calloc(1, sizeof *s);
    s->r = rds_new(url, 5000, err, errlen);
    if (!s->r) {
        free(s);
        return NULL;
    }
    s->prefix = strdup(prefix);
    s->retention_s = retention_s;
    s->breaker = *b;
    s->incoming_tail = &s->incoming;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, settler_main, s) != 0) {
        snprintf(err, errlen, "cannot start the settle thread");
        rds_free(s->r);
        free(s->prefix);
        free(s);
        return NULL;
    }
    return s;
}

void settler_add(settler *s, queue_job *j, const queue_outcome *o)
{
    settle_item *it = calloc(1, sizeof *it);
    it->job = *j;
    memset(j, 0, sizeof *j);
    it->o = *o;
    it->o.state = dup_str(o->state);
    it->o.last_error = dup_str(o->last_error);
    it->o.breaker = dup_str(o->breaker);
    pthread_mutex_lock(&s->mu);
    *s->incoming_tail = it;
    s->incoming_tail = &it->next;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

size_t settler_stop(settler *s, int wait_ms)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    s->stop_by_ms = mono_ms() + wait_ms;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    size_t dropped = s->dropped;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    rds_free(s->r);
    free(s->prefix);
    free(s);
    return dropped;
}
