/* filter — subscriber filters: Lua 5.4 expressions over an event's data, run in a sandbox.
 * Engine: no I/O (reads the monotonic clock for the deadline). Calls: filter_data, filter_pattern,
 * filter_lib, buf, cJSON, Lua.
 *
 * One filter_engine is one Lua state; it is not thread-safe: give each thread its own (filter_check
 * and filter_test make their own and may be called from any thread). A filter is compiled once
 * (filter_compile) and evaluated many times against the event presented with filter_set_event. The
 * event is presented lazily: Lua sees read-only proxies over the cJSON tree, and only the fields a
 * filter touches are converted (and cached until the next event).
 *
 * Language. A filter is an expression ("return <src>"), or, if that does not compile and the text
 * contains the word return, a chunk ("local b = data.body; return b.total > 100"); a chunk without
 * return is refused (it could only ever be false). Either way it becomes the body of a function whose
 * one parameter is `data`; no filter text runs at compile time. `True`, `False` and `None` (nil) exist
 * so switch's Python expressions work verbatim, and Python's `!=` is rewritten to Lua's `~=` before
 * compiling, wherever it stands outside string literals and comments (`!` means nothing else in Lua;
 * same length, so error positions are unchanged). The result counts by Lua truthiness: nil and false
 * do not match, anything else (0 and "" included) matches. Compile errors carry Lua's position:
 * "filter:1: unexpected symbol near '>'".
 *
 * Data. Objects and arrays are read-only proxies: type() says "table", # counts members, pairs visits
 * members in JSON order (nulls as nil), ipairs stops at the first null, arrays are 1-based, any write
 * raises "data is read-only". Strings and booleans are Lua values; a number is an integer when it is
 * integral and fits int64, else a float (cJSON keeps only a double: integers past 2^53 arrive rounded,
 * and 1.0 reads as 1). A missing key and JSON null both read as nil; has() and is_null() tell them
 * apart. Indexing nil, a boolean or a number gives nil, so data.body.a.b never raises.
 *
 * Sandbox. Base (assert error ipairs next pairs select tonumber tostring type _VERSION), string (no
 * dump; find/match/gmatch/gsub/rep bounded), table (loops billed), math (no randomseed: one filter must
 * not steer another's math.random), utf8, and the filter_lib helpers. No io, os, debug, package,
 * require, load*, dofile, pcall/xpcall, coroutine, get/setmetatable, raw*, collectgarbage, print; text
 * chunks only. Globals, library tables (also as reached through ("").upper) and data are read-only, and
 * _ENV is constant: nothing a filter does is visible to the next filter or the next event.
 *
 * Limits. A count hook checks the instruction budget and the deadline every 1000 instructions (every 16
 * once an evaluation allocates an object of 16 KiB or more: a long string makes one instruction
 * expensive). C functions bill their loops to the same budget and read the clock as they go; so does
 * allocation, every 256 KiB. The clock starts at an evaluation's first check, within its first 1000
 * instructions, so filter_eval's fast path never reads it. A filter that cannot loop (at most 256 bytes,
 * without the words while, for, repeat, goto or function anywhere) runs fewer than 1000 instructions, so
 * the hook would fire at most once in it: it runs without one, saving the cost a Lua hook adds to every
 * instruction, and its C work and allocation are billed, clocked and capped all the same. The memory cap covers the whole state,
 * compiled filters included, and no single object an evaluation allocates may exceed 4 × string_bytes.
 * A filter cannot catch any of these errors (no pcall, no coroutines). */
#ifndef SY_FILTER_H
#define SY_FILTER_H
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct filter_limits {
    int64_t deadline_ns;   /* wall-clock limit of one evaluation, in ns (default 5 ms) */
    int64_t instructions;  /* Lua VM instructions allowed per evaluation (default 1,000,000) */
    size_t memory_bytes;   /* cap on the Lua state's total allocation, in bytes (default 32 MiB) */
    size_t string_bytes;   /* largest string a library function may build, in bytes (default 1 MiB);
                            * no single object an evaluation allocates may exceed 4 times this */
} filter_limits;

/* Fills *lim with the defaults above. A zero (or negative) field given to filter_new means its default. */
void filter_limits_default(filter_limits *lim);

typedef struct filter_engine filter_engine;

/* Returns a new engine (lim NULL: defaults), or NULL with the reason in err. Free with filter_free. */
filter_engine *filter_new(const filter_limits *lim, char *err, size_t errlen);
void filter_free(filter_engine *fe);

/* Compiles src (an expression, or a chunk containing "return"). Returns a handle > 0, 0 for an empty
 * (all-whitespace) filter which always matches, or -1 with the Lua message and position in err.
 * Release handles with filter_release (releasing 0, -1 or an unknown handle is a no-op). */
int filter_compile(filter_engine *fe, const char *src, size_t len, char *err, size_t errlen);
void filter_release(filter_engine *fe, int handle);

/* Presents data (a JSON object or array; NULL or a scalar presents an empty object) to the following
 * evaluations. data is borrowed: it must stay alive and unchanged until filter_clear_event or the next
 * filter_set_event. Cheap: it makes one root proxy; proxies of older events refuse to be read. */
void filter_set_event(filter_engine *fe, const cJSON *data);
void filter_clear_event(filter_engine *fe);

/* Runs the filter against the presented event. Returns 1 (match: result is Lua-truthy), 0 (no match)
 * or -1 (error, out of instructions/time/memory) with the reason in err, e.g. "filter exceeded its
 * instruction budget (1000000 instructions)", "filter exceeded its deadline (5 ms)", "filter exceeded
 * its memory limit (32 MiB)", "filter:1: attempt to compare nil with number". An error leaves the
 * engine usable. handle 0 returns 1. Once the fields a filter reads have been converted for this
 * event (by any filter), an evaluation allocates nothing unless the filter itself does. */
int filter_eval(filter_engine *fe, int handle, char *err, size_t errlen);

/* Bytes currently allocated by the engine's Lua state (what the memory cap is compared with). */
size_t filter_memory_used(const filter_engine *fe);

/* Compiles src in a scratch engine to validate it (costs a Lua state: tens of µs). Returns 0, or -1
 * with the message in err. */
int filter_check(const char *src, char *err, size_t errlen);

/* Evaluates src once against data in a scratch engine with lim (NULL: defaults): the dry-run API.
 * Returns 1, 0 or -1 as filter_eval. */
int filter_test(const char *src, const cJSON *data, const filter_limits *lim, char *err, size_t errlen);

#endif
