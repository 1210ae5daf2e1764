/* errmsg — the one way fallible functions fill their error buffer.
 * Engine: no I/O. Calls: nothing. */
#ifndef SY_ERRMSG_H
#define SY_ERRMSG_H
#include <stddef.h>

/* Formats into err (when err is not NULL and errlen > 0) and returns -1, so that a fallible function
 * can `return errmsg(err, errlen, "...", ...);`. */
int errmsg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
