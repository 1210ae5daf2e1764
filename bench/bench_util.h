/* bench_util — what the bench programs share: clocks, the benchmark event, percentiles, and
 * argument parsing helpers. Header-only (static functions); no I/O beyond stderr for usage errors.
 *
 * THE EVENT. Every program builds the same event so that figures and ceilings move the same bytes:
 *   data = {"body":BODY,"headers":{"x-tenant":"acme"},"http_method":"post"}
 *   BODY = {"id":SEQ,"kind":"order","total":120,"currency":"EUR","sent_us":"T","pad":"xx..."}
 * data is exactly `size` bytes (the "event size"); BODY is what a worker delivers (the JSON of
 * data.body), so a ceiling that posts BODY posts what the worker posts. sent_us is the intended send
 * time (CLOCK_REALTIME, microseconds) as a string, so no JSON number rounding can touch it; the
 * receiver subtracts it from the receipt time. Filters in the benchmark read data.body.total:
 * "data.body.total > 100" matches, "data.body.total > 1000" does not. */
#ifndef SY_BENCH_UTIL_H
#define SY_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_DATA_HEAD "{\"body\":"
#define BENCH_DATA_TAIL ",\"headers\":{\"x-tenant\":\"acme\"},\"http_method\":\"post\"}"
#define BENCH_MIN_SIZE 160   /* bytes: the smallest event the layout above fits in */

static inline int64_t bench_now_ns(void)   /* CLOCK_REALTIME, ns: comparable across processes */
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t bench_mono_ns(void)  /* CLOCK_MONOTONIC, ns: for intervals in one process */
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bench_sleep_until_mono(int64_t t_ns)
{
    struct timespec ts = {(time_t)(t_ns / 1000000000), (long)(t_ns % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

/* Writes BODY for event seq into out (cap bytes) so that the whole data object is `size` bytes;
 * returns BODY's length. out must hold size + 1 bytes. */
static inline size_t bench_body(char *out, size_t cap, size_t size, unsigned long long seq,
                                long long sent_us)
{
    if (size < BENCH_MIN_SIZE)
        size = BENCH_MIN_SIZE;
    int head = snprintf(out, cap,
                        "{\"id\":%llu,\"kind\":\"order\",\"total\":120,\"currency\":\"EUR\","
                        "\"sent_us\":\"%lld\",\"pad\":\"",
                        seq, sent_us);
    size_t fixed = strlen(BENCH_DATA_HEAD) + strlen(BENCH_DATA_TAIL) + (size_t)head + 2; /* "} */
    size_t pad = size > fixed ? size - fixed : 0;
    if ((size_t)head + pad + 3 > cap)
        pad = cap - (size_t)head - 3;
    memset(out + head, 'x', pad);
    memcpy(out + head + pad, "\"}", 3);
    return (size_t)head + pad + 2;
}

/* The whole data object for event seq: `size` bytes (at least BENCH_MIN_SIZE). out holds cap. */
static inline size_t bench_data(char *out, size_t cap, size_t size, unsigned long long seq,
                                long long sent_us)
{
    size_t h = strlen(BENCH_DATA_HEAD), t = strlen(BENCH_DATA_TAIL);
    memcpy(out, BENCH_DATA_HEAD, h);
    size_t b = bench_body(out + h, cap - h - t - 1, size, seq, sent_us);
    memcpy(out + h + b, BENCH_DATA_TAIL, t + 1);
    return h + b + t;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n), sorting v in place; 0 when n is 0. */
static inline double bench_quantile(double *v, size_t n, double q, int sorted)
{
    if (!n)
        return 0;
    if (!sorted)
        qsort(v, n, sizeof *v, bench_cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* A growable array of doubles (latency samples, microseconds). */
typedef struct bench_samples {
    double *v;      /* samples */
    size_t n;       /* used */
    size_t cap;     /* allocated */
} bench_samples;

static inline void bench_samples_add(bench_samples *s, double x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

static inline const char *bench_arg(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}

static inline long long bench_arg_ll(int argc, char **argv, const char *name, long long dflt)
{
    const char *v = bench_arg(argc, argv, name, NULL);
    return v ? strtoll(v, NULL, 10) : dflt;
}

static inline double bench_arg_d(int argc, char **argv, const char *name, double dflt)
{
    const char *v = bench_arg(argc, argv, name, NULL);
    return v ? strtod(v, NULL) : dflt;
}

#endif
