/* The API's endpoints over real HTTP (the http server on 127.0.0.1, libcurl as the client) and
 * an in-memory store: series, labels and label values with match[] unions and limits,
 * metadata, parse_query, GET and form POST, the `timeout` parameter, and Prometheus's exact
 * JSON and error texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/ingest.h"
#include "api/api.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct fixture {
    promql_memstore_t *mem;
    promql_engine_t   *engine;
    ingest_metadata_t *meta;
    api_t              api;
    http_server_t     *srv;
    int                port;
    /* A store that sleeps in select(), to make a query outlast its `timeout`. */
    promql_storage_t   slow;
    promql_storage_ops_t slow_ops;
} fixture_t;

static int64_t pinned_now(void)
{
    return 1700000000000;
}

static void add(fixture_t *f, const char *name, const char *k, const char *v, int64_t t, double val)
{
    promql_label_t ls[] = { { "__name__", name }, { k, v } };
    assert_int_equal(promql_memstore_add(f->mem, ls, k != NULL ? 2 : 1, t, val, false), 0);
}

static int slow_select(void *ctx, const promql_matcher_t *ms, size_t n, int64_t mint,
                       int64_t maxt, promql_series_set_t **out, vigil_error_t *err)
{
    struct timespec ts = { 0, 50 * 1000000L };
    nanosleep(&ts, NULL);
    promql_storage_t inner = promql_memstore_storage(ctx); /* ctx: the memstore */
    return inner.ops->select(inner.ctx, ms, n, mint, maxt, out, err);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->mem = promql_memstore_create();
    f->engine = promql_engine_create(NULL);
    f->meta = ingest_metadata_new();
    assert_non_null(f->mem);
    assert_non_null(f->engine);
    assert_non_null(f->meta);
    for (int64_t t = 1000; t <= 60000; t += 1000) {
        add(f, "up", "job", "a", t, 1);
        add(f, "up", "job", "b", t, 0);
        add(f, "http_requests_total", "code", "200", t, (double)t / 1000);
        add(f, "http_requests_total", "code", "500", t, 2);
    }
    add(f, "late", "zone", "z", 100000, 5); /* only outside [1s, 60s] */
    f->api = (api_t){ .engine = f->engine, .storage = promql_memstore_storage(f->mem),
                      .now_ms = pinned_now, .metadata = ingest_metadata_walk,
                      .metadata_ctx = f->meta };
    /* Metadata the way an import records it. */
    static const char text[] = "# HELP up Whether the target is up.\n# TYPE up gauge\nup 1\n"
                               "# TYPE http_requests_total counter\nhttp_requests_total 3\n";
    tsdb_t *db;
    tsdb_options_t to = { .dir = NULL };
    vigil_error_t err;
    assert_int_equal(tsdb_open(&db, &to, NULL, &err), 0);
    ingest_options_t io = { .format = EXPFMT_TEXT, .default_time_ms = 1000, .metadata = f->meta };
    ingest_result_t res;
    assert_int_equal(ingest_exposition(db, text, sizeof(text) - 1, &io, &res, &err), 0);
    tsdb_close(db);

    f->slow_ops = *f->api.storage.ops;
    f->slow_ops.select = slow_select;
    f->slow = (promql_storage_t){ &f->slow_ops, f->mem };

    size_t n = api_routes(&f->api, NULL, 0);
    http_route_t *routes = calloc(n, sizeof(*routes));
    assert_non_null(routes);
    api_routes(&f->api, routes, n);
    http_server_options_t o = { .listen = "127.0.0.1:0", .threads = 2, .routes = routes,
                                .route_count = n };
    assert_int_equal(http_server_start(&f->srv, &o, &err), 0);
    free(routes); /* the server copied the table */
    f->port = http_server_port(f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    http_server_stop(f->srv);
    promql_engine_free(f->engine);
    promql_memstore_free(f->mem);
    ingest_metadata_free(f->meta);
    free(f);
    return 0;
}

/* ---- a small curl client */

typedef struct reply {
    long  status;
    buf_t body;
} reply_t;

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
    return buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

/* GET path?query, or POST path with `form` as an urlencoded body when form is not NULL. The
 * caller frees the reply with reply_free(). */
static reply_t *fetch(const fixture_t *f, const char *path, const char *form)
{
    reply_t *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    buf_init(&r->body, 16 << 20);
    char url[2048];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    if (form != NULL)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form); /* application/x-www-form-urlencoded */
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    buf_putc(&r->body, '\0');
    return r;
}

static void reply_free(reply_t *r)
{
    buf_free(&r->body);
    free(r);
}

static void expect(const fixture_t *f, const char *path, const char *form, long status,
                   const char *body)
{
    reply_t *r = fetch(f, path, form);
    if (strcmp(r->body.data, body) != 0 || r->status != status)
        print_error("%s -> %ld %s\n", path, r->status, r->body.data);
    assert_int_equal(r->status, status);
    assert_string_equal(r->body.data, body);
    reply_free(r);
}

/* ---- tests */

static void test_series(void **state)
{
    fixture_t *f = *state;
    expect(f, "/api/v1/series", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\","
           "\"error\":\"no match[] parameter provided\"}");
    /* Union of two overlapping selectors, deduplicated, sorted by labels. */
    expect(f, "/api/v1/series?match[]=up&match[]=%7Bjob%3D%22a%22%7D&match[]=up%7Bjob%3D%22a%22%7D",
           NULL, 200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"job\":\"a\"},"
           "{\"__name__\":\"up\",\"job\":\"b\"}]}");
    /* The same as a form POST, with a window and a limit. */
    expect(f, "/api/v1/series", "match[]=%7B__name__%3D~%22.%2B%22%7D&start=0&end=60&limit=2",
           200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"http_requests_total\","
           "\"code\":\"200\"},{\"__name__\":\"http_requests_total\",\"code\":\"500\"}],"
           "\"warnings\":[\"results truncated due to limit\"]}");
    /* (The memstore hands out series regardless of the window; the real store's filtering by
     * start/end is covered by tests/integration/test_query_api.py.) */
    expect(f, "/api/v1/series?match[]=late&start=99", NULL, 200,
           "{\"status\":\"success\",\"data\":[{\"__name__\":\"late\",\"zone\":\"z\"}]}");
    expect(f, "/api/v1/series?match[]=%7Bjob%3D~%22.*%22%7D", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\","
           "\"error\":\"match[] must contain at least one non-empty matcher\"}");
    reply_t *r = fetch(f, "/api/v1/series?match[]=up%7B", NULL);
    assert_int_equal(r->status, 400);
    assert_non_null(strstr(r->body.data, "\"errorType\":\"bad_data\",\"error\":\"1:4: parse error"));
    reply_free(r);
    expect(f, "/api/v1/series?match[]=up&limit=-1", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\","
           "\"error\":\"invalid parameter \\\"limit\\\": limit must be non-negative\"}");
    expect(f, "/api/v1/series?match[]=up&start=x", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"start\\\": cannot parse \\\"x\\\" to a valid timestamp\"}");
}

static void test_labels(void **state)
{
    fixture_t *f = *state;
    expect(f, "/api/v1/labels", NULL, 200,
           "{\"status\":\"success\",\"data\":[\"__name__\",\"code\",\"job\",\"zone\"]}");
    expect(f, "/api/v1/labels?match[]=up&match[]=http_requests_total", NULL, 200,
           "{\"status\":\"success\",\"data\":[\"__name__\",\"code\",\"job\"]}");
    expect(f, "/api/v1/labels", "match[]=up&limit=1", 200,
           "{\"status\":\"success\",\"data\":[\"__name__\"],"
           "\"warnings\":[\"results truncated due to limit\"]}");
    expect(f, "/api/v1/label/job/values", NULL, 200,
           "{\"status\":\"success\",\"data\":[\"a\",\"b\"]}");
    expect(f, "/api/v1/label/__name__/values?match[]=%7Bjob%3D%22b%22%7D&match[]=late", NULL, 200,
           "{\"status\":\"success\",\"data\":[\"late\",\"up\"]}");
    expect(f, "/api/v1/label/code/values?limit=1", NULL, 200,
           "{\"status\":\"success\",\"data\":[\"200\"],"
           "\"warnings\":[\"results truncated due to limit\"]}");
    expect(f, "/api/v1/label/nope/values", NULL, 200, "{\"status\":\"success\",\"data\":[]}");
    expect(f, "/api/v1/labels?limit=x", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"limit\\\": strconv.Atoi: parsing \\\"x\\\": invalid syntax\"}");
}

static void test_metadata(void **state)
{
    fixture_t *f = *state;
    expect(f, "/api/v1/metadata", NULL, 200,
           "{\"status\":\"success\",\"data\":{\"http_requests_total\":[{\"type\":\"counter\","
           "\"help\":\"\",\"unit\":\"\"}],\"up\":[{\"type\":\"gauge\","
           "\"help\":\"Whether the target is up.\",\"unit\":\"\"}]}}");
    expect(f, "/api/v1/metadata?metric=up&limit_per_metric=1", NULL, 200,
           "{\"status\":\"success\",\"data\":{\"up\":[{\"type\":\"gauge\","
           "\"help\":\"Whether the target is up.\",\"unit\":\"\"}]}}");
    expect(f, "/api/v1/metadata?limit=1", NULL, 200,
           "{\"status\":\"success\",\"data\":{\"http_requests_total\":[{\"type\":\"counter\","
           "\"help\":\"\",\"unit\":\"\"}]}}");
    expect(f, "/api/v1/metadata?limit=0", NULL, 200, "{\"status\":\"success\",\"data\":{}}");
    expect(f, "/api/v1/metadata?limit=a", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"limit must be a number\"}");
}

static void test_queries_get_and_post(void **state)
{
    fixture_t *f = *state;
    static const char want[] = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
                               "\"result\":[{\"metric\":{},\"value\":[30,\"1\"]}]}}";
    expect(f, "/api/v1/query?query=sum(up)&time=30", NULL, 200, want);
    expect(f, "/api/v1/query", "query=sum(up)&time=30", 200, want);
    expect(f, "/api/v1/query_range", "query=sum(up)&start=30&end=31&step=1", 200,
           "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":"
           "[{\"metric\":{},\"values\":[[30,\"1\"],[31,\"1\"]]}]}}");
    expect(f, "/api/v1/format_query", "query=sum(up)by(job)", 200,
           "{\"status\":\"success\",\"data\":\"sum by (job) (up)\"}");
    expect(f, "/api/v1/query?query=up&timeout=soon", NULL, 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"timeout\\\": cannot parse \\\"soon\\\" to a valid duration\"}");
    expect(f, "/api/v1/query?query=sum(up)&time=30&timeout=1m", NULL, 200, want);
}

static void test_timeout(void **state)
{
    fixture_t *f = *state;
    /* The slow store sleeps 50 ms per select, past a 1 ms timeout before the first step. */
    f->api.storage = f->slow;
    reply_t *r = fetch(f, "/api/v1/query_range?query=up&start=1&end=60&step=1&timeout=1ms", NULL);
    f->api.storage = promql_memstore_storage(f->mem);
    assert_int_equal(r->status, 503);
    assert_string_equal(r->body.data,
                        "{\"status\":\"error\",\"errorType\":\"timeout\","
                        "\"error\":\"query timed out in expression evaluation\"}");
    reply_free(r);
}

static void test_parse_query_http(void **state)
{
    fixture_t *f = *state;
    expect(f, "/api/v1/parse_query?query=up", NULL, 200,
           "{\"status\":\"success\",\"data\":{\"matchers\":[{\"name\":\"__name__\",\"type\":\"=\","
           "\"value\":\"up\"}],\"name\":\"up\",\"offset\":0,\"startOrEnd\":null,"
           "\"timestamp\":null,\"type\":\"vectorSelector\"}}");
    expect(f, "/api/v1/parse_query", "query=1%2B", 400,
           "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
           "\\\"query\\\": 1:3: parse error: unexpected end of input\"}");
}

/* ---- parse_query's JSON without HTTP */

static void check_ast(const char *q, const char *want)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    vigil_error_t err;
    int rc = api_parse_query_json(q, &b, &err);
    if (rc != 0)
        print_error("%s: %s\n", q, err.message);
    assert_int_equal(rc, 0);
    buf_putc(&b, '\0');
    if (strcmp(b.data, want) != 0)
        print_error("%s\n got %s\nwant %s\n", q, b.data, want);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_ast(void **state)
{
    (void)state;
    check_ast("sum by (job) (rate(foo{a=\"b\"}[5m] offset 1m))",
              "{\"expr\":{\"args\":[{\"matchers\":[{\"name\":\"a\",\"type\":\"=\",\"value\":\"b\"},"
              "{\"name\":\"__name__\",\"type\":\"=\",\"value\":\"foo\"}],\"name\":\"foo\","
              "\"offset\":60000,\"range\":300000,\"startOrEnd\":null,\"timestamp\":null,"
              "\"type\":\"matrixSelector\"}],\"func\":{\"argTypes\":[\"matrix\"],\"name\":\"rate\","
              "\"returnType\":\"vector\",\"variadic\":0},\"type\":\"call\"},\"grouping\":[\"job\"],"
              "\"op\":\"sum\",\"param\":null,\"type\":\"aggregation\",\"without\":false}");
    check_ast("a / on(x) group_left(y) b",
              "{\"bool\":false,\"lhs\":{\"matchers\":[{\"name\":\"__name__\",\"type\":\"=\","
              "\"value\":\"a\"}],\"name\":\"a\",\"offset\":0,\"startOrEnd\":null,\"timestamp\":null,"
              "\"type\":\"vectorSelector\"},\"matching\":{\"card\":\"many-to-one\",\"include\":[\"y\"],"
              "\"labels\":[\"x\"],\"on\":true},\"op\":\"/\",\"rhs\":{\"matchers\":[{\"name\":"
              "\"__name__\",\"type\":\"=\",\"value\":\"b\"}],\"name\":\"b\",\"offset\":0,"
              "\"startOrEnd\":null,\"timestamp\":null,\"type\":\"vectorSelector\"},"
              "\"type\":\"binaryExpr\"}");
    check_ast("a and b",
              "{\"bool\":false,\"lhs\":{\"matchers\":[{\"name\":\"__name__\",\"type\":\"=\","
              "\"value\":\"a\"}],\"name\":\"a\",\"offset\":0,\"startOrEnd\":null,\"timestamp\":null,"
              "\"type\":\"vectorSelector\"},\"matching\":{\"card\":\"many-to-many\",\"include\":[],"
              "\"labels\":[],\"on\":false},\"op\":\"and\",\"rhs\":{\"matchers\":[{\"name\":"
              "\"__name__\",\"type\":\"=\",\"value\":\"b\"}],\"name\":\"b\",\"offset\":0,"
              "\"startOrEnd\":null,\"timestamp\":null,\"type\":\"vectorSelector\"},"
              "\"type\":\"binaryExpr\"}");
    check_ast("2 * -(1) > bool 1",
              "{\"bool\":true,\"lhs\":{\"bool\":false,\"lhs\":{\"type\":\"numberLiteral\",\"val\":\"2\"},"
              "\"matching\":null,\"op\":\"*\",\"rhs\":{\"expr\":{\"expr\":{\"type\":\"numberLiteral\","
              "\"val\":\"1\"},\"type\":\"parenExpr\"},\"op\":\"-\",\"type\":\"unaryExpr\"},"
              "\"type\":\"binaryExpr\"},\"matching\":null,\"op\":\">\",\"rhs\":{\"type\":"
              "\"numberLiteral\",\"val\":\"1\"},\"type\":\"binaryExpr\"}");
    check_ast("-1.5", "{\"type\":\"numberLiteral\",\"val\":\"-1.5\"}");
    check_ast("{__name__=~\"x.*\"} @ 100",
              "{\"matchers\":[{\"name\":\"__name__\",\"type\":\"=~\",\"value\":\"x.*\"}],\"name\":\"\","
              "\"offset\":0,\"startOrEnd\":null,\"timestamp\":100000,\"type\":\"vectorSelector\"}");
    check_ast("max_over_time(x[10m:1m] @ start() offset 5m)",
              "{\"args\":[{\"expr\":{\"matchers\":[{\"name\":\"__name__\",\"type\":\"=\",\"value\":"
              "\"x\"}],\"name\":\"x\",\"offset\":0,\"startOrEnd\":null,\"timestamp\":null,\"type\":"
              "\"vectorSelector\"},\"offset\":300000,\"range\":600000,\"startOrEnd\":\"start\","
              "\"step\":60000,\"timestamp\":null,\"type\":\"subquery\"}],\"func\":{\"argTypes\":"
              "[\"matrix\"],\"name\":\"max_over_time\",\"returnType\":\"vector\",\"variadic\":0},"
              "\"type\":\"call\"}");
    check_ast("topk(3, label_replace(x, \"a\", \"$1\", \"b\", \"(.*)\"))",
              "{\"expr\":{\"args\":[{\"matchers\":[{\"name\":\"__name__\",\"type\":\"=\",\"value\":"
              "\"x\"}],\"name\":\"x\",\"offset\":0,\"startOrEnd\":null,\"timestamp\":null,\"type\":"
              "\"vectorSelector\"},{\"type\":\"stringLiteral\",\"val\":\"a\"},{\"type\":"
              "\"stringLiteral\",\"val\":\"$1\"},{\"type\":\"stringLiteral\",\"val\":\"b\"},{\"type\":"
              "\"stringLiteral\",\"val\":\"(.*)\"}],\"func\":{\"argTypes\":[\"vector\",\"string\","
              "\"string\",\"string\",\"string\"],\"name\":\"label_replace\",\"returnType\":\"vector\","
              "\"variadic\":0},\"type\":\"call\"},\"grouping\":[],\"op\":\"topk\",\"param\":{\"type\":"
              "\"numberLiteral\",\"val\":\"3\"},\"type\":\"aggregation\",\"without\":false}");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ast),
        cmocka_unit_test_setup_teardown(test_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries_get_and_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_query_http, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
