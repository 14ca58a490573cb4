/*
 * Unit tests of durability: CRC32C, record payloads, WAL replay after a clean close, a torn
 * last record and a flipped byte each replayed to the last good record (files written, then
 * damaged, then reopened), a corrupt segment header, segment rotation, many threads committing
 * synchronously while the flusher group-commits, and a writer killed with SIGKILL whose
 * acknowledged samples must all come back (and nothing else).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsdb/chunk.h"
#include "tsdb/crc32c.h"
#include "tsdb/record.h"
#include "tsdb/tsdb.h"
#include "tsdb/wal.h"
#include "tmpdir.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define L(n, v) ((tsdb_label_t){(n), (v)})

static tsdb_t *open_db(const char *dir, log_t *lg)
{
    tsdb_options_t o = {.dir = dir, .wal_flush_interval_ms = 50};
    tsdb_t        *db;
    vigil_error_t  err;
    if (tsdb_open(&db, &o, lg, &err) != 0)
        fail_msg("tsdb_open: %s", err.message);
    return db;
}

/* Samples of series {__name__=name}: count, and checks that value == t * 0.5 throughout. */
static long samples_of(tsdb_t *db, const char *name, int64_t *last)
{
    tsdb_matcher_t     m = {TSDB_MATCH_EQ, "__name__", name};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
    long n = 0;
    if (tsdb_series_set_len(set) == 1) {
        tsdb_iter_t *it;
        assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
        int64_t t;
        double  v;
        while (tsdb_iter_next(it, &t, &v)) {
            assert_true(v == (double)t * 0.5);
            if (last)
                *last = t;
            n++;
        }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    return n;
}

/* Appends `batches` commits of `per` samples to {__name__=name} from t0 on, 1 ms apart. */
static void write_batches(tsdb_t *db, const char *name, int64_t t0, int batches, int per,
                          tsdb_durability_t d)
{
    tsdb_appender_t *a = tsdb_appender_new(db);
    tsdb_label_t     ls[2] = {L("__name__", name), L("job", "wal-test")};
    int64_t          t = t0;
    for (int b = 0; b < batches; b++) {
        for (int i = 0; i < per; i++, t++)
            assert_int_equal(tsdb_appender_add(a, ls, 2, t, (double)t * 0.5, NULL, NULL), 0);
        assert_int_equal(tsdb_appender_commit(a, d, NULL), 0);
    }
    tsdb_appender_free(a);
}

static void seg_path(const char *dir, int seq, char *out)
{
    snprintf(out, 4096, "%s/wal/%08d", dir, seq);
}

static off_t file_size(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

/* Byte offsets of the records of a segment (at most max), by walking their headers. */
static size_t record_offsets(const char *path, long *offs, size_t max)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t        n = 0;
    long          off = WAL_HEADER_BYTES;
    unsigned char h[WAL_RECORD_HEADER];
    while (n < max && fseek(f, off, SEEK_SET) == 0 && fread(h, 1, sizeof(h), f) == sizeof(h)) {
        uint32_t len = (uint32_t)h[1] | (uint32_t)h[2] << 8 | (uint32_t)h[3] << 16 |
                       (uint32_t)h[4] << 24;
        offs[n++] = off;
        off += WAL_RECORD_HEADER + (long)len;
    }
    fclose(f);
    return n;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_crc32c(void **state)
{
    (void)state;
    assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(crc32c("", 0), 0);
    unsigned char b[1000];
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (unsigned char)(i * 131 + 7);
    for (size_t n = 0; n < sizeof(b); n += 37) {
        assert_int_equal(crc32c(b, n), crc32c_sw(b, n));
        assert_int_equal(crc32c_update(crc32c(b, n / 3), b + n / 3, n - n / 3), crc32c(b, n));
    }
}

static int count_series(void *ctx, uint64_t ref, const tsdb_label_t *ls, size_t n)
{
    (void)ref;
    (void)ls;
    *(size_t *)ctx += n;
    return 0;
}

static void test_records(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b, 1 << 20);
    tsdb_label_t ls[2] = {L("__name__", "x"), L("instance", "h:1")};
    assert_int_equal(record_encode_series(&b, 42, ls, 2), 0);
    size_t nl = 0;
    assert_int_equal(record_decode_series((const uint8_t *)b.data, b.len, count_series, &nl), 0);
    assert_int_equal(nl, 2);
    /* Every truncation is malformed, never a crash. */
    for (size_t cut = 0; cut < b.len; cut++) {
        size_t k = 0;
        assert_int_equal(record_decode_series((const uint8_t *)b.data, cut, count_series, &k),
                         VIGIL_EPARSE);
    }
    buf_reset(&b);
    rec_sample_t s[3] = {{1, INT64_MIN, 1.5}, {2, INT64_MAX, -0.0}, {300000, 0, 1e300}};
    assert_int_equal(record_encode_samples(&b, s, 3), 0);
    rec_sample_t *out = NULL;
    size_t        cap = 0, n;
    assert_int_equal(record_decode_samples((const uint8_t *)b.data, b.len, &out, &cap, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, s, sizeof(s));
    for (size_t cut = 0; cut < b.len; cut++)
        assert_int_equal(record_decode_samples((const uint8_t *)b.data, cut, &out, &cap, &n),
                         VIGIL_EPARSE);
    free(out);
    buf_free(&b);
}

static void test_replay_clean(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, NULL);
    write_batches(db, "a", 0, 10, 100, TSDB_ASYNC);
    write_batches(db, "b", 5000, 3, 7, TSDB_SYNC);
    tsdb_close(db);

    db = open_db(dir, NULL);
    assert_int_equal(samples_of(db, "a", NULL), 1000);
    assert_int_equal(samples_of(db, "b", NULL), 21);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 0);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.wal_replayed_records, 2 + 13 + 8); /* 8 chunks of "a" cut at 120 */
    /* After a restart, old series continue and new ones get refs that do not collide. */
    write_batches(db, "a", 1000, 1, 10, TSDB_SYNC);
    write_batches(db, "c", 0, 2, 5, TSDB_SYNC);
    tsdb_close(db);

    db = open_db(dir, NULL);
    assert_int_equal(samples_of(db, "a", NULL), 1010);
    assert_int_equal(samples_of(db, "b", NULL), 21);
    assert_int_equal(samples_of(db, "c", NULL), 10);
    tsdb_stats(db, &st);
    assert_int_equal(st.series, 3);
    assert_int_equal(st.wal_segments, 3); /* one per start: 1, 2 and the open 3 */
    tsdb_close(db);
}

static log_t *file_log(const char *dir, char *path)
{
    snprintf(path, 4096, "%s/log.json", dir);
    log_options_t lo = {.level = LOG_LEVEL_INFO, .format = LOG_FORMAT_JSON, .path = path};
    log_t        *lg;
    assert_int_equal(log_open(&lg, &lo, NULL), 0);
    return lg;
}

static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char  buf[65536];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void test_truncated_tail(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, NULL);
    write_batches(db, "t", 0, 10, 10, TSDB_SYNC);
    tsdb_close(db);

    char seg[4096];
    seg_path(dir, 1, seg);
    long   offs[64];
    size_t nrec = record_offsets(seg, offs, 64);
    assert_int_equal(nrec, 11); /* the series record, then one samples record per commit */
    off_t size = file_size(seg);
    assert_int_equal(truncate(seg, size - 3), 0); /* a torn write of the last record */

    char   logpath[4096];
    log_t *lg = file_log(dir, logpath);
    db = open_db(dir, lg);
    int64_t last = -1;
    assert_int_equal(samples_of(db, "t", &last), 90);
    assert_int_equal(last, 89);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 1);
    assert_int_equal(file_size(seg), offs[10]); /* cut at the end of the last good record */
    char expect[128];
    snprintf(expect, sizeof(expect), "\"offset\":%ld", offs[10]);
    assert_true(file_contains(logpath, expect));
    assert_true(file_contains(logpath, "/wal/00000001"));
    /* The store keeps running: new samples land and survive the next restart. */
    write_batches(db, "t", 90, 1, 10, TSDB_SYNC);
    tsdb_close(db);
    log_close(lg);
    db = open_db(dir, NULL);
    assert_int_equal(samples_of(db, "t", &last), 100);
    tsdb_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 0);
    tsdb_close(db);
}

static void test_flipped_byte(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, NULL);
    write_batches(db, "f", 0, 10, 10, TSDB_SYNC);
    tsdb_close(db);

    char seg[4096];
    seg_path(dir, 1, seg);
    long offs[64];
    assert_int_equal(record_offsets(seg, offs, 64), 11);
    /* Flip one bit inside the payload of the 5th samples record (record index 5). */
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    off_t         at = offs[5] + WAL_RECORD_HEADER + 4;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x10;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);

    db = open_db(dir, NULL);
    int64_t last = -1;
    assert_int_equal(samples_of(db, "f", &last), 40); /* records 1-4 of samples survive */
    assert_int_equal(last, 39);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 1);
    assert_int_equal(file_size(seg), offs[5]);
    tsdb_close(db);

    /* A flipped length byte is caught by the CRC too (it covers the header). */
    db = open_db(dir, NULL);
    tsdb_close(db);
    fd = open(seg, O_RDWR);
    at = offs[3] + 2;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x01;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
    db = open_db(dir, NULL);
    assert_int_equal(samples_of(db, "f", NULL), 20);
    tsdb_close(db);
}

static void test_bad_segment_header(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, NULL);
    write_batches(db, "h", 0, 2, 5, TSDB_SYNC);
    tsdb_close(db);
    char seg[4096];
    seg_path(dir, 7, seg);
    FILE *f = fopen(seg, "w");
    fputs("not a segment", f);
    fclose(f);
    db = open_db(dir, NULL);
    assert_int_equal(samples_of(db, "h", NULL), 10);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 1);
    assert_int_not_equal(access(seg, F_OK), 0); /* removed */
    tsdb_close(db);
    seg_path(dir, 8, seg); /* the next segment follows the highest seen */
    assert_int_equal(access(seg, F_OK), 0);
}

/* Writes segment `seq` of dir/wal: the header and one record of `type` with `payload`, its
 * CRCs right (so only the payload's own parse can reject it). */
static void write_segment_with(const char *dir, int seq, uint8_t type, const uint8_t *payload,
                               uint32_t len)
{
    char path[4096];
    seg_path(dir, seq, path);
    uint8_t h[16] = {'V', 'G', 'W', 'L', 1, 0, 0, 0};
    for (int i = 0; i < 4; i++)
        h[8 + i] = (uint8_t)((uint32_t)seq >> (8 * i));
    uint32_t c = crc32c(h, 12);
    for (int i = 0; i < 4; i++)
        h[12 + i] = (uint8_t)(c >> (8 * i));
    uint8_t r[9] = {type};
    for (int i = 0; i < 4; i++)
        r[1 + i] = (uint8_t)(len >> (8 * i));
    c = crc32c_update(crc32c(r, 5), payload, len);
    for (int i = 0; i < 4; i++)
        r[5 + i] = (uint8_t)(c >> (8 * i));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(h, 1, 16, f), 16);
    assert_int_equal(fwrite(r, 1, 9, f), 9);
    assert_int_equal(fwrite(payload, 1, len, f), len);
    fclose(f);
}

/* A record whose payload fails to parse halfway is cut whole: the series before the bad one in
 * the same record are not created, so a second start (which no longer sees the record) rebuilds
 * the same head. Found by fuzz/fuzz_tsdb_wal.c's reopen oracle. */
static void test_bad_record_not_half_applied(void **state)
{
    const char *dir = *state;
    char        wal[4096];
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    assert_int_equal(mkdir(wal, 0755), 0);
    /* count 2; series ref 1 {a="b"}; series ref 2 with a label length past the end. */
    const uint8_t series[] = {2, 1, 1, 1, 'a', 1, 'b', 2, 1, 9, 'x'};
    write_segment_with(dir, 1, 1, series, sizeof(series));
    tsdb_t      *db = open_db(dir, NULL);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.series, 0);
    assert_int_equal(st.wal_corruptions, 1);
    tsdb_close(db);
    test_remove_tree(wal);

    /* A checkpoint-style chunk record whose chunk is truncated: none of its samples land. */
    assert_int_equal(mkdir(wal, 0755), 0);
    db = open_db(dir, NULL);
    write_batches(db, "c", 0, 1, 5, TSDB_SYNC);
    tsdb_close(db);
    chunk_appender_t a;
    chunk_appender_init(&a);
    for (int i = 0; i < 50; i++)
        assert_int_equal(chunk_append(&a, 1000 + i * 1000, i * 0.5), 0);
    size_t         clen;
    const uint8_t *cb = chunk_appender_bytes(&a, &clen);
    uint8_t        rec[4096];
    rec[0] = 1; /* ref 1: the series write_batches created first */
    memcpy(rec + 1, cb, clen / 2);
    write_segment_with(dir, 5, 3, rec, (uint32_t)(1 + clen / 2));
    chunk_appender_free(&a);
    db = open_db(dir, NULL);
    assert_int_equal(samples_of(db, "c", NULL), 5);
    tsdb_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 1);
    tsdb_close(db);
}

static int ignore(void *ctx, const wal_record_t *rec)
{
    (void)ctx; (void)rec;
    return 0;
}

/* Chunks cut at 120 samples are logged as they are cut and taken whole at replay; the
 * samples records they cover are then not read at all, on every later start too. */
static void test_chunks_replayed_whole(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, NULL);
    write_batches(db, "a", 0, 10, 100, TSDB_SYNC);
    tsdb_close(db);
    for (int start = 0; start < 2; start++) {
        db = open_db(dir, NULL);
        assert_int_equal(samples_of(db, "a", NULL), 1000);
        tsdb_stats_t st;
        tsdb_stats(db, &st);
        assert_int_equal(st.samples, 1000);
        assert_int_equal(st.wal_replay_chunks, 8);      /* 8 × 120 cut; 40 still open */
        /* The 8th chunk (840..959) was cut inside the 10th batch, before that batch was
         * logged: the 9 batches logged before it are not read, the 10th is read and its
         * first 60 samples are found in that chunk. */
        assert_int_equal(st.wal_replay_unread, 9);
        assert_int_equal(st.wal_replay_covered, 60);
        assert_int_equal(st.wal_replay_skipped, 0);
        tsdb_close(db);
    }
    /* Appending after a restart goes on from the last chunk taken whole. */
    db = open_db(dir, NULL);
    write_batches(db, "a", 1000, 1, 10, TSDB_SYNC);
    int64_t last = 0;
    assert_int_equal(samples_of(db, "a", &last), 1010);
    assert_int_equal(last, 1009);
    tsdb_close(db);
    db = open_db(dir, NULL);
    assert_int_equal(samples_of(db, "a", NULL), 1010);
    tsdb_close(db);
}

/* A torn last record (what a crash leaves) is cut, and replay still skips the samples records
 * the chunks hold: the tail cannot have held a chunk record that the ones before it need. */
static void test_torn_tail_still_skips(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, NULL);
    write_batches(db, "a", 0, 10, 100, TSDB_SYNC);
    tsdb_close(db);
    char path[4096];
    seg_path(dir, 1, path);
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    const unsigned char torn[] = {2, 100, 0, 0, 0, 1, 2, 3, 4, 5, 6}; /* 100 bytes promised */
    assert_int_equal(fwrite(torn, 1, sizeof(torn), f), sizeof(torn));
    fclose(f);
    db = open_db(dir, NULL);
    assert_int_equal(samples_of(db, "a", NULL), 1000);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 1);
    assert_int_equal(st.wal_replay_chunks, 8);
    assert_int_equal(st.wal_replay_unread, 9);
    tsdb_close(db);
}

/* Out-of-order samples are logged as such: replay applies them even where a chunk record
 * covers their time (in-order samples there are taken from the chunk), restart after restart. */
static void test_ooo_inside_logged_chunk(void **state)
{
    const char    *dir = *state;
    tsdb_options_t o = {.dir = dir, .wal_flush_interval_ms = 50, .ooo_window_ms = 100000};
    tsdb_t        *db;
    assert_int_equal(tsdb_open(&db, &o, NULL, NULL), 0);
    write_batches(db, "o", 0, 1, 100, TSDB_SYNC);
    write_batches(db, "o", 200, 3, 100, TSDB_SYNC); /* the first chunk holds 0..99, 200..219 */
    write_batches(db, "o", 150, 1, 1, TSDB_SYNC);   /* out of order, inside that chunk's span */
    assert_int_equal(samples_of(db, "o", NULL), 401);
    tsdb_close(db);
    for (int start = 0; start < 2; start++) {
        assert_int_equal(tsdb_open(&db, &o, NULL, NULL), 0);
        assert_int_equal(samples_of(db, "o", NULL), 401);
        tsdb_stats_t st;
        tsdb_stats(db, &st);
        assert_true(st.wal_replay_chunks >= 3);
        tsdb_close(db);
    }
}

/* Two appenders to one series may log in the other order than they appended: replay then
 * files the earlier sample out of order, and logs it again as such, so that a later start,
 * which takes the chunk holding its time whole and skips its samples record, still has it. */
static void test_replay_reorder_logged_again(void **state)
{
    const char  *dir = *state;
    tsdb_t      *db = open_db(dir, NULL);
    tsdb_label_t ls[2] = {L("__name__", "r"), L("job", "wal-test")};
    write_batches(db, "r", 0, 1, 10, TSDB_SYNC);
    tsdb_appender_t *first = tsdb_appender_new(db), *second = tsdb_appender_new(db);
    assert_int_equal(tsdb_appender_add(first, ls, 2, 10, 5.0, NULL, NULL), 0);
    assert_int_equal(tsdb_appender_add(second, ls, 2, 11, 5.5, NULL, NULL), 0);
    assert_int_equal(tsdb_appender_commit(second, TSDB_SYNC, NULL), 0);
    assert_int_equal(tsdb_appender_commit(first, TSDB_SYNC, NULL), 0);
    tsdb_appender_free(first);
    tsdb_appender_free(second);
    tsdb_close(db);

    db = open_db(dir, NULL); /* replays 11 before 10: 10 is filed out of order */
    assert_int_equal(samples_of(db, "r", NULL), 12);
    write_batches(db, "r", 12, 1, 189, TSDB_SYNC); /* cuts a chunk spanning 0..120 */
    assert_int_equal(samples_of(db, "r", NULL), 201);
    tsdb_close(db);

    db = open_db(dir, NULL);
    assert_int_equal(samples_of(db, "r", NULL), 201);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_true(st.wal_replay_chunks >= 1);
    tsdb_close(db);
}

static void test_rotation_and_unknown_refs(void **state)
{
    const char    *dir = *state;
    tsdb_options_t o = {.dir = dir, .wal_segment_bytes = 4096};
    tsdb_t        *db;
    assert_int_equal(tsdb_open(&db, &o, NULL, NULL), 0);
    write_batches(db, "r", 0, 200, 20, TSDB_ASYNC);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_true(st.wal_segments > 10);
    tsdb_close(db);

    /* A samples record for a ref no series record named: skipped and counted. */
    char waldir[4096];
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    wal_options_t      wo = {.dir = waldir};
    wal_t             *w;
    wal_replay_stats_t rs;
    buf_t              b;
    buf_init(&b, 1 << 20);
    rec_sample_t s = {999999, 1, 2};
    assert_int_equal(record_encode_samples(&b, &s, 1), 0);
    assert_int_equal(wal_open(&w, &wo, NULL, ignore, NULL, &rs, NULL), 0);
    assert_true(rs.records > 200);
    uint64_t lsn;
    assert_int_equal(wal_log(w, 2, b.data, b.len, &lsn, NULL), 0);
    assert_int_equal(wal_sync(w, lsn, NULL), 0);
    wal_close(w);
    buf_free(&b);

    assert_int_equal(tsdb_open(&db, &o, NULL, NULL), 0);
    assert_int_equal(samples_of(db, "r", NULL), 4000);
    tsdb_stats(db, &st);
    assert_int_equal(st.wal_replay_skipped, 1);
    assert_int_equal(st.wal_corruptions, 0);
    tsdb_close(db);
}


/* ---- many committers, one flusher --------------------------------------------------------- */

typedef struct committer {
    tsdb_t *db;
    int     id;
} committer_t;

#define COMMITTERS 4
#define COMMITS    150

static void *committer_main(void *arg)
{
    committer_t *c = arg;
    char         name[16];
    snprintf(name, sizeof(name), "g%d", c->id);
    /* Alternate sync (push) and async (collector) commits. */
    for (int i = 0; i < COMMITS; i++)
        write_batches(c->db, name, (int64_t)i * 4, 1, 4, i % 2 ? TSDB_SYNC : TSDB_ASYNC);
    return NULL;
}

static void test_group_commit(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir, NULL);
    pthread_t   th[COMMITTERS];
    committer_t c[COMMITTERS];
    for (int i = 0; i < COMMITTERS; i++) {
        c[i] = (committer_t){db, i};
        pthread_create(&th[i], NULL, committer_main, &c[i]);
    }
    for (int i = 0; i < COMMITTERS; i++)
        pthread_join(th[i], NULL);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    printf("wal.group_commit sync_commits=%d fdatasyncs=%llu\n", COMMITTERS * COMMITS / 2,
           (unsigned long long)st.wal_syncs);
    tsdb_close(db);
    db = open_db(dir, NULL);
    for (int i = 0; i < COMMITTERS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "g%d", i);
        assert_int_equal(samples_of(db, name, NULL), COMMITS * 4);
    }
    tsdb_close(db);
}

/* ---- SIGKILL: acknowledged samples survive, nothing is invented --------------------------- */

static void test_kill_acknowledged(void **state)
{
    const char *dir = *state;
    for (int round = 0; round < 3; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            tsdb_t *db = open_db(dir, NULL);
            int64_t last = -1;
            samples_of(db, "k", &last);
            /* Each acknowledged commit reports its last timestamp, then the next begins. */
            for (int64_t t = last + 1;; t += 3) {
                write_batches(db, "k", t, 1, 3, TSDB_SYNC);
                int64_t acked = t + 2;
                if (write(p[1], &acked, sizeof(acked)) != sizeof(acked))
                    _exit(1);
            }
        }
        close(p[1]);
        int64_t acked = -1, v;
        for (int n = 0; n < 20 + round * 7 && read(p[0], &v, sizeof(v)) == sizeof(v); n++)
            acked = v;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        while (read(p[0], &v, sizeof(v)) == sizeof(v)) /* acks sent before the kill landed */
            acked = v;
        close(p[0]);

        tsdb_t *db = open_db(dir, NULL);
        int64_t last = -1;
        long    n = samples_of(db, "k", &last); /* checks every value: nothing invented */
        assert_true(last >= acked);
        assert_int_equal(n, last + 1); /* contiguous from 0: no gaps, no extras */
        tsdb_close(db);
    }
}

/* ---- a full disk: commits fail with VIGIL_EIO, and recover when space returns ----------- */

/* Runs in a child: RLIMIT_FSIZE stands in for a full disk (write(2) fails with EFBIG past the
 * limit, as it fails with ENOSPC on a full file system), without needing a mount. Exit status 0
 * when every step behaved; otherwise the step number. */
static int full_disk_child(const char *dir)
{
    signal(SIGXFSZ, SIG_IGN);
    tsdb_t *db = open_db(dir, NULL);
    write_batches(db, "d", 0, 1, 10, TSDB_SYNC);
    char seg[4096];
    seg_path(dir, 1, seg);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)file_size(seg) + 100; /* room for part of the next record only */
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 1;
    tsdb_appender_t *a = tsdb_appender_new(db);
    tsdb_label_t     ls[2] = {L("__name__", "d"), L("job", "wal-test")};
    for (int64_t t = 10; t < 60; t++)
        if (tsdb_appender_add(a, ls, 2, t, (double)t * 0.5, NULL, NULL) != 0)
            return 2;
    vigil_error_t err;
    if (tsdb_appender_commit(a, TSDB_SYNC, &err) != VIGIL_EIO || strstr(err.message, "wal") == NULL)
        return 3;
    /* Still failing: another commit is refused too, and the store keeps serving reads. */
    for (int64_t t = 60; t < 70; t++)
        tsdb_appender_add(a, ls, 2, t, (double)t * 0.5, NULL, NULL);
    if (tsdb_appender_commit(a, TSDB_SYNC, &err) != VIGIL_EIO)
        return 4;
    if (samples_of(db, "d", NULL) != 70)
        return 5;
    /* Space returns: the next commit writes what waited, then its own samples. */
    if (setrlimit(RLIMIT_FSIZE, &old) != 0)
        return 6;
    for (int64_t t = 70; t < 80; t++)
        tsdb_appender_add(a, ls, 2, t, (double)t * 0.5, NULL, NULL);
    if (tsdb_appender_commit(a, TSDB_SYNC, &err) != 0)
        return 7;
    tsdb_appender_free(a);
    tsdb_close(db);
    return 0;
}

static void test_full_disk(void **state)
{
    const char *dir = *state;
    pid_t       pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(full_disk_child(dir));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tsdb_t *db = open_db(dir, NULL);
    int64_t last = -1;
    assert_int_equal(samples_of(db, "d", &last), 80); /* nothing lost, nothing torn */
    assert_int_equal(last, 79);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.wal_corruptions, 0);
    tsdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_records),
        cmocka_unit_test_setup_teardown(test_replay_clean, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_tail, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_bad_segment_header, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_bad_record_not_half_applied, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_chunks_replayed_whole, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_still_skips, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_ooo_inside_logged_chunk, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_replay_reorder_logged_again, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_rotation_and_unknown_refs, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_kill_acknowledged, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_full_disk, test_tmpdir_setup, test_tmpdir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
