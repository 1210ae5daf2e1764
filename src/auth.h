/* auth — JSON Web Tokens (HS256 only) for publishers and the admin credential check.
 * Engine: no I/O; the caller passes the time. Calls: codec, topic.
 * The algorithm is pinned: a header whose alg is not exactly "HS256" is refused, "none" included.
 * Signatures and admin tokens are compared in constant time. */
#ifndef SY_AUTH_H
#define SY_AUTH_H
#include <stddef.h>
#include <stdint.h>

#define AUTH_LEEWAY_S 30     /* clock skew allowed on exp and nbf, in seconds */
#define AUTH_TOKEN_MAX 8192  /* longest token auth_jwt_verify accepts, in bytes */

typedef struct auth_claims {
    char *sub;          /* "sub" claim or NULL; owned */
    char **topics;      /* "topics" claim: topic patterns this token may publish; owned */
    size_t ntopics;     /* entries in topics */
    int has_topics;     /* 1 if the claim was present (an empty list then allows nothing) */
    int64_t exp;        /* "exp", epoch seconds, 0 if absent */
    int64_t nbf;        /* "nbf", epoch seconds, 0 if absent */
} auth_claims;

/* Verifies token (the part after "Bearer ") with secret at now_s (epoch seconds).
 * Returns 0 and fills *out (free with auth_claims_free), or -1 with a sentence in err saying what
 * is wrong ("token has expired", "token signature does not match", ...). *out is empty on error.
 * The secret is used as raw bytes (as switch and common JWT libraries do). Also refused: unpadded
 * base64url violations ('=' included), a "typ" other than "JWT" (any case), a "crit" header, the
 * same header parameter or claim (alg, typ, exp, nbf, sub, topics) given twice, and tokens longer
 * than AUTH_TOKEN_MAX. The signature is checked before the payload is parsed. */
int auth_jwt_verify(const char *token, size_t len, const char *secret, int64_t now_s,
                    auth_claims *out, char *err, size_t errlen);

/* Signs payload_json (a JSON object text, used verbatim) as an HS256 JWT with header
 * {"alg":"HS256","typ":"JWT"}. Returns a malloc'd token (caller frees), or NULL if an argument is
 * NULL. */
char *auth_jwt_sign(const char *secret, const char *payload_json);

/* 1 if the claims allow publishing to topic (no topics claim allows every topic). */
int auth_topic_allowed(const auth_claims *c, const char *topic);

void auth_claims_free(auth_claims *c);

/* Constant-time comparison of a presented admin token with the configured one. 1 if equal and
 * configured is non-empty. */
int auth_admin_ok(const char *presented, size_t len, const char *configured);

/* Extracts the credentials from an Authorization header value: scheme "Bearer" matched
 * case-insensitively, then one or more spaces. Trailing spaces are not part of the credentials.
 * Returns a pointer into header and sets *len, or NULL (other scheme, no credentials). */
const char *auth_bearer(const char *header, size_t *len);

#endif
