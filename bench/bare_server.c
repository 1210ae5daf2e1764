/* bare_server — the publish ceiling: a libmicrohttpd server in MHD's own fastest mode (internal
 * polling thread + a thread pool of --threads, auto-selected poll backend) with the hub's connection
 * limits, the request body collected the same way and the answer copied into an MHD response, that
 * answers every POST with a small JSON 202, as /v1/publish does, and does nothing else:
 * no token check, no JSON parse, no filters, no Redis.
 * Usage: bare_server --port P [--threads 4]   (binds 127.0.0.1; prints "ready" once listening) */
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "bench_util.h"

typedef struct body {
    char *p;        /* bytes received */
    size_t len;     /* used */
    size_t cap;     /* allocated */
} body;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version;
    body *b = *con_cls;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size) {
        if (b->len + *upload_size + 1 > b->cap) {
            size_t cap = (b->len + *upload_size + 1) * 2;
            char *p = realloc(b->p, cap);
            if (!p)
                return MHD_NO;
            b->p = p;
            b->cap = cap;
        }
        memcpy(b->p + b->len, upload_data, *upload_size);
        b->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    static const char answer[] = "{\"id\":\"evt_bare0000000000000000000\",\"topic\":\"bench\",\"matched\":0}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof answer - 1, (void *)answer, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, 202, r);
    MHD_destroy_response(r);
    return ok;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    body *b = *con_cls;
    if (b) {
        free(b->p);
        free(b);
        *con_cls = NULL;
    }
}

int main(int argc, char **argv)
{
    int port = (int)bench_arg_ll(argc, argv, "--port", 0);
    unsigned threads = (unsigned)bench_arg_ll(argc, argv, "--threads", 4);
    if (port <= 0) {
        fprintf(stderr, "usage: bare_server --port P [--threads N]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;   /* blocked before MHD starts its threads, so only sigwait below sees them */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_SOCK_ADDR, 0, &a},
        {MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, 4096, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL},
        {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_done, NULL},
        {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
                                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_server: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
