/* api — the HTTP API handlers behind the hub's router: publishing (api_publish.c) and the admin,
 * dry-run, event and dead-letter endpoints (api_admin.c).
 * Calls: hub, http, auth, sub, registry, queue, filter, topic, codec, metrics, log. */
#ifndef SY_API_H
#define SY_API_H

#include "http.h"
#include "hub.h"

/* POST /v1/publish (switch_format = 0) and switch's POST /publish (switch_format = 1). */
void api_publish(hub *h, const http_req *q, http_resp *r, int switch_format);
/* Everything under /v1/ except publish. Checks the admin credential first. */
void api_admin(hub *h, const http_req *q, http_resp *r);

#endif
