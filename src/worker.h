/* worker — the `switchyard worker` process: takes jobs from Redis, delivers them with libcurl's
 * multi interface (keep-alive, `concurrency` transfers at once), applies the retry policy, records
 * every attempt, reclaims jobs of dead workers, and serves /metrics and /healthz. Its two halves
 * (worker.c, worker_flow.c) share worker_int.h.
 * Calls: config, queue, intake, settler, slots, registry, deliver, retry, rds, http, metrics, log,
 * codec, buf. */
#ifndef SY_WORKER_H
#define SY_WORKER_H

#include "config.h"

/* Runs until SIGTERM/SIGINT, then stops taking jobs, finishes those in flight (up to 10 s) and
 * returns the rest to the queue. Returns the process exit code. */
int worker_run(const config *cfg);

#endif
