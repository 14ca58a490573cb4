/*
 * vigil/metrics.h - libvigil's Prometheus-compatible metrics: registry, families, children,
 * exposition, the scoped operation timer and the standard collectors.
 *
 * The model is the one every Prometheus client shares:
 *
 *   registry ─┬─ family "requests_total" (counter, labels {handler, code})
 *             │     ├─ child {handler="/", code="200"}   <- what the hot path touches
 *             │     └─ child {handler="/x", code="500"}
 *             └─ family "latency_seconds" (histogram, no labels) ─ one child
 *
 * A family is created once (name, help, label schema; validated, clear error on misuse); a
 * child is looked up by its label values and the handle kept by the caller. Children are never
 * freed before their registry, so a handle stays valid for the registry's lifetime and may be
 * shared freely between threads.
 *
 * Hot path: vigil_counter_inc/_add, vigil_gauge_*, vigil_histogram_observe and
 * vigil_summary_observe take no lock and never allocate. Counters, histograms and summaries'
 * _sum/_count are sharded per thread: each of the first `shards` live threads owns a region
 * of cache lines that only it writes (a plain load+store, no atomic read-modify-write), later
 * threads share one region with atomic adds; exposition sums the regions. So N threads doing
 * K increments each expose exactly N*K. (Not async-signal-safe: a signal handler updating the
 * metric its thread was updating can lose that update.) vigil_*_labels() on an existing child hashes the
 * values and probes a lock-free table without allocating; only the first sight of a new label
 * set takes the family's lock and allocates.
 *
 * Full contracts, ownership and a migration guide from prometheus-client-c:
 * docs/libvigil/metrics.md.
 */
#ifndef VIGIL_METRICS_H
#define VIGIL_METRICS_H

#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most labels a family may declare (the timer and vigil_*_with use stack arrays this big). */
#define VIGIL_MAX_LABELS 16

typedef struct vigil_registry  vigil_registry_t;
typedef struct vigil_family    vigil_family_t;     /* any metric type; owned by the registry */
typedef struct vigil_counter   vigil_counter_t;    /* children; owned by their family */
typedef struct vigil_gauge     vigil_gauge_t;
typedef struct vigil_histogram vigil_histogram_t;
typedef struct vigil_summary   vigil_summary_t;

/* ---------------------------------------------------------------------------------------- */
/* Registry                                                                                  */

typedef struct vigil_registry_opts {
    size_t   max_series_per_family; /* 0: 10000. A new label set past it fails with ELIMIT. */
    size_t   max_expose_bytes;      /* 0: 64 MiB. Exposition past it fails with ELIMIT. */
    unsigned shards;                /* threads with a region of their own; 0: 2 per online CPU,
                                     * in [8, 64]. Counter and histogram memory is
                                     * (shards + 1) * 8 bytes per cell. */
} vigil_registry_opts_t;

/*
 * Creates an empty registry. `opts` may be NULL for the defaults. On success *out is owned by
 * the caller and freed with vigil_registry_free().
 */
int vigil_registry_new(const vigil_registry_opts_t *opts, vigil_registry_t **out,
                       vigil_error_t *err);

/*
 * Frees the registry with every family and child in it (all handles become invalid). No other
 * thread may use the registry or any of its handles during or after the call. NULL is a no-op.
 */
void vigil_registry_free(vigil_registry_t *reg);

/* ---------------------------------------------------------------------------------------- */
/* Families. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*; label names [a-zA-Z_][a-zA-Z0-9_]*,
 * not starting with "__", unique, at most VIGIL_MAX_LABELS. `help` is any UTF-8 text (NULL for
 * none). `label_names` is a NULL-terminated array (NULL for no labels). All strings are copied.
 * A name that clashes with an existing family (same name, or one's samples would carry the
 * other's name: foo vs foo_total/foo_count/foo_sum/foo_bucket) fails with VIGIL_EEXIST. On
 * success *out (which may be NULL when the caller needs no handle) points at a family owned by
 * the registry: never freed by the caller. A family without labels has its one child created
 * at once, so it is exposed (as 0) from the start.                                          */

/*
 * Counter. A trailing "_total" in `name` is optional: samples are always named <base>_total,
 * and OpenMetrics' family name is <base> (as OpenMetrics requires).
 */
int vigil_counter_new(vigil_registry_t *reg, const char *name, const char *help,
                      const char *const *label_names, vigil_family_t **out, vigil_error_t *err);

int vigil_gauge_new(vigil_registry_t *reg, const char *name, const char *help,
                    const char *const *label_names, vigil_family_t **out, vigil_error_t *err);

/*
 * Histogram with upper bounds `buckets[0..n_buckets)`, strictly increasing and not NaN; a final
 * +Inf bound is implied (and may be given). `buckets` NULL selects vigil_default_buckets().
 * "le" is not allowed as a label name.
 */
int vigil_histogram_new(vigil_registry_t *reg, const char *name, const char *help,
                        const char *const *label_names, const double *buckets, size_t n_buckets,
                        vigil_family_t **out, vigil_error_t *err);

typedef struct vigil_summary_opts {
    const double *quantiles;   /* in [0, 1]; NULL: {0.5, 0.9, 0.95, 0.99} */
    size_t        n_quantiles;
    double        max_age_s;   /* sliding window length; 0: 600 s */
    unsigned      age_buckets; /* window is rotated in this many steps; 0: 5 (at most 16) */
} vigil_summary_opts_t;

/*
 * Summary: exact _sum and _count since creation, plus quantiles over a sliding window of the
 * last max_age_s (between max_age_s*(age_buckets-1)/age_buckets and max_age_s, as the window
 * rotates in steps). Error bound: for a true quantile x with 2^-20 <= |x| < 2^36 the reported
 * value v satisfies |v - x| <= |x| / 65 (about 1.54%); |x| < 2^-20 reports 0, |x| >= 2^36
 * reports +-2^36. The rank is exact (the sketch counts every observation). Each child costs
 * about 28 KiB per age bucket. "quantile" is not allowed as a label name. `opts` may be NULL.
 */
int vigil_summary_new(vigil_registry_t *reg, const char *name, const char *help,
                      const char *const *label_names, const vigil_summary_opts_t *opts,
                      vigil_family_t **out, vigil_error_t *err);

/*
 * Label-less gauge / counter whose value is fn(arg), called at exposition time (under the
 * registry's lock: fn must not call into this registry). `arg` is not owned: it must outlive
 * the registry. A counter function must return a non-decreasing value.
 */
int vigil_gauge_func_new(vigil_registry_t *reg, const char *name, const char *help,
                         double (*fn)(void *arg), void *arg, vigil_error_t *err);
int vigil_counter_func_new(vigil_registry_t *reg, const char *name, const char *help,
                           double (*fn)(void *arg), void *arg, vigil_error_t *err);

/* Bucket helpers. They fill caller-provided arrays: nothing to free. */

/* Prometheus' default buckets {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}; static. */
const double *vigil_default_buckets(size_t *n);

/* out[i] = start + i*width for i < count. VIGIL_EINVAL when width <= 0 or count == 0. */
int vigil_buckets_linear(double start, double width, size_t count, double *out,
                         vigil_error_t *err);

/* out[i] = start * factor^i for i < count. VIGIL_EINVAL when start <= 0, factor <= 1 or
 * count == 0. */
int vigil_buckets_exponential(double start, double factor, size_t count, double *out,
                              vigil_error_t *err);

/* ---------------------------------------------------------------------------------------- */
/* Children. vigil_<type>_labels() returns the child for `values[0..n)` (n must equal the
 * family's label count; values are any UTF-8, copied on first sight), creating it on first
 * use, or NULL with `err` filled: wrong family type or arity (EINVAL), invalid UTF-8 (EINVAL),
 * more than max_series_per_family children (ELIMIT), out of memory (ENOMEM). Thread-safe; on
 * an existing child it takes no lock and allocates nothing. The child is owned by the family.
 *
 * vigil_<type>_with(family, "v1", "v2") is the same with the values inline and no error
 * detail; vigil_<type>_with(family) gets the one child of a label-less family.               */

vigil_counter_t   *vigil_counter_labels(vigil_family_t *f, const char *const *values, size_t n,
                                        vigil_error_t *err);
vigil_gauge_t     *vigil_gauge_labels(vigil_family_t *f, const char *const *values, size_t n,
                                      vigil_error_t *err);
vigil_histogram_t *vigil_histogram_labels(vigil_family_t *f, const char *const *values,
                                          size_t n, vigil_error_t *err);
vigil_summary_t   *vigil_summary_labels(vigil_family_t *f, const char *const *values, size_t n,
                                        vigil_error_t *err);

/* Internal to the _with macros: the values as an array after a NULL, and their count. */
#define VIGIL_VALUES_(...) \
    ((const char *const[]){NULL, ##__VA_ARGS__} + 1), \
    (sizeof((const char *const[]){NULL, ##__VA_ARGS__}) / sizeof(const char *) - 1)
#define vigil_counter_with(f, ...)   vigil_counter_labels((f), VIGIL_VALUES_(__VA_ARGS__), NULL)
#define vigil_gauge_with(f, ...)     vigil_gauge_labels((f), VIGIL_VALUES_(__VA_ARGS__), NULL)
#define vigil_histogram_with(f, ...) vigil_histogram_labels((f), VIGIL_VALUES_(__VA_ARGS__), NULL)
#define vigil_summary_with(f, ...)   vigil_summary_labels((f), VIGIL_VALUES_(__VA_ARGS__), NULL)

/* Counter operations. Lock-free, allocation-free, safe from any thread. */
void vigil_counter_inc(vigil_counter_t *c);
void vigil_counter_add_u64(vigil_counter_t *c, uint64_t n);
/* Adds v; a negative or NaN v is ignored (counters only go up). */
void vigil_counter_add(vigil_counter_t *c, double v);
/* Current value: exact sum of all shards (integer increments are counted exactly). */
double vigil_counter_value(const vigil_counter_t *c);

/* Gauge operations. Lock-free; one atomic word per child (gauges are set, not summed). */
void   vigil_gauge_set(vigil_gauge_t *g, double v);
void   vigil_gauge_add(vigil_gauge_t *g, double v);
void   vigil_gauge_inc(vigil_gauge_t *g);
void   vigil_gauge_dec(vigil_gauge_t *g);
/* Sets the gauge to the current wall-clock time in seconds since the Unix epoch. */
void   vigil_gauge_set_to_current_time(vigil_gauge_t *g);
double vigil_gauge_value(const vigil_gauge_t *g);
/*
 * Makes this child a callback gauge: exposition reports fn(arg) instead of the stored value
 * (fn NULL reverts). fn runs under the registry's lock and must not call into this registry;
 * `arg` is not owned and must stay valid while set.
 */
void   vigil_gauge_set_fn(vigil_gauge_t *g, double (*fn)(void *arg), void *arg);

/* Histogram: counts v in the first bucket whose upper bound is >= v; adds v to _sum. */
void vigil_histogram_observe(vigil_histogram_t *h, double v);

/* Summary: adds v to _sum/_count and to the current window of the quantile sketch. */
void vigil_summary_observe(vigil_summary_t *s, double v);
/* The q-quantile (nearest rank) over the sliding window, within the bound of
 * vigil_summary_new; NaN when the window is empty. */
double vigil_summary_quantile(vigil_summary_t *s, double q);

/* ---------------------------------------------------------------------------------------- */
/* Exposition                                                                                */

typedef enum vigil_format {
    VIGIL_FORMAT_TEXT = 0,     /* Prometheus text format 0.0.4 */
    VIGIL_FORMAT_OPENMETRICS,  /* OpenMetrics 1.0.0 text */
} vigil_format_t;

/*
 * Picks the format for an HTTP Accept header value (NULL or "" means text): OpenMetrics when
 * application/openmetrics-text (version 1.0.0, 0.0.1 or none) has the highest q-value among
 * the types we serve, text otherwise. Ties prefer OpenMetrics.
 */
vigil_format_t vigil_format_from_accept(const char *accept);

/* The Content-Type header value for `fmt`; static, never NULL. */
const char *vigil_format_content_type(vigil_format_t fmt);

/*
 * Writes every family of the registry in `fmt`: families in name order, children in creation
 * order, HELP then TYPE then samples; OpenMetrics ends with "# EOF". Counters' _created
 * samples are deliberately not written (see the docs). On success *out is a NUL-terminated
 * string of *out_len bytes (out_len may be NULL), owned by the caller, freed with free().
 * On failure *out is NULL: VIGIL_ELIMIT past max_expose_bytes, VIGIL_ENOMEM.
 */
int vigil_registry_expose(vigil_registry_t *reg, vigil_format_t fmt, char **out,
                          size_t *out_len, vigil_error_t *err);

/* ---------------------------------------------------------------------------------------- */
/* Scoped operation timer (the seed's request_timer).                                       */

typedef struct vigil_op vigil_op_t;  /* owned by the registry */

/*
 * Registers the three families of an operation `prefix` with the user labels `label_names`
 * (NULL-terminated, may be NULL):
 *   <prefix>_duration_seconds{labels}            histogram (`buckets` NULL: default buckets)
 *   <prefix>_total{labels, status}               counter, status = "success" | "error"
 *   <prefix>_errors_total{labels, error_type}    counter
 * `noun` names the operation in HELP texts ("requests"); NULL uses `prefix`.
 */
int vigil_op_new(vigil_registry_t *reg, const char *prefix, const char *noun,
                 const char *const *label_names, const double *buckets, size_t n_buckets,
                 vigil_op_t **out, vigil_error_t *err);

/* Caller-allocated (usually on the stack); the fields are private. */
typedef struct vigil_timer {
    vigil_op_t         *op;
    const char *const  *values;
    size_t              n_values;
    uint64_t            start_ns;
} vigil_timer_t;

/*
 * Starts timing one operation. `values` (the op's label values, n of them) are not copied:
 * they must stay valid until vigil_timer_end(). Never fails; arity is checked at the end.
 */
void vigil_timer_begin(vigil_timer_t *t, vigil_op_t *op, const char *const *values, size_t n);

/*
 * Ends the operation: observes its duration, counts <prefix>_total{status} and, when
 * `error_type` is not NULL, <prefix>_errors_total{error_type}. Returns the duration in
 * seconds, or a negative VIGIL_E* code when a label lookup failed (nothing is then counted).
 */
double vigil_timer_end(vigil_timer_t *t, const char *error_type);

/* ---------------------------------------------------------------------------------------- */
/* Standard families: what an HTTP server (the agent, the embedded exporter) exposes.        */

typedef struct vigil_http_metrics {
    vigil_family_t *requests;  /* counter   vigil_http_requests_total{handler, code} */
    vigil_family_t *duration;  /* histogram vigil_http_request_duration_seconds{handler} */
} vigil_http_metrics_t;

/* Registers both families into *out (caller-owned struct; the families belong to `reg`). */
int vigil_http_metrics_register(vigil_registry_t *reg, vigil_http_metrics_t *out,
                                vigil_error_t *err);

/* Counts one request and observes its duration. Looks the children up without allocating
 * once they exist; silently drops the sample if a lookup fails (series limit, ENOMEM). */
void vigil_http_metrics_observe(const vigil_http_metrics_t *m, const char *handler, int code,
                                double seconds);

/* Registers the info-style gauge vigil_build_info{version, revision} = 1. */
int vigil_build_info_register(vigil_registry_t *reg, const char *version, const char *revision,
                              vigil_error_t *err);

/*
 * Registers the standard process collector (Linux): process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
 * process_max_fds and process_start_time_seconds, all read from /proc/self at exposition.
 * VIGIL_ENOTSUP where /proc/self/stat cannot be read.
 */
int vigil_process_collector_register(vigil_registry_t *reg, vigil_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_METRICS_H */
