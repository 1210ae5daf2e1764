/* loop — one thread's event loop over epoll: file descriptors watched with a callback each, hooks
 * run before every wait (to flush what the callbacks queued, one write per round) and hooks run
 * when the loop ends (to answer what is still waiting).
 * Calls: epoll, eventfd.
 * A loop belongs to the thread that runs it: every call except loop_wake is made on that thread.
 * Callbacks run on it, one at a time. */
#ifndef SY_LOOP_H
#define SY_LOOP_H
#include <stddef.h>

#define LOOP_IN 1u    /* readable (or closed by the peer) */
#define LOOP_OUT 2u   /* writable */
#define LOOP_ERR 4u   /* error or hang-up */

typedef struct loop loop;

/* Called with the events that came (LOOP_*). */
typedef void (*loop_io_fn)(void *arg, unsigned events);
/* A before-wait hook returns the longest wait it allows in ms, or -1 for no limit. */
typedef int (*loop_wait_fn)(void *arg);
typedef void (*loop_fn)(void *arg);

/* A new loop, or NULL with the reason in err. It becomes loop_current() of the thread that calls
 * loop_run_once first. */
loop *loop_new(char *err, size_t errlen);
/* Runs the exit hooks (newest first), then frees l. */
void loop_free(loop *l);

/* Watches fd for events (LOOP_IN | LOOP_OUT), or changes what is watched. Returns 0, or -1. */
int loop_watch(loop *l, int fd, unsigned events, loop_io_fn fn, void *arg);
/* Stops watching fd; its callback is not called again, even for events already collected. */
void loop_unwatch(loop *l, int fd);

/* Registers fn(arg) to run before every wait, and to bound it. At most 8 per loop. */
int loop_before_wait(loop *l, loop_wait_fn fn, void *arg);
/* Registers fn(arg) to run once when the loop is freed (or by loop_run_exit). At most 8 per loop. */
int loop_on_exit(loop *l, loop_fn fn, void *arg);
/* Runs the exit hooks now (newest first) and forgets them. */
void loop_run_exit(loop *l);

/* One round: the before-wait hooks, a wait of at most timeout_ms (-1: no limit, 0: none) and the
 * callbacks of what came. Returns the number of events handled (0 on timeout or wake). */
int loop_run_once(loop *l, int timeout_ms);
/* Ends the current or next wait of l early. Any thread may call it. */
void loop_wake(loop *l);
/* From l's own thread (a before-wait hook, typically): this round does not wait at all, because
 * something is ready that the caller will handle right after loop_run_once returns. */
void loop_skip_wait(loop *l);

/* The loop the calling thread runs, or NULL. */
loop *loop_current(void);

#endif
