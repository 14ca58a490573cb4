/*
 * monitor.c - the monitoring manager (seed 000 MonitoringManager): builds the alert manager,
 * telemetry, resource, production and threshold monitors from one config, and runs their
 * periodic work on one background thread.
 *
 * The thread keeps a small table of tasks (health, resources, thresholds, export), each with
 * its interval and next due time on the monotonic clock; it sleeps until the earliest is due
 * (or until stop), runs every due task, and reschedules each at previous due + interval,
 * skipping ticks it missed rather than running them back to back.
 */
#include "vigil/monitor.h"

#include "monitor/monitor_int.h"
#include "vigil/exporter.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CHANNELS 32

typedef enum task_id { TASK_HEALTH, TASK_RESOURCES, TASK_THRESHOLDS, TASK_EXPORT, TASK_COUNT } task_id_t;

typedef struct task {
    bool   enabled;
    double interval;
    double due;
} task_t;

struct vigil_monitor {
    vigil_monitor_config_t cfg;        /* strings below are the manager's own copies */
    char                  *json_export_path, *prometheus_host, *procfs, *disk_path;
    char                  *channels[MAX_CHANNELS];
    double                 percentiles[VIGIL_TELEMETRY_MAX_PERCENTILES];

    vigil_registry_t           *reg;
    bool                        own_reg;
    vigil_health_checker_t     *health;
    bool                        own_health;
    vigil_gpu_check_t          *gpu_check;
    vigil_alert_manager_t      *alerts;
    vigil_telemetry_t          *telemetry;
    vigil_resource_monitor_t   *resources;
    vigil_production_monitor_t *production;
    vigil_threshold_monitor_t  *thresholds;
    vigil_exporter_t           *exporter;

    vigil_gauge_t  *cpu_g, *mem_g, *disk_g;
    vigil_family_t *gpu_mem_f;
    vigil_counter_t *exports_ok, *exports_failed;

    double          created_mono;
    pthread_mutex_t lock;             /* guards everything below */
    pthread_cond_t  wake;
    pthread_t       thread;
    bool            running, stop;
    task_t          tasks[TASK_COUNT];
    bool            have_usage;
    vigil_resource_usage_t usage;     /* latest reading */
    vigil_resource_warning_t warnings[VIGIL_RESOURCE_MAX_WARNINGS];
    size_t          n_warnings;
    /* resources in violation at the latest check (vigil_resource_warning_t.resource) */
    char            firing[VIGIL_RESOURCE_MAX_WARNINGS][sizeof(((vigil_resource_warning_t *)0)->resource)];
    size_t          n_firing;
    uint64_t        exports_written, exports_failed_n, exports_deleted;
};

static const double default_percentiles[] = { 50, 90, 95, 99 };

void vigil_monitor_config_default(vigil_monitor_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->metrics_interval = 10.0;
    c->health_check_interval = 30.0;
    c->resource_check_interval = 5.0;
    c->metrics_retention_hours = 24;
    c->max_events = 10000;
    c->enable_alerting = true;
    c->max_alerts = 1000;
    c->prometheus_enabled = false;
    c->prometheus_port = 9090;
    c->prometheus_host = "127.0.0.1";
    c->json_export_enabled = true;
    c->json_export_path = "./monitoring";
    c->cpu_threshold = 80.0;
    c->memory_threshold = 85.0;
    c->gpu_memory_threshold = 90.0;
    c->latency_percentiles = default_percentiles;
    c->n_latency_percentiles = sizeof(default_percentiles) / sizeof(default_percentiles[0]);
    c->slow_request_threshold = 30.0;
    c->procfs = "/proc";
    c->disk_path = "/";
}

static int validate(const vigil_monitor_config_t *c, vigil_error_t *err)
{
    static const struct {
        const char *name;
        size_t      off;
    } positive[] = {
        { "metrics_interval", offsetof(vigil_monitor_config_t, metrics_interval) },
        { "health_check_interval", offsetof(vigil_monitor_config_t, health_check_interval) },
        { "resource_check_interval", offsetof(vigil_monitor_config_t, resource_check_interval) },
        { "metrics_retention_hours", offsetof(vigil_monitor_config_t, metrics_retention_hours) },
        { "slow_request_threshold", offsetof(vigil_monitor_config_t, slow_request_threshold) },
    };
    for (size_t i = 0; i < sizeof(positive) / sizeof(positive[0]); i++) {
        double v = *(const double *)((const char *)c + positive[i].off);
        if (!(v > 0) || isinf(v))
            return vigil_error_set(err, VIGIL_EINVAL, "%s: must be a finite number > 0, got %g",
                                   positive[i].name, v);
    }
    const struct {
        const char *name;
        double      v;
    } pct[] = { { "cpu_threshold", c->cpu_threshold },
                { "memory_threshold", c->memory_threshold },
                { "gpu_memory_threshold", c->gpu_memory_threshold } };
    for (size_t i = 0; i < 3; i++)
        if (!(pct[i].v > 0 && pct[i].v <= 100))
            return vigil_error_set(err, VIGIL_EINVAL, "%s: must be in (0, 100], got %g",
                                   pct[i].name, pct[i].v);
    if (c->max_events == 0)
        return vigil_error_set(err, VIGIL_EINVAL, "max_events: must be > 0");
    if (c->n_alert_channels > MAX_CHANNELS)
        return vigil_error_set(err, VIGIL_EINVAL, "alert_channels: at most %d", MAX_CHANNELS);
    if (c->n_latency_percentiles > VIGIL_TELEMETRY_MAX_PERCENTILES)
        return vigil_error_set(err, VIGIL_EINVAL, "latency_percentiles: at most %d",
                               VIGIL_TELEMETRY_MAX_PERCENTILES);
    if (c->json_export_enabled && (c->json_export_path == NULL || c->json_export_path[0] == 0))
        return vigil_error_set(err, VIGIL_EINVAL, "json_export_path: empty while "
                                                  "json_export_enabled");
    if (c->prometheus_enabled && (c->prometheus_port < 0 || c->prometheus_port > 65535))
        return vigil_error_set(err, VIGIL_EINVAL, "prometheus_port: must be in 0..65535");
    return 0;
}

/* Copies the config's strings so the caller's may go away; cfg pointers then point at them. */
static int copy_config(vigil_monitor_t *m, const vigil_monitor_config_t *c)
{
    m->cfg = *c;
    m->json_export_path = strdup(c->json_export_path != NULL ? c->json_export_path
                                                             : "./monitoring");
    m->prometheus_host = strdup(c->prometheus_host != NULL ? c->prometheus_host : "127.0.0.1");
    m->procfs = strdup(c->procfs != NULL ? c->procfs : "/proc");
    m->disk_path = strdup(c->disk_path != NULL ? c->disk_path : "/");
    if (!m->json_export_path || !m->prometheus_host || !m->procfs || !m->disk_path)
        return VIGIL_ENOMEM;
    m->cfg.json_export_path = m->json_export_path;
    m->cfg.prometheus_host = m->prometheus_host;
    m->cfg.procfs = m->procfs;
    m->cfg.disk_path = m->disk_path;
    for (size_t i = 0; i < c->n_alert_channels; i++)
        if ((m->channels[i] = strdup(c->alert_channels[i] ? c->alert_channels[i] : "")) == NULL)
            return VIGIL_ENOMEM;
    m->cfg.alert_channels = (const char *const *)m->channels;
    if (c->latency_percentiles == NULL) {
        m->cfg.n_latency_percentiles = sizeof(default_percentiles) / sizeof(double);
        memcpy(m->percentiles, default_percentiles, sizeof(default_percentiles));
    } else
        memcpy(m->percentiles, c->latency_percentiles, c->n_latency_percentiles * sizeof(double));
    m->cfg.latency_percentiles = m->percentiles;
    return 0;
}

static int register_gauges(vigil_monitor_t *m, vigil_error_t *err)
{
    vigil_family_t *cpu, *mem, *disk, *exports;
    int rc = vigil_gauge_new(m->reg, "vigil_monitor_cpu_usage_percent",
                             "CPU busy percentage at the latest resource check.", NULL, &cpu, err);
    rc = rc ? rc : vigil_gauge_new(m->reg, "vigil_monitor_memory_usage_percent",
                                   "Memory in use (total - available) at the latest resource "
                                   "check, percent.", NULL, &mem, err);
    rc = rc ? rc : vigil_gauge_new(m->reg, "vigil_monitor_disk_free_bytes",
                                   "Bytes available to unprivileged users on the monitored "
                                   "filesystem.", NULL, &disk, err);
    rc = rc ? rc : vigil_gauge_new(m->reg, "vigil_monitor_gpu_memory_usage_percent",
                                   "GPU memory in use, percent, by GPU index.",
                                   (const char *const[]){ "gpu", NULL }, &m->gpu_mem_f, err);
    rc = rc ? rc : vigil_counter_new(m->reg, "vigil_monitor_json_exports_total",
                                     "JSON export files written, by result.",
                                     (const char *const[]){ "result", NULL }, &exports, err);
    if (rc != 0)
        return rc;
    m->cpu_g = vigil_gauge_with(cpu);
    m->mem_g = vigil_gauge_with(mem);
    m->disk_g = vigil_gauge_with(disk);
    m->exports_ok = vigil_counter_with(exports, "success");
    m->exports_failed = vigil_counter_with(exports, "failure");
    return 0;
}

int vigil_monitor_create(const vigil_monitor_config_t *cfg, vigil_monitor_t **out,
                         vigil_error_t *err)
{
    *out = NULL;
    int rc = validate(cfg, err);
    if (rc != 0)
        return rc;
    vigil_monitor_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    if (monitor_cond_init(&m->wake) != 0 || copy_config(m, cfg) != 0) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
        goto out_free;
    }
    m->created_mono = monitor_mono_now();
    const vigil_monitor_config_t *c = &m->cfg;
    m->reg = c->registry;
    if (m->reg == NULL) {
        if ((rc = vigil_registry_new(NULL, &m->reg, err)) != 0)
            goto out_free;
        m->own_reg = true;
    }
    m->health = c->health;
    if (m->health == NULL) {
        /* The seed's HealthChecker defaults: memory 80/90, cpu 85/95, disk 85/95, gpu 85/95. */
        vigil_health_thresholds_t mem = { 80, 90 }, cpu = { 85, 95 }, disk = { 85, 95 },
                                  gpu = { 85, 95 };
        m->own_health = true;
        rc = vigil_health_create(&m->health, err);
        rc = rc ? rc : vigil_health_register_system(m->health, c->procfs, c->disk_path, &mem,
                                                    &cpu, &disk, err);
        if (rc == 0 && c->gpu_fn != NULL)
            rc = vigil_monitor_register_gpu_check(m->health, c->gpu_fn, c->gpu_ctx, &gpu,
                                                  &m->gpu_check, err);
        if (rc != 0)
            goto out_free;
    }
    vigil_alert_manager_opts_t ao = { .max_alerts = c->max_alerts, .registry = m->reg };
    vigil_telemetry_opts_t to = { .max_events = c->max_events,
                                  .slow_threshold_s = c->slow_request_threshold,
                                  .percentiles = c->latency_percentiles,
                                  .n_percentiles = c->n_latency_percentiles,
                                  .registry = m->reg, .log = c->log, .log_ctx = c->log_ctx };
    vigil_resource_opts_t ro = { .procfs = c->procfs, .disk_path = c->disk_path,
                                 .cpu_threshold = c->cpu_threshold,
                                 .memory_threshold = c->memory_threshold,
                                 .gpu_memory_threshold = c->gpu_memory_threshold,
                                 .gpu_fn = c->gpu_fn, .gpu_ctx = c->gpu_ctx };
    rc = vigil_alert_manager_create(&ao, &m->alerts, err);
    rc = rc ? rc : vigil_telemetry_create(&to, &m->telemetry, err);
    rc = rc ? rc : vigil_resource_create(&ro, &m->resources, err);
    if (rc != 0)
        goto out_free;
    vigil_production_opts_t po = { .rules = c->pipeline_rules, .alerts = m->alerts,
                                   .registry = m->reg };
    vigil_threshold_opts_t tho = { .alerts = m->alerts, .severity = VIGIL_ALERT_WARNING };
    rc = vigil_production_create(&po, &m->production, err);
    rc = rc ? rc : vigil_threshold_create(&tho, &m->thresholds, err);
    rc = rc ? rc : register_gauges(m, err);
    if (rc != 0)
        goto out_free;
    m->tasks[TASK_HEALTH] = (task_t){ m->own_health, c->health_check_interval, 0 };
    m->tasks[TASK_RESOURCES] = (task_t){ true, c->resource_check_interval, 0 };
    m->tasks[TASK_THRESHOLDS] = (task_t){ true, c->metrics_interval, 0 };
    m->tasks[TASK_EXPORT] = (task_t){ c->json_export_enabled, c->metrics_interval, 0 };
    *out = m;
    return 0;

out_free:
    vigil_monitor_free(m);
    return rc;
}

void vigil_monitor_free(vigil_monitor_t *m)
{
    if (m == NULL)
        return;
    vigil_monitor_stop(m);
    vigil_threshold_free(m->thresholds);
    vigil_production_free(m->production);
    vigil_resource_free(m->resources);
    vigil_telemetry_free(m->telemetry);
    vigil_alert_manager_free(m->alerts);
    if (m->own_health)
        vigil_health_free(m->health);
    vigil_monitor_gpu_check_free(m->gpu_check);  /* after the checker that calls it */
    if (m->own_reg)
        vigil_registry_free(m->reg);
    for (size_t i = 0; i < MAX_CHANNELS; i++)
        free(m->channels[i]);
    free(m->json_export_path);
    free(m->prometheus_host);
    free(m->procfs);
    free(m->disk_path);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---- periodic tasks ------------------------------------------------------------------- */

static void mlog(vigil_monitor_t *m, int level, const char *msg)
{
    if (m->cfg.log != NULL)
        m->cfg.log(m->cfg.log_ctx, level, "monitor", msg);
}

static bool firing_has(vigil_monitor_t *m, const char *res)
{
    for (size_t i = 0; i < m->n_firing; i++)
        if (strcmp(m->firing[i], res) == 0)
            return true;
    return false;
}

static void run_resources(vigil_monitor_t *m)
{
    vigil_resource_usage_t u;
    vigil_error_t err;
    if (vigil_resource_current(m->resources, &u, &err) != 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "resource check failed: %s", err.message);
        mlog(m, 1, msg);
        return;
    }
    vigil_resource_warning_t w[VIGIL_RESOURCE_MAX_WARNINGS];
    size_t n = vigil_resource_check_thresholds(m->resources, &u, w);
    vigil_gauge_set(m->cpu_g, u.cpu_percent);
    vigil_gauge_set(m->mem_g, u.memory_percent);
    vigil_gauge_set(m->disk_g, u.disk_free_gb * 1024.0 * 1024.0 * 1024.0);
    for (size_t i = 0; i < u.n_gpus; i++) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%u", u.gpus[i].index);
        vigil_gauge_t *g = vigil_gauge_with(m->gpu_mem_f, idx);
        if (g != NULL)
            vigil_gauge_set(g, u.gpus[i].memory_percent);
    }
    /* Alerts fire when a resource enters violation (edge), not at every check. */
    bool fresh[VIGIL_RESOURCE_MAX_WARNINGS] = { false };
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++)
        fresh[i] = !firing_has(m, w[i].resource);
    m->n_firing = n;
    for (size_t i = 0; i < n; i++)
        memcpy(m->firing[i], w[i].resource, sizeof(m->firing[i]));
    m->usage = u;
    m->have_usage = true;
    memcpy(m->warnings, w, n * sizeof(w[0]));
    m->n_warnings = n;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        if (!fresh[i])
            continue;
        mlog(m, 1, w[i].message);
        if (m->cfg.enable_alerting)
            vigil_alert_trigger(m->alerts, VIGIL_ALERT_WARNING, w[i].message, w[i].resource,
                                w[i].value, w[i].threshold, NULL, NULL);
    }
}

static void run_export(vigil_monitor_t *m)
{
    vigil_error_t err;
    if (vigil_monitor_export_json(m, NULL, 0, &err) != 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "JSON export failed: %s", err.message);
        mlog(m, 0, msg);
    }
}

static void run_task(vigil_monitor_t *m, task_id_t id)
{
    switch (id) {
    case TASK_HEALTH:
        vigil_health_check_all(m->health);
        break;
    case TASK_RESOURCES:
        run_resources(m);
        break;
    case TASK_THRESHOLDS:
        vigil_threshold_check(m->thresholds);
        break;
    case TASK_EXPORT:
        run_export(m);
        break;
    case TASK_COUNT:
        break;
    }
}

static void *thread_main(void *arg)
{
    vigil_monitor_t *m = arg;
    pthread_mutex_lock(&m->lock);
    double now = monitor_mono_now();
    for (int i = 0; i < TASK_COUNT; i++)
        m->tasks[i].due = now;  /* everything runs once at start */
    while (!m->stop) {
        now = monitor_mono_now();
        double next = INFINITY;
        for (int i = 0; i < TASK_COUNT; i++) {
            task_t *t = &m->tasks[i];
            if (!t->enabled)
                continue;
            if (t->due <= now) {
                pthread_mutex_unlock(&m->lock);
                run_task(m, (task_id_t)i);
                pthread_mutex_lock(&m->lock);
                /* Next tick after now: missed ticks are skipped, not queued. */
                double n = floor((monitor_mono_now() - t->due) / t->interval) + 1;
                t->due += (n < 1 ? 1 : n) * t->interval;
            }
            if (t->due < next)
                next = t->due;
        }
        if (m->stop)
            break;
        if (isfinite(next))
            monitor_sleep(&m->wake, &m->lock, &m->stop, next - monitor_mono_now());
        else
            monitor_sleep(&m->wake, &m->lock, &m->stop, 3600);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int vigil_monitor_start(vigil_monitor_t *m, vigil_error_t *err)
{
    pthread_mutex_lock(&m->lock);
    bool running = m->running;
    pthread_mutex_unlock(&m->lock);
    if (running)
        return vigil_error_set(err, VIGIL_ESTATE, "monitoring already started");
    if (m->cfg.prometheus_enabled) {
        char listen[512];
        bool v6 = strchr(m->cfg.prometheus_host, ':') != NULL;
        snprintf(listen, sizeof(listen), v6 ? "[%s]:%d" : "%s:%d", m->cfg.prometheus_host,
                 m->cfg.prometheus_port);
        int rc = vigil_exporter_start(m->reg, listen, &m->exporter, err);
        if (rc != 0)
            return rc;
    }
    pthread_mutex_lock(&m->lock);
    m->stop = false;
    int rc = pthread_create(&m->thread, NULL, thread_main, m);
    m->running = rc == 0;
    pthread_mutex_unlock(&m->lock);
    if (rc != 0) {
        vigil_exporter_stop(m->exporter);
        m->exporter = NULL;
        return vigil_error_set(err, VIGIL_ESYS, "monitor thread: %s", strerror(rc));
    }
    return 0;
}

void vigil_monitor_stop(vigil_monitor_t *m)
{
    pthread_mutex_lock(&m->lock);
    bool running = m->running;
    m->stop = true;
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->lock);
    if (running)
        pthread_join(m->thread, NULL);
    pthread_mutex_lock(&m->lock);
    m->running = false;
    pthread_mutex_unlock(&m->lock);
    vigil_exporter_stop(m->exporter);
    m->exporter = NULL;
}

int vigil_monitor_record_operation(vigil_monitor_t *m, const char *type, double duration_s,
                                   const vigil_kv_t *md, size_t n_md, vigil_error_t *err)
{
    return vigil_telemetry_record(m->telemetry, type, "success", duration_s, md, n_md, err);
}

vigil_alert_manager_t *vigil_monitor_alerts(vigil_monitor_t *m) { return m->alerts; }
vigil_telemetry_t *vigil_monitor_telemetry(vigil_monitor_t *m) { return m->telemetry; }
vigil_resource_monitor_t *vigil_monitor_resources(vigil_monitor_t *m) { return m->resources; }
vigil_production_monitor_t *vigil_monitor_production(vigil_monitor_t *m) { return m->production; }
vigil_threshold_monitor_t *vigil_monitor_thresholds(vigil_monitor_t *m) { return m->thresholds; }
vigil_health_checker_t *vigil_monitor_health(vigil_monitor_t *m) { return m->health; }
vigil_registry_t *vigil_monitor_registry(vigil_monitor_t *m) { return m->reg; }

int vigil_monitor_prometheus_port(vigil_monitor_t *m)
{
    return m->exporter != NULL ? vigil_exporter_port(m->exporter) : -1;
}

void vigil_monitor_status(vigil_monitor_t *m, vigil_monitor_status_t *out)
{
    memset(out, 0, sizeof(*out));
    vigil_telemetry_stats_t ts;
    vigil_telemetry_stats(m->telemetry, &ts, NULL, 0);
    vigil_alert_stats_t as;
    vigil_alert_get_stats(m->alerts, &as);
    out->health_status = vigil_health_overall(m->health);
    out->uptime_s = monitor_mono_now() - m->created_mono;
    out->operations_started = ts.started;
    out->operations_finished = ts.finished;
    out->operations_dropped = ts.dropped;
    out->operations_in_flight = ts.in_flight;
    out->alerts_total = as.triggered;
    out->alerts_stored = as.stored;
    out->n_recent_alerts = vigil_alert_recent(m->alerts, VIGIL_MONITOR_STATUS_RECENT_ALERTS,
                                              false, 0, out->recent_alerts,
                                              VIGIL_MONITOR_STATUS_RECENT_ALERTS);
    out->pipelines_health = vigil_production_overall(m->production);
    pthread_mutex_lock(&m->lock);
    out->running = m->running;
    out->exports_written = m->exports_written;
    out->exports_failed = m->exports_failed_n;
    out->exports_deleted = m->exports_deleted;
    pthread_mutex_unlock(&m->lock);
}

static int put_alert(buf_t *b, const vigil_alert_t *a)
{
    char *j;
    size_t n;
    int rc = vigil_alert_to_json(a, &j, &n);
    if (rc != 0)
        return rc;
    rc = buf_append(b, j, n);
    free(j);
    return rc;
}

static int put_num(buf_t *b, const char *key, double v)
{
    int rc = buf_printf(b, ",\"%s\":", key);
    return rc ? rc : monitor_put_json_number(b, v);
}

/* The config as the seed names its fields. */
static int put_config(buf_t *b, const vigil_monitor_config_t *c)
{
    int rc = buf_puts(b, "{\"metrics_interval\":");
    rc = rc ? rc : monitor_put_json_number(b, c->metrics_interval);
    rc = rc ? rc : put_num(b, "health_check_interval", c->health_check_interval);
    rc = rc ? rc : put_num(b, "resource_check_interval", c->resource_check_interval);
    rc = rc ? rc : put_num(b, "metrics_retention_hours", c->metrics_retention_hours);
    rc = rc ? rc : buf_printf(b, ",\"max_events\":%zu,\"enable_alerting\":%s,"
                                 "\"alert_channels\":[",
                              c->max_events, c->enable_alerting ? "true" : "false");
    for (size_t i = 0; rc == 0 && i < c->n_alert_channels; i++) {
        rc = i ? buf_putc(b, ',') : 0;
        rc = rc ? rc : buf_put_json_string(b, c->alert_channels[i]);
    }
    rc = rc ? rc : buf_printf(b, "],\"max_alerts\":%zu,\"prometheus_enabled\":%s,"
                                 "\"prometheus_port\":%d,\"json_export_enabled\":%s,"
                                 "\"json_export_path\":",
                              c->max_alerts, c->prometheus_enabled ? "true" : "false",
                              c->prometheus_port, c->json_export_enabled ? "true" : "false");
    rc = rc ? rc : buf_put_json_string(b, c->json_export_path);
    rc = rc ? rc : put_num(b, "cpu_threshold", c->cpu_threshold);
    rc = rc ? rc : put_num(b, "memory_threshold", c->memory_threshold);
    rc = rc ? rc : put_num(b, "gpu_memory_threshold", c->gpu_memory_threshold);
    rc = rc ? rc : buf_puts(b, ",\"latency_percentiles\":[");
    for (size_t i = 0; rc == 0 && i < c->n_latency_percentiles; i++) {
        rc = i ? buf_putc(b, ',') : 0;
        rc = rc ? rc : monitor_put_json_number(b, c->latency_percentiles[i]);
    }
    rc = rc ? rc : buf_putc(b, ']');
    rc = rc ? rc : put_num(b, "slow_request_threshold", c->slow_request_threshold);
    return rc ? rc : buf_putc(b, '}');
}

static int status_into(vigil_monitor_t *m, buf_t *b)
{
    vigil_monitor_status_t s;
    vigil_monitor_status(m, &s);
    int rc = buf_printf(b, "{\"running\":%s,\"health_status\":\"%s\",\"uptime_seconds\":",
                        s.running ? "true" : "false", vigil_health_status_name(s.health_status));
    rc = rc ? rc : monitor_put_json_number(b, s.uptime_s);
    rc = rc ? rc : buf_printf(b, ",\"operations\":{\"started\":%llu,\"finished\":%llu,"
                                 "\"in_flight\":%zu,\"dropped\":%llu},\"alerts\":{\"total\":%llu,"
                                 "\"stored\":%zu,\"recent\":[",
                              (unsigned long long)s.operations_started,
                              (unsigned long long)s.operations_finished, s.operations_in_flight,
                              (unsigned long long)s.operations_dropped,
                              (unsigned long long)s.alerts_total, s.alerts_stored);
    for (size_t i = 0; rc == 0 && i < s.n_recent_alerts; i++) {
        rc = i ? buf_putc(b, ',') : 0;
        rc = rc ? rc : put_alert(b, &s.recent_alerts[i]);
    }
    rc = rc ? rc : buf_printf(b, "]},\"pipelines_health\":\"%s\",\"exports\":{\"written\":%llu,"
                                 "\"failed\":%llu,\"deleted\":%llu},\"config\":",
                              vigil_pipeline_health_name(s.pipelines_health),
                              (unsigned long long)s.exports_written,
                              (unsigned long long)s.exports_failed,
                              (unsigned long long)s.exports_deleted);
    rc = rc ? rc : put_config(b, &m->cfg);
    return rc ? rc : buf_putc(b, '}');
}

int vigil_monitor_status_json(vigil_monitor_t *m, char **json, size_t *len)
{
    buf_t b;
    buf_init(&b, 16u << 20);
    int rc = status_into(m, &b);
    return monitor_buf_finish(&b, rc, json, len);
}

/* Appends `"key":` and the JSON a producer returns (freeing it). */
static int put_part(buf_t *b, const char *key, int prc, char *j, size_t n)
{
    if (prc != 0)
        return prc;
    int rc = buf_printf(b, ",\"%s\":", key);
    rc = rc ? rc : buf_append(b, j, n);
    free(j);
    return rc;
}

/* The export document: docs/format/monitor-json-export.md. */
static int build_export(vigil_monitor_t *m, time_t now, buf_t *b)
{
    char stamp[32];
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    int rc = buf_printf(b, "{\"version\":1,\"timestamp\":\"%s\",\"unix_time\":%lld,\"status\":",
                        stamp, (long long)now);
    rc = rc ? rc : status_into(m, b);
    char *j = NULL;
    size_t n = 0;
    int prc;
    if (rc == 0) {
        prc = vigil_health_summary_json(m->health, &j, &n);
        rc = put_part(b, "health", prc, j, n);
    }
    if (rc == 0) {
        pthread_mutex_lock(&m->lock);
        bool have = m->have_usage;
        vigil_resource_usage_t u = m->usage;
        vigil_resource_warning_t w[VIGIL_RESOURCE_MAX_WARNINGS];
        size_t nw = m->n_warnings;
        memcpy(w, m->warnings, nw * sizeof(w[0]));
        pthread_mutex_unlock(&m->lock);
        if (have) {
            prc = vigil_resource_usage_json(&u, w, nw, &j, &n);
            rc = put_part(b, "resources", prc, j, n);
        } else
            rc = buf_puts(b, ",\"resources\":null");
    }
    if (rc == 0) {
        prc = vigil_telemetry_stats_json(m->telemetry, &j, &n);
        rc = put_part(b, "operations", prc, j, n);
    }
    if (rc == 0) {
        prc = vigil_production_report_json(m->production, &j, &n, NULL);
        rc = put_part(b, "pipelines", prc, j, n);
    }
    if (rc == 0) {
        prc = vigil_production_canaries_json(m->production, &j, &n);
        rc = put_part(b, "canaries", prc, j, n);
    }
    if (rc == 0) {
        prc = vigil_threshold_summary_json(m->thresholds, &j, &n);
        rc = put_part(b, "thresholds", prc, j, n);
    }
    if (rc == 0) {
        prc = vigil_registry_expose(m->reg, VIGIL_FORMAT_TEXT, &j, &n, NULL);
        if (prc == 0) {
            rc = buf_puts(b, ",\"metrics_text\":");
            rc = rc ? rc : buf_put_json_string(b, j);
            free(j);
        } else
            rc = prc;
    }
    return rc ? rc : buf_puts(b, "}\n");
}

int vigil_monitor_export_json(vigil_monitor_t *m, char *path_out, size_t cap,
                              vigil_error_t *err)
{
    time_t now = time(NULL);
    buf_t b;
    buf_init(&b, 256u << 20);
    int rc = build_export(m, now, &b);
    if (rc != 0)
        rc = vigil_error_set(err, rc, "building the export: %s", vigil_strerror(rc));
    else
        rc = vigil_monitor_export_write(m->cfg.json_export_path, now, b.data, b.len, path_out,
                                        cap, err);
    buf_free(&b);
    int deleted = 0;
    if (rc == 0) {
        vigil_error_t perr;
        deleted = vigil_monitor_export_prune(m->cfg.json_export_path, now,
                                             m->cfg.metrics_retention_hours * 3600.0, &perr);
    }
    pthread_mutex_lock(&m->lock);
    if (rc == 0)
        m->exports_written++;
    else
        m->exports_failed_n++;
    if (deleted > 0)
        m->exports_deleted += (uint64_t)deleted;
    pthread_mutex_unlock(&m->lock);
    vigil_counter_inc(rc == 0 ? m->exports_ok : m->exports_failed);
    return rc;
}
