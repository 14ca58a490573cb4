/*
 * test_summary.c - summary quantiles against a sorted reference within the documented bound
 * (|v - x| <= |x|/65 for 2^-20 <= |x| < 2^36), across distributions, signs and magnitudes;
 * empty windows report NaN; the sliding window forgets old observations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vigil/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* xorshift64*: deterministic without touching rand()'s global state. */
static double rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

static void check_distribution(double (*gen)(uint64_t *), size_t n)
{
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    vigil_family_t *f;
    static const double qs[] = { 0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1 };
    vigil_summary_opts_t o = { .quantiles = qs, .n_quantiles = 9, .max_age_s = 3600 };
    assert_int_equal(vigil_summary_new(reg, "acc", "A.", NULL, &o, &f, NULL), 0);
    vigil_summary_t *s = vigil_summary_with(f);
    double *ref = malloc(n * sizeof(double));
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        ref[i] = gen(&seed);
        vigil_summary_observe(s, ref[i]);
    }
    qsort(ref, n, sizeof(double), cmp_double);
    for (size_t i = 0; i < 9; i++) {
        double r = ceil(qs[i] * (double)n);
        size_t rank = r < 1 ? 1 : (size_t)r;
        double x = ref[rank - 1];
        double v = vigil_summary_quantile(s, qs[i]);
        if (fabs(x) < 0x1p-20)
            assert_true(v == 0);
        else
            assert_true(fabs(v - x) <= fabs(x) / 65 + 1e-300);
    }
    free(ref);
    vigil_registry_free(reg);
}

static double gen_uniform(uint64_t *s) { return rnd(s) * 10; }
static double gen_latency(uint64_t *s) { return exp(rnd(s) * 12 - 9); }    /* 1e-4 .. 20 */
static double gen_signed(uint64_t *s) { return (rnd(s) - 0.5) * 2e6; }
static double gen_tiny(uint64_t *s) { return rnd(s) < 0.3 ? 0 : rnd(s) * 1e-3; }
static double gen_heavy(uint64_t *s) { return 1.0 / (rnd(s) + 1e-9); }       /* up to 1e9 */

static void test_accuracy(void **state)
{
    (void)state;
    check_distribution(gen_uniform, 100000);
    check_distribution(gen_latency, 100000);
    check_distribution(gen_signed, 50000);
    check_distribution(gen_tiny, 50000);
    check_distribution(gen_heavy, 50000);
    check_distribution(gen_uniform, 1);
    check_distribution(gen_latency, 7);
}

static void test_empty_and_expose(void **state)
{
    (void)state;
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    vigil_family_t *f;
    static const char *const labels[] = { "op", NULL };
    assert_int_equal(vigil_summary_new(reg, "lat_seconds", "L.", labels, NULL, &f, NULL), 0);
    vigil_summary_t *s = vigil_summary_with(f, "read");
    assert_true(isnan(vigil_summary_quantile(s, 0.5)));
    char *out;
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_TEXT, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "lat_seconds{op=\"read\",quantile=\"0.5\"} NaN\n"));
    assert_non_null(strstr(out, "lat_seconds_count{op=\"read\"} 0\n"));
    free(out);
    for (int i = 1; i <= 100; i++)
        vigil_summary_observe(s, i);
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_OPENMETRICS, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "lat_seconds{op=\"read\",quantile=\"0.99\"} "));
    assert_non_null(strstr(out, "lat_seconds_sum{op=\"read\"} 5050\n"));
    assert_non_null(strstr(out, "lat_seconds_count{op=\"read\"} 100\n"));
    free(out);
    vigil_registry_free(reg);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void test_window_slides(void **state)
{
    (void)state;
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    vigil_family_t *f;
    vigil_summary_opts_t o = { .max_age_s = 0.2, .age_buckets = 2 };
    assert_int_equal(vigil_summary_new(reg, "win", "W.", NULL, &o, &f, NULL), 0);
    vigil_summary_t *s = vigil_summary_with(f);
    for (int i = 0; i < 100; i++)
        vigil_summary_observe(s, 1000);
    assert_true(fabs(vigil_summary_quantile(s, 0.5) - 1000) <= 1000.0 / 65);
    /* After two full window spans the old values have been rotated out (the wait is a lower
     * bound only: no upper timing assumption). */
    sleep_ms(450);
    assert_true(isnan(vigil_summary_quantile(s, 0.5)));
    vigil_summary_observe(s, 2);
    assert_true(fabs(vigil_summary_quantile(s, 0.5) - 2) <= 2.0 / 65);
    /* _count and _sum are cumulative, not windowed. */
    char *out;
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_TEXT, &out, NULL, NULL), 0);
    assert_non_null(strstr(out, "win_count 101\n"));
    assert_non_null(strstr(out, "win_sum 100002\n"));
    free(out);
    vigil_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_empty_and_expose),
        cmocka_unit_test(test_window_slides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
