#include "sign.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "codec.h"
#include "errmsg.h"

#define MAC_LEN 32          /* HMAC-SHA256 output, in bytes */
#define TS_DIGITS_MAX 18    /* longest webhook-timestamp accepted, in digits (fits int64) */


/* Decodes a "whsec_<base64>" (or bare base64) secret into a malloc'd key the caller frees.
 * Returns NULL if the secret is empty or not base64. */
static unsigned char *secret_key(const char *secret, size_t *keylen)
{
    if (!secret)
        return NULL;
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    size_t n = strlen(secret);
    if (n == 0)
        return NULL;
    unsigned char *key = malloc(n / 4 * 3 + 3);
    if (!key)
        abort();
    if (codec_b64_decode(secret, n, key, keylen, 0) != 0 || *keylen == 0) {
        free(key);
        return NULL;
    }
    return key;
}

/* SHA-256, fetched once: an explicitly fetched digest makes every init skip OpenSSL 3's provider
 * lookup, which cost more than the hash of a small body. Shared read-only by every thread. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void) { sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); }

/* HMAC-SHA256(key, id + "." + ts + "." + body) as RFC 2104 builds it from the hash, streamed so
 * the body is never copied. */
static int webhook_mac(const unsigned char *key, size_t keylen, const char *msg_id, const char *ts,
                       const void *body, size_t len, unsigned char mac[MAC_LEN])
{
    enum { BLOCK = 64 };   /* SHA-256 block size */
    pthread_once(&sha256_once, fetch_sha256);
    unsigned char k[BLOCK] = {0}, pad[BLOCK], inner[MAC_LEN];
    unsigned int n = 0;
    int rc = -1;
    EVP_MD_CTX *ctx = sha256 ? EVP_MD_CTX_new() : NULL;
    if (!ctx)
        return -1;
    if (keylen > BLOCK) {   /* a long key is hashed first */
        if (!EVP_DigestInit_ex(ctx, sha256, NULL) || !EVP_DigestUpdate(ctx, key, keylen) ||
            !EVP_DigestFinal_ex(ctx, k, &n))
            goto done;
    } else {
        memcpy(k, key, keylen);
    }
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    if (!EVP_DigestInit_ex(ctx, sha256, NULL) || !EVP_DigestUpdate(ctx, pad, BLOCK) ||
        !EVP_DigestUpdate(ctx, msg_id, strlen(msg_id)) || !EVP_DigestUpdate(ctx, ".", 1) ||
        !EVP_DigestUpdate(ctx, ts, strlen(ts)) || !EVP_DigestUpdate(ctx, ".", 1) ||
        (len && !EVP_DigestUpdate(ctx, body, len)) || !EVP_DigestFinal_ex(ctx, inner, &n))
        goto done;
    for (int i = 0; i < BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    if (!EVP_DigestInit_ex(ctx, sha256, NULL) || !EVP_DigestUpdate(ctx, pad, BLOCK) ||
        !EVP_DigestUpdate(ctx, inner, MAC_LEN) || !EVP_DigestFinal_ex(ctx, mac, &n) ||
        n != MAC_LEN)
        goto done;
    rc = 0;
done:
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int sign_webhook(const char *secret, const char *msg_id, int64_t ts_s, const void *body, size_t len,
                 char out[SIGN_SIG_MAX])
{
    size_t keylen;
    unsigned char *key = secret_key(secret, &keylen);
    if (!key || !msg_id)
        goto fail;
    char ts[24];
    snprintf(ts, sizeof ts, "%" PRId64, ts_s);
    unsigned char mac[MAC_LEN];
    if (webhook_mac(key, keylen, msg_id, ts, body, len, mac) != 0)
        goto fail;
    memcpy(out, "v1,", 3);
    codec_b64_encode(mac, MAC_LEN, out + 3, 0);
    OPENSSL_cleanse(key, keylen);
    free(key);
    return 0;
fail:
    if (key)
        OPENSSL_cleanse(key, keylen);
    free(key);
    out[0] = '\0';
    return -1;
}

/* Parses the webhook-timestamp header: decimal seconds, digits only. */
static int parse_ts(const char *ts, int64_t *out)
{
    size_t n = strlen(ts);
    if (n == 0 || n > TS_DIGITS_MAX)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (ts[i] < '0' || ts[i] > '9')
            return -1;
        v = v * 10 + (ts[i] - '0');
    }
    *out = v;
    return 0;
}

/* Walks the space-separated entries of a webhook-signature header. Counts v1 entries (*nv1) and the
 * v1 entries that decode to a 32-byte MAC (*nwell); returns 1 if any of them equals mac. Every
 * well-formed entry is compared, in constant time, so timing tells nothing about which matched. */
static int any_v1_matches(const char *hdr, const unsigned char mac[MAC_LEN], int *nv1, int *nwell)
{
    int match = 0;
    *nv1 = *nwell = 0;
    const char *p = hdr;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        size_t n = (size_t)(e - p);
        if (n > 3 && memcmp(p, "v1,", 3) == 0) {
            (*nv1)++;
            unsigned char got[(SIGN_SIG_MAX / 4) * 3 + 3];
            size_t gotlen = 0;
            if (n - 3 < SIGN_SIG_MAX && codec_b64_decode(p + 3, n - 3, got, &gotlen, 0) == 0 &&
                gotlen == MAC_LEN) {
                (*nwell)++;
                match |= CRYPTO_memcmp(got, mac, MAC_LEN) == 0;
            }
        }
        p = e;
    }
    return match;
}

int sign_verify(const char *secret, const char *msg_id, const char *ts, const void *body, size_t len,
                const char *sig_header, int64_t now_s, int tolerance_s, char *err, size_t errlen)
{
    int rc = -1;
    size_t keylen = 0;
    unsigned char *key = NULL;

    if (!msg_id || !*msg_id) {
        rc = errmsg(err, errlen, "webhook-id header is missing");
        goto done;
    }
    if (!ts || !*ts) {
        rc = errmsg(err, errlen, "webhook-timestamp header is missing");
        goto done;
    }
    if (!sig_header || !*sig_header) {
        rc = errmsg(err, errlen, "webhook-signature header is missing");
        goto done;
    }
    int64_t t;
    if (parse_ts(ts, &t) != 0) {
        rc = errmsg(err, errlen, "webhook-timestamp \"%.24s\" is not a number of seconds since the epoch",
                  ts);
        goto done;
    }
    int64_t tol = tolerance_s < 0 ? 0 : tolerance_s;
    /* t is in [0, 10^18]; a now_s far from it must not overflow the difference. */
    int64_t age;
    if (__builtin_sub_overflow(now_s, t, &age))
        age = now_s < 0 ? INT64_MIN : INT64_MAX;
    if (age > tol) {
        rc = errmsg(err, errlen,
                  "webhook timestamp is too old: %" PRId64 " s before now, tolerance is %" PRId64 " s",
                  age, tol);
        goto done;
    }
    if (age < -tol) {
        rc = errmsg(err, errlen,
                  "webhook timestamp is too far in the future: %" PRId64
                  " s after now, tolerance is %" PRId64 " s",
                  age == INT64_MIN ? INT64_MAX : -age, tol);
        goto done;
    }
    key = secret_key(secret, &keylen);
    if (!key) {
        rc = errmsg(err, errlen, "webhook secret is not valid base64 (expected \"whsec_<base64>\")");
        goto done;
    }
    unsigned char mac[MAC_LEN];
    if (webhook_mac(key, keylen, msg_id, ts, body, len, mac) != 0) {
        rc = errmsg(err, errlen, "could not compute HMAC-SHA256 (OpenSSL error)");
        goto done;
    }
    int nv1, nwell;
    int ok = any_v1_matches(sig_header, mac, &nv1, &nwell);
    OPENSSL_cleanse(mac, sizeof mac);
    if (ok)
        rc = 0;
    else if (nv1 == 0)
        rc = errmsg(err, errlen, "webhook-signature has no v1 signature (expected \"v1,<base64>\")");
    else if (nwell == 0)
        rc = errmsg(err, errlen, "webhook-signature v1 value is not base64 of a 32-byte HMAC-SHA256");
    else
        rc = errmsg(err, errlen,
                  "webhook signature does not match (wrong secret, or the id, timestamp or body "
                  "changed)");
done:
    if (key) {
        OPENSSL_cleanse(key, keylen);
        free(key);
    }
    return rc;
}

int sign_new_secret(char out[64])
{
    unsigned char raw[24];
    if (codec_random(raw, sizeof raw) != 0) {
        out[0] = '\0';
        return -1;
    }
    memcpy(out, "whsec_", 6);
    codec_b64_encode(raw, sizeof raw, out + 6, 0);
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}
