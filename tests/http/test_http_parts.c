/* Unit tests of the HTTP layer's pieces without a socket: percent-decoding, the query/form
 * parameter parser, route pattern compilation and matching, listen address splitting and the
 * response helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_pct_decode(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        bool        plus;
        const char *out;  /* NULL: VIGIL_EPARSE */
    } cases[] = {
        { "", true, "" },
        { "abc", true, "abc" },
        { "a%20b", true, "a b" },
        { "a+b", true, "a b" },
        { "a+b", false, "a+b" },
        { "%2f%2F", false, "//" },
        { "%C3%A9", true, "\xC3\xA9" },
        { "100%25", true, "100%" },
        { "%", true, NULL },
        { "%4", true, NULL },
        { "a%zz", true, NULL },
        { "%g0", true, NULL },
        { "%00", true, NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = strlen(cases[i].in);
        char *out = malloc(n + 1);
        size_t olen = 99;
        vigil_error_t err;
        int rc = http_pct_decode(cases[i].in, n, cases[i].plus, out, &olen, &err);
        if (cases[i].out == NULL) {
            assert_int_equal(rc, VIGIL_EPARSE);
            assert_non_null(strstr(err.message, "invalid URL escape"));
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(out, cases[i].out);
            assert_int_equal(olen, strlen(cases[i].out));
        }
        free(out);
    }
    /* A raw NUL inside the counted bytes is refused rather than cutting the value short. */
    char out[4];
    assert_int_equal(http_pct_decode("a\0b", 3, true, out, NULL, NULL), VIGIL_EPARSE);
}

/* Parses `s` and returns "name=value;" for every pair, or "ERR<code>". */
static void parse_to_string(const char *s, size_t len, char *out, size_t size)
{
    http_params_t p;
    http_params_init(&p);
    int rc = http_params_parse(&p, s, len, NULL);
    if (rc != 0) {
        snprintf(out, size, "ERR%d", rc);
    } else {
        size_t n = 0;
        out[0] = '\0';
        for (size_t i = 0; i < p.count; i++)
            n += (size_t)snprintf(out + n, size - n, "%s=%s;", p.items[i].name,
                                  p.items[i].value);
    }
    http_params_free(&p);
}

static void test_params_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "", "" },
        { "&&&", "" },
        { "a", "a=;" },
        { "a=", "a=;" },
        { "=v", "=v;" },
        { "a=1&b=2&a=3", "a=1;b=2;a=3;" },
        { "match%5B%5D=up&match[]=x+y", "match[]=up;match[]=x y;" },
        { "q=a%3Db%26c", "q=a=b&c;" },
        { "a=b=c", "a=b=c;" },
        { "a=1;b=2", "ERR-4" },
        { "a=%zz", "ERR-4" },
        { "a=1&b=%", "ERR-4" },
        { "%00=1", "ERR-4" },
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parse_to_string(cases[i].in, strlen(cases[i].in), out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
    /* Only `len` bytes count: no NUL needed after them. */
    parse_to_string("a=1&b=2", 3, out, sizeof(out));
    assert_string_equal(out, "a=1;");
}

static void test_params_limit_and_iteration(void **state)
{
    (void)state;
    size_t n = HTTP_PARAMS_MAX + 1;
    char *s = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = 'a';
        s[2 * i + 1] = '&';
    }
    http_params_t p;
    http_params_init(&p);
    vigil_error_t err;
    assert_int_equal(http_params_parse(&p, s, n * 2 - 2, &err), 0); /* exactly the max */
    assert_int_equal(p.count, HTTP_PARAMS_MAX);
    http_params_free(&p);
    assert_int_equal(http_params_parse(&p, s, n * 2, &err), VIGIL_ELIMIT);
    http_params_free(&p);
    free(s);

    /* Appending from two sources keeps the order; iteration finds every value. */
    assert_int_equal(http_params_parse(&p, "m=1&x=0", 7, NULL), 0);
    assert_int_equal(http_params_parse(&p, "m=2&m=3", 7, NULL), 0);
    size_t pos = 0;
    assert_string_equal(http_params_next(&p, "m", &pos), "1");
    assert_string_equal(http_params_next(&p, "m", &pos), "2");
    assert_string_equal(http_params_next(&p, "m", &pos), "3");
    assert_null(http_params_next(&p, "m", &pos));
    assert_null(http_params_next(&p, "m", &pos));
    pos = 0;
    assert_null(http_params_next(&p, "nope", &pos));
    http_params_free(&p);
}

static int h_nop(http_request_t *req, http_response_t *resp, void *ctx)
{
    return 0;
}

static int compile(http_croute_t *r, const char *pattern, vigil_error_t *err)
{
    http_route_t in = { HTTP_GET, pattern, "h", h_nop, NULL };
    return http_route_compile(r, &in, err);
}

static void test_route_compile_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "x", "/a/*/b", "/a/{}", "/a/{b c}", "/a/b{c}", "/a*", "/{a}/{a}", "/a/{b}}",
        "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21/22/23/24/25/26/27/28/29/30/"
        "31/32/33",
        "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        http_croute_t r;
        vigil_error_t err;
        assert_int_equal(compile(&r, bad[i], &err), VIGIL_EINVAL);
        assert_non_null(strstr(err.message, bad[i]));
    }
    http_croute_t r;
    http_route_t in = { 0, "/a", "h", h_nop, NULL };
    assert_int_equal(http_route_compile(&r, &in, NULL), VIGIL_EINVAL);
    in = (http_route_t){ HTTP_GET, "/a", "", h_nop, NULL };
    assert_int_equal(http_route_compile(&r, &in, NULL), VIGIL_EINVAL);
    in = (http_route_t){ HTTP_GET, NULL, "h", h_nop, NULL };
    assert_int_equal(http_route_compile(&r, &in, NULL), VIGIL_EINVAL);
}

/* Matches `path` against `pattern`; returns "" for no match, else "name=value;" per param. */
static void match_to_string(const char *pattern, const char *path, char *out, size_t size)
{
    http_croute_t r;
    assert_int_equal(compile(&r, pattern, NULL), 0);
    http_path_params_t pp = { .count = 0 };
    int m = http_route_match(&r, path, strlen(path), &pp);
    assert_int_equal(http_route_match(&r, path, strlen(path), NULL), m);
    snprintf(out, size, "%s", m == 1 ? "match;" : "");
    size_t n = strlen(out);
    for (size_t i = 0; i < pp.count; i++)
        n += (size_t)snprintf(out + n, size - n, "%s=%s;", pp.items[i].name, pp.items[i].value);
    if (m != 1)
        assert_int_equal(pp.count, 0);
    http_path_params_free(&pp);
    http_route_free(&r);
}

static void test_route_match(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *path, *want;
    } cases[] = {
        { "/", "/", "match;" },
        { "/", "/a", "" },
        { "/", "", "" },
        { "/metrics", "/metrics", "match;" },
        { "/metrics", "/metrics/", "" },
        { "/metrics", "/metric", "" },
        { "/metrics", "/metricsx", "" },
        { "/metrics", "metrics", "" },
        { "/a/", "/a/", "match;" },
        { "/a/", "/a", "" },
        { "/health/{component}", "/health/disk", "match;component=disk;" },
        { "/health/{component}", "/health/", "" },
        { "/health/{component}", "/health", "" },
        { "/health/{component}", "/health/a/b", "" },
        { "/api/v1/operations/{id}/end", "/api/v1/operations/op-1/end", "match;id=op-1;" },
        { "/api/v1/label/{name}/values", "/api/v1/label/a%2Fb/values", "match;name=a/b;" },
        { "/api/v1/label/{name}/values", "/api/v1/label/a/b/values", "" },
        { "/a/{x}/{y}", "/a/%7B%7D/+", "match;x={};y=+;" },
        { "/a b", "/a%20b", "match;" },
        { "/debug/*", "/debug/", "match;*=;" },
        { "/debug/*", "/debug/pprof/heap%3F", "match;*=pprof/heap?;" },
        { "/debug/*", "/debug", "" },
        { "/debug/*", "/debugx/", "" },
        { "/*", "/", "match;*=;" },
        { "/*", "/anything/at/all", "match;*=anything/at/all;" },
        { "/{a}/*", "/x/y", "match;a=x;*=y;" },
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        match_to_string(cases[i].pattern, cases[i].path, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%s vs %s: got \"%s\", want \"%s\"", cases[i].pattern, cases[i].path,
                     out, cases[i].want);
    }
}

static void test_listen_split(void **state)
{
    (void)state;
    static const struct {
        const char *in, *host;
        unsigned    port;
    } good[] = {
        { "127.0.0.1:9470", "127.0.0.1", 9470 },
        { "[::1]:9470", "::1", 9470 },
        { "[::]:0", "::", 0 },
        { ":9470", "", 9470 },
        { "localhost:65535", "localhost", 65535 },
    };
    char host[64];
    unsigned port;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(http_listen_split(good[i].in, host, sizeof(host), &port, NULL), 0);
        assert_string_equal(host, good[i].host);
        assert_int_equal(port, good[i].port);
    }
    static const char *const bad[] = { "", "9470", "host", "host:", ":", "h:-1", "h:1x",
                                       "h:65536", "h:99999999999999999999", "::1:80", "[::1]",
                                       "[::1]80", "[::1:80" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vigil_error_t err;
        assert_int_equal(http_listen_split(bad[i], host, sizeof(host), &port, &err),
                         VIGIL_EINVAL);
    }
    assert_int_equal(http_listen_split(NULL, host, sizeof(host), &port, NULL), VIGIL_EINVAL);
    assert_int_equal(http_listen_split("a-rather-long-host-name:80", host, 8, &port, NULL),
                     VIGIL_EINVAL);
}

static void test_response_helpers(void **state)
{
    (void)state;
    http_response_t r;
    http_response_init(&r, 1 << 10);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");

    assert_int_equal(http_response_error(&r, 422, "execution", "bad \"%s\"\n", "q"), 0);
    assert_int_equal(r.status, 422);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body.data, "{\"status\":\"error\",\"errorType\":\"execution\","
                                     "\"error\":\"bad \\\"q\\\"\\n\"}");
    assert_int_equal(http_response_json(&r, 200, "{\"status\":\"success\"}"), 0);
    assert_string_equal(r.body.data, "{\"status\":\"success\"}");
    assert_int_equal(http_response_text(&r, 503, "down"), 0);
    assert_string_equal(r.body.data, "down");
    assert_string_equal(r.content_type, "text/plain; charset=utf-8");

    /* Header names must be tokens; values may not split the header block. */
    assert_int_equal(http_response_set_header(&r, "", "v"), VIGIL_EINVAL);
    assert_int_equal(http_response_set_header(&r, "A B", "v"), VIGIL_EINVAL);
    assert_int_equal(http_response_set_header(&r, "A:B", "v"), VIGIL_EINVAL);
    assert_int_equal(http_response_set_header(&r, "X", "a\nb"), VIGIL_EINVAL);
    assert_int_equal(http_response_set_header(&r, "X", "a\rb"), VIGIL_EINVAL);
    assert_int_equal(http_response_set_header(&r, "content-length", "1"), VIGIL_EINVAL);
    assert_int_equal(http_response_set_header(&r, "Content-Type", "x"), VIGIL_EINVAL);
    assert_int_equal(r.header_count, 0);
    assert_int_equal(http_response_set_header(&r, "Content-Encoding", "gzip"), 0);
    assert_int_equal(http_response_set_header(&r, "content-encoding", "identity"), 0);
    assert_int_equal(r.header_count, 1);
    assert_string_equal(http_response_header(&r, "CONTENT-ENCODING"), "identity");
    assert_null(http_response_header(&r, "Allow"));
    char name[16];
    for (int i = 1; i < HTTP_RESPONSE_MAX_HEADERS; i++) {
        snprintf(name, sizeof(name), "X-%d", i);
        assert_int_equal(http_response_set_header(&r, name, "v"), 0);
    }
    assert_int_equal(http_response_set_header(&r, "X-Full", "v"), VIGIL_ELIMIT);
    assert_int_equal(http_response_set_header(&r, "X-1", "replaced"), 0); /* still allowed */
    http_response_free(&r);

    /* The body cap holds and a failed helper leaves an empty body, not half of one. */
    http_response_init(&r, 8);
    assert_int_equal(http_response_text(&r, 200, "0123456789"), VIGIL_ELIMIT);
    assert_int_equal(r.body.len, 0);
    assert_int_equal(http_response_error(&r, 400, "bad_data", "x"), VIGIL_ELIMIT);
    assert_int_equal(r.body.len, 0);
    http_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_params_parse),
        cmocka_unit_test(test_params_limit_and_iteration),
        cmocka_unit_test(test_route_compile_errors),
        cmocka_unit_test(test_route_match),
        cmocka_unit_test(test_listen_split),
        cmocka_unit_test(test_response_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
