/*
 * Host collectors against recorded and hand-made procfs/sysfs/rootfs trees.
 *
 * Each collector runs once through collect_run_once() and its text must equal
 * tests/collect/expected/<tree>/<collector>.txt byte for byte. The trees:
 *   fixtures/live  recorded from a Debian 12 VM (kernel 6.18): only the files we read
 *   fixtures/edge  hand-made: counters at 2^64-1 and beyond, old 11-column diskstats, mount
 *                  points with \040 / \011 / \134 escapes, duplicate and excluded mounts, a
 *                  statfs failure, --path.rootfs stripping, no pressure directory, no
 *                  1/mounts, os-release only under usr/lib with shell quoting
 *   fixtures/bad   malformed input that must fail the run, not produce numbers
 * statfs and the clock go through collect_sys_t so their results are part of the fixture.
 * VIGIL_UPDATE_EXPECTED=1 rewrites the expected files (review the diff before committing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collect/collect.h"
#include "golden.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TREE "tests/collect/fixtures/"
#define EXPECTED "tests/collect/expected/"

static double fixed_now(void *ctx)
{
    (void)ctx;
    return 1700000000.25;
}

/* Deterministic statfs: sizes derived from the path's length; one mount that fails. */
static int fake_statfs(void *ctx, const char *path, collect_statfs_t *out)
{
    (void)ctx;
    if (strstr(path, "/net/broken") != NULL)
        return -EACCES;
    size_t n = strlen(path);
    out->blocks = 1000 * n;
    out->bfree = 500 * n;
    out->bavail = 400 * n;
    out->bsize = 4096;
    out->files = 100 * n;
    out->ffree = 50 * n;
    return 0;
}

static const collect_sys_t fake_sys = { .now = fixed_now, .statfs = fake_statfs };

/* Runs `collector` on `tree` with rootfs `rootfs` (NULL: the tree's rootfs/) and compares. */
static void check(const char *tree, const char *collector, const char *rootfs)
{
    char procfs[256], sysfs[256], root[256], expected[256];
    snprintf(procfs, sizeof(procfs), TREE "%s/proc", tree);
    snprintf(sysfs, sizeof(sysfs), TREE "%s/sys", tree);
    snprintf(root, sizeof(root), TREE "%s/rootfs", tree);
    snprintf(expected, sizeof(expected), EXPECTED "%s/%s.txt", tree, collector);
    collect_options_t o = { .procfs = procfs, .sysfs = sysfs,
                            .rootfs = rootfs != NULL ? rootfs : root, .sys = &fake_sys };
    collect_t *c;
    vigil_error_t err;
    assert_int_equal(collect_create(&c, &o, NULL, &err), 0);
    buf_t out;
    buf_init(&out, 1u << 20);
    int rc = collect_run_once(c, collector, &out, &err);
    if (rc != 0)
        fail_msg("%s on %s: %s", collector, tree, err.message);
    test_assert_golden(out.data, out.len, expected);
    buf_free(&out);
    collect_free(c);
}

static const char *const host_collectors[] = {
    "cpu", "stat", "meminfo", "vmstat", "loadavg", "diskstats", "filesystem",
    "netdev", "pressure", "filefd", "uname", "os", "time",
};

static void test_live_tree(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(host_collectors) / sizeof(host_collectors[0]); i++)
        check("live", host_collectors[i], NULL);
}

static void test_edge_tree(void **state)
{
    (void)state;
    static const char *const edge[] = { "cpu", "stat", "meminfo", "vmstat", "loadavg",
                                        "diskstats", "netdev", "pressure", "filefd", "os",
                                        "time" };
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
        check("edge", edge[i], NULL);
    /* A rootfs of /host: mounts under it lose the prefix in their label, as in
     * node_exporter's --path.rootfs; the others keep theirs. */
    check("edge", "filesystem", "/host");
}

static void test_missing_pressure_is_not_an_error(void **state)
{
    (void)state;
    collect_options_t o = { .procfs = TREE "edge/proc" };
    collect_t *c;
    assert_int_equal(collect_create(&c, &o, NULL, NULL), 0);
    buf_t out;
    buf_init(&out, 1u << 20);
    assert_int_equal(collect_run_once(c, "pressure", &out, NULL), 0);
    assert_int_equal(out.len, 0);
    collect_stats_t st;
    assert_int_equal(collect_get_stats(c, "pressure", &st), 0);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.runs, 1);
    buf_free(&out);
    collect_free(c);
}

static void test_malformed_counter_fails(void **state)
{
    (void)state;
    collect_options_t o = { .procfs = TREE "bad/proc" };
    collect_t *c;
    vigil_error_t err;
    assert_int_equal(collect_create(&c, &o, NULL, &err), 0);
    buf_t out;
    buf_init(&out, 1u << 20);
    assert_int_equal(collect_run_once(c, "netdev", &out, &err), VIGIL_EPARSE);
    assert_non_null(strstr(err.message, "net/dev:3"));
    assert_int_equal(out.len, 0);
    /* A missing file is an I/O error naming the path. */
    assert_int_equal(collect_run_once(c, "meminfo", &out, &err), VIGIL_EIO);
    assert_non_null(strstr(err.message, "bad/proc/meminfo"));
    collect_stats_t st;
    assert_int_equal(collect_get_stats(c, "netdev", &st), 0);
    assert_int_equal(st.errors, 1);
    buf_free(&out);
    collect_free(c);
}

static void test_bad_exclude_pattern_fails_create(void **state)
{
    (void)state;
    collect_options_t o = { .procfs = TREE "live/proc", .netdev_device_exclude = "(" };
    collect_t *c = NULL;
    vigil_error_t err;
    assert_int_equal(collect_create(&c, &o, NULL, &err), VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "netdev device exclude"));
    /* Disabled, the same collector cannot fail the start. */
    collect_enable_t off = { "netdev", false };
    o.enable = &off;
    o.n_enable = 1;
    assert_int_equal(collect_create(&c, &o, NULL, &err), 0);
    collect_free(c);
}

int main(void)
{
    /* node_time_zone_offset_seconds must not depend on the machine running the test. */
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_tree),
        cmocka_unit_test(test_edge_tree),
        cmocka_unit_test(test_missing_pressure_is_not_an_error),
        cmocka_unit_test(test_malformed_counter_fails),
        cmocka_unit_test(test_bad_exclude_pattern_fails_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
