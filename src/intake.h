/* intake — takes jobs from the stream and admits them for a worker, on a thread of its own with
 * its own Redis connection, so the worker's delivery loop never waits on those round trips: it
 * posts a request, goes on driving its transfers, and collects the result when the intake wakes it.
 * One request at a time.
 * Calls: queue, rds, pthread.
 * Threading: every call but the wake callback is made by the one owning thread (the worker's
 * loop); wake(arg) is called on the intake's thread when a result is ready. */
#ifndef SY_INTAKE_H
#define SY_INTAKE_H
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

typedef struct intake intake;

typedef enum { INTAKE_IDLE, INTAKE_BUSY, INTAKE_DONE } intake_state;

/* The result of a request, valid until the next request (or intake_stop). */
typedef struct intake_result {
    int take;                  /* 1: the result of intake_take; 0: of intake_admit */
    int rc;                    /* take: jobs taken (0: none, -1: Redis failed); admit: 0 or -1 */
    queue_job *jobs;           /* take: the jobs, owned by the caller from now on (free each with
                                  queue_job_free, then the array) */
} intake_result;

/* Starts the thread with its own connection to url. wake(arg) is called when a result is ready.
 * NULL with the reason in err. */
intake *intake_start(const char *url, const char *prefix, const char *consumer,
                     int64_t visibility_ms, void (*wake)(void *), void *arg, char *err,
                     size_t errlen);
/* Waits for a request under way, stops the thread and frees in (jobs of an uncollected take
 * result are handed to *left / *nleft, the caller's to return to the queue; NULL: freed). */
void intake_stop(intake *in, queue_job **left, int *nleft);

intake_state intake_poll(intake *in);
/* Asks for up to max jobs (queue_take: reclaimed ones first if reclaim; blocking up to block_ms
 * when there are none). Only when intake_poll says INTAKE_IDLE. */
void intake_take(intake *in, int max, int block_ms, int reclaim);
/* Asks for admission of a[0..n) (queue_admit at now_ms). a and the jobs it points to are the
 * intake's until the result is collected. Only when INTAKE_IDLE. */
void intake_admit(intake *in, int64_t now_ms, queue_admission *a, size_t n);
/* When intake_poll says INTAKE_DONE: the result, and the intake is idle again. */
intake_result intake_collect(intake *in);

#endif
