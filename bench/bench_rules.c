/*
 * bench_rules.c - alerting-rule evaluation (issue 8): 1 000 alerting rules over 10 000 series,
 * milliseconds per evaluation round of the group.
 *
 * The workload is generated here and written out as a rule file plus a `promtool test rules`
 * file, so vigil and Prometheus evaluate the very same rules over the very same samples:
 *   series   4 families x 50 hosts x 50 shards, one sample every 15 s for 14m45s (60 steps):
 *            two counters (bench_requests_total, rate host+1/s; bench_errors_total, rate
 *            (host%7)/10 /s) and two gauges (bench_temperature_celsius 40+host,
 *            bench_queue_length (37 host + shard) % 100), labels {instance, job, shard}
 *   rules    one group, interval 15s: for each shard and each of 4 thresholds, 5 alerts:
 *            rate(...[5m]) > T, a gauge > T with `for: 1m`, sum by (instance, shard)
 *            (rate(...[5m])) > T, avg_over_time(...[5m]) > T, max by (shard) (...) > T (never
 *            fires); each with two plain labels and two templated annotations ($labels,
 *            humanize, printf). About 2 700 alerts are active in each round.
 *
 *   rules.eval           ms per round: the group evaluated by rules_manager_eval_all() over a
 *                        store with a WAL (the agent's setup: rules_store_tsdb), every step
 *                        from t=0 as `promtool test rules` does, with each step's samples
 *                        appended (untimed) before it; timed: the 19 rounds from 10m15s on,
 *                        when every 5m window is full. Baseline: Prometheus 2.42's rule group
 *                        (rules.Group.Eval) as `promtool test rules` runs it on the same files,
 *                        per round by difference (see bench/README.md): [T(rules, 14m45s) -
 *                        T(rules, 10m)] - [T(no rules, 14m45s) - T(no rules, 10m)], over 19
 *                        rounds, which cancels start-up, parsing and the sample loading that
 *                        promtool interleaves with the rounds. Without promtool the
 *                        baseline is the PromQL-only time below, and says so.
 *   rules.eval_machinery same rounds; baseline: the same 1 000 expressions run through
 *                        promql_query_instant() at the same times on the same store, without
 *                        the rule manager: the ratio is the cost of alert state, templates
 *                        and the ALERTS/ALERTS_FOR_STATE samples on top of the queries.
 *
 * One JSON line each (bench/README.md); only names starting with $BENCH run.
 */
#include "bench_common.h"
#include "agent/tsdb_storage.h"
#include "rules/rules.h"
#include "tsdb/tsdb.h"

#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_HOSTS    50
#define N_SHARDS   50
#define N_FAMILIES 4
#define N_SERIES   (N_FAMILIES * N_HOSTS * N_SHARDS)   /* 10 000 */
#define N_KINDS    5
#define N_VARIANTS 4
#define N_RULES    (N_KINDS * N_VARIANTS * N_SHARDS)    /* 1 000 */
#define STEP_MS    15000
#define STEPS      60                                   /* t = 0 .. 14m45s */
#define FIRST_TIMED 41                                  /* rounds 10m15s .. 14m45s */
#define PROMTOOL_REPS 3

/* ---- the workload -------------------------------------------------------------------------- */

static const char *const family_name[N_FAMILIES] = {
    "bench_requests_total", "bench_errors_total", "bench_temperature_celsius",
    "bench_queue_length",
};

/* Series i's family, host and shard, and its value at step k: start + inc * k. */
typedef struct series_def {
    int    family, host, shard;
    double start, inc;
} series_def_t;

static series_def_t series_def(int i)
{
    series_def_t d = { .family = i / (N_HOSTS * N_SHARDS), .host = i / N_SHARDS % N_HOSTS,
                       .shard = i % N_SHARDS };
    switch (d.family) {
    case 0: d.inc = (d.host + 1) * 15.0; break;          /* rate host+1 per second */
    case 1: d.inc = (d.host % 7) * 1.5; break;           /* rate (host%7)/10 per second */
    case 2: d.start = 40 + d.host; break;
    default: d.start = (37 * d.host + d.shard) % 100; break;
    }
    return d;
}

/* Rule r's expression (the same text goes to the rule file and to the PromQL-only pass). */
static void rule_expr(int r, char *out, size_t cap, char *name, size_t name_cap, bool *has_for)
{
    int kind = r / (N_VARIANTS * N_SHARDS), j = r / N_SHARDS % N_VARIANTS, s = r % N_SHARDS;
    *has_for = kind == 1;
    switch (kind) {
    case 0:
        snprintf(name, name_cap, "RequestRateHigh_s%02d_%d", s, j);
        snprintf(out, cap, "rate(bench_requests_total{shard=\"s%02d\"}[5m]) > %d", s, 45 + j);
        break;
    case 1:
        snprintf(name, name_cap, "TemperatureHigh_s%02d_%d", s, j);
        snprintf(out, cap, "bench_temperature_celsius{shard=\"s%02d\"} > %d", s, 84 + j);
        break;
    case 2:
        snprintf(name, name_cap, "ErrorRateHigh_s%02d_%d", s, j);
        snprintf(out, cap, "sum by (instance, shard) (rate(bench_errors_total{shard=\"s%02d\"}"
                 "[5m])) > %.2f", s, 0.45 + 0.1 * j);
        break;
    case 3:
        snprintf(name, name_cap, "QueueBacklog_s%02d_%d", s, j);
        snprintf(out, cap, "avg_over_time(bench_queue_length{shard=\"s%02d\"}[5m]) > %d", s,
                 95 + j);
        break;
    default:
        snprintf(name, name_cap, "ShardQueueMax_s%02d_%d", s, j);
        snprintf(out, cap, "max by (shard) (bench_queue_length{shard=\"s%02d\"}) > %d", s,
                 100 + j);
        break;
    }
}

/* Writes the rule file (with_rules false: a file with no groups, promtool's empty run). */
static int write_rules(const char *path, bool with_rules)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    if (!with_rules) {
        fputs("groups: []\n", f);
        return fclose(f);
    }
    fputs("groups:\n  - name: bench\n    interval: 15s\n    rules:\n", f);
    for (int r = 0; r < N_RULES; r++) {
        char expr[256], name[64];
        bool has_for;
        rule_expr(r, expr, sizeof(expr), name, sizeof(name), &has_for);
        fprintf(f, "      - alert: %s\n        expr: '%s'\n", name, expr);
        if (has_for)
            fputs("        for: 1m\n", f);
        fprintf(f, "        labels:\n          severity: %s\n          team: bench\n",
                r % 2 ? "critical" : "warning");
        fputs("        annotations:\n"
              "          summary: '{{ $labels.instance }} in shard {{ $labels.shard }}: "
              "{{ $value | humanize }}'\n"
              "          description: 'Value {{ printf \"%.2f\" $value }} is above the "
              "threshold of {{ $labels.job }}.'\n", f);
    }
    return fclose(f);
}

static void series_text(int i, char *out, size_t cap)
{
    series_def_t d = series_def(i);
    snprintf(out, cap, "%s{instance=\"host-%02d\",job=\"bench\",shard=\"s%02d\"}",
             family_name[d.family], d.host, d.shard);
}

/* A promtool unit-test file over `rules_file` whose last evaluation is at eval_s: promtool
 * evaluates every 15 s from 0 to there. The one check asks for no alert of a rule that never
 * fires, so the file passes under both tools. */
static int write_test(const char *path, const char *rules_file, int eval_s)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "rule_files:\n  - %s\nevaluation_interval: 15s\ntests:\n  - interval: 15s\n"
            "    input_series:\n", rules_file);
    for (int i = 0; i < N_SERIES; i++) {
        char s[160];
        series_text(i, s, sizeof(s));
        series_def_t d = series_def(i);
        fprintf(f, "      - series: '%s'\n        values: '%g+%gx%d'\n", s, d.start, d.inc,
                STEPS - 1);
    }
    fprintf(f, "    alert_rule_test:\n      - eval_time: %ds\n        alertname: "
            "ShardQueueMax_s00_0\n        exp_alerts: []\n", eval_s);
    return fclose(f);
}

/* ---- vigil in-process -------------------------------------------------------------------- */

typedef struct world {
    tsdb_t          *db;
    promql_engine_t *eng;
    promql_storage_t st;
    tsdb_ref_t       refs[N_SERIES];
    tsdb_appender_t *app;
} world_t;

/* Appends every series' sample of step k (the scrape before round k). */
static void ingest_step(world_t *w, int k)
{
    int64_t t = (int64_t)k * STEP_MS;
    for (int i = 0; i < N_SERIES; i++) {
        series_def_t d = series_def(i);
        double v = d.start + d.inc * k;
        if (k == 0) {
            char host[16], shard[16];
            snprintf(host, sizeof(host), "host-%02d", d.host);
            snprintf(shard, sizeof(shard), "s%02d", d.shard);
            tsdb_label_t ls[] = { { "__name__", family_name[d.family] }, { "instance", host },
                                  { "job", "bench" }, { "shard", shard } };
            tsdb_appender_add(w->app, ls, 4, t, v, &w->refs[i], NULL);
        } else {
            tsdb_appender_add_ref(w->app, w->refs[i], t, v, NULL);
        }
    }
    tsdb_appender_commit(w->app, TSDB_ASYNC, NULL);
}

static int64_t fake_now;
static int64_t bench_now(void *ctx)
{
    (void)ctx;
    return fake_now;
}

/* The 1 000 expressions through the engine alone at t; the number of result samples. */
static size_t promql_only(world_t *w, char (*exprs)[256], int64_t t)
{
    size_t n = 0;
    for (int r = 0; r < N_RULES; r++) {
        promql_result_t *res;
        vigil_error_t err;
        if (promql_query_instant(w->eng, &w->st, exprs[r], t, NULL, &res, &err) != 0) {
            fprintf(stderr, "bench_rules: %s: %s\n", exprs[r], err.message);
            exit(1);
        }
        n += res->n_vector;
        promql_result_free(res);
    }
    return n;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Runs the rounds; *rules_ms and *promql_ms get the mean of the timed rounds. */
static int run_vigil(const char *dir, const char *rules_path, double *rules_ms,
                     double *promql_ms, size_t *alerts)
{
    static world_t w;
    static char exprs[N_RULES][256];
    char wal[PATH_MAX];
    snprintf(wal, sizeof(wal), "%s/data", dir);
    tsdb_options_t o = { .dir = wal, .compact_interval_ms = UINT32_MAX };
    vigil_error_t err;
    if (tsdb_open(&w.db, &o, NULL, &err) != 0) {
        fprintf(stderr, "bench_rules: %s\n", err.message);
        return -1;
    }
    w.eng = promql_engine_create(NULL);
    w.st = tsdb_storage(w.db);
    w.app = tsdb_appender_new(w.db);
    vigil_registry_t *reg = NULL;
    vigil_registry_new(NULL, &reg, NULL);
    rules_manager_opts_t mo = {
        .engine = w.eng, .store = rules_store_tsdb(w.db, w.st), .registry = reg,
        .default_interval_ms = STEP_MS, .external_url = "http://bench:9470",
        .now_ms = bench_now,
    };
    rules_manager_t *m;
    if (rules_manager_create(&mo, &m, &err) != 0 ||
        rules_manager_load(m, &rules_path, 1, &err) != 0) {
        fprintf(stderr, "bench_rules: %s\n", err.message);
        return -1;
    }
    for (int r = 0; r < N_RULES; r++) {
        char name[64];
        bool has_for;
        rule_expr(r, exprs[r], sizeof(exprs[r]), name, sizeof(name), &has_for);
    }
    double sum_rules = 0, sum_promql = 0;
    for (int k = 0; k < STEPS; k++) {
        ingest_step(&w, k);
        int64_t t = (int64_t)k * STEP_MS;
        fake_now = t;
        double t0 = bench_now_s();
        rules_manager_eval_all(m, t);
        double t1 = bench_now_s();
        /* What the agent's group thread does after its second round: from then on the
         * alerts write ALERTS / ALERTS_FOR_STATE (promtool marks its rules restored too). */
        if (k == 1)
            rules_manager_restore_all(m, t);
        if (k >= FIRST_TIMED) {
            sum_rules += t1 - t0;
            double t2 = bench_now_s();
            *alerts = promql_only(&w, exprs, t);
            sum_promql += bench_now_s() - t2;
        }
    }
    *rules_ms = sum_rules * 1000 / (STEPS - FIRST_TIMED);
    *promql_ms = sum_promql * 1000 / (STEPS - FIRST_TIMED);
    rules_manager_free(m);
    vigil_registry_free(reg);
    tsdb_appender_free(w.app);
    promql_engine_free(w.eng);
    tsdb_close(w.db);
    return 0;
}

/* ---- the same files through a `test rules` command ------------------------------------------ */

/* Seconds `argv` takes to run (stdout and stderr discarded); -1 when it cannot start. */
static double time_command(char *const argv[])
{
    double t0 = bench_now_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *null = freopen("/dev/null", "w", stdout);
        (void)null;
        null = freopen("/dev/null", "w", stderr);
        (void)null;
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 127)
        return -1;
    return bench_now_s() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ms per round of `TOOL test rules` by double difference over the four files in dir (see
 * the top of the file); the median of PROMTOOL_REPS. -1 when the tool cannot run. */
static double test_rules_ms(const char *dir, const char *tool)
{
    static const char *const files[4] = { "rules_long.test.yml", "rules_short.test.yml",
                                          "empty_long.test.yml", "empty_short.test.yml" };
    double per[PROMTOOL_REPS];
    for (int rep = 0; rep < PROMTOOL_REPS; rep++) {
        double t[4];
        for (int i = 0; i < 4; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
            char *argv[] = { (char *)tool, "test", "rules", path, NULL };
            if ((t[i] = time_command(argv)) < 0)
                return -1;
        }
        per[rep] = ((t[0] - t[1]) - (t[2] - t[3])) * 1000 / (STEPS - FIRST_TIMED);
    }
    qsort(per, PROMTOOL_REPS, sizeof(per[0]), cmp_double);
    return per[PROMTOOL_REPS / 2];
}

static bool on_path(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

int main(void)
{
    bool eval = bench_wanted("rules.eval"), machinery = bench_wanted("rules.eval_machinery");
    if (!eval && !machinery)
        return 0;
    char dir[] = "/tmp/vigil-bench-rules-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char rules_path[PATH_MAX], empty_path[PATH_MAX], p[PATH_MAX];
    snprintf(rules_path, sizeof(rules_path), "%s/rules.yml", dir);
    snprintf(empty_path, sizeof(empty_path), "%s/empty.yml", dir);
    int rc = write_rules(rules_path, true) | write_rules(empty_path, false);
    const int long_s = (STEPS - 1) * STEP_MS / 1000, short_s = (FIRST_TIMED - 1) * STEP_MS / 1000;
    snprintf(p, sizeof(p), "%s/rules_long.test.yml", dir);
    rc |= write_test(p, "rules.yml", long_s);
    snprintf(p, sizeof(p), "%s/rules_short.test.yml", dir);
    rc |= write_test(p, "rules.yml", short_s);
    snprintf(p, sizeof(p), "%s/empty_long.test.yml", dir);
    rc |= write_test(p, "empty.yml", long_s);
    snprintf(p, sizeof(p), "%s/empty_short.test.yml", dir);
    rc |= write_test(p, "empty.yml", short_s);
    if (rc != 0) {
        fprintf(stderr, "bench_rules: cannot write the workload into %s\n", dir);
        return 1;
    }

    double rules_ms, promql_ms;
    size_t samples = 0;
    if (run_vigil(dir, rules_path, &rules_ms, &promql_ms, &samples) != 0)
        return 1;
    double prom_ms = eval && on_path("promtool") ? test_rules_ms(dir, "promtool") : -1;
    if (eval && prom_ms > 0)
        printf("{\"bench\":\"rules.eval\",\"value\":%.4g,\"unit\":\"ms\",\"baseline\":"
               "\"prometheus 2.42 rule group via promtool test rules, per round by difference\","
               "\"baseline_value\":%.4g,\"ratio\":%.3g,\"alerts_per_round\":%zu}\n",
               rules_ms, prom_ms, rules_ms / prom_ms, samples);
    else if (eval)
        printf("{\"bench\":\"rules.eval\",\"value\":%.4g,\"unit\":\"ms\",\"baseline\":"
               "\"vigil promql engine alone, same 1000 expressions (promtool not found)\","
               "\"baseline_value\":%.4g,\"ratio\":%.3g,\"alerts_per_round\":%zu}\n",
               rules_ms, promql_ms, rules_ms / promql_ms, samples);
    if (machinery)
        printf("{\"bench\":\"rules.eval_machinery\",\"value\":%.4g,\"unit\":\"ms\","
               "\"baseline\":\"vigil promql engine alone, same 1000 expressions\","
               "\"baseline_value\":%.4g,\"ratio\":%.3g}\n", rules_ms, promql_ms,
               rules_ms / promql_ms);
    fflush(stdout);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
