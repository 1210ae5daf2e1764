#include "metrics.h"

#include <stdatomic.h>

static _Atomic uint64_t counters[M_COUNTER_COUNT];

/* Bucket upper bounds in seconds: 1 µs .. 30 s, shared by every histogram. */
static const double bounds[] = {1e-6, 5e-6, 2.5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1, 0.25, 0.5,
                                1, 2.5, 5, 10, 30};
#define NB (sizeof bounds / sizeof bounds[0])

static struct {
    _Atomic uint64_t buckets[NB + 1];  /* per bucket (non-cumulative), last = +Inf */
    _Atomic uint64_t sum_ns;           /* sum of observations, ns */
} hists[H_HISTOGRAM_COUNT];

void metrics_inc(enum metric_counter c, uint64_t n)
{
    atomic_fetch_add_explicit(&counters[c], n, memory_order_relaxed);
}

uint64_t metrics_get(enum metric_counter c)
{
    return atomic_load_explicit(&counters[c], memory_order_relaxed);
}

void metrics_observe(enum metric_histogram h, double seconds)
{
    size_t i = 0;
    while (i < NB && seconds > bounds[i])
        i++;
    atomic_fetch_add_explicit(&hists[h].buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hists[h].sum_ns, (uint64_t)(seconds * 1e9), memory_order_relaxed);
}

void metrics_status(int status)
{
    if (status < 100 || status > 599)
        metrics_inc(M_STATUS_NONE, 1);
    else
        metrics_inc((enum metric_counter)(M_STATUS_1XX + status / 100 - 1), 1);
}

static void counter(buf *o, const char *name, const char *help, const char *labels,
                    enum metric_counter c, int header)
{
    if (header)
        buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    buf_printf(o, "%s%s %llu\n", name, labels, (unsigned long long)metrics_get(c));
}

static void histogram(buf *o, const char *name, const char *help, enum metric_histogram h)
{
    buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (size_t i = 0; i <= NB; i++) {
        cum += atomic_load_explicit(&hists[h].buckets[i], memory_order_relaxed);
        if (i < NB)
            buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
        else
            buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    }
    buf_printf(o, "%s_sum %.9f\n%s_count %llu\n", name,
               (double)atomic_load_explicit(&hists[h].sum_ns, memory_order_relaxed) / 1e9, name,
               (unsigned long long)cum);
}

void metrics_render(buf *o)
{
    const char *p = "switchyard_publishes_total";
    counter(o, p, "Publish requests by outcome.", "{outcome=\"accepted\"}", M_PUBLISH_ACCEPTED, 1);
    counter(o, p, "", "{outcome=\"rejected\"}", M_PUBLISH_REJECTED, 0);
    counter(o, p, "", "{outcome=\"unavailable\"}", M_PUBLISH_UNAVAILABLE, 0);
    counter(o, p, "", "{outcome=\"duplicate\"}", M_PUBLISH_DUPLICATE, 0);
    counter(o, "switchyard_events_matched_total", "Events that matched at least one subscriber.",
            "", M_EVENTS_MATCHED, 1);
    counter(o, "switchyard_jobs_enqueued_total", "Delivery jobs enqueued.", "", M_JOBS_ENQUEUED, 1);
    counter(o, "switchyard_filter_evaluations_total", "Filter evaluations.", "", M_FILTER_EVALS, 1);
    counter(o, "switchyard_filter_errors_total",
            "Filter evaluations that errored or exceeded a limit (counted as no-match).", "",
            M_FILTER_ERRORS, 1);
    const char *d = "switchyard_deliveries_total";
    counter(o, d, "Delivery attempts and job endings by outcome.", "{outcome=\"delivered\"}",
            M_DELIVER_DELIVERED, 1);
    counter(o, d, "", "{outcome=\"retried\"}", M_DELIVER_RETRIED, 0);
    counter(o, d, "", "{outcome=\"dead\"}", M_DELIVER_DEAD, 0);
    counter(o, d, "", "{outcome=\"discarded\"}", M_DELIVER_DISCARDED, 0);
    counter(o, d, "", "{outcome=\"gone\"}", M_DELIVER_GONE, 0);
    counter(o, d, "", "{outcome=\"expired\"}", M_DELIVER_EXPIRED, 0);
    const char *s = "switchyard_delivery_responses_total";
    counter(o, s, "Delivery attempts by HTTP status class.", "{class=\"1xx\"}", M_STATUS_1XX, 1);
    counter(o, s, "", "{class=\"2xx\"}", M_STATUS_2XX, 0);
    counter(o, s, "", "{class=\"3xx\"}", M_STATUS_3XX, 0);
    counter(o, s, "", "{class=\"4xx\"}", M_STATUS_4XX, 0);
    counter(o, s, "", "{class=\"5xx\"}", M_STATUS_5XX, 0);
    counter(o, s, "", "{class=\"none\"}", M_STATUS_NONE, 0);
    histogram(o, "switchyard_filter_duration_seconds", "Time of one filter evaluation.",
              H_FILTER_SECONDS);
    histogram(o, "switchyard_delivery_duration_seconds", "Time of one delivery attempt.",
              H_DELIVERY_SECONDS);
    histogram(o, "switchyard_publish_duration_seconds", "Time to answer one publish request.",
              H_PUBLISH_SECONDS);
}
