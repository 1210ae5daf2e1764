#include "auth.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "codec.h"
#include "topic.h"
#include "errmsg.h"

#define MAC_LEN 32        /* HS256 signature, in bytes */
#define SIG_CHARS_MAX 64  /* longest signature segment decoded, in base64url characters */

static const char JWT_HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";


/* Copies an untrusted string into out (32 bytes) for an error message: printable ASCII only, cut
 * short with "..." so a hostile token cannot fill logs or inject control characters. */
static const char *quote_safe(const char *s, char out[32])
{
    size_t i = 0;
    for (; s[i] && i < 24; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') ? s[i] : '?';
    if (s[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* HMAC-SHA256 over the signing input "header.payload". */
static int hs256(const char *secret, const char *data, size_t n, unsigned char mac[MAC_LEN])
{
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)data, n, mac, &maclen))
        return -1;
    return maclen == MAC_LEN ? 0 : -1;
}

/* The member of obj called name (case-sensitive, unlike cJSON_GetObjectItem). *dup is set when the
 * name occurs more than once: JSON parsers disagree on which copy wins, so such tokens are refused. */
static cJSON *member(const cJSON *obj, const char *name, int *dup)
{
    cJSON *found = NULL;
    *dup = 0;
    for (cJSON *c = obj->child; c; c = c->next) {
        if (c->string && strcmp(c->string, name) == 0) {
            if (found)
                *dup = 1;
            else
                found = c;
        }
    }
    return found;
}

/* Decodes one base64url segment (no padding allowed) and parses it as a JSON object.
 * what is "header" or "payload", for messages. */
static cJSON *segment_object(const char *seg, size_t n, const char *what, char *err, size_t errlen)
{
    cJSON *obj = NULL;
    unsigned char *raw = malloc(n / 4 * 3 + 3);
    size_t rawlen;
    if (!raw)
        abort();
    if (memchr(seg, '=', n) || codec_b64_decode(seg, n, raw, &rawlen, 1) != 0) {
        errmsg(err, errlen, "token %s is not valid base64url", what);
        goto done;
    }
    obj = cJSON_ParseWithLength((const char *)raw, rawlen);
    if (!obj) {
        errmsg(err, errlen, "token %s is not valid JSON", what);
        goto done;
    }
    if (!cJSON_IsObject(obj)) {
        errmsg(err, errlen, "token %s is not a JSON object", what);
        cJSON_Delete(obj);
        obj = NULL;
    }
done:
    free(raw);
    return obj;
}

static int check_header(const cJSON *h, char *err, size_t errlen)
{
    char q[32];
    int dup;
    const cJSON *alg = member(h, "alg", &dup);
    if (!alg)
        return errmsg(err, errlen, "token header has no \"alg\"; only HS256 is allowed");
    if (dup)
        return errmsg(err, errlen, "token header has more than one \"alg\"");
    if (!cJSON_IsString(alg))
        return errmsg(err, errlen, "token header \"alg\" must be the string \"HS256\"");
    if (strcmp(alg->valuestring, "HS256") != 0)
        return errmsg(err, errlen, "token algorithm \"%s\" is not allowed; only HS256",
                    quote_safe(alg->valuestring, q));
    const cJSON *typ = member(h, "typ", &dup);
    if (dup)
        return errmsg(err, errlen, "token header has more than one \"typ\"");
    if (typ && (!cJSON_IsString(typ) || strcasecmp(typ->valuestring, "JWT") != 0))
        return errmsg(err, errlen, "token type must be \"JWT\" when given");
    /* RFC 7515 4.1.11: a recipient that does not understand a critical extension must refuse. */
    if (member(h, "crit", &dup))
        return errmsg(err, errlen, "token header has a \"crit\" parameter, which is not supported");
    return 0;
}

/* Reads an optional NumericDate claim. Returns 0 (with *present, *v), or -1 if it is not a number. */
static int numeric_date(const cJSON *p, const char *name, int *present, double *v, char *err,
                        size_t errlen)
{
    int dup;
    const cJSON *c = member(p, name, &dup);
    *present = c != NULL;
    if (!c)
        return 0;
    if (dup)
        return errmsg(err, errlen, "token has more than one %s claim", name);
    if (!cJSON_IsNumber(c))
        return errmsg(err, errlen, "token %s claim must be a number of seconds since the epoch", name);
    *v = c->valuedouble;
    return 0;
}

static int64_t clamp_i64(double v)
{
    if (v >= 9.2e18)
        return INT64_MAX;
    if (v <= -9.2e18)
        return INT64_MIN;
    return (int64_t)floor(v);
}

static int read_claims(const cJSON *p, int64_t now_s, auth_claims *out, char *err, size_t errlen)
{
    int present, dup;
    double exp = 0, nbf = 0;

    if (numeric_date(p, "exp", &present, &exp, err, errlen) != 0)
        return -1;
    if (present) {
        if ((double)now_s >= exp + AUTH_LEEWAY_S)
            return errmsg(err, errlen, "token has expired");
        out->exp = clamp_i64(exp);
    }
    if (numeric_date(p, "nbf", &present, &nbf, err, errlen) != 0)
        return -1;
    if (present) {
        if ((double)now_s + AUTH_LEEWAY_S < nbf)
            return errmsg(err, errlen, "token is not valid yet");
        out->nbf = clamp_i64(nbf);
    }

    const cJSON *sub = member(p, "sub", &dup);
    if (dup)
        return errmsg(err, errlen, "token has more than one sub claim");
    if (sub) {
        if (!cJSON_IsString(sub))
            return errmsg(err, errlen, "token sub claim must be a string");
        out->sub = strdup(sub->valuestring);
        if (!out->sub)
            abort();
    }

    const cJSON *topics = member(p, "topics", &dup);
    if (dup)
        return errmsg(err, errlen, "token has more than one topics claim");
    if (!topics)
        return 0;
    if (!cJSON_IsArray(topics))
        return errmsg(err, errlen, "token topics claim must be an array of topic patterns");
    out->has_topics = 1;
    size_t n = (size_t)cJSON_GetArraySize(topics);
    out->topics = calloc(n ? n : 1, sizeof *out->topics);
    if (!out->topics)
        abort();
    const cJSON *t;
    cJSON_ArrayForEach(t, topics)
    {
        char why[128], q[32];
        if (!cJSON_IsString(t))
            return errmsg(err, errlen, "token topics claim must be an array of topic patterns");
        if (topic_pattern_valid(t->valuestring, why, sizeof why) != 0)
            return errmsg(err, errlen, "token topics claim entry %zu (\"%s\") is not a valid topic pattern: %s",
                        out->ntopics + 1, quote_safe(t->valuestring, q), why);
        out->topics[out->ntopics] = strdup(t->valuestring);
        if (!out->topics[out->ntopics])
            abort();
        out->ntopics++;
    }
    return 0;
}

int auth_jwt_verify(const char *token, size_t len, const char *secret, int64_t now_s,
                    auth_claims *out, char *err, size_t errlen)
{
    int rc = -1;
    cJSON *header = NULL, *payload = NULL;
    memset(out, 0, sizeof *out);

    if (!secret || !*secret) {
        errmsg(err, errlen, "token secret is not configured");
        goto done;
    }
    if (!token || len == 0) {
        errmsg(err, errlen, "token is empty");
        goto done;
    }
    if (len > AUTH_TOKEN_MAX) {
        errmsg(err, errlen, "token is too long (over %d bytes)", AUTH_TOKEN_MAX);
        goto done;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
        errmsg(err, errlen, "token is not a JWT (expected 3 dot-separated parts)");
        goto done;
    }
    size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1);
    size_t slen = len - (size_t)(dot2 + 1 - token);
    if (hlen == 0 || plen == 0) {
        errmsg(err, errlen, "token is not a JWT (its %s part is empty)", hlen == 0 ? "header" : "payload");
        goto done;
    }

    /* The header first: the algorithm must be pinned before anything is trusted or computed. */
    header = segment_object(token, hlen, "header", err, errlen);
    if (!header || check_header(header, err, errlen) != 0)
        goto done;

    if (slen == 0) {
        errmsg(err, errlen, "token has no signature");
        goto done;
    }
    /* 43 characters encode 32 bytes; anything much longer cannot match and is not decoded. */
    unsigned char got[SIG_CHARS_MAX / 4 * 3 + 3], want[MAC_LEN];
    size_t gotlen = 0;
    const char *sig = dot2 + 1;
    if (memchr(sig, '=', slen) ||
        (slen <= SIG_CHARS_MAX && codec_b64_decode(sig, slen, got, &gotlen, 1) != 0)) {
        errmsg(err, errlen, "token signature is not valid base64url");
        goto done;
    }
    if (hs256(secret, token, (size_t)(dot2 - token), want) != 0) {
        errmsg(err, errlen, "could not compute HMAC-SHA256 (OpenSSL error)");
        goto done;
    }
    if (gotlen != MAC_LEN || CRYPTO_memcmp(got, want, MAC_LEN) != 0) {
        errmsg(err, errlen, "token signature does not match");
        goto done;
    }

    payload = segment_object(dot1 + 1, plen, "payload", err, errlen);
    if (!payload || read_claims(payload, now_s, out, err, errlen) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0)
        auth_claims_free(out);
    cJSON_Delete(header);
    cJSON_Delete(payload);
    return rc;
}

char *auth_jwt_sign(const char *secret, const char *payload_json)
{
    if (!secret || !payload_json)
        return NULL;
    buf b = BUF_INIT;
    size_t hn = sizeof JWT_HEADER - 1, pn = strlen(payload_json);
    char *tmp = malloc(codec_b64_len(hn > pn ? hn : pn, 1) + 1);
    if (!tmp)
        abort();
    buf_append(&b, tmp, codec_b64_encode(JWT_HEADER, hn, tmp, 1));
    buf_putc(&b, '.');
    buf_append(&b, tmp, codec_b64_encode(payload_json, pn, tmp, 1));
    unsigned char mac[MAC_LEN];
    char sig[64];
    if (hs256(secret, b.p, b.len, mac) != 0) {
        free(tmp);
        buf_free(&b);
        return NULL;
    }
    buf_putc(&b, '.');
    buf_append(&b, sig, codec_b64_encode(mac, MAC_LEN, sig, 1));
    free(tmp);
    return buf_take(&b);
}

int auth_topic_allowed(const auth_claims *c, const char *topic)
{
    if (!c->has_topics)
        return 1;
    for (size_t i = 0; i < c->ntopics; i++)
        if (topic_match(c->topics[i], topic))
            return 1;
    return 0;
}

void auth_claims_free(auth_claims *c)
{
    if (!c)
        return;
    free(c->sub);
    for (size_t i = 0; i < c->ntopics; i++)
        free(c->topics[i]);
    free(c->topics);
    memset(c, 0, sizeof *c);
}

int auth_admin_ok(const char *presented, size_t len, const char *configured)
{
    if (!presented || !configured || !*configured)
        return 0;
    /* Comparing digests keeps the time independent of where, and whether, the lengths differ. */
    unsigned char a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned int alen = 0, blen = 0;
    if (!EVP_Digest(presented, len, a, &alen, EVP_sha256(), NULL) ||
        !EVP_Digest(configured, strlen(configured), b, &blen, EVP_sha256(), NULL) || alen != blen)
        return 0;
    int same = CRYPTO_memcmp(a, b, alen) == 0;
    return same & (len == strlen(configured));
}

const char *auth_bearer(const char *header, size_t *len)
{
    if (!header || !len)
        return NULL;
    while (*header == ' ' || *header == '\t')
        header++;
    if (strncasecmp(header, "Bearer", 6) != 0 || header[6] != ' ')
        return NULL;
    const char *p = header + 6;
    while (*p == ' ')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0)
        return NULL;
    *len = n;
    return p;
}
