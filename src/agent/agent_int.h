/*
 * agent_int.h - the agent's state, shared by agent.c (lifecycle, reload) and routes.c (the
 * HTTP route table).
 */
#ifndef VIGIL_AGENT_INT_H
#define VIGIL_AGENT_INT_H

#include "agent/agent.h"
#include "agent/datadir.h"
#include "agent/ingest.h"
#include "agent/monitor_routes.h"
#include "agent/notifier.h"
#include "api/api.h"
#include "collect/collect.h"
#include "http/http.h"
#include "log/log.h"
#include "promql/promql.h"
#include "rules/rules.h"
#include "tsdb/tsdb.h"
#include "vigil/health.h"
#include "vigil/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct agent {
    const agent_args_t   *args;
    log_t                *log;
    datadir_t             datadir;

    /* The running configuration. Readers copy what they need under cfg_lock; a reload builds
     * a new config_t outside the lock and swaps it in. */
    pthread_mutex_t       cfg_lock;
    config_t              cfg;
    pthread_mutex_t       reload_lock;  /* one reload at a time (SIGHUP vs POST /-/reload) */

    vigil_health_checker_t *health;
    vigil_registry_t     *registry;     /* the agent's own metrics (/metrics) */
    vigil_http_metrics_t  http_metrics;
    collect_t            *collect;      /* host, process, cgroup and GPU collectors */
    tsdb_t               *db;           /* the store: collectors and imports write, queries read */
    ingest_metadata_t    *metadata;     /* HELP/TYPE of what was ingested (/api/v1/metadata) */
    ingest_sink_t         sink;         /* the collectors' subscriber context: db + metadata */
    vigil_family_t       *rejected;     /* vigil_tsdb_rejected_samples_total{reason} */
    uint64_t              rejected_seen[TSDB_REJECT__COUNT]; /* counts already moved into it */
    promql_engine_t      *engine;
    api_t                 api;          /* the Prometheus HTTP API over engine and store */
    rules_manager_t      *rules;        /* recording and alerting rules from rule_files */
    agent_notifier_t     *notifier;     /* the rules' alerts to notify.config's receivers and
                                           to alerting.alertmanagers */
    http_server_t        *http;
    monitor_service_t    *monitor;      /* the seeds' monitoring APIs (monitor_routes.c) */

    atomic_bool           ready;        /* /-/ready: start-up finished, not shutting down */

    /* The housekeeping thread: runs every health check each health_check_interval and
     * stores the agent's own /metrics every collect.interval (agent.c). */
    pthread_t             housekeeping_thread;
    bool                  housekeeping_thread_started;
    pthread_mutex_t       stop_lock;
    pthread_cond_t        stop_cond;
    bool                  stopping;
} agent_t;

/*
 * Reloads the configuration from the file and flags. On failure the running configuration
 * stays, the reason is logged ("config reload failed") and copied into err.
 */
int agent_reload(agent_t *agent, vigil_error_t *err);

/* The agent's HTTP route table (routes.c) followed by the Prometheus API's: writes up to `cap`
 * rows into `out` with their ctx set, and returns how many there are (cap 0 sizes the array). */
size_t agent_routes(agent_t *agent, http_route_t *out, size_t cap);

/* Appends the running configuration as YAML (GET /api/v1/status/config). */
int agent_config_yaml(void *ctx, buf_t *out);

/* The agent's own metrics as exposition text in `fmt` (/metrics, and the self-scrape into the
 * store): the registry and the collectors' latest values. */
int agent_expose(agent_t *agent, vigil_format_t fmt, buf_t *out, vigil_error_t *err);

#endif /* VIGIL_AGENT_INT_H */
