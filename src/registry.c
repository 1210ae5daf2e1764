#include "registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct registry {
    char prefix[64];          /* Redis key prefix */
    int refresh_ms;           /* poll period, ms */
    rds *r;                   /* the refresher's own connection */
    pthread_t thread;         /* the refresher */
    pthread_mutex_t mu;       /* guards cur, stop, wake */
    pthread_cond_t cv;        /* signals wake-ups and new snapshots */
    reg_snapshot *cur;        /* newest snapshot, holds one ref */
    int stop;                 /* 1: the refresher should exit */
    int wake;                 /* 1: reload now */
};

static void snapshot_free(reg_snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        sub_free(&s->subs[i]);
    free(s->subs);
    if (s->ix)
        topic_index_free(s->ix);
    free(s);
}

void reg_release(reg_snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        snapshot_free(s);
}

reg_snapshot *reg_acquire(registry *g)
{
    pthread_mutex_lock(&g->mu);
    reg_snapshot *s = g->cur;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&g->mu);
    return s;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const subscriber *)a)->id, ((const subscriber *)b)->id);
}

long reg_find(const reg_snapshot *s, const char *id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->subs[mid].id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

struct match_ctx {
    void (*fn)(size_t, void *);
    void *ctx;
};

static void on_match(void *value, void *ctx)
{
    struct match_ctx *m = ctx;
    m->fn((size_t)(uintptr_t)value - 1, m->ctx);
}

void reg_match(const reg_snapshot *s, const char *topic, void (*fn)(size_t idx, void *ctx),
               void *ctx)
{
    if (!s->ix)
        return;
    struct match_ctx m = {fn, ctx};
    topic_index_match(s->ix, topic, on_match, &m);
}

/* Parses one stored subscriber; a record that no longer parses is logged and skipped so one bad
 * record cannot take the others down. */
static int parse_stored(const char *json, size_t len, subscriber *out)
{
    cJSON *o = cJSON_ParseWithLength(json, len);
    char err[256] = "";
    int rc = o ? sub_from_json(out, o, NULL, 1, err, sizeof err) : -1;
    cJSON_Delete(o);
    if (rc != 0)
        log_msg(LOG_WARN, "registry.bad_record", "error=\"%s\"", o ? err : "not JSON");
    return rc;
}

/* Reads the counter and, if it moved since have, every subscriber. Returns a new snapshot, NULL
 * when nothing changed or Redis failed (*failed = 1). */
static reg_snapshot *load(registry *g, long long have, int *failed)
{
    *failed = 0;
    redisReply *v = rds_cmd(g->r, "GET %s:subver", g->prefix);
    if (!v || v->type == REDIS_REPLY_ERROR) {
        *failed = 1;
        if (v)
            freeReplyObject(v);
        return NULL;
    }
    long long ver = v->type == REDIS_REPLY_STRING ? atoll(v->str) : 0;
    freeReplyObject(v);
    if (ver == have)
        return NULL;
    redisReply *all = rds_cmd(g->r, "HGETALL %s:subs", g->prefix);
    if (!all || all->type != REDIS_REPLY_ARRAY) {
        *failed = 1;
        if (all)
            freeReplyObject(all);
        return NULL;
    }
    reg_snapshot *s = calloc(1, sizeof *s);
    atomic_init(&s->refs, 1);
    s->version = ver;
    s->subs = calloc(all->elements / 2 + 1, sizeof *s->subs);
    for (size_t i = 0; i + 1 < all->elements; i += 2)
        if (parse_stored(all->element[i + 1]->str, all->element[i + 1]->len, &s->subs[s->n]) == 0)
            s->n++;
    freeReplyObject(all);
    qsort(s->subs, s->n, sizeof *s->subs, by_id);
    s->ix = topic_index_new();
    for (size_t i = 0; i < s->n; i++)
        topic_index_add(s->ix, s->subs[i].topic, (void *)(uintptr_t)(i + 1));
    return s;
}

static void *refresher(void *arg)
{
    registry *g = arg;
    int was_failing = 0;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        long long have = g->cur->version;
        pthread_mutex_unlock(&g->mu);
        int failed;
        reg_snapshot *s = load(g, have, &failed);
        if (failed && !was_failing)
            log_msg(LOG_WARN, "registry.redis_unavailable", "error=\"%s\"", rds_error(g->r));
        was_failing = failed;
        pthread_mutex_lock(&g->mu);
        if (s) {
            reg_snapshot *old = g->cur;
            g->cur = s;
            reg_release(old);
            log_msg(LOG_INFO, "registry.loaded", "version=%lld subscribers=%zu", s->version, s->n);
        }
        pthread_cond_broadcast(&g->cv);
        if (!g->stop && !g->wake) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            long long ns = ts.tv_nsec + (long long)g->refresh_ms * 1000000;
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        }
        g->wake = 0;
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

registry *reg_start(const char *redis_url, const char *prefix, int refresh_ms, char *err,
                    size_t errlen)
{
    registry *g = calloc(1, sizeof *g);
    snprintf(g->prefix, sizeof g->prefix, "%s", prefix);
    g->refresh_ms = refresh_ms;
    g->r = rds_new(redis_url, 2000, err, errlen);
    if (!g->r) {
        free(g);
        return NULL;
    }
    g->cur = calloc(1, sizeof *g->cur);
    atomic_init(&g->cur->refs, 1);
    g->cur->version = REG_UNLOADED;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if (pthread_create(&g->thread, NULL, refresher, g) != 0) {
        snprintf(err, errlen, "cannot start the registry thread");
        rds_free(g->r);
        free(g->cur);
        free(g);
        return NULL;
    }
    return g;
}

int reg_loaded(registry *g)
{
    reg_snapshot *s = reg_acquire(g);
    int loaded = s->version != REG_UNLOADED;
    reg_release(s);
    return loaded;
}

void reg_stop(registry *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    reg_release(g->cur);
    rds_free(g->r);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

void reg_wait_version(registry *g, long long min_version, int timeout_ms)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    long long ns = end.tv_nsec + (long long)timeout_ms * 1000000;
    end.tv_sec += (time_t)(ns / 1000000000);
    end.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&g->mu);
    while (g->cur->version < min_version && !g->stop) {
        g->wake = 1;
        pthread_cond_broadcast(&g->cv);
        if (pthread_cond_timedwait(&g->cv, &g->mu, &end) != 0)
            break;
    }
    pthread_mutex_unlock(&g->mu);
}

/* --- store --- */

static int get_by_id(rds *r, const char *prefix, const char *id, subscriber *out)
{
    redisReply *rep = rds_cmd(r, "HGET %s:subs %s", prefix, id);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        if (rep)
            freeReplyObject(rep);
        return REG_UNAVAILABLE;
    }
    int rc = REG_NOT_FOUND;
    if (rep->type == REDIS_REPLY_STRING)
        rc = parse_stored(rep->str, rep->len, out) == 0 ? REG_STORED : REG_NOT_FOUND;
    freeReplyObject(rep);
    return rc;
}

int reg_get(rds *r, const char *prefix, const char *key, subscriber *out)
{
    int rc = get_by_id(r, prefix, key, out);
    if (rc != REG_NOT_FOUND)
        return rc;
    redisReply *rep = rds_cmd(r, "HGET %s:subnames %s", prefix, key);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        if (rep)
            freeReplyObject(rep);
        return REG_UNAVAILABLE;
    }
    rc = rep->type == REDIS_REPLY_STRING ? get_by_id(r, prefix, rep->str, out) : REG_NOT_FOUND;
    freeReplyObject(rep);
    return rc;
}

long long reg_version(rds *r, const char *prefix)
{
    redisReply *v = rds_cmd(r, "GET %s:subver", prefix);
    long long ver = !v || v->type == REDIS_REPLY_ERROR ? -1
                    : v->type == REDIS_REPLY_STRING    ? atoll(v->str)
                                                       : 0;
    if (v)
        freeReplyObject(v);
    return ver;
}

int reg_put(rds *r, const char *prefix, const subscriber *s, int create, long long *version)
{
    cJSON *o = sub_to_json(s, 1);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    const char *argv[] = {prefix, s->id, s->name, json, create ? "create" : "update"};
    redisReply *rep = rds_script(r, "sub_put", 5, argv, NULL);
    free(json);
    int rc = REG_UNAVAILABLE;
    if (rep && (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING)) {
        if (strcmp(rep->str, "OK") == 0)
            rc = REG_STORED;
        else if (strcmp(rep->str, "NAME_TAKEN") == 0)
            rc = REG_NAME_TAKEN;
        else if (strcmp(rep->str, "NOT_FOUND") == 0)
            rc = REG_NOT_FOUND;
    } else if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_msg(LOG_ERROR, "registry.script_error", "error=\"%s\"", rep->str);
    }
    if (rep)
        freeReplyObject(rep);
    if (rc == REG_STORED && version)
        *version = reg_version(r, prefix);
    return rc;
}

int reg_delete(rds *r, const char *prefix, const char *id, long long *version)
{
    const char *argv[] = {prefix, id};
    redisReply *rep = rds_script(r, "sub_del", 2, argv, NULL);
    int rc = REG_UNAVAILABLE;
    if (rep && rep->type == REDIS_REPLY_INTEGER)
        rc = rep->integer ? REG_STORED : REG_NOT_FOUND;
    if (rep)
        freeReplyObject(rep);
    if (rc == REG_STORED && version)
        *version = reg_version(r, prefix);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const subscriber *)a)->name, ((const subscriber *)b)->name);
}

int reg_list(rds *r, const char *prefix, subscriber **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    redisReply *all = rds_cmd(r, "HGETALL %s:subs", prefix);
    if (!all || all->type != REDIS_REPLY_ARRAY) {
        if (all)
            freeReplyObject(all);
        return REG_UNAVAILABLE;
    }
    subscriber *v = calloc(all->elements / 2 + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i + 1 < all->elements; i += 2)
        if (parse_stored(all->element[i + 1]->str, all->element[i + 1]->len, &v[k]) == 0)
            k++;
    freeReplyObject(all);
    qsort(v, k, sizeof *v, by_name);
    *out = v;
    *n = k;
    return REG_STORED;
}
