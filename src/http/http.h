/*
 * http.h - the HTTP server layer of vigil: an HTTP/1.1 server of its own, a route table on top.
 *
 * The agent (`vigil run`) and libvigil's embedded exporter both serve HTTP through this one
 * interface. It depends only on util/ and log/; request counting and latency histograms are
 * the caller's business, through the on_request_done observer.
 *
 * Life of a request (the full story is in docs/http-server.md):
 *   1. The server reads the request line and headers (bounded by max_header_bytes).
 *   2. The path is percent-decoded segment by segment and matched against the route table in
 *      table order. No route for the path: 404. A route for the path but not for the method:
 *      405 with an Allow header. Both carry the Prometheus API error envelope
 *      {"status":"error","errorType":"...","error":"..."}.
 *   3. The body is collected up to max_body_bytes; beyond that the answer is 413 and the
 *      handler is never called.
 *   4. The query string and an application/x-www-form-urlencoded body are parsed into one
 *      parameter list (body values first, as Go's net/http does for Prometheus); a malformed
 *      one is answered 400 "bad_data".
 *   5. The route's handler fills an http_response_t; the server sends it.
 *   6. When the response has gone out (or the connection died), on_request_done is told the
 *      handler name, the status and the duration.
 *
 * Threading contract: handlers and the observer run on the server's worker threads
 * (`threads` epoll loops), several at once for different connections, never twice at
 * once for the same connection. A connection stays on one worker, so a slow handler delays the
 * other connections of that worker: handlers should finish in bounded time and may poll
 * http_request_cancelled() to give up early (client gone, or server stopping). Everything a
 * handler reaches through its ctx must be safe for concurrent use. The request and response
 * objects belong to the calling worker and are valid only during the call.
 * http_server_stop() must not be called from a handler or the observer.
 */
#ifndef VIGIL_HTTP_H
#define VIGIL_HTTP_H

#include "log/log.h"
#include "util/buf.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>

/* Methods, as a bitmask for route tables. A route that allows GET also answers HEAD (the
 * server sends the headers of the GET response without its body), as Go's ServeMux does. */
enum http_method {
    HTTP_GET     = 1u << 0,
    HTTP_HEAD    = 1u << 1,
    HTTP_POST    = 1u << 2,
    HTTP_PUT     = 1u << 3,
    HTTP_DELETE  = 1u << 4,
    HTTP_PATCH   = 1u << 5,
    HTTP_OPTIONS = 1u << 6,
    /* Not a method: a route whose mask carries it takes a document as its body (exposition
     * text, a protobuf), never form parameters, whatever the Content-Type says. `curl -d @file`
     * labels every body application/x-www-form-urlencoded, and decoding one as a form would
     * refuse the first `%` of a metric. (A bit of the mask rather than a field of
     * http_route_t keeps the positional route tables short.) */
    HTTP_RAW_BODY = 1u << 15,
};

/* Handler name reported to on_request_done for requests that matched no route (404, and 400
 * for an undecodable path). */
#define HTTP_HANDLER_UNMATCHED "unmatched"

/* Most extra headers one response can carry (Content-Type and Content-Length not counted). */
#define HTTP_RESPONSE_MAX_HEADERS 8

typedef struct http_server  http_server_t;
typedef struct http_request http_request_t;

/* One extra response header. Both strings are malloc'd copies owned by the response. */
typedef struct http_header {
    char *name;
    char *value;
} http_header_t;

/*
 * What a handler answers. The server initialises it (status 200, content type
 * "text/plain; charset=utf-8", empty body capped at max_response_bytes) before calling the
 * handler and frees everything in it afterwards: handlers fill it, never free it.
 */
typedef struct http_response {
    int           status;                 /* HTTP status code */
    char          content_type[128];      /* Content-Type header; "" sends none */
    buf_t         body;                   /* the body; append with buf_* (HEAD drops it) */
    http_header_t headers[HTTP_RESPONSE_MAX_HEADERS]; /* set with http_response_set_header */
    size_t        header_count;
} http_response_t;

/*
 * A route handler. Returns 0 when `resp` holds the answer (any status, errors included), or a
 * negative VIGIL_E* code when it could not build one: the server then discards `resp`, logs
 * the code and answers 500 with errorType "internal".
 */
typedef int (*http_handler_fn)(http_request_t *req, http_response_t *resp, void *ctx);

/*
 * One row of the route table.
 *
 * `pattern` is an absolute path: literal segments, `{name}` segments that match any one
 * non-empty segment (read back with http_request_path_param), and optionally a last segment
 * that is a lone asterisk: the prefix form, matching the prefix followed by "/" and anything
 * below it; the rest of the path is then the path parameter "*". Segments are compared
 * after percent-decoding, so "/api/v1/label/{name}/values" matches ".../label/a%2Fb/values"
 * with name "a/b". The first row whose pattern and methods both match wins.
 */
typedef struct http_route {
    unsigned        methods;       /* HTTP_GET | HTTP_POST ... ; never 0 */
    const char     *pattern;       /* "/api/v1/operations/{id}/end" */
    const char     *handler_name;  /* label for metrics and logs: "query", "health" */
    http_handler_fn handler;
    void           *ctx;           /* handed to handler; borrowed, must outlive the server */
} http_route_t;

/* Told about every request the server answered, after the response went out (or the
 * connection died while sending it). Runs on a worker thread; must be thread-safe and quick.
 * `handler_name` is the route's, or HTTP_HANDLER_UNMATCHED. */
typedef void (*http_request_done_fn)(void *ctx, const char *handler_name, int status_code,
                                     double duration_seconds);

/* Server settings. Zero values pick the defaults in brackets. The server copies the route
 * table and its strings; `log` and the ctx pointers are borrowed and must outlive it. */
typedef struct http_server_options {
    const char          *listen;               /* "127.0.0.1:9470", "[::1]:9470",
                                                  "localhost:9470", ":9470" (all interfaces);
                                                  port 0 picks a free port. Required. */
    unsigned             threads;              /* worker threads [4]; at most
                                                  max_connections */
    unsigned             max_connections;      /* concurrent connections [512], all workers
                                                  together; more are closed at accept */
    unsigned             connection_timeout_s; /* seconds without progress before a
                                                  connection is closed [30] */
    size_t               max_body_bytes;       /* request body cap, else 413 [4 MiB] */
    size_t               max_header_bytes;     /* request line and headers, else 414 or 431
                                                  [64 KiB] */
    size_t               max_response_bytes;   /* cap of http_response_t.body [256 MiB] */
    const http_route_t  *routes;
    size_t               route_count;
    log_t               *log;                  /* NULL: discard */
    http_request_done_fn on_request_done;      /* NULL: none */
    void                *on_request_done_ctx;
} http_server_options_t;

/*
 * Validates the route table, binds `opts->listen` and starts the worker threads. On success
 * *out is the running server, owned by the caller and freed with http_server_stop(). Errors:
 * VIGIL_EINVAL (bad listen address or route pattern, message names it), VIGIL_EBUSY (address
 * in use), VIGIL_ESYS (other socket errors, epoll, threads), VIGIL_ENOMEM. Bind
 * failures read "listen 127.0.0.1:9470: Address already in use". Nothing runs and nothing is
 * left allocated after a failure.
 */
int http_server_start(http_server_t **out, const http_server_options_t *opts,
                      vigil_error_t *err);

/*
 * Stops accepting, closes idle and keep-alive connections at once, waits for handlers that are
 * running to return (from this call on, http_request_cancelled() is true for them, so
 * handlers that poll it return promptly), joins the workers and frees the server. No handler
 * or observer runs after it returns. Must not be called from a handler. NULL is a no-op.
 */
void http_server_stop(http_server_t *srv);

/* The bound TCP port: the real one when the listen address asked for port 0. */
int http_server_port(const http_server_t *srv);

/*
 * Checks that `listen` could be served: parses it, binds and listens exactly as
 * http_server_start would, then closes the socket at once (`vigil doctor`). 0, or the error
 * http_server_start would give ("listen 127.0.0.1:9470: Address already in use").
 */
int http_listen_probe(const char *listen, vigil_error_t *err);

/* ---- Request accessors. All returned strings belong to the request: valid until the handler
 * returns, never to be freed. */

/* The method as sent ("GET") and as a bit (0 for methods outside enum http_method). */
const char *http_request_method(const http_request_t *req);
unsigned http_request_method_bit(const http_request_t *req);

/* The percent-decoded path, without query string ("/api/v1/query"). */
const char *http_request_path(const http_request_t *req);

/* The value of a `{name}` segment of the matched pattern (or "*" for a prefix route's
 * remainder); NULL when the pattern has no such segment. */
const char *http_request_path_param(const http_request_t *req, const char *name);

/* The first value of a query or form parameter (decoded; "" for "?flag"), or NULL. */
const char *http_request_param(const http_request_t *req, const char *name);

/* Iterates over all values of a repeated parameter ("match[]"), body values first:
 *     size_t pos = 0; const char *v;
 *     while ((v = http_request_param_next(req, "match[]", &pos)) != NULL) ...
 * Returns NULL when there are no more. */
const char *http_request_param_next(const http_request_t *req, const char *name, size_t *pos);

/* How many values `name` has. */
size_t http_request_param_count(const http_request_t *req, const char *name);

/* A request header by case-insensitive name (the first if repeated), or NULL. */
const char *http_request_header(const http_request_t *req, const char *name);

/* The raw request body, NUL-terminated for convenience (the NUL not counted in *len); "" with
 * *len 0 when there is none. `len` may be NULL. */
const char *http_request_body(const http_request_t *req, size_t *len);

/* Best effort: true once the client has closed or reset its connection, so a long handler can
 * stop early. A client that only half-closes its sending side also reads as gone. */
bool http_request_client_gone(const http_request_t *req);

/* True once the client has gone or http_server_stop() has been called: what a long handler
 * (a query, a blocking wait) should poll to give up early. Whatever it answers afterwards may
 * never reach the client. */
bool http_request_cancelled(const http_request_t *req);

/* ---- Response helpers. Each returns 0, VIGIL_ENOMEM, or VIGIL_ELIMIT (body over the cap;
 * the body is then left empty). */

/* Sets status, "application/json" and the body to `json` (replacing any earlier body). */
int http_response_json(http_response_t *resp, int status, const char *json);

/* Sets status, "text/plain; charset=utf-8" and the body to `text`. */
int http_response_text(http_response_t *resp, int status, const char *text);

/* Sets the Prometheus API error envelope:
 *     {"status":"error","errorType":"<error_type>","error":"<formatted message>"}
 * error_type is one of Prometheus's: "bad_data", "not_found", "internal", "timeout",
 * "canceled", "execution", "unavailable", "method_not_allowed", "payload_too_large". */
int http_response_error(http_response_t *resp, int status, const char *error_type,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Sets the Content-Type (truncated at 127 bytes). */
void http_response_set_content_type(http_response_t *resp, const char *content_type);

/* Adds a header, replacing one of the same (case-insensitive) name. VIGIL_EINVAL for an empty
 * or non-token name or a value with CR, LF or NUL; VIGIL_ELIMIT when
 * HTTP_RESPONSE_MAX_HEADERS are set; VIGIL_ENOMEM. Content-Type goes through
 * http_response_set_content_type; Content-Length and Transfer-Encoding are the server's. */
int http_response_set_header(http_response_t *resp, const char *name, const char *value);

/* The header's current value, or NULL. */
const char *http_response_header(const http_response_t *resp, const char *name);

#endif /* VIGIL_HTTP_H */
