/* syc_internal.h — what the SDK's two files share; not installed, not part of the API.
 * syc_sign.c (the engine: base64, HMAC-SHA256, JWT minting, webhook verification; no I/O) is
 * called by switchyard.c (the client: HTTP over libcurl). The unit tests include this header to
 * test the engine pieces and the token cache with a chosen clock. */
#ifndef SYC_INTERNAL_H
#define SYC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "switchyard.h"

#define SYC_SHA256_LEN 32   /* bytes in an HMAC-SHA256 digest */

/* One piece of a message to authenticate: HMACs run over several pieces without copying them. */
typedef struct syc_piece {
    const void *p;  /* bytes; may be NULL when len is 0 */
    size_t len;     /* bytes */
} syc_piece;

/* HMAC-SHA256 (RFC 2104, built on libcrypto's SHA-256) of the concatenated pieces under key.
 * Returns 0, or -1 if libcrypto fails. */
int syc__hmac_sha256(const void *key, size_t keylen, const syc_piece *pieces, size_t npieces,
                     unsigned char out[SYC_SHA256_LEN]);

/* Base64 of len bytes into out, which must hold syc__b64_len(len, url) + 1 bytes; NUL-terminated.
 * url: the base64url alphabet without padding (JWT), else the standard one with padding. */
size_t syc__b64_len(size_t len, int url);
void syc__b64_encode(const void *in, size_t len, int url, char *out);

/* Decodes standard base64 (padding optional; no whitespace) of n chars into out, which must hold
 * n * 3 / 4 + 3 bytes. Returns the decoded length, or -1 if the text is not base64. */
long syc__b64_decode(const char *in, size_t n, unsigned char *out);

/* 1 if a and b (alen, blen bytes) are equal. Time depends on the lengths only, not the contents. */
int syc__ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* syc_sign_token at a chosen time: "iat" = now_s, "exp" = now_s + ttl_s (when ttl_s > 0).
 * Returns a malloc'd token or NULL. */
char *syc__mint_token(const char *secret, const char *topics_csv, long ttl_s, int64_t now_s);

/* The bearer credential syc_publish sends at now_s: the fixed token, or the cached minted one,
 * re-minted when it is a quarter of its lifetime (at most 60 s) from expiry. NULL when no publisher
 * credential is set, or (with the client's error set) when minting failed. Owned by the client. */
const char *syc__publisher_token(syc_client *c, int64_t now_s);

#endif
