/* fuzz_publish — libFuzzer harness for publish-body parsing: the input is a request body for
 * POST /v1/publish (or, when the first byte is 'S', switch's POST /publish). It runs what api_publish
 * does before Redis: json_parse under the strict rules, "topic" through topic_valid, "data" must be an
 * object, the optional id / deliver_at / ttl checks, and for the switch format the base64 "Payload"
 * decoded and parsed again. Invariants checked (abort on violation):
 *   - json_parse either returns a tree or fills err with a sentence (never both, never neither);
 *   - an accepted tree prints (cJSON_PrintUnformatted) to text that json_parse accepts again and that
 *     prints to the same text (the hub stores data as printed: the worker must be able to read it);
 *   - a topic that passes topic_valid also passes topic_pattern_valid and matches itself and "#".
 * Build: see tests/fuzz/run_all.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "codec.h"
#include "json.h"
#include "topic.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_publish: invariant failed: %s (line %d)\n", #cond, __LINE__);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* json_parse plus the error-contract check. */
static cJSON *parse(const char *text, size_t len)
{
    char err[200];
    err[0] = '\0';
    cJSON *o = json_parse(text, len, err, sizeof err);
    if (!o)
        CHECK(err[0] != '\0');
    return o;
}

/* What the hub stores is what cJSON prints; what the worker reads back must be the same tree. */
static void check_roundtrip(const cJSON *tree)
{
    char *printed = cJSON_PrintUnformatted(tree);
    CHECK(printed != NULL);
    char err[200];
    cJSON *again = json_parse(printed, strlen(printed), err, sizeof err);
    if (!again) {
        fprintf(stderr, "fuzz_publish: printed tree does not parse again: %s\n%s\n", err, printed);
        abort();
    }
    char *printed2 = cJSON_PrintUnformatted(again);
    CHECK(printed2 != NULL);
    if (strcmp(printed, printed2) != 0) {
        fprintf(stderr, "fuzz_publish: print/parse/print differs:\n%s\n%s\n", printed, printed2);
        abort();
    }
    cJSON_Delete(again);
    free(printed);
    free(printed2);
}

static void check_topic(const char *topic)
{
    char why[200];
    why[0] = '\0';
    if (topic_valid(topic, why, sizeof why) != 0) {
        CHECK(why[0] != '\0');
        return;
    }
    CHECK(strlen(topic) >= 1 && strlen(topic) <= 255);
    CHECK(topic_pattern_valid(topic, NULL, 0) == 0);
    CHECK(topic_match(topic, topic) == 1);
    CHECK(topic_match("#", topic) == 1);
}

/* The option checks of parse_options in api_publish.c, on the same fields. */
static void check_options(const cJSON *root)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (cJSON_IsString(v))
        (void)strlen(v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(root, "deliver_at");
    if (cJSON_IsString(v)) {
        int64_t ms = 0;
        /* format clamps to years 0000-9999: check the round trip inside 1970-9999 only */
        if (codec_time_parse(v->valuestring, &ms) == 0 && ms >= 0 && ms <= 253402300799999LL) {
            char back[32];
            codec_time_format(ms, back);
            int64_t ms2 = -1;
            CHECK(codec_time_parse(back, &ms2) == 0);
            CHECK(ms2 == ms);
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "ttl");
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 366.0 * 86400 &&
        v->valuedouble == (double)(int64_t)v->valuedouble)
        (void)((int64_t)v->valuedouble * 1000);
}

static void switch_payload(const cJSON *root)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "Payload");
    if (!cJSON_IsString(p))
        return;
    size_t n = strlen(p->valuestring), outlen = 0;
    unsigned char *raw = malloc(n / 4 * 3 + 4);
    CHECK(raw != NULL);
    if (codec_b64_decode(p->valuestring, n, raw, &outlen, 0) == 0) {
        CHECK(outlen <= n / 4 * 3 + 3);
        cJSON *decoded = parse((const char *)raw, outlen);
        if (decoded) {
            check_roundtrip(decoded);
            cJSON_Delete(decoded);
        }
    }
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int switch_format = size > 0 && data[0] == 'S';
    if (switch_format)
        data++, size--;
    /* The hub hands json_parse a NUL-terminated copy; give the parser exactly size bytes on the heap
     * so ASan sees any read past the end. */
    char *text = malloc(size ? size : 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    cJSON *root = size ? parse(text, size) : NULL;
    if (root) {
        check_roundtrip(root);
        if (cJSON_IsObject(root)) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, switch_format ? "Topic" : "topic");
            if (cJSON_IsString(t))
                check_topic(t->valuestring);
            if (switch_format) {
                switch_payload(root);
            } else {
                const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "data");
                if (cJSON_IsObject(d)) {
                    char *dj = cJSON_PrintUnformatted(d);
                    CHECK(dj != NULL);
                    cJSON *again = parse(dj, strlen(dj));
                    CHECK(again != NULL && cJSON_IsObject(again));
                    cJSON_Delete(again);
                    free(dj);
                }
                check_options(root);
            }
        }
        cJSON_Delete(root);
    }
    free(text);
    return 0;
}
