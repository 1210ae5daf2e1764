/* syc_http.c — the client object and its transport: lifecycle and settings, the error record
 * (set in exactly one place, syc__fail), the publisher-token cache, and one HTTP exchange over the
 * client's reused libcurl easy handle. Knows no endpoint. Calls syc_sign.c (minting), libcurl,
 * libcrypto (randomness, wiping secrets), cJSON (reading the hub's error answers). */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* strdup, strndup, nanosleep */
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
#define TOKEN_REMINT_MAX_S 60      /* a minted token is replaced at most this long before expiry, s */

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

int syc__sb_add(sbuf *b, const void *p, size_t n)
{
    if (sb_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int syc__sb_str(sbuf *b, const char *s)
{
    return syc__sb_add(b, s, strlen(s));
}

/* Appends s percent-encoded: RFC 3986 unreserved characters kept, every other byte %XX. */
int syc__sb_escaped(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    *p == '-' || *p == '.' || *p == '_' || *p == '~';
        char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
        if (plain ? syc__sb_add(b, p, 1) : syc__sb_add(b, enc, 3))
            return -1;
    }
    return 0;
}

/* Appends s as a JSON string literal. */
int syc__sb_json(sbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (syc__sb_add(b, "\"", 1))
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
        int rc;
        if (*p == '"' || *p == '\\')
            rc = syc__sb_add(b, (const char[]){'\\', (char)*p}, 2);
        else if (*p < 0x20)
            rc = syc__sb_add(b, esc, 6);
        else
            rc = syc__sb_add(b, p, 1);
        if (rc)
            return -1;
    }
    return syc__sb_add(b, "\"", 1);
}

/* 1 if s holds a control character: it could not travel in an HTTP header. */
int syc__has_control(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
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

int syc__fail(syc_client *c, int status, const char *code, const char *fmt, ...)
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
int syc__begin(syc_client *c)
{
    if (!c)
        return -1;
    c->status = 0;
    c->code[0] = c->errstr[0] = '\0';
    if (!c->base_url)
        return syc__fail(c, 0, "invalid_argument",
                         "the hub URL \"%.300s\" does not start with http:// or https://",
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

uint64_t syc__random(syc_client *c)
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
    syc__begin(c);   /* records a bad hub_url as the client's error at once */
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
    if (syc__has_control(token))
        return syc__fail(c, 0, "invalid_argument", "the publisher token holds a control character");
    if (replace_secret(&c->token, token) != 0)
        return syc__fail(c, 0, "out_of_memory", "could not copy the publisher token: out of memory");
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
        return syc__fail(c, 0, "out_of_memory", "could not copy the topics: out of memory");
    if (replace_secret(&c->jwt_secret, secret) != 0) {
        free(topics);
        return syc__fail(c, 0, "out_of_memory", "could not copy the JWT secret: out of memory");
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
    if (syc__has_control(token))
        return syc__fail(c, 0, "invalid_argument", "the admin token holds a control character");
    if (replace_secret(&c->admin_token, token) != 0)
        return syc__fail(c, 0, "out_of_memory", "could not copy the admin token: out of memory");
    return 0;
}

int syc_set_timeout_ms(syc_client *c, long ms)
{
    if (!c)
        return -1;
    if (ms < 0)
        return syc__fail(c, 0, "invalid_argument", "the timeout must be 0 (none) or more ms, not %ld", ms);
    c->timeout_ms = ms;
    return 0;
}

int syc_set_retries(syc_client *c, int retries)
{
    if (!c)
        return -1;
    if (retries < 0)
        return syc__fail(c, 0, "invalid_argument", "retries must be 0 or more, not %d", retries);
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
        syc__fail(c, 0, "out_of_memory", "could not mint a publisher token: out of memory");
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
    return syc__sb_add(&c->resp, data, bytes) == 0 ? bytes : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    syc_client *c = arg;
    size_t bytes = size * n;
    static const char name[] = "retry-after:";
    if (bytes > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char value[32] = {0};
        size_t vlen = bytes - (sizeof name - 1);
        memcpy(value, data + sizeof name - 1, vlen < sizeof value - 1 ? vlen : sizeof value - 1);
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
    if (syc__sb_str(&line, name) == 0 && syc__sb_str(&line, ": ") == 0 && syc__sb_str(&line, value) == 0) {
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

int syc__exchange(syc_client *c, const char *method, const char *url, const char *body, size_t body_len,
                  const char *bearer, const char *idem, int *retryable)
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
        (bearer && (syc__sb_str(&auth, "Bearer ") != 0 || syc__sb_str(&auth, bearer) != 0 ||
                    add_header(&headers, "Authorization", auth.p) != 0))) {
        syc__fail(c, 0, "out_of_memory", "could not build the request headers: out of memory");
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
        syc__fail(c, (int)status, "invalid_response", "the answer to %s %s is larger than %u bytes", method,
                  url, RESPONSE_MAX);
        goto done;
    }
    if (cc != CURLE_OK) {
        *retryable = transient(cc);
        const char *detail = c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc);
        if (cc == CURLE_OPERATION_TIMEDOUT)
            syc__fail(c, 0, "network", "no answer from %s within %ld ms (%s %s): %s", c->base_url,
                      c->timeout_ms, method, url, detail);
        else
            syc__fail(c, 0, "network", "could not reach the hub at %s (%s %s): %s", c->base_url, method, url,
                      detail);
        goto done;
    }
    c->status = (int)status;
    rc = 0;
done:
    curl_slist_free_all(headers);
    free_secret(&auth.p);
    return rc;
}

int syc__judge(syc_client *c, const char *method, const char *url)
{
    if (c->status >= 200 && c->status < 300)
        return 0;
    cJSON *root = c->resp.p ? cJSON_ParseWithLength(c->resp.p, c->resp.len) : NULL;
    cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "code"));
    const char *message = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "message"));
    if (code && *code && message)
        syc__fail(c, c->status, code, "%s", message);
    else
        syc__fail(c, c->status, "http_error", "%s %s answered %d: %.200s", method, url, c->status,
                  c->resp.len ? c->resp.p : "(empty body)");
    cJSON_Delete(root);
    return -1;
}

void syc__sleep_ms(long ms)
{
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}
