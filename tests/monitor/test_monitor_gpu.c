/* The GPU readings of the monitoring APIs and `vigil wrap` (src/agent/monitor_gpu.c) against
 * the fake NVML of tests/collect (two GPUs; process 1234 on both, 5678 on the second). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/monitor_gpu.h"

#include <math.h>
#include <stdlib.h>

#define FIXTURE "tests/collect/fixtures/gpu/nvml.txt"
#define MIB (1024.0 * 1024.0)

static void test_device_usage_from_fake_nvml(void **state)
{
    (void)state;
    setenv("VIGIL_NVML_LIBRARY", FAKE_NVML_PATH, 1);
    setenv("VIGIL_FAKE_NVML_FIXTURE", FIXTURE, 1);
    monitor_gpu_t *g;
    assert_int_equal(monitor_gpu_open(&g, NULL, NULL), 0);
    assert_true(monitor_gpu_available(g, NULL));
    vigil_gpu_usage_t u[4];
    size_t n;
    assert_int_equal(monitor_gpu_usage(g, u, 4, &n), 0);
    assert_int_equal(n, 2);
    /* NVML memory is {total, free, used}: GPU 0 uses 10 GiB of 40 GiB. */
    assert_float_equal(u[0].memory_total_mb, 42949672960.0 / MIB, 1e-6);
    assert_float_equal(u[0].memory_used_mb, 10737418240.0 / MIB, 1e-6);
    assert_float_equal(u[0].memory_percent, 25.0, 1e-9);
    assert_float_equal(u[0].util_percent, 87.0, 1e-9);
    assert_float_equal(u[1].memory_used_mb, 533069824.0 / MIB, 1e-6);
    assert_float_equal(u[1].util_percent, 3.0, 1e-9);
    monitor_gpu_close(g);
}

static void test_process_memory_and_util(void **state)
{
    (void)state;
    setenv("VIGIL_NVML_LIBRARY", FAKE_NVML_PATH, 1);
    setenv("VIGIL_FAKE_NVML_FIXTURE", FIXTURE, 1);
    monitor_gpu_t *g;
    assert_int_equal(monitor_gpu_open(&g, NULL, NULL), 0);
    monitor_gpu_procs_t p;
    pid_t both[] = { 1234 };
    assert_int_equal(monitor_gpu_procs(g, both, 1, &p), 0);
    /* GPU 0 lists 1234 as compute (8 GiB) and graphics (4 GiB): counted once, the larger;
     * plus 2 GiB on GPU 1. The busiest device it runs on is GPU 0 at 87 %. */
    assert_float_equal(p.memory_mb, (8589934592.0 + 2147483648.0) / MIB, 1e-6);
    assert_float_equal(p.util_percent, 87.0, 1e-9);
    assert_int_equal(p.devices, 2);
    pid_t second_only[] = { 5678 };
    assert_int_equal(monitor_gpu_procs(g, second_only, 1, &p), 0);
    assert_float_equal(p.memory_mb, 1024.0, 1e-9);
    assert_float_equal(p.util_percent, 3.0, 1e-9);
    assert_int_equal(p.devices, 1);
    pid_t absent[] = { 42 };
    assert_int_equal(monitor_gpu_procs(g, absent, 1, &p), 0);
    assert_float_equal(p.memory_mb, 0, 0);
    assert_true(isnan(p.util_percent));
    assert_int_equal(p.devices, 0);
    monitor_gpu_close(g);
}

static void test_no_library_reports_no_devices(void **state)
{
    (void)state;
    setenv("VIGIL_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    monitor_gpu_t *g;
    assert_int_equal(monitor_gpu_open(&g, NULL, NULL), 0);
    const char *why = NULL;
    assert_false(monitor_gpu_available(g, &why));
    assert_non_null(why);
    vigil_gpu_usage_t u[2];
    size_t n = 7;
    assert_int_equal(monitor_gpu_usage(g, u, 2, &n), 0);
    assert_int_equal(n, 0);
    monitor_gpu_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_usage_from_fake_nvml),
        cmocka_unit_test(test_process_memory_and_util),
        cmocka_unit_test(test_no_library_reports_no_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
