/* Unit tests of the C SDK without a hub: webhook verification (the Standard Webhooks spec vector
 * included), HMAC and base64, token signing and the client's token cache, argument checks, and the
 * errors for a hub that cannot be reached or does not answer (local sockets only). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include "check.h"
#include "syc_internal.h"

#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS "1614265330"
#define SPEC_NOW 1614265330L
#define SPEC_BODY "{\"test\": 2432232314}"
#define SPEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* The spec's id and timestamp with the given secret, signature header and body; tolerance 300 s. */
static int verify(const char *secret, const char *sig, const char *body, long now, char *err)
{
    return syc_verify_webhook(secret, SPEC_ID, SPEC_TS, sig, body, strlen(body), 300, now, err, 200);
}

/* The spec's secret with every header given; err holds 200 bytes (or is NULL). */
static int verify_headers(const char *id, const char *ts, const char *sig, const char *body, size_t len,
                          long tolerance_s, long now, char *err)
{
    return syc_verify_webhook(SPEC_SECRET, id, ts, sig, body, len, tolerance_s, now, err, err ? 200 : 0);
}

/* ---- webhook verification -------------------------------------------------------------------- */

TEST(test_verify_accepts_the_standard_webhooks_spec_vector)
{
    char err[200] = "untouched";
    CHECK_INT(verify(SPEC_SECRET, SPEC_SIG, SPEC_BODY, SPEC_NOW, err), 0);
    CHECK_STR(err, "");
}

TEST(test_verify_accepts_a_secret_without_the_whsec_prefix)
{
    CHECK_INT(verify("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SPEC_SIG, SPEC_BODY, SPEC_NOW, NULL), 0);
}

TEST(test_verify_rejects_a_tampered_body)
{
    char err[200];
    CHECK_INT(verify(SPEC_SECRET, SPEC_SIG, "{\"test\": 2432232315}", SPEC_NOW, err), -1);
    CHECK_HAS(err, "no v1 signature");
    CHECK_INT(verify(SPEC_SECRET, SPEC_SIG, SPEC_BODY " ", SPEC_NOW, err), -1);
}

TEST(test_verify_rejects_a_changed_id_or_timestamp)
{
    char err[200];
    const char *b = SPEC_BODY;
    CHECK_INT(verify_headers("msg_other", SPEC_TS, SPEC_SIG, b, strlen(b), 300, SPEC_NOW, err), -1);
    CHECK_INT(verify_headers(SPEC_ID, "1614265331", SPEC_SIG, b, strlen(b), 300, SPEC_NOW, err), -1);
    CHECK_HAS(err, "matches");
}

TEST(test_verify_rejects_another_secret)
{
    char err[200];
    CHECK_INT(verify("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", SPEC_SIG, SPEC_BODY, SPEC_NOW, err), -1);
    CHECK_HAS(err, "no v1 signature in webhook-signature matches");
}

TEST(test_verify_accepts_any_one_of_several_signatures)
{
    const char *sigs = "v1,bm90IHRoaXMgb25lIG5vdCB0aGlzIG9uZSBub3QgdGg= " SPEC_SIG " v1,AAAA";
    CHECK_INT(verify(SPEC_SECRET, sigs, SPEC_BODY, SPEC_NOW, NULL), 0);
    CHECK_INT(verify(SPEC_SECRET, "  " SPEC_SIG "  ", SPEC_BODY, SPEC_NOW, NULL), 0);
}

TEST(test_verify_ignores_signatures_of_other_versions)
{
    char err[200];
    CHECK_INT(verify(SPEC_SECRET, "v1a" SPEC_SIG + 2, SPEC_BODY, SPEC_NOW, err), -1);
    CHECK_HAS(err, "no v1 signature");
    CHECK_INT(verify(SPEC_SECRET, "v2,abc " SPEC_SIG, SPEC_BODY, SPEC_NOW, NULL), 0);
}

TEST(test_verify_rejects_a_signature_that_is_only_a_prefix_of_the_right_one)
{
    char cut[64];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(SPEC_SIG) - 1, SPEC_SIG);   /* without its '=' */
    CHECK_INT(verify(SPEC_SECRET, cut, SPEC_BODY, SPEC_NOW, NULL), -1);
    CHECK_INT(verify(SPEC_SECRET, "v1,", SPEC_BODY, SPEC_NOW, NULL), -1);
}

TEST(test_verify_honours_the_tolerance_both_ways)
{
    char err[200];
    CHECK_INT(verify(SPEC_SECRET, SPEC_SIG, SPEC_BODY, SPEC_NOW + 300, NULL), 0);
    CHECK_INT(verify(SPEC_SECRET, SPEC_SIG, SPEC_BODY, SPEC_NOW - 300, NULL), 0);
    CHECK_INT(verify(SPEC_SECRET, SPEC_SIG, SPEC_BODY, SPEC_NOW + 301, err), -1);
    CHECK_HAS(err, "301 s old");
    CHECK_INT(verify(SPEC_SECRET, SPEC_SIG, SPEC_BODY, SPEC_NOW - 301, err), -1);
    CHECK_HAS(err, "301 s in the future");
}

TEST(test_verify_default_tolerance_is_five_minutes_and_now_defaults_to_the_clock)
{
    const char *b = SPEC_BODY;
    CHECK_INT(verify_headers(SPEC_ID, SPEC_TS, SPEC_SIG, b, strlen(b), 0, SPEC_NOW + 300, NULL), 0);
    CHECK_INT(verify_headers(SPEC_ID, SPEC_TS, SPEC_SIG, b, strlen(b), 0, SPEC_NOW + 301, NULL), -1);
    char err[200];
    CHECK_INT(verify_headers(SPEC_ID, SPEC_TS, SPEC_SIG, b, strlen(b), 300, 0, err), -1);
    CHECK_HAS(err, "s old");   /* the 2021 timestamp is years behind time(NULL) */
}

TEST(test_verify_rejects_a_timestamp_that_is_not_seconds)
{
    char err[200];
    const char *b = SPEC_BODY;
    const char *bad[] = {"-1614265330", "1614265330.5", " 1614265330", "16142x5330", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(verify_headers(SPEC_ID, bad[i], SPEC_SIG, b, strlen(b), 300, SPEC_NOW, err), -1);
        CHECK_HAS(err, "is not a number of seconds");
    }
}

TEST(test_verify_names_the_missing_header)
{
    char err[200];
    const char *b = SPEC_BODY;
    CHECK_INT(verify_headers(NULL, SPEC_TS, SPEC_SIG, b, 1, 0, SPEC_NOW, err), -1);
    CHECK_HAS(err, "webhook-id header is missing");
    CHECK_INT(verify_headers(SPEC_ID, "", SPEC_SIG, b, 1, 0, SPEC_NOW, err), -1);
    CHECK_HAS(err, "webhook-timestamp header is missing");
    CHECK_INT(verify_headers(SPEC_ID, SPEC_TS, NULL, b, 1, 0, SPEC_NOW, err), -1);
    CHECK_HAS(err, "webhook-signature header is missing");
    CHECK_INT(syc_verify_webhook("", SPEC_ID, SPEC_TS, SPEC_SIG, b, 1, 0, SPEC_NOW, err, sizeof err), -1);
    CHECK_HAS(err, "secret is empty");
    CHECK_INT(verify_headers(SPEC_ID, SPEC_TS, SPEC_SIG, NULL, 4, 0, SPEC_NOW, err), -1);
    CHECK_HAS(err, "body is NULL");
}

TEST(test_verify_rejects_a_secret_that_is_not_base64)
{
    char err[200];
    CHECK_INT(verify("whsec_not*base64!", SPEC_SIG, SPEC_BODY, SPEC_NOW, err), -1);
    CHECK_HAS(err, "not \"whsec_\" followed by base64");
    CHECK_INT(verify("whsec_", SPEC_SIG, SPEC_BODY, SPEC_NOW, err), -1);
}

TEST(test_verify_accepts_an_empty_body_signed_as_such)
{
    unsigned char key[64], mac[SYC_SHA256_LEN];
    char sig[64] = "v1,";
    long keylen = syc__b64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 32, key);
    syc_piece msg[] = {{SPEC_ID "." SPEC_TS ".", strlen(SPEC_ID "." SPEC_TS ".")}};
    CHECK_INT(syc__hmac_sha256(key, (size_t)keylen, msg, 1, mac), 0);
    syc__b64_encode(mac, sizeof mac, 0, sig + 3);
    CHECK_INT(verify_headers(SPEC_ID, SPEC_TS, sig, NULL, 0, 300, SPEC_NOW, NULL), 0);
}

TEST(test_verify_truncates_the_reason_to_errlen)
{
    char err[8];
    memset(err, 'x', sizeof err);
    CHECK_INT(verify(SPEC_SECRET, SPEC_SIG, "tampered", SPEC_NOW, NULL), -1);
    CHECK_INT(syc_verify_webhook(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_SIG, "x", 1, 300, SPEC_NOW, err,
                                 sizeof err), -1);
    CHECK_INT(strlen(err), 7);
}

/* ---- HMAC and base64 ------------------------------------------------------------------------- */

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

TEST(test_hmac_sha256_matches_rfc4231_vectors)
{
    unsigned char key[131], mac[SYC_SHA256_LEN];
    char got[65];
    memset(key, 0x0b, 20);
    syc_piece hi[] = {{"Hi ", 3}, {NULL, 0}, {"There", 5}};
    CHECK_INT(syc__hmac_sha256(key, 20, hi, 3, mac), 0);
    hex(mac, sizeof mac, got);
    CHECK_STR(got, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    memset(key, 0xaa, sizeof key);   /* longer than a block: hashed first */
    const char *m = "Test Using Larger Than Block-Size Key - Hash Key First";
    syc_piece big[] = {{m, strlen(m)}};
    CHECK_INT(syc__hmac_sha256(key, sizeof key, big, 1, mac), 0);
    hex(mac, sizeof mac, got);
    CHECK_STR(got, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(test_base64_encodes_both_alphabets)
{
    char out[16];
    const unsigned char bytes[] = {0xfb, 0xff, 0xfe};
    syc__b64_encode(bytes, 3, 0, out);
    CHECK_STR(out, "+//+");
    syc__b64_encode(bytes, 3, 1, out);
    CHECK_STR(out, "-__-");
    syc__b64_encode("ab", 2, 0, out);
    CHECK_STR(out, "YWI=");
    syc__b64_encode("ab", 2, 1, out);
    CHECK_STR(out, "YWI");
    syc__b64_encode("a", 1, 0, out);
    CHECK_STR(out, "YQ==");
    CHECK_INT(syc__b64_len(1, 0), 4);
    CHECK_INT(syc__b64_len(1, 1), 2);
    CHECK_INT(syc__b64_len(32, 0), 44);
}

TEST(test_base64_decode_checks_alphabet_and_padding)
{
    unsigned char out[16];
    CHECK_INT(syc__b64_decode("YWI=", 4, out), 2);
    CHECK(memcmp(out, "ab", 2) == 0);
    CHECK_INT(syc__b64_decode("YWI", 3, out), 2);
    CHECK_INT(syc__b64_decode("YQ==", 4, out), 1);
    CHECK_INT(syc__b64_decode("", 0, out), 0);
    CHECK_INT(syc__b64_decode("YQ=", 3, out), -1);    /* padding that does not complete a group */
    CHECK_INT(syc__b64_decode("Y===", 4, out), -1);
    CHECK_INT(syc__b64_decode("YWJj\n", 5, out), -1);
    CHECK_INT(syc__b64_decode("-__-", 4, out), -1);   /* the url alphabet is not base64 */
    CHECK_INT(syc__b64_decode("Y", 1, out), -1);
}

TEST(test_constant_time_equal_compares_lengths_too)
{
    CHECK(syc__ct_equal("abc", 3, "abc", 3));
    CHECK(!syc__ct_equal("abc", 3, "abd", 3));
    CHECK(!syc__ct_equal("abc", 3, "abcd", 4));
    CHECK(syc__ct_equal("", 0, "", 0));
}

/* ---- tokens ---------------------------------------------------------------------------------- */

/* The payload of a JWT, parsed. */
static cJSON *claims_of(const char *token)
{
    const char *a = strchr(token, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    if (!b)
        return NULL;
    char std[1024] = {0}, json[1024] = {0};
    size_t n = (size_t)(b - a - 1);
    if (n + 4 > sizeof std)
        return NULL;
    for (size_t i = 0; i < n; i++)
        std[i] = a[1 + i] == '-' ? '+' : a[1 + i] == '_' ? '/' : a[1 + i];
    long len = syc__b64_decode(std, n, (unsigned char *)json);
    return len > 0 ? cJSON_Parse(json) : NULL;
}

TEST(test_sign_token_matches_a_token_made_by_python)
{
    char *t = syc__mint_token("sekrit", "orders.*, payments.#", 300, 1700000000);
    CHECK_STR(t, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                 "eyJzdWIiOiJzd2l0Y2h5YXJkLWMiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDMwMCwidG9waWNzIjpb"
                 "Im9yZGVycy4qIiwicGF5bWVudHMuIyJdfQ."
                 "WzUwbEA-es3HKZJb3JBdchq_Be6wOUOxHnSPB20Uzdg");
    syc_free(t);
}

TEST(test_sign_token_expires_ttl_seconds_from_now)
{
    long before = (long)time(NULL);
    char *t = syc_sign_token("sekrit", NULL, 60);
    cJSON *c = claims_of(t);
    CHECK(c != NULL);
    double iat = cJSON_GetNumberValue(cJSON_GetObjectItem(c, "iat"));
    double exp = cJSON_GetNumberValue(cJSON_GetObjectItem(c, "exp"));
    CHECK(iat >= before && iat <= before + 5);
    CHECK_INT((long)(exp - iat), 60);
    CHECK(cJSON_GetObjectItem(c, "topics") == NULL);   /* NULL topics: no claim, any topic */
    cJSON_Delete(c);
    syc_free(t);
}

TEST(test_sign_token_without_ttl_never_expires)
{
    char *t = syc_sign_token("sekrit", NULL, 0);
    cJSON *c = claims_of(t);
    CHECK(c && !cJSON_GetObjectItem(c, "exp") && cJSON_GetObjectItem(c, "iat"));
    cJSON_Delete(c);
    syc_free(t);
}

TEST(test_sign_token_topics_skip_blanks_and_empty_entries)
{
    char *t = syc_sign_token("sekrit", " a.* ,, b.#,\t", 10);
    cJSON *c = claims_of(t);
    char *topics = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "topics"));
    CHECK_STR(topics, "[\"a.*\",\"b.#\"]");
    cJSON_free(topics);
    cJSON_Delete(c);
    syc_free(t);

    t = syc_sign_token("sekrit", "", 10);   /* an empty list: allows no topic */
    c = claims_of(t);
    topics = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "topics"));
    CHECK_STR(topics, "[]");
    cJSON_free(topics);
    cJSON_Delete(c);
    syc_free(t);
}

TEST(test_sign_token_refuses_an_empty_secret)
{
    CHECK(syc_sign_token(NULL, NULL, 10) == NULL);
    CHECK(syc_sign_token("", NULL, 10) == NULL);
}

/* ---- the client's token cache ---------------------------------------------------------------- */

TEST(test_client_reuses_its_minted_token_until_a_quarter_of_its_life_is_left)
{
    syc_client *c = syc_client_new("http://127.0.0.1:1");
    CHECK_INT(syc_set_jwt_secret(c, "sekrit", "orders.*", 400), 0);
    char *first = strdup(syc__publisher_token(c, 1000));
    CHECK_STR(syc__publisher_token(c, 1299), first);   /* 400 s life, re-minted 60 s before the end */
    const char *later = syc__publisher_token(c, 1340);
    CHECK(later && strcmp(later, first) != 0);
    cJSON *claims = claims_of(later);
    CHECK_INT((long)cJSON_GetNumberValue(cJSON_GetObjectItem(claims, "iat")), 1340);
    CHECK_INT((long)cJSON_GetNumberValue(cJSON_GetObjectItem(claims, "exp")), 1740);
    cJSON_Delete(claims);
    free(first);
    syc_client_free(c);
}

TEST(test_client_remints_short_lived_tokens_a_quarter_before_expiry)
{
    syc_client *c = syc_client_new("http://127.0.0.1:1");
    syc_set_jwt_secret(c, "sekrit", NULL, 20);
    char *first = strdup(syc__publisher_token(c, 1000));
    CHECK_STR(syc__publisher_token(c, 1014), first);
    char *second = strdup(syc__publisher_token(c, 1015));
    CHECK(strcmp(second, first) != 0);
    CHECK(strcmp(syc__publisher_token(c, 999), second) != 0);   /* the clock went back: minted anew */
    free(first);
    free(second);
    syc_client_free(c);
}

TEST(test_client_default_token_lifetime_is_five_minutes)
{
    syc_client *c = syc_client_new("http://127.0.0.1:1");
    syc_set_jwt_secret(c, "sekrit", NULL, 0);
    cJSON *claims = claims_of(syc__publisher_token(c, 1000));
    CHECK_INT((long)cJSON_GetNumberValue(cJSON_GetObjectItem(claims, "exp")), 1000 + SYC_DEFAULT_TOKEN_TTL_S);
    cJSON_Delete(claims);
    syc_client_free(c);
}

TEST(test_set_token_and_set_jwt_secret_replace_each_other)
{
    syc_client *c = syc_client_new("http://127.0.0.1:1");
    CHECK(syc__publisher_token(c, 1000) == NULL);
    syc_set_jwt_secret(c, "sekrit", NULL, 60);
    syc_set_token(c, "fixed.token.value");
    CHECK_STR(syc__publisher_token(c, 1000), "fixed.token.value");
    syc_set_jwt_secret(c, "sekrit", NULL, 60);
    CHECK(strcmp(syc__publisher_token(c, 1000), "fixed.token.value") != 0);
    syc_set_jwt_secret(c, NULL, NULL, 0);
    CHECK(syc__publisher_token(c, 1000) == NULL);
    CHECK_INT(syc_set_token(c, "bad\r\nX-Injected: 1"), -1);
    CHECK_STR(syc_error_code(c), "invalid_argument");
    syc_client_free(c);
}

/* ---- client argument checks and errors ------------------------------------------------------- */

TEST(test_client_with_a_bad_url_fails_every_call_with_invalid_argument)
{
    syc_client *c = syc_client_new("ftp://example.com");
    CHECK(c != NULL);
    CHECK_STR(syc_error_code(c), "invalid_argument");
    CHECK_HAS(syc_error(c), "ftp://example.com");
    CHECK_INT(syc_publish(c, "a.b", "{}", NULL, NULL, 0), -1);
    CHECK_STR(syc_error_code(c), "invalid_argument");
    char *out = (char *)"sentinel";
    CHECK_INT(syc_subscriber_list(c, NULL, &out), -1);
    CHECK(out == NULL);
    syc_client_free(c);

    c = syc_client_new(NULL);
    CHECK_STR(syc_error_code(c), "invalid_argument");
    syc_client_free(c);
}

TEST(test_null_client_reads_as_an_error)
{
    CHECK_INT(syc_status(NULL), 0);
    CHECK_STR(syc_error_code(NULL), "invalid_argument");
    CHECK_HAS(syc_error(NULL), "NULL");
    CHECK_INT(syc_publish(NULL, "a", "{}", NULL, NULL, 0), -1);
    syc_client_free(NULL);
    syc_free(NULL);
}

TEST(test_publish_checks_data_before_sending)
{
    syc_client *c = syc_client_new("http://127.0.0.1:1");
    CHECK_INT(syc_publish(c, "a.b", "{\"x\": ", NULL, NULL, 0), -1);
    CHECK_STR(syc_error_code(c), "invalid_argument");
    CHECK_HAS(syc_error(c), "data_json is not valid JSON");
    CHECK_INT(syc_status(c), 0);
    CHECK_INT(syc_publish(c, "a.b", "[1, 2]", NULL, NULL, 0), -1);
    CHECK_HAS(syc_error(c), "must be a JSON object");
    CHECK_INT(syc_publish(c, "a.b", "{} {}", NULL, NULL, 0), -1);
    CHECK_INT(syc_publish(c, "", "{}", NULL, NULL, 0), -1);
    CHECK_HAS(syc_error(c), "topic is empty");
    syc_client_free(c);
}

TEST(test_publish_refuses_an_event_id_buffer_too_small_for_any_id)
{
    syc_client *c = syc_client_new("http://127.0.0.1:1");
    char id[64];
    CHECK_INT(syc_publish(c, "a.b", "{}", NULL, id, sizeof id), -1);
    CHECK_STR(syc_error_code(c), "invalid_argument");
    CHECK_HAS(syc_error(c), "SYC_EVENT_ID_MAX");
    syc_client_free(c);
}

TEST(test_publish_refuses_an_idempotency_key_that_cannot_be_a_header)
{
    syc_client *c = syc_client_new("http://127.0.0.1:1");
    syc_publish_opts o = {.idempotency_key = "k\r\nX-Evil: 1"};
    CHECK_INT(syc_publish(c, "a.b", "{}", &o, NULL, 0), -1);
    CHECK_HAS(syc_error(c), "control character");
    syc_client_free(c);
}

TEST(test_setters_refuse_negative_values)
{
    syc_client *c = syc_client_new("http://127.0.0.1:1");
    CHECK_INT(syc_set_retries(c, -1), -1);
    CHECK_INT(syc_set_timeout_ms(c, -5), -1);
    CHECK_STR(syc_error_code(c), "invalid_argument");
    CHECK_INT(syc_set_retries(c, 0), 0);
    syc_client_free(c);
}

TEST(test_admin_calls_refuse_empty_names)
{
    syc_client *c = syc_client_new("http://127.0.0.1:1");
    CHECK_INT(syc_subscriber_get(c, "", NULL), -1);
    CHECK_HAS(syc_error(c), "subscriber id or name is empty");
    CHECK_INT(syc_dead_replay(c, NULL), -1);
    CHECK_HAS(syc_error(c), "job id is empty");
    CHECK_INT(syc_request(c, "get", "/v1/x", NULL, NULL), -1);
    CHECK_INT(syc_request(c, "GET", "v1/x", NULL, NULL), -1);
    syc_client_free(c);
}

/* A TCP port on 127.0.0.1: bound, and listening (connections wait, unanswered) or not (refused). */
static int local_port(int listening, int *fd_out)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    *fd_out = -1;
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0 || (listening && listen(fd, 8) != 0)) {
        close(fd);
        return -1;
    }
    *fd_out = fd;
    return ntohs(a.sin_port);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

TEST(test_unreachable_hub_is_a_network_error_naming_the_url)
{
    int fd;
    int port = local_port(0, &fd);
    CHECK(port > 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    syc_client *c = syc_client_new(url);
    syc_set_retries(c, 0);
    CHECK_INT(syc_publish(c, "a.b", "{}", NULL, NULL, 0), -1);
    CHECK_STR(syc_error_code(c), "network");
    CHECK_INT(syc_status(c), 0);
    CHECK_HAS(syc_error(c), url);
    CHECK_HAS(syc_error(c), "/v1/publish");
    char *out = (char *)"sentinel";
    CHECK_INT(syc_subscriber_get(c, "a b/c", &out), -1);
    CHECK(out == NULL);
    CHECK_HAS(syc_error(c), "/v1/subscribers/a%20b%2Fc");
    syc_client_free(c);
    if (fd >= 0)
        close(fd);
}

TEST(test_publish_retries_connection_errors_with_backoff)
{
    int fd;
    int port = local_port(0, &fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    syc_client *c = syc_client_new(url);
    syc_set_retries(c, 2);
    double t0 = now_s();
    CHECK_INT(syc_publish(c, "a.b", "{}", NULL, NULL, 0), -1);
    double took = now_s() - t0;
    CHECK_STR(syc_error_code(c), "network");
    CHECK(took >= 0.150);   /* at least 50 + 100 ms of backoff */
    CHECK(took < 3.0);
    syc_client_free(c);
    if (fd >= 0)
        close(fd);
}

TEST(test_silent_hub_times_out_with_a_network_error)
{
    int fd;
    int port = local_port(1, &fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    syc_client *c = syc_client_new(url);
    syc_set_retries(c, 0);
    syc_set_timeout_ms(c, 200);
    double t0 = now_s();
    CHECK_INT(syc_event_get(c, "evt_1", NULL), -1);
    CHECK(now_s() - t0 < 2.0);
    CHECK_STR(syc_error_code(c), "network");
    CHECK_HAS(syc_error(c), "within 200 ms");
    CHECK_HAS(syc_error(c), "/v1/events/evt_1");
    syc_client_free(c);
    if (fd >= 0)
        close(fd);
}

CHECK_MAIN
