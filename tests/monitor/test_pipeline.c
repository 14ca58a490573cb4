/* Unit tests of the production monitor and the canary check: the health rules at their
 * boundaries, the seed's example report, baselines (own name and "<name>_latency"), the window,
 * alerts on health transitions, the canary boundary and its CRITICAL alert. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vigil/pipeline.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_rules(void **state)
{
    (void)state;
    vigil_pipeline_rules_t r = { .degraded_success_rate = 0.95, .critical_success_rate = 0.5,
                                 .degraded_time_factor = 1.5, .critical_time_factor = 3 };
    assert_int_equal(vigil_pipeline_classify(&r, 1.0, 1, NAN), VIGIL_PIPELINE_HEALTHY);
    assert_int_equal(vigil_pipeline_classify(&r, 0.95, 1, NAN), VIGIL_PIPELINE_HEALTHY);
    assert_int_equal(vigil_pipeline_classify(&r, 0.9499, 1, NAN), VIGIL_PIPELINE_DEGRADED);
    assert_int_equal(vigil_pipeline_classify(&r, 0.5, 1, NAN), VIGIL_PIPELINE_DEGRADED);
    assert_int_equal(vigil_pipeline_classify(&r, 0.4999, 1, NAN), VIGIL_PIPELINE_CRITICAL);
    /* time against the baseline: 1.5x exactly is fine, above is degraded; 3x likewise */
    assert_int_equal(vigil_pipeline_classify(&r, 1.0, 1.5, 1.0), VIGIL_PIPELINE_HEALTHY);
    assert_int_equal(vigil_pipeline_classify(&r, 1.0, 1.5001, 1.0), VIGIL_PIPELINE_DEGRADED);
    assert_int_equal(vigil_pipeline_classify(&r, 1.0, 3.0, 1.0), VIGIL_PIPELINE_DEGRADED);
    assert_int_equal(vigil_pipeline_classify(&r, 1.0, 3.0001, 1.0), VIGIL_PIPELINE_CRITICAL);
    assert_int_equal(vigil_pipeline_classify(&r, 1.0, 1000, NAN), VIGIL_PIPELINE_HEALTHY);
}

static vigil_production_monitor_t *make(vigil_alert_manager_t *am, size_t window,
                                        vigil_registry_t *reg)
{
    vigil_production_opts_t o = { .alerts = am, .registry = reg, .rules = { .window = window } };
    vigil_production_monitor_t *pm;
    vigil_error_t err;
    assert_int_equal(vigil_production_create(&o, &pm, &err), 0);
    return pm;
}

static void test_seed_example(void **state)
{
    (void)state;
    vigil_alert_manager_t *am;
    vigil_error_t err;
    assert_int_equal(vigil_alert_manager_create(NULL, &am, &err), 0);
    vigil_production_monitor_t *pm = make(am, 0, NULL);
    assert_int_equal(vigil_production_set_baseline(pm, "inference_latency", 0.05, &err), 0);
    assert_int_equal(vigil_production_record(pm, "inference", 0.048, true, NULL, 0, &err), 0);
    vigil_kv_t md[] = { { "error", "timeout" } };
    assert_int_equal(vigil_production_record(pm, "inference", 0.150, false, md, 1, &err), 0);

    char *j;
    size_t len;
    vigil_pipeline_health_t overall;
    assert_int_equal(vigil_production_report_json(pm, &j, &len, &overall), 0);
    assert_int_equal(overall, VIGIL_PIPELINE_DEGRADED);
    json_error_t je;
    json_t *o = json_loads(j, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "overall_health")), "degraded");
    json_t *p = json_object_get(json_object_get(o, "pipelines"), "inference");
    assert_int_equal(json_integer_value(json_object_get(p, "total_executions")), 2);
    assert_true(json_number_value(json_object_get(p, "success_rate")) == 0.5);
    assert_true(fabs(json_number_value(json_object_get(p, "mean_execution_time")) - 0.099) <
                1e-12);
    assert_string_equal(json_string_value(json_object_get(p, "health")), "degraded");
    assert_true(json_number_value(json_object_get(p, "baseline")) == 0.05);
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "last_metadata"),
                                                          "error")), "timeout");
    json_decref(o);
    free(j);

    /* healthy -> degraded raised one WARNING naming the pipeline */
    vigil_alert_t a[4];
    size_t n = vigil_alert_recent(am, 4, false, 0, a, 4);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].severity, VIGIL_ALERT_WARNING);
    assert_string_equal(a[0].metric_name, "pipeline:inference");

    /* the mean 0.099 is 1.98x the 0.05 baseline: degraded by time too; a stricter baseline
     * (0.03: 3.3x) makes it critical; a relaxed one leaves only the rate rule */
    assert_int_equal(vigil_production_set_baseline(pm, "inference", 0.03, &err), 0);
    vigil_pipeline_stats_t st;
    assert_int_equal(vigil_production_pipeline(pm, "inference", &st), 0);
    assert_true(st.baseline == 0.03);  /* own name wins over "<name>_latency" */
    assert_int_equal(st.health, VIGIL_PIPELINE_CRITICAL);
    n = vigil_alert_recent(am, 4, false, 0, a, 4);
    assert_int_equal(n, 2);
    assert_int_equal(a[1].severity, VIGIL_ALERT_CRITICAL);
    assert_int_equal(vigil_production_pipeline(pm, "other", &st), VIGIL_ENOENT);
    assert_int_equal(vigil_production_set_baseline(pm, "x", 0, &err), VIGIL_EINVAL);
    assert_int_equal(vigil_production_record(pm, "inference", -1, true, NULL, 0, &err),
                     VIGIL_EINVAL);
    assert_int_equal(vigil_production_record(pm, "", 1, true, NULL, 0, &err), VIGIL_EINVAL);
    assert_int_equal(vigil_production_pipeline(pm, "inference", &st), 0);
    assert_int_equal(st.total_executions, 2);  /* the failed calls recorded nothing */
    vigil_production_free(pm);
    vigil_alert_manager_free(am);
}

static void test_window(void **state)
{
    (void)state;
    vigil_error_t err;
    vigil_production_monitor_t *pm = make(NULL, 4, NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(vigil_production_record(pm, "p", 1.0, false, NULL, 0, &err), 0);
    vigil_pipeline_stats_t st;
    assert_int_equal(vigil_production_pipeline(pm, "p", &st), 0);
    assert_int_equal(st.health, VIGIL_PIPELINE_CRITICAL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(vigil_production_record(pm, "p", 1.0, true, NULL, 0, &err), 0);
    assert_int_equal(vigil_production_pipeline(pm, "p", &st), 0);
    assert_int_equal(st.total_executions, 8);
    assert_true(st.success_rate == 0.5);          /* since the start */
    assert_true(st.window_success_rate == 1.0);   /* the last 4 */
    assert_int_equal(st.window_executions, 4);
    assert_int_equal(st.health, VIGIL_PIPELINE_HEALTHY);
    assert_int_equal(vigil_production_overall(pm), VIGIL_PIPELINE_HEALTHY);
    vigil_production_free(pm);

    /* Rules are validated */
    vigil_production_opts_t bad = { .rules = { .degraded_success_rate = 0.4,
                                               .critical_success_rate = 0.6 } };
    assert_int_equal(vigil_production_create(&bad, &pm, &err), VIGIL_EINVAL);
}

static void test_canary_boundary(void **state)
{
    (void)state;
    vigil_alert_manager_t *am;
    vigil_error_t err;
    assert_int_equal(vigil_alert_manager_create(NULL, &am, &err), 0);
    vigil_canary_result_t r;
    /* exactly representable: 1.0 -> 0.875 is a 12.5 % drop */
    assert_int_equal(vigil_canary_check(am, "c", 1.0, 0.875, 0.125, &r, &err), 0);
    assert_false(r.degraded);
    assert_true(r.degradation == 0.125);
    assert_int_equal(vigil_canary_check(am, "c", 1.0, 0.8749, 0.125, &r, &err), 0);
    assert_true(r.degraded);
    /* decimal inputs at the default 10 %: 0.9 -> 0.81 is at, not beyond */
    assert_int_equal(vigil_canary_check(am, "c", 0.9, 0.81, 0, &r, &err), 0);
    assert_false(r.degraded);
    assert_true(r.threshold == 0.10);
    assert_int_equal(vigil_canary_check(am, "c", 0.9, 0.8099, 0, &r, &err), 0);
    assert_true(r.degraded);
    assert_int_equal(vigil_canary_check(am, "c", 0.9, 0.95, 0, &r, &err), 0);  /* improved */
    assert_false(r.degraded);
    assert_true(r.degradation < 0);

    vigil_alert_t a[4];
    size_t n = vigil_alert_recent(am, 4, false, 0, a, 4);
    assert_int_equal(n, 2);
    assert_int_equal(a[1].severity, VIGIL_ALERT_CRITICAL);
    assert_non_null(strstr(a[1].message, "baseline: 0.9"));
    assert_non_null(strstr(a[1].message, "current: 0.8099"));
    assert_string_equal(a[1].metric_name, "canary:c");

    assert_int_equal(vigil_canary_check(am, "c", 0, 0.5, 0, &r, &err), VIGIL_EINVAL);
    assert_int_equal(vigil_canary_check(am, "c", 1, NAN, 0, &r, &err), VIGIL_EINVAL);
    assert_int_equal(vigil_canary_check(am, "c", 1, 0.5, 1.5, &r, &err), VIGIL_EINVAL);
    vigil_alert_manager_free(am);
}

static void test_canary_store(void **state)
{
    (void)state;
    vigil_alert_manager_t *am;
    vigil_registry_t *reg;
    vigil_error_t err;
    assert_int_equal(vigil_registry_new(NULL, &reg, &err), 0);
    assert_int_equal(vigil_alert_manager_create(NULL, &am, &err), 0);
    vigil_production_monitor_t *pm = make(am, 0, reg);
    vigil_canary_result_t r;
    assert_int_equal(vigil_production_canary_check(pm, "apps", 0.7, &r, &err), VIGIL_ENOENT);
    assert_int_equal(vigil_production_canary_baseline(pm, "apps", 0.8, 0, &err), 0);
    assert_int_equal(vigil_production_canary_check(pm, "apps", 0.6, &r, &err), 0);
    assert_true(r.degraded);
    assert_true(fabs(r.degradation - 0.25) < 1e-12);
    char *j;
    size_t len;
    assert_int_equal(vigil_production_canaries_json(pm, &j, &len), 0);
    json_error_t je;
    json_t *o = json_loads(j, 0, &je);
    json_t *c = json_object_get(o, "apps");
    assert_string_equal(json_string_value(json_object_get(c, "status")), "degraded");
    assert_int_equal(json_integer_value(json_object_get(c, "checks")), 1);
    json_decref(o);
    free(j);
    char *text;
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_TEXT, &text, NULL, &err), 0);
    assert_non_null(strstr(text, "vigil_monitor_canary_score{canary=\"apps\"} 0.6\n"));
    assert_non_null(strstr(text, "vigil_monitor_canary_degradation_ratio{canary=\"apps\"} 0.25"));
    free(text);
    vigil_production_free(pm);
    vigil_alert_manager_free(am);
    vigil_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_seed_example),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_canary_boundary),
        cmocka_unit_test(test_canary_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
