/*
 * test_collect_config.c - agent_collect_config(): the collect.* keys of a config_t become the
 * collect_options_t the scheduler is built from, and collect_create() accepts the result.
 * Runs from the repository root (the recorded tree tests/collect/fixtures/live).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/collect_config.h"

#include <string.h>

#define LIVE "tests/collect/fixtures/live"

/* The enable entry for collector `name`, or NULL. */
static const collect_enable_t *find_enable(const collect_options_t *o, const char *name)
{
    for (size_t i = 0; i < o->n_enable; i++)
        if (strcmp(o->enable[i].name, name) == 0)
            return &o->enable[i];
    return NULL;
}

/* The interval override of collector `name` in ms, or 0 when there is none. */
static uint32_t find_interval(const collect_options_t *o, const char *name)
{
    for (size_t i = 0; i < o->n_intervals; i++)
        if (strcmp(o->intervals[i].name, name) == 0)
            return o->intervals[i].interval_ms;
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    config_t cfg;
    agent_collect_config_t cc;
    config_init(&cfg);
    const collect_options_t *o = agent_collect_config(&cc, &cfg);
    assert_ptr_equal(o, &cc.opts);
    assert_string_equal(o->procfs, "/proc");
    assert_string_equal(o->sysfs, "/sys");
    assert_string_equal(o->rootfs, "/");
    assert_int_equal(o->default_interval_ms, 1000);

    /* Every built-in collector is named, enabled, and none has its own interval. */
    size_t n;
    const collect_def_t *const *defs = collect_host_table(&n);
    assert_int_equal(o->n_enable, n);
    for (size_t i = 0; i < n; i++) {
        const collect_enable_t *e = find_enable(o, defs[i]->name);
        assert_non_null(e);
        assert_true(e->enabled);
    }
    assert_int_equal(o->n_intervals, 0);

    /* "" strings are NULL: the collectors' built-in defaults. */
    assert_null(o->filesystem_mount_points_exclude);
    assert_null(o->filesystem_fs_types_exclude);
    assert_null(o->diskstats_device_exclude);
    assert_null(o->netdev_device_exclude);
    assert_null(o->vmstat_fields);
    assert_null(o->nvml_library);
    assert_null(o->process_pids);
    assert_int_equal(o->n_process_pids, 0);
    assert_null(o->process_name_regex);
    assert_null(o->process_cgroup_prefix);
    assert_int_equal(o->process_max, 256);
    assert_int_equal(o->cgroup_max, 4096);
    assert_null(o->extra);
    assert_null(o->sys);
    config_free(&cfg);
}

static const char overrides[] =
    "collect:\n"
    "  interval: 500ms\n"
    "  path: { procfs: " LIVE "/proc, sysfs: " LIVE "/sys, rootfs: " LIVE "/rootfs }\n"
    "  cpu: { enabled: false }\n"
    "  stat: { interval: 0s }\n"
    "  netdev:\n"
    "    interval: 2s\n"
    "    device_exclude: ^(lo|ifb[0-9]+)$\n"
    "  filesystem: { mount_points_exclude: ^/boot, fs_types_exclude: ^tmpfs$ }\n"
    "  diskstats: { device_exclude: ^loop }\n"
    "  vmstat: { fields: ^pgfault$, interval: 1m }\n"
    "  gpu: { nvml_library: /nonexistent/libnvidia-ml.so.1 }\n"
    "  process:\n"
    "    pids: [1, 4194304]\n"
    "    name_regex: ^(nginx|postgres)$\n"
    "    cgroup_prefix: /system.slice\n"
    "    max: 8\n"
    "  cgroup: { max: 10, enabled: false }\n";

static void test_overrides_reach_the_collectors(void **state)
{
    (void)state;
    config_t cfg;
    vigil_error_t err;
    agent_collect_config_t cc;
    config_init(&cfg);
    if (config_load_buffer(&cfg, "t.yml", overrides, strlen(overrides), &err) != 0)
        fail_msg("%s", err.message);
    /* A flag wins over the file, as for every key. */
    assert_int_equal(config_set(&cfg, "collect.process.max", "16", &err), 0);
    assert_int_equal(config_validate(&cfg, &err), 0);

    const collect_options_t *o = agent_collect_config(&cc, &cfg);
    assert_string_equal(o->procfs, LIVE "/proc");
    assert_string_equal(o->sysfs, LIVE "/sys");
    assert_string_equal(o->rootfs, LIVE "/rootfs");
    assert_int_equal(o->default_interval_ms, 500);
    assert_false(find_enable(o, "cpu")->enabled);
    assert_false(find_enable(o, "cgroup")->enabled);
    assert_true(find_enable(o, "netdev")->enabled);
    assert_int_equal(o->n_intervals, 2);  /* netdev and vmstat; stat's 0s means "inherit" */
    assert_int_equal(find_interval(o, "netdev"), 2000);
    assert_int_equal(find_interval(o, "vmstat"), 60000);
    assert_string_equal(o->netdev_device_exclude, "^(lo|ifb[0-9]+)$");
    assert_string_equal(o->filesystem_mount_points_exclude, "^/boot");
    assert_string_equal(o->filesystem_fs_types_exclude, "^tmpfs$");
    assert_string_equal(o->diskstats_device_exclude, "^loop");
    assert_string_equal(o->vmstat_fields, "^pgfault$");
    assert_string_equal(o->nvml_library, "/nonexistent/libnvidia-ml.so.1");
    assert_int_equal(o->n_process_pids, 2);
    assert_int_equal(o->process_pids[0], 1);
    assert_int_equal(o->process_pids[1], 4194304);
    assert_string_equal(o->process_name_regex, "^(nginx|postgres)$");
    assert_string_equal(o->process_cgroup_prefix, "/system.slice");
    assert_int_equal(o->process_max, 16);
    assert_int_equal(o->cgroup_max, 10);

    /* The scheduler takes them (every name is known, every regex compiles; a missing NVML
     * library is "no GPU", not an error), and they act: the netdev exclusion leaves only the
     * recorded tree's eth0, and disabled collectors are not there to run. */
    collect_t *c;
    if (collect_create(&c, o, NULL, &err) != 0)
        fail_msg("%s", err.message);
    config_free(&cfg);  /* collect_create copied what it keeps */
    memset(&cc, 0, sizeof(cc));
    buf_t out;
    buf_init(&out, 1 << 20);
    if (collect_run_once(c, "netdev", &out, &err) != 0)
        fail_msg("%s", err.message);
    assert_non_null(strstr(out.data, "node_network_receive_bytes_total{device=\"eth0\"}"));
    assert_null(strstr(out.data, "device=\"lo\""));
    assert_null(strstr(out.data, "device=\"ifb0\""));
    assert_int_equal(collect_run_once(c, "cpu", NULL, &err), VIGIL_ESTATE);
    assert_int_equal(collect_run_once(c, "cgroup", NULL, &err), VIGIL_ESTATE);
    buf_free(&out);
    collect_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_overrides_reach_the_collectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
