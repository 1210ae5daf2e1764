#include "tls_pipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PIPE_BUF_BYTES 16384   /* one TLS record's worth of plaintext */

struct tlsp_ctx {
    SSL_CTX *ssl_ctx;   /* shared by every tlsp opened on it */
};

struct tlsp {
    SSL *ssl;                            /* the TLS session, over tcp */
    int tcp;                             /* TCP socket to the server, non-blocking */
    int plain;                           /* the pump's end of the socketpair (MSG_DONTWAIT) */
    pthread_t thread;                    /* the pump */
    atomic_int stop;                     /* 1: tlsp_close wants the pump to end */
    atomic_int ended;                    /* 1: the pump has ended and why is final */
    char why[256];                       /* why the pump ended; "" when the plain end closed */
    char label[160];                     /* the peer in messages, e.g. "Redis at host:port" */
    unsigned char up[PIPE_BUF_BYTES];    /* plain -> TLS bytes */
    size_t up_len, up_off;               /* bytes held in up; of them already sent, bytes */
    unsigned char down[PIPE_BUF_BYTES];  /* TLS -> plain bytes */
    size_t down_len, down_off;           /* bytes held in down; of them already sent, bytes */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first queued OpenSSL error as text (its reason, without the library codes), or fallback. */
static const char *ssl_reason(char *buf, size_t n, const char *fallback)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r)
        snprintf(buf, n, "%s", r);
    else if (e)
        ERR_error_string_n(e, buf, n);
    else
        snprintf(buf, n, "%s", fallback);
    ERR_clear_error();
    return buf;
}

/* Encrypted keys would make OpenSSL prompt on the terminal; a daemon has none. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

tlsp_ctx *tlsp_ctx_new(const tlsp_opts *o, char *err, size_t errlen)
{
    int has_cert = o->cert_file && *o->cert_file, has_key = o->key_file && *o->key_file;
    char why[200];
    if (has_cert != has_key) {
        snprintf(err, errlen, "a client certificate needs its key, and a key its certificate");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c) {
        snprintf(err, errlen, "cannot create a TLS context: %s", ssl_reason(why, sizeof why, "?"));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* a server that closes without close_notify (Redis restarting) reads as a plain close */
    SSL_CTX_set_options(c, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_default_passwd_cb(c, no_passphrase);
    if (o->ca_file && *o->ca_file) {
        if (SSL_CTX_load_verify_locations(c, o->ca_file, NULL) != 1) {
            snprintf(err, errlen, "CA bundle %s: %s", o->ca_file,
                     ssl_reason(why, sizeof why, "no certificate found"));
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
        snprintf(err, errlen, "system CA store: %s", ssl_reason(why, sizeof why, "cannot load"));
        goto fail;
    }
    if (has_cert) {
        if (SSL_CTX_use_certificate_chain_file(c, o->cert_file) != 1) {
            snprintf(err, errlen, "client certificate %s: %s", o->cert_file,
                     ssl_reason(why, sizeof why, "cannot load"));
            goto fail;
        }
        int loaded = SSL_CTX_use_PrivateKey_file(c, o->key_file, SSL_FILETYPE_PEM) == 1;
        unsigned long e = ERR_peek_error();
        if (!loaded && !(ERR_GET_LIB(e) == ERR_LIB_X509 &&
                         ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)) {
            snprintf(err, errlen, "client key %s: %s (it must be PEM and not encrypted)",
                     o->key_file, ssl_reason(why, sizeof why, "cannot load"));
            goto fail;
        }
        if (!loaded || SSL_CTX_check_private_key(c) != 1) {
            ERR_clear_error();
            snprintf(err, errlen, "client key %s does not belong to client certificate %s",
                     o->key_file, o->cert_file);
            goto fail;
        }
    }
    tlsp_ctx *x = malloc(sizeof *x);
    x->ssl_ctx = c;
    return x;
fail:
    SSL_CTX_free(c);
    return NULL;
}

void tlsp_ctx_free(tlsp_ctx *x)
{
    if (!x)
        return;
    SSL_CTX_free(x->ssl_ctx);
    free(x);
}

/* Waits until fd is ready for events or the deadline passes: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd f = {fd, events, 0};
        int n = poll(&f, 1, (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 1;   /* let the next call on fd report the error */
    }
}

static void tune_tcp(int fd)
{
    int on = 1, idle = 15, intvl = 5, cnt = 3;   /* as hiredis' keep-alive: 15 s, then 3 probes */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

/* A connected non-blocking TCP socket to host:port (each resolved address in turn), or -1 with
 * the reason in why. */
static int tcp_connect(const char *host, int port, int64_t deadline, char *why, size_t n)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc) {
        snprintf(why, n, "%s", gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    snprintf(why, n, "no address");
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            snprintf(why, n, "%s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        int e = errno;
        if (e == EINPROGRESS) {
            socklen_t len = sizeof e;
            if (!wait_fd(fd, POLLOUT, deadline))
                e = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0)
                break;
        }
        snprintf(why, n, "%s", strerror(e));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        tune_tcp(fd);
    return fd;
}

/* Why the handshake failed: OpenSSL's reason, with the certificate check's verdict if it failed. */
static void handshake_reason(SSL *ssl, int ssl_err, char *buf, size_t n)
{
    char reason[160];
    const char *fallback = ssl_err == SSL_ERROR_SYSCALL && errno ? strerror(errno)
                                                                 : "the server closed the connection";
    ssl_reason(reason, sizeof reason, fallback);
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
        snprintf(buf, n, "%s (%s)", reason, X509_verify_cert_error_string(v));
    else
        snprintf(buf, n, "%s", reason);
}

/* Sets the name the certificate must carry, and SNI for DNS names. */
static void set_peer_name(SSL *ssl, const char *name)
{
    unsigned char addr[sizeof(struct in6_addr)];
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(vp, name);   /* no SNI for addresses (RFC 6066) */
        return;
    }
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(vp, name, 0);
    SSL_set_tlsext_host_name(ssl, name);
}

/* Runs the TLS handshake on ssl until done, failed or past deadline. */
static int handshake(tlsp *p, int64_t deadline, int timeout_ms, char *err, size_t errlen)
{
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int rc = SSL_connect(p->ssl);
        if (rc == 1)
            return 0;
        int e = SSL_get_error(p->ssl, rc);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (wait_fd(p->tcp, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
                continue;
            snprintf(err, errlen, "TLS handshake with %s timed out after %d ms", p->label,
                     timeout_ms);
            return -1;
        }
        char why[220];
        handshake_reason(p->ssl, e, why, sizeof why);
        snprintf(err, errlen, "TLS handshake with %s failed: %s", p->label, why);
        return -1;
    }
}

/* ---- the pump ---------------------------------------------------------------------------------- */

/* Sets why the TLS side ended, from the SSL_get_error code of the failed call. */
static void set_why(tlsp *p, int ssl_err)
{
    char reason[160];
    unsigned long e = ERR_peek_error();
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
        snprintf(p->why, sizeof p->why, "%s refused the TLS session: it wants a client "
                 "certificate (tlsv13 alert certificate required)", p->label);
    else if (ssl_err == SSL_ERROR_ZERO_RETURN)
        snprintf(p->why, sizeof p->why, "%s closed the TLS session", p->label);
    else if (ssl_err == SSL_ERROR_SYSCALL && !ERR_peek_error())
        snprintf(p->why, sizeof p->why, "%s: %s", p->label,
                 errno ? strerror(errno) : "the server closed the connection");
    else
        snprintf(p->why, sizeof p->why, "TLS session with %s failed: %s", p->label,
                 ssl_reason(reason, sizeof reason, "unknown error"));
    ERR_clear_error();
}

/* After an SSL_read or SSL_write that returned n <= 0: 0 with *wait set when the session only
 * waits for the socket (readable or writable), else -1 with the reason kept. */
static int tls_stalled(tlsp *p, int n, short *wait)
{
    int e = SSL_get_error(p->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *wait = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return 0;
    }
    set_why(p, e);
    return -1;
}

/* Each step returns 1 when bytes moved, 0 when it must wait (*wait: the poll events it needs on
 * the TCP socket), -1 when its side is finished (p->why says why, if it is an error). */
static int tls_to_buf(tlsp *p, short *wait)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(p->ssl, p->down, sizeof p->down);
    if (n > 0) {
        p->down_len = (size_t)n;
        p->down_off = 0;
        return 1;
    }
    return tls_stalled(p, n, wait);
}

static int buf_to_tls(tlsp *p, short *wait)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_write(p->ssl, p->up + p->up_off, (int)(p->up_len - p->up_off));
    if (n > 0) {
        p->up_off += (size_t)n;
        if (p->up_off == p->up_len)
            p->up_len = p->up_off = 0;
        return 1;
    }
    return tls_stalled(p, n, wait);
}

static int buf_to_plain(tlsp *p)
{
    ssize_t n = send(p->plain, p->down + p->down_off, p->down_len - p->down_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    p->down_off += (size_t)n;
    if (p->down_off == p->down_len)
        p->down_len = p->down_off = 0;
    return 1;
}

static int plain_to_buf(tlsp *p)
{
    ssize_t n = recv(p->plain, p->up, sizeof p->up, MSG_DONTWAIT);
    if (n > 0) {
        p->up_len = (size_t)n;
        p->up_off = 0;
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    return -1;   /* the plain end was closed: the user is done */
}

/* Moves bytes both ways until nothing moves without waiting. SSL_read is called whenever the down
 * buffer is empty, so bytes OpenSSL has already decrypted (SSL_pending) never wait for the socket.
 * Returns 0 to wait, -1 when the pump is done. */
static int move_bytes(tlsp *p, short *read_wait, short *write_wait, int *tls_open)
{
    int moved;
    do {
        moved = 0;
        if (!p->down_len && *tls_open) {
            int r = tls_to_buf(p, read_wait);
            if (r < 0)
                *tls_open = 0;   /* hand over what was read, then stop */
            moved |= r > 0;
        }
        if (p->down_len) {
            int r = buf_to_plain(p);
            if (r < 0)
                return -1;
            moved |= r;
        }
        if (!*tls_open && !p->down_len)
            return -1;
        if (!p->up_len) {
            int r = plain_to_buf(p);
            if (r < 0)
                return -1;
            moved |= r;
        }
        if (p->up_len) {
            int r = buf_to_tls(p, write_wait);
            if (r < 0) {
                *tls_open = 0;
                return -1;
            }
            moved |= r;
        }
    } while (moved);
    return 0;
}

static void *pump(void *arg)
{
    tlsp *p = arg;
    short read_wait = POLLIN, write_wait = POLLOUT;
    int tls_open = 1, tcp_hup = 0, session_ok = 1;
    while (!atomic_load(&p->stop)) {
        if (move_bytes(p, &read_wait, &write_wait, &tls_open) < 0) {
            session_ok = tls_open;
            break;
        }
        struct pollfd f[2] = {
            {p->plain, (short)((p->up_len ? 0 : POLLIN) | (p->down_len ? POLLOUT : 0)), 0},
            {tcp_hup ? -1 : p->tcp,
             (short)((p->down_len ? 0 : read_wait) | (p->up_len ? write_wait : 0)), 0},
        };
        if (poll(f, 2, -1) < 0 && errno != EINTR) {
            snprintf(p->why, sizeof p->why, "TLS pipe to %s: poll: %s", p->label, strerror(errno));
            break;
        }
        if (f[0].revents & (POLLHUP | POLLERR))
            break;   /* the plain end was closed, or tlsp_close shut it down */
        if (f[1].revents & (POLLHUP | POLLERR))
            tcp_hup = 1;   /* the next SSL call reports it; meanwhile poll the plain end only */
    }
    if (session_ok && !p->why[0])
        SSL_shutdown(p->ssl);   /* close_notify, best effort: the socket is non-blocking */
    ERR_clear_error();
    atomic_store(&p->ended, 1);      /* before the EOF, so that whoever reads it finds why */
    shutdown(p->plain, SHUT_RDWR);   /* the user of the plain end reads EOF */
    return NULL;
}

/* ---- open / close ----------------------------------------------------------------------------- */

static int start_pump(tlsp *p, int *fd, char *err, size_t errlen)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(err, errlen, "TLS pipe to %s: socketpair: %s", p->label, strerror(errno));
        return -1;
    }
    p->plain = sv[0];   /* the pump's end; used with MSG_DONTWAIT, the user's end stays blocking */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);   /* the pump inherits: no signal is delivered there */
    int rc = pthread_create(&p->thread, NULL, pump, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "TLS pipe to %s: cannot start its thread: %s", p->label, strerror(rc));
        close(sv[0]);
        close(sv[1]);
        p->plain = -1;
        return -1;
    }
    *fd = sv[1];
    return 0;
}

tlsp *tlsp_open(tlsp_ctx *x, const char *host, int port, const char *servername, const char *label,
                int timeout_ms, int *fd, char *err, size_t errlen)
{
    int64_t deadline = mono_ms() + timeout_ms;
    tlsp *p = calloc(1, sizeof *p);
    p->plain = -1;
    snprintf(p->label, sizeof p->label, "%s", label);
    char why[200];
    p->tcp = tcp_connect(host, port, deadline, why, sizeof why);
    if (p->tcp < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", p->label, why);
        goto fail;
    }
    p->ssl = SSL_new(x->ssl_ctx);
    if (!p->ssl || SSL_set_fd(p->ssl, p->tcp) != 1) {
        snprintf(err, errlen, "TLS with %s: %s", p->label, ssl_reason(why, sizeof why, "no memory"));
        goto fail;
    }
    set_peer_name(p->ssl, servername && *servername ? servername : host);
    if (handshake(p, deadline, timeout_ms, err, errlen) || start_pump(p, fd, err, errlen))
        goto fail;
    return p;
fail:
    ERR_clear_error();
    SSL_free(p->ssl);
    if (p->tcp >= 0)
        close(p->tcp);
    free(p);
    return NULL;
}

const char *tlsp_error(tlsp *p)
{
    return atomic_load(&p->ended) ? p->why : "";
}

void tlsp_close(tlsp *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    shutdown(p->plain, SHUT_RDWR);   /* wakes the pump's poll with POLLHUP */
    pthread_join(p->thread, NULL);
    SSL_free(p->ssl);   /* SSL_set_fd's BIO does not close the socket */
    close(p->tcp);
    close(p->plain);
    free(p);
}
