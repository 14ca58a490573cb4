/*
 * alert_forward.c - alerts to Alertmanager's POST /api/v2/alerts (see alert_forward.h).
 *
 * The sink runs on the rule groups' threads: it only formats the batch and queues it. One
 * sender thread owns the libcurl handles and posts each batch to every Alertmanager in turn.
 */
#include "agent/alert_forward.h"

#include "util/buf.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FORWARD_QUEUE_MAX   1000          /* batches; past it the oldest is dropped */
#define FORWARD_BATCH_MAX   (16u << 20)   /* bytes of one JSON document */
#define FORWARD_TIMEOUT_MS  10000L        /* Prometheus's default notifier timeout */

typedef struct batch {
    struct batch *next;
    size_t        len;
    char          json[];   /* NUL-terminated */
} batch_t;

typedef struct target {
    char            *url;       /* URL/api/v2/alerts */
    vigil_counter_t *sent;
    vigil_counter_t *errors;
} target_t;

struct alert_forward {
    log_t           *log;
    target_t        *targets;
    size_t           n_targets;
    vigil_counter_t *dropped;

    pthread_mutex_t  lock;
    pthread_cond_t   wake;
    batch_t         *head, *tail;  /* FIFO of batches to send */
    size_t           queued;
    bool             stopping;
    pthread_t        thread;
};

/* RFC 3339 with milliseconds, as Alertmanager parses startsAt/endsAt. */
static int put_time(buf_t *b, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char text[40];
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    return buf_printf(b, "\"%s.%03dZ\"", text, (int)(ms % 1000));
}

static int put_label_map(buf_t *b, promql_labels_t l)
{
    int rc = buf_putc(b, '{');
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        if (i > 0)
            rc = buf_putc(b, ',');
        rc = rc ? rc : buf_put_json_string(b, l.v[i].name);
        rc = rc ? rc : buf_putc(b, ':');
        rc = rc ? rc : buf_put_json_string(b, l.v[i].value);
    }
    return rc ? rc : buf_putc(b, '}');
}

/* The postableAlerts document of Alertmanager's API v2. */
static int format_batch(buf_t *b, const rules_alert_out_t *alerts, size_t n)
{
    int rc = buf_putc(b, '[');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const rules_alert_out_t *a = &alerts[i];
        rc = buf_puts(b, i > 0 ? ",{\"labels\":" : "{\"labels\":");
        rc = rc ? rc : put_label_map(b, a->labels);
        rc = rc ? rc : buf_puts(b, ",\"annotations\":");
        rc = rc ? rc : put_label_map(b, a->annotations);
        rc = rc ? rc : buf_puts(b, ",\"startsAt\":");
        rc = rc ? rc : put_time(b, a->starts_at_ms);
        rc = rc ? rc : buf_puts(b, ",\"endsAt\":");
        rc = rc ? rc : put_time(b, a->ends_at_ms);
        rc = rc ? rc : buf_puts(b, ",\"generatorURL\":");
        rc = rc ? rc : buf_put_json_string(b, a->generator_url ? a->generator_url : "");
        rc = rc ? rc : buf_putc(b, '}');
    }
    return rc ? rc : buf_putc(b, ']');
}

void alert_forward_sink(void *ctx, const char *expr, const rules_alert_out_t *alerts, size_t n)
{
    (void)expr;
    alert_forward_t *f = ctx;
    if (f == NULL || n == 0)
        return;
    buf_t b;
    buf_init(&b, FORWARD_BATCH_MAX);
    batch_t *item = NULL;
    if (format_batch(&b, alerts, n) == 0 && (item = malloc(sizeof(*item) + b.len + 1)) != NULL) {
        item->next = NULL;
        item->len = b.len;
        memcpy(item->json, b.data, b.len + 1);
    }
    buf_free(&b);
    if (item == NULL) {
        vigil_counter_inc(f->dropped);
        return;
    }
    pthread_mutex_lock(&f->lock);
    if (f->queued == FORWARD_QUEUE_MAX) {
        batch_t *old = f->head;
        f->head = old->next;
        if (f->head == NULL)
            f->tail = NULL;
        f->queued--;
        free(old);
        vigil_counter_inc(f->dropped);
    }
    if (f->tail != NULL)
        f->tail->next = item;
    else
        f->head = item;
    f->tail = item;
    f->queued++;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
}

static size_t discard_body(char *p, size_t size, size_t n, void *ctx)
{
    (void)p;
    (void)ctx;
    return size * n;
}

static void post(alert_forward_t *f, CURL *curl, target_t *t, const batch_t *item)
{
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, t->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)item->json);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)item->len);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, FORWARD_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK && status / 100 == 2) {
        vigil_counter_inc(t->sent);
        return;
    }
    vigil_counter_inc(t->errors);
    log_warn(f->log, "notify", "sending alerts to Alertmanager failed", LF_STR("url", t->url),
             LF_STR("error", rc != CURLE_OK ? curl_easy_strerror(rc) : "bad status"),
             LF_INT("status", status));
}

static void *sender_main(void *arg)
{
    alert_forward_t *f = arg;
    CURL *curl = curl_easy_init();
    pthread_mutex_lock(&f->lock);
    for (;;) {
        while (f->head == NULL && !f->stopping)
            pthread_cond_wait(&f->wake, &f->lock);
        if (f->stopping)
            break;
        batch_t *item = f->head;
        f->head = item->next;
        if (f->head == NULL)
            f->tail = NULL;
        f->queued--;
        pthread_mutex_unlock(&f->lock);
        for (size_t i = 0; curl != NULL && i < f->n_targets; i++)
            post(f, curl, &f->targets[i], item);
        free(item);
        pthread_mutex_lock(&f->lock);
    }
    pthread_mutex_unlock(&f->lock);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    return NULL;
}

static double queue_length(void *arg)
{
    alert_forward_t *f = arg;
    pthread_mutex_lock(&f->lock);
    double n = (double)f->queued;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static void free_forward(alert_forward_t *f)
{
    for (batch_t *b = f->head, *next; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    for (size_t i = 0; i < f->n_targets; i++)
        free(f->targets[i].url);
    free(f->targets);
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

int alert_forward_start(alert_forward_t **out, const config_string_list_t *urls,
                        vigil_registry_t *reg, log_t *log, vigil_error_t *err)
{
    *out = NULL;
    if (urls->count == 0)
        return 0;
    alert_forward_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    f->log = log;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->wake, NULL);
    f->targets = calloc(urls->count, sizeof(*f->targets));
    static const char *const am_label[] = { "alertmanager", NULL };
    vigil_family_t *sent, *errors, *dropped;
    int rc = f->targets == NULL ? vigil_error_set(err, VIGIL_ENOMEM, "out of memory") : 0;
    rc = rc ? rc : vigil_counter_new(reg, "vigil_notifications_sent_total",
                                     "Alert batches Alertmanagers accepted.", am_label, &sent,
                                     err);
    rc = rc ? rc : vigil_counter_new(reg, "vigil_notifications_errors_total",
                                     "Alert batches Alertmanagers refused or did not answer.",
                                     am_label, &errors, err);
    rc = rc ? rc : vigil_counter_new(reg, "vigil_notifications_dropped_total",
                                     "Alert batches dropped because the queue was full.", NULL,
                                     &dropped, err);
    rc = rc ? rc : vigil_gauge_func_new(reg, "vigil_notifications_queue_length",
                                        "Alert batches waiting to be sent.", queue_length, f, err);
    for (size_t i = 0; rc == 0 && i < urls->count; i++) {
        const char *u = urls->items[i];
        size_t n = strlen(u);
        while (n > 0 && u[n - 1] == '/')
            n--;
        target_t *t = &f->targets[f->n_targets];
        t->url = malloc(n + sizeof("/api/v2/alerts"));
        if (t->url == NULL) {
            rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
            break;
        }
        memcpy(t->url, u, n);
        memcpy(t->url + n, "/api/v2/alerts", sizeof("/api/v2/alerts"));
        f->n_targets++;
        t->sent = vigil_counter_with(sent, u);
        t->errors = vigil_counter_with(errors, u);
        if (t->sent == NULL || t->errors == NULL)
            rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        f->dropped = vigil_counter_with(dropped);
        if (pthread_create(&f->thread, NULL, sender_main, f) != 0)
            rc = vigil_error_set(err, VIGIL_ESYS, "cannot start the alert sender thread");
    }
    if (rc != 0) {
        free_forward(f);
        return rc;
    }
    *out = f;
    return 0;
}

void alert_forward_stop(alert_forward_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->stopping = true;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    for (batch_t *b = f->head; b != NULL; b = b->next)
        vigil_counter_inc(f->dropped);
    free_forward(f);
}
