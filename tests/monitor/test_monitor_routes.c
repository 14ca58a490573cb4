/* Tests of the agent's monitoring routes (src/agent/monitor_routes.c) over real HTTP: the
 * service is started as agent.c will start it, its route table served by the HTTP layer on
 * 127.0.0.1 (a free port), and requests made with libcurl. Covers every endpoint's success
 * shape (Prometheus envelope) and the bad-input cases: malformed JSON (byte offset), wrong
 * types and missing fields (field named), unknown id, double end — each with nothing
 * recorded — and internal failures (out of memory) answering 500, never 400. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/monitor_routes.h"
#include "config/config.h"
#include "http/http.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct env {
    char                    dir[64];
    config_t                cfg;
    vigil_registry_t       *reg;
    vigil_health_checker_t *health;
    monitor_service_t      *svc;
    http_route_t            routes[32];
    http_server_t          *srv;
    int                     port;
} env_t;

static int setup(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/vigil-routes-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    config_init(&e->cfg);
    vigil_error_t err;
    assert_int_equal(config_set(&e->cfg, "storage.path", e->dir, &err), 0);
    assert_int_equal(config_set(&e->cfg, "collect.path.procfs", "tests/monitor/fixtures/at",
                                &err), 0);
    assert_int_equal(vigil_registry_new(NULL, &e->reg, &err), 0);
    assert_int_equal(vigil_health_create(&e->health, &err), 0);
    assert_int_equal(monitor_service_start(&e->svc, &e->cfg, e->reg, e->health, NULL, NULL, &err),
                     0);
    size_t n = monitor_routes(e->svc, e->routes, 32);
    assert_true(n <= 32);
    http_server_options_t o = { .listen = "127.0.0.1:0", .routes = e->routes, .route_count = n };
    assert_int_equal(http_server_start(&e->srv, &o, &err), 0);
    e->port = http_server_port(e->srv);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_t *e = *state;
    http_server_stop(e->srv);
    monitor_service_stop(e->svc);
    vigil_health_free(e->health);
    vigil_registry_free(e->reg);
    config_free(&e->cfg);
    rmdir(e->dir);
    free(e);
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    buf_t *b = ctx;
    return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* Makes one request; returns the status and the parsed body (caller json_decref()s). */
static long req(env_t *e, const char *method, const char *path, const char *body, json_t **out)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", e->port, path);
    CURL *c = curl_easy_init();
    buf_t b;
    buf_init(&b, 1u << 20);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_error_t je;
    *out = json_loadb(b.data ? b.data : "", b.len, 0, &je);
    if (*out == NULL)
        fail_msg("%s %s: not JSON: %s", method, path, b.data ? b.data : "");
    buf_free(&b);
    return status;
}

static const char *error_of(json_t *o)
{
    assert_string_equal(json_string_value(json_object_get(o, "status")), "error");
    return json_string_value(json_object_get(o, "error"));
}

static json_t *data_of(json_t *o)
{
    assert_string_equal(json_string_value(json_object_get(o, "status")), "success");
    return json_object_get(o, "data");
}

static json_int_t started(env_t *e)
{
    json_t *o;
    assert_int_equal(req(e, "GET", "/api/v1/operations/stats", NULL, &o), 200);
    json_int_t n = json_integer_value(json_object_get(data_of(o), "started"));
    json_decref(o);
    return n;
}

static void test_operations(void **state)
{
    env_t *e = *state;
    json_t *o;
    assert_int_equal(req(e, "POST", "/api/v1/operations",
                         "{\"id\":\"op-123\",\"type\":\"evaluate\",\"metadata\":{\"model_id\":"
                         "\"gpt2\",\"batch\":8,\"ci\":true}}", &o), 201);
    assert_string_equal(json_string_value(json_object_get(data_of(o), "id")), "op-123");
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations", "{\"type\":\"train\"}", &o), 201);
    assert_string_equal(json_string_value(json_object_get(data_of(o), "id")), "op-1");
    json_decref(o);
    assert_int_equal(started(e), 2);

    /* Bad input: 4xx naming the byte or field; nothing recorded. */
    assert_int_equal(req(e, "POST", "/api/v1/operations", "{\"type\": \"x\",}", &o), 400);
    assert_non_null(strstr(error_of(o), "byte 14"));  /* jansson: bytes read at the error */
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations", "", &o), 400);
    assert_non_null(strstr(error_of(o), "invalid JSON"));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations", "[1]", &o), 400);
    assert_non_null(strstr(error_of(o), "JSON object"));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations", "{\"type\":7}", &o), 400);
    assert_non_null(strstr(error_of(o), "\"type\""));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations", "{\"id\":\"a\"}", &o), 400);
    assert_non_null(strstr(error_of(o), "\"type\": required"));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations",
                         "{\"type\":\"t\",\"metadata\":{\"k\":[1]}}", &o), 400);
    assert_non_null(strstr(error_of(o), "metadata.k"));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations", "{\"type\":\"t\",\"typo\":1}", &o),
                     400);
    assert_non_null(strstr(error_of(o), "\"typo\""));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations", "{\"id\":\"op-123\",\"type\":\"t\"}",
                         &o), 409);
    json_decref(o);
    assert_int_equal(started(e), 2);

    assert_int_equal(req(e, "POST", "/api/v1/operations/op-123/end", "{\"status\":1}", &o), 400);
    assert_non_null(strstr(error_of(o), "\"status\""));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations/op-123/end",
                         "{\"status\":\"success\",\"metrics\":{\"r\":\"x\"}}", &o), 400);
    assert_non_null(strstr(error_of(o), "metrics.r"));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations/op-123/end",
                         "{\"status\":\"success\",\"metrics\":{\"ratio_vs_baseline\":1.02}}",
                         &o), 200);
    assert_string_equal(json_string_value(json_object_get(data_of(o), "status")), "success");
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations/op-123/end", "{\"status\":\"success\"}",
                         &o), 409);
    assert_non_null(strstr(error_of(o), "already ended"));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/operations/nope/end", "{\"status\":\"error\"}", &o),
                     404);
    json_decref(o);

    assert_int_equal(req(e, "GET", "/api/v1/operations/stats", NULL, &o), 200);
    json_t *d = data_of(o);
    assert_int_equal(json_integer_value(json_object_get(d, "finished")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "in_flight")), 1);
    json_t *ev = json_object_get(json_object_get(d, "types"), "evaluate");
    assert_int_equal(json_integer_value(json_object_get(ev, "count")), 1);
    assert_non_null(json_object_get(json_object_get(ev, "percentiles"), "p99"));
    json_decref(o);
    assert_int_equal(req(e, "GET", "/api/v1/operations?count=5", NULL, &o), 200);
    json_t *first = json_array_get(data_of(o), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(first, "metadata"),
                                                          "batch")), "8");
    json_decref(o);
    assert_int_equal(req(e, "GET", "/api/v1/operations?count=-1", NULL, &o), 400);
    json_decref(o);
}

static void test_pipelines_and_alerts(void **state)
{
    env_t *e = *state;
    json_t *o;
    assert_int_equal(req(e, "PUT", "/api/v1/pipelines/inference/baseline",
                         "{\"execution_time\":0.05}", &o), 200);
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/pipelines/inference/executions",
                         "{\"execution_time\":0.048,\"success\":true}", &o), 200);
    assert_string_equal(json_string_value(json_object_get(data_of(o), "health")), "healthy");
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/pipelines/inference/executions",
                         "{\"execution_time\":\"slow\",\"success\":false}", &o), 400);
    assert_non_null(strstr(error_of(o), "execution_time"));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/pipelines/inference/executions",
                         "{\"execution_time\":0.15,\"success\":\"no\"}", &o), 400);
    assert_non_null(strstr(error_of(o), "\"success\""));
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/pipelines/inference/executions",
                         "{\"execution_time\":0.150,\"success\":false,\"metadata\":{\"error\":"
                         "\"timeout\"}}", &o), 200);
    json_decref(o);
    assert_int_equal(req(e, "GET", "/api/v1/pipelines", NULL, &o), 200);
    json_t *d = data_of(o);
    assert_string_equal(json_string_value(json_object_get(d, "overall_health")), "degraded");
    json_t *p = json_object_get(json_object_get(d, "pipelines"), "inference");
    assert_int_equal(json_integer_value(json_object_get(p, "total_executions")), 2);
    assert_true(json_number_value(json_object_get(p, "success_rate")) == 0.5);
    json_decref(o);

    /* canary: 0.9 -> 0.8 is an 11 % drop: CRITICAL */
    assert_int_equal(req(e, "POST", "/api/v1/canaries/apps/checks", "{\"score\":0.8}", &o), 404);
    json_decref(o);
    assert_int_equal(req(e, "PUT", "/api/v1/canaries/apps/baseline", "{\"score\":0.9}", &o), 200);
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/canaries/apps/checks", "{\"score\":0.8}", &o), 200);
    assert_string_equal(json_string_value(json_object_get(data_of(o), "status")), "degraded");
    json_decref(o);

    assert_int_equal(req(e, "GET", "/api/v1/monitor/alerts?severity=critical", NULL, &o), 200);
    json_t *alerts = json_object_get(data_of(o), "alerts");
    assert_int_equal(json_array_size(alerts), 1);
    const char *msg = json_string_value(json_object_get(json_array_get(alerts, 0), "message"));
    assert_non_null(strstr(msg, "baseline: 0.9"));
    assert_non_null(strstr(msg, "current: 0.8"));
    json_decref(o);
    assert_int_equal(req(e, "GET", "/api/v1/monitor/alerts?count=1", NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(data_of(o), "alerts")), 1);
    assert_int_equal(json_integer_value(json_object_get(data_of(o), "total")), 2);
    json_decref(o);
    assert_int_equal(req(e, "GET", "/api/v1/monitor/alerts?severity=fatal", NULL, &o), 400);
    assert_non_null(strstr(error_of(o), "severity"));
    json_decref(o);

    /* thresholds over HTTP */
    assert_int_equal(req(e, "PUT", "/api/v1/monitor/thresholds/latency",
                         "{\"value\":1.5,\"direction\":\"sideways\"}", &o), 400);
    json_decref(o);
    assert_int_equal(req(e, "PUT", "/api/v1/monitor/thresholds/latency", "{\"value\":1.5}", &o),
                     200);
    json_decref(o);
    assert_int_equal(req(e, "POST", "/api/v1/monitor/metrics/latency", "{\"value\":2}", &o), 200);
    json_decref(o);
    assert_int_equal(req(e, "GET", "/api/v1/monitor/thresholds", NULL, &o), 200);
    json_t *h = json_object_get(json_object_get(data_of(o), "metric_history"), "latency");
    assert_true(json_number_value(json_object_get(h, "latest")) == 2);
    json_decref(o);

    assert_int_equal(req(e, "GET", "/api/v1/monitor/status", NULL, &o), 200);
    assert_true(json_is_true(json_object_get(data_of(o), "running")));
    json_decref(o);
    assert_int_equal(req(e, "GET", "/api/v1/monitor/resources", NULL, &o), 200);
    assert_true(json_number_value(json_object_get(data_of(o), "memory_percent")) == 85.0);
    json_decref(o);
    assert_int_equal(req(e, "DELETE", "/api/v1/monitor/alerts", NULL, &o), 200);
    json_decref(o);
    assert_int_equal(req(e, "GET", "/api/v1/monitor/alerts", NULL, &o), 200);
    assert_int_equal(json_array_size(json_object_get(data_of(o), "alerts")), 0);
    json_decref(o);

    /* the data_dir check the service registered */
    vigil_health_result_t r;
    assert_int_equal(vigil_health_check_one(e->health, "data_dir", &r), 0);
    assert_int_equal(r.status, VIGIL_HEALTH_HEALTHY);
    /* every alert is counted on the registry */
    char *text;
    vigil_error_t err;
    assert_int_equal(vigil_registry_expose(e->reg, VIGIL_FORMAT_TEXT, &text, NULL, &err), 0);
    assert_non_null(strstr(text, "vigil_monitor_alerts_total{severity=\"CRITICAL\","
                                 "metric=\"canary:apps\"} 1\n"));
    free(text);
}

/* Library errors: bad input is 400 with the library's message, an internal failure (out of
 * memory, I/O, system calls, any code added later) is 500 "internal", never 400. */
static void test_error_statuses(void **state)
{
    (void)state;
    assert_int_equal(monitor_routes_status(VIGIL_EINVAL), 400);
    assert_int_equal(monitor_routes_status(VIGIL_ERANGE), 400);
    assert_int_equal(monitor_routes_status(VIGIL_EPARSE), 400);
    assert_int_equal(monitor_routes_status(VIGIL_ENOENT), 404);
    assert_int_equal(monitor_routes_status(VIGIL_EEXIST), 409);
    assert_int_equal(monitor_routes_status(VIGIL_ESTATE), 409);
    assert_int_equal(monitor_routes_status(VIGIL_ELIMIT), 429);
    assert_int_equal(monitor_routes_status(VIGIL_ENOMEM), 500);
    assert_int_equal(monitor_routes_status(VIGIL_EIO), 500);
    assert_int_equal(monitor_routes_status(VIGIL_ESYS), 500);
    assert_int_equal(monitor_routes_status(VIGIL_EBUSY), 500);
    assert_int_equal(monitor_routes_status(VIGIL_ETIMEOUT), 500);
    assert_int_equal(monitor_routes_status(-99), 500);
}

/* jansson's allocator for the out-of-memory test: fails on every thread but the test's own,
 * so the handler's parse runs out of memory while this thread still reads the answer. */
static pthread_t test_thread;

static void *failing_malloc(size_t n)
{
    return pthread_equal(pthread_self(), test_thread) ? malloc(n) : NULL;
}

static void test_out_of_memory_is_500(void **state)
{
    env_t *e = *state;
    json_t *o;
    /* the library's bad-input message comes through, with 400 */
    assert_int_equal(req(e, "POST", "/api/v1/operations", "{\"id\":\"a b\",\"type\":\"t\"}", &o),
                     400);
    assert_string_equal(json_string_value(json_object_get(o, "errorType")), "bad_data");
    assert_non_null(strstr(error_of(o), "id: 1.."));
    json_decref(o);
    /* the handler's JSON parse out of memory: 500 internal, not "invalid JSON" */
    test_thread = pthread_self();
    json_set_alloc_funcs(failing_malloc, free);
    long status = req(e, "POST", "/api/v1/operations", "{\"type\":\"train\"}", &o);
    json_set_alloc_funcs(malloc, free);
    assert_int_equal(status, 500);
    assert_string_equal(json_string_value(json_object_get(o, "errorType")), "internal");
    assert_string_equal(error_of(o), "body: out of memory parsing the JSON");
    json_decref(o);
    /* nothing was recorded, and the next request is served as usual */
    assert_int_equal(started(e), 0);
    assert_int_equal(req(e, "POST", "/api/v1/operations", "{\"type\":\"train\"}", &o), 201);
    json_decref(o);
    assert_int_equal(started(e), 1);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_operations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelines_and_alerts, setup, teardown),
        cmocka_unit_test(test_error_statuses),
        cmocka_unit_test_setup_teardown(test_out_of_memory_is_500, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
