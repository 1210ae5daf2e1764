#include "worker.h"
#include "worker_int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "codec.h"
#include "deliver.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"
#include "intake.h"
#include "settler.h"
#include "slots.h"
#include "registry.h"
#include "retry.h"

#define PROMOTE_EVERY_MS 100
#define RECLAIM_EVERY_MS 1000
#define DRAIN_MS 10000
#define ERROR_BODY_MAX 256

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

int64_t worker_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t worker_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Hands an outcome to the settler, which records it while this thread goes on delivering. Until
 * Redis has it, the job stays pending in our name, so nothing is lost if we die. Takes the job. */
void worker_settle(worker *w, queue_job *job, queue_outcome o)
{
    o.now_ms = worker_wall_ms();
    settler_add(w->settler, job, &o);
}

void worker_settle_unattempted(worker *w, queue_job *job, const char *state, int64_t due_ms,
                               const char *why)
{
    worker_settle(w, job, (queue_outcome){.state = state, .attempts = job->attempts,
                                          .due_ms = due_ms, .last_error = why, .breaker = ""});
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;   /* the receiver's body is not kept */
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0) {
        size_t k = len - 12;
        if (k >= sizeof t->retry_after)
            k = sizeof t->retry_after - 1;
        memcpy(t->retry_after, p + 12, k);
        t->retry_after[k] = '\0';
        for (char *e = t->retry_after + strlen(t->retry_after);
             e > t->retry_after && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '); e--)
            e[-1] = '\0';
    }
    return len;
}

/* Every address curl connects to passes here, after DNS: the deny list sees the real target. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    transfer *t = ud;
    (void)purpose;
    char why[64];
    if (t->deny_private && deliver_address_denied(&a->addr, why, sizeof why)) {
        char host[64] = "?";
        if (a->family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&a->addr)->sin_addr, host, sizeof host);
        else if (a->family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->addr)->sin6_addr, host, sizeof host);
        snprintf(t->denied, sizeof t->denied, "target address %s is %s", host, why);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* Frees t; its easy handle is kept for the next transfer (curl_easy_reset there). */
static void transfer_free(worker *w, transfer *t)
{
    if (t->easy && w->nidle < (int)w->cfg->concurrency)
        w->idle[w->nidle++] = t->easy;
    else if (t->easy)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    deliver_request_free(&t->req);
    queue_job_free(&t->job);
    reg_release(t->snap);
    free(t);
}

void worker_log_attempt(const queue_job *j, int attempt, int status, int64_t latency_ms,
                        const char *result, const char *error)
{
    log_msg(LOG_INFO, "delivery",
            "job_id=%s event_id=%s subscriber_id=%s attempt=%d status=%d latency_ms=%lld "
            "outcome=%s%s%s%s",
            j->job_id, j->event_id, j->sub_id, attempt, status, (long long)latency_ms, result,
            error && *error ? " error=\"" : "", error && *error ? error : "",
            error && *error ? "\"" : "");
}

/* The newest snapshot, caught up with the store when one of the jobs names a subscriber it lacks
 * (created a moment ago, and this worker's refresher has not seen it yet). */
void worker_begin(worker *w, queue_job *job, reg_snapshot *snap, const subscriber *sub, int64_t now)
{
    transfer *t = calloc(1, sizeof *t);
    t->job = *job;
    memset(job, 0, sizeof *job);
    t->snap = snap;
    t->sub = sub;
    if (!w->data_event || strcmp(w->data_event, t->job.event_id) != 0) {
        cJSON_Delete(w->data);
        free(w->data_event);
        w->data = cJSON_Parse(t->job.data);
        w->data_event = strdup(t->job.event_id);
    }
    deliver_job dj = {.job_id = t->job.job_id, .event_id = t->job.event_id,
                      .topic = t->job.topic, .published_at_ms = t->job.published_at_ms,
                      .attempt = t->job.attempts + 1, .data = w->data};
    char err[256];
    int rc = deliver_build(sub, &dj, now / 1000, &t->req, err, sizeof err);
    if (rc != 0) {   /* permanent: no attempt can succeed until the subscriber or event changes */
        int attempts = t->job.attempts + 1;
        worker_log_attempt(&t->job, attempts, 0, 0, "dead", err);
        metrics_inc(M_DELIVER_DEAD, 1);
        worker_settle(w, &t->job, (queue_outcome){.state = "dead", .attempts = attempts,
                                                  .attempt_at_ms = now, .last_error = err,
                                                  .breaker = ""});
        transfer_free(w, t);
        return;
    }
    CURL *e = w->nidle ? w->idle[--w->nidle] : curl_easy_init();
    curl_easy_reset(e);
    t->easy = e;
    for (size_t k = 0; k < t->req.nheaders; k++)
        t->headers = curl_slist_append(t->headers, t->req.headers[k]);
    curl_easy_setopt(e, CURLOPT_URL, t->req.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)sub->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(sub->timeout_ms < 10000 ? sub->timeout_ms : 10000));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    if (strcmp(t->req.method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(t->req.method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->req.body_len);
        if (strcmp(t->req.method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->req.method);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    t->deny_private = w->cfg->deny_private != 0;
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    t->started_ns = worker_mono_ns();
    curl_multi_add_handle(w->multi, e);
    t->next = w->inflight;
    w->inflight = t;
    w->ninflight++;
}

static void disable_subscriber(worker *w, const char *sub_id)
{
    subscriber s;
    if (reg_get(w->r, w->cfg->prefix, sub_id, &s) != REG_STORED)
        return;
    s.enabled = false;
    s.updated_at_ms = worker_wall_ms();
    reg_put(w->r, w->cfg->prefix, &s, 0, NULL);
    log_msg(LOG_WARN, "subscriber.disabled", "subscriber_id=%s reason=\"410 Gone\"", sub_id);
    sub_free(&s);
}

static void finish(worker *w, transfer *t, CURLcode res)
{
    long status = 0;
    if (res == CURLE_OK)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    int64_t latency_ms = (worker_mono_ns() - t->started_ns) / 1000000;
    metrics_observe(H_DELIVERY_SECONDS, (double)latency_ms / 1000.0);
    metrics_status((int)status);
    char error[300] = "";
    if (res != CURLE_OK)
        snprintf(error, sizeof error, "%s", t->err[0] ? t->err : curl_easy_strerror(res));
    else if (status < 200 || status > 299)
        snprintf(error, sizeof error, "HTTP %ld", status);
    const subscriber *s = t->sub;
    int attempt = t->job.attempts + 1;
    int64_t now = worker_wall_ms();
    if (t->denied[0]) {   /* policy, not a fault: no retry can succeed */
        snprintf(error, sizeof error, "%s, refused by SWITCHYARD_DENY_PRIVATE_TARGETS", t->denied);
        worker_log_attempt(&t->job, attempt, 0, latency_ms, "dead", error);
        metrics_inc(M_DELIVER_DEAD, 1);
        worker_settle(w, &t->job, (queue_outcome){.state = "dead", .attempts = attempt,
                                                  .attempt_at_ms = now, .latency_ms = latency_ms,
                                                  .last_error = error, .breaker = ""});
        return;
    }
    retry_verdict v = retry_classify((int)status, s->nsuccess >= 0 ? s->success_codes : NULL,
                                     s->nsuccess >= 0 ? (size_t)s->nsuccess : 0,
                                     s->ndiscard >= 0 ? s->discard_codes : NULL,
                                     s->ndiscard >= 0 ? (size_t)s->ndiscard : 0);
    const char *state;
    int64_t due = 0;
    switch (v) {
    case RETRY_DONE:
        state = "delivered";
        error[0] = '\0';
        metrics_inc(M_DELIVER_DELIVERED, 1);
        break;
    case RETRY_DISCARD:
        state = "discarded";
        metrics_inc(M_DELIVER_DISCARDED, 1);
        break;
    case RETRY_GONE:
        state = "gone";
        metrics_inc(M_DELIVER_GONE, 1);
        disable_subscriber(w, s->id);
        break;
    default: {
        retry_policy p = {.max_attempts = s->max_attempts, .delays_ms = s->retry_delays_ms,
                          .ndelays = (size_t)s->nretry_delays};
        int64_t after = -1;
        if ((status == 429 || status == 503) && t->retry_after[0])
            after = retry_parse_after(t->retry_after, now / 1000);
        uint32_t rnd;
        codec_random(&rnd, sizeof rnd);
        int64_t delay = retry_next_delay_ms(&p, attempt, after, rnd);
        if (delay < 0) {
            state = "dead";
            metrics_inc(M_DELIVER_DEAD, 1);
        } else {
            state = "retrying";
            due = now + delay;
            metrics_inc(M_DELIVER_RETRIED, 1);
        }
    }
    }
    /* what the attempt says of the endpoint, for its circuit breaker and its share of slots */
    const char *health = status == 0 || status == 429 || status >= 500 ? "fail" : "ok";
    if (health[0] == 'o' && latency_ms < SLOW_MS)
        slots_proven(&w->slots, s->id, worker_mono_ns() / 1000000, 1);
    worker_log_attempt(&t->job, attempt, (int)status, latency_ms, state, error);
    worker_settle(w, &t->job, (queue_outcome){.state = state, .attempts = attempt,
                                              .attempt_at_ms = now, .latency_ms = latency_ms,
                                              .due_ms = due, .last_status = (int)status,
                                              .last_error = error, .breaker = health});
}

static void reap(worker *w)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        transfer *t;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode res = m->data.result;
        curl_multi_remove_handle(w->multi, t->easy);
        for (transfer **pp = &w->inflight; *pp; pp = &(*pp)->next)
            if (*pp == t) {
                *pp = t->next;
                break;
            }
        w->ninflight--;
        finish(w, t, res);
        transfer_free(w, t);
    }
}

static void heartbeat(worker *w)
{
    if (!w->ninflight && !w->nwaiting && !w->slots.nheld && !w->cur.n)
        return;
    char **ids =
        malloc((size_t)(w->ninflight + w->nwaiting + w->slots.nheld + w->cur.n) * sizeof *ids);
    size_t n = 0;
    for (int k = 0; k < w->cur.n; k++)   /* up for admission (the intake only reads entry) */
        if (w->cur.jobs[k].entry)
            ids[n++] = w->cur.jobs[k].entry;
    for (transfer *t = w->inflight; t; t = t->next)
        ids[n++] = t->job.entry;
    for (waiting *q = w->waiting; q; q = q->next)
        ids[n++] = q->job.entry;
    for (slots_queue *q = w->slots.holds; q; q = q->next)
        for (slots_held *h = q->head; h; h = h->next)
            ids[n++] = h->job.entry;
    queue_heartbeat(w->r, w->cfg->prefix, w->consumer, ids, n);
    free(ids);
}

/* Hands jobs in flight, waiting or held back to the queue, unattempted, for another worker. */
static void return_inflight(worker *w)
{
    while (w->inflight) {
        transfer *t = w->inflight;
        w->inflight = t->next;
        curl_multi_remove_handle(w->multi, t->easy);
        log_msg(LOG_INFO, "worker.returned", "job_id=%s", t->job.job_id);
        worker_settle_unattempted(w, &t->job, "pending", 0, "worker stopped");
        transfer_free(w, t);
        w->ninflight--;
    }
    while (w->waiting) {
        waiting *q = w->waiting;
        w->waiting = q->next;
        worker_settle_unattempted(w, &q->job, "pending", 0, "worker stopped");
        reg_release(q->snap);
        free(q);
        w->nwaiting--;
    }
    while (w->slots.holds) {
        queue_job job;
        slots_unhold(&w->slots, w->slots.holds, &job);
        worker_settle_unattempted(w, &job, "pending", 0, "worker stopped");
    }
}

/* The intake's result is ready: end the loop's poll (any thread may call it). */
static void wake(void *multi) { curl_multi_wakeup(multi); }

static void serve_metrics(const http_req *q, http_resp *r, void *ctx)
{
    worker *w = ctx;
    if (strcmp(q->path, "/healthz") == 0) {
        buf_puts(&r->body, "{\"status\":\"ok\"}");
    } else if (strcmp(q->path, "/metrics") == 0) {
        r->type = "text/plain; version=0.0.4";
        metrics_render(&r->body);
        buf_printf(&r->body,
                   "# HELP switchyard_worker_inflight Deliveries in flight in this worker.\n"
                   "# TYPE switchyard_worker_inflight gauge\nswitchyard_worker_inflight %d\n"
                   "# HELP switchyard_worker_held Jobs this worker holds in memory: taken ahead "
                   "of a free slot, or waiting for their subscriber's share of its slots.\n"
                   "# TYPE switchyard_worker_held gauge\nswitchyard_worker_held %d\n",
                   w->ninflight, w->nwaiting + w->slots.nheld);
    } else {
        http_error(r, 404, "not_found", "no such endpoint: %s", q->path);
    }
}

int worker_run(const config *cfg)
{
    worker w = {.cfg = cfg,
                .fair_share = cfg->concurrency / 4 > 2 ? (int)(cfg->concurrency / 4) : 2};
    char err[256], host[64] = "host", rnd[32];
    gethostname(host, sizeof host - 1);
    codec_new_id("", rnd);
    rnd[8] = '\0';
    snprintf(w.consumer, sizeof w.consumer, "%s-%d-%s", host, (int)getpid(), rnd);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    w.r = rds_new(cfg->redis_url, 5000, err, sizeof err);
    if (!w.r) {
        log_msg(LOG_ERROR, "worker.config", "error=\"%s\"", err);
        return 2;
    }
    queue_breaker breaker = {.failures = (int)cfg->breaker_failures,
                             .probe_ms = cfg->breaker_probe_ms};
    w.settler = settler_start(cfg->redis_url, cfg->prefix, cfg->retention_s, &breaker, err,
                                    sizeof err);
    if (!w.settler) {
        log_msg(LOG_ERROR, "worker.config", "error=\"%s\"", err);
        rds_free(w.r);
        return 2;
    }
    w.reg = reg_start(cfg->redis_url, cfg->prefix, (int)cfg->refresh_ms, err, sizeof err);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    w.multi = curl_multi_init();
    w.intake = intake_start(cfg->redis_url, cfg->prefix, w.consumer, cfg->visibility_ms, wake,
                            w.multi, err, sizeof err);
    http_server *srv = http_start(cfg->worker_listen, 1, 4096, serve_metrics, &w, err, sizeof err);
    if (!srv || !w.reg || !w.intake) {
        log_msg(LOG_ERROR, "worker.listen", "error=\"%s\"", err);
        http_stop(srv, 0);
        intake_stop(w.intake, NULL, NULL);
        curl_multi_cleanup(w.multi);
        curl_global_cleanup();
        settler_stop(w.settler, 0);
        reg_stop(w.reg);
        rds_free(w.r);
        return 1;
    }
    w.idle = calloc((size_t)cfg->concurrency, sizeof *w.idle);
    curl_multi_setopt(w.multi, CURLMOPT_MAXCONNECTS, (long)cfg->concurrency);
    log_msg(LOG_INFO, "worker.started", "consumer=%s concurrency=%lld prefix=%s version=%s",
            w.consumer, (long long)cfg->concurrency, cfg->prefix, SWITCHYARD_VERSION);

    int64_t next_promote = 0, next_reclaim = 0, next_beat = 0, next_take = 0;
    int ready = 0, was_down = 0, subs_known = 0;
    int64_t drain_until = 0;
    /* the intake takes and admits on its own thread; the loop never waits on those round trips */
    while (!stopping || w.ninflight || intake_poll(w.intake) == INTAKE_BUSY) {
        int64_t now = worker_mono_ns() / 1000000;
        if (stopping && !drain_until)
            drain_until = now + DRAIN_MS;
        if (drain_until && now > drain_until)
            break;
        int up = rds_ensure(w.r) == 0;
        if (!up && !was_down)
            log_msg(LOG_WARN, "worker.redis_unavailable", "error=\"%s\"", rds_error(w.r));
        else if (up && was_down)
            log_msg(LOG_INFO, "worker.redis_back", "%s", "");
        was_down = !up;
        if (up && !ready)
            ready = queue_setup(w.r, cfg->prefix) == 0;
        if (up && ready && now >= next_promote) {
            queue_promote(w.r, cfg->prefix, worker_wall_ms());
            next_promote = now + PROMOTE_EVERY_MS;
        }
        if (up && ready && now >= next_beat) {
            heartbeat(&w);
            next_beat = now + cfg->visibility_ms / 3;
        }
        /* finished transfers first, so their slots are filled again in this same round */
        int running;
        curl_multi_perform(w.multi, &running);
        log_hold();   /* a line per attempt: one write for the round */
        reap(&w);
        if (intake_poll(w.intake) == INTAKE_DONE) {
            intake_result res = intake_collect(w.intake);
            if (!res.take) {   /* verdicts for w.cur */
                if (stopping)
                    flow_return_batch(&w, &w.cur);
                else
                    flow_finish_batch(&w, &w.cur, res.rc);
            } else if (res.rc > 0 && stopping) {
                batch b = {.jobs = res.jobs, .n = res.rc};
                flow_return_batch(&w, &b);
            } else if (res.rc > 0) {
                flow_start_batch(&w, res.jobs, res.rc, 0);
            } else {   /* none came within the block (ask again), or Redis failed (wait) */
                free(res.jobs);
                if (res.rc < 0)
                    next_take = now + 100;
            }
        }
        log_release();
        if (w.waiting && !stopping)   /* when stopping, they go back with return_inflight */
            flow_start_waiting(&w);
        if (w.slots.holds && !stopping && intake_poll(w.intake) == INTAKE_IDLE)
            flow_start_held(&w);
        /* jobs are taken ahead, up to half the slots again, so that a transfer that ends finds
         * the next job admitted and waiting here instead of two round trips away */
        int room =
            (int)cfg->concurrency * 3 / 2 - w.ninflight - w.nwaiting - flow_held_taking_room(&w);
        /* no job is taken before the subscribers are known: it would be discarded as deleted
         * (once loaded, a registry stays loaded) */
        if (!subs_known)
            subs_known = reg_loaded(w.reg);
        if (up && ready && !stopping && room > 0 && now >= next_take && subs_known &&
            intake_poll(w.intake) == INTAKE_IDLE) {
            int reclaim = now >= next_reclaim;
            if (reclaim)
                next_reclaim = now + RECLAIM_EVERY_MS;
            /* the intake may block until jobs come (the loop goes on meanwhile), but only
             * briefly while held jobs may need it for their admission */
            intake_take(w.intake, room, w.slots.holds ? 10 : (int)PROMOTE_EVERY_MS, reclaim);
        }
        if (!up && !w.ninflight) {
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
        /* until a transfer moves or the intake has a result (it wakes the poll); at least once
         * per promotion period */
        if (intake_poll(w.intake) != INTAKE_DONE)
            curl_multi_poll(w.multi, NULL, 0, PROMOTE_EVERY_MS, NULL);
    }
    queue_job *left = NULL;
    int nleft = 0;
    intake_stop(w.intake, &left, &nleft);   /* waits for what it is doing */
    if (nleft) {
        batch b = {.jobs = left, .n = nleft};
        flow_return_batch(&w, &b);
    }
    if (w.cur.jobs)   /* its admission was under way */
        flow_return_batch(&w, &w.cur);
    return_inflight(&w);
    size_t lost = settler_stop(w.settler, 5000);
    if (lost)   /* Redis is gone: these jobs are reclaimed after the visibility timeout */
        log_msg(LOG_WARN, "worker.unsettled", "outcomes=%zu", lost);
    while (w.nidle)
        curl_easy_cleanup(w.idle[--w.nidle]);
    free(w.idle);
    cJSON_Delete(w.data);
    free(w.data_event);
    curl_multi_cleanup(w.multi);
    curl_global_cleanup();
    http_stop(srv, 1000);
    reg_stop(w.reg);
    rds_free(w.r);
    log_msg(LOG_INFO, "worker.stopped", "consumer=%s", w.consumer);
    return 0;
}
