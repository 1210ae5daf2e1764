/* codec — byte encodings shared by the engines: base64 (standard and url-safe), percent-encoding,
 * RFC 3339 timestamps, random identifiers.
 * Engine: no I/O except codec_random (the kernel's CSPRNG via OpenSSL). Calls: buf. */
#ifndef SY_CODEC_H
#define SY_CODEC_H
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Characters codec_b64_encode writes for n input bytes, not counting the NUL. */
size_t codec_b64_len(size_t n, int url);
/* Encodes n bytes into out, which holds codec_b64_len(n, url) + 1 bytes; NUL-terminates.
 * url = 0: standard alphabet with '=' padding; url = 1: base64url without padding (JWT).
 * Returns the length written. */
size_t codec_b64_encode(const void *in, size_t n, char *out, int url);
/* Decodes n characters into out (holds at least n / 4 * 3 + 3 bytes). Padding is optional in both
 * alphabets; whitespace and characters of the other alphabet are refused. Returns 0, or -1 if the
 * input is not valid base64. *outlen gets the decoded length.
 * Strict: padding, when present, must be exactly what completes the last group, and the unused low
 * bits of the last character must be zero (so each byte string has exactly one accepted encoding). */
int codec_b64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen, int url);

/* Appends s percent-encoded per RFC 3986: unreserved characters (ALPHA DIGIT - . _ ~) are kept,
 * every other byte, '/' included, becomes %XX (upper-case hex). */
void codec_pct_encode(buf *out, const char *s, size_t n);

/* Writes ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out[32]. Times outside years
 * 0000-9999 are clamped to that range. */
void codec_time_format(int64_t ms, char out[32]);
/* Parses an RFC 3339 date-time ("2026-11-23T18:29:35Z", fraction and "+hh:mm" offset allowed).
 * Returns 0 and *ms (since the epoch, UTC), or -1. 'T' may be 't' or a space and 'Z' may be 'z'
 * (RFC 3339 5.6); fraction digits past milliseconds are truncated; impossible dates (2025-02-29,
 * month 13) and leap second 60 are refused. */
int codec_time_parse(const char *s, int64_t *ms);

/* Days from 1970-01-01 to y-m-d (m 1..12) in the proleptic Gregorian calendar; negative before. */
int64_t codec_days_from_civil(int64_t y, int m, int d);

/* Fills out with n cryptographically random bytes. Returns 0, or -1 if the CSPRNG failed. */
int codec_random(void *out, size_t n);
/* Writes prefix + 22 characters of base64url randomness (a 128-bit id) into out, NUL-terminated.
 * out holds strlen(prefix) + 23 bytes. Example: codec_new_id("evt_", out).
 * Aborts if the CSPRNG fails: an id that might repeat is not a recoverable state. */
void codec_new_id(const char *prefix, char *out);

#endif
