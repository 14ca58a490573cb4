/*
 * host.c - procfs and statfs readers (see host.h).
 */
#include "host/host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

int host_read_file(const char *procfs, const char *rel, char *buf, size_t cap, size_t *len,
                   vigil_error_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", procfs, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(errno));
    size_t used = 0;
    while (used + 1 < cap) {
        ssize_t n = read(fd, buf + used, cap - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(e));
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    *len = used;
    return 0;
}

long host_count_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Finds "Key:" at the start of a line of a meminfo-style text and returns its value in kB
 * converted to bytes, or -1 when absent. */
static int64_t meminfo_field(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *end;
            unsigned long long kb = strtoull(line + klen + 1, &end, 10);
            if (end == line + klen + 1)
                return -1;
            return (int64_t)(kb * 1024);
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

int host_read_memory(const char *procfs, host_memory_t *out, vigil_error_t *err)
{
    char buf[8192];
    size_t len;
    int rc = host_read_file(procfs, "meminfo", buf, sizeof(buf), &len, err);
    if (rc != 0)
        return rc;
    int64_t total = meminfo_field(buf, "MemTotal");
    int64_t avail = meminfo_field(buf, "MemAvailable");
    if (total < 0 || avail < 0)
        return vigil_error_set(err, VIGIL_EPARSE, "%s/meminfo: no %s line", procfs,
                               total < 0 ? "MemTotal" : "MemAvailable");
    out->total_bytes = (uint64_t)total;
    out->available_bytes = (uint64_t)avail;
    return 0;
}

int host_read_cpu_times(const char *procfs, host_cpu_times_t *out, vigil_error_t *err)
{
    char buf[4096]; /* the aggregate line comes first; the rest may be cut off */
    size_t len;
    int rc = host_read_file(procfs, "stat", buf, sizeof(buf), &len, err);
    if (rc != 0)
        return rc;
    if (strncmp(buf, "cpu ", 4) != 0)
        return vigil_error_set(err, VIGIL_EPARSE, "%s/stat:1:1: expected the \"cpu\" line",
                               procfs);
    /* user nice system idle iowait irq softirq steal guest guest_nice */
    uint64_t v[10] = { 0 };
    const char *p = buf + 4;
    int n = 0;
    for (; n < 10; n++) {
        char *end;
        v[n] = strtoull(p, &end, 10);
        if (end == p)
            break;
        p = end;
    }
    if (n < 4)
        return vigil_error_set(err, VIGIL_EPARSE, "%s/stat:1: cpu line has %d fields, want >= 4",
                               procfs, n);
    out->idle = v[3] + v[4];
    out->total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    return 0;
}

double host_cpu_busy_percent(const host_cpu_times_t *before, const host_cpu_times_t *after)
{
    if (after->total <= before->total)
        return 0.0;
    double total = (double)(after->total - before->total);
    double idle = after->idle >= before->idle ? (double)(after->idle - before->idle) : 0.0;
    double busy = 100.0 * (total - idle) / total;
    return busy < 0 ? 0 : busy;
}

int host_read_fs_usage(const char *path, host_fs_usage_t *out, vigil_error_t *err)
{
    struct statvfs st;
    if (statvfs(path, &st) != 0)
        return vigil_error_set(err, VIGIL_EIO, "statvfs %s: %s", path, strerror(errno));
    out->size_bytes = (uint64_t)st.f_blocks * st.f_frsize;
    out->free_bytes = (uint64_t)st.f_bfree * st.f_frsize;
    out->avail_bytes = (uint64_t)st.f_bavail * st.f_frsize;
    return 0;
}

double host_fs_used_percent(const host_fs_usage_t *fs)
{
    uint64_t used = fs->size_bytes - fs->free_bytes;
    uint64_t denom = used + fs->avail_bytes;
    return denom == 0 ? 0.0 : 100.0 * (double)used / (double)denom;
}
