/*
 * collectors.c - the table of built-in collectors, in exposition order.
 *
 * Adding a collector is adding a row: the scheduler, the enable/interval options, the
 * self-metrics and the exposition pick it up from here.
 */
#include "collect/collect_int.h"

static const collect_def_t *const host_rows[] = {
    &collect_def_cpu,      &collect_def_stat,     &collect_def_meminfo, &collect_def_vmstat,
    &collect_def_loadavg,  &collect_def_diskstats, &collect_def_filesystem,
    &collect_def_netdev,   &collect_def_pressure, &collect_def_filefd,  &collect_def_uname,
    &collect_def_os,       &collect_def_time,
    &collect_def_gpu,      &collect_def_process,  &collect_def_cgroup,
};

const collect_def_t *const *collect_host_table(size_t *n)
{
    *n = sizeof(host_rows) / sizeof(host_rows[0]);
    return host_rows;
}
