/* Unit tests of how the filter engine presents events and runs filters fast: the pool of proxy tables
 * reused from one event to the next (filter_data), and filters run without the count hook when they
 * cannot loop (filter). Each checks that the shortcut changes nothing a filter can observe. */
#include "check.h"
#include "filter.h"

#include <stdint.h>

/* These tests check answers, not time: without lim, the deadline is 10 s, so that a sanitizer build on a
 * busy machine does not hit it. */
static filter_engine *new_engine(const filter_limits *lim)
{
    char err[256] = "";
    filter_limits slow;
    if (!lim) {
        filter_limits_default(&slow);
        slow.deadline_ns = 10LL * 1000 * 1000 * 1000;
        lim = &slow;
    }
    filter_engine *fe = filter_new(lim, err, sizeof err);
    if (!fe) {
        fprintf(stderr, "  filter_new: %s\n", err);
        exit(2);
    }
    return fe;
}

static int compile(filter_engine *fe, const char *src)
{
    char err[256] = "";
    int h = filter_compile(fe, src, strlen(src), err, sizeof err);
    if (h <= 0)
        fprintf(stderr, "  compile [%s]: %s\n", src, err);
    return h;
}

/* Presents json and runs h; returns filter_eval's result, the error in err. */
static int eval_json(filter_engine *fe, int h, const char *json, char *err, size_t errlen)
{
    cJSON *data = cJSON_Parse(json);
    if (!data) {
        snprintf(err, errlen, "bad test JSON");
        return -9;
    }
    filter_set_event(fe, data);
    int r = filter_eval(fe, h, err, errlen);
    filter_clear_event(fe);
    cJSON_Delete(data);
    return r;
}

/* ---- reused proxy tables ---- */

TEST(test_filter_data_reused_cache_forgets_previous_event)
{
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    /* the miss on zzz converts the small object whole and takes its cache's metatable away */
    int read_all = compile(fe, "data.body.a == 1 and data.body.b == 2 and data.body.zzz == nil");
    int gone = compile(fe, "data.body.a == nil and data.body.b == nil and data.body.c == 3 and "
                           "not has(data.body, 'a') and data.headers == nil");
    for (int i = 0; i < 20; i++) {
        CHECK_INT(eval_json(fe, read_all, "{\"body\": {\"a\": 1, \"b\": 2}, \"headers\": {\"x\": 1}}", err,
                            sizeof err),
                  1);
        CHECK_INT(eval_json(fe, gone, "{\"body\": {\"c\": 3}}", err, sizeof err), 1);
    }
    filter_free(fe);
}

TEST(test_filter_data_reused_cache_serves_new_event_lazily)
{
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    int h = compile(fe, "data.body.total > 100");
    CHECK_INT(eval_json(fe, h, "{\"body\": {\"total\": 150}}", err, sizeof err), 1);
    /* a new event with the same shape: the cached 150 must not answer */
    CHECK_INT(eval_json(fe, h, "{\"body\": {\"total\": 50}}", err, sizeof err), 0);
    CHECK_INT(eval_json(fe, h, "{\"body\": [1, 2]}", err, sizeof err), -1); /* nil > 100 raises */
    CHECK_INT(eval_json(fe, h, "{\"body\": {\"total\": 101}}", err, sizeof err), 1);
    filter_free(fe);
}

TEST(test_filter_data_many_proxies_per_event)
{
    /* more objects read in one event than the pool keeps */
    char json[16384], err[256] = "";
    filter_engine *fe = new_engine(NULL);
    int h = compile(fe, "local n = 0 for i, v in ipairs(data.items) do "
                        "if v.k ~= i + data.base or v.o.i ~= i then return false end n = n + 1 end "
                        "return n == #data.items");
    for (int base = 0; base < 3; base++) {
        size_t n = (size_t)snprintf(json, sizeof json, "{\"base\": %d, \"items\": [", base);
        for (int i = 1; i <= 200; i++)
            n += (size_t)snprintf(json + n, sizeof json - n, "%s{\"k\": %d, \"o\": {\"i\": %d}}", i > 1 ? "," : "",
                                  i + base, i);
        snprintf(json + n, sizeof json - n, "]}");
        CHECK_INT(eval_json(fe, h, json, err, sizeof err), 1);
    }
    filter_free(fe);
}

TEST(test_filter_data_big_cache_is_replaced_not_reused)
{
    char json[8192], err[256] = "";
    size_t n = (size_t)snprintf(json, sizeof json, "{\"body\": {");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "%s\"k%d\": %d", i ? "," : "", i, i);
    snprintf(json + n, sizeof json - n, "}}");
    filter_engine *fe = new_engine(NULL);
    int all = compile(fe, "local s = 0 for k, v in pairs(data.body) do s = s + v end return s == 4950");
    int small = compile(fe, "data.body.k1 == nil and data.body.x == 7");
    CHECK_INT(eval_json(fe, all, json, err, sizeof err), 1);
    size_t after_first = filter_memory_used(fe);
    for (int i = 0; i < 50; i++) {
        CHECK_INT(eval_json(fe, small, "{\"body\": {\"x\": 7}}", err, sizeof err), 1);
        CHECK_INT(eval_json(fe, all, json, err, sizeof err), 1);
    }
    CHECK(filter_memory_used(fe) < after_first + 64 * 1024);
    filter_free(fe);
}

TEST(test_filter_data_memory_stable_across_events)
{
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    int h = compile(fe, "data.body.total > 100 and data.headers['x-tenant'] == 't7' and data.q.v == '2'");
    cJSON *data = cJSON_Parse("{\"body\": {\"total\": 120}, \"headers\": {\"x-tenant\": \"t7\"}, "
                              "\"q\": {\"v\": \"2\"}}");
    filter_set_event(fe, data);
    CHECK_INT(filter_eval(fe, h, err, sizeof err), 1);
    size_t before = filter_memory_used(fe);
    for (int i = 0; i < 5000; i++) {
        filter_set_event(fe, data);
        CHECK_INT(filter_eval(fe, h, err, sizeof err), 1);
    }
    CHECK(filter_memory_used(fe) < before + 256 * 1024); /* garbage comes and goes; nothing piles up */
    filter_clear_event(fe);
    cJSON_Delete(data);
    filter_free(fe);
}

TEST(test_filter_data_pairs_sees_each_event_through_reused_tables)
{
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    int h = compile(fe, "local s = '' for k, v in pairs(data) do s = s .. k .. '=' .. tostring(type(v) == "
                        "'table' and (v.x or v[1]) or v) .. ';' end return s");
    int a = compile(fe, "data.a.x == 1 and data.b == 2");
    const char *ev1 = "{\"a\": {\"x\": 1}, \"b\": 2}", *ev2 = "{\"c\": [3], \"a\": {\"x\": 5}}";
    for (int i = 0; i < 5; i++) {
        CHECK_INT(eval_json(fe, h, ev1, err, sizeof err), 1);
        CHECK_INT(eval_json(fe, a, ev1, err, sizeof err), 1);
        CHECK_INT(eval_json(fe, a, ev2, err, sizeof err), 0);
    }
    /* the string the pairs loop builds, per event */
    char src[] = "local s = '' for k, v in pairs(data) do s = s .. k .. '=' .. tostring(type(v) == 'table' "
                 "and (v.x or v[1]) or v) .. ';' end return s == 'c=3;a=5;'";
    int exact = compile(fe, src);
    CHECK_INT(eval_json(fe, a, ev1, err, sizeof err), 1);
    CHECK_INT(eval_json(fe, exact, ev2, err, sizeof err), 1);
    filter_free(fe);
}

/* ---- filters without the count hook ---- */

TEST(test_filter_loop_stopped_after_straight_filters_ran)
{
    filter_limits lim;
    filter_limits_default(&lim);
    lim.instructions = 100000;
    lim.deadline_ns = 10LL * 1000 * 1000 * 1000; /* the budget, not the clock, must end the loop */
    filter_engine *fe = new_engine(&lim);
    char err[256] = "";
    int straight = compile(fe, "data.body.total > 100");
    int loop = compile(fe, "while true do end return true");
    int big = 0;
    {
        char src[9000];
        memset(src, ' ', sizeof src);
        memcpy(src, "data.body.total > 100", 21);
        src[sizeof src - 1] = '\0';
        big = compile(fe, src); /* over BIG_SOURCE: the fine-grained hook from the start */
    }
    const char *ev = "{\"body\": {\"total\": 150}}";
    for (int i = 0; i < 3; i++) {
        CHECK_INT(eval_json(fe, straight, ev, err, sizeof err), 1);
        CHECK_INT(eval_json(fe, loop, ev, err, sizeof err), -1);
        CHECK_HAS(err, "instruction budget");
        CHECK_INT(eval_json(fe, big, ev, err, sizeof err), 1);
        CHECK_INT(eval_json(fe, straight, ev, err, sizeof err), 1);
        CHECK_INT(eval_json(fe, loop, ev, err, sizeof err), -1);
        CHECK_HAS(err, "instruction budget");
    }
    filter_free(fe);
}

TEST(test_filter_loop_keywords_in_strings_or_comments_still_hooked)
{
    /* a "for" in a string makes the filter run with the hook; the answer is the same */
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    int h = compile(fe, "data.headers['x-forwarded-for'] == '10.0.0.1' -- while");
    CHECK_INT(eval_json(fe, h, "{\"headers\": {\"x-forwarded-for\": \"10.0.0.1\"}}", err, sizeof err), 1);
    filter_free(fe);
}

TEST(test_filter_short_filter_without_loops_still_billed)
{
    /* no hook, but the C work is billed and the budget still ends it */
    filter_limits lim;
    filter_limits_default(&lim);
    lim.instructions = 10000;
    lim.deadline_ns = 10LL * 1000 * 1000 * 1000; /* the budget, not the clock, must end it */
    filter_engine *fe = new_engine(&lim);
    char err[256] = "";
    int h = compile(fe, "#('x'):rep(1000000) > 0");
    CHECK_INT(eval_json(fe, h, "{}", err, sizeof err), -1);
    CHECK_HAS(err, "instruction budget");
    int p = compile(fe, "('x'):rep(100000):find('(x*)*y') ~= nil");
    CHECK_INT(eval_json(fe, p, "{}", err, sizeof err), -1);
    CHECK_HAS(err, "instruction budget");
    int ok = compile(fe, "('x'):rep(10) == 'xxxxxxxxxx'");
    CHECK_INT(eval_json(fe, ok, "{}", err, sizeof err), 1);
    filter_free(fe);
}

CHECK_MAIN
