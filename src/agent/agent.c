/*
 * agent.c - `vigil run`: start-up, the signal loop, reload and shutdown.
 *
 * Reading order of start-up (agent_main): configuration (defaults < file < flags) -> log ->
 * signals blocked in every thread -> data directory lock -> health checker -> self-metrics
 * registry -> store (WAL replay) and query engine -> notifier and Alertmanager forwarder ->
 * rules -> collectors (writing into the store) ->
 * HTTP server -> housekeeping thread (health checks, self-scrape) -> ready. The main thread then sleeps in
 * sigwait(): SIGHUP reloads, SIGINT/SIGTERM stop in reverse order. Nothing in the agent
 * installs signal handlers, so no code runs in signal context.
 */
#include "agent/agent_int.h"
#include "agent/collect_config.h"
#include "agent/ingest.h"
#include "agent/rule_files.h"
#include "agent/tsdb_storage.h"

#include "util/version.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agent_load_config(config_t *cfg, const agent_args_t *args, vigil_error_t *err)
{
    config_init(cfg);
    int rc = 0;
    if (args->config_path != NULL)
        rc = config_load_file(cfg, args->config_path, err);
    for (size_t i = 0; rc == 0 && i < args->flag_count; i++)
        rc = config_set(cfg, args->flags[i].key, args->flags[i].value, err);
    if (rc == 0)
        rc = config_validate(cfg, err);
    return rc;
}

/* Applies what can change without a restart, and says what cannot. cfg_lock is not held. */
static void apply_live(agent_t *agent, const config_t *old, const config_t *cur)
{
    log_set_level(agent->log, cur->log.level);
    log_set_format(agent->log, cur->log.format);
    vigil_health_set_thresholds(agent->health, "memory", &cur->health.memory);
    vigil_health_set_thresholds(agent->health, "cpu", &cur->health.cpu);
    vigil_health_set_thresholds(agent->health, "disk", &cur->health.disk);
    if (agent->monitor != NULL)
        monitor_service_reload(agent->monitor, cur);

    size_t n;
    const config_key_t *keys = config_keys(&n);
    for (size_t i = 0; i < n; i++)
        if ((keys[i].flags & CONFIG_F_RESTART) && config_key_changed(old, cur, &keys[i]))
            log_warn(agent->log, "agent", "config key changed: takes effect at the next restart",
                     LF_STR("key", keys[i].key));
}

/* Loads the rule files `cfg` names into the running manager (all or nothing). */
static int load_rules(agent_t *agent, const config_t *cfg, vigil_error_t *err)
{
    rule_paths_t paths;
    int rc = rule_paths_expand(cfg, agent->args->config_path, agent->args->rule_files,
                               agent->args->rule_file_count, &paths, err);
    if (rc != 0)
        return rc;
    rc = rules_manager_load(agent->rules, (const char *const *)paths.v, paths.n, err);
    if (rc == 0)
        log_info(agent->log, "rules", "rule files loaded", LF_UINT("files", paths.n));
    rule_paths_free(&paths);
    return rc;
}

/* The file a relative notify.config is resolved against: the config file when the key came
 * from it, NULL (the working directory) when a flag set it. */
static const char *notify_base(const agent_args_t *args)
{
    for (size_t i = 0; i < args->flag_count; i++)
        if (strcmp(args->flags[i].key, "notify.config") == 0)
            return NULL;
    return args->config_path;
}

int agent_reload(agent_t *agent, vigil_error_t *err)
{
    pthread_mutex_lock(&agent->reload_lock);
    config_t fresh, old;
    notify_config_t *ncfg = NULL;
    int rc = agent_load_config(&fresh, agent->args, err);
    /* Rule files and the notifier's file are part of the configuration: a bad one rejects
     * the whole reload, and the running ones stay. */
    if (rc == 0)
        rc = agent_notifier_prepare(agent->notifier, &fresh, notify_base(agent->args), &ncfg,
                                    err);
    if (rc == 0)
        rc = load_rules(agent, &fresh, err);
    if (rc != 0) {
        notify_config_free(ncfg);
        config_free(&fresh);
        log_error(agent->log, "agent", "config reload failed", LF_STR("error", err->message));
        goto out_unlock;
    }
    pthread_mutex_lock(&agent->cfg_lock);
    old = agent->cfg;
    agent->cfg = fresh;
    pthread_mutex_unlock(&agent->cfg_lock);
    apply_live(agent, &old, &agent->cfg);
    agent_notifier_commit(agent->notifier, ncfg);
    config_free(&old);
    log_info(agent->log, "agent", "config reloaded",
             LF_STR("file", agent->args->config_path ? agent->args->config_path : ""));
out_unlock:
    pthread_mutex_unlock(&agent->reload_lock);
    return rc;
}

int agent_config_yaml(void *ctx, buf_t *out)
{
    agent_t *agent = ctx;
    pthread_mutex_lock(&agent->cfg_lock);
    int rc = config_dump_yaml(&agent->cfg, out);
    pthread_mutex_unlock(&agent->cfg_lock);
    return rc;
}

static double health_interval_s(agent_t *agent)
{
    pthread_mutex_lock(&agent->cfg_lock);
    double s = agent->cfg.monitoring.health_check_interval;
    pthread_mutex_unlock(&agent->cfg_lock);
    return s;
}

/* The store's own figures on /metrics: read at exposition time from tsdb_stats(). */
static double store_stat(void *arg, size_t offset)
{
    tsdb_stats_t st;
    tsdb_stats(((agent_t *)arg)->db, &st);
    return (double)*(const uint64_t *)((const char *)&st + offset);
}
static double store_series(void *arg) { return store_stat(arg, offsetof(tsdb_stats_t, series)); }
static double store_samples(void *arg) { return store_stat(arg, offsetof(tsdb_stats_t, samples)); }
static double store_chunk_bytes(void *arg)
{
    return store_stat(arg, offsetof(tsdb_stats_t, chunk_bytes));
}
static double store_wal_syncs(void *arg)
{
    return store_stat(arg, offsetof(tsdb_stats_t, wal_syncs));
}

static double store_series_removed(void *arg)
{
    return store_stat(arg, offsetof(tsdb_stats_t, head_series_removed));
}

static int register_store_metrics(agent_t *agent, vigil_error_t *err)
{
    vigil_registry_t *r = agent->registry;
    int rc = vigil_gauge_func_new(r, "vigil_tsdb_head_series", "Series in the store's head.",
                                  store_series, agent, err);
    rc = rc ? rc : vigil_gauge_func_new(r, "vigil_tsdb_head_samples",
                                        "Samples in the store's head.", store_samples, agent, err);
    rc = rc ? rc : vigil_gauge_func_new(r, "vigil_tsdb_head_chunk_bytes",
                                        "Bytes of encoded chunks in the store's head.",
                                        store_chunk_bytes, agent, err);
    rc = rc ? rc : vigil_counter_func_new(r, "vigil_tsdb_head_series_removed_total",
                                          "Series garbage collected from the store's head.",
                                          store_series_removed, agent, err);
    rc = rc ? rc : vigil_counter_func_new(r, "vigil_tsdb_wal_fsyncs_total",
                                          "fdatasync calls of the write-ahead log (group commits).",
                                          store_wal_syncs, agent, err);
    static const char *const reason[] = { "reason", NULL };
    rc = rc ? rc : vigil_counter_new(r, "vigil_tsdb_rejected_samples_total",
                                     "Samples the store refused, by reason.", reason,
                                     &agent->rejected, err);
    return rc;
}

/* Moves the store's per-reason refusal counts into vigil_tsdb_rejected_samples_total. */
static void sync_rejected(agent_t *agent)
{
    tsdb_stats_t st;
    tsdb_stats(agent->db, &st);
    for (size_t r = 0; r < TSDB_REJECT__COUNT; r++) {
        uint64_t delta = st.rejected[r] - agent->rejected_seen[r];
        if (delta == 0)
            continue;
        vigil_counter_t *c = vigil_counter_with(agent->rejected, tsdb_reject_reason_name(r));
        if (c != NULL)
            vigil_counter_add_u64(c, delta);
        agent->rejected_seen[r] = st.rejected[r];
    }
}

/* Sleeps `seconds` unless the agent stops first; true when it is time to work, false when the
 * thread should exit. */
static bool sleep_unless_stopping(agent_t *agent, double seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)seconds;
    until.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&agent->stop_lock);
    while (!agent->stopping &&
           pthread_cond_timedwait(&agent->stop_cond, &agent->stop_lock, &until) != ETIMEDOUT)
        ;
    bool go_on = !agent->stopping;
    pthread_mutex_unlock(&agent->stop_lock);
    return go_on;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs every health check, so the CPU check measures a bounded window and status changes
 * are logged even when nobody asks /health. */
static void health_tick(agent_t *agent, vigil_health_status_t *prev)
{
    vigil_health_status_t now = vigil_health_check_all(agent->health);
    if (now != *prev)
        log_info(agent->log, "health", "status changed",
                 LF_STR("from", vigil_health_status_name(*prev)),
                 LF_STR("to", vigil_health_status_name(now)));
    *prev = now;
}

/* Stores the agent's own metrics (the registry and the collectors' scheduler figures are not
 * batches), as a Prometheus scraping itself would. The exposition is parsed straight from
 * the registry's string, freed at once: nothing of it stays between ticks. */
static void self_tick(agent_t *agent)
{
    sync_rejected(agent);
    vigil_error_t err;
    char *reg;
    size_t len;
    if (vigil_registry_expose(agent->registry, VIGIL_FORMAT_TEXT, &reg, &len, &err) != 0)
        return;
    ingest_options_t o = { .format = EXPFMT_TEXT, .mode = EXPFMT_LENIENT,
                           .default_time_ms = wall_ms(), .durability = TSDB_ASYNC,
                           .metadata = agent->metadata };
    ingest_result_t res;
    if (ingest_exposition(agent->db, reg, len, &o, &res, &err) != 0)
        log_warn(agent->log, "agent", "storing own metrics failed",
                 LF_STR("error", err.message));
    free(reg);
}

/* The housekeeping thread: the health checks every health_check_interval (re-read after each
 * run, as a reload may change it) and the self-scrape every collect.interval (restart-only:
 * read once), each at its own deadline, on one thread. Both run once at start. */
static void *housekeeping_main(void *arg)
{
    agent_t *agent = arg;
    double self_interval = agent->cfg.collect.interval;
    vigil_health_status_t prev = vigil_health_check_all(agent->health);
    double now = mono_s();
    double next_health = now + health_interval_s(agent);
    double next_self = now;
    for (;;) {
        now = mono_s();
        if (now >= next_self) {
            self_tick(agent);
            next_self += self_interval;
            now = mono_s();
            if (next_self <= now) /* overran: the next tick after now, none queued */
                next_self = now + self_interval;
        }
        if (now >= next_health) {
            health_tick(agent, &prev);
            next_health = mono_s() + health_interval_s(agent);
        }
        double next = next_self < next_health ? next_self : next_health;
        now = mono_s();
        if (!sleep_unless_stopping(agent, next > now ? next - now : 0))
            break;
    }
    return NULL;
}

static void on_request_done(void *ctx, const char *handler, int code, double seconds)
{
    agent_t *agent = ctx;
    vigil_http_metrics_observe(&agent->http_metrics, handler, code, seconds);
}

static int start_metrics(agent_t *agent, vigil_error_t *err)
{
    int rc = vigil_registry_new(NULL, &agent->registry, err);
    rc = rc ? rc : vigil_process_collector_register(agent->registry, err);
    rc = rc ? rc : vigil_build_info_register(agent->registry, VIGIL_VERSION, VIGIL_REVISION, err);
    rc = rc ? rc : vigil_http_metrics_register(agent->registry, &agent->http_metrics, err);
    return rc;
}

static int start_health(agent_t *agent, vigil_error_t *err)
{
    int rc = vigil_health_create(&agent->health, err);
    if (rc != 0)
        return rc;
    const config_t *cfg = &agent->cfg;
    return vigil_health_register_system(agent->health, "/proc", agent->datadir.path,
                                        &cfg->health.memory, &cfg->health.cpu, &cfg->health.disk,
                                        err);
}

static int start_store(agent_t *agent, vigil_error_t *err)
{
    const config_t *cfg = &agent->cfg;
    tsdb_options_t opts = {
        .dir = agent->datadir.path,
        /* The config's 0 means "no time limit"; the store's 0 means its 15-day default. */
        .retention_ms = cfg->storage.retention_time > 0
                            ? (int64_t)(cfg->storage.retention_time * 1000)
                            : INT64_MAX,
        .retention_bytes = cfg->storage.retention_size,
    };
    int rc = tsdb_open(&agent->db, &opts, agent->log, err);
    if (rc != 0)
        return rc;
    agent->metadata = ingest_metadata_new();
    if (agent->metadata == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    ingest_sink_init(&agent->sink, agent->db, agent->metadata);
    rc = register_store_metrics(agent, err);
    if (rc != 0)
        return rc;
    agent->engine = promql_engine_create(NULL);
    if (agent->engine == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    agent->api = (api_t){
        .engine = agent->engine,
        .storage = tsdb_storage(agent->db),
        .start_time_ms = wall_ms(),
        .config_yaml = agent_config_yaml,
        .ctx = agent,
        .metadata = ingest_metadata_walk,
        .metadata_ctx = agent->metadata,
    };
    return 0;
}

static int start_rules(agent_t *agent, vigil_error_t *err)
{
    char url[512];
    agent_external_url(agent->cfg.listen, url, sizeof(url));
    int rc = agent_notifier_start(&agent->notifier, &agent->cfg, notify_base(agent->args),
                                  agent->datadir.path, url, agent->registry, agent->log, err);
    if (rc != 0)
        return rc;
    rules_manager_opts_t o = {
        .external_url = url,
        .sink = agent_notifier_sink,
        .sink_ctx = agent->notifier,
        .engine = agent->engine,
        .store = rules_store_tsdb(agent->db, tsdb_storage(agent->db)),
        .default_interval_ms = (int64_t)(agent->cfg.rules.evaluation_interval * 1000),
        .registry = agent->registry,
        .log = agent->log,
    };
    rc = rules_manager_create(&o, &agent->rules, err);
    rc = rc ? rc : load_rules(agent, &agent->cfg, err);
    if (rc == 0 && rules_manager_start(agent->rules) != 0)
        rc = vigil_error_set(err, VIGIL_ESYS, "cannot start the rule evaluation threads");
    return rc;
}

static int start_collectors(agent_t *agent, vigil_error_t *err)
{
    agent_collect_config_t cc; /* points into agent->cfg; collect_create copies what it keeps */
    const collect_options_t *opts = agent_collect_config(&cc, &agent->cfg);
    int rc = collect_create(&agent->collect, opts, agent->log, err);
    rc = rc ? rc : collect_on_batch(agent->collect, ingest_collect_batch, &agent->sink);
    return rc ? rc : collect_start(agent->collect, err);
}

static int start_http(agent_t *agent, http_route_t **routes, vigil_error_t *err)
{
    const config_t *cfg = &agent->cfg;
    size_t n_agent = agent_routes(agent, NULL, 0);
    size_t n = n_agent + monitor_routes(agent->monitor, NULL, 0);
    *routes = calloc(n, sizeof(**routes));
    if (*routes == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    agent_routes(agent, *routes, n_agent);
    monitor_routes(agent->monitor, *routes + n_agent, n - n_agent);
    http_server_options_t opts = {
        .listen = cfg->listen,
        .threads = (unsigned)cfg->http.threads,
        .max_connections = (unsigned)cfg->http.max_connections,
        .connection_timeout_s = (unsigned)(cfg->http.connection_timeout + 0.5),
        .max_body_bytes = (size_t)cfg->http.max_body_size,
        .routes = *routes,
        .route_count = n,
        .log = agent->log,
        .on_request_done = on_request_done,
        .on_request_done_ctx = agent,
    };
    return http_server_start(&agent->http, &opts, err);
}

static int start_threads(agent_t *agent, vigil_error_t *err)
{
    int rc = pthread_create(&agent->housekeeping_thread, NULL, housekeeping_main, agent);
    if (rc != 0)
        return vigil_error_set(err, VIGIL_ESYS, "cannot start the housekeeping thread: %s",
                               strerror(rc));
    agent->housekeeping_thread_started = true;
    return 0;
}

static void stop_threads(agent_t *agent)
{
    pthread_mutex_lock(&agent->stop_lock);
    agent->stopping = true;
    pthread_cond_broadcast(&agent->stop_cond);
    pthread_mutex_unlock(&agent->stop_lock);
    if (agent->housekeeping_thread_started)
        pthread_join(agent->housekeeping_thread, NULL);
}

/* Blocks until SIGINT/SIGTERM; handles SIGHUP in between. Returns the stopping signal. */
static int wait_for_stop(agent_t *agent, const sigset_t *set)
{
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            vigil_error_t err;
            log_info(agent->log, "agent", "SIGHUP: reloading config");
            agent_reload(agent, &err);
            continue;
        }
        return sig;
    }
}

int agent_main(const agent_args_t *args)
{
    agent_t agent;
    memset(&agent, 0, sizeof(agent));
    agent.args = args;
    agent.datadir.lock_fd = -1;
    pthread_mutex_init(&agent.cfg_lock, NULL);
    pthread_mutex_init(&agent.reload_lock, NULL);
    pthread_mutex_init(&agent.stop_lock, NULL);
    pthread_cond_init(&agent.stop_cond, NULL);
    atomic_init(&agent.ready, false);
    http_route_t *routes = NULL;
    int status = 1;
    vigil_error_t err;
    vigil_error_clear(&err);

    if (agent_load_config(&agent.cfg, args, &err) != 0) {
        fprintf(stderr, "vigil: %s\n", err.message);
        status = 2;
        goto out_config;
    }
    log_options_t lopts = { .level = agent.cfg.log.level, .format = agent.cfg.log.format,
                            .path = agent.cfg.log.file };
    if (log_open(&agent.log, &lopts, &err) != 0) {
        fprintf(stderr, "vigil: %s\n", err.message);
        goto out_config;
    }

    /* Block the signals before any thread exists so every thread inherits the mask and only
     * sigwait() in this thread ever sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_info(agent.log, "agent", "starting", LF_STR("version", VIGIL_VERSION),
             LF_STR("revision", VIGIL_REVISION), LF_STR("data", agent.cfg.storage.path),
             LF_STR("config", args->config_path ? args->config_path : ""));

    if (datadir_open(&agent.datadir, agent.cfg.storage.path, &err) != 0 ||
        start_health(&agent, &err) != 0 || start_metrics(&agent, &err) != 0 ||
        start_store(&agent, &err) != 0 || start_rules(&agent, &err) != 0 ||
        start_collectors(&agent, &err) != 0 ||
        monitor_service_start(&agent.monitor, &agent.cfg, agent.registry, agent.health,
                              agent.collect, agent.log, &err) != 0 ||
        start_http(&agent, &routes, &err) != 0 || start_threads(&agent, &err) != 0)
        goto out_fail;

    atomic_store(&agent.ready, true);
    log_info(agent.log, "agent", "ready");
    int sig = wait_for_stop(&agent, &set);
    atomic_store(&agent.ready, false);
    log_info(agent.log, "agent", "stopping", LF_STR("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
    status = 0;
    goto out_stop;

out_fail:
    fprintf(stderr, "vigil: %s\n", err.message);
    log_error(agent.log, "agent", "start-up failed", LF_STR("error", err.message));
out_stop:
    http_server_stop(agent.http);
    stop_threads(&agent);
    monitor_service_stop(agent.monitor);  /* before the collectors, registry and checker */
    collect_free(agent.collect);  /* its subscriber writes to the store: stop it first */
    ingest_sink_free(&agent.sink);
    rules_manager_free(agent.rules);
    agent_notifier_stop(agent.notifier);  /* after the rules, its only producer */
    promql_engine_free(agent.engine);
    tsdb_close(agent.db);
    ingest_metadata_free(agent.metadata);
    vigil_registry_free(agent.registry);
    vigil_health_free(agent.health);
    datadir_close(&agent.datadir);
    free(routes);
    if (status == 0)
        log_info(agent.log, "agent", "stopped");
    log_close(agent.log);
out_config:
    config_free(&agent.cfg);
    pthread_cond_destroy(&agent.stop_cond);
    pthread_mutex_destroy(&agent.stop_lock);
    pthread_mutex_destroy(&agent.reload_lock);
    pthread_mutex_destroy(&agent.cfg_lock);
    return status;
}
