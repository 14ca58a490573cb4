/*
 * query.c - the query endpoints: /api/v1/query, /api/v1/query_range, /api/v1/format_query,
 * /api/v1/parse_query and the status pages in Prometheus's JSON, and the API's route table
 * (the index endpoints are in series.c).
 *
 * Errors follow Prometheus's API: a bad parameter is 400 "bad_data" with
 * `invalid parameter "time": ...`; an evaluation error is 422 "execution"; a timeout 503
 * "timeout"; a client that went away 499 "canceled".
 */
#include "api/api_int.h"

#include "util/version.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Prometheus refuses range queries with more points than this per series. */
#define API_MAX_POINTS 11000

int64_t api_now_ms(const api_t *api)
{
    if (api->now_ms != NULL)
        return api->now_ms();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int api_bad_param(http_response_t *resp, const char *name, const vigil_error_t *err)
{
    return http_response_error(resp, 400, "bad_data", "invalid parameter \"%s\": %s", name,
                               err->message);
}

int api_time_param(http_request_t *req, http_response_t *resp, const char *name,
                   int64_t fallback, int64_t *out, bool *answered)
{
    const char *s = http_request_param(req, name);
    *answered = false;
    if (s == NULL || s[0] == '\0') {
        *out = fallback;
        return 0;
    }
    vigil_error_t err;
    if (api_parse_time(s, out, &err) != 0) {
        *answered = true;
        return api_bad_param(resp, name, &err);
    }
    return 0;
}

/* What the engine polls between steps: the client went away, or the request's `timeout`
 * passed. Which of the two is remembered, since the engine reports both as "canceled". */
typedef struct query_abort {
    http_request_t *req;
    int64_t         deadline_ns;  /* CLOCK_MONOTONIC; 0: no `timeout` given */
    bool            timed_out;
} query_abort_t;

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool request_cancelled(void *ctx)
{
    query_abort_t *qa = ctx;
    if (qa->deadline_ns != 0 && monotonic_ns() > qa->deadline_ns) {
        qa->timed_out = true;
        return true;
    }
    return http_request_cancelled(qa->req);
}

/* Reads `timeout` (Prometheus: a duration or float seconds) into qa. */
static int timeout_param(http_request_t *req, http_response_t *resp, query_abort_t *qa,
                         bool *answered)
{
    *qa = (query_abort_t){ .req = req };
    *answered = false;
    const char *s = http_request_param(req, "timeout");
    if (s == NULL || s[0] == '\0')
        return 0;
    int64_t ms;
    vigil_error_t err;
    if (api_parse_duration(s, &ms, &err) != 0) {
        *answered = true;
        return api_bad_param(resp, "timeout", &err);
    }
    if (ms > 0)
        qa->deadline_ns = monotonic_ns() + ms * 1000000;
    return 0;
}

/* Maps an engine failure to Prometheus's status code and errorType. */
static int query_error(http_response_t *resp, int code, const vigil_error_t *err,
                       const query_abort_t *qa)
{
    if (qa->timed_out)
        return http_response_error(resp, 503, "timeout",
                                   "query timed out in expression evaluation");
    const char *type = promql_error_type(code);
    if (code == VIGIL_EPARSE)
        return http_response_error(resp, 400, "bad_data", "invalid parameter \"query\": %s",
                                   err->message);
    int status = 422;
    if (strcmp(type, "timeout") == 0)
        status = 503;
    else if (strcmp(type, "canceled") == 0)
        status = 499;
    else if (strcmp(type, "internal") == 0)
        status = 500;
    return http_response_error(resp, status, type, "%s", err->message);
}

int api_put_strings(buf_t *out, const char *const *v, size_t n)
{
    int rc = buf_putc(out, '[');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = buf_putc(out, ',');
        rc = rc ? rc : buf_put_json_string(out, v[i]);
    }
    return rc ? rc : buf_putc(out, ']');
}

/* {"status":"success","data":<result>[,"warnings":[..]][,"infos":[..]]} */
static int answer_result(http_response_t *resp, const promql_result_t *r)
{
    http_response_set_content_type(resp, "application/json");
    buf_t *b = &resp->body;
    int rc = buf_puts(b, "{\"status\":\"success\",\"data\":");
    rc = rc ? rc : api_put_result(b, r);
    if (rc == 0 && r->n_warnings > 0) {
        rc = buf_puts(b, ",\"warnings\":");
        rc = rc ? rc : api_put_strings(b, r->warnings, r->n_warnings);
    }
    if (rc == 0 && r->n_infos > 0) {
        rc = buf_puts(b, ",\"infos\":");
        rc = rc ? rc : api_put_strings(b, r->infos, r->n_infos);
    }
    return rc ? rc : buf_putc(b, '}');
}

static int handle_query(http_request_t *req, http_response_t *resp, void *ctx)
{
    api_t *api = ctx;
    bool answered;
    int64_t t;
    int rc = api_time_param(req, resp, "time", api_now_ms(api), &t, &answered);
    if (answered || rc != 0)
        return rc;
    query_abort_t qa;
    rc = timeout_param(req, resp, &qa, &answered);
    if (answered || rc != 0)
        return rc;
    const char *q = http_request_param(req, "query");
    promql_query_opts_t qo = { .cancelled = request_cancelled, .cancel_ctx = &qa };
    promql_result_t *r;
    vigil_error_t err;
    rc = promql_query_instant(api->engine, &api->storage, q != NULL ? q : "", t, &qo, &r, &err);
    if (rc != 0)
        return query_error(resp, rc, &err, &qa);
    rc = answer_result(resp, r);
    promql_result_free(r);
    return rc;
}

static int handle_query_range(http_request_t *req, http_response_t *resp, void *ctx)
{
    api_t *api = ctx;
    static const char *const required[] = { "start", "end", "step" };
    for (size_t i = 0; i < 3; i++) {
        const char *v = http_request_param(req, required[i]);
        if (v == NULL || v[0] == '\0')
            return http_response_error(resp, 400, "bad_data",
                                       "invalid parameter \"%s\": cannot parse \"\" to a valid %s",
                                       required[i], i < 2 ? "timestamp" : "duration");
    }
    bool answered;
    int64_t start, end, step;
    int rc = api_time_param(req, resp, "start", 0, &start, &answered);
    if (answered || rc != 0)
        return rc;
    rc = api_time_param(req, resp, "end", 0, &end, &answered);
    if (answered || rc != 0)
        return rc;
    if (end < start)
        return http_response_error(resp, 400, "bad_data",
                                   "invalid parameter \"end\": end timestamp must not be before "
                                   "start time");
    vigil_error_t err;
    if (api_parse_duration(http_request_param(req, "step"), &step, &err) != 0)
        return api_bad_param(resp, "step", &err);
    if (step <= 0)
        return http_response_error(resp, 400, "bad_data",
                                   "invalid parameter \"step\": zero or negative query resolution "
                                   "step widths are not accepted. Try a positive integer");
    if ((end - start) / step > API_MAX_POINTS)
        return http_response_error(resp, 400, "bad_data",
                                   "exceeded maximum resolution of 11,000 points per timeseries. "
                                   "Try decreasing the query resolution (?step=XX)");
    query_abort_t qa;
    rc = timeout_param(req, resp, &qa, &answered);
    if (answered || rc != 0)
        return rc;
    const char *q = http_request_param(req, "query");
    promql_query_opts_t qo = { .cancelled = request_cancelled, .cancel_ctx = &qa };
    promql_result_t *r;
    rc = promql_query_range(api->engine, &api->storage, q != NULL ? q : "", start, end, step, &qo,
                            &r, &err);
    if (rc != 0)
        return query_error(resp, rc, &err, &qa);
    rc = answer_result(resp, r);
    promql_result_free(r);
    return rc;
}

static int handle_format_query(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)ctx;
    const char *q = http_request_param(req, "query");
    buf_t formatted;
    buf_init(&formatted, 1 << 20);
    vigil_error_t err;
    int rc = promql_format(q != NULL ? q : "", true, &formatted, &err);
    if (rc == VIGIL_EPARSE) {
        buf_free(&formatted);
        return http_response_error(resp, 400, "bad_data", "invalid parameter \"query\": %s",
                                   err.message);
    }
    if (rc == 0) {
        http_response_set_content_type(resp, "application/json");
        rc = buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
        rc = rc ? rc : buf_put_json_string(&resp->body, formatted.data ? formatted.data : "");
        rc = rc ? rc : buf_putc(&resp->body, '}');
    }
    buf_free(&formatted);
    return rc;
}

int api_answer_strings(http_response_t *resp, const char *const *v, size_t n,
                       const char *warning)
{
    http_response_set_content_type(resp, "application/json");
    int rc = buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
    rc = rc ? rc : api_put_strings(&resp->body, v, n);
    if (rc == 0 && warning != NULL) {
        rc = buf_puts(&resp->body, ",\"warnings\":");
        rc = rc ? rc : api_put_strings(&resp->body, &warning, 1);
    }
    return rc ? rc : buf_putc(&resp->body, '}');
}

/* /api/v1/parse_query: the expression's syntax tree (ast.c). */
static int handle_parse_query(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)ctx;
    const char *q = http_request_param(req, "query");
    buf_t tree;
    buf_init(&tree, 16u << 20);
    vigil_error_t err;
    int rc = api_parse_query_json(q != NULL ? q : "", &tree, &err);
    if (rc == VIGIL_EPARSE || rc == VIGIL_ENOTSUP) {
        rc = http_response_error(resp, 400, "bad_data", "invalid parameter \"query\": %s",
                                 err.message);
    } else if (rc == 0) {
        http_response_set_content_type(resp, "application/json");
        rc = buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
        rc = rc ? rc : buf_append(&resp->body, tree.data, tree.len);
        rc = rc ? rc : buf_putc(&resp->body, '}');
    }
    buf_free(&tree);
    return rc;
}

static int handle_buildinfo(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    http_response_set_content_type(resp, "application/json");
    return buf_printf(&resp->body,
                      "{\"status\":\"success\",\"data\":{\"version\":\"%s\",\"revision\":\"%s\","
                      "\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\"}}",
                      VIGIL_VERSION, VIGIL_REVISION);
}

static int handle_runtimeinfo(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    api_t *api = ctx;
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        cwd[0] = '\0';
    time_t start = (time_t)(api->start_time_ms / 1000);
    struct tm tm;
    gmtime_r(&start, &tm);
    char started[64];
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
    http_response_set_content_type(resp, "application/json");
    int rc = buf_printf(&resp->body,
                        "{\"status\":\"success\",\"data\":{\"startTime\":\"%s\",\"CWD\":", started);
    rc = rc ? rc : buf_put_json_string(&resp->body, cwd);
    rc = rc ? rc : buf_printf(&resp->body,
                              ",\"reloadConfigSuccess\":true,\"lastConfigTime\":\"%s\","
                              "\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":%ld,"
                              "\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":",
                              started, sysconf(_SC_NPROCESSORS_ONLN));
    rc = rc ? rc : buf_put_json_string(&resp->body, api->retention ? api->retention : "");
    return rc ? rc : buf_puts(&resp->body, "}}");
}

static int handle_flags(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    api_t *api = ctx;
    http_response_set_content_type(resp, "application/json");
    int rc = buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
    rc = rc ? rc : (api->flags_json ? api->flags_json(api->ctx, &resp->body)
                                    : buf_puts(&resp->body, "{}"));
    return rc ? rc : buf_putc(&resp->body, '}');
}

static int handle_config(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    api_t *api = ctx;
    buf_t yaml;
    buf_init(&yaml, 16u << 20);
    int rc = api->config_yaml ? api->config_yaml(api->ctx, &yaml) : 0;
    if (rc == 0) {
        http_response_set_content_type(resp, "application/json");
        rc = buf_puts(&resp->body, "{\"status\":\"success\",\"data\":{\"yaml\":");
        rc = rc ? rc : buf_put_json_string(&resp->body, yaml.data ? yaml.data : "");
        rc = rc ? rc : buf_puts(&resp->body, "}}");
    }
    buf_free(&yaml);
    return rc;
}

static const http_route_t api_table[] = {
    { HTTP_GET | HTTP_POST, "/api/v1/query", "query", handle_query, NULL },
    { HTTP_GET | HTTP_POST, "/api/v1/query_range", "query_range", handle_query_range, NULL },
    { HTTP_GET | HTTP_POST, "/api/v1/format_query", "format_query", handle_format_query, NULL },
    { HTTP_GET | HTTP_POST, "/api/v1/parse_query", "parse_query", handle_parse_query, NULL },
    { HTTP_GET | HTTP_POST, "/api/v1/series", "series", api_handle_series, NULL },
    { HTTP_GET | HTTP_POST, "/api/v1/labels", "labels", api_handle_labels, NULL },
    { HTTP_GET, "/api/v1/label/{name}/values", "label_values", api_handle_label_values, NULL },
    { HTTP_GET, "/api/v1/metadata", "metadata", api_handle_metadata, NULL },
    { HTTP_GET, "/api/v1/status/buildinfo", "buildinfo", handle_buildinfo, NULL },
    { HTTP_GET, "/api/v1/status/runtimeinfo", "runtimeinfo", handle_runtimeinfo, NULL },
    { HTTP_GET, "/api/v1/status/flags", "flags", handle_flags, NULL },
    { HTTP_GET, "/api/v1/status/config", "config", handle_config, NULL },
};

size_t api_routes(api_t *api, http_route_t *out, size_t cap)
{
    size_t n = sizeof(api_table) / sizeof(api_table[0]);
    for (size_t i = 0; i < n && i < cap; i++) {
        out[i] = api_table[i];
        out[i].ctx = api;
    }
    return n;
}
