/*
 * vigil/exporter.h - the embedded exporter: one call serves a registry at /metrics over HTTP
 * (the equivalent of Python's prometheus_client.start_http_server), on the same HTTP layer the
 * vigil agent uses.
 */
#ifndef VIGIL_EXPORTER_H
#define VIGIL_EXPORTER_H

#include "vigil/error.h"
#include "vigil/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vigil_exporter vigil_exporter_t;

/*
 * Starts serving `reg` at GET /metrics on `listen` ("127.0.0.1:9464", "[::1]:9464", ":9464"
 * for all interfaces; port 0 picks a free port, see vigil_exporter_port). Each scrape picks
 * Prometheus text or OpenMetrics from its Accept header. The exporter also registers
 * vigil_http_requests_total and vigil_http_request_duration_seconds on `reg` (skipped when
 * they already exist there) and counts its own requests in them. `reg` is borrowed: it must
 * outlive the exporter. On success *out is owned by the caller, stopped and freed with
 * vigil_exporter_stop(). Errors: VIGIL_EINVAL (bad address), VIGIL_EBUSY (address in use),
 * VIGIL_ESYS, VIGIL_ENOMEM.
 */
int vigil_exporter_start(vigil_registry_t *reg, const char *listen, vigil_exporter_t **out,
                         vigil_error_t *err);

/* The bound TCP port (the real one when `listen` asked for port 0). */
int vigil_exporter_port(const vigil_exporter_t *ex);

/* Stops serving, waits for scrapes in progress and frees the exporter. NULL is a no-op. */
void vigil_exporter_stop(vigil_exporter_t *ex);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_EXPORTER_H */
