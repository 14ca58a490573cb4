/*
 * process.c - collector "process": resource use of the agent itself and of the processes the
 * configuration selects, in the spirit of the Prometheus client libraries' process_* metrics
 * but for many processes, hence the vigil_ prefix and the {pid, name} labels.
 *
 * Selection, per run (processes come and go):
 *   - the agent itself (getpid), always;
 *   - every pid of collect_options_t.process_pids that still exists;
 *   - when a name regex or a cgroup prefix is configured, every process of procfs whose comm
 *     or command line matches the regex, or one of whose cgroups (any hierarchy of
 *     /proc/PID/cgroup) lies under the prefix.
 * The union is sorted by pid and cut at process_max (default 256).
 *
 * Sources, per process: PID/stat (CPU, memory, threads, start time, the name), PID/fd
 * (entries counted), PID/io (bytes actually read from / written to storage; unreadable for
 * other users' processes without CAP_SYS_PTRACE, and then absent), procfs/stat (btime, once).
 * A process that exits between selection and reading is skipped, not an error.
 *
 * GPU memory is joined from the "gpu" collector: it publishes the pids NVML reports with
 * their memory (collect_int.h, collect_shared_*), and vigil_process_gpu_memory_bytes is the
 * sum over all GPUs for a selected pid, as of the GPU collector's latest run.
 */
#include "collect/collect_int.h"
#include "host/host.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROCESS_MAX_DEFAULT 256
#define USER_HZ 100.0   /* the kernel's fixed unit for times in /proc (not CONFIG_HZ) */

typedef struct proc_rec {
    uint32_t pid;
    char     name[64];
    double   utime, stime, rss, vms, threads, start;
    double   fds, read, written, gpu;
    bool     has_start, has_fds, has_io, has_gpu;
} proc_rec_t;

typedef struct proc_state {
    const collect_env_t *env;
    collect_file_t       file;
    int                 *pids;       /* configured pids */
    size_t               npids;
    regex_t              name_re;
    bool                 has_re;
    char                *cgroup_prefix;
    size_t               max;
    double               btime;
    bool                 have_btime;
    uint32_t            *sel;        /* this run's selection, sorted */
    size_t               nsel, capsel;
    proc_rec_t          *recs;
    size_t               nrec, caprec;
} proc_state_t;

static void proc_destroy(void *state)
{
    proc_state_t *s = state;
    if (s == NULL)
        return;
    if (s->has_re)
        regfree(&s->name_re);
    collect_file_free(&s->file);
    free(s->pids);
    free(s->cgroup_prefix);
    free(s->sel);
    free(s->recs);
    free(s);
}

static int proc_init(void **state, const collect_env_t *env, vigil_error_t *err)
{
    const collect_options_t *o = env->opts;
    proc_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "process: no memory");
    s->env = env;
    collect_file_init(&s->file);
    s->max = o->process_max ? o->process_max : PROCESS_MAX_DEFAULT;
    int rc = 0;
    if (o->n_process_pids > 0) {
        s->pids = malloc(o->n_process_pids * sizeof(*s->pids));
        if (s->pids == NULL) {
            rc = vigil_error_set(err, VIGIL_ENOMEM, "process: no memory");
            goto out_destroy;
        }
        memcpy(s->pids, o->process_pids, o->n_process_pids * sizeof(*s->pids));
        s->npids = o->n_process_pids;
    }
    if (o->process_name_regex != NULL && *o->process_name_regex != '\0') {
        rc = collect_regex_compile(&s->name_re, o->process_name_regex, "process name regex",
                                   err);
        if (rc != 0)
            goto out_destroy;
        s->has_re = true;
    }
    if (o->process_cgroup_prefix != NULL && *o->process_cgroup_prefix != '\0') {
        s->cgroup_prefix = strdup(o->process_cgroup_prefix);
        if (s->cgroup_prefix == NULL) {
            rc = vigil_error_set(err, VIGIL_ENOMEM, "process: no memory");
            goto out_destroy;
        }
        /* "/docker/" and "/docker" mean the same subtree. */
        size_t n = strlen(s->cgroup_prefix);
        while (n > 1 && s->cgroup_prefix[n - 1] == '/')
            s->cgroup_prefix[--n] = '\0';
    }
    *state = s;
    return 0;

out_destroy:
    proc_destroy(s);
    return rc;
}

/* ---- selection ---- */

static int sel_add(proc_state_t *s, uint32_t pid)
{
    if (s->nsel == s->capsel) {
        size_t ncap = s->capsel ? s->capsel * 2 : 64;
        uint32_t *p = realloc(s->sel, ncap * sizeof(*p));
        if (p == NULL)
            return VIGIL_ENOMEM;
        s->sel = p;
        s->capsel = ncap;
    }
    s->sel[s->nsel++] = pid;
    return 0;
}

static int cmp_pid(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Reads PID/rel; false when the process (or the file) is gone or unreadable. */
static bool proc_read(proc_state_t *s, uint32_t pid, const char *rel)
{
    char path[64];
    snprintf(path, sizeof(path), "%u/%s", pid, rel);
    return collect_file_read(&s->file, s->env->procfs, path, NULL, NULL) == 0;
}

static bool name_matches(proc_state_t *s, uint32_t pid)
{
    if (proc_read(s, pid, "comm")) {
        s->file.data[strcspn(s->file.data, "\n")] = '\0';
        if (regexec(&s->name_re, s->file.data, 0, NULL, 0) == 0)
            return true;
    }
    if (!proc_read(s, pid, "cmdline") || s->file.len == 0)
        return false;
    /* Arguments are NUL-separated (and NUL-terminated): match them joined by spaces. */
    size_t n = s->file.len;
    while (n > 0 && s->file.data[n - 1] == '\0')
        n--;
    for (size_t i = 0; i < n; i++)
        if (s->file.data[i] == '\0')
            s->file.data[i] = ' ';
    s->file.data[n] = '\0';
    return regexec(&s->name_re, s->file.data, 0, NULL, 0) == 0;
}

/* True when path is prefix or lies below it (per path component: "/docker" does not
 * contain "/dockerd"). */
static bool path_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strcmp(prefix, "/") == 0)
        return path[0] == '/';
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool cgroup_matches(proc_state_t *s, uint32_t pid)
{
    if (!proc_read(s, pid, "cgroup"))
        return false;
    char *pos = s->file.data, *line;
    while ((line = collect_next_line(&pos)) != NULL) {
        /* "hierarchy-ID:controller-list:path"; the path may itself contain ':'. */
        char *c1 = strchr(line, ':');
        char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
        if (c2 != NULL && path_under(c2 + 1, s->cgroup_prefix))
            return true;
    }
    return false;
}

static bool parse_pid(const char *name, uint32_t *pid)
{
    double v;
    if (!collect_parse_u(name, &v) || v <= 0 || v > 4194304) /* PID_MAX_LIMIT */
        return false;
    *pid = (uint32_t)v;
    return true;
}

static int proc_select(proc_state_t *s)
{
    s->nsel = 0;
    int rc = sel_add(s, (uint32_t)collect_getpid(s->env));
    for (size_t i = 0; rc == 0 && i < s->npids; i++)
        if (s->pids[i] > 0)
            rc = sel_add(s, (uint32_t)s->pids[i]);
    if (rc == 0 && (s->has_re || s->cgroup_prefix != NULL)) {
        DIR *d = opendir(s->env->procfs);
        if (d != NULL) {
            struct dirent *e;
            while (rc == 0 && (e = readdir(d)) != NULL) {
                uint32_t pid;
                if (!parse_pid(e->d_name, &pid))
                    continue;
                if ((s->has_re && name_matches(s, pid)) ||
                    (s->cgroup_prefix != NULL && cgroup_matches(s, pid)))
                    rc = sel_add(s, pid);
            }
            closedir(d);
        }
    }
    if (rc != 0)
        return rc;
    qsort(s->sel, s->nsel, sizeof(*s->sel), cmp_pid);
    size_t k = 0;
    for (size_t i = 0; i < s->nsel; i++)
        if (k == 0 || s->sel[k - 1] != s->sel[i])
            s->sel[k++] = s->sel[i];
    s->nsel = k < s->max ? k : s->max;
    return 0;
}

/* ---- reading one process ---- */

static void read_btime(proc_state_t *s)
{
    if (collect_file_read(&s->file, s->env->procfs, "stat", NULL, NULL) != 0)
        return;
    char *pos = s->file.data, *line;
    while ((line = collect_next_line(&pos)) != NULL) {
        char *f[2];
        if (collect_split(line, f, 2) == 2 && strcmp(f[0], "btime") == 0 &&
            collect_parse_u(f[1], &s->btime)) {
            s->have_btime = true;
            return;
        }
    }
}

/* PID/stat: "pid (comm) state ppid ...". comm may hold spaces and parentheses, so it ends at
 * the last ')'. false when the process is gone or the line is malformed. */
static bool read_stat(proc_state_t *s, proc_rec_t *r, double page)
{
    if (!proc_read(s, r->pid, "stat"))
        return false;
    char *open = strchr(s->file.data, '(');
    char *close = strrchr(s->file.data, ')');
    if (open == NULL || close == NULL || close < open)
        return false;
    size_t n = (size_t)(close - open - 1);
    if (n >= sizeof(r->name))
        n = sizeof(r->name) - 1;
    memcpy(r->name, open + 1, n);
    r->name[n] = '\0';
    /* f[0] is field 3 (state) of proc(5); field k is f[k - 3]. */
    char *f[22];
    if (collect_split(close + 1, f, 22) < 22)
        return false;
    double utime, stime, threads, start, vsize, rss;
    if (!collect_parse_u(f[14 - 3], &utime) || !collect_parse_u(f[15 - 3], &stime) ||
        !collect_parse_u(f[20 - 3], &threads) || !collect_parse_u(f[22 - 3], &start) ||
        !collect_parse_u(f[23 - 3], &vsize) || !collect_parse_u(f[24 - 3], &rss))
        return false;
    r->utime = utime / USER_HZ;
    r->stime = stime / USER_HZ;
    r->threads = threads;
    r->start = s->btime + start / USER_HZ;
    r->has_start = s->have_btime;
    r->vms = vsize;
    r->rss = rss * page;
    return true;
}

static void read_fds(proc_state_t *s, proc_rec_t *r)
{
    char rel[48], path[4096];
    snprintf(rel, sizeof(rel), "%u/fd", r->pid);
    if (collect_path(path, sizeof(path), s->env->procfs, rel, NULL) != 0)
        return;
    long n = host_count_dir_entries(path);
    if (n < 0)
        return;
    r->fds = (double)n;
    r->has_fds = true;
}

static void read_io(proc_state_t *s, proc_rec_t *r)
{
    if (!proc_read(s, r->pid, "io"))
        return;
    bool got_r = false, got_w = false;
    char *pos = s->file.data, *line;
    while ((line = collect_next_line(&pos)) != NULL) {
        char *f[2];
        if (collect_split(line, f, 2) != 2)
            continue;
        if (strcmp(f[0], "read_bytes:") == 0)
            got_r = collect_parse_u(f[1], &r->read);
        else if (strcmp(f[0], "write_bytes:") == 0)
            got_w = collect_parse_u(f[1], &r->written);
    }
    r->has_io = got_r && got_w;
}

/* ---- exposition ---- */

typedef struct proc_metric {
    const char    *name, *help;
    collect_type_t type;
} proc_metric_t;

enum { PM_CPU, PM_RSS, PM_VMS, PM_THREADS, PM_FDS, PM_READ, PM_WRITTEN, PM_START, PM_GPU,
       PM_COUNT };

static const proc_metric_t proc_metrics[PM_COUNT] = {
    [PM_CPU] = { "vigil_process_cpu_seconds_total",
                 "CPU time the process spent in user and system mode.", COLLECT_COUNTER },
    [PM_RSS] = { "vigil_process_resident_memory_bytes", "Resident set size.", COLLECT_GAUGE },
    [PM_VMS] = { "vigil_process_virtual_memory_bytes", "Virtual memory size.", COLLECT_GAUGE },
    [PM_THREADS] = { "vigil_process_threads", "Threads of the process.", COLLECT_GAUGE },
    [PM_FDS] = { "vigil_process_open_fds", "Open file descriptors.", COLLECT_GAUGE },
    [PM_READ] = { "vigil_process_read_bytes_total",
                  "Bytes the process caused to be read from storage.", COLLECT_COUNTER },
    [PM_WRITTEN] = { "vigil_process_written_bytes_total",
                     "Bytes the process caused to be written to storage.", COLLECT_COUNTER },
    [PM_START] = { "vigil_process_start_time_seconds",
                   "Start time of the process since the epoch, in seconds.", COLLECT_GAUGE },
    [PM_GPU] = { "vigil_process_gpu_memory_bytes",
                 "GPU memory used by the process, summed over all GPUs (from the gpu "
                 "collector).", COLLECT_GAUGE },
};

/* Value of metric m for r; false when r has none. */
static bool rec_value(const proc_rec_t *r, int m, double *v)
{
    switch (m) {
    case PM_RSS:     *v = r->rss;     return true;
    case PM_VMS:     *v = r->vms;     return true;
    case PM_THREADS: *v = r->threads; return true;
    case PM_FDS:     *v = r->fds;     return r->has_fds;
    case PM_READ:    *v = r->read;    return r->has_io;
    case PM_WRITTEN: *v = r->written; return r->has_io;
    case PM_START:   *v = r->start;   return r->has_start;
    case PM_GPU:     *v = r->gpu;     return r->has_gpu;
    default:         return false;
    }
}

static int proc_emit(proc_state_t *s, collect_batch_t *b)
{
    int rc = 0;
    for (int m = 0; rc == 0 && m < PM_COUNT; m++) {
        int fam = -1;
        for (size_t i = 0; rc == 0 && i < s->nrec; i++) {
            const proc_rec_t *r = &s->recs[i];
            double v = 0;
            if (m != PM_CPU && !rec_value(r, m, &v))
                continue;
            if (fam < 0 && (fam = collect_batch_family(b, proc_metrics[m].name,
                                                       proc_metrics[m].help,
                                                       proc_metrics[m].type)) < 0)
                return fam;
            char pid[16];
            snprintf(pid, sizeof(pid), "%u", r->pid);
            if (m == PM_CPU) {
                rc = collect_batch_add(b, fam, r->utime, "pid", pid, "name", r->name, "mode",
                                       "user", NULL);
                if (rc == 0)
                    rc = collect_batch_add(b, fam, r->stime, "pid", pid, "name", r->name,
                                           "mode", "system", NULL);
            } else {
                rc = collect_batch_add(b, fam, v, "pid", pid, "name", r->name, NULL);
            }
        }
    }
    return rc;
}

static int proc_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    proc_state_t *s = state;
    if (!s->have_btime)
        read_btime(s);
    int rc = proc_select(s);
    if (rc != 0)
        return vigil_error_set(err, rc, "process: %s", vigil_strerror(rc));
    if (s->nsel > s->caprec) {
        proc_rec_t *p = realloc(s->recs, s->nsel * sizeof(*p));
        if (p == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "process: no memory");
        s->recs = p;
        s->caprec = s->nsel;
    }
    double page = (double)collect_page_size(s->env);
    s->nrec = 0;
    for (size_t i = 0; i < s->nsel; i++) {
        proc_rec_t *r = &s->recs[s->nrec];
        memset(r, 0, sizeof(*r));
        r->pid = s->sel[i];
        if (!read_stat(s, r, page))
            continue; /* exited since it was selected, or never existed */
        read_fds(s, r);
        read_io(s, r);
        r->has_gpu = collect_shared_gpu_lookup(s->env->shared, r->pid, &r->gpu);
        s->nrec++;
    }
    rc = proc_emit(s, b);
    if (rc != 0)
        return vigil_error_set(err, rc, "process: %s", vigil_strerror(rc));
    return 0;
}

const collect_def_t collect_def_process = {
    .name = "process", .enabled = true,
    .init = proc_init, .collect = proc_collect, .destroy = proc_destroy,
};
