/*
 * host_disk.c - collectors "diskstats" (procfs/diskstats) and "filesystem" (procfs/1/mounts,
 * falling back to procfs/mounts, plus statfs of each mount point under rootfs).
 *
 * Both follow node_exporter 1.5: diskstats skips devices matching --collector.diskstats.
 * device-exclude (partitions, loop and ram devices by default), converts sectors to bytes at a
 * fixed 512 bytes (the unit /proc/diskstats counts in, whatever the device's sector size) and
 * milliseconds to seconds. filesystem reads PID 1's mount table (the host's view, even when the
 * agent runs in its own mount namespace), decodes the octal escapes the kernel writes for
 * spaces, tabs, newlines and backslashes in mount points, drops excluded mount points and
 * filesystem types, and exposes each (device, mountpoint, fstype) once.
 */
#include "collect/collect_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- diskstats ---- */

#define DISKSTATS_EXCLUDE_DEFAULT "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme[0-9]+n[0-9]+p)[0-9]+$"

static const struct {
    const char    *name;
    const char    *help;
    collect_type_t type;
    double         scale;
} disk_fields[] = {
    /* In column order after "major minor name". */
    { "node_disk_reads_completed_total", "The total number of reads completed successfully.",
      COLLECT_COUNTER, 1 },
    { "node_disk_reads_merged_total", "The total number of reads merged.", COLLECT_COUNTER, 1 },
    { "node_disk_read_bytes_total", "The total number of bytes read successfully.",
      COLLECT_COUNTER, 512 },
    { "node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.",
      COLLECT_COUNTER, 0.001 },
    { "node_disk_writes_completed_total", "The total number of writes completed successfully.",
      COLLECT_COUNTER, 1 },
    { "node_disk_writes_merged_total", "The number of writes merged.", COLLECT_COUNTER, 1 },
    { "node_disk_written_bytes_total", "The total number of bytes written successfully.",
      COLLECT_COUNTER, 512 },
    { "node_disk_write_time_seconds_total",
      "This is the total number of seconds spent by all writes.", COLLECT_COUNTER, 0.001 },
    { "node_disk_io_now", "The number of I/Os currently in progress.", COLLECT_GAUGE, 1 },
    { "node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", COLLECT_COUNTER,
      0.001 },
    { "node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.",
      COLLECT_COUNTER, 0.001 },
    { "node_disk_discards_completed_total",
      "The total number of discards completed successfully.", COLLECT_COUNTER, 1 },
    { "node_disk_discards_merged_total", "The total number of discards merged.",
      COLLECT_COUNTER, 1 },
    { "node_disk_discarded_sectors_total", "The total number of sectors discarded successfully.",
      COLLECT_COUNTER, 1 },
    { "node_disk_discard_time_seconds_total",
      "This is the total number of seconds spent by all discards.", COLLECT_COUNTER, 0.001 },
    { "node_disk_flush_requests_total",
      "The total number of flush requests completed successfully", COLLECT_COUNTER, 1 },
    { "node_disk_flush_requests_time_seconds_total",
      "This is the total number of seconds spent by all flush requests.", COLLECT_COUNTER,
      0.001 },
};
#define N_DISK_FIELDS (sizeof(disk_fields) / sizeof(disk_fields[0]))

/* The pattern excludes devices. */
typedef collect_filtered_file_t diskstats_state_t;

static int diskstats_init(void **state, const collect_env_t *env, vigil_error_t *err)
{
    return collect_filtered_file_new(state, sizeof(diskstats_state_t), env,
                                     env->opts->diskstats_device_exclude,
                                     DISKSTATS_EXCLUDE_DEFAULT, "diskstats device exclude", err);
}

static int diskstats_run(void *state, collect_batch_t *b, vigil_error_t *err)
{
    diskstats_state_t *s = state;
    int rc = collect_file_read(&s->file, s->env->procfs, "diskstats", NULL, err);
    if (rc != 0)
        return rc;
    int fam[N_DISK_FIELDS];
    for (size_t i = 0; i < N_DISK_FIELDS; i++) {
        fam[i] = collect_batch_family(b, disk_fields[i].name, disk_fields[i].help,
                                      disk_fields[i].type);
        if (fam[i] < 0)
            return fam[i];
    }
    char *pos = s->file.data, *line;
    int lineno = 0;
    while ((line = collect_next_line(&pos)) != NULL) {
        lineno++;
        char *f[3 + N_DISK_FIELDS];
        size_t n = collect_split(line, f, 3 + N_DISK_FIELDS);
        if (n < 3 + 11)
            return vigil_error_set(err, VIGIL_EPARSE, "%s/diskstats:%d: %zu fields, want >= 14",
                                   s->env->procfs, lineno, n);
        const char *dev = f[2];
        bool excluded;
        rc = collect_pattern_match(&s->pattern, dev, &excluded);
        if (rc != 0)
            return rc;
        if (excluded)
            continue;
        for (size_t i = 0; i + 3 < n; i++) {
            double v;
            if (!collect_parse_u(f[3 + i], &v))
                return vigil_error_set(err, VIGIL_EPARSE, "%s/diskstats:%d: bad number \"%s\"",
                                       s->env->procfs, lineno, f[3 + i]);
            rc = collect_batch_add(b, fam[i], v * disk_fields[i].scale, "device", dev, NULL);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* One run; the pattern's regex, if this run compiled it, is freed after. */
static int diskstats_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    int rc = diskstats_run(state, b, err);
    collect_pattern_release(&((diskstats_state_t *)state)->pattern);
    return rc;
}

const collect_def_t collect_def_diskstats = {
    .name = "diskstats", .enabled = true,
    .init = diskstats_init, .collect = diskstats_collect, .destroy = collect_filtered_file_free,
};

/* ---- filesystem ---- */

/* Debian's prometheus-node-exporter 1.5 defaults (upstream's mount-point default is
 * "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"). */
#define FS_MOUNT_POINTS_EXCLUDE_DEFAULT \
    "^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
#define FS_TYPES_EXCLUDE_DEFAULT                                                         \
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|" \
    "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|"       \
    "squashfs|sysfs|tracefs)$"

typedef struct fs_seen {
    const char *device, *mountpoint, *fstype; /* slices of the file buffer, this run only */
} fs_seen_t;

typedef struct filesystem_state {
    const collect_env_t *env;
    collect_file_t       file;
    collect_pattern_t    mp_exclude;
    collect_pattern_t    type_exclude;
    fs_seen_t           *seen;
    size_t               nseen, capseen;
} filesystem_state_t;

static void filesystem_destroy(void *state)
{
    filesystem_state_t *s = state;
    if (s == NULL)
        return;
    collect_pattern_free(&s->mp_exclude);
    collect_pattern_free(&s->type_exclude);
    collect_file_free(&s->file);
    free(s->seen);
    free(s);
}

static int filesystem_init(void **state, const collect_env_t *env, vigil_error_t *err)
{
    filesystem_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "collect: no memory");
    const collect_options_t *o = env->opts;
    collect_file_init(&s->file);
    int rc = collect_pattern_init(&s->mp_exclude,
                                  o->filesystem_mount_points_exclude
                                      ? o->filesystem_mount_points_exclude
                                      : FS_MOUNT_POINTS_EXCLUDE_DEFAULT,
                                  "filesystem mount points exclude", err);
    if (rc == 0)
        rc = collect_pattern_init(&s->type_exclude,
                                  o->filesystem_fs_types_exclude ? o->filesystem_fs_types_exclude
                                                                 : FS_TYPES_EXCLUDE_DEFAULT,
                                  "filesystem fs types exclude", err);
    if (rc != 0) {
        filesystem_destroy(s);
        return rc;
    }
    s->env = env;
    *state = s;
    return 0;
}

/* Decodes the kernel's \ooo escapes (space \040, tab \011, newline \012, backslash \134) in
 * place; the result is never longer. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (const char *r = s; *r != '\0';) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

static bool has_option(const char *opts, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = opts; p != NULL; p = strchr(p, ',')) {
        if (*p == ',')
            p++;
        if (strncmp(p, opt, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    }
    return false;
}

/* True when (device, mountpoint, fstype) was already exposed this run; records it if not. */
static bool fs_already_seen(filesystem_state_t *s, const char *dev, const char *mp,
                            const char *type)
{
    for (size_t i = 0; i < s->nseen; i++)
        if (strcmp(s->seen[i].mountpoint, mp) == 0 && strcmp(s->seen[i].device, dev) == 0 &&
            strcmp(s->seen[i].fstype, type) == 0)
            return true;
    if (s->nseen == s->capseen) {
        size_t n = s->capseen ? s->capseen * 2 : 32;
        fs_seen_t *p = realloc(s->seen, n * sizeof(*p));
        if (p == NULL)
            return false; /* worst case a duplicate series, never a crash */
        s->seen = p;
        s->capseen = n;
    }
    s->seen[s->nseen++] = (fs_seen_t){ .device = dev, .mountpoint = mp, .fstype = type };
    return false;
}

enum { FS_SIZE, FS_FREE, FS_AVAIL, FS_FILES, FS_FILES_FREE, FS_RO, FS_ERROR, FS_NFAM };

static const struct {
    const char *name, *help;
} fs_fams[FS_NFAM] = {
    [FS_SIZE] = { "node_filesystem_size_bytes", "Filesystem size in bytes." },
    [FS_FREE] = { "node_filesystem_free_bytes", "Filesystem free space in bytes." },
    [FS_AVAIL] = { "node_filesystem_avail_bytes",
                   "Filesystem space available to non-root users in bytes." },
    [FS_FILES] = { "node_filesystem_files", "Filesystem total file nodes." },
    [FS_FILES_FREE] = { "node_filesystem_files_free", "Filesystem total free file nodes." },
    [FS_RO] = { "node_filesystem_readonly", "Filesystem read-only status." },
    [FS_ERROR] = { "node_filesystem_device_error",
                   "Whether an error occurred while getting statistics for the given device." },
};

static int filesystem_run(void *state, collect_batch_t *b, vigil_error_t *err)
{
    filesystem_state_t *s = state;
    const collect_env_t *env = s->env;
    bool missing;
    int rc = collect_file_read(&s->file, env->procfs, "1/mounts", &missing, NULL);
    if (rc != 0 && missing) /* no PID 1 view (hidepid, a bare fixture): our own mounts */
        rc = collect_file_read(&s->file, env->procfs, "mounts", NULL, err);
    else if (rc != 0)
        rc = collect_file_read(&s->file, env->procfs, "1/mounts", NULL, err);
    if (rc != 0)
        return rc;
    int fam[FS_NFAM];
    for (int i = 0; i < FS_NFAM; i++) {
        fam[i] = collect_batch_family(b, fs_fams[i].name, fs_fams[i].help, COLLECT_GAUGE);
        if (fam[i] < 0)
            return fam[i];
    }
    bool strip = strcmp(env->rootfs, "/") != 0;
    size_t rootlen = strlen(env->rootfs);
    while (strip && rootlen > 1 && env->rootfs[rootlen - 1] == '/')
        rootlen--;
    s->nseen = 0;
    char *pos = s->file.data, *line;
    while ((line = collect_next_line(&pos)) != NULL) {
        char *f[4];
        if (collect_split(line, f, 4) < 4)
            continue;
        char *dev = f[0], *mp = f[1], *type = f[2], *opts = f[3];
        unescape_octal(dev);
        unescape_octal(mp);
        /* Under --path.rootfs the label is the path inside the host, as node_exporter has it. */
        if (strip && strncmp(mp, env->rootfs, rootlen) == 0 &&
            (mp[rootlen] == '/' || mp[rootlen] == '\0')) {
            mp += rootlen;
            if (*mp == '\0')
                mp = (char *)"/";
        }
        bool excluded;
        rc = collect_pattern_match(&s->mp_exclude, mp, &excluded);
        if (rc == 0 && !excluded)
            rc = collect_pattern_match(&s->type_exclude, type, &excluded);
        if (rc != 0)
            return rc;
        if (excluded)
            continue;
        if (fs_already_seen(s, dev, mp, type))
            continue;
        collect_label_t labels[3] = {
            { "device", dev }, { "fstype", type }, { "mountpoint", mp },
        };
        char path[4096];
        collect_statfs_t st;
        int serr = collect_path(path, sizeof(path), env->rootfs, mp, NULL) != 0
                       ? -1
                       : collect_statfs(env, path, &st);
        rc = collect_batch_add_labels(b, fam[FS_ERROR], serr != 0, labels, 3);
        if (rc != 0)
            return rc;
        if (serr != 0) {
            log_debug(env->log, "collect", "statfs failed", LF_STR("mountpoint", mp),
                      LF_INT("errno", -serr));
            continue;
        }
        const double v[FS_NFAM] = {
            [FS_SIZE] = (double)st.blocks * (double)st.bsize,
            [FS_FREE] = (double)st.bfree * (double)st.bsize,
            [FS_AVAIL] = (double)st.bavail * (double)st.bsize,
            [FS_FILES] = (double)st.files,
            [FS_FILES_FREE] = (double)st.ffree,
            [FS_RO] = has_option(opts, "ro") ? 1 : 0,
        };
        for (int i = 0; i < FS_ERROR; i++) {
            rc = collect_batch_add_labels(b, fam[i], v[i], labels, 3);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* One run; the patterns' regexes, if this run compiled them, are freed after. */
static int filesystem_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    filesystem_state_t *s = state;
    int rc = filesystem_run(s, b, err);
    collect_pattern_release(&s->mp_exclude);
    collect_pattern_release(&s->type_exclude);
    return rc;
}

const collect_def_t collect_def_filesystem = {
    .name = "filesystem", .enabled = true,
    .init = filesystem_init, .collect = filesystem_collect, .destroy = filesystem_destroy,
};
