/* filter_lib — what filters can call: helper functions over event data, billed wrappers around the
 * table library functions whose loops run inside C where the instruction count hook cannot see them
 * (table.move/unpack/sort/insert/remove/concat), and the billing context (filter_lib_ctx) that every
 * library function reaching into C work shares; the string library's bounded replacements are in
 * filter_pattern.
 * Engine: no I/O. Calls: Lua, cJSON, and back into its owner only through filter_lib_ctx.
 *
 * Helpers (global functions; all nil-safe: a wrong or missing argument gives false/nil, never an error):
 *   has(v, key)            true if object v has key (even when its value is null) or array v has index key
 *   is_null(v, key)        true only if v[key] exists and is JSON null (absent gives false)
 *   startswith(s, prefix)  true if string s begins with prefix
 *   endswith(s, suffix)    true if string s ends with suffix
 *   contains(s, x)         substring test for a string; element test for an array or Lua table; key test
 *                          for an object (like Python's "in")
 *   glob(s, pattern)       whole-string match with '*' (any run of bytes) and '?' (one byte); nothing else
 *                          is special
 *   one_of(x, ...)         true if x equals (raw ==) any of the other arguments
 *   lower(s) / upper(s)    ASCII case folding of a string or number; nil for anything else
 *   num(x)                 x if a number; the number a numeric string spells ("12", " 0x1F ", "1e3");
 *                          nil otherwise
 *   path(v, "a.b.1")       dotted lookup through objects, arrays (numeric steps) and tables; nil if any
 *                          step is missing
 *   type(v)                as Lua's, but "table" for event data objects and arrays */
#ifndef SY_FILTER_LIB_H
#define SY_FILTER_LIB_H
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <lua.h>

/* What the library needs from the engine that owns the Lua state. It must outlive the state. */
typedef struct filter_lib_ctx {
    size_t string_bytes; /* largest string a library function may build, in bytes */
    /* Bills units of work done in C (one unit is about one VM instruction) to the running evaluation.
     * Returns 0, or -1 with *why set to a static sentence when the budget or the deadline is exhausted.
     * Never raises. */
    int (*charge)(void *ud, int64_t units, const char **why);
    /* The JSON object or array behind the event-data proxy at idx, or NULL if the value there is not a
     * proxy. Raises a Lua error for a proxy of an event that is no longer presented. */
    const cJSON *(*node_of)(void *ud, lua_State *L, int idx);
    void *ud; /* passed back to charge and node_of */
} filter_lib_ctx;

/* Bills units of C work (one unit is about one VM instruction) to ctx->charge; raises "<what>: <reason>"
 * (what NULL: just the reason) when the evaluation is out of budget or time. units <= 0 bills nothing. */
void filter_lib_bill(lua_State *L, filter_lib_ctx *ctx, int64_t units, const char *what);

/* Wraps move, unpack, sort, insert, remove and concat in the table library table at idx so that their
 * element loops are billed (up front) to ctx->charge. */
void filter_lib_patch_table(lua_State *L, int idx, filter_lib_ctx *ctx);

/* Sets the helper functions listed above into the table at idx (the filters' globals). */
void filter_lib_open_helpers(lua_State *L, int idx, filter_lib_ctx *ctx);

/* The member of JSON object obj whose key is exactly key[0..len) (a key with a NUL never matches), or
 * NULL. If visited is not NULL, *visited is set to the number of members compared (to bill the walk). */
const cJSON *filter_lib_json_field(const cJSON *obj, const char *key, size_t len, size_t *visited);

#endif
