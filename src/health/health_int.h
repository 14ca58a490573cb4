/*
 * health_int.h - internals shared by the health checker and its built-in system checks.
 */
#ifndef VIGIL_HEALTH_INT_H
#define VIGIL_HEALTH_INT_H

#include "vigil/health.h"

/* Registers a check whose context the checker owns and frees with `free_ctx`, and which
 * vigil_health_set_thresholds() may update through `thresholds` (inside ctx; may be NULL). */
int health_register_owned(vigil_health_checker_t *hc, const char *name, vigil_health_check_fn fn,
                          void *ctx, void (*free_ctx)(void *),
                          vigil_health_thresholds_t *thresholds, vigil_error_t *err);

/* Fills a percentage check's result: status by thresholds, value, thresholds and a message
 * "<Subject> usage normal|high|critical: 45.2%". */
void health_percent_result(vigil_health_result_t *out, const char *subject, double percent,
                           const vigil_health_thresholds_t *t);

#endif /* VIGIL_HEALTH_INT_H */
