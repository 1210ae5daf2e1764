/* retry — what a delivery outcome means and when to try again.
 * Engine: no I/O, no clock, no randomness of its own (the caller passes a random number).
 * Calls: codec (calendar arithmetic). */
#ifndef SY_RETRY_H
#define SY_RETRY_H
#include <stddef.h>
#include <stdint.h>

typedef enum retry_verdict {
    RETRY_DONE,    /* status in success_codes (default 2xx): delivered */
    RETRY_DISCARD, /* status in discard_codes: dropped, recorded, not retried */
    RETRY_GONE,    /* 410 not listed in either: job gone, subscriber to be disabled */
    RETRY_AGAIN,   /* anything else (status 0 = no response): try again if attempts remain */
} retry_verdict;

/* Classifies an HTTP status (0 when there was no response: connect error, timeout, reset; always
 * RETRY_AGAIN). success/discard: the subscriber's lists; success == NULL (or nsuccess == 0) means
 * "any 2xx". A status in both lists is a success. Redirects (3xx) are not followed: RETRY_AGAIN. */
retry_verdict retry_classify(int status, const int *success, size_t nsuccess, const int *discard,
                             size_t ndiscard);

#define RETRY_DEFAULT_MAX_ATTEMPTS 26 /* attempts, when a policy gives none */

typedef struct retry_policy {
    int max_attempts;          /* attempts in all, the first included (>= 1); <= 0 means
                                  RETRY_DEFAULT_MAX_ATTEMPTS */
    const int64_t *delays_ms;  /* explicit schedule: delay before attempt 2, 3, ...; last repeats; NULL
                                  means the Faktory curve */
    size_t ndelays;            /* entries in delays_ms */
} retry_policy;

/* Delay in ms before the next attempt, after attempt number `attempt` (1-based) failed, or -1 when
 * no attempt remains (dead letter). retry_after_ms >= 0 is the receiver's Retry-After (honoured on
 * 429/503 by the caller passing it; it replaces the computed delay, capped at one day); pass -1 for
 * none. rnd is any uniformly random 32-bit number. Faktory curve: attempt^4 + 15 +
 * (rnd % 30)*(attempt+1) s (16-74 s after attempt 1). Explicit schedule: delays_ms[attempt-1], the
 * last entry repeating; negative entries count as 0. p == NULL means the defaults. */
int64_t retry_next_delay_ms(const retry_policy *p, int attempt, int64_t retry_after_ms, uint32_t rnd);

/* Parses a Retry-After header value (delta-seconds or an HTTP-date) relative to now_s (epoch s).
 * Returns the delay in ms (>= 0) or -1 if the value is not understood. A date in the past is 0.
 * Dates: IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT") and the obsolete RFC 850 and asctime forms
 * that RFC 9110 requires recipients to accept. Surrounding spaces and tabs are ignored; huge
 * delta-seconds saturate (at 10^12 s) rather than overflow. */
int64_t retry_parse_after(const char *value, int64_t now_s);

#endif
