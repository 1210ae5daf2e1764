/* switchyard.c — the client: publish and admin calls over HTTP (one reused libcurl easy handle per
 * client), retries with backoff for publish, and errors kept in the client as hiredis does.
 * Calls syc_sign.c (tokens), libcurl, libcrypto (random idempotency keys), cJSON (reading answers
 * and checking the caller's data). */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* strdup, nanosleep */
#endif
#include "syc_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define RESPONSE_MAX (64u << 20)   /* bytes: a larger answer is refused as invalid_response */
#define BACKOFF_FIRST_MS 100       /* delay before the first publish retry, ms (then doubling) */
#define BACKOFF_MAX_MS 5000        /* cap of the doubling, ms */
#define RETRY_AFTER_MAX_S 30       /* longest Retry-After honoured, s */
#define TOKEN_REMINT_MAX_S 60      /* a minted token is replaced at most this long before expiry, s */

/* A growable NUL-terminated byte string. */
typedef struct sbuf {
    char *p;      /* bytes, NUL-terminated once anything was added; NULL when empty */
    size_t len;   /* bytes used, NUL excluded */
    size_t cap;   /* bytes allocated */
} sbuf;

struct syc_client {
    CURL *curl;                    /* reset before each request; keeps its connection cache */
    char *base_url;                /* hub URL without a trailing '/'; NULL if the one given was bad */
    char *given_url;               /* the hub_url passed to syc_client_new, for the error message */
    char *token;                   /* fixed publisher token, or NULL */
    char *jwt_secret;              /* secret publisher tokens are minted with, or NULL */
    char *jwt_topics;              /* "topics" claim of minted tokens, comma-separated, or NULL */
    long jwt_ttl_s;                /* lifetime of minted tokens, s */
    char *minted;                  /* the cached minted token, or NULL */
    int64_t minted_at_s;           /* its "iat", epoch s */
    int64_t minted_exp_s;          /* its "exp", epoch s */
    char *admin_token;             /* admin credential, or NULL */
    long timeout_ms;               /* per request, ms; 0 = none */
    int retries;                   /* extra publish attempts */
    uint64_t rng;                  /* xorshift64 state for backoff jitter; never 0 */
    int status;                    /* HTTP status of the last response, 0 if none */
    char code[64];                 /* last error code, "" if none */
    char errstr[512];              /* last error sentence, "" if none */
    sbuf resp;                     /* body of the last response */
    int resp_too_big;              /* the last response passed RESPONSE_MAX */
    long retry_after_s;            /* Retry-After of the last response, s; -1 if absent */
    char curl_err[CURL_ERROR_SIZE];/* libcurl's detail for the last transport error */
};

/* ---- strings --------------------------------------------------------------------------------- */

static int sb_reserve(sbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int sb_add(sbuf *b, const void *p, size_t n)
{
    if (sb_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int sb_str(sbuf *b, const char *s)
{
    return sb_add(b, s, strlen(s));
}

/* Appends s percent-encoded: RFC 3986 unreserved characters kept, every other byte %XX. */
static int sb_escaped(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '.' || *p == '_' || *p == '~';
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (plain ? sb_add(b, p, 1) : sb_add(b, enc, 3))
            return -1;
    }
    return 0;
}

/* Appends s as a JSON string literal. */
static int sb_json_string(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (sb_add(b, "\"", 1))
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
        int rc;
        if (*p == '"' || *p == '\\')
            rc = sb_add(b, (const char[]){'\\', (char)*p}, 2);
        else if (*p < 0x20)
            rc = sb_add(b, esc, 6);
        else
            rc = sb_add(b, p, 1);
        if (rc)
            return -1;
    }
    return sb_add(b, "\"", 1);
}

static void free_secret(char **s)
{
    if (*s) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

/* Replaces *slot with a copy of value (NULL clears). Returns 0 or -1. */
static int replace_secret(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return -1;
    free_secret(slot);
    *slot = copy;
    return 0;
}

/* ---- errors: set in exactly one place -------------------------------------------------------- */

__attribute__((format(printf, 4, 5)))
static int fail(syc_client *c, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    c->status = status;
    snprintf(c->code, sizeof c->code, "%s", code);
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
    va_end(ap);
    return -1;
}

/* Starts a call: clears the last outcome. -1 (with the error set) if the client cannot be used. */
static int begin(syc_client *c)
{
    if (!c)
        return -1;
    c->status = 0;
    c->code[0] = c->errstr[0] = '\0';
    if (!c->base_url)
        return fail(c, 0, "invalid_argument", "the hub URL \"%.300s\" does not start with http:// or https://",
                    c->given_url ? c->given_url : "(null)");
    return 0;
}

int syc_status(const syc_client *c)
{
    return c ? c->status : 0;
}

const char *syc_error_code(const syc_client *c)
{
    return c ? c->code : "invalid_argument";
}

const char *syc_error(const syc_client *c)
{
    return c ? c->errstr : "the client is NULL (syc_client_new ran out of memory)";
}

/* ---- client ---------------------------------------------------------------------------------- */

static uint64_t next_random(syc_client *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

syc_client *syc_client_new(const char *hub_url)
{
    syc_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->curl = curl_easy_init();
    c->given_url = hub_url ? strdup(hub_url) : NULL;
    if (!c->curl || (hub_url && !c->given_url)) {
        syc_client_free(c);
        return NULL;
    }
    c->timeout_ms = SYC_DEFAULT_TIMEOUT_MS;
    c->retries = SYC_DEFAULT_RETRIES;
    c->retry_after_s = -1;
    if (RAND_bytes((unsigned char *)&c->rng, sizeof c->rng) != 1 || c->rng == 0)
        c->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15u;

    if (hub_url && (strncasecmp(hub_url, "http://", 7) == 0 || strncasecmp(hub_url, "https://", 8) == 0)) {
        size_t n = strlen(hub_url);
        while (n > 0 && hub_url[n - 1] == '/')
            n--;
        c->base_url = strndup(hub_url, n);
        if (!c->base_url) {
            syc_client_free(c);
            return NULL;
        }
    }
    begin(c);   /* records a bad hub_url as the client's error at once */
    return c;
}

void syc_client_free(syc_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->base_url);
    free(c->given_url);
    free_secret(&c->token);
    free_secret(&c->jwt_secret);
    free(c->jwt_topics);
    free_secret(&c->minted);
    free_secret(&c->admin_token);
    free(c->resp.p);
    free(c);
}

int syc_set_token(syc_client *c, const char *token)
{
    if (!c)
        return -1;
    if (replace_secret(&c->token, token) != 0)
        return fail(c, 0, "out_of_memory", "could not copy the publisher token: out of memory");
    if (token) {
        free_secret(&c->jwt_secret);
        free_secret(&c->minted);
    }
    return 0;
}

int syc_set_jwt_secret(syc_client *c, const char *secret, const char *topics_csv, long ttl_s)
{
    if (!c)
        return -1;
    char *topics = NULL;
    if (topics_csv && !(topics = strdup(topics_csv)))
        return fail(c, 0, "out_of_memory", "could not copy the topics: out of memory");
    if (replace_secret(&c->jwt_secret, secret) != 0) {
        free(topics);
        return fail(c, 0, "out_of_memory", "could not copy the JWT secret: out of memory");
    }
    free(c->jwt_topics);
    c->jwt_topics = topics;
    c->jwt_ttl_s = ttl_s > 0 ? ttl_s : SYC_DEFAULT_TOKEN_TTL_S;
    free_secret(&c->minted);
    if (secret)
        free_secret(&c->token);
    return 0;
}

int syc_set_admin_token(syc_client *c, const char *token)
{
    if (!c)
        return -1;
    if (replace_secret(&c->admin_token, token) != 0)
        return fail(c, 0, "out_of_memory", "could not copy the admin token: out of memory");
    return 0;
}

int syc_set_timeout_ms(syc_client *c, long ms)
{
    if (!c)
        return -1;
    if (ms < 0)
        return fail(c, 0, "invalid_argument", "the timeout must be 0 (none) or more ms, not %ld", ms);
    c->timeout_ms = ms;
    return 0;
}

int syc_set_retries(syc_client *c, int retries)
{
    if (!c)
        return -1;
    if (retries < 0)
        return fail(c, 0, "invalid_argument", "retries must be 0 or more, not %d", retries);
    c->retries = retries;
    return 0;
}

const char *syc__publisher_token(syc_client *c, int64_t now_s)
{
    if (c->token)
        return c->token;
    if (!c->jwt_secret)
        return NULL;
    int64_t ahead = c->jwt_ttl_s / 4 < TOKEN_REMINT_MAX_S ? c->jwt_ttl_s / 4 : TOKEN_REMINT_MAX_S;
    if (c->minted && now_s >= c->minted_at_s && now_s < c->minted_exp_s - ahead)
        return c->minted;
    char *fresh = syc__mint_token(c->jwt_secret, c->jwt_topics, c->jwt_ttl_s, now_s);
    if (!fresh) {
        fail(c, 0, "out_of_memory", "could not mint a publisher token: out of memory");
        return NULL;
    }
    free_secret(&c->minted);
    c->minted = fresh;
    c->minted_at_s = now_s;
    c->minted_exp_s = now_s + c->jwt_ttl_s;
    return fresh;
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    syc_client *c = arg;
    size_t bytes = size * n;
    if (c->resp.len + bytes > RESPONSE_MAX) {
        c->resp_too_big = 1;
        return 0;
    }
    return sb_add(&c->resp, data, bytes) == 0 ? bytes : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    syc_client *c = arg;
    size_t bytes = size * n;
    static const char name[] = "retry-after:";
    if (bytes > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char value[32] = {0};
        memcpy(value, data + sizeof name - 1, bytes - (sizeof name - 1) < 31 ? bytes - (sizeof name - 1) : 31);
        char *end;
        long s = strtol(value, &end, 10);
        while (*end == ' ' || *end == '\r' || *end == '\n')
            end++;
        if (end != value && *end == '\0' && s >= 0)   /* the HTTP-date form is not used by the hub */
            c->retry_after_s = s;
    }
    return bytes;
}

/* Appends "name: value" to *list. Returns 0 or -1. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
    sbuf line = {0};
    int rc = -1;
    if (sb_str(&line, name) == 0 && sb_str(&line, ": ") == 0 && sb_str(&line, value) == 0) {
        struct curl_slist *grown = curl_slist_append(*list, line.p);
        if (grown) {
            *list = grown;
            rc = 0;
        }
    }
    free(line.p);
    return rc;
}

/* A transport failure that may pass by itself: worth a publish retry. */
static int transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* One HTTP exchange: method url, with body (body_len bytes; NULL for none), "Authorization: Bearer
 * <bearer>" and Idempotency-Key idem when not NULL. Returns 0 when an answer arrived (c->status,
 * c->resp and c->retry_after_s describe it), -1 otherwise with the error set; *retryable says
 * whether the failure may pass by itself. */
static int exchange(syc_client *c, const char *method, const char *url, const char *body,
                    size_t body_len, const char *bearer, const char *idem, int *retryable)
{
    struct curl_slist *headers = NULL;
    sbuf auth = {0};
    CURL *h = c->curl;
    int rc = -1;

    *retryable = 0;
    c->resp.len = 0;
    if (c->resp.p)
        c->resp.p[0] = '\0';
    c->resp_too_big = 0;
    c->retry_after_s = -1;
    c->curl_err[0] = '\0';
    c->status = 0;

    if (add_header(&headers, "Accept", "application/json") != 0 || add_header(&headers, "Expect", "") != 0 ||
        (body && add_header(&headers, "Content-Type", "application/json") != 0) ||
        (idem && add_header(&headers, "Idempotency-Key", idem) != 0) ||
        (bearer && (sb_str(&auth, "Bearer ") != 0 || sb_str(&auth, bearer) != 0 ||
                    add_header(&headers, "Authorization", auth.p) != 0))) {
        fail(c, 0, "out_of_memory", "could not build the request headers: out of memory");
        goto done;
    }

    curl_easy_reset(h);   /* options only: the connection to the hub stays open */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "switchyard-c/" SYC_VERSION);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (cc == CURLE_WRITE_ERROR && c->resp_too_big) {
        fail(c, (int)status, "invalid_response", "the answer to %s %s is larger than %u bytes", method, url,
             RESPONSE_MAX);
        goto done;
    }
    if (cc != CURLE_OK) {
        *retryable = transient(cc);
        const char *detail = c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc);
        if (cc == CURLE_OPERATION_TIMEDOUT)
            fail(c, 0, "network", "no answer from %s within %ld ms (%s %s): %s", c->base_url, c->timeout_ms,
                 method, url, detail);
        else
            fail(c, 0, "network", "could not reach the hub at %s (%s %s): %s", c->base_url, method, url, detail);
        goto done;
    }
    c->status = (int)status;
    rc = 0;
done:
    curl_slist_free_all(headers);
    free_secret(&auth.p);
    return rc;
}

/* After an answer: 0 for a 2xx, else -1 with the hub's error code and message verbatim (or, for an
 * answer not in the hub's error shape, "http_error" quoting the start of it). */
static int judge(syc_client *c, const char *method, const char *url)
{
    if (c->status >= 200 && c->status < 300)
        return 0;
    cJSON *root = c->resp.p ? cJSON_ParseWithLength(c->resp.p, c->resp.len) : NULL;
    cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "code"));
    const char *message = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "message"));
    if (code && *code && message)
        fail(c, c->status, code, "%s", message);
    else
        fail(c, c->status, "http_error", "%s %s answered %d: %.200s", method, url, c->status,
             c->resp.len ? c->resp.p : "(empty body)");
    cJSON_Delete(root);
    return -1;
}

static void sleep_ms(long ms)
{
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

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
    long delay = step / 2 + (long)(next_random(c) % (uint64_t)(step / 2 + 1));
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
            raw[i] = (unsigned char)next_random(c);
    memcpy(out, "syc_", 4);
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 4 + 2 * i, 3, "%02x", raw[i]);
}

/* The publish body: data_json is spliced in verbatim, so numbers keep every digit. */
static int publish_body(sbuf *b, const char *topic, const char *data_json, const syc_publish_opts *o)
{
    char ttl[32];
    if (sb_str(b, "{\"topic\":") || sb_json_string(b, topic) || sb_str(b, ",\"data\":") || sb_str(b, data_json))
        return -1;
    if (o && o->id && (sb_str(b, ",\"id\":") || sb_json_string(b, o->id)))
        return -1;
    if (o && o->deliver_at && (sb_str(b, ",\"deliver_at\":") || sb_json_string(b, o->deliver_at)))
        return -1;
    snprintf(ttl, sizeof ttl, ",\"ttl\":%ld", o ? o->ttl_s : 0L);
    if (o && o->ttl_s && sb_str(b, ttl))
        return -1;
    return sb_str(b, "}");
}

/* Checks that data_json is one JSON object and nothing else; -1 with the error set if not. */
static int check_data(syc_client *c, const char *data_json)
{
    const char *end = NULL;
    cJSON *data = cJSON_ParseWithOpts(data_json, &end, 1);
    int ok = cJSON_IsObject(data);
    cJSON_Delete(data);
    if (!data)
        return fail(c, 0, "invalid_argument", "data_json is not valid JSON (error at byte %ld)",
                    end ? (long)(end - data_json) : 0L);
    if (!ok)
        return fail(c, 0, "invalid_argument", "data_json must be a JSON object, not \"%.60s\"", data_json);
    return 0;
}

int syc_publish(syc_client *c, const char *topic, const char *data_json, const syc_publish_opts *opts,
                char *event_id_out, size_t len)
{
    sbuf url = {0}, body = {0};
    char generated[40];
    int rc = -1;

    if (begin(c) != 0)
        return -1;
    if (event_id_out && len)
        event_id_out[0] = '\0';
    if (!topic || !*topic)
        return fail(c, 0, "invalid_argument", "the topic is empty");
    if (event_id_out && len < SYC_EVENT_ID_MAX)
        return fail(c, 0, "invalid_argument", "event_id_out must hold SYC_EVENT_ID_MAX (%d) bytes, not %zu",
                    SYC_EVENT_ID_MAX, len);
    if (!data_json)
        data_json = "{}";
    if (check_data(c, data_json) != 0)
        return -1;
    if (sb_str(&url, c->base_url) || sb_str(&url, "/v1/publish") || publish_body(&body, topic, data_json, opts)) {
        fail(c, 0, "out_of_memory", "could not build the publish request: out of memory");
        goto done;
    }
    const char *idem = opts && opts->idempotency_key ? opts->idempotency_key : opts ? opts->id : NULL;
    if (!idem) {
        random_idempotency_key(c, generated);
        idem = generated;
    }

    for (int attempt = 0;; attempt++) {
        int retryable = 0;
        if (attempt > 0)
            sleep_ms(backoff_ms(c, attempt));
        const char *bearer = syc__publisher_token(c, (int64_t)time(NULL));
        if (!bearer && c->code[0])
            goto done;
        if (exchange(c, "POST", url.p, body.p, body.len, bearer, idem, &retryable) == 0)
            retryable = c->status == 429 || c->status == 503;
        if (!retryable || attempt >= c->retries)
            break;
    }
    if (c->code[0] || judge(c, "POST", url.p) != 0)
        goto done;
    if (event_id_out) {
        cJSON *root = cJSON_ParseWithLength(c->resp.p ? c->resp.p : "", c->resp.len);
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "id"));
        if (id && strlen(id) < len)
            memcpy(event_id_out, id, strlen(id) + 1);
        else
            fail(c, c->status, "invalid_response", "the hub accepted the event (%d) but its answer has no usable "
                 "\"id\": %.200s", c->status, c->resp.len ? c->resp.p : "(empty body)");
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
    if (!path->p || sb_str(&url, c->base_url) || sb_str(&url, path->p)) {
        fail(c, 0, "out_of_memory", "could not build the request URL: out of memory");
        goto done;
    }
    if (exchange(c, method, url.p, json, json ? strlen(json) : 0, c->admin_token, NULL, &retryable) != 0 ||
        judge(c, method, url.p) != 0)
        goto done;
    if (out && !(*out = strdup(c->resp.p ? c->resp.p : ""))) {
        fail(c, c->status, "out_of_memory", "could not copy the answer: out of memory");
        goto done;
    }
    rc = 0;
done:
    free(path->p);
    free(url.p);
    return rc;
}

/* Starts an admin call: begin(), out cleared, and each of the n required arguments present. */
static int admin_begin(syc_client *c, char **out, const char *what, const char *value)
{
    if (out)
        *out = NULL;
    if (begin(c) != 0)
        return -1;
    if (what && (!value || !*value))
        return fail(c, 0, "invalid_argument", "the %s is empty", what);
    return 0;
}

/* path = prefix + escaped(name) + suffix */
static sbuf make_path(const char *prefix, const char *name, const char *suffix)
{
    sbuf p = {0};
    if (sb_str(&p, prefix) || (name && sb_escaped(&p, name)) || (suffix && sb_str(&p, suffix))) {
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
        return fail(c, 0, "invalid_argument", "the subscriber JSON is empty");
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
        return fail(c, 0, "invalid_argument", "the subscriber JSON is empty");
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
    int bad = sb_str(&path, "/v1/dead");
    if (subscriber) {
        bad |= sb_add(&path, &sep, 1) | sb_str(&path, "subscriber=") | sb_escaped(&path, subscriber);
        sep = '&';
    }
    if (limit > 0) {
        snprintf(num, sizeof num, "%ld", limit);
        bad |= sb_add(&path, &sep, 1) | sb_str(&path, "limit=") | sb_str(&path, num);
        sep = '&';
    }
    if (cursor)
        bad |= sb_add(&path, &sep, 1) | sb_str(&path, "cursor=") | sb_escaped(&path, cursor);
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
            return fail(c, 0, "invalid_argument", "the method \"%.20s\" is not an upper-case HTTP method", method);
    if (!path || path[0] != '/')
        return fail(c, 0, "invalid_argument", "the path must start with '/'");
    sbuf p = make_path(path, NULL, NULL);
    return admin_call(c, method, &p, json, out);
}
