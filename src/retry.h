/* retry — what a delivery outcome means and when to try again.
 * Engine: no I/O, no clock, no randomness of its own (the caller passes a random number).
 * Calls: nothing. */
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

/* Classifies an HTTP status (0 when there was no response: connect error, timeout, reset).
 * success/discard: the subscriber's lists; success == NULL means "any 2xx". */
retry_verdict retry_classify(int status, const int *success, size_t nsuccess, const int *discard,
                             size_t ndiscard);

typedef struct retry_policy {
    int max_attempts;          /* attempts in all, the first included (>= 1) */
    const int64_t *delays_ms;  /* explicit schedule: delay before attempt 2, 3, ...; last repeats; NULL
                                  means the Faktory curve */
    size_t ndelays;            /* entries in delays_ms */
} retry_policy;

/* Delay in ms before the next attempt, after attempt number `attempt` (1-based) failed, or -1 when
 * no attempt remains (dead letter). retry_after_ms >= 0 is the receiver's Retry-After (honoured on
 * 429/503 by the caller passing it; it replaces the computed delay, capped at one day).
 * rnd is any uniformly random 32-bit number. Faktory curve: attempt^4 + 15 + rand(30)*(attempt+1) s. */
int64_t retry_next_delay_ms(const retry_policy *p, int attempt, int64_t retry_after_ms, uint32_t rnd);

/* Parses a Retry-After header value (delta-seconds or an HTTP-date) relative to now_s (epoch s).
 * Returns the delay in ms (>= 0) or -1 if the value is not understood. */
int64_t retry_parse_after(const char *value, int64_t now_s);

#endif
