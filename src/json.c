#include "json.h"

#include "buf.h"
#include "errmsg.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the number token at s that RFC 8259 allows (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?),
 * or 0. cJSON alone also takes 01, 1. and 1.e5. */
static size_t number_len(const unsigned char *s, size_t n)
{
    size_t i = 0;
#define DIGIT(k) ((k) < n && s[k] >= '0' && s[k] <= '9')
    if (i < n && s[i] == '-')
        i++;
    if (!DIGIT(i))
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (DIGIT(i))
            i++;
    if (i < n && s[i] == '.') {
        if (!DIGIT(i + 1))
            return 0;
        i++;
        while (DIGIT(i))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!DIGIT(i))
            return 0;
        while (DIGIT(i))
            i++;
    }
    if (DIGIT(i))   /* "01": a second number glued on */
        return 0;
#undef DIGIT
    return i;
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
            size_t k = buf_utf8_seq(s + i, len - i);
            if (!k)
                return errmsg(err, errlen, "text is not valid UTF-8 at byte %zu", i);
            i += k;
            continue;
        }
        if (c == '\0')
            return errmsg(err, errlen, "text holds a NUL byte at byte %zu", i);
        if (in_string) {
            if (c < 0x20)
                return errmsg(err, errlen, "a string holds a raw control character at byte %zu "
                                           "(escape it)", i);
            if (c == '\\') {
                /* \u0000 would end the C string early: what is checked would not be what is sent */
                if (len - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0)
                    return errmsg(err, errlen, "a string holds \\u0000 at byte %zu", i);
                i++;
            } else if (c == '"') {
                in_string = 0;
            }
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t k = number_len(s + i, len - i);
            if (!k)
                return errmsg(err, errlen, "number at byte %zu is not valid JSON", i);
            i += k;
            continue;
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return errmsg(err, errlen, "JSON nests deeper than %d levels", JSON_MAX_DEPTH);
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

/* ---- raw members ---------------------------------------------------------------------------- */

static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

/* s[i] is the opening quote: the index after the closing one. */
static size_t skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i + 1;
}

/* The index after the value starting at s[i] (text already validated). */
static size_t skip_value(const char *s, size_t i, size_t len)
{
    if (s[i] == '"')
        return skip_string(s, i, len);
    if (s[i] != '{' && s[i] != '[') {
        while (i < len && !strchr(",}] \t\r\n", s[i]))
            i++;
        return i;
    }
    int depth = 0;
    while (i < len) {
        char c = s[i];
        if (c == '"') {
            i = skip_string(s, i, len);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return i;
}

int json_member_raw(const char *text, size_t len, const char *key, const char **at, size_t *n)
{
    size_t klen = strlen(key);
    size_t i = skip_ws(text, 0, len);
    if (i >= len || text[i] != '{')
        return -1;
    for (i = skip_ws(text, i + 1, len); i < len && text[i] == '"';) {
        size_t kstart = i + 1, kend = skip_string(text, i, len) - 1;
        i = skip_ws(text, kend + 1, len);
        if (i >= len || text[i] != ':')
            return -1;
        size_t v = skip_ws(text, i + 1, len);
        if (v >= len)
            return -1;
        size_t vend = skip_value(text, v, len);
        if (kend - kstart == klen && memcmp(text + kstart, key, klen) == 0) {
            *at = text + v;
            *n = vend - v;
            return 0;
        }
        i = skip_ws(text, vend, len);
        if (i >= len || text[i] != ',')
            return -1;
        i = skip_ws(text, i + 1, len);
    }
    return -1;
}
