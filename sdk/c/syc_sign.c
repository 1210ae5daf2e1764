/* syc_sign.c — the SDK's engine: base64, HMAC-SHA256, publisher JWTs and Standard Webhooks
 * verification. No I/O beyond reading the clock when the caller passes 0. Calls libcrypto (SHA-256)
 * and cJSON (to build the token payload). */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* strndup */
#endif
#include "syc_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define SHA256_BLOCK 64     /* bytes in a SHA-256 input block, the HMAC key width */
#define WHSEC_PREFIX "whsec_"

/* ---- base64 ---------------------------------------------------------------------------------- */

static const char STD_ALPHABET[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL_ALPHABET[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t syc__b64_len(size_t len, int url)
{
    size_t whole = len / 3 * 4;
    size_t tail = len % 3;
    if (tail == 0)
        return whole;
    return whole + (url ? tail + 1 : 4);
}

void syc__b64_encode(const void *in, size_t len, int url, char *out)
{
    const unsigned char *src = in;
    const char *alphabet = url ? URL_ALPHABET : STD_ALPHABET;
    char *dst = out;

    while (len > 0) {
        size_t take = len < 3 ? len : 3;
        uint32_t group = (uint32_t)src[0] << 16;
        if (take > 1)
            group |= (uint32_t)src[1] << 8;
        if (take > 2)
            group |= src[2];
        /* take bytes carry 8 * take bits: they fill take + 1 characters of 6 bits */
        for (size_t k = 0; k < 4; k++) {
            if (k <= take)
                *dst++ = alphabet[(group >> (18 - 6 * k)) & 63];
            else if (!url)
                *dst++ = '=';
        }
        src += take;
        len -= take;
    }
    *dst = '\0';
}

static int std_sextet(unsigned char ch)
{
    const char *hit = ch ? memchr(STD_ALPHABET, ch, sizeof STD_ALPHABET) : NULL;
    return hit ? (int)(hit - STD_ALPHABET) : -1;
}

long syc__b64_decode(const char *in, size_t n, unsigned char *out)
{
    size_t chars = n;
    while (chars > 0 && in[chars - 1] == '=')
        chars--;
    /* A lone trailing character carries too few bits; padding, when present, must complete the
     * last group of four exactly. */
    if (chars % 4 == 1 || n - chars > 2 || (n != chars && n % 4 != 0))
        return -1;

    long written = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < chars; i++) {
        int v = std_sextet((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[written++] = (unsigned char)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    return written;
}

/* ---- HMAC-SHA256 ----------------------------------------------------------------------------- */

int syc__ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const unsigned char *x = a, *y = b;
    size_t n = alen < blen ? alen : blen;
    unsigned char diff = alen != blen;
    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

/* SHA-256 of prefix (SHA256_BLOCK bytes) followed by the pieces. */
static int sha256_after_block(const unsigned char prefix[SHA256_BLOCK], const syc_piece *pieces,
                              size_t npieces, unsigned char out[SYC_SHA256_LEN])
{
    int rc = -1;
    unsigned int outlen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, prefix, SHA256_BLOCK) != 1)
        goto done;
    for (size_t i = 0; i < npieces; i++)
        if (pieces[i].len && EVP_DigestUpdate(md, pieces[i].p, pieces[i].len) != 1)
            goto done;
    if (EVP_DigestFinal_ex(md, out, &outlen) != 1 || outlen != SYC_SHA256_LEN)
        goto done;
    rc = 0;
done:
    EVP_MD_CTX_free(md);
    return rc;
}

int syc__hmac_sha256(const void *key, size_t keylen, const syc_piece *pieces, size_t npieces,
                     unsigned char out[SYC_SHA256_LEN])
{
    unsigned char k0[SHA256_BLOCK] = {0}, pad[SHA256_BLOCK], inner[SYC_SHA256_LEN];
    int rc = -1;

    if (keylen > SHA256_BLOCK) {   /* long keys are hashed first (RFC 2104, section 2) */
        unsigned int n = 0;
        if (EVP_Digest(key, keylen, k0, &n, EVP_sha256(), NULL) != 1)
            goto done;
    } else if (keylen) {
        memcpy(k0, key, keylen);
    }
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] = k0[i] ^ 0x36;
    if (sha256_after_block(pad, pieces, npieces, inner) != 0)
        goto done;
    for (size_t i = 0; i < SHA256_BLOCK; i++)
        pad[i] = k0[i] ^ 0x5c;
    syc_piece outer = {inner, sizeof inner};
    rc = sha256_after_block(pad, &outer, 1, out);
done:
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    return rc;
}

/* ---- publisher tokens ------------------------------------------------------------------------ */

/* Adds the topics claim: topics_csv split at commas, blanks around each pattern dropped. */
static int add_topics_claim(cJSON *payload, const char *topics_csv)
{
    cJSON *list = cJSON_AddArrayToObject(payload, "topics");
    if (!list)
        return -1;
    const char *p = topics_csv;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            char *pattern = strndup(a, (size_t)(b - a));
            cJSON *item = pattern ? cJSON_CreateString(pattern) : NULL;
            free(pattern);
            if (!item || !cJSON_AddItemToArray(list, item)) {
                cJSON_Delete(item);
                return -1;
            }
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

char *syc__mint_token(const char *secret, const char *topics_csv, long ttl_s, int64_t now_s)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *token = NULL, *claims = NULL;
    cJSON *payload = NULL;

    if (!secret || !*secret)
        return NULL;
    payload = cJSON_CreateObject();
    if (!payload || !cJSON_AddStringToObject(payload, "sub", "switchyard-c") ||
        !cJSON_AddNumberToObject(payload, "iat", (double)now_s))
        goto done;
    if (ttl_s > 0 && !cJSON_AddNumberToObject(payload, "exp", (double)(now_s + ttl_s)))
        goto done;
    if (topics_csv && add_topics_claim(payload, topics_csv) != 0)
        goto done;
    claims = cJSON_PrintUnformatted(payload);
    if (!claims)
        goto done;

    size_t hlen = syc__b64_len(sizeof header - 1, 1), clen = syc__b64_len(strlen(claims), 1);
    size_t slen = syc__b64_len(SYC_SHA256_LEN, 1);
    token = malloc(hlen + 1 + clen + 1 + slen + 1);
    if (!token)
        goto done;
    syc__b64_encode(header, sizeof header - 1, 1, token);
    token[hlen] = '.';
    syc__b64_encode(claims, strlen(claims), 1, token + hlen + 1);
    unsigned char mac[SYC_SHA256_LEN];
    syc_piece signing_input = {token, hlen + 1 + clen};
    if (syc__hmac_sha256(secret, strlen(secret), &signing_input, 1, mac) != 0) {
        free(token);
        token = NULL;
        goto done;
    }
    token[hlen + 1 + clen] = '.';
    syc__b64_encode(mac, sizeof mac, 1, token + hlen + 1 + clen + 1);
done:
    cJSON_free(claims);
    cJSON_Delete(payload);
    return token;
}

char *syc_sign_token(const char *secret, const char *topics_csv, long ttl_s)
{
    return syc__mint_token(secret, topics_csv, ttl_s, (int64_t)time(NULL));
}

void syc_free(void *p)
{
    free(p);
}

/* ---- webhook verification -------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Parses a webhook-timestamp: decimal seconds, digits only. */
static int parse_timestamp(const char *text, int64_t *out)
{
    size_t n = strlen(text);
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return 0;
}

int syc_verify_webhook(const char *secret, const char *webhook_id, const char *webhook_timestamp,
                       const char *webhook_signature, const void *body, size_t len,
                       long tolerance_s, long now_s, char *err, size_t errlen)
{
    unsigned char key[256], mac[SYC_SHA256_LEN];
    char expected[64];
    int64_t ts;
    int rc = -1;

    if (err && errlen)
        err[0] = '\0';
    if (!secret || !*secret)
        return refuse(err, errlen, "the signing secret is empty");
    if (!webhook_id || !*webhook_id)
        return refuse(err, errlen, "the webhook-id header is missing");
    if (!webhook_timestamp || !*webhook_timestamp)
        return refuse(err, errlen, "the webhook-timestamp header is missing");
    if (!webhook_signature || !*webhook_signature)
        return refuse(err, errlen, "the webhook-signature header is missing");
    if (!body && len)
        return refuse(err, errlen, "the body is NULL but its length is %zu", len);
    if (parse_timestamp(webhook_timestamp, &ts) != 0)
        return refuse(err, errlen, "the webhook-timestamp header \"%.40s\" is not a number of seconds",
                      webhook_timestamp);

    int64_t now = now_s ? (int64_t)now_s : (int64_t)time(NULL);
    int64_t tolerance = tolerance_s > 0 ? tolerance_s : SYC_DEFAULT_TOLERANCE_S;
    if (ts < now - tolerance)
        return refuse(err, errlen, "the webhook-timestamp is %lld s old, more than the %lld s allowed",
                      (long long)(now - ts), (long long)tolerance);
    if (ts > now + tolerance)
        return refuse(err, errlen,
                      "the webhook-timestamp is %lld s in the future, more than the %lld s allowed",
                      (long long)(ts - now), (long long)tolerance);

    const char *b64 = secret;
    if (strncmp(b64, WHSEC_PREFIX, strlen(WHSEC_PREFIX)) == 0)
        b64 += strlen(WHSEC_PREFIX);
    size_t b64len = strlen(b64);
    if (b64len > (sizeof key - 3) / 3 * 4)
        return refuse(err, errlen, "the signing secret is too long (%zu base64 characters)", b64len);
    long keylen = syc__b64_decode(b64, b64len, key);
    if (keylen <= 0) {
        rc = refuse(err, errlen, "the signing secret is not \"whsec_\" followed by base64");
        goto done;
    }

    syc_piece msg[] = {{webhook_id, strlen(webhook_id)}, {".", 1},
                       {webhook_timestamp, strlen(webhook_timestamp)}, {".", 1}, {body, len}};
    if (syc__hmac_sha256(key, (size_t)keylen, msg, sizeof msg / sizeof msg[0], mac) != 0) {
        rc = refuse(err, errlen, "HMAC-SHA256 failed in libcrypto");
        goto done;
    }
    syc__b64_encode(mac, sizeof mac, 0, expected);

    /* Any one v1 entry may match; every v1 entry is compared in full, in constant time. */
    int v1_entries = 0, matched = 0;
    const char *p = webhook_signature;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != ' ')
            end++;
        if (end - p > 3 && memcmp(p, "v1,", 3) == 0) {
            v1_entries++;
            matched |= syc__ct_equal(p + 3, (size_t)(end - p - 3), expected, strlen(expected));
        }
        p = end;
    }
    if (!v1_entries)
        rc = refuse(err, errlen, "the webhook-signature header has no v1 signature");
    else if (!matched)
        rc = refuse(err, errlen, "no v1 signature in webhook-signature matches the body and secret");
    else
        rc = 0;
done:
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(mac, sizeof mac);
    return rc;
}
