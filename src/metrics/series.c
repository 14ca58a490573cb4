/*
 * series.c - the hot path: counter, gauge and histogram operations on a child handle, and the
 * shard sums exposition reads. Nothing here locks or allocates.
 *
 * A counter child has two cells per region: an integer count (inc, add_u64: exact forever)
 * and a double (add with fractions). In a region the thread owns, an update is a relaxed load
 * and store; in the shared region an atomic add (or CAS for the double). A histogram child has n_bounds + 1 bucket cells (the last is +Inf)
 * and a sum cell per shard; _count is the sum of the bucket cells rather than a cell of its
 * own, so _count and _bucket{le="+Inf"} can never disagree in an exposition.
 */
#include "metrics/metrics_int.h"

#include <math.h>
#include <time.h>

uint64_t metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t metrics_cells_sum_u64(const metrics_child_t *c, size_t j)
{
    uint64_t sum = 0;
    for (size_t s = 0; s <= c->shards; s++)
        sum += atomic_load_explicit(&c->cells[s * c->stride + j], memory_order_relaxed);
    return sum;
}

double metrics_cells_sum_double(const metrics_child_t *c, size_t j)
{
    double sum = 0;
    for (size_t s = 0; s <= c->shards; s++)
        sum += metrics_bits_to_double(
            atomic_load_explicit(&c->cells[s * c->stride + j], memory_order_relaxed));
    return sum;
}

/* ---- counter --------------------------------------------------------------------------- */

void vigil_counter_inc(vigil_counter_t *c)
{
    metrics_shard_t sh = metrics_shard(&c->c);
    metrics_cell_add(sh.cells, 1, sh.owned);
}

void vigil_counter_add_u64(vigil_counter_t *c, uint64_t n)
{
    metrics_shard_t sh = metrics_shard(&c->c);
    metrics_cell_add(sh.cells, n, sh.owned);
}

void vigil_counter_add(vigil_counter_t *c, double v)
{
    if (!(v > 0)) /* also drops NaN */
        return;
    /* Whole numbers go to the exact integer cell, fractions to the double cell. */
    metrics_shard_t sh = metrics_shard(&c->c);
    if (v < 9007199254740992.0 && v == (double)(uint64_t)v)
        metrics_cell_add(sh.cells, (uint64_t)v, sh.owned);
    else
        metrics_cell_add_double(sh.cells + 1, v, sh.owned);
}

double vigil_counter_value(const vigil_counter_t *c)
{
    if (c->c.fn != NULL)
        return c->c.fn(c->c.fn_arg);
    return (double)metrics_cells_sum_u64(&c->c, 0) + metrics_cells_sum_double(&c->c, 1);
}

/* ---- gauge ----------------------------------------------------------------------------- */

void vigil_gauge_set(vigil_gauge_t *g, double v)
{
    atomic_store_explicit(&g->c.gauge, metrics_double_to_bits(v), memory_order_relaxed);
}

void vigil_gauge_add(vigil_gauge_t *g, double v)
{
    metrics_cell_add_double(&g->c.gauge, v, false);
}

void vigil_gauge_inc(vigil_gauge_t *g)
{
    metrics_cell_add_double(&g->c.gauge, 1.0, false);
}

void vigil_gauge_dec(vigil_gauge_t *g)
{
    metrics_cell_add_double(&g->c.gauge, -1.0, false);
}

void vigil_gauge_set_to_current_time(vigil_gauge_t *g)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    vigil_gauge_set(g, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

double vigil_gauge_value(const vigil_gauge_t *g)
{
    return metrics_bits_to_double(atomic_load_explicit(&g->c.gauge, memory_order_relaxed));
}

void vigil_gauge_set_fn(vigil_gauge_t *g, double (*fn)(void *arg), void *arg)
{
    /* Exposition reads fn/arg under the family lock, so a pair is never seen half-set. */
    pthread_mutex_lock(&g->c.fam->mu);
    g->c.fn = fn;
    g->c.fn_arg = arg;
    pthread_mutex_unlock(&g->c.fam->mu);
}

/* ---- histogram ------------------------------------------------------------------------- */

void vigil_histogram_observe(vigil_histogram_t *h, double v)
{
    const metrics_child_t *c = &h->c;
    const double *b = c->bounds;
    uint32_t n = c->n_bounds, i;
    if (n <= 16) {
        /* A short forward scan beats a binary search: predictable, one cache line or two. */
        for (i = 0; i < n && v > b[i]; i++)
            ;
    } else {
        uint32_t lo = 0, hi = n;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (v > b[mid])
                lo = mid + 1;
            else
                hi = mid;
        }
        i = lo;
    }
    /* NaN compares false everywhere: it lands in bucket 0 with the scan and the search
     * alike; Prometheus clients count it in +Inf. Keep the usual semantics. */
    if (isnan(v))
        i = n;
    metrics_shard_t sh = metrics_shard(c);
    metrics_cell_add(&sh.cells[i], 1, sh.owned);
    metrics_cell_add_double(&sh.cells[n + 1], v, sh.owned);
}
