/* sign: Standard Webhooks signatures, checked against the specification's test vector. */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "check.h"
#include "codec.h"
#include "sign.h"

/* The Standard Webhooks spec vector; the expected signature was recomputed independently with
 * python3 (hmac, hashlib.sha256, base64) before being written here. */
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define TS 1614265330
#define TS_STR "1614265330"
#define BODY "{\"test\": 2432232314}"
#define SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define TOL 300

static char err[256];

static int verify(const char *secret, const char *body, const char *hdr, int64_t now)
{
    err[0] = '\0';
    return sign_verify(secret, MSG_ID, TS_STR, body, strlen(body), hdr, now, TOL, err, sizeof err);
}

TEST(test_sign_matches_standard_webhooks_vector)
{
    char out[SIGN_SIG_MAX];
    CHECK_INT(sign_webhook(SECRET, MSG_ID, TS, BODY, strlen(BODY), out), 0);
    CHECK_STR(out, SIG);
}

/* Keys of every length class (shorter than, equal to and longer than SHA-256's 64-byte block, which
 * is hashed first) against OpenSSL's own HMAC. */
TEST(test_sign_matches_openssl_hmac_for_short_block_and_long_keys)
{
    size_t lens[] = {1, 24, 63, 64, 65, 131};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        unsigned char key[200], mac[32];
        for (size_t k = 0; k < lens[i]; k++)
            key[k] = (unsigned char)(0xa0 + k * 7);
        char secret[300] = "whsec_", want[SIGN_SIG_MAX] = "v1,", got[SIGN_SIG_MAX];
        codec_b64_encode(key, lens[i], secret + 6, 0);
        const char *msg = MSG_ID "." TS_STR "." BODY;
        unsigned int n = 0;
        CHECK(HMAC(EVP_sha256(), key, (int)lens[i], (const unsigned char *)msg, strlen(msg), mac,
                   &n) != NULL);
        codec_b64_encode(mac, n, want + 3, 0);
        CHECK_INT(sign_webhook(secret, MSG_ID, TS, BODY, strlen(BODY), got), 0);
        CHECK_STR(got, want);
    }
}

TEST(test_sign_accepts_secret_without_whsec_prefix)
{
    char out[SIGN_SIG_MAX];
    CHECK_INT(sign_webhook("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", MSG_ID, TS, BODY, strlen(BODY), out), 0);
    CHECK_STR(out, SIG);
}

TEST(test_sign_refuses_secret_that_is_not_base64)
{
    char out[SIGN_SIG_MAX] = "x";
    CHECK_INT(sign_webhook("whsec_not base64!", MSG_ID, TS, BODY, strlen(BODY), out), -1);
    CHECK_STR(out, "");
    CHECK_INT(sign_webhook("whsec_", MSG_ID, TS, BODY, strlen(BODY), out), -1);
    CHECK_INT(sign_webhook("", MSG_ID, TS, BODY, strlen(BODY), out), -1);
}

TEST(test_sign_empty_body_is_signed)
{
    char out[SIGN_SIG_MAX];
    CHECK_INT(sign_webhook(SECRET, MSG_ID, TS, "", 0, out), 0);
    CHECK_INT(strlen(out), 3 + 44);
    CHECK_INT(verify(SECRET, "", out, TS), 0);
}

TEST(test_verify_accepts_spec_vector)
{
    CHECK_INT(verify(SECRET, BODY, SIG, TS), 0);
}

TEST(test_verify_refuses_tampered_body)
{
    CHECK_INT(verify(SECRET, "{\"test\": 2432232315}", SIG, TS), -1);
    CHECK_HAS(err, "signature does not match");
}

TEST(test_verify_refuses_changed_id)
{
    err[0] = '\0';
    CHECK_INT(sign_verify(SECRET, "msg_other", TS_STR, BODY, strlen(BODY), SIG, TS, TOL, err, sizeof err),
              -1);
    CHECK_HAS(err, "signature does not match");
}

TEST(test_verify_refuses_wrong_secret)
{
    CHECK_INT(verify("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", BODY, SIG, TS), -1);
    CHECK_HAS(err, "signature does not match");
}

TEST(test_verify_refuses_old_timestamp)
{
    CHECK_INT(verify(SECRET, BODY, SIG, TS + TOL + 1), -1);
    CHECK_HAS(err, "too old");
    CHECK_INT(verify(SECRET, BODY, SIG, TS + TOL), 0);
}

TEST(test_verify_refuses_future_timestamp)
{
    CHECK_INT(verify(SECRET, BODY, SIG, TS - TOL - 1), -1);
    CHECK_HAS(err, "too far in the future");
    CHECK_INT(verify(SECRET, BODY, SIG, TS - TOL), 0);
}

TEST(test_verify_timestamp_far_from_now_does_not_overflow)
{
    CHECK_INT(verify(SECRET, BODY, SIG, INT64_MIN), -1);
    CHECK_HAS(err, "too far in the future");
    CHECK_INT(verify(SECRET, BODY, SIG, INT64_MAX), -1);
    CHECK_HAS(err, "too old");
}

TEST(test_verify_refuses_non_numeric_timestamp)
{
    err[0] = '\0';
    CHECK_INT(sign_verify(SECRET, MSG_ID, "16142x5330", BODY, strlen(BODY), SIG, TS, TOL, err, sizeof err),
              -1);
    CHECK_HAS(err, "webhook-timestamp \"16142x5330\" is not a number");
    CHECK_INT(sign_verify(SECRET, MSG_ID, "-1", BODY, strlen(BODY), SIG, TS, TOL, err, sizeof err), -1);
    CHECK_HAS(err, "is not a number");
    CHECK_INT(sign_verify(SECRET, MSG_ID, "1234567890123456789012", BODY, strlen(BODY), SIG, TS, TOL, err,
                          sizeof err),
              -1);
    CHECK_HAS(err, "is not a number");
}

TEST(test_verify_accepts_any_one_of_several_signatures)
{
    CHECK_INT(verify(SECRET, BODY, "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " SIG, TS), 0);
    CHECK_INT(verify(SECRET, BODY, SIG " v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", TS), 0);
    CHECK_INT(verify(SECRET, BODY, "  " SIG "  ", TS), 0);
}

TEST(test_verify_ignores_non_v1_entries)
{
    CHECK_INT(verify(SECRET, BODY, "v2,xyz v1a,abc " SIG, TS), 0);
    /* the right bytes under another version label do not count */
    CHECK_INT(verify(SECRET, BODY, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", TS), -1);
    CHECK_HAS(err, "no v1 signature");
}

TEST(test_verify_refuses_header_without_v1_entry)
{
    CHECK_INT(verify(SECRET, BODY, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", TS), -1);
    CHECK_HAS(err, "no v1 signature");
    CHECK_INT(verify(SECRET, BODY, "v1,", TS), -1);
    CHECK_HAS(err, "no v1 signature");
}

TEST(test_verify_refuses_v1_entry_that_is_not_a_mac)
{
    CHECK_INT(verify(SECRET, BODY, "v1,not*base64", TS), -1);
    CHECK_HAS(err, "not base64 of a 32-byte HMAC");
    CHECK_INT(verify(SECRET, BODY, "v1,AAAA", TS), -1);
    CHECK_HAS(err, "not base64 of a 32-byte HMAC");
}

TEST(test_verify_refuses_truncated_signature)
{
    CHECK_INT(verify(SECRET, BODY, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O", TS), -1);
    CHECK_HAS(err, "not base64 of a 32-byte HMAC");
}

TEST(test_verify_reports_missing_headers)
{
    err[0] = '\0';
    CHECK_INT(sign_verify(SECRET, "", TS_STR, BODY, strlen(BODY), SIG, TS, TOL, err, sizeof err), -1);
    CHECK_HAS(err, "webhook-id header is missing");
    CHECK_INT(sign_verify(SECRET, MSG_ID, NULL, BODY, strlen(BODY), SIG, TS, TOL, err, sizeof err), -1);
    CHECK_HAS(err, "webhook-timestamp header is missing");
    CHECK_INT(sign_verify(SECRET, MSG_ID, TS_STR, BODY, strlen(BODY), "", TS, TOL, err, sizeof err), -1);
    CHECK_HAS(err, "webhook-signature header is missing");
}

TEST(test_verify_reports_bad_secret)
{
    CHECK_INT(verify("whsec_***", BODY, SIG, TS), -1);
    CHECK_HAS(err, "webhook secret is not valid base64");
}

TEST(test_verify_tolerates_null_error_buffer)
{
    CHECK_INT(sign_verify(SECRET, MSG_ID, TS_STR, BODY, strlen(BODY), "v1,x", TS, TOL, NULL, 0), -1);
}

TEST(test_new_secret_is_whsec_and_usable)
{
    char a[64], b[64], sig[SIGN_SIG_MAX];
    CHECK_INT(sign_new_secret(a), 0);
    CHECK_INT(sign_new_secret(b), 0);
    CHECK(strncmp(a, "whsec_", 6) == 0);
    CHECK_INT(strlen(a), 6 + 32);
    CHECK(strcmp(a, b) != 0);
    CHECK_INT(sign_webhook(a, MSG_ID, TS, BODY, strlen(BODY), sig), 0);
    CHECK_INT(verify(a, BODY, sig, TS), 0);
    CHECK_INT(verify(b, BODY, sig, TS), -1);
}

CHECK_MAIN
