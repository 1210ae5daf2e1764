#include "filter_data.h"

#include <math.h>
#include <string.h>

#include <lauxlib.h>

#define PROXY_MAGIC 0x53594450u
#define FILL_MAX 16   /* members: a small object or array that misses a key is cached whole */
#define SMALL_ARRAY 8 /* arrays up to this index are walked; beyond it they get an index */
#define POOL_MAX 64   /* proxies per event whose metatable and cache are kept for the next event */
#define POOL_CACHE_MAX 32 /* entries: a pooled cache that held more is replaced, not emptied */

/* A read-only view of one JSON object or array. Its metatable's __index is a per-proxy cache table
 * (values already converted, so repeated reads stay inside the VM); a miss there calls proxy_index. */
typedef struct proxy {
    uint32_t magic;       /* PROXY_MAGIC */
    uint64_t gen;         /* event generation the node belongs to; node is dead once it differs */
    const cJSON *node;    /* the object or array (borrowed from the event) */
    lua_Integer size;     /* members, -1 until counted */
    const cJSON **index;  /* array members by position (lives in uservalue 2), NULL until built */
} proxy;

static const cJSON empty_object = {.type = cJSON_Object};
static const char cache_owner_key = 0; /* address used as the cache table's key for its proxy */

static filter_data *data_of(lua_State *L)
{
    return *(filter_data **)lua_getextraspace(L);
}

static void check_live(const filter_data *fd, lua_State *L, const proxy *px)
{
    if (px->gen != fd->gen)
        luaL_error(L, "data from a previous event is no longer available");
}

static proxy *to_proxy(lua_State *L, int idx)
{
    proxy *px = lua_touserdata(L, idx);
    if (!px || lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) != sizeof *px ||
        px->magic != PROXY_MAGIC)
        return NULL;
    return px;
}

static int proxy_index(lua_State *L);
static int proxy_newindex(lua_State *L);
static int proxy_len(lua_State *L);
static int proxy_pairs(lua_State *L);

/* Pushes a proxy's metatable M = {__index = C, __newindex, __len, __pairs, __name} and its empty cache
 * C, whose metatable is the shared cache metatable. */
static void push_new_tables(filter_data *fd, lua_State *L)
{
    lua_createtable(L, 0, 5);
    lua_createtable(L, 0, 4);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fd->cache_mt_ref);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
    lua_pushcfunction(L, proxy_newindex);
    lua_setfield(L, -3, "__newindex");
    lua_pushcfunction(L, proxy_len);
    lua_setfield(L, -3, "__len");
    lua_pushcfunction(L, proxy_pairs);
    lua_setfield(L, -3, "__pairs");
    lua_pushliteral(L, "data");
    lua_setfield(L, -3, "__name");
}

/* Pushes a new proxy for node: userdata P (uservalue 1: cache C) with metatable M (above), and
 * C[&cache_owner_key] = P so that proxy_index finds the node. Building M and C is most of what a proxy
 * costs, so the first POOL_MAX proxies of an event take theirs from the pool (emptied by
 * filter_data_present): the proxies of the previous event are unreachable by then, since nothing a
 * filter writes outlives its evaluation. */
static void push_proxy(filter_data *fd, lua_State *L, const cJSON *node)
{
    proxy *px = lua_newuserdatauv(L, sizeof *px, 2);
    *px = (proxy){PROXY_MAGIC, fd->gen, node, -1, NULL};
    if (fd->pool_used < fd->pool_size) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, fd->pool_ref);
        fd->pool_used++;
        lua_rawgeti(L, -1, 2 * fd->pool_used - 1);
        lua_rawgeti(L, -2, 2 * fd->pool_used);
        lua_remove(L, -3);
    } else {
        push_new_tables(fd, L);
        if (fd->pool_size < POOL_MAX) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, fd->pool_ref);
            lua_pushvalue(L, -3);
            lua_rawseti(L, -2, 2 * fd->pool_size + 1);
            lua_pushvalue(L, -2);
            lua_rawseti(L, -2, 2 * fd->pool_size + 2);
            lua_pop(L, 1);
            fd->pool_used = ++fd->pool_size;
        }
    }
    lua_pushvalue(L, -3);
    lua_rawsetp(L, -2, &cache_owner_key);
    lua_setiuservalue(L, -3, 1);
    lua_setmetatable(L, -2);
}

/* Empties the caches the last event used, so the pool's tables can serve the next one (and the values
 * they held can be collected). A cache that grew big is replaced instead: emptying it again for every
 * event would walk all its slots. Runs protected: making a replacement may run out of memory. */
static void recycle_pool(filter_data *fd, lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, fd->pool_ref);
    int pool = lua_gettop(L);
    for (int i = 1; i <= fd->pool_used; i++) {
        lua_rawgeti(L, pool, 2 * i);
        int cache = lua_gettop(L), n = 0;
        lua_pushnil(L);
        while (lua_next(L, cache)) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, cache);
            n++;
        }
        if (n > POOL_CACHE_MAX) {
            push_new_tables(fd, L);
            lua_rawseti(L, pool, 2 * i);
            lua_rawseti(L, pool, 2 * i - 1);
        } else {
            lua_rawgeti(L, LUA_REGISTRYINDEX, fd->cache_mt_ref); /* fill_cache may have taken it away */
            lua_setmetatable(L, cache);
        }
        lua_settop(L, pool);
    }
    lua_pop(L, 1);
    fd->pool_used = 0;
}

/* JSON numbers arrive as doubles (cJSON keeps no text), so integers beyond 2^53 have already lost
 * precision; an integral value within int64 becomes a Lua integer, anything else a float. */
static void push_number(lua_State *L, double d)
{
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == floor(d))
        lua_pushinteger(L, (lua_Integer)d);
    else
        lua_pushnumber(L, d);
}

static void push_json(filter_data *fd, lua_State *L, const cJSON *c)
{
    switch (c->type & 0xFF) {
    case cJSON_String: lua_pushstring(L, c->valuestring ? c->valuestring : ""); break;
    case cJSON_Number: push_number(L, c->valuedouble); break;
    case cJSON_True: lua_pushboolean(L, 1); break;
    case cJSON_False: lua_pushboolean(L, 0); break;
    case cJSON_Object:
    case cJSON_Array: push_proxy(fd, L, c); break;
    default: lua_pushnil(L); /* null (and raw/invalid) */
    }
}

static lua_Integer member_count(filter_data *fd, lua_State *L, proxy *px)
{
    if (px->size < 0) {
        lua_Integer n = 0;
        for (const cJSON *c = px->node->child; c; c = c->next)
            n++;
        filter_lib_bill(L, fd->lib, n / 8, NULL);
        px->size = n;
    }
    return px->size;
}

/* Member i (1-based) of the array proxy px at stack index pidx. */
static const cJSON *array_at(filter_data *fd, lua_State *L, proxy *px, int pidx, lua_Integer i)
{
    if (!px->index && i <= SMALL_ARRAY) {
        const cJSON *c = px->node->child;
        while (c && --i > 0)
            c = c->next;
        return c;
    }
    if (!px->index) {
        lua_Integer n = member_count(fd, L, px);
        if (n == 0)
            return NULL;
        const cJSON **index = lua_newuserdatauv(L, (size_t)n * sizeof *index, 0);
        lua_Integer k = 0;
        for (const cJSON *c = px->node->child; c && k < n; c = c->next)
            index[k++] = c;
        lua_setiuservalue(L, pidx, 2);
        px->index = index;
    }
    return i <= px->size ? px->index[i - 1] : NULL;
}

/* The member of px (at pidx) named by the key at kidx, or NULL. */
static const cJSON *member_of(filter_data *fd, lua_State *L, proxy *px, int pidx, int kidx)
{
    if (cJSON_IsObject(px->node)) {
        if (lua_type(L, kidx) != LUA_TSTRING)
            return NULL;
        size_t kl, walked;
        const char *k = lua_tolstring(L, kidx, &kl);
        const cJSON *c = filter_lib_json_field(px->node, k, kl, &walked);
        filter_lib_bill(L, fd->lib, (int64_t)(walked / 16), NULL);
        return c;
    }
    int isint = 0;
    lua_Integer i = lua_type(L, kidx) == LUA_TNUMBER ? lua_tointegerx(L, kidx, &isint) : 0;
    if (i < 1 || !isint)
        return NULL;
    return array_at(fd, L, px, pidx, i);
}

/* Converts every member of small proxy px (at most FILL_MAX) into its cache at cidx and takes the
 * cache's metatable away: from then on a missing key is a plain table miss inside the VM, not a C call.
 * Members already cached stay as they are, so proxies keep their identity. */
static void fill_cache(filter_data *fd, lua_State *L, proxy *px, int cidx)
{
    int is_object = cJSON_IsObject(px->node);
    lua_Integer pos = 0;
    for (const cJSON *c = px->node->child; c; c = c->next) {
        pos++;
        if (is_object) {
            /* with duplicate keys the first one is the member, as for lookups */
            const char *k = c->string ? c->string : "";
            if (filter_lib_json_field(px->node, k, strlen(k), NULL) != c)
                continue;
            lua_pushstring(L, k);
        } else {
            lua_pushinteger(L, pos);
        }
        lua_pushvalue(L, -1);
        if (lua_rawget(L, cidx) != LUA_TNIL) {
            lua_pop(L, 2);
            continue;
        }
        lua_pop(L, 1);
        push_json(fd, L, c);
        lua_rawset(L, cidx); /* a nil (null) value stores nothing */
    }
    lua_pushnil(L);
    lua_setmetatable(L, cidx);
}

/* __index of a cache table (cache, key): converts the member, remembers it, returns it. */
static int proxy_index(lua_State *L)
{
    filter_data *fd = data_of(L);
    lua_settop(L, 2);
    lua_rawgetp(L, 1, &cache_owner_key);
    proxy *px = to_proxy(L, 3);
    if (!px)
        return 0;
    check_live(fd, L, px);
    const cJSON *c = member_of(fd, L, px, 3, 2);
    if (!c) {
        if (member_count(fd, L, px) <= FILL_MAX)
            fill_cache(fd, L, px, 1);
        return 0;
    }
    push_json(fd, L, c);
    if (!lua_isnil(L, -1)) {
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 1);
    }
    return 1;
}

static int proxy_newindex(lua_State *L)
{
    return luaL_error(L, "data is read-only");
}

static int proxy_len(lua_State *L)
{
    filter_data *fd = data_of(L);
    proxy *px = to_proxy(L, 1);
    if (!px)
        return 0;
    check_live(fd, L, px);
    lua_pushinteger(L, member_count(fd, L, px));
    return 1;
}

/* Iterator of pairs(proxy). Upvalues: the proxy, the last member visited (light userdata), its position. */
static int proxy_next(lua_State *L)
{
    filter_data *fd = data_of(L);
    proxy *px = to_proxy(L, lua_upvalueindex(1));
    if (!px)
        return 0;
    check_live(fd, L, px);
    const cJSON *last = lua_touserdata(L, lua_upvalueindex(2));
    lua_Integer pos = lua_tointeger(L, lua_upvalueindex(3));
    const cJSON *c = last ? last->next : pos == 0 ? px->node->child : NULL;
    if (!c) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushlightuserdata(L, (void *)c);
    lua_replace(L, lua_upvalueindex(2));
    lua_pushinteger(L, ++pos);
    lua_replace(L, lua_upvalueindex(3));
    if (cJSON_IsObject(px->node))
        lua_pushstring(L, c->string ? c->string : "");
    else
        lua_pushinteger(L, pos);
    /* the value goes through the cache so that pairs and indexing give the same proxies */
    lua_getiuservalue(L, lua_upvalueindex(1), 1);
    lua_pushvalue(L, -2);
    if (lua_rawget(L, -2) == LUA_TNIL) {
        lua_pop(L, 1);
        push_json(fd, L, c);
        if (!lua_isnil(L, -1)) {
            lua_pushvalue(L, -3);
            lua_pushvalue(L, -2);
            lua_rawset(L, -4);
        }
    }
    lua_remove(L, -2);
    return 2;
}

static int proxy_pairs(lua_State *L)
{
    proxy *px = to_proxy(L, 1);
    if (!px)
        return 0;
    check_live(data_of(L), L, px);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, NULL);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, proxy_next, 3);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int build_root(lua_State *L)
{
    filter_data *fd = lua_touserdata(L, 1);
    recycle_pool(fd, L);
    push_proxy(fd, L, fd->event);
    lua_rawseti(L, LUA_REGISTRYINDEX, fd->root_ref);
    return 0;
}

void filter_data_open(lua_State *L, filter_data *fd, filter_lib_ctx *lib)
{
    fd->gen = 1;
    fd->event = &empty_object;
    fd->lib = lib;
    *(filter_data **)lua_getextraspace(L) = fd;
    lua_newtable(L);
    lua_pushcfunction(L, proxy_index);
    lua_setfield(L, -2, "__index");
    fd->cache_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushboolean(L, 0);
    fd->root_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_createtable(L, 2 * POOL_MAX, 0);
    fd->pool_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    fd->pool_used = fd->pool_size = 0;
}

int filter_data_present(lua_State *L, filter_data *fd, const cJSON *data)
{
    int top = lua_gettop(L);
    fd->gen++;
    fd->event = (cJSON_IsObject(data) || cJSON_IsArray(data)) ? data : &empty_object;
    lua_pushcfunction(L, build_root);
    lua_pushlightuserdata(L, fd);
    int st = lua_pcall(L, 1, 0, 0);
    lua_settop(L, top);
    return st == LUA_OK ? 0 : -1;
}

const cJSON *filter_data_node(const filter_data *fd, lua_State *L, int idx)
{
    proxy *px = to_proxy(L, idx);
    if (!px)
        return NULL;
    check_live(fd, L, px);
    return px->node;
}
