/*
 * The "process" collector against the recorded-style tree tests/collect/fixtures/procs/proc:
 *   4242  the agent itself (getpid is pinned through collect_sys_t)
 *   1234  python3, in a docker cgroup (v1 line), on two GPUs of the fake NVML
 *   5678  torchrun (comm pt_main_thread): matched by its command line; no io file and no fd
 *         directory, so those metrics are absent for it
 *   77    comm "(sd-pam) x" (parentheses and a space): selected by pid
 *   300   dockerd in "/dockerd.slice": must match neither the regex nor the prefix "/docker"
 * and the configured pid 99999, which does not exist. Outputs must equal
 * tests/collect/expected/procs/<test>.txt byte for byte (VIGIL_UPDATE_EXPECTED=1 rewrites them).
 * The GPU join runs the gpu collector on the fake NVML first, as the scheduler would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collect/collect.h"
#include "golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROCFS "tests/collect/fixtures/procs/proc"
#define EXPECTED "tests/collect/expected/procs/"

static int fixed_pid(void *ctx)
{
    (void)ctx;
    return 4242;
}

static long fixed_page(void *ctx)
{
    (void)ctx;
    return 4096;
}

static const collect_sys_t fake_sys = { .getpid = fixed_pid, .page_size = fixed_page };

static const collect_enable_t host_off[] = {
    { "cpu", false }, { "stat", false }, { "meminfo", false }, { "vmstat", false },
    { "loadavg", false }, { "diskstats", false }, { "filesystem", false },
    { "netdev", false }, { "pressure", false }, { "filefd", false }, { "uname", false },
    { "os", false }, { "time", false },
};

static void compare(const buf_t *out, const char *expected)
{
    test_assert_golden(out->data, out->len, expected);
}

static void run(collect_t *c, const char *name, buf_t *out)
{
    vigil_error_t err;
    if (collect_run_once(c, name, out, &err) != 0)
        fail_msg("%s: %s", name, err.message);
}

static void test_self_only(void **state)
{
    (void)state;
    collect_options_t o = { .procfs = PROCFS, .sys = &fake_sys, .enable = host_off,
                            .n_enable = sizeof(host_off) / sizeof(host_off[0]),
                            .nvml_library = "/nonexistent/libnvidia-ml.so.1" };
    collect_t *c;
    assert_int_equal(collect_create(&c, &o, NULL, NULL), 0);
    buf_t out;
    buf_init(&out, 1u << 20);
    run(c, "process", &out);
    compare(&out, EXPECTED "self.txt");
    buf_free(&out);
    collect_free(c);
}

static void test_selected_with_gpu_join(void **state)
{
    (void)state;
    setenv("VIGIL_FAKE_NVML_FIXTURE", "tests/collect/fixtures/gpu/nvml.txt", 1);
    unsetenv("VIGIL_NVML_LIBRARY");
    static const int pids[] = { 77, 99999 };
    collect_options_t o = { .procfs = PROCFS, .sys = &fake_sys, .enable = host_off,
                            .n_enable = sizeof(host_off) / sizeof(host_off[0]),
                            .nvml_library = FAKE_NVML_PATH,
                            .process_pids = pids, .n_process_pids = 2,
                            .process_name_regex = "^python|torchrun",
                            .process_cgroup_prefix = "/docker/" };
    collect_t *c;
    vigil_error_t err;
    if (collect_create(&c, &o, NULL, &err) != 0)
        fail_msg("%s", err.message);
    buf_t out;
    buf_init(&out, 1u << 20);
    run(c, "gpu", &out);
    buf_reset(&out);
    run(c, "process", &out);
    compare(&out, EXPECTED "selected.txt");
    buf_free(&out);
    collect_free(c);
}

/* The cut at process_max keeps the lowest pids (the agent need not be among them). */
static void test_process_max(void **state)
{
    (void)state;
    collect_options_t o = { .procfs = PROCFS, .sys = &fake_sys, .enable = host_off,
                            .n_enable = sizeof(host_off) / sizeof(host_off[0]),
                            .nvml_library = "/nonexistent/libnvidia-ml.so.1",
                            .process_name_regex = ".", .process_max = 2 };
    collect_t *c;
    assert_int_equal(collect_create(&c, &o, NULL, NULL), 0);
    buf_t out;
    buf_init(&out, 1u << 20);
    run(c, "process", &out);
    assert_non_null(strstr(out.data, "vigil_process_threads{pid=\"77\""));
    assert_non_null(strstr(out.data, "vigil_process_threads{pid=\"300\""));
    assert_null(strstr(out.data, "vigil_process_threads{pid=\"1234\""));
    buf_free(&out);
    collect_free(c);
}

static void test_bad_regex_fails_create(void **state)
{
    (void)state;
    collect_options_t o = { .procfs = PROCFS, .process_name_regex = "(" };
    collect_t *c = NULL;
    vigil_error_t err;
    assert_int_equal(collect_create(&c, &o, NULL, &err), VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "process name regex"));
}

/* On the real /proc: the test binary itself is reported with its own pid. */
static void test_live_self(void **state)
{
    (void)state;
    collect_options_t o = { .enable = host_off,
                            .n_enable = sizeof(host_off) / sizeof(host_off[0]),
                            .nvml_library = "/nonexistent/libnvidia-ml.so.1" };
    collect_t *c;
    assert_int_equal(collect_create(&c, &o, NULL, NULL), 0);
    buf_t out;
    buf_init(&out, 1u << 20);
    run(c, "process", &out);
    char want[128];
    snprintf(want, sizeof(want), "vigil_process_threads{pid=\"%d\",name=\"test_collect_pr\"}",
             (int)getpid());
    assert_non_null(strstr(out.data, want));
    snprintf(want, sizeof(want), "vigil_process_open_fds{pid=\"%d\"", (int)getpid());
    assert_non_null(strstr(out.data, want));
    buf_free(&out);
    collect_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_self_only),
        cmocka_unit_test(test_selected_with_gpu_join),
        cmocka_unit_test(test_process_max),
        cmocka_unit_test(test_bad_regex_fails_create),
        cmocka_unit_test(test_live_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
