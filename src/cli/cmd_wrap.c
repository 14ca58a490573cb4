/*
 * cmd_wrap.c - `vigil wrap [--json FILE] [--interval S] -- CMD ARGS...`: runs a job (a training
 * script, an eval) under monitoring, as seed 000's "Observability in CLI" telemetry.
 *
 * The life of a run:
 *   1. A UDP socket on 127.0.0.1 (a free port) receives StatsD; the child gets
 *      VIGIL_STATSD=127.0.0.1:PORT in its environment.
 *   2. Signals are blocked and read from a signalfd; the child is forked with the original mask
 *      and execs CMD (exit 127 when it cannot).
 *   3. The loop polls the signalfd and the socket, and every interval samples the child's whole
 *      process tree (proctree.h: CPU, RSS, I/O) and, when NVML loads, the GPU memory and
 *      utilisation of the devices the tree runs on (monitor_gpu.h).
 *   4. SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH are forwarded to the
 *      child, except those the terminal generated (si_code SI_KERNEL): the terminal already
 *      sent them to the child's process group, which is ours.
 *   5. When the child exits, the socket is drained (datagrams sent before the exit are in its
 *      buffer), the summary is printed on stderr, --json writes summary and series, and wrap
 *      exits with the child's code (128 + N when a signal N killed it).
 *
 * Figures: wall time from fork to reap (monotonic clock). cpu_percent_mean is the children's
 * total CPU time (getrusage, so processes too short for any sample count) over the wall time;
 * the peak is the largest per-interval figure. memory_mb_peak is the larger of the largest
 * sampled tree RSS and the largest single descendant's ru_maxrss. A counter named "tokens"
 * yields throughput_tok_per_s = tokens / wall time and latency_ms_per_tok = wall ms / tokens.
 */
#include "cli/cli.h"

#include "agent/monitor_gpu.h"
#include "agent/proctree.h"
#include "agent/statsd.h"
#include "util/buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#define MAX_SAMPLES 100000  /* about 28 h at 1 s; later samples are counted, not kept */
#define MAX_TREE 4096

typedef struct sample {
    double   t;            /* seconds since the start */
    double   cpu_percent;  /* over the interval before the sample (100 = one CPU) */
    double   rss_mb;
    uint64_t read_bytes, write_bytes;
    size_t   procs;
    double   gpu_memory_mb, gpu_util_percent;  /* NaN without NVML */
} sample_t;

typedef struct wrap {
    double          interval;
    const char     *json_path;
    char          **cmd;
    int             udp, sfd, port;
    pid_t           child;
    double          start;
    statsd_agg_t    statsd;
    monitor_gpu_t  *gpu;
    bool            gpu_ok;
    sample_t       *series;
    size_t          n_series, samples_dropped;
    double          last_t, last_cpu;
    bool            have_last;
    double          cpu_peak, rss_peak_mb, gpu_mem_peak, gpu_util_peak, gpu_util_sum;
    size_t          gpu_util_n, procs_peak;
    uint64_t        read_peak, write_peak;
    pid_t           tree[MAX_TREE];
} wrap_t;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_statsd(wrap_t *w)
{
    w->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (w->udp < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    /* A larger receive buffer so bursts between two polls are not dropped by the kernel. */
    int sz = 4 << 20;
    setsockopt(w->udp, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    if (bind(w->udp, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(w->udp, (struct sockaddr *)&a, &al) != 0)
        return -1;
    w->port = ntohs(a.sin_port);
    return 0;
}

static void drain_statsd(wrap_t *w)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(w->udp, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return;
        statsd_agg_datagram(&w->statsd, buf, (size_t)n);
    }
}

static void take_sample(wrap_t *w)
{
    proctree_sample_t s;
    if (proctree_sample("/proc", w->child, w->tree, MAX_TREE, &s, NULL) != 0)
        return;
    double now = mono() - w->start;
    sample_t x = { .t = now, .rss_mb = (double)s.rss_bytes / (1024.0 * 1024.0),
                   .read_bytes = s.read_bytes, .write_bytes = s.write_bytes, .procs = s.n_procs,
                   .gpu_memory_mb = NAN, .gpu_util_percent = NAN };
    /* Processes that exited without being reaped by a tree member take their CPU time with
     * them: a falling sum is clamped at 0, the mean comes from getrusage at the end. */
    if (w->have_last && now > w->last_t)
        x.cpu_percent = fmax(0, (s.cpu_seconds - w->last_cpu) / (now - w->last_t) * 100.0);
    w->have_last = true;
    w->last_t = now;
    w->last_cpu = s.cpu_seconds;
    if (w->gpu_ok) {
        monitor_gpu_procs_t g;
        size_t np = s.n_procs < MAX_TREE ? s.n_procs : MAX_TREE;
        if (monitor_gpu_procs(w->gpu, w->tree, np, &g) == 0) {
            x.gpu_memory_mb = g.memory_mb;
            x.gpu_util_percent = g.devices > 0 ? g.util_percent : NAN;
            w->gpu_mem_peak = fmax(w->gpu_mem_peak, g.memory_mb);
            if (!isnan(x.gpu_util_percent)) {
                w->gpu_util_peak = fmax(w->gpu_util_peak, x.gpu_util_percent);
                w->gpu_util_sum += x.gpu_util_percent;
                w->gpu_util_n++;
            }
        }
    }
    w->cpu_peak = fmax(w->cpu_peak, x.cpu_percent);
    w->rss_peak_mb = fmax(w->rss_peak_mb, x.rss_mb);
    if (s.n_procs > w->procs_peak)
        w->procs_peak = s.n_procs;
    if (s.read_bytes > w->read_peak)
        w->read_peak = s.read_bytes;
    if (s.write_bytes > w->write_peak)
        w->write_peak = s.write_bytes;
    if (w->n_series < MAX_SAMPLES)
        w->series[w->n_series++] = x;
    else
        w->samples_dropped++;
}

/* Appends a JSON number, or null for NaN/inf. */
static int put_num(buf_t *b, double v)
{
    return isfinite(v) ? buf_printf(b, "%.10g", v) : buf_puts(b, "null");
}

/* Appends `,"key":` and v as put_num does: the summary's number-or-null members. */
static int put_num_field(buf_t *b, const char *key, double v)
{
    int rc = buf_printf(b, ",\"%s\":", key);
    return rc ? rc : put_num(b, v);
}

typedef struct summary {
    int    exit_code;
    double wall_s, cpu_s, cpu_mean, mem_peak_mb, tokens, tput, lat_ms;
    bool   has_tokens;
} summary_t;

static int write_json(const wrap_t *w, const summary_t *s)
{
    buf_t b;
    buf_init(&b, 512u << 20);
    int rc = buf_puts(&b, "{\"command\":[");
    for (size_t i = 0; rc == 0 && w->cmd[i] != NULL; i++) {
        rc = i ? buf_putc(&b, ',') : 0;
        rc = rc ? rc : buf_put_json_string(&b, w->cmd[i]);
    }
    rc = rc ? rc : buf_printf(&b, "],\"exit_code\":%d,\"interval_s\":", s->exit_code);
    rc = rc ? rc : put_num(&b, w->interval);
    rc = rc ? rc : put_num_field(&b, "wall_time_s", s->wall_s);
    rc = rc ? rc : put_num_field(&b, "memory_mb_peak", s->mem_peak_mb);
    rc = rc ? rc : put_num_field(&b, "cpu_seconds", s->cpu_s);
    rc = rc ? rc : put_num_field(&b, "cpu_percent_mean", s->cpu_mean);
    rc = rc ? rc : put_num_field(&b, "cpu_percent_peak", w->cpu_peak);
    rc = rc ? rc : buf_printf(&b, ",\"io_read_bytes_peak\":%llu,\"io_write_bytes_peak\":%llu,"
                                  "\"processes_peak\":%zu,\"gpu\":{\"available\":%s,"
                                  "\"util_percent_mean\":",
                              (unsigned long long)w->read_peak, (unsigned long long)w->write_peak,
                              w->procs_peak, w->gpu_ok ? "true" : "false");
    rc = rc ? rc : put_num(&b, w->gpu_util_n ? w->gpu_util_sum / (double)w->gpu_util_n : NAN);
    rc = rc ? rc : put_num_field(&b, "util_percent_peak", w->gpu_util_n ? w->gpu_util_peak : NAN);
    rc = rc ? rc : put_num_field(&b, "memory_mb_peak", w->gpu_ok ? w->gpu_mem_peak : NAN);
    rc = rc ? rc : buf_printf(&b, "},\"statsd\":{\"port\":%d,\"lines\":%llu,\"bad_lines\":%llu,"
                                  "\"tagged_lines\":%llu,\"dropped_names\":%llu,\"metrics\":{",
                              w->port, (unsigned long long)w->statsd.lines,
                              (unsigned long long)w->statsd.bad_lines,
                              (unsigned long long)w->statsd.tagged_lines,
                              (unsigned long long)w->statsd.dropped_names);
    for (size_t i = 0; rc == 0 && i < w->statsd.n; i++) {
        const statsd_metric_t *m = &w->statsd.metrics[i];
        rc = i ? buf_putc(&b, ',') : 0;
        rc = rc ? rc : buf_put_json_string(&b, m->name);
        rc = rc ? rc : buf_printf(&b, ":{\"type\":\"%s\",\"count\":%llu,\"sum\":",
                                  statsd_type_name(m->type), (unsigned long long)m->count);
        rc = rc ? rc : put_num(&b, m->sum);
        rc = rc ? rc : put_num_field(&b, "last", m->type == STATSD_GAUGE ? m->last : NAN);
        rc = rc ? rc : put_num_field(&b, "min", m->min);
        rc = rc ? rc : put_num_field(&b, "max", m->max);
        rc = rc ? rc : buf_putc(&b, '}');
    }
    rc = rc ? rc : buf_puts(&b, "}},\"throughput_tok_per_s\":");
    rc = rc ? rc : put_num(&b, s->has_tokens ? s->tput : NAN);
    rc = rc ? rc : put_num_field(&b, "latency_ms_per_tok", s->has_tokens ? s->lat_ms : NAN);
    rc = rc ? rc : buf_printf(&b, ",\"samples_dropped\":%zu,\"series\":[", w->samples_dropped);
    for (size_t i = 0; rc == 0 && i < w->n_series; i++) {
        const sample_t *x = &w->series[i];
        rc = buf_puts(&b, i ? ",{\"t\":" : "{\"t\":");
        rc = rc ? rc : put_num(&b, x->t);
        rc = rc ? rc : put_num_field(&b, "cpu_percent", x->cpu_percent);
        rc = rc ? rc : put_num_field(&b, "rss_mb", x->rss_mb);
        rc = rc ? rc : buf_printf(&b, ",\"read_bytes\":%llu,\"write_bytes\":%llu,\"processes\":%zu,"
                                      "\"gpu_memory_mb\":",
                                  (unsigned long long)x->read_bytes,
                                  (unsigned long long)x->write_bytes, x->procs);
        rc = rc ? rc : put_num(&b, x->gpu_memory_mb);
        rc = rc ? rc : put_num_field(&b, "gpu_util_percent", x->gpu_util_percent);
        rc = rc ? rc : buf_putc(&b, '}');
    }
    rc = rc ? rc : buf_puts(&b, "]}\n");
    if (rc != 0) {
        buf_free(&b);
        fprintf(stderr, "vigil wrap: --json: %s\n", vigil_strerror(rc));
        return -1;
    }
    FILE *f = fopen(w->json_path, "we");
    bool ok = f != NULL && fwrite(b.data, 1, b.len, f) == b.len;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "vigil wrap: --json %s: %s\n", w->json_path, strerror(errno));
    buf_free(&b);
    return ok ? 0 : -1;
}

static void print_summary(const wrap_t *w, const summary_t *s)
{
    FILE *o = stderr;  /* the job's own stdout stays clean for pipes */
    fprintf(o, "\nvigil wrap: %s exited with %d\n", w->cmd[0], s->exit_code);
    fprintf(o, "  wall time            %.3f s\n", s->wall_s);
    fprintf(o, "  memory_mb_peak       %.1f\n", s->mem_peak_mb);
    fprintf(o, "  cpu                  mean %.1f %%  peak %.1f %%  (%.2f CPU s)\n", s->cpu_mean,
            w->cpu_peak, s->cpu_s);
    fprintf(o, "  io (peak, storage)   read %.1f MiB  written %.1f MiB\n",
            (double)w->read_peak / 1048576.0, (double)w->write_peak / 1048576.0);
    fprintf(o, "  processes (peak)     %zu\n", w->procs_peak);
    if (!w->gpu_ok)
        fprintf(o, "  gpu                  no NVML\n");
    else if (w->gpu_util_n == 0)
        fprintf(o, "  gpu                  not used  memory peak %.1f MiB\n", w->gpu_mem_peak);
    else
        fprintf(o, "  gpu util             mean %.1f %%  peak %.1f %%\n"
                   "  gpu memory peak      %.1f MiB\n",
                w->gpu_util_sum / (double)w->gpu_util_n, w->gpu_util_peak, w->gpu_mem_peak);
    fprintf(o, "  statsd               %llu lines (%llu bad), %zu names on 127.0.0.1:%d\n",
            (unsigned long long)w->statsd.lines, (unsigned long long)w->statsd.bad_lines,
            w->statsd.n, w->port);
    if (s->has_tokens)
        fprintf(o, "  tokens               %.0f  throughput_tok_per_s %.2f  "
                   "latency_ms_per_tok %.3f\n", s->tokens, s->tput, s->lat_ms);
}

static int usage(const char *fmt, const char *arg)
{
    const cli_command_t *self = cli_find("wrap");
    if (self != NULL)
        return cli_usage_error(self, fmt, arg);
    fprintf(stderr, "vigil: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: vigil wrap [--json FILE] [--interval S] -- CMD ARGS...\n");
    return 2;
}

/* Runs the loop until the child is reaped; returns its wait status. */
static int run_loop(wrap_t *w)
{
    double next = mono();
    int status = 0;
    for (;;) {
        double now = mono();
        if (now >= next) {
            take_sample(w);
            next += w->interval;
            if (next < now)
                next = now + w->interval;  /* skip missed ticks */
        }
        struct pollfd fds[2] = { { w->sfd, POLLIN, 0 }, { w->udp, POLLIN, 0 } };
        int timeout = (int)ceil((next - mono()) * 1000.0);
        if (poll(fds, 2, timeout < 0 ? 0 : timeout) < 0 && errno != EINTR)
            break;
        if (fds[1].revents & POLLIN)
            drain_statsd(w);
        if (!(fds[0].revents & POLLIN))
            continue;
        struct signalfd_siginfo si;
        while (read(w->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGCHLD)
                continue;
            if (si.ssi_code != SI_KERNEL)
                kill(w->child, (int)si.ssi_signo);
        }
        /* Reap any child: grandchildren reparented to us (we are not a subreaper, so this is
         * only the job itself) and, above all, the job. */
        pid_t p = waitpid(w->child, &status, WNOHANG);
        if (p == w->child)
            return status;
    }
    waitpid(w->child, &status, 0);
    return status;
}

int cmd_wrap(int argc, char **argv)
{
    wrap_t w = { .interval = 1.0, .udp = -1, .sfd = -1 };
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            w.json_path = argv[++i];
        else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
            char *end;
            w.interval = strtod(argv[++i], &end);
            if (*end != '\0' || !(w.interval >= 0.01 && w.interval <= 3600))
                return usage("wrap: --interval wants seconds in [0.01, 3600], got '%s'", argv[i]);
        } else if (argv[i][0] == '-')
            return usage("wrap: unknown flag '%s' (the command goes after --)", argv[i]);
        else
            break;  /* the command without "--" */
    }
    if (i >= argc)
        return usage("wrap: no command given%s", "");
    w.cmd = argv + i;
    w.series = calloc(MAX_SAMPLES, sizeof(*w.series));
    if (w.series == NULL || open_statsd(&w) != 0) {
        fprintf(stderr, "vigil wrap: cannot set up: %s\n", strerror(errno));
        free(w.series);
        if (w.udp >= 0)
            close(w.udp);
        return 1;
    }
    monitor_gpu_open(&w.gpu, NULL, NULL);
    w.gpu_ok = w.gpu != NULL && monitor_gpu_available(w.gpu, NULL);

    sigset_t set, old;
    sigemptyset(&set);
    int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
    for (size_t k = 0; k < sizeof(sigs) / sizeof(sigs[0]); k++)
        sigaddset(&set, sigs[k]);
    sigprocmask(SIG_BLOCK, &set, &old);
    w.sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    char env[64];
    snprintf(env, sizeof(env), "127.0.0.1:%d", w.port);
    setenv("VIGIL_STATSD", env, 1);
    fflush(NULL);
    w.start = mono();
    w.child = w.sfd >= 0 ? fork() : -1;
    if (w.child == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        execvp(w.cmd[0], w.cmd);
        fprintf(stderr, "vigil wrap: %s: %s\n", w.cmd[0], strerror(errno));
        _exit(127);
    }
    int code;
    if (w.child < 0) {
        fprintf(stderr, "vigil wrap: cannot start %s: %s\n", w.cmd[0], strerror(errno));
        code = 1;
    } else {
        int status = run_loop(&w);
        double wall = mono() - w.start;
        drain_statsd(&w);  /* what the job sent before exiting */
        struct rusage ru;
        getrusage(RUSAGE_CHILDREN, &ru);
        summary_t s = { .wall_s = wall };
        s.exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
                                        : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
        s.cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        s.cpu_mean = wall > 0 ? s.cpu_s / wall * 100.0 : 0;
        s.mem_peak_mb = fmax(w.rss_peak_mb, (double)ru.ru_maxrss / 1024.0);
        const statsd_metric_t *tok = statsd_agg_find(&w.statsd, "tokens");
        if (tok != NULL && tok->type == STATSD_COUNTER && tok->sum > 0) {
            s.has_tokens = true;
            s.tokens = tok->sum;
            s.tput = wall > 0 ? tok->sum / wall : NAN;
            s.lat_ms = wall * 1000.0 / tok->sum;
        }
        print_summary(&w, &s);
        code = s.exit_code;
        if (w.json_path != NULL && write_json(&w, &s) != 0 && code == 0)
            code = 1;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (w.sfd >= 0)
        close(w.sfd);
    close(w.udp);
    monitor_gpu_close(w.gpu);
    free(w.series);
    return code;
}
