#include "filter_pattern.h"

#include <ctype.h>
#include <string.h>

#include <lauxlib.h>

#define PAT_MAXCAPTURES 32  /* captures per pattern, as in Lua */
#define PAT_MAXDEPTH 200    /* nested pattern items being tried at once (matcher recursion) */
#define PAT_BILL_EVERY 1024 /* matcher steps between calls to ctx->charge */
#define CAP_OPEN (-1)       /* length of a capture that is still open */
#define CAP_POSITION (-2)   /* length of a position capture "()" */
#define PAT_MAGIC "^$*+?.([%-"

/* Every function here has the filter_lib_ctx as its first upvalue. */
static filter_lib_ctx *ctx_of(lua_State *L)
{
    return lua_touserdata(L, lua_upvalueindex(1));
}

typedef struct matcher {
    lua_State *L;
    filter_lib_ctx *ctx;
    const char *s0;    /* first byte of the subject */
    const char *s_end; /* one past the subject's last byte */
    const char *p_end; /* one past the pattern's last byte */
    int depth;         /* pattern items being tried at once */
    int ncap;          /* captures opened so far */
    int64_t steps;     /* steps taken and not yet billed */
    struct {
        const char *at; /* where the capture starts in the subject */
        ptrdiff_t len;  /* its length in bytes, or CAP_OPEN / CAP_POSITION */
    } cap[PAT_MAXCAPTURES];
} matcher;

static void step(matcher *m)
{
    if (++m->steps >= PAT_BILL_EVERY) {
        m->steps = 0;
        filter_lib_bill(m->L, m->ctx, PAT_BILL_EVERY, "pattern too complex");
    }
}

static void settle(matcher *m)
{
    filter_lib_bill(m->L, m->ctx, m->steps, "pattern too complex");
    m->steps = 0;
}

static void matcher_init(matcher *m, lua_State *L, filter_lib_ctx *ctx, const char *s, size_t ls,
                         const char *p, size_t lp)
{
    m->L = L;
    m->ctx = ctx;
    m->s0 = s;
    m->s_end = s + ls;
    m->p_end = p + lp;
    m->depth = 0;
    m->ncap = 0;
    m->steps = 0;
}

/* Does byte c belong to class letter cl (as in %a, %D)? A non-letter cl stands for itself. */
static int class_match(int c, int cl)
{
    int in;
    switch (tolower(cl)) {
    case 'a': in = isalpha(c); break;
    case 'c': in = iscntrl(c); break;
    case 'd': in = isdigit(c); break;
    case 'g': in = isgraph(c); break;
    case 'l': in = islower(c); break;
    case 'p': in = ispunct(c); break;
    case 's': in = isspace(c); break;
    case 'u': in = isupper(c); break;
    case 'w': in = isalnum(c); break;
    case 'x': in = isxdigit(c); break;
    case 'z': in = c == 0; break; /* deprecated in 5.2, still accepted by Lua 5.4 */
    default: return cl == c;
    }
    return isupper(cl) ? !in : in != 0;
}

/* p is at '[' and close at the set's closing ']'. */
static int set_match(int c, const char *p, const char *close)
{
    int member = 1;
    p++;
    if (*p == '^') {
        member = 0;
        p++;
    }
    while (p < close) {
        if (*p == '%' && p + 1 < close) {
            if (class_match(c, (unsigned char)p[1]))
                return member;
            p += 2;
        } else if (p + 2 < close && p[1] == '-') {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
                return member;
            p += 3;
        } else {
            if ((unsigned char)*p == c)
                return member;
            p++;
        }
    }
    return !member;
}

/* One past the single-character class that starts at p. */
static const char *item_end(matcher *m, const char *p)
{
    char c = *p++;
    if (c == '%') {
        if (p >= m->p_end)
            luaL_error(m->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (p < m->p_end && *p == '^')
            p++;
        do { /* the first member is taken literally, even ']' */
            if (p >= m->p_end)
                luaL_error(m->L, "malformed pattern (missing ']')");
            c = *p++;
            if (c == '%' && p < m->p_end)
                p++;
        } while (p >= m->p_end || *p != ']');
        return p + 1;
    }
    return p;
}

static int single_match(matcher *m, const char *s, const char *p, const char *ep)
{
    if (s >= m->s_end)
        return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case '%': return class_match(c, (unsigned char)p[1]);
    case '[': return set_match(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

static const char *match_here(matcher *m, const char *s, const char *p);

/* Matches the rest of the pattern from p one level deeper; NULL if it does not match. */
static const char *try_rest(matcher *m, const char *s, const char *p)
{
    if (++m->depth > PAT_MAXDEPTH)
        luaL_error(m->L, "pattern too complex");
    const char *e = match_here(m, s, p);
    m->depth--;
    return e;
}

static const char *expand_longest(matcher *m, const char *s, const char *p, const char *ep)
{
    size_t n = 0;
    while (single_match(m, s + n, p, ep)) {
        n++;
        step(m);
    }
    for (;; n--) {
        const char *e = try_rest(m, s + n, ep + 1);
        if (e || n == 0)
            return e;
    }
}

static const char *expand_shortest(matcher *m, const char *s, const char *p, const char *ep)
{
    for (;; s++) {
        const char *e = try_rest(m, s, ep + 1);
        if (e || !single_match(m, s, p, ep))
            return e;
    }
}

static const char *open_capture(matcher *m, const char *s, const char *p, ptrdiff_t what)
{
    if (m->ncap >= PAT_MAXCAPTURES)
        luaL_error(m->L, "too many captures");
    m->cap[m->ncap].at = s;
    m->cap[m->ncap].len = what;
    m->ncap++;
    const char *e = try_rest(m, s, p);
    if (!e)
        m->ncap--;
    return e;
}

static const char *close_capture(matcher *m, const char *s, const char *p)
{
    int i = m->ncap - 1;
    while (i >= 0 && m->cap[i].len != CAP_OPEN)
        i--;
    if (i < 0)
        luaL_error(m->L, "invalid pattern capture");
    m->cap[i].len = s - m->cap[i].at;
    const char *e = try_rest(m, s, p);
    if (!e)
        m->cap[i].len = CAP_OPEN;
    return e;
}

/* %bxy at p (p points at x). */
static const char *match_balance(matcher *m, const char *s, const char *p)
{
    if (p + 1 >= m->p_end)
        luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m->s_end || *s != p[0])
        return NULL;
    int open = 1;
    for (const char *q = s + 1; q < m->s_end; q++) {
        step(m);
        if (*q == p[1]) {
            if (--open == 0)
                return q + 1;
        } else if (*q == p[0]) {
            open++;
        }
    }
    return NULL;
}

static const char *match_backref(matcher *m, const char *s, int digit)
{
    int i = digit - '1';
    if (i < 0 || i >= m->ncap || m->cap[i].len == CAP_OPEN)
        luaL_error(m->L, "invalid capture index %%%d", i + 1);
    if (m->cap[i].len < 0) /* a position capture is no text to repeat */
        return NULL;
    size_t n = (size_t)m->cap[i].len;
    m->steps += (int64_t)(n / 64);
    if ((size_t)(m->s_end - s) >= n && memcmp(m->cap[i].at, s, n) == 0)
        return s + n;
    return NULL;
}

/* Matches pattern [p, p_end) at s; returns the end of the match or NULL. Single items are consumed in
 * this loop; quantifiers and captures try the rest of the pattern recursively, to backtrack. */
static const char *match_here(matcher *m, const char *s, const char *p)
{
    for (;;) {
        step(m);
        if (p == m->p_end)
            return s;
        switch (*p) {
        case '(':
            if (p + 1 < m->p_end && p[1] == ')')
                return open_capture(m, s, p + 2, CAP_POSITION);
            return open_capture(m, s, p + 1, CAP_OPEN);
        case ')':
            return close_capture(m, s, p + 1);
        case '$':
            if (p + 1 == m->p_end)
                return s == m->s_end ? s : NULL;
            break;
        case '%':
            if (p + 1 == m->p_end)
                break; /* item_end reports it */
            if (p[1] == 'b') {
                if (!(s = match_balance(m, s, p + 2)))
                    return NULL;
                p += 4;
                continue;
            }
            if (p[1] == 'f') {
                const char *set = p + 2;
                if (set >= m->p_end || *set != '[')
                    luaL_error(m->L, "missing '[' after '%%f' in pattern");
                const char *ep = item_end(m, set);
                int before = s == m->s0 ? 0 : (unsigned char)s[-1];
                int here = s < m->s_end ? (unsigned char)*s : 0;
                if (set_match(before, set, ep - 1) || !set_match(here, set, ep - 1))
                    return NULL;
                p = ep;
                continue;
            }
            if (isdigit((unsigned char)p[1])) {
                if (!(s = match_backref(m, s, p[1])))
                    return NULL;
                p += 2;
                continue;
            }
            break;
        }
        const char *ep = item_end(m, p);
        int ok = single_match(m, s, p, ep);
        char q = ep < m->p_end ? *ep : '\0';
        if (q == '?') {
            if (ok) {
                const char *e = try_rest(m, s + 1, ep + 1);
                if (e)
                    return e;
            }
            p = ep + 1;
        } else if (q == '+') {
            return ok ? expand_longest(m, s + 1, p, ep) : NULL;
        } else if (q == '*') {
            return expand_longest(m, s, p, ep);
        } else if (q == '-') {
            return expand_shortest(m, s, p, ep);
        } else {
            if (!ok)
                return NULL;
            s++;
            p = ep;
        }
    }
}

/* Pushes capture i of the match [s, e); with no captures, capture 0 is the whole match. */
static void push_capture(matcher *m, int i, const char *s, const char *e)
{
    if (i >= m->ncap) {
        if (i != 0)
            luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t len = m->cap[i].len;
    if (len == CAP_OPEN)
        luaL_error(m->L, "unfinished capture");
    if (len == CAP_POSITION)
        lua_pushinteger(m->L, (m->cap[i].at - m->s0) + 1);
    else
        lua_pushlstring(m->L, m->cap[i].at, (size_t)len);
}

/* Pushes all captures (or the whole match when there are none and s is given); returns how many. */
static int push_captures(matcher *m, const char *s, const char *e)
{
    int n = (m->ncap == 0 && s) ? 1 : m->ncap;
    luaL_checkstack(m->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        push_capture(m, i, s, e);
    return n;
}

/* A 1-based start position from a possibly negative one; may exceed len + 1. */
static size_t start_at(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len - (size_t)(-pos) + 1;
}

static int has_magic(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (p[i] && strchr(PAT_MAGIC, p[i]))
            return 1;
    return 0;
}

static int find_or_match(lua_State *L, int find)
{
    filter_lib_ctx *ctx = ctx_of(L);
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_at(luaL_optinteger(L, 3, 1), ls);
    if (init > ls + 1) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_magic(p, lp))) {
        filter_lib_bill(L, ctx, (int64_t)((ls + 1 - init) / 16 + 1), NULL);
        const char *hit = memmem(s + init - 1, ls - init + 1, p, lp);
        if (!hit) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, hit - s + 1);
        lua_pushinteger(L, (lua_Integer)(hit - s + lp));
        return 2;
    }
    int anchored = lp > 0 && *p == '^';
    if (anchored) {
        p++;
        lp--;
    }
    matcher m;
    matcher_init(&m, L, ctx, s, ls, p, lp);
    for (size_t off = init - 1;; off++) {
        const char *at = s + off;
        m.ncap = 0;
        m.depth = 0;
        const char *e = try_rest(&m, at, p);
        if (e) {
            settle(&m);
            if (!find)
                return push_captures(&m, at, e);
            lua_pushinteger(L, (lua_Integer)off + 1);
            lua_pushinteger(L, e - s);
            return push_captures(&m, NULL, NULL) + 2;
        }
        if (anchored || off == ls)
            break;
    }
    settle(&m);
    luaL_pushfail(L);
    return 1;
}

static int str_find(lua_State *L)
{
    return find_or_match(L, 1);
}

static int str_match(lua_State *L)
{
    return find_or_match(L, 0);
}

/* Upvalues: ctx, subject, pattern, offset where the search resumes, offset of the last match's end (-1). */
static int gmatch_next(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(2), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(3), &lp);
    lua_Integer from = lua_tointeger(L, lua_upvalueindex(4));
    lua_Integer last = lua_tointeger(L, lua_upvalueindex(5));
    matcher m;
    matcher_init(&m, L, ctx_of(L), s, ls, p, lp);
    for (size_t off = (size_t)from; off <= ls; off++) {
        const char *at = s + off;
        m.ncap = 0;
        m.depth = 0;
        const char *e = try_rest(&m, at, p);
        if (e && e - s != last) {
            settle(&m);
            lua_pushinteger(L, e - s);
            lua_pushvalue(L, -1);
            lua_replace(L, lua_upvalueindex(4));
            lua_replace(L, lua_upvalueindex(5));
            return push_captures(&m, at, e);
        }
    }
    settle(&m);
    lua_pushinteger(L, (lua_Integer)ls + 1);
    lua_replace(L, lua_upvalueindex(4));
    return 0;
}

static int str_gmatch(lua_State *L)
{
    size_t ls;
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = start_at(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls)
        init = ls + 1;
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_pushinteger(L, (lua_Integer)init);
    lua_pushinteger(L, -1);
    lua_pushcclosure(L, gmatch_next, 5);
    return 1;
}

/* Appends the replacement template (argument 3) for the match [s, e). */
static void add_template(matcher *m, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = m->L;
    size_t lt;
    const char *t = lua_tolstring(L, 3, &lt), *end = t + lt;
    m->steps += (int64_t)(lt / 16);
    while (t < end) {
        const char *pct = memchr(t, '%', (size_t)(end - t));
        if (!pct) {
            luaL_addlstring(b, t, (size_t)(end - t));
            return;
        }
        luaL_addlstring(b, t, (size_t)(pct - t));
        t = pct + 1;
        if (t < end && *t == '%') {
            luaL_addchar(b, '%');
        } else if (t < end && *t == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (t < end && isdigit((unsigned char)*t)) {
            push_capture(m, *t - '1', s, e);
            luaL_tolstring(L, -1, NULL);
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%%' in replacement string");
        }
        t++;
    }
}

static void add_replacement(matcher *m, luaL_Buffer *b, const char *s, const char *e, int kind)
{
    lua_State *L = m->L;
    if (kind == LUA_TSTRING || kind == LUA_TNUMBER) {
        add_template(m, b, s, e);
        return;
    }
    if (kind == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = push_captures(m, s, e);
        lua_call(L, n, 1);
    } else {
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    }
    if (!lua_toboolean(L, -1)) { /* nil or false keeps the original text */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    } else {
        luaL_addvalue(b);
    }
}

static int str_gsub(lua_State *L)
{
    filter_lib_ctx *ctx = ctx_of(L);
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int kind = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L,
                     kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION ||
                         kind == LUA_TTABLE,
                     3, "string/function/table");
    int anchored = lp > 0 && *p == '^';
    if (anchored) {
        p++;
        lp--;
    }
    matcher m;
    matcher_init(&m, L, ctx, s, ls, p, lp);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *src = s, *last = NULL;
    lua_Integer n = 0;
    while (n < max) {
        m.ncap = 0;
        m.depth = 0;
        const char *e = try_rest(&m, src, p);
        if (e && e != last) {
            n++;
            add_replacement(&m, &b, src, e, kind);
            src = last = e;
        } else if (src < m.s_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (luaL_bufflen(&b) > ctx->string_bytes)
            luaL_error(L, "string.gsub result too large (limit %I bytes)", (lua_Integer)ctx->string_bytes);
        if (anchored)
            break;
    }
    luaL_addlstring(&b, src, (size_t)(m.s_end - src));
    if (luaL_bufflen(&b) > ctx->string_bytes)
        luaL_error(L, "string.gsub result too large (limit %I bytes)", (lua_Integer)ctx->string_bytes);
    settle(&m);
    luaL_pushresult(&b);
    lua_pushinteger(L, n);
    return 2;
}

static int str_rep(lua_State *L)
{
    filter_lib_ctx *ctx = ctx_of(L);
    size_t l, lsep;
    const char *s = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    /* total = n * l + (n - 1) * lsep <= limit  <=>  n <= (limit + lsep) / (l + lsep) */
    if ((uint64_t)n > (ctx->string_bytes + lsep) / (l + lsep))
        return luaL_error(L, "string.rep result too large (limit %I bytes)", (lua_Integer)ctx->string_bytes);
    size_t total = (size_t)n * (l + lsep) - lsep;
    filter_lib_bill(L, ctx, (int64_t)(total / 16 + 1), NULL);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, total);
    /* lay down one "s sep", then double what is written: O(log n) memcpy calls, not n */
    size_t unit = l + lsep, done = l;
    memcpy(out, s, l);
    if (n > 1) {
        memcpy(out + l, sep, lsep);
        done = unit;
        while (done < total) {
            size_t chunk = done <= total - done ? done : total - done;
            memcpy(out + done, out, chunk);
            done += chunk;
        }
    }
    luaL_pushresultsize(&b, total);
    return 1;
}

void filter_pattern_patch_string(lua_State *L, int idx, filter_lib_ctx *ctx)
{
    static const luaL_Reg fns[] = {{"find", str_find},   {"match", str_match}, {"gmatch", str_gmatch},
                                   {"gsub", str_gsub},   {"rep", str_rep},     {NULL, NULL}};
    idx = lua_absindex(L, idx);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushlightuserdata(L, ctx);
        lua_pushcclosure(L, f->func, 1);
        lua_setfield(L, idx, f->name);
    }
    lua_pushnil(L);
    lua_setfield(L, idx, "dump");
}
