/*
 * The "gpu" collector against the fake NVML (tests/collect/fake_nvml/, built as
 * build/test/libnvidia-ml-fake.so) and its fixture tests/collect/fixtures/gpu/nvml.txt:
 * two GPUs, one in MIG mode, pending XID events, NOT_SUPPORTED and refused fields, process
 * lists. The output must equal tests/collect/expected/gpu/gpu.txt byte for byte
 * (VIGIL_UPDATE_EXPECTED=1 rewrites it; review the diff).
 *
 * Also: no library, no driver and no GPU all give no GPU metrics and no error; a
 * NOT_SUPPORTED field is absent, logged once and never asked again, while other failures are
 * retried; XID events are counted once; $VIGIL_NVML_LIBRARY overrides the option.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collect/collect.h"
#include "golden.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURES "tests/collect/fixtures/"
#define EXPECTED "tests/collect/expected/gpu/"

static void compare(const buf_t *out, const char *expected)
{
    test_assert_golden(out->data, out->len, expected);
}

/* Only the gpu collector: the host collectors would read the real /proc. */
static const collect_enable_t host_off[] = {
    { "cpu", false }, { "stat", false }, { "meminfo", false }, { "vmstat", false },
    { "loadavg", false }, { "diskstats", false }, { "filesystem", false },
    { "netdev", false }, { "pressure", false }, { "filefd", false }, { "uname", false },
    { "os", false }, { "time", false },
};

static collect_t *create(const char *library, log_t *log)
{
    collect_options_t o = { .procfs = FIXTURES "procs/proc", .nvml_library = library,
                            .enable = host_off,
                            .n_enable = sizeof(host_off) / sizeof(host_off[0]) };
    collect_t *c = NULL;
    vigil_error_t err;
    if (collect_create(&c, &o, log, &err) != 0)
        fail_msg("collect_create: %s", err.message);
    return c;
}

static void run_gpu(collect_t *c, buf_t *out)
{
    vigil_error_t err;
    buf_reset(out);
    if (collect_run_once(c, "gpu", out, &err) != 0)
        fail_msg("gpu: %s", err.message);
}

static void assert_no_errors(collect_t *c)
{
    collect_stats_t st;
    assert_int_equal(collect_get_stats(c, "gpu", &st), 0);
    assert_int_equal(st.errors, 0);
}

static int setup(void **state)
{
    (void)state;
    unsetenv("VIGIL_NVML_LIBRARY");
    setenv("VIGIL_FAKE_NVML_FIXTURE", FIXTURES "gpu/nvml.txt", 1);
    return 0;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_fake_exact_output(void **state)
{
    (void)state;
    char logpath[] = "/tmp/vigil-test-gpu-log-XXXXXX";
    int fd = mkstemp(logpath);
    assert_true(fd >= 0);
    close(fd);
    log_t *log;
    log_options_t lo = { .level = LOG_LEVEL_DEBUG, .format = LOG_FORMAT_TEXT, .path = logpath };
    assert_int_equal(log_open(&log, &lo, NULL), 0);

    collect_t *c = create(FAKE_NVML_PATH, log);
    buf_t out;
    buf_init(&out, 1u << 20);
    run_gpu(c, &out);
    compare(&out, EXPECTED "gpu.txt");
    /* NOT_SUPPORTED fields are absent: no fan or memory temperature for GPU 1, no per-MIG
     * utilisation. */
    assert_null(strstr(out.data, "DCGM_FI_DEV_FAN_SPEED{gpu=\"1\""));
    assert_null(strstr(out.data, "DCGM_FI_DEV_MEMORY_TEMP{gpu=\"1\""));
    assert_null(strstr(out.data, "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-5f3b1c2a-8e7d-4c6b-"
                                 "9a1f-0123456789ab\",pci_bus_id=\"00000000:07:00.0\",device="
                                 "\"nvidia0\",modelName=\"NVIDIA A100-SXM4-40GB\",GPU_I_"));

    /* A second run is identical: the XID events were counted once, and the XID gauge keeps
     * the last value. */
    run_gpu(c, &out);
    compare(&out, EXPECTED "gpu.txt");
    assert_no_errors(c);

    /* NOT_SUPPORTED is asked once; NO_PERMISSION (may be transient) every run. */
    void *fake = dlopen(FAKE_NVML_PATH, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(fake);
    unsigned (*calls)(unsigned, const char *);
    void *sym = dlsym(fake, "fake_nvml_calls");
    assert_non_null(sym);
    memcpy(&calls, &sym, sizeof(sym));
    assert_int_equal(calls(1, "fan"), 1);
    assert_int_equal(calls(1, "memtemp"), 1);
    assert_int_equal(calls(1, "ecc_sbe"), 2);
    assert_int_equal(calls(0, "fan"), 2);
    dlclose(fake);
    collect_free(c);
    buf_free(&out);
    log_close(log);

    /* Each unsupported field is logged once, however many runs. */
    char *text = test_read_file(logpath, NULL);
    assert_non_null(text);
    assert_int_equal(count(text, "DCGM_FI_DEV_FAN_SPEED"), 1);
    assert_int_equal(count(text, "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL"), 1);
    free(text);
    unlink(logpath);
}

static void test_env_overrides_option(void **state)
{
    (void)state;
    setenv("VIGIL_NVML_LIBRARY", FAKE_NVML_PATH, 1);
    collect_t *c = create("/nonexistent/libnvidia-ml.so.1", NULL);
    buf_t out;
    buf_init(&out, 1u << 20);
    run_gpu(c, &out);
    compare(&out, EXPECTED "gpu.txt");
    unsetenv("VIGIL_NVML_LIBRARY");
    collect_free(c);
    buf_free(&out);
}

/* No library, no driver, no GPU: nothing at all, and no error. */
static void test_missing_library(void **state)
{
    (void)state;
    collect_t *c = create("/nonexistent/libnvidia-ml.so.1", NULL);
    buf_t out;
    buf_init(&out, 1u << 20);
    run_gpu(c, &out);
    assert_int_equal(out.len, 0);
    assert_no_errors(c);
    collect_free(c);
    buf_free(&out);
}

static void test_driver_not_loaded(void **state)
{
    (void)state;
    unsetenv("VIGIL_FAKE_NVML_FIXTURE"); /* the fake's nvmlInit then answers DRIVER_NOT_LOADED */
    collect_t *c = create(FAKE_NVML_PATH, NULL);
    buf_t out;
    buf_init(&out, 1u << 20);
    run_gpu(c, &out);
    run_gpu(c, &out);
    assert_int_equal(out.len, 0);
    assert_no_errors(c);
    collect_free(c);
    buf_free(&out);
    setenv("VIGIL_FAKE_NVML_FIXTURE", FIXTURES "gpu/nvml.txt", 1);
}

static void test_no_gpus(void **state)
{
    (void)state;
    setenv("VIGIL_FAKE_NVML_FIXTURE", FIXTURES "gpu/nvml-empty.txt", 1);
    collect_t *c = create(FAKE_NVML_PATH, NULL);
    buf_t out;
    buf_init(&out, 1u << 20);
    run_gpu(c, &out);
    assert_int_equal(out.len, 0);
    assert_no_errors(c);
    collect_free(c);
    buf_free(&out);
    setenv("VIGIL_FAKE_NVML_FIXTURE", FIXTURES "gpu/nvml.txt", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_fake_exact_output, setup),
        cmocka_unit_test_setup(test_env_overrides_option, setup),
        cmocka_unit_test_setup(test_missing_library, setup),
        cmocka_unit_test_setup(test_driver_not_loaded, setup),
        cmocka_unit_test_setup(test_no_gpus, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
