#include "filter.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "buf.h"
#include "filter_data.h"
#include "filter_lib.h"
#include "filter_pattern.h"

#define HOOK_EVERY 1000        /* VM instructions between count hooks */
#define HOOK_EVERY_FINE 16     /* ... once an evaluation handles big objects (see go_fine) */
#define BIG_ALLOC 16384        /* bytes: an allocation this large during an evaluation goes fine-grained */
#define BIG_SOURCE 8192        /* bytes: filters this long (big constants) are always run fine-grained */
#define SMALL_ALLOC 1024       /* bytes: allocations this small still succeed past the deadline */
#define CLOCK_EVERY_BYTES (256 * 1024) /* bytes allocated by an evaluation between clock reads */
#define CLOCK_EVERY_UNITS 1024 /* units of billed C work between clock reads */
#define STRAIGHT_SOURCE 256     /* bytes: loop-free filters up to this long compile to < HOOK_EVERY instructions */
#define LIVE_NORMAL 1          /* live[h]: runs with the count hook every HOOK_EVERY instructions */
#define LIVE_BIG 2             /* ... every HOOK_EVERY_FINE instructions from the start */
#define LIVE_STRAIGHT 3        /* ... without the count hook (see is_straight) */

/* A filter becomes the body of a fixed-arity function, so a call costs no vararg adjustment:
 *     local _ENV <const> = _ENV; return function(data) return <src>
 *     end
 * _ENV is a constant local, so no filter can swap its environment for its next run. See filter_compile
 * for why running this wrapper at compile time runs no filter text. */
#define WRAP_HEAD "local _ENV <const> = _ENV; return function(data) "
#define WRAP_TAIL "\nend"

enum stop { STOP_NONE, STOP_BUDGET, STOP_DEADLINE, STOP_MEMORY, STOP_OBJECT };

struct filter_engine {
    lua_State *L;
    filter_limits lim;         /* limits in force (zero fields replaced by defaults) */
    filter_lib_ctx lib;        /* what filter_lib needs: string limit, billing, proxy lookup */
    size_t mem_used;           /* bytes currently allocated by the Lua state */
    int in_eval;               /* 1 while filter_eval runs Lua code */
    int hook_every;            /* VM instructions between count hooks as installed now; 0 = no hook */
    enum stop stop;            /* why the running evaluation is being stopped */
    int64_t instr_left;        /* instructions (and billed units of C work) left to this evaluation */
    int64_t started_ns;        /* monotonic time of this evaluation's first clock read, ns; 0 = none yet */
    int64_t units_unclocked;   /* units billed since the last clock read */
    size_t bytes_unclocked;    /* bytes allocated by this evaluation since the last clock read */
    filter_data data;          /* the presented event and its proxies */
    int event_broken;          /* 1 if presenting the event ran out of memory: evaluations fail */
    int env_ref;               /* registry ref: the read-only globals filters see */
    unsigned char *live;       /* live[h]: LIVE_NORMAL/BIG/STRAIGHT if handle h is compiled, else 0 */
    size_t nlive;              /* entries in live */
    char msg_budget[96];       /* the error texts of the three limits */
    char msg_deadline[96];
    char msg_memory[96];
    char msg_object[96];
    size_t object_cap;         /* bytes: the largest single allocation an evaluation may make */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void filter_limits_default(filter_limits *lim)
{
    lim->deadline_ns = 5 * 1000 * 1000;
    lim->instructions = 1000 * 1000;
    lim->memory_bytes = (size_t)32 << 20;
    lim->string_bytes = (size_t)1 << 20;
}

/* The engine is the Lua allocator's userdata (the state's extra space belongs to filter_data). */
static filter_engine *engine_of(lua_State *L)
{
    void *fe;
    lua_getallocf(L, &fe);
    return fe;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The clock starts at the evaluation's first check (within HOOK_EVERY instructions of its start), so
 * filter_eval itself never reads the clock. */
static int past_deadline(filter_engine *fe)
{
    int64_t now = now_ns();
    if (!fe->started_ns) {
        fe->started_ns = now;
        return 0;
    }
    return now - fe->started_ns > fe->lim.deadline_ns;
}

static void count_hook(lua_State *L, lua_Debug *ar);

/* Installs the count hook to run every `every` instructions (0: removes it), unless it already does. */
static void set_hook(filter_engine *fe, int every)
{
    if (fe->hook_every == every)
        return;
    fe->hook_every = every;
    lua_sethook(fe->L, every ? count_hook : NULL, every ? LUA_MASKCOUNT : 0, every);
}

/* Big strings and tables make single instructions expensive (comparisons, table shifts), so once an
 * evaluation allocates one the hook checks every few instructions instead of every thousand. */
static void go_fine(filter_engine *fe)
{
    set_hook(fe, HOOK_EVERY_FINE);
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    filter_engine *fe = engine_of(L);
    if (!fe->in_eval)
        return;
    fe->instr_left -= fe->hook_every;
    if (fe->instr_left < 0) {
        fe->stop = STOP_BUDGET;
        luaL_error(L, "%s", fe->msg_budget);
    }
    if (past_deadline(fe)) {
        fe->stop = STOP_DEADLINE;
        luaL_error(L, "%s", fe->msg_deadline);
    }
}

/* filter_lib_ctx.charge */
static int charge(void *ud, int64_t units, const char **why)
{
    filter_engine *fe = ud;
    if (!fe->in_eval)
        return 0;
    fe->instr_left -= units;
    if (fe->instr_left < 0) {
        fe->stop = STOP_BUDGET;
        *why = fe->msg_budget;
        return -1;
    }
    fe->units_unclocked += units;
    if (fe->units_unclocked >= CLOCK_EVERY_UNITS) {
        fe->units_unclocked = 0;
        if (past_deadline(fe)) {
            fe->stop = STOP_DEADLINE;
            *why = fe->msg_deadline;
            return -1;
        }
    }
    return 0;
}

/* filter_lib_ctx.node_of */
static const cJSON *node_of(void *ud, lua_State *L, int idx)
{
    filter_engine *fe = ud;
    return filter_data_node(&fe->data, L, idx);
}

/* The Lua allocator: counts bytes against the memory cap and, during an evaluation, meters allocation
 * to read the clock (an allocation refused past the deadline ends the evaluation with LUA_ERRMEM). */
static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    filter_engine *fe = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        fe->mem_used -= old;
        return NULL;
    }
    if (nsize > old) {
        size_t grow = nsize - old;
        if (fe->in_eval && fe->stop == STOP_DEADLINE && grow > SMALL_ALLOC)
            return NULL; /* past the deadline: still room for an error message, not for work */
        if (fe->in_eval && nsize > fe->object_cap) {
            /* one huge string or table makes a single instruction arbitrarily slow: refuse it */
            fe->stop = STOP_OBJECT;
            return NULL;
        }
        if (fe->mem_used + grow > fe->lim.memory_bytes) {
            if (fe->in_eval && fe->stop == STOP_NONE)
                fe->stop = STOP_MEMORY;
            return NULL;
        }
        if (fe->in_eval) {
            if (nsize >= BIG_ALLOC && fe->hook_every != HOOK_EVERY_FINE)
                go_fine(fe);
            fe->bytes_unclocked += grow;
            if (fe->bytes_unclocked >= CLOCK_EVERY_BYTES) {
                fe->bytes_unclocked = 0;
                if (past_deadline(fe)) {
                    fe->stop = STOP_DEADLINE;
                    return NULL;
                }
            }
        }
    }
    void *p = realloc(ptr, nsize);
    if (!p) {
        if (nsize > old)
            return NULL;
        p = ptr; /* Lua assumes shrinking never fails: keep the bigger block */
    }
    fe->mem_used = fe->mem_used - old + nsize;
    return p;
}

/* ---- the sandbox ---- */

/* __newindex of read-only tables; upvalue 1 is the sentence to raise. */
static int refuse_write(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "%s (assigning '%s')", lua_tostring(L, lua_upvalueindex(1)),
                          lua_tostring(L, 2));
    return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}

/* Pushes an empty table that reads through to the table at idx and refuses writes. */
static void push_readonly(lua_State *L, int idx, const char *refusal)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "__index");
    lua_pushstring(L, refusal);
    lua_pushcclosure(L, refuse_write, 1);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

/* Like linit.c, but only the libraries and base functions a filter may use. Runs protected. */
static int setup_sandbox(lua_State *L)
{
    static const char *const base_fns[] = {"assert", "error",    "ipairs",   "next",     "pairs",
                                           "select", "tonumber", "tostring", "_VERSION", NULL};
    static const struct {
        const char *name;
        lua_CFunction open;
    } libs[] = {{LUA_STRLIBNAME, luaopen_string},
                {LUA_TABLIBNAME, luaopen_table},
                {LUA_MATHLIBNAME, luaopen_math},
                {LUA_UTF8LIBNAME, luaopen_utf8}};
    filter_engine *fe = lua_touserdata(L, 1);
    luaL_requiref(L, LUA_GNAME, luaopen_base, 0); /* 2 */
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++)
        luaL_requiref(L, libs[i].name, libs[i].open, 0); /* 3: string, 4: table, 5: math, 6: utf8 */
    filter_pattern_patch_string(L, 3, &fe->lib);
    filter_lib_patch_table(L, 4, &fe->lib);
    lua_pushnil(L);
    lua_setfield(L, 5, "randomseed"); /* one filter must not steer another's math.random */

    lua_newtable(L); /* 7: what filters can read */
    for (const char *const *n = base_fns; *n; n++) {
        lua_getfield(L, 2, *n);
        lua_setfield(L, 7, *n);
    }
    filter_lib_open_helpers(L, 7, &fe->lib);
    lua_pushboolean(L, 1);
    lua_setfield(L, 7, "True");
    lua_pushboolean(L, 0);
    lua_setfield(L, 7, "False"); /* None is left undefined, so it reads as nil */
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        push_readonly(L, 3 + (int)i, "filters cannot modify library tables");
        lua_setfield(L, 7, libs[i].name);
    }
    /* ("").upper reaches the string library through the string metatable: make that read-only too */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_getfield(L, 7, LUA_STRLIBNAME);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 2);

    /* indexing nil, a boolean or a number gives nil: data.body.a.b never raises */
    lua_newtable(L);
    int scalar_mt = lua_gettop(L);
    lua_newtable(L);
    lua_setfield(L, scalar_mt, "__index");
    lua_pushnil(L);
    lua_pushboolean(L, 0);
    lua_pushinteger(L, 0);
    for (int i = 0; i < 3; i++) {
        lua_pushvalue(L, scalar_mt);
        lua_setmetatable(L, -2);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    push_readonly(L, 7, "filters cannot set globals"); /* the filters' _ENV */
    lua_pushvalue(L, -1);
    lua_setfield(L, 7, "_G");
    fe->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    filter_data_open(L, &fe->data, &fe->lib);

    /* the full base library stays reachable from nowhere a filter can see */
    lua_newtable(L);
    lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
    return 0;
}

static void describe_limits(filter_engine *fe)
{
    const filter_limits *l = &fe->lim;
    snprintf(fe->msg_budget, sizeof fe->msg_budget,
             "filter exceeded its instruction budget (%lld instructions)", (long long)l->instructions);
    if (l->deadline_ns % 1000000 == 0)
        snprintf(fe->msg_deadline, sizeof fe->msg_deadline, "filter exceeded its deadline (%lld ms)",
                 (long long)(l->deadline_ns / 1000000));
    else
        snprintf(fe->msg_deadline, sizeof fe->msg_deadline, "filter exceeded its deadline (%.3f ms)",
                 (double)l->deadline_ns / 1e6);
    if (l->memory_bytes % (1024 * 1024) == 0)
        snprintf(fe->msg_memory, sizeof fe->msg_memory, "filter exceeded its memory limit (%zu MiB)",
                 l->memory_bytes >> 20);
    else
        snprintf(fe->msg_memory, sizeof fe->msg_memory, "filter exceeded its memory limit (%zu bytes)",
                 l->memory_bytes);
    fe->object_cap = 4 * l->string_bytes;
    snprintf(fe->msg_object, sizeof fe->msg_object,
             "filter exceeded its memory limit (one object over %zu bytes)", fe->object_cap);
}

filter_engine *filter_new(const filter_limits *lim, char *err, size_t errlen)
{
    filter_engine *fe = calloc(1, sizeof *fe);
    if (!fe) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    filter_limits def;
    filter_limits_default(&def);
    fe->lim = lim ? *lim : def;
    if (fe->lim.deadline_ns <= 0)
        fe->lim.deadline_ns = def.deadline_ns;
    if (fe->lim.instructions <= 0)
        fe->lim.instructions = def.instructions;
    if (!fe->lim.memory_bytes)
        fe->lim.memory_bytes = def.memory_bytes;
    if (!fe->lim.string_bytes)
        fe->lim.string_bytes = def.string_bytes;
    describe_limits(fe);
    fe->lib = (filter_lib_ctx){fe->lim.string_bytes, charge, node_of, fe};

    lua_State *L = lua_newstate(lua_alloc, fe);
    if (!L) {
        set_err(err, errlen, "cannot create a Lua state within %zu bytes", fe->lim.memory_bytes);
        free(fe);
        return NULL;
    }
    fe->L = L;
    lua_pushcfunction(L, setup_sandbox);
    lua_pushlightuserdata(L, fe);
    int st = lua_pcall(L, 1, 0, 0);
    if (st != LUA_OK) {
        if (st == LUA_ERRMEM)
            set_err(err, errlen, "cannot set up the filter sandbox within the memory limit (%zu bytes)",
                    fe->lim.memory_bytes);
        else
            set_err(err, errlen, "cannot set up the filter sandbox: %s", lua_tostring(L, -1));
        lua_close(L);
        free(fe);
        return NULL;
    }
    set_hook(fe, HOOK_EVERY);
    filter_set_event(fe, NULL);
    if (fe->event_broken) {
        set_err(err, errlen, "cannot set up the filter sandbox within the memory limit (%zu bytes)",
                fe->lim.memory_bytes);
        filter_free(fe);
        return NULL;
    }
    return fe;
}

void filter_free(filter_engine *fe)
{
    if (!fe)
        return;
    lua_close(fe->L);
    free(fe->live);
    free(fe);
}

/* ---- compiling ---- */

/* If s[i] opens a long bracket ([[, [=[, ...), returns 1 and its level. */
static int long_bracket(const char *s, size_t len, size_t i, size_t *level)
{
    size_t j = i + 1;
    while (j < len && s[j] == '=')
        j++;
    if (j < len && s[j] == '[') {
        *level = j - i - 1;
        return 1;
    }
    return 0;
}

/* Index just past the long bracket of the given level that opens at s[i]. */
static size_t skip_long(const char *s, size_t len, size_t i, size_t level)
{
    for (i += level + 2; i < len; i++) {
        if (s[i] != ']')
            continue;
        size_t j = i + 1;
        while (j < len && s[j] == '=')
            j++;
        if (j < len && s[j] == ']' && j - i - 1 == level)
            return j + 1;
    }
    return len;
}

/* Appends src to out with Python's "!=" rewritten to Lua's "~=" where it stands outside string
 * literals and comments (same length, so Lua's positions stay right); sets *has_return if the word
 * "return" appears as a token. */
static void rewrite_source(const char *src, size_t len, buf *out, int *has_return)
{
    size_t at = out->len, i = 0, level;
    buf_append(out, src, len);
    char *s = out->p + at;
    *has_return = 0;
    while (i < len) {
        char c = s[i];
        if (c == '-' && i + 1 < len && s[i + 1] == '-') {
            i += 2;
            if (i < len && s[i] == '[' && long_bracket(s, len, i, &level))
                i = skip_long(s, len, i, level);
            else
                while (i < len && s[i] != '\n')
                    i++;
        } else if (c == '[' && long_bracket(s, len, i, &level)) {
            i = skip_long(s, len, i, level);
        } else if (c == '"' || c == '\'') {
            for (i++; i < len && s[i] != c && s[i] != '\n'; i++) {
                if (s[i] != '\\' || i + 1 >= len)
                    continue;
                i++;
                if (s[i] == 'z') /* \z skips the following white space, newlines included */
                    while (i + 1 < len && isspace((unsigned char)s[i + 1]))
                        i++;
            }
            i++;
        } else if (c == '!' && i + 1 < len && s[i + 1] == '=') {
            s[i] = '~';
            i += 2;
        } else if (isalpha((unsigned char)c) || c == '_') {
            size_t j = i;
            while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '_'))
                j++;
            if (j - i == 6 && memcmp(s + i, "return", 6) == 0)
                *has_return = 1;
            i = j;
        } else {
            i++;
        }
    }
}

/* (wrapper chunk, engine) -> handle: gives the wrapper the sandbox's _ENV, runs it to get the filter
 * function (it runs nothing else: see filter_compile) and anchors that in the registry. */
static int anchor_compiled(lua_State *L)
{
    filter_engine *fe = lua_touserdata(L, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fe->env_ref);
    lua_setupvalue(L, 1, 1);
    lua_pushvalue(L, 1);
    lua_call(L, 0, 1);
    lua_pushinteger(L, luaL_ref(L, LUA_REGISTRYINDEX));
    return 1;
}

/* Can the filter src run without the count hook? The hook fires every HOOK_EVERY instructions, so in an
 * evaluation of fewer it fires at most once, and can then only start the clock or notice a deadline that
 * passed during the cheap instructions since the last check: everything expensive such an evaluation can
 * do is C work, billed and clocked by charge, or allocation, metered by lua_alloc (and a big one installs
 * the fine-grained hook, go_fine). Without the hook it stops at the same limits, at most a few hundred
 * cheap instructions later. A filter runs fewer than HOOK_EVERY instructions if it cannot loop or
 * recurse and is short: no while, for, repeat, goto or function
 * (the only ways to jump back or to define a Lua function; everything else a filter can call is C) in a
 * source of at most STRAIGHT_SOURCE bytes (Lua emits at most about 2.5 instructions per source byte, for
 * a chain of comparisons such as a<a<a<a; the usual filter emits less than 1). The words are
 * looked for anywhere, strings and comments included, so that no tokenizing can be fooled. */
static int is_straight(const filter_engine *fe, const char *src, size_t len)
{
    static const char *const words[] = {"while", "for", "repeat", "goto", "function"};
    if (len > STRAIGHT_SOURCE || fe->lim.instructions < HOOK_EVERY)
        return 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (memmem(src, len, words[i], strlen(words[i])))
            return 0;
    return 1;
}

static int mark_live(filter_engine *fe, int h, unsigned char how)
{
    if ((size_t)h >= fe->nlive) {
        size_t n = fe->nlive ? fe->nlive : 16;
        while (n <= (size_t)h)
            n *= 2;
        unsigned char *p = realloc(fe->live, n);
        if (!p)
            return -1;
        memset(p + fe->nlive, 0, n - fe->nlive);
        fe->live = p;
        fe->nlive = n;
    }
    fe->live[h] = how;
    return 0;
}

int filter_compile(filter_engine *fe, const char *src, size_t len, char *err, size_t errlen)
{
    size_t i = 0;
    if (!src)
        len = 0;
    while (i < len && isspace((unsigned char)src[i]))
        i++;
    if (i == len)
        return 0;

    /* The source must first compile on its own, as "return <src>" or else (if it says return) as a
     * chunk. A self-contained block cannot close the wrapper's function early, so the wrapper cannot be
     * made to run filter text at compile time (as "1 end, (function() while true do end end)(),
     * function() return 1" would); the newline before the wrapper's "end" ends a trailing comment. */
    lua_State *L = fe->L;
    buf text = BUF_INIT, code = BUF_INIT;
    int has_return;
    const char *ret = "return ";
    rewrite_source(src, len, &text, &has_return);
    buf_puts(&code, ret);
    buf_append(&code, text.p, text.len);
    int st = luaL_loadbufferx(L, code.p, code.len, "=filter", "t");
    if (st == LUA_ERRSYNTAX && has_return) {
        lua_pop(L, 1);
        ret = "";
        st = luaL_loadbufferx(L, text.p, text.len, "=filter", "t");
    }
    if (st == LUA_OK) {
        lua_pop(L, 1);
        buf_reset(&code);
        buf_puts(&code, WRAP_HEAD);
        buf_puts(&code, ret);
        buf_append(&code, text.p, text.len);
        buf_puts(&code, WRAP_TAIL);
        st = luaL_loadbufferx(L, code.p, code.len, "=filter", "t");
    }
    buf_free(&text);
    buf_free(&code);
    int h = -1;
    if (st != LUA_OK)
        goto done;
    lua_pushcfunction(L, anchor_compiled);
    lua_insert(L, -2);
    lua_pushlightuserdata(L, fe);
    if ((st = lua_pcall(L, 2, 1, 0)) != LUA_OK)
        goto done;
    h = (int)lua_tointeger(L, -1);
    unsigned char kind = len > BIG_SOURCE ? LIVE_BIG : is_straight(fe, src, len) ? LIVE_STRAIGHT : LIVE_NORMAL;
    if (mark_live(fe, h, kind) != 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, h);
        h = -1;
        st = LUA_ERRMEM;
    }
done:
    if (h < 0)
        set_err(err, errlen, "%s", st == LUA_ERRMEM ? fe->msg_memory : lua_tostring(L, -1));
    lua_settop(L, 0);
    return h;
}

void filter_release(filter_engine *fe, int handle)
{
    if (handle <= 0 || (size_t)handle >= fe->nlive || !fe->live[handle])
        return;
    fe->live[handle] = 0;
    luaL_unref(fe->L, LUA_REGISTRYINDEX, handle);
}

/* ---- events and evaluation ---- */

void filter_set_event(filter_engine *fe, const cJSON *data)
{
    fe->event_broken = filter_data_present(fe->L, &fe->data, data) != 0;
}

void filter_clear_event(filter_engine *fe)
{
    filter_set_event(fe, NULL);
}

int filter_eval(filter_engine *fe, int handle, char *err, size_t errlen)
{
    if (handle == 0)
        return 1;
    if (handle < 0 || (size_t)handle >= fe->nlive || !fe->live[handle]) {
        set_err(err, errlen, "unknown filter handle %d", handle);
        return -1;
    }
    if (fe->event_broken) {
        set_err(err, errlen, "%s", fe->msg_memory);
        return -1;
    }
    lua_State *L = fe->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, handle);
    filter_data_push_root(L, &fe->data);
    fe->instr_left = fe->lim.instructions;
    fe->started_ns = 0;
    fe->units_unclocked = 0;
    fe->bytes_unclocked = 0;
    fe->stop = STOP_NONE;
    unsigned char kind = fe->live[handle];
    set_hook(fe, kind == LIVE_STRAIGHT ? 0 : kind == LIVE_BIG ? HOOK_EVERY_FINE : HOOK_EVERY);
    fe->in_eval = 1;
    int st = lua_pcall(L, 1, 1, 0);
    fe->in_eval = 0;
    int r;
    if (st == LUA_OK) {
        r = lua_toboolean(L, -1);
    } else {
        r = -1;
        if (st == LUA_ERRMEM)
            set_err(err, errlen, "%s",
                    fe->stop == STOP_DEADLINE ? fe->msg_deadline
                    : fe->stop == STOP_BUDGET ? fe->msg_budget
                    : fe->stop == STOP_OBJECT ? fe->msg_object
                                              : fe->msg_memory);
        else if (lua_isstring(L, -1))
            set_err(err, errlen, "%s", lua_tostring(L, -1));
        else
            set_err(err, errlen, "filter raised a non-string error (a %s value)", luaL_typename(L, -1));
    }
    lua_settop(L, 0);
    if (st == LUA_ERRMEM)
        lua_gc(L, LUA_GCCOLLECT); /* give the next filter the memory this one hoarded */
    return r;
}

size_t filter_memory_used(const filter_engine *fe)
{
    return fe->mem_used;
}

/* ---- one-shot helpers ---- */

int filter_check(const char *src, char *err, size_t errlen)
{
    filter_engine *fe = filter_new(NULL, err, errlen);
    if (!fe)
        return -1;
    int h = filter_compile(fe, src, src ? strlen(src) : 0, err, errlen);
    filter_free(fe);
    return h < 0 ? -1 : 0;
}

int filter_test(const char *src, const cJSON *data, const filter_limits *lim, char *err, size_t errlen)
{
    filter_engine *fe = filter_new(lim, err, errlen);
    if (!fe)
        return -1;
    int r = filter_compile(fe, src, src ? strlen(src) : 0, err, errlen);
    if (r > 0) {
        filter_set_event(fe, data);
        r = filter_eval(fe, r, err, errlen);
    } else if (r == 0) {
        r = 1;
    }
    filter_free(fe);
    return r;
}
