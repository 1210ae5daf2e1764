/* codec: base64 (std and url), percent-encoding, RFC 3339, random ids. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "codec.h"

/* Decodes s (NUL-terminated) into out; returns the codec result and the length through *n. */
static int dec(const char *s, unsigned char *out, size_t *n, int url)
{
    return codec_b64_decode(s, strlen(s), out, n, url);
}

static const char *enc(const char *s, int url, char out[128])
{
    codec_b64_encode(s, strlen(s), out, url);
    return out;
}

static int64_t parse_or(const char *s, int64_t fallback)
{
    int64_t ms;
    return codec_time_parse(s, &ms) == 0 ? ms : fallback;
}

#define BAD INT64_MIN

TEST(test_b64_std_encodes_rfc4648_vectors)
{
    char out[128];
    CHECK_STR(enc("", 0, out), "");
    CHECK_STR(enc("f", 0, out), "Zg==");
    CHECK_STR(enc("fo", 0, out), "Zm8=");
    CHECK_STR(enc("foo", 0, out), "Zm9v");
    CHECK_STR(enc("foob", 0, out), "Zm9vYg==");
    CHECK_STR(enc("fooba", 0, out), "Zm9vYmE=");
    CHECK_STR(enc("foobar", 0, out), "Zm9vYmFy");
}

TEST(test_b64_url_encodes_without_padding)
{
    char out[128];
    CHECK_STR(enc("f", 1, out), "Zg");
    CHECK_STR(enc("fo", 1, out), "Zm8");
    CHECK_STR(enc("foobar", 1, out), "Zm9vYmFy");
    unsigned char raw[3] = {0xfb, 0xff, 0xfe};
    CHECK_INT(codec_b64_encode(raw, 3, out, 1), 4);
    CHECK_STR(out, "-__-");
    CHECK_INT(codec_b64_encode(raw, 3, out, 0), 4);
    CHECK_STR(out, "+//+");
}

TEST(test_b64_len_matches_what_encode_writes)
{
    char out[64];
    unsigned char raw[32] = {0};
    for (size_t n = 0; n <= 32; n++) {
        CHECK_INT(codec_b64_encode(raw, n, out, 0), codec_b64_len(n, 0));
        CHECK_INT(codec_b64_encode(raw, n, out, 1), codec_b64_len(n, 1));
    }
}

TEST(test_b64_roundtrips_every_length_and_byte)
{
    unsigned char raw[256], back[256 / 4 * 3 + 3 + 90];
    char text[400];
    for (int i = 0; i < 256; i++)
        raw[i] = (unsigned char)(255 - i);
    for (int url = 0; url <= 1; url++) {
        for (size_t n = 0; n <= 256; n += (n < 8 ? 1 : 37)) {
            size_t tl = codec_b64_encode(raw, n, text, url), bl = 99999;
            CHECK_INT(codec_b64_decode(text, tl, back, &bl, url), 0);
            CHECK_INT(bl, n);
            CHECK(memcmp(raw, back, n) == 0);
        }
    }
}

TEST(test_b64_padding_is_optional)
{
    unsigned char out[16];
    size_t n = 0;
    CHECK_INT(dec("Zm8=", out, &n, 0), 0);
    CHECK_INT(n, 2);
    CHECK_INT(dec("Zm8", out, &n, 0), 0);
    CHECK_INT(n, 2);
    CHECK(memcmp(out, "fo", 2) == 0);
    CHECK_INT(dec("Zg==", out, &n, 1), 0);
    CHECK_INT(n, 1);
    CHECK_INT(dec("Zg", out, &n, 1), 0);
    CHECK_INT(n, 1);
}

TEST(test_b64_wrong_padding_is_refused)
{
    unsigned char out[16];
    size_t n;
    CHECK_INT(dec("Zg=", out, &n, 0), -1);    /* half the padding */
    CHECK_INT(dec("Zm8==", out, &n, 0), -1);  /* too much padding */
    CHECK_INT(dec("Zm9v=", out, &n, 0), -1);  /* padding after a full group */
    CHECK_INT(dec("Zm=8", out, &n, 0), -1);   /* padding in the middle */
    CHECK_INT(dec("====", out, &n, 0), -1);
    CHECK_INT(dec("Z", out, &n, 0), -1);      /* one character cannot hold a byte */
    CHECK_INT(dec("Zm9vY", out, &n, 0), -1);
}

TEST(test_b64_whitespace_is_refused)
{
    unsigned char out[16];
    size_t n;
    CHECK_INT(dec("Zm9v\n", out, &n, 0), -1);
    CHECK_INT(dec("Zm 9v", out, &n, 0), -1);
    CHECK_INT(dec(" Zm9v", out, &n, 1), -1);
    CHECK_INT(codec_b64_decode("Zm\09v", 5, out, &n, 0), -1);
}

TEST(test_b64_other_alphabet_is_refused)
{
    unsigned char out[16];
    size_t n;
    CHECK_INT(dec("-__-", out, &n, 0), -1);
    CHECK_INT(dec("+//+", out, &n, 1), -1);
    CHECK_INT(dec("+//+", out, &n, 0), 0);
    CHECK_INT(dec("-__-", out, &n, 1), 0);
    CHECK_INT(dec("Zm9v!", out, &n, 0), -1);
}

TEST(test_b64_nonzero_trailing_bits_are_refused)
{
    unsigned char out[16];
    size_t n;
    CHECK_INT(dec("Zh==", out, &n, 0), -1); /* "Zg==" with a stray low bit */
    CHECK_INT(dec("Zm9=", out, &n, 0), -1); /* "Zm8=" with a stray low bit */
    CHECK_INT(dec("Zh", out, &n, 1), -1);
}

TEST(test_b64_empty_input_decodes_to_nothing)
{
    unsigned char out[4];
    size_t n = 7;
    CHECK_INT(codec_b64_decode("", 0, out, &n, 0), 0);
    CHECK_INT(n, 0);
}

TEST(test_pct_keeps_unreserved_characters)
{
    buf b = BUF_INIT;
    const char *s = "AZaz09-._~";
    codec_pct_encode(&b, s, strlen(s));
    CHECK_STR(buf_str(&b), s);
    buf_free(&b);
}

TEST(test_pct_encodes_slash_space_and_utf8_upper_case)
{
    buf b = BUF_INIT;
    const char *s = "a/b c?d=e&f%\xc3\xa9+";
    codec_pct_encode(&b, s, strlen(s));
    CHECK_STR(buf_str(&b), "a%2Fb%20c%3Fd%3De%26f%25%C3%A9%2B");
    buf_reset(&b);
    codec_pct_encode(&b, "\0\xff", 2);
    CHECK_STR(buf_str(&b), "%00%FF");
    buf_free(&b);
}

TEST(test_time_format_has_milliseconds_and_z)
{
    char out[32];
    codec_time_format(0, out);
    CHECK_STR(out, "1970-01-01T00:00:00.000Z");
    codec_time_format(1614265330123LL, out);
    CHECK_STR(out, "2021-02-25T15:02:10.123Z");
    codec_time_format(951782400000LL, out); /* a leap day in a year divisible by 400 */
    CHECK_STR(out, "2000-02-29T00:00:00.000Z");
}

TEST(test_time_format_before_epoch)
{
    char out[32];
    codec_time_format(-1, out);
    CHECK_STR(out, "1969-12-31T23:59:59.999Z");
}

TEST(test_time_format_clamps_to_four_digit_years)
{
    char out[32];
    codec_time_format(INT64_MAX, out);
    CHECK_STR(out, "9999-12-31T23:59:59.999Z");
    codec_time_format(INT64_MIN, out);
    CHECK_STR(out, "0000-01-01T00:00:00.000Z");
}

TEST(test_time_parse_utc_z)
{
    CHECK_INT(parse_or("1970-01-01T00:00:00Z", BAD), 0);
    CHECK_INT(parse_or("2021-02-25T15:02:10Z", BAD), 1614265330000LL);
    CHECK_INT(parse_or("2021-02-25t15:02:10z", BAD), 1614265330000LL);
    CHECK_INT(parse_or("2021-02-25 15:02:10Z", BAD), 1614265330000LL);
}

TEST(test_time_parse_fraction_to_milliseconds)
{
    CHECK_INT(parse_or("2021-02-25T15:02:10.1Z", BAD), 1614265330100LL);
    CHECK_INT(parse_or("2021-02-25T15:02:10.123Z", BAD), 1614265330123LL);
    CHECK_INT(parse_or("2021-02-25T15:02:10.123999999Z", BAD), 1614265330123LL);
    CHECK_INT(parse_or("2021-02-25T15:02:10.Z", BAD), BAD);
}

TEST(test_time_parse_offsets)
{
    CHECK_INT(parse_or("2021-02-25T17:02:10+02:00", BAD), 1614265330000LL);
    CHECK_INT(parse_or("2021-02-25T10:32:10.5-04:30", BAD), 1614265330500LL);
    CHECK_INT(parse_or("2021-02-25T15:02:10-00:00", BAD), 1614265330000LL);
    CHECK_INT(parse_or("2021-02-25T15:02:10+0200", BAD), BAD);
    CHECK_INT(parse_or("2021-02-25T15:02:10+24:00", BAD), BAD);
}

TEST(test_time_parse_roundtrips_format)
{
    char out[32];
    int64_t samples[] = {0, 1, 999, 1614265330123LL, 4102444799999LL, -86400001LL};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        codec_time_format(samples[i], out);
        CHECK_INT(parse_or(out, BAD), samples[i]);
    }
}

TEST(test_time_parse_refuses_impossible_dates)
{
    CHECK_INT(parse_or("2021-13-01T00:00:00Z", BAD), BAD);
    CHECK_INT(parse_or("2021-00-01T00:00:00Z", BAD), BAD);
    CHECK_INT(parse_or("2021-02-30T00:00:00Z", BAD), BAD);
    CHECK_INT(parse_or("2021-02-29T00:00:00Z", BAD), BAD);  /* not a leap year */
    CHECK_INT(parse_or("1900-02-29T00:00:00Z", BAD), BAD);  /* century, not a leap year */
    CHECK(parse_or("2024-02-29T00:00:00Z", BAD) != BAD);
    CHECK_INT(parse_or("2021-04-31T00:00:00Z", BAD), BAD);
    CHECK_INT(parse_or("2021-01-00T00:00:00Z", BAD), BAD);
    CHECK_INT(parse_or("2021-01-01T24:00:00Z", BAD), BAD);
    CHECK_INT(parse_or("2021-01-01T00:60:00Z", BAD), BAD);
    CHECK_INT(parse_or("2021-01-01T00:00:60Z", BAD), BAD);
}

TEST(test_time_parse_refuses_malformed_text)
{
    CHECK_INT(parse_or("", BAD), BAD);
    CHECK_INT(parse_or("2021-02-25", BAD), BAD);
    CHECK_INT(parse_or("2021-02-25T15:02:10", BAD), BAD);    /* no zone */
    CHECK_INT(parse_or("2021-02-25T15:02:10ZZ", BAD), BAD);  /* trailing garbage */
    CHECK_INT(parse_or("21-02-25T15:02:10Z", BAD), BAD);
    CHECK_INT(parse_or("2021-2-25T15:02:10Z", BAD), BAD);
    CHECK_INT(parse_or("2021-02-25X15:02:10Z", BAD), BAD);
    CHECK_INT(parse_or("1614265330", BAD), BAD);
    int64_t ms;
    CHECK_INT(codec_time_parse(NULL, &ms), -1);
}

TEST(test_random_fills_and_differs)
{
    unsigned char a[32] = {0}, b[32] = {0};
    CHECK_INT(codec_random(a, sizeof a), 0);
    CHECK_INT(codec_random(b, sizeof b), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_INT(codec_random(a, 0), 0);
}

TEST(test_new_id_is_prefix_and_22_base64url_chars)
{
    char a[32], b[32];
    codec_new_id("evt_", a);
    codec_new_id("evt_", b);
    CHECK_INT(strlen(a), 4 + 22);
    CHECK(strncmp(a, "evt_", 4) == 0);
    CHECK(strcmp(a, b) != 0);
    unsigned char raw[32];
    size_t n = 0;
    CHECK_INT(codec_b64_decode(a + 4, 22, raw, &n, 1), 0);
    CHECK_INT(n, 16);
    char c[23];
    codec_new_id("", c);
    CHECK_INT(strlen(c), 22);
}

CHECK_MAIN
