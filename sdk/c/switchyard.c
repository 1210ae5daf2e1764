/* switchyard.c — the hub's endpoints: publish (with retries, backoff and one idempotency key per
 * call) and the admin calls. Builds paths and bodies, then hands them to syc__exchange.
 * Calls syc_http.c, libcrypto (random idempotency keys), cJSON (checking the caller's data,
 * reading the event id). */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* strdup */
#endif
#include "syc_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>
#include <openssl/rand.h>

#define BACKOFF_FIRST_MS 100       /* delay before the first publish retry, ms (then doubling) */
#define BACKOFF_MAX_MS 5000        /* cap of the doubling, ms */
#define RETRY_AFTER_MAX_S 30       /* longest Retry-After honoured, s */

/* ---- publish --------------------------------------------------------------------------------- */

/* Delay before retry number attempt (1 = the first retry), ms: jittered exponential backoff, or
 * the hub's Retry-After when that is longer. */
static long backoff_ms(syc_client *c, int attempt)
{
    long step = BACKOFF_FIRST_MS;
    for (int i = 1; i < attempt && step < BACKOFF_MAX_MS; i++)
        step *= 2;
    if (step > BACKOFF_MAX_MS)
        step = BACKOFF_MAX_MS;
    long delay = step / 2 + (long)(syc__random(c) % (uint64_t)(step / 2 + 1));
    if (c->retry_after_s >= 0) {
        long hub = (c->retry_after_s < RETRY_AFTER_MAX_S ? c->retry_after_s : RETRY_AFTER_MAX_S) * 1000;
        if (hub > delay)
            delay = hub;
    }
    return delay;
}

static void random_idempotency_key(syc_client *c, char out[40])
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)syc__random(c);
    memcpy(out, "syc_", 4);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 4 + 2 * i, 3, "%02x", raw[i]);
}

/* The publish body: data_json is spliced in verbatim, so numbers keep every digit. */
static int publish_body(sbuf *b, const char *topic, const char *data_json, const syc_publish_opts *o)
{
    if (syc__sb_str(b, "{\"topic\":") || syc__sb_json(b, topic) || syc__sb_str(b, ",\"data\":") ||
        syc__sb_str(b, data_json))
        return -1;
    if (o && o->id && (syc__sb_str(b, ",\"id\":") || syc__sb_json(b, o->id)))
        return -1;
    if (o && o->deliver_at && (syc__sb_str(b, ",\"deliver_at\":") || syc__sb_json(b, o->deliver_at)))
        return -1;
    if (o && o->ttl_s) {
        char ttl[32];
        snprintf(ttl, sizeof ttl, ",\"ttl\":%ld", o->ttl_s);
        if (syc__sb_str(b, ttl))
            return -1;
    }
    return syc__sb_str(b, "}");
}

/* Checks that data_json is one JSON object and nothing else; -1 with the error set if not. */
static int check_data(syc_client *c, const char *data_json)
{
    const char *end = NULL;
    cJSON *data = cJSON_ParseWithOpts(data_json, &end, 1);
    int ok = cJSON_IsObject(data);
    cJSON_Delete(data);
    if (!data)
        return syc__fail(c, 0, "invalid_argument", "data_json is not valid JSON (error at byte %ld)",
                         end ? (long)(end - data_json) : 0L);
    if (!ok)
        return syc__fail(c, 0, "invalid_argument", "data_json must be a JSON object, not \"%.60s\"",
                         data_json);
    return 0;
}

int syc_publish(syc_client *c, const char *topic, const char *data_json, const syc_publish_opts *opts,
                char *event_id_out, size_t len)
{
    sbuf url = {0}, body = {0};
    char generated[40];
    int rc = -1;

    if (syc__begin(c) != 0)
        return -1;
    if (event_id_out && len)
        event_id_out[0] = '\0';
    if (!topic || !*topic)
        return syc__fail(c, 0, "invalid_argument", "the topic is empty");
    if (event_id_out && len < SYC_EVENT_ID_MAX)
        return syc__fail(c, 0, "invalid_argument",
                         "event_id_out must hold SYC_EVENT_ID_MAX (%d) bytes, not %zu", SYC_EVENT_ID_MAX,
                         len);
    if (!data_json)
        data_json = "{}";
    if (check_data(c, data_json) != 0)
        return -1;
    if (syc__sb_str(&url, c->base_url) || syc__sb_str(&url, "/v1/publish") ||
        publish_body(&body, topic, data_json, opts)) {
        syc__fail(c, 0, "out_of_memory", "could not build the publish request: out of memory");
        goto done;
    }
    const char *idem = opts && opts->idempotency_key ? opts->idempotency_key : opts ? opts->id : NULL;
    if (!idem) {
        random_idempotency_key(c, generated);
        idem = generated;
    } else if (!*idem || syc__has_control(idem)) {
        syc__fail(c, 0, "invalid_argument",
                  "the idempotency key (or event id) is empty or holds a control character");
        goto done;
    }

    for (int attempt = 0;; attempt++) {
        int retryable = 0;
        if (attempt > 0)
            syc__sleep_ms(backoff_ms(c, attempt));
        const char *bearer = syc__publisher_token(c, (int64_t)time(NULL));
        if (!bearer && c->jwt_secret)
            goto done;   /* minting failed */
        if (syc__exchange(c, "POST", url.p, body.p, body.len, bearer, idem, &retryable) == 0)
            retryable = c->status == 429 || c->status == 503;
        if (!retryable || attempt >= c->retries)
            break;
    }
    if (c->code[0] || syc__judge(c, "POST", url.p) != 0)
        goto done;
    if (event_id_out) {
        cJSON *root = cJSON_ParseWithLength(c->resp.p ? c->resp.p : "", c->resp.len);
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "id"));
        if (id && strlen(id) < len)
            memcpy(event_id_out, id, strlen(id) + 1);
        else
            syc__fail(c, c->status, "invalid_response",
                      "the hub accepted the event (%d) but its answer has no usable \"id\": %.200s",
                      c->status, c->resp.len ? c->resp.p : "(empty body)");
        cJSON_Delete(root);
        if (c->code[0])
            goto done;
    }
    rc = 0;
done:
    free(url.p);
    free(body.p);
    return rc;
}

/* ---- admin ----------------------------------------------------------------------------------- */

/* method base_url + path with json (or no body) and the admin credential. On a 2xx, *out (when out
 * is not NULL) gets a malloc'd copy of the answer. path is freed here. */
static int admin_call(syc_client *c, const char *method, sbuf *path, const char *json, char **out)
{
    sbuf url = {0};
    int retryable, rc = -1;

    if (out)
        *out = NULL;
    if (!path->p || syc__sb_str(&url, c->base_url) || syc__sb_str(&url, path->p)) {
        syc__fail(c, 0, "out_of_memory", "could not build the request URL: out of memory");
        goto done;
    }
    if (syc__exchange(c, method, url.p, json, json ? strlen(json) : 0, c->admin_token, NULL, &retryable) ||
        syc__judge(c, method, url.p))
        goto done;
    if (out && !(*out = strdup(c->resp.p ? c->resp.p : ""))) {
        syc__fail(c, c->status, "out_of_memory", "could not copy the answer: out of memory");
        goto done;
    }
    rc = 0;
done:
    free(path->p);
    free(url.p);
    return rc;
}

/* Starts an admin call: out cleared, syc__begin(), and the required argument named what (if any)
 * present. */
static int admin_begin(syc_client *c, char **out, const char *what, const char *value)
{
    if (out)
        *out = NULL;
    if (syc__begin(c) != 0)
        return -1;
    if (what && (!value || !*value))
        return syc__fail(c, 0, "invalid_argument", "the %s is empty", what);
    return 0;
}

/* path = prefix + escaped(name) + suffix */
static sbuf make_path(const char *prefix, const char *name, const char *suffix)
{
    sbuf p = {0};
    if (syc__sb_str(&p, prefix) || (name && syc__sb_escaped(&p, name)) ||
        (suffix && syc__sb_str(&p, suffix))) {
        free(p.p);
        p.p = NULL;
    }
    return p;
}

int syc_subscriber_create(syc_client *c, const char *json, char **out)
{
    if (admin_begin(c, out, "subscriber JSON", json) != 0)
        return -1;
    sbuf path = make_path("/v1/subscribers", NULL, NULL);
    return admin_call(c, "POST", &path, json, out);
}

int syc_subscriber_put(syc_client *c, const char *name, const char *json, char **out)
{
    if (admin_begin(c, out, "subscriber name", name) != 0)
        return -1;
    if (!json || !*json)
        return syc__fail(c, 0, "invalid_argument", "the subscriber JSON is empty");
    sbuf path = make_path("/v1/subscribers/", name, NULL);
    return admin_call(c, "PUT", &path, json, out);
}

int syc_subscriber_get(syc_client *c, const char *id_or_name, char **out)
{
    if (admin_begin(c, out, "subscriber id or name", id_or_name) != 0)
        return -1;
    sbuf path = make_path("/v1/subscribers/", id_or_name, NULL);
    return admin_call(c, "GET", &path, NULL, out);
}

int syc_subscriber_list(syc_client *c, const char *topic, char **out)
{
    if (admin_begin(c, out, NULL, NULL) != 0)
        return -1;
    sbuf path = make_path(topic ? "/v1/subscribers?topic=" : "/v1/subscribers", topic, NULL);
    return admin_call(c, "GET", &path, NULL, out);
}

int syc_subscriber_update(syc_client *c, const char *id_or_name, const char *json, char **out)
{
    if (admin_begin(c, out, "subscriber id or name", id_or_name) != 0)
        return -1;
    if (!json || !*json)
        return syc__fail(c, 0, "invalid_argument", "the subscriber JSON is empty");
    sbuf path = make_path("/v1/subscribers/", id_or_name, NULL);
    return admin_call(c, "PATCH", &path, json, out);
}

int syc_subscriber_delete(syc_client *c, const char *id_or_name)
{
    if (admin_begin(c, NULL, "subscriber id or name", id_or_name) != 0)
        return -1;
    sbuf path = make_path("/v1/subscribers/", id_or_name, NULL);
    return admin_call(c, "DELETE", &path, NULL, NULL);
}

int syc_dead_list(syc_client *c, const char *subscriber, long limit, const char *cursor, char **out)
{
    if (admin_begin(c, out, NULL, NULL) != 0)
        return -1;
    sbuf path = {0};
    char num[32];
    char sep = '?';
    int bad = syc__sb_str(&path, "/v1/dead");
    if (subscriber) {
        bad |= syc__sb_add(&path, &sep, 1) | syc__sb_str(&path, "subscriber=") |
               syc__sb_escaped(&path, subscriber);
        sep = '&';
    }
    if (limit > 0) {
        snprintf(num, sizeof num, "%ld", limit);
        bad |= syc__sb_add(&path, &sep, 1) | syc__sb_str(&path, "limit=") | syc__sb_str(&path, num);
        sep = '&';
    }
    if (cursor)
        bad |= syc__sb_add(&path, &sep, 1) | syc__sb_str(&path, "cursor=") | syc__sb_escaped(&path, cursor);
    if (bad) {
        free(path.p);
        path.p = NULL;
    }
    return admin_call(c, "GET", &path, NULL, out);
}

int syc_dead_replay(syc_client *c, const char *job_id)
{
    if (admin_begin(c, NULL, "job id", job_id) != 0)
        return -1;
    sbuf path = make_path("/v1/dead/", job_id, "/replay");
    return admin_call(c, "POST", &path, NULL, NULL);
}

int syc_dead_delete(syc_client *c, const char *job_id)
{
    if (admin_begin(c, NULL, "job id", job_id) != 0)
        return -1;
    sbuf path = make_path("/v1/dead/", job_id, NULL);
    return admin_call(c, "DELETE", &path, NULL, NULL);
}

int syc_event_get(syc_client *c, const char *event_id, char **out)
{
    if (admin_begin(c, out, "event id", event_id) != 0)
        return -1;
    sbuf path = make_path("/v1/events/", event_id, NULL);
    return admin_call(c, "GET", &path, NULL, out);
}

int syc_request(syc_client *c, const char *method, const char *path, const char *json, char **out)
{
    if (admin_begin(c, out, "method", method) != 0)
        return -1;
    for (const char *m = method; *m; m++)
        if (*m < 'A' || *m > 'Z')
            return syc__fail(c, 0, "invalid_argument",
                             "the method \"%.20s\" is not an upper-case HTTP method", method);
    if (!path || path[0] != '/' || strchr(path, ' ') || syc__has_control(path))
        return syc__fail(c, 0, "invalid_argument", "the path must start with '/' and be percent-encoded "
                         "(no spaces or control characters)");
    sbuf p = make_path(path, NULL, NULL);
    return admin_call(c, method, &p, json, out);
}
