/* worker_int — what the worker's two halves share, and nothing else includes: its state, and the
 * calls between worker.c (the process, its loop and the HTTP transfers) and worker_flow.c (how a
 * job goes from taken to started: holding, admission, waiting for a share or a slot).
 * Everything here is the worker loop's, except cur while the intake admits it (see there).
 * Calls (worker_flow.c): queue, intake, settler, slots, registry, codec, metrics, log. */
#ifndef SY_WORKER_INT_H
#define SY_WORKER_INT_H
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "config.h"
#include "deliver.h"
#include "intake.h"
#include "queue.h"
#include "registry.h"
#include "settler.h"
#include "slots.h"

#define SLOW_MS 1000   /* a delivery running this long marks its subscriber's endpoint slow */

typedef struct transfer {
    CURL *easy;                  /* the transfer */
    struct curl_slist *headers;  /* request headers */
    deliver_request req;         /* what is being sent */
    queue_job job;               /* the job, owned */
    reg_snapshot *snap;          /* keeps sub alive */
    const subscriber *sub;       /* in snap */
    int64_t started_ns;          /* monotonic, ns */
    char retry_after[64];        /* the response's Retry-After value, or "" */
    char err[CURL_ERROR_SIZE];   /* curl's error text */
    char denied[96];             /* why the deny list refused the target address, or "" */
    int deny_private;            /* 1: apply the deny list to every address connected to */
    struct transfer *next;       /* in the worker's list */
} transfer;

typedef struct waiting {     /* admitted; its subscriber is at its share, or every slot is busy */
    queue_job job;               /* owned */
    reg_snapshot *snap;          /* one reference, keeps sub alive */
    const subscriber *sub;       /* in snap */
    int64_t since_ms;            /* when it started waiting, epoch ms */
    struct waiting *next;
} waiting;

/* Jobs between their selection and their admission's verdicts (flow_start_batch,
 * flow_finish_batch). */
typedef struct batch {
    queue_job *jobs;             /* owned; a job handed on elsewhere is left zeroed */
    int n;                       /* entries in jobs */
    reg_snapshot *snap;          /* one reference */
    const subscriber **subs;     /* per job: its subscriber when up for admission, else NULL */
    queue_admission *adm;        /* the jobs up for admission */
    size_t nadm;                 /* entries in adm */
    int64_t now;                 /* when selected, epoch ms */
} batch;

typedef struct worker {
    const config *cfg;           /* settings */
    rds *r;                      /* the worker's Redis connection */
    registry *reg;               /* subscriber snapshots */
    CURLM *multi;                /* all transfers */
    transfer *inflight;          /* list of transfers under way */
    int ninflight;               /* entries in inflight */
    settler *settler;            /* records outcomes, on its own thread and connection */
    char consumer[128];          /* stream consumer name: host-pid-random */
    int fair_share;              /* most deliveries one subscriber may hold in this worker */
    waiting *waiting;            /* admitted jobs waiting for their subscriber's share, in memory */
    int nwaiting;                /* entries in waiting */
    CURL **idle;                 /* easy handles of finished transfers, for the next ones */
    int nidle;                   /* entries in idle (at most concurrency) */
    char *data_event;            /* event whose data is parsed in data, or NULL */
    cJSON *data;                 /* that event's data: jobs of one event come together */
    slots slots;                 /* proven endpoints; jobs of unproven or slow subscribers held
                                    over their share */
    intake *intake;              /* takes and admits jobs on its own thread */
    batch cur;                   /* the batch whose admission the intake is working on: its
                                    thread writes the verdicts and the jobs' events; the loop
                                    reads only the entry ids meanwhile (heartbeat) */
} worker;

/* worker.c */
int64_t worker_mono_ns(void);
int64_t worker_wall_ms(void);
/* Hands an outcome to the settler (see worker.c); sets its now_ms. Takes the job, not o's strings. */
void worker_settle(worker *w, queue_job *job, queue_outcome o);
/* The same for a job settled without an attempt: its count stays, why becomes its last_error
 * ("" keeps the previous one), the breaker hears nothing. */
void worker_settle_unattempted(worker *w, queue_job *job, const char *state, int64_t due_ms,
                               const char *why);
/* Builds the request and adds the transfer. Takes the job and one reference to snap. */
void worker_begin(worker *w, queue_job *job, reg_snapshot *snap, const subscriber *sub,
                  int64_t now);
void worker_log_attempt(const queue_job *j, int attempt, int status, int64_t latency_ms,
                        const char *result, const char *error);

/* worker_flow.c */
/* Starts a batch of jobs just taken (released = 0) or released from holding (1): selection now,
 * admission on the intake's thread; the loop hands the verdicts to flow_finish_batch. Takes the
 * jobs array. */
void flow_start_batch(worker *w, queue_job *jobs, int n, int released);
/* With admission's verdicts (admit_rc 0) or without them (-1: each job asks again in a second):
 * each job begins, waits in memory, or is settled as its verdict says. Frees b's contents. */
void flow_finish_batch(worker *w, batch *b, int admit_rc);
/* Hands every job of b back to the queue unattempted (the worker is stopping). Frees b's
 * contents. */
void flow_return_batch(worker *w, batch *b);
/* Begins waiting jobs as their shares and free slots allow; sends back those that waited too
 * long. */
void flow_start_waiting(worker *w);
/* Releases held jobs as far as their subscribers' shares have room again. */
void flow_start_held(worker *w);
/* Held jobs that take room in this worker (those of proven subscribers). */
int flow_held_taking_room(worker *w);

#endif
