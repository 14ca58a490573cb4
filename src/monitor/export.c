/*
 * export.c - the JSON export files of the monitoring manager (seed 000 "JSON Export").
 *
 * File format (the full schema is docs/format/monitor-json-export.md):
 *   name     <json_export_path>/metrics_YYYYMMDD_HHMMSS.json, the UTC time of the snapshot
 *   content  one JSON object, UTF-8, "version": 1 at the top; fields are only ever added
 *   write    to <dir>/.metrics_YYYYMMDD_HHMMSS.json.tmp-XXXXXX (mkostemp), fsync, rename
 *            over the final name, fsync the directory: a reader sees the previous file set
 *            or the new file whole, never a torn one; a crash leaves at most a dot-file
 *            temporary, which a later prune deletes once it is past the retention
 *   prune    files named metrics_YYYYMMDD_HHMMSS.json (and leftover temporaries) whose name
 *            time is older than the retention are deleted; nothing else in the directory is
 *            touched, so pointing the export at a shared directory is safe
 * Two snapshots in the same second share a name: the later replaces the earlier, atomically.
 */
#include "vigil/monitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Creates `dir` and its missing parents (mkdir -p). */
static int mkdir_p(const char *dir, vigil_error_t *err)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return vigil_error_set(err, VIGIL_EINVAL, "%s: path too long", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return vigil_error_set(err, VIGIL_EIO, "mkdir %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return vigil_error_set(err, VIGIL_EIO, "mkdir %s: %s", path, strerror(errno));
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int vigil_monitor_export_write(const char *dir, time_t now, const char *json, size_t len,
                               char *path_out, size_t cap, vigil_error_t *err)
{
    int rc = mkdir_p(dir, err);
    if (rc != 0)
        return rc;
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32], final_path[4096], tmp_path[4096];
    strftime(stamp, sizeof(stamp), "%Y%m%d_%H%M%S", &tm);
    int a = snprintf(final_path, sizeof(final_path), "%s/metrics_%s.json", dir, stamp);
    int b = snprintf(tmp_path, sizeof(tmp_path), "%s/.metrics_%s.json.tmp-XXXXXX", dir, stamp);
    if (a >= (int)sizeof(final_path) || b >= (int)sizeof(tmp_path))
        return vigil_error_set(err, VIGIL_EINVAL, "%s: path too long", dir);
    /* mkostemp gives each concurrent writer (the periodic task, an explicit export, another
     * process) its own temporary. */
    int fd = mkostemp(tmp_path, O_CLOEXEC);
    if (fd < 0)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", tmp_path, strerror(errno));
    if (fchmod(fd, 0644) != 0 || write_all(fd, json, len) != 0 || fsync(fd) != 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "%s: %s", tmp_path, strerror(errno));
        close(fd);
        goto out_unlink;
    }
    if (close(fd) != 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "%s: %s", tmp_path, strerror(errno));
        goto out_unlink;
    }
    if (rename(tmp_path, final_path) != 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "rename %s: %s", final_path, strerror(errno));
        goto out_unlink;
    }
    /* The rename is durable only once the directory entry is. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (path_out != NULL && cap > 0)
        snprintf(path_out, cap, "%s", final_path);
    return 0;

out_unlink:
    unlink(tmp_path);
    return rc;
}

/* The time in an export file's name, for "metrics_YYYYMMDD_HHMMSS.json" and the temporaries
 * ".metrics_YYYYMMDD_HHMMSS.json.tmp-..."; false for any other name. */
static bool name_time(const char *name, time_t *out)
{
    const char *p;
    if (strncmp(name, "metrics_", 8) == 0)
        p = name + 8;
    else if (strncmp(name, ".metrics_", 9) == 0)
        p = name + 9;
    else
        return false;
    for (int i = 0; i < 15; i++)
        if (i == 8 ? p[i] != '_' : (p[i] < '0' || p[i] > '9'))
            return false;
    bool tmp = name[0] == '.';
    if (tmp ? strncmp(p + 15, ".json.tmp-", 10) != 0 : strcmp(p + 15, ".json") != 0)
        return false;
    struct tm tm = { 0 };
    tm.tm_year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0') -
                 1900;
    tm.tm_mon = (p[4] - '0') * 10 + (p[5] - '0') - 1;
    tm.tm_mday = (p[6] - '0') * 10 + (p[7] - '0');
    tm.tm_hour = (p[9] - '0') * 10 + (p[10] - '0');
    tm.tm_min = (p[11] - '0') * 10 + (p[12] - '0');
    tm.tm_sec = (p[13] - '0') * 10 + (p[14] - '0');
    *out = timegm(&tm);
    return *out != (time_t)-1;
}

int vigil_monitor_export_prune(const char *dir, time_t now, double retention_s,
                               vigil_error_t *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", dir, strerror(errno));
    int deleted = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        time_t t;
        if (!name_time(de->d_name, &t) || !((double)(now - t) > retention_s))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            deleted++;
    }
    closedir(d);
    return deleted;
}
