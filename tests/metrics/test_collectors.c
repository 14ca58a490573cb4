/*
 * test_collectors.c - the scoped operation timer, the HTTP families, vigil_build_info, the
 * process collector (against a fixture /proc and the real one), and the ML families.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vigil/metrics.h"
#include "vigil/ml_metrics.h"
#include "metrics/metrics_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *expose_text(vigil_registry_t *reg)
{
    char *out;
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_TEXT, &out, NULL, NULL), 0);
    return out;
}

static void test_timer(void **state)
{
    (void)state;
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    vigil_op_t *op;
    static const char *const labels[] = { "specialist_type", NULL };
    assert_int_equal(vigil_op_new(reg, "specialist_requests", "specialist requests", labels,
                                  NULL, 0, &op, NULL), 0);
    const char *vals[] = { "code" };
    vigil_timer_t t;
    for (int i = 0; i < 3; i++) {
        vigil_timer_begin(&t, op, vals, 1);
        assert_true(vigil_timer_end(&t, NULL) >= 0);
    }
    vigil_timer_begin(&t, op, vals, 1);
    assert_true(vigil_timer_end(&t, "TimeoutError") >= 0);
    vigil_timer_begin(&t, op, vals, 0); /* wrong arity: reported, nothing counted */
    assert_true(vigil_timer_end(&t, NULL) == VIGIL_EINVAL);

    char *out = expose_text(reg);
    assert_non_null(strstr(out, "specialist_requests_total{specialist_type=\"code\","
                                "status=\"success\"} 3\n"));
    assert_non_null(strstr(out, "specialist_requests_total{specialist_type=\"code\","
                                "status=\"error\"} 1\n"));
    assert_non_null(strstr(out, "specialist_requests_errors_total{specialist_type=\"code\","
                                "error_type=\"TimeoutError\"} 1\n"));
    assert_non_null(strstr(out, "specialist_requests_duration_seconds_count"
                                "{specialist_type=\"code\"} 4\n"));
    free(out);

    /* Labels the op reserves for itself are refused. */
    static const char *const bad[] = { "status", NULL };
    vigil_error_t err;
    assert_int_equal(vigil_op_new(reg, "other", NULL, bad, NULL, 0, &op, &err), VIGIL_EINVAL);
    vigil_registry_free(reg);
}

static void test_http_and_build_info(void **state)
{
    (void)state;
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    vigil_http_metrics_t hm;
    assert_int_equal(vigil_http_metrics_register(reg, &hm, NULL), 0);
    vigil_http_metrics_observe(&hm, "/metrics", 200, 0.003);
    vigil_http_metrics_observe(&hm, "/metrics", 200, 0.2);
    vigil_http_metrics_observe(&hm, "/api", 404, 0.001);
    assert_int_equal(vigil_build_info_register(reg, "0.1.0", "abc123", NULL), 0);
    char *out = expose_text(reg);
    assert_non_null(strstr(out, "vigil_http_requests_total{handler=\"/metrics\",code=\"200\"} 2\n"));
    assert_non_null(strstr(out, "vigil_http_requests_total{handler=\"/api\",code=\"404\"} 1\n"));
    assert_non_null(strstr(out, "vigil_http_request_duration_seconds_count{handler=\"/metrics\"} 2\n"));
    assert_non_null(strstr(out, "vigil_http_request_duration_seconds_bucket{handler=\"/metrics\","
                                "le=\"0.005\"} 1\n"));
    assert_non_null(strstr(out, "# TYPE vigil_build_info gauge\n"
                                "vigil_build_info{version=\"0.1.0\",revision=\"abc123\"} 1\n"));
    free(out);
    vigil_registry_free(reg);
}

__attribute__((noinline)) static double sample(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    assert_non_null(p);
    return strtod(p + strlen(prefix), NULL);
}

static void test_process_fixture(void **state)
{
    (void)state;
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    assert_int_equal(metrics_process_register(reg, "tests/metrics/fixtures/proc", NULL), 0);
    char *out = expose_text(reg);
    double ticks = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
    assert_true(sample(out, "\nprocess_cpu_seconds_total ") == 300 / ticks);
    assert_true(sample(out, "\nprocess_virtual_memory_bytes ") == 104857600);
    assert_true(sample(out, "\nprocess_resident_memory_bytes ") == 2560 * page);
    assert_true(sample(out, "\nprocess_open_fds ") == 3);
    assert_true(sample(out, "\nprocess_max_fds ") == 1024);
    assert_true(sample(out, "\nprocess_start_time_seconds ") == 1700000000 + 5000 / ticks);
    assert_non_null(strstr(out, "# TYPE process_cpu_seconds_total counter\n"));
    free(out);

    vigil_error_t err;
    assert_int_equal(metrics_process_register(reg, "tests/metrics/fixtures/none", &err),
                     VIGIL_ENOTSUP);
    vigil_registry_free(reg);
}

static void test_process_real(void **state)
{
    (void)state;
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    assert_int_equal(vigil_process_collector_register(reg, NULL), 0);
    char *out = expose_text(reg);
    assert_true(sample(out, "\nprocess_resident_memory_bytes ") > 0);
    assert_true(sample(out, "\nprocess_virtual_memory_bytes ") > 0);
    assert_true(sample(out, "\nprocess_open_fds ") >= 3);
    assert_true(sample(out, "\nprocess_max_fds ") > 0);
    assert_true(sample(out, "\nprocess_start_time_seconds ") > 1.5e9);
    assert_true(sample(out, "\nprocess_cpu_seconds_total ") >= 0);
    free(out);
    vigil_registry_free(reg);
}

static void test_ml_families(void **state)
{
    (void)state;
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    vigil_ml_default_metrics_t dm;
    vigil_ml_ai_metrics_t ai;
    vigil_error_t err;
    assert_int_equal(vigil_ml_default_metrics_register(reg, "invarlock", &dm, &err), 0);
    assert_int_equal(vigil_ml_ai_metrics_register(reg, NULL, &ai, &err), 0);
    /* A second registration clashes by name. */
    assert_int_equal(vigil_ml_ai_metrics_register(reg, NULL, &ai, &err), VIGIL_EEXIST);
    assert_int_equal(vigil_ml_ai_metrics_register(reg, "again", &ai, &err), 0);

    vigil_timer_t t;
    const char *op[] = { "evaluate" };
    vigil_timer_begin(&t, dm.operations, op, 1);
    vigil_timer_end(&t, "OOM");
    vigil_counter_inc(vigil_counter_with(dm.model_loads, "gpt2"));
    vigil_gauge_set(vigil_gauge_with(dm.model_size, "gpt2"), 548e6);
    assert_int_equal(vigil_ml_observe_inference(&ai, "gpt2", 8, 700, 0.3, &err), 0);
    assert_string_equal(vigil_ml_seq_len_bucket(1), "128");
    assert_string_equal(vigil_ml_seq_len_bucket(129), "256");
    assert_string_equal(vigil_ml_seq_len_bucket(32768), "32768");
    assert_string_equal(vigil_ml_seq_len_bucket(40000), "+Inf");

    char *out = expose_text(reg);
    assert_non_null(strstr(out, "invarlock_operations_total{operation=\"evaluate\","
                                "status=\"error\"} 1\n"));
    assert_non_null(strstr(out, "invarlock_errors_total{operation=\"evaluate\","
                                "error_type=\"OOM\"} 1\n"));
    assert_non_null(strstr(out, "invarlock_operation_duration_seconds_count"
                                "{operation=\"evaluate\"} 1\n"));
    assert_non_null(strstr(out, "invarlock_model_loads_total{model=\"gpt2\"} 1\n"));
    assert_non_null(strstr(out, "invarlock_model_size_bytes{model=\"gpt2\"} 548000000\n"));
    assert_non_null(strstr(out, "model_inference_duration_seconds_bucket{model_name=\"gpt2\","
                                "batch_size=\"8\",sequence_length=\"1024\",le=\"0.5\"} 1\n"));
    free(out);
    vigil_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer),
        cmocka_unit_test(test_http_and_build_info),
        cmocka_unit_test(test_process_fixture),
        cmocka_unit_test(test_process_real),
        cmocka_unit_test(test_ml_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
