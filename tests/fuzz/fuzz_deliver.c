/* fuzz_deliver — libFuzzer harness for request building (URL templating, method, headers, body):
 * deliver_build with a fuzzed target_url, event data (path_params, query_params, headers,
 * http_method, body), subscriber headers and method, and topic.
 * Input: fields separated by '\n':
 *   0 target_url   1 event data (JSON)   2 subscriber headers (JSON object)   3 subscriber method
 *   4 topic        5 event id
 * Missing fields are absent (NULL). The first byte's low bits pick envelope and a previous secret.
 * Invariants on success (abort on violation): the URL has no byte <= 0x20, no DEL and no '#', and
 * keeps the target's scheme and authority byte for byte (parameters land in the path only); the method
 * is 1-32 upper-case letters; every header line is "name: value", "name;" or "name:" with a lower-case
 * token name seen once, and no CR, LF, NUL or other control byte but HTAB; the fixed headers carry the
 * hub's values (webhook-id is the job id, whatever data.headers said); the body is JSON of the
 * stated length. On failure: a non-empty err and a zeroed request.
 * Build: see tests/fuzz/run_all.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "deliver.h"
#include "sub.h"

#define JOB_ID "job_fuzzAAAAAAAAAAAAAAAAAA"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_deliver: invariant failed: %s (line %d)\n", #cond, __LINE__);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

static void check_url(const char *target, const char *url)
{
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        CHECK(*p > 0x20 && *p != 0x7f && *p != '#');
    /* scheme://authority is copied unchanged: no parameter lands in the host or port */
    const char *sep = strstr(target, "://");
    CHECK(sep != NULL);
    size_t head = (size_t)(sep + 3 - target) + strcspn(sep + 3, "/?#");
    CHECK(strncmp(url, target, head) == 0);
}

static void check_headers(const deliver_request *r, const char *topic)
{
    int saw_id = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *h = r->headers[i];
        CHECK(h != NULL);
        for (const unsigned char *p = (const unsigned char *)h; *p; p++)
            CHECK(*p >= 0x20 ? *p != 0x7f : *p == '\t');
        size_t n = strcspn(h, ":;");
        CHECK(n > 0 && h[n] != '\0');
        for (size_t k = 0; k < n; k++)
            CHECK(is_tchar((unsigned char)h[k]));
        if (h[n] == ';')
            CHECK(h[n + 1] == '\0');
        else
            CHECK(h[n + 1] == '\0' || (h[n + 1] == ' ' && h[n + 2] != '\0'));
        for (size_t j = 0; j < i; j++) {
            size_t m = strcspn(r->headers[j], ":;");
            CHECK(!(m == n && strncmp(r->headers[j], h, n) == 0));
        }
        if (strncmp(h, "webhook-id: ", 12) == 0) {
            CHECK(strcmp(h + 12, JOB_ID) == 0);
            saw_id = 1;
        }
        if (strncmp(h, "switchyard-topic: ", 18) == 0)
            CHECK(strcmp(h + 18, topic) == 0);
    }
    CHECK(saw_id);
}

static char *field_dup(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    CHECK(s != NULL);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 16 * 1024)
        return 0;
    uint8_t flags = data[0];
    data++, size--;
    char *fields[6] = {0};
    const char *p = (const char *)data, *end = p + size;
    for (int i = 0; i < 6 && p <= end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        fields[i] = field_dup(p, n);
        if (!nl)
            break;
        p = nl + 1;
    }

    cJSON *event = fields[1] ? cJSON_ParseWithLength(fields[1], strlen(fields[1])) : NULL;
    cJSON *sub_headers = fields[2] ? cJSON_ParseWithLength(fields[2], strlen(fields[2])) : NULL;

    subscriber s;
    memset(&s, 0, sizeof s);
    s.target_url = fields[0] ? fields[0] : "";
    s.method = fields[3] && fields[3][0] ? fields[3] : NULL;
    s.headers = sub_headers;
    s.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    s.prev_secret = (flags & 2) ? "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" : NULL;
    s.prev_secret_until_ms = (flags & 2) ? 1700000060000LL : 0;
    s.envelope = flags & 1;
    s.enabled = true;

    const char *topic = fields[4] ? fields[4] : "orders.created";
    deliver_job job = {.job_id = JOB_ID,
                       .event_id = fields[5] ? fields[5] : "evt_fuzz",
                       .topic = topic,
                       .published_at_ms = 1700000000000LL,
                       .attempt = 1 + (flags >> 4),
                       .data = event};
    deliver_request r;
    char err[300];
    int rc = deliver_build(&s, &job, 1700000000LL, &r, err, sizeof err);
    CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        CHECK(r.url && r.method && r.body && r.headers);
        check_url(s.target_url, r.url);
        size_t mlen = strlen(r.method);
        CHECK(mlen >= 1 && mlen <= 32);
        for (size_t i = 0; i < mlen; i++)
            CHECK(r.method[i] >= 'A' && r.method[i] <= 'Z');
        check_headers(&r, topic);
        CHECK(strlen(r.body) == r.body_len);
        cJSON *b = cJSON_ParseWithLength(r.body, r.body_len);
        CHECK(b != NULL);
        cJSON_Delete(b);
        deliver_request_free(&r);
    } else {
        CHECK(err[0] != '\0');
        CHECK(!r.url && !r.method && !r.headers && !r.body && r.nheaders == 0);
    }
    deliver_request_free(&r); /* safe on a freed or zeroed request */

    cJSON_Delete(event);
    cJSON_Delete(sub_headers);
    for (int i = 0; i < 6; i++)
        free(fields[i]);
    return 0;
}
