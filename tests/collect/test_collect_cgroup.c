/*
 * The "cgroup" collector against two trees:
 *   fixtures/cgroup-v1  recorded from the build machine (v1 controllers in separate mounts,
 *                       a v2 "unified" mount for PSI: hybrid mode) by
 *                       tests/collect/record_cgroup_tree.sh: only the files the collector reads
 *   fixtures/cgroup-v2  hand-made cgroup v2: a docker scope (systemd driver, named from
 *                       rootfs/.../config.v2.json), a docker cgroupfs container without a
 *                       config (short id), a kubepods slice with a pod and a containerd
 *                       scope, systemd units with an escaped name, a memory.max of "max", a
 *                       working set that clamps at 0, a device without sysfs entry (259:0),
 *                       and a directory without cgroup files (skipped)
 * Outputs must equal tests/collect/expected/cgroup/<tree>.txt byte for byte
 * (VIGIL_UPDATE_EXPECTED=1 rewrites them; review the diff).
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
#include <sys/stat.h>

#define FIXTURES "tests/collect/fixtures/"
#define EXPECTED "tests/collect/expected/cgroup/"

static const collect_enable_t only_cgroup[] = {
    { "cpu", false }, { "stat", false }, { "meminfo", false }, { "vmstat", false },
    { "loadavg", false }, { "diskstats", false }, { "filesystem", false },
    { "netdev", false }, { "pressure", false }, { "filefd", false }, { "uname", false },
    { "os", false }, { "time", false }, { "gpu", false }, { "process", false },
};

/* Runs the collector once, or (fixtures: twice) and then the second run, which uses the
 * caches, must equal the first. The caller frees out with buf_free(). */
static void run_n(const char *sysfs, const char *rootfs, size_t max, bool twice, buf_t *out)
{
    collect_options_t o = { .sysfs = sysfs, .rootfs = rootfs, .cgroup_max = max,
                            .enable = only_cgroup,
                            .n_enable = sizeof(only_cgroup) / sizeof(only_cgroup[0]) };
    collect_t *c;
    vigil_error_t err;
    if (collect_create(&c, &o, NULL, &err) != 0)
        fail_msg("create: %s", err.message);
    buf_t first;
    buf_init(&first, 1u << 20);
    buf_init(out, 1u << 20);
    if ((twice && collect_run_once(c, "cgroup", &first, &err) != 0) ||
        collect_run_once(c, "cgroup", out, &err) != 0)
        fail_msg("cgroup: %s", err.message);
    if (twice)
        assert_string_equal(first.data ? first.data : "", out->data ? out->data : "");
    collect_stats_t st;
    assert_int_equal(collect_get_stats(c, "cgroup", &st), 0);
    assert_int_equal(st.errors, 0);
    buf_free(&first);
    collect_free(c);
}

static void run(const char *sysfs, const char *rootfs, size_t max, buf_t *out)
{
    run_n(sysfs, rootfs, max, true, out);
}

static void compare(const buf_t *out, const char *expected)
{
    test_assert_golden(out->data, out->len, expected);
}

static void test_v1_recorded(void **state)
{
    (void)state;
    buf_t out;
    run(FIXTURES "cgroup-v1/sys", FIXTURES "cgroup-v1/rootfs", 0, &out);
    compare(&out, EXPECTED "v1.txt");
    buf_free(&out);
}

static void test_v2_handmade(void **state)
{
    (void)state;
    buf_t out;
    run(FIXTURES "cgroup-v2/sys", FIXTURES "cgroup-v2/rootfs", 0, &out);
    compare(&out, EXPECTED "v2.txt");
    buf_free(&out);
}

static void test_no_cgroup_fs(void **state)
{
    (void)state;
    buf_t out;
    run(FIXTURES "procs/proc", "/", 0, &out);
    assert_int_equal(out.len, 0);
    buf_free(&out);
}

static void test_cgroup_max(void **state)
{
    (void)state;
    buf_t out;
    run(FIXTURES "cgroup-v2/sys", FIXTURES "cgroup-v2/rootfs", 2, &out);
    assert_non_null(strstr(out.data, "container_cpu_user_seconds_total{id=\"/\"}"));
    assert_non_null(strstr(out.data, "container_cpu_user_seconds_total{id=\"/docker\"}"));
    assert_null(strstr(out.data, "id=\"/docker/"));
    assert_null(strstr(out.data, "id=\"/system.slice"));
    buf_free(&out);
}

/* A v2 tree 34 levels deep, built in a temporary directory: the walk goes down
 * CG_MAX_DEPTH (32) levels and no further, whatever order it walks in. */
static void test_depth_limit(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/vigil-cg-depth-XXXXXX";
    char *top = mkdtemp(tmpl);
    assert_non_null(top);
    char path[1024], sys[256];
    snprintf(sys, sizeof(sys), "%s/sys", top);
    snprintf(path, sizeof(path), "%s/sys", top);
    assert_int_equal(mkdir(path, 0755), 0);
    strcat(path, "/fs");
    assert_int_equal(mkdir(path, 0755), 0);
    strcat(path, "/cgroup");
    assert_int_equal(mkdir(path, 0755), 0);
    char file[1100];
    snprintf(file, sizeof(file), "%s/cgroup.controllers", path);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("cpu memory io\n", f);
    fclose(f);
    for (int level = 1; level <= 34; level++) {
        strcat(path, "/a");
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(file, sizeof(file), "%s/cpu.stat", path);
        f = fopen(file, "w");
        assert_non_null(f);
        fputs("usage_usec 1000\nuser_usec 600\nsystem_usec 400\n", f);
        fclose(f);
    }
    buf_t out;
    run(sys, "/", 0, &out);
    char id[200] = "";
    for (int level = 1; level <= 32; level++)
        strcat(id, "/a");
    char want[300];
    snprintf(want, sizeof(want), "container_cpu_user_seconds_total{id=\"%s\"}", id);
    assert_non_null(strstr(out.data, want));
    snprintf(want, sizeof(want), "{id=\"%s/a\"}", id);
    assert_null(strstr(out.data, want));
    buf_free(&out);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    assert_int_equal(system(cmd), 0);
}

/* This machine: whatever the layout, the root cgroup is there. */
static void test_live(void **state)
{
    (void)state;
    buf_t out;
    run_n(NULL, NULL, 0, false, &out);
    assert_non_null(strstr(out.data, "{id=\"/\""));
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1_recorded),
        cmocka_unit_test(test_v2_handmade),
        cmocka_unit_test(test_no_cgroup_fs),
        cmocka_unit_test(test_cgroup_max),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
