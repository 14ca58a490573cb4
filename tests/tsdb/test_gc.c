/*
 * Unit tests of series garbage collection: after a compaction, series with nothing left in the
 * head leave the head's stats, postings and symbol table while their data stays readable from
 * the block; the checkpoint no longer names them, so a restart has the same series set; a new
 * sample for the same labels creates the series again (a new ref; the old handle is refused);
 * ids are reused under churn; readers and appenders running during collections stay correct;
 * the hash map's deletion keeps every other item findable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsdb/hmap.h"
#include "tsdb/tsdb.h"
#include "tmpdir.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define L(n, v) ((tsdb_label_t){(n), (v)})
#define H       (3600 * 1000LL)

static tsdb_t *open_db(const char *dir)
{
    tsdb_options_t o = {.dir = dir, .compact_interval_ms = UINT32_MAX};
    tsdb_t        *db;
    vigil_error_t  err;
    if (tsdb_open(&db, &o, NULL, &err) != 0)
        fail_msg("tsdb_open: %s", err.message);
    return db;
}

static uint64_t head_series(tsdb_t *db)
{
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    return st.series;
}

/* Appends one sample of {__name__="m", instance=inst}; returns its handle. */
static tsdb_ref_t put(tsdb_t *db, const char *inst, int64_t t, double v)
{
    tsdb_label_t     ls[2] = {L("__name__", "m"), L("instance", inst)};
    tsdb_appender_t *a = tsdb_appender_new(db);
    tsdb_ref_t       ref = 0;
    vigil_error_t    err;
    if (tsdb_appender_add(a, ls, 2, t, v, &ref, &err) != 0)
        fail_msg("append %s at %lld: %s", inst, (long long)t, err.message);
    assert_int_equal(tsdb_appender_commit(a, TSDB_ASYNC, NULL), 0);
    tsdb_appender_free(a);
    return ref;
}

/* "keep" has samples every minute over [0, 3h]; "gone" only over [0, 1h): after the range
 * [0, 2h) is compacted, "gone" has nothing left in the head. */
static void fill(tsdb_t *db)
{
    for (int64_t t = 0; t <= 3 * H; t += 60000) {
        put(db, "keep", t, (double)t);
        if (t < H)
            put(db, "gone", t, (double)-t);
    }
}

/* Samples of {instance=inst} over [mint, maxt], checking values against fill()'s. */
static long count_samples(tsdb_t *db, const char *inst, int64_t mint, int64_t maxt)
{
    tsdb_matcher_t     m = {TSDB_MATCH_EQ, "instance", inst};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, mint, maxt, &set, NULL), 0);
    long n = 0;
    for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
        tsdb_iter_t *it;
        assert_int_equal(tsdb_iter_open(set, i, &it), 0);
        int64_t t;
        double  v;
        while (tsdb_iter_next(it, &t, &v)) {
            double want = strcmp(inst, "gone") == 0 ? (double)-t : (double)t;
            if (t < 3 * H + 1 && v != want)
                fail_msg("%s at %lld: %g, want %g", inst, (long long)t, v, want);
            n++;
        }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    return n;
}

/* Whether the head's postings list `inst` (label values of the head alone: a range no block
 * overlaps). */
static bool head_has_instance(tsdb_t *db, const char *inst)
{
    tsdb_strings_t sv;
    assert_int_equal(tsdb_label_values(db, "instance", NULL, 0, 100 * H, 101 * H, 0, &sv, NULL),
                     0);
    bool found = false;
    for (size_t i = 0; i < sv.n; i++)
        found |= strcmp(sv.v[i], inst) == 0;
    tsdb_strings_free(&sv);
    return found;
}

static void test_gc_after_truncation(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir);
    fill(db);
    tsdb_ref_t old = put(db, "gone", H - 1, -(double)(H - 1));
    assert_int_equal(head_series(db), 2);
    tsdb_stats_t before;
    tsdb_stats(db, &before);
    assert_true(head_has_instance(db, "gone"));

    vigil_error_t err;
    assert_int_equal(tsdb_compact(db, &err), 0);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.head_series_removed, 1);
    assert_int_equal(st.symbols, before.symbols - 1); /* "gone" itself; the rest are shared */
    assert_false(head_has_instance(db, "gone"));
    assert_true(head_has_instance(db, "keep"));
    /* The data is still there, from the block. */
    assert_int_equal(count_samples(db, "gone", INT64_MIN, INT64_MAX), 61);
    assert_int_equal(count_samples(db, "keep", INT64_MIN, INT64_MAX), 181);
    /* The old handle is refused rather than finding another series. */
    tsdb_appender_t *a = tsdb_appender_new(db);
    assert_int_equal(tsdb_appender_add_ref(a, old, 3 * H, 1, NULL), VIGIL_ENOENT);
    tsdb_appender_free(a);

    /* A restart replays the checkpoint, which no longer has the series. */
    tsdb_close(db);
    db = open_db(dir);
    tsdb_stats(db, &st);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.wal_replay_skipped, 0);
    assert_false(head_has_instance(db, "gone"));
    assert_int_equal(count_samples(db, "gone", INT64_MIN, INT64_MAX), 61);
    assert_int_equal(count_samples(db, "keep", INT64_MIN, INT64_MAX), 181);
    tsdb_close(db);
}

static void test_gc_series_comes_back(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir);
    fill(db);
    vigil_error_t err;
    assert_int_equal(tsdb_compact(db, &err), 0);
    assert_int_equal(head_series(db), 1);

    /* A new sample for the collected label set: a new series, read together with the block. */
    tsdb_ref_t ref = put(db, "gone", 3 * H + 1, 7);
    assert_int_not_equal(ref, 0);
    assert_int_equal(head_series(db), 2);
    assert_true(head_has_instance(db, "gone"));
    assert_int_equal(count_samples(db, "gone", INT64_MIN, INT64_MAX), 61);
    tsdb_appender_t *a = tsdb_appender_new(db);
    assert_int_equal(tsdb_appender_add_ref(a, ref, 3 * H + 2, 8, NULL), 0);
    assert_int_equal(tsdb_appender_commit(a, TSDB_SYNC, NULL), 0);
    tsdb_appender_free(a);

    /* After a restart (segments after the checkpoint hold the new series record). */
    tsdb_close(db);
    db = open_db(dir);
    assert_int_equal(head_series(db), 2);
    assert_int_equal(count_samples(db, "gone", INT64_MIN, INT64_MAX), 62);
    assert_int_equal(count_samples(db, "gone", 3 * H, INT64_MAX), 2);
    tsdb_close(db);
}

/* Each round brings 50 new series for one block range and compacts the round before: the
 * series of finished rounds are collected, their ids reused, their label strings dropped. */
static void test_gc_churn(void **state)
{
    const char *dir = *state;
    tsdb_t     *db = open_db(dir);
    uint64_t    max_id = 0;
    size_t      symbols_after_first = 0;
    for (int r = 0; r < 12; r++) {
        int64_t base = r * 2 * H;
        for (int i = 0; i < 50; i++) {
            char inst[32];
            snprintf(inst, sizeof(inst), "r%d-%d", r, i);
            for (int64_t t = base; t < base + 2 * H; t += 10 * 60000) {
                tsdb_ref_t ref = put(db, inst, t, 1);
                if ((ref & 0xffffffffu) > max_id)
                    max_id = ref & 0xffffffffu;
            }
        }
        put(db, "clock", base + 2 * H + H, 0); /* moves the head past the round's range */
        vigil_error_t err;
        assert_int_equal(tsdb_compact(db, &err), 0);
        tsdb_stats_t st;
        tsdb_stats(db, &st);
        assert_int_equal(st.series, 1); /* only the clock is left in the head */
        if (r == 0)
            symbols_after_first = st.symbols;
        assert_int_equal(st.symbols, symbols_after_first);
    }
    assert_true(max_id <= 51 + 1); /* 50 series and the clock, ids reused every round */
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.head_series_removed, 12 * 50);
    /* Every round is still readable from its block. */
    tsdb_matcher_t     m = {TSDB_MATCH_RE, "instance", "r.*"};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
    assert_int_equal(tsdb_series_set_len(set), 12 * 50);
    tsdb_series_set_free(set);
    tsdb_close(db);
    db = open_db(dir);
    assert_int_equal(head_series(db), 1);
    tsdb_close(db);
}

/* Readers select, iterate and list while a writer churns series and compacts (collecting
 * them): no reader may see freed memory (ASan) or a torn series. */
typedef struct race {
    tsdb_t         *db;
    atomic_bool     stop;
    _Atomic int64_t now; /* start of the round being written */
    long            reads;
} race_t;

static void *reader_main(void *arg)
{
    race_t *r = arg;
    while (!atomic_load(&r->stop)) {
        tsdb_matcher_t     m = {TSDB_MATCH_EQ, "__name__", "m"};
        tsdb_series_set_t *set;
        if (tsdb_select(r->db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL) != 0)
            continue;
        for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
            size_t              n;
            const tsdb_label_t *ls = tsdb_series_labels(set, i, &n);
            assert_int_equal(n, 2);
            assert_string_equal(ls[0].name, "__name__");
            tsdb_iter_t *it;
            if (tsdb_iter_open(set, i, &it) != 0)
                continue;
            int64_t t, prev = INT64_MIN;
            double  v;
            while (tsdb_iter_next(it, &t, &v)) {
                assert_true(t > prev);
                prev = t;
            }
            tsdb_iter_free(it);
        }
        tsdb_series_set_free(set);
        tsdb_strings_t sv;
        if (tsdb_label_values(r->db, "instance", NULL, 0, INT64_MIN, INT64_MAX, 0, &sv, NULL) == 0)
            tsdb_strings_free(&sv);
        r->reads++;
    }
    return NULL;
}

static void *appender_main(void *arg)
{
    race_t *r = arg;
    /* A series appended all along, in the round being written, next to the collections. */
    for (int64_t t = 0; !atomic_load(&r->stop);) {
        tsdb_label_t     ls[2] = {L("__name__", "m"), L("instance", "steady")};
        tsdb_appender_t *a = tsdb_appender_new(r->db);
        t = t + 1 > atomic_load(&r->now) ? t + 1 : atomic_load(&r->now);
        tsdb_appender_add(a, ls, 2, t, 1, NULL, NULL);
        tsdb_appender_commit(a, TSDB_ASYNC, NULL);
        tsdb_appender_free(a);
    }
    return NULL;
}

static void test_gc_concurrent_readers(void **state)
{
    const char *dir = *state;
    race_t      r = {.db = open_db(dir)};
    pthread_t   rd, ap;
    pthread_create(&rd, NULL, reader_main, &r);
    pthread_create(&ap, NULL, appender_main, &r);
    for (int round = 0; round < 8; round++) {
        int64_t base = round * 2 * H;
        atomic_store(&r.now, base);
        for (int i = 0; i < 40; i++) {
            char inst[32];
            snprintf(inst, sizeof(inst), "c%d-%d", round, i);
            for (int64_t t = base; t < base + 2 * H; t += 20 * 60000)
                put(r.db, inst, t, 1);
        }
        put(r.db, "clock", base + 3 * H, 0);
        vigil_error_t err;
        assert_int_equal(tsdb_compact(r.db, &err), 0);
    }
    atomic_store(&r.stop, true);
    pthread_join(rd, NULL);
    pthread_join(ap, NULL);
    tsdb_stats_t st;
    tsdb_stats(r.db, &st);
    assert_true(st.head_series_removed >= 7 * 40);
    assert_true(r.reads > 0);
    tsdb_close(r.db);
}

/* hmap_remove's backward shift, on long probe runs: hashes share their low bits so every
 * item lands in a few clusters that wrap around the table's end. */
static bool u64_eq(const void *item, const void *key)
{
    return *(const uint64_t *)item == *(const uint64_t *)key;
}

static void test_hmap_remove(void **state)
{
    (void)state;
    enum { N = 5000 };
    static uint64_t keys[N];
    static bool     in[N];
    hmap_t          m;
    hmap_init(&m);
    uint64_t rnd = 42;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            keys[i] = (uint64_t)i;
            if (!in[i]) {
                /* High bits differ, low bits collide: 8 home slots near the table's end. */
                assert_int_equal(hmap_insert(&m, ((uint64_t)i << 32) | (UINT64_C(0xffff) - i % 8),
                                             &keys[i]), 0);
                in[i] = true;
            }
        }
        for (int i = 0; i < N; i++) {
            rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
            if (rnd >> 62 == 0) /* a quarter of them */
                continue;
            uint64_t h = ((uint64_t)i << 32) | (UINT64_C(0xffff) - i % 8);
            assert_true(hmap_remove(&m, h, &keys[i]));
            assert_false(hmap_remove(&m, h, &keys[i]));
            in[i] = false;
        }
        size_t live = 0;
        for (int i = 0; i < N; i++) {
            uint64_t h = ((uint64_t)i << 32) | (UINT64_C(0xffff) - i % 8);
            void    *found = hmap_find(&m, h, u64_eq, &keys[i]);
            assert_true(in[i] ? found == &keys[i] : found == NULL);
            live += in[i];
        }
        assert_int_equal(m.len, live);
    }
    hmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gc_after_truncation, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_gc_series_comes_back, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_gc_churn, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_gc_concurrent_readers, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test(test_hmap_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
