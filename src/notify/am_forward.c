/*
 * am_forward.c - hands alerts to real Alertmanagers as Prometheus does (see notify.h): a
 * bounded queue, batches to POST /api/v2/alerts on every configured Alertmanager, success when
 * one of them took the batch, endsAt filled in for alerts without one.
 */
#include "notify/notify_int.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct qalert {
    json_t *json;  /* the PostableAlert, built at push time */
} qalert_t;

struct am_forward {
    am_forward_options_t opts;
    char               **urls;      /* ".../api/v2/alerts" */
    size_t               nurls;
    notify_kv_t         *ext;       /* copies */
    size_t               next;
    pthread_mutex_t      mu;
    pthread_cond_t       cond;
    pthread_t            thread;
    bool                 has_thread, stopping;
    qalert_t            *q;         /* ring buffer */
    size_t               head, count, cap;
    am_forward_stats_t   stats;
};

static int64_t fwd_now(const am_forward_t *f)
{
    if (f->opts.now_ms != NULL)
        return f->opts.now_ms(f->opts.clock_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *alert_json(const am_forward_t *f, const notify_alert_t *a, int64_t now)
{
    json_t *o = json_object(), *l = json_object(), *an = json_object();
    for (size_t i = 0; i < a->nlabels; i++)
        json_object_set_new(l, a->labels[i].name, json_string(a->labels[i].value));
    for (size_t i = 0; i < f->opts.nexternal; i++)
        if (json_object_get(l, f->ext[i].name) == NULL)
            json_object_set_new(l, f->ext[i].name, json_string(f->ext[i].value));
    for (size_t i = 0; i < a->nannotations; i++)
        json_object_set_new(an, a->annotations[i].name, json_string(a->annotations[i].value));
    char t[64];
    json_object_set_new(o, "labels", l);
    json_object_set_new(o, "annotations", an);
    npayload_rfc3339(a->starts_at_ms ? a->starts_at_ms : now, t, sizeof(t));
    json_object_set_new(o, "startsAt", json_string(t));
    int64_t valid = f->opts.valid_for_ms > 0 ? f->opts.valid_for_ms : 4 * 60 * 1000;
    npayload_rfc3339(a->ends_at_ms ? a->ends_at_ms : now + valid, t, sizeof(t));
    json_object_set_new(o, "endsAt", json_string(t));
    json_object_set_new(o, "generatorURL", json_string(a->generator_url ? a->generator_url : ""));
    return o;
}

int am_forward_push(am_forward_t *f, const notify_alert_t *alerts, size_t count)
{
    int64_t now = fwd_now(f);
    pthread_mutex_lock(&f->mu);
    if (f->stopping) {
        pthread_mutex_unlock(&f->mu);
        return VIGIL_ESTATE;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *j = alert_json(f, &alerts[i], now);
        if (j == NULL)
            continue;
        if (f->count == f->cap) {
            /* Prometheus drops the oldest alerts when the queue is full */
            json_decref(f->q[f->head].json);
            f->head = (f->head + 1) % f->cap;
            f->count--;
            f->stats.dropped++;
        }
        f->q[(f->head + f->count) % f->cap].json = j;
        f->count++;
    }
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

/* Takes up to max_batch alerts off the queue as one JSON array (caller frees), NULL if none. */
static char *take_batch(am_forward_t *f, size_t *n)
{
    size_t max = f->opts.max_batch ? f->opts.max_batch : 64;
    json_t *arr = json_array();
    *n = 0;
    pthread_mutex_lock(&f->mu);
    while (f->count > 0 && *n < max) {
        json_array_append_new(arr, f->q[f->head].json);
        f->q[f->head].json = NULL;
        f->head = (f->head + 1) % f->cap;
        f->count--;
        (*n)++;
    }
    pthread_mutex_unlock(&f->mu);
    char *s = *n > 0 ? json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(arr);
    return s;
}

static int send_batch(am_forward_t *f, const char *body, size_t n)
{
    int delivered = 0;
    int timeout = f->opts.timeout_ms > 0 ? f->opts.timeout_ms : 10000;
    for (size_t i = 0; i < f->nurls; i++) {
        char why[512];
        bool ok = notify_http_post(f->urls[i], "application/json", body, timeout, why,
                                   sizeof(why)) == 0;
        if (f->opts.on_result != NULL)
            f->opts.on_result(f->opts.on_result_ctx, i, n, ok);
        if (ok) {
            delivered++;
            continue;
        }
        pthread_mutex_lock(&f->mu);
        f->stats.errors++;
        pthread_mutex_unlock(&f->mu);
        log_error(f->opts.log, "notify", "error sending alerts to Alertmanager",
                  LF_STR("alertmanager", f->urls[i]), LF_UINT("count", n), LF_STR("error", why));
    }
    pthread_mutex_lock(&f->mu);
    if (delivered > 0)
        f->stats.sent += n;
    else
        f->stats.dropped += n;
    pthread_mutex_unlock(&f->mu);
    return delivered > 0 ? 0 : VIGIL_EIO;
}

int am_forward_flush(am_forward_t *f)
{
    int rc = 0;
    for (;;) {
        size_t n;
        char *body = take_batch(f, &n);
        if (body == NULL)
            break;
        if (send_batch(f, body, n) != 0)
            rc = VIGIL_EIO;
        free(body);
    }
    return rc;
}

static void *run(void *arg)
{
    am_forward_t *f = arg;
    pthread_mutex_lock(&f->mu);
    while (!f->stopping) {
        if (f->count == 0) {
            pthread_cond_wait(&f->cond, &f->mu);
            continue;
        }
        pthread_mutex_unlock(&f->mu);
        am_forward_flush(f);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

void am_forward_stats(am_forward_t *f, am_forward_stats_t *out)
{
    pthread_mutex_lock(&f->mu);
    *out = f->stats;
    out->queued = f->count;
    out->capacity = f->cap;
    pthread_mutex_unlock(&f->mu);
}

void am_forward_stop(am_forward_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mu);
    if (f->has_thread)
        pthread_join(f->thread, NULL);
    if (f->urls != NULL)
        am_forward_flush(f);  /* what is still queued goes out once */
    for (size_t i = 0; i < f->count; i++)
        json_decref(f->q[(f->head + i) % f->cap].json);
    free(f->q);
    for (size_t i = 0; i < f->nurls; i++)
        free(f->urls[i]);
    free(f->urls);
    for (size_t i = 0; f->ext != NULL && i < f->opts.nexternal; i++) {
        free((char *)f->ext[i].name);
        free((char *)f->ext[i].value);
    }
    free(f->ext);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

int am_forward_create(am_forward_t **out, const am_forward_options_t *opts, vigil_error_t *err)
{
    *out = NULL;
    if (opts == NULL || opts->nurls == 0)
        return vigil_error_set(err, VIGIL_EINVAL, "alertmanager forwarder: no Alertmanager URL");
    for (size_t i = 0; i < opts->nurls; i++)
        if (notify_url_problem(opts->urls[i]) != NULL)
            return vigil_error_set(err, VIGIL_EINVAL, "alertmanager %s: %s", opts->urls[i],
                                   notify_url_problem(opts->urls[i]));
    am_forward_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    f->opts = *opts;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    f->cap = opts->capacity ? opts->capacity : 10000;
    f->q = calloc(f->cap, sizeof(*f->q));
    f->urls = calloc(opts->nurls, sizeof(char *));
    f->ext = calloc(opts->nexternal ? opts->nexternal : 1, sizeof(*f->ext));
    bool ok = f->q && f->urls && f->ext;
    for (size_t i = 0; ok && i < opts->nurls; i++) {
        size_t len = strlen(opts->urls[i]);
        bool slash = len > 0 && opts->urls[i][len - 1] == '/';
        if ((f->urls[i] = malloc(len + 16)) == NULL) {
            ok = false;
            break;
        }
        snprintf(f->urls[i], len + 16, "%s%sapi/v2/alerts", opts->urls[i], slash ? "" : "/");
        f->nurls++;
    }
    for (size_t i = 0; ok && i < opts->nexternal; i++) {
        f->ext[i].name = strdup(opts->external_labels[i].name);
        f->ext[i].value = strdup(opts->external_labels[i].value);
        ok = f->ext[i].name && f->ext[i].value;
    }
    f->opts.urls = NULL;  /* not kept: f->urls is ours */
    f->opts.external_labels = NULL;
    if (ok && !opts->manual) {
        if (pthread_create(&f->thread, NULL, run, f) == 0)
            f->has_thread = true;
        else
            ok = false;
    }
    if (!ok) {
        am_forward_stop(f);
        return vigil_error_set(err, VIGIL_ENOMEM, "alertmanager forwarder: cannot start");
    }
    *out = f;
    return 0;
}
