/* Unit tests of the filter engine: language, lazy data presentation, helpers, Lua 5.4 pattern semantics
 * (expected values produced by the real lua5.4 interpreter), and one regression test per sandbox trick. */
#include "check.h"
#include "filter.h"

#include <stdint.h>
#include <time.h>

static const char *EVENT =
    "{\"body\": {\"id\": 7, \"total\": 120, \"price\": 19.5, \"items\": [\"a\", \"b\", \"c\"],"
    " \"flag\": true, \"none\": null, \"nested\": {\"deep\": {\"x\": 1}}, \"s\": \"a!=b\","
    " \"name\": \"Widget\", \"tags\": [\"red\", null, \"blue\"], \"nums\": [1, 2.5, -3]},"
    " \"headers\": {\"x-tenant\": \"acme\", \"y\": \"z\"}, \"query_params\": {\"v\": \"2\"},"
    " \"path_params\": {\"order_id\": \"7\"}, \"http_method\": \"post\"}";

static filter_engine *new_engine(const filter_limits *lim)
{
    char err[256] = "";
    filter_engine *fe = filter_new(lim, err, sizeof err);
    if (!fe) {
        fprintf(stderr, "  filter_new: %s\n", err);
        exit(2);
    }
    return fe;
}

static filter_limits limits(int64_t deadline_ns, int64_t instructions, size_t memory_bytes)
{
    filter_limits lim;
    filter_limits_default(&lim);
    lim.deadline_ns = deadline_ns;
    lim.instructions = instructions;
    lim.memory_bytes = memory_bytes;
    return lim;
}

/* Compiles src, presents json (NULL: no event), evaluates once. -2 means src did not compile. */
static int eval_on(filter_engine *fe, const char *src, const char *json, char *err, size_t errlen)
{
    cJSON *data = json ? cJSON_Parse(json) : NULL;
    if (json && !data) {
        snprintf(err, errlen, "bad test JSON");
        return -9;
    }
    int h = filter_compile(fe, src, strlen(src), err, errlen);
    if (h < 0) {
        cJSON_Delete(data);
        return -2;
    }
    filter_set_event(fe, data);
    int r = filter_eval(fe, h, err, errlen);
    filter_clear_event(fe);
    filter_release(fe, h);
    cJSON_Delete(data);
    return r;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The filter's result is want (1, 0, or -1 for a runtime error). */
#define CHECK_FILTER(fe, src, json, want)                                                           \
    do {                                                                                            \
        char e_[512] = "";                                                                          \
        int r_ = eval_on((fe), (src), (json), e_, sizeof e_);                                       \
        if (r_ != (want)) {                                                                         \
            fprintf(stderr, "  %s:%d: filter [%s] gave %d (%s), expected %d\n", __FILE__, __LINE__, \
                    (src), r_, e_, (want));                                                         \
            check_failed_now = 1;                                                                   \
        }                                                                                           \
    } while (0)

/* The filter is refused, at compile time or when run, with an error containing want. */
#define CHECK_REFUSED(fe, src, json, want)                                                          \
    do {                                                                                            \
        char e_[512] = "";                                                                          \
        int r_ = eval_on((fe), (src), (json), e_, sizeof e_);                                       \
        if ((r_ != -1 && r_ != -2) || !strstr(e_, (want))) {                                        \
            fprintf(stderr, "  %s:%d: filter [%s] gave %d (%s), expected an error with \"%s\"\n",   \
                    __FILE__, __LINE__, (src), r_, e_, (want));                                     \
            check_failed_now = 1;                                                                   \
        }                                                                                           \
    } while (0)

/* After any trick, ordinary filters still give the right answers. */
#define CHECK_STILL_WORKS(fe)                                                                       \
    do {                                                                                            \
        CHECK_FILTER(fe, "data.body.total > 100 and data.headers['x-tenant'] == 'acme'", EVENT, 1); \
        CHECK_FILTER(fe, "string.upper(data.body.items[2]) == 'B' and ('x'):rep(2) == 'xx'", EVENT,  \
                     1);                                                                            \
        CHECK_FILTER(fe, "data.body.total < 100", EVENT, 0);                                        \
    } while (0)

/* A 5 ms deadline must hold to within one check interval; 50 ms leaves room for sanitizers and CI. */
/* A runaway filter would take seconds or forever; 100x the 5 ms deadline leaves room for a loaded,
 * sanitized CI machine without turning this into a speed test. */
#define CHECK_STOPPED_IN_TIME(ms)                                                                   \
    do {                                                                                            \
        if (!((ms) < 500)) {                                                                        \
            fprintf(stderr, "  %s:%d: took %.1f ms, expected under 500\n", __FILE__, __LINE__, (ms)); \
            check_failed_now = 1;                                                                   \
        }                                                                                           \
    } while (0)

/* Runs src; the time it took (ms) goes to *ms; the error must contain want. */
static int refused_within(filter_engine *fe, const char *src, const char *want, double *ms)
{
    char err[512] = "";
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = eval_on(fe, src, EVENT, err, sizeof err);
    *ms = ms_since(&t0);
    if (r != -1 || !strstr(err, want)) {
        fprintf(stderr, "  filter [%s] gave %d (%s), expected an error with \"%s\"\n", src, r, err, want);
        return 0;
    }
    return 1;
}

/* ---- the language ---- */

TEST(test_filter_switch_expression_verbatim)
{
    filter_engine *fe = new_engine(NULL);
    const char *sw = "data[\"body\"][\"x\"] == 1 and data[\"headers\"][\"y\"] == \"z\" or "
                     "data[\"special_key\"] == \"special value\"";
    CHECK_FILTER(fe, sw, "{\"body\": {\"x\": 1}, \"headers\": {\"y\": \"z\"}}", 1);
    CHECK_FILTER(fe, sw, "{\"body\": {\"x\": 2}, \"headers\": {\"y\": \"z\"}}", 0);
    CHECK_FILTER(fe, sw, "{\"special_key\": \"special value\"}", 1);
    CHECK_FILTER(fe, sw, "{}", 0);
    CHECK_FILTER(fe, "not (data[\"body\"][\"x\"] == 1)", "{\"body\": {\"x\": 2}}", 1);
    filter_free(fe);
}

TEST(test_filter_true_false_none)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "True", EVENT, 1);
    CHECK_FILTER(fe, "False", EVENT, 0);
    CHECK_FILTER(fe, "None", EVENT, 0);
    CHECK_FILTER(fe, "None == nil and True == true and False == false", EVENT, 1);
    CHECK_FILTER(fe, "data[\"body\"][\"none\"] == None", EVENT, 1);
    CHECK_FILTER(fe, "data[\"body\"][\"absent\"] == None", EVENT, 1);
    CHECK_FILTER(fe, "data.body.flag == True", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_python_not_equal_rewritten)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "data[\"body\"][\"total\"] != 120", EVENT, 0);
    CHECK_FILTER(fe, "data.body.total != 5 and data.body.id~=8", EVENT, 1);
    CHECK_FILTER(fe, "data.body.total!=120", EVENT, 0);
    filter_free(fe);
}

TEST(test_filter_not_equal_inside_string_literal_untouched)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "data.body.s == \"a!=b\"", EVENT, 1);
    CHECK_FILTER(fe, "data.body.s == 'a!=b'", EVENT, 1);
    CHECK_FILTER(fe, "data.body.s == [[a!=b]] and #[==[!=]==] == 2", EVENT, 1);
    CHECK_FILTER(fe, "data.body.s == \"a\\\"\" or data.body.s == 'a!=b' -- != comment", EVENT, 1);
    CHECK_FILTER(fe, "--[[ != ]] data.body.s == \"a!=b\"", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_missing_key_is_nil)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "data.nope == nil and data.body.nope == nil and data.body.items[4] == nil", EVENT, 1);
    CHECK_FILTER(fe, "data.body.items[0] == nil and data.body.items[-1] == nil", EVENT, 1);
    CHECK_FILTER(fe, "data.body[1] == nil and data.body.items.x == nil and data[true] == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_indexing_nil_chain_gives_nil)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "data.body.a.b.c == nil", EVENT, 1);
    CHECK_FILTER(fe, "data.nope.x.y.z == nil and data.body.none.x == nil", EVENT, 1);
    CHECK_FILTER(fe, "data.body.total.x == nil and data.body.flag.x == nil", EVENT, 1);
    CHECK_FILTER(fe, "data.body.a.b.c > 1", EVENT, -1); /* comparing nil still raises */
    filter_free(fe);
}

TEST(test_filter_json_null_reads_nil_and_helpers_tell_it_from_absent)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "data.body.none == nil", EVENT, 1);
    CHECK_FILTER(fe, "is_null(data.body, 'none') and not is_null(data.body, 'absent')", EVENT, 1);
    CHECK_FILTER(fe, "has(data.body, 'none') and not has(data.body, 'absent')", EVENT, 1);
    CHECK_FILTER(fe, "is_null(data.body.tags, 2) and not is_null(data.body.tags, 1)", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_integers_stay_integers)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "math.type(data.body.id) == 'integer' and data.body.id == 7", EVENT, 1);
    CHECK_FILTER(fe, "math.type(data.n) == 'integer' and data.n == -5", "{\"n\": -5}", 1);
    CHECK_FILTER(fe, "math.type(data.n) == 'integer' and data.n == 9007199254740992",
                 "{\"n\": 9007199254740992}", 1);
    CHECK_FILTER(fe, "data.n // 1 == data.n and data.n | 0 == 1000", "{\"n\": 1e3}", 1);
    CHECK_FILTER(fe, "math.type(data.n) == 'float'", "{\"n\": 1e19}", 1); /* beyond int64 */
    filter_free(fe);
}

TEST(test_filter_floats_stay_floats)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "math.type(data.body.price) == 'float' and data.body.price == 19.5", EVENT, 1);
    CHECK_FILTER(fe, "math.type(data.body.nums[2]) == 'float' and data.body.nums[3] == -3", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_arrays_are_one_based)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "data.body.items[1] == 'a' and data.body.items[3] == 'c'", EVENT, 1);
    CHECK_FILTER(fe, "data.body.items[1.0] == 'a' and data.body.items['1'] == nil", EVENT, 1);
    CHECK_FILTER(fe, "data[1].id == 1 and data[2].id == 2", "[{\"id\": 1}, {\"id\": 2}]", 1);
    filter_free(fe);
}

TEST(test_filter_length_operator_counts_members)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "#data.body.items == 3 and #data.body.tags == 3", EVENT, 1);
    CHECK_FILTER(fe, "#data.headers == 2 and #data == 5", EVENT, 1);
    CHECK_FILTER(fe, "#data == 0", NULL, 1);
    filter_free(fe);
}

TEST(test_filter_pairs_and_ipairs_iterate_data)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe,
                 "local s = '' for i, v in ipairs(data.body.items) do s = s .. i .. v end "
                 "return s == '1a2b3c'",
                 EVENT, 1);
    CHECK_FILTER(fe,
                 "local keys = {} for k, v in pairs(data.headers) do keys[#keys + 1] = k .. '=' .. v end "
                 "return table.concat(keys, ',') == 'x-tenant=acme,y=z'",
                 EVENT, 1);
    CHECK_FILTER(fe, "local n = 0 for _ in ipairs(data.body.tags) do n = n + 1 end return n == 1", EVENT,
                 1); /* ipairs stops at the first null */
    CHECK_FILTER(fe,
                 "local n = 0 for k, v in pairs(data.body.tags) do n = n + k end "
                 "return n == 6", EVENT, 1); /* pairs visits nulls (as nil) */
    CHECK_FILTER(fe, "for k, v in pairs(data.body) do if k == 'nested' then return v == data.body.nested "
                 "end end", EVENT, 1);
    CHECK_FILTER(fe, "table.concat(data.body.items, '-') == 'a-b-c'", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_proxies_keep_identity)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "local b = data.body local _ = data.nope return b == data.body", EVENT, 1);
    CHECK_FILTER(fe, "local n = data.body.nested local _ = data.body.nope return n == data.body.nested",
                 EVENT, 1);
    CHECK_FILTER(fe, "local a = data.arr[1] local _ = data.arr[9] return a == data.arr[1]",
                 "{\"arr\": [{}, [], 3]}", 1);
    filter_free(fe);
}

TEST(test_filter_type_of_data_is_table)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "type(data) == 'table' and type(data.body.items) == 'table'", EVENT, 1);
    CHECK_FILTER(fe, "type(data.body.id) == 'number' and type(data.body.none) == 'nil'", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_large_array_random_access)
{
    char json[16384];
    size_t n = (size_t)snprintf(json, sizeof json, "{\"a\": [");
    for (int i = 1; i <= 2000; i++)
        n += (size_t)snprintf(json + n, sizeof json - n, "%s%d", i > 1 ? "," : "", i);
    snprintf(json + n, sizeof json - n, "]}");
    filter_limits lim = limits(1000 * 1000 * 1000, 0, 0); /* a second: valgrind runs are slow */
    filter_engine *fe = new_engine(&lim);
    CHECK_FILTER(fe, "local s = 0 for i = #data.a, 1, -1 do s = s + data.a[i] end return s == 2001000",
                 json, 1);
    CHECK_FILTER(fe, "data.a[2000] == 2000 and data.a[2001] == nil and data.a[1500] == 1500", json, 1);
    filter_free(fe);
}

TEST(test_filter_nonboolean_result_counts_by_truthiness)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "0", EVENT, 1);
    CHECK_FILTER(fe, "''", EVENT, 1);
    CHECK_FILTER(fe, "data.body.items", EVENT, 1);
    CHECK_FILTER(fe, "data.body.name", EVENT, 1);
    CHECK_FILTER(fe, "nil", EVENT, 0);
    CHECK_FILTER(fe, "data.body.missing", EVENT, 0);
    CHECK_FILTER(fe, "local x = 1 return", EVENT, 0);
    filter_free(fe);
}

TEST(test_filter_chunk_with_return_compiles)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "local b = data.body; return b.total > 100", EVENT, 1);
    CHECK_FILTER(fe, "local x = data; return x.body.id == 7 -- trailing comment", EVENT, 1);
    CHECK_FILTER(fe, "local function big(t) return t > 100 end\nreturn big(data.body.total)", EVENT, 1);
    CHECK_FILTER(fe, "if data.body.flag then return 'yes' end return false", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_cannot_run_code_at_compile_time)
{
    /* text that would close the wrapper function early and run a loop while compiling */
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    const char *tricks[] = {"1 end, (function() while true do end end)(), function() return 1",
                            "1 end while true do end return function() return 1",
                            "true\nend, (function() while true do end end)() --"};
    for (size_t i = 0; i < sizeof tricks / sizeof tricks[0]; i++)
        CHECK_INT(filter_compile(fe, tricks[i], strlen(tricks[i]), err, sizeof err), -1);
    CHECK_INT(filter_compile(fe, "...", 3, err, sizeof err), -1); /* data is `data`, not `...` */
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_chunk_without_return_refused)
{
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    CHECK_INT(filter_compile(fe, "data.x = 1", 10, err, sizeof err), -1);
    CHECK_HAS(err, "filter:1:");
    filter_free(fe);
}

TEST(test_filter_empty_filter_always_matches)
{
    char err[64] = "";
    filter_engine *fe = new_engine(NULL);
    CHECK_INT(filter_compile(fe, "", 0, err, sizeof err), 0);
    CHECK_INT(filter_compile(fe, " \n\t ", 4, err, sizeof err), 0);
    CHECK_INT(filter_compile(fe, NULL, 0, err, sizeof err), 0);
    CHECK_INT(filter_eval(fe, 0, err, sizeof err), 1);
    filter_free(fe);
}

TEST(test_filter_compile_error_has_position)
{
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    CHECK_INT(filter_compile(fe, "data.body.total > > 1", 21, err, sizeof err), -1);
    CHECK_STR(err, "filter:1: unexpected symbol near '>'");
    const char *multi = "data.body.total > 1 and\n\n  (data.x == ";
    CHECK_INT(filter_compile(fe, multi, strlen(multi), err, sizeof err), -1);
    CHECK_HAS(err, "filter:3:");
    CHECK_INT(filter_compile(fe, "\"open", 5, err, sizeof err), -1);
    CHECK_HAS(err, "unfinished string");
    filter_free(fe);
}

TEST(test_filter_runtime_error_reported)
{
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    CHECK_INT(eval_on(fe, "data.body.total > 'x'", EVENT, err, sizeof err), -1);
    CHECK_HAS(err, "attempt to compare");
    CHECK_INT(eval_on(fe, "error({})", EVENT, err, sizeof err), -1);
    CHECK_HAS(err, "non-string error");
    CHECK_INT(eval_on(fe, "error('mine', 0)", EVENT, err, sizeof err), -1);
    CHECK_STR(err, "mine");
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_unknown_or_released_handle_refused)
{
    char err[128] = "";
    filter_engine *fe = new_engine(NULL);
    int h = filter_compile(fe, "true", 4, err, sizeof err);
    CHECK(h > 0);
    CHECK_INT(filter_eval(fe, h, err, sizeof err), 1);
    filter_release(fe, h);
    CHECK_INT(filter_eval(fe, h, err, sizeof err), -1);
    CHECK_HAS(err, "unknown filter handle");
    CHECK_INT(filter_eval(fe, 2, err, sizeof err), -1);
    CHECK_INT(filter_eval(fe, -7, err, sizeof err), -1);
    filter_release(fe, 12345);
    filter_free(fe);
}

TEST(test_filter_compiled_once_evaluated_against_many_events)
{
    char err[128] = "";
    filter_engine *fe = new_engine(NULL);
    int h = filter_compile(fe, "data.body.total > 100", 21, err, sizeof err);
    cJSON *a = cJSON_Parse("{\"body\": {\"total\": 150}}"), *b = cJSON_Parse("{\"body\": {\"total\": 50}}");
    for (int i = 0; i < 100; i++) {
        filter_set_event(fe, a);
        CHECK_INT(filter_eval(fe, h, err, sizeof err), 1);
        filter_set_event(fe, b);
        CHECK_INT(filter_eval(fe, h, err, sizeof err), 0);
    }
    filter_clear_event(fe);
    int empty = filter_compile(fe, "data.body == nil and #data == 0", 31, err, sizeof err);
    CHECK_INT(filter_eval(fe, empty, err, sizeof err), 1);
    cJSON_Delete(a);
    cJSON_Delete(b);
    filter_free(fe);
}

TEST(test_filter_presents_data_lazily)
{
    /* a ~100 KB event: a filter reading two fields must not convert the rest */
    size_t cap = 200 * 1024, n = 0;
    char *json = malloc(cap);
    n += (size_t)snprintf(json + n, cap - n, "{\"body\": {\"total\": 120, \"blob\": [");
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(json + n, cap - n, "%s{\"k%d\": \"%040d\"}", i ? "," : "", i, i);
    snprintf(json + n, cap - n, "]}, \"headers\": {\"y\": \"z\"}}");
    cJSON *data = cJSON_Parse(json);
    CHECK(data && strlen(json) > 100000);
    char err[128] = "";
    filter_engine *fe = new_engine(NULL);
    const char *src = "data.body.total > 100 and data.headers.y == 'z'";
    int h = filter_compile(fe, src, strlen(src), err, sizeof err);
    filter_set_event(fe, data);
    CHECK_INT(filter_eval(fe, h, err, sizeof err), 1);
    size_t before = filter_memory_used(fe);
    for (int i = 0; i < 10; i++) {
        filter_set_event(fe, data);
        CHECK_INT(filter_eval(fe, h, err, sizeof err), 1);
    }
    CHECK(filter_memory_used(fe) < before + 16 * 1024); /* a few proxies, not 100 KB of tables */
    filter_clear_event(fe);
    cJSON_Delete(data);
    free(json);
    filter_free(fe);
}

TEST(test_filter_math_random_available_randomseed_not)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "local r = math.random() return r >= 0 and r < 1", EVENT, 1);
    CHECK_FILTER(fe, "math.randomseed == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_check_accepts_and_rejects)
{
    char err[256] = "";
    CHECK_INT(filter_check("data.body.total > 100", err, sizeof err), 0);
    CHECK_INT(filter_check("", err, sizeof err), 0);
    CHECK_INT(filter_check("data.body.total >", err, sizeof err), -1);
    CHECK_HAS(err, "filter:1:");
}

TEST(test_filter_test_dry_run)
{
    char err[256] = "";
    cJSON *data = cJSON_Parse(EVENT);
    CHECK_INT(filter_test("data.body.total > 100", data, NULL, err, sizeof err), 1);
    CHECK_INT(filter_test("data.body.total > 1000", data, NULL, err, sizeof err), 0);
    CHECK_INT(filter_test("", data, NULL, err, sizeof err), 1);
    CHECK_INT(filter_test("data.body.total >", data, NULL, err, sizeof err), -1);
    CHECK_HAS(err, "unexpected symbol");
    filter_limits lim = limits(1000 * 1000 * 1000, 10000, 0);
    CHECK_INT(filter_test("while true do end return true", data, &lim, err, sizeof err), -1);
    CHECK_HAS(err, "instruction budget");
    cJSON_Delete(data);
}

/* ---- helpers ---- */

TEST(test_filter_helper_has)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "has(data.body, 'total') and has(data, 'headers') and not has(data.body, 'x')", EVENT,
                 1);
    CHECK_FILTER(fe, "has(data.body.items, 3) and not has(data.body.items, 4)", EVENT, 1);
    CHECK_FILTER(fe, "has({a = 1}, 'a') and not has({}, 'a')", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_helper_is_null)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "is_null(data.body, 'none') and not is_null(data.body, 'total')", EVENT, 1);
    CHECK_FILTER(fe, "not is_null(data.body, 'absent') and not is_null({}, 'x')", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_helper_startswith_endswith)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "startswith(data.body.name, 'Wid') and not startswith(data.body.name, 'get')", EVENT,
                 1);
    CHECK_FILTER(fe, "endswith(data.body.name, 'get') and not endswith(data.body.name, 'Wid')", EVENT, 1);
    CHECK_FILTER(fe, "startswith('abc', '') and endswith('abc', '') and not startswith('a', 'abc')", EVENT,
                 1);
    filter_free(fe);
}

TEST(test_filter_helper_contains)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "contains(data.body.name, 'dge') and not contains(data.body.name, 'x')", EVENT, 1);
    CHECK_FILTER(fe, "contains(data.body.items, 'b') and not contains(data.body.items, 'z')", EVENT, 1);
    CHECK_FILTER(fe, "contains(data.body.nums, 2.5) and contains(data.body.nums, -3)", EVENT, 1);
    CHECK_FILTER(fe, "contains(data.headers, 'y') and not contains(data.headers, 'z')", EVENT, 1);
    CHECK_FILTER(fe, "contains({1, 2, 3}, 2) and not contains({1, 2, 3}, '2')", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_helper_glob)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "glob(data.body.name, 'W*t') and glob(data.body.name, 'W?dget')", EVENT, 1);
    CHECK_FILTER(fe, "not glob(data.body.name, 'W*x') and glob('', '*') and glob('a.b', 'a.b')", EVENT, 1);
    CHECK_FILTER(fe, "not glob('axb', 'a.b') and glob('a%b', 'a%b') and not glob('ab', 'a')", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_helper_one_of)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "one_of(data.http_method, 'put', 'post') and not one_of(data.http_method, 'get')",
                 EVENT, 1);
    CHECK_FILTER(fe, "one_of(data.body.id, 1, 7.0) and not one_of(data.body.id)", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_helper_lower_upper)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "lower(data.body.name) == 'widget' and upper(data.body.name) == 'WIDGET'", EVENT, 1);
    CHECK_FILTER(fe, "lower(12) == '12' and lower(data.body.nope) == nil and upper({}) == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_helper_num)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "num(data.query_params.v) == 2 and num(data.body.total) == 120", EVENT, 1);
    CHECK_FILTER(fe, "num(' 1.5 ') == 1.5 and num('0x10') == 16 and num('1e3') == 1000", EVENT, 1);
    CHECK_FILTER(fe, "num('12abc') == nil and num('') == nil and num(true) == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_helper_path)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "path(data, 'body.nested.deep.x') == 1 and path(data, 'body.items.2') == 'b'", EVENT, 1);
    CHECK_FILTER(fe, "path(data, 'body.nope.deep') == nil and path(data, 'body.total.x') == nil", EVENT, 1);
    CHECK_FILTER(fe, "path(data, 'headers.x-tenant') == 'acme' and path({a = {b = 2}}, 'a.b') == 2", EVENT,
                 1);
    filter_free(fe);
}

TEST(test_filter_helpers_are_nil_safe)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe,
                 "not has(nil, 'x') and not has(data.body) and not is_null(nil, 'x') and "
                 "not startswith(nil, 'a') and not endswith('a', nil) and not contains(nil, 'a') and "
                 "not contains('abc', nil) and not glob(nil, '*') and not one_of(nil, 1) and "
                 "lower(nil) == nil and upper(nil) == nil and num(nil) == nil and path(nil, 'a') == nil "
                 "and path(data, nil) == nil",
                 EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_helpers_cannot_be_replaced_or_escape)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "has = nil return true", EVENT, "cannot set globals");
    CHECK_FILTER(fe, "path(_G, 'string.dump') == nil and path(string, 'rep') ~= nil", EVENT, 1);
    CHECK_FILTER(fe, "path(data, 'body.nested') == data.body.nested", EVENT, 1);
    CHECK_FILTER(fe, "not glob(string.rep('a', 5000), string.rep('*a', 200) .. 'b')", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

/* ---- Lua 5.4 patterns: expected values from the real lua5.4 interpreter ---- */

static const struct {
    const char *expr; /* a Lua expression */
    const char *want; /* "OK:" results joined by '|', or "ERR:" message without position */
} pattern_cases[] = {
    {"string.find(\"hello world\", \"o w\")", "OK:5|7"},
    {"string.find(\"hello world\", \"o\", 6)", "OK:8|8"},
    {"string.find(\"hello\", \"l+\")", "OK:3|4"},
    {"string.find(\"hello\", \"xyz\")", "OK:nil"},
    {"string.find(\"hello\", \"\")", "OK:1|0"},
    {"string.find(\"hello\", \"\", 10)", "OK:nil"},
    {"string.find(\"hello\", \"\", 6)", "OK:6|5"},
    {"string.find(\"hello\", \"h\", -5)", "OK:1|1"},
    {"string.find(\"hello\", \"h\", -100)", "OK:1|1"},
    {"string.find(\"hello\", \"o\", -1)", "OK:5|5"},
    {"string.find(\"a.b\", \".\", 1, true)", "OK:2|2"},
    {"string.find(\"a+b\", \"+\", 1, true)", "OK:2|2"},
    {"string.find(\"a+b\", \"a+b\")", "OK:nil"},
    {"string.find(\"THE (quick) fox\", \"%((%a+)%)\")", "OK:5|11|quick"},
    {"string.find(\"abc\", \"b()\")", "OK:2|2|3"},
    {"string.find(\"  x\", \"^%s*\")", "OK:1|2"},
    {"string.find(\"x  \", \"%s*$\")", "OK:2|3"},
    {"string.find(\"abc\", \"^b\")", "OK:nil"},
    {"string.find(\"aaab\", \"a-b\")", "OK:1|4"},
    {"string.find(\"aaab\", \"a*b\")", "OK:1|4"},
    {"string.find(\"b\", \"a?b\")", "OK:1|1"},
    {"string.find(\"ab\", \"a?b\")", "OK:1|2"},
    {"string.find(\"[x]\", \"[]]\")", "OK:3|3"},
    {"string.find(\"x]\", \"[^]]\")", "OK:1|1"},
    {"string.find(\"a-b\", \"[a-]\", 2)", "OK:2|2"},
    {"string.find(\"a$b\", \"$b\")", "OK:2|3"},
    {"string.find(\"a^b\", \"a^\")", "OK:1|2"},
    {"string.find(\"abc\", \"a)\")", "OK:nil"},
    {"string.find(12345, 34)", "OK:3|4"},
    {"string.find(\"a\\0b\", \"\\0\")", "OK:2|2"},
    {"string.find(\"a\\0b\", \"%z\")", "OK:2|2"},
    {"string.match(\"key = value\", \"(%w+)%s*=%s*(%w+)\")", "OK:key|value"},
    {"string.match(\"2024-01-15\", \"(%d+)-(%d+)-(%d+)\")", "OK:2024|01|15"},
    {"string.match(\"hello\", \"()ll()\")", "OK:3|5"},
    {"string.match(\"hello\", \".-l\")", "OK:hel"},
    {"string.match(\"hello\", \".*l\")", "OK:hell"},
    {"string.match(\"  trim  \", \"^%s*(.-)%s*$\")", "OK:trim"},
    {"string.match(\"abcabc\", \"(abc)%1\")", "OK:abc"},
    {"string.match(\"abcabd\", \"(ab)c%1d\")", "OK:ab"},
    {"string.match(\"xyxyxy\", \"(xy)%1+\")", "OK:nil"},
    {"string.match(\"f(a(b)c)d\", \"%b()\")", "OK:(a(b)c)"},
    {"string.match(\"f(a(b)c\", \"%b()\")", "OK:(b)"},
    {"string.match(\"'q' 'r'\", \"%b''\")", "OK:'q'"},
    {"string.match(\"THE (quick) fox\", \"%f[%a]%a+\", 4)", "OK:quick"},
    {"string.match(\"hello world\", \"%f[%w]%w+$\")", "OK:world"},
    {"string.match(\"THE quick\", \"%u+\")", "OK:THE"},
    {"string.match(\"x=1, y=22\", \"y=(%d+)\")", "OK:22"},
    {"string.match(\"tab\\there\", \"%c\")", "OK:\011"},
    {"string.match(\"a1_B2-\", \"[%w_]+\")", "OK:a1_B2"},
    {"string.match(\"0x1F\", \"%x+\", 3)", "OK:1F"},
    {"string.match(\"hello.world\", \"%.(%a+)\")", "OK:world"},
    {"string.match(\"caf\\195\\169!\", \"[\\128-\\255]+\")", "OK:\303\251"},
    {"string.match(\"abc\", \"((a)(b))\")", "OK:ab|a|b"},
    {"string.match(\"abc\", \"a(.)c\")", "OK:b"},
    {"string.match(\"aaa\", \"^(a-)a$\")", "OK:aa"},
    {"string.match(\"x\", \"()\")", "OK:1"},
    {"string.match(\"\", \".*\")", "OK:"},
    {"string.match(\"\", \".+\")", "OK:nil"},
    {"string.match(\"ab cd\", \"%S+\")", "OK:ab"},
    {"string.match(\"a,b;c\", \"[%p]\")", "OK:,"},
    {"string.match(\"AbC\", \"%l\")", "OK:b"},
    {"string.match(\"AbCd\", \"%L+\")", "OK:A"},
    {"string.match(\"a1\", \"%D\")", "OK:a"},
    {"string.match(\"hello\", \"(h)(e)(l)(l)(o)\")", "OK:h|e|l|l|o"},
    {"string.match(\" x\", \"%g\")", "OK:x"},
    {"string.match(\"\\233\", \"%a\")", "OK:nil"},
    {"string.match(\"abc\", \"[^%a]\")", "OK:nil"},
    {"string.match(\"a-z\", \"[a%-z]+\")", "OK:a-z"},
    {"string.match(\"]]\", \"[]]+\")", "OK:]]"},
    {"string.match(\"b-\", \"[a-c-]+\")", "OK:b-"},
    {"string.match(\"x5y\", \"[%d]\")", "OK:5"},
    {"string.match(\"x5y\", \"[^%D]\")", "OK:5"},
    {"string.match(\"aXb\", \"%u?b\")", "OK:Xb"},
    {"string.match(\"hello\", \"l*\", 3)", "OK:ll"},
    {"string.match(\"hello\", \"(l)(l)\", -3)", "OK:l|l"},
    {"string.match(\"ab\", \"^(a)(b)$\")", "OK:a|b"},
    {"string.match(\"ab$\", \"b$\")", "OK:nil"},
    {"string.match(\"THE END\", \"%f[%z%s]\")", "OK:"},
    {"string.match(\"word1 word2\", \"%f[%w]%w+%f[%W]\")", "OK:word1"},
    {"string.match(\"aaa\", \"a-$\")", "OK:aaa"},
    {"string.match(\"1.5e10\", \"^[+-]?%d+%.?%d*[eE]?[+-]?%d*$\")", "OK:1.5e10"},
    {"(function() local o = {} for k, v in string.gmatch(\"a=1, b=2, c=3\", \"(%w+)=(%"
     "w+)\") do o[#o+1] = k .. v end return table.concat(o, \",\") end)()",
     "OK:a1,b2,c3"},
    {"(function() local o = {} for w in string.gmatch(\"one two  three\", \"%a+\") do "
     "o[#o+1] = w end return table.concat(o, \",\") end)()",
     "OK:one,two,three"},
    {"(function() local o = {} for w in string.gmatch(\"abc\", \"\") do o[#o+1] = \"["
     "\" .. w .. \"]\" end return table.concat(o) end)()",
     "OK:[][][][]"},
    {"(function() local o = {} for w in string.gmatch(\"abc\", \"%w*\") do o[#o+1] = "
     "\"[\" .. w .. \"]\" end return table.concat(o) end)()",
     "OK:[abc]"},
    {"(function() local o = {} for w in string.gmatch(\"ab  c\", \"%a*\") do o[#o+1] ="
     " \"[\" .. w .. \"]\" end return table.concat(o) end)()",
     "OK:[ab][][c]"},
    {"(function() local o = {} for a, b in string.gmatch(\"abcd\", \"()(.)\") do o[#o+"
     "1] = a .. b end return table.concat(o, \",\") end)()",
     "OK:1a,2b,3c,4d"},
    {"(function() local o = {} for w in string.gmatch(\"one two three\", \"%a+\", 5) d"
     "o o[#o+1] = w end return table.concat(o, \",\") end)()",
     "OK:two,three"},
    {"(function() local o = {} for w in string.gmatch(\"one two three\", \"%a+\", -5) "
     "do o[#o+1] = w end return table.concat(o, \",\") end)()",
     "OK:three"},
    {"(function() local o = {} for w in string.gmatch(\"^a^b\", \"^.\") do o[#o+1] = w"
     " end return table.concat(o, \",\") end)()",
     "OK:^a,^b"},
    {"(function() local o = {} for w in string.gmatch(\"abc\", \".\", 10) do o[#o+1] ="
     " w end return #o end)()",
     "OK:0"},
    {"string.gsub(\"hello world\", \"o\", \"0\")", "OK:hell0 w0rld|2"},
    {"string.gsub(\"hello world\", \"(o)\", \"[%1]\")", "OK:hell[o] w[o]rld|2"},
    {"string.gsub(\"hello world\", \"%w+\", \"%0 %0\")", "OK:hello hello world world|2"},
    {"string.gsub(\"hello world\", \"(%w+) (%w+)\", \"%2 %1\")", "OK:world hello|1"},
    {"string.gsub(\"abc\", \"\", \"-\")", "OK:-a-b-c-|4"},
    {"string.gsub(\"abc\", \"%w*\", \"-\")", "OK:-|1"},
    {"string.gsub(\"hello world\", \"o*\", \"x\")", "OK:xhxexlxlx xwxrxlxdx|10"},
    {"string.gsub(\"ab  c\", \"%a*\", \"<%0>\")", "OK:<ab> <> <c>|3"},
    {"string.gsub(\"hello\", \"l\", \"L\", 1)", "OK:heLlo|1"},
    {"string.gsub(\"hello\", \"l\", \"L\", 0)", "OK:hello|0"},
    {"string.gsub(\"hello\", \"x\", \"y\")", "OK:hello|0"},
    {"string.gsub(\"$name is $age\", \"%$(%w+)\", {name = \"bob\", age = 42})", "OK:bob is 42|2"},
    {"string.gsub(\"$name $missing\", \"%$(%w+)\", {name = \"bob\"})", "OK:bob $missing|2"},
    {"string.gsub(\"a b c\", \"%w\", function(c) return c:upper() end)", "OK:A B C|3"},
    {"string.gsub(\"a b c\", \"%w\", function(c) if c == \"b\" then return false end r"
     "eturn \"x\" end)",
     "OK:x b x|3"},
    {"string.gsub(\"a=1 b=2\", \"(%w)=(%w)\", function(k, v) return v .. k end)", "OK:1a 2b|2"},
    {"string.gsub(\"abc\", \"b\", \"%%\")", "OK:a%c|1"},
    {"string.gsub(\"abc\", \"b\", \"%1\")", "OK:abc|1"},
    {"string.gsub(\"hello\", \"^h\", \"H\")", "OK:Hello|1"},
    {"string.gsub(\"hhh\", \"^h\", \"H\")", "OK:Hhh|1"},
    {"string.gsub(\"hello\", \"o$\", \"O\")", "OK:hellO|1"},
    {"string.gsub(\"abc\", \"()\", \"%1\")", "OK:1a2b3c4|4"},
    {"string.gsub(\"hello world\", \"(o)\", 5)", "OK:hell5 w5rld|2"},
    {"string.gsub(\"abc\", \".\", {a = 1, b = true})", "ERR:invalid replacement value (a boolean)"},
    {"string.gsub(\"abc\", \"b\", \"%2\")", "ERR:invalid capture index %2"},
    {"string.gsub(\"abc\", \"b\", \"%x\")", "ERR:invalid use of '%' in replacement string"},
    {"string.gsub(\"abc\", \"b\", \"x%\")", "ERR:invalid use of '%' in replacement string"},
    {"string.gsub(\"abc\", \"b\", true)",
     "ERR:bad argument #3 to 'gsub' (string/function/table expected, got boolean)"},
    {"string.gsub(\"abc\", \"%w\", \"%1%0\")", "OK:aabbcc|3"},
    {"string.gsub(\"a.b.c\", \"%.\", \"/\")", "OK:a/b/c|2"},
    {"string.gsub(\"  both  \", \"^%s+\", \"\")", "OK:both  |1"},
    {"string.find(\"abc\", \"%\")", "ERR:malformed pattern (ends with '%')"},
    {"string.find(\"abc\", \"[a\")", "ERR:malformed pattern (missing ']')"},
    {"string.find(\"abc\", \"[%\")", "ERR:malformed pattern (missing ']')"},
    {"string.find(\"abc\", \"[]\")", "ERR:malformed pattern (missing ']')"},
    {"string.find(\"abc\", \"(a\")", "ERR:unfinished capture"},
    {"string.find(\"abc\", \"(a))\")", "ERR:invalid pattern capture"},
    {"string.find(\"abc\", \"%b\")", "ERR:malformed pattern (missing arguments to '%b')"},
    {"string.find(\"abc\", \"%ba\")", "ERR:malformed pattern (missing arguments to '%b')"},
    {"string.find(\"abc\", \"%fa\")", "ERR:missing '[' after '%f' in pattern"},
    {"string.find(\"abc\", \"%1\")", "ERR:invalid capture index %1"},
    {"string.find(\"abc\", \"(a)%2\")", "ERR:invalid capture index %2"},
    {"string.find(\"abc\", \"(a%1)\")", "ERR:invalid capture index %1"},
    {"string.find(\"abc\", \"%0\")", "ERR:invalid capture index %0"},
    {"string.match(string.rep(\"a\", 40), string.rep(\"(a)\", 33))", "ERR:too many captures"},
    {"string.match(string.rep(\"a\", 300), string.rep(\"a?\", 300))", "ERR:pattern too complex"},
    {"string.find(\"aaa\", \"()%1\")", "OK:nil"},
    {"string.rep(\"ab\", 3)", "OK:ababab"},
    {"string.rep(\"ab\", 3, \",\")", "OK:ab,ab,ab"},
    {"string.rep(\"ab\", 0)", "OK:"},
    {"string.rep(\"ab\", -1)", "OK:"},
    {"string.rep(\"\", 5)", "OK:"},
    {"string.rep(\"x\", 1, \"sep\")", "OK:x"},
    {"(\"x\"):rep(2)", "OK:xx"},
    {"(\"hello\"):find(\"l\")", "OK:3|3"},
    {"(\"a,b\"):gsub(\",\", \";\")", "OK:a;b|1"},
    {"(\"Key: Value\"):match(\"^(%w+):%s*(.+)$\")", "OK:Key|Value"},
    {"string.find(\"abc\", \"[a-c]+\")", "OK:1|3"},
    {"string.match(\"hello\", \"(l+)(.*)\")", "OK:ll|o"},
    {"string.gsub(\"abc\", \"(b)\", \"%%1\")", "OK:a%1c|1"},
    {"string.find(\"a\\nb\", \"a.b\")", "OK:1|3"},
    {"string.match(\"  \", \"^%s*$\")", "OK:  "},
    {"string.gsub(\"hello world\", \"%f[%w]%w+\", function(w) return w:sub(1, 1):upper"
     "() .. w:sub(2) end)",
     "OK:Hello World|2"},
    {"string.match(\"[test]\", \"^%[(.*)%]$\")", "OK:test"},
    {"string.match(\"x\", \"[\")", "ERR:malformed pattern (missing ']')"},
    {"string.find(\"abc\", \"b\", 4)", "OK:nil"},
    {"string.find(\"abc\", \"\", 4)", "OK:4|3"},
    {"string.match(\"2024\", \"^%d%d%d%d$\")", "OK:2024"},
    {"string.gsub(\"abc\", \".\", \"%0%0\", 2)", "OK:aabbc|2"},
    {"string.find(\"a+b\", \"+\")", "OK:2|2"},
    {"string.match(\"aaa\", \"a-\")", "OK:"},
    {"string.match(\"aaa\", \"a*?\")", "OK:nil"},
    {"string.match(\"x*\", \"x%*\")", "OK:x*"},
    {"string.match(\"f(a)\", \"%((.-)%)\")", "OK:a"},
    {"string.gsub(\"abc\", \"b*\", \"-\")", "OK:-a-c-|3"},
    {"string.find(\"\", \"\")", "OK:1|0"},
    {"string.find(\"\", \"^$\")", "OK:1|0"},
    {"string.match(\"abc\", \"()b()\", 1)", "OK:2|3"},
    {"string.rep(\"ab\", 2, \"\")", "OK:abab"},
    {"string.gsub(\"a b\", \" \", \"%%%%\")", "OK:a%%b|1"},
    {"string.match(\" \", \"%S\")", "OK:nil"},
    {"string.match(\"hello\", \".-$\")", "OK:hello"},
    {"string.match(\"ab\", \"(a)(b)(c?)\")", "OK:a|b|"},
    {"string.find(\"ab\", \"(a)()\")", "OK:1|1|a|2"},
    {"string.gsub(\"abc\", \"%w\", {a = \"1\"})", "OK:1bc|3"},
    {"string.gsub(\"abc\", \"(%w)\", \"%1\", -1)", "OK:abc|0"},
    {"string.gsub(\"aaa\", \"a\", \"b\", 1.0)", "OK:baa|1"},
    {"string.gsub(\"aaa\", \"a\", \"b\", 1.5)",
     "ERR:bad argument #4 to 'gsub' (number has no integer representation)"},
    {"string.match(\"abc\", \"b\", 0)", "OK:b"},
    {"string.match(123, \"%d\")", "OK:1"},
    {"string.gsub(3.5, \"%.\", \",\")", "OK:3,5|1"},
    {"string.find(\"abc\", \"c\", 3.0)", "OK:3|3"},
    {"string.match(\"a\", \".-b\")", "OK:nil"},
    {"string.match(\"aXbXc\", \"^(.-)X(.*)$\")", "OK:a|bXc"},
    {"string.match(\"key=\", \"(%w+)=(%w*)\")", "OK:key|"},
    {"string.find(\"abcabc\", \"abc\", 2)", "OK:4|6"},
    {"string.gsub(\"\", \"x*\", \"y\")", "OK:y|1"},
    {"string.gsub(\"abc\", \"$\", \"!\")", "OK:abc!|1"},
    {"string.gsub(\"abc\", \"^\", \"!\")", "OK:!abc|1"},
    {"string.match(\"{a{b}c}\", \"%b{}\")", "OK:{a{b}c}"},
    {"string.match(\"no close (\", \"%b()\")", "OK:nil"},
    {"string.match(\"x]y\", \"[]x]+\")", "OK:x]"},
    {"string.match(\"-x-\", \"[-x]+\")", "OK:-x-"},
    {"string.match(\"abc\", \"[^]]+\")", "OK:abc"},
    {"string.match(\"a^b\", \"[b^]+\", 2)", "OK:^b"},
};

TEST(test_filter_patterns_match_lua54)
{
    filter_engine *fe = new_engine(NULL);
    for (size_t i = 0; i < sizeof pattern_cases / sizeof pattern_cases[0]; i++) {
        char src[1024], err[512] = "", got[600];
        snprintf(src, sizeof src,
                 "local function S(...) local o = {} for i = 1, select('#', ...) do "
                 "o[i] = tostring((select(i, ...))) end return table.concat(o, '|') end "
                 "error('OK:' .. S(%s), 0) return true",
                 pattern_cases[i].expr);
        int r = eval_on(fe, src, EVENT, err, sizeof err);
        const char *msg = err;
        if (strncmp(err, "filter:", 7) == 0 && strstr(err, ": "))
            msg = strstr(err, ": ") + 2;
        snprintf(got, sizeof got, "%s%s", strncmp(msg, "OK:", 3) == 0 ? "" : "ERR:", msg);
        if (r != -1 || strcmp(got, pattern_cases[i].want) != 0) {
            fprintf(stderr, "  %s\n    got      %s\n    expected %s\n", pattern_cases[i].expr, got,
                    pattern_cases[i].want);
            check_failed_now = 1;
        }
    }
    filter_free(fe);
}

TEST(test_filter_gsub_result_size_limited)
{
    filter_limits lim = limits(10LL * 1000 * 1000 * 1000, INT64_MAX / 2, 0);
    filter_engine *fe = new_engine(&lim);
    CHECK_REFUSED(fe, "string.gsub(string.rep('a', 100000), 'a', ('b'):rep(20)) return true", EVENT,
                  "too large");
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_plain_find_needs_no_matcher)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_FILTER(fe, "string.find(string.rep('a', 100000), '.-.-.-.-b', 1, true) == nil", EVENT, 1);
    CHECK_FILTER(fe, "string.find('x.-y', '.-', 1, true) == 2", EVENT, 1);
    filter_free(fe);
}

/* ---- sandbox: one regression test per trick ---- */

TEST(test_filter_cannot_reach_os_execute)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "os.execute('touch /tmp/switchyard-pwned')", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "os == nil", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_reach_io_open)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "io.open('/etc/passwd'):read('a')", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "io == nil and print == nil", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_reach_require)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "require('os').execute('true')", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "require == nil and package == nil", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_load_text)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "load('return os')()", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "load == nil", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_load_bytecode)
{
    char err[256] = "";
    filter_engine *fe = new_engine(NULL);
    /* a precompiled chunk as the filter source is refused (text chunks only) */
    static const char bytecode[] = "\x1bLuaT\x00\x19\x93\r\n\x1a\n\x04\x08\x08xV";
    CHECK_INT(filter_compile(fe, bytecode, sizeof bytecode - 1, err, sizeof err), -1);
    CHECK_REFUSED(fe, "load(string.dump(function() return os end), nil, 'b')", EVENT, "attempt to call");
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_reach_loadstring)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "loadstring('return 1')()", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "loadstring == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_cannot_reach_dofile)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "dofile('/etc/passwd')", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "dofile == nil and loadfile == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_cannot_string_dump)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "string.dump(function() end)", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "string.dump == nil and ('').dump == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_cannot_rewrite_string_metatable_index)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "getmetatable('').__index.upper = nil return true", EVENT, "attempt to call a nil");
    CHECK_REFUSED(fe, "string.upper = function() return 'pwned' end return true", EVENT,
                  "cannot modify library tables");
    CHECK_REFUSED(fe, "local s = ('').rep; ('').upper = s return true", EVENT, "attempt to index");
    CHECK_REFUSED(fe, "local lib = string; lib.find = nil return true", EVENT, "cannot modify library");
    CHECK_REFUSED(fe, "table.insert = nil return true", EVENT, "cannot modify library tables");
    CHECK_REFUSED(fe, "math.pi = 3 return true", EVENT, "cannot modify library tables");
    CHECK_FILTER(fe, "('abc'):upper() == 'ABC' and string.upper('x') == 'X' and string.find('ab', 'b') == 2",
                 EVENT, 1);
    CHECK_FILTER(fe, "next(string) == nil and rawget == nil", EVENT, 1); /* the real table is hidden */
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_setmetatable_on_data)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "setmetatable(data, {__index = function() return 1 end}) return true", EVENT,
                  "attempt to call a nil value");
    CHECK_FILTER(fe, "setmetatable == nil and getmetatable == nil", EVENT, 1);
    CHECK_FILTER(fe, "data.body.nope == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_cannot_rawset_on_data)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "rawset(data, 'x', 1) return true", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "rawget == nil and rawequal == nil and rawlen == nil", EVENT, 1);
    CHECK_REFUSED(fe, "next(data)", EVENT, "table expected"); /* proxies are not tables to next */
    CHECK_FILTER(fe, "data.x == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_cannot_rewrite_G)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "_G.string = {} return true", EVENT, "cannot set globals");
    CHECK_REFUSED(fe, "_G.data = {} return true", EVENT, "cannot set globals");
    CHECK_REFUSED(fe, "_G._G = nil return true", EVENT, "cannot set globals");
    CHECK_REFUSED(fe, "_G = {} return true", EVENT, "cannot set globals");
    CHECK_FILTER(fe, "_G.string == string and _G._G == _G and _G.data == nil", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_rewrite_ENV_for_next_filter)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "_ENV = {True = false} return true", EVENT, "const variable '_ENV'");
    CHECK_REFUSED(fe, "_ENV.True = false return true", EVENT, "cannot set globals");
    CHECK_FILTER(fe, "local _ENV = {x = 1} return x == 1", EVENT, 1); /* only for this run */
    CHECK_FILTER(fe, "x == nil and True == true", EVENT, 1);
    /* the same compiled filter run twice does not see its own earlier changes either */
    char err[256] = "";
    const char *src = "local seen = data return data.body.total == 120";
    int h = filter_compile(fe, src, strlen(src), err, sizeof err);
    cJSON *data = cJSON_Parse(EVENT);
    filter_set_event(fe, data);
    CHECK_INT(filter_eval(fe, h, err, sizeof err), 1);
    CHECK_INT(filter_eval(fe, h, err, sizeof err), 1);
    filter_clear_event(fe);
    cJSON_Delete(data);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_reach_collectgarbage)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "collectgarbage('stop')", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "collectgarbage == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_cannot_reach_debug)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "debug.sethook()", EVENT, "attempt to call a nil value");
    CHECK_REFUSED(fe, "debug.getregistry()", EVENT, "attempt to call a nil value");
    CHECK_FILTER(fe, "debug == nil", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_pcall_cannot_catch_budget)
{
    filter_limits lim = limits(1000 * 1000 * 1000, 100000, 0);
    filter_engine *fe = new_engine(&lim);
    CHECK_REFUSED(fe, "pcall(function() while true do end end) return true", EVENT,
                  "attempt to call a nil value");
    CHECK_FILTER(fe, "pcall == nil", EVENT, 1);
    /* a callback from C is no way out either */
    CHECK_REFUSED(fe, "string.gsub('a', 'a', function() while true do end end) return true", EVENT,
                  "instruction budget");
    CHECK_REFUSED(fe, "table.sort({3, 2, 1}, function(a, b) while true do end end) return true", EVENT,
                  "instruction budget");
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_reach_xpcall)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "xpcall(function() while true do end end, print) return true", EVENT,
                  "attempt to call a nil value");
    CHECK_FILTER(fe, "xpcall == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_cannot_reach_coroutine)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "coroutine.wrap(function() while true do end end)() return true", EVENT,
                  "attempt to call a nil value");
    CHECK_FILTER(fe, "coroutine == nil", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_infinite_loop_stopped_by_instruction_budget)
{
    filter_limits lim = limits(1000 * 1000 * 1000, 100000, 0);
    filter_engine *fe = new_engine(&lim);
    double ms;
    CHECK(refused_within(fe, "while true do end return true", "instruction budget", &ms));
    CHECK(refused_within(fe, "local i = 0 repeat i = i + 1 until false return true", "instruction budget",
                         &ms));
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_infinite_loop_stopped_by_deadline)
{
    filter_limits lim = limits(5 * 1000 * 1000, INT64_MAX / 2, 0);
    filter_engine *fe = new_engine(&lim);
    double ms;
    CHECK(refused_within(fe, "while true do end return true", "deadline (5 ms)", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_deep_recursion_stopped)
{
    filter_engine *fe = new_engine(NULL);
    double ms;
    CHECK(refused_within(fe, "local function f(n) return f(n + 1) + 1 end return f(1)", "filter", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
    /* with generous time the stack limit or the memory cap ends it cleanly */
    filter_limits lim = limits(10LL * 1000 * 1000 * 1000, INT64_MAX / 2, 0);
    fe = new_engine(&lim);
    char err[256] = "";
    CHECK_INT(eval_on(fe, "local function f(n) return f(n + 1) + 1 end return f(1)", EVENT, err, sizeof err),
              -1);
    CHECK(strstr(err, "stack overflow") || strstr(err, "memory limit"));
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_deep_recursion_through_c_stopped)
{
    filter_limits lim;
    filter_limits_default(&lim);
    lim.deadline_ns = 10LL * 1000 * 1000 * 1000; /* the C stack limit, not the clock, must end it */
    filter_engine *fe = new_engine(&lim);
    CHECK_REFUSED(fe,
                  "local function f() return string.gsub('a', 'a', f) end return f()", EVENT,
                  "stack overflow");
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_string_rep_gigabyte_refused)
{
    filter_engine *fe = new_engine(NULL);
    double ms;
    CHECK(refused_within(fe, "string.rep('x', 1 << 30) return true", "string.rep result too large", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK_REFUSED(fe, "('ab'):rep(1 << 62, ',') return true", EVENT, "too large");
    CHECK_FILTER(fe, "#string.rep('ab', 1000, ',') == 2999", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_string_format_width_bounded)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "string.format('%999999999d', 1) return true", EVENT, "invalid conversion");
    CHECK_FILTER(fe, "#string.format('%99d', 1) == 99", EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_growing_table_stopped_by_memory_cap)
{
    filter_limits lim = limits(10LL * 1000 * 1000 * 1000, INT64_MAX / 2, 8 << 20);
    filter_engine *fe = new_engine(&lim);
    double ms;
    CHECK(refused_within(fe, "local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end return true",
                         "memory limit (8 MiB)", &ms));
    CHECK(filter_memory_used(fe) < (4 << 20)); /* the garbage was collected */
    CHECK_FILTER(fe, "local t = {} for i = 1, 10000 do t[i] = i end return #t == 10000", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_huge_concatenation_stopped)
{
    filter_limits lim = limits(10LL * 1000 * 1000 * 1000, INT64_MAX / 2, 16 << 20);
    filter_engine *fe = new_engine(&lim);
    double ms;
    CHECK(refused_within(fe, "local s = 'x' for i = 1, 40 do s = s .. s end return true", "memory limit",
                         &ms));
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
    fe = new_engine(NULL); /* with the default limits it ends within the deadline, whichever limit hits */
    CHECK(refused_within(fe, "local s = 'x' for i = 1, 40 do s = s .. s end return true", "filter", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK(refused_within(fe, "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1000) .. i end return true",
                         "filter exceeded", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_single_huge_object_refused)
{
    filter_limits lim = limits(10LL * 1000 * 1000 * 1000, INT64_MAX / 2, 0);
    filter_engine *fe = new_engine(&lim);
    CHECK_REFUSED(fe, "local s = ('x'):rep(1 << 20) local t = s .. s .. s .. s .. s return true", EVENT,
                  "one object over 4194304 bytes");
    CHECK_FILTER(fe, "local s = ('x'):rep(1 << 20) return #(s .. s) == 2 << 20", EVENT, 1);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_new_fails_cleanly_with_tiny_memory_cap)
{
    char err[256] = "";
    filter_limits lim = limits(0, 0, 16 * 1024);
    CHECK(filter_new(&lim, err, sizeof err) == NULL);
    CHECK_HAS(err, "16384");
}

TEST(test_filter_pathological_pattern_in_find_stopped)
{
    filter_engine *fe = new_engine(NULL);
    double ms;
    CHECK(refused_within(fe, "string.find(string.rep('a', 5000), '.-.-.-.-.-.-b') return true",
                         "pattern too complex", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_pathological_pattern_in_gsub_stopped)
{
    filter_engine *fe = new_engine(NULL);
    double ms;
    CHECK(refused_within(fe, "string.gsub(string.rep('a', 5000), '.-.-.-.-.-.-b', 'x') return true",
                         "pattern too complex", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_pathological_pattern_in_match_stopped)
{
    filter_engine *fe = new_engine(NULL);
    double ms;
    CHECK(refused_within(fe, "('a'):rep(5000):match('(.-)(.-)(.-)(.-)(.-)b') return true",
                         "pattern too complex", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_pathological_pattern_in_gmatch_stopped)
{
    filter_engine *fe = new_engine(NULL);
    double ms;
    CHECK(refused_within(fe, "for w in string.gmatch(string.rep('a', 5000), 'a*a*a*a*a*b') do end "
                             "return true",
                         "pattern too complex", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_table_functions_with_huge_ranges_stopped)
{
    filter_engine *fe = new_engine(NULL);
    double ms;
    CHECK(refused_within(fe, "table.move({}, 1, 1 << 40, 1) return true", "instruction budget", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK(refused_within(fe, "table.move(5, 1, 1 << 40, 1, {}) return true", "instruction budget", &ms));
    CHECK(refused_within(fe, "for i = 1, 100 do local n = select('#', table.unpack({}, 1, 900000)) end "
                             "return true",
                         "filter exceeded", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK(refused_within(fe, "table.concat({}, ',', 1, 1 << 40) return true", "instruction budget", &ms));
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_long_string_work_stopped_within_deadline)
{
    /* one instruction on a 1 MiB string costs ~1000 ordinary ones: the hook must notice in time */
    filter_limits lim = limits(5 * 1000 * 1000, INT64_MAX / 2, 0);
    filter_engine *fe = new_engine(&lim);
    double ms;
    CHECK(refused_within(fe,
                         "local a = ('x'):rep(1 << 20) local b = ('x'):rep(1 << 20) local n = 0 "
                         "while true do if a == b then n = n + 1 end end return true",
                         "deadline", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK(refused_within(fe,
                         "local a = ('x'):rep(1 << 20) while true do local u = a:upper() end return true",
                         "deadline", &ms));
    CHECK_STOPPED_IN_TIME(ms);
    CHECK_STILL_WORKS(fe);
    filter_free(fe);
}

TEST(test_filter_cannot_modify_data_for_next_filter)
{
    filter_engine *fe = new_engine(NULL);
    char err[256] = "";
    cJSON *data = cJSON_Parse(EVENT);
    const char *tricks[] = {
        "data.body.total = 0 return true",
        "data.body.fresh = 1 return true",
        "data.body.items[1] = 'z' return true",
        "table.insert(data.body.items, 'd') return true",
        "table.remove(data.body.items) return true",
        "table.sort(data.body.items, function(a, b) return a > b end) return true",
        "table.move({'q'}, 1, 1, 1, data.body.items) return true",
        "data = {} return true", /* only rebinds this run's local */
    };
    const char *check = "data.body.total == 120 and data.body.fresh == nil and #data.body.items == 3 "
                        "and data.body.items[1] == 'a' and data.body.items[3] == 'c'";
    int hc = filter_compile(fe, check, strlen(check), err, sizeof err);
    filter_set_event(fe, data);
    for (size_t i = 0; i < sizeof tricks / sizeof tricks[0]; i++) {
        int h = filter_compile(fe, tricks[i], strlen(tricks[i]), err, sizeof err);
        CHECK(h > 0);
        int r = filter_eval(fe, h, err, sizeof err);
        if (i < 7) {
            CHECK_INT(r, -1);
            CHECK_HAS(err, "read-only");
        }
        filter_release(fe, h);
        CHECK_INT(filter_eval(fe, hc, err, sizeof err), 1);
    }
    filter_clear_event(fe);
    cJSON_Delete(data);
    filter_free(fe);
}

TEST(test_filter_cannot_modify_global_for_next_filter)
{
    filter_engine *fe = new_engine(NULL);
    CHECK_REFUSED(fe, "x = 1 return true", EVENT, "cannot set globals");
    CHECK_REFUSED(fe, "True = false return true", EVENT, "cannot set globals");
    CHECK_REFUSED(fe, "function has() return true end return true", EVENT, "cannot set globals");
    CHECK_REFUSED(fe, "string.len = nil return true", EVENT, "cannot modify library tables");
    CHECK_REFUSED(fe, "utf8.char = nil return true", EVENT, "cannot modify library tables");
    CHECK_FILTER(fe,
                 "x == nil and True == true and not has(data.body, 'x') and string.len('ab') == 2 and "
                 "utf8.char(72) == 'H' and math.pi > 3.14",
                 EVENT, 1);
    filter_free(fe);
}

TEST(test_filter_cannot_modify_global_for_next_event)
{
    filter_engine *fe = new_engine(NULL);
    char err[256] = "";
    const char *trick = "string.upper = string.lower return true";
    const char *check = "string.upper(data.name) == 'B' and True";
    int ht = filter_compile(fe, trick, strlen(trick), err, sizeof err);
    int hc = filter_compile(fe, check, strlen(check), err, sizeof err);
    cJSON *a = cJSON_Parse("{\"name\": \"a\"}"), *b = cJSON_Parse("{\"name\": \"b\"}");
    filter_set_event(fe, a);
    CHECK_INT(filter_eval(fe, ht, err, sizeof err), -1);
    filter_set_event(fe, b);
    CHECK_INT(filter_eval(fe, hc, err, sizeof err), 1);
    filter_clear_event(fe);
    cJSON_Delete(a);
    cJSON_Delete(b);
    filter_free(fe);
}

CHECK_MAIN
