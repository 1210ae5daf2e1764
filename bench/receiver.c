/* receiver — the benchmark's webhook endpoint: a minimal HTTP/1.1 keep-alive server (one epoll
 * thread) that answers every request 200 "ok", counts them, and records each one's latency from the
 * "sent_us" field in its body (see bench_util.h) to its receipt.
 *
 * Control (not counted):
 *   GET  /_stats  ->  count=N first_ns=T last_ns=T lat_n=N p50_us=X p90_us=X p99_us=X max_us=X
 *                     (first/last_ns: CLOCK_REALTIME of the first and the latest counted request)
 *   POST /_reset  ->  zeroes everything.
 * Usage: receiver --port P   (binds 127.0.0.1; prints "ready" on stdout once listening)
 * Handles Expect: 100-continue, pipelined requests and Connection: close. Not a general server:
 * no chunked request bodies (nothing in the benchmark sends them). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_EVENTS 256
#define MAX_SAMPLES (4u << 20)

typedef struct conn {
    int fd;                 /* socket */
    char *in;               /* bytes received, not yet consumed */
    size_t inlen;           /* used in `in` */
    size_t incap;           /* allocated */
    char *out;              /* bytes to send */
    size_t outlen;          /* used in `out` */
    size_t outoff;          /* already sent */
    size_t outcap;          /* allocated */
    int continued;          /* 1: "100 Continue" sent for the request being received */
    int closing;            /* 1: close once `out` is sent */
    int want_out;           /* 1: registered for EPOLLOUT */
} conn;

static struct {
    unsigned long long count;   /* requests counted */
    int64_t first_ns;           /* realtime of the first counted request */
    int64_t last_ns;            /* realtime of the latest counted request */
    double *lat;                /* latency samples, us */
    size_t nlat;                /* samples */
} st;

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static void out_append(conn *c, const char *p, size_t n)
{
    if (c->outlen + n > c->outcap) {
        size_t cap = (c->outlen + n) * 2;
        c->out = realloc(c->out, cap);
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, p, n);
    c->outlen += n;
}

/* Case-insensitive search of a header's value in the head [h, end); NULL if absent. */
static const char *header(const char *h, const char *end, const char *name, size_t *vlen)
{
    size_t n = strlen(name);
    for (const char *p = memchr(h, '\n', (size_t)(end - h)); p && p + 1 < end;
         p = memchr(p + 1, '\n', (size_t)(end - p - 1))) {
        const char *line = p + 1;
        if ((size_t)(end - line) > n + 1 && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            const char *e = memchr(v, '\r', (size_t)(end - v));
            if (!e)
                e = end;
            *vlen = (size_t)(e - v);
            return v;
        }
    }
    return NULL;
}

static void record(const char *body, size_t len, int64_t now_ns)
{
    static const char key[] = "\"sent_us\":\"";
    if (st.count == 0)
        st.first_ns = now_ns;
    st.count++;
    st.last_ns = now_ns;
    const char *p = len >= sizeof key ? memmem(body, len, key, sizeof key - 1) : NULL;
    if (!p || st.nlat >= MAX_SAMPLES)
        return;
    long long sent = strtoll(p + sizeof key - 1, NULL, 10);
    if (sent > 0)
        st.lat[st.nlat++] = (double)(now_ns / 1000 - sent);
}

static void stats(conn *c)
{
    char body[512];
    double *v = malloc((st.nlat + 1) * sizeof *v);
    memcpy(v, st.lat, st.nlat * sizeof *v);
    double p50 = bench_quantile(v, st.nlat, 0.50, 0);
    double p90 = bench_quantile(v, st.nlat, 0.90, 1);
    double p99 = bench_quantile(v, st.nlat, 0.99, 1);
    double mx = st.nlat ? v[st.nlat - 1] : 0;
    free(v);
    int n = snprintf(body, sizeof body,
                     "count=%llu first_ns=%lld last_ns=%lld lat_n=%zu p50_us=%.1f p90_us=%.1f "
                     "p99_us=%.1f max_us=%.1f\n",
                     st.count, (long long)st.first_ns, (long long)st.last_ns, st.nlat, p50, p90, p99,
                     mx);
    char head[128];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", n);
    out_append(c, head, (size_t)h);
    out_append(c, body, (size_t)n);
}

/* Consumes every complete request in c->in; answers each. Returns -1 on a malformed request. */
static int serve(conn *c)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    size_t off = 0;
    for (;;) {
        char *start = c->in + off;
        size_t avail = c->inlen - off;
        char *eoh = avail >= 4 ? memmem(start, avail, "\r\n\r\n", 4) : NULL;
        if (!eoh)
            break;
        size_t headlen = (size_t)(eoh - start) + 4;
        size_t vlen = 0;
        const char *cl = header(start, eoh + 2, "content-length", &vlen);
        size_t bodylen = cl ? strtoull(cl, NULL, 10) : 0;
        if (header(start, eoh + 2, "transfer-encoding", &vlen))
            return -1;
        if (avail < headlen + bodylen) {
            const char *ex = header(start, eoh + 2, "expect", &vlen);
            if (ex && !c->continued && vlen >= 12 && strncasecmp(ex, "100-continue", 12) == 0) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                out_append(c, cont, sizeof cont - 1);
                c->continued = 1;
            }
            break;
        }
        c->continued = 0;
        const char *conn_hdr = header(start, eoh + 2, "connection", &vlen);
        if (conn_hdr && vlen >= 5 && strncasecmp(conn_hdr, "close", 5) == 0)
            c->closing = 1;
        if (strncmp(start, "GET /_stats", 11) == 0) {
            stats(c);
        } else if (strncmp(start, "POST /_reset", 12) == 0) {
            free(st.lat);
            memset(&st, 0, sizeof st);
            st.lat = malloc(MAX_SAMPLES * sizeof *st.lat);
            out_append(c, ok, sizeof ok - 1);
        } else {
            record(start + headlen, bodylen, bench_now_ns());
            out_append(c, ok, sizeof ok - 1);
        }
        off += headlen + bodylen;
        if (c->closing)
            break;
    }
    if (off) {
        memmove(c->in, c->in + off, c->inlen - off);
        c->inlen -= off;
    }
    return 0;
}

static void conn_close(int ep, conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Sends what is queued; 1 when all is sent, 0 when the socket is full, -1 on error. */
static int flush_out(conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            return -1;
        }
        c->outoff += (size_t)w;
    }
    c->outoff = c->outlen = 0;
    return 1;
}

int main(int argc, char **argv)
{
    int port = (int)bench_arg_ll(argc, argv, "--port", 0);
    if (port <= 0) {
        fprintf(stderr, "usage: receiver --port P\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    st.lat = malloc(MAX_SAMPLES * sizeof *st.lat);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1024) != 0) {
        perror("receiver: bind/listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    printf("ready\n");
    fflush(stdout);

    struct epoll_event evs[MAX_EVENTS];
    while (!stop) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, 200);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {   /* the listening socket */
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ce);
                }
                continue;
            }
            int dead = 0;
            if (evs[i].events & EPOLLIN) {
                for (;;) {
                    if (c->incap - c->inlen < 16384) {
                        c->incap = c->incap ? c->incap * 2 : 32768;
                        c->in = realloc(c->in, c->incap);
                    }
                    ssize_t r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
                    if (r > 0) {
                        c->inlen += (size_t)r;
                        continue;
                    }
                    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
                        dead = 1;
                    break;
                }
                if (serve(c) != 0)
                    dead = 1;
            }
            if (!dead) {
                int f = flush_out(c);
                if (f < 0 || (f == 1 && c->closing))
                    dead = 1;
                else if ((f == 0) != c->want_out) {
                    c->want_out = f == 0;
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLRDHUP | (f == 0 ? EPOLLOUT : 0),
                                             .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ce);
                }
            }
            if (dead)
                conn_close(ep, c);
        }
    }
    close(ls);
    close(ep);
    return 0;
}
