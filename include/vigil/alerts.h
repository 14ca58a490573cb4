/*
 * vigil/alerts.h - the alert manager (seed 001 `AlertManager`) and the threshold monitor
 * (seed 001 `AdvancedMonitor`).
 *
 * Alert manager: a bounded, in-memory store of alerts (oldest evicted first, evictions counted)
 * with four severities, handler callbacks fanned out on every trigger, and queries for the most
 * recent alerts and for one severity. When created with a registry, every alert is also counted
 * in vigil_monitor_alerts_total{severity, metric} so recording rules and dashboards see alerts
 * that no longer fit the store.
 *
 * Threshold monitor: per-metric thresholds with a direction (alert when the latest value is
 * strictly above, or strictly below, the threshold), a per-metric history (latest, min, max,
 * mean, count) and a background thread that samples registered sources and checks at an
 * interval. Alerts are edge-triggered: a metric raises one alert when it enters violation and
 * another only after it has been back within its threshold at a check.
 *
 * Thread-safety: every function may be called from any thread. Handlers run on the thread that
 * triggered the alert, outside the store's lock, so a handler may query the manager (but must
 * not remove handlers).
 */
#ifndef VIGIL_ALERTS_H
#define VIGIL_ALERTS_H

#include "vigil/error.h"
#include "vigil/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vigil_alert_severity {
    VIGIL_ALERT_INFO = 0,   /* a metric crossed a soft threshold */
    VIGIL_ALERT_WARNING,    /* degraded but within tolerance */
    VIGIL_ALERT_ERROR,      /* significant regression requiring investigation */
    VIGIL_ALERT_CRITICAL,   /* service-impacting, immediate action */
} vigil_alert_severity_t;

#define VIGIL_ALERT_SEVERITY_COUNT 4
/* Most handlers one manager fans out to. */
#define VIGIL_ALERT_MAX_HANDLERS 16

/* One alert, by value: the store, queries and handlers all deal in copies. */
typedef struct vigil_alert {
    uint64_t               id;            /* 1, 2, ... in trigger order, never reused */
    vigil_alert_severity_t severity;
    double                 timestamp;     /* Unix seconds (wall clock) */
    char                   message[256];  /* truncated to fit */
    char                   metric_name[128];
    double                 metric_value;
    double                 threshold;     /* NaN when the alert has none */
} vigil_alert_t;

/* Told about every alert; `alert` is valid during the call only. */
typedef void (*vigil_alert_handler_fn)(void *ctx, const vigil_alert_t *alert);

typedef struct vigil_alert_manager vigil_alert_manager_t;

typedef struct vigil_alert_manager_opts {
    size_t            max_alerts;  /* store bound; 0: 1000 (the seed's default) */
    vigil_registry_t *registry;    /* NULL: no metrics; borrowed, must outlive the manager */
} vigil_alert_manager_opts_t;

/*
 * Creates a manager. `opts` may be NULL for the defaults. With a registry it registers
 *   vigil_monitor_alerts_total{severity, metric}   counter, every alert triggered
 *   vigil_monitor_alerts_evicted_total             counter, alerts pushed out of the store
 * (VIGIL_EEXIST when they are already there). On success *out is the caller's, freed with
 * vigil_alert_manager_free().
 */
int vigil_alert_manager_create(const vigil_alert_manager_opts_t *opts,
                               vigil_alert_manager_t **out, vigil_error_t *err);

/* Frees the manager and its stored alerts; NULL is a no-op. No trigger may be running. */
void vigil_alert_manager_free(vigil_alert_manager_t *am);

/* Adds a handler (the seed's add_alert_handler). `ctx` is borrowed and must outlive the
 * registration. VIGIL_ELIMIT past VIGIL_ALERT_MAX_HANDLERS, VIGIL_EINVAL for a NULL fn. */
int vigil_alert_add_handler(vigil_alert_manager_t *am, vigil_alert_handler_fn fn, void *ctx,
                            vigil_error_t *err);

/*
 * Records an alert, counts it, and calls every handler in registration order with a copy.
 * `message` and `metric_name` are copied (truncated to the fields' sizes; NULL reads as "");
 * `threshold` may be NaN. When the store is full the oldest alert is evicted first. If `out`
 * is not NULL it receives the stored copy. VIGIL_EINVAL for an unknown severity.
 */
int vigil_alert_trigger(vigil_alert_manager_t *am, vigil_alert_severity_t severity,
                        const char *message, const char *metric_name, double metric_value,
                        double threshold, vigil_alert_t *out, vigil_error_t *err);

/*
 * Copies the most recent alerts, oldest first, into out[0..cap): at most `count` of them (the
 * seed's get_recent_alerts(count)), and only those of `severity` when `filter_severity` is
 * true (get_alerts_by_severity). Returns how many were copied.
 */
size_t vigil_alert_recent(vigil_alert_manager_t *am, size_t count, bool filter_severity,
                          vigil_alert_severity_t severity, vigil_alert_t *out, size_t cap);

/* Seed spelling of the severity query: the most recent `cap` alerts of `severity`. */
size_t vigil_alert_by_severity(vigil_alert_manager_t *am, vigil_alert_severity_t severity,
                               vigil_alert_t *out, size_t cap);

/* Empties the store (clear_alerts). Counters and ids keep going. */
void vigil_alert_clear(vigil_alert_manager_t *am);

typedef struct vigil_alert_stats {
    size_t   stored;                                 /* alerts in the store now */
    size_t   max_alerts;
    uint64_t triggered;                              /* every alert since creation */
    uint64_t evicted;                                /* pushed out by newer ones */
    uint64_t by_severity[VIGIL_ALERT_SEVERITY_COUNT]; /* triggered, per severity */
} vigil_alert_stats_t;

void vigil_alert_get_stats(vigil_alert_manager_t *am, vigil_alert_stats_t *out);

/* "INFO", "WARNING", "ERROR", "CRITICAL"; static. "UNKNOWN" for anything else. */
const char *vigil_alert_severity_name(vigil_alert_severity_t s);

/* Parses a severity name, case-insensitively ("warning", "WARNING"). 0 or VIGIL_EINVAL. */
int vigil_alert_severity_parse(const char *name, vigil_alert_severity_t *out);

/* The alert as a JSON object
 *   {"id":1,"severity":"WARNING","timestamp":1700000000.5,"message":"...",
 *    "metric_name":"throughput","metric_value":850,"threshold":1000}
 * (threshold null when NaN). On success *json is the caller's, freed with free(). */
int vigil_alert_to_json(const vigil_alert_t *a, char **json, size_t *len);

/* ---------------------------------------------------------------------------------------- */
/* Threshold monitor (AdvancedMonitor)                                                       */

typedef enum vigil_threshold_direction {
    VIGIL_THRESHOLD_ABOVE = 0,  /* violation when latest > value (the seed's default) */
    VIGIL_THRESHOLD_BELOW,      /* violation when latest < value (throughput floors) */
} vigil_threshold_direction_t;

/* A polled source: returns the metric's current value, or NaN when it has none now. */
typedef double (*vigil_threshold_source_fn)(void *ctx);

typedef struct vigil_threshold_monitor vigil_threshold_monitor_t;

typedef struct vigil_threshold_opts {
    vigil_alert_manager_t *alerts;       /* required; borrowed, must outlive the monitor */
    size_t                 max_metrics;  /* 0: 1024; more distinct names fail with ELIMIT */
    vigil_alert_severity_t severity;     /* severity of threshold alerts (0 = INFO; the
                                          * seed's monitor uses WARNING) */
} vigil_threshold_opts_t;

/* Per-metric history since the first value. */
typedef struct vigil_metric_history {
    uint64_t count;
    double   latest, min, max, mean;
} vigil_metric_history_t;

/* Creates a monitor. On success *out is the caller's, freed with vigil_threshold_free(). */
int vigil_threshold_create(const vigil_threshold_opts_t *opts, vigil_threshold_monitor_t **out,
                           vigil_error_t *err);

/* Stops the thread if running and frees everything; NULL is a no-op. */
void vigil_threshold_free(vigil_threshold_monitor_t *tm);

/* Sets (or replaces) the threshold of `metric` (1..127 bytes). EINVAL for a NaN value. */
int vigil_threshold_set(vigil_threshold_monitor_t *tm, const char *metric, double value,
                        vigil_threshold_direction_t direction, vigil_error_t *err);

/* Records a value of `metric` into its history (push-based use). NaN is ignored. */
int vigil_threshold_record(vigil_threshold_monitor_t *tm, const char *metric, double value,
                           vigil_error_t *err);

/* Registers a source sampled (and recorded) before each check. `ctx` borrowed. */
int vigil_threshold_add_source(vigil_threshold_monitor_t *tm, const char *metric,
                               vigil_threshold_source_fn fn, void *ctx, vigil_error_t *err);

/* Samples the sources, then compares each thresholded metric's latest value; raises an alert
 * for each metric that entered violation. Returns the number of alerts raised. */
size_t vigil_threshold_check(vigil_threshold_monitor_t *tm);

/* Starts the background thread: check, then sleep `interval_s` (> 0), until stopped
 * (start_monitoring). VIGIL_ESTATE when already running. */
int vigil_threshold_start(vigil_threshold_monitor_t *tm, double interval_s, vigil_error_t *err);

/* Wakes and joins the thread (stop_monitoring); a no-op when not running. */
void vigil_threshold_stop(vigil_threshold_monitor_t *tm);

/* History of one metric. VIGIL_ENOENT when it has no values. */
int vigil_threshold_history(vigil_threshold_monitor_t *tm, const char *metric,
                            vigil_metric_history_t *out);

/*
 * The seed's get_monitoring_summary() as JSON:
 *   {"running":false,"alert_count":2,
 *    "thresholds":{"latency":{"value":1.5,"direction":"above","violated":true}},
 *    "metric_history":{"latency":{"count":3,"latest":2,"min":1,"max":2,"mean":1.5}}}
 * alert_count counts the alerts this monitor raised. *json is the caller's, freed with free().
 */
int vigil_threshold_summary_json(vigil_threshold_monitor_t *tm, char **json, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_ALERTS_H */
