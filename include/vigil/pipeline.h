/*
 * vigil/pipeline.h - the production monitor (seed 001 `ProductionMonitor`): pipeline
 * executions, performance baselines and the pipeline health report; and the canary check
 * (seed 003 "Canary Set for Catastrophic Forgetting").
 *
 * Health of one pipeline, judged over its last `window` executions (the rules, all
 * configurable through vigil_pipeline_rules_t; defaults in brackets):
 *   critical  success rate <  critical_success_rate [0.5], or a baseline is set and the mean
 *             execution time >  baseline * critical_time_factor [3]
 *   degraded  success rate <  degraded_success_rate [0.95], or a baseline is set and the mean
 *             execution time >  baseline * degraded_time_factor [1.5]
 *   healthy   otherwise
 * overall_health is the worst pipeline's health ("healthy" with no pipelines). The seed's
 * example (2 executions, 1 failed: 50 %) reads degraded, as the seed prints.
 *
 * A pipeline's baseline is the baseline named after the pipeline, or failing that the one named
 * "<pipeline>_latency" (the seed sets "inference_latency" for pipeline "inference").
 *
 * When a pipeline's health changes, an alert is raised on the alert manager given at creation:
 * WARNING on entering degraded, CRITICAL on entering critical, INFO on recovering to healthy.
 *
 * Canary: a named score with a baseline (e.g. the pass rate of a canary set after training).
 * A check compares a current score with the baseline; a relative drop
 * (baseline - current) / baseline strictly beyond the threshold (default 0.10) is degraded and
 * raises a CRITICAL alert whose message names both values. Drops within 1e-9 (relative) of
 * the threshold count as at the threshold, so decimal inputs such as 0.9 -> 0.81 at 10 % are
 * not pushed over it by binary rounding. The seed computes the drop as an absolute difference
 * of pass rates; vigil uses the relative drop the issue asks for (the same when the baseline
 * is 1.0).
 *
 * Thread-safety: every function may be called from any thread.
 */
#ifndef VIGIL_PIPELINE_H
#define VIGIL_PIPELINE_H

#include "vigil/alerts.h"
#include "vigil/error.h"
#include "vigil/health.h"
#include "vigil/metrics.h"
#include "vigil/telemetry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest pipeline, baseline or canary name, including the NUL. */
#define VIGIL_PIPELINE_NAME_MAX 128

typedef enum vigil_pipeline_health {
    VIGIL_PIPELINE_HEALTHY = 0,
    VIGIL_PIPELINE_DEGRADED,
    VIGIL_PIPELINE_CRITICAL,
} vigil_pipeline_health_t;

typedef struct vigil_pipeline_rules {
    double degraded_success_rate;  /* 0: 0.95 */
    double critical_success_rate;  /* 0: 0.5 */
    double degraded_time_factor;   /* 0: 1.5 */
    double critical_time_factor;   /* 0: 3.0 */
    size_t window;                 /* executions judged; 0: 100 */
} vigil_pipeline_rules_t;

typedef struct vigil_production_monitor vigil_production_monitor_t;

typedef struct vigil_production_opts {
    vigil_pipeline_rules_t rules;          /* zero fields take the defaults */
    size_t                 max_pipelines;  /* 0: 1024 (also the bound of baselines, canaries) */
    vigil_alert_manager_t *alerts;         /* NULL: no alerts; borrowed */
    vigil_registry_t      *registry;       /* NULL: no metrics; borrowed */
    double                 canary_threshold; /* default relative drop; 0: 0.10 */
} vigil_production_opts_t;

/*
 * Creates a monitor. With a registry it registers
 *   vigil_monitor_pipeline_executions_total{pipeline, status}  counter (status success|failure)
 *   vigil_monitor_pipeline_execution_seconds{pipeline}         summary
 *   vigil_monitor_pipeline_health{pipeline}                    gauge 0 healthy 1 degraded 2 crit.
 *   vigil_monitor_canary_score{canary}                         gauge, latest checked score
 *   vigil_monitor_canary_degradation_ratio{canary}             gauge, relative drop (seed 003's
 *                                                              canary_set_performance_degradation)
 * On success *out is the caller's, freed with vigil_production_free().
 */
int vigil_production_create(const vigil_production_opts_t *opts,
                            vigil_production_monitor_t **out, vigil_error_t *err);

void vigil_production_free(vigil_production_monitor_t *pm);

/* The rules after defaults were applied. */
void vigil_production_rules(vigil_production_monitor_t *pm, vigil_pipeline_rules_t *out);

/* set_performance_baseline(name, value): value > 0 and finite. VIGIL_ELIMIT past
 * max_pipelines baselines. */
int vigil_production_set_baseline(vigil_production_monitor_t *pm, const char *name,
                                  double value, vigil_error_t *err);

/*
 * record_pipeline_execution(name, execution_time, success, metadata): execution_time >= 0
 * seconds. The metadata of the latest execution is kept for the report. VIGIL_EINVAL for a bad
 * name, time or metadata; VIGIL_ELIMIT past max_pipelines. A failed call records nothing.
 */
int vigil_production_record(vigil_production_monitor_t *pm, const char *name,
                            double execution_time, bool success, const vigil_kv_t *md,
                            size_t n_md, vigil_error_t *err);

typedef struct vigil_pipeline_stats {
    char                    name[VIGIL_PIPELINE_NAME_MAX];
    uint64_t                total_executions;
    uint64_t                successful_executions;
    double                  success_rate;         /* since the first execution */
    double                  mean_execution_time;  /* since the first execution */
    double                  window_success_rate;  /* over the last `window` executions */
    double                  window_mean_execution_time;
    size_t                  window_executions;
    double                  baseline;             /* NaN when none */
    vigil_pipeline_health_t health;
} vigil_pipeline_stats_t;

/* Stats of one pipeline. VIGIL_ENOENT when it has no executions. */
int vigil_production_pipeline(vigil_production_monitor_t *pm, const char *name,
                              vigil_pipeline_stats_t *out);

/* Classifies stats by the rules (what the report uses; exposed for tests and callers). */
vigil_pipeline_health_t vigil_pipeline_classify(const vigil_pipeline_rules_t *rules,
                                                double window_success_rate,
                                                double window_mean_time, double baseline);

/* "healthy", "degraded", "critical"; static. */
const char *vigil_pipeline_health_name(vigil_pipeline_health_t h);

/*
 * get_pipeline_health_report() as JSON:
 *   {"overall_health":"degraded","rules":{...},"baselines":{"inference_latency":0.05},
 *    "pipelines":{"inference":{"total_executions":2,"successful_executions":1,
 *      "success_rate":0.5,"mean_execution_time":0.099,"window_executions":2,
 *      "window_success_rate":0.5,"window_mean_execution_time":0.099,"baseline":0.05,
 *      "health":"degraded","last_metadata":{"error":"timeout"}}}}
 * *json is the caller's, freed with free(). *overall (may be NULL) gets overall_health.
 */
int vigil_production_report_json(vigil_production_monitor_t *pm, char **json, size_t *len,
                                 vigil_pipeline_health_t *overall);

/* Overall health alone. */
vigil_pipeline_health_t vigil_production_overall(vigil_production_monitor_t *pm);

/* ---------------------------------------------------------------------------------------- */
/* Canary check                                                                              */

typedef struct vigil_canary_result {
    double baseline;
    double current;
    double degradation;  /* (baseline - current) / baseline; negative for an improvement */
    double threshold;
    bool   degraded;     /* degradation strictly beyond threshold (see the top comment) */
} vigil_canary_result_t;

/*
 * The pure check: fills *out and, when degraded and `alerts` is not NULL, raises a CRITICAL
 * alert "Canary <name> performance dropped 12.0% (baseline: 0.9, current: 0.792)" with
 * metric_name "canary:<name>", metric_value = current and threshold = the lowest current
 * score still within the threshold. baseline must be > 0 and finite, current finite,
 * threshold in (0, 1] (0 means 0.10): VIGIL_EINVAL otherwise.
 */
int vigil_canary_check(vigil_alert_manager_t *alerts, const char *name, double baseline,
                       double current, double threshold, vigil_canary_result_t *out,
                       vigil_error_t *err);

/* Sets a named canary's baseline score (> 0) and its threshold (0: the monitor's default). */
int vigil_production_canary_baseline(vigil_production_monitor_t *pm, const char *name,
                                     double baseline, double threshold, vigil_error_t *err);

/* Checks `current` against the named canary (vigil_canary_check with the monitor's alert
 * manager), records the result and updates the canary gauges. VIGIL_ENOENT without a
 * baseline. */
int vigil_production_canary_check(vigil_production_monitor_t *pm, const char *name,
                                  double current, vigil_canary_result_t *out,
                                  vigil_error_t *err);

/* Every canary: {"<name>":{"baseline":0.9,"threshold":0.1,"checks":3,"current":0.85,
 * "degradation":0.0556,"status":"healthy"}} (current/degradation null before a check;
 * status "degraded" after a degraded check). *json is the caller's (free()). */
int vigil_production_canaries_json(vigil_production_monitor_t *pm, char **json, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_PIPELINE_H */
