#include "hub.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "queue.h"

static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

int64_t hub_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void release_handles(hub_thread *t)
{
    if (!t->snap)
        return;
    for (size_t i = 0; i < t->snap->n; i++)
        if (t->handles[i] > 0)
            filter_release(t->fe, t->handles[i]);
    free(t->handles);
    free(t->last_error_log_ms);
    t->handles = NULL;
    t->last_error_log_ms = NULL;
    reg_release(t->snap);
    t->snap = NULL;
}

static void thread_free(void *p)
{
    hub_thread *t = p;
    if (pthread_getspecific(thread_key) == t)
        pthread_setspecific(thread_key, NULL);
    rpipe_free(t->pub);   /* first: its callbacks answer publishes that still wait */
    release_handles(t);
    free(t->token);
    auth_claims_free(&t->claims);
    filter_free(t->fe);
    rds_free(t->r);
    free(t);
}

/* The key only finds a thread's state; the loop's exit hook frees it (thread_free). */
static void make_key(void) { pthread_key_create(&thread_key, NULL); }

hub_thread *hub_thread_get(hub *h)
{
    pthread_once(&thread_key_once, make_key);
    hub_thread *t = pthread_getspecific(thread_key);
    if (t)
        return t;
    char err[256];
    t = calloc(1, sizeof *t);
    loop *l = loop_current();
    t->r = rds_new(h->cfg->redis_url, 2000, err, sizeof err);
    t->fe = t->r ? filter_new(&h->limits, err, sizeof err) : NULL;
    t->pub = t->fe && l ? rpipe_new(l, h->cfg->redis_url, 2000, err, sizeof err) : NULL;
    if (!t->pub || loop_on_exit(l, thread_free, t) != 0) {
        log_msg(LOG_ERROR, "hub.thread_setup_failed", "error=\"%s\"",
                l ? err : "an HTTP thread without an event loop");
        abort();
    }
    pthread_setspecific(thread_key, t);
    return t;
}

reg_snapshot *hub_thread_sync(hub *h, hub_thread *t)
{
    reg_snapshot *s = reg_acquire(h->reg);
    if (s == t->snap) {
        reg_release(s);
        return t->snap;
    }
    /* Both snapshots are sorted by id: walk them together and keep the compiled filter of every
     * subscriber whose filter text did not change, so a change costs one compile, not n. */
    int *handles = calloc(s->n + 1, sizeof *handles);
    int64_t *logged = calloc(s->n + 1, sizeof *logged);
    reg_snapshot *old = t->snap;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        const subscriber *sub = &s->subs[i];
        while (old && k < old->n && strcmp(old->subs[k].id, sub->id) < 0)
            k++;
        if (old && k < old->n && strcmp(old->subs[k].id, sub->id) == 0 &&
            strcmp(old->subs[k].filter, sub->filter) == 0) {
            handles[i] = t->handles[k];
            logged[i] = t->last_error_log_ms[k];
            t->handles[k] = 0;   /* moved: not released below */
            continue;
        }
        char err[256];
        handles[i] = filter_compile(t->fe, sub->filter, strlen(sub->filter), err, sizeof err);
    }
    release_handles(t);
    t->snap = s;
    t->handles = handles;
    t->last_error_log_ms = logged;
    return s;
}

static void route(const http_req *q, http_resp *r, void *ctx)
{
    hub *h = ctx;
    const char *p = q->path;
    int get = strcmp(q->method, "GET") == 0 || strcmp(q->method, "HEAD") == 0;
    if (strcmp(p, "/v1/publish") == 0) {
        api_publish(h, q, r, 0);
    } else if (strcmp(p, "/publish") == 0) {
        api_publish(h, q, r, 1);
    } else if (strncmp(p, "/v1/", 4) == 0) {
        api_admin(h, q, r);
    } else if (strcmp(p, "/healthz") == 0 || strcmp(p, "/readyz") == 0 ||
               strcmp(p, "/metrics") == 0) {
        if (!get) {
            snprintf(r->allow, sizeof r->allow, "GET");
            http_error(r, 405, "method_not_allowed", "%s answers GET only", p);
            return;
        }
        if (strcmp(p, "/healthz") == 0) {
            buf_puts(&r->body, "{\"status\":\"ok\"}");
            return;
        }
        hub_thread *t = hub_thread_get(h);
        if (strcmp(p, "/readyz") == 0) {
            redisReply *rep = rds_cmd(t->r, "PING");
            if (rep && rep->type == REDIS_REPLY_STATUS && !reg_loaded(h->reg)) {
                http_error(r, 503, "redis_unavailable",
                           "the subscribers are not loaded from Redis yet");
                snprintf(r->retry_after, sizeof r->retry_after, "1");
            } else if (rep && rep->type == REDIS_REPLY_STATUS) {
                buf_puts(&r->body, "{\"status\":\"ready\"}");
            } else {
                http_error(r, 503, "redis_unavailable", "Redis is not reachable: %s",
                           rep && rep->type == REDIS_REPLY_ERROR ? rep->str : rds_error(t->r));
                snprintf(r->retry_after, sizeof r->retry_after, "1");
            }
            if (rep)
                freeReplyObject(rep);
            return;
        }
        r->type = "text/plain; version=0.0.4";
        metrics_render(&r->body);
        long long delayed = 0, dead = 0;
        long long depth = queue_depth(t->r, h->cfg->prefix, &delayed, &dead);
        buf_printf(&r->body, "# HELP switchyard_up_redis 1 if Redis answered this scrape.\n"
                             "# TYPE switchyard_up_redis gauge\nswitchyard_up_redis %d\n",
                   depth >= 0);
        if (depth >= 0)
            buf_printf(&r->body,
                       "# HELP switchyard_queue_jobs Jobs by place in the queue.\n"
                       "# TYPE switchyard_queue_jobs gauge\n"
                       "switchyard_queue_jobs{place=\"stream\"} %lld\n"
                       "switchyard_queue_jobs{place=\"delayed\"} %lld\n"
                       "switchyard_queue_jobs{place=\"dead\"} %lld\n",
                       depth, delayed, dead);
        long long age = queue_oldest_age_ms(t->r, h->cfg->prefix, hub_now_ms());
        if (age >= 0)
            buf_printf(&r->body,
                       "# HELP switchyard_queue_oldest_age_seconds Age of the oldest job on the "
                       "stream, waiting or being delivered: the queue's lag.\n"
                       "# TYPE switchyard_queue_oldest_age_seconds gauge\n"
                       "switchyard_queue_oldest_age_seconds %.3f\n",
                       (double)age / 1000.0);
        long long open = queue_open_circuits(t->r, h->cfg->prefix);
        if (open >= 0)
            buf_printf(&r->body,
                       "# HELP switchyard_circuits_open Subscribers whose circuit is open or "
                       "half-open.\n# TYPE switchyard_circuits_open gauge\n"
                       "switchyard_circuits_open %lld\n",
                       open);
    } else {
        http_error(r, 404, "not_found", "no such endpoint: %s %s", q->method, p);
    }
}

/* One HTTP thread per CPU this process may run on, at least 2 (a slow admin call then never holds
 * up every publish) and at most 4: a publish costs Redis ~20-40 µs of its one thread, so a single
 * Redis stops at about the rate 4 loops already reach, and each thread keeps its own compiled
 * filters. Extra threads on a small machine only take CPU from Redis and each other: on 2 cores,
 * 2 threads publish 3-29% faster than 4 (five interleaved pairs, bench/RESULTS.md). */
static unsigned default_threads(void)
{
    cpu_set_t set;
    int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 2;
    return n < 2 ? 2 : n > 4 ? 4 : (unsigned)n;
}

int hub_run(const config *cfg)
{
    if (!cfg->jwt_secret[0]) {
        log_msg(LOG_ERROR, "hub.config",
                "error=\"SWITCHYARD_JWT_SECRET is not set; the hub needs it to check publisher "
                "tokens\"");
        return 2;
    }
    if (!cfg->admin_token[0])
        log_msg(LOG_WARN, "hub.config",
                "warning=\"SWITCHYARD_ADMIN_TOKEN is not set; the admin API answers 401\"");
    hub h = {.cfg = cfg};
    filter_limits_default(&h.limits);
    h.limits.deadline_ns = cfg->filter_deadline_ms * 1000000;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);   /* threads inherit the mask; only sigwait sees them */
    signal(SIGPIPE, SIG_IGN);

    char err[256];
    h.reg = reg_start(cfg->redis_url, cfg->prefix, (int)cfg->refresh_ms, err, sizeof err);
    if (!h.reg) {
        log_msg(LOG_ERROR, "hub.config", "error=\"%s\"", err);
        return 2;
    }
    rds *probe = rds_new(cfg->redis_url, 2000, err, sizeof err);   /* checks the URL once */
    if (!probe) {
        log_msg(LOG_ERROR, "hub.config", "error=\"%s\"", err);
        reg_stop(h.reg);
        return 2;
    }
    rds_free(probe);
    unsigned threads = cfg->hub_threads ? (unsigned)cfg->hub_threads : default_threads();
    http_server *srv = http_start(cfg->listen, threads, (size_t)cfg->max_body, route, &h, err,
                                  sizeof err);
    if (!srv) {
        log_msg(LOG_ERROR, "hub.listen", "error=\"%s\"", err);
        reg_stop(h.reg);
        return 1;
    }
    log_msg(LOG_INFO, "hub.started", "listen=%s prefix=%s threads=%u version=%s", cfg->listen,
            cfg->prefix, threads, SWITCHYARD_VERSION);
    int sig = 0;
    sigwait(&set, &sig);
    log_msg(LOG_INFO, "hub.stopping", "signal=%d", sig);
    http_stop(srv, 10000);   /* each thread answers its publishes still waiting, then closes */
    reg_stop(h.reg);
    log_msg(LOG_INFO, "hub.stopped", "%s", "");
    return 0;
}
