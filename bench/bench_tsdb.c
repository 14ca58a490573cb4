/*
 * bench_tsdb.c - the time-series store (issue 6's table), on a SYNTHETIC workload.
 *
 * The real benchmark dataset (>= 1 h of our collectors' output, committed in
 * bench/data/) and the comparison with Prometheus's blocks come later; until then the series
 * here are generated to look like a host's metrics at 1 s (see gen_next: centisecond CPU
 * counters, byte and packet counters, page-sized memory gauges, constant info and filesystem
 * metrics, load averages, temperatures, a clock), with millisecond jitter on 5 % of scrapes.
 *
 *   tsdb.append          samples/s appending on one thread (series known by ref, WAL on, async
 *                        commit every 10 000 samples; the WAL's flusher syncs on its own
 *                        thread) vs memcpy of the same 16-byte samples
 *   tsdb.append_labels   the same passing full label sets (hash + lookup per sample)
 *   tsdb.select          µs to select 1 000 series × 1 h at 1 s and iterate every sample, vs
 *                        memcpy of as many 16-byte samples (the floor for touching them)
 *   tsdb.bytes_per_sample_synthetic
 *                        encoded chunk bytes / samples for 500 series × 1 h, vs the same
 *                        samples in Prometheus's XOR chunk encoding (re-implemented below
 *                        from its format: 120-sample chunks, chunk bytes only)
 *
 *   tsdb.block_bytes_per_sample_synthetic
 *                        block file bytes (chunks + symbols + series + postings + tables) /
 *                        samples, for 500 series × 2 h compacted from the head, vs the same
 *                        samples as Prometheus XOR chunks (chunk bytes only: its index and
 *                        meta files would come on top)
 *   tsdb.memory_per_series_inprocess, tsdb.memory_per_series_inprocess_1m
 *                        RSS growth per series for 100 000 and 1 000 000 series × 120 samples
 *                        (labels like node_exporter's, 4 pairs) in a store used directly, vs
 *                        the raw bytes of their label strings (the comparison with
 *                        Prometheus, tsdb.memory_per_series, is bench/tsdb_memory.py)
 *   tsdb.wal_replay      seconds to reopen a store whose WAL holds 1 000 000 series × 120
 *                        samples (the size; ~1.5 GB of WAL, a few minutes with its
 *                        generation, so only in `make bench`; BENCH_REPLAY_SERIES=N for
 *                        another size), vs read(2) of the same segment files: the I/O floor,
 *                        so the data dir is evicted from the page cache (fdatasync +
 *                        POSIX_FADV_DONTNEED, checked with mincore) before every timed read
 *                        and every timed replay; when eviction does not take, the line says
 *                        so instead of a number
 *   tsdb.wal_replay_warm the same with the page cache warm for both (a memory-bandwidth
 *                        floor, not an I/O one)
 *
 * `bench_tsdb --dataset FILE` is the store's half of tsdb.bytes_per_sample on the real dataset
 * (bench/tsdb_dataset.py runs it next to Prometheus's promtool and prints that bench line).
 *
 * One JSON line each (bench/README.md); only names starting with $BENCH run.
 */
#include "bench_common.h"
#include "agent/ingest.h"
#include "tsdb/tsdb.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPS 3
#define BARRIER() __asm__ volatile("" ::: "memory")

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static double urand(uint64_t *s)
{
    return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

/* ---- synthetic host metrics --------------------------------------------------------------- */

enum kind { K_CONST, K_CPU_BUSY, K_CPU_IDLE, K_CPU_QUIET, K_BYTES, K_PACKETS, K_RARE_COUNTER,
            K_MEM, K_LOAD, K_TEMP, K_CLOCK, K_PRESSURE, K_KINDS };

/* Share of each kind among a host's series, roughly as node_exporter's output on an 8-core
 * machine: many constant or rarely changing series, a sizeable block of CPU counters. */
static const int kind_weight[K_KINDS] = {
    [K_CONST] = 24, [K_CPU_BUSY] = 10, [K_CPU_IDLE] = 2, [K_CPU_QUIET] = 6, [K_BYTES] = 8,
    [K_PACKETS] = 8, [K_RARE_COUNTER] = 16, [K_MEM] = 12, [K_LOAD] = 1, [K_TEMP] = 4,
    [K_CLOCK] = 1, [K_PRESSURE] = 2};

typedef struct gen {
    enum kind k;
    double    v;
    double    rate;
} gen_t;

static void gen_init(gen_t *g, int i, uint64_t *s)
{
    int total = 0, w = 0;
    for (int k = 0; k < K_KINDS; k++)
        total += kind_weight[k];
    int pick = (int)((unsigned)i * 7919u % (unsigned)total);
    g->k = K_CONST;
    for (int k = 0; k < K_KINDS; k++) {
        w += kind_weight[k];
        if (pick < w) {
            g->k = (enum kind)k;
            break;
        }
    }
    g->rate = urand(s);
    switch (g->k) {
    case K_CONST: g->v = (double)(rnd(s) % 4 == 0 ? 1 : rnd(s) % 100000000000ULL); break;
    case K_MEM: g->v = 4096.0 * (double)(rnd(s) % 4000000); break;
    case K_LOAD: g->v = 1.25; break;
    case K_TEMP: g->v = 40.0 + (double)(rnd(s) % 20); break;
    case K_CLOCK: g->v = 1700000000.0; break;
    default: g->v = (double)(rnd(s) % 100000000) / 100.0; break;
    }
    if (g->k == K_BYTES || g->k == K_PACKETS || g->k == K_RARE_COUNTER)
        g->v = floor(g->v);
}

/* The value one second later. Counters from /proc are integers or centiseconds. */
static double gen_next(gen_t *g, int64_t t_ms, uint64_t *s)
{
    switch (g->k) {
    case K_CONST: break;
    case K_CPU_BUSY: /* user/system: 0-30 ticks of 10 ms a second */
        g->v = (double)((int64_t)llround(g->v * 100) + (int64_t)(rnd(s) % (1 + (uint64_t)(30 * g->rate)))) / 100.0;
        break;
    case K_CPU_IDLE: /* idle: ~100 ticks a second, jitter of a tick or two */
        g->v = (double)((int64_t)llround(g->v * 100) + 97 + (int64_t)(rnd(s) % 4)) / 100.0;
        break;
    case K_CPU_QUIET: /* irq, steal, guest: a tick now and then */
        if (rnd(s) % 20 == 0)
            g->v = (double)((int64_t)llround(g->v * 100) + 1) / 100.0;
        break;
    case K_BYTES: g->v += floor(g->rate * 200000 * (0.5 + urand(s))); break;
    case K_PACKETS: g->v += floor(g->rate * 200 * (0.5 + urand(s))); break;
    case K_RARE_COUNTER: if (rnd(s) % 25 == 0) g->v += (double)(1 + rnd(s) % 8); break;
    case K_MEM: if (rnd(s) % 3 == 0) g->v += 4096.0 * (double)((int64_t)(rnd(s) % 512) - 256); break;
    case K_LOAD: /* /proc/loadavg has two decimals */
        g->v = (double)(int64_t)llround(fabs(g->v * 100 + (double)((int64_t)(rnd(s) % 7) - 3))) / 100.0;
        break;
    case K_TEMP: if (rnd(s) % 30 == 0) g->v += (double)((int64_t)(rnd(s) % 3) - 1); break;
    case K_CLOCK: g->v = (double)t_ms / 1000.0; break;
    case K_PRESSURE: /* microseconds of stall, exported as seconds */
        g->v = (double)((int64_t)llround(g->v * 1e6) + (int64_t)(rnd(s) % 5000)) / 1e6;
        break;
    default: break;
    }
    return g->v;
}

typedef struct sample {
    int64_t t;
    double  v;
} sample_t;

/* n series × steps samples at 1 s (5 % with ±2 ms jitter), series-major. Caller frees. */
static sample_t *make_samples(size_t n, size_t steps, uint64_t seed)
{
    sample_t *out = malloc(n * steps * sizeof(*out));
    uint64_t  s = seed;
    for (size_t i = 0; i < n; i++) {
        gen_t g;
        gen_init(&g, (int)i, &s);
        for (size_t k = 0; k < steps; k++) {
            int64_t t = (int64_t)k * 1000 + (rnd(&s) % 20 == 0 ? (int64_t)(rnd(&s) % 5) - 2 : 0);
            out[i * steps + k] = (sample_t){t, gen_next(&g, t, &s)};
        }
    }
    return out;
}

typedef struct series_labels {
    char         inst[32], idx[16];
    tsdb_label_t ls[4];
} series_labels_t;

static void make_labels(series_labels_t *sl, size_t i)
{
    static const char *const names[] = {"node_cpu_seconds_total", "node_network_receive_bytes_total",
                                        "node_memory_MemFree_bytes", "node_disk_reads_completed_total",
                                        "node_filesystem_avail_bytes", "node_load1"};
    snprintf(sl->inst, sizeof(sl->inst), "host-%zu:9100", i / 500);
    snprintf(sl->idx, sizeof(sl->idx), "%zu", i % 500);
    sl->ls[0] = (tsdb_label_t){"__name__", names[i % 6]};
    sl->ls[1] = (tsdb_label_t){"instance", sl->inst};
    sl->ls[2] = (tsdb_label_t){"job", "bench"};
    sl->ls[3] = (tsdb_label_t){"series", sl->idx};
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

static tsdb_t *open_tmp(char *dir, bool wal)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, 4096, "%s/vigil-bench-tsdb-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        return NULL;
    tsdb_options_t o = {.dir = wal ? dir : NULL};
    tsdb_t        *db;
    vigil_error_t  err;
    if (tsdb_open(&db, &o, NULL, &err) != 0) {
        fprintf(stderr, "bench_tsdb: %s\n", err.message);
        return NULL;
    }
    return db;
}

static void close_tmp(tsdb_t *db, const char *dir)
{
    tsdb_close(db);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- tsdb.append -------------------------------------------------------------------------- */

#define APP_SERIES 10000
#define APP_STEPS  120

static double memcpy_samples_per_s(const sample_t *src, size_t n)
{
    sample_t *dst = malloc(n * sizeof(*dst));
    double    best = 1e9;
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now_s();
        for (size_t i = 0; i < n; i++) { /* one sample at a time, as an append would */
            memcpy(&dst[i], &src[i], sizeof(sample_t));
            BARRIER();
        }
        double dt = bench_now_s() - t0;
        if (dt < best)
            best = dt;
    }
    free(dst);
    return (double)n / best;
}

static void bench_append(bool by_labels)
{
    const char *name = by_labels ? "tsdb.append_labels" : "tsdb.append";
    if (!bench_wanted(name))
        return;
    sample_t        *s = make_samples(APP_SERIES, APP_STEPS, 1);
    series_labels_t *sl = malloc(APP_SERIES * sizeof(*sl));
    for (size_t i = 0; i < APP_SERIES; i++)
        make_labels(&sl[i], i);
    double best = 1e9;
    for (int r = 0; r < REPS; r++) {
        char    dir[4096];
        tsdb_t *db = open_tmp(dir, true);
        if (db == NULL)
            return;
        tsdb_appender_t *a = tsdb_appender_new(db);
        tsdb_ref_t      *refs = malloc(APP_SERIES * sizeof(*refs));
        /* Series creation (and each series' first sample) is not timed. */
        for (size_t i = 0; i < APP_SERIES; i++)
            tsdb_appender_add(a, sl[i].ls, 4, s[i * APP_STEPS].t, s[i * APP_STEPS].v, &refs[i],
                              NULL);
        tsdb_appender_commit(a, TSDB_ASYNC, NULL);
        size_t n = 0;
        double t0 = bench_now_s();
        /* Time-major, as collectors append: every series once per step. */
        for (size_t k = 1; k < APP_STEPS; k++) {
            for (size_t i = 0; i < APP_SERIES; i++, n++) {
                const sample_t *x = &s[i * APP_STEPS + k];
                if (by_labels)
                    tsdb_appender_add(a, sl[i].ls, 4, x->t, x->v, NULL, NULL);
                else
                    tsdb_appender_add_ref(a, refs[i], x->t, x->v, NULL);
            }
            tsdb_appender_commit(a, TSDB_ASYNC, NULL);
        }
        double dt = bench_now_s() - t0;
        if (dt < best)
            best = dt;
        tsdb_appender_free(a);
        free(refs);
        close_tmp(db, dir);
    }
    double ours = (double)(APP_SERIES * (APP_STEPS - 1)) / best;
    bench_report(name, ours, "samples/s", "memcpy_16B_samples",
           memcpy_samples_per_s(s, APP_SERIES * APP_STEPS));
    free(sl);
    free(s);
}

/* ---- tsdb.select -------------------------------------------------------------------------- */

#define SEL_SERIES 1000
#define SEL_STEPS  3600

static void bench_select(void)
{
    if (!bench_wanted("tsdb.select"))
        return;
    sample_t *s = make_samples(SEL_SERIES, SEL_STEPS, 2);
    char      dir[4096];
    tsdb_t   *db = open_tmp(dir, false);
    if (db == NULL)
        return;
    tsdb_appender_t *a = tsdb_appender_new(db);
    for (size_t i = 0; i < SEL_SERIES; i++) {
        series_labels_t sl;
        make_labels(&sl, i);
        tsdb_ref_t ref;
        tsdb_appender_add(a, sl.ls, 4, s[i * SEL_STEPS].t, s[i * SEL_STEPS].v, &ref, NULL);
        for (size_t k = 1; k < SEL_STEPS; k++)
            tsdb_appender_add_ref(a, ref, s[i * SEL_STEPS + k].t, s[i * SEL_STEPS + k].v, NULL);
    }
    tsdb_appender_commit(a, TSDB_ASYNC, NULL);
    tsdb_appender_free(a);

    double         best = 1e9, sum = 0;
    size_t         got = 0;
    tsdb_matcher_t m = {TSDB_MATCH_EQ, "job", "bench"};
    for (int r = 0; r < REPS + 2; r++) {
        double             t0 = bench_now_s();
        tsdb_series_set_t *set;
        tsdb_select(db, &m, 1, -1000, (int64_t)SEL_STEPS * 1000, &set, NULL); /* jitter: t may be -2 */
        got = 0;
        for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
            tsdb_iter_t *it;
            tsdb_iter_open(set, i, &it);
            int64_t t;
            double  v;
            while (tsdb_iter_next(it, &t, &v)) {
                sum += v;
                got++;
            }
            tsdb_iter_free(it);
        }
        tsdb_series_set_free(set);
        double dt = bench_now_s() - t0;
        if (dt < best)
            best = dt;
    }
    if (got != (size_t)SEL_SERIES * SEL_STEPS)
        fprintf(stderr, "bench_tsdb: select returned %zu samples, expected %d (sum %g)\n", got,
                SEL_SERIES * SEL_STEPS, sum);
    double memcpy_s = (double)SEL_SERIES * SEL_STEPS / memcpy_samples_per_s(s, SEL_SERIES * SEL_STEPS);
    bench_report("tsdb.select", best * 1e6, "us", "memcpy_16B_samples", memcpy_s * 1e6);
    close_tmp(db, dir);
    free(s);
}

/* ---- tsdb.bytes_per_sample_synthetic ------------------------------------------------------ */

/* Prometheus's XOR chunk (chunkenc/xor.go's format, written here from its description):
 * 2-byte count, first t as varint, first v 64 bits, second t's delta as uvarint, then
 * delta-of-delta buckets 0 / 10+14 / 110+17 / 1110+20 / 1111+64 bits and Gorilla XOR values
 * (0 same; 10 reuse window; 11 + 5 lead + 6 sig bits + bits). Only the size matters here. */
typedef struct promxor {
    size_t   bits;
    int      n;
    int64_t  t, delta;
    uint64_t v;
    int      lead, trail;
} promxor_t;

static size_t varint_bits(uint64_t u)
{
    size_t b = 8;
    while (u >= 0x80) {
        u >>= 7;
        b += 8;
    }
    return b;
}

static void promxor_add(promxor_t *c, int64_t t, double v)
{
    uint64_t vb;
    memcpy(&vb, &v, 8);
    if (c->n == 0) {
        c->bits = 16 + varint_bits(((uint64_t)t << 1) ^ (uint64_t)(t >> 63)) + 64;
        c->lead = 0xff;
    } else if (c->n == 1) {
        c->delta = t - c->t;
        c->bits += varint_bits((uint64_t)c->delta);
    } else {
        int64_t d = t - c->t, dod = d - c->delta;
        c->delta = d;
        c->bits += dod == 0 ? 1 : (dod >= -8191 && dod <= 8192) ? 2 + 14
                 : (dod >= -65535 && dod <= 65536) ? 3 + 17
                 : (dod >= -524287 && dod <= 524288) ? 4 + 20 : 4 + 64;
    }
    if (c->n > 0) {
        uint64_t x = vb ^ c->v;
        if (x == 0) {
            c->bits += 1;
        } else {
            int lead = __builtin_clzll(x), trail = __builtin_ctzll(x);
            if (lead >= 32)
                lead = 31;
            if (c->lead != 0xff && lead >= c->lead && trail >= c->trail) {
                c->bits += 2 + (size_t)(64 - c->lead - c->trail);
            } else {
                c->lead = lead;
                c->trail = trail;
                c->bits += 2 + 5 + 6 + (size_t)(64 - lead - trail);
            }
        }
    }
    c->t = t;
    c->v = vb;
    c->n++;
}

#define BPS_SERIES 500

static void bench_bytes_per_sample(void)
{
    if (!bench_wanted("tsdb.bytes_per_sample_synthetic"))
        return;
    sample_t *s = make_samples(BPS_SERIES, SEL_STEPS, 3);
    char      dir[4096];
    tsdb_t   *db = open_tmp(dir, false);
    if (db == NULL)
        return;
    tsdb_appender_t *a = tsdb_appender_new(db);
    size_t           prom_bytes = 0;
    for (size_t i = 0; i < BPS_SERIES; i++) {
        series_labels_t sl;
        make_labels(&sl, i);
        promxor_t c = {0};
        for (size_t k = 0; k < SEL_STEPS; k++) {
            const sample_t *x = &s[i * SEL_STEPS + k];
            tsdb_appender_add(a, sl.ls, 4, x->t, x->v, NULL, NULL);
            promxor_add(&c, x->t, x->v);
            if (c.n == 120) {
                prom_bytes += (c.bits + 7) / 8;
                memset(&c, 0, sizeof(c));
            }
        }
        if (c.n > 0)
            prom_bytes += (c.bits + 7) / 8;
    }
    tsdb_appender_commit(a, TSDB_ASYNC, NULL);
    tsdb_appender_free(a);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    double n = (double)BPS_SERIES * SEL_STEPS;
    bench_report("tsdb.bytes_per_sample_synthetic", (double)st.chunk_bytes / n, "bytes",
           "prometheus_xor_chunks_same_samples", (double)prom_bytes / n);
    close_tmp(db, dir);
    free(s);
}

static void bench_block_bytes(void)
{
    if (!bench_wanted("tsdb.block_bytes_per_sample_synthetic"))
        return;
    const size_t steps = 3 * 3600 + 1; /* 3 h: the compactor writes [0, 2 h) */
    sample_t    *s = make_samples(BPS_SERIES, steps, 5);
    const char  *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char         dir[4096];
    snprintf(dir, sizeof(dir), "%s/vigil-bench-tsdb-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        return;
    tsdb_options_t o = {.dir = dir, .compact_interval_ms = UINT32_MAX};
    tsdb_t        *db;
    if (tsdb_open(&db, &o, NULL, NULL) != 0)
        return;
    tsdb_appender_t *a = tsdb_appender_new(db);
    size_t           prom_bytes = 0, in_block = 0;
    for (size_t i = 0; i < BPS_SERIES; i++) {
        series_labels_t sl;
        make_labels(&sl, i);
        promxor_t c = {0};
        for (size_t k = 0; k < steps; k++) {
            const sample_t *x = &s[i * steps + k];
            tsdb_appender_add(a, sl.ls, 4, x->t, x->v, NULL, NULL);
            if (x->t < 2 * 3600 * 1000) {
                in_block++;
                promxor_add(&c, x->t, x->v);
                if (c.n == 120) {
                    prom_bytes += (c.bits + 7) / 8;
                    memset(&c, 0, sizeof(c));
                }
            }
        }
        if (c.n > 0)
            prom_bytes += (c.bits + 7) / 8;
        tsdb_appender_commit(a, TSDB_ASYNC, NULL);
    }
    tsdb_appender_free(a);
    tsdb_compact(db, NULL);
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    /* One block for [0, 2 h), plus a tiny one for the few samples jitter put before 0. */
    if (st.blocks >= 1)
        bench_report("tsdb.block_bytes_per_sample_synthetic", (double)st.block_bytes / (double)in_block,
               "bytes", "prometheus_xor_chunks_same_samples", (double)prom_bytes / (double)in_block);
    else
        fprintf(stderr, "bench_tsdb: compaction wrote no block\n");
    tsdb_close(db);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(s);
}

/* ---- tsdb.memory_per_series_inprocess(_1m) and tsdb.wal_replay ----------------------------- */

#define MEM_SERIES    100000
#define REPLAY_SERIES 1000000 /* the size: 1 M series x 120 samples */
#define MEM_STEPS     120

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long  pages = 0, rss = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

/* Fills a store with n series x MEM_STEPS synthetic samples, time-major as collectors append
 * (one commit per step); returns the raw bytes of the label strings. */
static size_t fill(tsdb_t *db, size_t n)
{
    tsdb_appender_t *a = tsdb_appender_new(db);
    tsdb_ref_t      *refs = malloc(n * sizeof(*refs));
    gen_t           *g = malloc(n * sizeof(*g));
    uint64_t         s = 4;
    size_t           label_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        series_labels_t sl;
        make_labels(&sl, i);
        for (int k = 0; k < 4; k++)
            label_bytes += strlen(sl.ls[k].name) + strlen(sl.ls[k].value);
        gen_init(&g[i], (int)i, &s);
        tsdb_appender_add(a, sl.ls, 4, 0, gen_next(&g[i], 0, &s), &refs[i], NULL);
    }
    for (int64_t k = 1; k < MEM_STEPS; k++) {
        for (size_t i = 0; i < n; i++)
            tsdb_appender_add_ref(a, refs[i], k * 1000, gen_next(&g[i], k * 1000, &s), NULL);
        tsdb_appender_commit(a, TSDB_ASYNC, NULL);
    }
    tsdb_appender_commit(a, TSDB_ASYNC, NULL);
    tsdb_appender_free(a);
    free(refs);
    free(g);
    return label_bytes;
}

/* Page-cache eviction of every file under a directory, for the cold timings: the pages
 * still resident afterwards (mincore) and the file pages looked at are summed. */
static uint64_t evict_resident, evict_total;

static int evict_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || st->st_size == 0)
        return 0;
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return 0;
    /* Dirty pages cannot be dropped: write them back first. */
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    long   pg = sysconf(_SC_PAGESIZE);
    size_t npages = ((size_t)st->st_size + (size_t)pg - 1) / (size_t)pg;
    void  *m = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = malloc(npages ? npages : 1);
    if (m != MAP_FAILED && vec != NULL && mincore(m, (size_t)st->st_size, vec) == 0) {
        for (size_t i = 0; i < npages; i++)
            evict_resident += vec[i] & 1;
        evict_total += npages;
    } else {
        evict_resident += npages; /* unverifiable counts as not evicted */
        evict_total += npages;
    }
    free(vec);
    if (m != MAP_FAILED)
        munmap(m, (size_t)st->st_size);
    close(fd);
    return 0;
}

/* Evicts dir's files from the page cache; false (with a note) when more than 1 % of their
 * pages stayed resident, so no cold number is reported as if it were one. */
static bool evict_dir(const char *dir)
{
    evict_resident = evict_total = 0;
    sync();
    nftw(dir, evict_one, 16, FTW_PHYS);
    if (evict_resident * 100 > evict_total) {
        fprintf(stderr, "bench_tsdb: page-cache eviction failed: %llu of %llu pages of %s still "
                        "resident\n", (unsigned long long)evict_resident,
                (unsigned long long)evict_total, dir);
        return false;
    }
    return true;
}

/* Seconds to read every segment file of waldir sequentially with read(2); *bytes the total. */
static double read_wal_files(const char *waldir, size_t *bytes)
{
    char  *buf = malloc(1 << 20);
    double t0 = bench_now_s();
    *bytes = 0;
    DIR   *d = opendir(waldir);
    struct dirent *e;
    while (d != NULL && buf != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[4400];
        snprintf(p, sizeof(p), "%s/%s", waldir, e->d_name);
        int fd = open(p, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t got;
        while ((got = read(fd, buf, 1 << 20)) > 0) {
            *bytes += (size_t)got;
            BARRIER();
        }
        close(fd);
    }
    if (d != NULL)
        closedir(d);
    double dt = bench_now_s() - t0;
    free(buf);
    return dt;
}

/* CPU seconds of the process so far, all threads. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Best of REPS reopenings of dir (evicting it from the page cache first when `cold`); a
 * negative value when eviction failed. *cpu: CPU seconds (all threads) of the best one.
 * Checks the restored head. */
static double time_replay(const char *dir, size_t n, bool cold, double *cpu)
{
    double         best = 1e9;
    tsdb_options_t o = {.dir = dir, .max_series = 2 * n, .compact_interval_ms = UINT32_MAX};
    for (int r = 0; r < REPS; r++) {
        if (cold && !evict_dir(dir))
            return -1;
        tsdb_t *db;
        double  t0 = bench_now_s(), c0 = cpu_s();
        if (tsdb_open(&db, &o, NULL, NULL) != 0)
            break;
        double       dt = bench_now_s() - t0;
        if (dt < best)
            *cpu = cpu_s() - c0;
        tsdb_stats_t st;
        tsdb_stats(db, &st);
        if (st.samples != (uint64_t)n * MEM_STEPS || st.series != n)
            fprintf(stderr, "bench_tsdb: replay restored %llu series, %llu samples\n",
                    (unsigned long long)st.series, (unsigned long long)st.samples);
        tsdb_close(db);
        if (dt < best)
            best = dt;
    }
    return best;
}

/* Fills a fresh store with n series (WAL on), reports the RSS growth per series as `mem_name`
 * when that is wanted, closes it, and when `replay` times reopening it (best of REPS) against
 * reading its segment files (best of REPS), cold then warm. Runs in a child process so that
 * every measurement starts from a fresh heap: memory a previous measurement freed would
 * otherwise hide growth. */
static void mem_and_replay(size_t n, const char *mem_name, bool replay)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return;
    if (pid > 0) {
        int st;
        waitpid(pid, &st, 0);
        return;
    }
    char    dir[4096];
    long    rss0 = rss_bytes();
    tsdb_t *db;
    {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(dir, sizeof(dir), "%s/vigil-bench-tsdb-XXXXXX", base);
        tsdb_options_t o = {.dir = dir, .max_series = 2 * n, .compact_interval_ms = UINT32_MAX};
        if (mkdtemp(dir) == NULL || tsdb_open(&db, &o, NULL, NULL) != 0)
            _exit(1);
    }
    size_t label_bytes = fill(db, n);
    long   rss1 = rss_bytes();
    if (mem_name != NULL && bench_wanted(mem_name))
        bench_report(mem_name, (double)(rss1 - rss0) / (double)n, "bytes", "raw_label_bytes",
               (double)label_bytes / (double)n);
    tsdb_close(db);
    if (replay) {
        char   waldir[4200];
        size_t wal_bytes = 0;
        snprintf(waldir, sizeof(waldir), "%s/wal", dir);
        double cold_read = 1e9, warm_read = 1e9;
        bool   evicted = true;
        for (int r = 0; r < REPS && evicted; r++) {
            if ((evicted = evict_dir(dir))) {
                double dt = read_wal_files(waldir, &wal_bytes);
                cold_read = dt < cold_read ? dt : cold_read;
            }
        }
        double cold_cpu = 0, warm_cpu = 0;
        double cold = evicted ? time_replay(dir, n, true, &cold_cpu) : -1;
        read_wal_files(waldir, &wal_bytes); /* warms the cache */
        for (int r = 0; r < REPS; r++) {
            double dt = read_wal_files(waldir, &wal_bytes);
            warm_read = dt < warm_read ? dt : warm_read;
        }
        double    warm = time_replay(dir, n, false, &warm_cpu);
        cpu_set_t set; /* the CPUs replay may use (its worker count) */
        fprintf(stderr, "bench_tsdb: tsdb.wal_replay: %zu series x %d samples, %zu WAL bytes, "
                        "%.1f M samples/s replayed warm, CPU time %.3f s cold / %.3f s warm, "
                        "%d CPUs\n", n, MEM_STEPS, wal_bytes, (double)n * MEM_STEPS / warm / 1e6,
                cold_cpu, warm_cpu, sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0);
        if (cold >= 0)
            bench_report("tsdb.wal_replay", cold, "s", "read_wal_files_cold", cold_read);
        else
            printf("{\"bench\":\"tsdb.wal_replay\",\"error\":\"page-cache eviction did not "
                   "take (see stderr): no cold number\"}\n");
        bench_report("tsdb.wal_replay_warm", warm, "s", "read_wal_files_warm", warm_read);
    }
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    fflush(stdout);
    _exit(0);
}

static void bench_memory_and_replay(void)
{
    if (bench_wanted("tsdb.memory_per_series_inprocess"))
        mem_and_replay(MEM_SERIES, "tsdb.memory_per_series_inprocess", false);
    bool mem1m = bench_wanted("tsdb.memory_per_series_inprocess_1m"), rep = bench_wanted("tsdb.wal_replay");
    /* BENCH_REPLAY_SERIES: a smaller (or larger) replay for development; the 1 M memory line
     * is then not reported, its name promising 1 M series. */
    const char *env = getenv("BENCH_REPLAY_SERIES");
    size_t      n = env != NULL && atol(env) > 0 ? (size_t)atol(env) : REPLAY_SERIES;
    if ((mem1m && n == REPLAY_SERIES) || rep)
        mem_and_replay(n, n == REPLAY_SERIES ? "tsdb.memory_per_series_inprocess_1m" : NULL,
                       rep);
}

/* ---- --dataset: the store's half of tsdb.bytes_per_sample ---------------------------------- */

/* Sum of the chunks sections of the block files in dir (their table of contents, blocks.md):
 * the rest of a block is its index (symbols, series, postings and their tables). */
static uint64_t blocks_chunk_bytes(const char *dir)
{
    DIR     *d = opendir(dir);
    uint64_t total = 0;
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".vblk") != 0)
            continue;
        char p[4400];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "rb");
        unsigned char toc[16];
        /* The toc is 6 x 20 bytes + a CRC at the very end; the chunks section comes first. */
        if (f != NULL && fseek(f, -(6 * 20 + 4), SEEK_END) == 0 && fread(toc, 1, 16, f) == 16) {
            uint64_t len = 0;
            for (int i = 7; i >= 0; i--)
                len = len << 8 | toc[8 + i];
            total += len;
        }
        if (f != NULL)
            fclose(f);
    }
    closedir(d);
    return total;
}

/*
 * bench_tsdb --dataset FILE: imports an OpenMetrics file with timestamps (bench/data/, see
 * bench/tsdb_dataset.py, which runs this and Prometheus and prints the bench line) into a
 * fresh store, compacts it into blocks exactly as the agent's compactor does, and prints one
 * JSON object: samples and series imported, samples read back from the blocks, block bytes
 * (and their chunk part). The compactor only writes a 2 h range once the head reaches 1.5
 * ranges past it; a one-sample marker series 4 h after the data's end makes every range that
 * holds the dataset complete, so the blocks hold exactly the dataset.
 */
static int dataset_mode(const char *file)
{
    FILE       *f = fopen(file, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "bench_tsdb: cannot open %s\n", file);
        return 1;
    }
    char *text = malloc((size_t)st.st_size + 1);
    if (text == NULL || fread(text, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        fprintf(stderr, "bench_tsdb: cannot read %s\n", file);
        return 1;
    }
    fclose(f);
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char        dir[4096], blocks[4200];
    snprintf(dir, sizeof(dir), "%s/vigil-bench-dataset-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(blocks, sizeof(blocks), "%s/blocks", dir);
    tsdb_options_t o = {.dir = dir, .compact_interval_ms = UINT32_MAX};
    tsdb_t        *db;
    vigil_error_t  err;
    if (tsdb_open(&db, &o, NULL, &err) != 0) {
        fprintf(stderr, "bench_tsdb: %s\n", err.message);
        return 1;
    }
    ingest_options_t io = {.format = EXPFMT_OPENMETRICS, .mode = EXPFMT_LENIENT,
                           .durability = TSDB_ASYNC};
    ingest_result_t  res;
    double           t0 = bench_now_s();
    if (ingest_exposition(db, text, (size_t)st.st_size, &io, &res, &err) != 0) {
        fprintf(stderr, "bench_tsdb: %s: %s\n", file, err.message);
        return 1;
    }
    double       t_ingest = bench_now_s() - t0;
    tsdb_stats_t before;
    tsdb_stats(db, &before);
    tsdb_label_t marker = {"__name__", "bench_compaction_marker"};
    if (tsdb_append(db, &marker, 1, before.maxt + INT64_C(4) * 3600 * 1000, 0, &err) != 0 ||
        tsdb_compact(db, &err) != 0) {
        fprintf(stderr, "bench_tsdb: compaction: %s\n", err.message);
        return 1;
    }
    tsdb_stats_t after;
    tsdb_stats(db, &after);
    /* Every imported sample must now be in the blocks, and readable. */
    tsdb_series_set_t *set;
    uint64_t           read = 0, series = 0;
    if (tsdb_select(db, NULL, 0, before.mint, before.maxt, &set, &err) == 0) {
        series = tsdb_series_set_len(set);
        for (size_t i = 0; i < series; i++) {
            tsdb_iter_t *it;
            int64_t      t;
            double       v;
            if (tsdb_iter_open(set, i, &it) != 0)
                continue;
            while (tsdb_iter_next(it, &t, &v))
                read++;
            tsdb_iter_free(it);
        }
        tsdb_series_set_free(set);
    }
    printf("{\"samples\":%zu,\"rejected\":%zu,\"series\":%llu,\"read_back\":%llu,"
           "\"blocks\":%llu,\"block_bytes\":%llu,\"block_chunk_bytes\":%llu,"
           "\"head_chunk_bytes_before\":%llu,\"ingest_s\":%.3f}\n",
           res.samples, res.rejected, (unsigned long long)series, (unsigned long long)read,
           (unsigned long long)after.blocks, (unsigned long long)after.block_bytes,
           (unsigned long long)blocks_chunk_bytes(blocks),
           (unsigned long long)before.chunk_bytes, t_ingest);
    tsdb_close(db);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--dataset") == 0)
        return dataset_mode(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--dataset OPENMETRICS_FILE]\n", argv[0]);
        return 2;
    }
    bench_append(false);
    bench_append(true);
    bench_select();
    bench_bytes_per_sample();
    bench_block_bytes();
    bench_memory_and_replay();
    return 0;
}
