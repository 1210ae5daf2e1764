/* sub — the subscriber record: parse and validate from JSON, serialize to JSON.
 * Engine: no I/O. Calls: topic, filter (filter_check), cJSON, buf.
 * Ownership: a subscriber owns every pointer in it; sub_free releases them. */
#ifndef SY_SUB_H
#define SY_SUB_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define SUB_DEFAULT_MAX_ATTEMPTS 26
#define SUB_DEFAULT_TIMEOUT_MS 10000
#define SUB_MAX_CODES 64

typedef struct subscriber {
    char *id;                /* "sub_..." assigned at creation */
    char *name;              /* unique; defaults to the id */
    char *topic;             /* topic or pattern */
    char *filter;            /* Lua expression; "" = always */
    char *target_url;        /* http(s) URL, may hold :name / {name} path parameters */
    char *method;            /* upper-case HTTP method, or NULL: data.http_method, else POST */
    cJSON *headers;          /* object of string values, or NULL */
    char *secret;            /* signing secret, "whsec_..." */
    char *prev_secret;       /* previous secret during rotation, or NULL */
    int64_t prev_secret_until_ms; /* end of the rotation grace period, epoch ms (0: none) */
    bool envelope;           /* wrap the body in {"id","topic","timestamp","attempt","data"} */
    bool enabled;            /* false: matched events are not enqueued */
    int success_codes[SUB_MAX_CODES]; /* statuses that mean delivered */
    int nsuccess;            /* entries in success_codes; -1 = null (any 2xx) */
    int discard_codes[SUB_MAX_CODES]; /* statuses that mean drop without retry */
    int ndiscard;            /* entries in discard_codes; -1 = null (none) */
    int max_attempts;        /* attempts in all, >= 1 */
    int64_t *retry_delays_ms;/* explicit backoff schedule in ms, or NULL (Faktory curve) */
    int nretry_delays;       /* entries in retry_delays_ms */
    int timeout_ms;          /* whole-request timeout per attempt, ms */
    int rate_limit_per_s;    /* deliveries per second across all workers, 0 = unlimited */
    int max_in_flight;       /* concurrent deliveries across all workers, 0 = unlimited */
    int64_t created_at_ms;   /* epoch ms */
    int64_t updated_at_ms;   /* epoch ms */
} subscriber;

/* Fills *s from a JSON object. With base != NULL (PATCH), absent fields keep base's values; otherwise
 * absent optional fields get defaults and topic/target_url are required. Unknown fields are refused.
 * Does not set id, secret or timestamps unless present in the stored form (from_store = 1 accepts
 * them). Returns 0, or -1 with a message naming the field in err; *s is then empty. */
int sub_from_json(subscriber *s, const cJSON *obj, const subscriber *base, int from_store, char *err,
                  size_t errlen);

/* Serializes. with_secret: include "secret" (creation, rotation and the stored form). Caller frees
 * with cJSON_Delete. */
cJSON *sub_to_json(const subscriber *s, int with_secret);

/* Deep copy into *dst. */
void sub_copy(subscriber *dst, const subscriber *src);
void sub_free(subscriber *s);

#endif
