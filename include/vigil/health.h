/*
 * vigil/health.h - health checks: named checks, each healthy/warning/critical/unknown.
 *
 * A health checker holds registered checks (a function plus its context). check_all() runs
 * them and keeps each one's latest result; the summary is the JSON of the seed's "Health HTTP
 * Endpoint" (overall_status, total_components, status_counts, components). The built-in system
 * checks (memory, cpu, disk) compare a percentage against warning/critical thresholds:
 * a value strictly above `critical` is critical, strictly above `warning` is warning.
 *
 * Thread-safety: every function may be called from any thread; check functions run one at a
 * time, under the checker's lock, so a check's context needs no locking of its own.
 */
#ifndef VIGIL_HEALTH_H
#define VIGIL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "vigil/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vigil_health_status {
    VIGIL_HEALTH_HEALTHY = 0,
    VIGIL_HEALTH_WARNING,
    VIGIL_HEALTH_CRITICAL,
    VIGIL_HEALTH_UNKNOWN,
} vigil_health_status_t;

/* What one check found. Check functions fill it; the checker owns the copy it keeps. */
typedef struct vigil_health_result {
    vigil_health_status_t status;
    char   message[256];        /* "Memory usage normal: 45.2%" */
    bool   has_value;           /* value (and thresholds, when has_thresholds) are meaningful */
    double value;
    bool   has_thresholds;
    double warning_threshold;
    double critical_threshold;
} vigil_health_result_t;

/* A check: inspects something and fills *out (pre-set to UNKNOWN with an empty message). */
typedef void (*vigil_health_check_fn)(void *ctx, vigil_health_result_t *out);

/* Warning/critical thresholds of a percentage check. */
typedef struct vigil_health_thresholds {
    double warning;
    double critical;
} vigil_health_thresholds_t;

typedef struct vigil_health_checker vigil_health_checker_t;

/* Creates an empty checker. The caller owns *out and frees it with vigil_health_free(). */
int vigil_health_create(vigil_health_checker_t **out, vigil_error_t *err);

/* Frees the checker and the contexts of system checks it created; NULL is a no-op.
 * Contexts passed to vigil_health_register() stay the caller's. */
void vigil_health_free(vigil_health_checker_t *hc);

/*
 * Registers `fn(ctx)` under `name` (copied; letters, digits, '_', '-' and '.', 1..63 bytes).
 * VIGIL_EEXIST when the name is taken, VIGIL_EINVAL for a bad name. `ctx` must outlive the
 * checker or the registration.
 */
int vigil_health_register(vigil_health_checker_t *hc, const char *name,
                          vigil_health_check_fn fn, void *ctx, vigil_error_t *err);

/*
 * Registers the built-in system checks "memory" (RAM in use, from procfs/meminfo), "cpu"
 * (busy percentage since the previous check, from procfs/stat) and "disk" (used percentage of
 * the filesystem holding disk_path). procfs is normally "/proc".
 */
int vigil_health_register_system(vigil_health_checker_t *hc, const char *procfs,
                                 const char *disk_path,
                                 const vigil_health_thresholds_t *memory,
                                 const vigil_health_thresholds_t *cpu,
                                 const vigil_health_thresholds_t *disk, vigil_error_t *err);

/* Replaces the thresholds of a built-in system check ("memory", "cpu", "disk"), e.g. after a
 * config reload. VIGIL_ENOENT when no such system check is registered. */
int vigil_health_set_thresholds(vigil_health_checker_t *hc, const char *name,
                                const vigil_health_thresholds_t *t);

/* Runs every check now and records the results. Returns the overall status. */
vigil_health_status_t vigil_health_check_all(vigil_health_checker_t *hc);

/* Runs one check by name into *out. VIGIL_ENOENT when unknown. */
int vigil_health_check_one(vigil_health_checker_t *hc, const char *name,
                           vigil_health_result_t *out);

/* Overall status of the latest results: critical if any is critical, else warning if any is
 * warning, else unknown if any is unknown, else healthy (also when nothing is registered). */
vigil_health_status_t vigil_health_overall(vigil_health_checker_t *hc);

/*
 * The latest results as the seed's JSON summary:
 *   {"overall_status":"healthy","total_components":3,
 *    "status_counts":{"healthy":3,"warning":0,"critical":0,"unknown":0},
 *    "components":{"memory":{"status":"healthy","message":"...","value":45.2,
 *                            "warning_threshold":80,"critical_threshold":90}, ...}}
 * On success *json is a NUL-terminated string the caller frees with free().
 */
int vigil_health_summary_json(vigil_health_checker_t *hc, char **json, size_t *len);

/* Status of `value` against thresholds: > critical critical, > warning warning, else healthy. */
vigil_health_status_t vigil_health_classify(double value, const vigil_health_thresholds_t *t);

/* "healthy", "warning", "critical", "unknown"; static. */
const char *vigil_health_status_name(vigil_health_status_t s);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_HEALTH_H */
