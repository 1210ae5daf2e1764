#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, <= U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* One pass over the raw text: UTF-8 validity and nesting depth (brackets outside strings).
 * The grammar itself is cJSON's to check. */
static int scan(const char *text, size_t len, char *err, size_t errlen)
{
    const unsigned char *s = (const unsigned char *)text;
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, len - i);
            if (!k) {
                snprintf(err, errlen, "text is not valid UTF-8 at byte %zu", i);
                return -1;
            }
            i += k;
            continue;
        }
        if (c == '\0') {
            snprintf(err, errlen, "text holds a NUL byte at byte %zu", i);
            return -1;
        }
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH) {
                snprintf(err, errlen, "JSON nests deeper than %d levels", JSON_MAX_DEPTH);
                return -1;
            }
        } else if (c == ']' || c == '}') {
            depth--;
        }
        i++;
    }
    return 0;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first key that appears twice in obj, or NULL. Small objects compare pairwise; large ones sort,
 * so a hostile object with many keys costs n log n, not n squared. */
static const char *duplicate_key(const cJSON *obj)
{
    size_t n = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    if (n <= 16) {
        for (const cJSON *c = obj->child; c; c = c->next)
            for (const cJSON *d = obj->child; d != c; d = d->next)
                if (strcmp(d->string, c->string) == 0)
                    return c->string;
        return NULL;
    }
    const char **keys = malloc(n * sizeof *keys);
    if (!keys)
        return NULL;
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        keys[i++] = c->string;
    qsort(keys, n, sizeof *keys, by_key);
    const char *dup = NULL;
    for (i = 1; i < n && !dup; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            dup = keys[i];
    free(keys);
    return dup;
}

/* Duplicate keys and non-finite numbers, recursively (depth is already bounded). */
static int check_tree(const cJSON *node, char *err, size_t errlen)
{
    if (cJSON_IsNumber(node) && !isfinite(node->valuedouble)) {
        snprintf(err, errlen, "a number is out of range (larger than a double)");
        return -1;
    }
    if (cJSON_IsObject(node)) {
        const char *dup = duplicate_key(node);
        if (dup) {
            snprintf(err, errlen, "duplicate key \"%.80s\" in an object", dup);
            return -1;
        }
    }
    for (const cJSON *c = node->child; c; c = c->next)
        if (check_tree(c, err, errlen))
            return -1;
    return 0;
}

cJSON *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (len == 0) {
        snprintf(err, errlen, "JSON text is empty");
        return NULL;
    }
    if (scan(text, len, err, errlen))
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0;
        snprintf(err, errlen, "JSON is not valid at byte %zu", at);
        return NULL;
    }
    for (const char *p = end; p < text + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            snprintf(err, errlen, "JSON is followed by extra text at byte %zu", (size_t)(p - text));
            cJSON_Delete(root);
            return NULL;
        }
    if (check_tree(root, err, errlen)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
