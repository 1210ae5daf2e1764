/* live_client — drives every client call of the C SDK from the command line, for test_live.py.
 *
 *   live_client HUB_URL COMMAND [ARGS...]
 *
 * Settings from the environment: SYC_TOKEN, SYC_JWT_SECRET (+ SYC_JWT_TOPICS, SYC_JWT_TTL),
 * SYC_ADMIN_TOKEN, SYC_RETRIES, SYC_TIMEOUT_MS. An argument "-" stands for NULL.
 *
 *   publish TOPIC DATA [ID DELIVER_AT TTL IDEMPOTENCY_KEY]   prints the event id
 *   publish-loop COUNT TOPIC DATA                            prints COUNT event ids
 *   sub-create JSON | sub-put NAME JSON | sub-get ID | sub-list [TOPIC] | sub-update ID JSON
 *   sub-delete ID | dead-list SUB LIMIT CURSOR | dead-replay JOB | dead-delete JOB | event-get ID
 *   request METHOD PATH [JSON]                               print the hub's JSON answer, or "ok"
 *
 * Success: the result on stdout, exit 0. Failure: "ERROR<TAB>status<TAB>code<TAB>message" on stdout,
 * exit 1. Usage errors exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchyard.h"

static const char *arg(int argc, char **argv, int i)
{
    return i < argc && strcmp(argv[i], "-") != 0 ? argv[i] : NULL;
}

static int is(const char *cmd, const char *name, int argc, int min)
{
    if (strcmp(cmd, name) != 0)
        return 0;
    if (argc < min) {
        fprintf(stderr, "%s: missing arguments\n", name);
        exit(2);
    }
    return 1;
}

static int run(syc_client *c, int argc, char **argv)
{
    const char *cmd = argv[2];
    char *out = NULL;
    int rc;

    if (is(cmd, "publish", argc, 5)) {
        syc_publish_opts o = {.id = arg(argc, argv, 5), .deliver_at = arg(argc, argv, 6),
                              .ttl_s = arg(argc, argv, 7) ? strtol(argv[7], NULL, 10) : 0,
                              .idempotency_key = arg(argc, argv, 8)};
        char id[SYC_EVENT_ID_MAX];
        rc = syc_publish(c, argv[3], arg(argc, argv, 4), &o, id, sizeof id);
        if (rc == 0)
            printf("%s\n", id);
        return rc;
    }
    if (is(cmd, "publish-loop", argc, 6)) {
        long n = strtol(argv[3], NULL, 10);
        char id[SYC_EVENT_ID_MAX];
        for (long i = 0; i < n; i++) {
            if (syc_publish(c, argv[4], argv[5], NULL, id, sizeof id) != 0)
                return -1;
            printf("%s\n", id);
        }
        return 0;
    }
    if (is(cmd, "sub-create", argc, 4))
        rc = syc_subscriber_create(c, argv[3], &out);
    else if (is(cmd, "sub-put", argc, 5))
        rc = syc_subscriber_put(c, argv[3], argv[4], &out);
    else if (is(cmd, "sub-get", argc, 4))
        rc = syc_subscriber_get(c, argv[3], &out);
    else if (is(cmd, "sub-list", argc, 3))
        rc = syc_subscriber_list(c, arg(argc, argv, 3), &out);
    else if (is(cmd, "sub-update", argc, 5))
        rc = syc_subscriber_update(c, argv[3], argv[4], &out);
    else if (is(cmd, "sub-delete", argc, 4))
        rc = syc_subscriber_delete(c, argv[3]);
    else if (is(cmd, "dead-list", argc, 6))
        rc = syc_dead_list(c, arg(argc, argv, 3), strtol(argv[4], NULL, 10), arg(argc, argv, 5), &out);
    else if (is(cmd, "dead-replay", argc, 4))
        rc = syc_dead_replay(c, argv[3]);
    else if (is(cmd, "dead-delete", argc, 4))
        rc = syc_dead_delete(c, argv[3]);
    else if (is(cmd, "event-get", argc, 4))
        rc = syc_event_get(c, argv[3], &out);
    else if (is(cmd, "request", argc, 5))
        rc = syc_request(c, argv[3], argv[4], arg(argc, argv, 5), &out);
    else {
        fprintf(stderr, "unknown command %s\n", cmd);
        exit(2);
    }
    if (rc == 0)
        printf("%s\n", out ? out : "ok");
    syc_free(out);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HUB_URL COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    syc_client *c = syc_client_new(argv[1]);
    if (!c)
        return 2;
    const char *v;
    if ((v = getenv("SYC_TOKEN")))
        syc_set_token(c, v);
    if ((v = getenv("SYC_JWT_SECRET")))
        syc_set_jwt_secret(c, v, getenv("SYC_JWT_TOPICS"),
                           getenv("SYC_JWT_TTL") ? strtol(getenv("SYC_JWT_TTL"), NULL, 10) : 0);
    if ((v = getenv("SYC_ADMIN_TOKEN")))
        syc_set_admin_token(c, v);
    if ((v = getenv("SYC_RETRIES")))
        syc_set_retries(c, (int)strtol(v, NULL, 10));
    if ((v = getenv("SYC_TIMEOUT_MS")))
        syc_set_timeout_ms(c, strtol(v, NULL, 10));

    int rc = run(c, argc, argv);
    if (rc != 0)
        printf("ERROR\t%d\t%s\t%s\n", syc_status(c), syc_error_code(c), syc_error(c));
    syc_client_free(c);
    return rc == 0 ? 0 : 1;
}
