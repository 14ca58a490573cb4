/* Unit tests of the structured log: JSON and text lines, escaping, level filtering, reconfig. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log/log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof(path), "/tmp/vigil-test-log-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

/* Reads the whole log file; the caller frees. Truncates it for the next test. */
static char *slurp_and_truncate(void)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char data[65536];
    size_t n = fread(data, 1, sizeof(data) - 1, f);
    data[n] = '\0';
    fclose(f);
    f = fopen(path, "w");
    fclose(f);
    return strdup(data);
}

static log_t *open_log(log_level_t level, log_format_t format)
{
    log_t *lg;
    log_options_t o = { .level = level, .format = format, .path = path };
    assert_int_equal(log_open(&lg, &o, NULL), 0);
    return lg;
}

static void test_json_line_fields_and_escaping(void **state)
{
    (void)state;
    log_t *lg = open_log(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
    log_info(lg, "http", "said \"hi\"\n", LF_STR("addr", "a\\b"), LF_INT("n", -3),
             LF_UINT("u", 4294967296ULL), LF_DBL("d", 0.25), LF_BOOL("ok", true),
             LF_STR("none", NULL), LF_DBL("nan", 0.0 / 0.0));
    log_close(lg);
    char *text = slurp_and_truncate();
    assert_int_equal(text[strlen(text) - 1], '\n');
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(doc, "component")), "http");
    assert_string_equal(json_string_value(json_object_get(doc, "msg")), "said \"hi\"\n");
    assert_string_equal(json_string_value(json_object_get(doc, "addr")), "a\\b");
    assert_int_equal(json_integer_value(json_object_get(doc, "n")), -3);
    assert_float_equal(json_real_value(json_object_get(doc, "d")), 0.25, 0);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_true(json_is_null(json_object_get(doc, "none")));
    assert_string_equal(json_string_value(json_object_get(doc, "nan")), "NaN");
    const char *ts = json_string_value(json_object_get(doc, "ts"));
    assert_int_equal(strlen(ts), strlen("2026-01-01T00:00:00.000Z"));
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
    /* Field order: ts, level, component, msg, then fields in call order. */
    assert_true(strstr(text, "\"ts\"") < strstr(text, "\"level\""));
    assert_true(strstr(text, "\"msg\"") < strstr(text, "\"addr\""));
    json_decref(doc);
    free(text);
}

static void test_levels_filter_and_change(void **state)
{
    (void)state;
    log_t *lg = open_log(LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
    assert_true(log_enabled(lg, LOG_LEVEL_ERROR));
    assert_false(log_enabled(lg, LOG_LEVEL_INFO));
    log_info(lg, "a", "dropped");
    log_warn(lg, "a", "kept one");
    log_set_level(lg, LOG_LEVEL_DEBUG);
    log_debug(lg, "a", "kept two", LF_STR("k", "v w"), LF_UINT("u", 18446744073709551615ULL));
    log_trace(lg, "a", "dropped too");
    log_close(lg);
    char *text = slurp_and_truncate();
    assert_null(strstr(text, "dropped"));
    assert_non_null(strstr(text, " warn  a: kept one\n"));
    assert_non_null(strstr(text, " debug a: kept two k=\"v w\" u=18446744073709551615\n"));
    free(text);
    assert_false(log_enabled(NULL, LOG_LEVEL_ERROR));
    log_error(NULL, "a", "a NULL logger discards");
}

static void test_long_line_is_one_line(void **state)
{
    (void)state;
    log_t *lg = open_log(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
    char *big = malloc(40000);
    memset(big, 'x', 39999);
    big[39999] = '\0';
    log_info(lg, "a", "big", LF_STR("v", big));
    log_info(lg, "a", "next");
    log_close(lg);
    free(big);
    char *text = slurp_and_truncate();
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    assert_true(nl - text < 16384);
    assert_int_equal(nl[-1], '}');
    assert_non_null(strstr(nl + 1, "\"msg\":\"next\""));
    free(text);
}

static void test_parse_names(void **state)
{
    (void)state;
    log_level_t l;
    log_format_t f;
    assert_int_equal(log_level_parse("trace", &l), 0);
    assert_int_equal(l, LOG_LEVEL_TRACE);
    assert_int_equal(log_level_parse("verbose", &l), VIGIL_EINVAL);
    assert_int_equal(log_format_parse("text", &f), 0);
    assert_int_equal(f, LOG_FORMAT_TEXT);
    assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
    assert_string_equal(log_format_name(LOG_FORMAT_JSON), "json");
}

static void test_open_failure_names_path(void **state)
{
    (void)state;
    log_t *lg;
    vigil_error_t err;
    log_options_t o = { .level = LOG_LEVEL_INFO, .format = LOG_FORMAT_JSON,
                        .path = "/no/such/dir/vigil.log" };
    assert_int_equal(log_open(&lg, &o, &err), VIGIL_EIO);
    assert_non_null(strstr(err.message, "/no/such/dir/vigil.log"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_line_fields_and_escaping),
        cmocka_unit_test(test_levels_filter_and_change),
        cmocka_unit_test(test_long_line_is_one_line),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_open_failure_names_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
