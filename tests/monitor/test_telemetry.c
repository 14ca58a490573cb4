/* Unit tests of the telemetry collector: the start/end lifecycle and its errors (nothing
 * recorded on a failed call), generated ids, the in-flight and ring bounds with their drop
 * counts, percentile accuracy against a sorted reference, slow operations, and the JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vigil/telemetry.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct logged {
    int  calls;
    char last[512];
} logged_t;

static void log_hook(void *ctx, int level, const char *component, const char *msg)
{
    logged_t *l = ctx;
    (void)level;
    (void)component;
    l->calls++;
    snprintf(l->last, sizeof(l->last), "%s", msg);
}

static vigil_telemetry_t *make(size_t max_events, double slow, logged_t *lg)
{
    vigil_telemetry_opts_t o = { .max_events = max_events, .slow_threshold_s = slow,
                                 .log = lg ? log_hook : NULL, .log_ctx = lg };
    vigil_telemetry_t *t;
    vigil_error_t err;
    assert_int_equal(vigil_telemetry_create(&o, &t, &err), 0);
    return t;
}

static void test_lifecycle_and_errors(void **state)
{
    (void)state;
    vigil_telemetry_t *t = make(10, 0, NULL);
    vigil_error_t err;
    char id[VIGIL_OP_ID_MAX];
    vigil_kv_t md[] = { { "model_id", "gpt2" }, { "profile", "ci" } };
    assert_int_equal(vigil_telemetry_start(t, "op-123", "evaluate", md, 2, id, sizeof(id), &err),
                     0);
    assert_string_equal(id, "op-123");
    assert_int_equal(vigil_telemetry_start(t, "op-123", "evaluate", NULL, 0, NULL, 0, &err),
                     VIGIL_EEXIST);
    assert_int_equal(vigil_telemetry_start(t, NULL, "train", NULL, 0, id, sizeof(id), &err), 0);
    assert_string_equal(id, "op-1");
    /* A client may pick the next generated name: generation skips it. */
    assert_int_equal(vigil_telemetry_start(t, "op-2", "train", NULL, 0, NULL, 0, &err), 0);
    assert_int_equal(vigil_telemetry_start(t, "", "train", NULL, 0, id, sizeof(id), &err), 0);
    assert_string_equal(id, "op-3");

    /* Bad input: nothing recorded. */
    assert_int_equal(vigil_telemetry_start(t, "a b", "x", NULL, 0, NULL, 0, &err), VIGIL_EINVAL);
    assert_int_equal(vigil_telemetry_start(t, "a/b", "x", NULL, 0, NULL, 0, &err), VIGIL_EINVAL);
    assert_int_equal(vigil_telemetry_start(t, "ok", "", NULL, 0, NULL, 0, &err), VIGIL_EINVAL);
    vigil_kv_t bad_md[] = { { "", "v" } };
    assert_int_equal(vigil_telemetry_start(t, "ok", "x", bad_md, 1, NULL, 0, &err),
                     VIGIL_EINVAL);
    vigil_telemetry_stats_t st;
    vigil_telemetry_stats(t, &st, NULL, 0);
    assert_int_equal(st.in_flight, 4);
    assert_int_equal(st.started, 4);
    assert_int_equal(st.n_types, 2);  /* "x" was never created */

    vigil_kv_num_t m[] = { { "ratio_vs_baseline", 1.02 } };
    double dur = -1;
    assert_int_equal(vigil_telemetry_end(t, "op-123", "success", m, 1, &dur, &err), 0);
    assert_true(dur >= 0);
    assert_int_equal(vigil_telemetry_end(t, "op-123", "success", NULL, 0, NULL, &err),
                     VIGIL_ESTATE);
    assert_non_null(strstr(err.message, "already ended"));
    assert_int_equal(vigil_telemetry_end(t, "nope", "success", NULL, 0, NULL, &err),
                     VIGIL_ENOENT);
    assert_int_equal(vigil_telemetry_end(t, "op-1", "", NULL, 0, NULL, &err), VIGIL_EINVAL);
    vigil_kv_num_t bad_m[] = { { "x", NAN } };
    assert_int_equal(vigil_telemetry_end(t, "op-1", "error", bad_m, 1, NULL, &err),
                     VIGIL_EINVAL);
    vigil_telemetry_stats(t, &st, NULL, 0);
    assert_int_equal(st.in_flight, 3);   /* the failed ends left op-1 in flight */
    assert_int_equal(st.finished, 1);
    assert_int_equal(vigil_telemetry_end(t, "op-1", "error", NULL, 0, NULL, &err), 0);

    vigil_op_type_stats_t ts[4];
    size_t n = vigil_telemetry_stats(t, &st, ts, 4);
    assert_int_equal(n, 2);
    assert_string_equal(ts[0].type, "evaluate");
    assert_int_equal(ts[0].count, 1);
    assert_true(ts[0].success_rate == 1.0);
    assert_string_equal(ts[1].type, "train");
    assert_int_equal(ts[1].count, 1);
    assert_true(ts[1].success_rate == 0.0);
    assert_true(st.success_rate == 0.5);

    char *j;
    size_t len;
    assert_int_equal(vigil_telemetry_recent_json(t, 10, &j, &len), 0);
    json_error_t je;
    json_t *arr = json_loads(j, 0, &je);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 2);
    json_t *first = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), "op-123");
    assert_string_equal(json_string_value(json_object_get(json_object_get(first, "metadata"),
                                                          "model_id")), "gpt2");
    assert_true(json_number_value(json_object_get(json_object_get(first, "metrics"),
                                                  "ratio_vs_baseline")) == 1.02);
    json_decref(arr);
    free(j);
    vigil_telemetry_free(t);  /* frees the two operations still in flight */
}

static void test_bounds(void **state)
{
    (void)state;
    vigil_telemetry_t *t = make(3, 0, NULL);
    vigil_error_t err;
    for (int i = 0; i < 3; i++)
        assert_int_equal(vigil_telemetry_start(t, NULL, "a", NULL, 0, NULL, 0, &err), 0);
    assert_int_equal(vigil_telemetry_start(t, NULL, "a", NULL, 0, NULL, 0, &err), VIGIL_ELIMIT);
    vigil_telemetry_stats_t st;
    vigil_telemetry_stats(t, &st, NULL, 0);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.in_flight, 3);
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof(id), "op-%d", i);
        assert_int_equal(vigil_telemetry_end(t, id, "success", NULL, 0, NULL, &err), 0);
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(vigil_telemetry_record(t, "b", "success", 1.0, NULL, 0, &err), 0);
    vigil_op_type_stats_t ts[2];
    size_t n = vigil_telemetry_stats(t, &st, ts, 2);
    assert_int_equal(n, 2);
    assert_int_equal(st.finished, 7);
    assert_int_equal(st.dropped, 4);      /* ring of 3: 7 finished, 4 pushed out */
    assert_int_equal(ts[0].count, 3);     /* exact totals survive the ring */
    assert_int_equal(ts[0].window, 0);    /* ...but "a" has left the ring */
    assert_true(isnan(ts[0].percentiles[0]));
    assert_int_equal(ts[1].window, 3);
    /* An id pushed out of the ring reads as unknown, not as ended. */
    assert_int_equal(vigil_telemetry_end(t, "op-1", "success", NULL, 0, NULL, &err),
                     VIGIL_ENOENT);
    vigil_telemetry_free(t);

    /* Type bound */
    vigil_telemetry_opts_t o = { .max_types = 2 };
    assert_int_equal(vigil_telemetry_create(&o, &t, &err), 0);
    assert_int_equal(vigil_telemetry_record(t, "x", "success", 0, NULL, 0, &err), 0);
    assert_int_equal(vigil_telemetry_record(t, "y", "success", 0, NULL, 0, &err), 0);
    assert_int_equal(vigil_telemetry_record(t, "z", "success", 0, NULL, 0, &err), VIGIL_ELIMIT);
    vigil_telemetry_free(t);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reference nearest-rank percentile, written independently of the library's: the value at
 * 1-based rank ceil(p/100 * n). */
static double reference(const double *sorted, size_t n, double p)
{
    size_t rank = (size_t)ceil(p * (double)n / 100.0);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static void test_percentile_accuracy(void **state)
{
    (void)state;
    const double pct[] = { 1, 50, 90, 95, 99, 99.9, 100 };
    vigil_telemetry_opts_t o = { .max_events = 5000, .percentiles = pct, .n_percentiles = 7 };
    vigil_telemetry_t *t;
    vigil_error_t err;
    assert_int_equal(vigil_telemetry_create(&o, &t, &err), 0);
    enum { N = 7000 };  /* more than the ring: percentiles cover the last 5000 */
    double *all = malloc(N * sizeof(double));
    uint64_t x = 88172645463325252ull;  /* xorshift: deterministic, spread over decades */
    for (int i = 0; i < N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        all[i] = exp((double)(x % 1000000) / 1000000.0 * 12.0 - 6.0);  /* 0.0025 .. 403 s */
        assert_int_equal(vigil_telemetry_record(t, "op", "success", all[i], NULL, 0, &err), 0);
    }
    double *last = all + (N - 5000);
    qsort(last, 5000, sizeof(double), cmp);
    vigil_op_type_stats_t ts;
    vigil_telemetry_stats_t st;
    assert_int_equal(vigil_telemetry_stats(t, &st, &ts, 1), 1);
    assert_int_equal(ts.window, 5000);
    for (size_t i = 0; i < 7; i++)
        assert_true(ts.percentiles[i] == reference(last, 5000, pct[i]));  /* exact */
    free(all);
    vigil_telemetry_free(t);
}

static void test_slow_and_json(void **state)
{
    (void)state;
    logged_t lg = { 0 };
    vigil_registry_t *reg;
    vigil_error_t err;
    assert_int_equal(vigil_registry_new(NULL, &reg, &err), 0);
    vigil_telemetry_opts_t o = { .slow_threshold_s = 2.0, .log = log_hook, .log_ctx = &lg,
                                 .registry = reg };
    vigil_telemetry_t *t;
    assert_int_equal(vigil_telemetry_create(&o, &t, &err), 0);
    assert_int_equal(vigil_telemetry_record(t, "eval", "success", 2.0, NULL, 0, &err), 0);
    assert_int_equal(lg.calls, 0);  /* equal to the threshold is not slow */
    assert_int_equal(vigil_telemetry_record(t, "eval", "error", 2.5, NULL, 0, &err), 0);
    assert_int_equal(lg.calls, 1);
    assert_non_null(strstr(lg.last, "type=eval"));
    assert_non_null(strstr(lg.last, "duration_s=2.5"));
    assert_int_equal(vigil_telemetry_record(t, "eval", "success", -1, NULL, 0, &err),
                     VIGIL_EINVAL);

    char *j;
    size_t len;
    assert_int_equal(vigil_telemetry_stats_json(t, &j, &len), 0);
    json_error_t je;
    json_t *o2 = json_loads(j, 0, &je);
    assert_non_null(o2);
    assert_int_equal(json_integer_value(json_object_get(o2, "slow")), 1);
    json_t *ev = json_object_get(json_object_get(o2, "types"), "eval");
    assert_true(json_number_value(json_object_get(ev, "success_rate")) == 0.5);
    assert_int_equal(json_integer_value(json_object_get(ev, "slow_count")), 1);
    json_t *p = json_object_get(ev, "percentiles");
    assert_true(json_number_value(json_object_get(p, "p50")) == 2.0);
    assert_true(json_number_value(json_object_get(p, "p99")) == 2.5);
    json_decref(o2);
    free(j);

    char *text;
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_TEXT, &text, NULL, &err), 0);
    assert_non_null(strstr(text, "vigil_monitor_operations_total{type=\"eval\","
                                 "status=\"error\"} 1\n"));
    assert_non_null(strstr(text, "vigil_monitor_slow_operations_total{type=\"eval\"} 1\n"));
    assert_non_null(strstr(text, "vigil_monitor_operation_duration_seconds_count{type=\"eval\"} 2\n"));
    free(text);
    vigil_telemetry_free(t);
    vigil_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_and_errors),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_percentile_accuracy),
        cmocka_unit_test(test_slow_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
