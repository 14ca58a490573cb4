/*
 * server.c - the HTTP/1.1 server: worker threads, connections, the life of a request, and the
 * request accessors (see http.h for the contract, docs/http-server.md for the tour).
 *
 * Threads. `threads` workers each run an epoll loop over the connections they own. The
 * listening socket sits in every worker's epoll set with EPOLLEXCLUSIVE, so a new connection
 * wakes one idle worker; it accepts it and places it on the least loaded worker (not inside a
 * handler, then fewest connections), through that worker's hand-off queue and eventfd. A
 * connection stays on its worker for its whole life. One more eventfd, in every set, wakes
 * them all for stop. A worker with no connection sleeps in epoll_wait with no timeout.
 *
 * One connection, one request at a time, all on its worker:
 *
 *   CONN_HEAD    bytes are read into conn->in until wire.c finds the end of the head (over
 *                max_header_bytes: 414 or 431 and close). The head is copied into the request
 *                and parsed; the path is decoded and routed, Content-Length is checked
 *                against the body cap. An error decided here is "pending": answered at once
 *                (and the connection closed) when the client waits for "100 Continue" or
 *                announced a body too big to bother reading; otherwise after the body has
 *                been read and dropped, so the connection stays usable.
 *   CONN_BODY    a client waiting for "100 Continue" gets it first (written like an
 *                answer, EPOLLOUT included, before any body byte is read). Content-Length
 *                bytes, or chunks through wire.c's decoder, go into the request's capped body
 *                (or are dropped while an error is pending).
 *                Then the parameters are parsed and the handler runs, on this thread.
 *   CONN_WRITE   status line, headers and body go out with sendmsg; when the socket is full
 *                the connection waits for EPOLLOUT. Sent: the observer is told, the request
 *                is freed, and the connection goes back to CONN_HEAD (pipelined bytes already
 *                read are parsed at once) or closes.
 *   CONN_LINGER  closing after an answer while the client may still be sending (a refused
 *                body, or bytes sent after asking to close): our side is shut down and what
 *                arrives is read and dropped for a moment, so the client reads the answer
 *                instead of a reset.
 *
 * Every connection has a deadline: connection_timeout_s after its last progress (LINGER_MS
 * while lingering). Each loop turn sleeps until the nearest one and closes what has expired.
 */
#include "http/http_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_THREADS          4u
#define DEFAULT_MAX_CONNECTIONS  512u
#define DEFAULT_TIMEOUT_S        30u
#define DEFAULT_MAX_BODY         ((size_t)4 << 20)
#define DEFAULT_MAX_HEADER       ((size_t)64 << 10)
#define DEFAULT_MAX_RESPONSE     ((size_t)256 << 20)

/* How much of a rejected body we read and drop to keep the connection usable; past this we
 * answer at once and close instead. Go's net/http settles on the same 256 KiB. */
#define DISCARD_MAX              ((size_t)256 << 10)

/* The input buffer starts at IN_MIN and grows to the head limit, or to IN_BODY while a body
 * is read; an idle connection holds none. */
#define IN_MIN                   ((size_t)4 << 10)
#define IN_BODY                  ((size_t)64 << 10)

/* Lingering close: how long, and how much, we keep reading a client we are done with. */
#define LINGER_MS                2000
#define LINGER_MAX               DISCARD_MAX

/* After accept fails for lack of descriptors or memory, this worker stops accepting for a
 * moment: the listening socket stays readable, and polling it would spin. */
#define ACCEPT_PAUSE_MS          100

#define MSG_MAX 256
#define EVENTS_PER_WAIT 64

enum conn_state { CONN_HEAD, CONN_BODY, CONN_WRITE, CONN_LINGER };

/* What a step of a connection left it as. */
enum step { STEP_AGAIN, STEP_WAIT, STEP_CLOSED };

typedef struct conn   conn_t;
typedef struct worker worker_t;

struct http_request {
    http_server_t       *srv;
    conn_t              *conn;
    struct timespec      t0;            /* when the request's first byte was read */
    char                *head_buf;      /* the request head, owned; `head` points into it */
    http_head_t          head;
    const char          *method;        /* head.method, or "" before the head is parsed */
    unsigned             method_bit;
    char                *path;          /* decoded path, owned */
    const http_croute_t *route;         /* NULL until routed */
    const char          *handler_name;  /* route's or HTTP_HANDLER_UNMATCHED */
    http_path_params_t   path_params;
    http_params_t        params;
    buf_t                body;
    size_t               discarded;     /* body bytes dropped after deciding an error */
    /* An error answer decided before the handler could run; status 0 when none. */
    int                  pending_status;
    const char          *pending_type;
    char                 pending_msg[MSG_MAX];
    unsigned             allow;         /* methods for the 405 Allow header */
    int                  status;        /* status queued; 0 when nothing was sent */
};

struct conn {
    conn_t          *prev, *next;     /* the worker's list */
    worker_t        *w;
    int              fd;
    enum conn_state  state;
    bool             active;          /* `req` holds a request */
    bool             want_out;        /* registered for EPOLLOUT instead of EPOLLIN */
    bool             close_after;     /* close once the response is out */
    bool             interim;         /* the output is a 100 Continue, not the answer */
    int64_t          deadline_ms;
    size_t           lingered;        /* bytes dropped while lingering */
    /* input: bytes read and not yet consumed */
    char            *in;
    size_t           in_len, in_cap;
    /* body framing of the current request */
    uint64_t         body_left;       /* Content-Length bytes still to read */
    bool             body_chunked;
    http_chunked_t   chunk;
    /* output: the response head, then its body */
    char            *out_head;
    size_t           out_head_len;
    char            *out_body;
    size_t           out_body_len;
    size_t           out_off;         /* bytes of head + body sent */
    http_request_t   req;
};

struct worker {
    http_server_t  *srv;
    pthread_t       thread;
    int             epfd;
    conn_t         *conns;
    bool            accepting;         /* the listening socket is in epfd */
    int64_t         accept_resume_ms;  /* when !accepting: when to add it back */
    /* What the accepting worker reads to place a new connection (see worker_accept). */
    atomic_uint     load;              /* connections owned, plus those handed over */
    atomic_bool     busy;              /* inside a handler */
    /* Connections accepted by another worker for this one: fds under handoff_lock, and an
     * eventfd in epfd that says some are waiting. */
    int             wake_fd;
    pthread_mutex_t handoff_lock;
    int            *handoff;
    size_t          handoff_len, handoff_cap;
};

struct http_server {
    http_croute_t       *routes;
    size_t               route_count;
    log_t               *log;
    http_request_done_fn on_done;
    void                *on_done_ctx;
    size_t               max_body;
    size_t               max_response;
    size_t               max_header;
    unsigned             max_conn;
    int64_t              timeout_ms;
    int                  port;
    int                  listen_fd;
    int                  stop_fd;     /* eventfd: readable once stop has begun */
    worker_t            *workers;
    unsigned             worker_count;
    atomic_uint          conn_count;
    atomic_bool          stopping;    /* set by http_server_stop before it wakes the workers */
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

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
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

/* ---- requests */

static void request_begin(conn_t *c)
{
    http_request_t *req = &c->req;
    memset(req, 0, sizeof(*req));
    req->srv = c->w->srv;
    req->conn = c;
    req->method = "";
    req->handler_name = HTTP_HANDLER_UNMATCHED;
    clock_gettime(CLOCK_MONOTONIC, &req->t0);
    buf_init(&req->body, req->srv->max_body);
    http_params_init(&req->params);
    c->active = true;
}

/* Reports the request to the observer if it was answered, and frees it. */
static void request_end(conn_t *c, bool completed)
{
    if (!c->active)
        return;
    http_request_t *req = &c->req;
    http_server_t *srv = req->srv;
    if (req->status != 0) {
        double d = seconds_since(&req->t0);
        if (srv->on_done != NULL)
            srv->on_done(srv->on_done_ctx, req->handler_name, req->status, d);
        log_debug(srv->log, "http", "request", LF_STR("method", req->method),
                  LF_STR("path", req->path != NULL ? req->path : ""),
                  LF_STR("handler", req->handler_name), LF_INT("status", req->status),
                  LF_DBL("seconds", d), LF_BOOL("completed", completed));
    }
    http_path_params_free(&req->path_params);
    http_params_free(&req->params);
    buf_free(&req->body);
    http_head_free(&req->head);
    free(req->head_buf);
    free(req->path);
    memset(req, 0, sizeof(*req));
    c->active = false;
}

/* ---- connections */

static void conn_set_events(conn_t *c, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        log_warn(c->w->srv->log, "http", "epoll_ctl failed", LF_STR("error", strerror(errno)));
}

static void conn_close(conn_t *c)
{
    worker_t *w = c->w;
    request_end(c, false);
    /* close() takes the descriptor out of the epoll set. */
    close(c->fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c->in);
    free(c->out_head);
    free(c->out_body);
    free(c);
    atomic_fetch_sub(&w->load, 1);
    atomic_fetch_sub(&w->srv->conn_count, 1);
}

static void conn_touch(conn_t *c)
{
    c->deadline_ms = now_ms() + c->w->srv->timeout_ms;
}

/* Drops the first `n` bytes of the input buffer. */
static void in_consume(conn_t *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Makes room for `want` more input bytes, or as many as fit when the buffer reaches
 * `cap_max`. false when out of memory or when no byte fits. */
static bool in_reserve(conn_t *c, size_t want, size_t cap_max)
{
    if (c->in_cap - c->in_len >= want)
        return true;
    size_t cap = c->in_cap ? c->in_cap : IN_MIN;
    while (cap - c->in_len < want && cap < cap_max)
        cap *= 2;
    if (cap > cap_max)
        cap = cap_max;
    if (cap <= c->in_len)
        return false;
    if (cap != c->in_cap) {
        char *p = realloc(c->in, cap);
        if (p == NULL)
            return false;
        c->in = p;
        c->in_cap = cap;
    }
    return true;
}

/* ---- building and sending responses */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:  return status < 300 ? "OK" : status < 400 ? "Redirect"
                     : status < 500 ? "Client Error" : "Server Error";
    }
}

/* IMF-fixdate (RFC 9110 §5.6.7), spelled out rather than through strftime, whose day and
 * month names follow the locale. */
static void format_http_date(char *out, size_t size, time_t t)
{
    static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, size, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
             tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
}

/*
 * Turns `resp` into the connection's output and frees it; the body buffer becomes the output
 * without a copy. A HEAD answer carries the GET answer's Content-Length and no body; 204 and
 * 304 carry neither. Returns false when out of memory.
 */
static bool serialize_response(conn_t *c, http_response_t *resp, int status)
{
    http_request_t *req = &c->req;
    buf_t h;
    buf_init(&h, (size_t)64 << 10);
    char date[40];
    format_http_date(date, sizeof(date), time(NULL));
    /* HTTP/1.0 clients get a 1.0 status line, as Go's server writes it. */
    int rc = buf_printf(&h, "HTTP/1.%d %d %s\r\nDate: %s\r\n",
                        req->head_buf != NULL && req->head.minor == 0 ? 0 : 1, status,
                        reason_phrase(status), date);
    if (rc == 0 && resp->content_type[0] != '\0')
        rc = buf_printf(&h, "Content-Type: %s\r\n", resp->content_type);
    for (size_t i = 0; rc == 0 && i < resp->header_count; i++)
        rc = buf_printf(&h, "%s: %s\r\n", resp->headers[i].name, resp->headers[i].value);
    bool bodyless = status == 204 || status == 304;
    if (rc == 0 && !bodyless)
        rc = buf_printf(&h, "Content-Length: %zu\r\n", resp->body.len);
    if (rc == 0 && c->close_after)
        rc = buf_puts(&h, "Connection: close\r\n");
    else if (rc == 0 && req->head_buf != NULL && req->head.minor == 0)
        rc = buf_puts(&h, "Connection: keep-alive\r\n");
    if (rc == 0)
        rc = buf_puts(&h, "\r\n");
    if (rc != 0) {
        buf_free(&h);
        http_response_free(resp);
        return false;
    }
    c->out_head = buf_detach(&h, &c->out_head_len);
    c->out_body = NULL;
    c->out_body_len = 0;
    if (!bodyless && req->method_bit != HTTP_HEAD && resp->body.len > 0)
        c->out_body = buf_detach(&resp->body, &c->out_body_len);
    c->out_off = 0;
    http_response_free(resp);
    return c->out_head != NULL;
}

static enum step conn_after_response(conn_t *c);

/* Sends what is left of the response; on EAGAIN waits for EPOLLOUT. */
static enum step conn_flush(conn_t *c)
{
    size_t total = c->out_head_len + c->out_body_len;
    while (c->out_off < total) {
        struct iovec iov[2];
        int n = 0;
        if (c->out_off < c->out_head_len) {
            iov[n].iov_base = c->out_head + c->out_off;
            iov[n++].iov_len = c->out_head_len - c->out_off;
        }
        if (c->out_body_len > 0) {
            size_t boff = c->out_off > c->out_head_len ? c->out_off - c->out_head_len : 0;
            iov[n].iov_base = c->out_body + boff;
            iov[n++].iov_len = c->out_body_len - boff;
        }
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
        ssize_t k = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!c->want_out) {
                    c->want_out = true;
                    conn_set_events(c, EPOLLOUT);
                }
                return STEP_WAIT;
            }
            conn_close(c); /* the client went away: reported as not completed */
            return STEP_CLOSED;
        }
        c->out_off += (size_t)k;
        conn_touch(c);
    }
    if (c->interim) {
        free(c->out_head);
        c->out_head = NULL;
        c->out_head_len = c->out_off = 0;
        c->interim = false;
        if (c->want_out) {
            c->want_out = false;
            conn_set_events(c, EPOLLIN);
        }
        return STEP_AGAIN;
    }
    return conn_after_response(c);
}

/* Queues `resp` (freeing it) and starts sending it. */
static enum step conn_respond(conn_t *c, http_response_t *resp)
{
    http_request_t *req = &c->req;
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
    if (atomic_load(&srv->stopping))
        c->close_after = true;
    if (!serialize_response(c, resp, status)) {
        log_error(srv->log, "http", "out of memory building a response");
        conn_close(c);
        return STEP_CLOSED;
    }
    req->status = status;
    c->state = CONN_WRITE;
    return conn_flush(c);
}

/* Answers the pending error: the Prometheus envelope, plus Allow for 405. */
static enum step conn_respond_pending(conn_t *c)
{
    http_request_t *req = &c->req;
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
    return conn_respond(c, &resp);
}

/* Answers the pending error before the body has been read, and closes afterwards: bytes the
 * client still sends would otherwise be taken for the next request. */
static enum step conn_respond_early(conn_t *c)
{
    c->close_after = true;
    return conn_respond_pending(c);
}

/* The response is out: report it, then read the next request or close. */
static enum step conn_after_response(conn_t *c)
{
    request_end(c, true);
    free(c->out_head);
    free(c->out_body);
    c->out_head = c->out_body = NULL;
    c->out_head_len = c->out_body_len = c->out_off = 0;
    if (c->close_after) {
        /* The client may be sending still (a refused body; a stray CRLF or a request after
         * "Connection: close"). close() with unread input sends a reset, which makes the
         * kernel drop the part of our answer not yet transmitted: half-close instead, then
         * read and drop what comes until the client closes too (RFC 9112 §9.6). */
        shutdown(c->fd, SHUT_WR);
        c->state = CONN_LINGER;
        c->deadline_ms = now_ms() + LINGER_MS;
        c->in_len = 0;
    } else {
        c->state = CONN_HEAD;
        conn_touch(c);
        if (c->in_len == 0) {
            /* An idle keep-alive connection holds no buffer. */
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
    }
    if (c->want_out) {
        c->want_out = false;
        conn_set_events(c, EPOLLIN);
    }
    return STEP_AGAIN;
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

/* Error types of the envelope for the statuses the head parser answers with. */
static const char *wire_error_type(int status)
{
    switch (status) {
    case 417: return "expectation_failed";
    case 501: return "not_implemented";
    case 505: return "http_version_not_supported";
    default:  return "bad_data";
    }
}

/*
 * The head is complete (`len` bytes at the start of conn->in): parse it, route, and decide
 * the body's framing. Errors in the head itself close the connection after the answer, since
 * where the next request starts is unknown.
 */
static enum step conn_begin(conn_t *c, size_t len)
{
    http_request_t *req = &c->req;
    http_server_t *srv = req->srv;
    req->head_buf = malloc(len + 1);
    if (req->head_buf == NULL) {
        conn_close(c);
        return STEP_CLOSED;
    }
    memcpy(req->head_buf, c->in, len);
    in_consume(c, len);
    vigil_error_t perr;
    int rc = http_head_parse(req->head_buf, len, &req->head, &perr);
    if (rc == VIGIL_ENOMEM) {
        conn_close(c);
        return STEP_CLOSED;
    }
    if (rc != 0) {
        /* Nothing of a refused head is trusted, its version included: the answer is
         * HTTP/1.1 and the connection closes. */
        http_head_free(&req->head);
        memset(&req->head, 0, sizeof(req->head));
        free(req->head_buf);
        req->head_buf = NULL;
        set_pending(req, rc, wire_error_type(rc), "%s", perr.message);
        return conn_respond_early(c);
    }
    req->method = req->head.method;
    req->method_bit = method_bit(req->method);
    c->close_after = !req->head.keep_alive;

    size_t rawlen;
    const char *raw = target_path(req->head.target, &rawlen);
    req->path = malloc(rawlen + 1);
    if (req->path == NULL) {
        conn_close(c);
        return STEP_CLOSED;
    }
    if (rawlen == 0 || raw[0] != '/') {
        memcpy(req->path, raw, rawlen);
        req->path[rawlen] = '\0';
        set_pending(req, 404, "not_found", "no route for %s", req->path);
    } else if (http_pct_decode(raw, rawlen, false, req->path, NULL, &perr) != 0) {
        req->path[0] = '\0';
        set_pending(req, 400, "bad_data", "invalid path: %s", perr.message);
    } else if (route_request(req, raw, rawlen) != 0) {
        conn_close(c);
        return STEP_CLOSED;
    }

    c->body_chunked = req->head.chunked;
    c->body_left = req->head.has_content_length ? req->head.content_length : 0;
    memset(&c->chunk, 0, sizeof(c->chunk));
    bool has_body = c->body_chunked || c->body_left > 0;
    if (c->body_left > srv->max_body)
        set_pending(req, 413, "payload_too_large", "request body of %llu bytes exceeds the "
                    "limit of %zu bytes", (unsigned long long)c->body_left, srv->max_body);
    if (req->pending_status != 0 && has_body &&
        (req->head.expect_continue || c->body_left > DISCARD_MAX))
        /* Answering now spares the client sending (and us reading) a body we would drop. */
        return conn_respond_early(c);
    c->state = CONN_BODY;
    if (has_body && req->head.expect_continue && c->in_len == 0) {
        /* An interim answer, sent like any other: the client may not have read the previous
         * one, so the socket can be full. The body is read once it is out. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        c->out_head = malloc(sizeof(cont) - 1);
        if (c->out_head == NULL) {
            conn_close(c);
            return STEP_CLOSED;
        }
        memcpy(c->out_head, cont, sizeof(cont) - 1);
        c->out_head_len = sizeof(cont) - 1;
        c->interim = true;
        return conn_flush(c);
    }
    return STEP_AGAIN;
}

/* A piece of the body: keep it, or drop it when the answer is already decided. Returns
 * false when too much has been dropped: the caller answers at once. */
static bool absorb_body(http_request_t *req, const char *data, size_t n)
{
    if (req->pending_status == 0) {
        int rc = buf_append(&req->body, data, n);
        if (rc == 0)
            return true;
        if (rc == VIGIL_ELIMIT)
            set_pending(req, 413, "payload_too_large",
                        "request body exceeds the limit of %zu bytes", req->srv->max_body);
        else
            set_pending(req, 500, "internal", "out of memory reading the request body");
        buf_free(&req->body);
    }
    req->discarded += n;
    return req->discarded <= DISCARD_MAX;
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
        is_form(http_head_field(&req->head, "Content-Type"))) {
        int rc = http_params_parse(&req->params, req->body.data != NULL ? req->body.data : "",
                                   req->body.len, err);
        if (rc != 0)
            return rc;
    }
    const char *q = req->head.target + strcspn(req->head.target, "?#");
    if (*q != '?')
        return 0;
    q++;
    return http_params_parse(&req->params, q, strcspn(q, "#"), err);
}

/* The whole request is in: answer the pending error, or run the handler. */
static enum step conn_finish(conn_t *c)
{
    http_request_t *req = &c->req;
    http_server_t *srv = req->srv;
    if (req->pending_status != 0)
        return conn_respond_pending(c);
    vigil_error_t perr;
    int rc = parse_params(req, &perr);
    if (rc == VIGIL_ENOMEM) {
        conn_close(c);
        return STEP_CLOSED;
    }
    if (rc != 0) {
        set_pending(req, 400, "bad_data", "invalid parameters: %s", perr.message);
        return conn_respond_pending(c);
    }
    http_response_t resp;
    http_response_init(&resp, srv->max_response);
    atomic_store(&c->w->busy, true);
    rc = req->route->handler(req, &resp, req->route->ctx);
    atomic_store(&c->w->busy, false);
    if (rc != 0) {
        log_warn(srv->log, "http", "handler failed", LF_STR("handler", req->handler_name),
                 LF_STR("path", req->path), LF_STR("error", vigil_strerror(rc)));
        http_response_free(&resp);
        http_response_init(&resp, srv->max_response);
        http_response_error(&resp, 500, "internal", "%s", vigil_strerror(rc));
    }
    return conn_respond(c, &resp);
}

/* Moves body bytes from the input buffer into the request. */
static enum step conn_take_body(conn_t *c)
{
    http_request_t *req = &c->req;
    if (c->body_chunked) {
        while (c->in_len > 0) {
            size_t used, dlen;
            const char *data;
            vigil_error_t perr;
            int rc = http_chunked_decode(&c->chunk, c->in, c->in_len, &used, &data, &dlen,
                                         &perr);
            if (rc < 0) {
                set_pending(req, 400, "bad_data", "%s", perr.message);
                return conn_respond_early(c);
            }
            bool keep_reading = dlen == 0 || absorb_body(req, data, dlen);
            in_consume(c, used);
            if (!keep_reading)
                return conn_respond_early(c);
            if (rc == 1)
                return conn_finish(c);
        }
        return STEP_WAIT;
    }
    size_t k = c->in_len < c->body_left ? c->in_len : (size_t)c->body_left;
    if (k > 0) {
        bool keep_reading = absorb_body(req, c->in, k);
        in_consume(c, k);
        c->body_left -= k;
        if (!keep_reading)
            return conn_respond_early(c);
    }
    return c->body_left == 0 ? conn_finish(c) : STEP_WAIT;
}

/* Works through what conn->in holds until it needs more input or output space. */
static enum step conn_process(conn_t *c)
{
    http_server_t *srv = c->w->srv;
    for (;;) {
        enum step s;
        switch (c->state) {
        case CONN_HEAD: {
            if (c->in_len == 0)
                return STEP_WAIT;
            if (!c->active)
                request_begin(c);
            size_t len = http_head_length(c->in, c->in_len);
            if (len == 0 && c->in_len <= srv->max_header)
                return STEP_WAIT;
            if (len == 0 || len > srv->max_header) {
                /* Which part overflowed decides the status, as Go and MHD answer; empty
                 * lines before the request line are not it. */
                size_t skip = 0;
                while (skip < srv->max_header && (c->in[skip] == '\r' || c->in[skip] == '\n'))
                    skip++;
                bool line_done = memchr(c->in + skip, '\n', srv->max_header - skip) != NULL;
                set_pending(&c->req, line_done ? 431 : 414,
                            line_done ? "request_header_fields_too_large" : "uri_too_long",
                            "request %s exceeds the limit of %zu bytes",
                            line_done ? "head" : "line", srv->max_header);
                return conn_respond_early(c);
            }
            s = conn_begin(c, len);
            break;
        }
        case CONN_BODY:
            s = conn_take_body(c);
            break;
        default:
            return STEP_WAIT;
        }
        if (s != STEP_AGAIN)
            return s;
    }
}

/* The socket is readable. */
static void conn_read(conn_t *c)
{
    http_server_t *srv = c->w->srv;
    size_t want, cap_max;
    if (c->state == CONN_BODY) {
        /* At most IN_BODY at a time, and no more than a Content-Length body has left. */
        want = c->body_chunked || c->body_left > IN_BODY ? IN_BODY : (size_t)c->body_left;
        cap_max = c->in_len + want;
    } else {
        /* A head grows the buffer to one byte past the limit, which tells an overlong head
         * from one exactly at it. */
        want = IN_MIN / 2;
        cap_max = srv->max_header + 1;
    }
    if (want == 0)
        want = 1;
    if (cap_max <= c->in_len)
        cap_max = c->in_len + want;
    if (!in_reserve(c, want, cap_max)) {
        conn_close(c);
        return;
    }
    ssize_t k;
    do {
        k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    } while (k < 0 && errno == EINTR);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (k <= 0) {
        /* Closed or reset by the client: whatever request was half-read is dropped. */
        conn_close(c);
        return;
    }
    c->in_len += (size_t)k;
    conn_touch(c);
    conn_process(c);
}

/* Lingering: read and drop until the client closes, or enough is enough. */
static void conn_linger(conn_t *c)
{
    char sink[4096];
    for (;;) {
        ssize_t k = recv(c->fd, sink, sizeof(sink), 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (k <= 0 || (c->lingered += (size_t)k) > LINGER_MAX) {
            conn_close(c);
            return;
        }
    }
}

static void conn_event(conn_t *c, uint32_t events)
{
    if (c->want_out) {
        /* Only output is waited for (an answer, or a 100 Continue before the body). Sent at
         * last: what the client sent behind it may be waiting in `in`. */
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && conn_flush(c) == STEP_AGAIN)
            conn_process(c);
        return;
    }
    if (c->state == CONN_LINGER)
        conn_linger(c);
    else
        conn_read(c);
}

/* ---- workers */

/* Takes `fd` into `w`'s epoll set and connection list; `w->load` already counts it. On
 * failure the descriptor is closed and the counts given back. */
static void worker_adopt(worker_t *w, int fd)
{
    conn_t *c = calloc(1, sizeof(*c));
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    if (c == NULL || epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(c);
        close(fd);
        atomic_fetch_sub(&w->load, 1);
        atomic_fetch_sub(&w->srv->conn_count, 1);
        return;
    }
    c->w = w;
    c->fd = fd;
    c->state = CONN_HEAD;
    c->next = w->conns;
    if (w->conns != NULL)
        w->conns->prev = c;
    w->conns = c;
    conn_touch(c);
}

/* The worker a new connection should go to: one not inside a handler, then the one with the
 * fewest connections, `self` when it ties. */
static worker_t *least_loaded(http_server_t *srv, worker_t *self)
{
    worker_t *best = self;
    unsigned best_key = atomic_load(&self->load);
    for (unsigned i = 0; i < srv->worker_count; i++) {
        worker_t *w = &srv->workers[i];
        /* Busy workers sort after idle ones: a long query should not get company. */
        unsigned key = atomic_load(&w->load) + (atomic_load(&w->busy) ? srv->max_conn : 0);
        if (key < best_key) {
            best = w;
            best_key = key;
        }
    }
    return best;
}

/* Queues `fd` for `to` and wakes it. false when out of memory (the caller keeps it). */
static bool handoff_push(worker_t *to, int fd)
{
    pthread_mutex_lock(&to->handoff_lock);
    bool ok = true;
    if (to->handoff_len == to->handoff_cap) {
        size_t cap = to->handoff_cap ? to->handoff_cap * 2 : 8;
        int *p = realloc(to->handoff, cap * sizeof(*p));
        if (p == NULL) {
            ok = false;
        } else {
            to->handoff = p;
            to->handoff_cap = cap;
        }
    }
    if (ok)
        to->handoff[to->handoff_len++] = fd;
    pthread_mutex_unlock(&to->handoff_lock);
    uint64_t one = 1;
    if (ok && write(to->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        log_warn(to->srv->log, "http", "could not wake a worker", LF_STR("error", strerror(errno)));
    return ok;
}

/* Adopts the connections other workers handed to this one. */
static void worker_take_handoffs(worker_t *w)
{
    uint64_t n;
    if (read(w->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_warn(w->srv->log, "http", "reading a worker's eventfd failed",
                 LF_STR("error", strerror(errno)));
    pthread_mutex_lock(&w->handoff_lock);
    int *fds = w->handoff;
    size_t len = w->handoff_len;
    w->handoff = NULL;
    w->handoff_len = w->handoff_cap = 0;
    pthread_mutex_unlock(&w->handoff_lock);
    for (size_t i = 0; i < len; i++)
        worker_adopt(w, fds[i]);
    free(fds);
}

/*
 * Accepts what is waiting and places each connection on the least loaded worker. The kernel
 * wakes one idle worker per new connection (EPOLLEXCLUSIVE), but a burst of connections
 * opened while every worker sleeps all lands on the first: without placing them, a dashboard's
 * parallel queries would run one after another on one thread.
 */
static void worker_accept(worker_t *w)
{
    http_server_t *srv = w->srv;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            log_warn(srv->log, "http", "accept failed; pausing new connections",
                     LF_STR("error", strerror(errno)), LF_INT("pause_ms", ACCEPT_PAUSE_MS));
            epoll_ctl(w->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
            w->accepting = false;
            w->accept_resume_ms = now_ms() + ACCEPT_PAUSE_MS;
            return;
        }
        if (atomic_fetch_add(&srv->conn_count, 1) >= srv->max_conn ||
            atomic_load(&srv->stopping)) {
            atomic_fetch_sub(&srv->conn_count, 1);
            close(fd);
            continue;
        }
        /* Whole responses go out in one sendmsg; Nagle would only hold back their tail. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        worker_t *to = least_loaded(srv, w);
        atomic_fetch_add(&to->load, 1);
        if (to != w && !handoff_push(to, fd)) {
            atomic_fetch_sub(&to->load, 1);
            atomic_fetch_add(&w->load, 1);
            to = w;
        }
        if (to == w)
            worker_adopt(w, fd);
    }
}

static bool worker_listen(worker_t *w)
{
    http_server_t *srv = w->srv;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &srv->listen_fd };
    w->accepting = epoll_ctl(w->epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev) == 0;
    return w->accepting;
}

/* Closes expired connections; returns how long epoll_wait may sleep (-1: no deadline). */
static int worker_expire(worker_t *w)
{
    int64_t now = now_ms(), next = INT64_MAX;
    if (!w->accepting) {
        if (now >= w->accept_resume_ms && !worker_listen(w))
            w->accept_resume_ms = now + ACCEPT_PAUSE_MS;
        if (!w->accepting)
            next = w->accept_resume_ms;
    }
    conn_t *c = w->conns;
    while (c != NULL) {
        conn_t *n = c->next;
        if (c->deadline_ms <= now)
            conn_close(c);
        else if (c->deadline_ms < next)
            next = c->deadline_ms;
        c = n;
    }
    if (next == INT64_MAX)
        return -1;
    int64_t wait = next - now;
    return wait > 60000 ? 60000 : (int)wait + 1;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    http_server_t *srv = w->srv;
    struct epoll_event ev[EVENTS_PER_WAIT];
    bool stop = false;
    while (!stop) {
        int timeout = worker_expire(w);
        int n = epoll_wait(w->epfd, ev, EVENTS_PER_WAIT, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error(srv->log, "http", "epoll_wait failed; worker stops",
                      LF_STR("error", strerror(errno)));
            break;
        }
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &srv->stop_fd)
                stop = true;
            else if (p == &srv->listen_fd)
                worker_accept(w);
            else if (p == &w->wake_fd)
                worker_take_handoffs(w);
            else
                conn_event(p, ev[i].events);
        }
    }
    while (w->conns != NULL)
        conn_close(w->conns);
    return NULL;
}

/* ---- server lifecycle */

static void free_server(http_server_t *srv)
{
    for (size_t i = 0; i < srv->route_count; i++)
        http_route_free(&srv->routes[i]);
    free(srv->routes);
    free(srv->workers);
    if (srv->stop_fd >= 0)
        close(srv->stop_fd);
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    free(srv);
}

/* Stops and joins the first `started` workers, then releases every worker's descriptors,
 * connections handed over but never adopted included. */
static void stop_workers(http_server_t *srv, unsigned started)
{
    atomic_store(&srv->stopping, true);
    uint64_t one = 1;
    if (write(srv->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        log_error(srv->log, "http", "could not wake the workers",
                  LF_STR("error", strerror(errno)));
    for (unsigned i = 0; i < started; i++)
        pthread_join(srv->workers[i].thread, NULL);
    for (unsigned i = 0; i < srv->worker_count; i++) {
        worker_t *w = &srv->workers[i];
        for (size_t k = 0; k < w->handoff_len; k++)
            close(w->handoff[k]);
        free(w->handoff);
        if (w->wake_fd >= 0)
            close(w->wake_fd);
        if (w->epfd >= 0)
            close(w->epfd);
        pthread_mutex_destroy(&w->handoff_lock);
    }
}

/* Sets up one worker's epoll set: the stop eventfd, its hand-off eventfd, the listener. */
static int worker_init(http_server_t *srv, worker_t *w, vigil_error_t *err)
{
    w->srv = srv;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event stop_ev = { .events = EPOLLIN, .data.ptr = &srv->stop_fd };
    struct epoll_event wake_ev = { .events = EPOLLIN, .data.ptr = &w->wake_fd };
    if (w->epfd < 0 || w->wake_fd < 0 ||
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, srv->stop_fd, &stop_ev) != 0 ||
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &wake_ev) != 0 || !worker_listen(w))
        return vigil_error_set(err, VIGIL_ESYS, "http server: epoll: %s", strerror(errno));
    return 0;
}

static int start_workers(http_server_t *srv, unsigned threads, vigil_error_t *err)
{
    srv->workers = calloc(threads, sizeof(*srv->workers));
    if (srv->workers == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    srv->worker_count = threads;
    for (unsigned i = 0; i < threads; i++) {
        srv->workers[i].epfd = srv->workers[i].wake_fd = -1;
        pthread_mutex_init(&srv->workers[i].handoff_lock, NULL);
    }
    /* Every worker can be handed connections as soon as the first one runs. */
    int rc = 0;
    for (unsigned i = 0; i < threads && rc == 0; i++)
        rc = worker_init(srv, &srv->workers[i], err);
    unsigned started = 0;
    for (unsigned i = 0; i < threads && rc == 0; i++) {
        int e = pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]);
        if (e != 0)
            rc = vigil_error_set(err, VIGIL_ESYS, "http server: starting a worker: %s",
                                 strerror(e));
        else
            started++;
    }
    if (rc != 0)
        stop_workers(srv, started);
    return rc;
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
    srv->listen_fd = -1;
    srv->stop_fd = -1;
    srv->log = opts->log;
    srv->on_done = opts->on_request_done;
    srv->on_done_ctx = opts->on_request_done_ctx;
    srv->max_body = opts->max_body_bytes ? opts->max_body_bytes : DEFAULT_MAX_BODY;
    srv->max_response = opts->max_response_bytes ? opts->max_response_bytes
                                                 : DEFAULT_MAX_RESPONSE;
    srv->max_header = opts->max_header_bytes ? opts->max_header_bytes : DEFAULT_MAX_HEADER;
    srv->max_conn = opts->max_connections ? opts->max_connections : DEFAULT_MAX_CONNECTIONS;
    srv->timeout_ms = 1000 * (int64_t)(opts->connection_timeout_s ? opts->connection_timeout_s
                                                                  : DEFAULT_TIMEOUT_S);
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

    rc = http_listen_open(opts->listen, &srv->listen_fd, &srv->port, err);
    if (rc != 0)
        goto out_free_server;
    srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->stop_fd < 0) {
        rc = vigil_error_set(err, VIGIL_ESYS, "http server: eventfd: %s", strerror(errno));
        goto out_free_server;
    }
    unsigned threads = opts->threads ? opts->threads : DEFAULT_THREADS;
    /* More workers than connections could only sleep. */
    if (threads > srv->max_conn)
        threads = srv->max_conn;
    rc = start_workers(srv, threads, err);
    if (rc != 0)
        goto out_free_server;
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
    /* A handler still running holds its worker, which sees the stop only after the handler
     * returns: the flag is how http_request_cancelled() tells it to give up. Each worker
     * then closes its connections (reporting requests whose answer was queued) and exits. */
    stop_workers(srv, srv->worker_count);
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
    return http_head_field(&req->head, name);
}

const char *http_request_body(const http_request_t *req, size_t *len)
{
    if (len != NULL)
        *len = req->body.len;
    return req->body.data != NULL ? req->body.data : "";
}

bool http_request_client_gone(const http_request_t *req)
{
    char c;
    ssize_t n = recv(req->conn->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0)
        return true; /* orderly shutdown by the peer */
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

bool http_request_cancelled(const http_request_t *req)
{
    return atomic_load(&req->srv->stopping) || http_request_client_gone(req);
}
