/*
 * collect_config.c - config_t's collect.* keys to collect_options_t (see collect_config.h).
 *
 * The per-collector keys are an array indexed like CONFIG_COLLECTORS(), whose names a unit test
 * (tests/config) holds equal to collect_host_table()'s, so the names handed to the scheduler
 * are always known to it and collect_create() never fails on an unknown collector here.
 */
#include "agent/collect_config.h"

#include <string.h>

/* "" in the config means "the built-in default", which collect_options_t spells NULL. */
static const char *or_null(const char *s)
{
    return s != NULL && *s != '\0' ? s : NULL;
}

/* Seconds (the config's unit, at least 100 ms and at most 1 h) to whole milliseconds. */
static uint32_t to_ms(double seconds)
{
    return (uint32_t)(seconds * 1000.0 + 0.5);
}

const collect_options_t *agent_collect_config(agent_collect_config_t *cc, const config_t *cfg)
{
    const config_collector_t *per = cfg->collect.collectors;
    memset(cc, 0, sizeof(*cc));

    size_t n_int = 0;
    for (size_t i = 0; i < CONFIG_COLLECTOR_COUNT; i++) {
        const char *name = config_collector_name((config_collector_id_t)i);
        /* Every flag is passed, the defaults too: the config is the one source of truth, and
         * the tests prove its defaults equal the collectors' own. */
        cc->enable[i] = (collect_enable_t){ .name = name, .enabled = per[i].enabled };
        if (per[i].interval > 0)
            cc->intervals[n_int++] =
                (collect_interval_t){ .name = name, .interval_ms = to_ms(per[i].interval) };
    }
    /* The schema keeps pids whole and within 1..4194304, so the conversion is exact. */
    const config_number_list_t *pids = &cfg->collect.process.pids;
    for (size_t i = 0; i < pids->count; i++)
        cc->pids[i] = (int)pids->items[i];

    cc->opts = (collect_options_t){
        .procfs = cfg->collect.path.procfs,
        .sysfs = cfg->collect.path.sysfs,
        .rootfs = cfg->collect.path.rootfs,
        .default_interval_ms = to_ms(cfg->collect.interval),
        .enable = cc->enable,
        .n_enable = CONFIG_COLLECTOR_COUNT,
        .intervals = cc->intervals,
        .n_intervals = n_int,
        .filesystem_mount_points_exclude = or_null(cfg->collect.filesystem.mount_points_exclude),
        .filesystem_fs_types_exclude = or_null(cfg->collect.filesystem.fs_types_exclude),
        .diskstats_device_exclude = or_null(cfg->collect.diskstats.device_exclude),
        .netdev_device_exclude = or_null(cfg->collect.netdev.device_exclude),
        .vmstat_fields = or_null(cfg->collect.vmstat.fields),
        .nvml_library = or_null(cfg->collect.gpu.nvml_library),
        .process_pids = pids->count > 0 ? cc->pids : NULL,
        .n_process_pids = pids->count,
        .process_name_regex = or_null(cfg->collect.process.name_regex),
        .process_cgroup_prefix = or_null(cfg->collect.process.cgroup_prefix),
        .process_max = (size_t)cfg->collect.process.max,
        .cgroup_max = (size_t)cfg->collect.cgroup.max,
    };
    return &cc->opts;
}
