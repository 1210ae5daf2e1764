/* publish — publish events through the Switchyard C SDK.
 *
 *   SWITCHYARD_HUB_URL=http://127.0.0.1:8080 SWITCHYARD_JWT_SECRET=... \
 *       ./publish orders.created '{"body": {"id": 7, "total": 120}}' [COUNT]
 *
 * Prints one event id per line. The token is minted from SWITCHYARD_JWT_SECRET (or taken as is from
 * SWITCHYARD_TOKEN). With COUNT, publishes that many times over one kept-alive connection. */
#include <stdio.h>
#include <stdlib.h>

#include "switchyard.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s TOPIC DATA_JSON [COUNT]\n", argv[0]);
        return 2;
    }
    const char *hub = getenv("SWITCHYARD_HUB_URL");
    const char *secret = getenv("SWITCHYARD_JWT_SECRET");
    const char *token = getenv("SWITCHYARD_TOKEN");
    long count = argc == 4 ? strtol(argv[3], NULL, 10) : 1;

    /* One thread here, so curl_global_init is left to libcurl (see switchyard.h, THREADS). */
    syc_client *c = syc_client_new(hub ? hub : "http://127.0.0.1:8080");
    if (!c) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (syc_error_code(c)[0]) {   /* a bad hub URL is reported here, as hiredis reports c->err */
        fprintf(stderr, "%s\n", syc_error(c));
        syc_client_free(c);
        return 1;
    }
    if (token)
        syc_set_token(c, token);
    else
        syc_set_jwt_secret(c, secret, NULL, 0);   /* minted tokens, re-minted before they expire */

    int rc = 0;
    char id[SYC_EVENT_ID_MAX];
    for (long i = 0; i < count; i++) {
        if (syc_publish(c, argv[1], argv[2], NULL, id, sizeof id) != 0) {
            /* e.g. "publish failed: 401 unauthorized: token signature does not match" */
            fprintf(stderr, "publish failed: %d %s: %s\n", syc_status(c), syc_error_code(c), syc_error(c));
            rc = 1;
            break;
        }
        printf("%s\n", id);
    }
    syc_client_free(c);
    return rc;
}
