/* switchyard.h — C client for the Switchyard webhook hub.
 *
 * Publishes events, manages subscribers and dead letters over the hub's HTTP API, mints publisher
 * tokens (HS256 JWTs), and verifies the Standard Webhooks signatures the workers put on deliveries.
 * Link with `pkg-config --cflags --libs switchyard-client`.
 *
 * ERRORS live in the client, as in hiredis. Every call on a client returns 0 on success or -1 on
 * error, and afterwards these describe that call (success included):
 *   syc_status(c)      the HTTP status of the last response, 0 if none arrived;
 *   syc_error_code(c)  "" on success; the hub's error code verbatim ("unauthorized", "forbidden",
 *                      "invalid_subscriber", "redis_unavailable", ...); or one of the client's own:
 *                      "network" (the hub could not be reached: no response, or it timed out),
 *                      "http_error" (a non-2xx answer that is not in the hub's error shape, e.g. a
 *                      proxy's 502), "invalid_response" (a 2xx answer the client cannot read),
 *                      "invalid_argument", "out_of_memory";
 *   syc_error(c)       "" on success; the hub's message verbatim, or a sentence naming what failed
 *                      (a "network" error names the URL that could not be reached).
 *
 * OWNERSHIP. Strings passed in are copied or only read during the call; the caller keeps them.
 * Every char * the library returns, or stores through a char **, is malloc'd, belongs to the
 * caller, and is released with syc_free(). On error a char ** output is set to NULL. A const char *
 * returned by syc_error_code()/syc_error() belongs to the client and is valid until the next call
 * on that client or syc_client_free().
 *
 * THREADS. A syc_client is used by one thread at a time (calls on one client must not overlap).
 * Different clients may be used by different threads in parallel: the library keeps no global state
 * of its own. syc_sign_token() and syc_verify_webhook() touch no client and may be called from any
 * thread at any time. The library never calls curl_global_init(): a program that starts threads
 * should call curl_global_init(CURL_GLOBAL_DEFAULT) once in main() before creating clients (and
 * curl_global_cleanup() at exit), because curl_easy_init() would otherwise initialise libcurl
 * lazily, which libcurl only guarantees to be thread-safe from 7.84 on. A single-threaded program
 * may skip it.
 *
 * CONNECTIONS. Each client keeps one libcurl easy handle, so consecutive calls reuse the same
 * keep-alive connection to the hub; publishing in a loop does not reconnect each time. Signals are
 * never used for timeouts (CURLOPT_NOSIGNAL).
 */
#ifndef SWITCHYARD_H
#define SWITCHYARD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(SYC_BUILDING)
#define SYC_API __attribute__((visibility("default")))
#else
#define SYC_API
#endif

#define SYC_VERSION_MAJOR 0
#define SYC_VERSION_MINOR 1
#define SYC_VERSION_PATCH 0
#define SYC_VERSION "0.1.0"

#define SYC_EVENT_ID_MAX 256          /* bytes: room for any event id the hub returns, NUL included */
#define SYC_DEFAULT_TIMEOUT_MS 10000  /* per HTTP request, ms */
#define SYC_DEFAULT_RETRIES 2         /* extra publish attempts after a retryable failure */
#define SYC_DEFAULT_TOKEN_TTL_S 300   /* lifetime of tokens minted by syc_set_jwt_secret, s */
#define SYC_DEFAULT_TOLERANCE_S 300   /* webhook-timestamp skew accepted by verify, s */

typedef struct syc_client syc_client;

/* Optional publish settings; zero-initialise and set what you need. */
typedef struct syc_publish_opts {
    const char *id;              /* your own event id (1-200 of letters, digits, _ - . :), or NULL
                                    for a hub-made one; also the idempotency key when none is given */
    const char *deliver_at;      /* RFC 3339 time the jobs become due, or NULL for now */
    long ttl_s;                  /* seconds from the publish after which undelivered jobs expire;
                                    0 = never */
    const char *idempotency_key; /* Idempotency-Key to send (1-200 bytes), or NULL: the id above if
                                    set, else a random key made once per syc_publish call */
} syc_publish_opts;

/* ---- client ---------------------------------------------------------------------------------- */

/* A client for the hub at hub_url ("http://host:port", optionally with a path prefix; a trailing
 * '/' is ignored). Returns NULL only when memory or a curl handle cannot be had. A hub_url that is
 * NULL or not http(s) still gives a client, whose every call then fails with "invalid_argument":
 * check syc_error_code(c) after creating it, as with hiredis' c->err. Free with syc_client_free. */
SYC_API syc_client *syc_client_new(const char *hub_url);

/* Closes the connection and frees the client and everything it holds. NULL is a no-op. */
SYC_API void syc_client_free(syc_client *c);

/* Publisher credential: a ready-made token sent as "Authorization: Bearer <token>". Replaces any
 * secret given to syc_set_jwt_secret. NULL removes the credential. Returns 0, or -1 (out of memory). */
SYC_API int syc_set_token(syc_client *c, const char *token);

/* Publisher credential: the hub's SWITCHYARD_JWT_SECRET. The client mints HS256 tokens itself,
 * caches them, and mints a fresh one before the cached one expires (a quarter of its lifetime, at
 * most 60 s, ahead). topics_csv ("orders.*,payments.#") becomes the "topics" claim limiting what the
 * token may publish; NULL means any topic. ttl_s <= 0 means SYC_DEFAULT_TOKEN_TTL_S. Replaces any
 * token given to syc_set_token. NULL secret removes the credential. Returns 0 or -1. */
SYC_API int syc_set_jwt_secret(syc_client *c, const char *secret, const char *topics_csv, long ttl_s);

/* Admin credential (the hub's SWITCHYARD_ADMIN_TOKEN), sent with every admin call. NULL removes it.
 * Returns 0 or -1. */
SYC_API int syc_set_admin_token(syc_client *c, const char *token);

/* Limit for each HTTP request, connecting included, in ms; 0 = no limit. Default
 * SYC_DEFAULT_TIMEOUT_MS. Returns 0, or -1 if ms < 0. */
SYC_API int syc_set_timeout_ms(syc_client *c, long ms);

/* How many times syc_publish tries again after a connection error, a timeout, 429 or 503, with
 * exponential backoff (100 ms doubling to 5 s, jittered; a Retry-After header, up to 30 s, is
 * honoured). Every attempt of one call carries the same Idempotency-Key, so a retry never creates a
 * second event. 0 = no retries. Default SYC_DEFAULT_RETRIES. Returns 0, or -1 if retries < 0. */
SYC_API int syc_set_retries(syc_client *c, int retries);

/* The last call's outcome; see ERRORS above. Never NULL; a NULL client reads as an error. */
SYC_API int syc_status(const syc_client *c);
SYC_API const char *syc_error_code(const syc_client *c);
SYC_API const char *syc_error(const syc_client *c);

/* ---- publish --------------------------------------------------------------------------------- */

/* POST /v1/publish {"topic", "data", ...opts}. data_json is the text of a JSON object (NULL means
 * {}); it is checked here, so a malformed one fails with "invalid_argument" before anything is sent.
 * opts may be NULL. On success (202) the event id is written to event_id_out, which must then hold
 * SYC_EVENT_ID_MAX bytes (it may be NULL, with len 0, when the id is not wanted); for a repeated
 * Idempotency-Key it is the first event's id. Retries as set by syc_set_retries. Returns 0 or -1. */
SYC_API int syc_publish(syc_client *c, const char *topic, const char *data_json,
                        const syc_publish_opts *opts, char *event_id_out, size_t len);

/* ---- admin calls (need syc_set_admin_token) ---------------------------------------------------
 * JSON goes in as text and is sent verbatim (the hub judges it). Where there is a char **out, a
 * success stores the hub's JSON answer there (caller frees with syc_free); out may be NULL to
 * discard it. Names, ids and query values are percent-encoded by the client. */

/* POST /v1/subscribers: the stored subscriber, with its id and signing secret (shown only here). */
SYC_API int syc_subscriber_create(syc_client *c, const char *json, char **out);
/* PUT /v1/subscribers/{name}: create or replace by name (id and secret kept on replace). */
SYC_API int syc_subscriber_put(syc_client *c, const char *name, const char *json, char **out);
/* GET /v1/subscribers/{id or name}. */
SYC_API int syc_subscriber_get(syc_client *c, const char *id_or_name, char **out);
/* GET /v1/subscribers[?topic=]: every subscriber, or those whose pattern matches topic. */
SYC_API int syc_subscriber_list(syc_client *c, const char *topic, char **out);
/* PATCH /v1/subscribers/{id or name}: change only the fields in json. */
SYC_API int syc_subscriber_update(syc_client *c, const char *id_or_name, const char *json, char **out);
/* DELETE /v1/subscribers/{id or name}. */
SYC_API int syc_subscriber_delete(syc_client *c, const char *id_or_name);
/* GET /v1/dead[?subscriber=&limit=&cursor=]: {"items": [...], "next_cursor"}. subscriber and cursor
 * may be NULL; limit <= 0 leaves the hub's default. */
SYC_API int syc_dead_list(syc_client *c, const char *subscriber, long limit, const char *cursor,
                          char **out);
/* POST /v1/dead/{job_id}/replay: the job goes back on the queue. */
SYC_API int syc_dead_replay(syc_client *c, const char *job_id);
/* DELETE /v1/dead/{job_id}. */
SYC_API int syc_dead_delete(syc_client *c, const char *job_id);
/* GET /v1/events/{id}: the event with its jobs and their attempts. */
SYC_API int syc_event_get(syc_client *c, const char *event_id, char **out);

/* Any other hub endpoint (e.g. "POST", "/v1/filters/test"): method and path (starting with '/',
 * already percent-encoded) with json as the body (or NULL), sent with the admin credential. A 2xx
 * answer is a success; *out gets its body ("" when empty). */
SYC_API int syc_request(syc_client *c, const char *method, const char *path, const char *json,
                        char **out);

/* ---- tokens and signatures (no client, no I/O) ----------------------------------------------- */

/* An HS256 JWT for publishers, signed with secret (the hub's SWITCHYARD_JWT_SECRET, used as raw
 * bytes): claims "sub", "iat", "exp" = now + ttl_s (none when ttl_s <= 0: the token never
 * expires), and "topics" from topics_csv (comma-separated patterns, blanks around them ignored;
 * NULL for no claim, i.e. any topic; "" for an empty list, which allows no topic). Returns a
 * malloc'd string (free with syc_free), or NULL if secret is NULL or empty, or memory ran out. */
SYC_API char *syc_sign_token(const char *secret, const char *topics_csv, long ttl_s);

/* Standard Webhooks verification of one delivery. secret is the subscriber's ("whsec_" + base64,
 * or bare base64); webhook_id, webhook_timestamp and webhook_signature are the three headers as
 * received; body/len the raw body bytes exactly as received. The signature header may hold several
 * space-separated "v1,<base64>" entries (during secret rotation): one match is enough; entries of
 * other versions are ignored; each is compared in constant time. The timestamp must lie within
 * tolerance_s of now_s, before or after (tolerance_s <= 0 means SYC_DEFAULT_TOLERANCE_S; now_s 0
 * means time(NULL)). Returns 0 if authentic, else -1 with the reason as a sentence in err (may be
 * NULL; errlen bytes, always NUL-terminated). */
SYC_API int syc_verify_webhook(const char *secret, const char *webhook_id, const char *webhook_timestamp,
                               const char *webhook_signature, const void *body, size_t len,
                               long tolerance_s, long now_s, char *err, size_t errlen);

/* Frees a string returned by this library. NULL is a no-op. */
SYC_API void syc_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
