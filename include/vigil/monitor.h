/*
 * vigil/monitor.h - the monitoring manager (seed 000 `MonitoringManager`), the resource
 * monitor (`ResourceMonitor`), the GPU health check hook and the periodic JSON export.
 *
 *   vigil_monitor_config_t cfg;
 *   vigil_monitor_config_default(&cfg);            // the seed's MonitoringConfig defaults
 *   cfg.metrics_interval = 10.0;
 *   vigil_monitor_t *m;
 *   vigil_monitor_create(&cfg, &m, &err);
 *   vigil_monitor_start(m, &err);
 *   vigil_monitor_record_operation(m, "evaluate", 45.2,
 *                                  (vigil_kv_t[]){{"model_id", "gpt2"}}, 1, &err);
 *   vigil_monitor_status_t st; vigil_monitor_status(m, &st);   // st.health_status
 *   vigil_monitor_stop(m);
 *   vigil_monitor_free(m);
 *
 * The manager owns one of each: alert manager, telemetry collector, resource monitor,
 * production monitor and threshold monitor (reachable through the accessors below), and one
 * background thread that runs the periodic work, each task at its own interval:
 *   health checks      every health_check_interval (only when the manager created the health
 *                      checker; a borrowed checker is run by its owner)
 *   resource checks    every resource_check_interval: usage gauges, check_thresholds(), and a
 *                      WARNING alert when a resource crosses its threshold (edge-triggered,
 *                      only with enable_alerting)
 *   threshold checks   every metrics_interval (vigil_threshold_check)
 *   JSON export        every metrics_interval when json_export_enabled
 * With prometheus_enabled the manager also serves its registry at
 * http://<prometheus_host>:<prometheus_port>/metrics (vigil/exporter.h).
 *
 * Thread-safety: every function may be called from any thread, but create/free and
 * start/stop must not race with each other.
 */
#ifndef VIGIL_MONITOR_H
#define VIGIL_MONITOR_H

#include "vigil/alerts.h"
#include "vigil/error.h"
#include "vigil/health.h"
#include "vigil/metrics.h"
#include "vigil/pipeline.h"
#include "vigil/telemetry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most GPUs one resource reading reports. */
#define VIGIL_MONITOR_MAX_GPUS 16

/* One GPU's usage, as a GPU callback reports it. */
typedef struct vigil_gpu_usage {
    unsigned index;
    char     name[96];
    double   memory_used_mb;
    double   memory_total_mb;
    double   memory_percent;  /* used / total * 100 */
    double   util_percent;    /* NaN when unknown */
} vigil_gpu_usage_t;

/*
 * Reads the GPUs: fills out[0..cap) and *n. Returns 0 (n == 0: no GPU), or a negative
 * VIGIL_E* code when the GPUs could not be read. libvigil does not link NVML: the agent (or
 * the application) provides this callback; without one there is no GPU data.
 */
typedef int (*vigil_gpu_usage_fn)(void *ctx, vigil_gpu_usage_t *out, size_t cap, size_t *n);

/* Every field of the seed's MonitoringConfig, plus what C needs spelled out. */
typedef struct vigil_monitor_config {
    /* Collection intervals (seconds) */
    double metrics_interval;         /* 10 */
    double health_check_interval;    /* 30 */
    double resource_check_interval;  /* 5 */
    /* Data retention */
    double metrics_retention_hours;  /* 24: JSON export files older than this are deleted */
    size_t max_events;               /* 10000: telemetry bound (vigil/telemetry.h) */
    /* Alerting */
    bool               enable_alerting;   /* true */
    const char *const *alert_channels;    /* names, recorded in the status; NULL/0: none */
    size_t             n_alert_channels;
    size_t             max_alerts;        /* 1000: alert store bound */
    /* Export settings */
    bool        prometheus_enabled;  /* false */
    int         prometheus_port;     /* 9090; 0 picks a free port */
    const char *prometheus_host;     /* "127.0.0.1" (NULL too) */
    bool        json_export_enabled; /* true, as the seed */
    const char *json_export_path;    /* "./monitoring" */
    /* Resource thresholds (percent) */
    double cpu_threshold;            /* 80 */
    double memory_threshold;         /* 85 */
    double gpu_memory_threshold;     /* 90 */
    /* Performance monitoring */
    const double *latency_percentiles; /* {50, 90, 95, 99} (NULL too) */
    size_t        n_latency_percentiles;
    double        slow_request_threshold; /* 30 seconds */

    /* Not in the seed: where the readings come from and what the manager is built on. */
    const char             *procfs;     /* "/proc" (NULL too) */
    const char             *disk_path;  /* filesystem of disk_free_gb; "/" (NULL too) */
    vigil_gpu_usage_fn      gpu_fn;     /* NULL: no GPU */
    void                   *gpu_ctx;
    vigil_registry_t       *registry;   /* NULL: the manager creates (and frees) its own */
    vigil_health_checker_t *health;     /* NULL: the manager creates one with the seed's
                                           default checks memory/cpu/disk (+ gpu) */
    vigil_pipeline_rules_t  pipeline_rules;  /* zero: defaults (vigil/pipeline.h) */
    vigil_monitor_log_fn    log;        /* NULL: no logging */
    void                   *log_ctx;
} vigil_monitor_config_t;

/* Fills *cfg with the seed's defaults (listed above). Allocates nothing. */
void vigil_monitor_config_default(vigil_monitor_config_t *cfg);

/* ---------------------------------------------------------------------------------------- */
/* Resource monitor                                                                          */

typedef struct vigil_resource_usage {
    double            cpu_percent;      /* busy share since the previous reading (first: since
                                           boot), 0..100 */
    double            memory_percent;   /* (total - available) / total * 100 */
    double            memory_used_gb;
    double            memory_total_gb;
    double            disk_percent;     /* used / (used + available), as df */
    double            disk_free_gb;     /* available to unprivileged users */
    size_t            n_gpus;
    vigil_gpu_usage_t gpus[VIGIL_MONITOR_MAX_GPUS];
} vigil_resource_usage_t;

typedef struct vigil_resource_monitor vigil_resource_monitor_t;

typedef struct vigil_resource_opts {
    const char        *procfs;               /* NULL: "/proc" */
    const char        *disk_path;            /* NULL: "/" */
    double             cpu_threshold;        /* percent; 0: 80 */
    double             memory_threshold;     /* 0: 85 */
    double             gpu_memory_threshold; /* 0: 90 */
    vigil_gpu_usage_fn gpu_fn;               /* NULL: no GPU */
    void              *gpu_ctx;
} vigil_resource_opts_t;

/* Creates a resource monitor (strings copied). *out is the caller's: vigil_resource_free(). */
int vigil_resource_create(const vigil_resource_opts_t *opts, vigil_resource_monitor_t **out,
                          vigil_error_t *err);
void vigil_resource_free(vigil_resource_monitor_t *rm);

/* get_current_usage(). A GPU read failure leaves n_gpus 0 and is not an error; procfs or
 * statfs failures are (VIGIL_EIO/VIGIL_EPARSE with the path in err). */
int vigil_resource_current(vigil_resource_monitor_t *rm, vigil_resource_usage_t *out,
                           vigil_error_t *err);

/* Most warnings one check_thresholds() returns. */
#define VIGIL_RESOURCE_MAX_WARNINGS (2 + VIGIL_MONITOR_MAX_GPUS)

typedef struct vigil_resource_warning {
    char   resource[32];   /* "cpu", "memory", "gpu0_memory", ... */
    double value;
    double threshold;
    char   message[160];   /* "High CPU usage: 91.2% (threshold 80.0%)" */
} vigil_resource_warning_t;

/* check_thresholds() on `usage`: one warning per resource strictly above its threshold,
 * written to out[0..VIGIL_RESOURCE_MAX_WARNINGS). Returns how many. */
size_t vigil_resource_check_thresholds(vigil_resource_monitor_t *rm,
                                       const vigil_resource_usage_t *usage,
                                       vigil_resource_warning_t *out);

/* Replaces the thresholds (config reload); zero fields keep the current value. */
void vigil_resource_set_thresholds(vigil_resource_monitor_t *rm, double cpu, double memory,
                                   double gpu_memory);

/* Usage as JSON: {"cpu_percent":..,"memory_percent":..,"memory_used_gb":..,
 * "memory_total_gb":..,"disk_percent":..,"disk_free_gb":..,"gpus":[{"index":0,"name":"..",
 * "memory_used_mb":..,"memory_total_mb":..,"memory_percent":..,"util_percent":..}],
 * "warnings":[{"resource":"cpu","value":91,"threshold":80,"message":".."}]}.
 * `warnings` may be NULL with n_warnings 0. *json is the caller's (free()). */
int vigil_resource_usage_json(const vigil_resource_usage_t *usage,
                              const vigil_resource_warning_t *warnings, size_t n_warnings,
                              char **json, size_t *len);

/*
 * Registers the seed's "gpu" health check on `hc`: GPU memory percent of the fullest device
 * against `t` (seed: warning > 85, critical > 95). No GPU reads healthy ("No GPU"), a failed
 * read unknown. `fn`/`ctx` borrowed: they must outlive the checker. The check's context is
 * allocated here and freed by vigil_monitor_gpu_check_free() after the checker is freed.
 */
typedef struct vigil_gpu_check vigil_gpu_check_t;
int vigil_monitor_register_gpu_check(vigil_health_checker_t *hc, vigil_gpu_usage_fn fn,
                                     void *ctx, const vigil_health_thresholds_t *t,
                                     vigil_gpu_check_t **out, vigil_error_t *err);
void vigil_monitor_gpu_check_free(vigil_gpu_check_t *gc);
/* Replaces the GPU check's thresholds (config reload). */
void vigil_monitor_gpu_check_set_thresholds(vigil_gpu_check_t *gc,
                                            const vigil_health_thresholds_t *t);

/* ---------------------------------------------------------------------------------------- */
/* Monitoring manager                                                                        */

typedef struct vigil_monitor vigil_monitor_t;

/* Creates the manager and its parts from *cfg (copied, strings included; borrowed pointers
 * stay borrowed). Nothing runs until vigil_monitor_start(). *out is the caller's, freed with
 * vigil_monitor_free(). Errors: VIGIL_EINVAL (a field out of range; the message names it),
 * VIGIL_EEXIST (the registry already has the vigil_monitor_* families), VIGIL_ENOMEM. */
int vigil_monitor_create(const vigil_monitor_config_t *cfg, vigil_monitor_t **out,
                         vigil_error_t *err);

/* Stops if running and frees everything the manager created. NULL is a no-op. */
void vigil_monitor_free(vigil_monitor_t *m);

/* Starts the background thread (and the exporter when prometheus_enabled). VIGIL_ESTATE when
 * running; VIGIL_EBUSY etc. from the exporter. */
int vigil_monitor_start(vigil_monitor_t *m, vigil_error_t *err);

/* Stops the thread and the exporter; returns once the current task has finished. */
void vigil_monitor_stop(vigil_monitor_t *m);

/* The seed's record_operation(type, duration, **metadata): a finished, successful operation
 * of `duration_s` seconds (vigil_telemetry_record). */
int vigil_monitor_record_operation(vigil_monitor_t *m, const char *type, double duration_s,
                                   const vigil_kv_t *md, size_t n_md, vigil_error_t *err);

/* The parts, owned by the manager (valid until vigil_monitor_free). */
vigil_alert_manager_t      *vigil_monitor_alerts(vigil_monitor_t *m);
vigil_telemetry_t          *vigil_monitor_telemetry(vigil_monitor_t *m);
vigil_resource_monitor_t   *vigil_monitor_resources(vigil_monitor_t *m);
vigil_production_monitor_t *vigil_monitor_production(vigil_monitor_t *m);
vigil_threshold_monitor_t  *vigil_monitor_thresholds(vigil_monitor_t *m);
vigil_health_checker_t     *vigil_monitor_health(vigil_monitor_t *m);
vigil_registry_t           *vigil_monitor_registry(vigil_monitor_t *m);

/* The exporter's bound port; -1 when not serving. */
int vigil_monitor_prometheus_port(vigil_monitor_t *m);

#define VIGIL_MONITOR_STATUS_RECENT_ALERTS 5

/* get_status() */
typedef struct vigil_monitor_status {
    bool                   running;
    vigil_health_status_t  health_status;    /* overall of the latest health results */
    double                 uptime_s;         /* since vigil_monitor_create */
    uint64_t               operations_started, operations_finished, operations_dropped;
    size_t                 operations_in_flight;
    uint64_t               alerts_total;
    size_t                 alerts_stored;
    size_t                 n_recent_alerts;
    vigil_alert_t          recent_alerts[VIGIL_MONITOR_STATUS_RECENT_ALERTS]; /* oldest first */
    uint64_t               exports_written, exports_failed, exports_deleted;
    vigil_pipeline_health_t pipelines_health;
} vigil_monitor_status_t;

void vigil_monitor_status(vigil_monitor_t *m, vigil_monitor_status_t *out);

/*
 * The status as JSON (GET /api/v1/monitor/status): {"running":true,"health_status":"healthy",
 * "uptime_seconds":12.5,"operations":{"started":..,"finished":..,"in_flight":..,"dropped":..},
 * "alerts":{"total":..,"stored":..,"recent":[alert...]},"pipelines_health":"healthy",
 * "exports":{"written":..,"failed":..,"deleted":..},"config":{every MonitoringConfig field}}.
 * *json is the caller's, freed with free().
 */
int vigil_monitor_status_json(vigil_monitor_t *m, char **json, size_t *len);

/*
 * Writes one export file now, as the periodic task does: json_export_path/
 * metrics_YYYYMMDD_HHMMSS.json (UTC) through a temporary file, fsync and rename, then deletes
 * metrics_*.json files whose name time is older than metrics_retention_hours. The path written
 * goes to path_out (cap bytes; may be NULL). Schema: docs/format/monitor-json-export.md.
 * Works whether or not json_export_enabled is set.
 */
int vigil_monitor_export_json(vigil_monitor_t *m, char *path_out, size_t cap,
                              vigil_error_t *err);

/* The export's building blocks, for tests and for callers with their own schedule. */

/* Writes `json` (len bytes) to dir/metrics_<UTC time of now>.json atomically. */
int vigil_monitor_export_write(const char *dir, time_t now, const char *json, size_t len,
                               char *path_out, size_t cap, vigil_error_t *err);

/* Deletes dir/metrics_YYYYMMDD_HHMMSS.json files whose name time is older than now -
 * retention_s; other files are never touched. Returns how many were deleted (>= 0) or a
 * negative VIGIL_E* code when the directory cannot be read. */
int vigil_monitor_export_prune(const char *dir, time_t now, double retention_s,
                               vigil_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_MONITOR_H */
