/*
 * Unit tests of the chunk encoding (src/tsdb/chunk.c, docs/format/chunks.md): bit-exact
 * round trips of random and adversarial series, repeat runs of every length (version 2),
 * version 1 chunks still read, malformed input, and the bytes a sample of
 * realistic host metrics takes (printed as a "chunk.bytes_per_sample" line, not asserted
 * beyond a loose bound, since it measures the encoder's choices rather than correctness).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tsdb/chunk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

/* xorshift64*: deterministic so a failure reproduces. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Encodes n samples, decodes them back and requires every timestamp and value bit equal.
 * Returns the chunk size in bytes. */
static size_t roundtrip(const int64_t *ts, const double *vs, size_t n)
{
    chunk_appender_t a;
    chunk_appender_init(&a);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(chunk_append(&a, ts[i], vs[i]), 0);
    size_t         len;
    const uint8_t *bytes = chunk_appender_bytes(&a, &len);
    assert_int_equal(chunk_count(bytes, len), n);

    chunk_iter_t it;
    assert_int_equal(chunk_iter_init(&it, bytes, len), 0);
    int64_t t;
    double  v;
    for (size_t i = 0; i < n; i++) {
        assert_true(chunk_iter_next(&it, &t, &v));
        if (t != ts[i] || dbits(v) != dbits(vs[i]))
            fail_msg("sample %zu: got (%lld, %016llx) want (%lld, %016llx)", i, (long long)t,
                     (unsigned long long)dbits(v), (long long)ts[i],
                     (unsigned long long)dbits(vs[i]));
    }
    assert_false(chunk_iter_next(&it, &t, &v));
    assert_false(chunk_iter_failed(&it));

    /* The detached copy decodes the same. */
    size_t   dlen;
    uint8_t *d = chunk_appender_detach(&a, &dlen);
    assert_int_equal(dlen, len);
    assert_int_equal(chunk_iter_init(&it, d, dlen), 0);
    size_t k = 0;
    while (chunk_iter_next(&it, &t, &v))
        k++;
    assert_int_equal(k, n);
    free(d);
    chunk_appender_free(&a);
    return len;
}

static void test_adversarial_values(void **state)
{
    (void)state;
    double vals[] = {
        0.0, -0.0, 1.0, -1.0, INFINITY, -INFINITY, NAN,
        bitsd(0x7ff0000000000002ULL), /* Prometheus staleness marker */
        bitsd(0x7ff8000000000001ULL), bitsd(0xfff0000000000001ULL), bitsd(0x7fffffffffffffffULL),
        bitsd(1),                      /* smallest subnormal */
        bitsd(0x000fffffffffffffULL), 1e308, -1e308, 4.9e-324, 0.1, 0.2, 0.30000000000000004,
        9007199254740992.0, 9007199254740993.0, -9007199254740992.0, 1e15, 123456.789,
        1e-15, 12345.67, 12345.68, 12345.68, 12345.69, 0.0, bitsd(0x7ff0000000000002ULL),
        bitsd(0x7ff0000000000002ULL), 5.0, -0.0, -0.0, 0.0,
    };
    size_t  n = sizeof(vals) / sizeof(vals[0]);
    int64_t ts[64];
    for (size_t i = 0; i < n; i++)
        ts[i] = 1700000000000LL + (int64_t)i * 1000;
    roundtrip(ts, vals, n);
    /* Every value after every other: exercises every code transition. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double pair[3] = {vals[i], vals[j], vals[i]};
            roundtrip(ts, pair, 3);
        }
}

static void test_adversarial_timestamps(void **state)
{
    (void)state;
    int64_t ts[] = {INT64_MIN, INT64_MAX, 0, -1, INT64_MIN + 1, INT64_MAX - 1, 1000, 1000,
                    999, 5000000000000LL, -5000000000000LL, 1, 2, 3, 4, 4, 3, 2, INT64_MIN,
                    INT64_MIN, 100, 164, 228, 228 + 8192, 228 + 8192 + 600000};
    size_t  n = sizeof(ts) / sizeof(ts[0]);
    double  vs[32];
    for (size_t i = 0; i < n; i++)
        vs[i] = (double)i;
    roundtrip(ts, vs, n);
    /* A single sample, and huge regular deltas. */
    roundtrip(ts, vs, 1);
    int64_t big[100];
    double  bv[100];
    for (int i = 0; i < 100; i++) {
        big[i] = (int64_t)((uint64_t)INT64_MIN + (uint64_t)i * (uint64_t)(INT64_MAX / 50)); /* wraps on purpose */
        bv[i] = -(double)i;
    }
    roundtrip(big, bv, 100);
}

static void test_random_series(void **state)
{
    (void)state;
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    int64_t  ts[2000];
    double   vs[2000];
    for (int round = 0; round < 40; round++) {
        size_t  n = 1 + rnd(&s) % 2000;
        int64_t t = (int64_t)rnd(&s);
        for (size_t i = 0; i < n; i++) {
            switch (rnd(&s) % 6) { /* mix regimes inside one chunk */
            case 0: vs[i] = bitsd(rnd(&s)); break;
            case 1: vs[i] = (double)(int64_t)(rnd(&s) % 100000); break;
            case 2: vs[i] = (double)(rnd(&s) % 1000000) / 100.0; break;
            case 3: vs[i] = i ? vs[i - 1] : 1.5; break;
            case 4: vs[i] = i ? vs[i - 1] + 1 : 0; break;
            default: vs[i] = (double)(rnd(&s) % 1000) * 1e-7; break;
            }
            ts[i] = t;
            uint64_t r = rnd(&s) % 10;
            uint64_t step = r < 7 ? 1000 : r < 9 ? rnd(&s) % 3000 - 1000 : rnd(&s);
            t = (int64_t)((uint64_t)t + step); /* wraps on purpose: the codec works mod 2^64 */
        }
        roundtrip(ts, vs, n);
    }
}

static void test_malformed(void **state)
{
    (void)state;
    chunk_iter_t  it;
    const uint8_t short_hdr[2] = {1, 0};
    assert_int_equal(chunk_iter_init(&it, short_hdr, 2), VIGIL_EPARSE);
    const uint8_t bad_enc[4] = {9, 0, 1, 0};
    assert_int_equal(chunk_iter_init(&it, bad_enc, 4), VIGIL_EPARSE);

    /* Every truncation of a real chunk stops cleanly with failed set. */
    chunk_appender_t a;
    chunk_appender_init(&a);
    for (int i = 0; i < 50; i++)
        assert_int_equal(chunk_append(&a, 1000 * i, i * 0.37), 0);
    size_t         len;
    const uint8_t *b = chunk_appender_bytes(&a, &len);
    for (size_t cut = CHUNK_HEADER_BYTES; cut < len; cut++) {
        assert_int_equal(chunk_iter_init(&it, b, cut), 0);
        int64_t t;
        double  v;
        size_t  k = 0;
        while (chunk_iter_next(&it, &t, &v))
            k++;
        assert_true(k < 50);
        assert_true(chunk_iter_failed(&it));
    }
    /* Random garbage never crashes the reader. */
    uint64_t s = 42;
    uint8_t  junk[64];
    for (int r = 0; r < 2000; r++) {
        for (size_t i = 0; i < sizeof(junk); i++)
            junk[i] = (uint8_t)rnd(&s);
        junk[0] = CHUNK_ENCODING;
        assert_int_equal(chunk_iter_init(&it, junk, 3 + rnd(&s) % 61), 0);
        int64_t t;
        double  v;
        while (chunk_iter_next(&it, &t, &v))
            ;
    }
    chunk_appender_free(&a);
}

/*
 * Synthetic host metrics at 1 s with scrape jitter on a few samples, in 240-sample chunks (the
 * head cuts at 960; short chunks keep this test a worst case): constant gauges, byte
 * counters, centisecond CPU counters, slowly moving memory gauges, and ratios. Real recorded
 * data comes with issue 6's bench dataset.
 */
static void test_bytes_per_sample(void **state)
{
    (void)state;
    uint64_t s = 7;
    size_t   total_bytes = 0, total_samples = 0;
    int64_t  ts[240];
    double   vs[240];
    for (int series = 0; series < 200; series++) {
        int     kind = series % 10;
        double  v = (double)(rnd(&s) % 1000000);
        int64_t t = 1700000000000LL;
        for (int i = 0; i < 240; i++) {
            ts[i] = t;
            t += 1000 + ((rnd(&s) % 20) == 0 ? (int64_t)(rnd(&s) % 5) - 2 : 0);
            switch (kind) {
            case 0: case 1: case 2: case 3: break;                              /* constant */
            case 4: v += (double)(rnd(&s) % 5000); break;                        /* bytes */
            case 5: v = (double)(int64_t)(v * 100 + 100 - rnd(&s) % 3) / 100; break; /* cpu s */
            case 6: if (rnd(&s) % 10 == 0) v += 4096.0 * (double)(rnd(&s) % 64); break;
            case 7: v += 1; break;                                                /* uptime */
            case 8: v = (double)(rnd(&s) % 100) / 100.0; break;                  /* ratio */
            default: if (rnd(&s) % 30 == 0) v += 1; break;                      /* rare */
            }
            vs[i] = v;
        }
        total_bytes += roundtrip(ts, vs, 240);
        total_samples += 240;
    }
    double bps = (double)total_bytes / (double)total_samples;
    printf("chunk.bytes_per_sample synthetic_host_mix=%.3f (%zu samples)\n", bps, total_samples);
    assert_true(bps < 1.0);
}

/* Decodes every sample of `bytes` and compares with ts/vs, bit for bit. */
static void expect_samples(const uint8_t *bytes, size_t len, const int64_t *ts, const double *vs,
                           size_t n)
{
    chunk_iter_t it;
    assert_int_equal(chunk_iter_init(&it, bytes, len), 0);
    int64_t t;
    double  v;
    for (size_t i = 0; i < n; i++) {
        assert_true(chunk_iter_next(&it, &t, &v));
        assert_int_equal(t, ts[i]);
        assert_int_equal(dbits(v), dbits(vs[i]));
    }
    assert_false(chunk_iter_next(&it, &t, &v));
    assert_false(chunk_iter_failed(&it));
}

/*
 * Version 2's repeat runs: constant stretches of every length (runs of 1 to past the largest
 * bucket boundary), broken by scrape jitter, by a changed value, by a NaN with the same bits
 * (a repeat too), ending at the chunk's end; and the open chunk is complete after every append,
 * since the head hands copies of it to readers between appends.
 */
static void test_repeat_runs(void **state)
{
    (void)state;
    static const int lens[] = {1, 2, 3, 4, 5, 6, 20, 21, 22, 276, 277, 278, 1000, 5000};
    enum { N = 12000 };
    int64_t *ts = malloc(N * sizeof(*ts));
    double  *vs = malloc(N * sizeof(*vs));
    size_t   n = 0;
    int64_t  t = 1795515474922;
    double   v = 7;
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        for (int i = 0; i < lens[k] && n < N; i++, n++) {
            ts[n] = t;
            vs[n] = v;
            t += 1000;
        }
        switch (k % 3) {
        case 0: t += 3; break;                   /* jitter: the next interval differs */
        case 1: v += 1; break;                   /* a new value */
        default: v = bitsd(0x7ff0000000000002ULL); /* the staleness NaN, repeated bit-exactly */
        }
    }
    chunk_appender_t a;
    chunk_appender_init(&a);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(chunk_append(&a, ts[i], vs[i]), 0);
        size_t         len;
        const uint8_t *b = chunk_appender_bytes(&a, &len);
        if (i < 40 || i % 97 == 0 || i + 1 == n)
            expect_samples(b, len, ts, vs, i + 1);
    }
    size_t len;
    chunk_appender_bytes(&a, &len);
    /* ~14 runs and a few dozen changes: a few hundred bytes for 7 000 samples. */
    assert_true(len < 400);
    chunk_appender_free(&a);

    /* A chunk that is one run from its second sample to 65 535 samples. */
    chunk_appender_init(&a);
    for (uint32_t i = 0; i < CHUNK_MAX_SAMPLES; i++)
        assert_int_equal(chunk_append(&a, (int64_t)i * 15000, 1.0), 0);
    const uint8_t *b = chunk_appender_bytes(&a, &len);
    assert_true(len < 48);
    chunk_iter_t it;
    assert_int_equal(chunk_iter_init(&it, b, len), 0);
    uint32_t k = 0;
    double   x;
    while (chunk_iter_next(&it, &t, &x)) {
        assert_int_equal(t, (int64_t)k * 15000);
        k++;
    }
    assert_int_equal(k, CHUNK_MAX_SAMPLES);
    assert_false(chunk_iter_failed(&it));

    /* A run longer than the samples the header has left is malformed, not read past. */
    uint8_t bad[64];
    memcpy(bad, b, len < sizeof(bad) ? len : sizeof(bad));
    bad[1] = 0;
    bad[2] = 40;
    assert_int_equal(chunk_iter_init(&it, bad, len), 0);
    k = 0;
    while (chunk_iter_next(&it, &t, &x))
        k++;
    assert_true(chunk_iter_failed(&it));
    assert_true(k < 40);
    chunk_appender_free(&a);
    free(ts);
    free(vs);
}

/* Version 1 chunks (written before repeat runs existed; blocks and checkpoints hold them) still
 * decode: these bytes are what the version 1 writer produced for these samples. */
static void test_version1_still_read(void **state)
{
    (void)state;
    static const uint8_t v1[] = {
        0x01, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, 0x3f, 0xf8, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0xfa, 0x03, 0xcb, 0x25, 0xc5, 0x6b, 0x25, 0xc7,
        0x85, 0xdf, 0xc7, 0xfc, 0x87, 0x91, 0x00, 0x0e, 0xb3, 0xb8, 0x3e, 0xc1, 0x8e, 0x7d,
        0xa5, 0x11, 0x99, 0xec, 0x06, 0x38, 0x1f, 0x5f, 0xdc, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc,
        0xcd, 0x70, 0x0f, 0xc0, 0x45, 0x00};
    static const int64_t ts[12] = {1000, 2000, 3000, 4000, 5001, 6000,
                                   7000, 8000, 9000, 10000, 11000, 12000};
    static const double  vs[12] = {1.5, 1.5, 1.5, 2.25, 2.25, 3.0, 1e300, 0.1, 0.1, -0.0, 42, 42};
    expect_samples(v1, sizeof(v1), ts, vs, 12);
    /* The same samples now take version 2, and its runs. */
    chunk_appender_t a;
    chunk_appender_init(&a);
    for (int i = 0; i < 12; i++)
        assert_int_equal(chunk_append(&a, ts[i], vs[i]), 0);
    size_t         len;
    const uint8_t *b = chunk_appender_bytes(&a, &len);
    assert_int_equal(b[0], CHUNK_ENCODING);
    expect_samples(b, len, ts, vs, 12);
    chunk_appender_free(&a);
}

static void test_limit(void **state)
{
    (void)state;
    chunk_appender_t a;
    chunk_appender_init(&a);
    for (uint32_t i = 0; i < CHUNK_MAX_SAMPLES; i++)
        assert_int_equal(chunk_append(&a, i, 1.0), 0);
    assert_int_equal(chunk_append(&a, 1 << 20, 1.0), VIGIL_ELIMIT);
    size_t len;
    assert_int_equal(chunk_count(chunk_appender_bytes(&a, &len), len), CHUNK_MAX_SAMPLES);
    chunk_appender_free(&a);
    size_t z;
    assert_null(chunk_appender_bytes(&a, &z));
    assert_null(chunk_appender_detach(&a, &z));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adversarial_values),
        cmocka_unit_test(test_adversarial_timestamps),
        cmocka_unit_test(test_random_series),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bytes_per_sample),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_repeat_runs),
        cmocka_unit_test(test_version1_still_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
