/* sign — Standard Webhooks signatures (HMAC-SHA256 over "id.timestamp.body").
 * Engine: no I/O. Calls: codec.
 * Secrets are "whsec_" + base64 of the key bytes; a secret without the prefix is taken as base64 too. */
#ifndef SY_SIGN_H
#define SY_SIGN_H
#include <stddef.h>
#include <stdint.h>

#define SIGN_SIG_MAX 128   /* room for one "v1,<base64 of 32 bytes>" plus NUL */

/* Writes "v1,<base64 HMAC-SHA256(key, msg_id + "." + ts + "." + body)>" into out (SIGN_SIG_MAX).
 * Returns 0, or -1 (out = "") if the secret is empty or not valid base64. */
int sign_webhook(const char *secret, const char *msg_id, int64_t ts_s, const void *body, size_t len,
                 char out[SIGN_SIG_MAX]);

/* Verifies a webhook-signature header (space-separated "v1,<sig>" entries; any one matching is enough)
 * in constant time per entry; entries of other versions are ignored. ts is the webhook-timestamp
 * header as received (decimal seconds) and must be within tolerance_s of now_s, before or after.
 * Returns 0 if valid, -1 otherwise with the reason in err (missing header, bad timestamp, too old,
 * too far in the future, bad secret, no v1 entry, v1 entry not base64, signature does not match). */
int sign_verify(const char *secret, const char *msg_id, const char *ts, const void *body, size_t len,
                const char *sig_header, int64_t now_s, int tolerance_s, char *err, size_t errlen);

/* Writes a new secret ("whsec_" + base64 of 24 random bytes) into out (64 bytes). Returns 0 or -1. */
int sign_new_secret(char out[64]);

#endif
