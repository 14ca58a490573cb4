/*
 * host_stat.c - collectors "cpu" and "stat", both from procfs/stat, and "loadavg".
 *
 * Names, help texts, labels and units are node_exporter 1.5's, so dashboards and the seeds'
 * recording rules (node_cpu_seconds_total{mode="idle"}) work unchanged.
 */
#include "collect/collect_int.h"

#include <string.h>

/* node_exporter divides clock ticks by a fixed USER_HZ of 100, which is what the kernel
 * reports in /proc whatever CONFIG_HZ is. */
#define USER_HZ 100.0

/* ---- cpu ---- */

/* Modes in node_exporter's (alphabetical) output order, with their column in a "cpuN" line:
 * user nice system idle iowait irq softirq steal guest guest_nice. */
static const struct {
    const char *mode;
    int col;
} cpu_modes[] = {
    { "idle", 3 }, { "iowait", 4 }, { "irq", 5 }, { "nice", 1 },
    { "softirq", 6 }, { "steal", 7 }, { "system", 2 }, { "user", 0 },
};

static int cpu_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    collect_simple_t *s = state;
    int rc = collect_file_read(&s->file, s->env->procfs, "stat", NULL, err);
    if (rc != 0)
        return rc;
    int fsec = collect_batch_family(b, "node_cpu_seconds_total",
                                    "Seconds the CPUs spent in each mode.", COLLECT_COUNTER);
    int fguest = collect_batch_family(b, "node_cpu_guest_seconds_total",
                                      "Seconds the CPUs spent in guests (VMs) for each mode.",
                                      COLLECT_COUNTER);
    if (fsec < 0 || fguest < 0)
        return fsec < 0 ? fsec : fguest;
    char *pos = s->file.data, *line;
    int lineno = 0;
    while ((line = collect_next_line(&pos)) != NULL) {
        lineno++;
        /* Only per-CPU lines: the aggregate "cpu " line is what PromQL's sum() is for. */
        if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
            continue;
        char *f[11];
        size_t n = collect_split(line, f, 11);
        if (n < 5)
            return vigil_error_set(err, VIGIL_EPARSE, "%s/stat:%d: %zu fields in a cpu line",
                                   s->env->procfs, lineno, n);
        double v[10] = { 0 };
        for (size_t i = 1; i < n; i++)
            if (!collect_parse_u(f[i], &v[i - 1]))
                return vigil_error_set(err, VIGIL_EPARSE, "%s/stat:%d: bad number \"%s\"",
                                       s->env->procfs, lineno, f[i]);
        const char *cpu = f[0] + 3;
        for (size_t m = 0; m < sizeof(cpu_modes) / sizeof(cpu_modes[0]); m++) {
            if ((size_t)cpu_modes[m].col + 1 >= n)
                continue; /* old kernels lack steal and later columns */
            rc = collect_batch_add(b, fsec, v[cpu_modes[m].col] / USER_HZ, "cpu", cpu, "mode",
                                   cpu_modes[m].mode, NULL);
            if (rc != 0)
                return rc;
        }
        if (n >= 11) {
            rc = collect_batch_add(b, fguest, v[9] / USER_HZ, "cpu", cpu, "mode", "nice", NULL);
            if (rc == 0)
                rc = collect_batch_add(b, fguest, v[8] / USER_HZ, "cpu", cpu, "mode", "user",
                                       NULL);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

const collect_def_t collect_def_cpu = {
    .name = "cpu", .enabled = true,
    .init = collect_simple_init, .collect = cpu_collect, .destroy = collect_simple_destroy,
};

/* ---- stat ---- */

static const struct {
    const char    *key;   /* first field of the /proc/stat line */
    const char    *name;
    const char    *help;
    collect_type_t type;
} stat_fields[] = {
    { "intr", "node_intr_total", "Total number of interrupts serviced.", COLLECT_COUNTER },
    { "ctxt", "node_context_switches_total", "Total number of context switches.",
      COLLECT_COUNTER },
    { "btime", "node_boot_time_seconds", "Node boot time, in unixtime.", COLLECT_GAUGE },
    { "processes", "node_forks_total", "Total number of forks.", COLLECT_COUNTER },
    { "procs_running", "node_procs_running", "Number of processes in runnable state.",
      COLLECT_GAUGE },
    { "procs_blocked", "node_procs_blocked",
      "Number of processes blocked waiting for I/O to complete.", COLLECT_GAUGE },
};
#define N_STAT_FIELDS (sizeof(stat_fields) / sizeof(stat_fields[0]))

static int stat_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    collect_simple_t *s = state;
    int rc = collect_file_read(&s->file, s->env->procfs, "stat", NULL, err);
    if (rc != 0)
        return rc;
    double v[N_STAT_FIELDS];
    bool seen[N_STAT_FIELDS] = { false };
    char *pos = s->file.data, *line;
    while ((line = collect_next_line(&pos)) != NULL) {
        if (line[0] == 'c' && line[1] == 'p')
            continue; /* the cpu lines are most of the file */
        char *f[2];
        if (collect_split(line, f, 2) != 2)
            continue;
        for (size_t i = 0; i < N_STAT_FIELDS; i++) {
            if (strcmp(f[0], stat_fields[i].key) != 0)
                continue;
            if (!collect_parse_u(f[1], &v[i]))
                return vigil_error_set(err, VIGIL_EPARSE, "%s/stat: bad %s value \"%s\"",
                                       s->env->procfs, f[0], f[1]);
            seen[i] = true;
            break;
        }
    }
    /* Table order, not file order, so the output is stable across kernels. */
    for (size_t i = 0; i < N_STAT_FIELDS; i++) {
        if (!seen[i])
            continue;
        int fam = collect_batch_family(b, stat_fields[i].name, stat_fields[i].help,
                                       stat_fields[i].type);
        rc = fam < 0 ? fam : collect_batch_add(b, fam, v[i], NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const collect_def_t collect_def_stat = {
    .name = "stat", .enabled = true,
    .init = collect_simple_init, .collect = stat_collect, .destroy = collect_simple_destroy,
};

/* ---- loadavg ---- */

static int loadavg_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    static const char *const names[3] = { "node_load1", "node_load5", "node_load15" };
    static const char *const helps[3] = { "1m load average.", "5m load average.",
                                          "15m load average." };
    collect_simple_t *s = state;
    int rc = collect_file_read(&s->file, s->env->procfs, "loadavg", NULL, err);
    if (rc != 0)
        return rc;
    char *f[3];
    double v[3];
    if (collect_split(s->file.data, f, 3) != 3 || !collect_parse_d(f[0], &v[0]) ||
        !collect_parse_d(f[1], &v[1]) || !collect_parse_d(f[2], &v[2]))
        return vigil_error_set(err, VIGIL_EPARSE, "%s/loadavg: expected three numbers",
                               s->env->procfs);
    for (int i = 0; i < 3; i++) {
        int fam = collect_batch_family(b, names[i], helps[i], COLLECT_GAUGE);
        rc = fam < 0 ? fam : collect_batch_add(b, fam, v[i], NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const collect_def_t collect_def_loadavg = {
    .name = "loadavg", .enabled = true,
    .init = collect_simple_init, .collect = loadavg_collect, .destroy = collect_simple_destroy,
};
