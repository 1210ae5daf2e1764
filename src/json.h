/* json — strict JSON parsing for everything that arrives from outside (request bodies, switch
 * payloads, seed files): valid UTF-8, bounded nesting, no duplicate keys, finite numbers, and an
 * error that says what and where. Engine: no I/O. Calls: cJSON.
 * Ownership: json_parse returns a tree the caller frees with cJSON_Delete. */
#ifndef SY_JSON_H
#define SY_JSON_H
#include <stddef.h>

#include <cjson/cJSON.h>

#define JSON_MAX_DEPTH 64   /* arrays and objects nested deeper than this are refused */

/* Parses text[0..len). Returns the tree, or NULL with a sentence in err such as
 * "JSON is not valid at byte 17", "text is not valid UTF-8 at byte 3", "JSON nests deeper than 64
 * levels", "duplicate key \"id\" in an object", "number at byte 9 is out of range". */
cJSON *json_parse(const char *text, size_t len, char *err, size_t errlen);

/* For text that json_parse accepted as an object: the value of its top-level member key as it was
 * sent (spacing and number spellings kept), through *at (into text) and *n. Returns 0, or -1 when
 * there is no such member or its name is written with escapes (use the tree then). */
int json_member_raw(const char *text, size_t len, const char *key, const char **at, size_t *n);

#endif
