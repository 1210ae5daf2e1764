/* loadgen — publish load through the C SDK: --threads threads, each with its own syc_client (one
 * keep-alive connection), calling syc_publish in a loop, closed-loop (as fast as answers come) or
 * paced (--rate events/s in all, open-loop: each event has a scheduled time, and its latency and its
 * sent_us are counted from that time, so a stall is not hidden by sending later).
 *
 * Usage: loadgen --hub URL --secret JWT_SECRET [--threads 8] [--duration 3] [--count 0]
 *                [--topic bench.t] [--size 300] [--rate 0]
 *   --count N stops after N publishes in all (0: only --duration bounds the run).
 * Prints one line: t0_ns= t1_ns= sent= ok= err= secs= rate= p50_us= p90_us= p99_us= max_us= [error="..."]
 * (latencies of successful publishes; rate = ok / secs). Exit status 0, or 1 when every publish
 * failed. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "switchyard.h"

typedef struct thread_ctx {
    int k;                      /* thread index */
    syc_client *c;              /* this thread's client */
    unsigned long long ok;      /* publishes answered 202 */
    unsigned long long err;     /* publishes that failed */
    bench_samples lat;          /* latency of each successful publish, us */
} thread_ctx;

static struct {
    const char *topic;          /* topic published to */
    size_t size;                /* event data bytes */
    int threads;                /* load threads */
    double rate;                /* events/s in all; 0 = closed loop */
    long long count;            /* publishes in all; 0 = unbounded */
    int64_t start_mono;         /* monotonic ns when every thread starts */
    int64_t end_mono;           /* monotonic ns when threads stop starting publishes */
    atomic_llong issued;        /* publishes started (bounded by count) */
    pthread_barrier_t go;       /* all threads start together */
    pthread_mutex_t mu;         /* guards first_error */
    char first_error[300];      /* the first failure's code and message */
} g;

static void *run(void *arg)
{
    thread_ctx *t = arg;
    char *data = malloc(g.size + 512);
    pthread_barrier_wait(&g.go);
    for (long long i = 0;; i++) {
        long long seq = atomic_fetch_add(&g.issued, 1);
        if (g.count && seq >= g.count)
            break;
        int64_t sched = bench_mono_ns();
        if (g.rate > 0) {   /* event i of thread k is due at (i * threads + k) / rate */
            sched = g.start_mono + (int64_t)(((double)i * g.threads + t->k) * 1e9 / g.rate);
            if (sched >= g.end_mono)
                break;
            bench_sleep_until_mono(sched);
        } else if (sched >= g.end_mono) {
            break;
        }
        /* the intended send time on the wall clock, for the receiver's latency */
        long long sent_us = (bench_now_ns() - (bench_mono_ns() - sched)) / 1000;
        bench_data(data, g.size + 512, g.size, (unsigned long long)seq, sent_us);
        char id[SYC_EVENT_ID_MAX];
        if (syc_publish(t->c, g.topic, data, NULL, id, sizeof id) == 0) {
            t->ok++;
            bench_samples_add(&t->lat, (double)(bench_mono_ns() - sched) / 1000.0);
        } else {
            t->err++;
            pthread_mutex_lock(&g.mu);
            if (!g.first_error[0])
                snprintf(g.first_error, sizeof g.first_error, "%d %s: %s", syc_status(t->c),
                         syc_error_code(t->c), syc_error(t->c));
            pthread_mutex_unlock(&g.mu);
        }
    }
    free(data);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *hub = bench_arg(argc, argv, "--hub", NULL);
    const char *secret = bench_arg(argc, argv, "--secret", NULL);
    if (!hub || !secret) {
        fprintf(stderr, "usage: loadgen --hub URL --secret S [--threads N] [--duration S] "
                        "[--count N] [--topic T] [--size B] [--rate R]\n");
        return 2;
    }
    g.topic = bench_arg(argc, argv, "--topic", "bench.t");
    g.size = (size_t)bench_arg_ll(argc, argv, "--size", 300);
    g.threads = (int)bench_arg_ll(argc, argv, "--threads", 8);
    g.rate = bench_arg_d(argc, argv, "--rate", 0);
    g.count = bench_arg_ll(argc, argv, "--count", 0);
    double duration = bench_arg_d(argc, argv, "--duration", 3);
    if (g.threads < 1 || g.threads > 1024 || duration <= 0) {
        fprintf(stderr, "loadgen: --threads must be 1-1024 and --duration > 0\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&g.mu, NULL);
    pthread_barrier_init(&g.go, NULL, (unsigned)g.threads + 1);
    thread_ctx *ts = calloc((size_t)g.threads, sizeof *ts);
    pthread_t *tid = calloc((size_t)g.threads, sizeof *tid);
    for (int k = 0; k < g.threads; k++) {
        ts[k].k = k;
        ts[k].c = syc_client_new(hub);
        if (!ts[k].c || syc_error_code(ts[k].c)[0]) {
            fprintf(stderr, "loadgen: bad hub URL %s\n", hub);
            return 2;
        }
        syc_set_jwt_secret(ts[k].c, secret, NULL, 3600);
        syc_set_retries(ts[k].c, 0);     /* a failure is counted, not hidden by a retry */
        syc_set_timeout_ms(ts[k].c, 10000);
    }
    g.start_mono = bench_mono_ns() + 2000000;   /* 2 ms for the threads to reach the barrier */
    g.end_mono = g.start_mono + (int64_t)(duration * 1e9);
    for (int k = 0; k < g.threads; k++)
        pthread_create(&tid[k], NULL, run, &ts[k]);
    int64_t t0_ns = bench_now_ns() + (g.start_mono - bench_mono_ns());
    bench_sleep_until_mono(g.start_mono);
    pthread_barrier_wait(&g.go);
    bench_samples all = {0};
    unsigned long long ok = 0, err = 0;
    for (int k = 0; k < g.threads; k++) {
        pthread_join(tid[k], NULL);
        ok += ts[k].ok;
        err += ts[k].err;
        for (size_t i = 0; i < ts[k].lat.n; i++)
            bench_samples_add(&all, ts[k].lat.v[i]);
        free(ts[k].lat.v);
        syc_client_free(ts[k].c);
    }
    int64_t end = bench_mono_ns();
    double secs = (double)(end - g.start_mono) / 1e9;
    double p50 = bench_quantile(all.v, all.n, 0.50, 0);
    double p90 = bench_quantile(all.v, all.n, 0.90, 1);
    double p99 = bench_quantile(all.v, all.n, 0.99, 1);
    double mx = all.n ? all.v[all.n - 1] : 0;
    printf("t0_ns=%lld t1_ns=%lld sent=%llu ok=%llu err=%llu secs=%.4f rate=%.1f p50_us=%.1f "
           "p90_us=%.1f p99_us=%.1f max_us=%.1f",
           (long long)t0_ns, (long long)bench_now_ns(), ok + err, ok, err, secs,
           secs > 0 ? (double)ok / secs : 0, p50, p90, p99, mx);
    if (g.first_error[0])
        printf(" error=\"%s\"", g.first_error);
    printf("\n");
    free(all.v);
    free(ts);
    free(tid);
    curl_global_cleanup();
    return ok == 0 && err > 0 ? 1 : 0;
}
