/* hub — the `switchyard hub` process: HTTP server, routing, per-thread Redis connections and
 * compiled filters, health endpoints, graceful shutdown.
 * Calls: config, http, loop, registry, filter, rds, rpipe, metrics, log, api_publish, api_admin. */
#ifndef SY_HUB_H
#define SY_HUB_H
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "filter.h"
#include "http.h"
#include "auth.h"
#include "rds.h"
#include "registry.h"
#include "rpipe.h"

typedef struct hub {
    const config *cfg;        /* settings, read-only after start */
    registry *reg;            /* subscriber snapshots */
    filter_limits limits;     /* per-evaluation limits for every thread's engine */
} hub;

/* What one HTTP thread owns; created on the thread's first request, freed when its loop ends. */
typedef struct hub_thread {
    rds *r;                   /* this thread's Redis connection (admin API, health, metrics) */
    rpipe *pub;               /* its publish pipeline: a second, non-blocking connection */
    filter_engine *fe;        /* this thread's Lua state */
    reg_snapshot *snap;       /* the snapshot `handles` were compiled for (one ref held) */
    int *handles;             /* per snap->subs index: filter handle, or -1 if it did not compile */
    int64_t *last_error_log_ms; /* per snap->subs index: when its last filter error was logged */
    char *token;              /* the last publisher token verified on this thread, or NULL; owned */
    size_t token_len;         /* its bytes */
    auth_claims claims;       /* its claims (owned); reused while the same token is still valid */
} hub_thread;

/* This thread's state (never NULL after the first call; aborts if the state cannot be built). */
hub_thread *hub_thread_get(hub *h);
/* Makes t compiled against the newest snapshot and returns it (t->snap). */
reg_snapshot *hub_thread_sync(hub *h, hub_thread *t);

/* Runs the hub until SIGTERM/SIGINT. Returns the process exit code. */
int hub_run(const config *cfg);

int64_t hub_now_ms(void);

#endif
