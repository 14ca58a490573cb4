/*
 * proctree.c - process-tree readings for `vigil wrap` (proctree.h).
 *
 * A reading lists procfs once, reads each process's stat for its parent, then walks down from
 * the root by repeated passes over the pid-sorted list: a tree of depth d costs d passes of
 * n log n, and job trees are shallow. Only members' io files are opened.
 */
#include "agent/proctree.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct proc_ent {
    pid_t    pid, ppid;
    double   cpu;
    uint64_t rss;
    bool     member;
} proc_ent_t;

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = ((const proc_ent_t *)a)->pid, y = ((const proc_ent_t *)b)->pid;
    return (x > y) - (x < y);
}

static bool read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n > 0;
}

/* Parses /proc/PID/stat: the fields after the command name (which may hold spaces and
 * parentheses, hence the last ')'). */
static bool read_stat(const char *procfs, pid_t pid, long ticks, long page, proc_ent_t *e)
{
    char path[4200], buf[1024];
    snprintf(path, sizeof(path), "%s/%d/stat", procfs, (int)pid);
    if (!read_small(path, buf, sizeof(buf)))
        return false;
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return false;
    /* after ") ": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17) ... rss(24) */
    unsigned long long f[25] = { 0 };
    p += 2;
    int field = 3;
    char *save;
    for (char *tok = strtok_r(p, " ", &save); tok != NULL && field <= 24;
         tok = strtok_r(NULL, " ", &save), field++)
        f[field] = field == 3 ? 0 : strtoull(tok, NULL, 10);
    if (field <= 24)
        return false;
    e->pid = pid;
    e->ppid = (pid_t)f[4];
    e->cpu = (double)(f[14] + f[15] + f[16] + f[17]) / (double)ticks;
    e->rss = f[24] * (uint64_t)page;
    return true;
}

static void read_io(const char *procfs, pid_t pid, proctree_sample_t *out)
{
    char path[4200], buf[1024];
    snprintf(path, sizeof(path), "%s/%d/io", procfs, (int)pid);
    if (!read_small(path, buf, sizeof(buf)))
        return;
    char *save;
    for (char *line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        unsigned long long v;
        if (sscanf(line, "read_bytes: %llu", &v) == 1)
            out->read_bytes += v;
        else if (sscanf(line, "write_bytes: %llu", &v) == 1)
            out->write_bytes += v;
    }
}

int proctree_sample(const char *procfs, pid_t root, pid_t *pids, size_t cap,
                    proctree_sample_t *out, vigil_error_t *err)
{
    memset(out, 0, sizeof(*out));
    DIR *d = opendir(procfs);
    if (d == NULL)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", procfs, strerror(errno));
    long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    size_t n = 0, alloc = 256;
    proc_ent_t *ents = malloc(alloc * sizeof(*ents));
    int rc = ents != NULL ? 0 : vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        if (n == alloc) {
            proc_ent_t *g = realloc(ents, 2 * alloc * sizeof(*ents));
            if (g == NULL) {
                rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
                break;
            }
            ents = g;
            alloc *= 2;
        }
        proc_ent_t e = { 0 };
        if (read_stat(procfs, (pid_t)atoi(de->d_name), ticks, page, &e))
            ents[n++] = e;
    }
    closedir(d);
    if (rc != 0) {
        free(ents);
        return rc;
    }
    /* Mark the root, then whoever has a marked parent, until nothing changes: sorted by pid,
     * each parent is a binary search away. */
    qsort(ents, n, sizeof(*ents), cmp_pid);
    bool changed = false;
    for (size_t i = 0; i < n; i++)
        if (ents[i].pid == root)
            changed = ents[i].member = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            if (ents[i].member)
                continue;
            proc_ent_t key = { .pid = ents[i].ppid };
            proc_ent_t *parent = bsearch(&key, ents, n, sizeof(*ents), cmp_pid);
            if (parent != NULL && parent->member)
                ents[i].member = changed = true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!ents[i].member)
            continue;
        if (pids != NULL && out->n_procs < cap)
            pids[out->n_procs] = ents[i].pid;
        out->n_procs++;
        out->cpu_seconds += ents[i].cpu;
        out->rss_bytes += ents[i].rss;
        read_io(procfs, ents[i].pid, out);
    }
    free(ents);
    return 0;
}
