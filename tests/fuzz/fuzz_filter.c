/* fuzz_filter — libFuzzer harness for the filter engine: arbitrary filter text run against arbitrary
 * JSON data, through compiling, presenting the event to Lua, evaluating and releasing.
 *
 * Input: the filter text, then optionally a NUL byte and the event's JSON text. Without a NUL the filter
 * runs against a small built-in switch-style event; JSON that does not parse to an object is skipped.
 * One long-lived engine with tight limits (2 ms deadline, 50,000 instructions, 8 MiB, 256 KiB strings)
 * serves every input, so state one filter leaves behind meets the next, as in the hub.
 *
 * Besides crashes and sanitizer reports, it aborts when a fixed canary filter, run after every input
 * against a fixed event, stops matching: something a fuzzed filter did (to the sandbox, the libraries
 * or the event data) was visible to a later filter. A canary that fails for lack of memory is not
 * counted. Built and run by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "filter.h"

static const char DEFAULT_EVENT[] =
    "{\"body\": {\"id\": 7, \"total\": 120, \"items\": [\"a\", \"b\", null], \"none\": null,"
    " \"nested\": {\"deep\": {\"x\": 1.5}}}, \"headers\": {\"x-tenant\": \"acme\"},"
    " \"query_params\": {\"v\": \"2\"}, \"path_params\": {\"order_id\": \"7\"}, \"http_method\": \"post\"}";

static const char CANARY_EVENT[] = "{\"k\": 1, \"s\": \"x\", \"a\": [1, 2], \"o\": {\"p\": true}}";

/* Everything a filter could try to tamper with, read back. */
static const char CANARY[] =
    "data.k == 1 and data.s == 'x' and #data.a == 2 and data.a[2] == 2 and data.o.p == true and "
    "data.zz == nil and string.upper('a') == 'A' and ('b'):upper() == 'B' and math.floor(1.5) == 1 and "
    "type(tostring) == 'function' and type(pairs) == 'function' and True == true and False == false and "
    "None == nil and has(data, 'k') and string.find('abc', 'b', 1, true) == 2 and "
    "table.concat({1, 2}, ',') == '1,2' and select('#', 1, 2) == 2 and _G.string == string";

static filter_engine *engine;
static cJSON *default_event, *canary_event;
static int canary;

/* Frees everything at exit, so that LeakSanitizer's exit-time check sees any memory the engine lost
 * (run.sh turns libFuzzer's per-input leak check off: a long-lived Lua heap makes it slow and noisy). */
static void cleanup(void)
{
    filter_free(engine);
    cJSON_Delete(default_event);
    cJSON_Delete(canary_event);
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_filter: %s: %s\n", what, err);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    filter_limits lim;
    filter_limits_default(&lim);
    lim.deadline_ns = 2 * 1000 * 1000;
    lim.instructions = 50 * 1000;
    lim.memory_bytes = (size_t)8 << 20;
    lim.string_bytes = (size_t)256 << 10;
    if (!(engine = filter_new(&lim, err, sizeof err)))
        die("filter_new", err);
    default_event = cJSON_Parse(DEFAULT_EVENT);
    canary_event = cJSON_Parse(CANARY_EVENT);
    if (!default_event || !canary_event)
        die("built-in event", "does not parse");
    if ((canary = filter_compile(engine, CANARY, strlen(CANARY), err, sizeof err)) <= 0)
        die("canary", err);
    atexit(cleanup);
    return 0;
}

static void check_canary(const uint8_t *input, size_t size)
{
    char err[256] = "";
    filter_set_event(engine, canary_event);
    int r = filter_eval(engine, canary, err, sizeof err);
    filter_clear_event(engine);
    if (r == 1 || (r < 0 && strstr(err, "memory limit")))
        return;
    fprintf(stderr, "fuzz_filter: canary gave %d (%s) after this filter:\n%.*s\n", r, err,
            (int)(size < 512 ? size : 512), (const char *)input);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    const uint8_t *nul = memchr(input, 0, size);
    size_t flen = nul ? (size_t)(nul - input) : size;
    cJSON *parsed = NULL;
    const cJSON *data = default_event;
    if (nul) {
        parsed = cJSON_ParseWithLength((const char *)nul + 1, size - flen - 1);
        if (!cJSON_IsObject(parsed)) {
            cJSON_Delete(parsed);
            return 0;
        }
        data = parsed;
    }

    char err[512] = "";
    int h = filter_compile(engine, (const char *)input, flen, err, sizeof err);
    if (h < 0 && !err[0])
        die("compile failed without a message", (const char *)input);
    if (h > 0) {
        filter_set_event(engine, data);
        int r = filter_eval(engine, h, err, sizeof err);
        if (r >= 0) /* again, now reading converted fields (a filter that hit a limit would again) */
            r = filter_eval(engine, h, err, sizeof err);
        if (r < -1 || r > 1)
            die("filter_eval out of range", err);
        filter_release(engine, h);
        if (filter_eval(engine, h, err, sizeof err) != -1)
            die("released handle still runs", err);
    }
    filter_clear_event(engine);
    cJSON_Delete(parsed);
    check_canary(input, size);
    return 0;
}
