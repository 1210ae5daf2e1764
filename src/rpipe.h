/* rpipe — one Redis connection shared by many threads, pipelined and asynchronous: callers submit
 * script calls and go on; one thread of its own writes everything submitted while the previous
 * batch was in Redis as one pipeline, reads the replies in order and hands each to its callback.
 * Under load many publishes share one write and one read on both sides, and no HTTP thread waits
 * on Redis.
 * Calls: rds (connection, reconnect with backoff, embedded scripts), log, pthreads.
 * Thread-safe: any number of threads may call rpipe_submit at once. Callbacks run on the rpipe
 * thread (or on the caller's, when the call fails at once), one at a time. */
#ifndef SY_RPIPE_H
#define SY_RPIPE_H
#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct rpipe rpipe;

/* Called exactly once per submitted call: rep is the reply (freed after done returns), or NULL
 * when Redis could not be reached or the connection broke, and then err says why. */
typedef void (*rpipe_done)(redisReply *rep, const char *err, void *arg);

/* Starts the pipeline thread for url (see rds_new); it connects on the first call. Returns NULL
 * with the reason in err (bad URL). */
rpipe *rpipe_start(const char *url, int timeout_ms, char *err, size_t errlen);
/* Fails the calls still queued (their callbacks get NULL), stops the thread and frees p. */
void rpipe_stop(rpipe *p);

/* Queues the embedded script lua/<name>.lua (as rds_script) with argv, which is copied before
 * rpipe_submit returns. done(arg) gets the reply later. */
void rpipe_submit(rpipe *p, const char *name, int argc, const char **argv, const size_t *lens,
                  rpipe_done done, void *arg);

#endif
