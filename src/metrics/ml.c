/*
 * ml.c - the ready-made ML families of vigil/ml_metrics.h. Each is plain core API; what this
 * file adds is the naming (seed name -> Prometheus name, documented in the header and in
 * docs/libvigil/metrics.md) and bucket choices suited to the quantity.
 */
#include "metrics/metrics_int.h"
#include "vigil/ml_metrics.h"

#include <stdio.h>
#include <string.h>

/* "<ns>_<name>" into out; VIGIL_ELIMIT if it does not fit. */
static int ns_name(char *out, size_t cap, const char *ns, const char *name, vigil_error_t *err)
{
    int n = ns != NULL && ns[0] != '\0' ? snprintf(out, cap, "%s_%s", ns, name)
                                        : snprintf(out, cap, "%s", name);
    if (n < 0 || (size_t)n >= cap)
        return vigil_error_set(err, VIGIL_ELIMIT, "metric name %s_%s too long", ns, name);
    return 0;
}

typedef struct fam_def {
    vigil_family_t    **out;
    metrics_type_t      type;
    const char         *name;
    const char         *help;
    const char *const  *labels;
    const double       *buckets;
    size_t              n_buckets;
} fam_def_t;

static int register_all(vigil_registry_t *reg, const char *ns, const fam_def_t *defs, size_t n,
                        vigil_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        char name[256];
        int rc = ns_name(name, sizeof(name), ns, defs[i].name, err);
        if (rc != 0)
            return rc;
        metrics_family_spec_t s = { .type = defs[i].type, .name = name, .help = defs[i].help,
                                    .label_names = defs[i].labels, .buckets = defs[i].buckets,
                                    .n_buckets = defs[i].n_buckets };
        if ((rc = metrics_family_new(reg, &s, defs[i].out, err)) != 0)
            return rc;
    }
    return 0;
}

int vigil_ml_default_metrics_register(vigil_registry_t *reg, const char *ns,
                                      vigil_ml_default_metrics_t *out, vigil_error_t *err)
{
    static const double op_buckets[] = { .01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };
    static const double fast_buckets[] = { .001, .005, .01, .05, .1, .5, 1, 5, 10, 30 };
    static const char *const op_labels[] = { "operation", NULL };
    static const char *const guard[] = { "guard", NULL };
    static const char *const device[] = { "device", NULL };
    static const char *const model[] = { "model", NULL };
    memset(out, 0, sizeof(*out));

    /* The operation families keep the seed's three names, which do not share one prefix. */
    char dur[256], total[256], errors[256];
    int rc;
    if ((rc = ns_name(dur, sizeof(dur), ns, "operation_duration_seconds", err)) != 0 ||
        (rc = ns_name(total, sizeof(total), ns, "operations_total", err)) != 0 ||
        (rc = ns_name(errors, sizeof(errors), ns, "errors_total", err)) != 0)
        return rc;
    if ((rc = metrics_op_new_names(reg, dur, total, errors, "operations", op_labels, op_buckets,
                                   sizeof(op_buckets) / sizeof(op_buckets[0]), &out->operations,
                                   err)) != 0)
        return rc;

    const fam_def_t defs[] = {
        { &out->edits_applied, METRICS_COUNTER, "edits_applied_total",
          "Total edits applied.", NULL, NULL, 0 },
        { &out->guards_triggered, METRICS_COUNTER, "guards_triggered_total",
          "Total guard triggers, by guard.", guard, NULL, 0 },
        { &out->edit_duration, METRICS_HISTOGRAM, "edit_duration_seconds",
          "Duration of edit operations in seconds.", NULL, fast_buckets,
          sizeof(fast_buckets) / sizeof(fast_buckets[0]) },
        { &out->guard_duration, METRICS_HISTOGRAM, "guard_duration_seconds",
          "Duration of guard executions in seconds, by guard.", guard, fast_buckets,
          sizeof(fast_buckets) / sizeof(fast_buckets[0]) },
        { &out->memory_usage, METRICS_GAUGE, "memory_usage_bytes",
          "Current memory usage in bytes.", NULL, NULL, 0 },
        { &out->gpu_memory_usage, METRICS_GAUGE, "gpu_memory_usage_bytes",
          "Current GPU memory usage in bytes, by device.", device, NULL, 0 },
        { &out->cpu_usage, METRICS_GAUGE, "cpu_usage_ratio",
          "Current CPU usage as a ratio (1 = one core busy).", NULL, NULL, 0 },
        { &out->model_parameters, METRICS_GAUGE, "model_parameters",
          "Number of model parameters, by model.", model, NULL, 0 },
        { &out->model_size, METRICS_GAUGE, "model_size_bytes",
          "Model size in bytes, by model.", model, NULL, 0 },
        { &out->model_loads, METRICS_COUNTER, "model_loads_total",
          "Total model loads, by model.", model, NULL, 0 },
    };
    return register_all(reg, ns, defs, sizeof(defs) / sizeof(defs[0]), err);
}

int vigil_ml_ai_metrics_register(vigil_registry_t *reg, const char *ns,
                                 vigil_ml_ai_metrics_t *out, vigil_error_t *err)
{
    static const double inf_buckets[] = { .01, .05, .1, .5, 1, 2, 5, 10 };
    static const double ctx_buckets[] = { 100, 500, 1000, 2000, 4000, 8000, 16000, 32000 };
    static const double score_buckets[] = { .1, .2, .3, .4, .5, .6, .7, .8, .9, 1 };
    static const char *const inf_labels[] = { "model_name", "batch_size", "sequence_length",
                                              NULL };
    static const char *const spec[] = { "specialist_type", NULL };
    static const char *const mem[] = { "component", "memory_type", NULL };
    static const char *const cache[] = { "cache_type", "specialist_type", NULL };
    memset(out, 0, sizeof(*out));
    const fam_def_t defs[] = {
        { &out->inference_duration, METRICS_HISTOGRAM, "model_inference_duration_seconds",
          "Time spent on model inference in seconds.", inf_labels, inf_buckets,
          sizeof(inf_buckets) / sizeof(inf_buckets[0]) },
        { &out->context_length, METRICS_HISTOGRAM, "context_length_tokens",
          "Distribution of context lengths in tokens.", spec, ctx_buckets,
          sizeof(ctx_buckets) / sizeof(ctx_buckets[0]) },
        { &out->memory_efficiency, METRICS_GAUGE, "memory_efficiency_ratio",
          "Ratio of useful to total memory usage.", mem, NULL, 0 },
        { &out->cache_hit_ratio, METRICS_GAUGE, "cache_hit_ratio",
          "Cache hit ratio of various components.", cache, NULL, 0 },
        { &out->batch_efficiency, METRICS_GAUGE, "batch_processing_efficiency_ratio",
          "Efficiency of batch processing as a ratio.", spec, NULL, 0 },
        { &out->tokens_per_second, METRICS_GAUGE, "tokens_per_second",
          "Token processing rate.", spec, NULL, 0 },
        { &out->quality_score, METRICS_HISTOGRAM, "quality_score",
          "Response quality scores.", spec, score_buckets,
          sizeof(score_buckets) / sizeof(score_buckets[0]) },
        { &out->confidence_score, METRICS_HISTOGRAM, "confidence_score",
          "Response confidence scores.", spec, score_buckets,
          sizeof(score_buckets) / sizeof(score_buckets[0]) },
    };
    return register_all(reg, ns, defs, sizeof(defs) / sizeof(defs[0]), err);
}

const char *vigil_ml_seq_len_bucket(unsigned tokens)
{
    static const char *const names[] = { "128", "256", "512", "1024", "2048", "4096", "8192",
                                         "16384", "32768" };
    unsigned bound = 128;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++, bound *= 2)
        if (tokens <= bound)
            return names[i];
    return "+Inf";
}

int vigil_ml_observe_inference(const vigil_ml_ai_metrics_t *m, const char *model,
                               unsigned batch_size, unsigned seq_len, double seconds,
                               vigil_error_t *err)
{
    char batch[16];
    snprintf(batch, sizeof(batch), "%u", batch_size);
    const char *v[] = { model, batch, vigil_ml_seq_len_bucket(seq_len) };
    vigil_histogram_t *h = vigil_histogram_labels(m->inference_duration, v, 3, err);
    if (h == NULL)
        return err != NULL ? err->code : VIGIL_EINVAL;
    vigil_histogram_observe(h, seconds);
    return 0;
}
