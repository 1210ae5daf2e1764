/* filter — subscriber filters: Lua 5.4 expressions over an event's data, run in a sandbox.
 * Engine: no I/O (reads the monotonic clock for the deadline). Calls: filter_lib, cJSON, Lua.
 *
 * One filter_engine is one Lua state; it is not thread-safe: give each thread its own.
 * A filter is compiled once (filter_compile) and evaluated many times against the event presented
 * with filter_set_event. The event is presented lazily: Lua sees read-only proxies over the cJSON
 * tree, and only the fields a filter touches are converted.
 *
 * Sandbox: base (safe parts), string (no dump; pattern functions bounded), table, math, utf8; text
 * chunks only; globals read-only; indexing nil gives nil; True/False/None defined; an instruction
 * budget, a wall-clock deadline and a memory cap per evaluation/state. */
#ifndef SY_FILTER_H
#define SY_FILTER_H
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct filter_limits {
    int64_t deadline_ns;   /* wall-clock limit of one evaluation, in ns (default 5 ms) */
    int64_t instructions;  /* Lua VM instructions allowed per evaluation (default 1,000,000) */
    size_t memory_bytes;   /* cap on the Lua state's total allocation, in bytes (default 32 MiB) */
    size_t string_bytes;   /* largest string a library function may build, in bytes (default 1 MiB) */
} filter_limits;

/* Fills *lim with the defaults above. */
void filter_limits_default(filter_limits *lim);

typedef struct filter_engine filter_engine;

/* Returns a new engine, or NULL with the reason in err. Free with filter_free. */
filter_engine *filter_new(const filter_limits *lim, char *err, size_t errlen);
void filter_free(filter_engine *fe);

/* Compiles src (an expression, or a chunk containing "return"). Returns a handle > 0, 0 for an empty
 * (all-whitespace) filter which always matches, or -1 with the Lua message and position in err.
 * Release handles with filter_release. */
int filter_compile(filter_engine *fe, const char *src, size_t len, char *err, size_t errlen);
void filter_release(filter_engine *fe, int handle);

/* Presents data (a JSON object; NULL presents an empty object) to the following evaluations.
 * data is borrowed: it must stay alive and unchanged until filter_clear_event or the next
 * filter_set_event. */
void filter_set_event(filter_engine *fe, const cJSON *data);
void filter_clear_event(filter_engine *fe);

/* Runs the filter against the presented event. Returns 1 (match: result is Lua-truthy), 0 (no match)
 * or -1 (error, out of instructions/time/memory) with the reason in err. An error leaves the engine
 * usable. handle 0 returns 1. */
int filter_eval(filter_engine *fe, int handle, char *err, size_t errlen);

/* Compiles src in a scratch engine to validate it. Returns 0, or -1 with the message in err. */
int filter_check(const char *src, char *err, size_t errlen);

/* Evaluates src once against data in a scratch engine with lim (NULL: defaults): the dry-run API.
 * Returns 1, 0 or -1 as filter_eval. */
int filter_test(const char *src, const cJSON *data, const filter_limits *lim, char *err, size_t errlen);

#endif
