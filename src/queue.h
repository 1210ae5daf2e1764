/* queue — every Redis operation on events and jobs: enqueue an event's jobs, take jobs for a worker,
 * settle attempts, promote delayed jobs, reclaim jobs of dead workers, read event history and dead
 * letters. Multi-key writes go through the scripts in lua/.
 * Calls: rds, rpipe, codec, buf, cJSON, log.
 * Keys (P = prefix): P:jobs (stream, group "workers"; an entry is j <job> e <event> s <subscriber>
 * a <attempts so far>), P:delayed (zset job -> due ms), P:dead and P:dead:<sub> (zset job ->
 * dead_at ms), P:ev:<event> (hash; "jobs" lists job:subscriber pairs), P:job:<job> (hash, made at
 * the job's first attempt or settle; missing = pending), P:job:<job>:log (list of attempt JSON),
 * P:idem:<key> (string, 24 h), P:inflight:<sub> (zset job -> lease end), P:rate:<sub> (token
 * bucket), P:cb:<sub> (circuit), P:cb:probes (zset sub -> probe time), P:parked:<sub> (zset job
 * -> parked at), P:unpark (set of subs whose parked jobs go back). */
#ifndef SY_QUEUE_H
#define SY_QUEUE_H
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "rds.h"
#include "rpipe.h"

#define QUEUE_GROUP "workers"

typedef struct queue_event {
    const char *id;            /* event id */
    const char *topic;         /* published topic */
    const char *data;          /* data as JSON text */
    size_t data_len;           /* bytes in data */
    int64_t published_at_ms;   /* epoch ms */
    int64_t expires_at_ms;     /* epoch ms, 0 = never */
    int64_t due_ms;            /* deliver_at, epoch ms; 0 = now */
    const char *idem_key;      /* Idempotency-Key or NULL */
} queue_event;

/* The outcome of queue_publish: rc 0 (stored; id is the event's), 1 (the idempotency key was seen
 * in the last 24 h: id is the first event's id, nothing was enqueued) or -1 (Redis unavailable or
 * refused: nothing was enqueued, err says why). Strings are valid during the call only. */
typedef void (*queue_published)(int rc, const char *id, const char *err, void *arg);

/* Stores ev and enqueues one job per subscriber id (job ids given), atomically, pipelined with the
 * other threads' publishes through p. Everything is copied before it returns; done(arg) is called
 * once, later, on p's thread (or at once if p is stopping). */
void queue_publish(rpipe *p, const char *prefix, int64_t retention_s, const queue_event *ev,
                   const char *const *job_ids, const char *const *sub_ids, size_t n,
                   queue_published done, void *arg);

typedef struct queue_job {
    char *entry;               /* stream entry id (for settle) */
    char *job_id;              /* webhook-id */
    char *sub_id;              /* subscriber id */
    int attempts;              /* attempts made before this one */
    char *event_id;            /* event id */
    char *topic;               /* event topic; NULL until queue_admit loads the event */
    char *data;                /* event data JSON; NULL until queue_admit */
    int64_t published_at_ms;   /* epoch ms (queue_admit) */
    int64_t expires_at_ms;     /* epoch ms, 0 = never (queue_admit) */
    int leased;                /* 1: admission took an in-flight slot, which settle frees */
} queue_job;

void queue_job_free(queue_job *j);

/* Creates the consumer group if missing. Returns 0 or -1. */
int queue_setup(rds *r, const char *prefix);
/* Takes up to max new jobs for consumer (blocking up to block_ms when block_ms > 0; 0 = don't
 * block), plus up to max jobs idle for visibility_ms in other consumers: their ids and attempts,
 * read from the stream alone (queue_admit loads their events). Fills *out (malloc'd array, caller
 * frees each with queue_job_free and the array with free). Returns the count or -1. */
int queue_take(rds *r, const char *prefix, const char *consumer, int max, int block_ms,
               int64_t visibility_ms, int reclaim, queue_job **out);
/* Resets the idle time of entries this consumer holds, so they are not reclaimed while alive. */
int queue_heartbeat(rds *r, const char *prefix, const char *consumer, char *const *entries,
                    size_t n);
/* Moves due delayed jobs to the stream. Returns how many moved, or -1. */
int queue_promote(rds *r, const char *prefix, int64_t now_ms);

typedef struct queue_outcome {
    const char *state;         /* delivered | retrying | dead | discarded | gone | expired */
    int attempts;              /* attempts made, this one included */
    int64_t attempt_at_ms;     /* when this outcome's attempt was made, epoch ms; 0: none was */
    int64_t latency_ms;        /* how long the attempt took */
    int64_t due_ms;            /* retrying: when, epoch ms */
    int64_t now_ms;            /* epoch ms */
    int last_status;           /* the attempt's HTTP status, 0 = none */
    const char *last_error;    /* the attempt's error, or why none was made; "" if none */
    const char *breaker;       /* "ok" / "fail": what the attempt says of the endpoint; "" nothing */
} queue_outcome;

typedef struct queue_breaker {
    int failures;              /* consecutive failures that open a circuit; 0 = breaker off */
    int64_t probe_ms;          /* first wait before probing an open circuit, ms (doubles, to 64x) */
} queue_breaker;

enum {
    QUEUE_WAIT = 0,            /* over a limit: ask again after wait_ms */
    QUEUE_ATTEMPT = 1,         /* attempt now */
    QUEUE_PARK = 2,            /* the subscriber's circuit is open: park the job */
    QUEUE_EXPIRED = 3,         /* the event's ttl ran out: settle the job as expired */
    QUEUE_DROPPED = 4,         /* the event is gone (retention): entry removed, nothing to settle */
};

typedef struct queue_admission {
    queue_job *job;            /* the job asking; queue_admit fills its event fields */
    int max_in_flight;         /* its subscriber's limit, 0 = none */
    int rate_per_s;            /* its subscriber's limit, 0 = none */
    int64_t lease_ms;          /* how long an in-flight slot (or a probe) is held at most */
    int disabled;              /* 1: the subscriber is disabled: check the event, admit nothing */
    int verdict;               /* out: QUEUE_* (QUEUE_WAIT for a disabled subscriber's live job) */
    int64_t wait_ms;           /* out: with QUEUE_WAIT */
    int probe;                 /* out: 1 if this attempt probes an open circuit */
} queue_admission;

/* Loads the events of n jobs just taken (each event once) into them and decides at once (one round
 * trip) whether each may be attempted now, under its subscriber's circuit breaker, max_in_flight
 * and rate limit, counted across all workers; an admitted job is marked delivering. Slots are
 * released by queue_settle. Returns 0, or -1 when Redis failed (verdicts untouched). */
int queue_admit(rds *r, const char *prefix, int64_t now_ms, queue_admission *a, size_t n);

/* Records an attempt's outcome and releases the stream entry. Returns 0 or -1. */
int queue_settle(rds *r, const char *prefix, int64_t retention_s, const queue_breaker *b,
                 const queue_job *j, const queue_outcome *o);
/* queue_settle for n jobs in one pipelined round trip. done[i] = 1 for each outcome Redis took.
 * Returns how many it took. */
size_t queue_settle_many(rds *r, const char *prefix, int64_t retention_s, const queue_breaker *b,
                         const queue_job *const *jobs, const queue_outcome *o, size_t n, int *done);
/* Circuit state of a subscriber: "closed", "open" or "half_open"; *failures and *probe_at_ms
 * (epoch ms) filled when not closed. -1 on Redis failure. */
int queue_breaker_state(rds *r, const char *prefix, const char *sub_id, char state[16],
                        long long *failures, long long *probe_at_ms);

/* GET /v1/events/{id} body, or NULL with *found = 0 (no such event) or -1 (Redis failed). */
cJSON *queue_event_json(rds *r, const char *prefix, const char *event_id, int *found);
/* Dead letters, newest last, from cursor ("" = start), at most limit, optionally one subscriber.
 * Returns {"items": [...], "next_cursor": ...} or NULL (Redis failed). */
cJSON *queue_dead_list(rds *r, const char *prefix, const char *sub_id, const char *cursor,
                       int limit);
/* 1 replayed, 0 not a dead letter, -1 Redis failed. */
int queue_dead_replay(rds *r, const char *prefix, const char *job_id);
/* 1 deleted, 0 not a dead letter, -1 Redis failed. */
int queue_dead_delete(rds *r, const char *prefix, const char *job_id);
/* Replays the dead letters of sub_id (NULL: all) dead between since_ms and until_ms, spread out at
 * rate_per_s from now_ms (the first at once). Returns the count, or -1. */
long queue_dead_replay_range(rds *r, const char *prefix, const char *sub_id, int64_t since_ms,
                             int64_t until_ms, int rate_per_s, int64_t now_ms);
/* Age in ms of the oldest job on the stream (waiting or being delivered): the queue's lag. 0 when
 * the stream is empty, -1 on failure. */
long long queue_oldest_age_ms(rds *r, const char *prefix, int64_t now_ms);
/* Subscribers whose circuit is open or half-open, or -1. */
long long queue_open_circuits(rds *r, const char *prefix);
/* Jobs waiting: stream length + delayed. -1 on failure. */
long long queue_depth(rds *r, const char *prefix, long long *delayed, long long *dead);

#endif
