#include "deliver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "codec.h"
#include "sign.h"
#include "errmsg.h"

#ifndef SWITCHYARD_VERSION
#define SWITCHYARD_VERSION "0.0.0"
#endif

#define METHOD_MAX 32 /* bytes; longer "methods" are garbage, not extension methods */

/* One header while the request is assembled: later sources replace earlier values in place. */
typedef struct header {
    char *name;  /* lower-case token */
    char *value; /* OWS-trimmed value, or NULL: "name:" (tells curl to drop its own header) */
} header;

typedef struct header_set {
    header *v;  /* entries, in first-seen order */
    size_t n;   /* entries used */
    size_t cap; /* entries allocated */
} header_set;


/* Allocation failure is not a recoverable state here (as in buf). */
static char *dup_or_die(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

static const cJSON *field(const cJSON *obj, const char *name)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_param_char(unsigned char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

/* A JSON number as JSON writes it; integers without a fraction or exponent. */
static void put_number(buf *b, double d)
{
    if (d == floor(d) && fabs(d) < 9.2e18) {
        buf_printf(b, "%lld", (long long)d);
        return;
    }
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d)
        snprintf(tmp, sizeof tmp, "%.17g", d);
    buf_puts(b, tmp);
}

/* Appends the text of a string, number or bool; returns -1 (nothing appended) for other types. */
static int put_scalar(buf *b, const cJSON *v)
{
    if (cJSON_IsString(v))
        buf_puts(b, v->valuestring);
    else if (cJSON_IsNumber(v))
        put_number(b, v->valuedouble);
    else if (cJSON_IsBool(v))
        buf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    else
        return -1;
    return 0;
}

static int put_path_param(buf *url, const cJSON *params, const char *name, size_t nlen, char *err,
                          size_t errlen)
{
    buf key = BUF_INIT, text = BUF_INIT;
    int rc = -1;
    buf_append(&key, name, nlen);
    const cJSON *v = field(params, buf_str(&key));
    if (!v || cJSON_IsNull(v)) {
        errmsg(err, errlen, "path parameter \"%s\" is missing from data.path_params", buf_str(&key));
        goto done;
    }
    if (put_scalar(&text, v) < 0) {
        errmsg(err, errlen, "path parameter \"%s\" in data.path_params must be a string or a number",
             buf_str(&key));
        goto done;
    }
    codec_pct_encode(url, buf_str(&text), text.len);
    rc = 0;
done:
    buf_free(&key);
    buf_free(&text);
    return rc;
}

/* Substitutes :name and {name} in the path part only, so "://" and ":port" are never read as
 * parameters. The fragment is dropped: it is never sent to the server, and query parameters must
 * not land inside it. Error messages leave the URL out: it may carry credentials. */
static int build_url(const char *target, const cJSON *data, buf *url, char *err, size_t errlen)
{
    if (!target)
        return errmsg(err, errlen, "subscriber has no target_url");
    const char *sep = strstr(target, "://");
    size_t slen = sep ? (size_t)(sep - target) : 0;
    if (!sep || !((slen == 4 && !strncasecmp(target, "http", 4)) ||
                  (slen == 5 && !strncasecmp(target, "https", 5))))
        return errmsg(err, errlen, "target_url is not an absolute http or https URL");
    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    if (alen == 0)
        return errmsg(err, errlen, "target_url has no host");
    const char *path = auth + alen;
    size_t plen = strcspn(path, "?#");
    buf_append(url, target, (size_t)(path - target));

    const cJSON *params = field(data, "path_params");
    for (size_t i = 0; i < plen;) {
        char c = path[i];
        if (c == ':' || c == '{') {
            size_t j = i + 1;
            while (j < plen && is_param_char((unsigned char)path[j]))
                j++;
            int braced = c == '{';
            if (j > i + 1 && (!braced || (j < plen && path[j] == '}'))) {
                if (put_path_param(url, params, path + i + 1, j - i - 1, err, errlen) < 0)
                    return -1;
                i = j + (size_t)braced;
                continue;
            }
        }
        buf_putc(url, c);
        i++;
    }

    const char *rest = path + plen;
    int has_query = *rest == '?';
    int need_amp = 0;
    if (has_query) {
        size_t qlen = strcspn(rest + 1, "#");
        buf_append(url, rest, qlen + 1);
        need_amp = qlen > 0 && rest[qlen] != '&';
    }
    const cJSON *query = field(data, "query_params");
    if (cJSON_IsObject(query)) {
        buf text = BUF_INIT;
        const cJSON *it;
        cJSON_ArrayForEach(it, query) {
            buf_reset(&text);
            if (put_scalar(&text, it) < 0)
                continue; /* null, arrays and objects have no query-string form */
            if (!has_query)
                buf_putc(url, '?');
            else if (need_amp)
                buf_putc(url, '&');
            has_query = need_amp = 1;
            codec_pct_encode(url, it->string, strlen(it->string));
            buf_putc(url, '=');
            codec_pct_encode(url, buf_str(&text), text.len);
        }
        buf_free(&text);
    }
    for (size_t i = 0; i < url->len; i++) {
        unsigned char c = (unsigned char)url->p[i];
        if (c <= ' ' || c == 0x7f)
            return errmsg(err, errlen, "target_url contains a space or a control character");
    }
    return 0;
}

static int build_method(const subscriber *s, const cJSON *data, char **out, char *err, size_t errlen)
{
    const char *m = "POST", *what = "default method";
    const cJSON *hm = field(data, "http_method");
    if (s->method && *s->method) {
        m = s->method;
        what = "subscriber method";
    } else if (hm && !cJSON_IsNull(hm)) {
        if (!cJSON_IsString(hm))
            return errmsg(err, errlen, "data.http_method must be a string");
        m = hm->valuestring;
        what = "data.http_method";
    }
    size_t n = strlen(m);
    if (n == 0 || n > METHOD_MAX)
        return errmsg(err, errlen, "%s must be an HTTP method name of 1 to %d letters", what,
                    METHOD_MAX);
    for (size_t i = 0; i < n; i++)
        if (!is_alpha((unsigned char)m[i]))
            return errmsg(err, errlen, "%s must be an HTTP method name of letters only", what);
    char *up = dup_or_die(m);
    for (size_t i = 0; i < n; i++)
        up[i] = (char)(up[i] & ~0x20);
    *out = up;
    return 0;
}

/* RFC 7230 token. */
static int is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!is_alpha(c) && !is_digit(c) && !strchr("!#$%&'*+-.^_`|~", c))
            return 0;
    }
    return 1;
}

/* Field values may hold SP, HTAB and visible bytes; any other control byte (CR, LF above all)
 * could split the header block. */
static int is_safe_value(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < ' ' && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

/* Headers that describe the connection or the message framing are the transport's business. */
static int is_hop_or_framing(const char *lname)
{
    static const char *const names[] = {"host",    "content-length", "transfer-encoding",
                                        "connection", "keep-alive",  "upgrade",
                                        "te",      "trailer",        "http2-settings"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(lname, names[i]))
            return 1;
    return !strncmp(lname, "proxy-", 6);
}

static int is_reserved(const char *lname)
{
    return !strncmp(lname, "webhook-", 8) || !strncmp(lname, "switchyard-", 11);
}

static header *hs_find(header_set *h, const char *lname)
{
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->v[i].name, lname))
            return &h->v[i];
    return NULL;
}

/* value NULL: the "name:" line that removes a header curl would add by itself. */
static void hs_set(header_set *h, const char *lname, const char *value)
{
    header *e = hs_find(h, lname);
    if (!e) {
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 16;
            header *v = realloc(h->v, cap * sizeof *v);
            if (!v)
                abort();
            h->v = v;
            h->cap = cap;
        }
        e = &h->v[h->n++];
        e->name = dup_or_die(lname);
    } else {
        free(e->value);
    }
    e->value = value ? dup_or_die(value) : NULL;
}

static void hs_free(header_set *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    free(h->v);
    memset(h, 0, sizeof *h);
}

/* Adds the string-valued, injection-free members of obj. from_data: the publisher's headers, which
 * may not impersonate the hub's own webhook-* / switchyard-* headers. */
static void add_user_headers(header_set *h, const cJSON *obj, int from_data)
{
    if (!cJSON_IsObject(obj))
        return;
    buf name = BUF_INIT, value = BUF_INIT;
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        if (!cJSON_IsString(it) || !it->string || !is_token(it->string) ||
            !is_safe_value(it->valuestring))
            continue;
        buf_reset(&name);
        for (const char *p = it->string; *p; p++)
            buf_putc(&name, (char)(*p >= 'A' && *p <= 'Z' ? *p | 0x20 : *p));
        if (is_hop_or_framing(name.p) || (from_data && is_reserved(name.p)))
            continue;
        const char *v = it->valuestring;
        size_t n = strlen(v);
        while (n && (*v == ' ' || *v == '\t'))
            v++, n--;
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        buf_reset(&value);
        buf_append(&value, v, n);
        hs_set(h, name.p, buf_str(&value));
    }
    buf_free(&name);
    buf_free(&value);
}

static int build_body(const subscriber *s, const deliver_job *job, buf *body, char *err,
                      size_t errlen)
{
    const cJSON *data = job->data;
    const cJSON *part = s->envelope ? data : field(data, "body");
    char *printed = NULL;
    if (part) {
        printed = cJSON_PrintUnformatted(part);
        if (!printed)
            return errmsg(err, errlen, "cannot serialize the event data to JSON");
    }
    if (s->envelope) {
        char ts[32];
        codec_time_format(job->published_at_ms, ts);
        buf_puts(body, "{\"id\":");
        buf_json_str(body, job->event_id, strlen(job->event_id));
        buf_puts(body, ",\"topic\":");
        buf_json_str(body, job->topic, strlen(job->topic));
        buf_puts(body, ",\"timestamp\":");
        buf_json_str(body, ts, strlen(ts));
        buf_printf(body, ",\"attempt\":%d,\"data\":", job->attempt);
    }
    buf_puts(body, printed ? printed : "{}");
    if (s->envelope)
        buf_putc(body, '}');
    cJSON_free(printed);
    return 0;
}

/* Space-separated signatures: the current secret's, plus the previous one's during its grace. */
static int build_signature(const subscriber *s, const deliver_job *job, int64_t now_s,
                           const buf *body, buf *sigs, char *err, size_t errlen)
{
    char sig[SIGN_SIG_MAX];
    if (!s->secret || !*s->secret)
        return errmsg(err, errlen, "subscriber has no signing secret");
    if (sign_webhook(s->secret, job->job_id, now_s, buf_str(body), body->len, sig) < 0)
        return errmsg(err, errlen, "subscriber secret is not valid base64");
    buf_puts(sigs, sig);
    int in_grace = s->prev_secret && *s->prev_secret && now_s < INT64_MAX / 1000 &&
                   now_s > INT64_MIN / 1000 && now_s * 1000 < s->prev_secret_until_ms;
    if (in_grace) {
        if (sign_webhook(s->prev_secret, job->job_id, now_s, buf_str(body), body->len, sig) < 0)
            return errmsg(err, errlen, "subscriber previous secret is not valid base64");
        buf_putc(sigs, ' ');
        buf_puts(sigs, sig);
    }
    return 0;
}

static char **header_lines(const header_set *h)
{
    char **lines = calloc(h->n ? h->n : 1, sizeof *lines);
    if (!lines)
        abort();
    buf line = BUF_INIT;
    for (size_t i = 0; i < h->n; i++) {
        const header *e = &h->v[i];
        if (!e->value)
            buf_printf(&line, "%s:", e->name);
        else if (!*e->value)
            buf_printf(&line, "%s;", e->name); /* curl's spelling of an empty value */
        else
            buf_printf(&line, "%s: %s", e->name, e->value);
        lines[i] = buf_take(&line);
    }
    return lines;
}

int deliver_build(const subscriber *s, const deliver_job *job, int64_t now_s, deliver_request *out,
                  char *err, size_t errlen)
{
    int rc = -1;
    buf url = BUF_INIT, body = BUF_INIT, sigs = BUF_INIT, num = BUF_INIT;
    header_set hs = {0};
    char *method = NULL;
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';

    if (!job->job_id || !job->event_id || !job->topic) {
        errmsg(err, errlen, "job lacks a job id, event id or topic");
        goto done;
    }
    /* These three become header values: refuse rather than let a bad id split the headers. */
    if (!is_safe_value(job->job_id) || !is_safe_value(job->event_id) ||
        !is_safe_value(job->topic)) {
        errmsg(err, errlen, "job id, event id or topic contains a control character");
        goto done;
    }
    if (build_url(s->target_url, job->data, &url, err, errlen) < 0 ||
        build_method(s, job->data, &method, err, errlen) < 0 ||
        build_body(s, job, &body, err, errlen) < 0 ||
        build_signature(s, job, now_s, &body, &sigs, err, errlen) < 0)
        goto done;

    add_user_headers(&hs, field(job->data, "headers"), 1);
    add_user_headers(&hs, s->headers, 0);
    hs_set(&hs, "content-type", "application/json");
    hs_set(&hs, "user-agent", "switchyard/" SWITCHYARD_VERSION);
    hs_set(&hs, "switchyard-topic", job->topic);
    buf_printf(&num, "%d", job->attempt);
    hs_set(&hs, "switchyard-attempt", buf_str(&num));
    hs_set(&hs, "switchyard-event-id", job->event_id);
    hs_set(&hs, "webhook-id", job->job_id);
    buf_reset(&num);
    buf_printf(&num, "%lld", (long long)now_s);
    hs_set(&hs, "webhook-timestamp", buf_str(&num));
    hs_set(&hs, "webhook-signature", buf_str(&sigs));
    hs_set(&hs, "expect", NULL); /* no "Expect: 100-continue" round trip on large bodies */

    out->url = buf_take(&url);
    out->method = method;
    method = NULL;
    out->headers = header_lines(&hs);
    out->nheaders = hs.n;
    out->body_len = body.len;
    out->body = buf_take(&body);
    rc = 0;
done:
    buf_free(&url);
    buf_free(&body);
    buf_free(&sigs);
    buf_free(&num);
    hs_free(&hs);
    free(method);
    return rc;
}

void deliver_request_free(deliver_request *r)
{
    if (!r)
        return;
    free(r->url);
    free(r->method);
    for (size_t i = 0; i < r->nheaders; i++)
        free(r->headers[i]);
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static int v4_denied(uint32_t a, char *why, size_t whylen)
{
    static const struct {
        uint32_t net, mask;
        const char *name;
    } ranges[] = {
        {0x00000000, 0xff000000, "unspecified (0.0.0.0/8)"},
        {0x0a000000, 0xff000000, "private (10.0.0.0/8)"},
        {0x64400000, 0xffc00000, "carrier-grade NAT (100.64.0.0/10)"},
        {0x7f000000, 0xff000000, "loopback (127.0.0.0/8)"},
        {0xa9fea9fe, 0xffffffff, "cloud metadata (169.254.169.254)"},
        {0xa9fe0000, 0xffff0000, "link-local (169.254.0.0/16)"},
        {0xac100000, 0xfff00000, "private (172.16.0.0/12)"},
        {0xc0a80000, 0xffff0000, "private (192.168.0.0/16)"},
        {0xe0000000, 0xe0000000, "multicast or reserved (224.0.0.0/3)"},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if ((a & ranges[i].mask) == ranges[i].net) {
            snprintf(why, whylen, "%s", ranges[i].name);
            return 1;
        }
    return 0;
}

int deliver_address_denied(const struct sockaddr *sa, char *why, size_t whylen)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_denied(ntohl(in->sin_addr.s_addr), why, whylen);
    }
    if (sa->sa_family != AF_INET6) {
        snprintf(why, whylen, "not an internet address");
        return 1;
    }
    const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, mapped, 12) == 0)
        return v4_denied((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15],
                         why, whylen);
    static const unsigned char zero[16] = {0};
    if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1)) {
        snprintf(why, whylen, b[15] ? "loopback (::1)" : "unspecified (::)");
        return 1;
    }
    if ((b[0] & 0xfe) == 0xfc) {
        snprintf(why, whylen, "private (fc00::/7)");
        return 1;
    }
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
        snprintf(why, whylen, "link-local (fe80::/10)");
        return 1;
    }
    if (b[0] == 0xff) {
        snprintf(why, whylen, "multicast (ff00::/8)");
        return 1;
    }
    return 0;
}
