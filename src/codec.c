#include "codec.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- base64 ---------------------------------------------------------------------------------- */

size_t codec_b64_len(size_t n, int url)
{
    if (!url)
        return (n + 2) / 3 * 4;
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t codec_b64_encode(const void *in, size_t n, char *out, int url)
{
    const unsigned char *p = in;
    const char *abc = url ? B64_URL : B64_STD;
    size_t o = 0, i = 0;

    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (!url) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* Value of c in the chosen alphabet, or -1. */
static int b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

int codec_b64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen, int url)
{
    /* Padding is optional, but when present it must be exactly what completes the last quantum. */
    size_t data = n;
    while (data > 0 && in[data - 1] == '=')
        data--;
    size_t pad = n - data;
    size_t rem = data % 4;
    if (rem == 1)
        return -1;
    if (pad && (rem == 0 || n % 4 != 0 || pad != 4 - rem))
        return -1;

    size_t o = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < data; i++) {
        int v = b64_value((unsigned char)in[i], url);
        if (v < 0)
            return -1;
        acc = acc << 6 | (unsigned)v;
        if (i % 4 == 3) {
            out[o++] = (unsigned char)(acc >> 16);
            out[o++] = (unsigned char)(acc >> 8);
            out[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    /* Leftover bits that no byte uses must be zero, so every byte string has one encoding. */
    if (rem == 2) {
        if (acc & 0xf)
            return -1;
        out[o++] = (unsigned char)(acc >> 4);
    } else if (rem == 3) {
        if (acc & 0x3)
            return -1;
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    *outlen = o;
    return 0;
}

/* ---- percent-encoding ------------------------------------------------------------------------ */

void codec_pct_encode(buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~') {
            buf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(out, e, 3);
        }
    }
}

/* ---- RFC 3339 -------------------------------------------------------------------------------- */

#define MS_PER_DAY 86400000LL
/* 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the range four-digit years can show. */
#define MS_MIN (-62167219200000LL)
#define MS_MAX (253402300799999LL)

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
int64_t codec_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

void codec_time_format(int64_t ms, char out[32])
{
    if (ms < MS_MIN)
        ms = MS_MIN;
    if (ms > MS_MAX)
        ms = MS_MAX;
    int64_t days = ms / MS_PER_DAY, rest = ms % MS_PER_DAY;
    if (rest < 0) {
        rest += MS_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int msec = (int)(rest % 1000), sec = (int)(rest / 1000 % 60), min = (int)(rest / 60000 % 60),
        hour = (int)(rest / 3600000);
    /* Every field is range-bound above; the casts tell the compiler so (no truncation warning). */
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u, (unsigned)hour % 100u, (unsigned)min % 100u, (unsigned)sec % 100u,
             (unsigned)msec % 1000u);
}

/* Reads exactly n digits at *s, advancing it. */
static int digits(const char **s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return -1;
        x = x * 10 + (c - '0');
    }
    *s += n;
    *v = x;
    return 0;
}

static int expect(const char **s, char c)
{
    if (**s != c)
        return -1;
    (*s)++;
    return 0;
}

int codec_time_parse(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, se, frac = 0;
    if (!s)
        return -1;
    if (digits(&s, 4, &y) || expect(&s, '-') || digits(&s, 2, &mo) || expect(&s, '-') ||
        digits(&s, 2, &d))
        return -1;
    if (*s != 'T' && *s != 't' && *s != ' ') /* RFC 3339 5.6 allows a space for readability */
        return -1;
    s++;
    if (digits(&s, 2, &h) || expect(&s, ':') || digits(&s, 2, &mi) || expect(&s, ':') ||
        digits(&s, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59)
        return -1;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        int scale = 100;
        for (; *s >= '0' && *s <= '9'; s++) { /* digits past milliseconds are truncated */
            frac += (*s - '0') * scale;
            scale /= 10;
        }
    }
    int offset_min = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s == '-' ? -1 : 1, oh, om;
        s++;
        if (digits(&s, 2, &oh) || expect(&s, ':') || digits(&s, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*s)
        return -1;
    int64_t t = codec_days_from_civil(y, mo, d) * MS_PER_DAY + (int64_t)h * 3600000 + (int64_t)mi * 60000 +
                (int64_t)se * 1000 + frac;
    *ms = t - (int64_t)offset_min * 60000;
    return 0;
}

/* ---- randomness ------------------------------------------------------------------------------ */

/* RAND_bytes costs about a microsecond a call whatever the size (OpenSSL 3 looks up its DRBG each
 * time), and the hub asks for 16 bytes per id: each thread draws 4 KB at a time and hands them out,
 * wiping each byte as it goes, so no byte is handed out twice or kept after use. */
#define RANDOM_POOL 4096

static _Thread_local unsigned char pool[RANDOM_POOL];
static _Thread_local size_t pool_left;

int codec_random(void *out, size_t n)
{
    unsigned char *p = out;
    if (n > RANDOM_POOL / 4) {
        while (n > 0) {
            int chunk = n > INT_MAX ? INT_MAX : (int)n;
            if (RAND_bytes(p, chunk) != 1)
                return -1;
            p += chunk;
            n -= (size_t)chunk;
        }
        return 0;
    }
    while (n > 0) {
        if (pool_left == 0) {
            if (RAND_bytes(pool, RANDOM_POOL) != 1)
                return -1;
            pool_left = RANDOM_POOL;
        }
        size_t take = n < pool_left ? n : pool_left;
        unsigned char *from = pool + RANDOM_POOL - pool_left;
        memcpy(p, from, take);
        OPENSSL_cleanse(from, take);
        pool_left -= take;
        p += take;
        n -= take;
    }
    return 0;
}

void codec_new_id(const char *prefix, char *out)
{
    unsigned char raw[16];
    /* An id that might repeat is worse than no id: a broken CSPRNG is not survivable here. */
    if (codec_random(raw, sizeof raw) != 0)
        abort();
    size_t plen = strlen(prefix);
    memcpy(out, prefix, plen);
    codec_b64_encode(raw, sizeof raw, out + plen, 1);
}
