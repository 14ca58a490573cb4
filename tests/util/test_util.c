/* Unit tests of the error table and the capped buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/buf.h"
#include "util/duration.h"
#include "vigil/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_error_table(void **state)
{
    (void)state;
    assert_string_equal(vigil_strerror(VIGIL_EPARSE), "parse error");
    assert_string_equal(vigil_error_name(VIGIL_ELIMIT), "VIGIL_ELIMIT");
    assert_string_equal(vigil_strerror(-9999), "unknown error");
    vigil_error_t err;
    assert_int_equal(vigil_error_set(&err, VIGIL_EIO, "%s:%d", "f", 3), VIGIL_EIO);
    assert_int_equal(err.code, VIGIL_EIO);
    assert_string_equal(err.message, "f:3");
    assert_int_equal(vigil_error_set(NULL, VIGIL_EIO, "dropped"), VIGIL_EIO);
    vigil_error_clear(&err);
    assert_int_equal(err.code, VIGIL_OK);
    assert_string_equal(err.message, "");
}

static void test_buf_cap_keeps_contents(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 10);
    assert_int_equal(buf_puts(&b, "hello"), 0);
    assert_int_equal(buf_puts(&b, "world!"), VIGIL_ELIMIT);
    assert_string_equal(b.data, "hello");
    assert_int_equal(buf_printf(&b, "%d", 12345), 0);
    assert_string_equal(b.data, "hello12345");
    assert_int_equal(buf_putc(&b, 'x'), VIGIL_ELIMIT);
    assert_int_equal(b.len, 10);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void test_buf_printf_long(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1 << 20);
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(buf_printf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 1001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[1000], '>');
    size_t len;
    char *s = buf_detach(&b, &len);
    assert_int_equal(len, 1001);
    assert_null(b.data);
    free(s);
    s = buf_detach(&b, &len); /* empty: a valid "" */
    assert_string_equal(s, "");
    free(s);
}

static void test_buf_json_string(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 100);
    assert_int_equal(buf_put_json_string(&b, "a\"b\\c\n\x01"), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    /* Over the cap: nothing half-written is left behind. */
    buf_t small;
    buf_init(&small, 4);
    assert_int_equal(buf_put_json_string(&small, "abcdef"), VIGIL_ELIMIT);
    assert_int_equal(small.len, 0);
    buf_free(&small);
    buf_free(&b);
}

static void test_buf_double(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 100);
    buf_put_double(&b, NAN);
    buf_putc(&b, ' ');
    buf_put_double(&b, -INFINITY);
    buf_putc(&b, ' ');
    buf_put_double(&b, 0.1);
    buf_putc(&b, ' ');
    buf_put_double(&b, 1e21);
    assert_string_equal(b.data, "NaN -Inf 0.1 1e+21");
    buf_reset(&b);
    double v = 0.1 + 0.2; /* needs 17 digits to round-trip */
    buf_put_double(&b, v);
    assert_true(strtod(b.data, NULL) == v);
    buf_free(&b);
}

static void test_duration_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t     ms;
    } ok[] = {
        { "0", 0 }, { "5m", 300000 }, { "1h30m", 5400000 }, { "500ms", 500 },
        { "1y2w3d4h5m6s7ms", 31536000000LL + 1209600000LL + 259200000LL + 14706007LL },
        { "15d", 1296000000LL }, { "0s", 0 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ms = -1;
        assert_int_equal(duration_parse(ok[i].text, strlen(ok[i].text), &ms), DURATION_OK);
        assert_int_equal(ms, ok[i].ms);
    }
    static const struct {
        const char      *text;
        duration_error_t e;
    } bad[] = {
        { "", DURATION_EMPTY }, { "-5m", DURATION_NEGATIVE }, { "1.5h", DURATION_FRACTION },
        { "15", DURATION_MISSING_UNIT }, { "5x", DURATION_UNKNOWN_UNIT },
        { "1m1h", DURATION_UNIT_ORDER }, { "1h1h", DURATION_UNIT_ORDER },
        { "1ms1s", DURATION_UNIT_ORDER }, { "h", DURATION_SYNTAX }, { "300y", DURATION_TOO_LONG },
        { "99999999999999999999s", DURATION_TOO_LONG },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 7;
        assert_int_equal(duration_parse(bad[i].text, strlen(bad[i].text), &ms), bad[i].e);
        assert_int_equal(ms, 7);
    }
    /* Only the first n bytes count: "5m" inside "5m]". */
    int64_t ms;
    assert_int_equal(duration_parse("5m]", 2, &ms), DURATION_OK);
    assert_int_equal(ms, 300000);
}

static void test_duration_format(void **state)
{
    (void)state;
    static const struct {
        int64_t     ms;
        const char *text;
    } cases[] = {
        { 0, "0s" }, { 5400000, "1h30m" }, { 500, "500ms" }, { 864000000LL, "10d" },
        { 1209600000LL, "2w" }, { 31536000000LL, "1y" }, { 31622400000LL, "366d" },
        { -300000, "-5m" }, { 90061001, "1d1h1m1s1ms" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        duration_format(cases[i].ms, out, sizeof(out));
        assert_string_equal(out, cases[i].text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_buf_cap_keeps_contents),
        cmocka_unit_test(test_buf_printf_long),
        cmocka_unit_test(test_buf_json_string),
        cmocka_unit_test(test_buf_double),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
