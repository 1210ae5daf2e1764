#include "rds.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tls_pipe.h"

extern const struct {
    const char *name;
    const char *text;
    size_t len;
} embedded_scripts[];

struct rds {
    redisContext *c;        /* NULL while disconnected */
    tlsp *pipe;             /* rediss://: the TLS pump under c while connected, else NULL */
    int tls;                /* 1 for a rediss:// URL */
    char host[256];         /* from the URL */
    int port;               /* from the URL */
    char user[128];         /* ACL user or "" */
    char pass[256];         /* password or "" */
    int db;                 /* SELECT index */
    int timeout_ms;         /* connect and command timeout, ms */
    int64_t next_try_ms;    /* no reconnect before this monotonic time, ms */
    int backoff_ms;         /* current reconnect backoff, ms */
    char err[256];          /* last error */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The TLS settings of every rediss:// connection, and the context built from them once. */
static struct {
    pthread_mutex_t mu;     /* guards ctx and err while the context is built */
    char ca[512];           /* CA bundle path, "" = system store */
    char cert[512];         /* client certificate path or "" */
    char key[512];          /* client key path or "" */
    char servername[256];   /* certificate name to check, "" = the URL's host */
    tlsp_ctx *ctx;          /* built by the first rediss:// rds_new; kept for the process */
    char err[300];          /* why building ctx failed; "" if it did not (yet) */
} tls = {.mu = PTHREAD_MUTEX_INITIALIZER};

void rds_set_tls(const rds_tls_opts *o)
{
    snprintf(tls.ca, sizeof tls.ca, "%s", o->ca_file ? o->ca_file : "");
    snprintf(tls.cert, sizeof tls.cert, "%s", o->cert_file ? o->cert_file : "");
    snprintf(tls.key, sizeof tls.key, "%s", o->key_file ? o->key_file : "");
    snprintf(tls.servername, sizeof tls.servername, "%s", o->servername ? o->servername : "");
}

/* The shared TLS context, built on first use; NULL (the reason in err) if the settings are bad. */
static tlsp_ctx *tls_ctx(char *err, size_t errlen)
{
    pthread_mutex_lock(&tls.mu);
    if (!tls.ctx && !tls.err[0]) {
        tlsp_opts o = {tls.ca, tls.cert, tls.key};
        char why[256];
        tls.ctx = tlsp_ctx_new(&o, why, sizeof why);
        if (!tls.ctx)
            snprintf(tls.err, sizeof tls.err, "Redis TLS settings: %s", why);
    }
    tlsp_ctx *x = tls.ctx;
    if (!x)
        snprintf(err, errlen, "%s", tls.err);
    pthread_mutex_unlock(&tls.mu);
    return x;
}

static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k + 1 >= cap)
            return -1;
        if (s[i] == '%') {
            unsigned v;
            if (i + 2 >= n || sscanf(s + i + 1, "%2x", &v) != 1)
                return -1;
            out[k++] = (char)v;
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return 0;
}

rds *rds_new(const char *url, int timeout_ms, char *err, size_t errlen)
{
    rds *r = calloc(1, sizeof *r);
    r->timeout_ms = timeout_ms;
    r->port = 6379;
    const char *p;
    if (strncmp(url, "redis://", 8) == 0) {
        p = url + 8;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        p = url + 9;
        r->tls = 1;
    } else {
        snprintf(err, errlen, "SWITCHYARD_REDIS_URL: \"%s\" must start with redis:// or rediss://",
                 url);
        goto fail;
    }
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (pct_decode(p, (size_t)(uend - p), r->user, sizeof r->user) ||
            (colon && pct_decode(colon + 1, (size_t)(at - colon - 1), r->pass, sizeof r->pass))) {
            snprintf(err, errlen, "SWITCHYARD_REDIS_URL: user or password is malformed");
            goto fail;
        }
        if (!colon) { /* redis://password@host is the common short form */
            strcpy(r->pass, r->user);
            r->user[0] = '\0';
        }
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *hend = slash ? slash : p + strlen(p);
    const char *colon = NULL;
    for (const char *q = p; q < hend; q++)
        if (*q == ':')
            colon = q;
    const char *hostend = colon ? colon : hend;
    if (hostend == p || (size_t)(hostend - p) >= sizeof r->host) {
        snprintf(err, errlen, "SWITCHYARD_REDIS_URL: \"%s\" has no host", url);
        goto fail;
    }
    memcpy(r->host, p, (size_t)(hostend - p));
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != hend || port < 1 || port > 65535) {
            snprintf(err, errlen, "SWITCHYARD_REDIS_URL: port must be 1-65535");
            goto fail;
        }
        r->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 65535) {
            snprintf(err, errlen, "SWITCHYARD_REDIS_URL: database \"%s\" is not a number",
                     slash + 1);
            goto fail;
        }
        r->db = (int)db;
    }
    if (r->tls && !tls_ctx(err, errlen))   /* bad TLS settings stop start-up, not each connect */
        goto fail;
    r->backoff_ms = 100;
    snprintf(r->err, sizeof r->err, "not connected yet");
    return r;
fail:
    free(r);
    return NULL;
}

/* Closes the connection: hiredis first (closing its end lets the pump say goodbye), then the pump. */
static void disconnect(rds *r)
{
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
    tlsp_close(r->pipe);
    r->pipe = NULL;
}

void rds_free(rds *r)
{
    if (!r)
        return;
    disconnect(r);
    free(r);
}

const char *rds_error(const rds *r) { return r->err; }
int rds_connected(const rds *r) { return r->c != NULL; }

static void drop(rds *r, const char *why)
{
    snprintf(r->err, sizeof r->err, "%s", why);
    disconnect(r);
}

redisContext *rds_context(rds *r) { return r->c; }
void rds_drop(rds *r, const char *why) { drop(r, why); }

/* Why the connection failed: the TLS pump's reason (e.g. the alert Redis sent) if it has one. */
static const char *lost_reason(const rds *r)
{
    const char *why = r->pipe ? tlsp_error(r->pipe) : "";
    return why[0] ? why : r->c ? r->c->errstr : "closed";
}

/* A TLS connection: TCP and handshake in tls_pipe, hiredis on the plain end of its pump. */
static redisContext *connect_tls(rds *r)
{
    char label[300], err[sizeof r->err];
    snprintf(label, sizeof label, "Redis at %s:%d", r->host, r->port);
    tlsp_ctx *x = tls_ctx(err, sizeof err);
    int fd = -1;
    r->pipe = x ? tlsp_open(x, r->host, r->port, tls.servername, label, r->timeout_ms, &fd, err,
                            sizeof err)
                : NULL;
    if (!r->pipe) {
        snprintf(r->err, sizeof r->err, "%s", err);
        return NULL;
    }
    redisContext *c = redisConnectFd(fd);
    if (!c) {
        close(fd);
        snprintf(r->err, sizeof r->err, "cannot connect to %s: out of memory", label);
    }
    return c;
}

static redisContext *connect_tcp(rds *r, struct timeval tv)
{
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!c || c->err) {
        snprintf(r->err, sizeof r->err, "cannot connect to Redis at %s:%d: %s", r->host, r->port,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    redisEnableKeepAlive(c);   /* on the TCP socket; tls_pipe sets it itself */
    return c;
}

int rds_ensure(rds *r)
{
    if (r->c)
        return 0;
    int64_t now = mono_ms();
    if (now < r->next_try_ms)
        return -1;
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisReply *rep = NULL;
    redisContext *c = r->tls ? connect_tls(r) : connect_tcp(r, tv);
    if (!c)
        goto drop_backoff;
    redisSetTimeout(c, tv);
    r->c = c;
    if (r->tls) {
        /* with TLS 1.3, Redis judges our certificate only after our handshake has ended: a PING
         * makes a refusal a failed connect (with backoff), not a lost connection */
        rep = redisCommand(c, "PING");
        if (!rep) {
            const char *why = r->pipe ? tlsp_error(r->pipe) : "";
            if (why[0])
                snprintf(r->err, sizeof r->err, "%s", why);
            else
                snprintf(r->err, sizeof r->err, "Redis at %s:%d closed the connection after the "
                         "TLS handshake: %s", r->host, r->port, c->errstr);
            goto drop_backoff;
        }
        freeReplyObject(rep);
        rep = NULL;
    }
    if (r->pass[0]) {
        rep = r->user[0] ? redisCommand(c, "AUTH %s %s", r->user, r->pass)
                         : redisCommand(c, "AUTH %s", r->pass);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(r->err, sizeof r->err, "Redis refused AUTH: %s",
                     rep ? rep->str : lost_reason(r));
            goto drop_backoff;
        }
        freeReplyObject(rep);
    }
    if (r->db) {
        rep = redisCommand(c, "SELECT %d", r->db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(r->err, sizeof r->err, "Redis refused SELECT %d: %s", r->db,
                     rep ? rep->str : lost_reason(r));
            goto drop_backoff;
        }
        freeReplyObject(rep);
    }
    r->backoff_ms = 100;
    r->err[0] = '\0';
    return 0;
drop_backoff:
    if (rep)
        freeReplyObject(rep);
    disconnect(r);
    r->next_try_ms = now + r->backoff_ms;
    r->backoff_ms = r->backoff_ms * 2 > 2000 ? 2000 : r->backoff_ms * 2;
    return -1;
}

static redisReply *checked(rds *r, redisReply *rep)
{
    if (!rep) {
        char why[300];
        snprintf(why, sizeof why, "Redis connection lost: %s", lost_reason(r));
        drop(r, why);
    }
    return rep;
}

redisReply *rds_cmd(rds *r, const char *fmt, ...)
{
    if (rds_ensure(r))
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    va_end(ap);
    return checked(r, rep);
}

redisReply *rds_argv(rds *r, int argc, const char **argv, const size_t *lens)
{
    if (rds_ensure(r))
        return NULL;
    return checked(r, redisCommandArgv(r->c, argc, argv, lens));
}

int rds_append_argv(rds *r, int argc, const char **argv, const size_t *lens)
{
    if (rds_ensure(r))
        return -1;
    return redisAppendCommandArgv(r->c, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

redisReply *rds_read(rds *r)
{
    if (!r->c)
        return NULL;
    void *rep = NULL;
    if (redisGetReply(r->c, &rep) != REDIS_OK)
        rep = NULL;
    return checked(r, rep);
}

#define MAX_SCRIPTS 32

static char script_sha[MAX_SCRIPTS][41];   /* SHA-1 hex of embedded_scripts[i] */
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void compute_shas(void)
{
    for (int i = 0; embedded_scripts[i].name && i < MAX_SCRIPTS; i++) {
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)embedded_scripts[i].text, embedded_scripts[i].len, md);
        for (int k = 0; k < SHA_DIGEST_LENGTH; k++)
            snprintf(script_sha[i] + 2 * k, 3, "%02x", md[k]);
    }
}

static int script_index(rds *r, const char *name)
{
    pthread_once(&sha_once, compute_shas);
    for (int i = 0; embedded_scripts[i].name && i < MAX_SCRIPTS; i++)
        if (strcmp(embedded_scripts[i].name, name) == 0)
            return i;
    snprintf(r->err, sizeof r->err, "no embedded script %s", name);
    return -1;
}

/* EVALSHA argv for script i: av/al hold argc + 3 entries. */
static void evalsha_argv(int i, int argc, const char **argv, const size_t *lens, const char **av,
                         size_t *al)
{
    av[0] = "EVALSHA", al[0] = 7;
    av[1] = script_sha[i], al[1] = 40;
    av[2] = "0", al[2] = 1;
    for (int k = 0; k < argc; k++)
        av[k + 3] = argv[k], al[k + 3] = lens ? lens[k] : strlen(argv[k]);
}

static redisReply *run_script(rds *r, int i, int argc, const char **argv, const size_t *lens)
{
    const char **av = malloc((size_t)(argc + 3) * sizeof *av);
    size_t *al = malloc((size_t)(argc + 3) * sizeof *al);
    evalsha_argv(i, argc, argv, lens, av, al);
    redisReply *rep = rds_argv(r, argc + 3, av, al);
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        /* NOSCRIPT means it did not run: load it (Redis restarted or flushed) and run it once */
        freeReplyObject(rep);
        rep = rds_cmd(r, "SCRIPT LOAD %b", embedded_scripts[i].text, embedded_scripts[i].len);
        if (rep) {
            freeReplyObject(rep);
            rep = rds_argv(r, argc + 3, av, al);
        }
    }
    free(av);
    free(al);
    return rep;
}

redisReply *rds_script(rds *r, const char *name, int argc, const char **argv, const size_t *lens)
{
    int i = script_index(r, name);
    return i < 0 ? NULL : run_script(r, i, argc, argv, lens);
}

int rds_script_append(rds *r, const char *name, int argc, const char **argv, const size_t *lens)
{
    int i = script_index(r, name);
    if (i < 0)
        return -1;
    const char **av = malloc((size_t)(argc + 3) * sizeof *av);
    size_t *al = malloc((size_t)(argc + 3) * sizeof *al);
    evalsha_argv(i, argc, argv, lens, av, al);
    int rc = rds_append_argv(r, argc + 3, av, al);
    free(av);
    free(al);
    return rc;
}

int rds_noscript(const redisReply *rep)
{
    return rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0;
}

/* "$<n>\r\n" or "*<n>\r\n" into p; returns the bytes written. */
static size_t resp_len_line(char *p, char kind, size_t n)
{
    char digits[24];
    int k = 0;
    do {
        digits[k++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    size_t w = 0;
    p[w++] = kind;
    while (k)
        p[w++] = digits[--k];
    p[w++] = '\r';
    p[w++] = '\n';
    return w;
}

char *rds_script_format(const char *name, int argc, const char **argv, const size_t *lens,
                        long long *len)
{
    pthread_once(&sha_once, compute_shas);
    int i = 0;
    while (embedded_scripts[i].name && strcmp(embedded_scripts[i].name, name) != 0)
        i++;
    if (!embedded_scripts[i].name)
        return NULL;
    const char **av = malloc((size_t)(argc + 3) * sizeof *av);
    size_t *al = malloc((size_t)(argc + 3) * sizeof *al);
    evalsha_argv(i, argc, argv, lens, av, al);
    /* RESP by hand: hiredis's formatter spends most of its time in sprintf */
    size_t total = 32;
    for (int k = 0; k < argc + 3; k++)
        total += al[k] + 32;
    char *cmd = malloc(total), *p = cmd;
    p += resp_len_line(p, '*', (size_t)(argc + 3));
    for (int k = 0; k < argc + 3; k++) {
        p += resp_len_line(p, '$', al[k]);
        memcpy(p, av[k], al[k]);
        p += al[k];
        *p++ = '\r';
        *p++ = '\n';
    }
    *len = p - cmd;
    free(av);
    free(al);
    return cmd;
}

const char *rds_lost_reason(const rds *r) { return lost_reason(r); }

int rds_script_load_append(rds *r, const char *name)
{
    int i = script_index(r, name);
    if (i < 0 || !r->c)
        return -1;
    return redisAppendCommand(r->c, "SCRIPT LOAD %b", embedded_scripts[i].text,
                              embedded_scripts[i].len) == REDIS_OK ? 0 : -1;
}

