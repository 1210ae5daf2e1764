/* json: the strict parser every outside JSON goes through. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "buf.h"
#include "json.h"

static char err[256];

static cJSON *parse(const char *s)
{
    err[0] = '\0';
    return json_parse(s, strlen(s), err, sizeof err);
}

TEST(test_valid_object_parses)
{
    cJSON *j = parse("{\"topic\": \"a.b\", \"data\": {\"n\": [1, 2.5, null, true]}}  \n");
    CHECK(j != NULL);
    CHECK_STR(cJSON_GetObjectItem(j, "topic")->valuestring, "a.b");
    cJSON_Delete(j);
}

TEST(test_empty_text_is_refused)
{
    CHECK(json_parse("", 0, err, sizeof err) == NULL);
    CHECK_HAS(err, "empty");
}

TEST(test_syntax_error_names_the_byte)
{
    CHECK(parse("{\"a\": 1,}") == NULL);
    CHECK_HAS(err, "not valid at byte");
}

TEST(test_trailing_text_is_refused)
{
    CHECK(parse("{\"a\": 1} {\"b\": 2}") == NULL);
    CHECK_HAS(err, "extra text at byte 9");
}

TEST(test_duplicate_key_is_refused)
{
    CHECK(parse("{\"id\": 1, \"x\": 2, \"id\": 3}") == NULL);
    CHECK_HAS(err, "duplicate key \"id\"");
}

TEST(test_duplicate_key_in_nested_object_is_refused)
{
    CHECK(parse("{\"data\": {\"body\": {\"a\": 1, \"a\": 1}}}") == NULL);
    CHECK_HAS(err, "duplicate key \"a\"");
}

TEST(test_duplicate_key_in_large_object_is_found)
{
    buf b = BUF_INIT;
    buf_putc(&b, '{');
    for (int i = 0; i < 5000; i++)
        buf_printf(&b, "\"k%d\": %d,", i, i);
    buf_puts(&b, "\"k1234\": 0}");
    CHECK(json_parse(b.p, b.len, err, sizeof err) == NULL);
    CHECK_HAS(err, "duplicate key \"k1234\"");
    buf_free(&b);
}

TEST(test_same_key_in_sibling_objects_is_fine)
{
    cJSON *j = parse("[{\"a\": 1}, {\"a\": 2}]");
    CHECK(j != NULL);
    cJSON_Delete(j);
}

TEST(test_deep_nesting_is_refused_before_parsing)
{
    buf b = BUF_INIT;
    for (int i = 0; i < 10000; i++)
        buf_putc(&b, '[');
    for (int i = 0; i < 10000; i++)
        buf_putc(&b, ']');
    CHECK(json_parse(b.p, b.len, err, sizeof err) == NULL);
    CHECK_HAS(err, "deeper than 64 levels");
    buf_free(&b);
}

TEST(test_nesting_at_the_limit_is_accepted)
{
    buf b = BUF_INIT;
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        buf_putc(&b, '[');
    for (int i = 0; i < JSON_MAX_DEPTH; i++)
        buf_putc(&b, ']');
    cJSON *j = json_parse(b.p, b.len, err, sizeof err);
    CHECK(j != NULL);
    cJSON_Delete(j);
    buf_free(&b);
}

TEST(test_brackets_inside_strings_do_not_count_as_nesting)
{
    buf b = BUF_INIT;
    buf_puts(&b, "{\"s\": \"");
    for (int i = 0; i < 1000; i++)
        buf_puts(&b, "[{\\\"");
    buf_puts(&b, "\"}");
    cJSON *j = json_parse(b.p, b.len, err, sizeof err);
    CHECK(j != NULL);
    cJSON_Delete(j);
    buf_free(&b);
}

TEST(test_invalid_utf8_is_refused)
{
    CHECK(parse("{\"a\": \"\xff\"}") == NULL);
    CHECK_HAS(err, "not valid UTF-8 at byte 7");
    CHECK(parse("{\"a\": \"\xc0\xaf\"}") == NULL);        /* overlong '/' */
    CHECK(parse("{\"a\": \"\xed\xa0\x80\"}") == NULL);    /* a UTF-16 surrogate */
    CHECK(parse("{\"a\": \"\xf4\x90\x80\x80\"}") == NULL); /* above U+10FFFF */
    CHECK(parse("{\"a\": \"\xe2\x82\"}") == NULL);        /* truncated */
}

TEST(test_valid_multibyte_utf8_is_accepted)
{
    cJSON *j = parse("{\"name\": \"Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x9a\x82\"}");
    CHECK(j != NULL);
    cJSON_Delete(j);
}

TEST(test_number_out_of_range_is_refused)
{
    CHECK(parse("{\"n\": 1e400}") == NULL);
    CHECK_HAS(err, "out of range");
    CHECK(parse("{\"n\": -1e999}") == NULL);
}

TEST(test_nul_byte_is_refused)
{
    CHECK(json_parse("{\"a\":\"x\0y\"}", 11, err, sizeof err) == NULL);
    CHECK_HAS(err, "NUL");
}

TEST(test_numbers_outside_rfc8259_are_refused)
{
    const char *bad[] = {"{\"n\": 01}", "{\"n\": -01}", "{\"n\": 1.}", "{\"n\": 1.e5}",
                         "{\"n\": .5}", "{\"n\": +1}", "{\"n\": 1e}", "{\"n\": -}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse(bad[i]) == NULL);
        CHECK_HAS(err, "at byte");
    }
    cJSON *j = parse("[0, -0, 1.5, -2e-3, 10E+2, 123456789]");
    CHECK(j != NULL);
    cJSON_Delete(j);
}

TEST(test_raw_control_character_in_a_string_is_refused)
{
    CHECK(parse("{\"a\": \"x\ty\"}") == NULL);
    CHECK_HAS(err, "control character");
    cJSON *j = parse("{\"a\": \"x\\ty\"}");   /* escaped is fine */
    CHECK(j != NULL);
    cJSON_Delete(j);
}

TEST(test_nul_escape_is_refused_so_strings_are_never_cut_short)
{
    CHECK(parse("{\"topic\": \"orders.created\\u0000.evil\"}") == NULL);
    CHECK_HAS(err, "u0000");
    cJSON *j = parse("{\"a\": \"\\\\u0000\"}");   /* an escaped backslash, then text */
    CHECK(j != NULL);
    cJSON_Delete(j);
}

static const char *raw(const char *text, const char *key, char *out)
{
    const char *at;
    size_t n;
    cJSON *tree = json_parse(text, strlen(text), err, sizeof err);   /* the contract: valid input */
    CHECK(tree != NULL);
    cJSON_Delete(tree);
    if (json_member_raw(text, strlen(text), key, &at, &n) != 0)
        return NULL;
    memcpy(out, at, n);
    out[n] = '\0';
    return out;
}

TEST(test_member_raw_returns_the_value_as_sent)
{
    char out[256];
    const char *t = " { \"topic\" : \"a.b\", \"data\" :\t{\"s\": \"}\\\"]{\", \"n\": [1, {\"x\": 1.50}]} , "
                    "\"id\": \"e1\"}";
    CHECK_STR(raw(t, "data", out), "{\"s\": \"}\\\"]{\", \"n\": [1, {\"x\": 1.50}]}");
    CHECK_STR(raw(t, "topic", out), "\"a.b\"");
    CHECK_STR(raw(t, "id", out), "\"e1\"");
    CHECK_STR(raw("{\"a\":1e5,\"b\":true}", "a", out), "1e5");
    CHECK_STR(raw("{\"a\":-0.0}", "a", out), "-0.0");
    CHECK(raw(t, "dat", out) == NULL);            /* a prefix of a name is not the name */
    CHECK(raw("{}", "data", out) == NULL);
    CHECK(raw("{\"d\\u0061ta\": {}}", "data", out) == NULL);   /* escaped name: use the tree */
}

CHECK_MAIN
