/* Unit tests of src/http/wire.c, the request syntax without I/O: where a head ends, what the
 * parser accepts and refuses (with which status), and the chunked decoder, which must give the
 * same result however the body is split across reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A string literal with its length, so NULs inside it count. */
#define S(lit) (lit), sizeof(lit) - 1

/* ---- http_head_length */

static void test_head_length_complete_heads(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t      len;
        size_t      want;
    } cases[] = {
        { S("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 27 },
        { S("GET / HTTP/1.1\nHost: a\n\n"), 24 },
        { S("GET / HTTP/1.1\r\nHost: a\n\r\n"), 26 },
        { S("GET / HTTP/1.1\nHost: a\r\n\n"), 25 },
        { S("GET / HTTP/1.0\r\n\r\n"), 18 },
        /* Stray empty lines before the request line belong to the head. */
        { S("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 31 },
        { S("\n\nGET / HTTP/1.0\n\n"), 18 },
        /* The length stops at the empty line; what follows is body or the next request. */
        { S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"), 47 },
        { S("POST / HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\n"), 28 },
        { S("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 27 },
        /* Not complete: no empty line yet, only empty lines, nothing, a CR alone. */
        { S("GET / HTTP/1.1\r\nHost: a\r\n"), 0 },
        { S("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0 },
        { S("\r\n\r\n\r\n"), 0 },
        { S(""), 0 },
        /* A CR that is not followed by LF ends neither the line nor the head. */
        { S("GET / HTTP/1.1\r\nX: a\r\rb\r\n\r\n"), 27 },
        { S("GET / HTTP/1.1\n\r\r\n"), 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t got = http_head_length(cases[i].in, cases[i].len);
        if (got != cases[i].want)
            fail_msg("case %zu: length %zu, want %zu", i, got, cases[i].want);
    }
}

/* The server asks again after every read: no prefix of a head may look complete, and once it
 * is, more bytes must not move its end. */
static void test_head_length_prefixes(void **state)
{
    (void)state;
    static const char *const heads[] = {
        "GET /api/v1/query?query=up HTTP/1.1\r\nHost: localhost:9100\r\nAccept: */*\r\n\r\n",
        "GET / HTTP/1.1\nHost: a\n\n",
        "\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n",
        "GET / HTTP/1.0\r\n\n",
    };
    for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
        size_t head_len = strlen(heads[h]);
        char buf[256];
        /* Body bytes that themselves look like line ends and heads. */
        int n = snprintf(buf, sizeof(buf), "%s\r\n\r\nGET / HTTP/1.1\r\n\r\n", heads[h]);
        assert_true(n > 0 && (size_t)n < sizeof(buf));
        for (size_t p = 0; p <= (size_t)n; p++) {
            size_t want = p < head_len ? 0 : head_len;
            size_t got = http_head_length(buf, p);
            if (got != want)
                fail_msg("head %zu, prefix %zu: length %zu, want %zu", h, p, got, want);
        }
    }
}

/* ---- http_head_parse */

/* The parser works in place on a buffer with one spare byte; this keeps that buffer alive for
 * as long as the head's strings are looked at. */
typedef struct parsed {
    char         *buf;
    http_head_t   head;
    vigil_error_t err;
    int           rc;
} parsed_t;

static int parse_n(parsed_t *p, const char *in, size_t len)
{
    p->buf = malloc(len + 1);
    assert_non_null(p->buf);
    memcpy(p->buf, in, len);
    p->buf[len] = 'X'; /* the spare byte is the parser's to use, not a terminator */
    memset(&p->err, 0, sizeof(p->err));
    p->rc = http_head_parse(p->buf, len, &p->head, &p->err);
    return p->rc;
}

static int parse(parsed_t *p, const char *in)
{
    return parse_n(p, in, strlen(in));
}

static void parsed_free(parsed_t *p)
{
    http_head_free(&p->head);
    assert_null(p->head.fields);
    assert_int_equal(p->head.field_count, 0);
    free(p->buf);
}

/* Parses `in` expecting success and returns the framing flags as a short string, so the many
 * framing cases below read as one table. */
static void framing_of(const char *in, char *out, size_t size)
{
    parsed_t p;
    if (parse(&p, in) != 0) {
        snprintf(out, size, "%d %s", p.rc, p.err.message);
    } else {
        snprintf(out, size, "cl=%s%llu te=%d ka=%d ec=%d",
                 p.head.has_content_length ? "" : "-",
                 (unsigned long long)p.head.content_length, p.head.chunked, p.head.keep_alive,
                 p.head.expect_continue);
    }
    parsed_free(&p);
}

static void test_head_parse_request_line_and_fields(void **state)
{
    (void)state;
    parsed_t p;
    assert_int_equal(parse(&p, "GET /api/v1/query?query=up&time=1 HTTP/1.1\r\n"
                               "Host:  localhost:9100 \r\n"
                               "User-Agent:\tcurl/8.5.0\t\r\n"
                               "Accept:*/*\r\n"
                               "X-Empty:\r\n"
                               "X-Blank:   \r\n"
                               "X-Inner: a \t b\r\n"
                               "\r\n"),
                     0);
    assert_string_equal(p.head.method, "GET");
    assert_string_equal(p.head.target, "/api/v1/query?query=up&time=1");
    assert_int_equal(p.head.minor, 1);
    assert_int_equal(p.head.field_count, 6);
    static const char *const want[][2] = {
        { "Host", "localhost:9100" }, { "User-Agent", "curl/8.5.0" }, { "Accept", "*/*" },
        { "X-Empty", "" },            { "X-Blank", "" },              { "X-Inner", "a \t b" },
    };
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(p.head.fields[i].name, want[i][0]);
        assert_string_equal(p.head.fields[i].value, want[i][1]);
        /* Everything points into the caller's buffer. */
        assert_true(p.head.fields[i].name >= p.buf && p.head.fields[i].value >= p.buf);
    }
    assert_false(p.head.has_content_length);
    assert_false(p.head.chunked);
    assert_true(p.head.keep_alive);
    assert_false(p.head.expect_continue);
    assert_string_equal(http_head_field(&p.head, "host"), "localhost:9100");
    assert_string_equal(http_head_field(&p.head, "USER-AGENT"), "curl/8.5.0");
    assert_string_equal(http_head_field(&p.head, "x-empty"), "");
    assert_null(http_head_field(&p.head, "Content-Type"));
    assert_null(http_head_field(&p.head, "Hos"));
    parsed_free(&p);

    /* Any token is a method; bare LF line ends; an HTTP/1.0 head with no fields at all. */
    assert_int_equal(parse(&p, "PROPFIND /a%20b HTTP/1.0\n\n"), 0);
    assert_string_equal(p.head.method, "PROPFIND");
    assert_string_equal(p.head.target, "/a%20b");
    assert_int_equal(p.head.minor, 0);
    assert_int_equal(p.head.field_count, 0);
    assert_null(http_head_field(&p.head, "Host"));
    parsed_free(&p);

    /* Leading empty lines are skipped; bytes after the empty line are not parsed. */
    assert_int_equal(parse(&p, "\r\n\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nnot: parsed\r\n"), 0);
    assert_string_equal(p.head.method, "OPTIONS");
    assert_string_equal(p.head.target, "*");
    assert_int_equal(p.head.field_count, 1);
    assert_null(http_head_field(&p.head, "not"));
    parsed_free(&p);

    /* A head cut short before its empty line still parses; the last line takes the spare byte
     * as its terminator. */
    assert_int_equal(parse(&p, "GET / HTTP/1.0\r\nX-Last: v"), 0);
    assert_int_equal(p.head.field_count, 1);
    assert_string_equal(http_head_field(&p.head, "x-last"), "v");
    parsed_free(&p);

    /* What http_head_length delimits is what the server hands the parser. */
    static const char req[] = "POST /api/v1/write HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                              "\r\nbody";
    size_t head_len = http_head_length(req, sizeof(req) - 1);
    assert_int_equal(head_len, sizeof(req) - 1 - 4);
    assert_int_equal(parse_n(&p, req, head_len), 0);
    assert_string_equal(p.head.target, "/api/v1/write");
    assert_int_equal(p.head.content_length, 4);
    parsed_free(&p);
}

static void test_head_parse_repeated_fields(void **state)
{
    (void)state;
    parsed_t p;
    assert_int_equal(parse(&p, "GET / HTTP/1.1\r\nAccept: text/plain\r\nHost: a\r\n"
                               "accept: application/json\r\nACCEPT: */*\r\n\r\n"),
                     0);
    assert_int_equal(p.head.field_count, 4);
    assert_string_equal(p.head.fields[0].value, "text/plain");
    assert_string_equal(p.head.fields[2].name, "accept");
    assert_string_equal(p.head.fields[2].value, "application/json");
    assert_string_equal(p.head.fields[3].name, "ACCEPT");
    assert_string_equal(p.head.fields[3].value, "*/*");
    /* The first one wins. */
    assert_string_equal(http_head_field(&p.head, "Accept"), "text/plain");
    parsed_free(&p);
}

static void test_head_parse_framing(void **state)
{
    (void)state;
#define H11 "POST / HTTP/1.1\r\nHost: a\r\n"
#define H10 "POST / HTTP/1.0\r\n"
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        { H11 "Content-Length: 42\r\n\r\n", "cl=42 te=0 ka=1 ec=0" },
        { H11 "Content-Length: 0\r\n\r\n", "cl=0 te=0 ka=1 ec=0" },
        { H11 "content-length:007\r\n\r\n", "cl=7 te=0 ka=1 ec=0" },
        { H11 "Content-Length: 1000000000000000000\r\n\r\n",
          "cl=1000000000000000000 te=0 ka=1 ec=0" },
        { H11 "Content-Length: 5\r\ncontent-length: 5\r\n\r\n", "cl=5 te=0 ka=1 ec=0" },
        { H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
          "400 conflicting Content-Length headers" },
        { H11 "Content-Length: +5\r\n\r\n", "400 invalid Content-Length \"+5\"" },
        { H11 "Content-Length: -1\r\n\r\n", "400 invalid Content-Length \"-1\"" },
        { H11 "Content-Length: 5a\r\n\r\n", "400 invalid Content-Length \"5a\"" },
        { H11 "Content-Length: 0x10\r\n\r\n", "400 invalid Content-Length \"0x10\"" },
        { H11 "Content-Length: 1 2\r\n\r\n", "400 invalid Content-Length \"1 2\"" },
        /* A list in one field is refused, as Go does, not compared element by element. */
        { H11 "Content-Length: 5, 5\r\n\r\n", "400 invalid Content-Length \"5, 5\"" },
        { H11 "Content-Length:\r\n\r\n", "400 empty Content-Length" },
        { H11 "Content-Length:  \r\n\r\n", "400 empty Content-Length" },
        { H11 "Content-Length: 18446744073709551616\r\n\r\n",
          "400 invalid Content-Length \"18446744073709551616\"" },
        { H11 "Content-Length: 99999999999999999999999\r\n\r\n",
          "400 invalid Content-Length \"99999999999999999999999\"" },
        { H11 "Transfer-Encoding: chunked\r\n\r\n", "cl=-0 te=1 ka=1 ec=0" },
        { H11 "transfer-encoding: Chunked\r\n\r\n", "cl=-0 te=1 ka=1 ec=0" },
        { H11 "Transfer-Encoding:  CHUNKED \r\n\r\n", "cl=-0 te=1 ka=1 ec=0" },
        { H11 "Transfer-Encoding: gzip\r\n\r\n",
          "501 Transfer-Encoding \"gzip\" not supported" },
        { H11 "Transfer-Encoding: gzip, chunked\r\n\r\n",
          "501 Transfer-Encoding \"gzip, chunked\" not supported" },
        { H11 "Transfer-Encoding: chunked, chunked\r\n\r\n",
          "501 Transfer-Encoding \"chunked, chunked\" not supported" },
        { H11 "Transfer-Encoding:\r\n\r\n", "501 Transfer-Encoding \"\" not supported" },
        { H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
          "501 Transfer-Encoding \"chunked\" not supported" },
        { H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
          "400 both Content-Length and Transfer-Encoding" },
        { H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
          "400 both Content-Length and Transfer-Encoding" },
        { H10 "Transfer-Encoding: chunked\r\n\r\n",
          "400 Transfer-Encoding in an HTTP/1.0 request" },
        { H10 "Content-Length: 3\r\n\r\n", "cl=3 te=0 ka=0 ec=0" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[600];
        framing_of(cases[i].in, got, sizeof(got));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: \"%s\", want \"%s\"", i, got, cases[i].want);
    }
}

static void test_head_parse_connection(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        /* Host: required on HTTP/1.1 only; an empty one is still a Host header. */
        { "GET / HTTP/1.1\r\n\r\n", "400 missing required Host header" },
        { "GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", "400 missing required Host header" },
        { "GET / HTTP/1.1\r\nHost:\r\n\r\n", "cl=-0 te=0 ka=1 ec=0" },
        { "GET / HTTP/1.0\r\n\r\n", "cl=-0 te=0 ka=0 ec=0" },
        /* Persistence: on by default in 1.1, off in 1.0; "close" wins over "keep-alive". */
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "cl=-0 te=0 ka=0 ec=0" },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n",
          "cl=-0 te=0 ka=0 ec=0" },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
          "cl=-0 te=0 ka=0 ec=0" },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", "cl=-0 te=0 ka=1 ec=0" },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
          "cl=-0 te=0 ka=1 ec=0" },
        { "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "cl=-0 te=0 ka=1 ec=0" },
        { "GET / HTTP/1.0\r\nconnection: TE ,\tKeep-Alive \r\n\r\n", "cl=-0 te=0 ka=1 ec=0" },
        { "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", "cl=-0 te=0 ka=0 ec=0" },
        { "GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n", "cl=-0 te=0 ka=0 ec=0" },
        /* Expect: only 100-continue, and only an HTTP/1.1 client waits for it. */
        { "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n",
          "cl=1 te=0 ka=1 ec=1" },
        { "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n", "cl=-0 te=0 ka=1 ec=1" },
        { "PUT / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n",
          "cl=1 te=0 ka=0 ec=0" },
        { "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n",
          "417 unsupported expectation \"200-ok\"" },
        { "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n",
          "417 unsupported expectation \"100-continue, x\"" },
        { "PUT / HTTP/1.0\r\nExpect: x\r\n\r\n", "417 unsupported expectation \"x\"" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[600];
        framing_of(cases[i].in, got, sizeof(got));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: \"%s\", want \"%s\"", i, got, cases[i].want);
    }
}

static void test_head_parse_versions(void **state)
{
    (void)state;
    parsed_t p;
    /* A later 1.x minor is read as the highest we speak (RFC 9110 §2.5), so the answer is an
     * HTTP/1.1 one with 1.1 rules. */
    assert_int_equal(parse(&p, "GET / HTTP/1.9\r\nHost: a\r\n\r\n"), 0);
    assert_int_equal(p.head.minor, 1);
    assert_true(p.head.keep_alive);
    parsed_free(&p);
    assert_int_equal(parse(&p, "GET / HTTP/1.2\r\n\r\n"), 400);
    assert_string_equal(p.err.message, "missing required Host header");
    parsed_free(&p);

    static const struct {
        const char *line;
        int         status;
        const char *message;
    } cases[] = {
        { "GET / HTTP/2.0", 505, "HTTP version HTTP/2.0 not supported" },
        { "GET / HTTP/0.9", 505, "HTTP version HTTP/0.9 not supported" },
        { "GET / HTTP/1.x", 400, "malformed HTTP version" },
        { "GET / HTTP/1.", 400, "malformed HTTP version" },
        { "GET / HTTP/1", 400, "malformed HTTP version" },
        { "GET / HTTP/1.10", 400, "malformed HTTP version" },
        { "GET / HTTP/11.1", 400, "malformed HTTP version" },
        { "GET / http/1.1", 400, "malformed HTTP version" },
        { "GET / HTTP/1.1\r", 400, "malformed HTTP version" },
        { "GET / ", 400, "malformed HTTP version" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char in[128];
        snprintf(in, sizeof(in), "%s\r\nHost: a\r\n\r\n", cases[i].line);
        int rc = parse(&p, in);
        if (rc != cases[i].status || strcmp(p.err.message, cases[i].message) != 0)
            fail_msg("\"%s\": %d \"%s\", want %d \"%s\"", cases[i].line, rc, p.err.message,
                     cases[i].status, cases[i].message);
        parsed_free(&p);
    }
}

static void test_head_parse_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t      len;
        const char *message;  /* all are 400 */
    } cases[] = {
        { S(""), "empty request" },
        { S("\r\n\r\n"), "empty request" },
        /* Request line: exactly two single spaces, a token method, a non-empty target. */
        { S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), "malformed request line" },
        { S("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), "malformed request line" },
        { S(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "malformed request line" },
        { S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), "malformed request line" },
        { S("GET /\r\nHost: a\r\n\r\n"), "malformed request line" },
        { S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), "malformed request line" },
        { S("GET\r\n\r\n"), "malformed request line" },
        { S("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid method" },
        { S("G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid method" },
        { S("GET /a\x01z HTTP/1.1\r\nHost: a\r\n\r\n"),
          "invalid character 0x01 in request target" },
        { S("GET /a\tz HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid character 0x09 in request target" },
        { S("GET /a\x7fz HTTP/1.1\r\nHost: a\r\n\r\n"),
          "invalid character 0x7f in request target" },
        { S("GET /a\rz HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid character 0x0d in request target" },
        /* NUL anywhere in the head: it would cut the strings short. */
        { S("GET /a\0z HTTP/1.1\r\nHost: a\r\n\r\n"), "NUL byte in request head" },
        { S("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n"), "NUL byte in request head" },
        { S("GET / HTTP/1.1\r\nHost: a\r\n\0\r\n"), "NUL byte in request head" },
        /* Header lines. */
        { S("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
          "obsolete line folding in headers" },
        { S("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n"),
          "obsolete line folding in headers" },
        { S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), "obsolete line folding in headers" },
        { S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), "invalid header name" },
        { S("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), "invalid header name" },
        { S("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n"), "invalid header name" },
        { S("GET / HTTP/1.1\r\nHost a\r\n\r\n"), "malformed header line" },
        { S("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n"), "malformed header line" },
        { S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n"),
          "invalid character 0x01 in header X" },
        { S("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"),
          "invalid character 0x7f in header X" },
        { S("GET / HTTP/1.1\r\nHost: a\r\nX: a\rz\r\n\r\n"), "invalid character 0x0d in header X" },
        { S("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n"), "invalid character 0x0d in header X" },
        { S("GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m\r\n\r\n"),
          "invalid character 0x1b in header X" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parsed_t p;
        int rc = parse_n(&p, cases[i].in, cases[i].len);
        if (rc != 400 || strcmp(p.err.message, cases[i].message) != 0)
            fail_msg("case %zu: %d \"%s\", want 400 \"%s\"", i, rc, p.err.message,
                     cases[i].message);
        assert_int_equal(p.err.code, VIGIL_EPARSE);
        parsed_free(&p);
    }

    /* A tab inside a value and bytes above 0x7f are field content, not control characters. */
    parsed_t p;
    assert_int_equal(parse(&p, "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\nX: a\tb \xc3\xa9\r\n\r\n"), 0);
    assert_string_equal(p.head.target, "/\xc3\xa9");
    assert_string_equal(http_head_field(&p.head, "X"), "a\tb \xc3\xa9");
    parsed_free(&p);
}

/* ---- http_chunked_decode */

typedef struct decoded {
    int           rc;        /* of the last call */
    size_t        consumed;  /* bytes used over all calls */
    size_t        calls;
    char          data[1 << 17];
    size_t        data_len;
    vigil_error_t err;
} decoded_t;

/*
 * Decodes `n` bytes handing the decoder at most `step` bytes a call (0: all that is left),
 * the way the server would as reads arrive, until it finishes, fails or runs out of input.
 * Checks the interface's promises on every call.
 */
static void decode_steps(const char *in, size_t n, size_t step, decoded_t *d)
{
    http_chunked_t c;
    memset(&c, 0, sizeof(c));
    memset(d, 0, sizeof(*d));
    size_t pos = 0;
    do {
        size_t avail = n - pos;
        if (step != 0 && avail > step)
            avail = step;
        size_t used = 99;
        const char *data = (const char *)1;
        size_t data_len = 99;
        d->rc = http_chunked_decode(&c, in + pos, avail, &used, &data, &data_len, &d->err);
        d->calls++;
        assert_true(used <= avail);
        if (d->rc < 0) {
            assert_int_equal(d->rc, VIGIL_EPARSE);
            assert_int_equal(used, 0);
            break;
        }
        assert_true(d->rc == 0 || d->rc == 1);
        /* Progress: the server loops on this, so 0 on non-empty input must consume. */
        if (d->rc == 0 && avail > 0)
            assert_true(used >= 1);
        if (data_len > 0) {
            assert_true(data >= in + pos && data + data_len <= in + pos + used);
            assert_true(d->data_len + data_len <= sizeof(d->data));
            memcpy(d->data + d->data_len, data, data_len);
            d->data_len += data_len;
        }
        pos += used;
    } while (d->rc == 0 && pos < n);
    d->consumed = pos;
}

/* Decodes `body` whole, one byte at a time and in every step size; all must agree. Returns
 * the whole-input result in *d. */
static void decode_all_ways(const char *body, size_t n, decoded_t *d)
{
    decode_steps(body, n, 0, d);
    decoded_t *other = malloc(sizeof(*other));
    assert_non_null(other);
    size_t max_step = n < 64 ? n : 64;
    for (size_t step = 1; step <= max_step; step++) {
        decode_steps(body, n, step, other);
        if (d->rc < 0) {
            /* What was consumed before the failing call depends on the split; the byte
             * offset in the message must not. */
            assert_int_equal(other->rc, d->rc);
            assert_string_equal(other->err.message, d->err.message);
            continue;
        }
        if (other->rc != d->rc || other->consumed != d->consumed ||
            other->data_len != d->data_len || memcmp(other->data, d->data, d->data_len) != 0)
            fail_msg("step %zu: rc %d consumed %zu data %zu; whole: rc %d consumed %zu data %zu",
                     step, other->rc, other->consumed, other->data_len, d->rc, d->consumed,
                     d->data_len);
    }
    free(other);
}

static void test_chunked_valid_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *data;
    } cases[] = {
        { "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world" },
        { "0\r\n\r\n", "" },
        /* Bare LF line ends, as Go accepts. */
        { "5\nhello\n0\n\n", "hello" },
        /* Extensions are skipped, with or without blanks before them. */
        { "5;name=value\r\nhello\r\n1 ;x=\"a;b\"\r\n!\r\n0;last\r\n\r\n", "hello!" },
        { "3\t \r\nabc\r\n0 \r\n\r\n", "abc" },
        /* Hex sizes in either case, leading zeros. */
        { "A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij" },
        { "1F\r\n0123456789012345678901234567890\r\n0\r\n\r\n",
          "0123456789012345678901234567890" },
        { "0000000000000000000000005\r\nhello\r\n000\r\n\r\n", "hello" },
        /* Trailers are read past and dropped. */
        { "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n", "hello" },
        { "0\nTrailer: x\n\n", "" },
        /* Chunk data is opaque: line ends and hex inside it are data. */
        { "4\r\n\r\n0\n\r\n0\r\n\r\n", "\r\n0\n" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        decoded_t *d = malloc(sizeof(*d));
        assert_non_null(d);
        size_t n = strlen(cases[i].in);
        decode_all_ways(cases[i].in, n, d);
        if (d->rc != 1 || d->consumed != n || d->data_len != strlen(cases[i].data) ||
            memcmp(d->data, cases[i].data, d->data_len) != 0)
            fail_msg("case %zu: rc %d consumed %zu of %zu, data \"%.*s\"", i, d->rc,
                     d->consumed, n, (int)d->data_len, d->data);
        free(d);
    }
}

static void test_chunked_stops_after_last_chunk(void **state)
{
    (void)state;
    /* The next request on the connection follows the body: the decoder must leave it alone,
     * however the bytes arrive. */
    static const char *const bodies[] = {
        "5\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        "5\nhello\n0\n\n",
    };
    static const char next[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char in[128];
        size_t body_len = strlen(bodies[i]);
        snprintf(in, sizeof(in), "%s%s", bodies[i], next);
        decoded_t *d = malloc(sizeof(*d));
        assert_non_null(d);
        decode_all_ways(in, strlen(in), d);
        assert_int_equal(d->rc, 1);
        assert_int_equal(d->consumed, body_len);
        assert_int_equal(d->data_len, 5);
        free(d);
    }
}

/* One call hands out one run of data: a second chunk in the same input waits for the next
 * call, so the caller never loses a run. */
static void test_chunked_one_run_per_call(void **state)
{
    (void)state;
    static const char in[] = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    http_chunked_t c;
    memset(&c, 0, sizeof(c));
    size_t used;
    const char *data;
    size_t data_len;
    vigil_error_t err;
    assert_int_equal(http_chunked_decode(&c, in, sizeof(in) - 1, &used, &data, &data_len, &err),
                     0);
    assert_int_equal(used, 13); /* up to the start of "world" */
    assert_ptr_equal(data, in + 3);
    assert_int_equal(data_len, 5);
    size_t off = used;
    assert_int_equal(http_chunked_decode(&c, in + off, sizeof(in) - 1 - off, &used, &data,
                                         &data_len, &err),
                     1);
    assert_int_equal(off + used, sizeof(in) - 1);
    assert_ptr_equal(data, in + 13);
    assert_int_equal(data_len, 5);

    /* Nothing to read: nothing consumed, nothing handed out. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(http_chunked_decode(&c, in, 0, &used, &data, &data_len, &err), 0);
    assert_int_equal(used, 0);
    assert_int_equal(data_len, 0);

    /* A chunk larger than what has arrived gives what is there and waits for the rest. */
    assert_int_equal(http_chunked_decode(&c, "10\r\nabc", 7, &used, &data, &data_len, &err), 0);
    assert_int_equal(used, 7);
    assert_int_equal(data_len, 3);
    assert_int_equal(c.left, 13);

    /* The largest size that fits 64 bits is accepted (the caller limits bodies itself). */
    memset(&c, 0, sizeof(c));
    assert_int_equal(http_chunked_decode(&c, S("0000ffffffffffffffff\r\nab"), &used, &data,
                                         &data_len, &err),
                     0);
    assert_int_equal(data_len, 2);
    assert_true(c.left == UINT64_MAX - 2);
}

static void test_chunked_errors(void **state)
{
    (void)state;
    static char long_ext[5000 + 8];
    memcpy(long_ext, "1;", 2);
    memset(long_ext + 2, 'x', 5000);
    memcpy(long_ext + 5002, "\r\n", 3);
    static char long_zeros[4200 + 4];
    memset(long_zeros, '0', 4200);
    memcpy(long_zeros + 4200, "\r\n", 3);
    static const struct {
        const char *in;
        const char *message;
    } cases[] = {
        { "\r\n", "chunked body: missing chunk size at byte 0" },
        { ";x\r\n", "chunked body: missing chunk size at byte 0" },
        { "x\r\n", "chunked body: missing chunk size at byte 0" },
        { " 5\r\n", "chunked body: missing chunk size at byte 0" },
        { "-5\r\n", "chunked body: missing chunk size at byte 0" },
        { "0x5\r\n", "chunked body: invalid chunk size at byte 1" },
        { "5g\r\n", "chunked body: invalid chunk size at byte 1" },
        { "5 5\r\n", "chunked body: invalid chunk size line at byte 2" },
        { "5\r\nhello\r\nzz\r\n", "chunked body: missing chunk size at byte 10" },
        /* 16 significant digits fit in 64 bits, 17 do not. */
        { "10000000000000000\r\n", "chunked body: chunk size too large at byte 16" },
        { "00fffffffffffffffff\r\n", "chunked body: chunk size too large at byte 18" },
        { "5\r\nhelloX\r\n0\r\n\r\n", "chunked body: chunk data longer than its size at byte 8" },
        { "5\r\nhello5\r\n", "chunked body: chunk data longer than its size at byte 8" },
        { "5\rX", "chunked body: CR without LF after chunk size at byte 2" },
        { "5 \rX", "chunked body: CR without LF after chunk size at byte 3" },
        { "5\r\nhello\rX", "chunked body: CR without LF after chunk data at byte 9" },
        { "5\r\nhello\r\r\n", "chunked body: CR without LF after chunk data at byte 9" },
        { "0\r\n\rX", "chunked body: CR without LF at the end of the trailers at byte 4" },
        { long_ext, "chunked body: chunk size line too long at byte 4096" },
        { long_zeros, "chunked body: chunk size line too long at byte 4096" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        decoded_t *d = malloc(sizeof(*d));
        assert_non_null(d);
        decode_all_ways(cases[i].in, strlen(cases[i].in), d);
        if (d->rc != VIGIL_EPARSE || strcmp(d->err.message, cases[i].message) != 0)
            fail_msg("case %zu: rc %d \"%s\", want \"%s\"", i, d->rc, d->err.message,
                     cases[i].message);
        free(d);
    }

    /* Long but within the limits: a 4000-byte size line, 60 KiB of trailers. */
    char *big = malloc(70 << 10);
    assert_non_null(big);
    size_t n = 0;
    n += (size_t)sprintf(big, "1;");
    memset(big + n, 'x', 4000);
    n += 4000;
    n += (size_t)sprintf(big + n, "\r\n!\r\n0\r\n");
    for (int i = 0; i < 600; i++)
        n += (size_t)sprintf(big + n, "X-Trailer-%03d: %080d\r\n", i, i);
    assert_true(n < (62u << 10));
    n += (size_t)sprintf(big + n, "\r\n");
    decoded_t *d = malloc(sizeof(*d));
    assert_non_null(d);
    decode_steps(big, n, 0, d);
    assert_int_equal(d->rc, 1);
    assert_int_equal(d->consumed, n);
    assert_int_equal(d->data_len, 1);
    decode_steps(big, n, 1, d);
    assert_int_equal(d->rc, 1);
    assert_int_equal(d->consumed, n);

    /* The limit is the same for every size line: the line end of the chunk before does not
     * count towards the next one (4095 bytes and its CR are the most a line may hold). */
    for (int second = 0; second < 2; second++) {
        n = (size_t)sprintf(big, "%s1;", second ? "1\r\nA\r\n" : "");
        memset(big + n, 'x', 4093);
        n += 4093;
        n += (size_t)sprintf(big + n, "\r\nB\r\n0\r\n\r\n");
        decode_steps(big, n, 0, d);
        assert_int_equal(d->rc, 1);
        assert_int_equal(d->consumed, n);
    }

    /* Trailers past 64 KiB are refused, not buffered forever. */
    n = (size_t)sprintf(big, "0\r\n");
    while (n < (65u << 10))
        n += (size_t)sprintf(big + n, "X-Trailer: %0100d\r\n", 0);
    decode_steps(big, n, 0, d);
    assert_int_equal(d->rc, VIGIL_EPARSE);
    assert_non_null(strstr(d->err.message, "chunked body: trailers too long at byte "));
    decoded_t *bytewise = malloc(sizeof(*bytewise));
    assert_non_null(bytewise);
    decode_steps(big, n, 1, bytewise);
    assert_int_equal(bytewise->rc, VIGIL_EPARSE);
    assert_string_equal(bytewise->err.message, d->err.message);
    free(bytewise);
    free(d);
    free(big);
}

static void test_chunked_fails_for_good(void **state)
{
    (void)state;
    http_chunked_t c;
    memset(&c, 0, sizeof(c));
    size_t used;
    const char *data;
    size_t data_len;
    vigil_error_t err;
    assert_int_equal(http_chunked_decode(&c, S("5\r\nhel"), &used, &data, &data_len, &err), 0);
    assert_int_equal(data_len, 3);
    /* "lo" completes the chunk in the failing call, yet none of it is handed out. */
    assert_int_equal(http_chunked_decode(&c, S("loX"), &used, &data, &data_len, &err),
                     VIGIL_EPARSE);
    assert_int_equal(used, 0);
    assert_null(data);
    assert_int_equal(data_len, 0);
    assert_string_equal(err.message, "chunked body: chunk data longer than its size at byte 8");
    /* Valid bytes after the error change nothing: the stream's framing is lost. */
    for (int i = 0; i < 3; i++) {
        used = 99;
        data_len = 99;
        assert_int_equal(http_chunked_decode(&c, S("\r\n0\r\n\r\n"), &used, &data, &data_len,
                                             &err),
                         VIGIL_EPARSE);
        assert_int_equal(used, 0);
        assert_int_equal(data_len, 0);
        assert_non_null(strstr(err.message, "already failed"));
    }
    assert_int_equal(http_chunked_decode(&c, "", 0, &used, &data, &data_len, NULL),
                     VIGIL_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_length_complete_heads),
        cmocka_unit_test(test_head_length_prefixes),
        cmocka_unit_test(test_head_parse_request_line_and_fields),
        cmocka_unit_test(test_head_parse_repeated_fields),
        cmocka_unit_test(test_head_parse_framing),
        cmocka_unit_test(test_head_parse_connection),
        cmocka_unit_test(test_head_parse_versions),
        cmocka_unit_test(test_head_parse_malformed),
        cmocka_unit_test(test_chunked_valid_bodies),
        cmocka_unit_test(test_chunked_stops_after_last_chunk),
        cmocka_unit_test(test_chunked_one_run_per_call),
        cmocka_unit_test(test_chunked_errors),
        cmocka_unit_test(test_chunked_fails_for_good),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
