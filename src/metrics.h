/* metrics — process-wide counters and histograms, rendered in the Prometheus text format.
 * Calls: buf. Lock-free: every update is one relaxed atomic add, safe from any thread.
 * Labels are bounded by construction (outcome and status-class enums; no per-event labels). */
#ifndef SY_METRICS_H
#define SY_METRICS_H
#include <stdint.h>

#include "buf.h"

enum metric_counter {
    M_PUBLISH_ACCEPTED,       /* publishes answered 2xx */
    M_PUBLISH_REJECTED,       /* publishes refused 4xx */
    M_PUBLISH_UNAVAILABLE,    /* publishes answered 503 */
    M_PUBLISH_DUPLICATE,      /* publishes answered from an Idempotency-Key */
    M_EVENTS_MATCHED,         /* events with at least one matching subscriber */
    M_JOBS_ENQUEUED,          /* jobs enqueued */
    M_FILTER_EVALS,           /* filter evaluations */
    M_FILTER_ERRORS,          /* filter evaluations that errored or ran out of budget */
    M_DELIVER_DELIVERED,      /* attempts answered with a success code */
    M_DELIVER_RETRIED,        /* attempts that failed and will be retried */
    M_DELIVER_DEAD,           /* jobs dead-lettered */
    M_DELIVER_DISCARDED,      /* jobs dropped on a discard code */
    M_DELIVER_GONE,           /* jobs ended by 410 Gone */
    M_DELIVER_EXPIRED,        /* jobs whose ttl ran out before delivery */
    M_STATUS_1XX, M_STATUS_2XX, M_STATUS_3XX, M_STATUS_4XX, M_STATUS_5XX,
    M_STATUS_NONE,            /* attempts with no HTTP response (connect error, timeout) */
    M_COUNTER_COUNT
};

enum metric_histogram {
    H_FILTER_SECONDS,         /* one filter evaluation */
    H_DELIVERY_SECONDS,       /* one delivery attempt, request to response */
    H_PUBLISH_SECONDS,        /* one publish request, parse to answer */
    H_HISTOGRAM_COUNT
};

void metrics_inc(enum metric_counter c, uint64_t n);
void metrics_observe(enum metric_histogram h, double seconds);
/* Counts an attempt's HTTP status in its class (0 = no response). */
void metrics_status(int status);
/* Appends every metric; gauges (queue depth etc.) are appended by the caller after this. */
void metrics_render(buf *out);
uint64_t metrics_get(enum metric_counter c);

#endif
