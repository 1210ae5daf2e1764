/* auth: HS256 JWT verification with a pinned algorithm, claims, Bearer parsing, admin tokens. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth.h"
#include "buf.h"
#include "check.h"
#include "codec.h"

#define SECRET "s3cret-for-tests"
#define NOW 1700000000LL

/* Computed independently with python3: base64url(header) "." base64url(payload) "." base64url of
 * hmac.new(b"s3cret-for-tests", signing_input, hashlib.sha256), for the payload below. */
#define REF_PAYLOAD "{\"sub\":\"svc-billing\",\"topics\":[\"orders.*\"],\"exp\":2000000000}"
#define REF_TOKEN                                                                                  \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                        \
    "eyJzdWIiOiJzdmMtYmlsbGluZyIsInRvcGljcyI6WyJvcmRlcnMuKiJdLCJleHAiOjIwMDAwMDAwMDB9."            \
    "gHtjYBpelWb6EL1UIDQG48ZLtLQMzVqj8OEwzyFLFr8"

static char err[256];
static auth_claims claims;

static void b64u(buf *b, const char *s, size_t n)
{
    char *tmp = malloc(codec_b64_len(n, 1) + 1);
    buf_append(b, tmp, codec_b64_encode(s, n, tmp, 1));
    free(tmp);
}

/* A token with any header and payload text, correctly HS256-signed with secret: the signature is
 * right, so whatever is refused is refused for the header or payload. Caller frees. */
static char *forge(const char *header, const char *payload, const char *secret)
{
    buf b = BUF_INIT;
    b64u(&b, header, strlen(header));
    buf_putc(&b, '.');
    b64u(&b, payload, strlen(payload));
    unsigned char mac[32];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)b.p, b.len, mac, &n);
    buf_putc(&b, '.');
    b64u(&b, (const char *)mac, n);
    return buf_take(&b);
}

static int verify_at(const char *token, int64_t now)
{
    auth_claims_free(&claims);
    err[0] = '\0';
    return auth_jwt_verify(token, strlen(token), SECRET, now, &claims, err, sizeof err);
}

static int verify(const char *token) { return verify_at(token, NOW); }

/* Signs payload with auth_jwt_sign and verifies it at now. */
static int signed_payload_at(const char *payload, int64_t now)
{
    char *t = auth_jwt_sign(SECRET, payload);
    int rc = verify_at(t, now);
    free(t);
    return rc;
}

static int forged(const char *header, const char *payload)
{
    char *t = forge(header, payload, SECRET);
    int rc = verify(t);
    free(t);
    return rc;
}

/* ---- signing and the reference token --------------------------------------------------------- */

TEST(test_jwt_sign_matches_python_reference)
{
    char *t = auth_jwt_sign(SECRET, REF_PAYLOAD);
    CHECK_STR(t, REF_TOKEN);
    free(t);
    CHECK(auth_jwt_sign(NULL, "{}") == NULL);
    CHECK(auth_jwt_sign(SECRET, NULL) == NULL);
}

TEST(test_jwt_python_reference_token_verifies_with_claims)
{
    CHECK_INT(verify(REF_TOKEN), 0);
    CHECK_STR(claims.sub, "svc-billing");
    CHECK_INT(claims.has_topics, 1);
    CHECK_INT(claims.ntopics, 1);
    CHECK_STR(claims.topics[0], "orders.*");
    CHECK_INT(claims.exp, 2000000000);
    CHECK_INT(claims.nbf, 0);
    auth_claims_free(&claims);
}

TEST(test_jwt_minimal_payload_verifies)
{
    CHECK_INT(signed_payload_at("{}", NOW), 0);
    CHECK(claims.sub == NULL);
    CHECK_INT(claims.has_topics, 0);
    CHECK_INT(claims.exp, 0);
    auth_claims_free(&claims);
}

TEST(test_jwt_uses_len_not_nul)
{
    char buf_[sizeof REF_TOKEN + 8];
    memcpy(buf_, REF_TOKEN, sizeof REF_TOKEN - 1);
    memcpy(buf_ + sizeof REF_TOKEN - 1, "garbage", 8);
    CHECK_INT(auth_jwt_verify(buf_, sizeof REF_TOKEN - 1, SECRET, NOW, &claims, err, sizeof err), 0);
    auth_claims_free(&claims);
}

/* ---- the algorithm is pinned ------------------------------------------------------------------ */

TEST(test_jwt_alg_none_is_refused)
{
    buf b = BUF_INIT;
    b64u(&b, "{\"alg\":\"none\",\"typ\":\"JWT\"}", 26);
    buf_putc(&b, '.');
    b64u(&b, "{\"sub\":\"x\"}", 11);
    buf_putc(&b, '.');
    CHECK_INT(verify(buf_str(&b)), -1);
    CHECK_STR(err, "token algorithm \"none\" is not allowed; only HS256");
    CHECK(claims.sub == NULL);
    buf_free(&b);
}

TEST(test_jwt_alg_none_with_a_signature_is_refused)
{
    CHECK_INT(forged("{\"alg\":\"none\"}", "{}"), -1);
    CHECK_STR(err, "token algorithm \"none\" is not allowed; only HS256");
    CHECK_INT(forged("{\"alg\":\"None\"}", "{}"), -1);
    CHECK_HAS(err, "\"None\" is not allowed");
}

TEST(test_jwt_hs512_is_refused)
{
    CHECK_INT(forged("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "{}"), -1);
    CHECK_STR(err, "token algorithm \"HS512\" is not allowed; only HS256");
}

TEST(test_jwt_rs256_key_confusion_refused)
{
    /* The classic attack: claim RS256 but HMAC-sign with a key the server also knows. */
    CHECK_INT(forged("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{\"sub\":\"admin\"}"), -1);
    CHECK_STR(err, "token algorithm \"RS256\" is not allowed; only HS256");
}

TEST(test_jwt_alg_is_case_sensitive)
{
    CHECK_INT(forged("{\"alg\":\"hs256\"}", "{}"), -1);
    CHECK_HAS(err, "\"hs256\" is not allowed");
    CHECK_INT(forged("{\"ALG\":\"HS256\"}", "{}"), -1);
    CHECK_HAS(err, "has no \"alg\"");
}

TEST(test_jwt_missing_alg_refused)
{
    CHECK_INT(forged("{\"typ\":\"JWT\"}", "{}"), -1);
    CHECK_STR(err, "token header has no \"alg\"; only HS256 is allowed");
}

TEST(test_jwt_alg_of_wrong_type_refused)
{
    CHECK_INT(forged("{\"alg\":256}", "{}"), -1);
    CHECK_HAS(err, "\"alg\" must be the string \"HS256\"");
    CHECK_INT(forged("{\"alg\":[\"HS256\"]}", "{}"), -1);
    CHECK_HAS(err, "\"alg\" must be the string");
    CHECK_INT(forged("{\"alg\":null}", "{}"), -1);
    CHECK_HAS(err, "\"alg\" must be the string");
}

TEST(test_jwt_duplicate_alg_refused)
{
    CHECK_INT(forged("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}"), -1);
    CHECK_HAS(err, "more than one \"alg\"");
}

TEST(test_jwt_hostile_alg_is_quoted_safely)
{
    CHECK_INT(forged("{\"alg\":\"\\u001b[31m-a-very-long-algorithm-name-indeed\"}", "{}"), -1);
    CHECK_STR(err, "token algorithm \"?[31m-a-very-long-algori...\" is not allowed; only HS256");
}

TEST(test_jwt_typ_jwt_any_case_or_absent_accepted)
{
    CHECK_INT(forged("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "{}"), 0);
    CHECK_INT(forged("{\"alg\":\"HS256\",\"typ\":\"Jwt\"}", "{}"), 0);
    CHECK_INT(forged("{\"alg\":\"HS256\"}", "{}"), 0);
    auth_claims_free(&claims);
}

TEST(test_jwt_other_typ_refused)
{
    CHECK_INT(forged("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", "{}"), -1);
    CHECK_HAS(err, "token type must be \"JWT\"");
    CHECK_INT(forged("{\"alg\":\"HS256\",\"typ\":1}", "{}"), -1);
    CHECK_HAS(err, "token type must be \"JWT\"");
}

TEST(test_jwt_crit_header_refused)
{
    CHECK_INT(forged("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{}"), -1);
    CHECK_HAS(err, "\"crit\" parameter");
}

TEST(test_jwt_header_not_json_refused)
{
    CHECK_INT(forged("{\"alg\":\"HS256\"", "{}"), -1);
    CHECK_STR(err, "token header is not valid JSON");
}

TEST(test_jwt_header_not_object_refused)
{
    CHECK_INT(forged("[\"HS256\"]", "{}"), -1);
    CHECK_STR(err, "token header is not a JSON object");
    CHECK_INT(forged("\"HS256\"", "{}"), -1);
    CHECK_STR(err, "token header is not a JSON object");
}

/* ---- shape ------------------------------------------------------------------------------------ */

TEST(test_jwt_two_segments_refused)
{
    CHECK_INT(verify("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30"), -1);
    CHECK_STR(err, "token is not a JWT (expected 3 dot-separated parts)");
    CHECK_INT(verify("not-a-token"), -1);
    CHECK_STR(err, "token is not a JWT (expected 3 dot-separated parts)");
}

TEST(test_jwt_four_segments_refused)
{
    CHECK_INT(verify(REF_TOKEN ".abc"), -1);
    CHECK_STR(err, "token is not a JWT (expected 3 dot-separated parts)");
    CHECK_INT(verify(REF_TOKEN "."), -1);
    CHECK_STR(err, "token is not a JWT (expected 3 dot-separated parts)");
}

TEST(test_jwt_empty_segments_refused)
{
    CHECK_INT(verify(".e30.abc"), -1);
    CHECK_HAS(err, "header part is empty");
    CHECK_INT(verify("eyJhbGciOiJIUzI1NiJ9..abc"), -1);
    CHECK_HAS(err, "payload part is empty");
    CHECK_INT(verify(".."), -1);
    CHECK_HAS(err, "is not a JWT");
}

TEST(test_jwt_empty_signature_refused)
{
    CHECK_INT(verify("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30."), -1);
    CHECK_STR(err, "token has no signature");
}

TEST(test_jwt_padding_refused)
{
    CHECK_INT(verify(REF_TOKEN "="), -1);
    CHECK_STR(err, "token signature is not valid base64url");
    /* "e30" is "{}"; with padding it is still "{}", but JWT forbids padding */
    char *t = forge("{\"alg\":\"HS256\"}", "{}", SECRET);
    buf b = BUF_INIT;
    const char *d1 = strchr(t, '.');
    buf_append(&b, t, (size_t)(d1 - t));
    buf_puts(&b, "=");
    buf_puts(&b, d1);
    CHECK_INT(verify(buf_str(&b)), -1);
    CHECK_STR(err, "token header is not valid base64url");
    buf_free(&b);
    free(t);
}

TEST(test_jwt_standard_base64_alphabet_refused)
{
    CHECK_INT(verify("eyJhbGciOiJIUzI1NiJ9.e30.g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE"), -1);
    CHECK_STR(err, "token signature is not valid base64url");
    CHECK_INT(verify("eyJhbGciOiJIUzI1NiJ9+.e30.abc"), -1);
    CHECK_STR(err, "token header is not valid base64url");
    CHECK_INT(verify("eyJhbGciOiJIUzI1NiJ9 .e30.abc"), -1);
    CHECK_STR(err, "token header is not valid base64url");
}

TEST(test_jwt_payload_not_json_refused)
{
    CHECK_INT(forged("{\"alg\":\"HS256\"}", "{sub: x}"), -1);
    CHECK_STR(err, "token payload is not valid JSON");
}

TEST(test_jwt_payload_not_object_refused)
{
    CHECK_INT(forged("{\"alg\":\"HS256\"}", "[1,2]"), -1);
    CHECK_STR(err, "token payload is not a JSON object");
    CHECK_INT(forged("{\"alg\":\"HS256\"}", "42"), -1);
    CHECK_STR(err, "token payload is not a JSON object");
}

TEST(test_jwt_payload_base64url_invalid_refused)
{
    CHECK_INT(verify("eyJhbGciOiJIUzI1NiJ9.e3*.gHtjYBpelWb6EL1UIDQG48ZLtLQMzVqj8OEwzyFLFr8"), -1);
    CHECK_STR(err, "token signature does not match");  /* the signature is checked first */
}

TEST(test_jwt_too_long_refused)
{
    char *big = malloc(AUTH_TOKEN_MAX + 2);
    memset(big, 'a', AUTH_TOKEN_MAX + 1);
    big[AUTH_TOKEN_MAX + 1] = '\0';
    CHECK_INT(verify(big), -1);
    CHECK_HAS(err, "token is too long");
    free(big);
}

TEST(test_jwt_empty_token_or_secret_refused)
{
    CHECK_INT(verify(""), -1);
    CHECK_STR(err, "token is empty");
    CHECK_INT(auth_jwt_verify(REF_TOKEN, strlen(REF_TOKEN), "", NOW, &claims, err, sizeof err), -1);
    CHECK_HAS(err, "secret is not configured");
}

/* ---- signature -------------------------------------------------------------------------------- */

TEST(test_jwt_wrong_secret_refused)
{
    char *t = auth_jwt_sign("another-secret", "{}");
    CHECK_INT(verify(t), -1);
    CHECK_STR(err, "token signature does not match");
    free(t);
}

TEST(test_jwt_tampered_payload_refused)
{
    char *t = forge("{\"alg\":\"HS256\"}", "{\"topics\":[\"a\"]}", SECRET);
    char *evil = forge("{\"alg\":\"HS256\"}", "{\"topics\":[\"#\"]}", "guess");
    /* evil's header and payload with t's signature */
    buf b = BUF_INIT;
    buf_append(&b, evil, (size_t)(strrchr(evil, '.') - evil));
    buf_puts(&b, strrchr(t, '.'));
    CHECK_INT(verify(buf_str(&b)), -1);
    CHECK_STR(err, "token signature does not match");
    CHECK_INT(claims.has_topics, 0);
    buf_free(&b);
    free(t);
    free(evil);
}

TEST(test_jwt_altered_signature_refused)
{
    char t[] = REF_TOKEN;
    t[strlen(t) - 2] ^= 1;
    CHECK_INT(verify(t), -1);
    CHECK_STR(err, "token signature does not match");
}

TEST(test_jwt_truncated_or_extended_signature_refused)
{
    char t[] = REF_TOKEN;
    t[strlen(t) - 3] = '\0'; /* 40 characters: 30 bytes, well-formed but too short */
    CHECK_INT(verify(t), -1);
    CHECK_STR(err, "token signature does not match");
    t[strlen(t) - 1] = '\0'; /* 39 characters ending in stray bits: not canonical base64url */
    CHECK_INT(verify(t), -1);
    CHECK_STR(err, "token signature is not valid base64url");
    CHECK_INT(verify(REF_TOKEN "AAAA"), -1);
    CHECK_STR(err, "token signature does not match");
    CHECK_INT(verify(REF_TOKEN "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), -1);
    CHECK_STR(err, "token signature does not match");
}

/* ---- exp and nbf ------------------------------------------------------------------------------ */

TEST(test_jwt_expired_refused)
{
    CHECK_INT(signed_payload_at("{\"exp\":1700000000}", NOW + AUTH_LEEWAY_S), -1);
    CHECK_STR(err, "token has expired");
    CHECK_INT(signed_payload_at("{\"exp\":1}", NOW), -1);
    CHECK_STR(err, "token has expired");
}

TEST(test_jwt_expired_within_leeway_accepted)
{
    CHECK_INT(signed_payload_at("{\"exp\":1700000000}", NOW + AUTH_LEEWAY_S - 1), 0);
    CHECK_INT(claims.exp, 1700000000);
    auth_claims_free(&claims);
}

TEST(test_jwt_fractional_exp_accepted)
{
    CHECK_INT(signed_payload_at("{\"exp\":1700000000.75}", NOW), 0);
    CHECK_INT(claims.exp, 1700000000);
    CHECK_INT(signed_payload_at("{\"exp\":1e300}", NOW), 0);
    CHECK_INT(claims.exp, INT64_MAX);
    auth_claims_free(&claims);
}

TEST(test_jwt_non_numeric_exp_refused)
{
    CHECK_INT(signed_payload_at("{\"exp\":\"2000000000\"}", NOW), -1);
    CHECK_STR(err, "token exp claim must be a number of seconds since the epoch");
    CHECK_INT(signed_payload_at("{\"exp\":null}", NOW), -1);
    CHECK_HAS(err, "exp claim must be a number");
}

TEST(test_jwt_duplicate_exp_refused)
{
    CHECK_INT(signed_payload_at("{\"exp\":1,\"exp\":2000000000}", NOW), -1);
    CHECK_HAS(err, "more than one exp claim");
}

TEST(test_jwt_not_yet_valid_refused)
{
    CHECK_INT(signed_payload_at("{\"nbf\":1700000031}", NOW), -1);
    CHECK_STR(err, "token is not valid yet");
}

TEST(test_jwt_nbf_within_leeway_accepted)
{
    CHECK_INT(signed_payload_at("{\"nbf\":1700000030}", NOW), 0);
    CHECK_INT(claims.nbf, 1700000030);
    auth_claims_free(&claims);
}

TEST(test_jwt_non_numeric_nbf_refused)
{
    CHECK_INT(signed_payload_at("{\"nbf\":true}", NOW), -1);
    CHECK_STR(err, "token nbf claim must be a number of seconds since the epoch");
}

/* ---- sub and topics --------------------------------------------------------------------------- */

TEST(test_jwt_sub_must_be_string)
{
    CHECK_INT(signed_payload_at("{\"sub\":42}", NOW), -1);
    CHECK_STR(err, "token sub claim must be a string");
}

TEST(test_jwt_topics_must_be_array_of_strings)
{
    CHECK_INT(signed_payload_at("{\"topics\":\"orders.*\"}", NOW), -1);
    CHECK_STR(err, "token topics claim must be an array of topic patterns");
    CHECK_INT(signed_payload_at("{\"topics\":[\"orders.*\",7]}", NOW), -1);
    CHECK_STR(err, "token topics claim must be an array of topic patterns");
    CHECK_INT(signed_payload_at("{\"topics\":null}", NOW), -1);
    CHECK_STR(err, "token topics claim must be an array of topic patterns");
    CHECK_INT(claims.ntopics, 0);
    CHECK(claims.topics == NULL);
}

TEST(test_jwt_topics_with_invalid_pattern_refused)
{
    CHECK_INT(signed_payload_at("{\"topics\":[\"orders.*\",\"orders..x\"]}", NOW), -1);
    CHECK_HAS(err, "token topics claim entry 2 (\"orders..x\") is not a valid topic pattern: ");
    CHECK_INT(signed_payload_at("{\"topics\":[\"orders.cre*\"]}", NOW), -1);
    CHECK_HAS(err, "entry 1 (\"orders.cre*\") is not a valid topic pattern");
    CHECK_INT(signed_payload_at("{\"topics\":[\"\"]}", NOW), -1);
    CHECK_HAS(err, "is not a valid topic pattern");
}

TEST(test_topic_allowed_without_claim_allows_every_topic)
{
    CHECK_INT(signed_payload_at("{\"sub\":\"x\"}", NOW), 0);
    CHECK_INT(auth_topic_allowed(&claims, "orders.created"), 1);
    CHECK_INT(auth_topic_allowed(&claims, "anything"), 1);
    auth_claims_free(&claims);
}

TEST(test_topic_allowed_follows_patterns)
{
    CHECK_INT(signed_payload_at("{\"topics\":[\"orders.*\",\"billing.#\"]}", NOW), 0);
    CHECK_INT(claims.ntopics, 2);
    CHECK_INT(auth_topic_allowed(&claims, "orders.created"), 1);
    CHECK_INT(auth_topic_allowed(&claims, "orders.created.eu"), 0);
    CHECK_INT(auth_topic_allowed(&claims, "billing"), 1);
    CHECK_INT(auth_topic_allowed(&claims, "billing.invoice.paid"), 1);
    CHECK_INT(auth_topic_allowed(&claims, "users.created"), 0);
    auth_claims_free(&claims);
}

TEST(test_topic_allowed_with_empty_claim_allows_nothing)
{
    CHECK_INT(signed_payload_at("{\"topics\":[]}", NOW), 0);
    CHECK_INT(claims.has_topics, 1);
    CHECK_INT(auth_topic_allowed(&claims, "orders.created"), 0);
    auth_claims_free(&claims);
}

/* ---- Authorization header and admin token ----------------------------------------------------- */

TEST(test_bearer_scheme_is_case_insensitive)
{
    size_t n = 0;
    const char *p = auth_bearer("bearer abc.def.ghi", &n);
    CHECK(p && n == 11 && strncmp(p, "abc.def.ghi", n) == 0);
    p = auth_bearer("BEARER xyz", &n);
    CHECK(p && n == 3 && strncmp(p, "xyz", 3) == 0);
}

TEST(test_bearer_allows_several_spaces_and_trims_trailing)
{
    size_t n = 0;
    const char *p = auth_bearer("Bearer    tok  ", &n);
    CHECK(p && n == 3 && strncmp(p, "tok", 3) == 0);
}

TEST(test_bearer_refuses_other_schemes_and_empty)
{
    size_t n = 0;
    CHECK(auth_bearer("Basic dXNlcjpwYXNz", &n) == NULL);
    CHECK(auth_bearer("Bearer", &n) == NULL);
    CHECK(auth_bearer("Bearer    ", &n) == NULL);
    CHECK(auth_bearer("Bearerabc", &n) == NULL);
    CHECK(auth_bearer("Bear abc", &n) == NULL);
    CHECK(auth_bearer("", &n) == NULL);
    CHECK(auth_bearer(NULL, &n) == NULL);
}

TEST(test_admin_ok_accepts_exact_token)
{
    CHECK_INT(auth_admin_ok("adm-123", 7, "adm-123"), 1);
}

TEST(test_admin_ok_refuses_different_prefix_or_longer)
{
    CHECK_INT(auth_admin_ok("adm-124", 7, "adm-123"), 0);
    CHECK_INT(auth_admin_ok("adm-12", 6, "adm-123"), 0);
    CHECK_INT(auth_admin_ok("adm-1234", 8, "adm-123"), 0);
    CHECK_INT(auth_admin_ok("", 0, "adm-123"), 0);
    CHECK_INT(auth_admin_ok(NULL, 0, "adm-123"), 0);
}

TEST(test_admin_ok_refuses_when_not_configured)
{
    CHECK_INT(auth_admin_ok("", 0, ""), 0);
    CHECK_INT(auth_admin_ok("x", 1, NULL), 0);
}

TEST(test_admin_ok_refuses_publisher_token)
{
    CHECK_INT(auth_admin_ok(REF_TOKEN, strlen(REF_TOKEN), SECRET), 0);
}

CHECK_MAIN
