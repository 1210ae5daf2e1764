/* slots — a worker's bookkeeping for sharing its slots among subscribers: which endpoints answered
 * fast lately (proven), and the jobs held in memory, one FIFO per subscriber, while their
 * subscriber is at its share. Engine: no I/O; the caller passes the time. Calls: nothing (uses
 * queue.h's job type).
 * Ownership: a slots value is the caller's (embed it zeroed); held jobs are owned by it until
 * slots_unhold hands them back, and the caller empties it that way before dropping it. One thread
 * at a time. */
#ifndef SY_SLOTS_H
#define SY_SLOTS_H
#include <stdint.h>

#include "queue.h"

#define SLOTS_PROVEN_MAX 64      /* endpoints remembered as fast; the stalest entry is replaced */
#define SLOTS_PROVEN_FOR_MS 60000 /* a fast answer earns a subscriber its full share this long */

typedef struct slots_held {      /* taken, not yet admitted: its subscriber is at its share */
    queue_job job;               /* owned; its stream entry stays pending in the worker's name */
    struct slots_held *next;     /* next of the same subscriber, oldest first */
} slots_held;

typedef struct slots_queue {     /* one subscriber's held jobs */
    char *sub_id;                /* owned */
    slots_held *head;            /* oldest */
    slots_held **tail;           /* where the next one is linked */
    int n;                       /* jobs in the queue */
    struct slots_queue *next;    /* in the list */
} slots_queue;

typedef struct slots {
    struct {
        char sub_id[48];         /* subscriber whose endpoint answered fast */
        int64_t at_ms;           /* when it last did, monotonic ms */
    } proven[SLOTS_PROVEN_MAX];
    int nproven;                 /* entries used */
    slots_queue *holds;          /* queues with held jobs (an emptied queue is removed) */
    int nheld;                   /* jobs in holds */
} slots;

/* Whether sub_id's endpoint answered fast within SLOTS_PROVEN_FOR_MS of now_ms (monotonic) and,
 * when mark, records that it just did. */
int slots_proven(slots *s, const char *sub_id, int64_t now_ms, int mark);

/* The queue of sub_id's held jobs, or NULL when it has none. */
slots_queue *slots_find(slots *s, const char *sub_id);
/* Appends job to its subscriber's queue. Takes the job (zeroes *job). */
void slots_hold(slots *s, queue_job *job);
/* Moves the oldest job of q into *out; q is unlinked and freed when that empties it, so advance
 * past q before calling when walking the list. */
void slots_unhold(slots *s, slots_queue *q, queue_job *out);

#endif
