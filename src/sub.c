#include "sub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "errmsg.h"
#include "filter.h"
#include "topic.h"

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }


/* http(s)://host[:port][/...] with a non-empty host and no spaces or control characters. */
static int url_ok(const char *u, char *err, size_t errlen)
{
    const char *rest;
    if (strncasecmp(u, "http://", 7) == 0)
        rest = u + 7;
    else if (strncasecmp(u, "https://", 8) == 0)
        rest = u + 8;
    else
        return errmsg(err, errlen, "%s must be an http:// or https:// URL", "target_url");
    if (*rest == '\0' || *rest == '/' || *rest == ':' || *rest == '?')
        return errmsg(err, errlen, "%s has no host", "target_url");
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return errmsg(err, errlen, "%s must not contain spaces or control characters",
                        "target_url");
    if (strlen(u) > 2048)
        return errmsg(err, errlen, "%s is longer than 2048 bytes", "target_url");
    return 0;
}

static int method_ok(const char *m)
{
    if (!*m || strlen(m) > 16)
        return 0;
    for (; *m; m++)
        if (!((*m >= 'A' && *m <= 'Z') || (*m >= 'a' && *m <= 'z')))
            return 0;
    return 1;
}

static int read_codes(const cJSON *v, const char *field, int *codes, int *n, char *err,
                      size_t errlen)
{
    if (cJSON_IsNull(v)) {
        *n = -1;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return errmsg(err, errlen, "%s must be null or an array of HTTP status codes", field);
    int k = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, v) {
        if (!cJSON_IsNumber(c) || !(c->valuedouble >= 100 && c->valuedouble <= 599) ||
            c->valuedouble != (int)c->valuedouble)
            return errmsg(err, errlen, "%s must hold whole numbers from 100 to 599", field);
        if (k == SUB_MAX_CODES)
            return errmsg(err, errlen, "%s holds more than 64 codes", field);
        codes[k++] = c->valueint;
    }
    *n = k;
    return 0;
}

static int read_int(const cJSON *v, const char *field, int lo, int hi, int *out, char *err,
                    size_t errlen)
{
    /* range first: casting an out-of-range double to an integer is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
        v->valuedouble != (double)(long long)v->valuedouble) {
        snprintf(err, errlen, "%s must be a whole number from %d to %d", field, lo, hi);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

static int read_str(const cJSON *v, const char *field, int nullable, char **out, char *err,
                    size_t errlen)
{
    if (nullable && cJSON_IsNull(v)) {
        free(*out);
        *out = NULL;
        return 0;
    }
    if (!cJSON_IsString(v))
        return errmsg(err, errlen, nullable ? "%s must be a string or null" : "%s must be a string",
                    field);
    free(*out);
    *out = strdup(v->valuestring);
    return 0;
}

static const char *const known_fields[] = {
    "id", "name", "topic", "filter", "target_url", "method", "headers", "envelope",
    "success_codes", "discard_codes", "max_attempts", "retry_delays_ms", "timeout_ms",
    "rate_limit_per_s", "max_in_flight", "enabled", "secret", "prev_secret",
    "prev_secret_until_ms", "created_at", "updated_at", "created_at_ms", "updated_at_ms", NULL};

static void set_defaults(subscriber *s)
{
    memset(s, 0, sizeof *s);
    s->filter = strdup("");
    s->enabled = true;
    s->nsuccess = -1;
    s->ndiscard = -1;
    s->max_attempts = SUB_DEFAULT_MAX_ATTEMPTS;
    s->timeout_ms = SUB_DEFAULT_TIMEOUT_MS;
}

static int apply(subscriber *s, const cJSON *obj, int from_store, char *err, size_t errlen)
{
    const cJSON *v;
    for (v = obj->child; v; v = v->next) {
        int known = 0;
        for (const char *const *k = known_fields; *k; k++)
            if (strcmp(*k, v->string) == 0)
                known = 1;
        if (!known)
            return errmsg(err, errlen, "unknown field \"%s\"", v->string);
    }
    if (!from_store) {
        static const char *const store_only[] = {"id", "secret", "prev_secret",
                                                  "prev_secret_until_ms", "created_at_ms",
                                                  "updated_at_ms", NULL};
        for (const char *const *k = store_only; *k; k++)
            if (cJSON_GetObjectItemCaseSensitive(obj, *k))
                return errmsg(err, errlen, "field \"%s\" is assigned by the hub and cannot be set",
                            *k);
    }
#define FIELD(n) ((v = cJSON_GetObjectItemCaseSensitive(obj, n)) != NULL)
    if (FIELD("id") && read_str(v, "id", 0, &s->id, err, errlen))
        return -1;
    if (FIELD("secret") && read_str(v, "secret", 0, &s->secret, err, errlen))
        return -1;
    if (FIELD("prev_secret") && read_str(v, "prev_secret", 1, &s->prev_secret, err, errlen))
        return -1;
    if (FIELD("prev_secret_until_ms") && cJSON_IsNumber(v))
        s->prev_secret_until_ms = (int64_t)v->valuedouble;
    if (FIELD("created_at_ms") && cJSON_IsNumber(v))
        s->created_at_ms = (int64_t)v->valuedouble;
    if (FIELD("updated_at_ms") && cJSON_IsNumber(v))
        s->updated_at_ms = (int64_t)v->valuedouble;
    if (FIELD("name")) {
        if (read_str(v, "name", 0, &s->name, err, errlen))
            return -1;
        size_t n = strlen(s->name);
        if (n == 0 || n > 200)
            return errmsg(err, errlen, "%s must be 1 to 200 bytes", "name");
        if (!buf_utf8_valid(s->name, n))
            return errmsg(err, errlen, "%s must be valid UTF-8", "name");
        for (const char *p = s->name; *p; p++)
            if ((unsigned char)*p < 0x21 || *p == '/' || *p == '?' || *p == '#' || *p == '%')
                return errmsg(err, errlen,
                            "%s must not contain spaces, control characters, '/', '?', '#' or '%%'",
                            "name");
    }
    if (FIELD("topic")) {
        if (read_str(v, "topic", 0, &s->topic, err, errlen))
            return -1;
        char why[160];
        if (topic_pattern_valid(s->topic, why, sizeof why) != 0) {
            snprintf(err, errlen, "topic: %s", why);
            return -1;
        }
    }
    if (FIELD("filter")) {
        if (cJSON_IsNull(v)) {
            free(s->filter);
            s->filter = strdup("");
        } else if (read_str(v, "filter", 0, &s->filter, err, errlen)) {
            return -1;
        }
        if (strlen(s->filter) > 16384)
            return errmsg(err, errlen, "%s is longer than 16384 bytes", "filter");
        char why[400];
        if (filter_check(s->filter, why, sizeof why) != 0) {
            snprintf(err, errlen, "filter does not compile: %s", why);
            return -1;
        }
    }
    if (FIELD("target_url")) {
        if (read_str(v, "target_url", 0, &s->target_url, err, errlen))
            return -1;
        if (url_ok(s->target_url, err, errlen))
            return -1;
    }
    if (FIELD("method")) {
        if (read_str(v, "method", 1, &s->method, err, errlen))
            return -1;
        if (s->method) {
            if (!method_ok(s->method))
                return errmsg(err, errlen, "%s must be an HTTP method such as POST or PUT",
                            "method");
            for (char *p = s->method; *p; p++)
                if (*p >= 'a' && *p <= 'z')
                    *p = (char)(*p - 32);
        }
    }
    if (FIELD("headers")) {
        if (!cJSON_IsNull(v) && !cJSON_IsObject(v))
            return errmsg(err, errlen, "%s must be an object of strings", "headers");
        const cJSON *h;
        cJSON_ArrayForEach(h, v) {
            if (!cJSON_IsString(h))
                return errmsg(err, errlen, "headers.%s must be a string", h->string);
            if (strpbrk(h->valuestring, "\r\n"))
                return errmsg(err, errlen, "headers.%s must not contain line breaks", h->string);
        }
        cJSON_Delete(s->headers);
        s->headers = cJSON_IsNull(v) ? NULL : cJSON_Duplicate(v, 1);
    }
    if (FIELD("envelope")) {
        if (!cJSON_IsBool(v))
            return errmsg(err, errlen, "%s must be true or false", "envelope");
        s->envelope = cJSON_IsTrue(v);
    }
    if (FIELD("enabled")) {
        if (!cJSON_IsBool(v))
            return errmsg(err, errlen, "%s must be true or false", "enabled");
        s->enabled = cJSON_IsTrue(v);
    }
    if (FIELD("success_codes") &&
        read_codes(v, "success_codes", s->success_codes, &s->nsuccess, err, errlen))
        return -1;
    if (FIELD("discard_codes") &&
        read_codes(v, "discard_codes", s->discard_codes, &s->ndiscard, err, errlen))
        return -1;
    if (FIELD("max_attempts") && read_int(v, "max_attempts", 1, 1000, &s->max_attempts, err, errlen))
        return -1;
    if (FIELD("timeout_ms") && read_int(v, "timeout_ms", 100, 300000, &s->timeout_ms, err, errlen))
        return -1;
    if (FIELD("rate_limit_per_s") &&
        (cJSON_IsNull(v) ? (s->rate_limit_per_s = 0, 0)
                         : read_int(v, "rate_limit_per_s", 0, 1000000, &s->rate_limit_per_s, err,
                                    errlen)))
        return -1;
    if (FIELD("max_in_flight") &&
        (cJSON_IsNull(v) ? (s->max_in_flight = 0, 0)
                         : read_int(v, "max_in_flight", 0, 100000, &s->max_in_flight, err,
                                    errlen)))
        return -1;
    if (FIELD("retry_delays_ms")) {
        free(s->retry_delays_ms);
        s->retry_delays_ms = NULL;
        s->nretry_delays = 0;
        if (!cJSON_IsNull(v)) {
            int n = cJSON_GetArraySize(v);
            if (!cJSON_IsArray(v) || n == 0 || n > 100)
                return errmsg(err, errlen, "%s must be null or a list of 1 to 100 delays in ms",
                            "retry_delays_ms");
            s->retry_delays_ms = calloc((size_t)n, sizeof *s->retry_delays_ms);
            const cJSON *d;
            cJSON_ArrayForEach(d, v) {
                if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 7 * 86400e3 ||
                    d->valuedouble != (double)(int64_t)d->valuedouble)
                    return errmsg(err, errlen, "%s entries must be whole ms from 0 to 604800000",
                                "retry_delays_ms");
                s->retry_delays_ms[s->nretry_delays++] = (int64_t)d->valuedouble;
            }
        }
    }
#undef FIELD
    return 0;
}

int sub_from_json(subscriber *s, const cJSON *obj, const subscriber *base, int from_store, char *err,
                  size_t errlen)
{
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "a subscriber must be a JSON object");
        memset(s, 0, sizeof *s);
        return -1;
    }
    if (base)
        sub_copy(s, base);
    else
        set_defaults(s);
    if (apply(s, obj, from_store, err, errlen) != 0)
        goto fail;
    if (!s->topic) {
        errmsg(err, errlen, "%s is required", "topic");
        goto fail;
    }
    if (!s->target_url) {
        errmsg(err, errlen, "%s is required", "target_url");
        goto fail;
    }
    return 0;
fail:
    sub_free(s);
    return -1;
}

static void add_codes(cJSON *o, const char *name, const int *codes, int n)
{
    if (n < 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    cJSON *a = cJSON_AddArrayToObject(o, name);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(codes[i]));
}

static void add_str_or_null(cJSON *o, const char *name, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

cJSON *sub_to_json(const subscriber *s, int with_secret)
{
    cJSON *o = cJSON_CreateObject();
    add_str_or_null(o, "id", s->id);
    add_str_or_null(o, "name", s->name);
    cJSON_AddStringToObject(o, "topic", s->topic);
    cJSON_AddStringToObject(o, "filter", s->filter ? s->filter : "");
    cJSON_AddStringToObject(o, "target_url", s->target_url);
    add_str_or_null(o, "method", s->method);
    if (s->headers)
        cJSON_AddItemToObject(o, "headers", cJSON_Duplicate(s->headers, 1));
    else
        cJSON_AddNullToObject(o, "headers");
    cJSON_AddBoolToObject(o, "envelope", s->envelope);
    add_codes(o, "success_codes", s->success_codes, s->nsuccess);
    add_codes(o, "discard_codes", s->discard_codes, s->ndiscard);
    cJSON_AddNumberToObject(o, "max_attempts", s->max_attempts);
    if (s->retry_delays_ms) {
        cJSON *a = cJSON_AddArrayToObject(o, "retry_delays_ms");
        for (int i = 0; i < s->nretry_delays; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s->retry_delays_ms[i]));
    } else {
        cJSON_AddNullToObject(o, "retry_delays_ms");
    }
    cJSON_AddNumberToObject(o, "timeout_ms", s->timeout_ms);
    cJSON_AddNumberToObject(o, "rate_limit_per_s", s->rate_limit_per_s);
    cJSON_AddNumberToObject(o, "max_in_flight", s->max_in_flight);
    cJSON_AddBoolToObject(o, "enabled", s->enabled);
    cJSON_AddNumberToObject(o, "created_at_ms", (double)s->created_at_ms);
    cJSON_AddNumberToObject(o, "updated_at_ms", (double)s->updated_at_ms);
    if (with_secret) {
        add_str_or_null(o, "secret", s->secret);
        if (s->prev_secret) {
            cJSON_AddStringToObject(o, "prev_secret", s->prev_secret);
            cJSON_AddNumberToObject(o, "prev_secret_until_ms", (double)s->prev_secret_until_ms);
        }
    }
    return o;
}

void sub_copy(subscriber *dst, const subscriber *src)
{
    *dst = *src;
    dst->id = dup_or_null(src->id);
    dst->name = dup_or_null(src->name);
    dst->topic = dup_or_null(src->topic);
    dst->filter = dup_or_null(src->filter);
    dst->target_url = dup_or_null(src->target_url);
    dst->method = dup_or_null(src->method);
    dst->secret = dup_or_null(src->secret);
    dst->prev_secret = dup_or_null(src->prev_secret);
    dst->headers = src->headers ? cJSON_Duplicate(src->headers, 1) : NULL;
    dst->retry_delays_ms = NULL;
    if (src->retry_delays_ms) {
        dst->retry_delays_ms = malloc((size_t)src->nretry_delays * sizeof *dst->retry_delays_ms);
        memcpy(dst->retry_delays_ms, src->retry_delays_ms,
               (size_t)src->nretry_delays * sizeof *dst->retry_delays_ms);
    }
}

void sub_free(subscriber *s)
{
    free(s->id);
    free(s->name);
    free(s->topic);
    free(s->filter);
    free(s->target_url);
    free(s->method);
    free(s->secret);
    free(s->prev_secret);
    cJSON_Delete(s->headers);
    free(s->retry_delays_ms);
    memset(s, 0, sizeof *s);
}
