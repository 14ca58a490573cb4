/*
 * The scheduler with test collectors (collect_options_t.extra) and the host table switched
 * off: isolation of a slow collector, error counting, stop, subscribers, batch grouping and
 * escaping. Nothing here asserts on wall time: progress is measured in completed cycles, and
 * the only waits are bounded polls that fail the test when a cycle count is never reached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collect/collect.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One state type for every test collector; the test owns it, init only hands it over. */
typedef struct probe {
    atomic_int      runs;
    atomic_int      fail;      /* collect() returns VIGIL_EIO while set */
    pthread_mutex_t gate_lock; /* a "slow" collector blocks until the gate opens */
    pthread_cond_t  gate_cond;
    bool            gate_closed;
    atomic_int      blocked;   /* set once the slow collector is inside collect() */
} probe_t;

static probe_t fast_probe, slow_probe, flaky_probe;

static void probe_reset(probe_t *p)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->gate_lock, NULL);
    pthread_cond_init(&p->gate_cond, NULL);
}

static int probe_init_fast(void **state, const collect_env_t *env, vigil_error_t *err)
{
    (void)env; (void)err;
    *state = &fast_probe;
    return 0;
}
static int probe_init_slow(void **state, const collect_env_t *env, vigil_error_t *err)
{
    (void)env; (void)err;
    *state = &slow_probe;
    return 0;
}
static int probe_init_flaky(void **state, const collect_env_t *env, vigil_error_t *err)
{
    (void)env; (void)err;
    *state = &flaky_probe;
    return 0;
}

static int probe_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    probe_t *p = state;
    pthread_mutex_lock(&p->gate_lock);
    atomic_store(&p->blocked, 1);
    while (p->gate_closed)
        pthread_cond_wait(&p->gate_cond, &p->gate_lock);
    pthread_mutex_unlock(&p->gate_lock);
    int n = atomic_fetch_add(&p->runs, 1) + 1;
    if (atomic_load(&p->fail))
        return vigil_error_set(err, VIGIL_EIO, "probe: told to fail");
    int fam = collect_batch_family(b, "probe_runs_total", "Runs of the probe.",
                                   COLLECT_COUNTER);
    return fam < 0 ? fam : collect_batch_add(b, fam, n, NULL);
}

static const collect_def_t probes[] = {
    { .name = "fast", .interval_ms = 5, .enabled = true, .init = probe_init_fast,
      .collect = probe_collect },
    { .name = "slow", .interval_ms = 5, .enabled = true, .init = probe_init_slow,
      .collect = probe_collect },
    { .name = "flaky", .interval_ms = 3600000, .enabled = true, .init = probe_init_flaky,
      .collect = probe_collect },
};

/* Options with every host collector off and the probes on. */
static collect_options_t probe_options(collect_enable_t *off, size_t *n)
{
    size_t nhost;
    const collect_def_t *const *host = collect_host_table(&nhost);
    for (size_t i = 0; i < nhost; i++)
        off[i] = (collect_enable_t){ host[i]->name, false };
    *n = nhost;
    return (collect_options_t){ .enable = off, .n_enable = nhost, .extra = probes,
                                .n_extra = sizeof(probes) / sizeof(probes[0]) };
}

static void wait_for(atomic_int *v, int at_least)
{
    struct timespec ts = { 0, 1000000 };
    for (int i = 0; i < 120000 && atomic_load(v) < at_least; i++) /* gives up after minutes */
        nanosleep(&ts, NULL);
    assert_true(atomic_load(v) >= at_least);
}

static void test_slow_collector_does_not_delay_fast(void **state)
{
    (void)state;
    probe_reset(&fast_probe);
    probe_reset(&slow_probe);
    probe_reset(&flaky_probe);
    slow_probe.gate_closed = true;
    collect_enable_t off[64];
    size_t n;
    collect_options_t o = probe_options(off, &n);
    collect_t *c;
    vigil_error_t err;
    assert_int_equal(collect_create(&c, &o, NULL, &err), 0);
    assert_int_equal(collect_start(c, &err), 0);
    wait_for(&slow_probe.blocked, 1);
    /* 50 fast cycles while the slow collector is stuck in its first run. */
    wait_for(&fast_probe.runs, 50);
    assert_int_equal(atomic_load(&slow_probe.runs), 0);
    collect_stats_t st;
    assert_int_equal(collect_get_stats(c, "slow", &st), 0);
    assert_int_equal(st.runs, 0);
    assert_int_equal(collect_start(c, &err), VIGIL_ESTATE);
    assert_int_equal(collect_run_once(c, "fast", NULL, &err), VIGIL_ESTATE);

    pthread_mutex_lock(&slow_probe.gate_lock);
    slow_probe.gate_closed = false;
    pthread_cond_broadcast(&slow_probe.gate_cond);
    pthread_mutex_unlock(&slow_probe.gate_lock);
    wait_for(&slow_probe.runs, 1);
    /* flaky sleeps for an hour after its first run: stop must wake it, not wait it out. */
    collect_stop(c);
    int fast_after_stop = atomic_load(&fast_probe.runs);

    buf_t out;
    buf_init(&out, 1u << 20);
    assert_int_equal(collect_expose_text(c, &out), 0);
    assert_non_null(strstr(out.data, "vigil_collector_errors_total{collector=\"fast\"} 0\n"));
    assert_non_null(strstr(out.data, "# TYPE vigil_collector_duration_seconds gauge\n"));
    assert_non_null(strstr(out.data, "vigil_collector_duration_seconds{collector=\"slow\"} "));
    /* Host collectors are off: none of them appears. */
    assert_null(strstr(out.data, "collector=\"cpu\""));
    buf_free(&out);
    /* Stopped means stopped. */
    assert_int_equal(atomic_load(&fast_probe.runs), fast_after_stop);
    collect_stop(c); /* idempotent */
    collect_free(c);
}

/* Three collectors stuck at once (the hung-NFS case, k of them) must not hold the pool: the
 * fast one keeps its rate while all three wait at their gates, and stop still returns once
 * the gates open. */
static probe_t stuck_probes[3];

static int probe_init_stuck(void **state, const collect_env_t *env, vigil_error_t *err)
{
    (void)env; (void)err;
    /* collect_create initialises enabled collectors in table order: a, b, c. */
    static atomic_int next;
    *state = &stuck_probes[atomic_fetch_add(&next, 1) % 3];
    return 0;
}

static void test_stuck_collectors_do_not_hold_the_pool(void **state)
{
    (void)state;
    static const collect_def_t defs[] = {
        { .name = "stuck_a", .interval_ms = 5, .enabled = true, .init = probe_init_stuck,
          .collect = probe_collect },
        { .name = "stuck_b", .interval_ms = 5, .enabled = true, .init = probe_init_stuck,
          .collect = probe_collect },
        { .name = "stuck_c", .interval_ms = 5, .enabled = true, .init = probe_init_stuck,
          .collect = probe_collect },
        { .name = "fast", .interval_ms = 5, .enabled = true, .init = probe_init_fast,
          .collect = probe_collect },
    };
    probe_reset(&fast_probe);
    for (int i = 0; i < 3; i++) {
        probe_reset(&stuck_probes[i]);
        stuck_probes[i].gate_closed = true;
    }
    collect_enable_t off[64];
    size_t n;
    collect_options_t o = probe_options(off, &n);
    o.extra = defs;
    o.n_extra = sizeof(defs) / sizeof(defs[0]);
    collect_t *c;
    vigil_error_t err;
    assert_int_equal(collect_create(&c, &o, NULL, &err), 0);
    assert_int_equal(collect_start(c, &err), 0);
    for (int i = 0; i < 3; i++)
        wait_for(&stuck_probes[i].blocked, 1);
    int before = atomic_load(&fast_probe.runs);
    wait_for(&fast_probe.runs, before + 50);
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&stuck_probes[i].runs), 0);
    for (int i = 0; i < 3; i++) {
        pthread_mutex_lock(&stuck_probes[i].gate_lock);
        stuck_probes[i].gate_closed = false;
        pthread_cond_broadcast(&stuck_probes[i].gate_cond);
        pthread_mutex_unlock(&stuck_probes[i].gate_lock);
    }
    for (int i = 0; i < 3; i++)
        wait_for(&stuck_probes[i].runs, 2); /* back on their 5 ms rate */
    before = atomic_load(&fast_probe.runs);
    wait_for(&fast_probe.runs, before + 20);
    collect_stop(c);
    collect_stats_t st;
    assert_int_equal(collect_get_stats(c, "stuck_b", &st), 0);
    assert_true(st.runs >= 2);
    assert_int_equal(st.errors, 0);
    collect_free(c);
}

static void test_failing_collector_counts_errors_and_keeps_last_batch(void **state)
{
    (void)state;
    probe_reset(&flaky_probe);
    collect_enable_t off[64];
    size_t n;
    collect_options_t o = probe_options(off, &n);
    collect_t *c;
    vigil_error_t err;
    assert_int_equal(collect_create(&c, &o, NULL, &err), 0);
    buf_t out;
    buf_init(&out, 1u << 20);
    assert_int_equal(collect_run_once(c, "flaky", &out, &err), 0);
    assert_string_equal(out.data, "# HELP probe_runs_total Runs of the probe.\n"
                                  "# TYPE probe_runs_total counter\n"
                                  "probe_runs_total 1\n");
    atomic_store(&flaky_probe.fail, 1);
    buf_reset(&out);
    assert_int_equal(collect_run_once(c, "flaky", &out, &err), VIGIL_EIO);
    assert_int_equal(err.code, VIGIL_EIO);
    assert_string_equal(err.message, "probe: told to fail");
    assert_int_equal(out.len, 0);
    assert_int_equal(collect_run_once(c, "flaky", &out, &err), VIGIL_EIO);
    collect_stats_t st;
    assert_int_equal(collect_get_stats(c, "flaky", &st), 0);
    assert_int_equal(st.runs, 3);
    assert_int_equal(st.errors, 2);
    assert_int_equal(collect_expose_text(c, &out), 0);
    /* The last complete batch (run 1) is still the latest. */
    assert_non_null(strstr(out.data, "probe_runs_total 1\n"));
    assert_non_null(strstr(out.data, "vigil_collector_errors_total{collector=\"flaky\"} 2\n"));
    assert_int_equal(collect_run_once(c, "nope", &out, &err), VIGIL_ENOENT);
    assert_int_equal(collect_run_once(c, "cpu", &out, &err), VIGIL_ESTATE); /* disabled */
    buf_free(&out);
    collect_free(c);
}

typedef struct seen {
    int batches;
    char last_collector[32];
    size_t last_families;
} seen_t;

static void on_batch(void *ctx, const collect_batch_t *b)
{
    seen_t *s = ctx;
    s->batches++;
    strncpy(s->last_collector, collect_batch_collector(b), sizeof(s->last_collector) - 1);
    s->last_families = collect_batch_family_count(b);
}

static void test_subscriber_sees_complete_batches(void **state)
{
    (void)state;
    probe_reset(&flaky_probe);
    collect_enable_t off[64];
    size_t n;
    collect_options_t o = probe_options(off, &n);
    collect_t *c;
    assert_int_equal(collect_create(&c, &o, NULL, NULL), 0);
    seen_t seen = { 0 };
    assert_int_equal(collect_on_batch(c, on_batch, &seen), 0);
    assert_int_equal(collect_run_once(c, "flaky", NULL, NULL), 0);
    atomic_store(&flaky_probe.fail, 1);
    assert_int_equal(collect_run_once(c, "flaky", NULL, NULL), VIGIL_EIO);
    assert_int_equal(seen.batches, 1); /* the failed run's partial batch is never handed out */
    assert_string_equal(seen.last_collector, "flaky");
    assert_int_equal(seen.last_families, 1);
    collect_free(c);
}

static void test_unknown_override_is_rejected(void **state)
{
    (void)state;
    collect_enable_t e = { "cpux", true };
    collect_options_t o = { .enable = &e, .n_enable = 1 };
    collect_t *c = NULL;
    vigil_error_t err;
    assert_int_equal(collect_create(&c, &o, NULL, &err), VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "cpux"));
    collect_interval_t iv = { "cpu", 0 };
    o = (collect_options_t){ .intervals = &iv, .n_intervals = 1 };
    assert_int_equal(collect_create(&c, &o, NULL, &err), VIGIL_EINVAL);
    collect_def_t dup[2] = { probes[0], probes[0] };
    o = (collect_options_t){ .extra = dup, .n_extra = 2 };
    assert_int_equal(collect_create(&c, &o, NULL, &err), VIGIL_EEXIST);
}

/* A collector that adds samples family-interleaved, with labels needing escapes. */
static int interleave_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    (void)state; (void)err;
    int rx = collect_batch_family(b, "t_rx_total", "Received\nbytes \\ \"x\".", COLLECT_COUNTER);
    int tx = collect_batch_family(b, "t_tx_total", "Sent.", COLLECT_COUNTER);
    int info = collect_batch_family(b, "t_info", "Info.", COLLECT_INFO);
    int empty = collect_batch_family(b, "t_empty", "Never gets a sample.", COLLECT_GAUGE);
    (void)empty;
    if (collect_batch_family(b, "t_rx_total", "ignored", COLLECT_GAUGE) != rx)
        return VIGIL_EINVAL;
    const char *devs[] = { "a", "b\"q\\\n" };
    for (int i = 0; i < 2; i++) {
        int rc = collect_batch_add(b, rx, 10 + i, "device", devs[i], NULL);
        if (rc == 0)
            rc = collect_batch_add(b, tx, 0.5 + i, "device", devs[i], NULL);
        if (rc != 0)
            return rc;
    }
    int rc = collect_batch_add(b, info, 1, "a", "x", "b", "", NULL);
    return rc != 0 ? rc : collect_batch_add(b, 99, 1, NULL) == VIGIL_EINVAL ? 0 : VIGIL_EINVAL;
}

static void test_batch_groups_and_escapes(void **state)
{
    (void)state;
    static const collect_def_t def = { .name = "interleave", .enabled = true,
                                       .collect = interleave_collect };
    collect_enable_t off[64];
    size_t n;
    collect_options_t o = probe_options(off, &n);
    o.extra = &def;
    o.n_extra = 1;
    collect_t *c;
    assert_int_equal(collect_create(&c, &o, NULL, NULL), 0);
    buf_t out;
    buf_init(&out, 1u << 20);
    for (int round = 0; round < 3; round++) { /* the reused batch gives the same text */
        buf_reset(&out);
        assert_int_equal(collect_run_once(c, "interleave", &out, NULL), 0);
        assert_string_equal(out.data,
                            "# HELP t_rx_total Received\\nbytes \\\\ \"x\".\n"
                            "# TYPE t_rx_total counter\n"
                            "t_rx_total{device=\"a\"} 10\n"
                            "t_rx_total{device=\"b\\\"q\\\\\\n\"} 11\n"
                            "# HELP t_tx_total Sent.\n"
                            "# TYPE t_tx_total counter\n"
                            "t_tx_total{device=\"a\"} 0.5\n"
                            "t_tx_total{device=\"b\\\"q\\\\\\n\"} 1.5\n"
                            "# HELP t_info Info.\n"
                            "# TYPE t_info gauge\n"
                            "t_info{a=\"x\",b=\"\"} 1\n");
    }
    buf_free(&out);
    collect_free(c);
}

/* The real host collectors on the scheduler's workers over the recorded tree, with the exposition
 * reading their latest batches while they swap them. */
static void test_host_collectors_on_threads(void **state)
{
    (void)state;
    collect_options_t o = { .procfs = "tests/collect/fixtures/live/proc",
                            .sysfs = "tests/collect/fixtures/live/sys",
                            .rootfs = "tests/collect/fixtures/live/rootfs",
                            .default_interval_ms = 2 };
    collect_t *c;
    vigil_error_t err;
    assert_int_equal(collect_create(&c, &o, NULL, &err), 0);
    assert_int_equal(collect_start(c, &err), 0);
    buf_t out;
    buf_init(&out, 1u << 22);
    collect_stats_t cpu = { 0 }, fs = { 0 };
    struct timespec ts = { 0, 1000000 };
    for (int i = 0; i < 120000 && (cpu.runs < 20 || fs.runs < 20); i++) {
        buf_reset(&out);
        assert_int_equal(collect_expose_text(c, &out), 0);
        assert_int_equal(collect_get_stats(c, "cpu", &cpu), 0);
        assert_int_equal(collect_get_stats(c, "filesystem", &fs), 0);
        nanosleep(&ts, NULL);
    }
    assert_true(cpu.runs >= 20 && fs.runs >= 20);
    collect_stop(c);
    buf_reset(&out);
    assert_int_equal(collect_expose_text(c, &out), 0);
    assert_non_null(strstr(out.data, "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} "));
    assert_non_null(strstr(out.data, "node_os_info{"));
    assert_non_null(strstr(out.data, "vigil_collector_errors_total{collector=\"cpu\"} 0\n"));
    assert_int_equal(cpu.errors, 0);
    buf_free(&out);
    collect_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_collector_does_not_delay_fast),
        cmocka_unit_test(test_stuck_collectors_do_not_hold_the_pool),
        cmocka_unit_test(test_failing_collector_counts_errors_and_keeps_last_batch),
        cmocka_unit_test(test_subscriber_sees_complete_batches),
        cmocka_unit_test(test_unknown_override_is_rejected),
        cmocka_unit_test(test_batch_groups_and_escapes),
        cmocka_unit_test(test_host_collectors_on_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
