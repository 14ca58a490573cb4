/*
 * bench_http.c - the HTTP server layer (src/http/) against Prometheus 2.42's Go net/http
 * server, both on 127.0.0.1 and both answering the same request: GET /-/healthy with the 30
 * bytes "Prometheus Server is Healthy.\n" as text/plain.
 *
 *   http.request_keepalive   ns per request over one keep-alive connection, sequential:
 *                            write the request, read the whole response (Content-Length).
 *   http.request_new_conn    ns per request with a new connection each time: connect,
 *                            request, response, close (the accept path and connection set-up).
 *
 * vigil's side is http_server_start() in this process with one route; Prometheus is started
 * from $PATH with an empty scrape config and a temporary data directory, and stopped by its
 * pid. The client is the same code for both. Without a `prometheus` binary nothing is
 * printed. One JSON line each (bench/README.md); only names starting with $BENCH run.
 */
#include "bench_common.h"
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEALTHY_BODY "Prometheus Server is Healthy.\n"
#define KEEPALIVE_REQUESTS 20000
#define NEW_CONN_REQUESTS  5000
#define WARMUP             500

static const char request[] = "GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "User-Agent: vigil-bench\r\nAccept: */*\r\n\r\n";

static int h_healthy(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    return http_response_text(resp, 200, HEALTHY_BODY);
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends the request and reads one whole response; 0 when it was a 200 with the body. */
static int round_trip(int fd)
{
    if (write(fd, request, sizeof(request) - 1) != (ssize_t)(sizeof(request) - 1))
        return -1;
    char buf[2048];
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (k <= 0)
            return -1;
        n += (size_t)k;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end == NULL)
            continue;
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl == NULL || strncmp(buf, "HTTP/1.1 200", 12) != 0)
            return -1;
        size_t want = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
        if (n >= want)
            return n == want && strstr(end + 4, HEALTHY_BODY) == end + 4 ? 0 : -1;
        if (n >= sizeof(buf) - 1)
            return -1;
    }
}

static double keepalive_ns(int port)
{
    int fd = connect_port(port);
    if (fd < 0)
        return -1;
    for (int i = 0; i < WARMUP; i++)
        if (round_trip(fd) != 0)
            goto fail;
    double t0 = bench_now_s();
    for (int i = 0; i < KEEPALIVE_REQUESTS; i++)
        if (round_trip(fd) != 0)
            goto fail;
    double t = bench_now_s() - t0;
    close(fd);
    return t * 1e9 / KEEPALIVE_REQUESTS;
fail:
    close(fd);
    return -1;
}

static double new_conn_ns(int port)
{
    double t0 = 0;
    for (int i = 0; i < WARMUP + NEW_CONN_REQUESTS; i++) {
        if (i == WARMUP)
            t0 = bench_now_s();
        int fd = connect_port(port);
        if (fd < 0 || round_trip(fd) != 0) {
            if (fd >= 0)
                close(fd);
            return -1;
        }
        close(fd);
    }
    return (bench_now_s() - t0) * 1e9 / NEW_CONN_REQUESTS;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Starts Prometheus on a free port; its pid in *pid, or 0 when it could not be started. */
static int start_prometheus(const char *dir, pid_t *pid)
{
    *pid = 0;
    char cfg[512], data[512], listen[64];
    snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    FILE *f = fopen(cfg, "w");
    if (f == NULL)
        return -1;
    fputs("global:\n  scrape_interval: 1m\n", f);
    fclose(f);
    int port = bench_free_port();
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
    char cfg_arg[600], data_arg[600];
    snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", cfg);
    snprintf(data_arg, sizeof(data_arg), "--storage.tsdb.path=%s", data);
    pid_t p = fork();
    if (p < 0)
        return -1;
    if (p == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execlp("prometheus", "prometheus", cfg_arg, data_arg, listen, (char *)NULL);
        _exit(127);
    }
    *pid = p;
    /* Ready when /-/healthy answers; at most about 30 s. */
    for (int i = 0; i < 600; i++) {
        int fd = connect_port(port);
        if (fd >= 0) {
            int ok = round_trip(fd);
            close(fd);
            if (ok == 0)
                return port;
        }
        if (waitpid(p, NULL, WNOHANG) == p) {
            *pid = 0;
            return -1;
        }
        usleep(50000);
    }
    return -1;
}

static void stop_prometheus(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(void)
{
    bool keep = bench_wanted("http.request_keepalive");
    bool fresh = bench_wanted("http.request_new_conn");
    if (!keep && !fresh)
        return 0;
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/vigil-bench-http-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("bench_http: mkdtemp");
        return 1;
    }
    pid_t prom_pid;
    int prom_port = start_prometheus(dir, &prom_pid);
    int rc = 0;
    if (prom_port < 0) {
        fprintf(stderr, "bench_http: prometheus not found or did not start; skipped\n");
        goto out;
    }
    static const http_route_t routes[] = {
        { HTTP_GET, "/-/healthy", "healthy", h_healthy, NULL },
    };
    http_server_options_t o = { .listen = "127.0.0.1:0", .routes = routes, .route_count = 1 };
    http_server_t *srv;
    vigil_error_t err;
    if (http_server_start(&srv, &o, &err) != 0) {
        fprintf(stderr, "bench_http: %s\n", err.message);
        rc = 1;
        goto out;
    }
    int port = http_server_port(srv);
    if (keep) {
        double ours = keepalive_ns(port), theirs = keepalive_ns(prom_port);
        if (ours < 0 || theirs < 0) {
            fprintf(stderr, "bench_http: a keep-alive request failed\n");
            rc = 1;
        } else {
            bench_report("http.request_keepalive", ours, "ns/op",
                         "prometheus_2.42_net_http", theirs);
        }
    }
    if (fresh) {
        double ours = new_conn_ns(port), theirs = new_conn_ns(prom_port);
        if (ours < 0 || theirs < 0) {
            fprintf(stderr, "bench_http: a new-connection request failed\n");
            rc = 1;
        } else {
            bench_report("http.request_new_conn", ours, "ns/op", "prometheus_2.42_net_http",
                         theirs);
        }
    }
    http_server_stop(srv);
out:
    stop_prometheus(prom_pid);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
