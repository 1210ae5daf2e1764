/* fuzz_seed — libFuzzer harness for seed files and subscriber bodies: json_parse on the whole input,
 * then, as `switchyard seed` and the admin API do, sub_from_json on each entry of the list (or on the
 * object itself): as a create, as a PATCH over the previous valid entry, and, for a valid entry, the
 * stored form read back (sub_to_json, then sub_from_json with from_store = 1).
 * Invariants (abort on violation): sub_from_json returns 0 or -1; on -1 err is non-empty and the
 * subscriber is zeroed; on 0 the required fields are there, topic is a valid pattern, target_url is
 * http(s), codes and numbers are inside their documented ranges; the stored form reads back to a
 * subscriber that serializes to the same JSON; a PATCH with an empty object changes nothing.
 * Build: see tests/fuzz/run_all.sh (links the filter engine and Lua 5.4: sub.c calls filter_check). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "sub.h"
#include "topic.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_seed: invariant failed: %s (line %d)\n", #cond, __LINE__);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int is_zero(const subscriber *s)
{
    static const subscriber zero;
    return memcmp(s, &zero, sizeof zero) == 0;
}

static void check_valid(const subscriber *s)
{
    CHECK(s->topic && topic_pattern_valid(s->topic, NULL, 0) == 0);
    CHECK(s->target_url && (strncasecmp(s->target_url, "http://", 7) == 0 ||
                            strncasecmp(s->target_url, "https://", 8) == 0));
    CHECK(s->filter != NULL);
    CHECK(s->max_attempts >= 1 && s->max_attempts <= 1000);
    CHECK(s->timeout_ms >= 100 && s->timeout_ms <= 300000);
    CHECK(s->nsuccess >= -1 && s->nsuccess <= SUB_MAX_CODES);
    CHECK(s->ndiscard >= -1 && s->ndiscard <= SUB_MAX_CODES);
    for (int i = 0; i < s->nsuccess; i++)
        CHECK(s->success_codes[i] >= 100 && s->success_codes[i] <= 599);
    for (int i = 0; i < s->ndiscard; i++)
        CHECK(s->discard_codes[i] >= 100 && s->discard_codes[i] <= 599);
    CHECK(s->rate_limit_per_s >= 0 && s->max_in_flight >= 0);
    CHECK((s->retry_delays_ms == NULL) == (s->nretry_delays == 0));
    if (s->method)
        for (const char *p = s->method; *p; p++)
            CHECK(*p >= 'A' && *p <= 'Z');
    if (s->headers) {
        CHECK(cJSON_IsObject(s->headers));
        const cJSON *h;
        cJSON_ArrayForEach(h, s->headers) {
            CHECK(cJSON_IsString(h));
            CHECK(!strpbrk(h->valuestring, "\r\n"));
        }
    }
}

static int from_json(subscriber *s, const cJSON *obj, const subscriber *base, int from_store)
{
    char err[512];
    err[0] = '\0';
    int rc = sub_from_json(s, obj, base, from_store, err, sizeof err);
    CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        CHECK(err[0] != '\0');
        CHECK(is_zero(s));
    } else {
        check_valid(s);
    }
    return rc;
}

/* The stored form (as the registry keeps it) must read back to the same subscriber. */
static void check_stored_roundtrip(subscriber *s)
{
    if (!s->id)
        s->id = strdup("sub_fuzz");
    if (!s->name)
        s->name = strdup(s->id);
    if (!s->secret)
        s->secret = strdup("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    cJSON *stored = sub_to_json(s, 1);
    char *text1 = cJSON_PrintUnformatted(stored);
    subscriber back;
    if (from_json(&back, stored, NULL, 1) != 0) {
        fprintf(stderr, "fuzz_seed: stored form does not read back: %s\n", text1);
        abort();
    }
    cJSON *again = sub_to_json(&back, 1);
    char *text2 = cJSON_PrintUnformatted(again);
    if (strcmp(text1, text2) != 0) {
        fprintf(stderr, "fuzz_seed: stored form changes on read-back:\n%s\n%s\n", text1, text2);
        abort();
    }
    /* an empty PATCH keeps everything */
    cJSON *empty = cJSON_CreateObject();
    subscriber same;
    CHECK(from_json(&same, empty, &back, 0) == 0);
    cJSON *patched = sub_to_json(&same, 1);
    char *text3 = cJSON_PrintUnformatted(patched);
    CHECK(strcmp(text1, text3) == 0);
    free(text1);
    free(text2);
    free(text3);
    cJSON_Delete(stored);
    cJSON_Delete(again);
    cJSON_Delete(patched);
    cJSON_Delete(empty);
    sub_free(&back);
    sub_free(&same);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 64 * 1024)
        return 0;
    char *text = malloc(size);
    CHECK(text != NULL);
    memcpy(text, data, size);
    char why[200];
    cJSON *list = json_parse(text, size, why, sizeof why);
    free(text);
    if (!list)
        return 0;
    cJSON *entries = list;
    cJSON *wrap = NULL;
    if (cJSON_IsObject(list)) { /* a single subscriber body, as POST /v1/subscribers takes */
        wrap = cJSON_CreateArray();
        cJSON_AddItemReferenceToArray(wrap, list);
        entries = wrap;
    }
    subscriber prev;
    int have_prev = 0;
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, entries) {
        if (++n > 16)
            break;
        subscriber s;
        if (from_json(&s, e, NULL, 0) == 0) {
            check_stored_roundtrip(&s);
            if (have_prev)
                sub_free(&prev);
            prev = s;
            have_prev = 1;
        } else if (have_prev) {
            subscriber p;
            if (from_json(&p, e, &prev, 0) == 0)
                sub_free(&p);
        }
        (void)from_json(&s, e, NULL, 1); /* the registry's reading of a stored entry */
        if (!is_zero(&s))
            sub_free(&s);
    }
    if (have_prev)
        sub_free(&prev);
    cJSON_Delete(wrap);
    cJSON_Delete(list);
    return 0;
}
