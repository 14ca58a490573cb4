/*
 * server.c - the HTTP server on libmicrohttpd: request lifecycle, routing, body limits and the
 * request accessors (see http.h for the contract, docs/http-server.md for the tour).
 *
 * How one request flows through MHD's callbacks, all on the worker thread that owns the
 * connection:
 *
 *   on_uri        MHD has read the request line. We allocate the http_request_t, copy the raw
 *                 request target (MHD later cuts off the query and percent-decodes the path in
 *                 place, losing the difference between "/" and "%2F") and start the clock.
 *   on_access #1  Headers are in. Decode the path, pick the route (or decide 404/405/400),
 *                 check Content-Length against the body cap (413). An error decided here is
 *                 "pending": sent at once when the client waits for "100 Continue" or announced
 *                 a body too big to bother reading, otherwise after the body has been read and
 *                 dropped, so the connection can stay open.
 *   on_access #n  A piece of body: collected into req->body up to the cap, or dropped.
 *   on_access end *upload_data_size == 0: parse the parameters, run the handler, queue.
 *   on_completed  The response went out or the connection died: report to the observer, free.
 *
 * MHD calls on_completed for every request on_uri saw (it marks such connections
 * "client aware"), including those it answered itself or that died half-way, so the request
 * object cannot leak.
 */
#include "http/http_int.h"

#include <microhttpd.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_THREADS          4u
#define DEFAULT_MAX_CONNECTIONS  512u
#define DEFAULT_TIMEOUT_S        30u
#define DEFAULT_MAX_BODY         ((size_t)4 << 20)
#define DEFAULT_MAX_HEADER       ((size_t)64 << 10)
#define DEFAULT_MAX_RESPONSE     ((size_t)256 << 20)

/* How much of a rejected body we read and drop to keep the connection usable; past this we
 * close instead. Go's net/http settles on the same 256 KiB. */
#define DISCARD_MAX              ((size_t)256 << 10)

#define MSG_MAX 256

struct http_server {
    struct MHD_Daemon   *daemon;
    http_croute_t       *routes;
    size_t               route_count;
    log_t               *log;
    http_request_done_fn on_done;
    void                *on_done_ctx;
    size_t               max_body;
    size_t               max_response;
    int                  port;
    atomic_bool          stopping;  /* set by http_server_stop before it waits for handlers */
};

struct http_request {
    http_server_t         *srv;
    struct MHD_Connection *conn;
    struct timespec        t0;            /* when the request line arrived */
    char                  *target;        /* raw request target, owned */
    const char            *method;        /* MHD's copy, valid for the request */
    unsigned               method_bit;
    char                  *path;          /* decoded path, owned */
    const http_croute_t   *route;         /* NULL until routed */
    const char            *handler_name;  /* route's or HTTP_HANDLER_UNMATCHED */
    http_path_params_t     path_params;
    http_params_t          params;
    buf_t                  body;
    size_t                 discarded;     /* body bytes dropped after deciding an error */
    bool                   started;       /* on_access has run once */
    /* An error answer decided before the handler could run; status 0 when none. */
    int                    pending_status;
    const char            *pending_type;
    char                   pending_msg[MSG_MAX];
    unsigned               allow;         /* methods for the 405 Allow header */
    int                    status;        /* status queued; 0 when nothing was sent */
};

static const struct {
    const char *name;
    unsigned    bit;
} methods[] = {
    { "GET", HTTP_GET },       { "HEAD", HTTP_HEAD },   { "POST", HTTP_POST },
    { "PUT", HTTP_PUT },       { "DELETE", HTTP_DELETE }, { "PATCH", HTTP_PATCH },
    { "OPTIONS", HTTP_OPTIONS },
};
#define METHOD_COUNT (sizeof(methods) / sizeof(methods[0]))

static unsigned method_bit(const char *m)
{
    for (size_t i = 0; i < METHOD_COUNT; i++)
        if (strcmp(m, methods[i].name) == 0)
            return methods[i].bit;
    return 0;
}

/* What a route accepts, HEAD included wherever GET is. */
static unsigned effective_methods(unsigned m)
{
    return (m & HTTP_GET) ? m | HTTP_HEAD : m;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void set_pending(http_request_t *req, int status, const char *type, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static void set_pending(http_request_t *req, int status, const char *type, const char *fmt,
                        ...)
{
    if (req->pending_status != 0)
        return; /* the first reason wins: 404 before 413 */
    req->pending_status = status;
    req->pending_type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->pending_msg, sizeof(req->pending_msg), fmt, ap);
    va_end(ap);
}

/* ---- sending */

/* Hands `resp` to MHD and frees it. Returns MHD_NO when the connection must be dropped. */
static enum MHD_Result queue_response(http_request_t *req, http_response_t *resp)
{
    http_server_t *srv = req->srv;
    int status = resp->status;
    if (status < 200 || status > 599) {
        log_warn(srv->log, "http", "handler set an invalid status; sending 500",
                 LF_STR("handler", req->handler_name), LF_INT("status", status));
        http_response_free(resp);
        http_response_init(resp, srv->max_response);
        http_response_error(resp, 500, "internal", "handler returned invalid status %d",
                            status);
        status = 500;
    }
    struct MHD_Response *mr;
    if (resp->body.len > 0) {
        size_t len;
        char *data = buf_detach(&resp->body, &len);
        /* MHD frees the body with free() once sent: no copy of large exposition output. */
        mr = data != NULL ? MHD_create_response_from_buffer_with_free_callback(len, data, free)
                          : NULL;
        if (mr == NULL)
            free(data);
    } else {
        mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (mr == NULL) {
        http_response_free(resp);
        log_error(srv->log, "http", "out of memory building a response");
        return MHD_NO;
    }
    if (resp->content_type[0] != '\0')
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (size_t i = 0; i < resp->header_count; i++) {
        if (MHD_add_response_header(mr, resp->headers[i].name, resp->headers[i].value) != MHD_YES)
            log_warn(srv->log, "http", "response header refused",
                     LF_STR("handler", req->handler_name), LF_STR("header", resp->headers[i].name));
    }
    http_response_free(resp);
    enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)status, mr);
    MHD_destroy_response(mr);
    if (ret == MHD_YES)
        req->status = status;
    return ret;
}

/* Sends the pending error: the Prometheus envelope, plus Allow for 405. */
static enum MHD_Result queue_pending(http_request_t *req)
{
    http_response_t resp;
    http_response_init(&resp, req->srv->max_response);
    http_response_error(&resp, req->pending_status, req->pending_type, "%s", req->pending_msg);
    if (req->pending_status == 405) {
        char allow[80] = "";
        size_t n = 0;
        for (size_t i = 0; i < METHOD_COUNT; i++)
            if (req->allow & methods[i].bit)
                n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "",
                                      methods[i].name);
        http_response_set_header(&resp, "Allow", allow);
    }
    return queue_response(req, &resp);
}

/* ---- the stages of a request */

/* Finds the path part of the request target; sets *len. Absolute-form targets
 * ("http://host/x", which proxies send) are reduced to their path. */
static const char *target_path(const char *t, size_t *len)
{
    const char *after = NULL;
    if (strncasecmp(t, "http://", 7) == 0)
        after = t + 7;
    else if (strncasecmp(t, "https://", 8) == 0)
        after = t + 8;
    if (after != NULL) {
        t = after + strcspn(after, "/?#");
        if (*t != '/') {
            *len = 1;
            return "/";
        }
    }
    *len = strcspn(t, "?#");
    return t;
}

/* Picks the route for the decoded method and raw path, or leaves a pending 404/405. */
static int route_request(http_request_t *req, const char *raw, size_t len)
{
    http_server_t *srv = req->srv;
    unsigned allow = 0;
    for (size_t i = 0; i < srv->route_count; i++) {
        const http_croute_t *r = &srv->routes[i];
        if (http_route_match(r, raw, len, NULL) != 1)
            continue;
        unsigned m = effective_methods(r->methods);
        if (req->method_bit & m) {
            req->route = r;
            req->handler_name = r->handler_name;
            return http_route_match(r, raw, len, &req->path_params) == 1 ? 0 : VIGIL_ENOMEM;
        }
        allow |= m;
    }
    if (allow != 0) {
        req->allow = allow;
        set_pending(req, 405, "method_not_allowed", "method %s not allowed for %s",
                    req->method, req->path);
    } else {
        set_pending(req, 404, "not_found", "no route for %s", req->path);
    }
    return 0;
}

/* True when the declared body cannot fit: answer 413 before reading it. */
static bool content_length_over(http_request_t *req, unsigned long long *cl)
{
    const char *v = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (v == NULL)
        return false;
    char *end;
    errno = 0;
    *cl = strtoull(v, &end, 10);
    /* MHD has already rejected malformed values; this only guards against surprises. */
    if (errno != 0 || end == v)
        return false;
    return *cl > req->srv->max_body;
}

/* First call: everything that can be decided from the request line and headers. */
static enum MHD_Result begin_request(http_request_t *req, const char *method)
{
    req->method = method;
    req->method_bit = method_bit(method);
    size_t rawlen;
    const char *raw = target_path(req->target, &rawlen);
    req->path = malloc(rawlen + 1);
    if (req->path == NULL)
        return MHD_NO;
    vigil_error_t perr;
    if (rawlen == 0 || raw[0] != '/') {
        memcpy(req->path, raw, rawlen);
        req->path[rawlen] = '\0';
        set_pending(req, 404, "not_found", "no route for %s", req->path);
    } else if (http_pct_decode(raw, rawlen, false, req->path, NULL, &perr) != 0) {
        req->path[0] = '\0';
        set_pending(req, 400, "bad_data", "invalid path: %s", perr.message);
    } else if (route_request(req, raw, rawlen) != 0) {
        return MHD_NO;
    }

    unsigned long long cl = 0;
    if (content_length_over(req, &cl))
        set_pending(req, 413, "payload_too_large", "request body of %llu bytes exceeds the "
                    "limit of %zu bytes", cl, req->srv->max_body);
    if (req->pending_status != 0) {
        const char *expect = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_EXPECT);
        /* Answering now means MHD sends no "100 Continue" and the client never sends the
         * body; it also spares us reading a body we would only drop. */
        if ((expect != NULL && strcasecmp(expect, "100-continue") == 0) || cl > DISCARD_MAX)
            return queue_pending(req);
    }
    return MHD_YES;
}

/* A piece of the body: keep it, or drop it when the answer is already decided. */
static enum MHD_Result absorb_body(http_request_t *req, const char *data, size_t n)
{
    if (req->pending_status == 0) {
        int rc = buf_append(&req->body, data, n);
        if (rc == 0)
            return MHD_YES;
        if (rc == VIGIL_ELIMIT)
            set_pending(req, 413, "payload_too_large",
                        "request body exceeds the limit of %zu bytes", req->srv->max_body);
        else
            set_pending(req, 500, "internal", "out of memory reading the request body");
        buf_free(&req->body);
    }
    req->discarded += n;
    if (req->discarded > DISCARD_MAX) {
        /* MHD cannot queue a response while body data is still arriving: closing is all that
         * is left for a client streaming an endless rejected body. */
        log_debug(req->srv->log, "http", "closing connection: rejected body too long",
                  LF_STR("path", req->path), LF_INT("status", req->pending_status));
        return MHD_NO;
    }
    return MHD_YES;
}

/* True for "application/x-www-form-urlencoded", with or without parameters. */
static bool is_form(const char *ct)
{
    static const char form[] = "application/x-www-form-urlencoded";
    if (ct == NULL || strncasecmp(ct, form, sizeof(form) - 1) != 0)
        return false;
    char c = ct[sizeof(form) - 1];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

/* Body parameters first, then the query string: r.Form order in Go, which Prometheus's
 * r.FormValue relies on. */
static int parse_params(http_request_t *req, vigil_error_t *err)
{
    if ((req->method_bit & (HTTP_POST | HTTP_PUT | HTTP_PATCH)) &&
        !(req->route->methods & HTTP_RAW_BODY) &&
        is_form(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                            MHD_HTTP_HEADER_CONTENT_TYPE))) {
        int rc = http_params_parse(&req->params, req->body.data != NULL ? req->body.data : "",
                                   req->body.len, err);
        if (rc != 0)
            return rc;
    }
    const char *q = req->target + strcspn(req->target, "?#");
    if (*q != '?')
        return 0;
    q++;
    return http_params_parse(&req->params, q, strcspn(q, "#"), err);
}

/* Last call: the whole request is in. */
static enum MHD_Result finish_request(http_request_t *req)
{
    http_server_t *srv = req->srv;
    if (req->pending_status != 0)
        return queue_pending(req);
    vigil_error_t perr;
    int rc = parse_params(req, &perr);
    if (rc == VIGIL_ENOMEM)
        return MHD_NO;
    if (rc != 0) {
        set_pending(req, 400, "bad_data", "invalid parameters: %s", perr.message);
        return queue_pending(req);
    }

    http_response_t resp;
    http_response_init(&resp, srv->max_response);
    rc = req->route->handler(req, &resp, req->route->ctx);
    if (rc != 0) {
        log_warn(srv->log, "http", "handler failed", LF_STR("handler", req->handler_name),
                 LF_STR("path", req->path), LF_STR("error", vigil_strerror(rc)));
        http_response_free(&resp);
        http_response_init(&resp, srv->max_response);
        http_response_error(&resp, 500, "internal", "%s", vigil_strerror(rc));
    }
    return queue_response(req, &resp);
}

/* ---- MHD callbacks */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    http_server_t *srv = cls;
    http_request_t *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->target = strdup(uri);
    if (req->target == NULL) {
        free(req);
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &req->t0);
    req->srv = srv;
    req->conn = conn;
    req->handler_name = HTTP_HANDLER_UNMATCHED;
    buf_init(&req->body, srv->max_body);
    http_params_init(&req->params);
    return req;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    http_request_t *req = *con_cls;
    if (req == NULL)
        return MHD_NO; /* on_uri ran out of memory */
    req->conn = conn;
    if (!req->started) {
        req->started = true;
        return begin_request(req, method);
    }
    if (*upload_data_size > 0) {
        enum MHD_Result r = absorb_body(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return r;
    }
    return finish_request(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server_t *srv = cls;
    http_request_t *req = *con_cls;
    if (req == NULL)
        return;
    *con_cls = NULL;
    if (req->status != 0) {
        double d = seconds_since(&req->t0);
        if (srv->on_done != NULL)
            srv->on_done(srv->on_done_ctx, req->handler_name, req->status, d);
        log_debug(srv->log, "http", "request", LF_STR("method", req->method),
                  LF_STR("path", req->path), LF_STR("handler", req->handler_name),
                  LF_INT("status", req->status), LF_DBL("seconds", d),
                  LF_BOOL("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
    }
    http_path_params_free(&req->path_params);
    http_params_free(&req->params);
    buf_free(&req->body);
    free(req->path);
    free(req->target);
    free(req);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server_t *srv = cls;
    if (!log_enabled(srv->log, LOG_LEVEL_WARN))
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_warn(srv->log, "http", "libmicrohttpd", LF_STR("detail", msg));
}

/* ---- server lifecycle */

static void free_server(http_server_t *srv)
{
    for (size_t i = 0; i < srv->route_count; i++)
        http_route_free(&srv->routes[i]);
    free(srv->routes);
    free(srv);
}

int http_server_start(http_server_t **out, const http_server_options_t *opts,
                      vigil_error_t *err)
{
    *out = NULL;
    if (opts == NULL || opts->listen == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "http server: no listen address");
    if (opts->route_count > 0 && opts->routes == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "http server: route_count without routes");
    http_server_t *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    srv->log = opts->log;
    srv->on_done = opts->on_request_done;
    srv->on_done_ctx = opts->on_request_done_ctx;
    srv->max_body = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY;
    srv->max_response = opts->max_response_bytes ? opts->max_response_bytes
                                                 : DEFAULT_MAX_RESPONSE;
    int rc;
    if (opts->route_count > 0) {
        srv->routes = calloc(opts->route_count, sizeof(*srv->routes));
        if (srv->routes == NULL) {
            rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
            goto out_free_server;
        }
    }
    for (size_t i = 0; i < opts->route_count; i++) {
        rc = http_route_compile(&srv->routes[i], &opts->routes[i], err);
        if (rc != 0)
            goto out_free_server;
        srv->route_count++;
    }

    int fd;
    rc = http_listen_open(opts->listen, &fd, &srv->port, err);
    if (rc != 0)
        goto out_free_server;

    unsigned max_conn = opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
    unsigned threads = opts->threads ? opts->threads : DEFAULT_THREADS;
    /* MHD splits the connection limit evenly between the workers; a worker whose share is 0
     * could never serve anything. */
    if (threads > max_conn)
        threads = max_conn;
    /* MHD_USE_ITC: MHD_stop_daemon wakes the workers through a pipe at once, so stop never
     * waits for a poll timeout even with idle keep-alive connections open. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv, /* first, so startup errors land too */
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, max_conn,
        MHD_OPTION_CONNECTION_TIMEOUT,
        opts->connection_timeout_s ? opts->connection_timeout_s : DEFAULT_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        opts->max_header_bytes ? opts->max_header_bytes : DEFAULT_MAX_HEADER,
        MHD_OPTION_END);
    if (srv->daemon == NULL) {
        close(fd);
        rc = vigil_error_set(err, VIGIL_ESYS, "listen %s: libmicrohttpd failed to start",
                             opts->listen);
        goto out_free_server;
    }
    log_info(srv->log, "http", "listening", LF_STR("listen", opts->listen),
             LF_INT("port", srv->port), LF_UINT("threads", threads));
    *out = srv;
    return 0;

out_free_server:
    free_server(srv);
    return rc;
}

void http_server_stop(http_server_t *srv)
{
    if (srv == NULL)
        return;
    /* A handler still running holds its worker, and MHD closes that worker's connections only
     * after the handler returns: the flag is how http_request_cancelled() tells it to stop. */
    atomic_store(&srv->stopping, true);
    /* Joins the workers after closing every connection; on_completed runs for the requests
     * still open, so nothing of theirs outlives this call. MHD closes the listen socket. */
    MHD_stop_daemon(srv->daemon);
    free_server(srv);
}

int http_server_port(const http_server_t *srv)
{
    return srv->port;
}

/* ---- request accessors */

const char *http_request_method(const http_request_t *req)
{
    return req->method;
}

unsigned http_request_method_bit(const http_request_t *req)
{
    return req->method_bit;
}

const char *http_request_path(const http_request_t *req)
{
    return req->path;
}

const char *http_request_path_param(const http_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->path_params.count; i++)
        if (strcmp(req->path_params.items[i].name, name) == 0)
            return req->path_params.items[i].value;
    return NULL;
}

const char *http_request_param(const http_request_t *req, const char *name)
{
    size_t pos = 0;
    return http_params_next(&req->params, name, &pos);
}

const char *http_request_param_next(const http_request_t *req, const char *name, size_t *pos)
{
    return http_params_next(&req->params, name, pos);
}

size_t http_request_param_count(const http_request_t *req, const char *name)
{
    size_t n = 0, pos = 0;
    while (http_params_next(&req->params, name, &pos) != NULL)
        n++;
    return n;
}

const char *http_request_header(const http_request_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_body(const http_request_t *req, size_t *len)
{
    if (len != NULL)
        *len = req->body.len;
    return req->body.data != NULL ? req->body.data : "";
}

bool http_request_client_gone(const http_request_t *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return false;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return true; /* orderly shutdown by the peer */
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

bool http_request_cancelled(const http_request_t *req)
{
    return atomic_load(&req->srv->stopping) || http_request_client_gone(req);
}
