/* Delivery outcomes, backoff and Retry-After. */
#include "check.h"
#include "retry.h"

#define S 1000 /* ms in a second */

/* ---- retry_classify ---- */

TEST(test_2xx_is_done_by_default)
{
    CHECK_INT(retry_classify(200, NULL, 0, NULL, 0), RETRY_DONE);
    CHECK_INT(retry_classify(204, NULL, 0, NULL, 0), RETRY_DONE);
    CHECK_INT(retry_classify(299, NULL, 0, NULL, 0), RETRY_DONE);
    CHECK_INT(retry_classify(300, NULL, 0, NULL, 0), RETRY_AGAIN);
    CHECK_INT(retry_classify(199, NULL, 0, NULL, 0), RETRY_AGAIN);
}

TEST(test_redirect_is_retried_not_followed)
{
    CHECK_INT(retry_classify(301, NULL, 0, NULL, 0), RETRY_AGAIN);
    CHECK_INT(retry_classify(302, NULL, 0, NULL, 0), RETRY_AGAIN);
}

TEST(test_errors_and_no_response_are_retried)
{
    CHECK_INT(retry_classify(0, NULL, 0, NULL, 0), RETRY_AGAIN);
    CHECK_INT(retry_classify(500, NULL, 0, NULL, 0), RETRY_AGAIN);
    CHECK_INT(retry_classify(429, NULL, 0, NULL, 0), RETRY_AGAIN);
    CHECK_INT(retry_classify(404, NULL, 0, NULL, 0), RETRY_AGAIN);
}

TEST(test_success_codes_replace_2xx)
{
    const int ok[] = {202, 302};
    CHECK_INT(retry_classify(302, ok, 2, NULL, 0), RETRY_DONE);
    CHECK_INT(retry_classify(202, ok, 2, NULL, 0), RETRY_DONE);
    CHECK_INT(retry_classify(200, ok, 2, NULL, 0), RETRY_AGAIN);
}

TEST(test_empty_success_list_means_2xx)
{
    const int none[] = {0};
    CHECK_INT(retry_classify(200, none, 0, NULL, 0), RETRY_DONE);
}

TEST(test_discard_codes_are_dropped_not_retried)
{
    const int drop[] = {400, 422};
    CHECK_INT(retry_classify(400, NULL, 0, drop, 2), RETRY_DISCARD);
    CHECK_INT(retry_classify(422, NULL, 0, drop, 2), RETRY_DISCARD);
    CHECK_INT(retry_classify(401, NULL, 0, drop, 2), RETRY_AGAIN);
    CHECK_INT(retry_classify(200, NULL, 0, drop, 2), RETRY_DONE);
}

TEST(test_success_wins_over_discard)
{
    const int both[] = {202};
    CHECK_INT(retry_classify(202, both, 1, both, 1), RETRY_DONE);
}

TEST(test_410_is_gone_unless_listed)
{
    const int c410[] = {410};
    CHECK_INT(retry_classify(410, NULL, 0, NULL, 0), RETRY_GONE);
    CHECK_INT(retry_classify(410, NULL, 0, c410, 1), RETRY_DISCARD);
    CHECK_INT(retry_classify(410, c410, 1, NULL, 0), RETRY_DONE);
}

TEST(test_no_response_is_retried_whatever_the_lists_say)
{
    const int zero[] = {0};
    CHECK_INT(retry_classify(0, zero, 1, zero, 1), RETRY_AGAIN);
}

/* ---- retry_next_delay_ms ---- */

TEST(test_faktory_curve_first_retry_between_16_and_76s)
{
    retry_policy p = {26, NULL, 0};
    int64_t lo = INT64_MAX, hi = 0;
    for (uint32_t r = 0; r < 1000; r++) {
        int64_t d = retry_next_delay_ms(&p, 1, -1, r * 2654435761u);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    CHECK_INT(lo, 16 * S);
    CHECK_INT(hi, 74 * S);
}

TEST(test_faktory_curve_is_attempt_pow4_plus_15_plus_jitter)
{
    retry_policy p = {26, NULL, 0};
    CHECK_INT(retry_next_delay_ms(&p, 2, -1, 0), (16 + 15) * S);
    CHECK_INT(retry_next_delay_ms(&p, 2, -1, 29), (16 + 15 + 29 * 3) * S);
    CHECK_INT(retry_next_delay_ms(&p, 2, -1, 30), (16 + 15) * S); /* rnd % 30 */
    CHECK_INT(retry_next_delay_ms(&p, 10, -1, 1), (10000 + 15 + 11) * S);
    CHECK_INT(retry_next_delay_ms(&p, 25, -1, 0), (390625 + 15) * (int64_t)S);
}

TEST(test_faktory_curve_grows_with_attempt)
{
    retry_policy p = {26, NULL, 0};
    for (int a = 1; a < 25; a++)
        for (uint32_t r = 0; r < 30; r++)
            CHECK(retry_next_delay_ms(&p, a + 1, -1, r) > retry_next_delay_ms(&p, a, -1, r));
    /* from attempt 5 on, even the luckiest draw waits longer than the unluckiest one before */
    for (int a = 5; a < 25; a++)
        CHECK(retry_next_delay_ms(&p, a + 1, -1, 0) > retry_next_delay_ms(&p, a, -1, 29));
}

TEST(test_huge_attempt_does_not_overflow)
{
    retry_policy p = {1000000, NULL, 0};
    int64_t d = retry_next_delay_ms(&p, 999999, -1, UINT32_MAX);
    CHECK(d > 0);
    CHECK(d >= retry_next_delay_ms(&p, 4999, -1, UINT32_MAX));
}

TEST(test_explicit_schedule_gives_delay_before_next_attempt)
{
    const int64_t sched[] = {1000, 5000, 60000};
    retry_policy p = {10, sched, 3};
    CHECK_INT(retry_next_delay_ms(&p, 1, -1, 12345), 1000);
    CHECK_INT(retry_next_delay_ms(&p, 2, -1, 12345), 5000);
    CHECK_INT(retry_next_delay_ms(&p, 3, -1, 12345), 60000);
}

TEST(test_explicit_schedule_last_entry_repeats)
{
    const int64_t sched[] = {1000, 5000};
    retry_policy p = {10, sched, 2};
    CHECK_INT(retry_next_delay_ms(&p, 3, -1, 0), 5000);
    CHECK_INT(retry_next_delay_ms(&p, 9, -1, 0), 5000);
    CHECK_INT(retry_next_delay_ms(&p, 10, -1, 0), -1);
}

TEST(test_explicit_schedule_negative_entry_is_zero)
{
    const int64_t sched[] = {-5};
    retry_policy p = {3, sched, 1};
    CHECK_INT(retry_next_delay_ms(&p, 1, -1, 0), 0);
}

TEST(test_empty_schedule_means_faktory_curve)
{
    const int64_t sched[] = {1};
    retry_policy p = {3, sched, 0};
    CHECK_INT(retry_next_delay_ms(&p, 1, -1, 0), 16 * S);
}

TEST(test_dead_after_max_attempts)
{
    retry_policy p = {3, NULL, 0};
    CHECK(retry_next_delay_ms(&p, 1, -1, 0) > 0);
    CHECK(retry_next_delay_ms(&p, 2, -1, 0) > 0);
    CHECK_INT(retry_next_delay_ms(&p, 3, -1, 0), -1);
    CHECK_INT(retry_next_delay_ms(&p, 4, -1, 0), -1);
}

TEST(test_attempt_below_one_counts_as_first)
{
    retry_policy p = {26, NULL, 0};
    CHECK_INT(retry_next_delay_ms(&p, 0, -1, 0), 16 * S);
    CHECK_INT(retry_next_delay_ms(&p, -3, -1, 0), 16 * S);
}

TEST(test_max_attempts_one_never_retries)
{
    retry_policy p = {1, NULL, 0};
    CHECK_INT(retry_next_delay_ms(&p, 1, -1, 0), -1);
    CHECK_INT(retry_next_delay_ms(&p, 1, 5000, 0), -1);
}

TEST(test_default_policy_allows_26_attempts)
{
    retry_policy zero = {0, NULL, 0};
    CHECK(retry_next_delay_ms(NULL, 25, -1, 0) > 0);
    CHECK_INT(retry_next_delay_ms(NULL, 26, -1, 0), -1);
    CHECK(retry_next_delay_ms(&zero, 25, -1, 0) > 0);
    CHECK_INT(retry_next_delay_ms(&zero, 26, -1, 0), -1);
    CHECK_INT(RETRY_DEFAULT_MAX_ATTEMPTS, 26);
}

TEST(test_retry_after_replaces_backoff)
{
    const int64_t sched[] = {1000};
    retry_policy curve = {26, NULL, 0}, fixed = {26, sched, 1};
    CHECK_INT(retry_next_delay_ms(&curve, 5, 7000, 17), 7000);
    CHECK_INT(retry_next_delay_ms(&fixed, 1, 120000, 0), 120000);
    CHECK_INT(retry_next_delay_ms(&curve, 1, 0, 17), 0);
}

TEST(test_retry_after_is_capped_at_one_day)
{
    retry_policy p = {26, NULL, 0};
    CHECK_INT(retry_next_delay_ms(&p, 1, 7LL * 86400 * S, 0), 86400LL * S);
    CHECK_INT(retry_next_delay_ms(&p, 1, INT64_MAX, 0), 86400LL * S);
}

TEST(test_retry_after_does_not_outlive_max_attempts)
{
    retry_policy p = {2, NULL, 0};
    CHECK_INT(retry_next_delay_ms(&p, 2, 1000, 0), -1);
}

/* ---- retry_parse_after ---- */

#define NOW 1445412480LL /* Wed, 21 Oct 2015 07:28:00 GMT */

TEST(test_parse_after_delta_seconds)
{
    CHECK_INT(retry_parse_after("120", NOW), 120 * S);
    CHECK_INT(retry_parse_after("0", NOW), 0);
    CHECK_INT(retry_parse_after("007", NOW), 7 * S);
}

TEST(test_parse_after_trims_whitespace)
{
    CHECK_INT(retry_parse_after("  30 \t", NOW), 30 * S);
    CHECK_INT(retry_parse_after(" Wed, 21 Oct 2015 07:29:00 GMT ", NOW), 60 * S);
}

TEST(test_parse_after_huge_delta_saturates)
{
    int64_t d = retry_parse_after("99999999999999999999999999", NOW);
    CHECK(d > 0);
    CHECK_INT(d, 1000000000000LL * S);
}

TEST(test_parse_after_imf_fixdate_is_relative_to_now)
{
    CHECK_INT(retry_parse_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW - 90), 90 * S);
    CHECK_INT(retry_parse_after("Thu, 22 Oct 2015 07:28:00 GMT", NOW), 86400LL * S);
    CHECK_INT(retry_parse_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777LL - 1), 1 * S);
    CHECK_INT(retry_parse_after("Tue, 29 Feb 2000 00:00:00 GMT", 951782400LL - 2), 2 * S);
}

TEST(test_parse_after_past_date_is_zero)
{
    CHECK_INT(retry_parse_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW + 1), 0);
    CHECK_INT(retry_parse_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW), 0);
    CHECK_INT(retry_parse_after("Wed, 31 Dec 1969 23:59:59 GMT", NOW), 0);
}

TEST(test_parse_after_obsolete_date_forms)
{
    CHECK_INT(retry_parse_after("Sunday, 06-Nov-94 08:49:37 GMT", 784111777LL - 5), 5 * S);
    CHECK_INT(retry_parse_after("Sun Nov  6 08:49:37 1994", 784111777LL - 5), 5 * S);
    CHECK_INT(retry_parse_after("Wednesday, 21-Oct-15 07:28:10 GMT", NOW), 10 * S);
    CHECK_INT(retry_parse_after("Wed Oct 21 07:28:10 2015", NOW), 10 * S);
    CHECK_INT(retry_parse_after("Sun Nov 6 08:49:37 1994", 784111777LL - 5), 5 * S);
}

TEST(test_parse_after_garbage_is_minus_one)
{
    const char *bad[] = {
        "", "   ", "abc", "-5", "+5", "1.5", "12abc", "5 s",
        "Wed, 32 Oct 2015 07:28:00 GMT",  /* no 32nd */
        "Wed, 29 Feb 2015 07:28:00 GMT",  /* not a leap year */
        "Wed, 21 Oct 2015 07:28:00 PST",  /* HTTP dates are GMT */
        "Wed, 21 Oct 2015 24:00:00 GMT",  /* hour */
        "Wed, 21 Oct 2015 07:60:00 GMT",  /* minute */
        "Wed, 21 Foo 2015 07:28:00 GMT",  /* month */
        "Xyz, 21 Oct 2015 07:28:00 GMT",  /* day name */
        "Wed, 21 Oct 15 07:28:00 GMT",    /* two-digit year in IMF-fixdate */
        "Wed, 21 Oct 2015 07:28:00 GMT x", /* trailing bytes */
        "Wed, 21 Oct 2015 07:28 GMT",     /* no seconds */
        "Wed,21 Oct 2015 07:28:00 GMT",   /* spacing */
        "Wed Oct 21 07:28:00",            /* asctime without year */
        "Wednesday, 21 Oct 2015 07:28:00 GMT",
        "Wednesday 21-Oct-15 07:28:00 GMT", /* RFC 850 without its comma */
        "Wednesday, 21-Oct-15 07:28:00",    /* RFC 850 without GMT */
        "Wed Oct21 07:28:00 2015",          /* asctime spacing */
        "Wed Oct 21 07:28:00 2015 GMT",     /* asctime has no zone */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t d = retry_parse_after(bad[i], NOW);
        if (d != -1)
            fprintf(stderr, "  \"%s\" gave %lld\n", bad[i], (long long)d);
        CHECK_INT(d, -1);
    }
    CHECK_INT(retry_parse_after(NULL, NOW), -1);
}

TEST(test_parse_after_names_are_case_insensitive)
{
    CHECK_INT(retry_parse_after("wed, 21 oct 2015 07:28:05 gmt", NOW), 5 * S);
}

CHECK_MAIN
