/*
 * summary.c - the streaming quantile sketch behind summaries.
 *
 * Each age bucket ("window") is a log-linear histogram over |v|: every power of two between
 * 2^SK_EMIN and 2^SK_EMAX is split into SK_SUB equal sub-buckets, indexed straight from the
 * double's exponent and top mantissa bits (no log(), no division). Negative values mirror the
 * positive ones, |v| < 2^SK_EMIN shares a zero bucket, and each side has an overflow bucket,
 * so cell order is value order:
 *
 *   [ -overflow | -2^36 .. -2^-20 (descending magnitude) | zero | 2^-20 .. 2^36 | +overflow ]
 *
 * Counts are exact, so the bucket holding the rank-r observation is found exactly; the error
 * is only in reporting a value for that bucket. A sub-bucket spans [lo, hi) with
 * hi = lo * (1 + 1/(SK_SUB + k)) for some k >= 0; reporting the harmonic midpoint
 * 2*lo*hi/(lo+hi) bounds the relative error by (hi-lo)/(hi+lo) <= 1/(2*SK_SUB + 1) = 1/65.
 *
 * Sliding window: observations go to window `cur`; every window_ns the oldest window is
 * cleared and becomes `cur` (the first thread to notice the deadline wins a CAS and rotates;
 * it runs outside any lock). The quantiles merge all windows, i.e. they cover the last
 * (n_windows - 1) to n_windows window spans.
 */
#include "metrics/metrics_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SK_SUB_BITS 5
#define SK_SUB      (1 << SK_SUB_BITS)
#define SK_EMIN     (-20)
#define SK_EMAX     36
#define SK_HALF     ((SK_EMAX - SK_EMIN) * SK_SUB)  /* sub-buckets per sign */
#define SK_ZERO     (SK_HALF + 1)                   /* index of the zero bucket */
#define SK_CELLS    (2 * SK_HALF + 3)

struct metrics_sketch {
    _Atomic unsigned  cur;           /* window receiving observations */
    _Atomic uint64_t  next_rotate;   /* coarse monotonic ns of the next rotation */
    uint64_t          window_ns;
    unsigned          n_windows;
    _Atomic uint64_t  counts[];      /* n_windows * SK_CELLS */
};

static uint64_t coarse_now_ns(void)
{
    /* The coarse clock is a vDSO read of the last tick: a few ns, enough for windows of
     * seconds. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

metrics_sketch_t *metrics_sketch_new(unsigned age_buckets, uint64_t window_ns)
{
    if (age_buckets == 0)
        age_buckets = 1;
    metrics_sketch_t *sk = calloc(1, sizeof(*sk) + (size_t)age_buckets * SK_CELLS *
                                                       sizeof(sk->counts[0]));
    if (sk == NULL)
        return NULL;
    sk->window_ns = window_ns;
    sk->n_windows = age_buckets;
    atomic_init(&sk->next_rotate, coarse_now_ns() + window_ns);
    return sk;
}

void metrics_sketch_free(metrics_sketch_t *sk)
{
    free(sk);
}

/* Index of |v| among one sign's sub-buckets, for 2^SK_EMIN <= |v| < 2^SK_EMAX. */
static int magnitude_index(double mag)
{
    uint64_t bits = metrics_double_to_bits(mag);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    return (e - SK_EMIN) * SK_SUB + (int)((bits >> (52 - SK_SUB_BITS)) & (SK_SUB - 1));
}

static int cell_index(double v)
{
    double mag = fabs(v);
    if (mag < 0x1p-20)
        return SK_ZERO;
    if (mag >= 0x1p36)
        return v < 0 ? 0 : SK_CELLS - 1;
    int m = magnitude_index(mag);
    return v < 0 ? SK_HALF - m : SK_ZERO + 1 + m;
}

/* The value reported for a cell: harmonic midpoint of its range (see the banner). */
static double cell_value(int idx)
{
    if (idx == SK_ZERO)
        return 0.0;
    if (idx == 0)
        return -0x1p36;
    if (idx == SK_CELLS - 1)
        return 0x1p36;
    int m = idx > SK_ZERO ? idx - SK_ZERO - 1 : SK_HALF - idx;
    int e = m / SK_SUB + SK_EMIN, sub = m % SK_SUB;
    double lo = ldexp(1.0 + (double)sub / SK_SUB, e);
    double hi = ldexp(1.0 + (double)(sub + 1) / SK_SUB, e);
    double rep = 2.0 * lo * hi / (lo + hi);
    return idx > SK_ZERO ? rep : -rep;
}

static void maybe_rotate(metrics_sketch_t *sk, uint64_t now)
{
    uint64_t due = atomic_load_explicit(&sk->next_rotate, memory_order_acquire);
    if (now < due)
        return;
    uint64_t steps = (now - due) / sk->window_ns + 1;
    if (!atomic_compare_exchange_strong_explicit(&sk->next_rotate, &due,
                                                 due + steps * sk->window_ns,
                                                 memory_order_acq_rel, memory_order_acquire))
        return; /* another thread rotates */
    if (steps > sk->n_windows)
        steps = sk->n_windows;
    unsigned cur = atomic_load_explicit(&sk->cur, memory_order_relaxed);
    for (uint64_t i = 0; i < steps; i++) {
        unsigned next = (cur + 1) % sk->n_windows;
        _Atomic uint64_t *w = sk->counts + (size_t)next * SK_CELLS;
        for (size_t j = 0; j < SK_CELLS; j++)
            atomic_store_explicit(&w[j], 0, memory_order_relaxed);
        atomic_store_explicit(&sk->cur, next, memory_order_release);
        cur = next;
    }
}

void metrics_sketch_observe(metrics_sketch_t *sk, double v)
{
    if (isnan(v))
        return;
    maybe_rotate(sk, coarse_now_ns());
    unsigned cur = atomic_load_explicit(&sk->cur, memory_order_acquire);
    atomic_fetch_add_explicit(&sk->counts[(size_t)cur * SK_CELLS + (size_t)cell_index(v)], 1,
                              memory_order_relaxed);
}

static uint64_t merged(const metrics_sketch_t *sk, size_t j)
{
    uint64_t n = 0;
    for (unsigned w = 0; w < sk->n_windows; w++)
        n += atomic_load_explicit(&sk->counts[(size_t)w * SK_CELLS + j], memory_order_relaxed);
    return n;
}

void metrics_sketch_quantiles(metrics_sketch_t *sk, const double *q, size_t n, double *out)
{
    maybe_rotate(sk, coarse_now_ns());
    /* Snapshot the merged counts first so the total and the walk agree even while writers
     * keep adding. */
    uint64_t *snap = malloc(SK_CELLS * sizeof(*snap));
    uint64_t total = 0;
    if (snap != NULL)
        for (size_t j = 0; j < SK_CELLS; j++)
            total += snap[j] = merged(sk, j);
    for (size_t i = 0; i < n; i++) {
        out[i] = NAN;
        if (total == 0)
            continue;
        /* Nearest rank: the smallest observation with at least q*total at or below it. */
        double r = ceil(q[i] * (double)total);
        uint64_t rank = r < 1 ? 1 : (uint64_t)r > total ? total : (uint64_t)r;
        uint64_t cum = 0;
        for (size_t j = 0; j < SK_CELLS; j++) {
            cum += snap[j];
            if (cum >= rank) {
                out[i] = cell_value((int)j);
                break;
            }
        }
    }
    free(snap);
}

/* ---- public summary operations ----------------------------------------------------------- */

void vigil_summary_observe(vigil_summary_t *s, double v)
{
    metrics_shard_t sh = metrics_shard(&s->c);
    metrics_cell_add(&sh.cells[0], 1, sh.owned);
    metrics_cell_add_double(&sh.cells[1], v, sh.owned);
    metrics_sketch_observe(s->c.sketch, v);
}

double vigil_summary_quantile(vigil_summary_t *s, double q)
{
    double v = NAN;
    metrics_sketch_quantiles(s->c.sketch, &q, 1, &v);
    return v;
}
