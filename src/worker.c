#include "worker.h"

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

typedef struct transfer {
    CURL *easy;                  /* the transfer */
    struct curl_slist *headers;  /* request headers */
    deliver_request req;         /* what is being sent */
    queue_job job;               /* the job, owned */
    reg_snapshot *snap;          /* keeps sub alive */
    const subscriber *sub;       /* in snap */
    int64_t started_ns;          /* monotonic, ns */
    char retry_after[64];        /* the response's Retry-After value, or "" */
    char err[CURL_ERROR_SIZE];   /* curl's error text */
    char denied[96];             /* why the deny list refused the target address, or "" */
    int deny_private;            /* 1: apply the deny list to every address connected to */
    struct transfer *next;       /* in the worker's list */
} transfer;

typedef struct waiting {       /* admitted, but its subscriber holds its fair share of this worker */
    queue_job job;               /* owned */
    reg_snapshot *snap;          /* one reference, keeps sub alive */
    const subscriber *sub;       /* in snap */
    int64_t since_ms;            /* when it started waiting, epoch ms */
    struct waiting *next;
} waiting;

/* Jobs between their selection and their admission's verdicts (select_batch, finish_batch). */
typedef struct batch {
    queue_job *jobs;             /* owned; a job handed on elsewhere is left zeroed */
    int n;                       /* entries in jobs */
    reg_snapshot *snap;          /* one reference */
    const subscriber **subs;     /* per job: its subscriber when up for admission, else NULL */
    queue_admission *adm;        /* the jobs up for admission */
    size_t nadm;                 /* entries in adm */
    int64_t now;                 /* when selected, epoch ms */
} batch;

typedef struct worker {
    const config *cfg;           /* settings */
    rds *r;                      /* the worker's Redis connection */
    registry *reg;               /* subscriber snapshots */
    CURLM *multi;                /* all transfers */
    transfer *inflight;          /* list of transfers under way */
    int ninflight;               /* entries in inflight */
    settler *settler;            /* records outcomes, on its own thread and connection */
    char consumer[128];          /* stream consumer name: host-pid-random */
    int fair_share;              /* most deliveries one subscriber may hold in this worker */
    waiting *waiting;            /* admitted jobs waiting for their subscriber's share, in memory */
    int nwaiting;                /* entries in waiting */
    CURL **idle;                 /* easy handles of finished transfers, for the next ones */
    int nidle;                   /* entries in idle (at most concurrency) */
    char *data_event;            /* event whose data is parsed in data, or NULL */
    cJSON *data;                 /* that event's data: jobs of one event come together */
    slots slots;                 /* proven endpoints; jobs of unproven or slow subscribers held
                                    over their share */
    intake *intake;              /* takes and admits jobs on its own thread */
    batch cur;                   /* the batch whose admission the intake is working on */
} worker;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* {"at","status","latency_ms","error"}, written directly: one per attempt, so it stays cheap. */
static char *attempt_json(int64_t at_ms, int status, int64_t latency_ms, const char *error)
{
    char t[32];
    codec_time_format(at_ms, t);
    buf b = BUF_INIT;
    buf_printf(&b, "{\"at\":\"%s\",\"status\":", t);
    if (status)
        buf_printf(&b, "%d", status);
    else
        buf_puts(&b, "null");
    buf_printf(&b, ",\"latency_ms\":%lld,\"error\":", (long long)latency_ms);
    if (error && *error)
        buf_json_str(&b, error, strlen(error));
    else
        buf_puts(&b, "null");
    buf_putc(&b, '}');
    return buf_take(&b);
}

/* Hands an outcome to the settler, which records it while this thread goes on delivering. Until
 * Redis has it, the job stays pending in our name, so nothing is lost if we die. Takes ownership of
 * job and att_json. */
static void settle(worker *w, queue_job *job, const char *state, int attempts, char *att_json,
                   int64_t due_ms, int status, const char *error, const char *breaker)
{
    queue_outcome o = {.state = state, .attempts = attempts, .attempt_json = att_json,
                       .due_ms = due_ms, .now_ms = wall_ms(), .last_status = status,
                       .last_error = error ? error : "", .breaker = breaker};
    settler_add(w->settler, job, &o);
    free(att_json);
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

static void log_attempt(const queue_job *j, int attempt, int status, int64_t latency_ms,
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
static reg_snapshot *snapshot_for(worker *w, const queue_job *jobs, int n)
{
    reg_snapshot *snap = reg_acquire(w->reg);
    for (int k = 0; k < n; k++)
        if (reg_find(snap, jobs[k].sub_id) < 0) {
            long long ver = reg_version(w->r, w->cfg->prefix);
            if (ver > snap->version) {
                reg_release(snap);
                reg_wait_version(w->reg, ver, 2000);
                snap = reg_acquire(w->reg);
            }
            break;
        }
    return snap;
}

/* Settles a job whose subscriber was deleted. Returns 1 if it took the job. (A disabled
 * subscriber's jobs go to queue_admit, which finds those whose ttl ran out and admits none.) */
static int settle_unattemptable(worker *w, queue_job *job, const subscriber *sub)
{
    if (!sub) {
        log_attempt(job, job->attempts, 0, 0, "discarded", "subscriber was deleted");
        metrics_inc(M_DELIVER_DISCARDED, 1);
        settle(w, job, "discarded", job->attempts, NULL, 0, 0, "subscriber was deleted", "");
        return 1;
    }
    return 0;
}

#define SLOW_MS 1000      /* a delivery running this long marks its subscriber's endpoint slow */
/* How many of this worker's slots the subscriber may use now, and how many it uses (*held). A
 * quarter of them once its endpoint has answered fast, and more while the other subscribers leave
 * slots idle: all but a quarter kept free for them (work-conserving: one busy subscriber alone gets
 * three quarters of the worker); a sixteenth before that (slow start, so an endpoint that hangs
 * from the start holds few slots until its timeout) and while one of its deliveries has run longer
 * than SLOW_MS (*limited = 1 in both cases). */
static int share_for(worker *w, const char *sub_id, int *held, int *limited)
{
    int64_t now = mono_ns();
    int n = 0, slow = 0;
    for (const transfer *t = w->inflight; t; t = t->next)
        if (strcmp(t->job.sub_id, sub_id) == 0) {
            n++;
            slow |= now - t->started_ns > (int64_t)SLOW_MS * 1000000;
        }
    *held = n;
    *limited = slow || !slots_proven(&w->slots, sub_id, now / 1000000, 0);
    int small = w->fair_share / 4 > 2 ? w->fair_share / 4 : 2;
    if (*limited)
        return small;
    int idle = (int)w->cfg->concurrency - w->fair_share - (w->ninflight - n);
    return idle > w->fair_share ? idle : w->fair_share;
}

#define HELD_PER_SLOT 64   /* jobs held in memory per slot of concurrency, at most */

/* Whether a job just taken waits in memory, unadmitted, for its subscriber's share: when the
 * subscriber has jobs held already (they go first), or when it is unproven or slow and its share
 * is taken by its deliveries here and by its n_adm admissions of this batch. A proven subscriber's
 * excess is admitted and waits briefly instead (start_waiting). */
static int must_hold(worker *w, const char *sub_id, const queue_admission *adm, size_t n_adm)
{
    if (slots_find(&w->slots, sub_id))
        return 1;
    int used, limited;
    int share = share_for(w, sub_id, &used, &limited);
    if (!limited)
        return 0;
    for (size_t a = 0; a < n_adm; a++)
        used += strcmp(adm[a].job->sub_id, sub_id) == 0;
    return used >= share;
}

static uint32_t jitter_ms(uint32_t range)
{
    uint32_t r;
    codec_random(&r, sizeof r);
    return r % range;
}

static void begin(worker *w, queue_job *job, reg_snapshot *snap, const subscriber *sub, int64_t now);

/* Starts what may start of the jobs just taken (or, released = 1, just released from the held
 * ones); the rest are held or wait (in memory or the delayed set), park (behind an open circuit)
 * or end. Takes every job. */
/* Part one of starting a batch of jobs (taken, or released from holding): each job is settled
 * at once if it cannot be attempted, held in memory if its subscriber has no share to spare, or
 * put up for admission (b->adm). Returns how many are up for admission. */
static size_t select_batch(worker *w, batch *b, int released)
{
    b->snap = snapshot_for(w, b->jobs, b->n);
    b->subs = calloc((size_t)b->n + 1, sizeof *b->subs);
    b->adm = calloc((size_t)b->n + 1, sizeof *b->adm);
    b->nadm = 0;
    b->now = wall_ms();
    for (int k = 0; k < b->n; k++) {
        queue_job *job = &b->jobs[k];
        long i = reg_find(b->snap, job->sub_id);
        const subscriber *sub = i < 0 ? NULL : &b->snap->subs[i];
        if (settle_unattemptable(w, job, sub))
            continue;
        if (sub->enabled && !released && must_hold(w, job->sub_id, b->adm, b->nadm)) {
            if (w->slots.nheld < HELD_PER_SLOT * (int)w->cfg->concurrency)
                slots_hold(&w->slots, job);   /* costs Redis nothing while it waits */
            else   /* memory is full of slow endpoints' jobs: this one waits in Redis a while */
                settle(w, job, "pending", job->attempts, NULL,
                       b->now + sub->timeout_ms + jitter_ms(1000), 0, "", "");
            continue;
        }
        b->subs[k] = sub;
        b->adm[b->nadm++] = (queue_admission){.job = job, .max_in_flight = sub->max_in_flight,
                                              .rate_per_s = sub->rate_limit_per_s,
                                              .lease_ms = (int64_t)sub->timeout_ms + 5000,
                                              .disabled = !sub->enabled};
    }
    return b->nadm;
}

static void batch_free(batch *b)
{
    for (int k = 0; k < b->n; k++)
        queue_job_free(&b->jobs[k]);
    free(b->jobs);
    free(b->subs);
    free(b->adm);
    reg_release(b->snap);
    memset(b, 0, sizeof *b);
}

/* Keeps an admitted job in memory, last in line, until start_waiting can begin it: when its
 * subscriber is at its share of this worker, or every slot is busy (it was taken ahead). Takes the
 * job and one reference to snap. */
static void wait_here(worker *w, queue_job *job, reg_snapshot *snap, const subscriber *sub,
                      int64_t now)
{
    waiting *q = calloc(1, sizeof *q);
    q->job = *job;
    memset(job, 0, sizeof *job);
    q->snap = snap;
    q->sub = sub;
    q->since_ms = now;
    waiting **pp = &w->waiting;
    while (*pp)
        pp = &(*pp)->next;
    *pp = q;
    w->nwaiting++;
}

/* Part two, with admission's verdicts (admit_rc 0) or without them (Redis failed: every job asks
 * again in a second): each job begins, waits for its subscriber's share, or is settled as the
 * verdict says. Frees b. */
static void finish_batch(worker *w, batch *b, int admit_rc)
{
    if (admit_rc != 0)
        for (size_t a = 0; a < b->nadm; a++)
            b->adm[a].verdict = QUEUE_WAIT, b->adm[a].wait_ms = 1000;
    int64_t now = b->now;
    int held, share, limited;
    for (size_t a = 0, k = 0; a < b->nadm; a++) {
        queue_job *job = b->adm[a].job;
        while (&b->jobs[k] != job)
            k++;
        const queue_admission *adm = &b->adm[a];
        if (adm->verdict == QUEUE_DROPPED) {
            continue;   /* its event is gone; Redis has removed the entry */
        } else if (adm->verdict == QUEUE_EXPIRED) {
            log_attempt(job, job->attempts, 0, 0, "expired", "ttl ran out before delivery");
            metrics_inc(M_DELIVER_EXPIRED, 1);
            settle(w, job, "expired", job->attempts, NULL, 0, 0, "ttl ran out before delivery", "");
        } else if (adm->verdict == QUEUE_PARK) {
            settle(w, job, "parked", job->attempts, NULL, 0, 0, "circuit open: waiting for a probe",
                   "");
        } else if (adm->verdict == QUEUE_WAIT && adm->disabled) {
            /* held, not dropped: re-enabling the subscriber resumes delivery */
            settle(w, job, "pending", job->attempts, NULL, now + 30000, 0, "subscriber is disabled",
                   "");
        } else if (adm->verdict == QUEUE_WAIT) {
            settle(w, job, "pending", job->attempts, NULL, now + adm->wait_ms + jitter_ms(50), 0,
                   "", "");
        } else if (!adm->probe && (share = share_for(w, job->sub_id, &held, &limited)) <= held) {
            if (!limited && w->nwaiting < (int)w->cfg->concurrency - w->fair_share) {
                /* over its share: wait here for one of its own slots (start_waiting) */
                atomic_fetch_add(&b->snap->refs, 1);
                wait_here(w, job, b->snap, b->subs[k], now);
            } else {   /* rare: the waiting list is full, or the endpoint turned slow */
                settle(w, job, "pending", job->attempts, NULL, now + 200 + jitter_ms(200), 0, "",
                       "");
            }
        } else {
            if (adm->probe)
                log_msg(LOG_INFO, "breaker.probe", "subscriber_id=%s job_id=%s", job->sub_id,
                        job->job_id);
            atomic_fetch_add(&b->snap->refs, 1);
            if (w->ninflight < (int)w->cfg->concurrency)
                begin(w, job, b->snap, b->subs[k], now);
            else   /* taken ahead: starts when a transfer ends */
                wait_here(w, job, b->snap, b->subs[k], now);
        }
    }
    batch_free(b);
}

/* Starts a batch: selection now, admission on the intake's thread (the loop collects the verdicts
 * and finishes the batch). Takes the jobs array. */
static void start_batch(worker *w, queue_job *jobs, int n, int released)
{
    w->cur = (batch){.jobs = jobs, .n = n};
    if (select_batch(w, &w->cur, released) == 0) {
        finish_batch(w, &w->cur, 0);
        return;
    }
    intake_admit(w->intake, w->cur.now, w->cur.adm, w->cur.nadm);
}

/* Hands every job of a batch back to the queue unattempted (the worker is stopping). */
static void return_batch(worker *w, batch *b)
{
    for (int k = 0; k < b->n; k++)
        if (b->jobs[k].entry)
            settle(w, &b->jobs[k], "pending", b->jobs[k].attempts, NULL, 0, 0, "worker stopped",
                   "");
    batch_free(b);
}

/* Builds the request and adds the transfer. Takes the job and one reference to snap. */
static void begin(worker *w, queue_job *job, reg_snapshot *snap, const subscriber *sub, int64_t now)
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
        log_attempt(&t->job, attempts, 0, 0, "dead", err);
        metrics_inc(M_DELIVER_DEAD, 1);
        settle(w, &t->job, "dead", attempts, attempt_json(now, 0, 0, err), 0, 0, err, "");
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
    t->started_ns = mono_ns();
    curl_multi_add_handle(w->multi, e);
    t->next = w->inflight;
    w->inflight = t;
    w->ninflight++;
}

/* Starts waiting jobs, oldest first, whose subscriber is under its share again, while slots are
 * free; one that waited WAIT_MAX_MS (its endpoint is slow, or every slot is) goes back to the
 * delayed set, so it never blocks this worker's room. */
#define WAIT_MAX_MS 250
static void start_waiting(worker *w)
{
    int64_t now = wall_ms();
    for (waiting **pp = &w->waiting; *pp;) {
        waiting *q = *pp;
        if (w->ninflight >= (int)w->cfg->concurrency && now - q->since_ms <= WAIT_MAX_MS) {
            pp = &q->next;   /* no slot is free: only the ones waiting too long move */
            continue;
        }
        int held, limited;
        int share = share_for(w, q->job.sub_id, &held, &limited);
        int under = held < share && w->ninflight < (int)w->cfg->concurrency;
        if (!under && now - q->since_ms <= WAIT_MAX_MS) {
            pp = &q->next;
            continue;
        }
        *pp = q->next;
        w->nwaiting--;
        if (under) {
            begin(w, &q->job, q->snap, q->sub, now);
        } else {
            settle(w, &q->job, "pending", q->job.attempts, NULL, now + 200 + jitter_ms(200), 0, "",
                   "");
            reg_release(q->snap);
        }
        free(q);
    }
}

/* Held jobs that take room in this worker: those of proven subscribers (held while they were
 * unproven, or behind such), which start as fast as their share allows. A slow or unproven
 * endpoint's held jobs take none, so they never keep the worker from reading other jobs. */
static int held_taking_room(worker *w)
{
    int n = 0;
    for (slots_queue *q = w->slots.holds; q; q = q->next) {
        int used, limited;
        share_for(w, q->sub_id, &used, &limited);
        if (!limited)
            n += q->n;
    }
    return n;
}

/* Releases held jobs, oldest first, as far as their subscribers' shares have room again; they are
 * admitted like jobs just taken. */
static void start_held(worker *w)
{
    queue_job *jobs = NULL;
    int n = 0, cap = 0;
    for (slots_queue *q = w->slots.holds, *next; q; q = next) {
        next = q->next;   /* q is freed when its last job leaves */
        int used, limited;
        int room = share_for(w, q->sub_id, &used, &limited) - used;
        for (int left = q->n; room > 0 && left > 0; room--, left--) {
            if (n == cap)
                jobs = realloc(jobs, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *jobs);
            slots_unhold(&w->slots, q, &jobs[n++]);
        }
    }
    if (n)
        start_batch(w, jobs, n, 1);
}

static void disable_subscriber(worker *w, const char *sub_id)
{
    subscriber s;
    if (reg_get(w->r, w->cfg->prefix, sub_id, &s) != REG_STORED)
        return;
    s.enabled = false;
    s.updated_at_ms = wall_ms();
    reg_put(w->r, w->cfg->prefix, &s, 0, NULL);
    log_msg(LOG_WARN, "subscriber.disabled", "subscriber_id=%s reason=\"410 Gone\"", sub_id);
    sub_free(&s);
}

static void finish(worker *w, transfer *t, CURLcode res)
{
    long status = 0;
    if (res == CURLE_OK)
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    int64_t latency_ms = (mono_ns() - t->started_ns) / 1000000;
    metrics_observe(H_DELIVERY_SECONDS, (double)latency_ms / 1000.0);
    metrics_status((int)status);
    char error[300] = "";
    if (res != CURLE_OK)
        snprintf(error, sizeof error, "%s", t->err[0] ? t->err : curl_easy_strerror(res));
    else if (status < 200 || status > 299)
        snprintf(error, sizeof error, "HTTP %ld", status);
    const subscriber *s = t->sub;
    int attempt = t->job.attempts + 1;
    int64_t now = wall_ms();
    if (t->denied[0]) {   /* policy, not a fault: no retry can succeed */
        snprintf(error, sizeof error, "%s, refused by SWITCHYARD_DENY_PRIVATE_TARGETS", t->denied);
        log_attempt(&t->job, attempt, 0, latency_ms, "dead", error);
        metrics_inc(M_DELIVER_DEAD, 1);
        settle(w, &t->job, "dead", attempt, attempt_json(now, 0, latency_ms, error), 0, 0, error,
               "");
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
        slots_proven(&w->slots, s->id, mono_ns() / 1000000, 1);
    log_attempt(&t->job, attempt, (int)status, latency_ms, state, error);
    settle(w, &t->job, state, attempt, attempt_json(now, (int)status, latency_ms, error), due,
           (int)status, error, health);
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
        settle(w, &t->job, "pending", t->job.attempts, NULL, 0, 0, "worker stopped", "");
        transfer_free(w, t);
        w->ninflight--;
    }
    while (w->waiting) {
        waiting *q = w->waiting;
        w->waiting = q->next;
        settle(w, &q->job, "pending", q->job.attempts, NULL, 0, 0, "worker stopped", "");
        reg_release(q->snap);
        free(q);
        w->nwaiting--;
    }
    while (w->slots.holds) {
        queue_job job;
        slots_unhold(&w->slots, w->slots.holds, &job);
        settle(w, &job, "pending", job.attempts, NULL, 0, 0, "worker stopped", "");
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
    int ready = 0, was_down = 0;
    int64_t drain_until = 0;
    /* the intake takes and admits on its own thread; the loop never waits on those round trips */
    while (!stopping || w.ninflight || intake_poll(w.intake) == INTAKE_BUSY) {
        int64_t now = mono_ns() / 1000000;
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
            queue_promote(w.r, cfg->prefix, wall_ms());
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
                    return_batch(&w, &w.cur);
                else
                    finish_batch(&w, &w.cur, res.rc);
            } else if (res.rc > 0 && stopping) {
                batch b = {.jobs = res.jobs, .n = res.rc};
                return_batch(&w, &b);
            } else if (res.rc > 0) {
                start_batch(&w, res.jobs, res.rc, 0);
            } else {   /* none came within the block (ask again), or Redis failed (wait) */
                free(res.jobs);
                if (res.rc < 0)
                    next_take = now + 100;
            }
        }
        log_release();
        if (w.waiting && !stopping)   /* when stopping, they go back with return_inflight */
            start_waiting(&w);
        if (w.slots.holds && !stopping && intake_poll(w.intake) == INTAKE_IDLE)
            start_held(&w);
        /* jobs are taken ahead, up to half the slots again, so that a transfer that ends finds
         * the next job admitted and waiting here instead of two round trips away */
        int room = (int)cfg->concurrency * 3 / 2 - w.ninflight - w.nwaiting - held_taking_room(&w);
        if (up && ready && !stopping && room > 0 && now >= next_take &&
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
        return_batch(&w, &b);
    }
    if (w.cur.jobs)   /* its admission was under way */
        return_batch(&w, &w.cur);
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
