/*
 * notifier.c - the rules' alerts to vigil's notifier and to Alertmanagers (see notifier.h).
 *
 * Metrics (docs/notify.md has the mapping to Alertmanager's and Prometheus's names):
 *   notifier   vigil_notify_notifications_total{integration}
 *              vigil_notify_notifications_failed_total{integration}
 *              vigil_notify_notification_requests_total{integration}
 *              vigil_notify_notification_requests_failed_total{integration}
 *              vigil_notify_notification_latency_seconds{integration} (histogram)
 *              vigil_notify_alerts{state="active"|"suppressed"}
 *              vigil_notify_silences{state="active"|"pending"|"expired"}
 *   forwarder  vigil_notifications_sent_total{alertmanager}, vigil_notifications_errors_total
 *              {alertmanager}, vigil_notifications_dropped_total, vigil_notifications_queue_length,
 *              vigil_notifications_queue_capacity (counted in alerts, as Prometheus does)
 */
#include "agent/notifier.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct forward_target {
    vigil_counter_t *sent;
    vigil_counter_t *errors;
} forward_target_t;

struct agent_notifier {
    log_t            *log;
    char             *state_dir;     /* <data dir>/notify */
    char             *external_url;

    pthread_rwlock_t  lock;          /* guards `notify` (the pointer, not the notifier) */
    notify_t         *notify;        /* NULL: notifications off */

    am_forward_t     *forward;       /* NULL: no Alertmanager configured; fixed at start */
    forward_target_t *targets;       /* one per alerting.alertmanagers URL */

    vigil_family_t   *notifications, *notifications_failed, *requests, *requests_failed;
    vigil_family_t   *latency;
};

/* ---- metrics --------------------------------------------------------------------------------- */

/* notify_options_t.on_attempt: Alertmanager's RetryStage metrics. */
static void on_attempt(void *ctx, const char *integration, int rc, double seconds, bool last)
{
    agent_notifier_t *an = ctx;
    vigil_histogram_t *h = vigil_histogram_with(an->latency, integration);
    vigil_counter_t *req = vigil_counter_with(an->requests, integration);
    if (h != NULL)
        vigil_histogram_observe(h, seconds);
    if (req != NULL)
        vigil_counter_inc(req);
    vigil_counter_t *c;
    if (rc != 0 && (c = vigil_counter_with(an->requests_failed, integration)) != NULL)
        vigil_counter_inc(c);
    if (!last)
        return;
    if ((c = vigil_counter_with(an->notifications, integration)) != NULL)
        vigil_counter_inc(c);
    if (rc != 0 && (c = vigil_counter_with(an->notifications_failed, integration)) != NULL)
        vigil_counter_inc(c);
}

/* The gauges below read the running notifier at exposition time. */
static double alerts_in_state(agent_notifier_t *an, bool active)
{
    size_t a = 0, s = 0;
    notify_t *n = agent_notifier_acquire(an);
    if (n != NULL)
        notify_alert_counts(n, &a, &s);
    agent_notifier_release(an);
    return (double)(active ? a : s);
}
static double alerts_active(void *arg) { return alerts_in_state(arg, true); }
static double alerts_suppressed(void *arg) { return alerts_in_state(arg, false); }

typedef struct silence_count {
    const char *state;
    size_t      n;
} silence_count_t;

static void count_silence(void *ctx, const notify_silence_t *s, const char *state)
{
    (void)s;
    silence_count_t *c = ctx;
    if (strcmp(state, c->state) == 0)
        c->n++;
}

static double silences_in_state(agent_notifier_t *an, const char *state)
{
    silence_count_t c = { state, 0 };
    notify_t *n = agent_notifier_acquire(an);
    if (n != NULL)
        notify_silence_list(n, count_silence, &c);
    agent_notifier_release(an);
    return (double)c.n;
}
static double silences_active(void *arg) { return silences_in_state(arg, "active"); }
static double silences_pending(void *arg) { return silences_in_state(arg, "pending"); }
static double silences_expired(void *arg) { return silences_in_state(arg, "expired"); }

static int register_notify_metrics(agent_notifier_t *an, vigil_registry_t *reg,
                                   vigil_error_t *err)
{
    static const char *const by_integration[] = { "integration", NULL };
    static const char *const by_state[] = { "state", NULL };
    /* Alertmanager's buckets for notification latency. */
    static const double buckets[] = { 1, 5, 10, 15, 20 };
    vigil_family_t *alerts, *silences;
    int rc = vigil_counter_new(reg, "vigil_notify_notifications_total",
                               "Notifications attempted, by integration (each notification "
                               "once, whatever its retries).", by_integration,
                               &an->notifications, err);
    rc = rc ? rc : vigil_counter_new(reg, "vigil_notify_notifications_failed_total",
                                     "Notifications that failed after their last attempt.",
                                     by_integration, &an->notifications_failed, err);
    rc = rc ? rc : vigil_counter_new(reg, "vigil_notify_notification_requests_total",
                                     "Send attempts (requests, e-mails, commands) to integrations.",
                                     by_integration, &an->requests, err);
    rc = rc ? rc : vigil_counter_new(reg, "vigil_notify_notification_requests_failed_total",
                                     "Send attempts that failed.", by_integration,
                                     &an->requests_failed, err);
    rc = rc ? rc : vigil_histogram_new(reg, "vigil_notify_notification_latency_seconds",
                                       "Duration of send attempts, by integration.",
                                       by_integration, buckets,
                                       sizeof(buckets) / sizeof(buckets[0]), &an->latency, err);
    rc = rc ? rc : vigil_gauge_new(reg, "vigil_notify_alerts",
                                   "Alerts the notifier holds that have not resolved, by state "
                                   "(suppressed: silenced or inhibited).", by_state, &alerts, err);
    rc = rc ? rc : vigil_gauge_new(reg, "vigil_notify_silences", "Silences by state.", by_state,
                                   &silences, err);
    if (rc != 0)
        return rc;
    /* Every integration shows from the start (as 0), so rate() sees the first one. */
    const char *name;
    for (size_t i = 0; (name = notify_integration_name(i)) != NULL; i++) {
        if (vigil_counter_with(an->notifications, name) == NULL ||
            vigil_counter_with(an->notifications_failed, name) == NULL ||
            vigil_counter_with(an->requests, name) == NULL ||
            vigil_counter_with(an->requests_failed, name) == NULL ||
            vigil_histogram_with(an->latency, name) == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    static const struct {
        int         family;  /* 0 alerts, 1 silences */
        const char *state;
        double    (*fn)(void *);
    } gauges[] = {
        { 0, "active", alerts_active },       { 0, "suppressed", alerts_suppressed },
        { 1, "active", silences_active },     { 1, "pending", silences_pending },
        { 1, "expired", silences_expired },
    };
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
        vigil_gauge_t *g = vigil_gauge_with(gauges[i].family ? silences : alerts, gauges[i].state);
        if (g == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
        vigil_gauge_set_fn(g, gauges[i].fn, an);
    }
    return 0;
}

/* am_forward_options_t.on_result: per-Alertmanager counts, in alerts. */
static void on_forward_result(void *ctx, size_t url_index, size_t alerts, bool ok)
{
    agent_notifier_t *an = ctx;
    forward_target_t *t = &an->targets[url_index];
    vigil_counter_add_u64(ok ? t->sent : t->errors, alerts);
}

/* The forwarder's own counts, read at exposition time. */
static am_forward_stats_t forward_stats(void *arg)
{
    am_forward_stats_t st;
    am_forward_stats(((agent_notifier_t *)arg)->forward, &st);
    return st;
}
static double forward_dropped(void *arg) { return (double)forward_stats(arg).dropped; }
static double forward_queued(void *arg) { return (double)forward_stats(arg).queued; }
static double forward_capacity(void *arg) { return (double)forward_stats(arg).capacity; }

static int start_forward(agent_notifier_t *an, const config_string_list_t *urls,
                         vigil_registry_t *reg, vigil_error_t *err)
{
    if (urls->count == 0)
        return 0;
    static const char *const by_am[] = { "alertmanager", NULL };
    vigil_family_t *sent, *errors;
    an->targets = calloc(urls->count, sizeof(*an->targets));
    int rc = an->targets == NULL ? vigil_error_set(err, VIGIL_ENOMEM, "out of memory") : 0;
    rc = rc ? rc : vigil_counter_new(reg, "vigil_notifications_sent_total",
                                     "Alerts an Alertmanager accepted, by Alertmanager.", by_am,
                                     &sent, err);
    rc = rc ? rc : vigil_counter_new(reg, "vigil_notifications_errors_total",
                                     "Alerts in requests an Alertmanager refused or did not "
                                     "answer, by Alertmanager.", by_am, &errors, err);
    for (size_t i = 0; rc == 0 && i < urls->count; i++) {
        an->targets[i].sent = vigil_counter_with(sent, urls->items[i]);
        an->targets[i].errors = vigil_counter_with(errors, urls->items[i]);
        if (an->targets[i].sent == NULL || an->targets[i].errors == NULL)
            rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    if (rc != 0)
        return rc;
    am_forward_options_t o = { .urls = (const char *const *)urls->items, .nurls = urls->count,
                               .log = an->log, .on_result = on_forward_result,
                               .on_result_ctx = an };
    rc = am_forward_create(&an->forward, &o, err);
    rc = rc ? rc : vigil_counter_func_new(reg, "vigil_notifications_dropped_total",
                                          "Alerts dropped: pushed out of the full queue or "
                                          "refused by every Alertmanager.", forward_dropped, an,
                                          err);
    rc = rc ? rc : vigil_gauge_func_new(reg, "vigil_notifications_queue_length",
                                        "Alerts waiting to be sent to the Alertmanagers.",
                                        forward_queued, an, err);
    rc = rc ? rc : vigil_gauge_func_new(reg, "vigil_notifications_queue_capacity",
                                        "Size of the queue of alerts to the Alertmanagers.",
                                        forward_capacity, an, err);
    return rc;
}

/* ---- the notifier ---------------------------------------------------------------------------- */

/* The notifier's state directory exists, is a directory and is writable. */
static int ensure_state_dir(const agent_notifier_t *an, vigil_error_t *err)
{
    struct stat st;
    if ((mkdir(an->state_dir, 0750) != 0 && errno != EEXIST) || stat(an->state_dir, &st) != 0 ||
        access(an->state_dir, W_OK) != 0)
        return vigil_error_set(err, VIGIL_EIO, "notify state directory %s: %s", an->state_dir,
                               strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return vigil_error_set(err, VIGIL_EIO, "notify state directory %s: not a directory",
                               an->state_dir);
    return 0;
}

int agent_notifier_prepare(agent_notifier_t *an, const config_t *cfg, const char *config_path,
                           notify_config_t **out, vigil_error_t *err)
{
    *out = NULL;
    const char *file = cfg->notify.config;
    if (file == NULL || file[0] == '\0')
        return 0;
    char path[4096];
    const char *slash = config_path != NULL ? strrchr(config_path, '/') : NULL;
    if (file[0] != '/' && slash != NULL)
        snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - config_path), config_path, file);
    else
        snprintf(path, sizeof(path), "%s", file);
    /* The state directory is what starting a notifier most often trips on: checked here, a
     * reload that would start one fails as a whole instead of reporting success. */
    int rc = ensure_state_dir(an, err);
    if (rc != 0)
        return rc;
    vigil_error_t lerr;
    rc = notify_config_load_file(out, path, NOTIFY_LOAD_LENIENT, &lerr);
    if (rc != 0)
        return vigil_error_set(err, rc, "notify.config: %s", lerr.message);
    const char *w;
    for (size_t i = 0; (w = notify_config_warning(*out, i)) != NULL; i++)
        log_warn(an->log, "notify", "notify.config loaded with a warning", LF_STR("file", path),
                 LF_STR("warning", w));
    return 0;
}

/* Creates the notifier over `ncfg` (taken). Caller holds the write lock. */
static int create_notify(agent_notifier_t *an, notify_config_t *ncfg, vigil_error_t *err)
{
    int rc = ensure_state_dir(an, err);
    if (rc != 0) {
        notify_config_free(ncfg);
        return rc;
    }
    notify_options_t o = { .data_dir = an->state_dir, .external_url = an->external_url,
                           .log = an->log, .on_attempt = on_attempt, .on_attempt_ctx = an };
    return notify_create(&an->notify, ncfg, &o, err);
}

void agent_notifier_commit(agent_notifier_t *an, notify_config_t *ncfg)
{
    notify_t *stopped = NULL;
    pthread_rwlock_wrlock(&an->lock);
    if (ncfg == NULL) {
        stopped = an->notify;
        an->notify = NULL;
    } else if (an->notify != NULL) {
        notify_reload(an->notify, ncfg);
    } else {
        vigil_error_t err;
        if (create_notify(an, ncfg, &err) != 0)
            log_error(an->log, "notify", "cannot start the notifier",
                      LF_STR("error", err.message));
        else
            log_info(an->log, "notify", "notifier started");
    }
    pthread_rwlock_unlock(&an->lock);
    if (stopped != NULL) {
        notify_stop(stopped);  /* outside the lock: it waits for a send in progress */
        log_info(an->log, "notify", "notifier stopped: notify.config is empty");
    }
}

notify_t *agent_notifier_acquire(agent_notifier_t *an)
{
    pthread_rwlock_rdlock(&an->lock);
    return an->notify;
}

void agent_notifier_release(agent_notifier_t *an)
{
    pthread_rwlock_unlock(&an->lock);
}

/* ---- the sink -------------------------------------------------------------------------------- */

static void copy_labels(notify_kv_t *dst, promql_labels_t src)
{
    for (size_t i = 0; i < src.n; i++)
        dst[i] = (notify_kv_t){ src.v[i].name, src.v[i].value };
}

void agent_notifier_sink(void *ctx, const char *expr, const rules_alert_out_t *alerts, size_t n)
{
    (void)expr;
    agent_notifier_t *an = ctx;
    if (n == 0)
        return;
    /* One array of pairs for all alerts' labels and annotations: the rule engine's strings are
     * borrowed for this call, and notify_push / am_forward_push copy what they keep. */
    size_t npairs = 0;
    for (size_t i = 0; i < n; i++)
        npairs += alerts[i].labels.n + alerts[i].annotations.n;
    notify_alert_t *out = calloc(n, sizeof(*out));
    notify_kv_t *kv = calloc(npairs ? npairs : 1, sizeof(*kv));
    if (out == NULL || kv == NULL) {
        log_error(an->log, "notify", "alerts dropped: out of memory", LF_UINT("count", n));
        goto out_free;
    }
    notify_kv_t *p = kv;
    for (size_t i = 0; i < n; i++) {
        const rules_alert_out_t *a = &alerts[i];
        copy_labels(p, a->labels);
        out[i].labels = p;
        out[i].nlabels = a->labels.n;
        p += a->labels.n;
        copy_labels(p, a->annotations);
        out[i].annotations = p;
        out[i].nannotations = a->annotations.n;
        p += a->annotations.n;
        out[i].starts_at_ms = a->starts_at_ms;
        out[i].ends_at_ms = a->ends_at_ms;
        out[i].generator_url = a->generator_url;
    }
    notify_t *nt = agent_notifier_acquire(an);
    int rc = nt != NULL ? notify_push(nt, out, n) : 0;
    agent_notifier_release(an);
    if (rc != 0)
        log_error(an->log, "notify", "the notifier refused alerts", LF_STR("error",
                  vigil_strerror(rc)), LF_UINT("count", n));
    if (an->forward != NULL)
        am_forward_push(an->forward, out, n);
out_free:
    free(kv);
    free(out);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

int agent_notifier_start(agent_notifier_t **out, const config_t *cfg, const char *config_path,
                         const char *data_dir, const char *external_url, vigil_registry_t *reg,
                         log_t *log, vigil_error_t *err)
{
    *out = NULL;
    agent_notifier_t *an = calloc(1, sizeof(*an));
    if (an == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    an->log = log;
    pthread_rwlock_init(&an->lock, NULL);
    size_t len = strlen(data_dir) + sizeof("/notify");
    an->state_dir = malloc(len);
    an->external_url = strdup(external_url);
    if (an->state_dir == NULL || an->external_url == NULL) {
        agent_notifier_stop(an);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    snprintf(an->state_dir, len, "%s/notify", data_dir);
    notify_config_t *ncfg;
    int rc = register_notify_metrics(an, reg, err);
    rc = rc ? rc : agent_notifier_prepare(an, cfg, config_path, &ncfg, err);
    if (rc == 0 && ncfg != NULL) {
        rc = create_notify(an, ncfg, err);
        if (rc == 0)
            log_info(log, "notify", "notifier started", LF_STR("config", cfg->notify.config),
                     LF_STR("state", an->state_dir));
    }
    rc = rc ? rc : start_forward(an, &cfg->alerting.alertmanagers, reg, err);
    if (rc != 0) {
        agent_notifier_stop(an);
        return rc;
    }
    *out = an;
    return 0;
}

void agent_notifier_stop(agent_notifier_t *an)
{
    if (an == NULL)
        return;
    notify_stop(an->notify);
    am_forward_stop(an->forward);
    free(an->targets);
    pthread_rwlock_destroy(&an->lock);
    free(an->state_dir);
    free(an->external_url);
    free(an);
}

void agent_external_url(const char *listen, char *out, size_t cap)
{
    /* listen is host:port, [v6]:port or :port (config_validate checked it). */
    const char *colon = strrchr(listen, ':');
    size_t hlen = colon != NULL ? (size_t)(colon - listen) : strlen(listen);
    bool wildcard = hlen == 0 || (hlen == 7 && strncmp(listen, "0.0.0.0", 7) == 0) ||
                    (hlen == 4 && strncmp(listen, "[::]", 4) == 0);
    char host[256];
    if (wildcard && gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        snprintf(out, cap, "http://%s%s", host, colon != NULL ? colon : "");
    } else {
        snprintf(out, cap, "http://%s", listen);
    }
}
