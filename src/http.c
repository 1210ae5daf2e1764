#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "loop.h"

/* One serving thread: its loop, and an MHD daemon polled by that loop. */
typedef struct http_thread {
    struct http_server *s;
    pthread_t tid;
    loop *l;
    struct MHD_Daemon *d;
    int mhd_ready;          /* set when the daemon's epoll fd was reported ready this round */
    int resumed;            /* set when a deferred request of this thread got its answer */
    int quiesced;           /* 1 once this daemon stopped accepting */
} http_thread;

enum { RUNNING, QUIESCING, STOPPING };

struct http_server {
    http_handler handler;   /* called once per complete request */
    void *ctx;              /* passed to handler */
    size_t max_body;        /* bytes */
    atomic_int active;      /* requests begun and not yet completed (idle keep-alive excluded) */
    atomic_int state;       /* RUNNING, QUIESCING or STOPPING */
    atomic_int n_quiesced;  /* threads whose daemon stopped accepting */
    int listen_fd;          /* shared by every daemon; closed by http_quiesce */
    unsigned n;             /* threads */
    http_thread *t;         /* n of them */
    int quiesced;           /* 1 after http_quiesce */
};

typedef struct conn_state {
    buf body;               /* request body so far */
    int too_large;          /* 1 once the body passed max_body: the rest is discarded */
    int deferred;           /* 1 once the handler deferred its answer: the connection is suspended */
    struct MHD_Connection *conn;   /* for http_complete */
    loop *l;                /* the loop of the thread serving it (to wake for its answer) */
    http_resp resp;         /* the deferred answer, set by http_complete before resuming */
} conn_state;

static enum MHD_Result send_resp(struct MHD_Connection *c, http_resp *r)
{
    if (r->body.len == 0 && r->status != 204)
        buf_puts(&r->body, "{}");
    struct MHD_Response *m =
        MHD_create_response_from_buffer(r->body.len, r->body.p ? r->body.p : (char *)"",
                                        MHD_RESPMEM_MUST_COPY);
    if (!m)
        return MHD_NO;
    if (r->status != 204)
        MHD_add_response_header(m, "Content-Type", r->type ? r->type : "application/json");
    if (r->retry_after[0])
        MHD_add_response_header(m, "Retry-After", r->retry_after);
    if (r->allow[0])
        MHD_add_response_header(m, "Allow", r->allow);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, m);
    MHD_destroy_response(m);
    return ok;
}

/* URL unescaping for libmicrohttpd: like its own, except that %00 stays as it is, so a NUL can
 * never cut a path or argument short; on_request refuses such paths. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    char *out = s;
    for (const char *in = s; *in; in++) {
        unsigned v;
        if (in[0] == '%' && isxdigit((unsigned char)in[1]) && isxdigit((unsigned char)in[2]) &&
            sscanf(in + 1, "%2x", &v) == 1 && v != 0) {
            *out++ = (char)v;
            in += 2;
        } else {
            *out++ = *in;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    conn_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        atomic_fetch_add(&s->active, 1);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->max_body)
            st->too_large = 1;   /* answered below without reading the body */
        else
            return MHD_YES;
    }
    if (*upload_size) {
        if (!st->too_large && st->body.len + *upload_size > s->max_body) {
            st->too_large = 1;
            buf_free(&st->body);
        }
        if (!st->too_large)
            buf_append(&st->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->deferred) {   /* resumed by http_complete: the answer is in */
        enum MHD_Result ok = send_resp(c, &st->resp);
        buf_free(&st->resp.body);
        return ok;
    }
    http_resp r = {.status = 200};
    if (strstr(url, "%00") || !buf_utf8_valid(url, strlen(url))) {
        /* such a path names nothing here */
        http_error(&r, 404, "not_found", "no such endpoint: the URL path must be UTF-8 without %%00");
    } else if (st->too_large) {
        http_error(&r, 413, "payload_too_large", "request body is larger than %zu bytes",
                   s->max_body);
    } else {
        http_req q = {.method = method, .path = url, .body = buf_str(&st->body),
                      .body_len = st->body.len, .conn = c, .state = st};
        s->handler(&q, &r, s->ctx);
        if (st->deferred)
            return MHD_YES;
    }
    enum MHD_Result ok = send_resp(c, &r);
    buf_free(&r.body);
    return ok;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    http_server *s = cls;
    conn_state *st = *con_cls;
    if (st) {
        atomic_fetch_sub(&s->active, 1);
        buf_free(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[256];
    const char *port;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof host)
            goto bad;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host)
            goto bad;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (*end || p < 0 || p > 65535 || !*port)
        goto bad;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    if (getaddrinfo(*host ? host : NULL, port, &hints, &res) != 0 || !res)
        goto bad;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(err, errlen, "listen address \"%s\" is not host:port (e.g. 127.0.0.1:8080)", listen);
    return -1;
}

/* The listening socket every daemon accepts from. Returns it, or -1 with the reason in err. */
static int listen_on(const char *addr, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (parse_listen(addr, &ss, err, errlen))
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : sizeof(struct sockaddr_in);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void on_mhd(void *arg, unsigned events)
{
    (void)events;
    ((http_thread *)arg)->mhd_ready = 1;
}

/* A serving thread: its loop polls the daemon (and whatever the handlers watch on it, such as the
 * publish pipeline's Redis connection) until the server stops. */
static __thread http_thread *self;   /* the serving thread's own, or NULL */

static void *serve(void *arg)
{
    http_thread *t = arg;
    self = t;
    http_server *s = t->s;
    int state;
    while ((state = atomic_load(&s->state)) != STOPPING) {
        if (state == QUIESCING && !t->quiesced) {
            MHD_quiesce_daemon(t->d);   /* the listening socket is closed once, by http_quiesce */
            t->quiesced = 1;
            atomic_fetch_add(&s->n_quiesced, 1);
        }
        MHD_UNSIGNED_LONG_LONG to = 0;
        int wait = 1000;
        if (MHD_get_timeout(t->d, &to) == MHD_YES && to < 1000)
            wait = (int)to;
        t->mhd_ready = t->resumed = 0;
        int n = loop_run_once(t->l, wait);
        /* ready, answers to send, or a timeout (idle connections to close) */
        if (t->mhd_ready || t->resumed || n == 0)
            MHD_run(t->d);
    }
    /* what waits on this thread is answered (e.g. publishes still in Redis: 503), and the
     * answers get one chance to go out before the daemon closes every connection */
    loop_run_exit(t->l);
    MHD_run(t->d);
    MHD_run(t->d);
    if (!t->quiesced)
        MHD_quiesce_daemon(t->d);
    MHD_stop_daemon(t->d);
    return NULL;   /* the loop is freed by whoever joins us: others may still be waking it */
}

static void wake_all(http_server *s)
{
    for (unsigned i = 0; i < s->n; i++)
        if (s->t[i].l)
            loop_wake(s->t[i].l);
}

http_server *http_start(const char *listen, unsigned threads, size_t max_body, http_handler handler,
                        void *ctx, char *err, size_t errlen)
{
    if (threads < 1)
        threads = 1;
    int fd = listen_on(listen, err, errlen);
    if (fd < 0)
        return NULL;
    http_server *s = calloc(1, sizeof *s);
    s->handler = handler;
    s->ctx = ctx;
    s->max_body = max_body;
    s->listen_fd = fd;
    s->n = threads;
    s->t = calloc(threads, sizeof *s->t);
    /* every daemon accepts from the one socket; each is polled by its own thread's loop, so a
     * handler, the Redis replies it waits for and its answer all stay on one thread */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    unsigned limit = (4096 + threads - 1) / threads;
    unsigned started = 0;
    for (; started < threads; started++) {
        http_thread *t = &s->t[started];
        t->s = s;
        t->l = loop_new(err, errlen);
        if (!t->l)
            break;
        struct MHD_OptionItem opts[] = {
            {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
            {MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL},
            {MHD_OPTION_CONNECTION_LIMIT, limit, NULL},
            {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
            {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_done, s},
            {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL},
            {MHD_OPTION_END, 0, NULL},
        };
        t->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
                                MHD_OPTION_END);
        const union MHD_DaemonInfo *info =
            t->d ? MHD_get_daemon_info(t->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
        if (!info || loop_watch(t->l, info->epoll_fd, LOOP_IN, on_mhd, t) != 0 ||
            pthread_create(&t->tid, NULL, serve, t) != 0) {
            snprintf(err, errlen, "cannot start HTTP thread %u on %s", started + 1, listen);
            if (t->d) {
                MHD_quiesce_daemon(t->d);
                MHD_stop_daemon(t->d);
            }
            loop_free(t->l);
            t->l = NULL;
            break;
        }
    }
    if (started < threads) {
        atomic_store(&s->state, STOPPING);
        wake_all(s);
        for (unsigned i = 0; i < started; i++) {
            pthread_join(s->t[i].tid, NULL);
            loop_free(s->t[i].l);
        }
        close(fd);
        free(s->t);
        free(s);
        return NULL;
    }
    return s;
}

void http_quiesce(http_server *s, int grace_ms)
{
    if (!s || s->quiesced)
        return;
    s->quiesced = 1;
    atomic_store(&s->state, QUIESCING);
    wake_all(s);
    /* a thread busy in a handler quiesces when it returns; the socket may close only after the
     * last daemon let go of it (else http_stop closes it) */
    struct timespec ts = {0, 1000000};
    for (int waited = 0; waited < grace_ms + 2000 && atomic_load(&s->n_quiesced) < (int)s->n;
         waited++)
        nanosleep(&ts, NULL);
    if (atomic_load(&s->n_quiesced) == (int)s->n) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    /* wait for requests in flight only: idle keep-alive connections are simply closed */
    ts.tv_nsec = 20 * 1000000;
    for (int waited = 0; waited < grace_ms && atomic_load(&s->active) > 0; waited += 20)
        nanosleep(&ts, NULL);
}

void http_stop(http_server *s, int grace_ms)
{
    if (!s)
        return;
    http_quiesce(s, grace_ms);
    atomic_store(&s->state, STOPPING);
    wake_all(s);
    for (unsigned i = 0; i < s->n; i++) {
        pthread_join(s->t[i].tid, NULL);
        loop_free(s->t[i].l);
    }
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s->t);
    free(s);
}

http_pending *http_defer(const http_req *req)
{
    conn_state *st = req->state;
    st->deferred = 1;
    st->conn = req->conn;
    st->l = loop_current();
    MHD_suspend_connection(req->conn);
    return (http_pending *)st;
}

void http_complete(http_pending *p, http_resp *resp)
{
    conn_state *st = (conn_state *)p;
    st->resp = *resp;
    memset(&resp->body, 0, sizeof resp->body);
    MHD_resume_connection(st->conn);
    if (self && self->l == st->l) {
        self->resumed = 1;   /* its thread runs the daemon once this round ends, */
        loop_skip_wait(self->l);   /* at once if the round has not waited yet */
    } else if (st->l) {
        loop_wake(st->l);
    }
}

const char *http_header(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_query(const http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

void http_error(http_resp *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    resp->status = status;
    buf_reset(&resp->body);
    buf_puts(&resp->body, "{\"error\":{\"code\":");
    buf_json_str(&resp->body, code, strlen(code));
    buf_puts(&resp->body, ",\"message\":");
    buf_json_str(&resp->body, msg, strlen(msg));
    buf_puts(&resp->body, "}}");
}

cJSON *http_body_object(const http_req *q, http_resp *r)
{
    if (q->body_len == 0) {
        http_error(r, 400, "invalid_json", "request body is empty; send a JSON object");
        return NULL;
    }
    char err[200];
    cJSON *o = json_parse(q->body, q->body_len, err, sizeof err);
    if (!o) {
        http_error(r, 400, "invalid_json", "request body: %s", err);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        http_error(r, 400, "invalid_request", "request body must be a JSON object");
        return NULL;
    }
    return o;
}

void http_json(http_resp *resp, int status, cJSON *obj)
{
    resp->status = status;
    buf_reset(&resp->body);
    char *text = cJSON_PrintUnformatted(obj);
    if (text)
        buf_puts(&resp->body, text);
    free(text);
    cJSON_Delete(obj);
}
