#include "retry.h"

#include <string.h>

#include "codec.h"

#define DAY_MS (24 * 3600 * (int64_t)1000)  /* cap on a receiver's Retry-After, in ms */
#define FAKTORY_ATTEMPT_MAX 5000            /* attempts beyond this use its delay: 5000^4 s in ms
                                               still fits an int64 */
#define DELTA_MAX_S ((int64_t)1000000000000) /* Retry-After delta-seconds saturate here (~31700 y) */

static int listed(int status, const int *codes, size_t n)
{
    for (size_t i = 0; codes && i < n; i++)
        if (codes[i] == status)
            return 1;
    return 0;
}

retry_verdict retry_classify(int status, const int *success, size_t nsuccess, const int *discard,
                             size_t ndiscard)
{
    if (status <= 0) /* no response at all: nothing a list can name */
        return RETRY_AGAIN;
    if (success && nsuccess ? listed(status, success, nsuccess) : status >= 200 && status <= 299)
        return RETRY_DONE;
    if (listed(status, discard, ndiscard))
        return RETRY_DISCARD;
    if (status == 410)
        return RETRY_GONE;
    return RETRY_AGAIN;
}

int64_t retry_next_delay_ms(const retry_policy *p, int attempt, int64_t retry_after_ms, uint32_t rnd)
{
    int max = p && p->max_attempts > 0 ? p->max_attempts : RETRY_DEFAULT_MAX_ATTEMPTS;
    if (attempt < 1)
        attempt = 1;
    if (attempt >= max)
        return -1;
    if (retry_after_ms >= 0)
        return retry_after_ms < DAY_MS ? retry_after_ms : DAY_MS;
    if (p && p->delays_ms && p->ndelays) {
        size_t i = (size_t)attempt - 1 < p->ndelays ? (size_t)attempt - 1 : p->ndelays - 1;
        return p->delays_ms[i] > 0 ? p->delays_ms[i] : 0;
    }
    int64_t a = attempt < FAKTORY_ATTEMPT_MAX ? attempt : FAKTORY_ATTEMPT_MAX;
    int64_t s = a * a * a * a + 15 + (int64_t)(rnd % 30) * (a + 1);
    return s * 1000;
}

/* ---- Retry-After ------------------------------------------------------------------------------ */

static const char *const MONTHS[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const DAYS[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const LONG_DAYS[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                         "Friday", "Saturday", "Sunday"};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* Consumes want (ASCII case-insensitive) at *s; returns 1 if it was there. */
static int take(const char **s, const char *want)
{
    size_t n = strlen(want);
    for (size_t i = 0; i < n; i++) {
        char a = (*s)[i], b = want[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b) /* also stops at the NUL of *s */
            return 0;
    }
    *s += n;
    return 1;
}

/* Consumes exactly `digits` decimal digits; returns their value or -1. */
static int digits(const char **s, int ndigits)
{
    int v = 0;
    for (int i = 0; i < ndigits; i++) {
        if (!is_digit((*s)[i]))
            return -1;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += ndigits;
    return v;
}

/* Returns the index of the name in names[0..n) found at *s, consumed, or -1. */
static int name(const char **s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (take(s, names[i]))
            return i;
    return -1;
}

/* "HH:MM:SS" → seconds into the day, or -1. A leap second (60) is allowed, as HTTP allows it. */
static int64_t time_of_day(const char **s)
{
    int h = digits(s, 2), m = take(s, ":") ? digits(s, 2) : -1, sec = take(s, ":") ? digits(s, 2) : -1;
    if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
        return -1;
    return h * 3600 + m * 60 + sec;
}

static int month_days(int y, int m)
{
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return n[m - 1] + (m == 2 && leap);
}

/* Sets *t to epoch seconds (before 1970 is negative) and returns 0, or -1 when a part is out of
 * range (the parsers pass -1 for a part they could not read). */
static int epoch(int y, int m, int d, int64_t tod, int64_t *t)
{
    if (y < 0 || m < 1 || m > 12 || d < 1 || d > month_days(y, m) || tod < 0)
        return -1;
    *t = codec_days_from_civil(y, m, d) * 86400 + tod;
    return 0;
}

/* The three HTTP-date forms (RFC 9110 5.6.7), all of which a recipient must accept:
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"  (yy < 70 is 20yy)
 *   asctime      "Sun Nov  6 08:49:37 1994"
 * The day name is checked for spelling, not against the date. Returns 0 with *t in epoch seconds,
 * or -1. */
static int http_date(const char *s, int64_t *t)
{
    int y, m, d;
    int64_t tod;
    int long_day = name(&s, LONG_DAYS, 7) >= 0;
    if (!long_day && name(&s, DAYS, 7) < 0)
        return -1;
    if (long_day) {
        if (!take(&s, ", "))
            return -1;
        d = digits(&s, 2);
        m = take(&s, "-") ? name(&s, MONTHS, 12) + 1 : -1;
        y = take(&s, "-") ? digits(&s, 2) : -1;
        if (y >= 0)
            y += y < 70 ? 2000 : 1900;
        tod = take(&s, " ") ? time_of_day(&s) : -1;
        if (!take(&s, " GMT"))
            return -1;
    } else if (take(&s, ", ")) {
        d = digits(&s, 2);
        m = take(&s, " ") ? name(&s, MONTHS, 12) + 1 : -1;
        y = take(&s, " ") ? digits(&s, 4) : -1;
        tod = take(&s, " ") ? time_of_day(&s) : -1;
        if (!take(&s, " GMT"))
            return -1;
    } else if (take(&s, " ")) {
        m = name(&s, MONTHS, 12) + 1;
        if (!take(&s, " "))
            return -1;
        take(&s, " "); /* "Nov  6", "Nov 16", and leniently "Nov 6" */
        d = is_digit(s[0]) && is_digit(s[1]) ? digits(&s, 2) : digits(&s, 1);
        tod = take(&s, " ") ? time_of_day(&s) : -1;
        y = take(&s, " ") ? digits(&s, 4) : -1;
    } else {
        return -1;
    }
    if (*s) /* trailing bytes */
        return -1;
    return epoch(y, m, d, tod, t);
}

int64_t retry_parse_after(const char *value, int64_t now_s)
{
    if (!value)
        return -1;
    while (is_space(*value))
        value++;
    size_t n = strlen(value);
    while (n && is_space(value[n - 1]))
        n--;
    if (n == 0)
        return -1;
    if (is_digit(value[0])) {
        int64_t secs = 0;
        for (size_t i = 0; i < n; i++) {
            if (!is_digit(value[i]))
                return -1;
            if (secs < DELTA_MAX_S)
                secs = secs * 10 + (value[i] - '0');
        }
        return (secs < DELTA_MAX_S ? secs : DELTA_MAX_S) * 1000;
    }
    char date[64];
    if (n >= sizeof date)
        return -1;
    memcpy(date, value, n);
    date[n] = '\0';
    int64_t t;
    if (http_date(date, &t) != 0)
        return -1;
    return t > now_s ? (t - now_s) * 1000 : 0;
}
