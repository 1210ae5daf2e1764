/* fuzz_jwt — libFuzzer harness for publisher tokens: auth_jwt_verify with a fixed secret and clock.
 * The first input byte picks the mode:
 *   0-84   the rest is a token as sent after "Bearer ";
 *   85-169 the rest is a claims payload: it is signed with auth_jwt_sign, then verified (a correctly
 *          signed token may only fail for its claims, never for its form or signature);
 *   170-   a valid token with claims chosen by the input is signed, then mutated by edits the input
 *          describes (overwrite / insert / delete a byte): a token that differs from the signed one
 *          must never verify.
 * Every mode also runs auth_bearer and auth_admin_ok on the raw input. Invariants (abort on
 * violation): verify returns 0 or -1; on -1 err is a non-empty sentence and the claims are empty; on 0
 * the token's header says alg "HS256", every topics entry is a valid pattern, and exp/nbf admit now.
 * Build: see tests/fuzz/run_all.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "codec.h"
#include "topic.h"

#define SECRET "fuzz-secret-\x01\xff-bytes"
#define NOW 1700000000LL

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_jwt: invariant failed: %s (line %d)\n", #cond, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int claims_empty(const auth_claims *c)
{
    return !c->sub && !c->topics && c->ntopics == 0 && !c->has_topics && c->exp == 0 && c->nbf == 0;
}

/* The decoded header of a token that verified: alg must be exactly HS256. */
static void check_header_alg(const char *tok, size_t len)
{
    const char *dot = memchr(tok, '.', len);
    CHECK(dot != NULL);
    size_t n = (size_t)(dot - tok);
    unsigned char *raw = malloc(n / 4 * 3 + 3);
    size_t rawlen = 0;
    CHECK(raw != NULL);
    CHECK(codec_b64_decode(tok, n, raw, &rawlen, 1) == 0);
    cJSON *h = cJSON_ParseWithLength((const char *)raw, rawlen);
    CHECK(h != NULL);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    CHECK(cJSON_IsString(alg) && strcmp(alg->valuestring, "HS256") == 0);
    cJSON_Delete(h);
    free(raw);
}

/* Verifies tok[0..len) (a heap copy of exactly len bytes); returns verify's result. */
static int verify(const char *tok, size_t len, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    memcpy(copy, tok, len);
    auth_claims c;
    err[0] = '\0';
    int rc = auth_jwt_verify(copy, len, SECRET, NOW, &c, err, errlen);
    CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        CHECK(err[0] != '\0');
        CHECK(claims_empty(&c));
    } else {
        check_header_alg(copy, len);
        for (size_t i = 0; i < c.ntopics; i++)
            CHECK(topic_pattern_valid(c.topics[i], NULL, 0) == 0);
        CHECK(c.has_topics || c.ntopics == 0);
        /* claims are stored floored: exp may sit up to 1 s below the value that was checked */
        if (c.exp)
            CHECK((double)NOW < (double)c.exp + AUTH_LEEWAY_S + 1);
        if (c.nbf)
            CHECK((double)NOW + AUTH_LEEWAY_S >= (double)c.nbf);
        (void)auth_topic_allowed(&c, "orders.created");
        auth_claims_free(&c);
        CHECK(claims_empty(&c));
    }
    free(copy);
    return rc;
}

/* A NUL-terminated copy of data[0..n). */
static char *cstr(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    CHECK(s != NULL);
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

static void sign_then_verify(const uint8_t *data, size_t size)
{
    char *payload = cstr(data, size);
    if (size == 0 || strlen(payload) != size) { /* the signer takes a non-empty C string */
        free(payload);
        return;
    }
    char *tok = auth_jwt_sign(SECRET, payload);
    CHECK(tok != NULL);
    char err[256];
    if (verify(tok, strlen(tok), err, sizeof err) != 0) {
        /* correctly signed and short enough: only the payload may be at fault */
        static const char *const form_errors[] = {"token signature", "token header",
                                                  "token algorithm", "token type",
                                                  "token is not a JWT", "token has no signature"};
        int form = 0;
        for (size_t i = 0; i < sizeof form_errors / sizeof form_errors[0]; i++)
            form |= strncmp(err, form_errors[i], strlen(form_errors[i])) == 0;
        if (strlen(tok) <= AUTH_TOKEN_MAX && form) {
            fprintf(stderr, "fuzz_jwt: a token signed by auth_jwt_sign failed: %s\n", err);
            abort();
        }
    }
    free(tok);
    free(payload);
}

static void mutate_valid(const uint8_t *data, size_t size)
{
    /* claims from the first bytes, edits from the rest */
    static const char *const claim_sets[] = {
        "{\"sub\":\"p\"}",
        "{\"sub\":\"p\",\"topics\":[\"orders.*\"]}",
        "{\"exp\":1700000600,\"nbf\":1699999000}",
        "{\"topics\":[\"#\",\"a.b\"],\"iat\":1}",
    };
    if (size < 1)
        return;
    const char *claims = claim_sets[data[0] % 4];
    data++, size--;
    char *tok = auth_jwt_sign(SECRET, claims);
    CHECK(tok != NULL);
    char err[256];
    CHECK(verify(tok, strlen(tok), err, sizeof err) == 0);
    size_t len = strlen(tok), cap = len + size + 8;
    char *m = malloc(cap);
    CHECK(m != NULL);
    memcpy(m, tok, len);
    /* each edit is 3 bytes: kind, position, value */
    for (size_t i = 0; i + 2 < size && i < 3 * 16; i += 3) {
        size_t pos = len ? data[i + 1] % (len + 1) : 0;
        switch (data[i] % 3) {
        case 0: /* overwrite */
            if (pos < len)
                m[pos] = (char)data[i + 2];
            break;
        case 1: /* insert */
            memmove(m + pos + 1, m + pos, len - pos);
            m[pos] = (char)data[i + 2];
            len++;
            break;
        default: /* delete */
            if (pos < len && len > 0) {
                memmove(m + pos, m + pos + 1, len - pos - 1);
                len--;
            }
        }
    }
    int same = len == strlen(tok) && memcmp(m, tok, len) == 0;
    int rc = verify(m, len, err, sizeof err);
    if (!same && rc == 0) {
        fprintf(stderr, "fuzz_jwt: a mutated token verified:\n%s\n%.*s\n", tok, (int)len, m);
        abort();
    }
    free(m);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    data++, size--;

    /* the Authorization header as the hub reads it (a C string) */
    char *hdr = cstr(data, size);
    size_t blen = 0;
    const char *b = auth_bearer(hdr, &blen);
    if (b) {
        CHECK(blen > 0 && b >= hdr && b + blen <= hdr + strlen(hdr));
        CHECK(b[0] != ' ' && b[blen - 1] != ' ' && b[blen - 1] != '\t');
        (void)auth_admin_ok(b, blen, "admin-token");
    }
    CHECK(auth_admin_ok(hdr, strlen(hdr), "") == 0);
    free(hdr);

    char err[256];
    if (mode < 85)
        (void)verify((const char *)data, size, err, sizeof err);
    else if (mode < 170)
        sign_then_verify(data, size);
    else
        mutate_valid(data, size);
    return 0;
}
