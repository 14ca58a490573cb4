/*
 * collectors.c - ready-made pieces built on the core API: bucket helpers, the scoped
 * operation timer (the seed's request_timer), the HTTP server families and vigil_build_info.
 */
#include "metrics/metrics_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buckets --------------------------------------------------------------------------- */

const double *vigil_default_buckets(size_t *n)
{
    static const double def[] = { .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10 };
    if (n != NULL)
        *n = sizeof(def) / sizeof(def[0]);
    return def;
}

int vigil_buckets_linear(double start, double width, size_t count, double *out,
                         vigil_error_t *err)
{
    if (!(width > 0) || count == 0 || !isfinite(start))
        return vigil_error_set(err, VIGIL_EINVAL,
                               "linear buckets: need width > 0, count > 0, finite start");
    for (size_t i = 0; i < count; i++)
        out[i] = start + (double)i * width;
    return 0;
}

int vigil_buckets_exponential(double start, double factor, size_t count, double *out,
                              vigil_error_t *err)
{
    if (!(start > 0) || !(factor > 1) || count == 0 || !isfinite(start))
        return vigil_error_set(err, VIGIL_EINVAL,
                               "exponential buckets: need start > 0, factor > 1, count > 0");
    double v = start;
    for (size_t i = 0; i < count; i++, v *= factor)
        out[i] = v;
    return 0;
}

/* ---- operation timer ------------------------------------------------------------------- */

struct vigil_op {
    vigil_family_t *duration;
    vigil_family_t *total;
    vigil_family_t *errors;
    size_t          n_labels;
};

int metrics_op_new_names(vigil_registry_t *reg, const char *dur_name, const char *total_name,
                        const char *errors_name, const char *noun,
                        const char *const *label_names, const double *buckets, size_t n_buckets,
                        vigil_op_t **out, vigil_error_t *err)
{
    if (out != NULL)
        *out = NULL;
    size_t n = 0;
    if (label_names != NULL)
        while (label_names[n] != NULL)
            n++;
    if (n + 1 > VIGIL_MAX_LABELS)
        return vigil_error_set(err, VIGIL_ELIMIT, "op %s: at most %d labels", total_name,
                               VIGIL_MAX_LABELS - 1);
    const char *labels_plus[VIGIL_MAX_LABELS + 1];
    for (size_t i = 0; i < n; i++)
        labels_plus[i] = label_names[i];
    labels_plus[n + 1] = NULL;

    vigil_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "op %s: out of memory", total_name);
    op->n_labels = n;
    char help[320];
    int rc;
    snprintf(help, sizeof(help), "Duration of %s in seconds.", noun);
    if ((rc = vigil_histogram_new(reg, dur_name, help, label_names, buckets, n_buckets,
                                  &op->duration, err)) != 0)
        goto out_free;
    labels_plus[n] = "status";
    snprintf(help, sizeof(help), "Total %s by status (success or error).", noun);
    if ((rc = vigil_counter_new(reg, total_name, help, labels_plus, &op->total, err)) != 0)
        goto out_free;
    labels_plus[n] = "error_type";
    snprintf(help, sizeof(help), "Total failed %s by error type.", noun);
    if ((rc = vigil_counter_new(reg, errors_name, help, labels_plus, &op->errors, err)) != 0)
        goto out_free;
    if ((rc = metrics_registry_own(reg, op)) != 0) {
        vigil_error_set(err, rc, "op %s: out of memory", total_name);
        goto out_free;
    }
    if (out != NULL)
        *out = op;
    return 0;

out_free:
    /* Families registered before the failure stay in the registry (they are valid). */
    free(op);
    return rc;
}

int vigil_op_new(vigil_registry_t *reg, const char *prefix, const char *noun,
                 const char *const *label_names, const double *buckets, size_t n_buckets,
                 vigil_op_t **out, vigil_error_t *err)
{
    if (out != NULL)
        *out = NULL;
    if (reg == NULL || prefix == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "op: registry and prefix are required");
    char dur[256], total[256], errors[256];
    if ((size_t)snprintf(dur, sizeof(dur), "%s_duration_seconds", prefix) >= sizeof(dur))
        return vigil_error_set(err, VIGIL_ELIMIT, "op %s: prefix too long", prefix);
    snprintf(total, sizeof(total), "%s_total", prefix);
    snprintf(errors, sizeof(errors), "%s_errors_total", prefix);
    return metrics_op_new_names(reg, dur, total, errors, noun != NULL ? noun : prefix,
                                label_names, buckets, n_buckets, out, err);
}

void vigil_timer_begin(vigil_timer_t *t, vigil_op_t *op, const char *const *values, size_t n)
{
    t->op = op;
    t->values = values;
    t->n_values = n;
    t->start_ns = metrics_now_ns();
}

double vigil_timer_end(vigil_timer_t *t, const char *error_type)
{
    double secs = (double)(metrics_now_ns() - t->start_ns) / 1e9;
    vigil_op_t *op = t->op;
    if (t->n_values != op->n_labels)
        return VIGIL_EINVAL;
    const char *v[VIGIL_MAX_LABELS + 1];
    for (size_t i = 0; i < t->n_values; i++)
        v[i] = t->values[i];
    size_t n = t->n_values;
    vigil_histogram_t *h = vigil_histogram_labels(op->duration, v, n, NULL);
    v[n] = error_type != NULL ? "error" : "success";
    vigil_counter_t *total = vigil_counter_labels(op->total, v, n + 1, NULL);
    vigil_counter_t *errs = NULL;
    if (error_type != NULL) {
        v[n] = error_type;
        errs = vigil_counter_labels(op->errors, v, n + 1, NULL);
    }
    if (h == NULL || total == NULL || (error_type != NULL && errs == NULL))
        return VIGIL_EINVAL;
    vigil_histogram_observe(h, secs);
    vigil_counter_inc(total);
    if (errs != NULL)
        vigil_counter_inc(errs);
    return secs;
}

/* ---- HTTP server families and build info ----------------------------------------------- */

int vigil_http_metrics_register(vigil_registry_t *reg, vigil_http_metrics_t *out,
                                vigil_error_t *err)
{
    static const char *const req_labels[] = { "handler", "code", NULL };
    static const char *const dur_labels[] = { "handler", NULL };
    out->requests = out->duration = NULL;
    int rc = vigil_counter_new(reg, "vigil_http_requests_total",
                               "HTTP requests served, by handler and status code.", req_labels,
                               &out->requests, err);
    if (rc == 0)
        rc = vigil_histogram_new(reg, "vigil_http_request_duration_seconds",
                                 "Time to serve an HTTP request, by handler.", dur_labels, NULL,
                                 0, &out->duration, err);
    return rc;
}

void vigil_http_metrics_observe(const vigil_http_metrics_t *m, const char *handler, int code,
                                double seconds)
{
    char code_s[16];
    snprintf(code_s, sizeof(code_s), "%d", code);
    vigil_counter_t *c = vigil_counter_with(m->requests, handler, code_s);
    if (c != NULL)
        vigil_counter_inc(c);
    vigil_histogram_t *h = vigil_histogram_with(m->duration, handler);
    if (h != NULL)
        vigil_histogram_observe(h, seconds);
}

int vigil_build_info_register(vigil_registry_t *reg, const char *version, const char *revision,
                              vigil_error_t *err)
{
    static const char *const labels[] = { "version", "revision", NULL };
    vigil_family_t *f;
    int rc = vigil_gauge_new(reg, "vigil_build_info",
                             "A metric with a constant '1' value labeled by version and "
                             "revision from which vigil was built.",
                             labels, &f, err);
    if (rc != 0)
        return rc;
    const char *v[] = { version != NULL ? version : "", revision != NULL ? revision : "" };
    vigil_gauge_t *g = vigil_gauge_labels(f, v, 2, err);
    if (g == NULL)
        return err != NULL ? err->code : VIGIL_EINVAL;
    vigil_gauge_set(g, 1);
    return 0;
}
