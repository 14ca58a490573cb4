/*
 * cmd_tsdb.c - `vigil tsdb stats --data DIR`: what a stopped agent's data directory holds:
 * series, samples, the time range, blocks, WAL, bytes on disk and bytes per sample.
 *
 * Opening the store replays the WAL, so this takes the data directory's lock like the agent
 * and refuses a directory a running agent holds (ask that agent's /api/v1/status/tsdb
 * instead). Series and samples are counted exactly by reading every series over all time
 * (blocks and head merged, a series in several places counted once); bytes on disk are the
 * sizes of every file under DIR. Nothing is written (no compaction runs), except that a torn
 * WAL tail is cut as at any start. Exit 0, 1 when the directory cannot be read or is locked,
 * 2 for a usage error.
 */
#include "cli/cli.h"

#include "agent/datadir.h"
#include "tsdb/tsdb.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int usage(const char *fmt, const char *arg)
{
    return cli_usage_error(cli_find("tsdb"), fmt, arg);
}

/* Sums the sizes of the regular files below `path` (no symlinks followed), counting files. */
static uint64_t disk_bytes(const char *path, uint64_t *files)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char child[4096];
        if ((size_t)snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >= sizeof(child))
            continue;
        struct stat st;
        if (lstat(child, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            total += disk_bytes(child, files);
        } else if (S_ISREG(st.st_mode)) {
            total += (uint64_t)st.st_size;
            if (files != NULL)
                (*files)++;
        }
    }
    closedir(d);
    return total;
}

/* Counts every series and sample over all time. 0 or the store's error code. */
static int count_all(tsdb_t *db, uint64_t *series, uint64_t *samples, int64_t *mint,
                     int64_t *maxt, vigil_error_t *err)
{
    tsdb_matcher_t any = { TSDB_MATCH_RE, "__name__", ".+" };
    tsdb_series_set_t *set;
    int rc = tsdb_select(db, &any, 1, INT64_MIN / 2, INT64_MAX / 2, &set, err);
    if (rc != 0)
        return rc;
    *series = tsdb_series_set_len(set);
    *samples = 0;
    *mint = INT64_MAX;
    *maxt = INT64_MIN;
    for (size_t i = 0; i < *series; i++) {
        tsdb_iter_t *it;
        if (tsdb_iter_open(set, i, &it) != 0) {
            rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
            break;
        }
        int64_t t;
        double v;
        while (tsdb_iter_next(it, &t, &v)) {
            (*samples)++;
            if (t < *mint)
                *mint = t;
            if (t > *maxt)
                *maxt = t;
        }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    return rc;
}

static void print_time(const char *label, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[64];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    printf("%-16s %s.%03dZ (%" PRId64 ")\n", label, buf, (int)(ms % 1000), ms);
}

int cmd_tsdb_stats(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strncmp(argv[i], "--data=", 7) == 0)
            dir = argv[i] + 7;
        else
            return usage("tsdb stats: unexpected argument '%s'", argv[i]);
    }
    if (dir == NULL)
        return usage("tsdb stats: --data DIR is required%s", "");
    struct stat st;
    errno = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "vigil: tsdb stats: %s is not a data directory: %s\n", dir,
                errno != 0 ? strerror(errno) : "not a directory");
        return 1;
    }
    vigil_error_t err;
    datadir_t dd = { .path = NULL, .lock_fd = -1 };
    int rc = datadir_open(&dd, dir, &err);
    if (rc != 0) {
        fprintf(stderr, "vigil: tsdb stats: %s%s\n", err.message,
                rc == VIGIL_EBUSY ? "; ask the running agent's /api/v1/status/tsdb instead" : "");
        return 1;
    }
    int status = 1;
    tsdb_options_t to = { .dir = dd.path, .compact_interval_ms = UINT32_MAX };
    tsdb_t *db;
    if (tsdb_open(&db, &to, NULL, &err) != 0) {
        fprintf(stderr, "vigil: tsdb stats: %s\n", err.message);
        goto out_datadir;
    }
    uint64_t series, samples;
    int64_t mint, maxt;
    if (count_all(db, &series, &samples, &mint, &maxt, &err) != 0) {
        fprintf(stderr, "vigil: tsdb stats: %s\n", err.message);
        goto out_close;
    }
    tsdb_stats_t ts;
    tsdb_stats(db, &ts);
    char wal_dir[4200];
    snprintf(wal_dir, sizeof(wal_dir), "%s/wal", dd.path);
    uint64_t wal_files = 0, files = 0;
    uint64_t wal = disk_bytes(wal_dir, &wal_files);
    uint64_t total = disk_bytes(dd.path, &files);

    printf("%-16s %s\n", "data directory", dd.path);
    printf("%-16s %" PRIu64 "\n", "series", series);
    printf("%-16s %" PRIu64 "\n", "samples", samples);
    if (samples > 0) {
        print_time("oldest sample", mint);
        print_time("newest sample", maxt);
    }
    printf("%-16s %" PRIu64 " series, %" PRIu64 " samples\n", "head", ts.series, ts.samples);
    printf("%-16s %" PRIu64 " (%" PRIu64 " bytes)\n", "blocks", ts.blocks, ts.block_bytes);
    printf("%-16s %" PRIu64 " bytes in %" PRIu64 " files\n", "wal", wal, wal_files);
    printf("%-16s %" PRIu64 " in %" PRIu64 " files\n", "bytes on disk", total, files);
    if (samples > 0)
        printf("%-16s %.3f\n", "bytes/sample", (double)total / (double)samples);
    else
        printf("%-16s -\n", "bytes/sample");
    status = 0;
out_close:
    tsdb_close(db);
out_datadir:
    datadir_close(&dd);
    return status;
}
