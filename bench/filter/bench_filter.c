/* bench_filter — what a filter costs: 1,000 switch-style filters evaluated by the filter engine with
 * every limit on, the cost of presenting a 300-byte and a 100 KB event to Lua, and in the same run two
 * baselines: (a) the same Lua functions in a plain Lua state (no sandbox, no hook, data converted once
 * per event into a plain table) and (b) switch's own way, Python's eval(code, {"data": data}), timed by
 * switch_eval.py on the same event and the same filters. See README.md for what each line means.
 *
 * Usage: bench_filter [ROUNDS] [--python PATH|--no-python]   (default 7 rounds; figures are medians of
 * the benchmarking thread's CPU time)
 * Exit status: 0, or 1 if the three ways disagree on which filters match (or setup fails). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "filter.h"

#ifndef BENCH_FILTER_DIR
#define BENCH_FILTER_DIR "bench/filter"
#endif

#define NFILTERS 1000
#define MAX_ROUNDS 51
#define EVAL_PASSES 100      /* passes over all filters per round, per way */
#define SET_EVENT_REPS 100000
#define PRESENT_REPS 50000
#define CONVERT_SMALL_REPS 50000
#define CONVERT_BIG_REPS 300
#define PUBLISH_EVENTS 50
#define BIG_EVENT_BYTES (100 * 1024)

/* The published data of a typical switch event: the five switch keys and one extra, ~300 bytes. */
static const char EVENT_300[] =
    "{\"body\":{\"id\":4711,\"total\":120,\"currency\":\"EUR\",\"items\":3,\"customer\":{\"id\":\"c_8812\","
    "\"tier\":\"gold\"}},\"headers\":{\"x-tenant\":\"t7\",\"content-type\":\"application/json\","
    "\"x-request-id\":\"9f1c2a7e-5b1d\"},\"query_params\":{\"v\":\"2\"},\"path_params\":{\"order_id\":"
    "\"4711\"},\"http_method\":\"post\",\"special_key\":\"special value\"}";

/* The filter that reads two fields, used to time presentation of the small and the big event. */
static const char TWO_FIELDS[] = "data[\"body\"][\"total\"] > 100 and data[\"headers\"][\"x-tenant\"] == \"t7\"";

enum fig {
    F_EVAL,            /* engine, limits on, fields already converted: ns per evaluation */
    F_EVAL_HOOKED,     /* the same, for filters that keep the count hook (they could loop) */
    F_EVAL_PLAIN,      /* (a) plain Lua state: ns per evaluation */
    F_EVAL_PY,         /* (b) Python eval: ns per evaluation */
    F_SET300,          /* filter_set_event, 300 B: ns */
    F_PRESENT300,      /* filter_set_event + one filter reading two fields, 300 B: ns */
    F_CONVERT300,      /* (a) full conversion of the 300 B event to a Lua table: ns */
    F_JSONLOADS300,    /* (b) json.loads of the 300 B event: ns */
    F_SET100K,         /* filter_set_event, 100 KB: ns */
    F_PRESENT100K,     /* filter_set_event + the two-field filter, 100 KB: ns */
    F_CONVERT100K,     /* (a) full conversion of the 100 KB event: ns */
    F_PUBLISH,         /* engine: set_event + 1000 evaluations of a fresh event, ns per filter */
    F_PUBLISH_PLAIN,   /* (a) conversion + 1000 evaluations, ns per filter */
    NFIG
};

static double samples[NFIG][MAX_ROUNDS];

/* The benchmarking thread's CPU time: what the work costs, without the time the thread spends
 * descheduled on a busy machine (switch_eval.py measures the same way). */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_filter: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* ---- the workload ---- */

/* Filter i of the 1,000: eight switch-style shapes with varying constants. Each text is valid Lua and
 * valid Python, as switch's filters were (Python's != is rewritten by the engine, and by hand here for
 * the plain state). Every key they read exists, so Python raises no KeyError. */
static void make_filter(int i, char *out, size_t n)
{
    int lim = (i * 37) % 250, tenant = i % 10, id = 4700 + i % 20;
    switch (i % 8) {
    case 0:
        snprintf(out, n, "data[\"body\"][\"total\"] > %d and data[\"headers\"][\"x-tenant\"] == \"t%d\"", lim,
                 tenant);
        break;
    case 1:
        snprintf(out, n, "data[\"body\"][\"currency\"] == \"EUR\" and data[\"body\"][\"total\"] >= %d", lim);
        break;
    case 2:
        snprintf(out, n, "data[\"http_method\"] == \"post\" and data[\"path_params\"][\"order_id\"] == \"%d\"",
                 id);
        break;
    case 3:
        snprintf(out, n,
                 "data[\"headers\"][\"x-tenant\"] == \"t%d\" or data[\"special_key\"] == \"special value\"",
                 tenant);
        break;
    case 4:
        snprintf(out, n, "data[\"body\"][\"customer\"][\"tier\"] == \"gold\" and data[\"body\"][\"items\"] > %d",
                 i % 5);
        break;
    case 5:
        snprintf(out, n, "data[\"query_params\"][\"v\"] == \"2\" and data[\"body\"][\"total\"] < %d", lim);
        break;
    case 6:
        snprintf(out, n, "data[\"body\"][\"total\"] > %d and data[\"body\"][\"total\"] <= %d", lim, lim + 50);
        break;
    default:
        snprintf(out, n,
                 "data[\"headers\"][\"content-type\"] == \"application/json\" and data[\"body\"][\"id\"] != %d",
                 id);
        break;
    }
}

/* A ~100 KB event shaped like the small one, whose body also carries a long list of line items; the
 * two-field filter reads body.total and headers.x-tenant, which come before and after the list. */
static char *make_big_event(void)
{
    size_t cap = BIG_EVENT_BYTES + 4096, len = 0;
    char *s = malloc(cap);
    if (!s)
        die("out of memory");
    len += (size_t)snprintf(s + len, cap - len, "{\"body\":{\"id\":4711,\"total\":120,\"currency\":\"EUR\",\"lines\":[");
    for (int i = 0; len < BIG_EVENT_BYTES - 400; i++)
        len += (size_t)snprintf(s + len, cap - len,
                                "%s{\"sku\":\"SKU-%06d\",\"name\":\"Widget number %d\",\"qty\":%d,\"price\":%d.%02d}",
                                i ? "," : "", i, i, 1 + i % 7, 3 + i % 90, i % 100);
    snprintf(s + len, cap - len,
             "],\"customer\":{\"id\":\"c_8812\",\"tier\":\"gold\"}},\"headers\":{\"x-tenant\":\"t7\","
             "\"content-type\":\"application/json\",\"x-request-id\":\"9f1c2a7e-5b1d\"},\"query_params\":"
             "{\"v\":\"2\"},\"path_params\":{\"order_id\":\"4711\"},\"http_method\":\"post\","
             "\"special_key\":\"special value\"}");
    return s;
}

/* ---- baseline (a): a plain Lua state, no sandbox, no hook, data as a plain table ---- */

static void push_plain(lua_State *L, const cJSON *c)
{
    switch (c->type & 0xFF) {
    case cJSON_String: lua_pushstring(L, c->valuestring); break;
    case cJSON_Number: {
        double d = c->valuedouble;
        if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == floor(d))
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
        break;
    }
    case cJSON_True: lua_pushboolean(L, 1); break;
    case cJSON_False: lua_pushboolean(L, 0); break;
    case cJSON_Array: {
        lua_createtable(L, cJSON_GetArraySize(c), 0);
        lua_Integer i = 0;
        for (const cJSON *m = c->child; m; m = m->next) {
            push_plain(L, m);
            lua_rawseti(L, -2, ++i);
        }
        break;
    }
    case cJSON_Object: {
        lua_createtable(L, 0, cJSON_GetArraySize(c));
        for (const cJSON *m = c->child; m; m = m->next) {
            push_plain(L, m);
            lua_setfield(L, -2, m->string);
        }
        break;
    }
    default: lua_pushnil(L);
    }
}

static int plain_compile(lua_State *L, const char *src)
{
    char code[512];
    snprintf(code, sizeof code, "return function(data) return %s end", src);
    for (char *p = code; (p = strstr(p, "!=")) != NULL; p += 2)
        *p = '~';
    if (luaL_loadbufferx(L, code, strlen(code), "=plain", "t") != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
        die("plain compile: %s", lua_tostring(L, -1));
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* data_ref: registry ref of the current data table. Returns 1 or 0 as the engine's filter_eval. */
static int plain_eval(lua_State *L, int fn_ref, int data_ref)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, fn_ref);
    lua_rawgeti(L, LUA_REGISTRYINDEX, data_ref);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        die("plain eval: %s", lua_tostring(L, -1));
    int r = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return r;
}

/* Converts data and stores it at registry ref *data_ref (replacing the previous table). */
static void plain_present(lua_State *L, const cJSON *data, int data_ref)
{
    push_plain(L, data);
    lua_rawseti(L, LUA_REGISTRYINDEX, data_ref);
}

/* ---- baseline (b): switch_eval.py ---- */

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Runs the Python baseline; fills ns per eval, json.loads ns and match count. Returns 0 or -1. */
static int run_python(const char *script, const char *event_path, const char *filters_path, double *ns_eval,
                      double *ns_loads, int *matches)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "python3 '%s' --event '%s' --filters '%s' --passes %d", script, event_path,
             filters_path, EVAL_PASSES / 2);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    if (pclose(p) != 0)
        return -1;
    cJSON *j = cJSON_Parse(out);
    const cJSON *e = cJSON_GetObjectItem(j, "ns_per_eval"), *l = cJSON_GetObjectItem(j, "loads_ns"),
                *m = cJSON_GetObjectItem(j, "matches");
    int rc = -1;
    if (cJSON_IsNumber(e) && cJSON_IsNumber(l) && cJSON_IsNumber(m)) {
        *ns_eval = e->valuedouble;
        *ns_loads = l->valuedouble;
        *matches = m->valueint;
        rc = 0;
    }
    cJSON_Delete(j);
    return rc;
}

/* ---- reporting ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(enum fig f, int rounds)
{
    double v[MAX_ROUNDS];
    memcpy(v, samples[f], sizeof(double) * (size_t)rounds);
    qsort(v, (size_t)rounds, sizeof v[0], cmp_double);
    return rounds % 2 ? v[rounds / 2] : (v[rounds / 2 - 1] + v[rounds / 2]) / 2;
}

static void fmt_ns(double ns, char *out, size_t n)
{
    if (isnan(ns))
        snprintf(out, n, "n/a");
    else if (ns >= 10000)
        snprintf(out, n, "%.1f us", ns / 1000);
    else
        snprintf(out, n, "%.0f ns", ns);
}

/* One table line: figure, its value, what it is compared with (a ceiling, or another figure whose value
 * is shown), and value / reference. */
static void row(const char *figure, double value, const char *ref_name, double ref)
{
    char v[32], rv[32], against[64], ratio[32];
    fmt_ns(value, v, sizeof v);
    fmt_ns(ref, rv, sizeof rv);
    snprintf(against, sizeof against, "%s%s%s", ref_name, strncmp(ref_name, "ceiling", 7) ? " " : "",
             strncmp(ref_name, "ceiling", 7) ? rv : "");
    if (isnan(value) || isnan(ref) || ref <= 0)
        snprintf(ratio, sizeof ratio, "-");
    else
        snprintf(ratio, sizeof ratio, "%.2f", value / ref);
    printf("%-46s %9s   %-34s %6s\n", figure, v, against, ratio);
}

int main(int argc, char **argv)
{
    int rounds = 7, use_python = 1;
    const char *script = BENCH_FILTER_DIR "/switch_eval.py";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-python") == 0)
            use_python = 0;
        else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc)
            script = argv[++i];
        else if (atoi(argv[i]) > 0)
            rounds = atoi(argv[i]) < MAX_ROUNDS ? atoi(argv[i]) : MAX_ROUNDS;
        else
            die("usage: bench_filter [ROUNDS] [--python PATH|--no-python]");
    }
    if (use_python && access(script, R_OK) != 0) {
        fprintf(stderr, "bench_filter: %s not found, skipping baseline (b)\n", script);
        use_python = 0;
    }

    char *big_text = make_big_event();
    cJSON *small = cJSON_Parse(EVENT_300), *big = cJSON_Parse(big_text);
    if (!small || !big)
        die("bad event JSON");
    static char filters[NFILTERS][256];
    for (int i = 0; i < NFILTERS; i++)
        make_filter(i, filters[i], sizeof filters[i]);

    /* the engine, every limit on (the defaults: 5 ms deadline, 1,000,000 instructions, 32 MiB, 1 MiB
     * strings; the count hook, the allocator meter and the read-only sandbox are always on) */
    char err[256];
    filter_limits lim;
    filter_limits_default(&lim);
    filter_engine *fe = filter_new(&lim, err, sizeof err);
    if (!fe)
        die("filter_new: %s", err);
    static int h[NFILTERS];
    for (int i = 0; i < NFILTERS; i++)
        if ((h[i] = filter_compile(fe, filters[i], strlen(filters[i]), err, sizeof err)) <= 0)
            die("compile %s: %s", filters[i], err);
    /* the same filters with a comment saying "for": the engine then treats them as filters that might
     * loop and keeps its instruction-count hook on while they run */
    static int hh[NFILTERS];
    for (int i = 0; i < NFILTERS; i++) {
        char src[300];
        snprintf(src, sizeof src, "%s -- for", filters[i]);
        if ((hh[i] = filter_compile(fe, src, strlen(src), err, sizeof err)) <= 0)
            die("compile %s: %s", src, err);
    }
    int h2 = filter_compile(fe, TWO_FIELDS, strlen(TWO_FIELDS), err, sizeof err);
    if (h2 <= 0)
        die("compile: %s", err);

    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_pushboolean(L, 1);
    lua_setglobal(L, "True");
    lua_pushboolean(L, 0);
    lua_setglobal(L, "False");
    static int pf[NFILTERS];
    for (int i = 0; i < NFILTERS; i++)
        pf[i] = plain_compile(L, filters[i]);
    lua_pushnil(L);
    int data_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* files for the Python baseline: the same event text and the same filter texts */
    char dir[] = "/tmp/bench_filter.XXXXXX", event_path[64], filters_path[64];
    if (use_python) {
        if (!mkdtemp(dir))
            die("mkdtemp: %s", strerror(errno));
        snprintf(event_path, sizeof event_path, "%s/event.json", dir);
        snprintf(filters_path, sizeof filters_path, "%s/filters.txt", dir);
        char *all = malloc(NFILTERS * 257);
        if (!all)
            die("out of memory");
        size_t at = 0;
        for (int i = 0; i < NFILTERS; i++)
            at += (size_t)sprintf(all + at, "%s\n", filters[i]);
        if (write_file(event_path, EVENT_300) != 0 || write_file(filters_path, all) != 0)
            die("cannot write to %s", dir);
        free(all);
    }

    /* the three ways must agree on which filters match */
    int m_engine = 0, m_plain = 0, m_py = -1;
    filter_set_event(fe, small);
    plain_present(L, small, data_ref);
    for (int i = 0; i < NFILTERS; i++) {
        int r = filter_eval(fe, h[i], err, sizeof err);
        if (r < 0 || filter_eval(fe, hh[i], err, sizeof err) != r)
            die("eval %s: %d, %s", filters[i], r, err);
        m_engine += r;
        m_plain += plain_eval(L, pf[i], data_ref);
    }
    if (m_engine != m_plain)
        die("engine matched %d filters, plain Lua %d", m_engine, m_plain);

    printf("bench_filter: %d filters, %zu-byte event, %zu-byte big event, %d rounds (medians of CPU time)\n",
           NFILTERS,
           strlen(EVENT_300), strlen(big_text), rounds);
    volatile int sink = 0;
    for (int r = 0; r < rounds; r++) {
        int64_t t;
        /* engine: evaluations against a presented event whose fields are already converted */
        filter_set_event(fe, small);
        for (int i = 0; i < NFILTERS; i++)
            sink += filter_eval(fe, h[i], err, sizeof err);
        t = now_ns();
        for (int p = 0; p < EVAL_PASSES; p++)
            for (int i = 0; i < NFILTERS; i++)
                sink += filter_eval(fe, h[i], err, sizeof err);
        samples[F_EVAL][r] = (double)(now_ns() - t) / (EVAL_PASSES * NFILTERS);
        t = now_ns();
        for (int p = 0; p < EVAL_PASSES; p++)
            for (int i = 0; i < NFILTERS; i++)
                sink += filter_eval(fe, hh[i], err, sizeof err);
        samples[F_EVAL_HOOKED][r] = (double)(now_ns() - t) / (EVAL_PASSES * NFILTERS);

        /* (a) the same functions, plain state, plain table */
        plain_present(L, small, data_ref);
        t = now_ns();
        for (int p = 0; p < EVAL_PASSES; p++)
            for (int i = 0; i < NFILTERS; i++)
                sink += plain_eval(L, pf[i], data_ref);
        samples[F_EVAL_PLAIN][r] = (double)(now_ns() - t) / (EVAL_PASSES * NFILTERS);

        /* (b) Python */
        samples[F_EVAL_PY][r] = samples[F_JSONLOADS300][r] = NAN;
        if (use_python) {
            double ns_eval, ns_loads;
            if (run_python(script, event_path, filters_path, &ns_eval, &ns_loads, &m_py) == 0) {
                samples[F_EVAL_PY][r] = ns_eval;
                samples[F_JSONLOADS300][r] = ns_loads;
                if (m_py != m_engine)
                    die("engine matched %d filters, Python %d", m_engine, m_py);
            } else {
                fprintf(stderr, "bench_filter: %s failed, skipping baseline (b)\n", script);
                use_python = 0;
            }
        }

        /* presenting: set_event alone, and set_event + a filter reading two fields */
        const cJSON *ev[2] = {small, big};
        enum fig set_f[2] = {F_SET300, F_SET100K}, present_f[2] = {F_PRESENT300, F_PRESENT100K};
        for (int k = 0; k < 2; k++) {
            t = now_ns();
            for (int i = 0; i < SET_EVENT_REPS; i++)
                filter_set_event(fe, ev[k]);
            samples[set_f[k]][r] = (double)(now_ns() - t) / SET_EVENT_REPS;
            t = now_ns();
            for (int i = 0; i < PRESENT_REPS; i++) {
                filter_set_event(fe, ev[k]);
                sink += filter_eval(fe, h2, err, sizeof err);
            }
            samples[present_f[k]][r] = (double)(now_ns() - t) / PRESENT_REPS;
        }

        /* (a) converting the whole event into a plain table, as a non-lazy presenter would */
        t = now_ns();
        for (int i = 0; i < CONVERT_SMALL_REPS; i++)
            plain_present(L, small, data_ref);
        samples[F_CONVERT300][r] = (double)(now_ns() - t) / CONVERT_SMALL_REPS;
        t = now_ns();
        for (int i = 0; i < CONVERT_BIG_REPS; i++)
            plain_present(L, big, data_ref);
        samples[F_CONVERT100K][r] = (double)(now_ns() - t) / CONVERT_BIG_REPS;

        /* one publish: a fresh event presented, then every filter run once (first reads convert) */
        t = now_ns();
        for (int e = 0; e < PUBLISH_EVENTS; e++) {
            filter_set_event(fe, small);
            for (int i = 0; i < NFILTERS; i++)
                sink += filter_eval(fe, h[i], err, sizeof err);
        }
        samples[F_PUBLISH][r] = (double)(now_ns() - t) / (PUBLISH_EVENTS * NFILTERS);
        t = now_ns();
        for (int e = 0; e < PUBLISH_EVENTS; e++) {
            plain_present(L, small, data_ref);
            for (int i = 0; i < NFILTERS; i++)
                sink += plain_eval(L, pf[i], data_ref);
        }
        samples[F_PUBLISH_PLAIN][r] = (double)(now_ns() - t) / (PUBLISH_EVENTS * NFILTERS);
    }
    (void)sink;

    double eval = median(F_EVAL, rounds), py = median(F_EVAL_PY, rounds);
    double s300 = median(F_SET300, rounds), p300 = median(F_PRESENT300, rounds);
    double p100k = median(F_PRESENT100K, rounds), publish = median(F_PUBLISH, rounds);
    char py_matches[16] = "n/a";
    if (m_py >= 0)
        snprintf(py_matches, sizeof py_matches, "%d", m_py);
    printf("matching filters: engine %d, (a) plain Lua %d, (b) Python %s\n\n", m_engine, m_plain, py_matches);
    printf("%-46s %9s   %-34s %6s\n", "figure", "value", "compared with", "ratio");
    row("eval per filter, limits on", eval, "ceiling 150 ns", 150);
    row("eval per filter, limits on", eval, "(a) plain Lua, no sandbox/limits", median(F_EVAL_PLAIN, rounds));
    row("eval per filter, limits on", eval, "(b) Python eval", py);
    row("eval per filter, filters that may loop", median(F_EVAL_HOOKED, rounds), "(a) plain Lua",
        median(F_EVAL_PLAIN, rounds));
    row("present 300 B: filter_set_event", s300, "ceiling 2 us", 2000);
    row("present 300 B + filter reading 2 fields", p300, "ceiling 2 us", 2000);
    row("present 300 B + filter reading 2 fields", p300, "(a) full conversion", median(F_CONVERT300, rounds));
    row("present 300 B + filter reading 2 fields", p300, "(b) json.loads", median(F_JSONLOADS300, rounds));
    row("present 100 KB: filter_set_event", median(F_SET100K, rounds), "300 B", s300);
    row("present 100 KB + filter reading 2 fields", p100k, "300 B", p300);
    row("present 100 KB + filter reading 2 fields", p100k, "(a) full conversion", median(F_CONVERT100K, rounds));
    row("publish: present + 1000 evals, per filter", publish, "(a) convert + evals", median(F_PUBLISH_PLAIN, rounds));
    row("publish: present + 1000 evals, per filter", publish, "(b) json.loads + evals",
        py + median(F_JSONLOADS300, rounds) / NFILTERS);

    if (use_python) {
        unlink(event_path);
        unlink(filters_path);
        rmdir(dir);
    }
    filter_free(fe);
    lua_close(L);
    cJSON_Delete(small);
    cJSON_Delete(big);
    free(big_text);
    return 0;
}
