/*
 * monitor_routes.h - the agent's side of the seeds' monitoring APIs (issue 5): one service
 * that owns libvigil's monitoring manager (vigil/monitor.h) configured from config_t, the
 * agent's extra health checks (gpu, data_dir, collectors) and the HTTP routes over them.
 *
 * Endpoints (all JSON; success answers are the Prometheus envelope
 * {"status":"success","data":...}, failures {"status":"error","errorType":..,"error":..}; the
 * full list with bodies is docs/monitoring.md):
 *   POST   /api/v1/operations                    start an operation
 *   POST   /api/v1/operations/{id}/end           end it
 *   GET    /api/v1/operations/stats              per-type stats
 *   GET    /api/v1/operations?count=N            the last N finished operations
 *   GET    /api/v1/pipelines                     pipeline health report
 *   POST   /api/v1/pipelines/{name}/executions   record an execution
 *   PUT    /api/v1/pipelines/{name}/baseline     set its execution-time baseline
 *   GET    /api/v1/canaries                      canaries
 *   PUT    /api/v1/canaries/{name}/baseline      set a canary's baseline score
 *   POST   /api/v1/canaries/{name}/checks        check a current score
 *   GET    /api/v1/monitor/alerts?severity=&count=   recent alerts; DELETE clears them
 *   GET    /api/v1/monitor/status                manager status
 *   GET    /api/v1/monitor/resources             current usage and threshold warnings
 *   GET    /api/v1/monitor/thresholds            threshold monitor summary
 *   PUT    /api/v1/monitor/thresholds/{metric}   set a threshold
 *   POST   /api/v1/monitor/metrics/{metric}      record a value
 *
 * Lifecycle in agent.c: monitor_service_start() after the collectors and before the HTTP
 * server (the routes need the service); monitor_service_stop() after the HTTP server and the
 * housekeeping thread have stopped, and before the registry, health checker and collectors are
 * freed (its checks and thread use them).
 */
#ifndef VIGIL_AGENT_MONITOR_ROUTES_H
#define VIGIL_AGENT_MONITOR_ROUTES_H

#include "collect/collect.h"
#include "config/config.h"
#include "http/http.h"
#include "log/log.h"
#include "vigil/health.h"
#include "vigil/metrics.h"
#include "vigil/monitor.h"

#include <stddef.h>

typedef struct monitor_service monitor_service_t;

/*
 * Creates and starts the service: loads NVML (collect.gpu.nvml_library), registers the health
 * checks "gpu" (only when NVML is present; thresholds health.gpu_memory.*), "data_dir"
 * (storage.path writable) and "collectors" (when `collect` is not NULL) on `health`, and
 * starts a monitoring manager on `reg` with the monitoring.*, alerting.* and export.json.*
 * keys. `reg`, `health`, `collect` and `log` are borrowed and must outlive the service. On
 * success *out is the caller's, stopped and freed with monitor_service_stop().
 */
int monitor_service_start(monitor_service_t **out, const config_t *cfg, vigil_registry_t *reg,
                          vigil_health_checker_t *health, collect_t *collect, log_t *log,
                          vigil_error_t *err);

/* Stops the manager's thread and frees the service. NULL is a no-op. */
void monitor_service_stop(monitor_service_t *svc);

/* Applies a reloaded configuration: resource and GPU thresholds. */
void monitor_service_reload(monitor_service_t *svc, const config_t *cfg);

/* The manager, for callers that want the C API directly. Owned by the service. */
vigil_monitor_t *monitor_service_monitor(monitor_service_t *svc);

/* The HTTP status the routes answer a libvigil monitoring error `code` (VIGIL_E*) with: 400
 * for bad input (VIGIL_EINVAL, VIGIL_ERANGE, VIGIL_EPARSE), 404 VIGIL_ENOENT, 409
 * VIGIL_EEXIST and VIGIL_ESTATE, 429 VIGIL_ELIMIT, and 500 for every internal failure
 * (VIGIL_ENOMEM, VIGIL_EIO, VIGIL_ESYS, ... and codes added later). */
int monitor_routes_status(int code);

/* Writes up to `cap` route rows (ctx = svc) into `out` and returns how many there are
 * (cap 0 sizes the array). The rows' strings are static. */
size_t monitor_routes(monitor_service_t *svc, http_route_t *out, size_t cap);

#endif /* VIGIL_AGENT_MONITOR_ROUTES_H */
