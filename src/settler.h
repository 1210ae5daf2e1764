/* settler — records delivery outcomes in Redis from a thread of its own, with its own connection,
 * so a worker's deliveries need not wait for Redis to take them: everything handed over while the
 * previous round was in Redis goes in one pipelined round trip (queue_settle_many); while Redis is
 * away it keeps the outcomes and tries again.
 * Calls: queue, rds, pthread.
 * Threading: settler_add may be called from any one thread at a time (the worker's loop). */
#ifndef SY_SETTLER_H
#define SY_SETTLER_H
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

typedef struct settler settler;

/* Starts the thread with its own Redis connection (url). b is copied. NULL with the reason in
 * err. */
settler *settler_start(const char *url, const char *prefix, int64_t retention_s,
                       const queue_breaker *b, char *err, size_t errlen);
/* Hands over the outcome o of job j: takes the job's strings (zeroes *j) and copies o's. Until
 * Redis has the outcome, the job's stream entry stays pending in the worker's name. */
void settler_add(settler *s, queue_job *j, const queue_outcome *o);
/* Records what is left, trying for up to wait_ms while Redis is away, stops the thread and frees
 * s. Returns how many outcomes could not be recorded (their jobs are taken again after the
 * visibility timeout). */
size_t settler_stop(settler *s, int wait_ms);

#endif
