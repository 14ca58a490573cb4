/*
 * promql.h - PromQL for vigil: parser, formatter and evaluation engine (Prometheus 3.x semantics).
 *
 * The rest of the program includes this header (and storage.h for the store interface).
 *
 *   promql_engine_t *eng = promql_engine_create(NULL);          // defaults
 *   promql_result_t *res;
 *   if (promql_query_instant(eng, &storage, "sum(rate(x[5m]))", t_ms, NULL, &res, &err) == 0) {
 *       ... res->type, res->vector / res->matrix / res->scalar / res->string, res->warnings ...
 *       promql_result_free(res);
 *   }
 *   promql_engine_free(eng);
 *
 * Every result owns one arena that holds all of its memory; promql_result_free() releases it.
 * Errors: VIGIL_EPARSE (bad query: "1:7: parse error: ..."), VIGIL_ELIMIT (max samples),
 * VIGIL_ETIMEOUT (query timeout), VIGIL_ESTATE (cancelled), VIGIL_ENOTSUP (native histograms),
 * VIGIL_EINVAL (any other execution error, e.g. duplicate label sets), VIGIL_ENOMEM.
 * promql_error_type() maps a code to Prometheus' errorType string.
 */
#ifndef VIGIL_PROMQL_H
#define VIGIL_PROMQL_H

#include "promql/storage.h"
#include "util/buf.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- parsing and formatting ---- */

/* Checks that `expr` parses; on failure fills err with "line:col: parse error: ...". */
int promql_parse_check(const char *expr, vigil_error_t *err);

/* Parses `expr` and appends its canonical one-line form (pretty = false) or the multi-line form
 * of `promql format` / Prometheus' Prettify (pretty = true, lines split past 100 columns). */
int promql_format(const char *expr, bool pretty, buf_t *out, vigil_error_t *err);

/* A series selector parsed on its own (the match[] parameters of /api/v1/series and the label
 * endpoints): `up`, `{job="x"}`, `node_cpu_seconds_total{mode=~"idle|user"}`. */
typedef struct promql_selector promql_selector_t;

/* Parses `s`; on success *out is the caller's, freed with promql_selector_free(). VIGIL_EPARSE
 * ("line:col: parse error: ...") for anything but a plain series selector. */
int promql_parse_selector(const char *s, promql_selector_t **out, vigil_error_t *err);

/* The selector's matchers (a metric name written before {...} comes first, as __name__=).
 * Borrowed from `sel`. */
const promql_matcher_t *promql_selector_matchers(const promql_selector_t *sel, size_t *n);

void promql_selector_free(promql_selector_t *sel);

/* ---- the value notation of series descriptions ("1+2x3 _ stale", series_values.c) ---- */

typedef enum promql_slot {
    PROMQL_SLOT_VALUE,      /* a sample (a staleness marker is the NaN it stands for) */
    PROMQL_SLOT_OMITTED,    /* "_": no sample in this slot */
    PROMQL_SLOT_HISTOGRAM,  /* "{{...}}": a native histogram, value 0; callers refuse or skip */
} promql_slot_t;

/* One slot per interval of the series; v[i] and kind[i] (a promql_slot_t) describe slot i. */
typedef struct promql_series_values {
    double        *v;
    unsigned char *kind;
    size_t         n, cap;
} promql_series_values_t;

/* Expands the notation `s` into *out, which the caller frees with
 * promql_series_values_free(). VIGIL_EPARSE ("1:COL: parse error: bad number or duration
 * syntax: \"ITEM\"", COL the item's 1-based byte column) or VIGIL_ENOMEM, *out then empty. */
int promql_series_values_parse(const char *s, promql_series_values_t *out, vigil_error_t *err);
void promql_series_values_free(promql_series_values_t *v);

/* ---- engine ---- */

typedef struct promql_engine_opts {
    int64_t lookback_ms;          /* default 5m */
    size_t  max_samples;          /* default 50 000 000 */
    int64_t timeout_ms;           /* default 2m; <= 0 means none */
    int64_t default_step_ms;      /* subquery step when omitted (`[5m:]`), default 1m */
} promql_engine_opts_t;

typedef struct promql_engine promql_engine_t;

/* Creates an engine (NULL opts = defaults). Free with promql_engine_free(). NULL on OOM. The
 * engine holds only settings: one engine may run queries from several threads at once. */
promql_engine_t *promql_engine_create(const promql_engine_opts_t *opts);
void promql_engine_free(promql_engine_t *e);

/* Per-query options; NULL means none. */
typedef struct promql_query_opts {
    /* Polled between evaluation steps; returning true aborts with VIGIL_ESTATE ("query was
     * canceled"), e.g. when the HTTP client went away. */
    bool (*cancelled)(void *ctx);
    void *cancel_ctx;
} promql_query_opts_t;

typedef enum promql_value_type {
    PROMQL_VALUE_NONE,
    PROMQL_VALUE_SCALAR,
    PROMQL_VALUE_VECTOR,
    PROMQL_VALUE_MATRIX,
    PROMQL_VALUE_STRING,
} promql_value_type_t;

typedef struct promql_point {
    int64_t t;  /* ms since epoch */
    double  v;
} promql_point_t;

typedef struct promql_sample {
    promql_labels_t labels;
    int64_t t;
    double  v;
} promql_sample_t;

typedef struct promql_series {
    promql_labels_t labels;
    promql_point_t *points;
    size_t n;
} promql_series_t;

typedef struct promql_result {
    promql_value_type_t type;
    double scalar;             /* PROMQL_VALUE_SCALAR (with t) */
    int64_t t;                 /* evaluation time of a scalar or string */
    const char *string;        /* PROMQL_VALUE_STRING */
    promql_sample_t *vector;   /* PROMQL_VALUE_VECTOR, n_vector samples (query order) */
    size_t n_vector;
    promql_series_t *matrix;   /* PROMQL_VALUE_MATRIX, sorted by labels */
    size_t n_matrix;
    /* Annotations as the HTTP API returns them: "PromQL warning: ... (1:7)" / "PromQL info: ...". */
    const char **warnings;
    size_t n_warnings;
    const char **infos;
    size_t n_infos;
    void *arena_;              /* private: owns every byte above */
} promql_result_t;

/* Evaluates `expr` at `t_ms`. On success *out is a result the caller frees with
 * promql_result_free(); a vector result keeps the engine's order (sort() etc. are honoured). */
int promql_query_instant(promql_engine_t *e, const promql_storage_t *st, const char *expr,
                         int64_t t_ms, const promql_query_opts_t *qo, promql_result_t **out,
                         vigil_error_t *err);

/* Evaluates `expr` at start, start+step, ... <= end (step > 0). The result is a matrix sorted by
 * labels, or for a string expression an error as in Prometheus. Caller frees *out. */
int promql_query_range(promql_engine_t *e, const promql_storage_t *st, const char *expr,
                       int64_t start_ms, int64_t end_ms, int64_t step_ms,
                       const promql_query_opts_t *qo, promql_result_t **out, vigil_error_t *err);

/* Frees a result and everything it points to. NULL is fine. */
void promql_result_free(promql_result_t *r);

/* Prometheus' HTTP errorType for a code returned above: "bad_data", "execution", "timeout",
 * "canceled", "internal". Static string. */
const char *promql_error_type(int code);

/* ---- the .test script interpreter (promqltest) ---- */

typedef struct promql_test_counts {
    int passed;
    int failed;
    int skipped;
} promql_test_counts_t;

/* Runs one Prometheus .test file, printing each failure as "FILE:LINE: ..." and each skip with
 * its rule to `out` (verbose also prints passes). Adds to *counts. Returns 0 when the file could
 * be read and run (failures are counted, not returned), or a VIGIL_E* code. */
int promql_test_run_file(const char *path, FILE *out, bool verbose, promql_test_counts_t *counts,
                         vigil_error_t *err);

#endif /* VIGIL_PROMQL_H */
