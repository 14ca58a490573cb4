/* Wire-level tests of the HTTP server: raw sockets on 127.0.0.1 write exact request bytes and
 * read exact response bytes, where a client library would hide what went over the wire.
 * Covers pipelining, the EPOLLOUT path of a large response, HTTP/1.0 and Connection handling,
 * heads arriving a byte at a time, the errors the head parser answers (400, 417, 501, 505),
 * 100-continue, refused bodies with and without keeping the connection, chunked bodies,
 * 414/431 and the head limit's exact edge, the idle timeout, max_connections, HEAD, 204, the
 * Date header, stray CRLFs, half-closing clients, closing with client bytes unread, and stop
 * in the middle of a response. Every read has a 10 s SO_RCVTIMEO, so a hang fails instead of
 * blocking; no assertion depends on timing (the few sleeps only pace the client, so that the
 * server sees writes apart or a full socket). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http.h"
#include "http_test.h"
#include "log/log.h"
#include "util/buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_CAP    1024
#define HEADER_CAP  4096
#define BIG_DEFAULT ((size_t)8 << 20)

/* ---- the fixture: a server with its own routes and an observer that records events */

typedef struct fixture {
    http_server_t *srv;
    int            port;
    request_log_t  log;
} fixture_t;

static void expect_event(fixture_t *f, const char *handler, int status)
{
    request_log_expect(&f->log, 0, handler, status);
}

/* Byte `i` of the /big body: a pattern with a period (23) that no buffer size divides, so a
 * dropped or repeated block shows. */
static char big_byte(size_t i)
{
    return (char)('a' + i % 23);
}

static int h_ok(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    return http_response_text(resp, 200, "hello");
}

static int h_echo(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)ctx;
    size_t len;
    const char *body = http_request_body(req, &len);
    http_response_set_content_type(resp, "application/octet-stream");
    return buf_append(&resp->body, body, len);
}

/* GET /big?bytes=N: N bytes of big_byte() (BIG_DEFAULT without the parameter). */
static int h_big(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)ctx;
    const char *p = http_request_param(req, "bytes");
    size_t n = p != NULL ? (size_t)strtoull(p, NULL, 10) : BIG_DEFAULT;
    int rc = buf_reserve(&resp->body, n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        resp->body.data[i] = big_byte(i);
    resp->body.len = n;
    return 0;
}

/* A body written into a 204 answer must not reach the wire. */
static int h_no_content(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    return http_response_text(resp, 204, "must not be sent");
}

/* GET /meet: waits (at most 5 s) until MEET_COUNT requests are inside this handler at
 * once, then answers "together"; "alone" if they never were. */
#define MEET_COUNT 4
static pthread_mutex_t meet_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  meet_cond = PTHREAD_COND_INITIALIZER;
static int             meet_inside;

static int h_meet(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&meet_lock);
    meet_inside++;
    pthread_cond_broadcast(&meet_cond);
    while (meet_inside < MEET_COUNT &&
           pthread_cond_timedwait(&meet_cond, &meet_lock, &deadline) == 0)
        ;
    bool together = meet_inside >= MEET_COUNT;
    pthread_mutex_unlock(&meet_lock);
    return http_response_text(resp, 200, together ? "together" : "alone");
}

static const http_route_t routes[] = {
    { HTTP_GET, "/meet", "meet", h_meet, NULL },
    { HTTP_GET, "/ok", "ok", h_ok, NULL },
    { HTTP_POST | HTTP_PUT | HTTP_RAW_BODY, "/echo", "echo", h_echo, NULL },
    { HTTP_GET, "/big", "big", h_big, NULL },
    { HTTP_GET, "/empty", "no_content", h_no_content, NULL },
};

static http_server_t *start_server_threads(fixture_t *f, unsigned threads,
                                          unsigned max_connections, unsigned timeout_s)
{
    http_server_options_t o = {
        .listen = "127.0.0.1:0",
        .threads = threads,
        .max_connections = max_connections,
        .connection_timeout_s = timeout_s,
        .max_body_bytes = BODY_CAP,
        .max_header_bytes = HEADER_CAP,
        .routes = routes,
        .route_count = sizeof(routes) / sizeof(routes[0]),
        .on_request_done = request_log_record,
        .on_request_done_ctx = &f->log,
    };
    http_server_t *srv = NULL;
    vigil_error_t err;
    int rc = http_server_start(&srv, &o, &err);
    if (rc != 0)
        fail_msg("start: %s", err.message);
    return srv;
}

static http_server_t *start_server(fixture_t *f, unsigned max_connections, unsigned timeout_s)
{
    return start_server_threads(f, 2, max_connections, timeout_s);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    request_log_init(&f->log);
    f->srv = start_server(f, 0, 10);
    f->port = http_server_port(f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    http_server_stop(f->srv);
    request_log_destroy(&f->log);
    free(f);
    return 0;
}

/* ---- a raw client */

static void send_bytes(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t k = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        assert_true(k > 0);
        off += (size_t)k;
    }
}

static void send_str(int fd, const char *s)
{
    send_bytes(fd, s, strlen(s));
}

/* What arrived on a connection and has not been taken as a response yet: responses are read
 * one at a time, and bytes of the next may already be here. */
typedef struct reader {
    int    fd;
    char  *data;
    size_t len, cap;
} reader_t;

static void reader_init(reader_t *r, int fd)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
}

/* Closes the socket and frees the buffer. */
static void reader_close(reader_t *r)
{
    close(r->fd);
    free(r->data);
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

/* Reads once, at most `max` bytes (0: as much as fits in 64 KiB more). Returns what read()
 * returned; the buffer stays NUL-terminated. */
static ssize_t reader_fill(reader_t *r, size_t max)
{
    size_t want = max != 0 ? max : (size_t)64 << 10;
    if (r->cap - r->len < want + 1) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap - r->len < want + 1)
            cap *= 2;
        char *p = realloc(r->data, cap);
        assert_non_null(p);
        r->data = p;
        r->cap = cap;
    }
    ssize_t k;
    do {
        k = read(r->fd, r->data + r->len, want);
    } while (k < 0 && errno == EINTR);
    if (k > 0)
        r->len += (size_t)k;
    r->data[r->len] = '\0';
    return k;
}

/* Drops the first `n` buffered bytes. */
static void reader_consume(reader_t *r, size_t n)
{
    memmove(r->data, r->data + n, r->len - n);
    r->len -= n;
    r->data[r->len] = '\0';
}

/* Reads until `n` bytes are buffered; fails on EOF, error or timeout. */
static void reader_need(reader_t *r, size_t n)
{
    while (r->len < n) {
        ssize_t k = reader_fill(r, 0);
        if (k <= 0)
            fail_msg("connection ended after %zu of %zu bytes (read %zd, %s)", r->len, n, k,
                     k < 0 ? strerror(errno) : "EOF");
    }
}

/* The connection delivers nothing more and ends with an orderly EOF. */
static void expect_eof(reader_t *r)
{
    assert_int_equal(r->len, 0);
    ssize_t k = reader_fill(r, 0);
    if (k != 0)
        fail_msg("expected EOF, read returned %zd (%s)", k,
                 k < 0 ? strerror(errno) : "data");
}

/* One parsed response. */
typedef struct response {
    int    minor;      /* HTTP/1.<minor> */
    int    status;
    char  *head;       /* status line and header lines, "\r\n" after each; owned */
    char  *body;       /* owned, NUL-terminated */
    size_t body_len;
} response_t;

static void response_free(response_t *resp)
{
    free(resp->head);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

/* Counts the header lines named `name` (case-insensitive) and copies the value of the first
 * into `out` ("" when there is none). */
static int response_header(const response_t *resp, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    int count = 0;
    if (out != NULL && size > 0)
        out[0] = '\0';
    const char *line = strstr(resp->head, "\r\n") + 2; /* past the status line */
    while (*line != '\0') {
        const char *eol = strstr(line, "\r\n");
        assert_non_null(eol);
        if ((size_t)(eol - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            if (count++ == 0 && out != NULL)
                snprintf(out, size, "%.*s", (int)(eol - v), v);
        }
        line = eol + 2;
    }
    return count;
}

/* Asserts the header `name` is there exactly once, with `value`. */
static void assert_header(const response_t *resp, const char *name, const char *value)
{
    char got[256];
    int count = response_header(resp, name, got, sizeof(got));
    if (count != 1)
        fail_msg("header %s appears %d times in:\n%s", name, count, resp->head);
    assert_string_equal(got, value);
}

static void assert_no_header(const response_t *resp, const char *name)
{
    if (response_header(resp, name, NULL, 0) != 0)
        fail_msg("unexpected header %s in:\n%s", name, resp->head);
}

/* IMF-fixdate, RFC 9110 §5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT". */
static bool is_imf_fixdate(const char *d)
{
    static const char *const days[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    /* The 29 bytes: '0' a digit, 'w' and 'm' the day and month names, the rest literal. */
    static const char shape[] = "www, 00 mmm 0000 00:00:00 GMT";
    if (strlen(d) != sizeof(shape) - 1)
        return false;
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        char s = shape[i];
        if (s == '0') {
            if (d[i] < '0' || d[i] > '9')
                return false;
        } else if (s != 'w' && s != 'm' && d[i] != s) {
            return false;
        }
    }
    bool day_ok = false, month_ok = false;
    for (size_t i = 0; i < 7; i++)
        day_ok |= strncmp(d, days[i], 3) == 0;
    for (size_t i = 0; i < 12; i++)
        month_ok |= strncmp(d + 8, months[i], 3) == 0;
    int mday = atoi(d + 5), hour = atoi(d + 17), min = atoi(d + 20), sec = atoi(d + 23);
    return day_ok && month_ok && mday >= 1 && mday <= 31 && hour <= 23 && min <= 59 &&
           sec <= 60;
}

/*
 * Reads one whole response from `r`: the head, then a body of Content-Length bytes unless
 * `bodyless` (the answer to HEAD). Checks what every response must have: a status line
 * "HTTP/1.x NNN Reason" and one well-formed Date header. Bytes after the response stay in
 * `r` for the next call.
 */
static void read_response(reader_t *r, response_t *resp, bool bodyless)
{
    memset(resp, 0, sizeof(*resp));
    char *end;
    while ((end = strstr(r->data != NULL ? r->data : "", "\r\n\r\n")) == NULL) {
        ssize_t k = reader_fill(r, 0);
        if (k <= 0)
            fail_msg("connection ended before a response head (read %zd, %s); have:\n%s", k,
                     k < 0 ? strerror(errno) : "EOF", r->data != NULL ? r->data : "");
    }
    size_t head_len = (size_t)(end - r->data) + 2; /* keep the last header's CRLF */
    resp->head = strndup(r->data, head_len);
    assert_non_null(resp->head);
    reader_consume(r, head_len + 2);

    char reason[64] = "";
    int n = 0;
    if (sscanf(resp->head, "HTTP/1.%1d %3d %63[^\r]%n", &resp->minor, &resp->status, reason,
               &n) != 3 || strncmp(resp->head + n, "\r\n", 2) != 0)
        fail_msg("malformed status line in:\n%s", resp->head);
    char date[64];
    assert_int_equal(response_header(resp, "Date", date, sizeof(date)), 1);
    if (!is_imf_fixdate(date))
        fail_msg("malformed Date \"%s\"", date);

    char cl[32];
    size_t len = 0;
    if (response_header(resp, "Content-Length", cl, sizeof(cl)) == 1 && !bodyless)
        len = (size_t)strtoull(cl, NULL, 10);
    reader_need(r, len);
    resp->body = malloc(len + 1);
    assert_non_null(resp->body);
    memcpy(resp->body, r->data, len);
    resp->body[len] = '\0';
    resp->body_len = len;
    reader_consume(r, len);
}

/* Asserts the exact status line (without its CRLF). */
static void assert_status_line(const response_t *resp, const char *status_line)
{
    size_t sl = strlen(status_line);
    if (strncmp(resp->head, status_line, sl) != 0 || strncmp(resp->head + sl, "\r\n", 2) != 0)
        fail_msg("expected \"%s\", got:\n%s", status_line, resp->head);
}

/* Reads a response and asserts its status line and body. */
static void expect_response(reader_t *r, const char *status_line, const char *body)
{
    response_t resp;
    read_response(r, &resp, false);
    assert_status_line(&resp, status_line);
    assert_string_equal(resp.body, body);
    response_free(&resp);
}

/* Asserts the Prometheus error envelope {"status":"error","errorType":"<type>",...}. */
static void assert_envelope(const response_t *resp, const char *type)
{
    char want[128];
    snprintf(want, sizeof(want), "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":\"", type);
    if (strncmp(resp->body, want, strlen(want)) != 0)
        fail_msg("expected envelope of type %s, got %s", type, resp->body);
    assert_true(resp->body_len > 0 && resp->body[resp->body_len - 1] == '}');
    assert_header(resp, "Content-Type", "application/json");
}

/* ---- tests */

static const char get_ok[] = "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n";

static void test_pipelined_requests(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    /* One write: the server reads all three at once and must answer each, in order. */
    send_str(r.fd, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /big?bytes=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    expect_response(&r, "HTTP/1.1 200 OK", "abc");
    response_t resp;
    read_response(&r, &resp, false);
    assert_int_equal(resp.status, 404);
    assert_envelope(&resp, "not_found");
    assert_no_header(&resp, "Connection");
    response_free(&resp);
    /* Still the same open connection. */
    send_str(r.fd, get_ok);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
    expect_event(f, "ok", 200);
    expect_event(f, "big", 200);
    expect_event(f, "unmatched", 404);
}

/* A request pipelined behind a response too big for the socket buffers: the server has to
 * wait for EPOLLOUT with the next request already read, then answer it. */
static void test_pipelined_behind_large_response(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    /* Slow at first: the server fills the socket and must park the connection. */
    sleep_ms(100);
    for (int i = 0; i < 8; i++) {
        assert_true(reader_fill(&r, 4096) > 0);
        sleep_ms(10);
    }
    response_t resp;
    read_response(&r, &resp, false);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body_len, BIG_DEFAULT);
    for (size_t i = 0; i < resp.body_len; i++)
        if (resp.body[i] != big_byte(i))
            fail_msg("byte %zu of the large body is wrong", i);
    response_free(&resp);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
    expect_event(f, "big", 200);
    expect_event(f, "ok", 200);
}

static void test_http10_closes_by_default(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "GET /ok HTTP/1.0\r\n\r\n");
    response_t resp;
    read_response(&r, &resp, false);
    assert_status_line(&resp, "HTTP/1.0 200 OK");
    assert_header(&resp, "Connection", "close");
    assert_header(&resp, "Content-Length", "5");
    assert_string_equal(resp.body, "hello");
    response_free(&resp);
    expect_eof(&r);
    reader_close(&r);
}

static void test_http10_keep_alive(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    for (int i = 0; i < 2; i++) {
        send_str(r.fd, "GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        response_t resp;
        read_response(&r, &resp, false);
        assert_status_line(&resp, "HTTP/1.0 200 OK");
        assert_header(&resp, "Connection", "keep-alive");
        assert_string_equal(resp.body, "hello");
        response_free(&resp);
    }
    /* Without keep-alive the third ends the connection. */
    send_str(r.fd, "GET /ok HTTP/1.0\r\n\r\n");
    expect_response(&r, "HTTP/1.0 200 OK", "hello");
    expect_eof(&r);
    reader_close(&r);
}

static void test_http11_connection_close(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    response_t resp;
    read_response(&r, &resp, false);
    assert_status_line(&resp, "HTTP/1.1 200 OK");
    assert_header(&resp, "Connection", "close");
    assert_string_equal(resp.body, "hello");
    response_free(&resp);
    expect_eof(&r);
    reader_close(&r);
}

static void test_head_byte_by_byte(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody";
    for (size_t i = 0; i < sizeof(req) - 1; i++) {
        send_bytes(r.fd, req + i, 1);
        /* Now and then a pause, so some bytes surely arrive alone. */
        if (i % 8 == 0)
            sleep_ms(1);
    }
    expect_response(&r, "HTTP/1.1 200 OK", "body");
    send_str(r.fd, get_ok);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
}

/* Sends `request` on a new connection and expects `status` with the envelope of `type`, then
 * "Connection: close" and EOF, and a report of "unmatched" with that status. */
static void expect_refused_head(fixture_t *f, const char *request, const char *status_line,
                                const char *type)
{
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, request);
    response_t resp;
    read_response(&r, &resp, false);
    assert_status_line(&resp, status_line);
    assert_envelope(&resp, type);
    assert_header(&resp, "Connection", "close");
    int status = resp.status;
    response_free(&resp);
    expect_eof(&r);
    reader_close(&r);
    expect_event(f, HTTP_HANDLER_UNMATCHED, status);
}

static void test_refused_heads(void **state)
{
    fixture_t *f = *state;
    expect_refused_head(f, "GET /ok HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", "bad_data");
    expect_refused_head(f, "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
                        "HTTP/1.1 505 HTTP Version Not Supported", "http_version_not_supported");
    expect_refused_head(f, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                        "HTTP/1.1 501 Not Implemented", "not_implemented");
    expect_refused_head(f, "GET /ok HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n",
                        "HTTP/1.1 417 Expectation Failed", "expectation_failed");
    expect_refused_head(f,
                        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                        "HTTP/1.1 400 Bad Request", "bad_data");
    expect_refused_head(f, "GET /ok\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request",
                        "bad_data");
    expect_refused_head(f, "GET  /ok HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request",
                        "bad_data");
    /* The server is fine afterwards. */
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, get_ok);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
}

static void test_expect_continue(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                   "Expect: 100-continue\r\n\r\n");
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    reader_need(&r, sizeof(cont) - 1);
    assert_memory_equal(r.data, cont, sizeof(cont) - 1);
    reader_consume(&r, sizeof(cont) - 1);
    assert_int_equal(r.len, 0);
    send_str(r.fd, "hello world");
    expect_response(&r, "HTTP/1.1 200 OK", "hello world");
    /* Kept alive. */
    send_str(r.fd, get_ok);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
    expect_event(f, "echo", 200);
}

static void test_expect_continue_too_large(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    char req[256];
    snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
             "Expect: 100-continue\r\n\r\n", BODY_CAP + 1);
    send_str(r.fd, req);
    /* The answer comes first: no "100 Continue" ahead of it. */
    response_t resp;
    read_response(&r, &resp, false);
    assert_status_line(&resp, "HTTP/1.1 413 Content Too Large");
    assert_envelope(&resp, "payload_too_large");
    assert_header(&resp, "Connection", "close");
    response_free(&resp);
    expect_eof(&r);
    reader_close(&r);
    expect_event(f, "echo", 413);
}

/* A body over the cap but small enough to read and drop: 413, and the connection lives on. */
static void test_refused_small_body_keeps_connection(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    size_t n = BODY_CAP * 4;
    char *req = malloc(n + 128);
    assert_non_null(req);
    int k = snprintf(req, 128, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    memset(req + k, 'z', n);
    send_bytes(r.fd, req, (size_t)k + n);
    free(req);
    response_t resp;
    read_response(&r, &resp, false);
    assert_int_equal(resp.status, 413);
    assert_envelope(&resp, "payload_too_large");
    assert_no_header(&resp, "Connection");
    response_free(&resp);
    /* The dropped body was not taken for a request. */
    send_str(r.fd, get_ok);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
    expect_event(f, "echo", 413);
}

/* Sends `data` in pieces of 1, 2, 3, ... bytes, pausing between them so that the server
 * reads them apart. */
static void send_in_odd_pieces(int fd, const char *data, size_t len)
{
    size_t off = 0, piece = 1;
    while (off < len) {
        size_t k = len - off < piece ? len - off : piece;
        send_bytes(fd, data + off, k);
        off += k;
        piece = piece % 7 + 1;
        sleep_ms(1);
    }
}

static void test_chunked_body(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    static const char req[] =
        "PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n"
        "1 ; a=b;c=\"d;e\"\r\n,\r\n"
        "B\r\n world!\r\n\r\n\r\n"
        "0;last\r\nX-Trailer: one\r\nChecksum: 1234\r\n\r\n"
        /* pipelined behind it: where the chunked body ends must be exact */
        "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n";
    send_in_odd_pieces(r.fd, req, sizeof(req) - 1);
    expect_response(&r, "HTTP/1.1 200 OK", "hello, world!\r\n\r\n");
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
    expect_event(f, "echo", 200);
}

static void test_chunked_body_malformed(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n");
    response_t resp;
    read_response(&r, &resp, false);
    assert_status_line(&resp, "HTTP/1.1 400 Bad Request");
    assert_envelope(&resp, "bad_data");
    assert_header(&resp, "Connection", "close");
    response_free(&resp);
    expect_eof(&r);
    reader_close(&r);
    expect_event(f, "echo", 400);
}

/* Sends a head of more than HEADER_CAP bytes and expects `status_line`, then EOF: the server
 * half-closes and keeps reading, so the answer arrives instead of a reset. */
static void expect_head_too_large(fixture_t *f, const char *prefix, bool in_request_line,
                                  const char *status_line, const char *type)
{
    size_t n = HEADER_CAP * 2;
    char *req = malloc(n + 128);
    assert_non_null(req);
    int k = snprintf(req, 128, "%s%s", prefix,
                     in_request_line ? "GET /ok?q=" : "GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + k, 'a', n);
    size_t len = (size_t)k + n;
    len += (size_t)snprintf(req + len, n + 128 - len, "%s",
                            in_request_line ? " HTTP/1.1\r\nHost: x\r\n\r\n" : "\r\n\r\n");
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_bytes(r.fd, req, len);
    free(req);
    response_t resp;
    read_response(&r, &resp, false);
    assert_status_line(&resp, status_line);
    assert_envelope(&resp, type);
    assert_header(&resp, "Connection", "close");
    int status = resp.status;
    response_free(&resp);
    expect_eof(&r);
    reader_close(&r);
    expect_event(f, HTTP_HANDLER_UNMATCHED, status);
}

static void test_head_too_large(void **state)
{
    fixture_t *f = *state;
    expect_head_too_large(f, "", true, "HTTP/1.1 414 URI Too Long", "uri_too_long");
    expect_head_too_large(f, "", false, "HTTP/1.1 431 Request Header Fields Too Large",
                          "request_header_fields_too_large");
    /* Empty lines before the request line are skipped, not taken for its end. */
    expect_head_too_large(f, "\r\n\r\n", true, "HTTP/1.1 414 URI Too Long", "uri_too_long");
}

/* The server closes the connection: an orderly EOF, neither data nor a timeout. */
static void expect_closed_by_server(int fd)
{
    char c;
    ssize_t k;
    do {
        k = read(fd, &c, 1);
    } while (k < 0 && errno == EINTR);
    if (k != 0)
        fail_msg("expected EOF, read returned %zd (%s)", k, k < 0 ? strerror(errno) : "data");
}

static void test_idle_timeout(void **state)
{
    fixture_t *f = *state;
    http_server_t *srv = start_server(f, 0, 1);
    int port = http_server_port(srv);
    reader_t r;
    reader_init(&r, connect_local(port));
    send_str(r.fd, get_ok);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    /* Idle after a request, and idle from the start: both closed (within SO_RCVTIMEO). */
    int silent = connect_local(port);
    expect_closed_by_server(r.fd);
    expect_closed_by_server(silent);
    close(silent);
    reader_close(&r);
    http_server_stop(srv);
}

/* GET /ok on a new connection; true when answered, false when the server closed it. */
static bool try_get_ok(int port)
{
    reader_t r;
    reader_init(&r, connect_local(port));
    ssize_t k = send(r.fd, get_ok, sizeof(get_ok) - 1, MSG_NOSIGNAL);
    bool answered = false;
    if (k == (ssize_t)(sizeof(get_ok) - 1)) {
        while (strstr(r.data != NULL ? r.data : "", "\r\n\r\nhello") == NULL &&
               reader_fill(&r, 0) > 0)
            ;
        answered = r.data != NULL && strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
                   strstr(r.data, "\r\n\r\nhello") != NULL;
    }
    reader_close(&r);
    return answered;
}

static void test_max_connections(void **state)
{
    fixture_t *f = *state;
    http_server_t *srv = start_server(f, 2, 10);
    int port = http_server_port(srv);
    /* Two connections, each proven accepted by an answered request. */
    reader_t a, b;
    reader_init(&a, connect_local(port));
    reader_init(&b, connect_local(port));
    send_str(a.fd, get_ok);
    expect_response(&a, "HTTP/1.1 200 OK", "hello");
    send_str(b.fd, get_ok);
    expect_response(&b, "HTTP/1.1 200 OK", "hello");

    /* A third is accepted by the kernel, then closed by the server at once. */
    int third = connect_local(port);
    expect_closed_by_server(third);
    close(third);

    /* The first two still work. */
    send_str(a.fd, get_ok);
    expect_response(&a, "HTTP/1.1 200 OK", "hello");

    /* Once one is gone a new one is served; the server notices the close asynchronously. */
    reader_close(&b);
    bool served = false;
    for (int i = 0; i < 200 && !served; i++) {
        served = try_get_ok(port);
        if (!served)
            sleep_ms(10);
    }
    assert_true(served);
    reader_close(&a);
    http_server_stop(srv);
}

/* True once the stream holds `text` (read again from its start: the server appends to it). */
static bool stream_contains(FILE *stream, const char *text)
{
    rewind(stream);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), stream) != NULL)
        found = strstr(line, text) != NULL;
    return found;
}

/* accept() failing for want of descriptors pauses the worker's accepting (a listening socket
 * that stays readable would otherwise keep it spinning), and a connection waiting in the
 * backlog meanwhile is served once descriptors are free again. */
static void test_accept_out_of_descriptors(void **state)
{
    fixture_t *f = *state;
    char log_path[] = "/tmp/vigil-test-http-emfile-XXXXXX";
    int log_fd = mkstemp(log_path);
    assert_true(log_fd >= 0);
    close(log_fd);
    log_t *lg;
    log_options_t lo = { .level = LOG_LEVEL_WARN, .format = LOG_FORMAT_TEXT, .path = log_path };
    assert_int_equal(log_open(&lg, &lo, NULL), 0);
    /* Opened now: no descriptor is to be had while the limit is tight. */
    FILE *log_stream = fopen(log_path, "r");
    assert_non_null(log_stream);
    http_server_options_t o = { .listen = "127.0.0.1:0", .threads = 2, .routes = routes,
                                .route_count = sizeof(routes) / sizeof(routes[0]),
                                .log = lg, .on_request_done = request_log_record,
                                .on_request_done_ctx = &f->log };
    http_server_t *srv;
    assert_int_equal(http_server_start(&srv, &o, NULL), 0);
    int port = http_server_port(srv);

    /* Room for exactly one more descriptor: the client's socket takes it, so the server's
     * accept() finds none until the limit is back. */
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    int lowest_free = dup(0);
    assert_true(lowest_free >= 0);
    close(lowest_free);
    struct rlimit tight = { (rlim_t)lowest_free + 1, saved.rlim_max };
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
    reader_t r;
    reader_init(&r, connect_local(port));
    send_str(r.fd, get_ok);
    bool paused = false;
    for (int i = 0; i < 1000 && !paused; i++) {
        sleep_ms(10);
        paused = stream_contains(log_stream, "accept failed; pausing new connections");
    }
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    fclose(log_stream);
    assert_true(paused);

    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
    http_server_stop(srv);
    log_close(lg);
    unlink(log_path);
}

static void test_head_method(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "GET /big?bytes=1000 HTTP/1.1\r\nHost: x\r\n\r\n");
    response_t get;
    read_response(&r, &get, false);
    assert_int_equal(get.body_len, 1000);
    char get_len[32];
    assert_int_equal(response_header(&get, "Content-Length", get_len, sizeof(get_len)), 1);
    response_free(&get);

    /* HEAD and GET pipelined: any body byte after the HEAD answer would garble the GET's. */
    send_str(r.fd, "HEAD /big?bytes=1000 HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    response_t head;
    read_response(&r, &head, true);
    assert_status_line(&head, "HTTP/1.1 200 OK");
    assert_header(&head, "Content-Length", get_len);
    response_free(&head);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
    expect_event(f, "big", 200);
}

static void test_no_content(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n"
                   "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    response_t resp;
    read_response(&r, &resp, false);
    assert_status_line(&resp, "HTTP/1.1 204 No Content");
    assert_no_header(&resp, "Content-Length");
    assert_no_header(&resp, "Transfer-Encoding");
    assert_no_header(&resp, "Connection");
    assert_int_equal(resp.body_len, 0);
    response_free(&resp);
    /* The next answer starts right after the 204's head: no body bytes came between. */
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
    expect_event(f, "no_content", 204);
}

/* Stop while a client is part way through a large response: stop returns, the client's
 * connection ends (EOF or reset) before the whole response came. */
static void test_stop_during_large_response(void **state)
{
    fixture_t *f = *state;
    http_server_t *srv = start_server(f, 0, 10);
    reader_t r;
    reader_init(&r, connect_local(http_server_port(srv)));
    /* 64 MiB: far beyond what socket buffers on both sides can hold. */
    send_str(r.fd, "GET /big?bytes=67108864 HTTP/1.1\r\nHost: x\r\n\r\n");
    while (r.len < ((size_t)256 << 10))
        assert_true(reader_fill(&r, 0) > 0);
    assert_true(strncmp(r.data, "HTTP/1.1 200 OK\r\n", 17) == 0);

    http_server_stop(srv);

    size_t total = r.len;
    ssize_t k;
    do {
        r.len = 0; /* only counted from here on */
        k = reader_fill(&r, 0);
        if (k > 0)
            total += (size_t)k;
    } while (k > 0 || (k < 0 && errno == EINTR));
    if (!(k == 0 || errno == ECONNRESET))
        fail_msg("expected EOF or reset, read failed: %s", strerror(errno));
    assert_true(total < ((size_t)64 << 20));
    reader_close(&r);
}

/* A head of exactly HEADER_CAP bytes is served; one byte more is 431. */
static void test_head_at_limit(void **state)
{
    fixture_t *f = *state;
    for (int extra = 0; extra <= 1; extra++) {
        char *req = malloc(HEADER_CAP + 2);
        assert_non_null(req);
        static const char start[] = "GET /ok HTTP/1.1\r\nHost: x\r\nX-Pad: ";
        size_t total = HEADER_CAP + (size_t)extra;
        memcpy(req, start, sizeof(start) - 1);
        memset(req + sizeof(start) - 1, 'p', total - (sizeof(start) - 1) - 4);
        memcpy(req + total - 4, "\r\n\r\n", 4);
        reader_t r;
        reader_init(&r, connect_local(f->port));
        send_bytes(r.fd, req, total);
        free(req);
        if (extra == 0) {
            expect_response(&r, "HTTP/1.1 200 OK", "hello");
        } else {
            response_t resp;
            read_response(&r, &resp, false);
            assert_status_line(&resp, "HTTP/1.1 431 Request Header Fields Too Large");
            response_free(&resp);
            expect_eof(&r);
        }
        reader_close(&r);
    }
}

/* A client that half-closes after its request still gets the answer, then EOF. */
static void test_client_half_close(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "GET /big?bytes=4000000 HTTP/1.1\r\nHost: x\r\n\r\n");
    shutdown(r.fd, SHUT_WR);
    response_t resp;
    read_response(&r, &resp, false);
    assert_int_equal(resp.body_len, 4000000);
    response_free(&resp);
    expect_eof(&r);
    reader_close(&r);
}

/* Stray CRLFs between keep-alive requests are skipped (RFC 9112 §2.2). */
static void test_stray_crlf(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab\r\n"
                   "\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_response(&r, "HTTP/1.1 200 OK", "ab");
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    /* A CRLF arriving on its own, on an idle connection. */
    send_str(r.fd, "\r\n");
    sleep_ms(20);
    send_str(r.fd, get_ok);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
}

/* A chunked body over the cap: 413 after it was read, and the connection goes on. */
static void test_chunked_too_large(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[600];
    memset(chunk, 'c', sizeof(chunk));
    for (int i = 0; i < 4; i++) {
        send_str(r.fd, "258\r\n");
        send_bytes(r.fd, chunk, sizeof(chunk));
        send_str(r.fd, "\r\n");
    }
    send_str(r.fd, "0\r\n\r\n" "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    response_t resp;
    read_response(&r, &resp, false);
    assert_status_line(&resp, "HTTP/1.1 413 Content Too Large");
    assert_no_header(&resp, "Connection");
    response_free(&resp);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
}

/* An HTTP/1.0 client that follows its request with a stray CRLF (RFC 9112 §2.2 tells servers
 * to expect that of old clients) while a large answer is on its way, then reads slowly. The
 * server closes after the answer: a plain close() with that CRLF unread would send a reset
 * and drop the part of the answer still queued, so the answer must arrive whole, then EOF. */
static void test_close_with_unread_bytes(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    send_str(r.fd, "GET /big HTTP/1.0\r\n\r\n");
    /* The answer has started, so the CRLF is not read as part of the head. */
    assert_true(reader_fill(&r, 4096) > 0);
    send_str(r.fd, "\r\n");
    sleep_ms(100);
    response_t resp;
    read_response(&r, &resp, false);
    assert_status_line(&resp, "HTTP/1.0 200 OK");
    assert_header(&resp, "Connection", "close");
    assert_int_equal(resp.body_len, BIG_DEFAULT);
    for (size_t i = 0; i < resp.body_len; i++)
        if (resp.body[i] != big_byte(i))
            fail_msg("byte %zu of the large body is wrong", i);
    response_free(&resp);
    expect_eof(&r);
    reader_close(&r);
}

/* 100-continue twice on one connection (the expectation token is case-insensitive); then
 * an HTTP/1.0 POST kept alive, whose Expect is ignored: 1.0 clients never wait for 100. */
static void test_continue_twice(void **state)
{
    fixture_t *f = *state;
    reader_t r;
    reader_init(&r, connect_local(f->port));
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    for (int i = 0; i < 2; i++) {
        send_str(r.fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       "Expect: 100-Continue\r\n\r\n");
        reader_need(&r, sizeof(cont) - 1);
        assert_memory_equal(r.data, cont, sizeof(cont) - 1);
        reader_consume(&r, sizeof(cont) - 1);
        send_str(r.fd, "abc");
        expect_response(&r, "HTTP/1.1 200 OK", "abc");
    }
    send_str(r.fd, "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n"
                   "Expect: 100-continue\r\n\r\nxyz");
    expect_response(&r, "HTTP/1.0 200 OK", "xyz");
    send_str(r.fd, get_ok);
    expect_response(&r, "HTTP/1.1 200 OK", "hello");
    reader_close(&r);
}

/* Connections opened while every worker sleeps are spread over the workers: four requests
 * on four connections run their handlers at the same time on a four-worker server (the
 * kernel alone would wake the first worker for all of them, and they would run in turn). */
static void test_connections_spread_over_workers(void **state)
{
    fixture_t *f = *state;
    http_server_t *srv = start_server_threads(f, MEET_COUNT, 0, 10);
    int port = http_server_port(srv);
    meet_inside = 0;
    reader_t r[MEET_COUNT];
    for (int i = 0; i < MEET_COUNT; i++)
        reader_init(&r[i], connect_local(port));
    /* Every connection accepted and placed before the first request arrives. */
    sleep_ms(100);
    for (int i = 0; i < MEET_COUNT; i++)
        send_str(r[i].fd, "GET /meet HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < MEET_COUNT; i++) {
        response_t resp;
        read_response(&r[i], &resp, false);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.body, "together");
        response_free(&resp);
        reader_close(&r[i]);
    }
    http_server_stop(srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipelined_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_behind_large_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10_closes_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http10_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http11_connection_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_byte_by_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_heads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_small_body_keeps_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chunked_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_body_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_out_of_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_during_large_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_at_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stray_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_unread_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections_spread_over_workers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
