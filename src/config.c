#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { STR, INT, SIZE };

typedef struct setting {
    const char *flag;     /* command-line name, without "--" */
    const char *env;      /* SWITCHYARD_* variable */
    const char *alias;    /* switch's variable name, or NULL */
    enum kind kind;       /* how the value is parsed */
    size_t off;           /* offset of the field in struct config */
    size_t cap;           /* STR: bytes of the field */
    int64_t min, max;     /* INT/SIZE: allowed range */
    const char *def;      /* default, as text */
    const char *help;     /* one line */
} setting;

#define S(f, e, a, field, d, h)                                                                    \
    {f, e, a, STR, offsetof(config, field), sizeof(((config *)0)->field), 0, 0, d, h}
#define I(f, e, a, field, lo, hi, d, h) {f, e, a, INT, offsetof(config, field), 0, lo, hi, d, h}
#define Z(f, e, a, field, lo, hi, d, h) {f, e, a, SIZE, offsetof(config, field), 0, lo, hi, d, h}

static const setting settings[] = {
    S("listen", "SWITCHYARD_LISTEN", NULL, listen, "127.0.0.1:8080",
      "hub listen address host:port (SWITCH_SERVER_PORT sets only the port)"),
    S("worker-listen", "SWITCHYARD_WORKER_LISTEN", NULL, worker_listen, "127.0.0.1:8081",
      "worker /metrics and /healthz address"),
    S("redis-url", "SWITCHYARD_REDIS_URL", NULL, redis_url, "redis://127.0.0.1:6379/0",
      "Redis URL, redis://[user:password@]host:port/db; rediss:// for TLS"),
    S("redis-tls-ca", "SWITCHYARD_REDIS_TLS_CA", NULL, redis_tls_ca, "",
      "rediss://: CA bundle (PEM) Redis's certificate must chain to; unset: the system store"),
    S("redis-tls-cert", "SWITCHYARD_REDIS_TLS_CERT", NULL, redis_tls_cert, "",
      "rediss://: client certificate (PEM) for mutual TLS; needs redis-tls-key"),
    S("redis-tls-key", "SWITCHYARD_REDIS_TLS_KEY", NULL, redis_tls_key, "",
      "rediss://: private key (PEM, unencrypted) of redis-tls-cert"),
    S("redis-tls-servername", "SWITCHYARD_REDIS_TLS_SERVERNAME", NULL, redis_tls_servername, "",
      "rediss://: name (or IP) Redis's certificate must carry, sent as SNI; unset: the URL's host"),
    S("prefix", "SWITCHYARD_PREFIX", NULL, prefix, "sy", "Redis key prefix"),
    S("jwt-secret", "SWITCHYARD_JWT_SECRET", "SWITCH_JWT_SECRET", jwt_secret, "",
      "publisher token secret (HS256); the hub refuses to start without it"),
    S("admin-token", "SWITCHYARD_ADMIN_TOKEN", NULL, admin_token, "",
      "admin credential (Authorization: Bearer ...); unset: the admin API answers 401"),
    S("hub-url", "SWITCHYARD_HUB_URL", NULL, hub_url, "http://127.0.0.1:8080",
      "hub the CLI verbs talk to"),
    S("log-format", "SWITCHYARD_LOG_FORMAT", NULL, log_format, "kv", "log lines: kv or json"),
    S("log-level", "SWITCHYARD_LOG_LEVEL", NULL, log_level, "info", "debug, info, warn or error"),
    Z("max-body", "SWITCHYARD_MAX_BODY", NULL, max_body, 1, 64 << 20, "1048576",
      "request body limit in bytes"),
    I("filter-deadline-ms", "SWITCHYARD_FILTER_DEADLINE_MS", NULL, filter_deadline_ms, 1, 10000,
      "5", "wall-clock limit of one filter evaluation, ms"),
    I("concurrency", "SWITCHYARD_CONCURRENCY", "SWITCH_CONSUMER_CONCURRENCY_LEVEL", concurrency, 1,
      10000, "64", "worker: deliveries in flight per process"),
    I("threads", "SWITCHYARD_THREADS", NULL, hub_threads, 0, 256, "0",
      "hub: HTTP threads, each an event loop (0: one per CPU the hub may run on, 2 to 4)"),
    I("visibility-ms", "SWITCHYARD_VISIBILITY_MS", NULL, visibility_ms, 100, 86400000, "30000",
      "worker: a job held this long by a silent worker is taken again, ms"),
    I("retention-s", "SWITCHYARD_RETENTION_S", NULL, retention_s, 60, 365 * 86400, "2592000",
      "how long events, attempts and dead letters are kept, s"),
    I("refresh-ms", "SWITCHYARD_REFRESH_MS", NULL, refresh_ms, 10, 60000, "250",
      "how often subscriber changes are picked up, ms"),
    I("breaker-failures", "SWITCHYARD_BREAKER_FAILURES", NULL, breaker_failures, 0, 1000000, "10",
      "worker: consecutive failed attempts that open a subscriber's circuit (0: no breaker)"),
    I("breaker-probe-ms", "SWITCHYARD_BREAKER_PROBE_MS", NULL, breaker_probe_ms, 100, 3600000,
      "5000", "worker: first wait before an open circuit is probed, ms (doubles up to 64x)"),
    I("deny-private-targets", "SWITCHYARD_DENY_PRIVATE_TARGETS", NULL, deny_private, 0, 1, "0",
      "worker: 1 refuses to connect to loopback, private, link-local and metadata addresses"),
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

static int set(config *c, const setting *s, const char *val, const char *from, char *err,
               size_t errlen)
{
    char *field = (char *)c + s->off;
    if (s->kind == STR) {
        if (strlen(val) >= s->cap) {
            snprintf(err, errlen, "%s: value is longer than %zu bytes", from, s->cap - 1);
            return -1;
        }
        strcpy(field, val);
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (s->kind == SIZE && end != val && errno == 0) {
        if (*end == 'k' || *end == 'K')
            v *= 1024, end++;
        else if (*end == 'm' || *end == 'M')
            v *= 1024 * 1024, end++;
        if (*end == 'i' || *end == 'b' || *end == 'B')
            end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    }
    if (end == val || *end || errno || v < s->min || v > s->max) {
        snprintf(err, errlen, "%s: \"%s\" is not allowed; expected a whole number from %lld to %lld%s",
                 from, val, (long long)s->min, (long long)s->max,
                 s->kind == SIZE ? " (bytes; k and M suffixes accepted)" : "");
        return -1;
    }
    *(int64_t *)field = v;
    return 0;
}

static const setting *by_name(const char *name, size_t n)
{
    for (size_t k = 0; k < NSETTINGS; k++) {
        const setting *s = &settings[k];
        if ((strlen(s->flag) == n && strncmp(s->flag, name, n) == 0) ||
            (strlen(s->env) == n && strncmp(s->env, name, n) == 0) ||
            (s->alias && strlen(s->alias) == n && strncmp(s->alias, name, n) == 0))
            return s;
    }
    return NULL;
}

/* The config file: "NAME=value" lines, NAME a flag or environment name; '#' starts a comment line;
 * the value runs to the end of the line (surrounding spaces and one pair of quotes dropped). */
static int load_file(config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "config file %s cannot be read", path);
        return -1;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line, *end = line + strlen(line);
        while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected NAME=value", path, lineno);
            rc = -1;
            break;
        }
        char *name_end = eq;
        while (name_end > p && (name_end[-1] == ' ' || name_end[-1] == '\t'))
            name_end--;
        const setting *s = by_name(p, (size_t)(name_end - p));
        char *val = eq + 1;
        while (*val == ' ' || *val == '\t')
            val++;
        size_t vlen = strlen(val);
        if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') && val[vlen - 1] == val[0]) {
            val[vlen - 1] = '\0';
            val++;
        }
        char from[300];
        snprintf(from, sizeof from, "%s:%d: %.*s", path, lineno, (int)(name_end - p), p);
        if (!s) {
            snprintf(err, errlen, "%s is not a setting (see switchyard --help)", from);
            rc = -1;
        } else {
            rc = set(c, s, val, from, err, errlen);
        }
    }
    fclose(f);
    return rc;
}

/* The rediss:// settings: files readable, certificate and key together, and only with rediss:// (a
 * CA given for a plain redis:// URL would suggest TLS where there is none). */
static int check_redis_tls(const config *c, char *err, size_t errlen)
{
    const struct {
        const char *env;   /* setting name in messages */
        const char *path;  /* its value */
    } files[] = {{"SWITCHYARD_REDIS_TLS_CA", c->redis_tls_ca},
                 {"SWITCHYARD_REDIS_TLS_CERT", c->redis_tls_cert},
                 {"SWITCHYARD_REDIS_TLS_KEY", c->redis_tls_key}};
    int tls = strncmp(c->redis_url, "rediss://", 9) == 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!files[i].path[0])
            continue;
        if (!tls) {
            snprintf(err, errlen, "%s is set but SWITCHYARD_REDIS_URL is not rediss://; use a "
                     "rediss:// URL for TLS, or unset it", files[i].env);
            return -1;
        }
        FILE *f = fopen(files[i].path, "r");
        if (!f) {
            snprintf(err, errlen, "%s: cannot read %s: %s", files[i].env, files[i].path,
                     strerror(errno));
            return -1;
        }
        fclose(f);
    }
    if (!c->redis_tls_cert[0] != !c->redis_tls_key[0]) {
        snprintf(err, errlen, "%s is set without %s; mutual TLS needs both",
                 c->redis_tls_cert[0] ? "SWITCHYARD_REDIS_TLS_CERT" : "SWITCHYARD_REDIS_TLS_KEY",
                 c->redis_tls_cert[0] ? "SWITCHYARD_REDIS_TLS_KEY" : "SWITCHYARD_REDIS_TLS_CERT");
        return -1;
    }
    if (c->redis_tls_servername[0] && !tls) {
        snprintf(err, errlen, "SWITCHYARD_REDIS_TLS_SERVERNAME is set but SWITCHYARD_REDIS_URL is "
                 "not rediss://");
        return -1;
    }
    return 0;
}

int config_load(config *c, int argc, char **argv, char ***rest, int *nrest, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NSETTINGS; i++)
        if (set(c, &settings[i], settings[i].def, settings[i].flag, err, errlen))
            return -1;
    /* the config file is the weakest source that is not a default: environment and flags win */
    const char *file = getenv("SWITCHYARD_CONFIG");
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
    }
    if (file && *file && load_file(c, file, err, errlen))
        return -1;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting *s = &settings[i];
        const char *v = s->alias ? getenv(s->alias) : NULL;
        if (v && *v && set(c, s, v, s->alias, err, errlen))
            return -1;
        v = getenv(s->env);
        if (v && *v && set(c, s, v, s->env, err, errlen))
            return -1;
    }
    /* switch's port variable: keeps the host of SWITCHYARD_LISTEN, replaces its port */
    const char *port = getenv("SWITCH_SERVER_PORT");
    if (port && *port && !getenv("SWITCHYARD_LISTEN")) {
        char *end;
        long p = strtol(port, &end, 10);
        if (*end || p < 1 || p > 65535) {
            snprintf(err, errlen, "SWITCH_SERVER_PORT: \"%s\" is not a port (1-65535)", port);
            return -1;
        }
        snprintf(c->listen, sizeof c->listen, "0.0.0.0:%ld", p);
    }
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            argv[n++] = argv[i];
            continue;
        }
        if (strncmp(a, "--config", 8) == 0 && (a[8] == '\0' || a[8] == '=')) {
            i += a[8] == '\0';   /* read above */
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const setting *s = NULL;
        for (size_t k = 0; k < NSETTINGS; k++)
            if (strlen(settings[k].flag) == nlen && strncmp(settings[k].flag, name, nlen) == 0)
                s = &settings[k];
        if (!s) {   /* not a setting: a verb's own flag, left for the verb */
            argv[n++] = argv[i];
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            snprintf(err, errlen, "--%s needs a value", s->flag);
            return -1;
        }
        char from[80];
        snprintf(from, sizeof from, "--%s", s->flag);
        if (set(c, s, val, from, err, errlen))
            return -1;
    }
    if (strcmp(c->log_format, "kv") && strcmp(c->log_format, "json")) {
        snprintf(err, errlen, "SWITCHYARD_LOG_FORMAT: \"%s\" is not allowed; use kv or json",
                 c->log_format);
        return -1;
    }
    if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") &&
        strcmp(c->log_level, "warn") && strcmp(c->log_level, "error")) {
        snprintf(err, errlen,
                 "SWITCHYARD_LOG_LEVEL: \"%s\" is not allowed; use debug, info, warn or error",
                 c->log_level);
        return -1;
    }
    if (check_redis_tls(c, err, errlen))
        return -1;
    *rest = argv;
    *nrest = n;
    return 0;
}

void config_help(char *out, size_t outlen)
{
    size_t used = (size_t)snprintf(out, outlen,
                                   "  --%-20s %-52s default: (none)\n      %s\n", "config",
                                   "SWITCHYARD_CONFIG",
                                   "file of NAME=value lines (flag or environment names); "
                                   "environment and flags override it");
    for (size_t i = 0; i < NSETTINGS && used < outlen; i++) {
        const setting *s = &settings[i];
        char envs[96];
        snprintf(envs, sizeof envs, "%s%s%s", s->env, s->alias ? ", " : "", s->alias ? s->alias : "");
        int w = snprintf(out + used, outlen - used, "  --%-20s %-52s default: %s\n      %s\n", s->flag,
                         envs, *s->def ? s->def : "(none)", s->help);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}
