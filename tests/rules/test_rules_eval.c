/*
 * test_rules_eval.c - rule evaluation on an in-memory store with a fake clock: the alert
 * state machine (pending -> firing -> resolved, keep_firing_for), ALERTS/ALERTS_FOR_STATE,
 * what the sink receives, restoring `for` state in a new manager, group limits, staleness of
 * recording-rule series, slot alignment, the API documents and the evaluation metrics.
 * Time only moves when a test calls rules_manager_eval_all(): nothing here sleeps.
 */
#include "rules/rules_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN 60000LL

typedef struct fixture {
    promql_memstore_t *mem;
    promql_engine_t *eng;
    rules_manager_t *m;
    vigil_registry_t *reg;
    int64_t now;
    char path[64];
    /* what the sink saw */
    int sent, sent_resolved;
    char last_summary[256];
    int64_t last_starts, last_ends;
} fixture_t;

static int64_t fake_now(void *ctx)
{
    return ((fixture_t *)ctx)->now;
}

static void sink(void *ctx, const char *expr, const rules_alert_out_t *a, size_t n)
{
    fixture_t *f = ctx;
    (void)expr;
    for (size_t i = 0; i < n; i++) {
        f->sent++;
        f->sent_resolved += a[i].resolved;
        const char *s = rl_get(a[i].annotations, "summary");
        snprintf(f->last_summary, sizeof(f->last_summary), "%s", s ? s : "");
        f->last_starts = a[i].starts_at_ms;
        f->last_ends = a[i].ends_at_ms;
        assert_non_null(strstr(a[i].generator_url, "http://vigil/graph?g0.expr="));
    }
}

static void write_rules(fixture_t *f, const char *yaml)
{
    snprintf(f->path, sizeof(f->path), "/tmp/vigil-rules-XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
}

static void setup_with(fixture_t *f, const char *yaml, bool registry)
{
    memset(f, 0, sizeof(*f));
    f->mem = promql_memstore_create();
    f->eng = promql_engine_create(NULL);
    if (registry)
        assert_int_equal(vigil_registry_new(NULL, &f->reg, NULL), 0);
    promql_label_t ext[] = { { "region", "eu" } };
    rules_manager_opts_t o = {
        .engine = f->eng, .store = rules_store_memstore(f->mem),
        .external_labels = { ext, 1 }, .external_url = "http://vigil",
        .sink = sink, .sink_ctx = f, .registry = f->reg,
        .now_ms = fake_now, .now_ctx = f,
    };
    vigil_error_t err;
    assert_int_equal(rules_manager_create(&o, &f->m, &err), 0);
    write_rules(f, yaml);
    const char *p = f->path;
    int rc = rules_manager_load(f->m, &p, 1, &err);
    if (rc != 0)
        fail_msg("%s", err.message);
}

static void teardown(fixture_t *f)
{
    rules_manager_free(f->m);
    promql_engine_free(f->eng);
    promql_memstore_free(f->mem);
    vigil_registry_free(f->reg);
    unlink(f->path);
}

static void add(fixture_t *f, const char *instance, int64_t t, double v)
{
    promql_label_t l[] = { { "__name__", "up" }, { "instance", instance }, { "job", "node" } };
    assert_int_equal(promql_memstore_add(f->mem, l, 3, t, v, false), 0);
}

/* Evaluates at t (the fake clock says t too). */
static void eval_at(fixture_t *f, int64_t t)
{
    f->now = t;
    rules_manager_eval_all(f->m, t);
}

/* Value of a one-sample instant query, NAN when empty. */
static double q1(fixture_t *f, const char *expr, int64_t t)
{
    promql_result_t *r;
    vigil_error_t err;
    promql_storage_t st = promql_memstore_storage(f->mem);
    if (promql_query_instant(f->eng, &st, expr, t, NULL, &r, &err) != 0)
        fail_msg("%s: %s", expr, err.message);
    double v = NAN;
    if (r->type == PROMQL_VALUE_VECTOR && r->n_vector == 1)
        v = r->vector[0].v;
    else if (r->type == PROMQL_VALUE_VECTOR)
        assert_int_equal(r->n_vector, 0);
    promql_result_free(r);
    return v;
}

static alert_state_t state_of(fixture_t *f, size_t group, size_t rule, size_t alert)
{
    size_t n;
    rgroup_t **gs = rules_manager_groups(f->m, &n);
    assert_true(group < n && rule < gs[group]->n_rules);
    rrule_t *r = &gs[group]->rules[rule];
    return alert < r->n_active ? r->active[alert]->state : ALERT_INACTIVE;
}

static const char *const down_rules =
    "groups:\n"
    "  - name: g\n"
    "    interval: 1m\n"
    "    rules:\n"
    "      - alert: InstanceDown\n"
    "        expr: up == 0\n"
    "        for: 5m\n"
    "        labels: {severity: page}\n"
    "        annotations:\n"
    "          summary: 'Instance {{ $labels.instance }} down ({{ $value }}) in "
    "{{ $externalLabels.region }}'\n";

static void test_lifecycle(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, down_rules, true);
    rules_manager_restore_all(f.m, 0);   /* nothing to restore: ALERTS are written from now */
    for (int i = 0; i <= 20; i++)
        add(&f, "a", i * MIN, i < 12 ? 0 : 1);
    eval_at(&f, 0);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_PENDING);
    assert_true(q1(&f, "ALERTS{alertstate=\"pending\"}", 0) == 1);
    assert_true(q1(&f, "ALERTS_FOR_STATE", 0) == 0);
    assert_int_equal(f.sent, 0);   /* pending alerts are not sent */
    for (int i = 1; i < 5; i++)
        eval_at(&f, i * MIN);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_PENDING);
    eval_at(&f, 5 * MIN);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_FIRING);
    assert_true(q1(&f, "ALERTS{alertstate=\"firing\",severity=\"page\",instance=\"a\"}",
                   5 * MIN) == 1);
    /* the pending series got a staleness marker: gone at once, not after the lookback */
    assert_true(isnan(q1(&f, "ALERTS{alertstate=\"pending\"}", 5 * MIN)));
    assert_int_equal(f.sent, 1);
    assert_string_equal(f.last_summary, "Instance a down (0) in eu");
    assert_true(f.last_starts == 5 * MIN);
    assert_true(f.last_ends == 5 * MIN + 4 * MIN);   /* ValidUntil: 4 x max(resend, interval) */
    /* resent once the resend delay (1m) has passed, not at every evaluation */
    eval_at(&f, 6 * MIN);
    assert_int_equal(f.sent, 1);
    eval_at(&f, 7 * MIN);
    assert_int_equal(f.sent, 2);
    for (int i = 8; i <= 11; i++)
        eval_at(&f, i * MIN);
    eval_at(&f, 12 * MIN);   /* up == 1 now: resolved */
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_INACTIVE);
    assert_int_equal(f.sent_resolved, 1);
    assert_true(f.last_ends == 12 * MIN);
    assert_true(isnan(q1(&f, "ALERTS", 12 * MIN)));
    /* the resolved alert stays 15 minutes, then goes */
    size_t n;
    rgroup_t **gs = rules_manager_groups(f.m, &n);
    eval_at(&f, 27 * MIN);
    assert_int_equal(gs[0]->rules[0].n_active, 1);
    eval_at(&f, 28 * MIN);
    assert_int_equal(gs[0]->rules[0].n_active, 0);

    teardown(&f);
}

static void test_keep_firing_for(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f,
               "groups:\n"
               "  - name: k\n"
               "    rules:\n"
               "      - alert: Flappy\n"
               "        expr: up == 0\n"
               "        keep_firing_for: 2m\n", false);
    rules_manager_restore_all(f.m, 0);
    add(&f, "a", 0, 0);
    add(&f, "a", 1 * MIN, 1);
    eval_at(&f, 0);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_FIRING);   /* for: 0 fires at once */
    eval_at(&f, 1 * MIN);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_FIRING);   /* kept */
    eval_at(&f, 2 * MIN);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_FIRING);
    eval_at(&f, 3 * MIN);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_INACTIVE); /* 2m since it went missing */
    teardown(&f);
}

static void test_restore(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, down_rules, false);
    rules_manager_restore_all(f.m, 0);
    for (int i = 0; i <= 30; i++)
        add(&f, "a", i * MIN, 0);
    for (int i = 0; i <= 2; i++)
        eval_at(&f, i * MIN);   /* pending since 0, ALERTS_FOR_STATE = 0 */
    /* "restart": a new manager over the same store, 10 minutes later */
    rules_manager_free(f.m);
    rules_manager_opts_t o = { .engine = f.eng, .store = rules_store_memstore(f.mem),
                               .now_ms = fake_now, .now_ctx = &f, .for_grace_ms = 1 * MIN };
    assert_int_equal(rules_manager_create(&o, &f.m, NULL), 0);
    const char *p = f.path;
    assert_int_equal(rules_manager_load(f.m, &p, 1, NULL), 0);
    eval_at(&f, 12 * MIN);
    /* not restored yet: no ALERTS written, state starts over */
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_PENDING);
    eval_at(&f, 13 * MIN);
    rules_manager_restore_all(f.m, 13 * MIN);
    /* pending 2m before going down at 2m, 3m remaining >= grace: ActiveAt shifts by the
     * downtime (13m - 2m), so it fires 3m after the restore. */
    size_t n;
    rgroup_t **gs = rules_manager_groups(f.m, &n);
    assert_true(gs[0]->rules[0].active[0]->active_at == 11 * MIN);
    eval_at(&f, 15 * MIN);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_PENDING);
    eval_at(&f, 16 * MIN);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_FIRING);
    assert_true(q1(&f, "ALERTS_FOR_STATE", 16 * MIN) == 660);
    teardown(&f);
}

static void test_limit_and_errors(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f,
               "groups:\n"
               "  - name: l\n"
               "    limit: 1\n"
               "    rules:\n"
               "      - alert: Many\n"
               "        expr: up == 0\n"
               "      - record: r\n"
               "        expr: up\n"
               "      - record: dup\n"
               "        expr: up\n"
               "        labels: {instance: same}\n", true);
    add(&f, "a", 0, 0);
    add(&f, "b", 0, 0);
    eval_at(&f, 0);
    size_t n;
    rgroup_t **gs = rules_manager_groups(f.m, &n);
    assert_int_equal(gs[0]->rules[0].health, HEALTH_BAD);
    assert_string_equal(gs[0]->rules[0].last_error, "exceeded limit of 1 with 2 alerts");
    assert_int_equal(gs[0]->rules[0].n_active, 0);
    assert_string_equal(gs[0]->rules[1].last_error, "exceeded limit of 1 with 2 series");
    assert_string_equal(gs[0]->rules[2].last_error,
                        "vector contains metrics with the same labelset after applying rule "
                        "labels");
    assert_true(vigil_counter_value(gs[0]->m_evals) == 3);
    assert_true(vigil_counter_value(gs[0]->m_failures) == 3);

    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(rules_api_rules_json(f.m, NULL, &b), 0);
    assert_non_null(strstr(b.data, "\"health\":\"err\",\"lastError\":\"exceeded limit of 1 "
                                   "with 2 alerts\""));
    assert_non_null(strstr(b.data, "\"type\":\"recording\""));
    assert_non_null(strstr(b.data, "\"interval\":60,\"limit\":1"));
    buf_free(&b);
    teardown(&f);
}

static void test_recording_staleness_and_api(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f,
               "groups:\n"
               "  - name: rec\n"
               "    rules:\n"
               "      - record: job:up:sum\n"
               "        expr: sum by (job) (up)\n"
               "        labels: {source: rule}\n"
               "      - alert: Down\n"
               "        expr: up == 0\n"
               "        labels: {severity: '{{ if eq $value 0.0 }}page{{ end }}'}\n", false);
    rules_manager_restore_all(f.m, 0);
    add(&f, "a", 0, 1);
    add(&f, "b", 0, 0);
    eval_at(&f, 0);
    assert_true(q1(&f, "job:up:sum{source=\"rule\",job=\"node\"}", 0) == 1);
    eval_at(&f, 6 * MIN);   /* the input is past the lookback: the rule returns nothing */
    assert_true(isnan(q1(&f, "job:up:sum", 6 * MIN)));
    assert_true(isnan(q1(&f, "job:up:sum", 7 * MIN)));   /* stale marker, not a 5m tail */

    add(&f, "b", 7 * MIN, 0);
    eval_at(&f, 7 * MIN);
    buf_t b;
    buf_init(&b, 1 << 20);
    assert_int_equal(rules_api_alerts_json(f.m, &b), 0);
    assert_string_equal(b.data,
                        "{\"status\":\"success\",\"data\":{\"alerts\":[{\"labels\":{\"alertname\":"
                        "\"Down\",\"instance\":\"b\",\"job\":\"node\",\"severity\":\"page\"},"
                        "\"annotations\":{},\"state\":\"firing\",\"activeAt\":"
                        "\"1970-01-01T00:07:00Z\",\"value\":\"0e+00\"}]}}");
    buf_reset(&b);
    assert_int_equal(rules_api_rules_json(f.m, "record", &b), 0);
    assert_non_null(strstr(b.data, "\"query\":\"sum by (job) (up)\",\"labels\":{\"source\":"
                                   "\"rule\"},\"health\":\"ok\""));
    assert_null(strstr(b.data, "alerting"));
    buf_free(&b);
    teardown(&f);
}

static void test_reload_keeps_state(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, down_rules, false);
    rules_manager_restore_all(f.m, 0);
    add(&f, "a", 0, 0);
    eval_at(&f, 0);
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_PENDING);
    const char *p = f.path;
    vigil_error_t err;
    assert_int_equal(rules_manager_load(f.m, &p, 1, &err), 0);   /* same file: state kept */
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_PENDING);
    /* a bad file keeps the old rules and says why */
    FILE *fp = fopen(f.path, "w");
    fputs("groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: 'up +'\n", fp);
    fclose(fp);
    assert_int_equal(rules_manager_load(f.m, &p, 1, &err), VIGIL_EPARSE);
    assert_non_null(strstr(err.message, ":5:15: group \"g\", rule 1, \"X\": could not parse"));
    assert_int_equal(state_of(&f, 0, 0, 0), ALERT_PENDING);
    teardown(&f);
}

static void test_slots(void **state)
{
    (void)state;
    int64_t iv = MIN, now = 1700000000123LL;
    int64_t t = rules_group_eval_timestamp("a.yml", "g", iv, now);
    assert_true(t <= now && t > now - iv);
    /* same slot phase at any time; another group gets another phase */
    int64_t t2 = rules_group_eval_timestamp("a.yml", "g", iv, now + 7 * iv + 5);
    assert_true((t2 - t) % iv == 0);
    int64_t t3 = rules_group_eval_timestamp("a.yml", "h", iv, now);
    assert_true(t3 != t);
    /* the phase is xxhash64("file\xffa.yml\xffname\xffg\xff") mod interval (in ns) */
    const char key[] = "file\xff" "a.yml\xff" "name\xff" "g\xff";
    uint64_t off_ns = rules_xxh64(key, sizeof(key) - 1) % (uint64_t)(iv * 1000000);
    int64_t ivn = iv * 1000000;   /* t is the slot in ns truncated to ms */
    assert_true((((int64_t)off_ns - t * 1000000) % ivn + ivn) % ivn < 1000000);
}

static void test_threads_start_stop(void **state)
{
    (void)state;
    fixture_t f;
    setup_with(&f, down_rules, false);
    /* real threads: started and stopped at once; nothing is asserted about timing */
    assert_int_equal(rules_manager_start(f.m), 0);
    rules_manager_stop(f.m);
    rules_manager_stop(f.m);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_keep_firing_for),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_limit_and_errors),
        cmocka_unit_test(test_recording_staleness_and_api),
        cmocka_unit_test(test_reload_keeps_state),
        cmocka_unit_test(test_slots),
        cmocka_unit_test(test_threads_start_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
