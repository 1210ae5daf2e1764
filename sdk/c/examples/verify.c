/* verify — check a delivery's Standard Webhooks signature with the Switchyard C SDK.
 *
 *   ./verify SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP WEBHOOK_SIGNATURE < body
 *
 * SECRET is the subscriber's "whsec_..." secret; the next three are the request's headers of those
 * names; stdin is the raw request body, byte for byte. Prints "valid" and exits 0, or prints
 * "invalid: <reason>" and exits 1. A receiver does the same with the headers and body it got. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switchyard.h"

#define BODY_MAX (16u << 20)   /* bytes of body read at most */

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s SECRET WEBHOOK_ID WEBHOOK_TIMESTAMP WEBHOOK_SIGNATURE < body\n", argv[0]);
        return 2;
    }
    char *body = malloc(BODY_MAX);
    if (!body)
        return 2;
    size_t len = fread(body, 1, BODY_MAX, stdin);

    char err[256];
    int rc = syc_verify_webhook(argv[1], argv[2], argv[3], argv[4], body, len,
                                0 /* default tolerance: 5 minutes */, 0 /* now */, err, sizeof err);
    if (rc == 0)
        printf("valid\n");
    else
        printf("invalid: %s\n", err);
    free(body);
    return rc == 0 ? 0 : 1;
}
