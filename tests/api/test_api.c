/* Unit tests of the API's number, time and result formatting and its parameter parsing,
 * against what Prometheus's API writes (Go's FormatFloat(v, 'f', -1, 64), float seconds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api.h"

#include <math.h>
#include <string.h>

static void check_value(double v, const char *want)
{
    buf_t b;
    buf_init(&b, 1024);
    assert_int_equal(api_put_value(&b, v), 0);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_values_like_go(void **state)
{
    (void)state;
    check_value(1, "1");
    check_value(0.1, "0.1");
    check_value(0.1 + 0.2, "0.30000000000000004");
    check_value(-2.5, "-2.5");
    check_value(1e21, "1000000000000000000000");
    check_value(1.5e-7, "0.00000015");
    check_value(123456789.125, "123456789.125");
    check_value(25276518400, "25276518400");
    check_value(NAN, "NaN");
    check_value(INFINITY, "+Inf");
    check_value(-INFINITY, "-Inf");
    check_value(0, "0");
    check_value(-0.0, "-0");
    /* The smallest subnormal: "0." then 323 zeros then 5, as Go writes it. */
    char tiny[330] = "0.";
    memset(tiny + 2, '0', 323);
    strcpy(tiny + 325, "5");
    check_value(5e-324, tiny);
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
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
