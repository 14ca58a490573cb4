/* Unit tests of the alert manager and the threshold monitor: ring-buffer bounds, recent and
 * by-severity queries, handler fan-out, the alert counter on the registry, threshold boundaries
 * (equal is not a violation), edge-triggering, history and the background thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vigil/alerts.h"

#include <jansson.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static vigil_alert_manager_t *manager(size_t max, vigil_registry_t *reg)
{
    vigil_alert_manager_opts_t o = { .max_alerts = max, .registry = reg };
    vigil_alert_manager_t *am;
    vigil_error_t err;
    assert_int_equal(vigil_alert_manager_create(&o, &am, &err), 0);
    return am;
}

static void trigger(vigil_alert_manager_t *am, vigil_alert_severity_t s, const char *msg)
{
    assert_int_equal(vigil_alert_trigger(am, s, msg, "m", 1.0, 2.0, NULL, NULL), 0);
}

static void test_ring_bounds(void **state)
{
    (void)state;
    vigil_alert_manager_t *am = manager(3, NULL);
    for (int i = 1; i <= 5; i++) {
        char msg[16];
        snprintf(msg, sizeof(msg), "a%d", i);
        trigger(am, i % 2 ? VIGIL_ALERT_WARNING : VIGIL_ALERT_ERROR, msg);
    }
    vigil_alert_stats_t st;
    vigil_alert_get_stats(am, &st);
    assert_int_equal(st.stored, 3);
    assert_int_equal(st.triggered, 5);
    assert_int_equal(st.evicted, 2);
    assert_int_equal(st.by_severity[VIGIL_ALERT_WARNING], 3);
    assert_int_equal(st.by_severity[VIGIL_ALERT_ERROR], 2);

    vigil_alert_t out[8];
    size_t n = vigil_alert_recent(am, 10, false, 0, out, 8);
    assert_int_equal(n, 3);  /* the oldest two were evicted */
    assert_string_equal(out[0].message, "a3");
    assert_string_equal(out[2].message, "a5");
    assert_int_equal(out[0].id, 3);
    n = vigil_alert_recent(am, 2, false, 0, out, 8);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].message, "a4");  /* oldest first among the 2 most recent */
    assert_string_equal(out[1].message, "a5");
    n = vigil_alert_by_severity(am, VIGIL_ALERT_WARNING, out, 8);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].message, "a3");
    assert_string_equal(out[1].message, "a5");
    n = vigil_alert_by_severity(am, VIGIL_ALERT_CRITICAL, out, 8);
    assert_int_equal(n, 0);
    /* cap smaller than the matches: the most recent ones */
    n = vigil_alert_recent(am, 10, false, 0, out, 1);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].message, "a5");

    vigil_alert_clear(am);
    assert_int_equal(vigil_alert_recent(am, 10, false, 0, out, 8), 0);
    trigger(am, VIGIL_ALERT_INFO, "after");
    n = vigil_alert_recent(am, 10, false, 0, out, 8);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].id, 6);  /* ids keep going after clear */
    vigil_alert_manager_free(am);
}

typedef struct seen {
    int      tag;
    int      calls;
    uint64_t ids[8];
    int     *order;   /* shared sequence: which handler ran when */
    int     *pos;
} seen_t;

static void handler(void *ctx, const vigil_alert_t *a)
{
    seen_t *s = ctx;
    if (s->calls < 8)
        s->ids[s->calls] = a->id;
    s->calls++;
    s->order[(*s->pos)++] = s->tag;
}

static void test_handler_fanout(void **state)
{
    (void)state;
    vigil_alert_manager_t *am = manager(0, NULL);
    int order[16], pos = 0;
    seen_t a = { .tag = 1, .order = order, .pos = &pos };
    seen_t b = { .tag = 2, .order = order, .pos = &pos };
    vigil_error_t err;
    assert_int_equal(vigil_alert_add_handler(am, handler, &a, &err), 0);
    assert_int_equal(vigil_alert_add_handler(am, handler, &b, &err), 0);
    assert_int_equal(vigil_alert_add_handler(am, NULL, NULL, &err), VIGIL_EINVAL);
    trigger(am, VIGIL_ALERT_CRITICAL, "x");
    trigger(am, VIGIL_ALERT_INFO, "y");
    assert_int_equal(a.calls, 2);
    assert_int_equal(b.calls, 2);
    assert_int_equal(a.ids[1], 2);
    assert_int_equal(b.ids[0], 1);
    int want[] = { 1, 2, 1, 2 };  /* registration order, per alert */
    assert_int_equal(pos, 4);
    assert_memory_equal(order, want, sizeof(want));
    for (int i = 2; i < VIGIL_ALERT_MAX_HANDLERS; i++)
        assert_int_equal(vigil_alert_add_handler(am, handler, &a, &err), 0);
    assert_int_equal(vigil_alert_add_handler(am, handler, &a, &err), VIGIL_ELIMIT);
    assert_int_equal(vigil_alert_trigger(am, (vigil_alert_severity_t)7, "", "", 0, 0, NULL, &err),
                     VIGIL_EINVAL);
    vigil_alert_manager_free(am);
}

static void test_alert_metric_and_json(void **state)
{
    (void)state;
    vigil_registry_t *reg;
    vigil_error_t err;
    assert_int_equal(vigil_registry_new(NULL, &reg, &err), 0);
    vigil_alert_manager_t *am = manager(1, reg);
    vigil_alert_t a;
    assert_int_equal(vigil_alert_trigger(am, VIGIL_ALERT_WARNING, "Throughput below minimum",
                                         "throughput", 850, 1000, &a, NULL), 0);
    assert_int_equal(vigil_alert_trigger(am, VIGIL_ALERT_WARNING, "again", "throughput", 800,
                                         NAN, NULL, NULL), 0);
    char *text;
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_TEXT, &text, NULL, &err), 0);
    assert_non_null(strstr(text, "vigil_monitor_alerts_total{severity=\"WARNING\","
                                 "metric=\"throughput\"} 2\n"));
    assert_non_null(strstr(text, "vigil_monitor_alerts_evicted_total 1\n"));
    free(text);

    char *j;
    size_t len;
    assert_int_equal(vigil_alert_to_json(&a, &j, &len), 0);
    json_error_t je;
    json_t *o = json_loads(j, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "severity")), "WARNING");
    assert_string_equal(json_string_value(json_object_get(o, "metric_name")), "throughput");
    assert_true(json_real_value(json_object_get(o, "threshold")) == 1000 ||
                json_integer_value(json_object_get(o, "threshold")) == 1000);
    json_decref(o);
    free(j);

    vigil_alert_severity_t s;
    assert_int_equal(vigil_alert_severity_parse("critical", &s), 0);
    assert_int_equal(s, VIGIL_ALERT_CRITICAL);
    assert_int_equal(vigil_alert_severity_parse("fatal", &s), VIGIL_EINVAL);
    vigil_alert_manager_free(am);
    /* Creating a second manager on the same registry clashes on the family names. */
    vigil_alert_manager_opts_t o2 = { .registry = reg };
    vigil_alert_manager_t *am2;
    assert_int_equal(vigil_alert_manager_create(&o2, &am2, &err), VIGIL_EEXIST);
    vigil_registry_free(reg);
}

static void test_threshold_boundaries(void **state)
{
    (void)state;
    vigil_alert_manager_t *am = manager(0, NULL);
    vigil_threshold_opts_t o = { .alerts = am, .severity = VIGIL_ALERT_WARNING };
    vigil_threshold_monitor_t *tm;
    vigil_error_t err;
    assert_int_equal(vigil_threshold_create(&o, &tm, &err), 0);
    assert_int_equal(vigil_threshold_set(tm, "latency", 1.5, VIGIL_THRESHOLD_ABOVE, &err), 0);
    assert_int_equal(vigil_threshold_set(tm, "throughput", 500, VIGIL_THRESHOLD_BELOW, &err), 0);
    assert_int_equal(vigil_threshold_set(tm, "x", NAN, VIGIL_THRESHOLD_BELOW, &err),
                     VIGIL_EINVAL);

    assert_int_equal(vigil_threshold_check(tm), 0);  /* no values yet */
    vigil_threshold_record(tm, "latency", 1.5, NULL);      /* equal: not above */
    vigil_threshold_record(tm, "throughput", 500, NULL);   /* equal: not below */
    assert_int_equal(vigil_threshold_check(tm), 0);
    vigil_threshold_record(tm, "latency", 1.5000001, NULL);
    assert_int_equal(vigil_threshold_check(tm), 1);
    assert_int_equal(vigil_threshold_check(tm), 0);  /* still violated: edge-triggered */
    vigil_threshold_record(tm, "throughput", 499.9, NULL);
    assert_int_equal(vigil_threshold_check(tm), 1);
    vigil_threshold_record(tm, "latency", 1.0, NULL);     /* recovers */
    assert_int_equal(vigil_threshold_check(tm), 0);
    vigil_threshold_record(tm, "latency", 2.0, NULL);     /* violates again */
    assert_int_equal(vigil_threshold_check(tm), 1);

    vigil_alert_t out[8];
    size_t n = vigil_alert_by_severity(am, VIGIL_ALERT_WARNING, out, 8);
    assert_int_equal(n, 3);
    assert_string_equal(out[1].metric_name, "throughput");
    assert_true(out[1].threshold == 500);

    vigil_metric_history_t h;
    assert_int_equal(vigil_threshold_history(tm, "latency", &h), 0);
    assert_int_equal(h.count, 4);
    assert_true(h.latest == 2.0);
    assert_true(h.min == 1.0);
    assert_true(h.max == 2.0);
    assert_true(fabs(h.mean - (1.5 + 1.5000001 + 1.0 + 2.0) / 4) < 1e-12);
    assert_int_equal(vigil_threshold_history(tm, "nothing", &h), VIGIL_ENOENT);

    char *j;
    size_t len;
    assert_int_equal(vigil_threshold_summary_json(tm, &j, &len), 0);
    json_error_t je;
    json_t *o2 = json_loads(j, 0, &je);
    assert_non_null(o2);
    assert_int_equal(json_integer_value(json_object_get(o2, "alert_count")), 3);
    json_t *lat = json_object_get(json_object_get(o2, "metric_history"), "latency");
    assert_true(json_number_value(json_object_get(lat, "latest")) == 2.0);
    json_t *thr = json_object_get(json_object_get(o2, "thresholds"), "throughput");
    assert_string_equal(json_string_value(json_object_get(thr, "direction")), "below");
    json_decref(o2);
    free(j);
    vigil_threshold_free(tm);
    vigil_alert_manager_free(am);
}

static double counting_source(void *ctx)
{
    atomic_int *n = ctx;
    return (double)atomic_fetch_add(n, 1) + 1;  /* 1, 2, 3, ... */
}

static void test_threshold_thread(void **state)
{
    (void)state;
    vigil_alert_manager_t *am = manager(0, NULL);
    vigil_threshold_opts_t o = { .alerts = am };
    vigil_threshold_monitor_t *tm;
    vigil_error_t err;
    assert_int_equal(vigil_threshold_create(&o, &tm, &err), 0);
    atomic_int calls = 0;
    assert_int_equal(vigil_threshold_add_source(tm, "counter", counting_source, &calls, &err), 0);
    assert_int_equal(vigil_threshold_set(tm, "counter", 2.5, VIGIL_THRESHOLD_ABOVE, &err), 0);
    assert_int_equal(vigil_threshold_start(tm, 0.001, &err), 0);
    assert_int_equal(vigil_threshold_start(tm, 0.001, &err), VIGIL_ESTATE);
    /* Waits for the thread's work, not for a time: the test's timeout bounds it. */
    vigil_alert_stats_t st;
    do {
        sched_yield();
        vigil_alert_get_stats(am, &st);
    } while (st.triggered < 1);
    vigil_threshold_stop(tm);
    vigil_metric_history_t h;
    assert_int_equal(vigil_threshold_history(tm, "counter", &h), 0);
    assert_true(h.count >= 3);
    assert_true(h.min == 1);
    vigil_alert_get_stats(am, &st);
    assert_int_equal(st.triggered, 1);  /* the source only rises: one violation, one alert */
    vigil_threshold_stop(tm);           /* idempotent */
    vigil_threshold_free(tm);
    vigil_alert_manager_free(am);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_bounds),
        cmocka_unit_test(test_handler_fanout),
        cmocka_unit_test(test_alert_metric_and_json),
        cmocka_unit_test(test_threshold_boundaries),
        cmocka_unit_test(test_threshold_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
