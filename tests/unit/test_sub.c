/* sub: the subscriber record's validation, defaults and round trip. */
#include <string.h>

#include "check.h"
#include "sub.h"

static char err[512];

static int parse(const char *json, subscriber *s)
{
    cJSON *o = cJSON_Parse(json);
    err[0] = '\0';
    int rc = sub_from_json(s, o, NULL, 0, err, sizeof err);
    cJSON_Delete(o);
    return rc;
}

TEST(test_minimal_subscriber_gets_documented_defaults)
{
    subscriber s;
    CHECK_INT(parse("{\"topic\": \"orders.*\", \"target_url\": \"http://h/x\"}", &s), 0);
    CHECK_STR(s.filter, "");
    CHECK_INT(s.max_attempts, SUB_DEFAULT_MAX_ATTEMPTS);
    CHECK_INT(s.timeout_ms, SUB_DEFAULT_TIMEOUT_MS);
    CHECK_INT(s.nsuccess, -1);
    CHECK(s.enabled);
    sub_free(&s);
}

TEST(test_required_fields_are_named)
{
    subscriber s;
    CHECK_INT(parse("{\"target_url\": \"http://h/x\"}", &s), -1);
    CHECK_HAS(err, "topic is required");
    CHECK_INT(parse("{\"topic\": \"a\"}", &s), -1);
    CHECK_HAS(err, "target_url is required");
}

TEST(test_huge_numbers_are_refused_without_undefined_casts)
{
    subscriber s;
    CHECK_INT(parse("{\"topic\": \"a\", \"target_url\": \"http://h/\", \"max_attempts\": 6e26}", &s), -1);
    CHECK_HAS(err, "max_attempts must be a whole number from 1 to 1000");
    CHECK_INT(parse("{\"topic\": \"a\", \"target_url\": \"http://h/\", \"success_codes\": [1e10]}", &s), -1);
    CHECK_HAS(err, "success_codes");
    CHECK_INT(parse("{\"topic\": \"a\", \"target_url\": \"http://h/\", \"timeout_ms\": -1e300}", &s), -1);
    CHECK_HAS(err, "timeout_ms");
}

TEST(test_unknown_field_is_refused)
{
    subscriber s;
    CHECK_INT(parse("{\"topic\": \"a\", \"target_url\": \"http://h/\", \"retries\": 3}", &s), -1);
    CHECK_HAS(err, "unknown field \"retries\"");
}

TEST(test_name_must_be_utf8_without_path_characters)
{
    subscriber s;
    CHECK_INT(parse("{\"topic\": \"a\", \"target_url\": \"http://h/\", \"name\": \"a/b\"}", &s), -1);
    CHECK_HAS(err, "name");
    CHECK_INT(parse("{\"topic\": \"a\", \"target_url\": \"http://h/\", \"name\": \"gro\xc3\x9f\"}", &s), 0);
    sub_free(&s);
    CHECK_INT(parse("{\"topic\": \"a\", \"target_url\": \"http://h/\", \"name\": \"a\xff\"}", &s), -1);
}

TEST(test_stored_form_round_trips)
{
    subscriber s, back;
    CHECK_INT(parse("{\"topic\": \"a.#\", \"target_url\": \"https://h/:id\", \"name\": \"n\", "
                    "\"headers\": {\"x\": \"1\"}, \"discard_codes\": [400, 422], "
                    "\"retry_delays_ms\": [100, 200], \"method\": \"put\"}", &s), 0);
    CHECK_STR(s.method, "PUT");
    s.id = strdup("sub_1");
    s.secret = strdup("whsec_AAAA");
    cJSON *o = sub_to_json(&s, 1);
    CHECK_INT(sub_from_json(&back, o, NULL, 1, err, sizeof err), 0);
    cJSON *again = sub_to_json(&back, 1);
    CHECK(cJSON_Compare(o, again, 1));
    cJSON_Delete(o);
    cJSON_Delete(again);
    sub_free(&s);
    sub_free(&back);
}

TEST(test_patch_keeps_fields_not_given)
{
    subscriber base, s;
    CHECK_INT(parse("{\"topic\": \"a\", \"target_url\": \"http://h/\", \"filter\": \"data.x\"}", &base), 0);
    cJSON *o = cJSON_Parse("{\"enabled\": false}");
    CHECK_INT(sub_from_json(&s, o, &base, 0, err, sizeof err), 0);
    CHECK_STR(s.filter, "data.x");
    CHECK(!s.enabled);
    cJSON_Delete(o);
    sub_free(&s);
    sub_free(&base);
}

CHECK_MAIN
