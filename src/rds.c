#include "rds.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

extern const struct {
    const char *name;
    const char *text;
    size_t len;
} embedded_scripts[];

struct rds {
    redisContext *c;        /* NULL while disconnected */
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
        snprintf(err, errlen, "SWITCHYARD_REDIS_URL: rediss:// (TLS) needs hiredis with TLS, which "
                              "this build does not have; use redis:// or a TLS tunnel");
        goto fail;
    } else {
        snprintf(err, errlen, "SWITCHYARD_REDIS_URL: \"%s\" must start with redis://", url);
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
    r->backoff_ms = 100;
    snprintf(r->err, sizeof r->err, "not connected yet");
    return r;
fail:
    free(r);
    return NULL;
}

void rds_free(rds *r)
{
    if (!r)
        return;
    if (r->c)
        redisFree(r->c);
    free(r);
}

const char *rds_error(const rds *r) { return r->err; }
int rds_connected(const rds *r) { return r->c != NULL; }

static void drop(rds *r, const char *why)
{
    snprintf(r->err, sizeof r->err, "%s", why);
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
}

int rds_ensure(rds *r)
{
    if (r->c)
        return 0;
    int64_t now = mono_ms();
    if (now < r->next_try_ms)
        return -1;
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!c || c->err) {
        snprintf(r->err, sizeof r->err, "cannot connect to Redis at %s:%d: %s", r->host, r->port,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        goto backoff;
    }
    redisSetTimeout(c, tv);
    redisEnableKeepAlive(c);
    r->c = c;
    redisReply *rep = NULL;
    if (r->pass[0]) {
        rep = r->user[0] ? redisCommand(c, "AUTH %s %s", r->user, r->pass)
                         : redisCommand(c, "AUTH %s", r->pass);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(r->err, sizeof r->err, "Redis refused AUTH: %s",
                     rep ? rep->str : c->errstr);
            goto drop_backoff;
        }
        freeReplyObject(rep);
    }
    if (r->db) {
        rep = redisCommand(c, "SELECT %d", r->db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(r->err, sizeof r->err, "Redis refused SELECT %d: %s", r->db,
                     rep ? rep->str : c->errstr);
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
    redisFree(r->c);
    r->c = NULL;
backoff:
    r->next_try_ms = now + r->backoff_ms;
    r->backoff_ms = r->backoff_ms * 2 > 2000 ? 2000 : r->backoff_ms * 2;
    return -1;
}

static redisReply *checked(rds *r, redisReply *rep)
{
    if (!rep) {
        char why[200];
        snprintf(why, sizeof why, "Redis connection lost: %s", r->c ? r->c->errstr : "closed");
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

static const char *script_text(const char *name, size_t *len)
{
    for (int i = 0; embedded_scripts[i].name; i++)
        if (strcmp(embedded_scripts[i].name, name) == 0) {
            *len = embedded_scripts[i].len;
            return embedded_scripts[i].text;
        }
    return NULL;
}

redisReply *rds_script(rds *r, const char *name, int argc, const char **argv, const size_t *lens)
{
    size_t tlen;
    const char *text = script_text(name, &tlen);
    if (!text) {
        snprintf(r->err, sizeof r->err, "no embedded script %s", name);
        return NULL;
    }
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)text, tlen, md);
    char sha[41];
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(sha + 2 * i, 3, "%02x", md[i]);

    enum { MAXARGS = 4096 };
    if (argc + 3 > MAXARGS)
        return NULL;
    const char **av = malloc((size_t)(argc + 3) * sizeof *av);
    size_t *al = malloc((size_t)(argc + 3) * sizeof *al);
    av[0] = "EVALSHA", al[0] = 7;
    av[1] = sha, al[1] = 40;
    av[2] = "0", al[2] = 1;
    for (int i = 0; i < argc; i++)
        av[i + 3] = argv[i], al[i + 3] = lens ? lens[i] : strlen(argv[i]);
    redisReply *rep = rds_argv(r, argc + 3, av, al);
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        rep = rds_cmd(r, "SCRIPT LOAD %b", text, tlen);
        if (rep) {
            freeReplyObject(rep);
            rep = rds_argv(r, argc + 3, av, al);
        }
    }
    free(av);
    free(al);
    return rep;
}
