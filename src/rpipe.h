/* rpipe — a pipelined Redis connection driven by one thread's event loop: callers on that thread
 * submit script calls and go on; everything submitted during one round of the loop goes out as one
 * write just before the loop waits, and the replies are handed to their callbacks, in order, as
 * they arrive. No thread waits on Redis and no call crosses threads.
 * Calls: loop, rds (connect, reconnect with backoff, embedded scripts), log.
 * Not thread-safe: every call, and every callback, is on the thread that runs the loop. */
#ifndef SY_RPIPE_H
#define SY_RPIPE_H
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "loop.h"

typedef struct rpipe rpipe;

/* Called exactly once per submitted call, from the loop (never from inside rpipe_submit): rep is
 * the reply (freed after done returns), or NULL when Redis could not be reached, the connection
 * broke or Redis did not answer within the timeout, and then err says why. */
typedef void (*rpipe_done)(redisReply *rep, const char *err, void *arg);

/* A pipeline on l for url (see rds_new); it connects on the first call, blocking l's thread for
 * at most timeout_ms (and at most once per backoff step while Redis is away). A call unanswered
 * after timeout_ms fails, and the connection with it. Returns NULL with the reason in err. */
rpipe *rpipe_new(loop *l, const char *url, int timeout_ms, char *err, size_t errlen);
/* Fails the calls still waiting (their callbacks get NULL: "the hub is stopping") and frees p.
 * Call it while l still exists. */
void rpipe_free(rpipe *p);

/* Queues the embedded script lua/<name>.lua (as rds_script) with argv, which is copied before
 * rpipe_submit returns. done(arg) gets the reply later. */
void rpipe_submit(rpipe *p, const char *name, int argc, const char **argv, const size_t *lens,
                  rpipe_done done, void *arg);

#endif
