/*
 * routes.c - the agent's HTTP route table: each endpoint is one row and one handler over a
 * subsystem. Handlers only translate between HTTP and the subsystem's API.
 */
#include "agent/agent_int.h"
#include "agent/ingest.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int agent_expose(agent_t *agent, vigil_format_t fmt, buf_t *out, vigil_error_t *err)
{
    static const char eof[] = "# EOF\n";
    bool openmetrics = fmt == VIGIL_FORMAT_OPENMETRICS;
    char *text;
    size_t len;
    int rc = vigil_registry_expose(agent->registry, fmt, &text, &len, err);
    if (rc != 0)
        return rc;
    /* OpenMetrics allows one "# EOF", at the very end: the collectors' families go before it. */
    if (openmetrics && len >= sizeof(eof) - 1 &&
        memcmp(text + len - (sizeof(eof) - 1), eof, sizeof(eof) - 1) == 0)
        len -= sizeof(eof) - 1;
    rc = buf_append(out, text, len);
    free(text);
    if (rc == 0)
        rc = openmetrics ? collect_expose_openmetrics(agent->collect, out)
                         : collect_expose_text(agent->collect, out);
    if (rc == 0 && openmetrics)
        rc = buf_puts(out, eof);
    return rc != 0 ? vigil_error_set(err, rc, "exposition: %s", vigil_strerror(rc)) : 0;
}

/* /metrics: the agent's own registry followed by the collectors' latest values, in the format
 * the Accept header asks for. */
static int handle_metrics(http_request_t *req, http_response_t *resp, void *ctx)
{
    agent_t *agent = ctx;
    vigil_format_t fmt = vigil_format_from_accept(http_request_header(req, "Accept"));
    vigil_error_t err;
    if (agent_expose(agent, fmt, &resp->body, &err) != 0)
        return http_response_error(resp, 500, "internal", "%s", err.message);
    http_response_set_content_type(resp, vigil_format_content_type(fmt));
    return 0;
}

/* POST /api/v1/import/prometheus: a text or OpenMetrics body (by Content-Type), stored and
 * fsynced before the answer, as VictoriaMetrics's endpoint of the same name: `timestamp` (ms)
 * for samples without one, `extra_label=name=value` (repeatable) added to every sample. A
 * syntax error stores nothing (400, line:col); samples the store refuses (out of order,
 * limits) are counted and reported (400) while the others stay stored. */
static int handle_import(http_request_t *req, http_response_t *resp, void *ctx)
{
    agent_t *agent = ctx;
    vigil_error_t err;
    ingest_options_t o = { .format = EXPFMT_TEXT, .mode = EXPFMT_LENIENT,
                           .durability = TSDB_SYNC, .metadata = agent->metadata };
    /* Like VictoriaMetrics, any body is text unless it says it is OpenMetrics (curl sends
     * form-urlencoded by default). */
    const char *ctype = http_request_header(req, "Content-Type");
    if (ctype != NULL && strstr(ctype, "openmetrics") != NULL &&
        expfmt_format_from_content_type(ctype, &o.format, &err) != 0)
        return http_response_error(resp, 415, "bad_data", "%s", err.message);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    o.default_time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    const char *ts = http_request_param(req, "timestamp");
    if (ts != NULL) {
        char *end;
        long long v = strtoll(ts, &end, 10);
        if (end == ts || *end != '\0')
            return http_response_error(resp, 400, "bad_data",
                                       "invalid parameter \"timestamp\": want milliseconds since "
                                       "the epoch, got \"%s\"", ts);
        o.default_time_ms = v;
    }
    enum { MAX_EXTRA = 16 };
    tsdb_label_t extra[MAX_EXTRA];
    char names[MAX_EXTRA][256];
    size_t pos = 0;
    const char *kv;
    while ((kv = http_request_param_next(req, "extra_label", &pos)) != NULL) {
        const char *eq = strchr(kv, '=');
        if (o.n_extra == MAX_EXTRA || eq == NULL || eq == kv || (size_t)(eq - kv) >= 256)
            return http_response_error(resp, 400, "bad_data",
                                       "invalid parameter \"extra_label\": want name=value "
                                       "(at most %d), got \"%s\"", MAX_EXTRA, kv);
        memcpy(names[o.n_extra], kv, (size_t)(eq - kv));
        names[o.n_extra][eq - kv] = '\0';
        extra[o.n_extra] = (tsdb_label_t){ names[o.n_extra], eq + 1 };
        o.n_extra++;
    }
    o.extra = extra;
    size_t len;
    const char *body = http_request_body(req, &len);
    ingest_result_t res;
    int rc = ingest_exposition(agent->db, body, len, &o, &res, &err);
    if (rc == VIGIL_EPARSE || rc == VIGIL_ELIMIT)
        return http_response_error(resp, 400, "bad_data", "body:%s", err.message);
    if (rc == VIGIL_EIO)
        return http_response_error(resp, 503, "unavailable", "samples not stored durably: %s",
                                   err.message);
    if (rc != 0)
        return rc;
    if (res.rejected > 0)
        return http_response_error(resp, 400, "bad_data",
                                   "%zu of %zu samples rejected, the others are stored; first: %s",
                                   res.rejected, res.rejected + res.samples,
                                   res.first_reject.message);
    resp->status = 204;
    http_response_set_content_type(resp, "");
    return 0;
}

/* GET /api/v1/status/tsdb: head statistics and the top metrics, labels and pairs by series, in
 * Prometheus's JSON. */
static int put_stat_list(buf_t *b, const char *key, const tsdb_stat_entry_t *e, size_t n)
{
    int rc = buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = buf_puts(b, i > 0 ? ",{\"name\":" : "{\"name\":");
        rc = rc ? rc : buf_put_json_string(b, e[i].name);
        rc = rc ? rc : buf_printf(b, ",\"value\":%llu}", (unsigned long long)e[i].value);
    }
    return rc ? rc : buf_putc(b, ']');
}

static int handle_tsdb_status(http_request_t *req, http_response_t *resp, void *ctx)
{
    agent_t *agent = ctx;
    const char *limit_s = http_request_param(req, "limit");
    size_t limit = limit_s != NULL ? (size_t)strtoull(limit_s, NULL, 10) : 10;
    if (limit == 0)
        return http_response_error(resp, 400, "bad_data",
                                   "invalid parameter \"limit\": must be a positive number");
    tsdb_stats_t st;
    tsdb_stats(agent->db, &st);
    tsdb_status_t top;
    if (tsdb_status(agent->db, limit, &top) != 0)
        return VIGIL_ENOMEM;
    buf_t *b = &resp->body;
    http_response_set_content_type(resp, "application/json");
    bool empty = st.series == 0;
    int rc = buf_printf(b,
                        "{\"status\":\"success\",\"data\":{\"headStats\":{\"numSeries\":%llu,"
                        "\"numLabelPairs\":%llu,\"chunkCount\":%llu,\"minTime\":%lld,"
                        "\"maxTime\":%lld}",
                        (unsigned long long)st.series, (unsigned long long)top.label_pairs,
                        (unsigned long long)st.chunks, empty ? 0LL : (long long)st.mint,
                        empty ? 0LL : (long long)st.maxt);
    rc = rc ? rc : put_stat_list(b, "seriesCountByMetricName", top.series_by_metric,
                                 top.n_series_by_metric);
    rc = rc ? rc : put_stat_list(b, "labelValueCountByLabelName", top.values_by_label,
                                 top.n_values_by_label);
    rc = rc ? rc : put_stat_list(b, "memoryInBytesByLabelName", top.memory_by_label,
                                 top.n_memory_by_label);
    rc = rc ? rc : put_stat_list(b, "seriesCountByLabelValuePair", top.series_by_pair,
                                 top.n_series_by_pair);
    rc = rc ? rc : buf_puts(b, "}}");
    tsdb_status_free(&top);
    return rc;
}

/* /-/healthy: the process is up and serving (Prometheus convention, plain text). */
static int handle_healthy(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    return http_response_text(resp, 200, "vigil is Healthy.\n");
}

/* /-/ready: start-up has finished and shutdown has not begun. */
static int handle_ready(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    agent_t *agent = ctx;
    if (!atomic_load(&agent->ready))
        return http_response_text(resp, 503, "Service Unavailable\n");
    return http_response_text(resp, 200, "vigil is Ready.\n");
}

/* /health: runs every check now; 503 when the overall status is critical. */
static int handle_health(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    agent_t *agent = ctx;
    vigil_health_status_t s = vigil_health_check_all(agent->health);
    char *json;
    size_t len;
    int rc = vigil_health_summary_json(agent->health, &json, &len);
    if (rc != 0)
        return rc;
    rc = http_response_json(resp, s == VIGIL_HEALTH_CRITICAL ? 503 : 200, json);
    free(json);
    return rc;
}

/* /health/{component}: one check, run now. */
static int handle_health_component(http_request_t *req, http_response_t *resp, void *ctx)
{
    agent_t *agent = ctx;
    const char *name = http_request_path_param(req, "component");
    vigil_health_result_t r;
    if (vigil_health_check_one(agent->health, name, &r) != 0)
        return http_response_error(resp, 404, "not_found", "no health check named \"%s\"", name);
    resp->status = r.status == VIGIL_HEALTH_CRITICAL ? 503 : 200;
    http_response_set_content_type(resp, "application/json");
    int rc = buf_puts(&resp->body, "{\"name\":");
    rc = rc ? rc : buf_put_json_string(&resp->body, name);
    rc = rc ? rc : buf_puts(&resp->body, ",\"status\":");
    rc = rc ? rc : buf_put_json_string(&resp->body, vigil_health_status_name(r.status));
    rc = rc ? rc : buf_puts(&resp->body, ",\"message\":");
    rc = rc ? rc : buf_put_json_string(&resp->body, r.message);
    if (r.has_value) {
        rc = rc ? rc : buf_printf(&resp->body, ",\"value\":%.6g", r.value);
        if (r.has_thresholds)
            rc = rc ? rc : buf_printf(&resp->body,
                                      ",\"warning_threshold\":%.6g,\"critical_threshold\":%.6g",
                                      r.warning_threshold, r.critical_threshold);
    }
    return rc ? rc : buf_putc(&resp->body, '}');
}

/* /-/reload: what SIGHUP does, with the outcome in the answer (Prometheus answers 500 with
 * the reason when the new config is rejected). */
static int handle_reload(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    agent_t *agent = ctx;
    vigil_error_t err;
    if (agent_reload(agent, &err) != 0)
        return http_response_error(resp, 500, "bad_data", "failed to reload config: %s",
                                   err.message);
    return http_response_json(resp, 200, "{\"status\":\"success\"}");
}

/* GET /api/v1/rules (?type=alert|record) and /api/v1/alerts: the rule manager's state in
 * Prometheus's JSON. */
static int handle_rules(http_request_t *req, http_response_t *resp, void *ctx)
{
    agent_t *agent = ctx;
    const char *type = http_request_param(req, "type");
    if (type != NULL && strcmp(type, "alert") != 0 && strcmp(type, "record") != 0)
        return http_response_error(resp, 400, "bad_data",
                                   "invalid parameter \"type\": want alert or record, got \"%s\"",
                                   type);
    http_response_set_content_type(resp, "application/json");
    return rules_api_rules_json(agent->rules, type, &resp->body);
}

static int handle_alerts(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    agent_t *agent = ctx;
    http_response_set_content_type(resp, "application/json");
    return rules_api_alerts_json(agent->rules, &resp->body);
}

/* ---- Alertmanager's API v2 over vigil's notifier (docs/notify.md) ---------------------------- */

/* Runs `fn` with the running notifier, or answers 503 when notify.config is not set. */
static int with_notifier(http_request_t *req, http_response_t *resp, agent_t *agent,
                         int (*fn)(http_request_t *, http_response_t *, notify_t *))
{
    notify_t *n = agent_notifier_acquire(agent->notifier);
    int rc = n != NULL ? fn(req, resp, n)
                       : http_response_error(resp, 503, "unavailable",
                                             "the notifier is off: set notify.config to an "
                                             "Alertmanager configuration file");
    agent_notifier_release(agent->notifier);
    return rc;
}

static int list_silences(http_request_t *req, http_response_t *resp, notify_t *n)
{
    (void)req;
    http_response_set_content_type(resp, "application/json");
    return notify_api_silences_json(n, &resp->body);
}

static int post_silence(http_request_t *req, http_response_t *resp, notify_t *n)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    char id[40];
    vigil_error_t err;
    int rc = notify_api_silence_post(n, body, len, id, &err);
    if (rc == VIGIL_ENOENT)
        return http_response_error(resp, 404, "not_found", "%s", err.message);
    if (rc == VIGIL_EPARSE || rc == VIGIL_EINVAL || rc == VIGIL_ELIMIT)
        return http_response_error(resp, 400, "bad_data", "invalid silence: %s", err.message);
    if (rc != 0)
        return rc;
    http_response_set_content_type(resp, "application/json");
    return buf_printf(&resp->body, "{\"silenceID\":\"%s\"}", id);
}

static int get_silence(http_request_t *req, http_response_t *resp, notify_t *n)
{
    const char *id = http_request_path_param(req, "id");
    http_response_set_content_type(resp, "application/json");
    int rc = notify_api_silence_json(n, id, &resp->body);
    if (rc == VIGIL_ENOENT)
        return http_response_error(resp, 404, "not_found", "silence %s not found", id);
    return rc;
}

/* Expires the silence. Alertmanager 0.25 answers 200 with an empty body and no Content-Type,
 * for a silence that had expired already too (notify_silence_expire then changes nothing). */
static int delete_silence(http_request_t *req, http_response_t *resp, notify_t *n)
{
    const char *id = http_request_path_param(req, "id");
    int rc = notify_silence_expire(n, id);
    if (rc == VIGIL_ENOENT)
        return http_response_error(resp, 404, "not_found", "silence %s not found", id);
    if (rc != 0)
        return rc;
    resp->status = 200;
    http_response_set_content_type(resp, "");
    return 0;
}

/* A boolean query parameter of Alertmanager's API: absent is `dflt`. */
static bool bool_param(http_request_t *req, const char *name, bool dflt, bool *ok)
{
    const char *v = http_request_param(req, name);
    if (v == NULL)
        return dflt;
    if (strcmp(v, "true") == 0)
        return true;
    if (strcmp(v, "false") != 0)
        *ok = false;
    return false;
}

#define NOTIFY_MAX_FILTERS 64

/* GET /api/v2/alerts?filter=...&active=&silenced=&inhibited=&receiver= as Alertmanager. */
static int list_notify_alerts(http_request_t *req, http_response_t *resp, notify_t *n)
{
    const char *matchers[NOTIFY_MAX_FILTERS];
    notify_alert_filter_t f = NOTIFY_ALERT_FILTER_ALL;
    f.matchers = matchers;
    size_t pos = 0;
    const char *m;
    while ((m = http_request_param_next(req, "filter", &pos)) != NULL) {
        if (f.nmatchers == NOTIFY_MAX_FILTERS)
            return http_response_error(resp, 400, "bad_data", "more than %d filter parameters",
                                       NOTIFY_MAX_FILTERS);
        matchers[f.nmatchers++] = m;
    }
    static const char *const flags[] = { "active", "silenced", "inhibited", "unprocessed" };
    bool *fields[] = { &f.active, &f.silenced, &f.inhibited, NULL };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        bool ok = true, v = bool_param(req, flags[i], true, &ok);
        if (!ok)
            return http_response_error(resp, 400, "bad_data",
                                       "%s: want true or false, got \"%s\"", flags[i],
                                       http_request_param(req, flags[i]));
        if (fields[i] != NULL)  /* vigil has no unprocessed alerts: accepted, no effect */
            *fields[i] = v;
    }
    f.receiver = http_request_param(req, "receiver");
    http_response_set_content_type(resp, "application/json");
    vigil_error_t err;
    int rc = notify_api_alerts_json(n, &f, &resp->body, &err);
    if (rc == VIGIL_EPARSE)
        return http_response_error(resp, 400, "bad_data", "%s", err.message);
    return rc;
}

/* GET/POST /api/v2/silences, GET/DELETE /api/v2/silence/{id}, GET /api/v2/alerts. */
static int handle_silences(http_request_t *req, http_response_t *resp, void *ctx)
{
    return with_notifier(req, resp, ctx,
                         http_request_method_bit(req) == HTTP_POST ? post_silence : list_silences);
}

static int handle_silence(http_request_t *req, http_response_t *resp, void *ctx)
{
    return with_notifier(req, resp, ctx,
                         http_request_method_bit(req) == HTTP_DELETE ? delete_silence : get_silence);
}

static int handle_notify_alerts(http_request_t *req, http_response_t *resp, void *ctx)
{
    return with_notifier(req, resp, ctx, list_notify_alerts);
}

static const http_route_t agent_table[] = {
    { HTTP_GET, "/metrics", "metrics", handle_metrics, NULL },
    { HTTP_GET, "/-/healthy", "healthy", handle_healthy, NULL },
    { HTTP_GET, "/-/ready", "ready", handle_ready, NULL },
    { HTTP_POST | HTTP_PUT, "/-/reload", "reload", handle_reload, NULL },
    { HTTP_GET, "/health", "health", handle_health, NULL },
    { HTTP_GET, "/health/{component}", "health_component", handle_health_component, NULL },
    { HTTP_POST | HTTP_RAW_BODY, "/api/v1/import/prometheus", "import", handle_import, NULL },
    { HTTP_GET, "/api/v1/status/tsdb", "tsdb_status", handle_tsdb_status, NULL },
    { HTTP_GET, "/api/v1/rules", "rules", handle_rules, NULL },
    { HTTP_GET, "/api/v1/alerts", "alerts", handle_alerts, NULL },
    { HTTP_GET | HTTP_POST | HTTP_RAW_BODY, "/api/v2/silences", "silences", handle_silences,
      NULL },
    { HTTP_GET | HTTP_DELETE, "/api/v2/silence/{id}", "silence", handle_silence, NULL },
    { HTTP_GET, "/api/v2/alerts", "notify_alerts", handle_notify_alerts, NULL },
};

size_t agent_routes(agent_t *agent, http_route_t *out, size_t cap)
{
    size_t own = sizeof(agent_table) / sizeof(agent_table[0]);
    for (size_t i = 0; i < own && i < cap; i++) {
        out[i] = agent_table[i];
        out[i].ctx = agent;
    }
    return own + api_routes(&agent->api, own < cap ? out + own : NULL, cap > own ? cap - own : 0);
}
