/* filter_data — presents an event's JSON data to filters as read-only, lazily converted Lua values.
 * Engine: no I/O. Calls: filter_lib (filter_lib_json_field, filter_lib_bill), cJSON, Lua. Used by
 * filter, which owns the Lua state.
 *
 * An object or array is a proxy: a userdata whose metatable's __index is a per-proxy cache table, so
 * a member read once is read again without leaving the VM; a miss calls into C, which converts that one
 * member (strings, numbers and booleans become Lua values, objects and arrays new proxies) and caches it.
 * A small object or array (16 members or fewer) that misses a key is converted whole and its cache loses
 * its metatable, so later misses are plain table misses too. Arrays past index 8 get a position index.
 * __len counts members, __pairs visits them in JSON order, any write raises "data is read-only".
 * Walks over members are billed to the running evaluation through filter_lib_ctx.charge.
 *
 * Every presentation bumps a generation number; a proxy kept from an older event (in a cache, an
 * upvalue or a table a filter built) raises "data from a previous event is no longer available" when
 * read, so no filter can reach a cJSON tree that its owner may already have freed.
 *
 * Building a proxy's metatable and cache is most of what presenting costs, so those of the first 64
 * proxies of an event are kept in a pool, emptied when the next event is presented, and reused: the
 * proxies they served are unreachable by then (nothing a filter writes outlives its evaluation).
 *
 * The module keeps its context in the Lua state's extra space (lua_getextraspace): one filter_data per
 * state, opened once. */
#ifndef SY_FILTER_DATA_H
#define SY_FILTER_DATA_H
#include <stdint.h>

#include <cjson/cJSON.h>
#include <lua.h>

#include "filter_lib.h"

typedef struct filter_data {
    uint64_t gen;         /* generation of the presented event, bumped by every filter_data_present */
    const cJSON *event;   /* the presented object or array (borrowed from the caller) */
    int cache_mt_ref;     /* registry ref: metatable of proxy caches ({__index = the C lookup}) */
    int root_ref;         /* registry ref: the proxy of the presented event */
    int pool_ref;         /* registry ref: {M1, C1, M2, C2, ...}, metatables and caches for reuse */
    int pool_size;        /* (metatable, cache) pairs in the pool */
    int pool_used;        /* pairs handed to proxies of the presented event */
    filter_lib_ctx *lib;  /* where member walks are billed (lib->charge); outlives the state */
} filter_data;

/* Makes fd the data context of L and creates the proxies' shared metatable in it; presents an empty
 * object. fd and lib must outlive L. Raises a Lua error when out of memory: call it protected. */
void filter_data_open(lua_State *L, filter_data *fd, filter_lib_ctx *lib);

/* Presents data (a JSON object or array; NULL or a scalar presents an empty object), borrowed until the
 * next call; proxies of the previous event stop working. Returns 0, or -1 if the Lua state ran out of
 * memory making the root proxy (the root then still is the previous event's, which refuses to be read).
 * Leaves the stack as it found it. */
int filter_data_present(lua_State *L, filter_data *fd, const cJSON *data);

/* Pushes the proxy of the presented event. */
static inline void filter_data_push_root(lua_State *L, const filter_data *fd)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, fd->root_ref);
}

/* The JSON object or array behind the proxy at idx, or NULL if the value there is not a proxy. Raises a
 * Lua error for a proxy of an event that is no longer presented. */
const cJSON *filter_data_node(const filter_data *fd, lua_State *L, int idx);

#endif
