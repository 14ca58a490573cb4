/* Unit tests of the API's number, time and result formatting and its parameter parsing,
 * against what Prometheus's API writes (Go's shortest AppendFloat forms, float seconds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api.h"

#include <float.h>
#include <inttypes.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What Prometheus writes for a sample value (api_put_value) and for a scalar or a number
 * literal (api_put_float, Go's FormatFloat(v, 'f', -1, 64)). */
static void check_value(double v, const char *want_sample, const char *want_f)
{
    buf_t b;
    buf_init(&b, 1024);
    assert_int_equal(api_put_value(&b, v), 0);
    assert_string_equal(b.data, want_sample);
    buf_reset(&b);
    assert_int_equal(api_put_float(&b, v), 0);
    if (want_f != NULL) /* NULL: a long zero-padded form, checked by test_shortest_random */
        assert_string_equal(b.data, want_f);
    buf_free(&b);
}

static void test_values_like_go(void **state)
{
    (void)state;
    check_value(1, "1", "1");
    check_value(0.1, "0.1", "0.1");
    check_value(0.1 + 0.2, "0.30000000000000004", "0.30000000000000004");
    check_value(1.0 / 3, "0.3333333333333333", "0.3333333333333333");
    check_value(2.0 / 3, "0.6666666666666666", "0.6666666666666666");
    check_value(-2.5, "-2.5", "-2.5");
    check_value(123456789.125, "123456789.125", "123456789.125");
    check_value(25276518400, "25276518400", "25276518400");
    check_value(NAN, "NaN", "NaN");
    check_value(INFINITY, "+Inf", "+Inf");
    check_value(-INFINITY, "-Inf", "-Inf");
    check_value(0, "0", "0");
    check_value(-0.0, "-0", "-0");
    /* Integers up to 2^53 are their own digits; past it the shortest digits are padded. */
    check_value(9007199254740991.0, "9007199254740991", "9007199254740991");
    check_value(9007199254740992.0, "9007199254740992", "9007199254740992");
    check_value(9007199254740994.0, "9007199254740994", "9007199254740994");
    check_value(1e15, "1000000000000000", "1000000000000000");
    check_value(123456789012345678901.0, "123456789012345680000", "123456789012345680000");
    check_value(1e20, "100000000000000000000", "100000000000000000000");
    /* Samples switch to Go's 'e' form at |v| >= 1e21 and |v| < 1e-6, as Prometheus' jsonutil
     * does (checked against Prometheus 2.42); scalars never do. */
    check_value(999900000000000000000.0, "999900000000000000000", "999900000000000000000");
    check_value(1e21, "1e+21", "1000000000000000000000");
    check_value(1e23, "1e+23", "100000000000000000000000");
    check_value(1.5e100, "1.5e+100", "15000000000000000000000000000000000000000000000000"
                "000000000000000000000000000000000000000000000000000");
    char max[320] = "17976931348623157"; /* then zeros to 309 integer digits */
    memset(max + 17, '0', 309 - 17);
    max[309] = '\0';
    check_value(1.7976931348623157e308, "1.7976931348623157e+308", max);
    check_value(1e-6, "0.000001", "0.000001");
    check_value(9.99e-7, "9.99e-07", "0.000000999");
    check_value(1e-7, "1e-07", "0.0000001");
    check_value(-1.5e-7, "-1.5e-07", "-0.00000015");
    check_value(2.5e-5, "0.000025", "0.000025");
    check_value(2.2250738585072014e-308, "2.2250738585072014e-308", NULL);
    check_value(2.225073858507201e-308, "2.225073858507201e-308", NULL); /* largest denormal */
    check_value(-1.25e-300, "-1.25e-300", NULL);
    /* The smallest subnormal: "0." then 323 zeros then 5, as Go writes it. */
    char tiny[330] = "0.";
    memset(tiny + 2, '0', 323);
    strcpy(tiny + 325, "5");
    check_value(5e-324, "5e-324", tiny);
}
/* Whether the decimal d * 10^e reads back as v. */
static bool reads_back(double v, uint64_t d, int e)
{
    char s[48];
    snprintf(s, sizeof(s), "%s%" PRIu64 "e%d", v < 0 ? "-" : "", d, e);
    return strtod(s, NULL) == v;
}

/* The reference: the fewest significant digits (1..17) that read back as v, by trying at each
 * length the correctly rounded digits (glibc's printf is exact) and their two neighbours: below
 * a power of two the rounding interval is lopsided, and the closest decimal may fall outside it
 * while the next one up is inside. Returns the digit count; *d without trailing zeros. */
static int reference_shortest(double v, uint64_t *d, int *exp10)
{
    for (int prec = 0; prec <= 16; prec++) {
        char sci[40];
        snprintf(sci, sizeof(sci), "%.*e", prec, v);
        uint64_t m = 0;
        const char *p = sci + (*sci == '-');
        for (; *p != 'e'; p++)
            if (*p != '.')
                m = m * 10 + (uint64_t)(*p - '0');
        int e = atoi(p + 1) - prec;
        uint64_t cand[3] = { m, m + 1, m - 1 };
        for (int i = 0; i < 3; i++) {
            if (!reads_back(v, cand[i], e))
                continue;
            uint64_t c = cand[i];
            int ce = e;
            while (c % 10 == 0) {
                c /= 10;
                ce++;
            }
            int n = 1;
            for (uint64_t q = c; q >= 10; q /= 10)
                n++;
            *d = c;
            *exp10 = ce;
            return n;
        }
    }
    fail_msg("%.17g: no decimal of up to 17 digits reads back", v);
    return 0;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One value: api_shortest agrees with the reference, and both written forms read back. */
static void check_shortest(double v)
{
    if (v == 0 || isnan(v) || isinf(v))
        return;
    uint64_t want;
    int want_e;
    int want_n = reference_shortest(v, &want, &want_e);
    uint64_t m;
    int e;
    int n = api_shortest(v, &m, &e);
    if (n != want_n || m != want || e != want_e)
        fail_msg("%.17g: got %" PRIu64 "e%d (%d digits), want %" PRIu64 "e%d (%d digits)", v, m,
                 e, n, want, want_e, want_n);
    buf_t b;
    buf_init(&b, 1024);
    assert_int_equal(api_put_float(&b, v), 0);
    assert_true(strtod(b.data, NULL) == v);
    buf_reset(&b);
    assert_int_equal(api_put_value(&b, v), 0);
    assert_true(strtod(b.data, NULL) == v);
    buf_free(&b);
}

static void test_shortest_random(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    /* Uniform bit patterns: every exponent, subnormals included. */
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = xorshift(&seed);
        double v;
        memcpy(&v, &bits, sizeof(v));
        check_shortest(v);
    }
    /* Values like a query's: ratios of small integers, rates, decimal fractions. */
    for (int i = 0; i < 30000; i++) {
        uint64_t r = xorshift(&seed);
        double num = (double)(r % 1000003), den = (double)(1 + (r >> 32) % 997);
        check_shortest(num / den);
        check_shortest((double)(r % 100000) / 1000.0);
        check_shortest((double)(int64_t)r);
    }
    /* Powers of ten and two and their neighbours: the ends of rounding intervals. */
    for (int k = -325; k <= 308; k++) {
        double p = pow(10, k);
        check_shortest(p);
        check_shortest(nextafter(p, 0));
        check_shortest(nextafter(p, INFINITY));
    }
    for (int k = -1074; k <= 1023; k++) {
        double p = ldexp(1, k);
        check_shortest(p);
        check_shortest(nextafter(p, 0));
        check_shortest(nextafter(p, INFINITY));
    }
    for (uint64_t i = 1; i <= 2000; i++) { /* integers around 2^53 and small ones */
        check_shortest((double)i);
        check_shortest((double)((1ull << 53) - i));
        check_shortest((double)((1ull << 53) + 2 * i));
    }
    check_shortest(DBL_MAX);
    check_shortest(DBL_MIN);
    check_shortest(DBL_TRUE_MIN);
}

static void check_time(int64_t ms, const char *want)
{
    buf_t b;
    buf_init(&b, 64);
    assert_int_equal(api_put_time(&b, ms), 0);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_times(void **state)
{
    (void)state;
    check_time(1435781451781, "1435781451.781");
    check_time(1435781451000, "1435781451");
    check_time(1435781451500, "1435781451.5");
    check_time(1435781451010, "1435781451.01");
    check_time(-1500, "-1.5");
    check_time(0, "0");
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms;
    vigil_error_t err;
    assert_int_equal(api_parse_time("1435781451.781", &ms, &err), 0);
    assert_int_equal(ms, 1435781451781);
    assert_int_equal(api_parse_time("1435781451", &ms, &err), 0);
    assert_int_equal(ms, 1435781451000);
    assert_int_equal(api_parse_time("2015-07-01T20:10:51.781Z", &ms, &err), 0);
    assert_int_equal(ms, 1435781451781);
    assert_int_equal(api_parse_time("2015-07-01T22:10:51+02:00", &ms, &err), 0);
    assert_int_equal(ms, 1435781451000);
    assert_int_equal(api_parse_time("yesterday", &ms, &err), VIGIL_EINVAL);
    assert_string_equal(err.message, "cannot parse \"yesterday\" to a valid timestamp");
    assert_int_equal(api_parse_time("2015-07-01T20:10:51", &ms, &err), VIGIL_EINVAL);
}

static void test_parse_duration(void **state)
{
    (void)state;
    int64_t ms;
    vigil_error_t err;
    assert_int_equal(api_parse_duration("15", &ms, &err), 0);
    assert_int_equal(ms, 15000);
    assert_int_equal(api_parse_duration("0.5", &ms, &err), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(api_parse_duration("1m30s", &ms, &err), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(api_parse_duration("1.5m", &ms, &err), VIGIL_EINVAL);
    assert_string_equal(err.message, "cannot parse \"1.5m\" to a valid duration");
}

/* Label strings as Go's encoding/json writes them for Prometheus (checked against 2.42). */
static void check_label_value(const char *value, const char *want)
{
    promql_label_t l = { "x", value };
    buf_t b;
    buf_init(&b, 1024);
    assert_int_equal(api_put_labels(&b, (promql_labels_t){ &l, 1 }), 0);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_label_escaping(void **state)
{
    (void)state;
    check_label_value("plain value", "{\"x\":\"plain value\"}");
    check_label_value("<a&b>", "{\"x\":\"\\u003ca\\u0026b\\u003e\"}");
    check_label_value("q\"b\\", "{\"x\":\"q\\\"b\\\\\"}");
    check_label_value("\n\r\t\x01\x7f", "{\"x\":\"\\n\\r\\t\\u0001\x7f\"}");
    check_label_value("\xc3\xa9 \xe2\x80\xa8\xe2\x80\xa9", "{\"x\":\"\xc3\xa9 \\u2028\\u2029\"}");
    /* invalid UTF-8: a lone continuation byte, an overlong form, a surrogate, a cut sequence */
    check_label_value("\x80", "{\"x\":\"\\ufffd\"}");
    check_label_value("\xc0\xaf", "{\"x\":\"\\ufffd\\ufffd\"}");
    check_label_value("\xed\xa0\x80", "{\"x\":\"\\ufffd\\ufffd\\ufffd\"}");
    check_label_value("a\xe2\x82", "{\"x\":\"a\\ufffd\\ufffd\"}");
    check_label_value("\xf0\x9f\x98\x80", "{\"x\":\"\xf0\x9f\x98\x80\"}");
}

static void test_results(void **state)
{
    (void)state;
    promql_label_t ls[] = { { "__name__", "up" }, { "job", "a\"b" } };
    promql_sample_t vec[] = { { { ls, 2 }, 1000, 1 } };
    promql_result_t r;
    memset(&r, 0, sizeof(r));
    r.type = PROMQL_VALUE_VECTOR;
    r.vector = vec;
    r.n_vector = 1;
    buf_t b;
    buf_init(&b, 4096);
    assert_int_equal(api_put_result(&b, &r), 0);
    assert_string_equal(b.data, "{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":"
                                "\"up\",\"job\":\"a\\\"b\"},\"value\":[1,\"1\"]}]}");
    buf_reset(&b);
    promql_point_t pts[] = { { 1000, 0.5 }, { 2000, NAN } };
    promql_series_t mat[] = { { { ls, 1 }, pts, 2 } };
    memset(&r, 0, sizeof(r));
    r.type = PROMQL_VALUE_MATRIX;
    r.matrix = mat;
    r.n_matrix = 1;
    assert_int_equal(api_put_result(&b, &r), 0);
    assert_string_equal(b.data, "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":"
                                "\"up\"},\"values\":[[1,\"0.5\"],[2,\"NaN\"]]}]}");
    buf_reset(&b);
    memset(&r, 0, sizeof(r));
    r.type = PROMQL_VALUE_SCALAR;
    r.scalar = 2;
    r.t = 1500;
    assert_int_equal(api_put_result(&b, &r), 0);
    assert_string_equal(b.data, "{\"resultType\":\"scalar\",\"result\":[1.5,\"2\"]}");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_like_go),
        cmocka_unit_test(test_shortest_random),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_label_escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
