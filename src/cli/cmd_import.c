/*
 * cmd_import.c - `vigil import openmetrics FILE --data DIR`: bulk import of an OpenMetrics file
 * into the data directory of a stopped agent, as `promtool tsdb create-blocks-from openmetrics
 * FILE DIR` does for Prometheus.
 *
 * It takes the data directory's lock (so it refuses a directory a running agent holds), opens
 * the store there, appends every sample of FILE (samples without a timestamp get the current
 * time) and commits with TSDB_SYNC, so everything counted as imported is in the fsynced WAL;
 * the next `vigil run` on DIR replays it and compacts it into blocks. Each series' samples
 * must come in time order, as in any valid OpenMetrics file.
 *
 * Exit 0 when every sample was stored; 1 when the file is unreadable or malformed (nothing is
 * stored; the error has line:col), the directory is locked or unusable, or the store refused
 * some samples (the others are stored; the count and the first reason are printed); 2 for a
 * usage error.
 */
#include "cli/cli.h"

#include "agent/datadir.h"
#include "agent/ingest.h"
#include "tsdb/tsdb.h"
#include "util/buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The largest file imported in one go: it is parsed whole before anything is stored. */
#define IMPORT_MAX_FILE ((size_t)8 << 30)

static int usage(const char *fmt, const char *arg)
{
    return cli_usage_error(cli_find("import"), fmt, arg);
}

/* Reads the whole file into `out`. 0, or 1 after printing why not. */
static int read_file(const char *path, buf_t *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "vigil: import: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    char chunk[1 << 16];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(out, chunk, n);
    bool failed = rc != 0 || ferror(f);
    if (f != stdin)
        fclose(f);
    if (failed) {
        fprintf(stderr, "vigil: import: cannot read %s: %s\n", path,
                rc != 0 ? vigil_strerror(rc) : "read error");
        return 1;
    }
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cmd_import_openmetrics(int argc, char **argv)
{
    const char *file = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0) {
            if (i + 1 >= argc)
                return usage("import openmetrics: %s needs a directory", argv[i]);
            dir = argv[++i];
        } else if (strncmp(argv[i], "--data=", 7) == 0) {
            dir = argv[i] + 7;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage("import openmetrics: unknown flag '%s'", argv[i]);
        } else if (file == NULL) {
            file = argv[i];
        } else {
            return usage("import openmetrics: unexpected argument '%s'", argv[i]);
        }
    }
    if (file == NULL || dir == NULL)
        return usage("import openmetrics: FILE and --data DIR are required%s", "");

    int status = 1;
    buf_t in;
    buf_init(&in, IMPORT_MAX_FILE);
    if (read_file(file, &in) != 0)
        goto out_buf;

    vigil_error_t err;
    datadir_t dd = { .path = NULL, .lock_fd = -1 };
    int rc = datadir_open(&dd, dir, &err);
    if (rc != 0) {
        fprintf(stderr, "vigil: import: %s%s\n", err.message,
                rc == VIGIL_EBUSY ? "; stop the agent before importing" : "");
        goto out_buf;
    }
    /* No compactor while importing: the next `vigil run` compacts what landed in the head. */
    tsdb_options_t to = { .dir = dd.path, .compact_interval_ms = UINT32_MAX };
    tsdb_t *db;
    if (tsdb_open(&db, &to, NULL, &err) != 0) {
        fprintf(stderr, "vigil: import: %s\n", err.message);
        goto out_datadir;
    }
    tsdb_stats_t before, after;
    tsdb_stats(db, &before);
    ingest_options_t io = { .format = EXPFMT_OPENMETRICS, .mode = EXPFMT_LENIENT,
                            .default_time_ms = wall_ms(), .durability = TSDB_SYNC };
    ingest_result_t res;
    rc = ingest_exposition(db, in.data != NULL ? in.data : "", in.len, &io, &res, &err);
    tsdb_stats(db, &after);
    if (rc == VIGIL_EPARSE) {
        fprintf(stderr, "vigil: import: %s:%s (nothing imported)\n", file, err.message);
    } else if (rc != 0) {
        fprintf(stderr, "vigil: import: %s\n", err.message);
    } else {
        printf("imported %zu samples, %llu new series from %s into %s\n", res.samples,
               (unsigned long long)(after.series - before.series), file, dd.path);
        if (res.rejected > 0)
            fprintf(stderr, "vigil: import: %zu samples rejected, the others are stored; "
                            "first: %s\n", res.rejected, res.first_reject.message);
        else
            status = 0;
    }
    tsdb_close(db);
out_datadir:
    datadir_close(&dd);
out_buf:
    buf_free(&in);
    return status;
}
