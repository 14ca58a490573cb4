/*
 * health.c - the health checker: a table of named checks and their latest results.
 *
 * Data flow: callers (the agent's /health handler, its periodic health thread, a library
 * user) call check_all(), which runs each check under the checker's lock and stores the result
 * in the check's row; summaries read those rows. Checks are few and fast (a procfs read), so one
 * lock around the whole round keeps check contexts free of locking.
 */
#include "health/health_int.h"

#include "util/buf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_NAME_MAX 63
#define HEALTH_JSON_MAX (4u << 20)

typedef struct health_check {
    char                       name[HEALTH_NAME_MAX + 1];
    vigil_health_check_fn      fn;
    void                      *ctx;
    void                     (*free_ctx)(void *);  /* NULL: ctx belongs to the registrant */
    vigil_health_thresholds_t *thresholds;         /* inside ctx, for set_thresholds; or NULL */
    bool                       ran;
    vigil_health_result_t      last;
} health_check_t;

struct vigil_health_checker {
    pthread_mutex_t  lock;
    health_check_t  *checks;
    size_t           count;
    size_t           cap;
};

static const char *const status_names[] = { "healthy", "warning", "critical", "unknown" };

const char *vigil_health_status_name(vigil_health_status_t s)
{
    return (unsigned)s < 4 ? status_names[s] : "unknown";
}

vigil_health_status_t vigil_health_classify(double value, const vigil_health_thresholds_t *t)
{
    if (value > t->critical)
        return VIGIL_HEALTH_CRITICAL;
    if (value > t->warning)
        return VIGIL_HEALTH_WARNING;
    return VIGIL_HEALTH_HEALTHY;
}

int vigil_health_create(vigil_health_checker_t **out, vigil_error_t *err)
{
    vigil_health_checker_t *hc = calloc(1, sizeof(*hc));
    if (hc == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "health: out of memory");
    pthread_mutex_init(&hc->lock, NULL);
    *out = hc;
    return 0;
}

void vigil_health_free(vigil_health_checker_t *hc)
{
    if (hc == NULL)
        return;
    for (size_t i = 0; i < hc->count; i++)
        if (hc->checks[i].free_ctx != NULL)
            hc->checks[i].free_ctx(hc->checks[i].ctx);
    free(hc->checks);
    pthread_mutex_destroy(&hc->lock);
    free(hc);
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > HEALTH_NAME_MAX)
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

/* Caller holds the lock. */
static health_check_t *find_locked(vigil_health_checker_t *hc, const char *name)
{
    for (size_t i = 0; i < hc->count; i++)
        if (strcmp(hc->checks[i].name, name) == 0)
            return &hc->checks[i];
    return NULL;
}

int health_register_owned(vigil_health_checker_t *hc, const char *name, vigil_health_check_fn fn,
                          void *ctx, void (*free_ctx)(void *),
                          vigil_health_thresholds_t *thresholds, vigil_error_t *err)
{
    if (!valid_name(name))
        return vigil_error_set(err, VIGIL_EINVAL,
                               "health: invalid check name \"%s\" (1-%d of [A-Za-z0-9_.-])", name,
                               HEALTH_NAME_MAX);
    if (fn == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "health: check \"%s\" has no function", name);
    int rc = 0;
    pthread_mutex_lock(&hc->lock);
    if (find_locked(hc, name) != NULL) {
        rc = vigil_error_set(err, VIGIL_EEXIST, "health: check \"%s\" is already registered",
                             name);
        goto out_unlock;
    }
    if (hc->count == hc->cap) {
        size_t cap = hc->cap ? hc->cap * 2 : 8;
        health_check_t *p = realloc(hc->checks, cap * sizeof(*p));
        if (p == NULL) {
            rc = vigil_error_set(err, VIGIL_ENOMEM, "health: out of memory");
            goto out_unlock;
        }
        hc->checks = p;
        hc->cap = cap;
    }
    health_check_t *c = &hc->checks[hc->count++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->fn = fn;
    c->ctx = ctx;
    c->free_ctx = free_ctx;
    c->thresholds = thresholds;
out_unlock:
    pthread_mutex_unlock(&hc->lock);
    return rc;
}

int vigil_health_register(vigil_health_checker_t *hc, const char *name,
                          vigil_health_check_fn fn, void *ctx, vigil_error_t *err)
{
    return health_register_owned(hc, name, fn, ctx, NULL, NULL, err);
}

int vigil_health_set_thresholds(vigil_health_checker_t *hc, const char *name,
                                const vigil_health_thresholds_t *t)
{
    int rc = VIGIL_ENOENT;
    pthread_mutex_lock(&hc->lock);
    health_check_t *c = find_locked(hc, name);
    if (c != NULL && c->thresholds != NULL) {
        *c->thresholds = *t;
        rc = 0;
    }
    pthread_mutex_unlock(&hc->lock);
    return rc;
}

/* Caller holds the lock. */
static void run_locked(health_check_t *c)
{
    vigil_health_result_t r;
    memset(&r, 0, sizeof(r));
    r.status = VIGIL_HEALTH_UNKNOWN;
    c->fn(c->ctx, &r);
    if ((unsigned)r.status > VIGIL_HEALTH_UNKNOWN)
        r.status = VIGIL_HEALTH_UNKNOWN;
    r.message[sizeof(r.message) - 1] = '\0';
    c->last = r;
    c->ran = true;
}

static vigil_health_status_t overall_locked(const vigil_health_checker_t *hc)
{
    bool any[4] = { false, false, false, false };
    for (size_t i = 0; i < hc->count; i++)
        any[hc->checks[i].ran ? hc->checks[i].last.status : VIGIL_HEALTH_UNKNOWN] = true;
    if (any[VIGIL_HEALTH_CRITICAL])
        return VIGIL_HEALTH_CRITICAL;
    if (any[VIGIL_HEALTH_WARNING])
        return VIGIL_HEALTH_WARNING;
    if (any[VIGIL_HEALTH_UNKNOWN])
        return VIGIL_HEALTH_UNKNOWN;
    return VIGIL_HEALTH_HEALTHY;
}

vigil_health_status_t vigil_health_check_all(vigil_health_checker_t *hc)
{
    pthread_mutex_lock(&hc->lock);
    for (size_t i = 0; i < hc->count; i++)
        run_locked(&hc->checks[i]);
    vigil_health_status_t s = overall_locked(hc);
    pthread_mutex_unlock(&hc->lock);
    return s;
}

int vigil_health_check_one(vigil_health_checker_t *hc, const char *name,
                           vigil_health_result_t *out)
{
    int rc = VIGIL_ENOENT;
    pthread_mutex_lock(&hc->lock);
    health_check_t *c = find_locked(hc, name);
    if (c != NULL) {
        run_locked(c);
        *out = c->last;
        rc = 0;
    }
    pthread_mutex_unlock(&hc->lock);
    return rc;
}

vigil_health_status_t vigil_health_overall(vigil_health_checker_t *hc)
{
    pthread_mutex_lock(&hc->lock);
    vigil_health_status_t s = overall_locked(hc);
    pthread_mutex_unlock(&hc->lock);
    return s;
}

static int append_component(buf_t *b, const char *name, const vigil_health_result_t *r, bool ran)
{
    int rc = buf_put_json_string(b, name);
    rc = rc ? rc : buf_puts(b, ":{\"status\":");
    rc = rc ? rc : buf_put_json_string(b, vigil_health_status_name(ran ? r->status
                                                                        : VIGIL_HEALTH_UNKNOWN));
    rc = rc ? rc : buf_puts(b, ",\"message\":");
    rc = rc ? rc : buf_put_json_string(b, ran ? r->message : "not checked yet");
    if (ran && r->has_value) {
        rc = rc ? rc : buf_puts(b, ",\"value\":");
        rc = rc ? rc : buf_printf(b, "%.6g", r->value);
        if (r->has_thresholds) {
            rc = rc ? rc : buf_printf(b, ",\"warning_threshold\":%.6g,\"critical_threshold\":%.6g",
                                      r->warning_threshold, r->critical_threshold);
        }
    }
    return rc ? rc : buf_putc(b, '}');
}

int vigil_health_summary_json(vigil_health_checker_t *hc, char **json, size_t *len)
{
    buf_t b;
    buf_init(&b, HEALTH_JSON_MAX);
    pthread_mutex_lock(&hc->lock);
    size_t counts[4] = { 0, 0, 0, 0 };
    for (size_t i = 0; i < hc->count; i++)
        counts[hc->checks[i].ran ? hc->checks[i].last.status : VIGIL_HEALTH_UNKNOWN]++;
    int rc = buf_printf(&b,
                        "{\"overall_status\":\"%s\",\"total_components\":%zu,"
                        "\"status_counts\":{\"healthy\":%zu,\"warning\":%zu,\"critical\":%zu,"
                        "\"unknown\":%zu},\"components\":{",
                        vigil_health_status_name(overall_locked(hc)), hc->count,
                        counts[VIGIL_HEALTH_HEALTHY], counts[VIGIL_HEALTH_WARNING],
                        counts[VIGIL_HEALTH_CRITICAL], counts[VIGIL_HEALTH_UNKNOWN]);
    for (size_t i = 0; rc == 0 && i < hc->count; i++) {
        if (i > 0)
            rc = buf_putc(&b, ',');
        rc = rc ? rc : append_component(&b, hc->checks[i].name, &hc->checks[i].last,
                                        hc->checks[i].ran);
    }
    pthread_mutex_unlock(&hc->lock);
    rc = rc ? rc : buf_puts(&b, "}}");
    if (rc != 0) {
        buf_free(&b);
        return rc;
    }
    *json = buf_detach(&b, len);
    return *json != NULL ? 0 : VIGIL_ENOMEM;
}

void health_percent_result(vigil_health_result_t *out, const char *subject, double percent,
                           const vigil_health_thresholds_t *t)
{
    static const char *const words[] = { "normal", "high", "critical", "unknown" };
    out->status = vigil_health_classify(percent, t);
    out->has_value = true;
    out->value = percent;
    out->has_thresholds = true;
    out->warning_threshold = t->warning;
    out->critical_threshold = t->critical;
    snprintf(out->message, sizeof(out->message), "%s usage %s: %.1f%%", subject,
             words[out->status], percent);
}
