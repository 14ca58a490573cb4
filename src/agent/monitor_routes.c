/*
 * monitor_routes.c - the monitoring service of the agent and its HTTP handlers
 * (monitor_routes.h). Handlers only translate between HTTP/JSON and libvigil's monitoring API:
 * every body is parsed and checked completely (jansson, with byte offsets in parse errors)
 * before anything is recorded, so a 4xx answer never leaves a partial record behind.
 */
#include "agent/monitor_routes.h"

#include "agent/monitor_gpu.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_KV 32

/* State of the "collectors" health check: run and error counts at the previous check. */
typedef struct collectors_check {
    collect_t *collect;
    uint64_t   runs[64], errors[64];
} collectors_check_t;

struct monitor_service {
    log_t              *log;
    vigil_monitor_t    *monitor;
    monitor_gpu_t      *gpu;
    vigil_gpu_check_t  *gpu_check;
    char               *data_dir;
    collectors_check_t  collectors;
    double              percentiles[CONFIG_NUMBER_LIST_MAX];
};

/* ---- health checks -------------------------------------------------------------------- */

/* data_dir: the data directory accepts a new file (create, write, fsync, unlink). */
static void check_data_dir(void *ctx, vigil_health_result_t *out)
{
    monitor_service_t *svc = ctx;
    char path[4200];
    snprintf(path, sizeof(path), "%s/.health-probe-%ld", svc->data_dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, "ok\n", 3) == 3 && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(path);
    out->status = ok ? VIGIL_HEALTH_HEALTHY : VIGIL_HEALTH_CRITICAL;
    snprintf(out->message, sizeof(out->message), ok ? "Data directory writable: %.200s"
                                                    : "Data directory not writable: %.150s: %s",
             svc->data_dir, ok ? "" : strerror(e));
}

/* collectors: warning when every run of some collector since the previous check failed. */
static void check_collectors(void *ctx, vigil_health_result_t *out)
{
    collectors_check_t *cc = ctx;
    size_t n;
    const collect_def_t *const *defs = collect_host_table(&n);
    size_t running = 0, failing = 0;
    char first[64] = "";
    for (size_t i = 0; i < n && i < 64; i++) {
        collect_stats_t st;
        if (collect_get_stats(cc->collect, defs[i]->name, &st) != 0)
            continue;  /* disabled */
        running++;
        uint64_t runs = st.runs - cc->runs[i], errs = st.errors - cc->errors[i];
        if (runs > 0 && errs == runs) {
            if (failing++ == 0)
                snprintf(first, sizeof(first), "%s", defs[i]->name);
        }
        cc->runs[i] = st.runs;
        cc->errors[i] = st.errors;
    }
    out->status = failing > 0 ? VIGIL_HEALTH_WARNING : VIGIL_HEALTH_HEALTHY;
    out->has_value = true;
    out->value = (double)failing;
    if (failing > 0)
        snprintf(out->message, sizeof(out->message),
                 "%zu of %zu collectors failing since the last check (first: %s)", failing,
                 running, first);
    else
        snprintf(out->message, sizeof(out->message), "%zu collectors running", running);
}

static void log_hook(void *ctx, int level, const char *component, const char *msg)
{
    log_t *lg = ctx;
    if (level == 0)
        log_error(lg, component, msg);
    else if (level == 1)
        log_warn(lg, component, msg);
    else
        log_info(lg, component, msg);
}

int monitor_service_start(monitor_service_t **out, const config_t *cfg, vigil_registry_t *reg,
                          vigil_health_checker_t *health, collect_t *collect, log_t *log,
                          vigil_error_t *err)
{
    *out = NULL;
    monitor_service_t *svc = calloc(1, sizeof(*svc));
    if (svc == NULL || (svc->data_dir = strdup(cfg->storage.path)) == NULL) {
        free(svc);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    svc->log = log;
    svc->collectors.collect = collect;
    int rc = monitor_gpu_open(&svc->gpu, cfg->collect.gpu.nvml_library, err);
    if (rc != 0)
        goto out_fail;
    const char *why;
    if (monitor_gpu_available(svc->gpu, &why))
        rc = vigil_monitor_register_gpu_check(health, monitor_gpu_usage, svc->gpu,
                                              &cfg->health.gpu_memory, &svc->gpu_check, err);
    else
        log_info(log, "monitor", "no GPU health check: NVML not available",
                 LF_STR("reason", why));
    rc = rc ? rc : vigil_health_register(health, "data_dir", check_data_dir, svc, err);
    if (rc == 0 && collect != NULL)
        rc = vigil_health_register(health, "collectors", check_collectors, &svc->collectors,
                                   err);
    if (rc != 0)
        goto out_fail;

    vigil_monitor_config_t mc;
    vigil_monitor_config_default(&mc);
    mc.metrics_interval = cfg->monitoring.metrics_interval;
    mc.health_check_interval = cfg->monitoring.health_check_interval;
    mc.resource_check_interval = cfg->monitoring.resource_check_interval;
    mc.metrics_retention_hours = cfg->monitoring.metrics_retention / 3600.0;
    mc.max_events = (size_t)cfg->monitoring.max_events;
    mc.enable_alerting = cfg->alerting.enabled;
    mc.alert_channels = (const char *const *)cfg->alerting.channels.items;
    mc.n_alert_channels = cfg->alerting.channels.count;
    mc.prometheus_enabled = false;  /* the agent serves its registry at /metrics itself */
    mc.json_export_enabled = cfg->export.json.enabled;
    mc.json_export_path = cfg->export.json.path;
    mc.cpu_threshold = cfg->monitoring.resource_thresholds.cpu;
    mc.memory_threshold = cfg->monitoring.resource_thresholds.memory;
    mc.gpu_memory_threshold = cfg->monitoring.resource_thresholds.gpu_memory;
    memcpy(svc->percentiles, cfg->monitoring.latency_percentiles.items,
           cfg->monitoring.latency_percentiles.count * sizeof(double));
    mc.latency_percentiles = svc->percentiles;
    mc.n_latency_percentiles = cfg->monitoring.latency_percentiles.count;
    mc.slow_request_threshold = cfg->monitoring.slow_request_threshold;
    mc.procfs = cfg->collect.path.procfs;
    mc.disk_path = cfg->storage.path;
    mc.gpu_fn = monitor_gpu_available(svc->gpu, NULL) ? monitor_gpu_usage : NULL;
    mc.gpu_ctx = svc->gpu;
    mc.registry = reg;
    mc.health = health;  /* the agent's housekeeping thread runs the checks */
    mc.log = log_hook;
    mc.log_ctx = log;
    rc = vigil_monitor_create(&mc, &svc->monitor, err);
    rc = rc ? rc : vigil_monitor_start(svc->monitor, err);
    if (rc != 0)
        goto out_fail;
    *out = svc;
    return 0;

out_fail:
    /* Checks registered so far stay in the checker with svc as context: the agent frees the
     * checker on this failure path without running it again. */
    monitor_service_stop(svc);
    return rc;
}

void monitor_service_stop(monitor_service_t *svc)
{
    if (svc == NULL)
        return;
    vigil_monitor_free(svc->monitor);
    monitor_gpu_close(svc->gpu);
    vigil_monitor_gpu_check_free(svc->gpu_check);
    free(svc->data_dir);
    free(svc);
}

void monitor_service_reload(monitor_service_t *svc, const config_t *cfg)
{
    vigil_resource_set_thresholds(vigil_monitor_resources(svc->monitor),
                                  cfg->monitoring.resource_thresholds.cpu,
                                  cfg->monitoring.resource_thresholds.memory,
                                  cfg->monitoring.resource_thresholds.gpu_memory);
    if (svc->gpu_check != NULL)
        vigil_monitor_gpu_check_set_thresholds(svc->gpu_check, &cfg->health.gpu_memory);
}

vigil_monitor_t *monitor_service_monitor(monitor_service_t *svc)
{
    return svc->monitor;
}

/* ---- request parsing ------------------------------------------------------------------ */

/* Parses the body as a JSON object whose keys are all in `allowed` (NULL-terminated). On
 * failure answers 400 naming the byte offset or the field (500 when jansson ran out of memory:
 * not the client's fault), and returns NULL with *rc the handler's return value. The caller
 * json_decref()s the result. */
static json_t *parse_object(http_request_t *req, http_response_t *resp,
                            const char *const *allowed, int *rc)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    json_error_t je = { 0 };  /* json_loadb does not set the code byte when it records none */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    /* jansson records a message for every fault of the input; a NULL with none recorded is an
     * allocation that failed. */
    if (root == NULL && (je.text[0] == '\0' || json_error_code(&je) == json_error_out_of_memory)) {
        *rc = http_response_error(resp, 500, "internal", "body: out of memory parsing the JSON");
        return NULL;
    }
    if (root == NULL) {
        *rc = http_response_error(resp, 400, "bad_data",
                                  "body: invalid JSON at byte %d (line %d, column %d): %s",
                                  je.position, je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *rc = http_response_error(resp, 400, "bad_data", "body: expected a JSON object");
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known) {
            *rc = http_response_error(resp, 400, "bad_data", "field \"%s\": unknown field", key);
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

/* Optional string field; *out NULL when absent. false (400 answered) on a wrong type. */
static bool get_string(json_t *o, const char *field, const char **out, http_response_t *resp,
                       int *rc)
{
    json_t *v = json_object_get(o, field);
    *out = NULL;
    if (v == NULL)
        return true;
    if (!json_is_string(v)) {
        *rc = http_response_error(resp, 400, "bad_data", "field \"%s\": expected a string",
                                  field);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

/* Required (or optional with *present) number field. */
static bool get_number(json_t *o, const char *field, bool required, double *out, bool *present,
                       http_response_t *resp, int *rc)
{
    json_t *v = json_object_get(o, field);
    if (present != NULL)
        *present = v != NULL;
    if (v == NULL && !required)
        return true;
    if (v == NULL) {
        *rc = http_response_error(resp, 400, "bad_data", "field \"%s\": required", field);
        return false;
    }
    if (!json_is_number(v)) {
        *rc = http_response_error(resp, 400, "bad_data", "field \"%s\": expected a number",
                                  field);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

/* Flattens an optional "metadata" object into kv[] (values: strings; numbers and booleans are
 * written as text). Strings point into `o` or into `store` (n slots of 32 bytes). */
static bool get_metadata(json_t *o, vigil_kv_t *kv, char store[][32], size_t *n,
                         http_response_t *resp, int *rc)
{
    *n = 0;
    json_t *md = json_object_get(o, "metadata");
    if (md == NULL)
        return true;
    if (!json_is_object(md)) {
        *rc = http_response_error(resp, 400, "bad_data", "field \"metadata\": expected an "
                                                         "object");
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(md, key, v) {
        if (*n == MAX_KV) {
            *rc = http_response_error(resp, 400, "bad_data", "field \"metadata\": at most %d "
                                                             "items", MAX_KV);
            return false;
        }
        if (json_is_string(v))
            kv[*n].value = json_string_value(v);
        else if (json_is_number(v)) {
            snprintf(store[*n], 32, "%.17g", json_number_value(v));
            kv[*n].value = store[*n];
        } else if (json_is_boolean(v))
            kv[*n].value = json_is_true(v) ? "true" : "false";
        else {
            *rc = http_response_error(resp, 400, "bad_data", "field \"metadata.%s\": expected a "
                                                             "string, number or boolean", key);
            return false;
        }
        kv[*n].key = key;
        (*n)++;
    }
    return true;
}

/* Answers {"status":"success","data":<data>}; data stays the caller's. */
static int put_success(http_response_t *resp, int status, const char *data)
{
    http_response_set_content_type(resp, "application/json");
    resp->status = status;
    int rc = buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
    rc = rc ? rc : buf_puts(&resp->body, data);
    return rc ? rc : buf_putc(&resp->body, '}');
}

/* Answers like put_success and frees data (a document the library built for the handler). */
static int success(http_response_t *resp, int status, char *data)
{
    int rc = put_success(resp, status, data);
    free(data);
    return rc;
}

/* Answers the object a handler built in b with buf_* calls whose combined status is brc, and
 * frees b. A failed build answers nothing and returns VIGIL_ENOMEM. */
static int success_buf(http_response_t *resp, int status, buf_t *b, int brc)
{
    if (brc != 0) {
        buf_free(b);
        return VIGIL_ENOMEM;
    }
    char *data = buf_detach(b, NULL);
    return data != NULL ? success(resp, status, data) : VIGIL_ENOMEM;
}

int monitor_routes_status(int code)
{
    switch (code) {
    case VIGIL_EINVAL:
    case VIGIL_ERANGE:
    case VIGIL_EPARSE:
        return 400;  /* the request's values */
    case VIGIL_ENOENT:
        return 404;
    case VIGIL_EEXIST:
    case VIGIL_ESTATE:
        return 409;
    case VIGIL_ELIMIT:
        return 429;
    default:
        return 500;  /* out of memory, I/O, system calls: ours, never the client's */
    }
}

/* Answers an API error of the library with the status its code implies, and the library's
 * message. */
static int api_error(http_response_t *resp, int code, const vigil_error_t *err)
{
    int status = monitor_routes_status(code);
    const char *type = status == 404   ? "not_found"
                       : status == 429 ? "unavailable"
                       : status == 500 ? "internal"
                                       : "bad_data";
    return http_response_error(resp, status, type, "%s", err->message);
}

/* A handler of a request whose body is a JSON object: o has passed parse_object and belongs
 * to with_body, so the handler may return from anywhere. */
typedef int body_handler_fn(monitor_service_t *svc, http_request_t *req, http_response_t *resp,
                            json_t *o);

/* Parses the body as an object of the `allowed` fields (400 otherwise), runs fn on it and
 * frees it: the one place a request's JSON is owned. */
static int with_body(http_request_t *req, http_response_t *resp, void *ctx,
                     const char *const *allowed, body_handler_fn *fn)
{
    int rc = 0;
    json_t *o = parse_object(req, resp, allowed, &rc);
    if (o == NULL)
        return rc;
    rc = fn(ctx, req, resp, o);
    json_decref(o);
    return rc;
}

/* ---- operations ----------------------------------------------------------------------- */

static int op_start(monitor_service_t *svc, http_request_t *req, http_response_t *resp,
                    json_t *o)
{
    (void)req;
    const char *id, *type;
    vigil_kv_t kv[MAX_KV];
    char store[MAX_KV][32];
    size_t n;
    int rc = 0;
    if (!get_string(o, "id", &id, resp, &rc) || !get_string(o, "type", &type, resp, &rc) ||
        !get_metadata(o, kv, store, &n, resp, &rc))
        return rc;
    if (type == NULL)
        return http_response_error(resp, 400, "bad_data", "field \"type\": required");
    char used[VIGIL_OP_ID_MAX];
    vigil_error_t err;
    int arc = vigil_telemetry_start(vigil_monitor_telemetry(svc->monitor), id, type, kv, n, used,
                                    sizeof(used), &err);
    if (arc != 0)
        return api_error(resp, arc, &err);
    buf_t b;
    buf_init(&b, 1024);
    int brc = buf_puts(&b, "{\"id\":");
    brc = brc ? brc : buf_put_json_string(&b, used);
    brc = brc ? brc : buf_puts(&b, ",\"type\":");
    brc = brc ? brc : buf_put_json_string(&b, type);
    brc = brc ? brc : buf_putc(&b, '}');
    return success_buf(resp, 201, &b, brc);
}

static int handle_op_start(http_request_t *req, http_response_t *resp, void *ctx)
{
    static const char *const allowed[] = { "id", "type", "metadata", NULL };
    return with_body(req, resp, ctx, allowed, op_start);
}

static int op_end(monitor_service_t *svc, http_request_t *req, http_response_t *resp,
                  json_t *o)
{
    const char *id = http_request_path_param(req, "id");
    const char *status;
    vigil_kv_num_t m[MAX_KV];
    size_t n = 0;
    int rc = 0;
    if (!get_string(o, "status", &status, resp, &rc))
        return rc;
    if (status == NULL)
        return http_response_error(resp, 400, "bad_data", "field \"status\": required");
    json_t *metrics = json_object_get(o, "metrics");
    if (metrics != NULL && !json_is_object(metrics))
        return http_response_error(resp, 400, "bad_data",
                                   "field \"metrics\": expected an object");
    const char *key;
    json_t *v;
    json_object_foreach(metrics, key, v) {
        if (n == MAX_KV || !json_is_number(v))
            return http_response_error(resp, 400, "bad_data",
                                       n == MAX_KV ? "field \"metrics\": at most 32 items"
                                                   : "field \"metrics.%s\": expected a number",
                                       key);
        m[n++] = (vigil_kv_num_t){ key, json_number_value(v) };
    }
    vigil_error_t err;
    double duration;
    int arc = vigil_telemetry_end(vigil_monitor_telemetry(svc->monitor), id, status, m, n,
                                  &duration, &err);
    if (arc != 0)
        return api_error(resp, arc, &err);
    buf_t b;
    buf_init(&b, 1024);
    int brc = buf_puts(&b, "{\"id\":");
    brc = brc ? brc : buf_put_json_string(&b, id);
    brc = brc ? brc : buf_puts(&b, ",\"status\":");
    brc = brc ? brc : buf_put_json_string(&b, status);
    brc = brc ? brc : buf_printf(&b, ",\"duration\":%.9g}", duration);
    return success_buf(resp, 200, &b, brc);
}

static int handle_op_end(http_request_t *req, http_response_t *resp, void *ctx)
{
    static const char *const allowed[] = { "status", "metrics", NULL };
    return with_body(req, resp, ctx, allowed, op_end);
}

static int handle_op_stats(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    monitor_service_t *svc = ctx;
    char *j;
    int rc = vigil_telemetry_stats_json(vigil_monitor_telemetry(svc->monitor), &j, NULL);
    return rc != 0 ? rc : success(resp, 200, j);
}

/* Parses an optional positive integer parameter; false (400 answered) when malformed. */
static bool param_count(http_request_t *req, const char *name, size_t def, size_t *out,
                        http_response_t *resp, int *rc)
{
    const char *s = http_request_param(req, name);
    *out = def;
    if (s == NULL || s[0] == '\0')
        return true;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v == 0 || s[0] == '-') {
        *rc = http_response_error(resp, 400, "bad_data",
                                  "invalid parameter \"%s\": want a positive integer, got \"%s\"",
                                  name, s);
        return false;
    }
    *out = (size_t)v;
    return true;
}

static int handle_op_recent(http_request_t *req, http_response_t *resp, void *ctx)
{
    monitor_service_t *svc = ctx;
    size_t count;
    int rc = 0;
    if (!param_count(req, "count", 100, &count, resp, &rc))
        return rc;
    char *j;
    rc = vigil_telemetry_recent_json(vigil_monitor_telemetry(svc->monitor), count, &j, NULL);
    return rc != 0 ? rc : success(resp, 200, j);
}

/* ---- pipelines and canaries ----------------------------------------------------------- */

static int handle_pipelines(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    monitor_service_t *svc = ctx;
    char *j;
    int rc = vigil_production_report_json(vigil_monitor_production(svc->monitor), &j, NULL, NULL);
    return rc != 0 ? rc : success(resp, 200, j);
}

static int pipeline_data(monitor_service_t *svc, const char *name, http_response_t *resp)
{
    vigil_pipeline_stats_t s;
    if (vigil_production_pipeline(vigil_monitor_production(svc->monitor), name, &s) != 0)
        return http_response_error(resp, 404, "not_found", "no pipeline \"%s\"", name);
    buf_t b;
    buf_init(&b, 4096);
    int rc = buf_puts(&b, "{\"name\":");
    rc = rc ? rc : buf_put_json_string(&b, name);
    rc = rc ? rc : buf_printf(&b, ",\"total_executions\":%llu,\"success_rate\":%.17g,"
                                  "\"mean_execution_time\":%.17g,\"health\":\"%s\"}",
                              (unsigned long long)s.total_executions, s.success_rate,
                              s.mean_execution_time, vigil_pipeline_health_name(s.health));
    return success_buf(resp, 200, &b, rc);
}

static int pipeline_exec(monitor_service_t *svc, http_request_t *req, http_response_t *resp,
                         json_t *o)
{
    const char *name = http_request_path_param(req, "name");
    double t;
    vigil_kv_t kv[MAX_KV];
    char store[MAX_KV][32];
    size_t n;
    int rc = 0;
    if (!get_number(o, "execution_time", true, &t, NULL, resp, &rc) ||
        !get_metadata(o, kv, store, &n, resp, &rc))
        return rc;
    json_t *s = json_object_get(o, "success");
    if (s == NULL || !json_is_boolean(s))
        return http_response_error(resp, 400, "bad_data",
                                   s == NULL ? "field \"success\": required"
                                             : "field \"success\": expected a boolean");
    vigil_error_t err;
    int arc = vigil_production_record(vigil_monitor_production(svc->monitor), name, t,
                                      json_is_true(s), kv, n, &err);
    return arc != 0 ? api_error(resp, arc, &err) : pipeline_data(svc, name, resp);
}

static int handle_pipeline_exec(http_request_t *req, http_response_t *resp, void *ctx)
{
    static const char *const allowed[] = { "execution_time", "success", "metadata", NULL };
    return with_body(req, resp, ctx, allowed, pipeline_exec);
}

static int pipeline_baseline(monitor_service_t *svc, http_request_t *req, http_response_t *resp,
                             json_t *o)
{
    const char *name = http_request_path_param(req, "name");
    double v;
    int rc = 0;
    if (!get_number(o, "execution_time", true, &v, NULL, resp, &rc))
        return rc;
    vigil_error_t err;
    int arc = vigil_production_set_baseline(vigil_monitor_production(svc->monitor), name, v,
                                            &err);
    if (arc != 0)
        return api_error(resp, arc, &err);
    buf_t b;
    buf_init(&b, 1024);
    int brc = buf_puts(&b, "{\"name\":");
    brc = brc ? brc : buf_put_json_string(&b, name);
    brc = brc ? brc : buf_printf(&b, ",\"baseline\":%.17g}", v);
    return success_buf(resp, 200, &b, brc);
}

static int handle_pipeline_baseline(http_request_t *req, http_response_t *resp, void *ctx)
{
    static const char *const allowed[] = { "execution_time", NULL };
    return with_body(req, resp, ctx, allowed, pipeline_baseline);
}

static int handle_canaries(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    monitor_service_t *svc = ctx;
    char *j;
    int rc = vigil_production_canaries_json(vigil_monitor_production(svc->monitor), &j, NULL);
    return rc != 0 ? rc : success(resp, 200, j);
}

static int canary_baseline(monitor_service_t *svc, http_request_t *req, http_response_t *resp,
                           json_t *o)
{
    const char *name = http_request_path_param(req, "name");
    double score, threshold = 0;
    bool has_t;
    int rc = 0;
    if (!get_number(o, "score", true, &score, NULL, resp, &rc) ||
        !get_number(o, "threshold", false, &threshold, &has_t, resp, &rc))
        return rc;
    if (has_t && threshold == 0)
        return http_response_error(resp, 400, "bad_data",
                                   "field \"threshold\": must be in (0, 1]");
    vigil_error_t err;
    int arc = vigil_production_canary_baseline(vigil_monitor_production(svc->monitor), name,
                                               score, threshold, &err);
    return arc != 0 ? api_error(resp, arc, &err) : handle_canaries(req, resp, svc);
}

static int handle_canary_baseline(http_request_t *req, http_response_t *resp, void *ctx)
{
    static const char *const allowed[] = { "score", "threshold", NULL };
    return with_body(req, resp, ctx, allowed, canary_baseline);
}

static int canary_check(monitor_service_t *svc, http_request_t *req, http_response_t *resp,
                        json_t *o)
{
    const char *name = http_request_path_param(req, "name");
    double score;
    int rc = 0;
    if (!get_number(o, "score", true, &score, NULL, resp, &rc))
        return rc;
    vigil_error_t err;
    vigil_canary_result_t r;
    int arc = vigil_production_canary_check(vigil_monitor_production(svc->monitor), name,
                                            score, &r, &err);
    if (arc != 0)
        return api_error(resp, arc, &err);
    buf_t b;
    buf_init(&b, 1024);
    int brc = buf_printf(&b, "{\"baseline\":%.17g,\"current\":%.17g,\"degradation\":%.17g,"
                             "\"threshold\":%.17g,\"status\":\"%s\"}",
                         r.baseline, r.current, r.degradation, r.threshold,
                         r.degraded ? "degraded" : "healthy");
    return success_buf(resp, 200, &b, brc);
}

static int handle_canary_check(http_request_t *req, http_response_t *resp, void *ctx)
{
    static const char *const allowed[] = { "score", NULL };
    return with_body(req, resp, ctx, allowed, canary_check);
}

/* ---- alerts, status, resources, thresholds -------------------------------------------- */

static int handle_alerts(http_request_t *req, http_response_t *resp, void *ctx)
{
    monitor_service_t *svc = ctx;
    vigil_alert_manager_t *am = vigil_monitor_alerts(svc->monitor);
    int rc = 0;
    const char *sev_s = http_request_param(req, "severity");
    vigil_alert_severity_t sev = VIGIL_ALERT_INFO;
    bool filter = sev_s != NULL && sev_s[0] != '\0';
    if (filter && vigil_alert_severity_parse(sev_s, &sev) != 0)
        return http_response_error(resp, 400, "bad_data",
                                   "invalid parameter \"severity\": want INFO, WARNING, ERROR or "
                                   "CRITICAL, got \"%s\"", sev_s);
    vigil_alert_stats_t st;
    vigil_alert_get_stats(am, &st);
    size_t count;
    if (!param_count(req, "count", st.max_alerts, &count, resp, &rc))
        return rc;
    if (count > st.max_alerts)
        count = st.max_alerts;
    vigil_alert_t *a = calloc(count, sizeof(*a));
    if (a == NULL)
        return VIGIL_ENOMEM;
    size_t n = vigil_alert_recent(am, count, filter, sev, a, count);
    buf_t b;
    buf_init(&b, 64u << 20);
    int brc = buf_puts(&b, "{\"alerts\":[");
    for (size_t i = 0; brc == 0 && i < n; i++) {
        char *j;
        size_t len;
        brc = vigil_alert_to_json(&a[i], &j, &len);
        if (brc == 0) {
            brc = i ? buf_putc(&b, ',') : 0;
            brc = brc ? brc : buf_append(&b, j, len);
            free(j);
        }
    }
    free(a);
    brc = brc ? brc : buf_printf(&b, "],\"stored\":%zu,\"max_alerts\":%zu,\"total\":%llu,"
                                     "\"evicted\":%llu,\"by_severity\":{\"INFO\":%llu,"
                                     "\"WARNING\":%llu,\"ERROR\":%llu,\"CRITICAL\":%llu}}",
                                 st.stored, st.max_alerts, (unsigned long long)st.triggered,
                                 (unsigned long long)st.evicted,
                                 (unsigned long long)st.by_severity[0],
                                 (unsigned long long)st.by_severity[1],
                                 (unsigned long long)st.by_severity[2],
                                 (unsigned long long)st.by_severity[3]);
    return success_buf(resp, 200, &b, brc);
}

static int handle_alerts_clear(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    monitor_service_t *svc = ctx;
    vigil_alert_clear(vigil_monitor_alerts(svc->monitor));
    return put_success(resp, 200, "{\"cleared\":true}");
}

static int handle_status(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    monitor_service_t *svc = ctx;
    char *j;
    int rc = vigil_monitor_status_json(svc->monitor, &j, NULL);
    return rc != 0 ? rc : success(resp, 200, j);
}

static int handle_resources(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    monitor_service_t *svc = ctx;
    vigil_resource_monitor_t *rm = vigil_monitor_resources(svc->monitor);
    vigil_resource_usage_t u;
    vigil_error_t err;
    if (vigil_resource_current(rm, &u, &err) != 0)
        return http_response_error(resp, 500, "internal", "%s", err.message);
    vigil_resource_warning_t w[VIGIL_RESOURCE_MAX_WARNINGS];
    size_t n = vigil_resource_check_thresholds(rm, &u, w);
    char *j;
    int rc = vigil_resource_usage_json(&u, w, n, &j, NULL);
    return rc != 0 ? rc : success(resp, 200, j);
}

static int handle_thresholds(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    monitor_service_t *svc = ctx;
    char *j;
    int rc = vigil_threshold_summary_json(vigil_monitor_thresholds(svc->monitor), &j, NULL);
    return rc != 0 ? rc : success(resp, 200, j);
}

static int threshold_set(monitor_service_t *svc, http_request_t *req, http_response_t *resp,
                         json_t *o)
{
    double v;
    const char *dir;
    int rc = 0;
    if (!get_number(o, "value", true, &v, NULL, resp, &rc) ||
        !get_string(o, "direction", &dir, resp, &rc))
        return rc;
    vigil_threshold_direction_t d = VIGIL_THRESHOLD_ABOVE;
    if (dir != NULL && strcmp(dir, "below") == 0)
        d = VIGIL_THRESHOLD_BELOW;
    else if (dir != NULL && strcmp(dir, "above") != 0)
        return http_response_error(resp, 400, "bad_data",
                                   "field \"direction\": want \"above\" or \"below\", got \"%s\"",
                                   dir);
    vigil_error_t err;
    int arc = vigil_threshold_set(vigil_monitor_thresholds(svc->monitor),
                                  http_request_path_param(req, "metric"), v, d, &err);
    return arc != 0 ? api_error(resp, arc, &err) : handle_thresholds(req, resp, svc);
}

static int handle_threshold_set(http_request_t *req, http_response_t *resp, void *ctx)
{
    static const char *const allowed[] = { "value", "direction", NULL };
    return with_body(req, resp, ctx, allowed, threshold_set);
}

static int metric_record(monitor_service_t *svc, http_request_t *req, http_response_t *resp,
                         json_t *o)
{
    double v;
    int rc = 0;
    if (!get_number(o, "value", true, &v, NULL, resp, &rc))
        return rc;
    vigil_error_t err;
    int arc = vigil_threshold_record(vigil_monitor_thresholds(svc->monitor),
                                     http_request_path_param(req, "metric"), v, &err);
    return arc != 0 ? api_error(resp, arc, &err) : put_success(resp, 200, "{\"recorded\":true}");
}

static int handle_metric_record(http_request_t *req, http_response_t *resp, void *ctx)
{
    static const char *const allowed[] = { "value", NULL };
    return with_body(req, resp, ctx, allowed, metric_record);
}

static const http_route_t monitor_table[] = {
    { HTTP_POST, "/api/v1/operations", "operations_start", handle_op_start, NULL },
    { HTTP_GET, "/api/v1/operations", "operations_recent", handle_op_recent, NULL },
    { HTTP_GET, "/api/v1/operations/stats", "operations_stats", handle_op_stats, NULL },
    { HTTP_POST, "/api/v1/operations/{id}/end", "operations_end", handle_op_end, NULL },
    { HTTP_GET, "/api/v1/pipelines", "pipelines", handle_pipelines, NULL },
    { HTTP_POST, "/api/v1/pipelines/{name}/executions", "pipeline_executions",
      handle_pipeline_exec, NULL },
    { HTTP_PUT, "/api/v1/pipelines/{name}/baseline", "pipeline_baseline",
      handle_pipeline_baseline, NULL },
    { HTTP_GET, "/api/v1/canaries", "canaries", handle_canaries, NULL },
    { HTTP_PUT, "/api/v1/canaries/{name}/baseline", "canary_baseline", handle_canary_baseline,
      NULL },
    { HTTP_POST, "/api/v1/canaries/{name}/checks", "canary_check", handle_canary_check, NULL },
    { HTTP_GET, "/api/v1/monitor/alerts", "monitor_alerts", handle_alerts, NULL },
    { HTTP_DELETE, "/api/v1/monitor/alerts", "monitor_alerts_clear", handle_alerts_clear, NULL },
    { HTTP_GET, "/api/v1/monitor/status", "monitor_status", handle_status, NULL },
    { HTTP_GET, "/api/v1/monitor/resources", "monitor_resources", handle_resources, NULL },
    { HTTP_GET, "/api/v1/monitor/thresholds", "monitor_thresholds", handle_thresholds, NULL },
    { HTTP_PUT, "/api/v1/monitor/thresholds/{metric}", "monitor_threshold_set",
      handle_threshold_set, NULL },
    { HTTP_POST, "/api/v1/monitor/metrics/{metric}", "monitor_metric_record",
      handle_metric_record, NULL },
};

size_t monitor_routes(monitor_service_t *svc, http_route_t *out, size_t cap)
{
    size_t n = sizeof(monitor_table) / sizeof(monitor_table[0]);
    for (size_t i = 0; i < n && i < cap; i++) {
        out[i] = monitor_table[i];
        out[i].ctx = svc;
    }
    return n;
}
