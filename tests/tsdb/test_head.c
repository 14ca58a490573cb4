/*
 * Unit tests of the head through the store API without a WAL: selection by matchers (with
 * Prometheus's empty-label semantics and the RE2 translation), sample iteration over ranges
 * and chunk cuts, limits and the rejected-samples counters, the out-of-order window, label
 * listings and status, and many appenders and readers at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsdb/match.h"
#include "tsdb/tsdb.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L(n, v) ((tsdb_label_t){(n), (v)})

static tsdb_t *open_mem(const tsdb_options_t *o)
{
    tsdb_options_t def = {0};
    tsdb_t        *db;
    vigil_error_t  err;
    assert_int_equal(tsdb_open(&db, o ? o : &def, NULL, &err), 0);
    return db;
}

static void add(tsdb_t *db, const char *name, const char *job, const char *inst, int64_t t,
                double v)
{
    tsdb_label_t  ls[3] = {L("job", job), L("__name__", name), L("instance", inst)};
    vigil_error_t err;
    int           rc = tsdb_append(db, ls, 3, t, v, &err);
    if (rc != 0)
        fail_msg("append: %s", err.message);
}

/* Number of series a selection returns, or a negative error. */
static long count(tsdb_t *db, const tsdb_matcher_t *m, size_t n)
{
    tsdb_series_set_t *set;
    vigil_error_t      err;
    int                rc = tsdb_select(db, m, n, INT64_MIN, INT64_MAX, &set, &err);
    if (rc != 0)
        return rc;
    long k = (long)tsdb_series_set_len(set);
    tsdb_series_set_free(set);
    return k;
}

static void test_matchers(void **state)
{
    (void)state;
    tsdb_t *db = open_mem(NULL);
    add(db, "up", "node", "a:9100", 1000, 1);
    add(db, "up", "node", "b:9100", 1000, 1);
    add(db, "up", "prom", "c:9090", 1000, 0);
    add(db, "cpu_seconds_total", "node", "a:9100", 1000, 5);
    tsdb_label_t nojob[2] = {L("__name__", "up"), L("instance", "d:1")};
    assert_int_equal(tsdb_append(db, nojob, 2, 1000, 1, NULL), 0);

    tsdb_matcher_t m1[] = {{TSDB_MATCH_EQ, "__name__", "up"}};
    assert_int_equal(count(db, m1, 1), 4);
    tsdb_matcher_t m2[] = {{TSDB_MATCH_EQ, "__name__", "up"}, {TSDB_MATCH_NEQ, "job", "node"}};
    assert_int_equal(count(db, m2, 2), 2); /* prom, and the series without job */
    tsdb_matcher_t m3[] = {{TSDB_MATCH_EQ, "__name__", "up"}, {TSDB_MATCH_EQ, "job", ""}};
    assert_int_equal(count(db, m3, 2), 1);
    tsdb_matcher_t m4[] = {{TSDB_MATCH_RE, "instance", "(?:a|b):\\d+"}};
    assert_int_equal(count(db, m4, 1), 3);
    tsdb_matcher_t m5[] = {{TSDB_MATCH_NRE, "job", "no.*"}, {TSDB_MATCH_RE, "__name__", ".+"}};
    assert_int_equal(count(db, m5, 2), 2);
    tsdb_matcher_t m6[] = {{TSDB_MATCH_RE, "__name__", "(?i)UP"}};
    assert_int_equal(count(db, m6, 1), 4);
    tsdb_matcher_t m7[] = {{TSDB_MATCH_RE, "instance", "a"}}; /* anchored: no partial match */
    assert_int_equal(count(db, m7, 1), 0);
    tsdb_matcher_t m8[] = {{TSDB_MATCH_RE, "job", ".*"}}; /* matches "" too: every series */
    assert_int_equal(count(db, m8, 1), 5);
    tsdb_matcher_t m9[] = {{TSDB_MATCH_EQ, "nosuch", "x"}};
    assert_int_equal(count(db, m9, 1), 0);
    tsdb_matcher_t m10[] = {{TSDB_MATCH_RE, "instance", "[\\w.]+:9100"}, {TSDB_MATCH_RE, "job", "n.*?e"}};
    assert_int_equal(count(db, m10, 2), 3);
    tsdb_matcher_t bad[] = {{TSDB_MATCH_RE, "job", "\\bx"}};
    assert_int_equal(count(db, bad, 1), VIGIL_ENOTSUP);
    tsdb_matcher_t bad2[] = {{TSDB_MATCH_RE, "job", "(x"}};
    assert_int_equal(count(db, bad2, 1), VIGIL_EPARSE);

    /* Sorted by label set, and labels come back sorted by name. */
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, m1, 1, 0, 2000, &set, NULL), 0);
    assert_int_equal(tsdb_series_set_len(set), 4);
    size_t              n;
    const tsdb_label_t *ls = tsdb_series_labels(set, 0, &n);
    assert_int_equal(n, 3);
    assert_string_equal(ls[0].name, "__name__");
    assert_string_equal(ls[1].name, "instance");
    assert_string_equal(ls[1].value, "a:9100");
    assert_string_equal(tsdb_series_label(set, 3, "instance"), "d:1");
    assert_null(tsdb_series_label(set, 3, "job"));
    tsdb_series_set_free(set);
    /* The time range filters series with no samples in it. */
    assert_int_equal(tsdb_select(db, m1, 1, 2000, 3000, &set, NULL), 0);
    assert_int_equal(tsdb_series_set_len(set), 0);
    tsdb_series_set_free(set);
    tsdb_close(db);
}

/* The store's regex matchers are RE2, anchored; the translation itself is tested in
 * tests/util/test_re2posix.c. Here: what matcher_compile makes of it. */
static void test_regex_matchers(void **state)
{
    (void)state;
    struct {
        tsdb_match_type_t type;
        const char       *re, *value;
        bool              match;
    } cases[] = {
        {TSDB_MATCH_RE, "(?:a|b)", "b", true},       {TSDB_MATCH_RE, "a|b", "ab", false},
        {TSDB_MATCH_RE, "\\d+\\.\\w", "12.x", true}, {TSDB_MATCH_RE, "[\\d\\s-]", "-", true},
        {TSDB_MATCH_RE, "a+?b*?", "aab", true},      {TSDB_MATCH_RE, "[]a]", "]", true},
        {TSDB_MATCH_RE, "x\\D", "xy", true},         {TSDB_MATCH_RE, "a(?i)b", "aB", true},
        {TSDB_MATCH_RE, "[\\]]", "]", true},         {TSDB_MATCH_NRE, "a.*", "abc", false},
        {TSDB_MATCH_NRE, "a.*", "", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tsdb_matcher_t src = {cases[i].type, "job", cases[i].re};
        matcher_t      m;
        vigil_error_t  err;
        assert_int_equal(matcher_compile(&m, &src, &err), 0);
        if (matcher_matches(&m, cases[i].value) != cases[i].match)
            fail_msg("%s on \"%s\"", cases[i].re, cases[i].value);
        assert_int_equal(m.matches_empty, matcher_matches(&m, ""));
        matcher_free(&m);
    }
    const char *unsupported[] = {"\\bword", "\\pL", "(?m)a"};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        tsdb_matcher_t src = {TSDB_MATCH_RE, "job", unsupported[i]};
        matcher_t      m;
        vigil_error_t  err;
        assert_int_equal(matcher_compile(&m, &src, &err), VIGIL_ENOTSUP);
        assert_non_null(strstr(err.message, unsupported[i]));
    }
}

/* Iterates series 0 of a selection over [mint, maxt] and checks t = first + k * step. */
static size_t check_range(tsdb_t *db, const char *name, int64_t mint, int64_t maxt,
                          int64_t first, int64_t step)
{
    tsdb_matcher_t     m = {TSDB_MATCH_EQ, "__name__", name};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, mint, maxt, &set, NULL), 0);
    size_t k = 0;
    if (tsdb_series_set_len(set) == 1) {
        tsdb_iter_t *it;
        assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
        int64_t t;
        double  v;
        while (tsdb_iter_next(it, &t, &v)) {
            assert_true(t >= mint && t <= maxt);
            assert_int_equal(t, first + (int64_t)k * step);
            assert_true(v == (double)(t / step));
            k++;
        }
        tsdb_iter_free(it);
    }
    tsdb_series_set_free(set);
    return k;
}

static void test_ranges_and_chunks(void **state)
{
    (void)state;
    tsdb_t *db = open_mem(NULL);
    /* 3 h at 1 s: crosses block-range boundaries and many 120-sample cuts. */
    for (int64_t t = 0; t < 3 * 3600 * 1000; t += 1000)
        add(db, "m", "j", "i", t, (double)(t / 1000));
    assert_int_equal(check_range(db, "m", INT64_MIN, INT64_MAX, 0, 1000), 10800);
    assert_int_equal(check_range(db, "m", 1500, 4000, 2000, 1000), 3);
    assert_int_equal(check_range(db, "m", 7199000, 7201000, 7199000, 1000), 3);
    assert_int_equal(check_range(db, "m", 10799000, INT64_MAX, 10799000, 1000), 1);
    assert_int_equal(check_range(db, "m", 20000000, 30000000, 0, 1000), 0);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.series, 1);
    assert_int_equal(st.samples, 10800);
    assert_int_equal(st.chunks, 90); /* 7200 = 60 × 120 up to the 2 h boundary, 3600 = 30 × 120 */
    assert_int_equal(st.mint, 0);
    assert_int_equal(st.maxt, 10799000);
    printf("head.bytes_per_sample counter_1s=%.3f\n", (double)st.chunk_bytes / 10800.0);
    tsdb_close(db);
}

static void test_limits_and_rejections(void **state)
{
    (void)state;
    tsdb_options_t o = {.max_series = 3, .max_labels = 3, .max_label_name_len = 8,
                        .max_label_value_len = 10};
    tsdb_t        *db = open_mem(&o);
    vigil_error_t  err;
    tsdb_label_t   ok[2] = {L("__name__", "a"), L("x", "1")};
    assert_int_equal(tsdb_append(db, ok, 2, 1000, 1, &err), 0);
    /* In-order only: older is out of order, same t with another value a duplicate, same t and
     * same value silently accepted. */
    assert_int_equal(tsdb_append(db, ok, 2, 999, 1, &err), VIGIL_ERANGE);
    assert_non_null(strstr(err.message, "out of order"));
    assert_non_null(strstr(err.message, "__name__=\"a\""));
    assert_int_equal(tsdb_append(db, ok, 2, 1000, 2, &err), VIGIL_ERANGE);
    assert_int_equal(tsdb_append(db, ok, 2, 1000, 1, &err), 0);

    tsdb_label_t many[4] = {L("a", "1"), L("b", "2"), L("c", "3"), L("d", "4")};
    assert_int_equal(tsdb_append(db, many, 4, 1, 1, &err), VIGIL_ELIMIT);
    tsdb_label_t longname[1] = {L("abcdefghij", "1")};
    assert_int_equal(tsdb_append(db, longname, 1, 1, 1, &err), VIGIL_ELIMIT);
    tsdb_label_t longval[1] = {L("a", "12345678901")};
    assert_int_equal(tsdb_append(db, longval, 1, 1, 1, &err), VIGIL_ELIMIT);
    tsdb_label_t dup[2] = {L("a", "1"), L("a", "2")};
    assert_int_equal(tsdb_append(db, dup, 2, 1, 1, &err), VIGIL_EINVAL);
    tsdb_label_t empty[1] = {L("a", "")};
    assert_int_equal(tsdb_append(db, empty, 1, 1, 1, &err), VIGIL_EINVAL);
    tsdb_label_t noname[1] = {L("", "x")};
    assert_int_equal(tsdb_append(db, noname, 1, 1, 1, &err), VIGIL_EINVAL);

    /* Unsorted input and empty values name the same series as the sorted, trimmed set. */
    tsdb_label_t same[3] = {L("x", "1"), L("y", ""), L("__name__", "a")};
    assert_int_equal(tsdb_append(db, same, 3, 2000, 1, &err), 0);

    tsdb_label_t s2[1] = {L("__name__", "b")}, s3[1] = {L("__name__", "c")},
                 s4[1] = {L("__name__", "d")};
    assert_int_equal(tsdb_append(db, s2, 1, 1, 1, &err), 0);
    assert_int_equal(tsdb_append(db, s3, 1, 1, 1, &err), 0);
    assert_int_equal(tsdb_append(db, s4, 1, 1, 1, &err), VIGIL_ELIMIT);
    assert_non_null(strstr(err.message, "series limit"));

    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.series, 3);
    assert_int_equal(st.samples, 4);
    assert_int_equal(st.rejected[TSDB_REJECT_OUT_OF_ORDER], 1);
    assert_int_equal(st.rejected[TSDB_REJECT_DUPLICATE], 1);
    assert_int_equal(st.rejected[TSDB_REJECT_MAX_LABELS], 1);
    assert_int_equal(st.rejected[TSDB_REJECT_LABEL_NAME_LENGTH], 1);
    assert_int_equal(st.rejected[TSDB_REJECT_LABEL_VALUE_LENGTH], 1);
    assert_int_equal(st.rejected[TSDB_REJECT_INVALID_LABELS], 3);
    assert_int_equal(st.rejected[TSDB_REJECT_MAX_SERIES], 1);
    assert_string_equal(tsdb_reject_reason_name(TSDB_REJECT_MAX_SERIES), "max_series");
    tsdb_close(db);
}

static void test_ooo_window(void **state)
{
    (void)state;
    tsdb_options_t o = {.ooo_window_ms = 10000};
    tsdb_t        *db = open_mem(&o);
    vigil_error_t  err;
    tsdb_label_t   ls[1] = {L("__name__", "o")};
    for (int64_t t = 100000; t <= 200000; t += 2000)
        assert_int_equal(tsdb_append(db, ls, 1, t, (double)t, &err), 0);
    /* Fill the odd seconds of the last 10 s out of order, in reverse, one of them twice. */
    for (int64_t t = 199000; t >= 191000; t -= 2000)
        assert_int_equal(tsdb_append(db, ls, 1, t, (double)t, &err), 0);
    assert_int_equal(tsdb_append(db, ls, 1, 195000, 195000.0, &err), 0);
    assert_int_equal(tsdb_append(db, ls, 1, 195000, 1.0, &err), VIGIL_ERANGE);
    assert_int_equal(tsdb_append(db, ls, 1, 196000, 1.0, &err), VIGIL_ERANGE); /* in a chunk */
    assert_int_equal(tsdb_append(db, ls, 1, 189000, 1.0, &err), VIGIL_ERANGE);
    assert_non_null(strstr(err.message, "window"));
    /* Many out-of-order samples seal into chunks; reads stay sorted and unique. */
    for (int64_t t = 199500; t >= 190500; t -= 1000)
        assert_int_equal(tsdb_append(db, ls, 1, t, (double)t, &err), 0);
    tsdb_matcher_t     m = {TSDB_MATCH_EQ, "__name__", "o"};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, 150000, 300000, &set, NULL), 0);
    tsdb_iter_t *it;
    assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
    int64_t t, prev = 0;
    double  v;
    size_t  n = 0;
    while (tsdb_iter_next(it, &t, &v)) {
        assert_true(t > prev);
        assert_true(v == (double)t);
        assert_true(t >= 150000);
        prev = t;
        n++;
    }
    assert_int_equal(n, 26 + 5 + 10); /* in order in [150000, 200000], odd seconds, halves */
    tsdb_iter_free(it);
    tsdb_series_set_free(set);
    /* Enough out-of-order samples to seal the buffer into a chunk (at 960); duplicates are
     * still found inside the sealed chunk. */
    tsdb_label_t o2[1] = {L("__name__", "o2")};
    assert_int_equal(tsdb_append(db, o2, 1, 10000000, 0, &err), 0);
    for (int64_t ot = 10000000 - 1; ot >= 10000000 - 1000; ot--)
        assert_int_equal(tsdb_append(db, o2, 1, ot, (double)ot, &err), 0);
    assert_int_equal(tsdb_append(db, o2, 1, 10000000 - 5, 1.0, &err), VIGIL_ERANGE);
    assert_int_equal(tsdb_append(db, o2, 1, 10000000 - 999, (double)(10000000 - 999), &err), 0);
    tsdb_matcher_t m2 = {TSDB_MATCH_EQ, "__name__", "o2"};
    assert_int_equal(tsdb_select(db, &m2, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
    assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
    n = 0;
    while (tsdb_iter_next(it, &t, &v)) {
        assert_int_equal(t, 10000000 - 1000 + (int64_t)n);
        assert_true(n == 1000 ? v == 0 : v == (double)t);
        n++;
    }
    assert_int_equal(n, 1001);
    tsdb_iter_free(it);
    tsdb_series_set_free(set);

    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.rejected[TSDB_REJECT_TOO_OLD], 1);
    assert_int_equal(st.rejected[TSDB_REJECT_DUPLICATE], 3);
    tsdb_close(db);
}

static void test_special_values(void **state)
{
    (void)state;
    tsdb_t  *db = open_mem(NULL);
    uint64_t stale = 0x7ff0000000000002ULL;
    double   sv;
    memcpy(&sv, &stale, sizeof(sv));
    double vals[] = {1.5, sv, -0.0, INFINITY, sv, 2.0};
    for (int i = 0; i < 6; i++)
        add(db, "s", "j", "i", 1000 * (i + 1), vals[i]);
    tsdb_matcher_t     m = {TSDB_MATCH_EQ, "__name__", "s"};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
    tsdb_iter_t *it;
    assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
    int64_t t;
    double  v;
    for (int i = 0; i < 6; i++) {
        assert_true(tsdb_iter_next(it, &t, &v));
        assert_memory_equal(&v, &vals[i], sizeof(v));
    }
    assert_false(tsdb_iter_next(it, &t, &v));
    tsdb_iter_free(it);
    tsdb_series_set_free(set);
    tsdb_close(db);
}

static void test_listings_and_status(void **state)
{
    (void)state;
    tsdb_t *db = open_mem(NULL);
    add(db, "up", "node", "a", 1000, 1);
    add(db, "up", "node", "b", 1000, 1);
    add(db, "up", "prom", "c", 5000, 1);
    add(db, "load1", "node", "a", 1000, 1);
    tsdb_strings_t s;
    assert_int_equal(tsdb_label_names(db, NULL, 0, 0, 0, 0, &s, NULL), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.v[0], "__name__");
    assert_string_equal(s.v[2], "job");
    tsdb_strings_free(&s);
    assert_int_equal(tsdb_label_values(db, "instance", NULL, 0, 0, 0, 2, &s, NULL), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.v[0], "a");
    assert_string_equal(s.v[1], "b");
    tsdb_strings_free(&s);
    tsdb_matcher_t m = {TSDB_MATCH_EQ, "job", "prom"};
    assert_int_equal(tsdb_label_values(db, "instance", &m, 1, 0, 10000, 0, &s, NULL), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.v[0], "c");
    tsdb_strings_free(&s);
    tsdb_matcher_t m2 = {TSDB_MATCH_EQ, "__name__", "up"};
    assert_int_equal(tsdb_label_values(db, "instance", &m2, 1, 0, 2000, 0, &s, NULL), 0);
    assert_int_equal(s.n, 2); /* c has no sample in [0, 2000] */
    tsdb_strings_free(&s);
    assert_int_equal(tsdb_label_values(db, "nosuch", NULL, 0, 0, 0, 0, &s, NULL), 0);
    assert_int_equal(s.n, 0);
    tsdb_strings_free(&s);

    tsdb_status_t st;
    assert_int_equal(tsdb_status(db, 2, &st), 0);
    assert_int_equal(st.label_pairs, 7); /* __name__ x2, job x2, instance x3 */
    assert_int_equal(st.n_series_by_metric, 2);
    assert_string_equal(st.series_by_metric[0].name, "up");
    assert_int_equal(st.series_by_metric[0].value, 3);
    assert_int_equal(st.n_values_by_label, 2);
    assert_string_equal(st.values_by_label[0].name, "instance");
    assert_int_equal(st.values_by_label[0].value, 3);
    assert_string_equal(st.series_by_pair[0].name, st.series_by_pair[0].value == 3 &&
                        strcmp(st.series_by_pair[0].name, "__name__=up") == 0
                        ? "__name__=up" : "job=node");
    tsdb_status_free(&st);
    tsdb_close(db);
}

/* ---- concurrency: writers on their own and on shared series, readers selecting ------------ */

typedef struct worker {
    tsdb_t *db;
    int     id;
    long    accepted;
} worker_t;

#define WRITERS 4
#define PER     20000

static void *writer_main(void *arg)
{
    worker_t        *w = arg;
    tsdb_appender_t *a = tsdb_appender_new(w->db);
    char             inst[16];
    snprintf(inst, sizeof(inst), "w%d", w->id);
    tsdb_ref_t ref = 0;
    for (int i = 0; i < PER; i++) {
        tsdb_label_t own[2] = {L("__name__", "own"), L("instance", inst)};
        tsdb_label_t shared[1] = {L("__name__", "shared")};
        if (ref == 0)
            assert_int_equal(tsdb_appender_add(a, own, 2, i, i, &ref, NULL), 0);
        else
            assert_int_equal(tsdb_appender_add_ref(a, ref, i, i, NULL), 0);
        /* Everyone writes the same timestamps to one series: exactly one write per timestamp
         * wins (or ties with the same value); the others are out of order or duplicates. */
        if (tsdb_appender_add(a, shared, 1, i, 7, NULL, NULL) == 0)
            w->accepted++;
        /* New series now and then while others read. */
        if (i % 1000 == 0) {
            char v[32];
            snprintf(v, sizeof(v), "%d-%d", w->id, i);
            tsdb_label_t fresh[2] = {L("__name__", "fresh"), L("k", v)};
            assert_int_equal(tsdb_appender_add(a, fresh, 2, i, 1, NULL, NULL), 0);
        }
        if (i % 512 == 0)
            assert_int_equal(tsdb_appender_commit(a, TSDB_ASYNC, NULL), 0);
    }
    assert_int_equal(tsdb_appender_commit(a, TSDB_ASYNC, NULL), 0);
    tsdb_appender_free(a);
    return NULL;
}

static void *reader_main(void *arg)
{
    worker_t *w = arg;
    for (int r = 0; r < 200; r++) {
        tsdb_matcher_t     m = {TSDB_MATCH_RE, "__name__", "own|fresh"};
        tsdb_series_set_t *set;
        assert_int_equal(tsdb_select(w->db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
        for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
            tsdb_iter_t *it;
            assert_int_equal(tsdb_iter_open(set, i, &it), 0);
            int64_t t, prev = -1;
            double  v;
            while (tsdb_iter_next(it, &t, &v)) {
                assert_true(t > prev);
                prev = t;
            }
            tsdb_iter_free(it);
        }
        tsdb_series_set_free(set);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    tsdb_t   *db = open_mem(NULL);
    pthread_t th[WRITERS + 2];
    worker_t  w[WRITERS + 2];
    for (int i = 0; i < WRITERS + 2; i++) {
        w[i] = (worker_t){db, i, 0};
        pthread_create(&th[i], NULL, i < WRITERS ? writer_main : reader_main, &w[i]);
    }
    long accepted = 0;
    for (int i = 0; i < WRITERS + 2; i++) {
        pthread_join(th[i], NULL);
        accepted += w[i].accepted;
    }
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    assert_int_equal(st.series, WRITERS + 1 + WRITERS * (PER / 1000));
    /* own: WRITERS * PER; fresh: one each; shared: exactly PER distinct timestamps stored. */
    assert_int_equal(st.samples, WRITERS * PER + WRITERS * (PER / 1000) + PER);
    assert_true(accepted >= PER);
    tsdb_matcher_t     m = {TSDB_MATCH_EQ, "__name__", "shared"};
    tsdb_series_set_t *set;
    assert_int_equal(tsdb_select(db, &m, 1, INT64_MIN, INT64_MAX, &set, NULL), 0);
    tsdb_iter_t *it;
    assert_int_equal(tsdb_iter_open(set, 0, &it), 0);
    int64_t t, k = 0;
    double  v;
    while (tsdb_iter_next(it, &t, &v)) {
        assert_int_equal(t, k);
        assert_true(v == 7);
        k++;
    }
    assert_int_equal(k, PER);
    tsdb_iter_free(it);
    tsdb_series_set_free(set);
    tsdb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matchers),
        cmocka_unit_test(test_regex_matchers),
        cmocka_unit_test(test_ranges_and_chunks),
        cmocka_unit_test(test_limits_and_rejections),
        cmocka_unit_test(test_ooo_window),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_listings_and_status),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
