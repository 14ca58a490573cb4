/*
 * alert_forward.h - the rule manager's alerts, sent to Prometheus Alertmanagers.
 *
 * When `alerting.alertmanagers` lists Alertmanager URLs, every batch of alerts the rule manager
 * hands out (firing ones again each resend delay, resolved ones once more: Prometheus's
 * semantics, see rules.h) is queued as one JSON document and POSTed by a sender thread to
 * URL/api/v2/alerts of each Alertmanager, as Prometheus's notifier does. The queue is bounded:
 * when Alertmanagers are slow or down, the oldest batches are dropped and counted, never the
 * rule evaluation blocked.
 */
#ifndef VIGIL_AGENT_ALERT_FORWARD_H
#define VIGIL_AGENT_ALERT_FORWARD_H

#include "config/config.h"
#include "log/log.h"
#include "rules/rules.h"
#include "vigil/metrics.h"

typedef struct alert_forward alert_forward_t;

/*
 * Starts the sender for `urls` (copied) and registers its metrics on `reg`:
 * vigil_notifications_sent_total{alertmanager}, vigil_notifications_errors_total{alertmanager},
 * vigil_notifications_dropped_total and vigil_notifications_queue_length. With no URL, *out is
 * NULL and nothing starts. Free with alert_forward_stop().
 */
int alert_forward_start(alert_forward_t **out, const config_string_list_t *urls,
                        vigil_registry_t *reg, log_t *log, vigil_error_t *err);

/* A rules_alert_sink_fn (ctx = the alert_forward_t, which may be NULL: nothing is sent). */
void alert_forward_sink(void *ctx, const char *expr, const rules_alert_out_t *alerts, size_t n);

/* Stops the sender (queued batches still unsent are dropped and counted) and frees it. NULL is
 * a no-op. */
void alert_forward_stop(alert_forward_t *f);

#endif /* VIGIL_AGENT_ALERT_FORWARD_H */
