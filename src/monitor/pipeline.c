/*
 * pipeline.c - the production monitor (seed 001 ProductionMonitor) and the canary check
 * (seed 003). The rules are documented in include/vigil/pipeline.h.
 *
 * Each pipeline keeps exact totals since its first execution and a ring of its last `window`
 * executions (time, success) from which the health is judged, so one bad hour does not mark a
 * pipeline degraded forever and an old good history does not hide a failing present. The
 * window's rate and mean are recomputed from the ring on each execution (window is small, and
 * recomputing avoids the drift of a running sum that adds and subtracts doubles).
 */
#include "vigil/pipeline.h"

#include "monitor/monitor_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct exec_rec {
    double time;
    bool   success;
} exec_rec_t;

typedef struct pipeline {
    char                    name[VIGIL_PIPELINE_NAME_MAX];
    uint64_t                total, success;
    double                  sum_time;
    exec_rec_t             *ring;        /* rules.window slots */
    size_t                  head, n;
    double                  win_rate, win_mean;
    vigil_pipeline_health_t health;
    char                   *last_metadata; /* JSON object text, owned */
    vigil_summary_t        *seconds;
    vigil_gauge_t          *health_g;
} pipeline_t;

typedef struct named_value {
    char   name[VIGIL_PIPELINE_NAME_MAX];
    double value;
} named_value_t;

typedef struct canary {
    char     name[VIGIL_PIPELINE_NAME_MAX];
    double   baseline, threshold;
    uint64_t checks;
    vigil_canary_result_t last;  /* valid when checks > 0 */
} canary_t;

struct vigil_production_monitor {
    pthread_mutex_t        lock;
    vigil_pipeline_rules_t rules;
    size_t                 max;
    double                 canary_threshold;
    vigil_alert_manager_t *alerts;
    pipeline_t            *pipes;
    size_t                 n_pipes;
    named_value_t         *baselines;
    size_t                 n_baselines;
    canary_t              *canaries;
    size_t                 n_canaries;
    vigil_family_t        *exec_total, *exec_seconds, *health_f, *canary_score, *canary_deg;
};

static const char *const health_names[] = { "healthy", "degraded", "critical" };

const char *vigil_pipeline_health_name(vigil_pipeline_health_t h)
{
    return (unsigned)h <= VIGIL_PIPELINE_CRITICAL ? health_names[h] : "unknown";
}

static int register_metrics(vigil_production_monitor_t *pm, vigil_registry_t *reg,
                            vigil_error_t *err)
{
    int rc = vigil_counter_new(reg, "vigil_monitor_pipeline_executions_total",
                               "Pipeline executions, by pipeline and status.",
                               (const char *const[]){ "pipeline", "status", NULL },
                               &pm->exec_total, err);
    rc = rc ? rc : vigil_summary_new(reg, "vigil_monitor_pipeline_execution_seconds",
                                     "Execution time of pipeline runs.",
                                     (const char *const[]){ "pipeline", NULL }, NULL,
                                     &pm->exec_seconds, err);
    rc = rc ? rc : vigil_gauge_new(reg, "vigil_monitor_pipeline_health",
                                   "Pipeline health: 0 healthy, 1 degraded, 2 critical.",
                                   (const char *const[]){ "pipeline", NULL }, &pm->health_f,
                                   err);
    rc = rc ? rc : vigil_gauge_new(reg, "vigil_monitor_canary_score",
                                   "Latest checked score of a canary set.",
                                   (const char *const[]){ "canary", NULL }, &pm->canary_score,
                                   err);
    rc = rc ? rc : vigil_gauge_new(reg, "vigil_monitor_canary_degradation_ratio",
                                   "Relative drop of a canary score below its baseline "
                                   "(seed 003 canary_set_performance_degradation).",
                                   (const char *const[]){ "canary", NULL }, &pm->canary_deg,
                                   err);
    return rc;
}

int vigil_production_create(const vigil_production_opts_t *opts,
                            vigil_production_monitor_t **out, vigil_error_t *err)
{
    *out = NULL;
    vigil_production_opts_t o = opts != NULL ? *opts : (vigil_production_opts_t){ 0 };
    vigil_pipeline_rules_t *r = &o.rules;
    if (r->degraded_success_rate == 0)
        r->degraded_success_rate = 0.95;
    if (r->critical_success_rate == 0)
        r->critical_success_rate = 0.5;
    if (r->degraded_time_factor == 0)
        r->degraded_time_factor = 1.5;
    if (r->critical_time_factor == 0)
        r->critical_time_factor = 3.0;
    if (r->window == 0)
        r->window = 100;
    if (!(r->critical_success_rate <= r->degraded_success_rate && r->degraded_success_rate <= 1 &&
          r->critical_success_rate >= 0))
        return vigil_error_set(err, VIGIL_EINVAL, "pipeline rules: need 0 <= "
                                                  "critical_success_rate <= "
                                                  "degraded_success_rate <= 1");
    if (!(r->degraded_time_factor > 0 && r->degraded_time_factor <= r->critical_time_factor))
        return vigil_error_set(err, VIGIL_EINVAL, "pipeline rules: need 0 < "
                                                  "degraded_time_factor <= "
                                                  "critical_time_factor");
    if (o.canary_threshold == 0)
        o.canary_threshold = 0.10;
    if (!(o.canary_threshold > 0 && o.canary_threshold <= 1))
        return vigil_error_set(err, VIGIL_EINVAL, "canary threshold must be in (0, 1]");
    vigil_production_monitor_t *pm = calloc(1, sizeof(*pm));
    if (pm == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    pm->rules = *r;
    pm->max = o.max_pipelines > 0 ? o.max_pipelines : 1024;
    pm->canary_threshold = o.canary_threshold;
    pm->alerts = o.alerts;
    pthread_mutex_init(&pm->lock, NULL);
    pm->pipes = calloc(pm->max, sizeof(*pm->pipes));
    pm->baselines = calloc(pm->max, sizeof(*pm->baselines));
    pm->canaries = calloc(pm->max, sizeof(*pm->canaries));
    int rc = pm->pipes && pm->baselines && pm->canaries
                 ? 0
                 : vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    if (rc == 0 && o.registry != NULL)
        rc = register_metrics(pm, o.registry, err);
    if (rc != 0) {
        vigil_production_free(pm);
        return rc;
    }
    *out = pm;
    return 0;
}

void vigil_production_free(vigil_production_monitor_t *pm)
{
    if (pm == NULL)
        return;
    for (size_t i = 0; pm->pipes != NULL && i < pm->n_pipes; i++) {
        free(pm->pipes[i].ring);
        free(pm->pipes[i].last_metadata);
    }
    free(pm->pipes);
    free(pm->baselines);
    free(pm->canaries);
    pthread_mutex_destroy(&pm->lock);
    free(pm);
}

void vigil_production_rules(vigil_production_monitor_t *pm, vigil_pipeline_rules_t *out)
{
    *out = pm->rules;  /* immutable after creation: no lock needed */
}

vigil_pipeline_health_t vigil_pipeline_classify(const vigil_pipeline_rules_t *r,
                                                double rate, double mean, double baseline)
{
    bool have_base = isfinite(baseline) && baseline > 0;
    if (rate < r->critical_success_rate ||
        (have_base && mean > baseline * r->critical_time_factor))
        return VIGIL_PIPELINE_CRITICAL;
    if (rate < r->degraded_success_rate ||
        (have_base && mean > baseline * r->degraded_time_factor))
        return VIGIL_PIPELINE_DEGRADED;
    return VIGIL_PIPELINE_HEALTHY;
}

static named_value_t *find_baseline(vigil_production_monitor_t *pm, const char *name)
{
    for (size_t i = 0; i < pm->n_baselines; i++)
        if (strcmp(pm->baselines[i].name, name) == 0)
            return &pm->baselines[i];
    return NULL;
}

/* The pipeline's baseline: its own name, else "<name>_latency"; NaN when none. Lock held. */
static double pipeline_baseline(vigil_production_monitor_t *pm, const char *pipe)
{
    named_value_t *b = find_baseline(pm, pipe);
    if (b == NULL) {
        char alt[VIGIL_PIPELINE_NAME_MAX + 8];
        snprintf(alt, sizeof(alt), "%s_latency", pipe);
        b = find_baseline(pm, alt);
    }
    return b != NULL ? b->value : NAN;
}

static int check_name(const char *what, const char *name, vigil_error_t *err)
{
    if (!monitor_name_ok(name, VIGIL_PIPELINE_NAME_MAX))
        return vigil_error_set(err, VIGIL_EINVAL, "%s name must be 1..%d bytes without control "
                                                  "characters", what,
                               VIGIL_PIPELINE_NAME_MAX - 1);
    return 0;
}

/* Recomputes a pipeline's window figures and health; lock held. Returns the new health. */
static vigil_pipeline_health_t reassess(vigil_production_monitor_t *pm, pipeline_t *p)
{
    double sum = 0;
    size_t ok = 0;
    for (size_t k = 0; k < p->n; k++) {
        const exec_rec_t *e = &p->ring[(p->head + k) % pm->rules.window];
        sum += e->time;
        ok += e->success;
    }
    p->win_rate = p->n > 0 ? (double)ok / (double)p->n : NAN;
    p->win_mean = p->n > 0 ? sum / (double)p->n : NAN;
    return p->n > 0 ? vigil_pipeline_classify(&pm->rules, p->win_rate, p->win_mean,
                                              pipeline_baseline(pm, p->name))
                    : VIGIL_PIPELINE_HEALTHY;
}

/* A health change to announce after the lock is released. */
typedef struct transition {
    bool                    changed;
    char                    name[VIGIL_PIPELINE_NAME_MAX];
    vigil_pipeline_health_t from, to;
    double                  rate, mean;
} transition_t;

static void announce(vigil_production_monitor_t *pm, const transition_t *t)
{
    if (!t->changed || pm->alerts == NULL)
        return;
    static const vigil_alert_severity_t sev[] = { VIGIL_ALERT_INFO, VIGIL_ALERT_WARNING,
                                                  VIGIL_ALERT_CRITICAL };
    char msg[256], metric[VIGIL_PIPELINE_NAME_MAX + 16];
    snprintf(msg, sizeof(msg), "Pipeline %s %s -> %s (success rate %.1f%%, mean time %.4gs)",
             t->name, health_names[t->from], health_names[t->to], t->rate * 100, t->mean);
    snprintf(metric, sizeof(metric), "pipeline:%s", t->name);
    vigil_alert_trigger(pm->alerts, sev[t->to], msg, metric, t->rate,
                        t->to == VIGIL_PIPELINE_CRITICAL ? pm->rules.critical_success_rate
                                                         : pm->rules.degraded_success_rate,
                        NULL, NULL);
}

/* Reassesses every pipeline whose baseline may have changed; lock held. Collects at most
 * `cap` transitions. */
static size_t reassess_all(vigil_production_monitor_t *pm, transition_t *tr, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < pm->n_pipes; i++) {
        pipeline_t *p = &pm->pipes[i];
        vigil_pipeline_health_t h = reassess(pm, p);
        if (h != p->health && n < cap) {
            tr[n] = (transition_t){ true, "", p->health, h, p->win_rate, p->win_mean };
            snprintf(tr[n].name, sizeof(tr[n].name), "%s", p->name);
            n++;
        }
        p->health = h;
        if (p->health_g != NULL)
            vigil_gauge_set(p->health_g, (double)h);
    }
    return n;
}

int vigil_production_set_baseline(vigil_production_monitor_t *pm, const char *name,
                                  double value, vigil_error_t *err)
{
    int rc = check_name("baseline", name, err);
    if (rc != 0)
        return rc;
    if (!(value > 0) || isinf(value))
        return vigil_error_set(err, VIGIL_EINVAL, "baseline %s: must be a finite number > 0",
                               name);
    transition_t tr[8];
    size_t n = 0;
    pthread_mutex_lock(&pm->lock);
    named_value_t *b = find_baseline(pm, name);
    if (b == NULL && pm->n_baselines == pm->max)
        rc = vigil_error_set(err, VIGIL_ELIMIT, "more than %zu baselines", pm->max);
    else {
        if (b == NULL) {
            b = &pm->baselines[pm->n_baselines++];
            snprintf(b->name, sizeof(b->name), "%s", name);
        }
        b->value = value;
        /* Only the first few transitions are announced; the gauges and the report show all. */
        n = reassess_all(pm, tr, sizeof(tr) / sizeof(tr[0]));
    }
    pthread_mutex_unlock(&pm->lock);
    for (size_t i = 0; i < n; i++)
        announce(pm, &tr[i]);
    return rc;
}

int vigil_production_record(vigil_production_monitor_t *pm, const char *name,
                            double execution_time, bool success, const vigil_kv_t *md,
                            size_t n_md, vigil_error_t *err)
{
    int rc = check_name("pipeline", name, err);
    if (rc != 0)
        return rc;
    if (!(execution_time >= 0) || isinf(execution_time))
        return vigil_error_set(err, VIGIL_EINVAL, "execution_time must be a finite number "
                                                  ">= 0");
    char *mdj;
    rc = monitor_encode_metadata(md, n_md, &mdj, err);
    if (rc != 0)
        return rc;
    transition_t tr = { 0 };
    pthread_mutex_lock(&pm->lock);
    pipeline_t *p = NULL;
    for (size_t i = 0; i < pm->n_pipes && p == NULL; i++)
        if (strcmp(pm->pipes[i].name, name) == 0)
            p = &pm->pipes[i];
    if (p == NULL) {
        if (pm->n_pipes == pm->max) {
            rc = vigil_error_set(err, VIGIL_ELIMIT, "more than %zu pipelines", pm->max);
            goto out_unlock;
        }
        exec_rec_t *ring = calloc(pm->rules.window, sizeof(*ring));
        if (ring == NULL) {
            rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
            goto out_unlock;
        }
        p = &pm->pipes[pm->n_pipes++];
        memset(p, 0, sizeof(*p));
        snprintf(p->name, sizeof(p->name), "%s", name);
        p->ring = ring;
        if (pm->exec_seconds != NULL) {
            p->seconds = vigil_summary_with(pm->exec_seconds, p->name);
            p->health_g = vigil_gauge_with(pm->health_f, p->name);
        }
    }
    p->total++;
    p->success += success;
    p->sum_time += execution_time;
    if (p->n == pm->rules.window) {
        p->head = (p->head + 1) % pm->rules.window;
        p->n--;
    }
    p->ring[(p->head + p->n) % pm->rules.window] = (exec_rec_t){ execution_time, success };
    p->n++;
    free(p->last_metadata);
    p->last_metadata = mdj;
    mdj = NULL;
    vigil_pipeline_health_t h = reassess(pm, p);
    /* The first execution announces only a non-healthy start: "new -> healthy" is noise. */
    if (h != p->health) {
        tr = (transition_t){ true, "", p->health, h, p->win_rate, p->win_mean };
        snprintf(tr.name, sizeof(tr.name), "%s", p->name);
    }
    p->health = h;
    if (pm->exec_total != NULL) {
        vigil_counter_t *c = vigil_counter_with(pm->exec_total, p->name,
                                                success ? "success" : "failure");
        if (c != NULL)
            vigil_counter_inc(c);
        if (p->seconds != NULL)
            vigil_summary_observe(p->seconds, execution_time);
        if (p->health_g != NULL)
            vigil_gauge_set(p->health_g, (double)h);
    }
out_unlock:
    pthread_mutex_unlock(&pm->lock);
    free(mdj);
    announce(pm, &tr);
    return rc;
}

/* Fills stats of pipeline p; lock held. */
static void fill_stats(vigil_production_monitor_t *pm, const pipeline_t *p,
                       vigil_pipeline_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", p->name);
    out->total_executions = p->total;
    out->successful_executions = p->success;
    out->success_rate = p->total > 0 ? (double)p->success / (double)p->total : NAN;
    out->mean_execution_time = p->total > 0 ? p->sum_time / (double)p->total : NAN;
    out->window_success_rate = p->win_rate;
    out->window_mean_execution_time = p->win_mean;
    out->window_executions = p->n;
    out->baseline = pipeline_baseline(pm, p->name);
    out->health = p->health;
}

int vigil_production_pipeline(vigil_production_monitor_t *pm, const char *name,
                              vigil_pipeline_stats_t *out)
{
    int rc = VIGIL_ENOENT;
    pthread_mutex_lock(&pm->lock);
    for (size_t i = 0; name != NULL && i < pm->n_pipes; i++)
        if (strcmp(pm->pipes[i].name, name) == 0) {
            fill_stats(pm, &pm->pipes[i], out);
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&pm->lock);
    return rc;
}

vigil_pipeline_health_t vigil_production_overall(vigil_production_monitor_t *pm)
{
    vigil_pipeline_health_t worst = VIGIL_PIPELINE_HEALTHY;
    pthread_mutex_lock(&pm->lock);
    for (size_t i = 0; i < pm->n_pipes; i++)
        if (pm->pipes[i].health > worst)
            worst = pm->pipes[i].health;
    pthread_mutex_unlock(&pm->lock);
    return worst;
}

static int put_num_field(buf_t *b, const char *key, double v)
{
    int rc = buf_printf(b, ",\"%s\":", key);
    return rc ? rc : monitor_put_json_number(b, v);
}

int vigil_production_report_json(vigil_production_monitor_t *pm, char **json, size_t *len,
                                 vigil_pipeline_health_t *overall)
{
    buf_t b;
    buf_init(&b, 256u << 20);
    vigil_pipeline_health_t worst = VIGIL_PIPELINE_HEALTHY;
    pthread_mutex_lock(&pm->lock);
    for (size_t i = 0; i < pm->n_pipes; i++)
        if (pm->pipes[i].health > worst)
            worst = pm->pipes[i].health;
    const vigil_pipeline_rules_t *r = &pm->rules;
    int rc = buf_printf(&b, "{\"overall_health\":\"%s\",\"rules\":{\"window\":%zu",
                        health_names[worst], r->window);
    rc = rc ? rc : put_num_field(&b, "degraded_success_rate", r->degraded_success_rate);
    rc = rc ? rc : put_num_field(&b, "critical_success_rate", r->critical_success_rate);
    rc = rc ? rc : put_num_field(&b, "degraded_time_factor", r->degraded_time_factor);
    rc = rc ? rc : put_num_field(&b, "critical_time_factor", r->critical_time_factor);
    rc = rc ? rc : buf_puts(&b, "},\"baselines\":{");
    bool first = true;
    for (size_t i = 0; rc == 0 && i < pm->n_baselines; i++) {
        rc = monitor_put_json_key(&b, &first, pm->baselines[i].name);
        rc = rc ? rc : monitor_put_json_number(&b, pm->baselines[i].value);
    }
    rc = rc ? rc : buf_puts(&b, "},\"pipelines\":{");
    first = true;
    for (size_t i = 0; rc == 0 && i < pm->n_pipes; i++) {
        vigil_pipeline_stats_t s;
        fill_stats(pm, &pm->pipes[i], &s);
        rc = monitor_put_json_key(&b, &first, s.name);
        rc = rc ? rc : buf_printf(&b, "{\"total_executions\":%llu,\"successful_executions\":%llu",
                                  (unsigned long long)s.total_executions,
                                  (unsigned long long)s.successful_executions);
        rc = rc ? rc : put_num_field(&b, "success_rate", s.success_rate);
        rc = rc ? rc : put_num_field(&b, "mean_execution_time", s.mean_execution_time);
        rc = rc ? rc : buf_printf(&b, ",\"window_executions\":%zu", s.window_executions);
        rc = rc ? rc : put_num_field(&b, "window_success_rate", s.window_success_rate);
        rc = rc ? rc : put_num_field(&b, "window_mean_execution_time",
                                     s.window_mean_execution_time);
        rc = rc ? rc : put_num_field(&b, "baseline", s.baseline);
        rc = rc ? rc : buf_printf(&b, ",\"health\":\"%s\",\"last_metadata\":%s}",
                                  health_names[s.health],
                                  pm->pipes[i].last_metadata ? pm->pipes[i].last_metadata
                                                             : "{}");
    }
    pthread_mutex_unlock(&pm->lock);
    rc = rc ? rc : buf_puts(&b, "}}");
    if (rc == 0 && overall != NULL)
        *overall = worst;
    return monitor_buf_finish(&b, rc, json, len);
}

/* ---------------------------------------------------------------------------------------- */

int vigil_canary_check(vigil_alert_manager_t *alerts, const char *name, double baseline,
                       double current, double threshold, vigil_canary_result_t *out,
                       vigil_error_t *err)
{
    if (threshold == 0)
        threshold = 0.10;
    if (!(baseline > 0) || isinf(baseline))
        return vigil_error_set(err, VIGIL_EINVAL, "canary baseline must be a finite number > 0");
    if (!isfinite(current))
        return vigil_error_set(err, VIGIL_EINVAL, "canary score must be a finite number");
    if (!(threshold > 0 && threshold <= 1))
        return vigil_error_set(err, VIGIL_EINVAL, "canary threshold must be in (0, 1]");
    vigil_canary_result_t r = { .baseline = baseline, .current = current,
                                .degradation = (baseline - current) / baseline,
                                .threshold = threshold };
    /* Compare drop against threshold*baseline with a relative slack of 1e-9: a drop that is
     * at the threshold in decimal (0.9 -> 0.81 at 10 %) must not read as beyond it. */
    r.degraded = (baseline - current) > threshold * baseline * (1 + 1e-9);
    if (r.degraded && alerts != NULL) {
        char msg[256], metric[VIGIL_PIPELINE_NAME_MAX + 8];
        snprintf(msg, sizeof(msg),
                 "Canary %s performance dropped %.1f%% (baseline: %.6g, current: %.6g)",
                 name != NULL ? name : "", r.degradation * 100, baseline, current);
        snprintf(metric, sizeof(metric), "canary:%s", name != NULL ? name : "");
        vigil_alert_trigger(alerts, VIGIL_ALERT_CRITICAL, msg, metric, current,
                            baseline * (1 - threshold), NULL, NULL);
    }
    *out = r;
    return 0;
}

static canary_t *find_canary(vigil_production_monitor_t *pm, const char *name)
{
    for (size_t i = 0; i < pm->n_canaries; i++)
        if (strcmp(pm->canaries[i].name, name) == 0)
            return &pm->canaries[i];
    return NULL;
}

int vigil_production_canary_baseline(vigil_production_monitor_t *pm, const char *name,
                                     double baseline, double threshold, vigil_error_t *err)
{
    int rc = check_name("canary", name, err);
    if (rc != 0)
        return rc;
    if (threshold == 0)
        threshold = pm->canary_threshold;
    if (!(baseline > 0) || isinf(baseline))
        return vigil_error_set(err, VIGIL_EINVAL, "canary baseline must be a finite number > 0");
    if (!(threshold > 0 && threshold <= 1))
        return vigil_error_set(err, VIGIL_EINVAL, "canary threshold must be in (0, 1]");
    pthread_mutex_lock(&pm->lock);
    canary_t *c = find_canary(pm, name);
    if (c == NULL && pm->n_canaries == pm->max)
        rc = vigil_error_set(err, VIGIL_ELIMIT, "more than %zu canaries", pm->max);
    else {
        if (c == NULL) {
            c = &pm->canaries[pm->n_canaries++];
            memset(c, 0, sizeof(*c));
            snprintf(c->name, sizeof(c->name), "%s", name);
        }
        c->baseline = baseline;
        c->threshold = threshold;
    }
    pthread_mutex_unlock(&pm->lock);
    return rc;
}

int vigil_production_canary_check(vigil_production_monitor_t *pm, const char *name,
                                  double current, vigil_canary_result_t *out,
                                  vigil_error_t *err)
{
    pthread_mutex_lock(&pm->lock);
    canary_t *c = name != NULL ? find_canary(pm, name) : NULL;
    double baseline = c != NULL ? c->baseline : NAN, threshold = c != NULL ? c->threshold : 0;
    pthread_mutex_unlock(&pm->lock);
    if (c == NULL)
        return vigil_error_set(err, VIGIL_ENOENT, "no canary \"%s\": set its baseline first",
                               name != NULL ? name : "");
    vigil_canary_result_t r;
    int rc = vigil_canary_check(pm->alerts, name, baseline, current, threshold, &r, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&pm->lock);
    c->checks++;
    c->last = r;
    pthread_mutex_unlock(&pm->lock);
    if (pm->canary_score != NULL) {
        vigil_gauge_t *g = vigil_gauge_with(pm->canary_score, name);
        if (g != NULL)
            vigil_gauge_set(g, current);
        g = vigil_gauge_with(pm->canary_deg, name);
        if (g != NULL)
            vigil_gauge_set(g, r.degradation);
    }
    if (out != NULL)
        *out = r;
    return 0;
}

int vigil_production_canaries_json(vigil_production_monitor_t *pm, char **json, size_t *len)
{
    buf_t b;
    buf_init(&b, 64u << 20);
    int rc = buf_putc(&b, '{');
    bool first = true;
    pthread_mutex_lock(&pm->lock);
    for (size_t i = 0; rc == 0 && i < pm->n_canaries; i++) {
        const canary_t *c = &pm->canaries[i];
        rc = monitor_put_json_key(&b, &first, c->name);
        rc = rc ? rc : buf_puts(&b, "{\"baseline\":");
        rc = rc ? rc : monitor_put_json_number(&b, c->baseline);
        rc = rc ? rc : put_num_field(&b, "threshold", c->threshold);
        rc = rc ? rc : buf_printf(&b, ",\"checks\":%llu", (unsigned long long)c->checks);
        rc = rc ? rc : put_num_field(&b, "current", c->checks ? c->last.current : NAN);
        rc = rc ? rc : put_num_field(&b, "degradation", c->checks ? c->last.degradation : NAN);
        rc = rc ? rc : buf_printf(&b, ",\"status\":\"%s\"}",
                                  c->checks && c->last.degraded ? "degraded" : "healthy");
    }
    pthread_mutex_unlock(&pm->lock);
    rc = rc ? rc : buf_putc(&b, '}');
    return monitor_buf_finish(&b, rc, json, len);
}
