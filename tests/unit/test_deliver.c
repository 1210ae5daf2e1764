/* deliver: request building — URL templating, method, headers, body, envelope, signatures.
 * Subscribers are built by hand so this test does not depend on sub.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "deliver.h"
#include "sign.h"

#define SECRET "whsec_c3dpdGNoeWFyZC10ZXN0LWtleS0wMDAx"
#define PREV_SECRET "whsec_c3dpdGNoeWFyZC1wcmV2LWtleS0wMDAy"
#define NOW 1700000100

#ifndef SWITCHYARD_VERSION
#define SWITCHYARD_VERSION "0.0.0" /* as deliver.c: the build defines it */
#endif

static subscriber make_sub(const char *url)
{
    subscriber s;
    memset(&s, 0, sizeof s);
    s.id = "sub_test";
    s.name = "test";
    s.topic = "orders.*";
    s.filter = "";
    s.target_url = (char *)url;
    s.secret = SECRET;
    s.enabled = true;
    s.nsuccess = -1;
    s.ndiscard = -1;
    s.max_attempts = SUB_DEFAULT_MAX_ATTEMPTS;
    s.timeout_ms = SUB_DEFAULT_TIMEOUT_MS;
    return s;
}

/* Builds with data parsed from data_json (NULL: no data). Returns deliver_build's result. */
static int build(const subscriber *s, const char *data_json, int64_t now_s, deliver_request *r,
                 char *err, size_t errlen)
{
    cJSON *data = data_json ? cJSON_Parse(data_json) : NULL;
    if (data_json && !data) {
        fprintf(stderr, "  bad test JSON: %s\n", data_json);
        check_failed_now = 1;
    }
    deliver_job job = {"job_1", "evt_1", "orders.created", 1700000000123LL, 3, data};
    int rc = deliver_build(s, &job, now_s, r, err, errlen);
    cJSON_Delete(data);
    return rc;
}

/* The value of header name ("name: value" line), or NULL; *count gets how many lines have it. */
static const char *header(const deliver_request *r, const char *name, int *count)
{
    const char *found = NULL;
    size_t n = strlen(name);
    int c = 0;
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *h = r->headers[i];
        if (!strncmp(h, name, n) && (h[n] == ':' || h[n] == ';')) {
            c++;
            if (!found)
                found = h[n] == ':' && h[n + 1] == ' ' ? h + n + 2 : h + n + 1;
        }
    }
    if (count)
        *count = c;
    return found;
}

static char *url_for(const char *target, const char *data_json)
{
    subscriber s = make_sub(target);
    deliver_request r;
    char err[256];
    static char out[1024];
    if (build(&s, data_json, NOW, &r, err, sizeof err) < 0) {
        snprintf(out, sizeof out, "error: %s", err);
        return out;
    }
    snprintf(out, sizeof out, "%s", r.url);
    deliver_request_free(&r);
    return out;
}

TEST(test_path_params_colon_and_brace_syntax)
{
    CHECK_STR(url_for("http://h/orders/:order_id/items/{item}/x",
                      "{\"path_params\": {\"order_id\": \"7\", \"item\": \"abc\"}}"),
              "http://h/orders/7/items/abc/x");
    CHECK_STR(url_for("https://h/o/:order_id.json", "{\"path_params\": {\"order_id\": \"7\"}}"),
              "https://h/o/7.json");
}

TEST(test_path_param_numbers_render_as_json_numbers)
{
    CHECK_STR(url_for("http://h/:a/{b}/:c", "{\"path_params\": {\"a\": 42, \"b\": 1.5, \"c\": -3}}"),
              "http://h/42/1.5/-3");
}

TEST(test_path_param_percent_encodes_slash_and_reserved_characters)
{
    CHECK_STR(url_for("http://h/f/:name",
                      "{\"path_params\": {\"name\": \"a/b?c#d e&f%-._~\\u00e9\"}}"),
              "http://h/f/a%2Fb%3Fc%23d%20e%26f%25-._~%C3%A9");
}

TEST(test_port_and_scheme_not_mistaken_for_path_param)
{
    CHECK_STR(url_for("http://user:pw@host:8080/x/:id", "{\"path_params\": {\"id\": \"5\"}}"),
              "http://user:pw@host:8080/x/5");
    CHECK_STR(url_for("http://host:8080", NULL), "http://host:8080");
    CHECK_STR(url_for("http://[::1]:9000/hook", "{}"), "http://[::1]:9000/hook");
}

TEST(test_missing_path_param_is_an_error_and_leaves_request_empty)
{
    subscriber s = make_sub("http://h/orders/:order_id");
    deliver_request r;
    char err[256];
    CHECK_INT(build(&s, "{\"path_params\": {\"other\": \"1\"}}", NOW, &r, err, sizeof err), -1);
    CHECK_STR(err, "path parameter \"order_id\" is missing from data.path_params");
    CHECK(r.url == NULL && r.method == NULL && r.headers == NULL && r.body == NULL);
    CHECK_INT(r.nheaders, 0);
    deliver_request_free(&r);
    CHECK_INT(build(&s, NULL, NOW, &r, err, sizeof err), -1);
    CHECK_HAS(err, "\"order_id\" is missing");
}

TEST(test_path_param_object_value_is_an_error)
{
    CHECK_HAS(url_for("http://h/{id}", "{\"path_params\": {\"id\": {\"x\": 1}}}"),
              "error: path parameter \"id\"");
}

TEST(test_query_params_appended_in_insertion_order)
{
    CHECK_STR(url_for("http://h/p", "{\"query_params\": {\"v\": \"2\", \"q\": \"a b&c=d\", \"n\": 3, "
                                    "\"t\": true, \"skip\": null, \"k y\": \"x\"}}"),
              "http://h/p?v=2&q=a%20b%26c%3Dd&n=3&t=true&k%20y=x");
}

TEST(test_query_params_appended_to_existing_query)
{
    CHECK_STR(url_for("http://h/p?x=1", "{\"query_params\": {\"v\": \"2\"}}"), "http://h/p?x=1&v=2");
    CHECK_STR(url_for("http://h/p?", "{\"query_params\": {\"v\": \"2\"}}"), "http://h/p?v=2");
    CHECK_STR(url_for("http://h/p?x=1&", "{\"query_params\": {\"v\": \"2\"}}"), "http://h/p?x=1&v=2");
    CHECK_STR(url_for("http://h/p?x=1#frag", "{\"query_params\": {\"v\": \"2\"}}"),
              "http://h/p?x=1&v=2");
}

TEST(test_placeholders_in_existing_query_are_left_alone)
{
    CHECK_STR(url_for("http://h/:id?t=10:30", "{\"path_params\": {\"id\": \"1\"}}"),
              "http://h/1?t=10:30");
}

TEST(test_non_http_target_refused)
{
    CHECK_HAS(url_for("ftp://h/x", NULL), "error: target_url is not an absolute http or https URL");
    CHECK_HAS(url_for("h/x", NULL), "error:");
    CHECK_HAS(url_for("http:///x", NULL), "error: target_url has no host");
}

static char *method_for(const char *sub_method, const char *data_json)
{
    subscriber s = make_sub("http://h/");
    s.method = (char *)sub_method;
    deliver_request r;
    char err[256];
    static char out[512];
    if (build(&s, data_json, NOW, &r, err, sizeof err) < 0) {
        snprintf(out, sizeof out, "error: %s", err);
        return out;
    }
    snprintf(out, sizeof out, "%s", r.method);
    deliver_request_free(&r);
    return out;
}

TEST(test_method_precedence_sub_over_data_over_post)
{
    CHECK_STR(method_for("PUT", "{\"http_method\": \"PATCH\"}"), "PUT");
    CHECK_STR(method_for(NULL, "{\"http_method\": \"PATCH\"}"), "PATCH");
    CHECK_STR(method_for(NULL, "{}"), "POST");
    CHECK_STR(method_for(NULL, NULL), "POST");
    CHECK_STR(method_for(NULL, "{\"http_method\": null}"), "POST");
}

TEST(test_lowercase_data_method_is_upper_cased)
{
    CHECK_STR(method_for(NULL, "{\"http_method\": \"delete\"}"), "DELETE");
}

TEST(test_non_letter_method_is_refused)
{
    CHECK_HAS(method_for(NULL, "{\"http_method\": \"GET / HTTP/1.1\\r\\nX: y\"}"),
              "error: data.http_method must be an HTTP method name");
    CHECK_HAS(method_for(NULL, "{\"http_method\": \"\"}"), "error: data.http_method");
    CHECK_HAS(method_for(NULL, "{\"http_method\": 7}"), "error: data.http_method must be a string");
}

TEST(test_header_precedence_sub_overrides_data_case_insensitively)
{
    subscriber s = make_sub("http://h/");
    s.headers = cJSON_Parse("{\"x-tenant\": \"from-sub\", \"Authorization\": \"Basic abc\"}");
    deliver_request r;
    char err[256];
    int n;
    CHECK_INT(build(&s, "{\"headers\": {\"X-Tenant\": \"acme\", \"X-Other\": \"o\", "
                        "\"AUTHORIZATION\": \"Bearer pub\", \"x-num\": 5}}",
                    NOW, &r, err, sizeof err),
              0);
    CHECK_STR(header(&r, "x-tenant", &n), "from-sub");
    CHECK_INT(n, 1);
    CHECK_STR(header(&r, "authorization", &n), "Basic abc");
    CHECK_INT(n, 1);
    CHECK_STR(header(&r, "x-other", NULL), "o");
    CHECK(header(&r, "x-num", NULL) == NULL); /* non-string values are skipped */
    for (size_t i = 0; i < r.nheaders; i++)
        CHECK(strncmp(r.headers[i], "X-", 2) != 0 && strncmp(r.headers[i], "AUTH", 4) != 0);
    deliver_request_free(&r);
    cJSON_Delete(s.headers);
}

TEST(test_fixed_headers_override_data_and_sub_headers)
{
    subscriber s = make_sub("http://h/");
    s.headers = cJSON_Parse("{\"User-Agent\": \"sub-agent\", \"webhook-id\": \"sub-id\"}");
    deliver_request r;
    char err[256];
    int n;
    CHECK_INT(build(&s, "{\"headers\": {\"content-type\": \"text/plain\", \"Expect\": \"100-continue\"}}",
                    NOW, &r, err, sizeof err),
              0);
    CHECK_STR(header(&r, "content-type", &n), "application/json");
    CHECK_INT(n, 1);
    CHECK_STR(header(&r, "user-agent", &n), "switchyard/" SWITCHYARD_VERSION);
    CHECK_INT(n, 1);
    CHECK_STR(header(&r, "webhook-id", &n), "job_1");
    CHECK_INT(n, 1);
    header(&r, "expect", &n);
    CHECK_INT(n, 1);
    deliver_request_free(&r);
    cJSON_Delete(s.headers);
}

TEST(test_header_injection_refused)
{
    subscriber s = make_sub("http://h/");
    s.headers = cJSON_Parse("{\"x-sub-bad\": \"a\\nb\", \"x sub\": \"v\"}");
    deliver_request r;
    char err[256];
    CHECK_INT(build(&s, "{\"headers\": {\"x-a\": \"v\\r\\nx-evil: 1\", \"x-lf\": \"v\\nx-evil: 1\", "
                        "\"x-cr\": \"v\\r\", \"bad name\": \"v\", \"x:y\": \"v\", "
                        "\"x-ok\": \"fine\", \"\": \"empty\"}}",
                    NOW, &r, err, sizeof err),
              0);
    CHECK_STR(header(&r, "x-ok", NULL), "fine");
    CHECK(header(&r, "x-a", NULL) == NULL);
    CHECK(header(&r, "x-lf", NULL) == NULL);
    CHECK(header(&r, "x-cr", NULL) == NULL);
    CHECK(header(&r, "x-evil", NULL) == NULL);
    CHECK(header(&r, "x-sub-bad", NULL) == NULL);
    for (size_t i = 0; i < r.nheaders; i++) {
        CHECK(strpbrk(r.headers[i], "\r\n") == NULL);
        CHECK(strncmp(r.headers[i], "bad", 3) != 0 && strncmp(r.headers[i], "x y", 3) != 0 &&
              strncmp(r.headers[i], "x sub", 5) != 0 && r.headers[i][0] != ':');
    }
    deliver_request_free(&r);
    cJSON_Delete(s.headers);
}

TEST(test_hop_by_hop_and_framing_headers_dropped)
{
    static const char *const dropped[] = {"host", "content-length", "transfer-encoding", "connection",
                                          "keep-alive", "upgrade", "te", "trailer",
                                          "proxy-authorization", "proxy-connection"};
    subscriber s = make_sub("http://h/");
    s.headers = cJSON_Parse("{\"Host\": \"sub.example\", \"Proxy-Authorization\": \"Basic x\", "
                            "\"x-sub\": \"kept\"}");
    deliver_request r;
    char err[256];
    CHECK_INT(build(&s, "{\"headers\": {\"Host\": \"evil\", \"Content-Length\": \"0\", "
                        "\"Transfer-Encoding\": \"chunked\", \"Connection\": \"close\", "
                        "\"Keep-Alive\": \"1\", \"Upgrade\": \"h2c\", \"TE\": \"trailers\", "
                        "\"Trailer\": \"x\", \"Proxy-Connection\": \"x\", \"x-data\": \"kept\"}}",
                    NOW, &r, err, sizeof err),
              0);
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
        CHECK(header(&r, dropped[i], NULL) == NULL);
    CHECK_STR(header(&r, "x-data", NULL), "kept");
    CHECK_STR(header(&r, "x-sub", NULL), "kept");
    deliver_request_free(&r);
    cJSON_Delete(s.headers);
}

TEST(test_data_cannot_set_webhook_or_switchyard_headers)
{
    subscriber s = make_sub("http://h/");
    deliver_request r;
    char err[256];
    int n;
    CHECK_INT(build(&s, "{\"headers\": {\"Webhook-Signature\": \"v1,forged\", \"webhook-extra\": \"x\", "
                        "\"Switchyard-Custom\": \"x\"}}",
                    NOW, &r, err, sizeof err),
              0);
    CHECK(strcmp(header(&r, "webhook-signature", &n), "v1,forged") != 0);
    CHECK_INT(n, 1);
    CHECK(header(&r, "webhook-extra", NULL) == NULL);
    CHECK(header(&r, "switchyard-custom", NULL) == NULL);
    deliver_request_free(&r);
}

TEST(test_empty_header_value_uses_curl_semicolon_form)
{
    subscriber s = make_sub("http://h/");
    deliver_request r;
    char err[256];
    CHECK_INT(build(&s, "{\"headers\": {\"x-empty\": \"\", \"x-blank\": \"  \", \"x-pad\": \" v \"}}",
                    NOW, &r, err, sizeof err),
              0);
    int seen = 0;
    for (size_t i = 0; i < r.nheaders; i++) {
        seen += !strcmp(r.headers[i], "x-empty;") + !strcmp(r.headers[i], "x-blank;") +
                !strcmp(r.headers[i], "x-pad: v");
    }
    CHECK_INT(seen, 3);
    deliver_request_free(&r);
}

TEST(test_fixed_headers_present)
{
    subscriber s = make_sub("http://h/");
    deliver_request r;
    char err[256];
    CHECK_INT(build(&s, "{}", NOW, &r, err, sizeof err), 0);
    CHECK_STR(header(&r, "content-type", NULL), "application/json");
    CHECK_STR(header(&r, "user-agent", NULL), "switchyard/" SWITCHYARD_VERSION);
    CHECK_STR(header(&r, "switchyard-topic", NULL), "orders.created");
    CHECK_STR(header(&r, "switchyard-attempt", NULL), "3");
    CHECK_STR(header(&r, "switchyard-event-id", NULL), "evt_1");
    CHECK_STR(header(&r, "webhook-id", NULL), "job_1");
    CHECK_STR(header(&r, "webhook-timestamp", NULL), "1700000100");
    CHECK_HAS(header(&r, "webhook-signature", NULL), "v1,");
    int expect = 0;
    for (size_t i = 0; i < r.nheaders; i++)
        expect += !strcmp(r.headers[i], "expect:");
    CHECK_INT(expect, 1);
    deliver_request_free(&r);
}

TEST(test_job_ids_with_control_characters_refused)
{
    subscriber s = make_sub("http://h/");
    deliver_request r;
    char err[256];
    deliver_job job = {"job_1", "evt\r\nx-evil: 1", "orders.created", 0, 1, NULL};
    CHECK_INT(deliver_build(&s, &job, NOW, &r, err, sizeof err), -1);
    CHECK_HAS(err, "control character");
    CHECK(r.url == NULL);
}

static char *body_for(bool envelope, const char *data_json)
{
    subscriber s = make_sub("http://h/");
    s.envelope = envelope;
    deliver_request r;
    char err[256];
    static char out[1024];
    if (build(&s, data_json, NOW, &r, err, sizeof err) < 0) {
        snprintf(out, sizeof out, "error: %s", err);
        return out;
    }
    snprintf(out, sizeof out, "%s", r.body);
    if (strlen(r.body) != r.body_len)
        snprintf(out, sizeof out, "body_len %zu does not match", r.body_len);
    deliver_request_free(&r);
    return out;
}

TEST(test_body_is_data_body_json)
{
    CHECK_STR(body_for(false, "{\"body\": {\"id\": 7, \"total\": 120, \"tags\": [\"a\"]}, \"x\": 1}"),
              "{\"id\":7,\"total\":120,\"tags\":[\"a\"]}");
}

TEST(test_body_defaults_to_empty_object)
{
    CHECK_STR(body_for(false, "{\"headers\": {}}"), "{}");
    CHECK_STR(body_for(false, NULL), "{}");
}

TEST(test_string_body_sent_as_json_text)
{
    CHECK_STR(body_for(false, "{\"body\": \"hi \\\"there\\\"\"}"), "\"hi \\\"there\\\"\"");
    CHECK_STR(body_for(false, "{\"body\": [1, 2]}"), "[1,2]");
}

TEST(test_envelope_shape_with_rfc3339_timestamp)
{
    const char *data_json = "{\"body\": {\"id\": 7}, \"headers\": {\"x\": \"y\"}, \"k\": \"v\"}";
    cJSON *env = cJSON_Parse(body_for(true, data_json));
    cJSON *data = cJSON_Parse(data_json);
    CHECK(env != NULL);
    CHECK_INT(cJSON_GetArraySize(env), 5);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, "id")), "evt_1");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, "topic")), "orders.created");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, "timestamp")),
              "2023-11-14T22:13:20.123Z");
    CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(env, "attempt")), 3);
    CHECK(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(env, "data"), data, 1));
    cJSON_Delete(env);
    cJSON_Delete(data);
    CHECK_HAS(body_for(true, NULL), "\"data\":{}}");
}

TEST(test_signature_verifies_with_sign_verify)
{
    subscriber s = make_sub("http://h/");
    deliver_request r;
    char err[256];
    CHECK_INT(build(&s, "{\"body\": {\"total\": 120}}", NOW, &r, err, sizeof err), 0);
    const char *sig = header(&r, "webhook-signature", NULL);
    CHECK(sig && !strchr(sig, ' '));
    CHECK_INT(sign_verify(SECRET, header(&r, "webhook-id", NULL),
                          header(&r, "webhook-timestamp", NULL), r.body, r.body_len, sig, NOW, 300,
                          err, sizeof err),
              0);
    CHECK_INT(sign_verify(PREV_SECRET, "job_1", "1700000100", r.body, r.body_len, sig, NOW, 300, err,
                          sizeof err),
              -1);
    deliver_request_free(&r);
}

TEST(test_rotation_adds_previous_signature_during_grace)
{
    subscriber s = make_sub("http://h/");
    s.prev_secret = PREV_SECRET;
    s.prev_secret_until_ms = (int64_t)NOW * 1000 + 1;
    deliver_request r;
    char err[256];
    CHECK_INT(build(&s, "{\"body\": {\"a\": 1}}", NOW, &r, err, sizeof err), 0);
    const char *sig = header(&r, "webhook-signature", NULL);
    const char *sp = sig ? strchr(sig, ' ') : NULL;
    CHECK(sp != NULL);
    if (sp) {
        char first[SIGN_SIG_MAX];
        snprintf(first, sizeof first, "%.*s", (int)(sp - sig), sig);
        CHECK_INT(sign_verify(SECRET, "job_1", "1700000100", r.body, r.body_len, first, NOW, 300,
                              err, sizeof err),
                  0);
        CHECK_INT(sign_verify(PREV_SECRET, "job_1", "1700000100", r.body, r.body_len, sp + 1, NOW,
                              300, err, sizeof err),
                  0);
        CHECK(strchr(sp + 1, ' ') == NULL);
    }
    deliver_request_free(&r);
}

TEST(test_rotation_signature_dropped_after_grace)
{
    subscriber s = make_sub("http://h/");
    s.prev_secret = PREV_SECRET;
    s.prev_secret_until_ms = (int64_t)NOW * 1000;
    deliver_request r;
    char err[256];
    CHECK_INT(build(&s, "{}", NOW, &r, err, sizeof err), 0);
    const char *sig = header(&r, "webhook-signature", NULL);
    CHECK(sig && !strchr(sig, ' '));
    CHECK_INT(sign_verify(PREV_SECRET, "job_1", "1700000100", r.body, r.body_len, sig, NOW, 300, err,
                          sizeof err),
              -1);
    deliver_request_free(&r);
}

TEST(test_invalid_secret_is_an_error)
{
    subscriber s = make_sub("http://h/");
    s.secret = "whsec_not*base64!";
    deliver_request r;
    char err[256];
    CHECK_INT(build(&s, "{}", NOW, &r, err, sizeof err), -1);
    CHECK_HAS(err, "secret");
    CHECK(r.body == NULL);
}

/* --- the deny list for target addresses --- */

static int denied(const char *addr, char *why)
{
    struct sockaddr_storage ss = {0};
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        inet_pton(AF_INET6, addr, &a->sin6_addr);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, addr, &a->sin_addr);
    }
    return deliver_address_denied((struct sockaddr *)&ss, why, 96);
}

TEST(test_deny_list_refuses_loopback_private_and_link_local)
{
    char why[96];
    const char *bad[] = {"127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255",
                         "192.168.1.1", "169.254.1.1", "100.64.0.1", "0.0.0.0", "224.0.0.1",
                         "::1", "::", "fd00::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1",
                         "::ffff:10.0.0.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        CHECK_INT(denied(bad[i], why), 1);
        CHECK(why[0] != '\0');
    }
}

TEST(test_deny_list_names_the_cloud_metadata_address)
{
    char why[96];
    CHECK_INT(denied("169.254.169.254", why), 1);
    CHECK_HAS(why, "metadata");
}

TEST(test_deny_list_allows_public_addresses)
{
    char why[96];
    const char *good[] = {"8.8.8.8", "1.1.1.1", "172.32.0.1", "192.169.0.1", "100.128.0.1",
                          "2001:4860:4860::8888", "::ffff:8.8.4.4"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_INT(denied(good[i], why), 0);
}

CHECK_MAIN
