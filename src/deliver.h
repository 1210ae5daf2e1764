/* deliver — builds the HTTP request of one delivery attempt from the subscriber and the event:
 * URL templating (path parameters, query string), method, headers, body or envelope, and the
 * Standard Webhooks signature headers. The transfer itself (libcurl) is the worker's.
 * Engine: no I/O; the caller passes the time. Calls: sub, sign, codec, buf, cJSON.
 * Ownership: deliver_build fills a deliver_request that owns all its strings; free it with
 * deliver_request_free. */
#ifndef SY_DELIVER_H
#define SY_DELIVER_H
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "sub.h"

typedef struct deliver_job {
    const char *job_id;        /* webhook-id: one per (event, subscriber), stable across attempts */
    const char *event_id;      /* the publisher-visible event id */
    const char *topic;         /* the published topic */
    int64_t published_at_ms;   /* publish time, epoch ms */
    int attempt;               /* this attempt's number, 1-based */
    const cJSON *data;         /* the event data object (may be NULL: treated as {}) */
} deliver_job;

typedef struct deliver_request {
    char *url;         /* absolute URL with path params substituted and query appended */
    char *method;      /* upper-case method */
    char **headers;    /* "name: value" lines ready for curl, names lower-case */
    size_t nheaders;   /* entries in headers */
    char *body;        /* request body (JSON), NUL-terminated */
    size_t body_len;   /* bytes in body */
} deliver_request;

/* Builds the request for job to subscriber s at now_s (epoch seconds: webhook-timestamp).
 * URL: :name / {name} are replaced, in the path only (never the scheme, userinfo or :port), by
 *   data.path_params[name] (string, number written as JSON writes it, or bool) percent-encoded
 *   with '/' as %2F; then data.query_params members with string/number/bool values are appended
 *   in order (null, arrays and objects skipped). The fragment is dropped.
 * Method: s->method, else data.http_method upper-cased (letters only), else POST.
 * Headers: data.headers, then s->headers (case-insensitive override), then the fixed ones
 *   (content-type, user-agent, switchyard-topic/-attempt/-event-id, webhook-id/-timestamp/
 *   -signature), which override both. Names are lower-case; values OWS-trimmed. Skipped: non-string
 *   values, names that are not tokens, values with control bytes other than HTAB, hop-by-hop and
 *   framing headers, and webhook-* / switchyard-* from data. Lines are in curl's syntax: "name: v",
 *   "name;" for an empty value, and "expect:" (no value) which stops curl's Expect: 100-continue.
 * Body: data.body as JSON ("{}" if absent), or the envelope when s->envelope.
 * Signature: under s->secret, plus a second space-separated one under s->prev_secret while
 *   now_s * 1000 < s->prev_secret_until_ms.
 * Returns 0, or -1 with a sentence in err (missing path parameter, bad method, URL not http(s),
 * bad secret, job ids with control bytes): a permanent failure. On -1 *out is empty (zeroed) and
 * needs no free; on 0 free it with deliver_request_free. */
int deliver_build(const subscriber *s, const deliver_job *job, int64_t now_s, deliver_request *out,
                  char *err, size_t errlen);
/* Frees what r owns and zeroes it; safe on a zeroed or already freed request and on NULL. */
void deliver_request_free(deliver_request *r);

struct sockaddr;
/* The deny list for targets (optional, SWITCHYARD_DENY_PRIVATE_TARGETS): 1 if the address is
 * loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud metadata address,
 * fe80::/10), carrier-grade NAT (100.64/10), unspecified or multicast - IPv4-mapped IPv6 judged as its
 * IPv4 address - with the range's name in why; 0 if public. Applied to the address actually
 * connected to, so DNS answers cannot route around it. */
int deliver_address_denied(const struct sockaddr *sa, char *why, size_t whylen);

#endif
