/* registry — the subscribers: their Redis store (admin writes and reads) and the in-memory
 * snapshot every hub and worker matches against, refreshed by a background thread when the change
 * counter moves (so a change made through any hub is seen everywhere within refresh_ms).
 * Calls: sub, topic, rds, log, cJSON.
 * Snapshots are immutable and reference-counted: reg_acquire from any thread, reg_release when done. */
#ifndef SY_REGISTRY_H
#define SY_REGISTRY_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "rds.h"
#include "sub.h"
#include "topic.h"

typedef struct reg_snapshot {
    atomic_int refs;          /* holders, the registry included */
    long long version;        /* value of the change counter this was built from; -1 before
                                 Redis was first read (REG_UNLOADED) */
    subscriber *subs;         /* all subscribers, sorted by id */
    size_t n;                 /* entries in subs */
    topic_index *ix;          /* pattern -> index into subs (stored as pointer-sized integer + 1) */
} reg_snapshot;

#define REG_UNLOADED -1    /* the version of the empty snapshot a registry starts with */

typedef struct registry registry;

/* Starts the refresher thread on its own Redis connection. Returns NULL with the reason in err. */
registry *reg_start(const char *redis_url, const char *prefix, int refresh_ms, char *err,
                    size_t errlen);
void reg_stop(registry *g);

/* The newest snapshot (never NULL; empty, at REG_UNLOADED, until Redis was first read). Release
 * it. */
reg_snapshot *reg_acquire(registry *g);
/* 1 once the subscribers were read from Redis at least once. */
int reg_loaded(registry *g);
void reg_release(reg_snapshot *s);
/* Asks the refresher to reload at once and waits up to timeout_ms for a snapshot at least as new
 * as min_version. Used after an admin write, so the writing hub reads its own writes. */
void reg_wait_version(registry *g, long long min_version, int timeout_ms);

/* The change counter as Redis has it now, or -1 if Redis failed. */
long long reg_version(rds *r, const char *prefix);

/* Index of the subscriber with this id in s->subs, or -1. */
long reg_find(const reg_snapshot *s, const char *id);
/* Calls fn for every subscriber whose topic pattern matches topic (enabled or not). */
void reg_match(const reg_snapshot *s, const char *topic, void (*fn)(size_t idx, void *ctx),
               void *ctx);

/* --- the store: direct Redis operations for the admin API and the worker --- */

/* Outcomes of store writes. */
enum { REG_STORED = 0, REG_UNAVAILABLE = -1, REG_NAME_TAKEN = 1, REG_NOT_FOUND = 2 };

/* Loads a subscriber by id, or by name when key does not start with "sub_" or is not found as an
 * id. Returns REG_STORED (fill *out; sub_free it), REG_NOT_FOUND, or REG_UNAVAILABLE (Redis unavailable). */
int reg_get(rds *r, const char *prefix, const char *key, subscriber *out);
/* Stores s (create: name must be free; update: id must exist). *version gets the new counter. */
int reg_put(rds *r, const char *prefix, const subscriber *s, int create, long long *version);
int reg_delete(rds *r, const char *prefix, const char *id, long long *version);
/* All subscribers, sorted by name. *out is a malloc'd array of *n entries; free each with sub_free
 * and the array with free(). */
int reg_list(rds *r, const char *prefix, subscriber **out, size_t *n);

#endif
