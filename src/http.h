/* http — the HTTP server glue over libmicrohttpd: listening, request bodies with a size limit,
 * JSON responses and errors. Routing is the caller's (one handler function per server).
 * Calls: buf, json, log, loop, cJSON, libmicrohttpd.
 * Each of the server's threads runs an event loop (loop_current() in a handler) that polls its own
 * MHD daemon; all of them accept from one listening socket. The handler runs on one of them;
 * several handlers run at once, one per thread. What a handler watches on its thread's loop (a
 * Redis connection, say) is served between requests, with no other thread involved. */
#ifndef SY_HTTP_H
#define SY_HTTP_H
#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"

typedef struct http_req {
    const char *method;     /* as sent, e.g. "POST" */
    const char *path;       /* URL path, without the query string */
    const char *body;       /* request body, NUL-terminated; "" when none */
    size_t body_len;        /* bytes in body */
    void *conn;             /* the MHD connection (for http_header / http_query) */
    void *state;            /* the server's per-request state (for http_defer) */
} http_req;

typedef struct http_resp {
    int status;             /* HTTP status */
    buf body;               /* response body */
    const char *type;       /* content type; NULL = application/json */
    char retry_after[16];   /* Retry-After value, or "" */
    char allow[64];         /* Allow value for 405, or "" */
} http_resp;

typedef void (*http_handler)(const http_req *req, http_resp *resp, void *ctx);

typedef struct http_server http_server;

/* Starts serving on listen ("host:port", "[v6]:port" or ":port") with threads serving threads.
 * Bodies over max_body bytes are refused with 413 without being buffered. Returns NULL with the
 * reason in err. */
http_server *http_start(const char *listen, unsigned threads, size_t max_body, http_handler handler,
                        void *ctx, char *err, size_t errlen);
/* Stops accepting and lets requests in flight finish, waiting up to grace_ms. */
void http_quiesce(http_server *s, int grace_ms);
/* http_quiesce, then ends the threads: each runs its loop's exit hooks (which answer what is still
 * deferred), sends what it can, and closes its connections. Frees s. */
void http_stop(http_server *s, int grace_ms);

/* A request answered later: the handler calls http_defer, hands the handle to whatever will
 * produce the answer (typically a callback on the same thread's loop) and returns, leaving resp
 * alone; the connection is suspended meanwhile and its thread serves others. The answer comes
 * through http_complete, exactly once, from any thread, before http_stop's threads end (their
 * loops' exit hooks run first, for that). */
typedef struct http_pending http_pending;
http_pending *http_defer(const http_req *req);
/* Sends resp (its body is taken over) as the answer to the deferred request p. */
void http_complete(http_pending *p, http_resp *resp);

/* A request header (case-insensitive name) or query argument, or NULL. */
const char *http_header(const http_req *req, const char *name);
const char *http_query(const http_req *req, const char *name);

/* Sets resp to {"error": {"code": code, "message": <formatted>}} with status. */
void http_error(http_resp *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The body parsed as a JSON object under json_parse's rules (UTF-8, depth, no duplicate keys), or
 * NULL with resp set to 400 invalid_json (saying what is wrong and where) or invalid_request (not an
 * object). Caller frees with cJSON_Delete. */
cJSON *http_body_object(const http_req *q, http_resp *r);

/* Sets resp to the JSON of obj with status, and deletes obj. */
void http_json(http_resp *resp, int status, cJSON *obj);

#endif
