/*
 * system_checks.c - the built-in health checks: memory, cpu and disk usage percentages.
 *
 * Each check owns a small context with its thresholds (updated on config reload through
 * vigil_health_set_thresholds) and, for cpu, the previous tick counters: CPU usage is "over the
 * last interval", the busy share of the ticks since the previous check.
 */
#include "health/health_int.h"

#include "host/host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct system_check {
    vigil_health_thresholds_t thresholds;
    char                      path[4096];  /* procfs root, or the disk check's directory */
    bool                      have_prev;
    host_cpu_times_t          prev;
    double                    last_cpu_percent;
} system_check_t;

static void fail(vigil_health_result_t *out, const vigil_error_t *err)
{
    out->status = VIGIL_HEALTH_UNKNOWN;
    snprintf(out->message, sizeof(out->message), "%.255s", err->message);
}

static void check_memory(void *ctx, vigil_health_result_t *out)
{
    system_check_t *sc = ctx;
    host_memory_t m;
    vigil_error_t err;
    if (host_read_memory(sc->path, &m, &err) != 0 || m.total_bytes == 0) {
        fail(out, &err);
        return;
    }
    double used = 100.0 * (double)(m.total_bytes - m.available_bytes) / (double)m.total_bytes;
    health_percent_result(out, "Memory", used, &sc->thresholds);
}

static void check_cpu(void *ctx, vigil_health_result_t *out)
{
    system_check_t *sc = ctx;
    host_cpu_times_t now;
    vigil_error_t err;
    if (host_read_cpu_times(sc->path, &now, &err) != 0) {
        fail(out, &err);
        return;
    }
    /* Fewer than a few ticks apart (checks in quick succession) the ratio is noise: report the
     * previous interval's figure instead. */
    if (sc->have_prev && now.total >= sc->prev.total + 10) {
        sc->last_cpu_percent = host_cpu_busy_percent(&sc->prev, &now);
        sc->prev = now;
    } else if (!sc->have_prev) {
        sc->prev = now;
        sc->have_prev = true;
    }
    health_percent_result(out, "CPU", sc->last_cpu_percent, &sc->thresholds);
}

static void check_disk(void *ctx, vigil_health_result_t *out)
{
    system_check_t *sc = ctx;
    host_fs_usage_t fs;
    vigil_error_t err;
    if (host_read_fs_usage(sc->path, &fs, &err) != 0) {
        fail(out, &err);
        return;
    }
    health_percent_result(out, "Disk", host_fs_used_percent(&fs), &sc->thresholds);
    size_t n = strlen(out->message);
    snprintf(out->message + n, sizeof(out->message) - n, " (%.200s)", sc->path);
}

static int add(vigil_health_checker_t *hc, const char *name, vigil_health_check_fn fn,
               const char *path, const vigil_health_thresholds_t *t, vigil_error_t *err)
{
    system_check_t *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "health: out of memory");
    sc->thresholds = *t;
    snprintf(sc->path, sizeof(sc->path), "%s", path);
    int rc = health_register_owned(hc, name, fn, sc, free, &sc->thresholds, err);
    if (rc != 0)
        free(sc);
    return rc;
}

int vigil_health_register_system(vigil_health_checker_t *hc, const char *procfs,
                                 const char *disk_path,
                                 const vigil_health_thresholds_t *memory,
                                 const vigil_health_thresholds_t *cpu,
                                 const vigil_health_thresholds_t *disk, vigil_error_t *err)
{
    int rc = add(hc, "memory", check_memory, procfs, memory, err);
    rc = rc ? rc : add(hc, "cpu", check_cpu, procfs, cpu, err);
    rc = rc ? rc : add(hc, "disk", check_disk, disk_path, disk, err);
    return rc;
}
