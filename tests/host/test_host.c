/* Unit tests of the procfs readers against the recorded tree in tests/host/fixtures/proc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "host/host.h"

#include <string.h>

#define FIXTURE "tests/host/fixtures/proc"

static void test_memory_from_fixture(void **state)
{
    (void)state;
    host_memory_t m;
    vigil_error_t err;
    assert_int_equal(host_read_memory(FIXTURE, &m, &err), 0);
    assert_int_equal(m.total_bytes, 16307216ULL * 1024);
    assert_int_equal(m.available_bytes, 8153608ULL * 1024);
}

static void test_cpu_times_from_fixture(void **state)
{
    (void)state;
    host_cpu_times_t c;
    assert_int_equal(host_read_cpu_times(FIXTURE, &c, NULL), 0);
    assert_int_equal(c.idle, 8000 + 300);
    assert_int_equal(c.total, 1000 + 50 + 450 + 8000 + 300 + 20 + 30 + 150);
}

static void test_cpu_busy_percent(void **state)
{
    (void)state;
    host_cpu_times_t a = { .idle = 100, .total = 200 };
    host_cpu_times_t b = { .idle = 125, .total = 300 }; /* 100 ticks, 25 idle */
    assert_float_equal(host_cpu_busy_percent(&a, &b), 75.0, 1e-9);
    assert_float_equal(host_cpu_busy_percent(&b, &b), 0.0, 1e-9);
}

static void test_missing_file_names_path(void **state)
{
    (void)state;
    host_memory_t m;
    vigil_error_t err;
    assert_int_equal(host_read_memory("tests/host/fixtures/nowhere", &m, &err), VIGIL_EIO);
    assert_non_null(strstr(err.message, "tests/host/fixtures/nowhere/meminfo"));
}

static void test_fs_used_percent(void **state)
{
    (void)state;
    /* df semantics: 60 used, 30 available to users, 10 reserved -> 60 / 90. */
    host_fs_usage_t fs = { .size_bytes = 100, .free_bytes = 40, .avail_bytes = 30 };
    assert_float_equal(host_fs_used_percent(&fs), 100.0 * 60 / 90, 1e-9);
    host_fs_usage_t live;
    assert_int_equal(host_read_fs_usage(".", &live, NULL), 0);
    assert_true(live.size_bytes > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_from_fixture),
        cmocka_unit_test(test_cpu_times_from_fixture),
        cmocka_unit_test(test_cpu_busy_percent),
        cmocka_unit_test(test_missing_file_names_path),
        cmocka_unit_test(test_fs_used_percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
