/*
 * fuzz_http_server.c - libFuzzer target for the whole HTTP/1.1 server (src/http/server.c on
 * top of wire.c): the bytes go to a real server over TCP on 127.0.0.1, in pieces, so the
 * connection state machine (head, body, 100-continue, pipelining, partial writes, lingering
 * close) sees them as a client would send them.
 *
 * One server (2 workers, small limits, a few routes) is started on the first input and serves
 * them all. Input: a flag byte (bits 0-2: how many split points follow; bit 3: pause briefly
 * after each piece so the server reads them apart; bit 4: a small client receive buffer;
 * bit 5: read what has arrived between pieces; bits 6-7: cap the server's writes, see
 * sendmsg below), the split bytes, then the bytes to send. The client sends them, half-closes,
 * and reads until the server closes.
 *
 * Oracles (abort on violation): what comes back is a sequence of well-formed HTTP/1.x
 * responses (status line, token: value headers, CRLF CRLF, exactly Content-Length body bytes
 * unless it was a HEAD, 1xx, 204 or 304 answer, nothing after "Connection: close"); there are
 * never more final responses than heads the input could hold; and after every input a fresh
 * connection still gets the exact answer of GET /ok. ASan and UBSan watch the workers.
 * A receive timeout or a reset is tolerated (printed, or fatal with
 * FUZZ_HTTP_SERVER_STRICT=1 set, to hunt for hangs and lost answers).
 *
 * Build and run (not part of the default build; needs build/libvigil_agent.a and
 * build/libvigil.a from a normal build):
 *   clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -Iinclude -Isrc fuzz/fuzz_http_server.c src/http/[a-z]*.c \
 *       build/libvigil_agent.a build/libvigil.a -lm -lpthread -o fuzz_http_server
 *   mkdir -p corpus_http_server
 *   ./fuzz_http_server -max_len=4096 corpus_http_server fuzz/corpus/http_server
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SPLITS   7
#define BIG_MAX      200000
#define RECV_TIMEOUT 3 /* seconds; the server's own timeout is 2 s */
#define OK_BODY      "ok\n"

/* ---- partial writes on demand
 *
 * Loopback send buffers grow to megabytes, so a real answer almost never meets a full socket
 * and the server's EAGAIN / EPOLLOUT path would go unfuzzed. The server writes responses with
 * sendmsg and the client never calls it, so this definition, which takes the place of libc's
 * (and the sanitizers' interceptor) for the whole program, stands in for a full socket: while
 * write_cap is set, every other call fails with EAGAIN and the others send at most write_cap
 * bytes. The socket is writable all along, so EPOLLOUT comes back at once. */

static atomic_size_t write_cap;
static atomic_uint   write_calls;

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    size_t cap = atomic_load(&write_cap);
    if (cap == 0)
        return syscall(SYS_sendmsg, fd, msg, flags);
    if (atomic_fetch_add(&write_calls, 1) % 2 == 0) {
        errno = EAGAIN;
        return -1;
    }
    struct iovec iov[4];
    struct msghdr m = *msg;
    size_t n = 0, total = 0;
    for (size_t i = 0; i < msg->msg_iovlen && n < 4 && total < cap; i++, n++) {
        iov[n] = msg->msg_iov[i];
        if (iov[n].iov_len > cap - total)
            iov[n].iov_len = cap - total;
        total += iov[n].iov_len;
    }
    m.msg_iov = iov;
    m.msg_iovlen = n;
    return syscall(SYS_sendmsg, fd, &m, flags);
}

/* ---- the server and its routes */

static int h_ok(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req, (void)ctx;
    return http_response_text(resp, 200, OK_BODY);
}

static int h_echo(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)ctx;
    size_t len;
    const char *body = http_request_body(req, &len);
    resp->status = 200;
    return buf_append(&resp->body, body, len);
}

static int h_items(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)ctx;
    const char *id = http_request_path_param(req, "id");
    if (id == NULL)
        abort(); /* the route has an {id} segment */
    resp->status = 200;
    return buf_printf(&resp->body, "item %s\n", id);
}

/* A body big enough to fill the socket, so the server has to wait for EPOLLOUT. */
static int h_big(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)ctx;
    const char *s = http_request_param(req, "bytes");
    long n = s != NULL ? strtol(s, NULL, 10) : 0;
    if (n < 0)
        n = 0;
    if (n > BIG_MAX)
        n = BIG_MAX;
    static const char line[] = "0123456789abcdef\n";
    resp->status = 200;
    for (long i = 0; i < n; i += 17) {
        int rc = buf_append(&resp->body, line, n - i < 17 ? (size_t)(n - i) : 17);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int h_nocontent(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req, (void)ctx;
    resp->status = 204;
    return 0;
}

/* Any status the client asks for, invalid ones included (the server must answer 500). */
static int h_status(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)ctx;
    const char *s = http_request_param(req, "code");
    resp->status = s != NULL ? atoi(s) : 200;
    return buf_printf(&resp->body, "status %d\n", resp->status);
}

static int h_fail(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req, (void)resp, (void)ctx;
    return VIGIL_EINVAL;
}

static const http_route_t routes[] = {
    { HTTP_GET, "/ok", "ok", h_ok, NULL },
    { HTTP_POST | HTTP_PUT, "/echo", "echo", h_echo, NULL },
    { HTTP_POST | HTTP_RAW_BODY, "/raw", "raw", h_echo, NULL },
    { HTTP_GET, "/items/{id}", "items", h_items, NULL },
    { HTTP_GET, "/big", "big", h_big, NULL },
    { HTTP_GET | HTTP_DELETE, "/nocontent", "nocontent", h_nocontent, NULL },
    { HTTP_GET | HTTP_POST, "/status", "status", h_status, NULL },
    { HTTP_GET, "/fail", "fail", h_fail, NULL },
};

static bool strict;

static int server_port(void)
{
    static http_server_t *srv;
    if (srv == NULL) {
        http_server_options_t o = {
            .listen = "127.0.0.1:0",
            .threads = 2,
            .connection_timeout_s = 2,
            .max_body_bytes = 1024, /* small enough for a fuzzed body to pass it */
            .max_header_bytes = 2048,
            .routes = routes,
            .route_count = sizeof(routes) / sizeof(routes[0]),
        };
        vigil_error_t err;
        if (http_server_start(&srv, &o, &err) != 0) {
            fprintf(stderr, "http_server_start: %s\n", err.message);
            abort();
        }
        const char *s = getenv("FUZZ_HTTP_SERVER_STRICT");
        strict = s != NULL && strcmp(s, "1") == 0;
    }
    return http_server_port(srv);
}

/* ---- the client */

static int connect_server(bool small_rcvbuf)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)server_port()) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A loopback connect can fail when the fuzzer recycles ports quickly: retry, then give
     * up loudly, since a server that stopped accepting is a finding too. */
    for (int attempt = 0; attempt < 50; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            abort();
        struct timeval tv = { .tv_sec = RECV_TIMEOUT };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (small_rcvbuf) {
            int n = 4096;
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
        }
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            return fd;
        close(fd);
        struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "cannot connect to the server\n");
    abort();
}

typedef struct {
    char  *data;
    size_t len, cap;
    bool   broken;    /* a receive timed out or failed */
    bool   clean_eof; /* ended by the server's FIN, and never broken */
} reply_t;

static void reply_add(reply_t *r, const char *p, size_t n)
{
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n)
            cap *= 2;
        char *d = realloc(r->data, cap);
        if (d == NULL)
            abort();
        r->data = d;
        r->cap = cap;
    }
    memcpy(r->data + r->len, p, n);
    r->len += n;
}

/* Reads what is there (`wait`: until EOF or the receive timeout). */
static void read_reply(int fd, reply_t *r, bool wait)
{
    char chunk[65536];
    for (;;) {
        ssize_t k = recv(fd, chunk, sizeof(chunk), wait ? 0 : MSG_DONTWAIT);
        if (k > 0) {
            reply_add(r, chunk, (size_t)k);
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (!wait && k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (k == 0) {
            r->clean_eof = !r->broken;
        } else {
            r->broken = true;
            fprintf(stderr, "fuzz_http_server: recv: %s after %zu bytes\n",
                    errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno),
                    r->len);
            if (strict)
                abort();
        }
        return;
    }
}

/* Sends all of p[0..n); false once the server has closed its side for good. */
static bool send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false; /* EPIPE, ECONNRESET: it refused the rest, and may have said why */
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* ---- the oracle */

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* One response head at p[0..n). Returns its length (0: incomplete), or -1 when malformed;
 * sets the status, the Content-Length (-1 when none) and whether it says Connection: close. */
static long parse_head(const char *p, size_t n, int *status, long long *clen, bool *close)
{
    *clen = -1;
    *close = false;
    if (n < 15)
        return memcmp(p, "HTTP/1.", n < 7 ? n : 7) == 0 ? 0 : -1;
    if (memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
        p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
        p[11] > '9' || p[12] != ' ')
        return -1;
    *status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    /* The reason phrase: visible characters and spaces, at least one. */
    size_t i = 13;
    for (; i < n && p[i] != '\r'; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return -1;
    if (i == 13)
        return -1;
    for (;;) {
        /* p[i] is the CR ending the previous line. */
        if (i + 1 >= n)
            return 0;
        if (p[i + 1] != '\n')
            return -1;
        i += 2;
        if (i + 1 >= n)
            return 0;
        if (p[i] == '\r')
            return p[i + 1] == '\n' ? (long)(i + 2) : -1;
        size_t name = i;
        while (i < n && is_tchar((unsigned char)p[i]))
            i++;
        if (i == n)
            return 0;
        if (i == name || p[i] != ':')
            return -1;
        size_t nlen = i - name;
        i++;
        size_t value = i;
        for (; i < n && p[i] != '\r'; i++)
            if (p[i] == '\n' || p[i] == '\0')
                return -1;
        if (i == n)
            return 0;
        while (value < i && p[value] == ' ')
            value++;
        size_t vlen = i - value;
        if (nlen == 14 && strncasecmp(p + name, "Content-Length", 14) == 0) {
            if (*clen >= 0 || vlen == 0 || vlen > 12)
                return -1;
            long long v = 0;
            for (size_t k = 0; k < vlen; k++) {
                if (p[value + k] < '0' || p[value + k] > '9')
                    return -1;
                v = v * 10 + (p[value + k] - '0');
            }
            *clen = v;
        }
        if (nlen == 10 && strncasecmp(p + name, "Connection", 10) == 0 && vlen == 5 &&
            strncasecmp(p + value, "close", 5) == 0)
            *close = true;
    }
}

/* Memo for check_from: positions known not to parse. */
static uint8_t *failed_at;

/*
 * Whether r->data[pos..] is a well-formed sequence of responses; *finals counts the final
 * (non-1xx) ones. A response with a Content-Length may lack its body when the input holds a
 * HEAD request (`head_seen`), and the client cannot tell which one it answered, so both
 * readings are tried: a body that itself looks like a response must not fool the check.
 */
static bool check_from(const reply_t *r, size_t pos, bool head_seen, size_t *finals)
{
    if (pos == r->len)
        return true;
    if (failed_at[pos])
        return false;
    int status;
    long long clen;
    bool close;
    long hl = parse_head(r->data + pos, r->len - pos, &status, &clen, &close);
    bool ok = false;
    if (hl == 0) {
        /* A cut head: only when the connection broke, never at a clean close. */
        ok = !r->clean_eof;
    } else if (hl > 0) {
        size_t end = pos + (size_t)hl;
        size_t left = r->len - end;
        bool bodyless = status < 200 || status == 204 || status == 304;
        size_t n = 0;
        if (status >= 200)
            n = 1;
        if (bodyless || clen <= 0) {
            if (bodyless && clen > 0) {
                ok = false; /* the server never frames a body for these */
            } else if (close) {
                ok = left == 0;
            } else {
                ok = check_from(r, end, head_seen, finals);
            }
        } else {
            if ((unsigned long long)clen <= left) {
                size_t next = end + (size_t)clen;
                ok = close ? next == r->len : check_from(r, next, head_seen, finals);
            } else {
                /* A cut body: the connection broke, or a HEAD answer with more behind. */
                ok = !r->clean_eof;
            }
            if (!ok && head_seen)
                ok = close ? left == 0 : check_from(r, end, head_seen, finals);
        }
        if (ok)
            *finals += n;
    }
    if (!ok)
        failed_at[pos] = 1;
    return ok;
}

static void check_reply(const reply_t *r, const uint8_t *req, size_t req_len, const char *what)
{
    failed_at = calloc(r->len + 1, 1);
    if (failed_at == NULL)
        abort();
    bool head_seen = memmem(req, req_len, "HEAD", 4) != NULL;
    size_t finals = 0;
    if (!check_from(r, 0, head_seen, &finals)) {
        fprintf(stderr, "fuzz_http_server: %s: malformed reply (%zu bytes):\n%.*s\n", what,
                r->len, (int)(r->len > 2000 ? 2000 : r->len), r->data);
        abort();
    }
    free(failed_at);
    failed_at = NULL;
    /* Every final answer ends a head the input sent, or refuses the last one (+1). */
    size_t heads = 1;
    for (size_t i = 0; i + 1 < req_len; i++)
        if (req[i] == '\n' && (req[i + 1] == '\n' || (req[i + 1] == '\r' && i + 2 < req_len &&
                                                      req[i + 2] == '\n')))
            heads++;
    if (finals > heads) {
        fprintf(stderr, "fuzz_http_server: %s: %zu answers to at most %zu requests\n", what,
                finals, heads);
        abort();
    }
}

/* The server still answers a plain request, exactly. */
static void check_alive(void)
{
    static const char get[] = "GET /ok HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";
    int fd = connect_server(false);
    if (!send_all(fd, (const uint8_t *)get, sizeof(get) - 1))
        abort();
    shutdown(fd, SHUT_WR);
    reply_t r = { 0 };
    read_reply(fd, &r, true);
    close(fd);
    check_reply(&r, (const uint8_t *)get, sizeof(get) - 1, "GET /ok");
    static const char want[] = "\r\nContent-Length: 3\r\nConnection: close\r\n\r\n" OK_BODY;
    size_t wl = sizeof(want) - 1;
    if (!r.clean_eof || r.len < wl || memcmp(r.data, "HTTP/1.1 200 OK\r\n", 17) != 0 ||
        memcmp(r.data + r.len - wl, want, wl) != 0) {
        fprintf(stderr, "fuzz_http_server: GET /ok after the input got (%zu bytes):\n%.*s\n",
                r.len, (int)r.len, r.data ? r.data : "");
        abort();
    }
    free(r.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t nsplit = flags & 7u;
    if (size < 1 + nsplit)
        return 0;
    const uint8_t *req = data + 1 + nsplit;
    size_t len = size - 1 - nsplit;
    size_t cut[MAX_SPLITS + 2];
    cut[0] = 0;
    for (size_t i = 0; i < nsplit; i++)
        cut[i + 1] = (size_t)data[1 + i] * len / 255;
    cut[nsplit + 1] = len;
    /* Sorted, so the pieces are in order (insertion sort: at most 9). */
    for (size_t i = 1; i < nsplit + 2; i++)
        for (size_t j = i; j > 0 && cut[j - 1] > cut[j]; j--) {
            size_t t = cut[j];
            cut[j] = cut[j - 1];
            cut[j - 1] = t;
        }

    static const size_t caps[4] = { 0, 7, 1000, 16384 };
    atomic_store(&write_cap, caps[flags >> 6]);
    int fd = connect_server(flags & 0x10);
    reply_t r = { 0 };
    for (size_t i = 0; i < nsplit + 1; i++) {
        if (!send_all(fd, req + cut[i], cut[i + 1] - cut[i]))
            break;
        if (flags & 0x08) {
            struct timespec ts = { .tv_nsec = 300 * 1000 };
            nanosleep(&ts, NULL);
        }
        if (flags & 0x20)
            read_reply(fd, &r, false);
    }
    shutdown(fd, SHUT_WR);
    read_reply(fd, &r, true);
    close(fd);
    check_reply(&r, req, len, "input");
    free(r.data);
    atomic_store(&write_cap, 0);
    check_alive();
    return 0;
}
