/* client — the CLI's HTTP client for the hub's admin API (libcurl easy interface).
 * Calls: config, buf, libcurl. */
#ifndef SY_CLIENT_H
#define SY_CLIENT_H

#include "buf.h"
#include "config.h"

/* Sends method path (appended to cfg->hub_url) with body (JSON text or NULL) and the admin token.
 * Returns the HTTP status (resp holds the body), or -1 with the reason in resp when the hub could
 * not be reached. */
int client_call(const config *cfg, const char *method, const char *path, const char *body,
                buf *resp);

#endif
