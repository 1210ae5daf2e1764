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
/* Appends s as a JSON string literal, quotes included. */
void buf_json_str(buf *b, const char *s, size_t n);
void buf_reset(buf *b);          /* len = 0, keeps the allocation */
char *buf_take(buf *b);          /* returns p ("" if empty; caller frees), b becomes empty */
void buf_free(buf *b);
/* A NUL-terminated view (never NULL). */
const char *buf_str(const buf *b);

#endif
