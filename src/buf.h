/* buf — a growable byte buffer, always NUL-terminated.
 * Engine: no I/O. Calls: nothing.
 * Ownership: a buf owns p; buf_free releases it. buf_take hands p to the caller (free()) and resets. */
#ifndef SY_BUF_H
#define SY_BUF_H
#include <stddef.h>

typedef struct buf {
    char *p;    /* bytes, NUL-terminated once anything was appended; NULL when empty-new */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
} buf;

#define BUF_INIT {NULL, 0, 0}

/* All appenders abort() on out-of-memory: allocation failure is not a recoverable state here. */
void buf_append(buf *b, const void *data, size_t n);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. Bytes that are not valid UTF-8 become
 * U+FFFD, so the output is always valid JSON whatever the input. */
void buf_json_str(buf *b, const char *s, size_t n);
void buf_reset(buf *b);          /* len = 0, keeps the allocation */
char *buf_take(buf *b);          /* returns p ("" if empty; caller frees), b becomes empty */
void buf_free(buf *b);
/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF), or 0 if the bytes there are not one. n > 0 is what is left of the text. */
size_t buf_utf8_seq(const unsigned char *s, size_t n);
/* 1 if s[0..n) is valid UTF-8 with no NUL. */
int buf_utf8_valid(const char *s, size_t n);

/* A NUL-terminated view (never NULL). */
const char *buf_str(const buf *b);

#endif
