/*
 * notifier.h - where the rules' alerts go in `vigil run`: vigil's own notifier (src/notify,
 * configured by the Alertmanager file named in notify.config) and real Alertmanagers
 * (alerting.alertmanagers, through src/notify's forwarder), with their metrics on the agent's
 * registry. Either, both or neither may be configured.
 *
 * Threads: the sink runs on the rule groups' threads, the HTTP handlers on the server's, a
 * reload on the main thread; the notifier pointer is behind a read-write lock so a reload can
 * start, replace the configuration of, or stop the notifier under them.
 */
#ifndef VIGIL_AGENT_NOTIFIER_H
#define VIGIL_AGENT_NOTIFIER_H

#include "config/config.h"
#include "log/log.h"
#include "notify/notify.h"
#include "rules/rules.h"
#include "vigil/metrics.h"

typedef struct agent_notifier agent_notifier_t;

/*
 * Starts what `cfg` asks for: the notifier when notify.config names a file (loaded leniently,
 * as `vigil check notify --lenient` checks it; its notification log and silences kept in
 * `data_dir`/notify, created if missing), the forwarder when alerting.alertmanagers lists
 * URLs. Registers the metrics of both on `reg` (docs/notify.md lists them). `config_path` is
 * the agent's config file (NULL: none), against whose directory a relative notify.config from
 * the file is resolved; `external_url` is the notifier's .ExternalURL. On success *out is
 * owned by the caller and freed with agent_notifier_stop().
 */
int agent_notifier_start(agent_notifier_t **out, const config_t *cfg, const char *config_path,
                         const char *data_dir, const char *external_url, vigil_registry_t *reg,
                         log_t *log, vigil_error_t *err);

/* A rules_alert_sink_fn (ctx = the agent_notifier_t): hands the alerts to the notifier and to
 * the forwarder, whichever run. */
void agent_notifier_sink(void *ctx, const char *expr, const rules_alert_out_t *alerts, size_t n);

/*
 * Reload, in two steps so that the agent's reload stays all or nothing. Prepare loads the file
 * `cfg` names into *out (NULL when notify.config is ""), failing with the file's error and
 * changing nothing. Commit, once everything else of the reload succeeded, takes *out: it
 * replaces the running notifier's configuration, starts the notifier if none ran, or stops it
 * when *out is NULL. A configuration a failed reload did not commit is freed with
 * notify_config_free().
 */
int agent_notifier_prepare(agent_notifier_t *an, const config_t *cfg, const char *config_path,
                           notify_config_t **out, vigil_error_t *err);
void agent_notifier_commit(agent_notifier_t *an, notify_config_t *ncfg);

/* The running notifier (NULL when notifications are off), held until agent_notifier_release():
 * for the HTTP handlers, which must not block in between. */
notify_t *agent_notifier_acquire(agent_notifier_t *an);
void agent_notifier_release(agent_notifier_t *an);

/* Stops the notifier (its state written to the data directory) and the forwarder (what is
 * queued sent once), then frees. Call after the rules stopped. NULL is a no-op. */
void agent_notifier_stop(agent_notifier_t *an);

/* The URL the agent is reached at, for .ExternalURL and the rules' generator URLs:
 * "http://" + listen, with the host name in place of an empty or wildcard host (as
 * Prometheus's default --web.external-url). Writes at most `cap` bytes to `out`. */
void agent_external_url(const char *listen, char *out, size_t cap);

#endif /* VIGIL_AGENT_NOTIFIER_H */
