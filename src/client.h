/* client — the CLI's HTTP client for the hub (libcurl easy interface).
 * Calls: config, buf, libcurl. */
#ifndef SY_CLIENT_H
#define SY_CLIENT_H

#include "buf.h"
#include "config.h"

/* Sends method path (appended to cfg->hub_url) with body (JSON text or NULL). token is the bearer
 * credential; NULL sends the admin token. Extra is one more header line or NULL. Returns the HTTP
 * status (resp holds the body), or -1 with the reason in resp when the hub could not be reached. */
int client_call(const config *cfg, const char *method, const char *path, const char *body,
                const char *token, const char *extra, buf *resp);

#endif
