/* Unit tests of the PromQL parser and printer: precedence, errors with line:col, round trips,
 * and a few engine evaluations over the memstore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "promql/promql.h"
#include "util/buf.h"
#include "vigil/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Returns the canonical form of q (static buffer) or the error message. */
static const char *fmt(const char *q, bool pretty)
{
    static char out[4096];
    buf_t b;
    buf_init(&b, 1 << 20);
    vigil_error_t err;
    vigil_error_clear(&err);
    if (promql_format(q, pretty, &b, &err) != 0)
        snprintf(out, sizeof(out), "ERR %s", err.message);
    else
        snprintf(out, sizeof(out), "%s", b.data != NULL ? b.data : "");
    buf_free(&b);
    return out;
}

static void test_precedence(void **state)
{
    (void)state;
    /* Parenthesise by evaluating: the printer keeps only written parens, so check values. */
    assert_string_equal(fmt("1 + 2 * 3", false), "1 + 2 * 3");
    assert_string_equal(fmt("sum(x) by (a)", false), "sum by (a) (x)");
    assert_string_equal(fmt("x offset 1m + 1m", false), "x offset 1m + 1m");
    assert_string_equal(fmt("a or b and c unless d", false), "a or b and c unless d");
    assert_string_equal(fmt("{__name__=\"foo\", a=\"b\"}", false), "foo{a=\"b\"}");
    assert_string_equal(fmt("x[5m:] @ end()", false), "x[5m:] @ end()");
    assert_string_equal(fmt("foo * on(a) group_left(b) bar", false),
                        "foo * on (a) group_left (b) bar");
    assert_string_equal(fmt("-1", false), "-1");
    assert_string_equal(fmt("1e6", false), "1e+06");
}

static double instant(promql_engine_t *e, promql_storage_t *st, const char *q)
{
    promql_result_t *r;
    vigil_error_t err;
    assert_int_equal(promql_query_instant(e, st, q, 0, NULL, &r, &err), 0);
    assert_int_equal(r->type, PROMQL_VALUE_SCALAR);
    double v = r->scalar;
    promql_result_free(r);
    return v;
}

static void test_precedence_values(void **state)
{
    (void)state;
    promql_memstore_t *m = promql_memstore_create();
    promql_storage_t st = promql_memstore_storage(m);
    promql_engine_t *e = promql_engine_create(NULL);
    assert_true(instant(e, &st, "2 ^ 3 ^ 2") == 512);     /* right associative */
    assert_true(instant(e, &st, "-2 ^ 2") == -4);         /* unary binds looser than ^ */
    assert_true(instant(e, &st, "2 * 3 + 4") == 10);
    assert_true(instant(e, &st, "2 + 3 * 4") == 14);
    assert_true(instant(e, &st, "10 - 2 - 3") == 5);      /* left associative */
    assert_true(instant(e, &st, "1 < bool 2 + 1") == 1);
    assert_true(isinf(instant(e, &st, "1 / 0")));
    promql_engine_free(e);
    promql_memstore_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(fmt("foo{", false),
                        "ERR 1:5: parse error: unexpected end of input in label matching, expected identifier or \"}\"");
    assert_string_equal(fmt("sum(x", false),
                        "ERR 1:6: parse error: unexpected end of input in aggregation, expected \",\" or \")\"");
    assert_string_equal(fmt("1 +\n  )", false),
                        "ERR 2:3: parse error: unexpected \")\" in expression");
    assert_string_equal(fmt("rate(x)", false),
                        "ERR 1:6: parse error: expected type range vector in call to function \"rate\", got instant vector");
    assert_string_equal(fmt("nosuch(x)", false),
                        "ERR 1:1: parse error: unknown function with name \"nosuch\"");
    assert_string_equal(fmt("1 > 2", false),
                        "ERR 1:3: parse error: comparisons between scalars must use BOOL modifier");
    assert_string_equal(fmt("{a=\"\"}", false),
                        "ERR 1:1: parse error: vector selector must contain at least one non-empty matcher");
    assert_string_equal(fmt("", false), "ERR 1:1: parse error: no expression found in input");
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char *const qs[] = {
        "sum by (job) (rate(http_requests_total{code!=\"500\",job=~\"api.*\"}[5m]))",
        "topk(3, x) or on (a) vector(1)",
        "histogram_quantile(0.9, sum by (le) (rate(b_bucket[5m] offset 1h)))",
        "x[1h:5m] @ 100.000 offset -5m",
        "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
        "-x ^ 2",
        "count_values(\"v\", x)",
        "a > bool ignoring (b) c",
    };
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        char once[4096];
        snprintf(once, sizeof(once), "%s", fmt(qs[i], false));
        assert_string_equal(once, qs[i]);
        assert_string_equal(fmt(once, false), once);
    }
    /* Pretty form splits past 100 columns. */
    const char *longq = "sum by (job) (rate(some_long_metric_name_total{a=\"aaaaaaaaaaaaaaa\"}[5m])) / "
                        "sum by (job) (rate(another_long_metric_name_total[5m]))";
    assert_string_equal(fmt(longq, true),
                        "  sum by (job) (rate(some_long_metric_name_total{a=\"aaaaaaaaaaaaaaa\"}[5m]))\n"
                        "/\n"
                        "  sum by (job) (rate(another_long_metric_name_total[5m]))");
}

static void test_engine_vector(void **state)
{
    (void)state;
    promql_memstore_t *m = promql_memstore_create();
    promql_label_t l1[] = { { "__name__", "x_total" }, { "job", "a" } };
    promql_label_t l2[] = { { "__name__", "x_total" }, { "job", "b" } };
    for (int i = 0; i <= 10; i++) {
        assert_int_equal(promql_memstore_add(m, l1, 2, i * 60000, i * 60.0, false), 0);
        assert_int_equal(promql_memstore_add(m, l2, 2, i * 60000, i * 120.0, false), 0);
    }
    promql_storage_t st = promql_memstore_storage(m);
    promql_engine_t *e = promql_engine_create(NULL);
    promql_result_t *r;
    vigil_error_t err;
    assert_int_equal(promql_query_instant(e, &st, "sum(rate(x_total[5m]))", 600000, NULL, &r,
                                          &err), 0);
    assert_int_equal(r->type, PROMQL_VALUE_VECTOR);
    assert_int_equal(r->n_vector, 1);
    assert_true(fabs(r->vector[0].v - 3.0) < 1e-9);
    promql_result_free(r);
    assert_int_equal(promql_query_range(e, &st, "x_total", 0, 600000, 60000, NULL, &r, &err), 0);
    assert_int_equal(r->type, PROMQL_VALUE_MATRIX);
    assert_int_equal(r->n_matrix, 2);
    assert_int_equal(r->matrix[0].n, 11);
    promql_result_free(r);
    /* native histograms are refused, never answered wrongly */
    assert_int_equal(promql_memstore_add(m, l1, 2, 660000, 0, true), 0);
    assert_int_equal(promql_query_instant(e, &st, "x_total", 660000, NULL, &r, &err),
                     VIGIL_ENOTSUP);
    promql_engine_free(e);
    /* the samples limit */
    promql_engine_opts_t o = { 0, 5, 0, 0 };
    e = promql_engine_create(&o);
    assert_int_equal(promql_query_instant(e, &st, "x_total[10m]", 600000, NULL, &r, &err),
                     VIGIL_ELIMIT);
    assert_string_equal(err.message,
                        "query processing would load too many samples into memory in query execution");
    promql_engine_free(e);
    promql_memstore_free(m);
}

/* The value notation of series descriptions, shared by the test scripts and promtool tests. */
static void test_series_values(void **state)
{
    (void)state;
    promql_series_values_t vs;
    vigil_error_t err;
    assert_int_equal(promql_series_values_parse("1+1x3 _x2 stale 0.1+0.1x2 -1-2x1 5x1",
                                                &vs, &err), 0);
    static const double want[] = { 1, 2, 3, 4, 0, 0, NAN, 0.1, 0.2, 0.30000000000000004, -1, -3,
                                   5, 5 };
    assert_int_equal(vs.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < vs.n; i++) {
        promql_slot_t k = i == 4 || i == 5 ? PROMQL_SLOT_OMITTED : PROMQL_SLOT_VALUE;
        assert_int_equal(vs.kind[i], k);
        if (i == 6) {  /* the staleness marker's own NaN */
            uint64_t bits;
            memcpy(&bits, &vs.v[i], sizeof(bits));
            assert_int_equal(bits, 0x7ff0000000000002ULL);
        } else if (k == PROMQL_SLOT_VALUE) {
            assert_memory_equal(&vs.v[i], &want[i], sizeof(double));  /* repeated addition */
        }
    }
    promql_series_values_free(&vs);

    assert_int_equal(promql_series_values_parse("{{schema:1 sum:2 count:1}}x1 3", &vs, &err), 0);
    assert_int_equal(vs.n, 3);
    assert_int_equal(vs.kind[0], PROMQL_SLOT_HISTOGRAM);
    assert_int_equal(vs.kind[1], PROMQL_SLOT_HISTOGRAM);
    assert_int_equal(vs.kind[2], PROMQL_SLOT_VALUE);
    promql_series_values_free(&vs);

    static const char *const bad[] = { "1 2a", "1x", "_y", "1+x3", "{{a}" };
    static const char *const msg[] = {
        "1:3: parse error: bad number or duration syntax: \"2a\"",
        "1:1: parse error: bad number or duration syntax: \"1x\"",
        "1:1: parse error: bad number or duration syntax: \"_y\"",
        "1:1: parse error: bad number or duration syntax: \"1+x3\"",
        "1:1: parse error: bad number or duration syntax: \"{{a}\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(promql_series_values_parse(bad[i], &vs, &err), VIGIL_EPARSE);
        assert_string_equal(err.message, msg[i]);
        assert_int_equal(vs.n, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_precedence_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_engine_vector),
        cmocka_unit_test(test_series_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
