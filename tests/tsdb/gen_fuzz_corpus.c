/*
 * gen_fuzz_corpus.c - writes the seed corpora of the store's fuzz targets with the store's own
 * writers, so the seeds are what a real data directory holds (and change when the formats do):
 *
 *   OUT/tsdb_chunk/   chunks from chunk_append (counters, decimals, floats, NaN staleness
 *                     markers, jittered and wrapping timestamps), then truncated and
 *                     bit-flipped copies
 *   OUT/tsdb_wal/     a flag byte (fuzz/fuzz_tsdb_wal.c) + a WAL segment and a checkpoint
 *                     written by tsdb_open/append/compact; torn and flipped copies
 *   OUT/tsdb_block/   a flag byte (fuzz/fuzz_tsdb_block.c) + a block written by compaction;
 *                     truncated and flipped copies
 *
 * Usage: build-x/tests/tsdb_gen_fuzz_corpus fuzz/corpus   (not a test; run by hand when a
 * format changes, and commit the result). Deterministic: same output every run.
 */
#include "tsdb/chunk.h"
#include "tsdb/tsdb.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STALE_NAN_BITS UINT64_C(0x7ff0000000000002)

static void die(const char *what)
{
    fprintf(stderr, "gen_fuzz_corpus: %s\n", what);
    exit(1);
}

static void write_seed(const char *dir, const char *name, int flag, const uint8_t *p, size_t n)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        die(path);
    if (flag >= 0)
        fputc(flag, f);
    if (n > 0 && fwrite(p, 1, n, f) != n)
        die(path);
    fclose(f);
}

/* The seed itself, a copy cut in half, and a copy with one bit flipped at `flip` (fraction of
 * the length, so the flip lands in the part that matters for each kind). */
static void write_variants(const char *dir, const char *name, int flag, int fix_flag,
                           const uint8_t *p, size_t n, double flip)
{
    char nm[256];
    write_seed(dir, name, flag, p, n);
    snprintf(nm, sizeof(nm), "%s_truncated", name);
    write_seed(dir, nm, flag, p, n / 2);
    uint8_t *c = malloc(n ? n : 1);
    if (c == NULL)
        die("out of memory");
    memcpy(c, p, n);
    if (n > 0)
        c[(size_t)(flip * (double)(n - 1))] ^= 0x10;
    snprintf(nm, sizeof(nm), "%s_flipped", name);
    write_seed(dir, nm, fix_flag, c, n);
    free(c);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die(path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p == NULL || fread(p, 1, (size_t)sz, f) != (size_t)sz)
        die(path);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* ---- chunks ------------------------------------------------------------------------------ */

static double stale(void)
{
    uint64_t b = STALE_NAN_BITS;
    double   v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static void gen_chunks(const char *out)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/tsdb_chunk", out);
    mkdir(dir, 0755);
    uint64_t s = 88172645463325252ULL;
    for (int kind = 0; kind < 6; kind++) {
        chunk_appender_t a;
        chunk_appender_init(&a);
        int64_t t = 1795515474922;
        double  v = 0;
        for (int i = 0; i < 120; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            switch (kind) {
            case 0: v = 42; break;                                   /* constant */
            case 1: v += (double)(1000 + s % 50); break;             /* byte counter */
            case 2: v = round(v * 100 + 97 + (double)(s % 4)) / 100; /* centiseconds */
                    break;
            case 3: v = (double)(s >> 11) / 9007199254740992.0; break; /* random float */
            case 4: v = i % 10 == 9 ? stale() : (i % 3 == 0 ? -0.0 : 1.5e300); break;
            default: v = -1e-7 * i; break;
            }
            /* Scrape jitter on some samples; the last kind wraps around the int64 range. */
            t += kind == 5 ? INT64_C(4611686018427387904) : 1000 + (s % 7 == 0 ? (int64_t)(s % 5) - 2 : 0);
            if (chunk_append(&a, t, v) != 0)
                die("chunk_append");
        }
        size_t         n;
        const uint8_t *p = chunk_appender_bytes(&a, &n);
        char           name[64];
        snprintf(name, sizeof(name), "chunk_kind%d", kind);
        write_variants(dir, name, -1, -1, p, n, 0.6);
        chunk_appender_free(&a);
    }
}

/* ---- WAL and blocks ---------------------------------------------------------------------- */

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[4200];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* The file in `dir` whose name satisfies `want`, as a path; false when none. */
static bool find_file(const char *dir, const char *prefix, const char *suffix, char *out,
                      size_t size)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    struct dirent *e;
    bool           found = false;
    while (!found && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && l >= sl &&
            strcmp(e->d_name + l - sl, suffix) == 0 && e->d_name[0] != '.') {
            snprintf(out, size, "%s/%s", dir, e->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

/* Three small series of host-like data every `step_ms` over [0, end_ms). */
static void fill(tsdb_t *db, int64_t step_ms, int64_t end_ms)
{
    static const tsdb_label_t ls[3][3] = {
        {{"__name__", "node_cpu_seconds_total"}, {"cpu", "0"}, {"mode", "idle"}},
        {{"__name__", "node_memory_MemFree_bytes"}, {"instance", "h:9100"}, {"job", "node"}},
        {{"__name__", "node_load1"}, {"instance", "h:9100"}, {"job", "node"}},
    };
    tsdb_appender_t *a = tsdb_appender_new(db);
    if (a == NULL)
        die("appender");
    double cpu = 1000, mem = 4096.0 * 100000;
    int    k = 0;
    for (int64_t t = 0; t < end_ms; t += step_ms, k++) {
        cpu = round(cpu * 100 + 98 + (double)(k % 3)) / 100;
        mem += 4096.0 * (double)((k * 7919) % 64 - 32);
        double load = k % 17 == 16 ? stale() : (double)(k % 50) / 100;
        if (tsdb_appender_add(a, ls[0], 3, t, cpu, NULL, NULL) != 0 ||
            tsdb_appender_add(a, ls[1], 3, t, mem, NULL, NULL) != 0 ||
            tsdb_appender_add(a, ls[2], 3, t, load, NULL, NULL) != 0)
            die("append");
        if (k % 5 == 4 && tsdb_appender_commit(a, TSDB_ASYNC, NULL) != 0)
            die("commit");
    }
    if (tsdb_appender_commit(a, TSDB_SYNC, NULL) != 0)
        die("commit");
    tsdb_appender_free(a);
}

static void gen_wal_and_blocks(const char *out)
{
    char wdir[4200], bdir[4200], tmp[] = "/tmp/vigil-gen-corpus-XXXXXX", path[4300];
    snprintf(wdir, sizeof(wdir), "%s/tsdb_wal", out);
    snprintf(bdir, sizeof(bdir), "%s/tsdb_block", out);
    mkdir(wdir, 0755);
    mkdir(bdir, 0755);

    /* A plain segment: series records, samples records, chunk records (300 samples a series:
     * chunks cut at 120 and 240) and an out-of-order samples record. */
    if (mkdtemp(tmp) == NULL)
        die("mkdtemp");
    tsdb_options_t o = {.dir = tmp, .compact_interval_ms = UINT32_MAX, .ooo_window_ms = 600000};
    tsdb_t        *db;
    if (tsdb_open(&db, &o, NULL, NULL) != 0)
        die("tsdb_open");
    fill(db, 1000, 300000);
    const tsdb_label_t late[3] = {{"__name__", "node_load1"}, {"instance", "h:9100"},
                                  {"job", "node"}};
    if (tsdb_append(db, late, 3, 150500, 0.25, NULL) != 0)
        die("out-of-order append");
    tsdb_close(db);
    char waldir[4300];
    snprintf(waldir, sizeof(waldir), "%s/wal", tmp);
    size_t   n;
    uint8_t *p;
    if (!find_file(waldir, "0000", "", path, sizeof(path)))
        die("no segment");
    p = read_all(path, &n);
    write_variants(wdir, "segment", 0, 1, p, n, 0.7);
    write_seed(wdir, "segment_fixed", 1, p, n);
    free(p);
    rm_tree(tmp);

    /* A checkpoint (series + chunk records) and a block: 3 h 10 min of data at 1 min, then one
     * compaction writes [0, 2 h) to a block and checkpoints the rest. */
    snprintf(tmp, sizeof(tmp), "/tmp/vigil-gen-corpus-XXXXXX");
    if (mkdtemp(tmp) == NULL)
        die("mkdtemp");
    if (tsdb_open(&db, &o, NULL, NULL) != 0)
        die("tsdb_open");
    fill(db, 60000, (3 * 60 + 10) * 60000);
    if (tsdb_compact(db, NULL) != 0)
        die("tsdb_compact");
    tsdb_close(db);
    snprintf(waldir, sizeof(waldir), "%s/wal", tmp);
    if (!find_file(waldir, "checkpoint.", "", path, sizeof(path)))
        die("no checkpoint");
    p = read_all(path, &n);
    write_variants(wdir, "checkpoint", 2, 3, p, n, 0.5);
    free(p);
    char blkdir[4300];
    snprintf(blkdir, sizeof(blkdir), "%s/blocks", tmp);
    if (!find_file(blkdir, "", ".vblk", path, sizeof(path)))
        die("no block");
    p = read_all(path, &n);
    write_variants(bdir, "block", 0, 1, p, n, 0.3);
    write_seed(bdir, "block_fixed", 1, p, n);
    free(p);
    rm_tree(tmp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR   (e.g. fuzz/corpus)\n", argv[0]);
        return 2;
    }
    gen_chunks(argv[1]);
    gen_wal_and_blocks(argv[1]);
    return 0;
}
