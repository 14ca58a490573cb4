/*
 * threshold.c - the threshold monitor (seed 001 AdvancedMonitor): thresholds, per-metric
 * history, polled sources and the background checking thread.
 *
 * Metrics live in one array (at most max_metrics, allocated on first sight of a name): a few
 * hundred names at most in practice, so a linear lookup costs less than keeping a hash in
 * step. Alerts are edge-triggered per metric (`violated` remembers the state at the last
 * check), so a metric that stays above its threshold raises one alert, not one per interval.
 */
#include "vigil/alerts.h"

#include "monitor/monitor_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRIC_NAME_MAX 128

typedef struct tm_metric {
    char                        name[METRIC_NAME_MAX];
    bool                        has_threshold;
    double                      threshold;
    vigil_threshold_direction_t direction;
    bool                        violated;     /* state at the last check */
    vigil_threshold_source_fn   source;       /* NULL: push-only */
    void                       *source_ctx;
    vigil_metric_history_t      hist;         /* hist.count == 0: no value yet */
    double                      sum;
} tm_metric_t;

struct vigil_threshold_monitor {
    vigil_alert_manager_t *alerts;
    vigil_alert_severity_t severity;
    pthread_mutex_t        lock;      /* guards metrics, alert_count, stop */
    tm_metric_t           *metrics;
    size_t                 n_metrics, max_metrics;
    uint64_t               alert_count;
    pthread_mutex_t        check_lock; /* one check at a time (thread vs explicit calls) */
    pthread_cond_t         wake;
    pthread_t              thread;
    bool                   running;
    bool                   stop;
    double                 interval_s;
};

int vigil_threshold_create(const vigil_threshold_opts_t *opts, vigil_threshold_monitor_t **out,
                           vigil_error_t *err)
{
    *out = NULL;
    if (opts == NULL || opts->alerts == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "threshold monitor: an alert manager is "
                                                  "required");
    vigil_threshold_monitor_t *tm = calloc(1, sizeof(*tm));
    if (tm == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    tm->max_metrics = opts->max_metrics > 0 ? opts->max_metrics : 1024;
    tm->metrics = calloc(tm->max_metrics, sizeof(*tm->metrics));
    if (tm->metrics == NULL || monitor_cond_init(&tm->wake) != 0) {
        free(tm->metrics);
        free(tm);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    tm->alerts = opts->alerts;
    tm->severity = opts->severity;
    pthread_mutex_init(&tm->lock, NULL);
    pthread_mutex_init(&tm->check_lock, NULL);
    *out = tm;
    return 0;
}

void vigil_threshold_free(vigil_threshold_monitor_t *tm)
{
    if (tm == NULL)
        return;
    vigil_threshold_stop(tm);
    pthread_cond_destroy(&tm->wake);
    pthread_mutex_destroy(&tm->check_lock);
    pthread_mutex_destroy(&tm->lock);
    free(tm->metrics);
    free(tm);
}

/* The metric named `name`, created when `create`; NULL when absent or the table is full.
 * Called with the lock held. */
static tm_metric_t *find(vigil_threshold_monitor_t *tm, const char *name, bool create)
{
    for (size_t i = 0; i < tm->n_metrics; i++)
        if (strcmp(tm->metrics[i].name, name) == 0)
            return &tm->metrics[i];
    if (!create || tm->n_metrics == tm->max_metrics)
        return NULL;
    tm_metric_t *m = &tm->metrics[tm->n_metrics++];
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", name);
    return m;
}

/* find(create) with the errors spelled out; lock held. */
static int find_or_add(vigil_threshold_monitor_t *tm, const char *metric, tm_metric_t **m,
                       vigil_error_t *err)
{
    if (!monitor_name_ok(metric, METRIC_NAME_MAX))
        return vigil_error_set(err, VIGIL_EINVAL, "metric name must be 1..%d bytes without "
                                                  "control characters", METRIC_NAME_MAX - 1);
    *m = find(tm, metric, true);
    if (*m == NULL)
        return vigil_error_set(err, VIGIL_ELIMIT, "more than %zu metrics", tm->max_metrics);
    return 0;
}

int vigil_threshold_set(vigil_threshold_monitor_t *tm, const char *metric, double value,
                        vigil_threshold_direction_t direction, vigil_error_t *err)
{
    if (isnan(value))
        return vigil_error_set(err, VIGIL_EINVAL, "threshold of %s: NaN", metric);
    if (direction != VIGIL_THRESHOLD_ABOVE && direction != VIGIL_THRESHOLD_BELOW)
        return vigil_error_set(err, VIGIL_EINVAL, "threshold of %s: unknown direction", metric);
    pthread_mutex_lock(&tm->lock);
    tm_metric_t *m;
    int rc = find_or_add(tm, metric, &m, err);
    if (rc == 0) {
        m->has_threshold = true;
        m->threshold = value;
        m->direction = direction;
        m->violated = false;  /* a new threshold is judged afresh at the next check */
    }
    pthread_mutex_unlock(&tm->lock);
    return rc;
}

static void record_locked(tm_metric_t *m, double v)
{
    vigil_metric_history_t *h = &m->hist;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (h->count == 0 || v > h->max)
        h->max = v;
    h->count++;
    h->latest = v;
    m->sum += v;
    h->mean = m->sum / (double)h->count;
}

int vigil_threshold_record(vigil_threshold_monitor_t *tm, const char *metric, double value,
                           vigil_error_t *err)
{
    if (isnan(value))
        return 0;
    pthread_mutex_lock(&tm->lock);
    tm_metric_t *m;
    int rc = find_or_add(tm, metric, &m, err);
    if (rc == 0)
        record_locked(m, value);
    pthread_mutex_unlock(&tm->lock);
    return rc;
}

int vigil_threshold_add_source(vigil_threshold_monitor_t *tm, const char *metric,
                               vigil_threshold_source_fn fn, void *ctx, vigil_error_t *err)
{
    if (fn == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "source of %s: NULL function", metric);
    pthread_mutex_lock(&tm->lock);
    tm_metric_t *m;
    int rc = find_or_add(tm, metric, &m, err);
    if (rc == 0) {
        m->source = fn;
        m->source_ctx = ctx;
    }
    pthread_mutex_unlock(&tm->lock);
    return rc;
}

/* A pending alert, raised after the lock is released (handlers may call back in). */
typedef struct pending {
    char                        name[METRIC_NAME_MAX];
    double                      value, threshold;
    vigil_threshold_direction_t direction;
} pending_t;

size_t vigil_threshold_check(vigil_threshold_monitor_t *tm)
{
    pthread_mutex_lock(&tm->check_lock);
    /* Sources run without the lock: they may be slow (procfs reads) or call into the
     * monitor. The table only grows, so indices stay valid; a source registered meanwhile
     * is sampled at the next check. */
    pthread_mutex_lock(&tm->lock);
    size_t n = tm->n_metrics;
    pthread_mutex_unlock(&tm->lock);
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&tm->lock);
        vigil_threshold_source_fn fn = tm->metrics[i].source;
        void *ctx = tm->metrics[i].source_ctx;
        pthread_mutex_unlock(&tm->lock);
        if (fn == NULL)
            continue;
        double v = fn(ctx);
        if (isnan(v))
            continue;
        pthread_mutex_lock(&tm->lock);
        record_locked(&tm->metrics[i], v);
        pthread_mutex_unlock(&tm->lock);
    }

    pending_t *pend = NULL;
    size_t n_pend = 0;
    pthread_mutex_lock(&tm->lock);
    pend = calloc(tm->n_metrics > 0 ? tm->n_metrics : 1, sizeof(*pend));
    for (size_t i = 0; pend != NULL && i < tm->n_metrics; i++) {
        tm_metric_t *m = &tm->metrics[i];
        if (!m->has_threshold || m->hist.count == 0)
            continue;
        double v = m->hist.latest;
        bool bad = m->direction == VIGIL_THRESHOLD_ABOVE ? v > m->threshold : v < m->threshold;
        if (bad && !m->violated) {
            pending_t *p = &pend[n_pend++];
            snprintf(p->name, sizeof(p->name), "%s", m->name);
            p->value = v;
            p->threshold = m->threshold;
            p->direction = m->direction;
        }
        m->violated = bad;
    }
    tm->alert_count += n_pend;
    pthread_mutex_unlock(&tm->lock);

    for (size_t i = 0; i < n_pend; i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s %s threshold: %.6g %s %.6g", pend[i].name,
                 pend[i].direction == VIGIL_THRESHOLD_ABOVE ? "above" : "below", pend[i].value,
                 pend[i].direction == VIGIL_THRESHOLD_ABOVE ? ">" : "<", pend[i].threshold);
        vigil_alert_trigger(tm->alerts, tm->severity, msg, pend[i].name, pend[i].value,
                            pend[i].threshold, NULL, NULL);
    }
    free(pend);
    pthread_mutex_unlock(&tm->check_lock);
    return n_pend;
}

static void *thread_main(void *arg)
{
    vigil_threshold_monitor_t *tm = arg;
    for (;;) {
        vigil_threshold_check(tm);
        pthread_mutex_lock(&tm->lock);
        bool go_on = monitor_sleep(&tm->wake, &tm->lock, &tm->stop, tm->interval_s);
        pthread_mutex_unlock(&tm->lock);
        if (!go_on)
            return NULL;
    }
}

int vigil_threshold_start(vigil_threshold_monitor_t *tm, double interval_s, vigil_error_t *err)
{
    if (!(interval_s > 0))
        return vigil_error_set(err, VIGIL_EINVAL, "check interval must be > 0");
    pthread_mutex_lock(&tm->lock);
    if (tm->running) {
        pthread_mutex_unlock(&tm->lock);
        return vigil_error_set(err, VIGIL_ESTATE, "threshold monitor already running");
    }
    tm->stop = false;
    tm->interval_s = interval_s;
    int rc = pthread_create(&tm->thread, NULL, thread_main, tm);
    tm->running = rc == 0;
    pthread_mutex_unlock(&tm->lock);
    return rc != 0 ? vigil_error_set(err, VIGIL_ESYS, "threshold thread: %s", strerror(rc)) : 0;
}

void vigil_threshold_stop(vigil_threshold_monitor_t *tm)
{
    pthread_mutex_lock(&tm->lock);
    bool running = tm->running;
    tm->stop = true;
    pthread_cond_broadcast(&tm->wake);
    pthread_mutex_unlock(&tm->lock);
    if (!running)
        return;
    pthread_join(tm->thread, NULL);
    pthread_mutex_lock(&tm->lock);
    tm->running = false;
    pthread_mutex_unlock(&tm->lock);
}

int vigil_threshold_history(vigil_threshold_monitor_t *tm, const char *metric,
                            vigil_metric_history_t *out)
{
    pthread_mutex_lock(&tm->lock);
    tm_metric_t *m = metric != NULL ? find(tm, metric, false) : NULL;
    int rc = m != NULL && m->hist.count > 0 ? 0 : VIGIL_ENOENT;
    if (rc == 0)
        *out = m->hist;
    pthread_mutex_unlock(&tm->lock);
    return rc;
}

int vigil_threshold_summary_json(vigil_threshold_monitor_t *tm, char **json, size_t *len)
{
    buf_t b;
    buf_init(&b, 64u << 20);
    pthread_mutex_lock(&tm->lock);
    int rc = buf_printf(&b, "{\"running\":%s,\"alert_count\":%llu,\"thresholds\":{",
                        tm->running ? "true" : "false", (unsigned long long)tm->alert_count);
    bool first = true;
    for (size_t i = 0; rc == 0 && i < tm->n_metrics; i++) {
        const tm_metric_t *m = &tm->metrics[i];
        if (!m->has_threshold)
            continue;
        rc = monitor_put_json_key(&b, &first, m->name);
        rc = rc ? rc : buf_puts(&b, "{\"value\":");
        rc = rc ? rc : monitor_put_json_number(&b, m->threshold);
        rc = rc ? rc : buf_printf(&b, ",\"direction\":\"%s\",\"violated\":%s}",
                                  m->direction == VIGIL_THRESHOLD_ABOVE ? "above" : "below",
                                  m->violated ? "true" : "false");
    }
    rc = rc ? rc : buf_puts(&b, "},\"metric_history\":{");
    first = true;
    for (size_t i = 0; rc == 0 && i < tm->n_metrics; i++) {
        const tm_metric_t *m = &tm->metrics[i];
        if (m->hist.count == 0)
            continue;
        rc = monitor_put_json_key(&b, &first, m->name);
        rc = rc ? rc : buf_printf(&b, "{\"count\":%llu,\"latest\":",
                                  (unsigned long long)m->hist.count);
        rc = rc ? rc : monitor_put_json_number(&b, m->hist.latest);
        rc = rc ? rc : buf_puts(&b, ",\"min\":");
        rc = rc ? rc : monitor_put_json_number(&b, m->hist.min);
        rc = rc ? rc : buf_puts(&b, ",\"max\":");
        rc = rc ? rc : monitor_put_json_number(&b, m->hist.max);
        rc = rc ? rc : buf_puts(&b, ",\"mean\":");
        rc = rc ? rc : monitor_put_json_number(&b, m->hist.mean);
        rc = rc ? rc : buf_putc(&b, '}');
    }
    pthread_mutex_unlock(&tm->lock);
    rc = rc ? rc : buf_puts(&b, "}}");
    return monitor_buf_finish(&b, rc, json, len);
}
