/* seed — makes many subscribers fast. One subscriber ("bench-template") is created through the hub's
 * admin API with the C SDK, so the stored format is whatever the hub writes; its stored record is
 * read back from Redis and cloned --count times straight into the registry hashes (P:subs,
 * P:subnames, P:subids, as lua/sub_put.lua writes them), pipelined; then the change counter P:subver
 * is set to the current time in ms (larger than any INCR-made value, so every hub and worker
 * reloads). 100,000 subscribers take about a second instead of minutes of admin calls.
 *
 * Usage: seed --hub URL --admin TOKEN --redis HOST:PORT --target URL [--prefix sy] [--clear]
 *             [--count N] [--match K] [--topic bench.t] [--topics-prefix P] [--tag s]
 *   --clear          first remove every subscriber (the three hashes)
 *   --count N        clones to make (0: none; the template is still made)
 *   --match K        the first K clones get the filter "data.body.total > 100" (matches the
 *                    benchmark event), the others "data.body.total > 1000" (does not);
 *                    --match -1: every clone gets an empty filter (matches everything, no Lua run)
 *   --topics-prefix  clone i subscribes to P.i instead of --topic
 *   --tag            name prefix, so several seed calls can add to one registry
 * Prints: version=V subscribers=N template=ID */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "bench_util.h"
#include "switchyard.h"

#define BATCH 2000

static int drain(redisContext *r, int n)
{
    for (int i = 0; i < n; i++) {
        void *rep = NULL;
        if (redisGetReply(r, &rep) != REDIS_OK) {
            fprintf(stderr, "seed: redis: %s\n", r->errstr);
            return -1;
        }
        if (((redisReply *)rep)->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "seed: redis error: %s\n", ((redisReply *)rep)->str);
            freeReplyObject(rep);
            return -1;
        }
        freeReplyObject(rep);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *hub = bench_arg(argc, argv, "--hub", NULL);
    const char *admin = bench_arg(argc, argv, "--admin", NULL);
    const char *redis = bench_arg(argc, argv, "--redis", NULL);
    const char *target = bench_arg(argc, argv, "--target", NULL);
    const char *prefix = bench_arg(argc, argv, "--prefix", "sy");
    const char *topic = bench_arg(argc, argv, "--topic", "bench.t");
    const char *topics_prefix = bench_arg(argc, argv, "--topics-prefix", NULL);
    const char *tag = bench_arg(argc, argv, "--tag", "s");
    long long count = bench_arg_ll(argc, argv, "--count", 0);
    long long match = bench_arg_ll(argc, argv, "--match", 0);
    int clear = 0;
    for (int i = 1; i < argc; i++)
        clear |= strcmp(argv[i], "--clear") == 0;
    if (!hub || !admin || !redis || !target || !strchr(redis, ':')) {
        fprintf(stderr, "usage: seed --hub URL --admin TOKEN --redis HOST:PORT --target URL "
                        "[--prefix P] [--clear] [--count N] [--match K] [--topic T] "
                        "[--topics-prefix P] [--tag S]\n");
        return 2;
    }
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(strchr(redis, ':') - redis), redis);
    redisContext *r = redisConnect(host, atoi(strchr(redis, ':') + 1));
    if (!r || r->err) {
        fprintf(stderr, "seed: cannot connect to redis %s\n", redis);
        return 1;
    }
    if (clear) {
        redisReply *rep = redisCommand(r, "DEL %s:subs %s:subnames %s:subids", prefix, prefix, prefix);
        if (!rep)
            return 1;
        freeReplyObject(rep);
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    syc_client *c = syc_client_new(hub);
    syc_set_admin_token(c, admin);
    char body[4096], *out = NULL;
    snprintf(body, sizeof body,
             "{\"topic\": \"bench.template\", \"target_url\": \"%s\", \"filter\": "
             "\"data.body.total > 1000\"}", target);
    if (syc_subscriber_put(c, "bench-template", body, &out) != 0) {
        fprintf(stderr, "seed: creating the template through the hub failed: %d %s: %s\n",
                syc_status(c), syc_error_code(c), syc_error(c));
        return 1;
    }
    cJSON *made = cJSON_Parse(out);
    char tid[128];
    snprintf(tid, sizeof tid, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(made, "id")));
    cJSON_Delete(made);
    syc_free(out);
    syc_client_free(c);

    redisReply *rep = redisCommand(r, "HGET %s:subs %s", prefix, tid);
    if (!rep || rep->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "seed: the template %s is not in %s:subs\n", tid, prefix);
        return 1;
    }
    cJSON *tmpl = cJSON_Parse(rep->str);
    freeReplyObject(rep);
    if (!tmpl) {
        fprintf(stderr, "seed: the stored template is not JSON\n");
        return 1;
    }
    int pending = 0;
    for (long long i = 0; i < count; i++) {
        char id[64], name[96], t[300];
        snprintf(id, sizeof id, "sub_bench%s%08lld", tag, i);
        snprintf(name, sizeof name, "bench-%s-%lld", tag, i);
        if (topics_prefix)
            snprintf(t, sizeof t, "%s.%lld", topics_prefix, i);
        else
            snprintf(t, sizeof t, "%s", topic);
        const char *filter = match < 0 ? "" : i < match ? "data.body.total > 100"
                                                        : "data.body.total > 1000";
        cJSON_ReplaceItemInObject(tmpl, "id", cJSON_CreateString(id));
        cJSON_ReplaceItemInObject(tmpl, "name", cJSON_CreateString(name));
        cJSON_ReplaceItemInObject(tmpl, "topic", cJSON_CreateString(t));
        cJSON_ReplaceItemInObject(tmpl, "filter", cJSON_CreateString(filter));
        char *json = cJSON_PrintUnformatted(tmpl);
        redisAppendCommand(r, "HSET %s:subs %s %s", prefix, id, json);
        redisAppendCommand(r, "HSET %s:subnames %s %s", prefix, name, id);
        redisAppendCommand(r, "HSET %s:subids %s %s", prefix, id, name);
        free(json);
        pending += 3;
        if (pending >= BATCH) {
            if (drain(r, pending) != 0)
                return 1;
            pending = 0;
        }
    }
    if (drain(r, pending) != 0)
        return 1;
    cJSON_Delete(tmpl);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    long long version = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    rep = redisCommand(r, "GET %s:subver", prefix);
    if (rep && rep->type == REDIS_REPLY_STRING && atoll(rep->str) >= version)
        version = atoll(rep->str) + 1;   /* the counter only ever grows */
    if (rep)
        freeReplyObject(rep);
    rep = redisCommand(r, "SET %s:subver %lld", prefix, version);
    if (!rep)
        return 1;
    freeReplyObject(rep);
    rep = redisCommand(r, "HLEN %s:subs", prefix);
    long long n = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep)
        freeReplyObject(rep);
    printf("version=%lld subscribers=%lld template=%s\n", version, n, tid);
    redisFree(r);
    curl_global_cleanup();
    return 0;
}
