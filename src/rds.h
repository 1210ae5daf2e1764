/* rds — one Redis connection: URL parsing (redis:// or, with TLS, rediss://
 * [user:password@]host:port/db), connect with timeouts, reconnect with backoff, and the embedded
 * scripts of lua/ run by EVALSHA (loaded on NOSCRIPT). Calls: log, tls_pipe (rediss://), hiredis,
 * OpenSSL (SHA-1 of the scripts).
 * An rds is used by one thread at a time. Replies are the caller's: freeReplyObject(). The TLS
 * settings are process-wide: set once before the first rds_new, then shared by every rds. */
#ifndef SY_RDS_H
#define SY_RDS_H
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

typedef struct rds rds;

typedef struct rds_tls_opts {
    const char *ca_file;     /* PEM CA bundle Redis's certificate must chain to; "": system store */
    const char *cert_file;   /* PEM client certificate for mutual TLS; "": none */
    const char *key_file;    /* its PEM private key, unencrypted; given with cert_file */
    const char *servername;  /* name Redis's certificate must carry, sent as SNI; "": URL's host */
} rds_tls_opts;

/* Sets the TLS settings of rediss:// connections (copied). Call once, before the first rds_new and
 * before other threads start; without it, rediss:// uses the system store and no client
 * certificate. The TLS context is built by the first rds_new of a rediss:// URL and then kept for
 * the life of the process. */
void rds_set_tls(const rds_tls_opts *o);

/* Parses url; does not connect yet. Returns NULL with the reason in err (bad URL, or for rediss://
 * TLS settings that cannot be loaded). */
rds *rds_new(const char *url, int timeout_ms, char *err, size_t errlen);
void rds_free(rds *r);

/* Connects if not connected; while Redis is away, tries at most once per backoff step (100 ms
 * doubling to 2 s). Returns 0 when connected, else -1 (reason in rds_error). */
int rds_ensure(rds *r);
/* The last connection or command error, for logs and /readyz. */
const char *rds_error(const rds *r);
int rds_connected(const rds *r);

/* Runs a command. Returns the reply (caller frees), or NULL when the connection failed (it is then
 * dropped and re-made by the next rds_ensure). A Redis error reply is returned as a reply of type
 * REDIS_REPLY_ERROR, not NULL. */
redisReply *rds_cmd(rds *r, const char *fmt, ...);
redisReply *rds_argv(rds *r, int argc, const char **argv, const size_t *lens);

/* Runs the embedded script lua/<name>.lua with no KEYS and the given ARGV. Same reply rules. */
redisReply *rds_script(rds *r, const char *name, int argc, const char **argv, const size_t *lens);

/* Pipelining: append commands, then read their replies in order (NULL on a failed connection). */
int rds_append_argv(rds *r, int argc, const char **argv, const size_t *lens);
redisReply *rds_read(rds *r);
/* Appends the embedded script as EVALSHA. Its reply may be NOSCRIPT (rds_noscript): the script did
 * not run; after reading every pending reply, run it again with rds_script, which loads it. */
int rds_script_append(rds *r, const char *name, int argc, const char **argv, const size_t *lens);
int rds_noscript(const redisReply *rep);

/* The EVALSHA of an embedded script formatted as a Redis command, for a pipeline that writes it
 * itself (rpipe; any thread may call it, no connection needed). Returns it (malloc'd, caller frees) and
 * its length in *len, or NULL for an unknown script. */
char *rds_script_format(const char *name, int argc, const char **argv, const size_t *lens,
                        long long *len);

/* For callers that drive the connection themselves (rpipe, non-blocking in an event loop): the
 * live hiredis context (NULL while disconnected; it changes on every reconnect), and the way to
 * give it up when it fails: rds_drop closes it and records why (rds_error). */
redisContext *rds_context(rds *r);
void rds_drop(rds *r, const char *why);
/* Why the connection failed, in words (the TLS pump's reason when it has one). */
const char *rds_lost_reason(const rds *r);
/* Appends SCRIPT LOAD of the embedded script to the context's output, unsent. Returns 0, or -1. */
int rds_script_load_append(rds *r, const char *name);

#endif
