#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "codec.h"
#include "log.h"

static int reply_ok(redisReply *rep)
{
    return rep && rep->type != REDIS_REPLY_ERROR;
}

static void log_script_error(const char *what, redisReply *rep)
{
    if (rep && rep->type == REDIS_REPLY_ERROR)
        log_msg(LOG_ERROR, "queue.redis_error", "op=%s error=\"%s\"", what, rep->str);
}

typedef struct publish_call {
    queue_published done;   /* the caller's callback */
    void *arg;              /* its argument */
} publish_call;

static void on_publish_reply(redisReply *rep, const char *err, void *arg)
{
    publish_call pc = *(publish_call *)arg;
    free(arg);
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        pc.done(rep->element[1]->integer == 0 ? 1 : 0, rep->element[0]->str, NULL, pc.arg);
        return;
    }
    char why[300];
    if (rep && rep->type == REDIS_REPLY_ERROR)
        snprintf(why, sizeof why, "Redis error: %s", rep->str);
    else
        snprintf(why, sizeof why, "%s", rep ? "unexpected reply from publish.lua" : err);
    log_script_error("publish", rep);
    pc.done(-1, NULL, why, pc.arg);
}

void queue_publish(rpipe *p, const char *prefix, int64_t retention_s, const queue_event *ev,
                   const char *const *job_ids, const char *const *sub_ids, size_t n,
                   queue_published done, void *arg)
{
    size_t argc = 10 + 2 * n;
    const char **av = malloc(argc * sizeof *av);
    size_t *al = malloc(argc * sizeof *al);
    char pub[24], exp[24], due[24], ret[24];
    snprintf(pub, sizeof pub, "%lld", (long long)ev->published_at_ms);
    snprintf(exp, sizeof exp, "%lld", (long long)ev->expires_at_ms);
    snprintf(due, sizeof due, "%lld", (long long)ev->due_ms);
    snprintf(ret, sizeof ret, "%lld", (long long)retention_s);
    buf jobs = {0};   /* the event's "jobs" field: job:subscriber pairs */
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(&jobs, ',');
        buf_puts(&jobs, job_ids[i]);
        buf_putc(&jobs, ':');
        buf_puts(&jobs, sub_ids[i]);
    }
    const char *fixed[] = {prefix, ev->id, ev->topic, ev->data, pub, exp, due, ret,
                           ev->idem_key ? ev->idem_key : "", buf_str(&jobs)};
    for (size_t i = 0; i < 10; i++) {
        av[i] = fixed[i];
        al[i] = i == 3 ? ev->data_len : i == 9 ? jobs.len : strlen(fixed[i]);
    }
    for (size_t i = 0; i < n; i++) {
        av[10 + 2 * i] = job_ids[i], al[10 + 2 * i] = strlen(job_ids[i]);
        av[11 + 2 * i] = sub_ids[i], al[11 + 2 * i] = strlen(sub_ids[i]);
    }
    publish_call *pc = malloc(sizeof *pc);
    pc->done = done;
    pc->arg = arg;
    rpipe_submit(p, "publish", (int)argc, av, al, on_publish_reply, pc);
    buf_free(&jobs);
    free(av);
    free(al);
}

void queue_job_free(queue_job *j)
{
    free(j->entry);
    free(j->job_id);
    free(j->sub_id);
    free(j->event_id);
    free(j->topic);
    free(j->data);
    memset(j, 0, sizeof *j);
}

int queue_setup(rds *r, const char *prefix)
{
    redisReply *rep = rds_cmd(r, "XGROUP CREATE %s:jobs %s 0 MKSTREAM", prefix, QUEUE_GROUP);
    int ok = rep && (rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "BUSYGROUP", 9) == 0);
    if (rep)
        freeReplyObject(rep);
    return ok ? 0 : -1;
}

static int64_t num(redisReply *x)
{
    return x && x->type == REDIS_REPLY_STRING ? atoll(x->str) : 0;
}

static char *str(redisReply *x)
{
    return strdup(x && x->type == REDIS_REPLY_STRING ? x->str : "");
}

/* Appends the jobs of [id, [field, value, ...]] stream entries: j <job> e <event> s <subscriber>
 * a <attempts>. An entry written before events and subscribers were in it (field j alone) is
 * completed from the job's hash. */
static void collect_entries(rds *r, const char *prefix, redisReply *entries, queue_job **jobs,
                            size_t *count)
{
    if (!entries || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        redisReply *f = e->element[1];
        redisReply *jid = NULL, *eid = NULL, *sid = NULL, *att = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            const char *name = f->element[k]->str;
            redisReply *v = f->element[k + 1];
            if (!name || name[0] == '\0' || name[1] != '\0')
                continue;
            if (name[0] == 'j')
                jid = v;
            else if (name[0] == 'e')
                eid = v;
            else if (name[0] == 's')
                sid = v;
            else if (name[0] == 'a')
                att = v;
        }
        if (!jid || jid->type != REDIS_REPLY_STRING)
            continue;
        *jobs = realloc(*jobs, (*count + 1) * sizeof **jobs);
        queue_job *j = &(*jobs)[(*count)++];
        memset(j, 0, sizeof *j);
        j->entry = str(e->element[0]);
        j->job_id = str(jid);
        if (eid && sid) {
            j->event_id = str(eid);
            j->sub_id = str(sid);
            j->attempts = (int)num(att);
            continue;
        }
        redisReply *h = rds_cmd(r, "HMGET %s:job:%s event sub attempts", prefix, jid->str);
        int ok = reply_ok(h) && h->type == REDIS_REPLY_ARRAY && h->elements == 3;
        j->event_id = str(ok ? h->element[0] : NULL);   /* "": admit drops it */
        j->sub_id = str(ok ? h->element[1] : NULL);
        j->attempts = ok ? (int)num(h->element[2]) : 0;
        if (h)
            freeReplyObject(h);
    }
}

int queue_take(rds *r, const char *prefix, const char *consumer, int max, int block_ms,
               int64_t visibility_ms, int reclaim, queue_job **out)
{
    *out = NULL;
    size_t count = 0;
    queue_job *jobs = NULL;
    if (reclaim) {
        redisReply *rep = rds_cmd(r, "XAUTOCLAIM %s:jobs %s %s %lld 0-0 COUNT %d", prefix,
                                  QUEUE_GROUP, consumer, (long long)visibility_ms, max);
        if (!reply_ok(rep)) {
            log_script_error("xautoclaim", rep);
            if (rep)
                freeReplyObject(rep);
            return -1;
        }
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2)
            collect_entries(r, prefix, rep->element[1], &jobs, &count);
        freeReplyObject(rep);
        if (count)
            log_msg(LOG_INFO, "worker.reclaimed", "jobs=%zu", count);
    }
    if ((int)count < max) {
        redisReply *rep = block_ms > 0
            ? rds_cmd(r, "XREADGROUP GROUP %s %s COUNT %d BLOCK %d STREAMS %s:jobs >", QUEUE_GROUP,
                      consumer, max - (int)count, block_ms, prefix)
            : rds_cmd(r, "XREADGROUP GROUP %s %s COUNT %d STREAMS %s:jobs >", QUEUE_GROUP,
                      consumer, max - (int)count, prefix);
        if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOGROUP", 7) == 0)
            queue_setup(r, prefix);
        if (!reply_ok(rep)) {
            log_script_error("xreadgroup", rep);
            if (rep)
                freeReplyObject(rep);
            *out = jobs;   /* what XAUTOCLAIM gave us is ours now */
            return count ? (int)count : -1;
        }
        if (rep->type == REDIS_REPLY_ARRAY)
            for (size_t s = 0; s < rep->elements; s++)
                if (rep->element[s]->elements == 2)
                    collect_entries(r, prefix, rep->element[s]->element[1], &jobs, &count);
        freeReplyObject(rep);
    }
    *out = jobs;
    return (int)count;
}

int queue_heartbeat(rds *r, const char *prefix, const char *consumer, char *const *entries,
                    size_t n)
{
    if (!n)
        return 0;
    size_t argc = 7 + n;
    const char **av = malloc(argc * sizeof *av);
    char key[128];
    snprintf(key, sizeof key, "%s:jobs", prefix);
    av[0] = "XCLAIM", av[1] = key, av[2] = QUEUE_GROUP, av[3] = consumer, av[4] = "0";
    for (size_t i = 0; i < n; i++)
        av[5 + i] = entries[i];
    av[5 + n] = "JUSTID";
    redisReply *rep = rds_argv(r, (int)argc - 1, av, NULL);
    free(av);
    int rc = reply_ok(rep) ? 0 : -1;
    if (rep)
        freeReplyObject(rep);
    return rc;
}

int queue_promote(rds *r, const char *prefix, int64_t now_ms)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    const char *av[] = {prefix, now, "500"};
    redisReply *rep = rds_script(r, "promote", 3, av, NULL);
    int rc = rep && rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    log_script_error("promote", rep);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

int queue_admit(rds *r, const char *prefix, int64_t now_ms, queue_admission *a, size_t n)
{
    if (!n)
        return 0;
    size_t argc = 3 + 7 * n;
    const char **av = malloc(argc * sizeof *av);
    char (*nums)[3][24] = malloc(n * sizeof *nums);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    av[0] = prefix;
    av[1] = QUEUE_GROUP;
    av[2] = now;
    for (size_t i = 0; i < n; i++) {
        snprintf(nums[i][0], 24, "%d", a[i].disabled ? -1 : a[i].max_in_flight);
        snprintf(nums[i][1], 24, "%d", a[i].rate_per_s);
        snprintf(nums[i][2], 24, "%lld", (long long)a[i].lease_ms);
        const char **v = av + 3 + 7 * i;
        v[0] = a[i].job->entry;
        v[1] = a[i].job->job_id;
        v[2] = a[i].job->event_id;
        v[3] = a[i].job->sub_id;
        v[4] = nums[i][0];
        v[5] = nums[i][1];
        v[6] = nums[i][2];
    }
    redisReply *rep = rds_script(r, "admit", (int)argc, av, NULL);
    free(av);
    free(nums);
    int rc = -1;
    redisReply *verdicts = NULL, *events = NULL;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        verdicts = rep->element[0];
        events = rep->element[1];
    }
    if (verdicts && verdicts->type == REDIS_REPLY_ARRAY && verdicts->elements == n &&
        events->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < n; i++) {
            redisReply *e = verdicts->element[i];
            queue_job *j = a[i].job;
            a[i].verdict = (int)e->element[0]->integer;
            a[i].wait_ms = e->element[1]->integer;
            a[i].probe = e->element[2]->type == REDIS_REPLY_STRING &&
                         strcmp(e->element[2]->str, "probe") == 0;
            j->leased = e->element[4]->integer == 1;
            long long k = e->element[3]->integer;
            if (k < 1 || (size_t)k > events->elements)
                continue;
            redisReply *ev = events->element[k - 1];
            free(j->topic);
            free(j->data);
            j->topic = str(ev->element[0]);
            j->data = str(ev->element[1]);
            j->published_at_ms = num(ev->element[2]);
            j->expires_at_ms = num(ev->element[3]);
        }
        rc = 0;
    }
    log_script_error("admit", rep);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

int queue_breaker_state(rds *r, const char *prefix, const char *sub_id, char state[16],
                        long long *failures, long long *probe_at_ms)
{
    redisReply *rep = rds_cmd(r, "HMGET %s:cb:%s state failures probe_at", prefix, sub_id);
    if (!reply_ok(rep) || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3) {
        if (rep)
            freeReplyObject(rep);
        return -1;
    }
    snprintf(state, 16, "%s",
             rep->element[0]->type == REDIS_REPLY_STRING ? rep->element[0]->str : "closed");
    *failures = num(rep->element[1]);
    *probe_at_ms = num(rep->element[2]);
    freeReplyObject(rep);
    return 0;
}

#define SETTLE_ARGC 18

typedef struct settle_args {
    char att[16], due[24], now[24], status[16], ret[24], thr[16], probe[24];  /* number texts */
    char rec[64];                 /* the attempt's record: "at_ms,status,latency_ms", "" if none */
    const char *av[SETTLE_ARGC];  /* ARGV of settle */
} settle_args;

static void settle_argv(settle_args *a, const char *prefix, int64_t retention_s,
                        const queue_breaker *b, const queue_job *j, const queue_outcome *o)
{
    snprintf(a->thr, sizeof a->thr, "%d", b ? b->failures : 0);
    snprintf(a->probe, sizeof a->probe, "%lld", (long long)(b ? b->probe_ms : 0));
    snprintf(a->att, sizeof a->att, "%d", o->attempts);
    snprintf(a->due, sizeof a->due, "%lld", (long long)o->due_ms);
    snprintf(a->now, sizeof a->now, "%lld", (long long)o->now_ms);
    snprintf(a->status, sizeof a->status, "%d", o->last_status);
    snprintf(a->ret, sizeof a->ret, "%lld", (long long)retention_s);
    a->rec[0] = '\0';
    if (o->attempt_at_ms > 0)
        snprintf(a->rec, sizeof a->rec, "%lld,%d,%lld", (long long)o->attempt_at_ms, o->last_status,
                 (long long)o->latency_ms);
    const char *av[SETTLE_ARGC] = {prefix, QUEUE_GROUP, j->entry, j->job_id, j->sub_id, o->state,
                                   a->att, a->rec, a->due, a->now, a->status,
                                   o->last_error ? o->last_error : "", a->ret,
                                   o->breaker ? o->breaker : "", a->thr, a->probe, j->event_id,
                                   j->leased ? "1" : "0"};
    memcpy(a->av, av, sizeof av);
}

int queue_settle(rds *r, const char *prefix, int64_t retention_s, const queue_breaker *b,
                 const queue_job *j, const queue_outcome *o)
{
    settle_args a;
    settle_argv(&a, prefix, retention_s, b, j, o);
    redisReply *rep = rds_script(r, "settle", SETTLE_ARGC, a.av, NULL);
    int rc = rep && rep->type == REDIS_REPLY_INTEGER ? 0 : -1;
    log_script_error("settle", rep);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

size_t queue_settle_many(rds *r, const char *prefix, int64_t retention_s, const queue_breaker *b,
                         const queue_job *const *jobs, const queue_outcome *o, size_t n, int *done)
{
    settle_args a;
    size_t sent = 0, ok = 0;
    for (; sent < n; sent++) {
        done[sent] = 0;
        settle_argv(&a, prefix, retention_s, b, jobs[sent], &o[sent]);
        if (rds_script_append(r, "settle", SETTLE_ARGC, a.av, NULL) != 0)
            break;
    }
    int *again = calloc(n + 1, sizeof *again);
    for (size_t i = 0; i < sent; i++) {
        redisReply *rep = rds_read(r);
        if (!rep)
            break;   /* the connection failed: the rest stay undone */
        if (rds_noscript(rep))
            again[i] = 1;
        else if (rep->type == REDIS_REPLY_INTEGER)
            done[i] = 1, ok++;
        else
            log_script_error("settle", rep);
        freeReplyObject(rep);
    }
    for (size_t i = 0; i < sent; i++)   /* after a Redis restart: load the script, run these again */
        if (again[i] && queue_settle(r, prefix, retention_s, b, jobs[i], &o[i]) == 0)
            done[i] = 1, ok++;
    free(again);
    return ok;
}

static cJSON *time_or_null(int64_t ms)
{
    if (ms <= 0)
        return cJSON_CreateNull();
    char t[32];
    codec_time_format(ms, t);
    return cJSON_CreateString(t);
}

/* One attempt as GET /v1/events shows it, from its record "at_ms,status,latency_ms" (status 0: no
 * answer) followed, in the :log list, by ",error"; a1_error is the first attempt's error (NULL: read
 * it from the record). Switchyard 0.2.0 stored the JSON object itself. NULL if unreadable. */
static cJSON *attempt_item(const char *rec, size_t len, const char *a1_error)
{
    if (len && rec[0] == '{')
        return cJSON_ParseWithLength(rec, len);
    long long at, latency;
    int status, n = 0;
    if (sscanf(rec, "%lld,%d,%lld%n", &at, &status, &latency, &n) != 3)
        return NULL;
    const char *error = a1_error ? a1_error : rec[n] == ',' ? rec + n + 1 : "";
    cJSON *a = cJSON_CreateObject();
    cJSON_AddItemToObject(a, "at", time_or_null(at));
    cJSON_AddItemToObject(a, "status", status ? cJSON_CreateNumber(status) : cJSON_CreateNull());
    cJSON_AddNumberToObject(a, "latency_ms", (double)latency);
    cJSON_AddItemToObject(a, "error", *error ? cJSON_CreateString(error) : cJSON_CreateNull());
    return a;
}

/* A job's attempts, oldest first: the first from its hash, the others from its :log list. They are
 * sorted by time because a job recorded partly by an older version has all of them in the list. */
static cJSON *attempts_json(redisReply *a1, redisReply *a1_error, redisReply *log)
{
    size_t n = 0;
    cJSON **items = calloc(log->elements + 1, sizeof *items);
    if (a1->type == REDIS_REPLY_STRING) {
        const char *err = a1_error->type == REDIS_REPLY_STRING ? a1_error->str : "";
        if ((items[n] = attempt_item(a1->str, a1->len, err)))
            n++;
    }
    for (size_t i = 0; i < log->elements; i++) {
        redisReply *x = log->element[i];
        if (x->type == REDIS_REPLY_STRING && (items[n] = attempt_item(x->str, x->len, NULL)))
            n++;
    }
    for (size_t i = 1; i < n; i++) {   /* insertion sort: stable, and n is small */
        cJSON *x = items[i];
        const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "at"));
        size_t k = i;
        for (; k > 0; k--) {
            const char *prev =
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(items[k - 1], "at"));
            if (!at || !prev || strcmp(prev, at) <= 0)
                break;
            items[k] = items[k - 1];
        }
        items[k] = x;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, items[i]);
    free(items);
    return arr;
}

cJSON *queue_event_json(rds *r, const char *prefix, const char *event_id, int *found)
{
    *found = -1;
    redisReply *ev = rds_cmd(r, "HMGET %s:ev:%s topic published_at jobs", prefix, event_id);
    if (!reply_ok(ev) || ev->type != REDIS_REPLY_ARRAY) {
        if (ev)
            freeReplyObject(ev);
        return NULL;
    }
    if (ev->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(ev);
        *found = 0;
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", event_id);
    cJSON_AddStringToObject(o, "topic", ev->element[0]->str);
    cJSON_AddItemToObject(o, "published_at", time_or_null(num(ev->element[1])));
    cJSON *jobs = cJSON_AddArrayToObject(o, "jobs");
    char *list = strdup(ev->element[2]->type == REDIS_REPLY_STRING ? ev->element[2]->str : "");
    freeReplyObject(ev);
    char *save = NULL;
    /* "job:subscriber" pairs (an event stored by an older version lists job ids alone); a job
     * without a hash has not been taken yet: pending */
    for (char *jid = strtok_r(list, ",", &save); jid; jid = strtok_r(NULL, ",", &save)) {
        char *sid = strchr(jid, ':');
        if (sid)
            *sid++ = '\0';
        redisReply *j = rds_cmd(r, "HMGET %s:job:%s sub state a1 a1_error", prefix, jid);
        redisReply *log = rds_cmd(r, "LRANGE %s:job:%s:log 0 -1", prefix, jid);
        if (!reply_ok(j) || !reply_ok(log)) {
            if (j)
                freeReplyObject(j);
            if (log)
                freeReplyObject(log);
            free(list);
            cJSON_Delete(o);
            return NULL;
        }
        cJSON *jo = cJSON_CreateObject();
        cJSON_AddStringToObject(jo, "job_id", jid);
        cJSON_AddStringToObject(jo, "subscriber_id",
                                j->element[0]->str ? j->element[0]->str : sid ? sid : "");
        cJSON_AddStringToObject(jo, "state", j->element[1]->str ? j->element[1]->str : "pending");
        cJSON_AddItemToObject(jo, "attempts", attempts_json(j->element[2], j->element[3], log));
        cJSON_AddItemToArray(jobs, jo);
        freeReplyObject(j);
        freeReplyObject(log);
    }
    free(list);
    *found = 1;
    return o;
}

static cJSON *dead_item(rds *r, const char *prefix, const char *jid, int64_t dead_at)
{
    redisReply *j = rds_cmd(r, "HMGET %s:job:%s event sub attempts last_status last_error", prefix,
                            jid);
    if (!reply_ok(j))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "job_id", jid);
    char *ev = str(j->element[0]), *sub = str(j->element[1]), *lerr = str(j->element[4]);
    cJSON_AddStringToObject(o, "event_id", ev);
    cJSON_AddStringToObject(o, "subscriber_id", sub);
    cJSON_AddNumberToObject(o, "attempts", (double)num(j->element[2]));
    cJSON_AddNumberToObject(o, "last_status", (double)num(j->element[3]));
    cJSON_AddStringToObject(o, "last_error", lerr);
    cJSON_AddItemToObject(o, "dead_at", time_or_null(dead_at));
    free(ev);
    free(sub);
    free(lerr);
    freeReplyObject(j);
    return o;
}

cJSON *queue_dead_list(rds *r, const char *prefix, const char *sub_id, const char *cursor,
                       int limit)
{
    char key[256];
    if (sub_id && *sub_id)
        snprintf(key, sizeof key, "%s:dead:%s", prefix, sub_id);
    else
        snprintf(key, sizeof key, "%s:dead", prefix);
    /* cursor "<score>:<job id>": entries after it in (score, member) order */
    long long cscore = -1;
    const char *cjid = "";
    if (cursor && *cursor) {
        cscore = atoll(cursor);
        const char *colon = strchr(cursor, ':');
        cjid = colon ? colon + 1 : "";
    }
    char min[32];
    snprintf(min, sizeof min, "%lld", cscore < 0 ? 0 : cscore);
    redisReply *rep = rds_cmd(r, "ZRANGEBYSCORE %s %s +inf WITHSCORES LIMIT 0 %d", key, min,
                              limit + 64);
    if (!reply_ok(rep) || rep->type != REDIS_REPLY_ARRAY) {
        if (rep)
            freeReplyObject(rep);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    int n = 0;
    char next[300] = "";
    for (size_t i = 0; i + 1 < rep->elements && n < limit; i += 2) {
        const char *jid = rep->element[i]->str;
        long long score = atoll(rep->element[i + 1]->str);
        if (score == cscore && strcmp(jid, cjid) <= 0)
            continue;
        cJSON *it = dead_item(r, prefix, jid, score);
        if (!it)
            continue;
        cJSON_AddItemToArray(items, it);
        snprintf(next, sizeof next, "%lld:%s", score, jid);
        n++;
    }
    int more = n == limit && rep->elements / 2 > (size_t)n;
    freeReplyObject(rep);
    if (more)
        cJSON_AddStringToObject(o, "next_cursor", next);
    else
        cJSON_AddNullToObject(o, "next_cursor");
    return o;
}

static int replay_at(rds *r, const char *prefix, const char *job_id, int64_t due_ms)
{
    char due[24];
    snprintf(due, sizeof due, "%lld", (long long)due_ms);
    const char *av[] = {prefix, job_id, due};
    redisReply *rep = rds_script(r, "replay", 3, av, NULL);
    int rc = rep && rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    log_script_error("replay", rep);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

int queue_dead_delete(rds *r, const char *prefix, const char *job_id)
{
    redisReply *sub = rds_cmd(r, "HGET %s:job:%s sub", prefix, job_id);
    if (!reply_ok(sub)) {
        if (sub)
            freeReplyObject(sub);
        return -1;
    }
    redisReply *rep = rds_cmd(r, "ZREM %s:dead %s", prefix, job_id);
    int rc = rep && rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
    if (rep)
        freeReplyObject(rep);
    if (rc == 1 && sub->type == REDIS_REPLY_STRING) {
        redisReply *x = rds_cmd(r, "ZREM %s:dead:%s %s", prefix, sub->str, job_id);
        if (x)
            freeReplyObject(x);
        x = rds_cmd(r, "HSET %s:job:%s state purged", prefix, job_id);
        if (x)
            freeReplyObject(x);
    }
    freeReplyObject(sub);
    return rc;
}

int queue_dead_replay(rds *r, const char *prefix, const char *job_id)
{
    return replay_at(r, prefix, job_id, 0);
}

long queue_dead_replay_range(rds *r, const char *prefix, const char *sub_id, int64_t since_ms,
                             int64_t until_ms, int rate_per_s, int64_t now_ms)
{
    char key[256];
    if (sub_id && *sub_id)
        snprintf(key, sizeof key, "%s:dead:%s", prefix, sub_id);
    else
        snprintf(key, sizeof key, "%s:dead", prefix);
    long total = 0;
    for (;;) {
        redisReply *rep = rds_cmd(r, "ZRANGEBYSCORE %s %lld %lld LIMIT 0 500", key,
                                  (long long)since_ms, (long long)until_ms);
        if (!reply_ok(rep) || rep->type != REDIS_REPLY_ARRAY) {
            if (rep)
                freeReplyObject(rep);
            return total ? total : -1;
        }
        size_t n = rep->elements;
        long moved = 0;
        for (size_t i = 0; i < n; i++) {
            /* the k-th job replayed is due k / rate seconds from now */
            int64_t due = now_ms + (total + moved) * 1000 / rate_per_s;
            int rc = replay_at(r, prefix, rep->element[i]->str, due);
            if (rc < 0) {
                freeReplyObject(rep);
                return total ? total : -1;
            }
            moved += rc;
        }
        freeReplyObject(rep);
        total += moved;
        if (n < 500 || moved == 0)
            return total;
    }
}

long long queue_oldest_age_ms(rds *r, const char *prefix, int64_t now_ms)
{
    redisReply *a = rds_cmd(r, "XRANGE %s:jobs - + COUNT 1", prefix);
    long long age = -1;
    if (a && a->type == REDIS_REPLY_ARRAY) {
        age = 0;
        /* an entry id is "<ms>-<seq>": the time Redis added it */
        if (a->elements == 1 && a->element[0]->type == REDIS_REPLY_ARRAY &&
            a->element[0]->element[0]->type == REDIS_REPLY_STRING) {
            long long added = atoll(a->element[0]->element[0]->str);
            age = now_ms > added ? now_ms - added : 0;
        }
    }
    if (a)
        freeReplyObject(a);
    return age;
}

long long queue_open_circuits(rds *r, const char *prefix)
{
    redisReply *a = rds_cmd(r, "SCARD %s:cb:open", prefix);
    long long n = a && a->type == REDIS_REPLY_INTEGER ? a->integer : -1;
    if (a)
        freeReplyObject(a);
    return n;
}

long long queue_depth(rds *r, const char *prefix, long long *delayed, long long *dead)
{
    redisReply *a = rds_cmd(r, "XLEN %s:jobs", prefix);
    redisReply *b = rds_cmd(r, "ZCARD %s:delayed", prefix);
    redisReply *c = rds_cmd(r, "ZCARD %s:dead", prefix);
    long long depth = -1;
    if (a && b && c && a->type == REDIS_REPLY_INTEGER && b->type == REDIS_REPLY_INTEGER &&
        c->type == REDIS_REPLY_INTEGER) {
        depth = a->integer;
        *delayed = b->integer;
        *dead = c->integer;
    }
    if (a)
        freeReplyObject(a);
    if (b)
        freeReplyObject(b);
    if (c)
        freeReplyObject(c);
    return depth;
}
