/*
 * Unit tests of blocks, compaction, checkpoints and retention: a head range written to a
 * block reads back exactly (copied and re-encoded chunks alike), queries merge block and head,
 * late samples for a compacted range are refused, a restart maps the block and replays the
 * checkpoint (old segments gone), a damaged block is moved aside, retention deletes old
 * blocks, and a series set alive during compaction still sees everything.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsdb/block.h"
#include "tsdb/tsdb.h"
#include "tmpdir.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define L(n, v) ((tsdb_label_t){(n), (v)})
#define H       (3600 * 1000LL)
#define SERIES  12

static tsdb_t *open_db(const char *dir, int64_t retention_ms)
{
    tsdb_options_t o = {.dir = dir, .compact_interval_ms = UINT32_MAX, .ooo_window_ms = 60000,
                        .retention_ms = retention_ms};
    tsdb_t        *db;
    vigil_error_t  err;
    if (tsdb_open(&db, &o, NULL, &err) != 0)
        fail_msg("tsdb_open: %s", err.message);
    return db;
}

/* Value of series i at t: distinct per series, exact in every encoding path. */
static double val(int i, int64_t t)
{
    return i % 3 == 0 ? 42.0 : i % 3 == 1 ? (double)(t / 1000) : (double)(t / 1000) * 0.01 + i;
}

/* 3 h (and one sample) at 10 s for SERIES series (series 5 stops at 1 h: it ends up only in the block), with
 * out-of-order samples (the odd 5-second marks) in the first hour of series 7. */
static void fill(tsdb_t *db)
{
    tsdb_appender_t *a = tsdb_appender_new(db);
    char             inst[SERIES][8];
    for (int64_t t = 0; t <= 3 * H; t += 10000) {
        for (int i = 0; i < SERIES; i++) {
            if (i == 5 && t >= H)
                continue;
            snprintf(inst[i], sizeof(inst[i]), "i%02d", i);
            tsdb_label_t ls[3] = {L("__name__", i % 2 ? "odd" : "even"), L("instance", inst[i]),
                                  L("job", i < 6 ? "a" : "b")};
            assert_int_equal(tsdb_appender_add(a, ls, 3, t, val(i, t), NULL, NULL), 0);
            if (i == 7 && t > 0 && t < H)
                assert_int_equal(tsdb_appender_add(a, ls, 3, t - 5000, val(i, t - 5000), NULL,
                                                   NULL), 0);
        }
        assert_int_equal(tsdb_appender_commit(a, TSDB_ASYNC, NULL), 0);
    }
    tsdb_appender_free(a);
}

/* Reads every series over [mint, maxt] and checks each sample against val(); returns the
 * total number of samples. */
static long check_all(tsdb_t *db, int64_t mint, int64_t maxt)
{
    tsdb_matcher_t     m = {TSDB_MATCH_RE, "instance", "i.*"};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, mint, maxt, &set, NULL), 0);
    long total = 0;
    char prevl[64] = "";
    for (size_t s = 0; s < tsdb_series_set_len(set); s++) {
        int i = atoi(tsdb_series_label(set, s, "instance") + 1);
        char cur[64];
        snprintf(cur, sizeof(cur), "%s/%s", tsdb_series_label(set, s, "__name__"),
                 tsdb_series_label(set, s, "instance"));
        assert_true(strcmp(prevl, cur) < 0); /* sorted by label set, each once */
        strcpy(prevl, cur);
        tsdb_iter_t *it;
        assert_int_equal(tsdb_iter_open(set, s, &it), 0);
        int64_t t, prev = INT64_MIN;
        double  v;
        while (tsdb_iter_next(it, &t, &v)) {
            assert_true(t > prev);
            assert_true(t >= mint && t <= maxt);
            if (v != val(i, t))
                fail_msg("series %d at %lld: %g != %g", i, (long long)t, v, val(i, t));
            prev = t;
            total++;
        }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    return total;
}

/* Samples fill() writes in [mint, maxt]. */
static long expected(int64_t mint, int64_t maxt)
{
    long n = 0;
    for (int64_t t = 0; t <= 3 * H; t += 10000)
        for (int i = 0; i < SERIES; i++) {
            if (i == 5 && t >= H)
                continue;
            n += t >= mint && t <= maxt;
            if (i == 7 && t > 0 && t < H)
                n += t - 5000 >= mint && t - 5000 <= maxt;
        }
    return n;
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    int  n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name), ls = strlen(suffix);
        n += l >= ls && strcmp(e->d_name + l - ls, suffix) == 0 && e->d_name[0] != '.';
    }
    if (d)
        closedir(d);
    return n;
}

static void test_compact_and_reopen(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, 0);
    fill(db);
    assert_int_equal(check_all(db, INT64_MIN, INT64_MAX), expected(INT64_MIN, INT64_MAX));
    vigil_error_t err;
    assert_int_equal(tsdb_compact(db, &err), 0);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1); /* [0, 2h): the head spans 3 h, 1.5 ranges past 0 */
    assert_int_equal(st.block_series, SERIES);
    assert_int_equal(st.compactions, 1);
    assert_int_equal(st.head_min_valid, 2 * H);
    assert_int_equal(st.samples, (uint64_t)expected(2 * H, INT64_MAX));
    assert_int_equal(st.wal_checkpoints, 1);
    assert_int_equal(st.mint, 0);
    /* Reads across block and head, and inside each, see every sample exactly once. */
    assert_int_equal(check_all(db, INT64_MIN, INT64_MAX), expected(INT64_MIN, INT64_MAX));
    assert_int_equal(check_all(db, H / 2, 2 * H + H / 2), expected(H / 2, 2 * H + H / 2));
    assert_int_equal(check_all(db, 0, H - 1), expected(0, H - 1));
    /* Matchers select block-only series too; listings include them. */
    tsdb_matcher_t     m[2] = {{TSDB_MATCH_EQ, "job", "a"}, {TSDB_MATCH_NEQ, "__name__", "even"}};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, m, 2, 0, H, &set, NULL), 0);
    assert_int_equal(tsdb_series_set_len(set), 3); /* i01 i03 i05 */
    assert_string_equal(tsdb_series_label(set, 2, "instance"), "i05");
    tsdb_series_set_free(set);
    tsdb_strings_t sv;
    assert_int_equal(tsdb_label_values(db, "instance", NULL, 0, 0, H, 0, &sv, NULL), 0);
    assert_int_equal(sv.n, SERIES);
    tsdb_strings_free(&sv);
    /* Late samples for the compacted range are refused. */
    tsdb_label_t ls[3] = {L("__name__", "even"), L("instance", "i00"), L("job", "a")};
    assert_int_equal(tsdb_append(db, ls, 3, H, 1, &err), VIGIL_ERANGE);
    assert_non_null(strstr(err.message, "block"));
    /* Nothing more to do: a second pass writes nothing. */
    assert_int_equal(tsdb_compact(db, &err), 0);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    tsdb_close(db);

    char waldir[4200], blkdir[4200];
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    snprintf(blkdir, sizeof(blkdir), "%s/blocks", dir);
    assert_int_equal(count_files(waldir, "checkpoint.00000001"), 1);
    assert_int_equal(count_files(blkdir, ".vblk"), 1);

    db = open_db(dir, 0);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.wal_corruptions, 0);
    assert_int_equal(st.samples, (uint64_t)expected(2 * H, INT64_MAX));
    assert_int_equal(check_all(db, INT64_MIN, INT64_MAX), expected(INT64_MIN, INT64_MAX));
    /* New data after the restart, then another compaction and restart. */
    tsdb_appender_t *a = tsdb_appender_new(db);
    for (int64_t t = 3 * H; t <= 5 * H; t += 10000) /* 3h is a duplicate: ignored */
        assert_int_equal(tsdb_appender_add(a, ls, 3, t, val(0, t), NULL, NULL), 0);
    assert_int_equal(tsdb_appender_commit(a, TSDB_SYNC, NULL), 0);
    tsdb_appender_free(a);
    assert_int_equal(tsdb_compact(db, &err), 0);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    tsdb_close(db);
    db = open_db(dir, 0);
    assert_int_equal(check_all(db, INT64_MIN, INT64_MAX),
                     expected(INT64_MIN, INT64_MAX) + (2 * H) / 10000);
    tsdb_close(db);
}

static void test_corrupt_block_moved_aside(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, 0);
    fill(db);
    assert_int_equal(tsdb_compact(db, NULL), 0);
    tsdb_close(db);
    char path[4200];
    snprintf(path, sizeof(path), "%s/blocks/0-%lld.vblk", dir, 2 * H);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, 100), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, 100), 1);
    close(fd);
    db = open_db(dir, 0);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 0);
    strcat(path, ".corrupt");
    assert_int_equal(access(path, F_OK), 0);
    /* The rest is served: the head still has [2h, 3h). */
    assert_int_equal(check_all(db, 2 * H, INT64_MAX), expected(2 * H, INT64_MAX));
    tsdb_close(db);
}

static void test_retention(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, H); /* keep one hour */
    fill(db);
    assert_int_equal(tsdb_compact(db, NULL), 0);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    /* The block [0, 2h) ended an hour before the newest sample (3h): not kept. */
    assert_int_equal(st.blocks, 0);
    assert_int_equal(st.blocks_deleted, 1);
    char blkdir[4200];
    snprintf(blkdir, sizeof(blkdir), "%s/blocks", dir);
    assert_int_equal(count_files(blkdir, ".vblk"), 0);
    assert_int_equal(check_all(db, INT64_MIN, INT64_MAX), expected(2 * H, INT64_MAX));
    tsdb_close(db);
}

static void test_retention_by_size(void **state)
{
    const char    *dir = *state;
    tsdb_options_t o = {.dir = dir, .compact_interval_ms = UINT32_MAX, .retention_bytes = 1,
                        .ooo_window_ms = 60000};
    tsdb_t        *db;
    assert_int_equal(tsdb_open(&db, &o, NULL, NULL), 0);
    fill(db);
    assert_int_equal(tsdb_compact(db, NULL), 0);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 0); /* any block is over one byte */
    assert_int_equal(st.blocks_deleted, 1);
    tsdb_close(db);
}

/* A set created before compaction keeps seeing the head's copy until it is freed. */
static void *compact_main(void *arg)
{
    assert_int_equal(tsdb_compact(arg, NULL), 0);
    return NULL;
}

static void test_reader_during_compaction(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, 0);
    fill(db);
    tsdb_matcher_t     m = {TSDB_MATCH_RE, "instance", "i.*"};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
    pthread_t th;
    pthread_create(&th, NULL, compact_main, db);
    long total = 0;
    for (size_t s = 0; s < tsdb_series_set_len(set); s++) {
        tsdb_iter_t *it;
        assert_int_equal(tsdb_iter_open(set, s, &it), 0);
        int64_t t;
        double  v;
        while (tsdb_iter_next(it, &t, &v))
            total++;
        tsdb_iter_free(it);
    }
    assert_int_equal(total, expected(INT64_MIN, INT64_MAX));
    tsdb_series_set_free(set);
    pthread_join(th, NULL);
    assert_int_equal(check_all(db, INT64_MIN, INT64_MAX), expected(INT64_MIN, INT64_MAX));
    tsdb_close(db);
}

/* The crash window between a block's rename and the checkpoint: the block is on disk and the
 * WAL still holds its samples. Reproduced by copying the block into a copy of the data dir
 * taken before compaction. Reads must show every sample once. */
static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char   b[65536];
    size_t n;
    while ((n = fread(b, 1, sizeof(b), in)) > 0)
        assert_int_equal(fwrite(b, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void test_crash_between_block_and_checkpoint(void **state)
{
    const char *dir = *state;
    char        a[4200], b[4200], p[4300], q[4300];
    snprintf(a, sizeof(a), "%s/a", dir);
    snprintf(b, sizeof(b), "%s/b", dir);
    tsdb_t *db = open_db(a, 0);
    fill(db);
    tsdb_close(db);
    /* b = a before compaction (one WAL segment, no blocks yet). */
    assert_int_equal(mkdir(b, 0755), 0);
    snprintf(p, sizeof(p), "%s/wal", b);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/blocks", b);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/wal/00000001", a);
    snprintf(q, sizeof(q), "%s/wal/00000001", b);
    copy_file(p, q);
    db = open_db(a, 0);
    assert_int_equal(tsdb_compact(db, NULL), 0);
    tsdb_close(db);
    snprintf(p, sizeof(p), "%s/blocks/0-%lld.vblk", a, 2 * H);
    snprintf(q, sizeof(q), "%s/blocks/0-%lld.vblk", b, 2 * H);
    copy_file(p, q);
    db = open_db(b, 0);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.samples, (uint64_t)expected(2 * H, INT64_MAX)); /* the rest skipped */
    assert_int_equal(check_all(db, INT64_MIN, INT64_MAX), expected(INT64_MIN, INT64_MAX));
    tsdb_close(db);
}

/* Appenders keep writing new samples while compaction runs; none is lost. */
typedef struct app_arg {
    tsdb_t *db;
    int     id;
} app_arg_t;

static void *append_main(void *arg)
{
    app_arg_t       *x = arg;
    char             inst[16];
    tsdb_appender_t *a = tsdb_appender_new(x->db);
    snprintf(inst, sizeof(inst), "w%d", x->id);
    tsdb_label_t ls[2] = {L("__name__", "live"), L("instance", inst)};
    for (int64_t t = 3 * H + 1000; t <= 3 * H + 2000 * 1000; t += 1000) {
        assert_int_equal(tsdb_appender_add(a, ls, 2, t, (double)t, NULL, NULL), 0);
        if (t % 100000 == 0)
            assert_int_equal(tsdb_appender_commit(a, TSDB_ASYNC, NULL), 0);
    }
    assert_int_equal(tsdb_appender_commit(a, TSDB_SYNC, NULL), 0);
    tsdb_appender_free(a);
    return NULL;
}

static void test_append_during_compaction(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, 0);
    fill(db);
    pthread_t th[3];
    app_arg_t args[2] = {{db, 0}, {db, 1}};
    pthread_create(&th[0], NULL, append_main, &args[0]);
    pthread_create(&th[1], NULL, compact_main, db);
    pthread_create(&th[2], NULL, append_main, &args[1]);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    tsdb_close(db);
    db = open_db(dir, 0);
    tsdb_matcher_t     m = {TSDB_MATCH_EQ, "__name__", "live"};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
    assert_int_equal(tsdb_series_set_len(set), 2);
    for (size_t s = 0; s < 2; s++) {
        tsdb_iter_t *it;
        assert_int_equal(tsdb_iter_open(set, s, &it), 0);
        int64_t t;
        double  v;
        long    n = 0;
        while (tsdb_iter_next(it, &t, &v)) {
            assert_true(v == (double)t);
            n++;
        }
        assert_int_equal(n, 2000);
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    assert_int_equal(check_all(db, INT64_MIN, INT64_MAX), expected(INT64_MIN, INT64_MAX));
    tsdb_close(db);
}

/* One stray sample decades old: compaction writes it to its own block and jumps straight to
 * the real data instead of walking every empty range in between. */
static void test_stray_old_sample(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, INT64_C(100) * 365 * 24 * H); /* keep the stray block */
    const int64_t base = 1700000000000LL - 1700000000000LL % (2 * H);
    tsdb_label_t  ls[1] = {L("__name__", "stray")};
    assert_int_equal(tsdb_append(db, ls, 1, 5, 1, NULL), 0);
    tsdb_label_t ls2[1] = {L("__name__", "real")};
    for (int64_t t = base; t <= base + 3 * H; t += 60000)
        assert_int_equal(tsdb_append(db, ls2, 1, t, (double)t, NULL), 0);
    assert_int_equal(tsdb_compact(db, NULL), 0);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2); /* [0, 2h) with the stray sample, [base, base + 2h) */
    assert_int_equal(st.head_min_valid, base + 2 * H);
    tsdb_matcher_t     m = {TSDB_MATCH_RE, "__name__", "stray|real"};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
    assert_int_equal(tsdb_series_set_len(set), 2);
    long n = 0;
    for (size_t i = 0; i < 2; i++) {
        tsdb_iter_t *it;
        assert_int_equal(tsdb_iter_open(set, i, &it), 0);
        int64_t t;
        double  v;
        while (tsdb_iter_next(it, &t, &v))
            n++;
        tsdb_iter_free(it);
    }
    assert_int_equal(n, 1 + 3 * 60 + 1);
    tsdb_series_set_free(set);
    tsdb_close(db);
    /* With the default retention (15 d) the stray block is deleted at the next pass. */
    db = open_db(dir, 0);
    assert_int_equal(tsdb_compact(db, NULL), 0);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.blocks_deleted, 1);
    tsdb_close(db);
}

/* Every single-byte change anywhere in a block file is refused at open (all of it is under a
 * CRC), and every truncation too: a block never reaches queries half-checked. */
static void test_block_damage_always_detected(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, 0);
    fill(db);
    assert_int_equal(tsdb_compact(db, NULL), 0);
    tsdb_close(db);
    char path[4200], copy[4300];
    snprintf(path, sizeof(path), "%s/blocks/0-%lld.vblk", dir, 2 * H);
    snprintf(copy, sizeof(copy), "%s/damaged", dir);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *orig = malloc((size_t)size);
    assert_int_equal(fread(orig, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    /* Positions spread over the whole file, every section and the table of contents. */
    for (long pos = 0; pos < size; pos += size / 97 + 1) {
        for (int pass = 0; pass < 2; pass++) {
            FILE *o = fopen(copy, "wb");
            orig[pos] ^= 0x5a;
            fwrite(orig, 1, pass ? (size_t)pos : (size_t)size, o); /* flip, or truncate */
            orig[pos] ^= 0x5a;
            fclose(o);
            block_t *b = NULL;
            int      rc = block_open(&b, copy, NULL);
            if (rc == 0)
                fail_msg("damage at byte %ld of %ld (%s) went unnoticed", pos, size,
                         pass ? "truncated" : "flipped");
            assert_int_equal(rc, VIGIL_EPARSE);
        }
    }
    free(orig);
}

/* Three 2 h blocks of a complete 6 h window become one; a source copied back (as a crash
 * between the merge and the deletion would leave it) is merged away again; every sample reads
 * back once throughout. */
static long read_count(tsdb_t *db, const char *name, bool check_values)
{
    tsdb_matcher_t     m = {TSDB_MATCH_EQ, "__name__", name};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
    long n = 0;
    for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
        tsdb_iter_t *it;
        assert_int_equal(tsdb_iter_open(set, i, &it), 0);
        int64_t t, prev = INT64_MIN;
        double  v;
        while (tsdb_iter_next(it, &t, &v)) {
            assert_true(t > prev);
            if (check_values)
                assert_true(v == (double)t + (double)i);
            prev = t;
            n++;
        }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    return n;
}

static void test_merge_blocks(void **state)
{
    const char      *dir = *state;
    tsdb_t          *db = open_db(dir, 0);
    tsdb_appender_t *a = tsdb_appender_new(db);
    for (int64_t t = 0; t <= 7 * H; t += 60000)
        for (int i = 0; i < 3; i++) {
            char inst[8];
            snprintf(inst, sizeof(inst), "m%d", i);
            tsdb_label_t ls[2] = {L("__name__", "merge"), L("instance", inst)};
            assert_int_equal(tsdb_appender_add(a, ls, 2, t, (double)t + i, NULL, NULL), 0);
        }
    assert_int_equal(tsdb_appender_commit(a, TSDB_SYNC, NULL), 0);
    tsdb_appender_free(a);
    const long total = 3 * (7 * 60 + 1);
    assert_int_equal(tsdb_compact(db, NULL), 0);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.compactions, 3);  /* [0,2h) [2h,4h) [4h,6h) */
    assert_int_equal(st.block_merges, 1); /* into [0, 6h): complete, the head is past 6h */
    assert_int_equal(st.blocks, 1);
    assert_int_equal(read_count(db, "merge", true), total);
    tsdb_close(db);
    char blkdir[4200];
    snprintf(blkdir, sizeof(blkdir), "%s/blocks", dir);
    assert_int_equal(count_files(blkdir, ".vblk"), 1);

    /* A leftover source next to the merged block: reads stay exact, the next pass merges. */
    db = open_db(dir, 0);
    tsdb_close(db);
    char merged[4300], leftover[4300];
    snprintf(merged, sizeof(merged), "%s/0-%lld.vblk", blkdir, 6 * H);
    snprintf(leftover, sizeof(leftover), "%s/0-%lld.vblk", blkdir, 2 * H);
    copy_file(merged, leftover); /* an overlapping leftover: a second copy of the merged one */
    db = open_db(dir, 0);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 2);
    assert_int_equal(read_count(db, "merge", true), total);
    assert_int_equal(tsdb_compact(db, NULL), 0);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(read_count(db, "merge", true), total);
    tsdb_close(db);
    db = open_db(dir, 0);
    assert_int_equal(read_count(db, "merge", true), total);
    tsdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_compact_and_reopen, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_block_moved_aside, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_retention, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_retention_by_size, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_reader_during_compaction, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_block_and_checkpoint, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_append_during_compaction, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_stray_old_sample, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_block_damage_always_detected, test_tmpdir_setup,
                                        test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_merge_blocks, test_tmpdir_setup, test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
