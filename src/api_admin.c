/* api_admin — the admin API: subscribers, filter dry-runs, event history, dead letters.
 * Every endpoint here needs the admin credential. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "codec.h"
#include "log.h"
#include "queue.h"
#include "sign.h"
#include "topic.h"

#define ROTATION_GRACE_MS (24LL * 3600 * 1000)

static int admin_ok(hub *h, const http_req *q, http_resp *r)
{
    if (!h->cfg->admin_token[0]) {
        http_error(r, 401, "unauthorized",
                   "the admin API is disabled: start the hub with SWITCHYARD_ADMIN_TOKEN set");
        return 0;
    }
    const char *hdr = http_header(q, "Authorization");
    size_t len = 0;
    const char *tok = hdr ? auth_bearer(hdr, &len) : NULL;
    if (!tok) {
        http_error(r, 401, "unauthorized",
                   "admin endpoints need Authorization: Bearer <SWITCHYARD_ADMIN_TOKEN>");
        return 0;
    }
    if (!auth_admin_ok(tok, len, h->cfg->admin_token)) {
        http_error(r, 401, "unauthorized", "the admin credential is not valid");
        return 0;
    }
    return 1;
}

static void unavailable(http_resp *r, rds *c)
{
    snprintf(r->retry_after, sizeof r->retry_after, "1");
    http_error(r, 503, "redis_unavailable", "Redis is unavailable (%s); nothing was changed",
               rds_error(c)[0] ? rds_error(c) : "error");
}

static void method_not_allowed(http_resp *r, const char *allow, const char *path)
{
    snprintf(r->allow, sizeof r->allow, "%s", allow);
    http_error(r, 405, "method_not_allowed", "%s answers %s", path, allow);
}

/* Stores s and waits until this hub's snapshot has it, so the next request sees the change. */
static int store(hub *h, hub_thread *t, http_resp *r, subscriber *s, int create)
{
    long long ver = 0;
    int rc = reg_put(t->r, h->cfg->prefix, s, create, &ver);
    if (rc == REG_NAME_TAKEN) {
        http_error(r, 409, "conflict", "a subscriber named \"%s\" already exists", s->name);
    } else if (rc == REG_NOT_FOUND) {
        http_error(r, 404, "not_found", "no subscriber %s", s->id);
    } else if (rc != REG_STORED) {
        unavailable(r, t->r);
    } else {
        reg_wait_version(h->reg, ver, 1000);
        log_msg(LOG_INFO, create ? "subscriber.created" : "subscriber.updated",
                "subscriber_id=%s name=%s topic=%s", s->id, s->name, s->topic);
    }
    return rc;
}

static void create_sub(hub *h, hub_thread *t, http_resp *r, const cJSON *body)
{
    subscriber s;
    char err[512];
    if (sub_from_json(&s, body, NULL, 0, err, sizeof err) != 0) {
        http_error(r, 400, "invalid_subscriber", "%s", err);
        return;
    }
    char id[32], secret[64];
    codec_new_id("sub_", id);
    s.id = strdup(id);
    if (!s.name)
        s.name = strdup(id);
    if (sign_new_secret(secret) != 0) {
        http_error(r, 500, "internal", "could not generate a signing secret");
        sub_free(&s);
        return;
    }
    s.secret = strdup(secret);
    s.created_at_ms = s.updated_at_ms = hub_now_ms();
    if (store(h, t, r, &s, 1) == REG_STORED)
        http_json(r, 201, sub_to_json(&s, 1));
    sub_free(&s);
}

/* PUT (replace, keeping id/secret/created_at) or PATCH (merge) of an existing subscriber. */
static void update_sub(hub *h, hub_thread *t, http_resp *r, const subscriber *old,
                       const cJSON *body, int patch)
{
    subscriber s;
    char err[512];
    if (sub_from_json(&s, body, patch ? old : NULL, 0, err, sizeof err) != 0) {
        http_error(r, 400, "invalid_subscriber", "%s", err);
        return;
    }
    if (!patch) {
        free(s.id);
        s.id = strdup(old->id);
        if (!s.name)
            s.name = strdup(old->name);
        s.secret = strdup(old->secret);
        s.prev_secret = old->prev_secret ? strdup(old->prev_secret) : NULL;
        s.prev_secret_until_ms = old->prev_secret_until_ms;
        s.created_at_ms = old->created_at_ms;
    }
    s.updated_at_ms = hub_now_ms();
    if (store(h, t, r, &s, 0) == REG_STORED)
        http_json(r, 200, sub_to_json(&s, 0));
    sub_free(&s);
}

static void rotate_secret(hub *h, hub_thread *t, http_resp *r, const subscriber *old)
{
    subscriber s;
    sub_copy(&s, old);
    char secret[64];
    if (sign_new_secret(secret) != 0) {
        http_error(r, 500, "internal", "could not generate a signing secret");
        sub_free(&s);
        return;
    }
    free(s.prev_secret);
    s.prev_secret = s.secret;
    s.secret = strdup(secret);
    s.updated_at_ms = hub_now_ms();
    s.prev_secret_until_ms = s.updated_at_ms + ROTATION_GRACE_MS;
    if (store(h, t, r, &s, 0) == REG_STORED) {
        cJSON *o = sub_to_json(&s, 1);
        cJSON_DeleteItemFromObject(o, "prev_secret");
        http_json(r, 200, o);
    }
    sub_free(&s);
}

/* Adds "circuit": {"state", "failures", "probe_at"} to a subscriber's JSON. */
static cJSON *with_circuit(hub *h, hub_thread *t, cJSON *o, const char *id)
{
    char state[16];
    long long failures = 0, probe_at = 0;
    if (queue_breaker_state(t->r, h->cfg->prefix, id, state, &failures, &probe_at) != 0)
        return o;
    cJSON *c = cJSON_AddObjectToObject(o, "circuit");
    cJSON_AddStringToObject(c, "state", state);
    cJSON_AddNumberToObject(c, "failures", (double)failures);
    if (probe_at > 0) {
        char when[32];
        codec_time_format(probe_at, when);
        cJSON_AddStringToObject(c, "probe_at", when);
    } else {
        cJSON_AddNullToObject(c, "probe_at");
    }
    return o;
}

static void list_subs(hub *h, hub_thread *t, const http_req *q, http_resp *r)
{
    subscriber *v;
    size_t n;
    if (reg_list(t->r, h->cfg->prefix, &v, &n) != REG_STORED) {
        unavailable(r, t->r);
        return;
    }
    const char *topic = http_query(q, "topic");
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "subscribers");
    for (size_t i = 0; i < n; i++) {
        if (!topic || strcmp(v[i].topic, topic) == 0 ||
            (topic_valid(topic, NULL, 0) == 0 && topic_match(v[i].topic, topic)))
            cJSON_AddItemToArray(items, sub_to_json(&v[i], 0));
        sub_free(&v[i]);
    }
    free(v);
    http_json(r, 200, o);
}

static void subscribers(hub *h, hub_thread *t, const http_req *q, http_resp *r, const char *rest)
{
    const char *m = q->method;
    if (!*rest) {   /* /v1/subscribers */
        if (strcmp(m, "GET") == 0) {
            list_subs(h, t, q, r);
        } else if (strcmp(m, "POST") == 0) {
            cJSON *body = http_body_object(q, r);
            if (body)
                create_sub(h, t, r, body);
            cJSON_Delete(body);
        } else {
            method_not_allowed(r, "GET, POST", q->path);
        }
        return;
    }
    char key[256];
    const char *slash = strchr(rest, '/');
    size_t klen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (klen == 0 || klen >= sizeof key) {
        http_error(r, 404, "not_found", "no such subscriber");
        return;
    }
    memcpy(key, rest, klen);
    key[klen] = '\0';
    const char *action = slash ? slash + 1 : "";
    if (*action && strcmp(action, "rotate-secret") != 0) {
        http_error(r, 404, "not_found", "no such endpoint: %s", q->path);
        return;
    }
    subscriber old;
    int rc = reg_get(t->r, h->cfg->prefix, key, &old);
    if (rc == REG_UNAVAILABLE) {
        unavailable(r, t->r);
        return;
    }
    int found = rc == REG_STORED;
    if (*action) {
        if (strcmp(m, "POST") != 0)
            method_not_allowed(r, "POST", q->path);
        else if (!found)
            http_error(r, 404, "not_found", "no subscriber with id or name \"%s\"", key);
        else
            rotate_secret(h, t, r, &old);
    } else if (strcmp(m, "GET") == 0) {
        if (found)
            http_json(r, 200, with_circuit(h, t, sub_to_json(&old, 0), old.id));
        else
            http_error(r, 404, "not_found", "no subscriber with id or name \"%s\"", key);
    } else if (strcmp(m, "DELETE") == 0) {
        long long ver = 0;
        int d = found ? reg_delete(t->r, h->cfg->prefix, old.id, &ver) : REG_NOT_FOUND;
        if (d == REG_STORED) {
            reg_wait_version(h->reg, ver, 1000);
            log_msg(LOG_INFO, "subscriber.deleted", "subscriber_id=%s", old.id);
            r->status = 204;
        } else if (d == REG_NOT_FOUND) {
            http_error(r, 404, "not_found", "no subscriber with id or name \"%s\"", key);
        } else {
            unavailable(r, t->r);
        }
    } else if (strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
        int patch = m[1] == 'A';
        cJSON *body = http_body_object(q, r);
        if (body) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(body, "name");
            if (!patch && n && (!cJSON_IsString(n) || strcmp(n->valuestring, key) != 0 ||
                                (found && strcmp(old.name, key) != 0)))
                http_error(r, 400, "invalid_subscriber",
                           "PUT /v1/subscribers/{name} upserts by name: the body's \"name\" must "
                           "equal the name in the path");
            else if (found)
                update_sub(h, t, r, &old, body, patch);
            else if (!patch) {
                /* the name comes from the path: validated like any other name */
                if (!n)
                    cJSON_AddStringToObject(body, "name", key);
                create_sub(h, t, r, body);
            }
            else
                http_error(r, 404, "not_found", "no subscriber with id or name \"%s\"", key);
        }
        cJSON_Delete(body);
    } else {
        method_not_allowed(r, "GET, PUT, PATCH, DELETE", q->path);
    }
    if (found)
        sub_free(&old);
}

static void filters_test(hub *h, const http_req *q, http_resp *r)
{
    cJSON *body = http_body_object(q, r);
    if (!body)
        return;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "filter");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(body, "data");
    if (!cJSON_IsString(f) && !cJSON_IsNull(f) && f) {
        http_error(r, 400, "invalid_request", "\"filter\" must be a string");
    } else if (d && !cJSON_IsObject(d)) {
        http_error(r, 400, "invalid_request", "\"data\" must be a JSON object");
    } else {
        char err[512] = "";
        int rc = filter_test(cJSON_IsString(f) ? f->valuestring : "", d, &h->limits, err,
                             sizeof err);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "match", rc == 1);
        if (rc < 0)
            cJSON_AddStringToObject(o, "error", err);
        http_json(r, 200, o);
    }
    cJSON_Delete(body);
}

static void match(hub *h, hub_thread *t, const http_req *q, http_resp *r)
{
    cJSON *body = http_body_object(q, r);
    if (!body)
        return;
    const cJSON *tp = cJSON_GetObjectItemCaseSensitive(body, "topic");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(body, "data");
    char why[200];
    if (!cJSON_IsString(tp)) {
        http_error(r, 400, "invalid_request", "\"topic\" is required and must be a string");
    } else if (topic_valid(tp->valuestring, why, sizeof why) != 0) {
        http_error(r, 400, "invalid_topic", "%s", why);
    } else if (d && !cJSON_IsObject(d)) {
        http_error(r, 400, "invalid_request", "\"data\" must be a JSON object");
    } else if (hub_thread_sync(h, t)->version == REG_UNLOADED) {
        snprintf(r->retry_after, sizeof r->retry_after, "1");
        http_error(r, 503, "redis_unavailable",
                   "the hub has not loaded its subscribers from Redis yet; retry later");
    } else {
        reg_snapshot *s = t->snap;
        cJSON *o = cJSON_CreateObject();
        cJSON *list = cJSON_AddArrayToObject(o, "subscribers");
        filter_set_event(t->fe, d);
        for (size_t i = 0; i < s->n; i++) {
            const subscriber *sub = &s->subs[i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "id", sub->id);
            cJSON_AddStringToObject(e, "name", sub->name);
            int tm = topic_match(sub->topic, tp->valuestring);
            cJSON_AddBoolToObject(e, "topic_match", tm);
            char err[256] = "";
            int fm = -1;
            if (tm) {
                if (t->handles[i] < 0)
                    filter_compile(t->fe, sub->filter, strlen(sub->filter), err, sizeof err);
                else
                    fm = filter_eval(t->fe, t->handles[i], err, sizeof err);
            }
            if (tm)
                cJSON_AddBoolToObject(e, "filter_match", fm == 1);
            else
                cJSON_AddNullToObject(e, "filter_match");
            if (err[0])
                cJSON_AddStringToObject(e, "error", err);
            else
                cJSON_AddNullToObject(e, "error");
            cJSON_AddBoolToObject(e, "enabled", sub->enabled);
            cJSON_AddBoolToObject(e, "receives", tm && fm == 1 && sub->enabled);
            cJSON_AddItemToArray(list, e);
        }
        filter_clear_event(t->fe);
        http_json(r, 200, o);
    }
    cJSON_Delete(body);
}

static void event(hub *h, hub_thread *t, const http_req *q, http_resp *r, const char *id)
{
    if (strcmp(q->method, "GET") != 0) {
        method_not_allowed(r, "GET", q->path);
        return;
    }
    int found;
    cJSON *o = queue_event_json(t->r, h->cfg->prefix, id, &found);
    if (o)
        http_json(r, 200, o);
    else if (found == 0)
        http_error(r, 404, "not_found", "no event \"%s\" (unknown, or older than the retention)",
                   id);
    else
        unavailable(r, t->r);
}

static int parse_limit(const char *s, int *out)
{
    if (!s) {
        *out = 100;
        return 0;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > 1000)
        return -1;
    *out = (int)v;
    return 0;
}

static void dead_replay_range(hub *h, hub_thread *t, const http_req *q, http_resp *r)
{
    cJSON *body = http_body_object(q, r);
    if (!body)
        return;
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(body, "subscriber_id");
    const cJSON *since = cJSON_GetObjectItemCaseSensitive(body, "since");
    const cJSON *until = cJSON_GetObjectItemCaseSensitive(body, "until");
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(body, "rate_per_s");
    int64_t a = 0, b = INT64_MAX / 2;
    if (rate && !cJSON_IsNull(rate) &&
        (!cJSON_IsNumber(rate) || rate->valuedouble < 1 || rate->valuedouble > 100000 ||
         rate->valuedouble != (int)rate->valuedouble))
        http_error(r, 400, "invalid_request", "\"rate_per_s\" must be a whole number from 1 to 100000");
    else if (sid && !cJSON_IsNull(sid) && !cJSON_IsString(sid))
        http_error(r, 400, "invalid_request", "\"subscriber_id\" must be a string");
    else if (since && !cJSON_IsNull(since) &&
             (!cJSON_IsString(since) || codec_time_parse(since->valuestring, &a) != 0))
        http_error(r, 400, "invalid_request", "\"since\" must be an RFC 3339 time");
    else if (until && !cJSON_IsNull(until) &&
             (!cJSON_IsString(until) || codec_time_parse(until->valuestring, &b) != 0))
        http_error(r, 400, "invalid_request", "\"until\" must be an RFC 3339 time");
    else {
        long n = queue_dead_replay_range(t->r, h->cfg->prefix,
                                         cJSON_IsString(sid) ? sid->valuestring : NULL, a, b,
                                         cJSON_IsNumber(rate) ? rate->valueint : 100,
                                         hub_now_ms());
        if (n < 0) {
            unavailable(r, t->r);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "replayed", (double)n);
            log_msg(LOG_INFO, "dead.replayed", "jobs=%ld", n);
            http_json(r, 200, o);
        }
    }
    cJSON_Delete(body);
}

static void dead(hub *h, hub_thread *t, const http_req *q, http_resp *r, const char *rest)
{
    const char *m = q->method;
    if (!*rest) {
        if (strcmp(m, "GET") != 0) {
            method_not_allowed(r, "GET", q->path);
            return;
        }
        int limit;
        if (parse_limit(http_query(q, "limit"), &limit) != 0) {
            http_error(r, 400, "invalid_request", "limit must be a whole number from 1 to 1000");
            return;
        }
        cJSON *o = queue_dead_list(t->r, h->cfg->prefix, http_query(q, "subscriber"),
                                   http_query(q, "cursor"), limit);
        if (o)
            http_json(r, 200, o);
        else
            unavailable(r, t->r);
        return;
    }
    if (strcmp(rest, "replay") == 0) {
        if (strcmp(m, "POST") != 0)
            method_not_allowed(r, "POST", q->path);
        else
            dead_replay_range(h, t, q, r);
        return;
    }
    char jid[128];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    if (n == 0 || n >= sizeof jid || (slash && strcmp(slash, "/replay") != 0)) {
        http_error(r, 404, "not_found", "no such endpoint: %s", q->path);
        return;
    }
    memcpy(jid, rest, n);
    jid[n] = '\0';
    int rc;
    if (slash) {
        if (strcmp(m, "POST") != 0) {
            method_not_allowed(r, "POST", q->path);
            return;
        }
        rc = queue_dead_replay(t->r, h->cfg->prefix, jid);
    } else {
        if (strcmp(m, "DELETE") != 0) {
            method_not_allowed(r, "DELETE", q->path);
            return;
        }
        rc = queue_dead_delete(t->r, h->cfg->prefix, jid);
    }
    if (rc < 0) {
        unavailable(r, t->r);
    } else if (rc == 0) {
        http_error(r, 404, "not_found", "job \"%s\" is not a dead letter", jid);
    } else if (slash) {
        log_msg(LOG_INFO, "dead.replayed", "job_id=%s", jid);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "replayed", 1);
        http_json(r, 200, o);
    } else {
        log_msg(LOG_INFO, "dead.deleted", "job_id=%s", jid);
        r->status = 204;
    }
}

void api_admin(hub *h, const http_req *q, http_resp *r)
{
    const char *p = q->path + 4;   /* after "/v1/" */
    static const char *const roots[] = {"subscribers", "filters/test", "match", "events/", "dead",
                                        NULL};
    int known = 0;
    for (const char *const *root = roots; *root; root++) {
        size_t n = strlen(*root);
        if (strncmp(p, *root, n) == 0 && (p[n] == '\0' || p[n] == '/' || (*root)[n - 1] == '/'))
            known = 1;
    }
    if (!known) {
        http_error(r, 404, "not_found", "no such endpoint: %s %s", q->method, q->path);
        return;
    }
    if (!admin_ok(h, q, r))
        return;
    hub_thread *t = hub_thread_get(h);
    if (strncmp(p, "subscribers", 11) == 0 && (p[11] == '\0' || p[11] == '/')) {
        subscribers(h, t, q, r, p[11] ? p + 12 : "");
    } else if (strcmp(p, "filters/test") == 0) {
        if (strcmp(q->method, "POST") != 0)
            method_not_allowed(r, "POST", q->path);
        else
            filters_test(h, q, r);
    } else if (strcmp(p, "match") == 0) {
        if (strcmp(q->method, "POST") != 0)
            method_not_allowed(r, "POST", q->path);
        else
            match(h, t, q, r);
    } else if (strncmp(p, "events/", 7) == 0 && p[7] && !strchr(p + 7, '/')) {
        event(h, t, q, r, p + 7);
    } else if (strncmp(p, "dead", 4) == 0 && (p[4] == '\0' || p[4] == '/')) {
        dead(h, t, q, r, p[4] ? p + 5 : "");
    } else {
        http_error(r, 404, "not_found", "no such endpoint: %s %s", q->method, q->path);
    }
}
