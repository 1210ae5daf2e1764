/* api_publish — POST /v1/publish and switch's POST /publish: authenticate, validate, match topics,
 * run filters, enqueue every matching job in one Redis script call. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "api.h"
#include "auth.h"
#include "codec.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "topic.h"

#define EVENT_ID_MAX 200

typedef struct matches {
    size_t *idx;     /* indexes into the snapshot's subs */
    size_t n;        /* used */
    size_t cap;      /* allocated */
} matches;

static void add_match(size_t idx, void *ctx)
{
    matches *m = ctx;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->idx = realloc(m->idx, m->cap * sizeof *m->idx);
    }
    m->idx[m->n++] = idx;
}

static int content_type_ok(const char *ct)
{
    if (!ct)
        return 1;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int event_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > EVENT_ID_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_-.:", *s)))
            return 0;
    return 1;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Checks the token; returns its claims (owned by t) when allowed to go on, else NULL with the
 * response set. Publishers send the same token again and again: its claims are kept per thread and
 * reused while the token is byte-for-byte the same and its exp and nbf still hold. */
static const auth_claims *authenticate(hub *h, hub_thread *t, const http_req *q, http_resp *r)
{
    const char *hdr = http_header(q, "Authorization");
    if (!hdr) {
        http_error(r, 401, "unauthorized",
                   "missing Authorization header; send Authorization: Bearer <publisher token>");
        return NULL;
    }
    size_t len;
    const char *tok = auth_bearer(hdr, &len);
    if (!tok) {
        http_error(r, 401, "unauthorized",
                   "Authorization header must use the Bearer scheme: Bearer <publisher token>");
        return NULL;
    }
    int64_t now = (int64_t)time(NULL);
    if (t->token && len == t->token_len && CRYPTO_memcmp(tok, t->token, len) == 0 &&
        (!t->claims.exp || now < t->claims.exp + AUTH_LEEWAY_S) &&
        now + AUTH_LEEWAY_S >= t->claims.nbf)
        return &t->claims;
    free(t->token);
    t->token = NULL;
    auth_claims_free(&t->claims);
    char err[256];
    if (auth_jwt_verify(tok, len, h->cfg->jwt_secret, now, &t->claims, err, sizeof err) != 0) {
        http_error(r, 401, "unauthorized", "%s", err);
        return NULL;
    }
    t->token = malloc(len);
    memcpy(t->token, tok, len);
    t->token_len = len;
    return &t->claims;
}

/* The request as (topic, data) from either wire format; 0, or -1 with the response set.
 * *root owns everything; *data may point into it or be a separately parsed tree in *decoded.
 * *data_raw is data's JSON text as sent, when it can be cut out of the request (into the body or
 * *decoded_text, which the caller frees), else NULL. */
static int parse_body(const http_req *q, http_resp *r, int switch_format, cJSON **root,
                      cJSON **decoded, char **decoded_text, const char **topic,
                      const cJSON **data, const char **data_raw, size_t *data_raw_len)
{
    *root = http_body_object(q, r);
    if (!*root)
        return -1;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(*root, switch_format ? "Topic" : "topic");
    if (!t) {
        http_error(r, 400, "invalid_request", "\"%s\" is required", switch_format ? "Topic" : "topic");
        return -1;
    }
    if (!cJSON_IsString(t)) {
        http_error(r, 400, "invalid_request", "\"%s\" must be a string",
                   switch_format ? "Topic" : "topic");
        return -1;
    }
    char why[200];
    if (topic_valid(t->valuestring, why, sizeof why) != 0) {
        http_error(r, 400, "invalid_topic", "%s", why);
        return -1;
    }
    *topic = t->valuestring;
    if (!switch_format) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(*root, "data");
        if (d && !cJSON_IsObject(d)) {
            http_error(r, 400, "invalid_request", "\"data\" must be a JSON object");
            return -1;
        }
        *data = d;
        if (d && json_member_raw(q->body, q->body_len, "data", data_raw, data_raw_len) != 0)
            *data_raw = NULL;
        return 0;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(*root, "Payload");
    if (!p || cJSON_IsNull(p)) {
        *data = NULL;
        return 0;
    }
    if (!cJSON_IsString(p)) {
        http_error(r, 400, "invalid_request", "\"Payload\" must be a base64 string");
        return -1;
    }
    size_t n = strlen(p->valuestring), outlen;
    unsigned char *raw = malloc(n / 4 * 3 + 4);
    if (codec_b64_decode(p->valuestring, n, raw, &outlen, 0) != 0) {
        free(raw);
        *data_raw = NULL;
        http_error(r, 400, "invalid_base64", "\"Payload\" is not valid base64");
        return -1;
    }
    *decoded = json_parse((const char *)raw, outlen, why, sizeof why);
    *decoded_text = (char *)raw;
    *data_raw = (const char *)raw;
    *data_raw_len = outlen;
    if (!*decoded) {
        http_error(r, 400, "invalid_json", "\"Payload\" decodes to invalid JSON: %s", why);
        return -1;
    }
    if (!cJSON_IsObject(*decoded)) {
        http_error(r, 400, "invalid_request", "\"Payload\" must be base64 of a JSON object");
        return -1;
    }
    *data = *decoded;
    return 0;
}

/* Optional fields of /v1/publish: id, deliver_at, ttl. */
static int parse_options(const cJSON *root, http_resp *r, int64_t now, char *id, int64_t *due,
                         int64_t *expires, int *id_given)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "id");
    *id_given = 0;
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v) || !event_id_ok(v->valuestring)) {
            http_error(r, 400, "invalid_request",
                       "\"id\" must be 1-200 characters of letters, digits, _ - . :");
            return -1;
        }
        strcpy(id, v->valuestring);
        *id_given = 1;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "deliver_at");
    if (v && !cJSON_IsNull(v)) {
        int64_t at;
        if (!cJSON_IsString(v) || codec_time_parse(v->valuestring, &at) != 0) {
            http_error(r, 400, "invalid_request",
                       "\"deliver_at\" must be an RFC 3339 time such as 2026-01-02T03:04:05Z");
            return -1;
        }
        if (at > now)
            *due = at;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "ttl");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 366.0 * 86400 ||
            v->valuedouble != (double)(int64_t)v->valuedouble) {
            http_error(r, 400, "invalid_request",
                       "\"ttl\" must be a whole number of seconds from 1 to 31622400");
            return -1;
        }
        *expires = now + (int64_t)v->valuedouble * 1000;
    }
    return 0;
}

/* Runs the filters of the topic's subscribers; fills m with the indexes that receive the event. */
static void select_receivers(hub_thread *t, reg_snapshot *s, const char *topic,
                             const cJSON *data, matches *m)
{
    matches cand = {0};
    reg_match(s, topic, add_match, &cand);
    filter_set_event(t->fe, data);
    for (size_t k = 0; k < cand.n; k++) {
        size_t i = cand.idx[k];
        const subscriber *sub = &s->subs[i];
        if (!sub->enabled || t->handles[i] < 0)
            continue;
        char err[256];
        double t0 = mono_s();
        int rc = filter_eval(t->fe, t->handles[i], err, sizeof err);
        metrics_observe(H_FILTER_SECONDS, mono_s() - t0);
        metrics_inc(M_FILTER_EVALS, 1);
        if (rc == 1) {
            add_match(i, m);
        } else if (rc < 0) {
            metrics_inc(M_FILTER_ERRORS, 1);
            int64_t now = hub_now_ms();
            if (now - t->last_error_log_ms[i] >= 60000) {
                t->last_error_log_ms[i] = now;
                log_msg(LOG_WARN, "filter.error", "subscriber_id=%s topic=%s error=\"%s\"",
                        sub->id, topic, err);
            }
        }
    }
    filter_clear_event(t->fe);
    free(cand.idx);
}

/* A publish waiting for Redis: what its answer needs. */
typedef struct pending_publish {
    http_pending *pending;  /* the suspended request */
    int switch_format;      /* answer 200 (switch) or 202 */
    double t0;              /* when the request began, for the latency histogram */
    size_t matched;         /* jobs enqueued */
    char *topic;            /* owned */
} pending_publish;

/* queue_publish's callback (on this thread's loop, when Redis answered): answers the request. */
static void published(int rc, const char *id, const char *err, void *arg)
{
    pending_publish *pp = arg;
    http_resp r = {.status = 200};
    if (rc < 0) {
        metrics_inc(M_PUBLISH_UNAVAILABLE, 1);
        snprintf(r.retry_after, sizeof r.retry_after, "1");
        http_error(&r, 503, "redis_unavailable",
                   "the queue is unavailable (%s); nothing was enqueued, retry later", err);
        log_msg(LOG_WARN, "publish.unavailable", "topic=%s error=\"%s\"", pp->topic, err);
    } else {
        r.status = pp->switch_format ? 200 : 202;
        buf_puts(&r.body, "{\"id\":");
        buf_json_str(&r.body, id, strlen(id));
        buf_puts(&r.body, ",\"topic\":");
        buf_json_str(&r.body, pp->topic, strlen(pp->topic));
        buf_printf(&r.body, ",\"matched\":%zu%s}", pp->matched,
                   rc == 1 ? ",\"duplicate\":true" : "");
        if (rc == 1) {
            metrics_inc(M_PUBLISH_DUPLICATE, 1);
            log_msg(LOG_INFO, "publish.duplicate", "event_id=%s topic=%s", id, pp->topic);
        } else {
            metrics_inc(M_PUBLISH_ACCEPTED, 1);
            metrics_inc(M_JOBS_ENQUEUED, pp->matched);
            if (pp->matched)
                metrics_inc(M_EVENTS_MATCHED, 1);
            log_msg(LOG_INFO, "publish", "event_id=%s topic=%s matched=%zu", id, pp->topic,
                    pp->matched);
        }
    }
    metrics_observe(H_PUBLISH_SECONDS, mono_s() - pp->t0);
    http_complete(pp->pending, &r);
    free(pp->topic);
    free(pp);
}

void api_publish(hub *h, const http_req *q, http_resp *r, int switch_format)
{
    double t0 = mono_s();
    cJSON *root = NULL, *decoded = NULL;
    char *decoded_text = NULL;
    const char *data_raw = NULL;
    size_t data_raw_len = 0;
    matches m = {0};
    char **job_ids = NULL;
    const char **sub_ids = NULL;
    int deferred = 0;
    if (strcmp(q->method, "POST") != 0) {
        snprintf(r->allow, sizeof r->allow, "POST");
        http_error(r, 405, "method_not_allowed", "%s answers POST only", q->path);
        goto done;
    }
    if (!switch_format && !content_type_ok(http_header(q, "Content-Type"))) {
        http_error(r, 415, "unsupported_media_type",
                   "Content-Type must be application/json (got \"%s\")",
                   http_header(q, "Content-Type"));
        goto done;
    }
    hub_thread *t = hub_thread_get(h);
    const auth_claims *claims = authenticate(h, t, q, r);
    if (!claims)
        goto done;
    const char *topic;
    const cJSON *data = NULL;
    if (parse_body(q, r, switch_format, &root, &decoded, &decoded_text, &topic, &data, &data_raw,
                   &data_raw_len) != 0)
        goto done;
    if (!auth_topic_allowed(claims, topic)) {
        http_error(r, 403, "forbidden", "this token may not publish to topic \"%s\"", topic);
        goto done;
    }
    int64_t now = hub_now_ms(), due = 0, expires = 0;
    char id[EVENT_ID_MAX + 1];
    int id_given = 0;
    if (!switch_format && parse_options(root, r, now, id, &due, &expires, &id_given) != 0)
        goto done;
    if (!id_given)
        codec_new_id("evt_", id);
    const char *idem = http_header(q, "Idempotency-Key");
    if (idem && (!*idem || strlen(idem) > 200)) {
        http_error(r, 400, "invalid_request", "Idempotency-Key must be 1-200 characters");
        goto done;
    }
    if (!idem && id_given)
        idem = id;   /* a publisher-chosen id is its own idempotency key */

    reg_snapshot *s = hub_thread_sync(h, t);
    if (s->version == REG_UNLOADED) {   /* matching now would drop the event for everyone */
        metrics_inc(M_PUBLISH_UNAVAILABLE, 1);
        snprintf(r->retry_after, sizeof r->retry_after, "1");
        http_error(r, 503, "redis_unavailable",
                   "the hub has not loaded its subscribers from Redis yet; nothing was enqueued, "
                   "retry later");
        goto done;
    }
    select_receivers(t, s, topic, data, &m);

    job_ids = calloc(m.n + 1, sizeof *job_ids);
    sub_ids = calloc(m.n + 1, sizeof *sub_ids);
    for (size_t i = 0; i < m.n; i++) {
        job_ids[i] = malloc(32);
        codec_new_id("job_", job_ids[i]);
        sub_ids[i] = s->subs[m.idx[i]].id;
    }
    /* data is stored as it was sent when it can be cut out of the request (no second printing,
     * numbers exactly as written); else printed from the tree */
    char *data_json = data_raw || !data ? NULL : cJSON_PrintUnformatted(data);
    queue_event ev = {.id = id, .topic = topic,
                      .data = data_raw ? data_raw : data_json ? data_json : "{}",
                      .data_len = data_raw ? data_raw_len : data_json ? strlen(data_json) : 2,
                      .published_at_ms = now, .expires_at_ms = expires, .due_ms = due,
                      .idem_key = idem};
    pending_publish *pp = calloc(1, sizeof *pp);
    pp->switch_format = switch_format;
    pp->t0 = t0;
    pp->matched = m.n;
    pp->topic = strdup(topic);
    pp->pending = http_defer(q);   /* before the answer can exist */
    queue_publish(t->pub, h->cfg->prefix, h->cfg->retention_s, &ev, (const char *const *)job_ids,
                  sub_ids, m.n, published, pp);
    free(data_json);
    deferred = 1;
done:
    if (r->status >= 400 && r->status < 500)
        metrics_inc(M_PUBLISH_REJECTED, 1);
    if (!deferred)
        metrics_observe(H_PUBLISH_SECONDS, mono_s() - t0);
    if (job_ids)
        for (size_t i = 0; i < m.n; i++)
            free(job_ids[i]);
    free(job_ids);
    free(sub_ids);
    free(m.idx);
    cJSON_Delete(root);
    cJSON_Delete(decoded);
    free(decoded_text);
}
