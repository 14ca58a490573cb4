/*
 * routes.c - the agent's HTTP route table: each endpoint is one row and one handler over a
 * subsystem. Handlers only translate between HTTP and the subsystem's API.
 */
#include "agent/agent_int.h"

#include <stdlib.h>
#include <string.h>

/* /metrics: the agent's own registry followed by the collectors' latest values (until the
 * time-series store serves them), in the format the Accept header asks for. */
static int handle_metrics(http_request_t *req, http_response_t *resp, void *ctx)
{
    static const char eof[] = "# EOF\n";
    agent_t *agent = ctx;
    vigil_format_t fmt = vigil_format_from_accept(http_request_header(req, "Accept"));
    bool openmetrics = fmt == VIGIL_FORMAT_OPENMETRICS;
    char *text;
    size_t len;
    vigil_error_t err;
    if (vigil_registry_expose(agent->registry, fmt, &text, &len, &err) != 0)
        return http_response_error(resp, 500, "internal", "exposition failed: %s", err.message);
    /* OpenMetrics allows one "# EOF", at the very end: the collectors' families go before it. */
    if (openmetrics && len >= sizeof(eof) - 1 &&
        memcmp(text + len - (sizeof(eof) - 1), eof, sizeof(eof) - 1) == 0)
        len -= sizeof(eof) - 1;
    http_response_set_content_type(resp, vigil_format_content_type(fmt));
    int rc = buf_append(&resp->body, text, len);
    free(text);
    if (rc == 0)
        rc = openmetrics ? collect_expose_openmetrics(agent->collect, &resp->body)
                         : collect_expose_text(agent->collect, &resp->body);
    if (rc == 0 && openmetrics)
        rc = buf_puts(&resp->body, eof);
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

static const http_route_t agent_routes[] = {
    { HTTP_GET, "/metrics", "metrics", handle_metrics, NULL },
    { HTTP_GET, "/-/healthy", "healthy", handle_healthy, NULL },
    { HTTP_GET, "/-/ready", "ready", handle_ready, NULL },
    { HTTP_POST | HTTP_PUT, "/-/reload", "reload", handle_reload, NULL },
    { HTTP_GET, "/health", "health", handle_health, NULL },
    { HTTP_GET, "/health/{component}", "health_component", handle_health_component, NULL },
};

size_t agent_route_count(void)
{
    return sizeof(agent_routes) / sizeof(agent_routes[0]);
}

void agent_routes_bind(agent_t *agent, http_route_t *out)
{
    for (size_t i = 0; i < agent_route_count(); i++) {
        out[i] = agent_routes[i];
        out[i].ctx = agent;
    }
}
