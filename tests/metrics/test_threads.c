/*
 * test_threads.c - exactness under concurrency: N threads x K operations expose exactly N*K,
 * with more threads than shards (threads share shards) and with scrapes running alongside;
 * every scrape's histogram is self-consistent (cumulative buckets never decrease, +Inf equals
 * _count) and counters never go backwards between scrapes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vigil/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 16
#define ITERS   100000

typedef struct shared {
    vigil_family_t    *labelled;
    vigil_counter_t   *counter;
    vigil_histogram_t *hist;
    vigil_gauge_t     *gauge;
    vigil_summary_t   *summary;
} shared_t;

static void *worker(void *arg)
{
    shared_t *s = arg;
    /* Each thread looks its children up itself: concurrent first-sight inserts too. */
    vigil_counter_t *mine = NULL;
    for (int i = 0; i < ITERS; i++) {
        vigil_counter_inc(s->counter);
        vigil_histogram_observe(s->hist, (double)(i % 4)); /* 0,1,2,3 */
        vigil_gauge_inc(s->gauge);
        if (i % 100 == 0) {
            char k[8];
            snprintf(k, sizeof(k), "k%d", (i / 100) % 37);
            mine = vigil_counter_with(s->labelled, k, "x");
            assert_non_null(mine);
            vigil_counter_add_u64(mine, 100);
            vigil_summary_observe(s->summary, (double)i);
        }
    }
    return NULL;
}

/* Value of the sample line starting with `prefix` (which includes the trailing space). */
static double sample(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = strlen(prefix);
    while ((p = strstr(p, prefix)) != NULL) {
        if (p == text || p[-1] == '\n')
            return strtod(p + n, NULL);
        p += n;
    }
    fail_msg("no sample %s", prefix);
    return 0;
}

static void check_histogram(const char *text, bool om)
{
    const char *const les[] = { "0.5", om ? "1.0" : "1", "2.5", "+Inf" };
    double prev = 0;
    for (int i = 0; i < 4; i++) {
        char pre[64];
        snprintf(pre, sizeof(pre), "th_seconds_bucket{le=\"%s\"} ", les[i]);
        double v = sample(text, pre);
        assert_true(v >= prev);
        prev = v;
    }
    assert_true(prev == sample(text, "th_seconds_count "));
}

typedef struct scraper {
    vigil_registry_t *reg;
    _Atomic bool      stop;
    int               scrapes;
} scraper_t;

static void *scrape_loop(void *arg)
{
    scraper_t *sc = arg;
    double last = 0;
    while (!atomic_load(&sc->stop)) {
        char *out;
        assert_int_equal(vigil_registry_expose(sc->reg, VIGIL_FORMAT_TEXT, &out, NULL, NULL), 0);
        check_histogram(out, false);
        double c = sample(out, "th_total ");
        assert_true(c >= last);
        last = c;
        free(out);
        sc->scrapes++;
    }
    return NULL;
}

static void test_exact_under_threads(void **state)
{
    (void)state;
    vigil_registry_opts_t o = { .shards = 4 }; /* fewer shards than threads on purpose */
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(&o, &reg, NULL), 0);
    vigil_family_t *c, *h, *g, *l, *s;
    double buckets[] = { 0.5, 1, 2.5 };
    static const char *const labels[] = { "key", "other", NULL };
    assert_int_equal(vigil_counter_new(reg, "th_total", "T.", NULL, &c, NULL), 0);
    assert_int_equal(vigil_histogram_new(reg, "th_seconds", "H.", NULL, buckets, 3, &h, NULL), 0);
    assert_int_equal(vigil_gauge_new(reg, "th_gauge", "G.", NULL, &g, NULL), 0);
    assert_int_equal(vigil_counter_new(reg, "th_labelled_total", "L.", labels, &l, NULL), 0);
    assert_int_equal(vigil_summary_new(reg, "th_summary", "S.", NULL, NULL, &s, NULL), 0);
    shared_t sh = { .labelled = l, .counter = vigil_counter_with(c),
                    .hist = vigil_histogram_with(h), .gauge = vigil_gauge_with(g),
                    .summary = vigil_summary_with(s) };

    scraper_t sc = { .reg = reg };
    pthread_t scr, t[THREADS];
    pthread_create(&scr, NULL, scrape_loop, &sc);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, &sh);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&sc.stop, true);
    pthread_join(scr, NULL);
    assert_true(sc.scrapes > 0);

    const double nk = (double)THREADS * ITERS;
    assert_true(vigil_counter_value(sh.counter) == nk);
    assert_true(vigil_gauge_value(sh.gauge) == nk);

    char *out;
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_OPENMETRICS, &out, NULL, NULL), 0);
    assert_true(sample(out, "th_total ") == nk);
    check_histogram(out, true);
    assert_true(sample(out, "th_seconds_count ") == nk);
    assert_true(sample(out, "th_seconds_bucket{le=\"0.5\"} ") == nk / 4);
    assert_true(sample(out, "th_seconds_bucket{le=\"1.0\"} ") == nk / 2);
    assert_true(sample(out, "th_seconds_bucket{le=\"2.5\"} ") == nk * 3 / 4);
    /* 0+1+2+3 per four observations: integers, so the double sum is exact. */
    assert_true(sample(out, "th_seconds_sum ") == nk / 4 * 6);
    assert_true(sample(out, "th_summary_count ") == nk / 100);

    double labelled = 0;
    for (int k = 0; k < 37; k++) {
        char pre[64];
        snprintf(pre, sizeof(pre), "th_labelled_total{key=\"k%d\",other=\"x\"} ", k);
        labelled += sample(out, pre);
    }
    assert_true(labelled == nk);
    free(out);
    vigil_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_under_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
