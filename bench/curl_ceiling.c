/* curl_ceiling — the delivery ceiling: a plain libcurl-multi client that POSTs the body a worker
 * would deliver (the event's data.body, see bench_util.h) with the same headers a worker sends, at
 * --concurrency transfers in flight, to the receiver. Either --count bodies as fast as they go
 * (closed loop), or paced at --rate bodies/s for --duration seconds (open loop; each body's sent_us
 * is its scheduled time, so a backlog shows in the latency the receiver records).
 *
 * Usage: curl_ceiling --url URL [--concurrency 64] [--count N] [--size 300] [--rate R --duration S]
 * Prints one line: t0_ns= sent= ok= err= secs= rate= p50_us= p99_us= (client-side latency, from the
 * scheduled or start time to the answer). Exit status 0, or 1 if any POST failed. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

typedef struct slot {
    CURL *easy;            /* reused: keeps its connection */
    char *body;            /* this slot's request body */
    int64_t sched_ns;      /* monotonic: when this POST was due */
    int busy;              /* 1: in the multi handle */
} slot;

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

int main(int argc, char **argv)
{
    const char *url = bench_arg(argc, argv, "--url", NULL);
    int conc = (int)bench_arg_ll(argc, argv, "--concurrency", 64);
    long long count = bench_arg_ll(argc, argv, "--count", 0);
    size_t size = (size_t)bench_arg_ll(argc, argv, "--size", 300);
    double rate = bench_arg_d(argc, argv, "--rate", 0);
    double duration = bench_arg_d(argc, argv, "--duration", 0);
    if (!url || conc < 1 || (count <= 0 && (rate <= 0 || duration <= 0))) {
        fprintf(stderr, "usage: curl_ceiling --url URL [--concurrency C] (--count N | --rate R "
                        "--duration S) [--size B]\n");
        return 2;
    }
    if (rate > 0 && count <= 0)
        count = (long long)(rate * duration);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conc);
    struct curl_slist *hdrs = NULL;   /* what a worker sends besides the body (src/deliver.c) */
    const char *names[] = {
        "content-type: application/json", "user-agent: switchyard/0.1.0", "x-tenant: acme",
        "switchyard-topic: bench.t", "switchyard-attempt: 1",
        "switchyard-event-id: evt_0000000000000000000000000",
        "webhook-id: job_0000000000000000000000000", "webhook-timestamp: 1700000000",
        "webhook-signature: v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", NULL};
    for (int i = 0; names[i]; i++)
        hdrs = curl_slist_append(hdrs, names[i]);
    slot *slots = calloc((size_t)conc, sizeof *slots);
    for (int i = 0; i < conc; i++) {
        slots[i].body = malloc(size + 512);
        CURL *e = curl_easy_init();
        slots[i].easy = e;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
    }
    bench_samples lat = {0};
    long long issued = 0, ok = 0, err = 0, done = 0;
    int64_t start = bench_mono_ns();
    int64_t t0_ns = bench_now_ns();
    int64_t end_sched = rate > 0 ? start + (int64_t)(duration * 1e9) : INT64_MAX;
    while (done < count) {
        /* start every POST that is due while a slot is free */
        for (int i = 0; i < conc && issued < count; i++) {
            if (slots[i].busy)
                continue;
            int64_t due = rate > 0 ? start + (int64_t)((double)issued * 1e9 / rate) : bench_mono_ns();
            if (due > bench_mono_ns() || due >= end_sched)
                break;
            long long sent_us = (bench_now_ns() - (bench_mono_ns() - due)) / 1000;
            size_t n = bench_body(slots[i].body, size + 512, size, (unsigned long long)issued, sent_us);
            curl_easy_setopt(slots[i].easy, CURLOPT_POSTFIELDSIZE, (long)n);
            curl_easy_setopt(slots[i].easy, CURLOPT_POSTFIELDS, slots[i].body);
            slots[i].sched_ns = due;
            slots[i].busy = 1;
            curl_multi_add_handle(multi, slots[i].easy);
            issued++;
        }
        if (rate > 0 && issued < count &&
            start + (int64_t)((double)issued * 1e9 / rate) >= end_sched)
            count = issued;   /* the duration is over: wait for what is in flight */
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            slot *s;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result == CURLE_OK && status >= 200 && status < 300) {
                ok++;
                bench_samples_add(&lat, (double)(bench_mono_ns() - s->sched_ns) / 1000.0);
            } else {
                if (!err)
                    fprintf(stderr, "curl_ceiling: %s (status %ld)\n",
                            curl_easy_strerror(m->data.result), status);
                err++;
            }
            curl_multi_remove_handle(multi, s->easy);
            s->busy = 0;
            done++;
        }
        if (done >= count)
            break;
        int timeout = 10, idle = 0;
        for (int i = 0; i < conc; i++)
            idle += !slots[i].busy;
        if (rate <= 0 && idle && issued < count)
            continue;   /* a slot is free and work is left: start it now, do not wait */
        if (rate > 0 && issued < count) {
            int64_t next = start + (int64_t)((double)issued * 1e9 / rate) - bench_mono_ns();
            timeout = next <= 0 ? 0 : (int)(next / 1000000);
            if (next > 0 && timeout == 0) {   /* due within a ms: sleep exactly, not spin */
                bench_sleep_until_mono(bench_mono_ns() + next);
                continue;
            }
        }
        if (running || timeout > 0)
            curl_multi_poll(multi, NULL, 0, timeout, NULL);
    }
    double secs = (double)(bench_mono_ns() - start) / 1e9;
    double p50 = bench_quantile(lat.v, lat.n, 0.50, 0);
    double p99 = bench_quantile(lat.v, lat.n, 0.99, 1);
    printf("t0_ns=%lld sent=%lld ok=%lld err=%lld secs=%.4f rate=%.1f p50_us=%.1f p99_us=%.1f\n",
           (long long)t0_ns, issued, ok, err, secs, secs > 0 ? (double)ok / secs : 0, p50, p99);
    for (int i = 0; i < conc; i++) {
        curl_easy_cleanup(slots[i].easy);
        free(slots[i].body);
    }
    free(slots);
    free(lat.v);
    curl_slist_free_all(hdrs);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return err ? 1 : 0;
}
