/*
 * alerts.c - the alert manager (seed 001 AlertManager): a ring of the last max_alerts alerts,
 * handler fan-out and the vigil_monitor_alerts_total counter.
 *
 * The ring is a fixed array allocated at creation: triggering never allocates, so an alert
 * about memory pressure cannot fail for lack of memory. Handlers are called after the store's
 * lock is released (with a copy of the handler list taken under it), so a slow handler delays
 * only its own trigger and a handler may query the manager.
 */
#include "vigil/alerts.h"

#include "monitor/monitor_int.h"
#include "util/buf.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct handler {
    vigil_alert_handler_fn fn;
    void                  *ctx;
} handler_t;

struct vigil_alert_manager {
    pthread_mutex_t lock;        /* guards everything below */
    vigil_alert_t  *ring;        /* max_alerts slots */
    size_t          max_alerts;
    size_t          head;        /* index of the oldest stored alert */
    size_t          count;       /* stored alerts */
    uint64_t        next_id;
    uint64_t        triggered;
    uint64_t        evicted;
    uint64_t        by_severity[VIGIL_ALERT_SEVERITY_COUNT];
    handler_t       handlers[VIGIL_ALERT_MAX_HANDLERS];
    size_t          n_handlers;
    vigil_family_t *alerts_total;   /* NULL without a registry */
    vigil_counter_t *evicted_total;
};

static const char *const severity_names[VIGIL_ALERT_SEVERITY_COUNT] = {
    "INFO", "WARNING", "ERROR", "CRITICAL",
};

const char *vigil_alert_severity_name(vigil_alert_severity_t s)
{
    return (unsigned)s < VIGIL_ALERT_SEVERITY_COUNT ? severity_names[s] : "UNKNOWN";
}

int vigil_alert_severity_parse(const char *name, vigil_alert_severity_t *out)
{
    for (unsigned i = 0; name != NULL && i < VIGIL_ALERT_SEVERITY_COUNT; i++)
        if (strcasecmp(name, severity_names[i]) == 0) {
            *out = (vigil_alert_severity_t)i;
            return 0;
        }
    return VIGIL_EINVAL;
}

int vigil_alert_manager_create(const vigil_alert_manager_opts_t *opts,
                               vigil_alert_manager_t **out, vigil_error_t *err)
{
    *out = NULL;
    size_t max = opts != NULL && opts->max_alerts > 0 ? opts->max_alerts : 1000;
    vigil_alert_manager_t *am = calloc(1, sizeof(*am));
    if (am == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    am->ring = calloc(max, sizeof(*am->ring));
    if (am->ring == NULL) {
        free(am);
        return vigil_error_set(err, VIGIL_ENOMEM, "alert store of %zu alerts: out of memory",
                               max);
    }
    am->max_alerts = max;
    am->next_id = 1;
    pthread_mutex_init(&am->lock, NULL);
    if (opts != NULL && opts->registry != NULL) {
        vigil_family_t *ev;
        int rc = vigil_counter_new(opts->registry, "vigil_monitor_alerts_total",
                                   "Alerts triggered, by severity and metric.",
                                   (const char *const[]){ "severity", "metric", NULL },
                                   &am->alerts_total, err);
        rc = rc ? rc : vigil_counter_new(opts->registry, "vigil_monitor_alerts_evicted_total",
                                         "Alerts pushed out of the bounded alert store by "
                                         "newer ones.", NULL, &ev, err);
        if (rc != 0) {
            vigil_alert_manager_free(am);
            return rc;
        }
        am->evicted_total = vigil_counter_with(ev);
    }
    *out = am;
    return 0;
}

void vigil_alert_manager_free(vigil_alert_manager_t *am)
{
    if (am == NULL)
        return;
    pthread_mutex_destroy(&am->lock);
    free(am->ring);
    free(am);
}

int vigil_alert_add_handler(vigil_alert_manager_t *am, vigil_alert_handler_fn fn, void *ctx,
                            vigil_error_t *err)
{
    if (fn == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "alert handler: NULL function");
    pthread_mutex_lock(&am->lock);
    int rc = 0;
    if (am->n_handlers == VIGIL_ALERT_MAX_HANDLERS)
        rc = vigil_error_set(err, VIGIL_ELIMIT, "at most %d alert handlers",
                             VIGIL_ALERT_MAX_HANDLERS);
    else
        am->handlers[am->n_handlers++] = (handler_t){ fn, ctx };
    pthread_mutex_unlock(&am->lock);
    return rc;
}

int vigil_alert_trigger(vigil_alert_manager_t *am, vigil_alert_severity_t severity,
                        const char *message, const char *metric_name, double metric_value,
                        double threshold, vigil_alert_t *out, vigil_error_t *err)
{
    if ((unsigned)severity >= VIGIL_ALERT_SEVERITY_COUNT)
        return vigil_error_set(err, VIGIL_EINVAL, "unknown alert severity %d", (int)severity);
    vigil_alert_t a = { .severity = severity, .timestamp = monitor_wall_now(),
                        .metric_value = metric_value, .threshold = threshold };
    snprintf(a.message, sizeof(a.message), "%s", message != NULL ? message : "");
    snprintf(a.metric_name, sizeof(a.metric_name), "%s", metric_name != NULL ? metric_name : "");

    handler_t handlers[VIGIL_ALERT_MAX_HANDLERS];
    bool evicted = false;
    pthread_mutex_lock(&am->lock);
    a.id = am->next_id++;
    if (am->count == am->max_alerts) {
        am->head = (am->head + 1) % am->max_alerts;
        am->count--;
        am->evicted++;
        evicted = true;
    }
    am->ring[(am->head + am->count) % am->max_alerts] = a;
    am->count++;
    am->triggered++;
    am->by_severity[severity]++;
    size_t n_handlers = am->n_handlers;
    memcpy(handlers, am->handlers, n_handlers * sizeof(handlers[0]));
    pthread_mutex_unlock(&am->lock);

    if (am->alerts_total != NULL) {
        /* A label lookup fails only past the family's series limit or out of memory: the
         * alert is still stored and handled, only this series misses the count. */
        vigil_counter_t *c = vigil_counter_with(am->alerts_total, severity_names[severity],
                                                a.metric_name);
        if (c != NULL)
            vigil_counter_inc(c);
        if (evicted)
            vigil_counter_inc(am->evicted_total);
    }
    for (size_t i = 0; i < n_handlers; i++)
        handlers[i].fn(handlers[i].ctx, &a);
    if (out != NULL)
        *out = a;
    return 0;
}

size_t vigil_alert_recent(vigil_alert_manager_t *am, size_t count, bool filter_severity,
                          vigil_alert_severity_t severity, vigil_alert_t *out, size_t cap)
{
    size_t want = count < cap ? count : cap;
    pthread_mutex_lock(&am->lock);
    /* Walk newest to oldest to find where the `want` most recent matches start, then copy
     * them forward so the result is oldest first. */
    size_t found = 0, start = am->count;
    for (size_t k = am->count; k > 0 && found < want; k--) {
        const vigil_alert_t *a = &am->ring[(am->head + k - 1) % am->max_alerts];
        if (!filter_severity || a->severity == severity) {
            found++;
            start = k - 1;
        }
    }
    size_t n = 0;
    for (size_t k = start; k < am->count && n < found; k++) {
        const vigil_alert_t *a = &am->ring[(am->head + k) % am->max_alerts];
        if (!filter_severity || a->severity == severity)
            out[n++] = *a;
    }
    pthread_mutex_unlock(&am->lock);
    return n;
}

size_t vigil_alert_by_severity(vigil_alert_manager_t *am, vigil_alert_severity_t severity,
                               vigil_alert_t *out, size_t cap)
{
    return vigil_alert_recent(am, cap, true, severity, out, cap);
}

void vigil_alert_clear(vigil_alert_manager_t *am)
{
    pthread_mutex_lock(&am->lock);
    am->head = 0;
    am->count = 0;
    pthread_mutex_unlock(&am->lock);
}

void vigil_alert_get_stats(vigil_alert_manager_t *am, vigil_alert_stats_t *out)
{
    pthread_mutex_lock(&am->lock);
    out->stored = am->count;
    out->max_alerts = am->max_alerts;
    out->triggered = am->triggered;
    out->evicted = am->evicted;
    memcpy(out->by_severity, am->by_severity, sizeof(out->by_severity));
    pthread_mutex_unlock(&am->lock);
}

int vigil_alert_to_json(const vigil_alert_t *a, char **json, size_t *len)
{
    buf_t b;
    buf_init(&b, 4096);
    int rc = buf_printf(&b, "{\"id\":%llu,\"severity\":", (unsigned long long)a->id);
    rc = rc ? rc : buf_put_json_string(&b, vigil_alert_severity_name(a->severity));
    rc = rc ? rc : buf_puts(&b, ",\"timestamp\":");
    rc = rc ? rc : monitor_put_json_number(&b, a->timestamp);
    rc = rc ? rc : buf_puts(&b, ",\"message\":");
    rc = rc ? rc : buf_put_json_string(&b, a->message);
    rc = rc ? rc : buf_puts(&b, ",\"metric_name\":");
    rc = rc ? rc : buf_put_json_string(&b, a->metric_name);
    rc = rc ? rc : buf_puts(&b, ",\"metric_value\":");
    rc = rc ? rc : monitor_put_json_number(&b, a->metric_value);
    rc = rc ? rc : buf_puts(&b, ",\"threshold\":");
    rc = rc ? rc : monitor_put_json_number(&b, a->threshold);
    rc = rc ? rc : buf_putc(&b, '}');
    return monitor_buf_finish(&b, rc, json, len);
}
