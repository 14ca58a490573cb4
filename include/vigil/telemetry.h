/*
 * vigil/telemetry.h - the telemetry collector (seed 000 `TelemetryCollector`): operation
 * lifecycles from start to end, with per-type counts, success rates and duration percentiles.
 *
 *   vigil_telemetry_start(t, "op-123", "evaluate", md, 2, id, sizeof id, &err);
 *   ... the operation ...
 *   vigil_telemetry_end(t, "op-123", "success", metrics, 1, NULL, &err);
 *
 * Bounds (the seed's max_events): at most max_events operations in flight (a start beyond
 * that fails with VIGIL_ELIMIT and is counted as rejected) and a ring of the last max_events
 * finished operations (the oldest is dropped, and counted, when a new one ends).
 *
 * Accuracy: counts, success rates, mean duration and slow counts are exact since creation.
 * Percentiles are exact nearest-rank values over the finished operations of that type still in
 * the ring (the last max_events operations of all types): no sketch error, but a type whose
 * operations have all been pushed out of the ring reports null percentiles. With a registry,
 * vigil_monitor_operation_duration_seconds{type} is a summary (sliding 10 min window, error
 * bound of vigil_summary_new) for Prometheus.
 *
 * An operation slower than slow_threshold_s is counted as slow and reported to the log hook.
 *
 * Thread-safety: every function may be called from any thread (one lock per collector).
 */
#ifndef VIGIL_TELEMETRY_H
#define VIGIL_TELEMETRY_H

#include "vigil/error.h"
#include "vigil/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A metadata item (key=value); both strings are copied by the functions that take them. */
typedef struct vigil_kv {
    const char *key;
    const char *value;
} vigil_kv_t;

/* A numeric result of an operation (the seed's end_operation(..., ratio_vs_baseline=1.02)). */
typedef struct vigil_kv_num {
    const char *key;
    double      value;
} vigil_kv_num_t;

/* Log hook of libvigil's monitoring objects: `level` is 0 error, 1 warning, 2 info; the
 * message is one line with key=value details. Called from any thread; must be thread-safe. */
typedef void (*vigil_monitor_log_fn)(void *ctx, int level, const char *component,
                                     const char *message);

/* Longest operation id and type, including the NUL. */
#define VIGIL_OP_ID_MAX   128
#define VIGIL_OP_TYPE_MAX 128
/* Most percentiles reported. */
#define VIGIL_TELEMETRY_MAX_PERCENTILES 16

typedef struct vigil_telemetry vigil_telemetry_t;

typedef struct vigil_telemetry_opts {
    size_t            max_events;        /* 0: 10000 */
    size_t            max_types;         /* distinct operation types; 0: 256 */
    double            slow_threshold_s;  /* 0: 30 (the seed's slow_request_threshold) */
    const double     *percentiles;       /* each in (0, 100]; NULL: {50, 90, 95, 99} */
    size_t            n_percentiles;     /* at most VIGIL_TELEMETRY_MAX_PERCENTILES */
    vigil_registry_t *registry;          /* NULL: no metrics; borrowed */
    vigil_monitor_log_fn log;            /* NULL: no logging */
    void             *log_ctx;
} vigil_telemetry_opts_t;

/*
 * Creates a collector. With a registry it registers vigil_monitor_operations_total{type,
 * status}, vigil_monitor_operation_duration_seconds{type} (summary, quantiles = the
 * percentiles), vigil_monitor_slow_operations_total{type}, vigil_monitor_operations_in_flight
 * and vigil_monitor_operation_events_dropped_total. On success *out is the caller's, freed with
 * vigil_telemetry_free().
 */
int vigil_telemetry_create(const vigil_telemetry_opts_t *opts, vigil_telemetry_t **out,
                           vigil_error_t *err);

/* Frees the collector, in-flight operations included; NULL is a no-op. */
void vigil_telemetry_free(vigil_telemetry_t *t);

/*
 * Starts operation `id` of `type` with metadata md[0..n_md). `id` NULL or "" generates one
 * ("op-<n>"). Ids and types are 1..127 bytes of printable ASCII other than space (ids also
 * no '/' so they fit in a URL segment). The id actually used is written to id_out (cap bytes,
 * may be NULL). Errors: VIGIL_EINVAL (bad id, type or metadata), VIGIL_EEXIST (an operation
 * with that id is in flight), VIGIL_ELIMIT (max_events in flight, or max_types types).
 */
int vigil_telemetry_start(vigil_telemetry_t *t, const char *id, const char *type,
                          const vigil_kv_t *md, size_t n_md, char *id_out, size_t cap,
                          vigil_error_t *err);

/*
 * Ends operation `id` with `status` ("success" counts as success; anything else, "error"
 * included, as failure) and numeric results m[0..n_m). Its duration (monotonic clock) goes to
 * *duration_s when not NULL. Errors: VIGIL_ENOENT (never started, or ended so long ago it
 * left the ring), VIGIL_ESTATE (already ended), VIGIL_EINVAL (bad status or metrics). A
 * failed call changes nothing.
 */
int vigil_telemetry_end(vigil_telemetry_t *t, const char *id, const char *status,
                        const vigil_kv_num_t *m, size_t n_m, double *duration_s,
                        vigil_error_t *err);

/* Records a finished operation in one call (the manager's record_operation): type, status,
 * duration (>= 0) and metadata. Same errors as start/end. */
int vigil_telemetry_record(vigil_telemetry_t *t, const char *type, const char *status,
                           double duration_s, const vigil_kv_t *md, size_t n_md,
                           vigil_error_t *err);

typedef struct vigil_op_type_stats {
    char     type[VIGIL_OP_TYPE_MAX];
    uint64_t count;           /* finished operations */
    uint64_t success_count;
    uint64_t slow_count;
    double   success_rate;    /* success_count / count; NaN when count is 0 */
    double   mean_duration_s;
    double   max_duration_s;
    size_t   window;          /* finished operations of this type still in the ring */
    double   percentiles[VIGIL_TELEMETRY_MAX_PERCENTILES]; /* over the ring; NaN if empty */
} vigil_op_type_stats_t;

typedef struct vigil_telemetry_stats {
    size_t   in_flight;
    uint64_t started, finished, success, slow;
    uint64_t dropped;         /* finished operations pushed out of the ring */
    uint64_t rejected;        /* starts refused at the in-flight bound */
    double   success_rate;    /* over all types; NaN when nothing finished */
    size_t   n_types;
    size_t   n_percentiles;
    double   percentile_points[VIGIL_TELEMETRY_MAX_PERCENTILES]; /* the p of each column */
} vigil_telemetry_stats_t;

/* Totals, and per-type stats for up to `cap` types (in order of first sight) into
 * types[0..cap) (NULL with cap 0 for totals only). Returns how many types were written. */
size_t vigil_telemetry_stats(vigil_telemetry_t *t, vigil_telemetry_stats_t *totals,
                             vigil_op_type_stats_t *types, size_t cap);

/*
 * The seed's get_operation_stats() as JSON:
 *   {"in_flight":0,"started":3,"finished":3,"success_rate":0.667,"slow":0,"dropped":0,
 *    "rejected":0,"types":{"evaluate":{"count":3,"success_count":2,"success_rate":0.667,
 *    "slow_count":0,"mean_duration":1.2,"max_duration":2,"window":3,
 *    "percentiles":{"p50":1,"p90":2,"p95":2,"p99":2}}}}
 * Percentile keys are "p" + the percentile as %g ("p99.9"). *json is the caller's (free()).
 */
int vigil_telemetry_stats_json(vigil_telemetry_t *t, char **json, size_t *len);

/*
 * The last `count` finished operations, oldest first, as a JSON array of
 *   {"id":"op-1","type":"evaluate","status":"success","start_time":1700000000.1,
 *    "duration":1.5,"slow":false,"metadata":{"model_id":"gpt2"},"metrics":{"ratio":1.02}}
 * *json is the caller's, freed with free().
 */
int vigil_telemetry_recent_json(vigil_telemetry_t *t, size_t count, char **json, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_TELEMETRY_H */
