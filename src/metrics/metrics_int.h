/*
 * metrics_int.h - private structures of the metrics subsystem, shared by its .c files only.
 *
 * Memory layout of the hot path (the reason for most of what is below):
 *
 *   Counters and histograms keep their numbers in "cells" (one _Atomic uint64_t each) carved
 *   out of registry-owned pages. A page is `shards + 1` regions of METRICS_PAGE_CELLS cells,
 *   each region 4 KiB and cache-line aligned:
 *
 *     page: [ shard 0: c0 c1 ... | shard 1: c0 c1 ... | ... | shard S-1 | shared: c0 c1 ... ]
 *
 *   A child owns the same k cells in every region: cell j of region r is
 *   child->cells[r * child->stride + j]. One thread's counters sit packed together in its
 *   region (8 bytes per counter), and two threads never write the same cache line.
 *
 *   Thread slots: the first time a thread touches a metric it claims the lowest free slot of
 *   a process-wide pool of 64, and gives it back when it exits. A thread whose slot s is below
 *   the registry's shard count owns region s outright: nobody else ever writes there, so its
 *   increments are a relaxed load and store (no lock prefix, no bus lock) and still exact.
 *   Threads beyond that (more live threads than shards) share the last region with relaxed
 *   atomic adds. Exposition sums all regions. Slot handover (exit -> claim) is a release/
 *   acquire pair on the pool, so a new owner starts from its predecessor's final values.
 *   One consequence: updating a metric from a signal handler that interrupted an update of
 *   the same metric on the same thread can lose the interrupted update.
 *
 *   Gauges are set, not summed, so they are one atomic word in the child. Summaries keep
 *   their _sum/_count in cells and their quantile windows in a separate sketch (summary.c).
 *
 * Lookup by label values: each family has an open-addressing table of child pointers,
 * published with release stores and read with acquire loads, so readers never lock. Writers
 * (a new label set) hold the family mutex; a full table is copied into one twice the size and
 * published, the old one kept until the family is freed (readers may still be probing it).
 */
#ifndef VIGIL_METRICS_INT_H
#define VIGIL_METRICS_INT_H

#include "vigil/metrics.h"
#include "util/buf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_PAGE_CELLS   512u   /* cells per shard region: 4 KiB */
#define METRICS_CACHE_LINE   64u
#define METRICS_MAX_BUCKETS  512u   /* finite histogram bounds per family */
#define METRICS_MAX_QUANTILES 32u

typedef _Atomic uint64_t metrics_cell_t;

typedef enum metrics_type {
    METRICS_COUNTER = 0,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
    METRICS_SUMMARY,
} metrics_type_t;

typedef struct metrics_sketch metrics_sketch_t; /* summary.c */

/* One series. The first group of fields is what the hot path reads: immutable once the child
 * is published, and kept together at the start of a cache-line-aligned allocation. */
typedef struct metrics_child {
    metrics_cell_t   *cells;      /* shard 0's cells; shard s at cells + s * stride */
    uint32_t          stride;     /* cells between regions */
    uint32_t          shards;     /* owned regions; region `shards` is the shared one */
    const double     *bounds;     /* histogram: finite upper bounds (family-owned) */
    uint32_t          n_bounds;
    metrics_sketch_t *sketch;     /* summary: quantile windows (owned) */
    _Atomic uint64_t  gauge;      /* gauge: the value's bit pattern */

    /* Cold: lookup, exposition. */
    struct vigil_family *fam;
    uint64_t          hash;       /* of the label values, see metrics_hash_values() */
    double          (*fn)(void *); /* callback gauge/counter; guarded by fam->mu */
    void             *fn_arg;
    char            **values;     /* n_labels copies, in this allocation */
    char             *labels;     /* rendered, escaped: a="x",b="y" ("" without labels) */
    size_t            labels_len;
} metrics_child_t;

/* The public child types are the one internal child; the first member makes casts valid. */
struct vigil_counter   { metrics_child_t c; };
struct vigil_gauge     { metrics_child_t c; };
struct vigil_histogram { metrics_child_t c; };
struct vigil_summary   { metrics_child_t c; };

typedef struct metrics_table {
    size_t                     mask;     /* slots - 1 */
    struct metrics_table      *retired;  /* the table this one replaced */
    _Atomic(metrics_child_t *) slot[];
} metrics_table_t;

struct vigil_family {
    struct vigil_registry *reg;
    metrics_type_t type;
    char          *name;       /* base name; counters without "_total" */
    char          *help_text;  /* HELP escaped for text 0.0.4 (\\ \n) */
    char          *help_om;    /* HELP escaped for OpenMetrics (\\ \n \") */
    char         **label_names;
    size_t         n_labels;

    /* histogram */
    double        *bounds;     /* finite, strictly increasing */
    size_t         n_bounds;
    char         **le_text;    /* n_bounds + 1 formatted "le" values, last "+Inf" */
    char         **le_om;

    /* summary */
    double        *quantiles;
    size_t         n_quantiles;
    char         **q_text;
    char         **q_om;
    uint64_t       window_ns;   /* one age bucket's span */
    unsigned       age_buckets;

    /* counter/gauge families made by vigil_*_func_new: value is fn(arg) */
    bool           is_func;

    pthread_mutex_t            mu;         /* children list and table inserts */
    _Atomic(metrics_table_t *) table;
    metrics_child_t          **children;   /* creation order, for exposition */
    size_t                     n_children;
    size_t                     cap_children;
};

typedef struct metrics_page {
    struct metrics_page *next;
    size_t               used;    /* cells handed out in each region */
    size_t               stride;  /* cells per region */
    /* (shards + 1) * stride cells follow, from the next cache line on */
} metrics_page_t;

struct vigil_registry {
    pthread_mutex_t  mu;          /* families list; held through exposition */
    vigil_family_t **fams;        /* sorted by name */
    size_t           n_fams;
    size_t           cap_fams;

    size_t           max_series;
    size_t           max_expose;
    unsigned         shards;      /* owned regions per page (plus one shared) */

    pthread_mutex_t  arena_mu;    /* pages */
    metrics_page_t  *pages;       /* newest first; the first one is being filled */

    void           **owned;       /* blocks freed with free() at registry free */
    size_t           n_owned;
    size_t           cap_owned;
};

/* ---- thread slots (registry.c) --------------------------------------------------------- */

#define METRICS_MAX_SLOTS 64u  /* exclusive slots in the process; also the most shards */

/*
 * The calling thread's slot + 1 (0: not claimed yet). Slots are per thread and threads are
 * process-wide, so this is the one place the "no globals" rule is deliberately broken: a TLS
 * word plus the pool in registry.c. Initial-exec keeps the read one %fs-relative load, also
 * in libvigil.so.
 */
extern _Thread_local unsigned metrics_tls_slot __attribute__((tls_model("initial-exec")));

/* Claims a slot for the calling thread (METRICS_MAX_SLOTS when the pool is exhausted) and
 * arranges its release at thread exit. Returns the slot. */
unsigned metrics_slot_claim(void);

static inline unsigned metrics_slot(void)
{
    unsigned s = metrics_tls_slot;
    if (__builtin_expect(s == 0, 0))
        return metrics_slot_claim();
    return s - 1;
}

/* Where this thread writes a child's cells, and whether it owns them (see the banner). */
typedef struct metrics_shard {
    metrics_cell_t *cells;
    bool            owned;
} metrics_shard_t;

static inline metrics_shard_t metrics_shard(const metrics_child_t *c)
{
    unsigned s = metrics_slot();
    bool owned = s < c->shards;
    metrics_shard_t r = { c->cells + (size_t)(owned ? s : c->shards) * c->stride, owned };
    return r;
}

static inline void metrics_cell_add(metrics_cell_t *cell, uint64_t n, bool owned)
{
    if (owned)
        atomic_store_explicit(cell, atomic_load_explicit(cell, memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(cell, n, memory_order_relaxed);
}

static inline double metrics_bits_to_double(uint64_t u);
static inline uint64_t metrics_double_to_bits(double d);

/* Adds a double to a cell holding a double's bits: load and store when owned, else a CAS
 * loop (also used for gauges, which every thread shares). */
static inline void metrics_cell_add_double(metrics_cell_t *cell, double v, bool owned)
{
    if (owned) {
        double cur = metrics_bits_to_double(atomic_load_explicit(cell, memory_order_relaxed));
        atomic_store_explicit(cell, metrics_double_to_bits(cur + v), memory_order_relaxed);
        return;
    }
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    for (;;) {
        union { uint64_t u; double d; } cur = { .u = old }, next;
        next.d = cur.d + v;
        if (atomic_compare_exchange_weak_explicit(cell, &old, next.u, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

static inline double metrics_bits_to_double(uint64_t u)
{
    union { uint64_t u; double d; } x = { .u = u };
    return x.d;
}

static inline uint64_t metrics_double_to_bits(double d)
{
    union { uint64_t u; double d; } x = { .d = d };
    return x.u;
}

/* ---- registry.c ------------------------------------------------------------------------ */

/* Cells for one child: k per shard, zeroed, owned by the registry. Sets *stride. NULL on
 * ENOMEM. Takes the arena lock. */
metrics_cell_t *metrics_cells_alloc(vigil_registry_t *reg, size_t k, uint32_t *stride);

/* Hands `p` (from malloc) to the registry, which frees it in vigil_registry_free(). On
 * failure frees nothing and returns VIGIL_ENOMEM. */
int metrics_registry_own(vigil_registry_t *reg, void *p);

/* FNV-1a over each value and its terminating NUL (so ("ab","c") and ("a","bc") differ). */
uint64_t metrics_hash_values(const char *const *values, size_t n);

/* The child of family `f` for the values, created on first sight; NULL with `err` set. */
metrics_child_t *metrics_child_get(vigil_family_t *f, metrics_type_t type,
                                   const char *const *values, size_t n, vigil_error_t *err);

/* Family creation shared by the typed constructors; `init` fills type-specific fields
 * before the label-less child is created. On success *out belongs to the registry. */
typedef struct metrics_family_spec {
    metrics_type_t               type;
    const char                  *name;
    const char                  *help;
    const char *const           *label_names;
    const double                *buckets;      /* histogram */
    size_t                       n_buckets;
    const vigil_summary_opts_t  *summary;      /* summary */
    double                     (*fn)(void *);  /* func families */
    void                        *fn_arg;
} metrics_family_spec_t;

int metrics_family_new(vigil_registry_t *reg, const metrics_family_spec_t *spec,
                       vigil_family_t **out, vigil_error_t *err);

/* Validation (also used by tests). */
bool metrics_name_valid(const char *name);
bool metrics_label_name_valid(const char *name);
bool metrics_utf8_valid(const char *s);

/* ---- series.c -------------------------------------------------------------------------- */

/* Exact sums of a child's shards. */
uint64_t metrics_cells_sum_u64(const metrics_child_t *c, size_t j);
double   metrics_cells_sum_double(const metrics_child_t *c, size_t j);

/* Monotonic and wall clocks in nanoseconds. */
uint64_t metrics_now_ns(void);

/* ---- summary.c ------------------------------------------------------------------------- */

/* Allocates a sketch of `age_buckets` windows; the caller frees it with metrics_sketch_free. */
metrics_sketch_t *metrics_sketch_new(unsigned age_buckets, uint64_t window_ns);
void   metrics_sketch_free(metrics_sketch_t *sk);
void   metrics_sketch_observe(metrics_sketch_t *sk, double v);
/* Fills out[i] with the quantiles q[i] (NaN when empty). */
void   metrics_sketch_quantiles(metrics_sketch_t *sk, const double *q, size_t n, double *out);

/* ---- expose.c -------------------------------------------------------------------------- */

/* Writes the registry into `b` (appending). 0, VIGIL_ELIMIT or VIGIL_ENOMEM. */
int metrics_expose_buf(vigil_registry_t *reg, vigil_format_t fmt, buf_t *b,
                       vigil_error_t *err);

/* Formats v as Prometheus prints sample values into out (>= 32 bytes); returns length. */
size_t metrics_format_double(char *out, double v);

/* Escapes for label values (\\ \" \n) into `b`. */
int metrics_escape_label(buf_t *b, const char *s);

/* ---- collectors.c ---------------------------------------------------------------------- */

/* vigil_op_new with the three family names given in full. */
int metrics_op_new_names(vigil_registry_t *reg, const char *dur_name, const char *total_name,
                         const char *errors_name, const char *noun,
                         const char *const *label_names, const double *buckets, size_t n_buckets,
                         vigil_op_t **out, vigil_error_t *err);

/* ---- process.c ------------------------------------------------------------------------- */

/* vigil_process_collector_register reading `proc_root` (copied; "/proc" in production)
 * instead of /proc: tests point it at a fixture tree. */
int metrics_process_register(vigil_registry_t *reg, const char *proc_root, vigil_error_t *err);

#endif /* VIGIL_METRICS_INT_H */
