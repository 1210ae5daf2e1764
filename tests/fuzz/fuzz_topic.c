/* fuzz_topic — libFuzzer harness for topics and patterns: topic_valid, topic_pattern_valid,
 * topic_match and the topic_index on arbitrary strings, with topic_index_match cross-checked against
 * topic_match.
 * Input: lines separated by '\n'; every line but the last is a pattern (up to 64), the last is the
 * topic. When the first byte is odd, the rest is first folded onto the alphabet "ab.*#\n" so short
 * inputs exercise wildcards densely; otherwise the bytes are used as they are.
 * Invariants (abort on violation): every valid pattern is added to the index and every invalid one
 * refused; for a valid topic, the index reports pattern i exactly once if topic_match(pattern i,
 * topic) and never otherwise; a valid topic is a valid pattern that matches itself, and "#" matches
 * it; validation never accepts a string longer than 255 bytes or an empty word.
 * Build: see tests/fuzz/run_all.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

#define MAX_PATTERNS 64

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_topic: invariant failed: %s (line %d)\n", #cond, __LINE__);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct tally {
    unsigned char hits[MAX_PATTERNS]; /* reports per pattern index */
} tally;

static void count(void *value, void *ctx)
{
    tally *t = ctx;
    size_t i = (size_t)(uintptr_t)value - 1; /* values are index + 1: NULL is never a value */
    CHECK(i < MAX_PATTERNS);
    if (t->hits[i] < 255)
        t->hits[i]++;
}

/* The structural promises of validation, checked on the raw string. */
static void check_valid_shape(const char *s)
{
    size_t n = strlen(s);
    CHECK(n >= 1 && n <= 255);
    CHECK(s[0] != '.' && s[n - 1] != '.' && !strstr(s, ".."));
    for (const char *p = s; *p; p++)
        CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("_-:.*#", *p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 64 * 1024)
        return 0;
    int folded = data[0] & 1;
    data++, size--;
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    for (size_t i = 0; i < size; i++)
        text[i] = folded ? "ab.*#\n"[data[i] % 6] : (char)data[i];
    text[size] = '\0';

    char *lines[MAX_PATTERNS + 1];
    size_t nlines = 0;
    for (char *p = text; nlines <= MAX_PATTERNS;) {
        lines[nlines++] = p;
        char *nl = memchr(p, '\n', (size_t)(text + size - p));
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    const char *topic = lines[nlines - 1];
    size_t npat = nlines - 1;

    topic_index *ix = topic_index_new();
    int valid[MAX_PATTERNS];
    char why[200];
    for (size_t i = 0; i < npat; i++) {
        why[0] = '\0';
        valid[i] = topic_pattern_valid(lines[i], why, sizeof why) == 0;
        if (valid[i])
            check_valid_shape(lines[i]);
        else
            CHECK(why[0] != '\0');
        int added = topic_index_add(ix, lines[i], (void *)(uintptr_t)(i + 1)) == 0;
        CHECK(added == valid[i]);
        (void)topic_match(lines[i], topic); /* arbitrary strings must be safe too */
        (void)topic_match(topic, lines[i]);
    }

    int topic_ok = topic_valid(topic, why, sizeof why) == 0;
    tally t = {{0}};
    size_t visits = 0;
    topic_index_match_counted(ix, topic, count, &t, &visits);
    if (topic_ok) {
        check_valid_shape(topic);
        CHECK(!strchr(topic, '*') && !strchr(topic, '#'));
        CHECK(topic_pattern_valid(topic, NULL, 0) == 0);
        CHECK(topic_match(topic, topic) == 1);
        CHECK(topic_match("#", topic) == 1);
        for (size_t i = 0; i < npat; i++) {
            int want = valid[i] && topic_match(lines[i], topic);
            if (t.hits[i] != want) {
                fprintf(stderr,
                        "fuzz_topic: index and topic_match disagree: pattern \"%s\" topic \"%s\": "
                        "topic_match %d, index reported %d time(s)\n",
                        lines[i], topic, want, t.hits[i]);
                abort();
            }
        }
    }
    topic_index_free(ix);
    free(text);
    return 0;
}
