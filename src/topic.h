/* topic — topic names, subscription patterns, and an index from patterns to values.
 * A topic is dot-separated words, 1-255 bytes; a word is 1+ of [A-Za-z0-9_:-]. A pattern may use
 * '*' (exactly one word) and '#' (zero or more words) as whole words.
 * Engine: no I/O. Calls: nothing. Not thread-safe for writes; a built index may be read by many
 * threads at once (topic_index_match does not modify it). */
#ifndef SY_TOPIC_H
#define SY_TOPIC_H
#include <stddef.h>

/* Return 0 if valid, else -1 with a sentence in err (e.g. "topic word 2 is empty"). */
int topic_valid(const char *topic, char *err, size_t errlen);
int topic_pattern_valid(const char *pattern, char *err, size_t errlen);
/* 1 if the (valid) pattern matches the (valid) topic, else 0. */
int topic_match(const char *pattern, const char *topic);

typedef struct topic_index topic_index;

topic_index *topic_index_new(void);
/* Adds value under pattern (copied). The same pattern may hold many values. Returns 0 or -1 (invalid
 * pattern). Values are borrowed: the index never frees them. Aborts on out-of-memory, like buf. */
int topic_index_add(topic_index *ix, const char *pattern, void *value);
/* Calls fn(value, ctx) once for every value whose pattern matches topic, in insertion order of
 * patterns per node. Cost depends on the number of words in topic and on the matching patterns, not on
 * the number of unrelated patterns. Each add is reported at most once per call, however many ways the
 * pattern matches (`a.#.#`); a value added under two matching patterns is reported once for each.
 * An index is a word trie: literal children in a hash table per node, plus one '*' and one '#' child.
 * A match only reads the index (scratch space is on the stack, or malloc'd for very wide walks). */
void topic_index_match(const topic_index *ix, const char *topic, void (*fn)(void *value, void *ctx),
                       void *ctx);
/* As topic_index_match, and sets *visits (when not NULL) to the number of trie nodes the walk entered:
 * the cost of the lookup, for tests and metrics. */
void topic_index_match_counted(const topic_index *ix, const char *topic,
                               void (*fn)(void *value, void *ctx), void *ctx, size_t *visits);
void topic_index_free(topic_index *ix);

#endif
