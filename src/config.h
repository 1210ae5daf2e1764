/* config — every setting of every subcommand: defaults, an optional config file (--config or
 * SWITCHYARD_CONFIG), SWITCHYARD_* environment variables (and switch's aliases), then command-line
 * flags, in rising precedence; --help text.
 * Calls: nothing (reads the environment). */
#ifndef SY_CONFIG_H
#define SY_CONFIG_H
#include <stddef.h>
#include <stdint.h>

typedef struct config {
    char listen[256];          /* hub listen address, host:port */
    char worker_listen[256];   /* worker metrics/health address, host:port */
    char redis_url[512];       /* redis:// or rediss://[user:pass@]host:port/db */
    char redis_tls_ca[512];    /* rediss://: CA bundle file (PEM); "" = the system store */
    char redis_tls_cert[512];  /* rediss://: client certificate file (PEM) for mutual TLS; "" = none */
    char redis_tls_key[512];   /* rediss://: its private key file (PEM); set with redis_tls_cert */
    char redis_tls_servername[256]; /* rediss://: name Redis's certificate must carry; "" = URL host */
    char prefix[64];           /* Redis key prefix */
    char jwt_secret[512];      /* publisher token secret; "" = not set */
    char admin_token[512];     /* admin credential; "" = admin API refuses everything */
    char hub_url[512];         /* hub base URL the CLI talks to */
    char log_format[16];       /* "kv" or "json" */
    char log_level[16];        /* "debug", "info", "warn", "error" */
    int64_t max_body;          /* request body limit, bytes */
    int64_t filter_deadline_ms;/* per filter evaluation, ms */
    int64_t concurrency;       /* worker: deliveries in flight per process */
    int64_t hub_threads;       /* hub: HTTP threads; 0: hub_run picks one per CPU, 2 to 4 */
    int64_t visibility_ms;     /* worker: a job idle this long in another consumer is reclaimed, ms */
    int64_t retention_s;       /* how long events, jobs and dead letters are kept, s */
    int64_t refresh_ms;        /* how often a process checks for subscriber changes, ms */
    int64_t breaker_failures;  /* worker: consecutive failures that open a subscriber's circuit; 0 off */
    int64_t breaker_probe_ms;  /* worker: first wait before probing an open circuit, ms */
    int64_t deny_private;      /* worker: 1 = refuse loopback/private/link-local target addresses */
} config;

/* Fills c with defaults, then the environment, then argv flags ("--name value" or "--name=value";
 * names as in --help). Positional arguments are left in *rest / *nrest (pointers into argv).
 * Returns 0, or -1 with a message naming the setting and what is allowed in err. */
int config_load(config *c, int argc, char **argv, char ***rest, int *nrest, char *err, size_t errlen);

/* Writes the settings table (flag, environment variable, default, meaning) to buf-like out. */
void config_help(char *out, size_t outlen);

#endif
