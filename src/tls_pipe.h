/* tls_pipe — TLS for a library that only speaks plain sockets (hiredis 0.14 has no TLS): connects TCP
 * with a deadline, does the TLS handshake (server certificate verified against a CA bundle or the
 * system store, name or IP checked, SNI, optional client certificate), then hands out one end of a
 * socketpair; a pump thread copies bytes between the other end and the TLS session. When either side
 * closes or fails, the pump shuts its end down and exits, so the user of the plain end sees EOF.
 * Calls: OpenSSL (libssl), pthreads.
 * Threading: a tlsp_ctx is built once and then shared read-only by any number of threads; a tlsp is
 * opened and closed by one thread (its pump thread is private). The pump thread blocks every signal,
 * so a write to a closed peer gives EPIPE there, not SIGPIPE; the handshake runs in the caller's
 * thread, which should ignore SIGPIPE (hub and worker do). */
#ifndef SY_TLS_PIPE_H
#define SY_TLS_PIPE_H
#include <stddef.h>

typedef struct tlsp_opts {
    const char *ca_file;    /* PEM CA bundle the server certificate must chain to; NULL or "": system store */
    const char *cert_file;  /* PEM client certificate (chain) for mutual TLS; NULL or "": none */
    const char *key_file;   /* PEM private key of cert_file (unencrypted); needed with cert_file */
} tlsp_opts;

typedef struct tlsp_ctx tlsp_ctx;
typedef struct tlsp tlsp;

/* Loads the trust store and the client certificate (TLS 1.2 or later, peer verification on).
 * Returns NULL with a reason naming the file in err. Free with tlsp_ctx_free, after every tlsp
 * opened on it is closed. */
tlsp_ctx *tlsp_ctx_new(const tlsp_opts *o, char *err, size_t errlen);
void tlsp_ctx_free(tlsp_ctx *x);

/* Connects to host:port, does the handshake within timeout_ms in all, and starts the pump. The
 * server certificate must be valid for servername (a DNS name or an IP address; NULL or "": host),
 * which is also sent as SNI when it is a name. label names the peer in messages ("Redis at h:p").
 * Returns the pipe and puts the plain end in *fd: the caller owns that fd and closes it (before or
 * after tlsp_close). Returns NULL with the reason in err ("cannot connect to <label>: ...",
 * "TLS handshake with <label> failed: ..."). */
tlsp *tlsp_open(tlsp_ctx *x, const char *host, int port, const char *servername, const char *label,
                int timeout_ms, int *fd, char *err, size_t errlen);

/* Why the pump stopped ("" while it runs, or when the plain end was closed): e.g. the alert the
 * server sent. Safe to call while the pump runs. */
const char *tlsp_error(tlsp *p);

/* Stops and joins the pump, closes its sockets and frees the TLS session. NULL is a no-op. */
void tlsp_close(tlsp *p);

#endif
