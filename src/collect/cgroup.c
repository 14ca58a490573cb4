/*
 * cgroup.c - collector "cgroup": per-cgroup (container) CPU, memory, IO and pressure with
 * cAdvisor's metric names, so container dashboards built for cAdvisor work unchanged.
 *
 * Hierarchies, found under sysfs/fs/cgroup at every run (a hierarchy mounted after start is
 * picked up):
 *   cgroup v2   sysfs/fs/cgroup/cgroup.controllers exists: one tree, files cpu.stat,
 *               memory.current, memory.stat, memory.max, io.stat, {cpu,memory,io}.pressure.
 *   v1/hybrid   one tree per controller (cpu, cpuacct, memory, blkio; co-mounted ones like
 *               "cpu,cpuacct" are found by their comma-separated names): cpuacct.usage,
 *               cpuacct.stat, cpu.stat, memory.usage_in_bytes, memory.stat,
 *               memory.limit_in_bytes, blkio.throttle.io_service{_bytes,d}_recursive; in hybrid
 *               mode PSI comes from the v2 tree at sysfs/fs/cgroup/unified, when it has the
 *               same cgroup. The set of cgroups is the union over the v1 trees.
 * Every cgroup is reported, the root included (id="/"), sorted by id, up to cgroup_max. A
 * file a cgroup lacks (the v2 root has no memory.current) leaves that metric out for it; a
 * cgroup removed while we read it is simply skipped. All values are hierarchical (a cgroup
 * includes its descendants), as in cAdvisor.
 *
 * Names: cAdvisor asks the container runtimes for names; we derive them from the path, with
 * one table of rules (cg_name_rules): docker containers (cgroupfs "/docker/<id>" and systemd
 * "docker-<id>.scope") get their docker name from rootfs/var/lib/docker/containers/<id>/
 * config.v2.json (and an image label), else the short id; containerd and CRI-O scopes and
 * kubelet's cgroupfs containers the short id; kubelet pod slices "pod<uid>"; systemd units
 * their unescaped unit name. Other cgroups have no name label.
 */
#include "collect/collect_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CG_MAX_DEFAULT  4096
#define CG_MAX_DEPTH    32
#define CG_PATH         4096
#define CG_NONE         ((size_t)-1)
#define CG_NAME_CACHE   4096

/* ---- the scalar metrics ---- */

enum {
    CM_USAGE, CM_USER, CM_SYSTEM, CM_PERIODS, CM_THROTTLED, CM_THROTTLED_S,
    CM_MEM_USAGE, CM_WSET, CM_LIMIT,
    CM_PSI_CPU_SOME, CM_PSI_CPU_FULL, CM_PSI_MEM_SOME, CM_PSI_MEM_FULL, CM_PSI_IO_SOME,
    CM_PSI_IO_FULL,
    CM_COUNT
};

typedef struct cg_metric {
    const char    *name, *help;
    collect_type_t type;
} cg_metric_t;

static const cg_metric_t cg_metrics[CM_COUNT] = {
    [CM_USAGE] = { "container_cpu_usage_seconds_total",
                   "Cumulative cpu time consumed in seconds.", COLLECT_COUNTER },
    [CM_USER] = { "container_cpu_user_seconds_total",
                  "Cumulative user cpu time consumed in seconds.", COLLECT_COUNTER },
    [CM_SYSTEM] = { "container_cpu_system_seconds_total",
                    "Cumulative system cpu time consumed in seconds.", COLLECT_COUNTER },
    [CM_PERIODS] = { "container_cpu_cfs_periods_total",
                     "Number of elapsed enforcement period intervals.", COLLECT_COUNTER },
    [CM_THROTTLED] = { "container_cpu_cfs_throttled_periods_total",
                       "Number of throttled period intervals.", COLLECT_COUNTER },
    [CM_THROTTLED_S] = { "container_cpu_cfs_throttled_seconds_total",
                         "Total time duration the container has been throttled.",
                         COLLECT_COUNTER },
    [CM_MEM_USAGE] = { "container_memory_usage_bytes",
                       "Current memory usage in bytes, including all memory regardless of "
                       "when it was accessed", COLLECT_GAUGE },
    [CM_WSET] = { "container_memory_working_set_bytes", "Current working set in bytes.",
                  COLLECT_GAUGE },
    [CM_LIMIT] = { "container_spec_memory_limit_bytes",
                   "Memory limit for the container (0: none).", COLLECT_GAUGE },
    [CM_PSI_CPU_SOME] = { "container_pressure_cpu_waiting_seconds_total",
                          "Total time duration tasks in the container have waited due to CPU "
                          "congestion.", COLLECT_COUNTER },
    [CM_PSI_CPU_FULL] = { "container_pressure_cpu_stalled_seconds_total",
                          "Total time duration no tasks in the container could make progress "
                          "due to CPU congestion.", COLLECT_COUNTER },
    [CM_PSI_MEM_SOME] = { "container_pressure_memory_waiting_seconds_total",
                          "Total time duration tasks in the container have waited due to "
                          "memory congestion.", COLLECT_COUNTER },
    [CM_PSI_MEM_FULL] = { "container_pressure_memory_stalled_seconds_total",
                          "Total time duration no tasks in the container could make progress "
                          "due to memory congestion.", COLLECT_COUNTER },
    [CM_PSI_IO_SOME] = { "container_pressure_io_waiting_seconds_total",
                         "Total time duration tasks in the container have waited due to IO "
                         "congestion.", COLLECT_COUNTER },
    [CM_PSI_IO_FULL] = { "container_pressure_io_stalled_seconds_total",
                         "Total time duration no tasks in the container could make progress "
                         "due to IO congestion.", COLLECT_COUNTER },
};

/* Per-device IO, one family each. */
enum { CI_RBYTES, CI_WBYTES, CI_RIOS, CI_WIOS, CI_COUNT };

static const cg_metric_t cg_io_metrics[CI_COUNT] = {
    [CI_RBYTES] = { "container_fs_reads_bytes_total", "Cumulative count of bytes read",
                    COLLECT_COUNTER },
    [CI_WBYTES] = { "container_fs_writes_bytes_total", "Cumulative count of bytes written",
                    COLLECT_COUNTER },
    [CI_RIOS] = { "container_fs_reads_total", "Cumulative count of reads completed",
                  COLLECT_COUNTER },
    [CI_WIOS] = { "container_fs_writes_total", "Cumulative count of writes completed",
                  COLLECT_COUNTER },
};

/* ---- state ---- */

typedef struct cg_rec {
    size_t   id, name, image;    /* offsets into the pool; name/image CG_NONE when none */
    double   v[CM_COUNT];
    uint32_t has;                /* bit per CM_* */
    size_t   io_first, io_count;
} cg_rec_t;

typedef struct cg_io {
    unsigned maj, min;
    double   v[CI_COUNT];
    uint8_t  has;
} cg_io_t;

typedef struct cg_dev {
    unsigned maj, min;
    char     name[48];           /* "/dev/sda", or "8:0" when sysfs does not say */
} cg_dev_t;

/* What the docker name rule learnt about one container id. */
typedef struct cg_docker {
    char     id[65];
    char     name[128];
    char     image[256];
    unsigned seen;               /* run number when last used: unused entries are dropped */
} cg_docker_t;

typedef struct cg_state {
    const collect_env_t *env;
    collect_file_t       file;
    size_t               max;
    bool                 logged_cut;
    /* Heap strings sized to fit (six CG_PATH arrays were 24 KiB of state): */
    char                *root;              /* sysfs/fs/cgroup */
    char                *v1[4];             /* cpu, cpuacct, memory, blkio; NULL when absent */
    char                *unified;           /* hybrid mode's v2 tree; NULL when absent */
    bool                 v2;
    char                *pool;              /* ids, names, images: NUL-terminated strings */
    size_t               poollen, poolcap;
    size_t              *ids;               /* offsets of this run's ids */
    size_t               nids, capids;
    cg_rec_t            *recs;
    size_t               nrec, caprec;
    cg_io_t             *io;
    size_t               nio, capio;
    cg_dev_t            *devs;
    size_t               ndev, capdev;
    cg_docker_t         *docker;
    size_t               ndocker, capdocker;
    unsigned             run;
} cg_state_t;

enum { V1_CPU, V1_CPUACCT, V1_MEMORY, V1_BLKIO };
static const char *const v1_controllers[4] = { "cpu", "cpuacct", "memory", "blkio" };

static void cg_destroy(void *state)
{
    cg_state_t *s = state;
    if (s == NULL)
        return;
    collect_file_free(&s->file);
    free(s->root);
    for (int c = 0; c < 4; c++)
        free(s->v1[c]);
    free(s->unified);
    free(s->pool);
    free(s->ids);
    free(s->recs);
    free(s->io);
    free(s->devs);
    free(s->docker);
    free(s);
}

static int cg_init(void **state, const collect_env_t *env, vigil_error_t *err)
{
    cg_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "cgroup: no memory");
    s->env = env;
    s->max = env->opts->cgroup_max ? env->opts->cgroup_max : CG_MAX_DEFAULT;
    collect_file_init(&s->file);
    char root[CG_PATH];
    int rc = collect_path(root, sizeof(root), env->sysfs, "fs/cgroup", err);
    if (rc == 0 && (s->root = strdup(root)) == NULL)
        rc = vigil_error_set(err, VIGIL_ENOMEM, "cgroup: no memory");
    if (rc != 0) {
        cg_destroy(s);
        return rc;
    }
    *state = s;
    return 0;
}

/* ---- string pool ---- */

static size_t pool_add(cg_state_t *s, const char *str, size_t n)
{
    if (s->poollen + n + 1 > s->poolcap) {
        size_t ncap = s->poolcap ? s->poolcap * 2 : 8192;
        while (ncap < s->poollen + n + 1)
            ncap *= 2;
        char *p = realloc(s->pool, ncap);
        if (p == NULL)
            return CG_NONE;
        s->pool = p;
        s->poolcap = ncap;
    }
    size_t off = s->poollen;
    memcpy(s->pool + off, str, n);
    s->pool[off + n] = '\0';
    s->poollen += n + 1;
    return off;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (p == NULL)
        return VIGIL_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* ---- finding the hierarchies and the cgroups ---- */

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Sets *dst to a copy of src (NULL: absent), keeping an equal one. 0 or VIGIL_ENOMEM. */
static int cg_set_path(char **dst, const char *src)
{
    if (src != NULL && *dst != NULL && strcmp(*dst, src) == 0)
        return 0;
    char *copy = NULL;
    if (src != NULL && (copy = strdup(src)) == NULL)
        return VIGIL_ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

/* Finds the v1 mount of each controller: "cpu" itself, or a co-mount "cpu,cpuacct". 0 or
 * VIGIL_ENOMEM. */
static int cg_find_v1(cg_state_t *s)
{
    int rc = 0;
    for (int c = 0; rc == 0 && c < 4; c++) {
        const char *found = NULL;
        char path[CG_PATH];
        if (collect_path(path, sizeof(path), s->root, v1_controllers[c], NULL) == 0 &&
            is_dir(path)) {
            rc = cg_set_path(&s->v1[c], path);
            continue;
        }
        DIR *d = opendir(s->root);
        if (d == NULL) {
            rc = cg_set_path(&s->v1[c], NULL);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strchr(e->d_name, ',') == NULL)
                continue;
            char names[sizeof(e->d_name) + 2];
            snprintf(names, sizeof(names), ",%s,", e->d_name);
            char want[32];
            snprintf(want, sizeof(want), ",%s,", v1_controllers[c]);
            if (strstr(names, want) != NULL &&
                collect_path(path, sizeof(path), s->root, e->d_name, NULL) == 0 &&
                is_dir(path)) {
                found = path;
                break;
            }
        }
        closedir(d);
        rc = cg_set_path(&s->v1[c], found);
    }
    char path[CG_PATH], unified[CG_PATH];
    const char *u = NULL;
    if (collect_path(path, sizeof(path), s->root, "unified/cgroup.controllers", NULL) == 0 &&
        access(path, F_OK) == 0 &&
        collect_path(unified, sizeof(unified), s->root, "unified", NULL) == 0)
        u = unified;
    return rc != 0 ? rc : cg_set_path(&s->unified, u);
}

static int id_add(cg_state_t *s, const char *id, size_t n)
{
    if (grow((void **)&s->ids, &s->capids, s->nids + 1, sizeof(*s->ids)) != 0)
        return VIGIL_ENOMEM;
    size_t off = pool_add(s, id, n);
    if (off == CG_NONE)
        return VIGIL_ENOMEM;
    s->ids[s->nids++] = off;
    return 0;
}

/* Adds an id for each subdirectory of base/rel (rel "" for the root; `rl` its length, `rel`
 * a CG_PATH buffer it is extended in). `path` is the caller's CG_PATH scratch. 0 or
 * VIGIL_ENOMEM. */
static int cg_scan(cg_state_t *s, const char *base, char *rel, size_t rl, char *path)
{
    if (snprintf(path, CG_PATH, "%s%s", base, rel) >= CG_PATH)
        return 0;
    DIR *d = opendir(path);
    if (d == NULL)
        return 0; /* removed meanwhile */
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' ||
                                    (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        if (e->d_type != DT_DIR) {
            if (e->d_type != DT_UNKNOWN)
                continue;
            struct stat st;
            if (fstatat(dirfd(d), e->d_name, &st, 0) != 0 || !S_ISDIR(st.st_mode))
                continue;
        }
        size_t nl = strlen(e->d_name);
        if (rl + 1 + nl + 1 > CG_PATH)
            continue;
        rel[rl] = '/';
        memcpy(rel + rl + 1, e->d_name, nl + 1);
        rc = id_add(s, rel, rl + 1 + nl);
        rel[rl] = '\0';
    }
    closedir(d);
    return rc;
}

/* Adds every cgroup below base to the id list (down to CG_MAX_DEPTH levels), breadth first:
 * the ids this walk adds are its own queue, so one directory stream is open at a time and
 * nothing is on the stack per level. (Depth first held a 32 KiB DIR buffer and a 4 KiB path
 * per level, which stayed as heap and stack of the collector's worker.) The order does not
 * matter: cg_list sorts the ids. `rel` and `path` are the caller's CG_PATH buffers. */
static int cg_walk(cg_state_t *s, const char *base, char *rel, char *path)
{
    size_t next = s->nids;
    rel[0] = '\0';
    int rc = cg_scan(s, base, rel, 0, path);
    for (; rc == 0 && next < s->nids; next++) {
        const char *id = s->pool + s->ids[next];
        size_t depth = 0;
        for (const char *c = id; *c != '\0'; c++)
            depth += *c == '/';
        if (depth >= CG_MAX_DEPTH)
            continue;
        size_t rl = strlen(id);
        memcpy(rel, id, rl + 1); /* the pool may move while the scan adds ids */
        rc = cg_scan(s, base, rel, rl, path);
    }
    return rc;
}

static int cmp_ids(const void *a, const void *b, void *pool)
{
    return strcmp((const char *)pool + *(const size_t *)a, (const char *)pool + *(const size_t *)b);
}

/* This run's cgroups: sorted, unique, the root first. 0 or VIGIL_ENOMEM. */
static int cg_list(cg_state_t *s)
{
    char path[CG_PATH];
    s->poollen = 0;
    s->nids = 0;
    collect_path(path, sizeof(path), s->root, "cgroup.controllers", NULL);
    s->v2 = access(path, F_OK) == 0;
    int rc = s->v2 ? 0 : cg_find_v1(s);
    rc = rc ? rc : id_add(s, "/", 1);
    char rel[CG_PATH];
    if (s->v2) {
        rc = rc ? rc : cg_walk(s, s->root, rel, path);
    } else {
        bool any = false;
        for (int c = 0; rc == 0 && c < 4; c++) {
            if (s->v1[c] == NULL)
                continue;
            any = true;
            rc = cg_walk(s, s->v1[c], rel, path);
        }
        if (!any)
            s->nids = 0; /* no cgroup filesystem at all: nothing to report */
    }
    if (rc != 0)
        return rc;
    qsort_r(s->ids, s->nids, sizeof(*s->ids), cmp_ids, s->pool);
    size_t k = 0;
    for (size_t i = 0; i < s->nids; i++)
        if (k == 0 || strcmp(s->pool + s->ids[k - 1], s->pool + s->ids[i]) != 0)
            s->ids[k++] = s->ids[i];
    s->nids = k;
    if (s->nids > s->max) {
        if (!s->logged_cut)
            log_warn(s->env->log, "cgroup", "more cgroups than cgroup_max; the rest are not "
                     "reported", LF_UINT("cgroups", s->nids), LF_UINT("max", s->max));
        s->logged_cut = true;
        s->nids = s->max;
    }
    return 0;
}

/* ---- reading one cgroup ---- */

/* Reads dir + id + "/" + file into s->file; false when missing or unreadable. */
static bool cg_read(cg_state_t *s, const char *dir, const char *id, const char *file)
{
    if (dir == NULL || dir[0] == '\0')
        return false;
    char rel[CG_PATH];
    if (snprintf(rel, sizeof(rel), "%s/%s", strcmp(id, "/") == 0 ? "" : id, file) >=
        (int)sizeof(rel))
        return false;
    return collect_file_read(&s->file, dir, rel, NULL, NULL) == 0;
}

static bool cg_read_u(cg_state_t *s, const char *dir, const char *id, const char *file,
                      double *out)
{
    if (!cg_read(s, dir, id, file))
        return false;
    s->file.data[strcspn(s->file.data, "\n")] = '\0';
    return collect_parse_u(s->file.data, out);
}

static void set(cg_rec_t *r, int m, double v)
{
    r->v[m] = v;
    r->has |= 1u << m;
}

/* "key value" lines (cpu.stat, memory.stat, cpuacct.stat): the value of key. */
static bool kv_get(const char *text, const char *key, double *out)
{
    size_t kl = strlen(key);
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
            char num[32];
            size_t n = strcspn(p + kl + 1, "\n");
            if (n >= sizeof(num))
                return false;
            memcpy(num, p + kl + 1, n);
            num[n] = '\0';
            return collect_parse_u(num, out);
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return false;
}

static cg_io_t *io_entry(cg_state_t *s, cg_rec_t *r, unsigned maj, unsigned min)
{
    for (size_t i = r->io_first; i < r->io_first + r->io_count; i++)
        if (s->io[i].maj == maj && s->io[i].min == min)
            return &s->io[i];
    if (grow((void **)&s->io, &s->capio, s->nio + 1, sizeof(*s->io)) != 0)
        return NULL;
    cg_io_t *e = &s->io[s->nio++];
    memset(e, 0, sizeof(*e));
    e->maj = maj;
    e->min = min;
    r->io_count++;
    return e;
}

static void io_set(cg_io_t *e, int m, double v)
{
    e->v[m] = v;
    e->has |= (uint8_t)(1u << m);
}

/* v1 blkio files: "MAJ:MIN Read N", "MAJ:MIN Write N", ..., "Total N". */
static void cg_blkio(cg_state_t *s, cg_rec_t *r, const char *id, const char *file,
                     const char *fallback, int mread, int mwrite)
{
    if (!cg_read(s, s->v1[V1_BLKIO], id, file) && !cg_read(s, s->v1[V1_BLKIO], id, fallback))
        return;
    char *pos = s->file.data, *line;
    while ((line = collect_next_line(&pos)) != NULL) {
        char *f[3];
        unsigned maj, min;
        double v;
        if (collect_split(line, f, 3) != 3 || sscanf(f[0], "%u:%u", &maj, &min) != 2 ||
            !collect_parse_u(f[2], &v))
            continue;
        int m = strcmp(f[1], "Read") == 0 ? mread : strcmp(f[1], "Write") == 0 ? mwrite : -1;
        cg_io_t *e = m >= 0 ? io_entry(s, r, maj, min) : NULL;
        if (e != NULL)
            io_set(e, m, v);
    }
}

/* v2 io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N". */
static void cg_iostat(cg_state_t *s, cg_rec_t *r, const char *id)
{
    static const struct { const char *key; int m; } keys[] = {
        { "rbytes", CI_RBYTES }, { "wbytes", CI_WBYTES }, { "rios", CI_RIOS },
        { "wios", CI_WIOS },
    };
    if (!cg_read(s, s->root, id, "io.stat"))
        return;
    char *pos = s->file.data, *line;
    while ((line = collect_next_line(&pos)) != NULL) {
        char *f[8];
        size_t n = collect_split(line, f, 8);
        unsigned maj, min;
        if (n < 2 || sscanf(f[0], "%u:%u", &maj, &min) != 2)
            continue;
        cg_io_t *e = io_entry(s, r, maj, min);
        for (size_t i = 1; e != NULL && i < n; i++) {
            char *eq = strchr(f[i], '=');
            if (eq == NULL)
                continue;
            *eq = '\0';
            double v;
            for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                if (strcmp(f[i], keys[k].key) == 0 && collect_parse_u(eq + 1, &v))
                    io_set(e, keys[k].m, v);
        }
    }
}

static void cg_psi(cg_state_t *s, cg_rec_t *r, const char *dir, const char *id)
{
    static const struct { const char *file; int some, full; } psi[] = {
        { "cpu.pressure", CM_PSI_CPU_SOME, CM_PSI_CPU_FULL },
        { "memory.pressure", CM_PSI_MEM_SOME, CM_PSI_MEM_FULL },
        { "io.pressure", CM_PSI_IO_SOME, CM_PSI_IO_FULL },
    };
    for (size_t i = 0; i < sizeof(psi) / sizeof(psi[0]); i++) {
        if (!cg_read(s, dir, id, psi[i].file))
            continue;
        double v;
        if (collect_psi_total(s->file.data, "some", &v))
            set(r, psi[i].some, v);
        if (collect_psi_total(s->file.data, "full", &v))
            set(r, psi[i].full, v);
    }
}

/* Memory limits at or above 2^62 are the kernel's "unlimited" (v1 writes a page-aligned
 * LONG_MAX); like "max" in v2 they are reported as 0. */
static double cg_limit(double v)
{
    return v >= 4611686018427387904.0 ? 0 : v;
}

static void cg_memory(cg_rec_t *r, double usage, bool has_usage, double inactive,
                      bool has_inactive)
{
    if (!has_usage)
        return;
    set(r, CM_MEM_USAGE, usage);
    /* cAdvisor's working set: usage minus inactive file pages, never below 0. */
    if (has_inactive)
        set(r, CM_WSET, inactive < usage ? usage - inactive : 0);
}

static void cg_read_v2(cg_state_t *s, cg_rec_t *r, const char *id)
{
    double v = 0, u = 0;
    if (cg_read(s, s->root, id, "cpu.stat")) {
        if (kv_get(s->file.data, "usage_usec", &v))
            set(r, CM_USAGE, v / 1e6);
        if (kv_get(s->file.data, "user_usec", &v))
            set(r, CM_USER, v / 1e6);
        if (kv_get(s->file.data, "system_usec", &v))
            set(r, CM_SYSTEM, v / 1e6);
        if (kv_get(s->file.data, "nr_periods", &v))
            set(r, CM_PERIODS, v);
        if (kv_get(s->file.data, "nr_throttled", &v))
            set(r, CM_THROTTLED, v);
        if (kv_get(s->file.data, "throttled_usec", &v))
            set(r, CM_THROTTLED_S, v / 1e6);
    }
    bool has_u = cg_read_u(s, s->root, id, "memory.current", &u);
    bool has_i = cg_read(s, s->root, id, "memory.stat") &&
                 kv_get(s->file.data, "inactive_file", &v);
    cg_memory(r, u, has_u, v, has_i);
    if (cg_read(s, s->root, id, "memory.max")) {
        s->file.data[strcspn(s->file.data, "\n")] = '\0';
        if (strcmp(s->file.data, "max") == 0)
            set(r, CM_LIMIT, 0);
        else if (collect_parse_u(s->file.data, &v))
            set(r, CM_LIMIT, cg_limit(v));
    }
    cg_iostat(s, r, id);
    cg_psi(s, r, s->root, id);
}

static void cg_read_v1(cg_state_t *s, cg_rec_t *r, const char *id)
{
    double v = 0, u = 0;
    if (cg_read_u(s, s->v1[V1_CPUACCT], id, "cpuacct.usage", &v))
        set(r, CM_USAGE, v / 1e9);
    if (cg_read(s, s->v1[V1_CPUACCT], id, "cpuacct.stat")) {
        /* USER_HZ ticks, a fixed 100 per second for user space. */
        if (kv_get(s->file.data, "user", &v))
            set(r, CM_USER, v / 100);
        if (kv_get(s->file.data, "system", &v))
            set(r, CM_SYSTEM, v / 100);
    }
    if (cg_read(s, s->v1[V1_CPU], id, "cpu.stat")) {
        if (kv_get(s->file.data, "nr_periods", &v))
            set(r, CM_PERIODS, v);
        if (kv_get(s->file.data, "nr_throttled", &v))
            set(r, CM_THROTTLED, v);
        if (kv_get(s->file.data, "throttled_time", &v))
            set(r, CM_THROTTLED_S, v / 1e9);
    }
    bool has_u = cg_read_u(s, s->v1[V1_MEMORY], id, "memory.usage_in_bytes", &u);
    bool has_i = cg_read(s, s->v1[V1_MEMORY], id, "memory.stat") &&
                 kv_get(s->file.data, "total_inactive_file", &v);
    cg_memory(r, u, has_u, v, has_i);
    if (cg_read_u(s, s->v1[V1_MEMORY], id, "memory.limit_in_bytes", &v))
        set(r, CM_LIMIT, cg_limit(v));
    cg_blkio(s, r, id, "blkio.throttle.io_service_bytes_recursive",
             "blkio.throttle.io_service_bytes", CI_RBYTES, CI_WBYTES);
    cg_blkio(s, r, id, "blkio.throttle.io_serviced_recursive", "blkio.throttle.io_serviced",
             CI_RIOS, CI_WIOS);
    if (s->unified != NULL)
        cg_psi(s, r, s->unified, id);
}

/* ---- names ---- */

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return n > 0;
}

/* Looks the docker container up (cached); returns the cache entry or NULL (no memory). */
static cg_docker_t *cg_docker(cg_state_t *s, const char *cid)
{
    for (size_t i = 0; i < s->ndocker; i++) {
        if (strcmp(s->docker[i].id, cid) == 0) {
            s->docker[i].seen = s->run;
            return &s->docker[i];
        }
    }
    if (s->ndocker == CG_NAME_CACHE ||
        grow((void **)&s->docker, &s->capdocker, s->ndocker + 1, sizeof(*s->docker)) != 0)
        return NULL;
    cg_docker_t *d = &s->docker[s->ndocker++];
    memset(d, 0, sizeof(*d));
    snprintf(d->id, sizeof(d->id), "%s", cid);
    d->seen = s->run;
    snprintf(d->name, sizeof(d->name), "%.12s", cid);
    char rel[160], path[CG_PATH];
    snprintf(rel, sizeof(rel), "var/lib/docker/containers/%s/config.v2.json", cid);
    if (collect_path(path, sizeof(path), s->env->rootfs, rel, NULL) != 0)
        return d;
    /* Docker's own record of the container: {"Name": "/web", "Config": {"Image": ...}}.
     * Read once per container id (cached), never per run. */
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (root == NULL)
        return d;
    const char *name = json_string_value(json_object_get(root, "Name"));
    if (name != NULL && *name != '\0')
        snprintf(d->name, sizeof(d->name), "%s", name[0] == '/' ? name + 1 : name);
    const char *image =
        json_string_value(json_object_get(json_object_get(root, "Config"), "Image"));
    if (image != NULL)
        snprintf(d->image, sizeof(d->image), "%s", image);
    json_decref(root);
    return d;
}

/* systemd escapes unit names ("\x2d" for '-'); a readable name undoes it. */
static void unescape_unit(const char *in, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = in; *p != '\0' && k + 1 < cap; p++) {
        unsigned c;
        if (p[0] == '\\' && p[1] == 'x' && sscanf(p + 2, "%2x", &c) == 1 && all_hex(p + 2, 2)) {
            out[k++] = (char)c;
            p += 3;
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
}

typedef struct cg_name_ctx {
    const char *id;          /* the whole cgroup path */
    const char *leaf;        /* its last component */
    const char *parent;      /* the component before it ("" at the top) */
    size_t      parent_len;
} cg_name_ctx_t;

/* A rule fills name (and image) and returns true when the cgroup is its kind. */
typedef bool (*cg_name_fn)(cg_state_t *s, const cg_name_ctx_t *c, char *name, size_t cap,
                           char *image, size_t icap);

static bool strip(const char *s, const char *prefix, const char *suffix, const char **mid,
                  size_t *len)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(s);
    if (n <= pl + sl || strncmp(s, prefix, pl) != 0 || strcmp(s + n - sl, suffix) != 0)
        return false;
    *mid = s + pl;
    *len = n - pl - sl;
    return true;
}

static bool docker_named(cg_state_t *s, const char *cid, size_t n, char *name, size_t cap,
                         char *image, size_t icap)
{
    if (n != 64 || !all_hex(cid, n))
        return false;
    char id[65];
    memcpy(id, cid, 64);
    id[64] = '\0';
    cg_docker_t *d = cg_docker(s, id);
    snprintf(name, cap, "%s", d != NULL ? d->name : "");
    if (d == NULL)
        snprintf(name, cap, "%.12s", id);
    snprintf(image, icap, "%s", d != NULL ? d->image : "");
    return true;
}

/* "/docker/<id>" (cgroupfs driver) */
static bool rule_docker_cgroupfs(cg_state_t *s, const cg_name_ctx_t *c, char *name, size_t cap,
                                 char *image, size_t icap)
{
    if (c->parent_len != 6 || strncmp(c->parent, "docker", 6) != 0)
        return false;
    return docker_named(s, c->leaf, strlen(c->leaf), name, cap, image, icap);
}

/* "docker-<id>.scope" (systemd driver) */
static bool rule_docker_scope(cg_state_t *s, const cg_name_ctx_t *c, char *name, size_t cap,
                              char *image, size_t icap)
{
    const char *mid;
    size_t n;
    return strip(c->leaf, "docker-", ".scope", &mid, &n) &&
           docker_named(s, mid, n, name, cap, image, icap);
}

/* CRI runtimes under kubelet's systemd driver: "cri-containerd-<id>.scope", "crio-<id>.scope";
 * and kubelet's cgroupfs driver: a bare container id below "pod<uid>". */
static bool rule_cri(cg_state_t *s, const cg_name_ctx_t *c, char *name, size_t cap,
                     char *image, size_t icap)
{
    (void)s; (void)image; (void)icap;
    const char *mid = c->leaf;
    size_t n = strlen(c->leaf);
    bool under_pod = c->parent_len > 3 && strncmp(c->parent, "pod", 3) == 0;
    if (!strip(c->leaf, "cri-containerd-", ".scope", &mid, &n) &&
        !strip(c->leaf, "crio-", ".scope", &mid, &n) && !under_pod)
        return false;
    if (n < 12 || !all_hex(mid, n))
        return false;
    snprintf(name, cap, "%.12s", mid);
    return true;
}

/* kubelet pod cgroups: "kubepods-burstable-pod<uid>.slice" (uid with '_' for '-') or
 * "pod<uid>" under kubepods. */
static bool rule_pod(cg_state_t *s, const cg_name_ctx_t *c, char *name, size_t cap,
                     char *image, size_t icap)
{
    (void)s; (void)image; (void)icap;
    if (strstr(c->id, "kubepods") == NULL)
        return false;
    /* "pod" starts the leaf or follows a '-' (not the "pods" of "kubepods"). */
    const char *pod = strncmp(c->leaf, "pod", 3) == 0 ? c->leaf : strstr(c->leaf, "-pod");
    if (pod == NULL)
        return false;
    if (pod != c->leaf)
        pod++;
    size_t n = strlen(pod);
    if (n > 6 && strcmp(pod + n - 6, ".slice") == 0)
        n -= 6;
    if (n <= 3)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        name[k++] = pod[i] == '_' ? '-' : pod[i];
    name[k] = '\0';
    return true;
}

/* Any other systemd unit: "nginx.service", "user-1000.slice", "session-3.scope". */
static bool rule_systemd(cg_state_t *s, const cg_name_ctx_t *c, char *name, size_t cap,
                         char *image, size_t icap)
{
    (void)s; (void)image; (void)icap;
    static const char *const kinds[] = { ".service", ".scope", ".slice", ".socket", ".mount",
                                         ".swap" };
    size_t n = strlen(c->leaf);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t kl = strlen(kinds[i]);
        if (n > kl && strcmp(c->leaf + n - kl, kinds[i]) == 0) {
            unescape_unit(c->leaf, name, cap);
            return true;
        }
    }
    return false;
}

/* First match wins: the specific container rules before the generic systemd one, since
 * "docker-<id>.scope" is also a systemd unit. */
static const cg_name_fn cg_name_rules[] = {
    rule_docker_cgroupfs, rule_docker_scope, rule_cri, rule_pod, rule_systemd,
};

static int cg_name(cg_state_t *s, cg_rec_t *r)
{
    r->name = r->image = CG_NONE;
    const char *id = s->pool + r->id;
    const char *slash = strrchr(id, '/');
    if (slash == NULL || slash[1] == '\0')
        return 0;
    cg_name_ctx_t c = { .id = id, .leaf = slash + 1, .parent = "" };
    if (slash > id) {
        const char *p = slash - 1;
        while (p > id && *p != '/')
            p--;
        c.parent = p + 1;
        c.parent_len = (size_t)(slash - p - 1);
    }
    char name[256], image[256] = "";
    for (size_t i = 0; i < sizeof(cg_name_rules) / sizeof(cg_name_rules[0]); i++) {
        if (!cg_name_rules[i](s, &c, name, sizeof(name), image, sizeof(image)))
            continue;
        /* The pool may move when it grows: take the offsets after adding. */
        size_t off = pool_add(s, name, strlen(name));
        if (off == CG_NONE)
            return VIGIL_ENOMEM;
        r->name = off;
        if (image[0] != '\0') {
            off = pool_add(s, image, strlen(image));
            if (off == CG_NONE)
                return VIGIL_ENOMEM;
            r->image = off;
        }
        return 0;
    }
    return 0;
}

/* Drops the docker cache entries no cgroup used this run (containers that went away). */
static void cg_docker_gc(cg_state_t *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->ndocker; i++)
        if (s->docker[i].seen == s->run)
            s->docker[k++] = s->docker[i];
    s->ndocker = k;
}

/* "/dev/sda" for 8:0 from sysfs/dev/block/8:0/uevent (cached), else "8:0". */
static const char *cg_devname(cg_state_t *s, unsigned maj, unsigned min)
{
    for (size_t i = 0; i < s->ndev; i++)
        if (s->devs[i].maj == maj && s->devs[i].min == min)
            return s->devs[i].name;
    if (grow((void **)&s->devs, &s->capdev, s->ndev + 1, sizeof(*s->devs)) != 0)
        return NULL;
    cg_dev_t *d = &s->devs[s->ndev++];
    d->maj = maj;
    d->min = min;
    snprintf(d->name, sizeof(d->name), "%u:%u", maj, min);
    char rel[64];
    snprintf(rel, sizeof(rel), "dev/block/%u:%u/uevent", maj, min);
    if (collect_file_read(&s->file, s->env->sysfs, rel, NULL, NULL) == 0) {
        char *pos = s->file.data, *line;
        while ((line = collect_next_line(&pos)) != NULL)
            if (strncmp(line, "DEVNAME=", 8) == 0)
                snprintf(d->name, sizeof(d->name), "/dev/%.40s", line + 8);
    }
    return d->name;
}

/* ---- exposition ---- */

static size_t rec_labels(const cg_state_t *s, const cg_rec_t *r, collect_label_t *l)
{
    size_t n = 0;
    l[n++] = (collect_label_t){ "id", s->pool + r->id };
    if (r->image != CG_NONE)
        l[n++] = (collect_label_t){ "image", s->pool + r->image };
    if (r->name != CG_NONE)
        l[n++] = (collect_label_t){ "name", s->pool + r->name };
    return n;
}

static int cg_emit(cg_state_t *s, collect_batch_t *b)
{
    collect_label_t l[5];
    int rc = 0;
    for (int m = 0; rc == 0 && m < CM_COUNT; m++) {
        int fam = -1;
        for (size_t i = 0; rc == 0 && i < s->nrec; i++) {
            const cg_rec_t *r = &s->recs[i];
            if (!(r->has & (1u << m)))
                continue;
            if (fam < 0 && (fam = collect_batch_family(b, cg_metrics[m].name,
                                                       cg_metrics[m].help,
                                                       cg_metrics[m].type)) < 0)
                return fam;
            size_t n = rec_labels(s, r, l);
            /* cAdvisor's usage carries cpu="total" (per-CPU series are not collected). */
            if (m == CM_USAGE)
                l[n++] = (collect_label_t){ "cpu", "total" };
            rc = collect_batch_add_labels(b, fam, r->v[m], l, n);
        }
    }
    for (int m = 0; rc == 0 && m < CI_COUNT; m++) {
        int fam = -1;
        for (size_t i = 0; rc == 0 && i < s->nrec; i++) {
            const cg_rec_t *r = &s->recs[i];
            for (size_t k = r->io_first; rc == 0 && k < r->io_first + r->io_count; k++) {
                const cg_io_t *e = &s->io[k];
                if (!(e->has & (1u << m)))
                    continue;
                if (fam < 0 && (fam = collect_batch_family(b, cg_io_metrics[m].name,
                                                           cg_io_metrics[m].help,
                                                           cg_io_metrics[m].type)) < 0)
                    return fam;
                size_t n = rec_labels(s, r, l);
                const char *dev = cg_devname(s, e->maj, e->min);
                l[n++] = (collect_label_t){ "device", dev != NULL ? dev : "" };
                rc = collect_batch_add_labels(b, fam, e->v[m], l, n);
            }
        }
    }
    return rc;
}

static int cg_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    cg_state_t *s = state;
    s->run++;
    int rc = cg_list(s);
    if (rc == 0)
        rc = grow((void **)&s->recs, &s->caprec, s->nids, sizeof(*s->recs));
    if (rc != 0)
        return vigil_error_set(err, rc, "cgroup: %s", vigil_strerror(rc));
    s->nrec = 0;
    s->nio = 0;
    for (size_t i = 0; i < s->nids; i++) {
        cg_rec_t *r = &s->recs[s->nrec];
        memset(r, 0, sizeof(*r));
        r->id = s->ids[i];
        r->io_first = s->nio;
        const char *id = s->pool + r->id;
        if (s->v2)
            cg_read_v2(s, r, id);
        else
            cg_read_v1(s, r, id);
        if (r->has == 0 && r->io_count == 0)
            continue; /* gone meanwhile, or a directory that is not a cgroup */
        rc = cg_name(s, r);
        if (rc != 0)
            return vigil_error_set(err, rc, "cgroup: %s", vigil_strerror(rc));
        s->nrec++;
    }
    cg_docker_gc(s);
    rc = cg_emit(s, b);
    if (rc != 0)
        return vigil_error_set(err, rc, "cgroup: %s", vigil_strerror(rc));
    return 0;
}

const collect_def_t collect_def_cgroup = {
    .name = "cgroup", .enabled = true,
    .init = cg_init, .collect = cg_collect, .destroy = cg_destroy,
};
