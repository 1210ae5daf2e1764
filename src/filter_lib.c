#include "filter_lib.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* Every function here has the filter_lib_ctx as its first upvalue. */
static filter_lib_ctx *ctx_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

void filter_lib_bill(lua_State *L, filter_lib_ctx *ctx, int64_t units, const char *what)
{
    const char *why = "filter stopped";
    if (units <= 0 || ctx->charge(ctx->ud, units, &why) == 0)
        return;
    if (what)
        luaL_error(L, "%s: %s", what, why);
    luaL_error(L, "%s", why);
}

/* Units for touching each element of from..to, `weight` units apiece (saturating). An element moved
 * through the C API (lua_geti + lua_seti, stack growth) costs a few VM instructions' worth: the weights
 * below were measured against the interpreter's own instruction rate. */
static int64_t span(lua_Integer from, lua_Integer to, int64_t weight)
{
    if (to < from)
        return 0;
    uint64_t d = (uint64_t)to - (uint64_t)from;
    return d >= (uint64_t)(INT64_MAX / weight) ? INT64_MAX : ((int64_t)d + 1) * weight;
}

/* ---- table library: bill the element loops up front, then run Lua's own function ---- */

static int call_original(lua_State *L)
{
    lua_CFunction f = lua_tocfunction(L, lua_upvalueindex(2));
    return f(L);
}

static int is_container(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TTABLE || lua_type(L, idx) == LUA_TUSERDATA;
}

static int tab_move(lua_State *L)
{
    filter_lib_bill(L, ctx_of(L), span(luaL_checkinteger(L, 2), luaL_checkinteger(L, 3), 4), NULL);
    return call_original(L);
}

static int tab_unpack(lua_State *L)
{
    lua_Integer i = luaL_optinteger(L, 2, 1);
    lua_Integer j = lua_isnoneornil(L, 3) ? luaL_len(L, 1) : luaL_checkinteger(L, 3);
    filter_lib_bill(L, ctx_of(L), span(i, j, 8), NULL);
    return call_original(L);
}

static int tab_sort(lua_State *L)
{
    if (is_container(L, 1)) {
        int64_t n = luaL_len(L, 1), log = 1;
        for (int64_t k = n; k > 1; k >>= 1)
            log++;
        filter_lib_bill(L, ctx_of(L), n > INT64_MAX / 256 ? INT64_MAX : 3 * n * log, NULL);
    }
    return call_original(L);
}

static int tab_shift(lua_State *L) /* insert and remove: they may move every element */
{
    if (is_container(L, 1))
        filter_lib_bill(L, ctx_of(L), span(0, luaL_len(L, 1), 2), NULL);
    return call_original(L);
}

static int tab_concat(lua_State *L)
{
    if (is_container(L, 1)) {
        lua_Integer i = luaL_optinteger(L, 3, 1);
        lua_Integer j = lua_isnoneornil(L, 4) ? luaL_len(L, 1) : luaL_checkinteger(L, 4);
        filter_lib_bill(L, ctx_of(L), span(i, j, 2), NULL);
    }
    return call_original(L);
}

void filter_lib_patch_table(lua_State *L, int idx, filter_lib_ctx *ctx)
{
    static const luaL_Reg fns[] = {{"move", tab_move},     {"unpack", tab_unpack}, {"sort", tab_sort},
                                   {"insert", tab_shift},  {"remove", tab_shift},  {"concat", tab_concat},
                                   {NULL, NULL}};
    idx = lua_absindex(L, idx);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushlightuserdata(L, ctx);
        lua_getfield(L, idx, f->name);
        lua_pushcclosure(L, f->func, 2);
        lua_setfield(L, idx, f->name);
    }
}

/* ---- helpers ---- */

const cJSON *filter_lib_json_field(const cJSON *obj, const char *key, size_t len, size_t *visited)
{
    size_t n = 0;
    const cJSON *found = NULL;
    if (obj && !memchr(key, '\0', len)) {
        for (const cJSON *c = obj->child; c; c = c->next) {
            n++;
            /* key has no NUL, so equal prefixes mean c->string is at least len bytes long */
            if (c->string && strncmp(c->string, key, len) == 0 && c->string[len] == '\0') {
                found = c;
                break;
            }
        }
    }
    if (visited)
        *visited = n;
    return found;
}

static const cJSON *proxy_node(lua_State *L, filter_lib_ctx *ctx, int idx)
{
    return lua_type(L, idx) == LUA_TUSERDATA ? ctx->node_of(ctx->ud, L, idx) : NULL;
}

/* The member of object or array node named by the key at kidx (a string, or a 1-based index). */
static const cJSON *json_member(lua_State *L, filter_lib_ctx *ctx, const cJSON *node, int kidx)
{
    size_t walked = 0;
    const cJSON *c = NULL;
    if (cJSON_IsObject(node) && lua_type(L, kidx) == LUA_TSTRING) {
        size_t kl;
        const char *k = lua_tolstring(L, kidx, &kl);
        c = filter_lib_json_field(node, k, kl, &walked);
    } else if (cJSON_IsArray(node) && lua_type(L, kidx) == LUA_TNUMBER) {
        int isint;
        lua_Integer i = lua_tointegerx(L, kidx, &isint);
        if (isint && i >= 1)
            for (c = node->child; c && --i > 0; c = c->next)
                walked++;
    }
    filter_lib_bill(L, ctx, (int64_t)(walked / 8), NULL);
    return c;
}

static int h_has(lua_State *L)
{
    filter_lib_ctx *ctx = ctx_of(L);
    const cJSON *node = proxy_node(L, ctx, 1);
    if (node) {
        lua_pushboolean(L, json_member(L, ctx, node, 2) != NULL);
    } else if (lua_type(L, 1) == LUA_TTABLE && !lua_isnoneornil(L, 2)) {
        lua_pushvalue(L, 2);
        lua_pushboolean(L, lua_rawget(L, 1) != LUA_TNIL);
    } else {
        lua_pushboolean(L, 0);
    }
    return 1;
}

static int h_is_null(lua_State *L)
{
    filter_lib_ctx *ctx = ctx_of(L);
    const cJSON *node = proxy_node(L, ctx, 1);
    lua_pushboolean(L, node && cJSON_IsNull(json_member(L, ctx, node, 2)));
    return 1;
}

static int h_startswith(lua_State *L)
{
    size_t ls, lp;
    if (lua_type(L, 1) != LUA_TSTRING || lua_type(L, 2) != LUA_TSTRING) {
        lua_pushboolean(L, 0);
        return 1;
    }
    const char *s = lua_tolstring(L, 1, &ls), *p = lua_tolstring(L, 2, &lp);
    lua_pushboolean(L, lp <= ls && memcmp(s, p, lp) == 0);
    return 1;
}

static int h_endswith(lua_State *L)
{
    size_t ls, lp;
    if (lua_type(L, 1) != LUA_TSTRING || lua_type(L, 2) != LUA_TSTRING) {
        lua_pushboolean(L, 0);
        return 1;
    }
    const char *s = lua_tolstring(L, 1, &ls), *p = lua_tolstring(L, 2, &lp);
    lua_pushboolean(L, lp <= ls && memcmp(s + ls - lp, p, lp) == 0);
    return 1;
}

/* Is JSON value c equal to the Lua value at idx (string, number or boolean)? */
static int json_equals(lua_State *L, const cJSON *c, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t l;
        const char *s = lua_tolstring(L, idx, &l);
        return cJSON_IsString(c) && c->valuestring && strlen(c->valuestring) == l &&
               memcmp(c->valuestring, s, l) == 0;
    }
    case LUA_TNUMBER: return cJSON_IsNumber(c) && c->valuedouble == lua_tonumber(L, idx);
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? cJSON_IsTrue(c) : cJSON_IsFalse(c);
    default: return 0;
    }
}

static int contains_in(lua_State *L, filter_lib_ctx *ctx)
{
    int t = lua_type(L, 1);
    if (t == LUA_TSTRING) {
        if (lua_type(L, 2) != LUA_TSTRING && lua_type(L, 2) != LUA_TNUMBER)
            return 0;
        size_t ls, lx;
        const char *s = lua_tolstring(L, 1, &ls);
        const char *x = lua_tolstring(L, 2, &lx);
        filter_lib_bill(L, ctx, (int64_t)(ls / 16), NULL);
        return memmem(s, ls, x, lx) != NULL;
    }
    const cJSON *node = proxy_node(L, ctx, 1);
    if (cJSON_IsObject(node))
        return json_member(L, ctx, node, 2) != NULL;
    if (cJSON_IsArray(node)) {
        int64_t n = 0, found = 0;
        for (const cJSON *c = node->child; c && !found; c = c->next, n++)
            found = json_equals(L, c, 2);
        filter_lib_bill(L, ctx, n / 4, NULL);
        return (int)found;
    }
    if (t == LUA_TTABLE) {
        lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
        filter_lib_bill(L, ctx, n, NULL);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 1, i);
            int eq = lua_rawequal(L, -1, 2);
            lua_pop(L, 1);
            if (eq)
                return 1;
        }
    }
    return 0;
}

static int h_contains(lua_State *L)
{
    lua_pushboolean(L, contains_in(L, ctx_of(L)));
    return 1;
}

/* '*' matches any run of bytes, '?' one byte. Backtracks only to the last '*', so O(len(s)·len(p)). */
static int glob_match(lua_State *L, filter_lib_ctx *ctx, const char *s, size_t ls, const char *p, size_t lp)
{
    size_t si = 0, pi = 0, star = (size_t)-1, mark = 0;
    int64_t steps = 0;
    while (si < ls) {
        if (++steps >= 4096) {
            filter_lib_bill(L, ctx, steps, NULL);
            steps = 0;
        }
        if (pi < lp && (p[pi] == '?' || (p[pi] != '*' && p[pi] == s[si]))) {
            si++;
            pi++;
        } else if (pi < lp && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    filter_lib_bill(L, ctx, steps, NULL);
    while (pi < lp && p[pi] == '*')
        pi++;
    return pi == lp;
}

static int h_glob(lua_State *L)
{
    size_t ls, lp;
    if (lua_type(L, 1) != LUA_TSTRING || lua_type(L, 2) != LUA_TSTRING) {
        lua_pushboolean(L, 0);
        return 1;
    }
    const char *s = lua_tolstring(L, 1, &ls), *p = lua_tolstring(L, 2, &lp);
    lua_pushboolean(L, glob_match(L, ctx_of(L), s, ls, p, lp));
    return 1;
}

static int h_one_of(lua_State *L)
{
    int n = lua_gettop(L);
    for (int i = 2; i <= n; i++)
        if (lua_rawequal(L, 1, i)) {
            lua_pushboolean(L, 1);
            return 1;
        }
    lua_pushboolean(L, 0);
    return 1;
}

static int fold_case(lua_State *L, int up)
{
    if (lua_type(L, 1) != LUA_TSTRING && lua_type(L, 1) != LUA_TNUMBER) {
        lua_pushnil(L);
        return 1;
    }
    size_t n;
    const char *s = lua_tolstring(L, 1, &n);
    filter_lib_bill(L, ctx_of(L), (int64_t)(n / 16), NULL);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (up && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!up && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        out[i] = c;
    }
    luaL_pushresultsize(&b, n);
    return 1;
}

static int h_lower(lua_State *L)
{
    return fold_case(L, 0);
}

static int h_upper(lua_State *L)
{
    return fold_case(L, 1);
}

static int h_num(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TNUMBER) {
        lua_settop(L, 1);
        return 1;
    }
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, 1, &n);
        size_t used = lua_stringtonumber(L, s); /* pushes the number when it succeeds */
        if (used == n + 1)
            return 1;
        if (used)
            lua_pop(L, 1); /* stopped at an embedded NUL */
    }
    lua_pushnil(L);
    return 1;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 18)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int h_path(lua_State *L)
{
    filter_lib_ctx *ctx = ctx_of(L);
    if (lua_type(L, 2) != LUA_TSTRING) {
        lua_pushnil(L);
        return 1;
    }
    size_t lp;
    const char *seg = lua_tolstring(L, 2, &lp), *end = seg + lp;
    lua_settop(L, 2);
    lua_pushvalue(L, 1); /* the current value, always on top */
    for (;;) {
        const char *dot = memchr(seg, '.', (size_t)(end - seg));
        if (!dot)
            dot = end;
        filter_lib_bill(L, ctx, 1, NULL);
        const cJSON *node = proxy_node(L, ctx, -1);
        if (!node && lua_type(L, -1) != LUA_TTABLE) {
            lua_pushnil(L);
            return 1;
        }
        if (all_digits(seg, (size_t)(dot - seg)) && (!node || cJSON_IsArray(node)))
            lua_pushinteger(L, strtoll(seg, NULL, 10));
        else
            lua_pushlstring(L, seg, (size_t)(dot - seg));
        lua_gettable(L, -2);
        lua_remove(L, -2);
        if (dot == end)
            return 1;
        seg = dot + 1;
    }
}

static int h_type(lua_State *L)
{
    luaL_checkany(L, 1);
    if (proxy_node(L, ctx_of(L), 1))
        lua_pushliteral(L, "table");
    else
        lua_pushstring(L, luaL_typename(L, 1));
    return 1;
}

void filter_lib_open_helpers(lua_State *L, int idx, filter_lib_ctx *ctx)
{
    static const luaL_Reg fns[] = {
        {"has", h_has},         {"is_null", h_is_null}, {"startswith", h_startswith},
        {"endswith", h_endswith}, {"contains", h_contains}, {"glob", h_glob},
        {"one_of", h_one_of},   {"lower", h_lower},     {"upper", h_upper},
        {"num", h_num},         {"path", h_path},       {"type", h_type},
        {NULL, NULL}};
    idx = lua_absindex(L, idx);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushlightuserdata(L, ctx);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, idx, f->name);
    }
}
