#include "intake.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct intake {
    pthread_t thread;
    pthread_mutex_t mu;          /* guards everything below but r */
    pthread_cond_t cv;           /* signalled on a new request and on stop */
    intake_state state;          /* IDLE: nothing asked; BUSY: asked, not done; DONE: result in */
    int stopping;
    /* the request */
    int take;                    /* 1: take, 0: admit */
    int max, block_ms, reclaim;  /* take */
    int64_t now_ms;              /* admit */
    queue_admission *adm;        /* admit */
    size_t nadm;                 /* admit */
    intake_result result;        /* when DONE */
    rds *r;                      /* the thread's connection */
    char *prefix, *consumer;     /* owned */
    int64_t visibility_ms;
    void (*wake)(void *);
    void *wake_arg;
};

static void *intake_main(void *arg)
{
    intake *in = arg;
    pthread_mutex_lock(&in->mu);
    for (;;) {
        while (in->state != INTAKE_BUSY && !in->stopping)
            pthread_cond_wait(&in->cv, &in->mu);
        if (in->state != INTAKE_BUSY)
            break;
        pthread_mutex_unlock(&in->mu);
        intake_result res = {.take = in->take};
        if (in->take) {
            res.rc = rds_ensure(in->r) == 0
                ? queue_take(in->r, in->prefix, in->consumer, in->max, in->block_ms,
                             in->visibility_ms, in->reclaim, &res.jobs)
                : -1;
        } else {
            res.rc = queue_admit(in->r, in->prefix, in->now_ms, in->adm, in->nadm);
        }
        pthread_mutex_lock(&in->mu);
        in->result = res;
        in->state = INTAKE_DONE;
        pthread_mutex_unlock(&in->mu);
        in->wake(in->wake_arg);
        pthread_mutex_lock(&in->mu);
    }
    pthread_mutex_unlock(&in->mu);
    return NULL;
}

intake *intake_start(const char *url, const char *prefix, const char *consumer,
                     int64_t visibility_ms, void (*wake)(void *), void *arg, char *err,
                     size_t errlen)
{
    intake *in = calloc(1, sizeof *in);
    in->r = rds_new(url, 5000, err, errlen);
    if (!in->r) {
        free(in);
        return NULL;
    }
    in->prefix = strdup(prefix);
    in->consumer = strdup(consumer);
    in->visibility_ms = visibility_ms;
    in->wake = wake;
    in->wake_arg = arg;
    pthread_mutex_init(&in->mu, NULL);
    pthread_cond_init(&in->cv, NULL);
    if (pthread_create(&in->thread, NULL, intake_main, in) != 0) {
        snprintf(err, errlen, "cannot start the intake thread");
        rds_free(in->r);
        free(in->prefix);
        free(in->consumer);
        free(in);
        return NULL;
    }
    return in;
}

void intake_stop(intake *in, queue_job **left, int *nleft)
{
    if (left)
        *left = NULL, *nleft = 0;
    if (!in)
        return;
    pthread_mutex_lock(&in->mu);
    in->stopping = 1;
    pthread_cond_signal(&in->cv);
    pthread_mutex_unlock(&in->mu);
    pthread_join(in->thread, NULL);   /* finishes a request under way first */
    if (in->state == INTAKE_DONE && in->result.take && in->result.rc > 0) {
        if (left) {
            *left = in->result.jobs, *nleft = in->result.rc;
        } else {
            for (int k = 0; k < in->result.rc; k++)
                queue_job_free(&in->result.jobs[k]);
            free(in->result.jobs);
        }
    } else if (in->state == INTAKE_DONE && in->result.take) {
        free(in->result.jobs);
    }
    pthread_mutex_destroy(&in->mu);
    pthread_cond_destroy(&in->cv);
    rds_free(in->r);
    free(in->prefix);
    free(in->consumer);
    free(in);
}

intake_state intake_poll(intake *in)
{
    pthread_mutex_lock(&in->mu);
    intake_state s = in->state;
    pthread_mutex_unlock(&in->mu);
    return s;
}

/* Marks the request the caller wrote (holding the lock) as posted, and wakes the thread. */
static void post_locked(intake *in)
{
    in->state = INTAKE_BUSY;
    pthread_cond_signal(&in->cv);
}

void intake_take(intake *in, int max, int block_ms, int reclaim)
{
    pthread_mutex_lock(&in->mu);
    in->take = 1;
    in->max = max;
    in->block_ms = block_ms;
    in->reclaim = reclaim;
    post_locked(in);
    pthread_mutex_unlock(&in->mu);
}

void intake_admit(intake *in, int64_t now_ms, queue_admission *a, size_t n)
{
    pthread_mutex_lock(&in->mu);
    in->take = 0;
    in->now_ms = now_ms;
    in->adm = a;
    in->nadm = n;
    post_locked(in);
    pthread_mutex_unlock(&in->mu);
}

intake_result intake_collect(intake *in)
{
    pthread_mutex_lock(&in->mu);
    intake_result res = in->result;
    memset(&in->result, 0, sizeof in->result);
    in->state = INTAKE_IDLE;
    pthread_mutex_unlock(&in->mu);
    return res;
}
