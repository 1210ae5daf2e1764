/* filter_pattern — the bounded string library functions filters call instead of Lua's own: pattern
 * matching (string.find, match, gmatch, gsub) and string.rep, whose work inside C the instruction count
 * hook cannot see.
 * Engine: no I/O. Calls: filter_lib (filter_lib_ctx, filter_lib_bill), Lua.
 *
 * Pattern matching is our own implementation of Lua 5.4 patterns (manual §6.4.1): classes %a %c %d %g %l
 * %p %s %u %w %x and their complements, %<punct> escapes, sets with ranges, classes and ^, '.',
 * quantifiers * + - ?, anchors ^ and $, captures and position captures, back-references %1-%9, %bxy and
 * %f[set]. It bills each matching step to ctx->charge and stops with "pattern too complex: <reason>" when
 * the evaluation's budget or deadline runs out, and it refuses more than 200 nested pattern items
 * ("pattern too complex"). Plain find (4th argument true, or no magic characters) does not use the
 * matcher. string.rep and string.gsub refuse results over ctx->string_bytes, and string.rep bills the
 * bytes it writes. */
#ifndef SY_FILTER_PATTERN_H
#define SY_FILTER_PATTERN_H
#include <lua.h>

#include "filter_lib.h"

/* Replaces find, match, gmatch, gsub and rep in the string library table at idx with bounded versions
 * that bill ctx (which must outlive the state), and removes dump. */
void filter_pattern_patch_string(lua_State *L, int idx, filter_lib_ctx *ctx);

#endif
