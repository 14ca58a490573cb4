/*
 * api.h - the Prometheus HTTP API of the agent (/api/v1/...), answered byte-compatibly so
 * Grafana's Prometheus data source and Prometheus tooling work against vigil unchanged.
 *
 * Data flow: an HTTP handler parses the request's parameters (times, durations, PromQL),
 * runs the query engine over the store's promql_storage_t and writes Prometheus's JSON
 * envelope {"status":"success","data":...,"warnings":[...],"infos":[...]} or
 * {"status":"error","errorType":...,"error":...}. The API owns no data: the engine and the
 * store are borrowed from the agent.
 */
#ifndef VIGIL_API_H
#define VIGIL_API_H

#include "http/http.h"
#include "promql/promql.h"
#include "util/buf.h"
#include "vigil/error.h"

#include <stddef.h>
#include <stdint.h>

/* One metric family's metadata, as /api/v1/metadata lists it. Strings are borrowed for the
 * duration of the callback that hands the entry out. */
typedef struct api_metadata {
    const char *metric;  /* family name */
    const char *type;    /* "counter", "gauge", "histogram", "summary", "unknown", ... */
    const char *help;
    const char *unit;
} api_metadata_t;

/* Called once per family, in metric-name order; a non-zero return stops the walk and is
 * returned by the walker. */
typedef int (*api_metadata_fn)(void *arg, const api_metadata_t *m);

typedef struct api {
    promql_engine_t *engine;   /* borrowed */
    promql_storage_t storage;  /* borrowed */
    int64_t          start_time_ms;  /* agent start, for runtimeinfo */
    /* Appends the effective configuration as YAML (status/config); may be NULL. */
    int            (*config_yaml)(void *ctx, buf_t *out);
    /* Appends the flags as a JSON object of strings (status/flags); may be NULL. */
    int            (*flags_json)(void *ctx, buf_t *out);
    void            *ctx;
    /* Storage retention for runtimeinfo ("15d"); may be NULL. */
    const char      *retention;
    /* Clock in ms; NULL = the real clock. Tests pin it for the default `time`. */
    int64_t        (*now_ms)(void);
    /* Walks the metadata of what was ingested (/api/v1/metadata), calling `each` per family
     * in name order; NULL: the endpoint answers an empty object. */
    int            (*metadata)(void *metadata_ctx, api_metadata_fn each, void *arg);
    void            *metadata_ctx;
} api_t;

/* Writes up to `cap` route rows for the API into `out` (ctx = api) and returns how many
 * rows the API has (call with cap 0 to size the array). `api` must outlive the server. */
size_t api_routes(api_t *api, http_route_t *out, size_t cap);

/* ---- parsing and formatting, shared with the tests and `vigil query` ---- */

/* Parses a Prometheus API time: Unix seconds with an optional fraction ("1435781451.781") or
 * RFC 3339 ("2015-07-01T20:10:51.781Z", "...+02:00"). 0 or VIGIL_EINVAL with the reason. */
int api_parse_time(const char *s, int64_t *ms, vigil_error_t *err);

/* Parses a step or timeout: float seconds ("15", "0.5") or a Prometheus duration ("1m30s").
 * 0 or VIGIL_EINVAL. */
int api_parse_duration(const char *s, int64_t *ms, vigil_error_t *err);

/* Appends a sample value of a vector or matrix as Prometheus's API writes it (its jsonutil:
 * Go's AppendFloat(v, 'e', -1, 64) when |v| < 1e-6 or |v| >= 1e21, else 'f'): the shortest
 * digits that read back as v ("0.1", "1e-07", "1e+21"); "NaN", "+Inf", "-Inf", "-0".
 * 0, or VIGIL_ENOMEM / VIGIL_ELIMIT from the buffer. */
int api_put_value(buf_t *out, double v);

/* Appends v as Go's FormatFloat(v, 'f', -1, 64), which Prometheus uses for scalar results and
 * number literals: the shortest round-trip digits, never an exponent. Errors as above. */
int api_put_float(buf_t *out, double v);

/* The most bytes api_format_value writes: sign, "0.", 323 zeros and 17 digits of the smallest
 * subnormals, rounded up. */
#define API_VALUE_MAX 360

/* Writes v into out (API_VALUE_MAX bytes; no terminator) as api_put_value (sample) or
 * api_put_float (!sample) appends it; returns the length. */
size_t api_format_value(char *out, double v, bool sample);

/* The most bytes api_format_time writes ("-9223372036854775.808"). */
#define API_TIME_MAX 24

/* Writes a timestamp as api_put_time appends it into out (API_TIME_MAX bytes; no terminator);
 * returns the length. */
size_t api_format_time(char *out, int64_t ms);

/* The shortest decimal that reads back as the finite, nonzero v (sign ignored), closest to v:
 * |v| ~ *m * 10^*exp10, *m without trailing zeros. Returns the number of digits of *m (1-17). */
int api_shortest(double v, uint64_t *m, int *exp10);

/* Appends a timestamp in ms as the JSON number of seconds Prometheus writes (1435781451.781). */
int api_put_time(buf_t *out, int64_t ms);


/* Appends a label set as a JSON object {"name":"value",...} in label order. */
int api_put_labels(buf_t *out, promql_labels_t labels);

/* Appends the "data" object of a query result ({"resultType":...,"result":...}). */
int api_put_result(buf_t *out, const promql_result_t *r);

/* Parses a `limit` parameter as Prometheus does: absent or "" is 0 (no limit), otherwise a
 * non-negative decimal integer. 0 or VIGIL_EINVAL ("limit must be non-negative", or Go's
 * strconv.Atoi text for non-numbers). */
int api_parse_limit(const char *s, size_t *limit, vigil_error_t *err);

/* Parses `query` and appends its syntax tree as the JSON /api/v1/parse_query answers in
 * "data" (Prometheus's translateAST: keys sorted, name matcher last). VIGIL_EPARSE with
 * "line:col: parse error: ..." in err, or a buffer error. */
int api_parse_query_json(const char *query, buf_t *out, vigil_error_t *err);

#endif /* VIGIL_API_H */
