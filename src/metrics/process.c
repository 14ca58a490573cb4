/*
 * process.c - the standard process collector (Linux), read from /proc at exposition time.
 *
 * Names and meanings follow the Prometheus client libraries so existing dashboards work:
 *   process_cpu_seconds_total      utime + stime of /proc/self/stat, in seconds
 *   process_resident_memory_bytes  rss (pages) of /proc/self/stat times the page size
 *   process_virtual_memory_bytes   vsize of /proc/self/stat
 *   process_open_fds               entries of /proc/self/fd
 *   process_max_fds                soft "Max open files" of /proc/self/limits
 *   process_start_time_seconds     btime of /proc/stat + starttime of /proc/self/stat
 * Each callback reads its file when the registry is exposed and reports NaN if that fails.
 * The /proc root is a parameter (netdata's lesson) so tests run against fixture trees.
 */
#include "metrics/metrics_int.h"

#include "host/host.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct proc_ctx {
    char   root[256];  /* "/proc" */
    double ticks;      /* clock ticks per second */
    double page;       /* bytes per page */
} proc_ctx_t;

/* Reads root/rel into buf (NUL-terminated). Returns bytes read or -1. */
static ssize_t read_file(const proc_ctx_t *pc, const char *rel, char *buf, size_t cap)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/%s", pc->root, rel);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (ssize_t)n;
}

/* Field `idx` (1-based, as in proc(5)) of self/stat, read past the "(comm)" which may hold
 * spaces. */
static bool stat_fields(const proc_ctx_t *pc, const int *idx, size_t n, double *out)
{
    char buf[1024];
    if (read_file(pc, "self/stat", buf, sizeof(buf)) <= 0)
        return false;
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return false;
    p++;
    int field = 2; /* the ')' ends field 2 */
    size_t found = 0;
    while (*p != '\0' && found < n) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        field++;
        char *end;
        double v = strtod(p, &end);
        for (size_t i = 0; i < n; i++)
            if (idx[i] == field) {
                out[i] = v;
                found++;
            }
        p = end > p ? end : p + 1;
        while (*p != ' ' && *p != '\0')
            p++;
    }
    return found == n;
}

static double cpu_seconds(void *arg)
{
    const proc_ctx_t *pc = arg;
    static const int idx[] = { 14, 15 };
    double v[2];
    return stat_fields(pc, idx, 2, v) ? (v[0] + v[1]) / pc->ticks : NAN;
}

static double resident_bytes(void *arg)
{
    const proc_ctx_t *pc = arg;
    static const int idx[] = { 24 };
    double v;
    return stat_fields(pc, idx, 1, &v) ? v * pc->page : NAN;
}

static double virtual_bytes(void *arg)
{
    static const int idx[] = { 23 };
    double v;
    return stat_fields(arg, idx, 1, &v) ? v : NAN;
}

static double start_time(void *arg)
{
    const proc_ctx_t *pc = arg;
    static const int idx[] = { 22 };
    double start;
    if (!stat_fields(pc, idx, 1, &start))
        return NAN;
    char buf[8192];
    if (read_file(pc, "stat", buf, sizeof(buf)) <= 0)
        return NAN;
    const char *b = strstr(buf, "\nbtime ");
    if (b == NULL)
        return NAN;
    return strtod(b + 7, NULL) + start / pc->ticks;
}

static double open_fds(void *arg)
{
    const proc_ctx_t *pc = arg;
    char path[320];
    snprintf(path, sizeof(path), "%s/self/fd", pc->root);
    long n = host_count_dir_entries(path);
    return n < 0 ? NAN : (double)n;
}

static double max_fds(void *arg)
{
    char buf[4096];
    if (read_file(arg, "self/limits", buf, sizeof(buf)) <= 0)
        return NAN;
    const char *p = strstr(buf, "Max open files");
    if (p == NULL)
        return NAN;
    p += strlen("Max open files");
    while (*p == ' ')
        p++;
    if (strncmp(p, "unlimited", 9) == 0)
        return INFINITY;
    return strtod(p, NULL);
}

int metrics_process_register(vigil_registry_t *reg, const char *proc_root, vigil_error_t *err)
{
    proc_ctx_t *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "process collector: out of memory");
    snprintf(pc->root, sizeof(pc->root), "%s", proc_root);
    long t = sysconf(_SC_CLK_TCK), pg = sysconf(_SC_PAGESIZE);
    pc->ticks = t > 0 ? (double)t : 100.0;
    pc->page = pg > 0 ? (double)pg : 4096.0;
    if (isnan(virtual_bytes(pc))) {
        free(pc);
        return vigil_error_set(err, VIGIL_ENOTSUP, "process collector: cannot read %s/self/stat",
                               proc_root);
    }
    int rc = metrics_registry_own(reg, pc);
    if (rc != 0) {
        free(pc);
        return vigil_error_set(err, rc, "process collector: out of memory");
    }
    /* pc now belongs to the registry and outlives every callback. */
    if ((rc = vigil_counter_func_new(reg, "process_cpu_seconds_total",
                                     "Total user and system CPU time spent in seconds.",
                                     cpu_seconds, pc, err)) != 0 ||
        (rc = vigil_gauge_func_new(reg, "process_resident_memory_bytes",
                                   "Resident memory size in bytes.", resident_bytes, pc,
                                   err)) != 0 ||
        (rc = vigil_gauge_func_new(reg, "process_virtual_memory_bytes",
                                   "Virtual memory size in bytes.", virtual_bytes, pc,
                                   err)) != 0 ||
        (rc = vigil_gauge_func_new(reg, "process_open_fds", "Number of open file descriptors.",
                                   open_fds, pc, err)) != 0 ||
        (rc = vigil_gauge_func_new(reg, "process_max_fds",
                                   "Maximum number of open file descriptors.", max_fds, pc,
                                   err)) != 0 ||
        (rc = vigil_gauge_func_new(reg, "process_start_time_seconds",
                                   "Start time of the process since unix epoch in seconds.",
                                   start_time, pc, err)) != 0)
        return rc;
    return 0;
}

int vigil_process_collector_register(vigil_registry_t *reg, vigil_error_t *err)
{
    return metrics_process_register(reg, "/proc", err);
}
