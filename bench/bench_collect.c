/*
 * bench_collect - CPU cost of one full host collection, against node_exporter's CPU per scrape.
 *
 * collect.host_cycle: CPU microseconds (CLOCK_PROCESS_CPUTIME_ID) of one collect_run_once()
 * of every host collector on the live /proc, /sys and / (the cgroup, process and gpu
 * collectors, which node_exporter does not have, are left out), text exposition included,
 * averaged over 200 cycles after a warm-up. Baseline: the real prometheus-node-exporter on 127.0.0.1,
 * restricted to the same collectors (cpu stat meminfo vmstat loadavg diskstats filesystem
 * netdev pressure filefd uname os time), scraped 50 times; its CPU per scrape is the change of
 * its own process_cpu_seconds_total over those scrapes. It is started and killed by PID.
 *
 * collect.full_cycle (report only): the same with every collector, against host_cycle.
 *
 * One JSON line each as bench/README.md describes; skipped unless $BENCH is empty or a
 * prefix of the benchmark's name.
 */
#include "bench_common.h"
#include "collect/collect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODE_EXPORTER "/usr/bin/prometheus-node-exporter"
#define OUR_CYCLES    200
#define SCRAPES       50

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* node_exporter has no counterpart of these: the comparison leaves them out on both sides
 * (collect.full_cycle reports the cost of everything). */
static const collect_enable_t beyond_node_exporter[] = {
    { "cgroup", false }, { "process", false }, { "gpu", false },
};

/* CPU microseconds of one collect_run_once(), host collectors only or every collector. */
static double ours_us_per_cycle(bool host_only)
{
    collect_t *c;
    vigil_error_t err;
    collect_options_t o = { 0 };
    if (host_only) {
        o.enable = beyond_node_exporter;
        o.n_enable = sizeof(beyond_node_exporter) / sizeof(beyond_node_exporter[0]);
    }
    if (collect_create(&c, &o, NULL, &err) != 0) {
        fprintf(stderr, "bench_collect: %s\n", err.message);
        return -1;
    }
    buf_t out;
    buf_init(&out, 64u << 20);
    for (int i = 0; i < 10; i++) { /* buffers reach their steady size */
        buf_reset(&out);
        collect_run_once(c, NULL, &out, NULL);
    }
    double t0 = cpu_seconds();
    for (int i = 0; i < OUR_CYCLES; i++) {
        buf_reset(&out);
        if (collect_run_once(c, NULL, &out, &err) != 0)
            fprintf(stderr, "bench_collect: %s\n", err.message);
    }
    double us = (cpu_seconds() - t0) * 1e6 / OUR_CYCLES;
    buf_free(&out);
    collect_free(c);
    return us;
}

/* GET /metrics into out; 0 or -1 (not listening yet, or an I/O error). */
static int scrape(int port, buf_t *out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int rc = -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto out_close;
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
        goto out_close;
    buf_reset(out);
    char tmp[65536];
    for (;;) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out_close;
        if (n == 0)
            break;
        if (buf_append(out, tmp, (size_t)n) != 0)
            goto out_close;
    }
    rc = out->len > 0 ? 0 : -1;
out_close:
    close(fd);
    return rc;
}

static double process_cpu(const buf_t *body)
{
    const char *p = strstr(body->data, "\nprocess_cpu_seconds_total ");
    return p != NULL ? strtod(p + 27, NULL) : -1;
}

static double node_exporter_us_per_scrape(void)
{
    if (access(NODE_EXPORTER, X_OK) != 0)
        return -1;
    int port = bench_free_port();
    if (port < 0)
        return -1;
    char listen[64];
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl(NODE_EXPORTER, NODE_EXPORTER, listen, "--collector.disable-defaults",
              "--collector.cpu", "--collector.stat", "--collector.meminfo", "--collector.vmstat",
              "--collector.loadavg", "--collector.diskstats", "--collector.filesystem",
              "--collector.netdev", "--collector.pressure", "--collector.filefd",
              "--collector.uname", "--collector.os", "--collector.time", (char *)NULL);
        _exit(127);
    }
    buf_t body;
    buf_init(&body, 64u << 20);
    double result = -1;
    int up = -1;
    for (int i = 0; i < 400 && up != 0; i++) {
        up = scrape(port, &body);
        if (up != 0)
            usleep(25000);
    }
    if (up != 0)
        goto out_kill;
    for (int i = 0; i < 5; i++) /* warm-up: Go runtime, first-scrape allocations */
        scrape(port, &body);
    double before = process_cpu(&body);
    for (int i = 0; i < SCRAPES; i++)
        if (scrape(port, &body) != 0)
            goto out_kill;
    double after = process_cpu(&body);
    /* The last scrape's own reading is taken before it finished encoding: SCRAPES intervals
     * lie between the two readings. */
    if (before >= 0 && after >= before)
        result = (after - before) * 1e6 / SCRAPES;
out_kill:
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    buf_free(&body);
    return result;
}

int main(void)
{
    if (bench_wanted("collect.host_cycle")) {
        double ours = ours_us_per_cycle(true);
        double theirs = node_exporter_us_per_scrape();
        if (ours < 0)
            return 1;
        if (theirs > 0)
            printf("{\"bench\":\"collect.host_cycle\",\"value\":%.1f,\"unit\":\"us/cycle\","
                   "\"baseline\":\"node_exporter_scrape\",\"baseline_value\":%.1f,"
                   "\"ratio\":%.4f}\n", ours, theirs, ours / theirs);
        else
            printf("{\"bench\":\"collect.host_cycle\",\"value\":%.1f,\"unit\":\"us/cycle\","
                   "\"baseline\":\"node_exporter_scrape\",\"baseline_value\":null,"
                   "\"ratio\":null}\n", ours);
        fflush(stdout);
    }
    if (bench_wanted("collect.full_cycle")) {
        /* Report only: every collector, cgroups and processes included, against the host
         * collectors' own cost (how much containers and processes add on this machine). */
        double host = ours_us_per_cycle(true), full = ours_us_per_cycle(false);
        if (host < 0 || full < 0)
            return 1;
        bench_report("collect.full_cycle", full, "us/cycle", "collect.host_cycle", host);
    }
    return 0;
}
