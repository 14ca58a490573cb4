/*
 * monitor_int.h - helpers shared by the files of src/monitor (the seeds' monitoring APIs):
 * clocks, JSON output and bounded name copies. Private to src/monitor.
 */
#ifndef VIGIL_MONITOR_INT_H
#define VIGIL_MONITOR_INT_H

#include "util/buf.h"
#include "vigil/telemetry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* Wall-clock time in Unix seconds. */
double monitor_wall_now(void);

/* Monotonic time in seconds (durations, scheduling). */
double monitor_mono_now(void);

/* Appends v as a JSON number, or `null` when it is NaN or infinite (JSON has neither). */
int monitor_put_json_number(buf_t *b, double v);

/* Appends `"key":` (key escaped) preceded by a comma unless *first; clears *first. */
int monitor_put_json_key(buf_t *b, bool *first, const char *key);

/* Ends a *_json function's document, built in b by buf_* calls whose combined status is rc:
 * when rc is 0 the text goes to *json (its length to *len unless len is NULL; the caller frees
 * it), else b is freed. Returns rc, or VIGIL_ENOMEM when the text cannot be handed over. */
int monitor_buf_finish(buf_t *b, int rc, char **json, size_t *len);

/* Limits of an operation's or a pipeline execution's metadata (and telemetry's metrics). */
#define MONITOR_MD_MAX_ITEMS 32
#define MONITOR_MD_MAX_BYTES 4096

/* md[0..n) as a JSON object of strings in *out (malloc'd, caller frees). VIGIL_EINVAL for
 * more than MONITOR_MD_MAX_ITEMS items, an empty key or NULL value, or a document over
 * MONITOR_MD_MAX_BYTES; VIGIL_ENOMEM. The reason is in err. */
int monitor_encode_metadata(const vigil_kv_t *md, size_t n, char **out, vigil_error_t *err);

/* True for a name of 1..max-1 bytes with no control characters (names of metrics, types,
 * pipelines: they end up in JSON, logs and label values). */
bool monitor_name_ok(const char *s, size_t max);

/* Sleeps on `cond` (CLOCK_MONOTONIC condvar) under the held `lock` for up to `seconds` or
 * until *stop; returns !*stop. */
bool monitor_sleep(pthread_cond_t *cond, pthread_mutex_t *lock, const bool *stop, double seconds);

/* Initialises a condition variable on CLOCK_MONOTONIC (what monitor_sleep waits on). */
int monitor_cond_init(pthread_cond_t *cond);

/* Nearest-rank percentile p (0..100] of sorted v[0..n); NaN when n == 0. */
double monitor_percentile_sorted(const double *v, size_t n, double p);

#endif /* VIGIL_MONITOR_INT_H */
