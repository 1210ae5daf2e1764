/* syc_internal.h — what the SDK's files share; not installed, not part of the API.
 * Layers, each calling only those below it:
 *   switchyard.c  the hub's endpoints: publish (retries, idempotency key) and the admin calls;
 *   syc_http.c    the client object, its error record, the token cache, one HTTP exchange (libcurl);
 *   syc_sign.c    the engine: base64, HMAC-SHA256, JWT minting, webhook verification (no I/O).
 * Cross-file names carry the syc__ prefix (hidden from the shared library's symbol table). The unit
 * tests include this header to test the engine and the token cache with a chosen clock. */
#ifndef SYC_INTERNAL_H
#define SYC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "switchyard.h"

#define SYC_SHA256_LEN 32   /* bytes in an HMAC-SHA256 digest */

/* A growable NUL-terminated byte string; zero-initialise, free(p) when done. */
typedef struct sbuf {
    char *p;      /* bytes, NUL-terminated once anything was added; NULL when empty */
    size_t len;   /* bytes used, NUL excluded */
    size_t cap;   /* bytes allocated */
} sbuf;

struct syc_client {
    CURL *curl;                      /* reset before each request; keeps its connection cache */
    char *base_url;                  /* hub URL without a trailing '/'; NULL if the one given was bad */
    char *given_url;                 /* the hub_url passed to syc_client_new, for the error message */
    char *token;                     /* fixed publisher token, or NULL */
    char *jwt_secret;                /* secret publisher tokens are minted with, or NULL */
    char *jwt_topics;                /* "topics" claim of minted tokens, comma-separated, or NULL */
    long jwt_ttl_s;                  /* lifetime of minted tokens, s */
    char *minted;                    /* the cached minted token, or NULL */
    int64_t minted_at_s;             /* its "iat", epoch s */
    int64_t minted_exp_s;            /* its "exp", epoch s */
    char *admin_token;               /* admin credential, or NULL */
    long timeout_ms;                 /* per request, ms; 0 = none */
    int retries;                     /* extra publish attempts after a retryable failure */
    uint64_t rng;                    /* xorshift64 state for backoff jitter; never 0 */
    int status;                      /* HTTP status of the last response, 0 if none */
    char code[64];                   /* last error code, "" if none */
    char errstr[512];                /* last error sentence, "" if none */
    sbuf resp;                       /* body of the last response */
    int resp_too_big;                /* 1 if the last response was cut off for its size */
    long retry_after_s;              /* Retry-After of the last response, s; -1 if absent */
    char curl_err[CURL_ERROR_SIZE];  /* libcurl's detail for the last transport error */
};

/* ---- syc_http.c ------------------------------------------------------------------------------ */

/* Appending to an sbuf; each returns 0, or -1 when memory runs out (the sbuf stays valid). */
int syc__sb_add(sbuf *b, const void *p, size_t n);
int syc__sb_str(sbuf *b, const char *s);
int syc__sb_escaped(sbuf *b, const char *s);   /* percent-encoded, RFC 3986 unreserved kept */
int syc__sb_json(sbuf *b, const char *s);      /* as a JSON string literal, quotes included */

/* 1 if s holds a control character (it could not travel in an HTTP header). */
int syc__has_control(const char *s);

/* Records the outcome of the current call: status, code and the formatted sentence. Returns -1. */
__attribute__((format(printf, 4, 5)))
int syc__fail(syc_client *c, int status, const char *code, const char *fmt, ...);

/* Starts a call: clears the last outcome. Returns -1 (error set) if the client is unusable. */
int syc__begin(syc_client *c);

/* Next value of the client's jitter generator. */
uint64_t syc__random(syc_client *c);

/* The bearer credential syc_publish sends at now_s: the fixed token, or the cached minted one,
 * minted afresh once it is within a quarter of its lifetime (at most 60 s) of expiry. NULL when no
 * publisher credential is set, or, when a JWT secret is set, when minting failed (the error is
 * then set). Owned by the client. */
const char *syc__publisher_token(syc_client *c, int64_t now_s);

/* One HTTP exchange: method url with body (body_len bytes; NULL for none), "Authorization: Bearer
 * <bearer>" and "Idempotency-Key: <idem>" when not NULL. Returns 0 when an answer arrived
 * (c->status, c->resp and c->retry_after_s describe it), -1 otherwise with the error set and
 * *retryable telling whether the failure may pass by itself. */
int syc__exchange(syc_client *c, const char *method, const char *url, const char *body, size_t body_len,
                  const char *bearer, const char *idem, int *retryable);

/* After an answer: 0 for a 2xx, else -1 with the hub's error code and message verbatim (or
 * "http_error" quoting the start of an answer not in the hub's error shape). */
int syc__judge(syc_client *c, const char *method, const char *url);

void syc__sleep_ms(long ms);

/* ---- syc_sign.c ------------------------------------------------------------------------------ */

/* One piece of a message to authenticate: HMACs run over several pieces without copying them. */
typedef struct syc_piece {
    const void *p;  /* bytes; may be NULL when len is 0 */
    size_t len;     /* bytes */
} syc_piece;

/* HMAC-SHA256 (RFC 2104, built on libcrypto's SHA-256) of the concatenated pieces under key.
 * Returns 0, or -1 if libcrypto fails. */
int syc__hmac_sha256(const void *key, size_t keylen, const syc_piece *pieces, size_t npieces,
                     unsigned char out[SYC_SHA256_LEN]);

/* Base64 of len bytes into out, which must hold syc__b64_len(len, url) + 1 bytes; NUL-terminated.
 * url: the base64url alphabet without padding (JWT), else the standard one with padding. */
size_t syc__b64_len(size_t len, int url);
void syc__b64_encode(const void *in, size_t len, int url, char *out);

/* Decodes standard base64 (padding optional; no whitespace) of n chars into out, which must hold
 * n * 3 / 4 + 3 bytes. Returns the decoded length, or -1 if the text is not base64. */
long syc__b64_decode(const char *in, size_t n, unsigned char *out);

/* 1 if a and b (alen, blen bytes) are equal. Time depends on the lengths only, not the contents. */
int syc__ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* syc_sign_token at a chosen time: "iat" = now_s, "exp" = now_s + ttl_s (when ttl_s > 0).
 * Returns a malloc'd token or NULL. */
char *syc__mint_token(const char *secret, const char *topics_csv, long ttl_s, int64_t now_s);

#endif
