/* Unit tests of the health checker: classification at the threshold boundaries, overall
 * status, the seed's JSON summary shape, registration errors and the system checks against the
 * recorded procfs tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vigil/health.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_PROC "tests/host/fixtures/proc"

static void test_classify_boundaries(void **state)
{
    (void)state;
    vigil_health_thresholds_t t = { .warning = 80, .critical = 90 };
    assert_int_equal(vigil_health_classify(0, &t), VIGIL_HEALTH_HEALTHY);
    assert_int_equal(vigil_health_classify(80, &t), VIGIL_HEALTH_HEALTHY);
    assert_int_equal(vigil_health_classify(80.0001, &t), VIGIL_HEALTH_WARNING);
    assert_int_equal(vigil_health_classify(90, &t), VIGIL_HEALTH_WARNING);
    assert_int_equal(vigil_health_classify(90.0001, &t), VIGIL_HEALTH_CRITICAL);
    assert_int_equal(vigil_health_classify(100, &t), VIGIL_HEALTH_CRITICAL);
}

typedef struct fixed {
    vigil_health_status_t status;
    int calls;
} fixed_t;

static void fixed_check(void *ctx, vigil_health_result_t *out)
{
    fixed_t *f = ctx;
    f->calls++;
    out->status = f->status;
    snprintf(out->message, sizeof(out->message), "fixed \"%s\"",
             vigil_health_status_name(f->status));
}

static void test_overall_status(void **state)
{
    (void)state;
    vigil_health_checker_t *hc;
    assert_int_equal(vigil_health_create(&hc, NULL), 0);
    assert_int_equal(vigil_health_overall(hc), VIGIL_HEALTH_HEALTHY);
    fixed_t a = { VIGIL_HEALTH_HEALTHY, 0 }, b = { VIGIL_HEALTH_HEALTHY, 0 };
    assert_int_equal(vigil_health_register(hc, "a", fixed_check, &a, NULL), 0);
    assert_int_equal(vigil_health_register(hc, "b", fixed_check, &b, NULL), 0);
    /* Registered but never run: unknown. */
    assert_int_equal(vigil_health_overall(hc), VIGIL_HEALTH_UNKNOWN);
    assert_int_equal(vigil_health_check_all(hc), VIGIL_HEALTH_HEALTHY);
    assert_int_equal(a.calls, 1);
    b.status = VIGIL_HEALTH_UNKNOWN;
    assert_int_equal(vigil_health_check_all(hc), VIGIL_HEALTH_UNKNOWN);
    b.status = VIGIL_HEALTH_WARNING;
    assert_int_equal(vigil_health_check_all(hc), VIGIL_HEALTH_WARNING);
    a.status = VIGIL_HEALTH_CRITICAL;
    assert_int_equal(vigil_health_check_all(hc), VIGIL_HEALTH_CRITICAL);
    vigil_health_result_t r;
    assert_int_equal(vigil_health_check_one(hc, "b", &r), 0);
    assert_int_equal(r.status, VIGIL_HEALTH_WARNING);
    assert_int_equal(vigil_health_check_one(hc, "zz", &r), VIGIL_ENOENT);
    vigil_health_free(hc);
}

static void test_register_errors(void **state)
{
    (void)state;
    vigil_health_checker_t *hc;
    vigil_error_t err;
    fixed_t a = { VIGIL_HEALTH_HEALTHY, 0 };
    assert_int_equal(vigil_health_create(&hc, NULL), 0);
    assert_int_equal(vigil_health_register(hc, "db", fixed_check, &a, &err), 0);
    assert_int_equal(vigil_health_register(hc, "db", fixed_check, &a, &err), VIGIL_EEXIST);
    assert_non_null(strstr(err.message, "\"db\" is already registered"));
    assert_int_equal(vigil_health_register(hc, "bad name", fixed_check, &a, &err), VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "invalid check name"));
    assert_int_equal(vigil_health_register(hc, "", fixed_check, &a, &err), VIGIL_EINVAL);
    vigil_health_free(hc);
}

static void test_summary_json_shape(void **state)
{
    (void)state;
    vigil_health_checker_t *hc;
    assert_int_equal(vigil_health_create(&hc, NULL), 0);
    fixed_t a = { VIGIL_HEALTH_HEALTHY, 0 }, b = { VIGIL_HEALTH_CRITICAL, 0 };
    vigil_health_thresholds_t t = { 80, 90 };
    assert_int_equal(vigil_health_register(hc, "quoted", fixed_check, &a, NULL), 0);
    assert_int_equal(vigil_health_register(hc, "gpu", fixed_check, &b, NULL), 0);
    assert_int_equal(vigil_health_register_system(hc, FIXTURE_PROC, ".", &t, &t, &t, NULL), 0);
    vigil_health_check_all(hc);

    char *text;
    size_t len;
    assert_int_equal(vigil_health_summary_json(hc, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "overall_status")), "critical");
    assert_int_equal(json_integer_value(json_object_get(doc, "total_components")), 5);
    json_t *counts = json_object_get(doc, "status_counts");
    assert_int_equal(json_integer_value(json_object_get(counts, "critical")), 1);
    assert_int_equal(json_integer_value(json_object_get(counts, "unknown")), 0);
    assert_int_equal(json_integer_value(json_object_get(counts, "healthy")) +
                         json_integer_value(json_object_get(counts, "warning")), 4);
    json_t *comps = json_object_get(doc, "components");
    assert_int_equal(json_object_size(comps), 5);
    /* Escaping survives the round trip. */
    assert_string_equal(json_string_value(json_object_get(json_object_get(comps, "quoted"),
                                                          "message")), "fixed \"healthy\"");
    /* memory: (16307216 - 8153608) / 16307216 = 50 % of the fixture. */
    json_t *mem = json_object_get(comps, "memory");
    assert_string_equal(json_string_value(json_object_get(mem, "status")), "healthy");
    assert_float_equal(json_number_value(json_object_get(mem, "value")), 50.0, 1e-3);
    assert_float_equal(json_number_value(json_object_get(mem, "warning_threshold")), 80, 0);
    assert_float_equal(json_number_value(json_object_get(mem, "critical_threshold")), 90, 0);
    assert_string_equal(json_string_value(json_object_get(mem, "message")),
                        "Memory usage normal: 50.0%");
    json_decref(doc);
    free(text);
    vigil_health_free(hc);
}

static void test_set_thresholds_changes_status(void **state)
{
    (void)state;
    vigil_health_checker_t *hc;
    vigil_health_thresholds_t t = { 80, 90 };
    assert_int_equal(vigil_health_create(&hc, NULL), 0);
    assert_int_equal(vigil_health_register_system(hc, FIXTURE_PROC, ".", &t, &t, &t, NULL), 0);
    vigil_health_result_t r;
    assert_int_equal(vigil_health_check_one(hc, "memory", &r), 0);
    assert_int_equal(r.status, VIGIL_HEALTH_HEALTHY);
    vigil_health_thresholds_t low = { 40, 49.9 };
    assert_int_equal(vigil_health_set_thresholds(hc, "memory", &low), 0);
    assert_int_equal(vigil_health_check_one(hc, "memory", &r), 0);
    assert_int_equal(r.status, VIGIL_HEALTH_CRITICAL);
    assert_string_equal(r.message, "Memory usage critical: 50.0%");
    vigil_health_thresholds_t mid = { 49.9, 60 };
    assert_int_equal(vigil_health_set_thresholds(hc, "memory", &mid), 0);
    assert_int_equal(vigil_health_check_one(hc, "memory", &r), 0);
    assert_int_equal(r.status, VIGIL_HEALTH_WARNING);
    assert_string_equal(r.message, "Memory usage high: 50.0%");
    assert_int_equal(vigil_health_set_thresholds(hc, "nope", &mid), VIGIL_ENOENT);
    vigil_health_free(hc);
}

static void test_system_check_unreadable_is_unknown(void **state)
{
    (void)state;
    vigil_health_checker_t *hc;
    vigil_health_thresholds_t t = { 80, 90 };
    assert_int_equal(vigil_health_create(&hc, NULL), 0);
    assert_int_equal(vigil_health_register_system(hc, "tests/no-such-proc", "/no/such/dir", &t,
                                                  &t, &t, NULL), 0);
    assert_int_equal(vigil_health_check_all(hc), VIGIL_HEALTH_UNKNOWN);
    vigil_health_result_t r;
    assert_int_equal(vigil_health_check_one(hc, "disk", &r), 0);
    assert_int_equal(r.status, VIGIL_HEALTH_UNKNOWN);
    assert_non_null(strstr(r.message, "/no/such/dir"));
    vigil_health_free(hc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_boundaries),
        cmocka_unit_test(test_overall_status),
        cmocka_unit_test(test_register_errors),
        cmocka_unit_test(test_summary_json_shape),
        cmocka_unit_test(test_set_thresholds_changes_status),
        cmocka_unit_test(test_system_check_unreadable_is_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
