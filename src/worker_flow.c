#include "worker_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "metrics.h"

/* The newest subscriber snapshot; when a job names a subscriber it lacks, first waits (up to 2 s)
 * for the registry to load the version Redis has. */
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
        worker_log_attempt(job, job->attempts, 0, 0, "discarded", "subscriber was deleted");
        metrics_inc(M_DELIVER_DISCARDED, 1);
        worker_settle_unattempted(w, job, "discarded", 0, "subscriber was deleted");
        return 1;
    }
    return 0;
}

/* How many of this worker's slots the subscriber may use now, and how many it uses (*held). A
 * quarter of them once its endpoint has answered fast, and more while the other subscribers leave
 * slots idle: all but a quarter kept free for them (work-conserving: one busy subscriber alone gets
 * three quarters of the worker); a sixteenth before that (slow start, so an endpoint that hangs
 * from the start holds few slots until its timeout) and while one of its deliveries has run longer
 * than SLOW_MS (*limited = 1 in both cases). */
static int share_for(worker *w, const char *sub_id, int *held, int *limited)
{
    int64_t now = worker_mono_ns();
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
 * excess is admitted and waits briefly instead (flow_start_waiting). */
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

/* Part one of starting a batch of jobs (taken, or released from holding): each job is settled
 * at once if it cannot be attempted, held in memory if its subscriber has no share to spare, or
 * put up for admission (b->adm). Returns how many are up for admission. */
static size_t select_batch(worker *w, batch *b, int released)
{
    b->snap = snapshot_for(w, b->jobs, b->n);
    b->subs = calloc((size_t)b->n + 1, sizeof *b->subs);
    b->adm = calloc((size_t)b->n + 1, sizeof *b->adm);
    b->nadm = 0;
    b->now = worker_wall_ms();
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
                worker_settle_unattempted(w, job, "pending",
                                          b->now + sub->timeout_ms + jitter_ms(1000), "");
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

/* Keeps an admitted job in memory, last in line, until flow_start_waiting can begin it: when its
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
void flow_finish_batch(worker *w, batch *b, int admit_rc)
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
            worker_log_attempt(job, job->attempts, 0, 0, "expired", "ttl ran out before delivery");
            metrics_inc(M_DELIVER_EXPIRED, 1);
            worker_settle_unattempted(w, job, "expired", 0, "ttl ran out before delivery");
        } else if (adm->verdict == QUEUE_PARK) {
            worker_settle_unattempted(w, job, "parked", 0, "circuit open: waiting for a probe");
        } else if (adm->verdict == QUEUE_WAIT && adm->disabled) {
            /* held, not dropped: re-enabling the subscriber resumes delivery */
            worker_settle_unattempted(w, job, "pending", now + 30000, "subscriber is disabled");
        } else if (adm->verdict == QUEUE_WAIT) {
            worker_settle_unattempted(w, job, "pending", now + adm->wait_ms + jitter_ms(50), "");
        } else if (!adm->probe && (share = share_for(w, job->sub_id, &held, &limited)) <= held) {
            if (!limited && w->nwaiting < (int)w->cfg->concurrency - w->fair_share) {
                /* over its share: wait here for one of its own slots (flow_start_waiting) */
                atomic_fetch_add(&b->snap->refs, 1);
                wait_here(w, job, b->snap, b->subs[k], now);
            } else {   /* rare: the waiting list is full, or the endpoint turned slow */
                worker_settle_unattempted(w, job, "pending", now + 200 + jitter_ms(200), "");
            }
        } else {
            if (adm->probe)
                log_msg(LOG_INFO, "breaker.probe", "subscriber_id=%s job_id=%s", job->sub_id,
                        job->job_id);
            atomic_fetch_add(&b->snap->refs, 1);
            if (w->ninflight < (int)w->cfg->concurrency)
                worker_begin(w, job, b->snap, b->subs[k], now);
            else   /* taken ahead: starts when a transfer ends */
                wait_here(w, job, b->snap, b->subs[k], now);
        }
    }
    batch_free(b);
}

/* Starts a batch: selection now, admission on the intake's thread (the loop collects the verdicts
 * and finishes the batch). Takes the jobs array. */
void flow_start_batch(worker *w, queue_job *jobs, int n, int released)
{
    w->cur = (batch){.jobs = jobs, .n = n};
    if (select_batch(w, &w->cur, released) == 0) {
        flow_finish_batch(w, &w->cur, 0);
        return;
    }
    intake_admit(w->intake, w->cur.now, w->cur.adm, w->cur.nadm);
}

/* Hands every job of a batch back to the queue unattempted (the worker is stopping). */
void flow_return_batch(worker *w, batch *b)
{
    for (int k = 0; k < b->n; k++)
        if (b->jobs[k].entry)
            worker_settle_unattempted(w, &b->jobs[k], "pending", 0, "worker stopped");
    batch_free(b);
}

/* Builds the request and adds the transfer. Takes the job and one reference to snap. */
/* Starts waiting jobs, oldest first, whose subscriber is under its share again, while slots are
 * free; one that waited WAIT_MAX_MS (its endpoint is slow, or every slot is) goes back to the
 * delayed set, so it never blocks this worker's room. */
#define WAIT_MAX_MS 250
void flow_start_waiting(worker *w)
{
    int64_t now = worker_wall_ms();
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
            worker_begin(w, &q->job, q->snap, q->sub, now);
        } else {
            worker_settle_unattempted(w, &q->job, "pending", now + 200 + jitter_ms(200), "");
            reg_release(q->snap);
        }
        free(q);
    }
}

/* Held jobs that take room in this worker: those of proven subscribers (held while they were
 * unproven, or behind such), which start as fast as their share allows. A slow or unproven
 * endpoint's held jobs take none, so they never keep the worker from reading other jobs. */
int flow_held_taking_room(worker *w)
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
void flow_start_held(worker *w)
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
        flow_start_batch(w, jobs, n, 1);
}

