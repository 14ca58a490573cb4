/*
 * vigil/ml_metrics.h - ready-made metric families for ML programs (training loops, inference
 * servers), each group registered by one call.
 *
 * The names follow Prometheus conventions (base units, _total on counters, snake_case) and map
 * one-to-one to the metrics named in the design seeds; docs/libvigil/metrics.md has the table.
 * `ns` is an optional namespace prepended as "<ns>_" (NULL or "" for none). The structs are
 * caller-owned; the families in them belong to the registry (never freed by the caller).
 */
#ifndef VIGIL_ML_METRICS_H
#define VIGIL_ML_METRICS_H

#include "vigil/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seed 000 "Default Metrics" (invarlock.*). */
typedef struct vigil_ml_default_metrics {
    /* Operation timer over the three families below the comment: use vigil_timer_begin(&t,
     * m.operations, (const char *[]){"evaluate"}, 1) ... vigil_timer_end(&t, err_type). */
    vigil_op_t     *operations;
    /*   <ns>_operations_total{operation, status}          counter  (invarlock.operations.total)
     *   <ns>_errors_total{operation, error_type}          counter  (invarlock.errors.total)
     *   <ns>_operation_duration_seconds{operation}        histogram (invarlock.operation.duration) */
    vigil_family_t *edits_applied;      /* <ns>_edits_applied_total        counter */
    vigil_family_t *guards_triggered;   /* <ns>_guards_triggered_total{guard} counter */
    vigil_family_t *edit_duration;      /* <ns>_edit_duration_seconds      histogram */
    vigil_family_t *guard_duration;     /* <ns>_guard_duration_seconds{guard} histogram */
    vigil_family_t *memory_usage;       /* <ns>_memory_usage_bytes         gauge */
    vigil_family_t *gpu_memory_usage;   /* <ns>_gpu_memory_usage_bytes{device} gauge */
    vigil_family_t *cpu_usage;          /* <ns>_cpu_usage_ratio            gauge, 0..1 per core */
    vigil_family_t *model_parameters;   /* <ns>_model_parameters{model}    gauge */
    vigil_family_t *model_size;         /* <ns>_model_size_bytes{model}    gauge (seed: MB) */
    vigil_family_t *model_loads;        /* <ns>_model_loads_total{model}   counter */
} vigil_ml_default_metrics_t;

/* Registers every family of vigil_ml_default_metrics_t into *out. On failure the families
 * registered so far stay in the registry and *out is partly filled. */
int vigil_ml_default_metrics_register(vigil_registry_t *reg, const char *ns,
                                      vigil_ml_default_metrics_t *out, vigil_error_t *err);

/* Seed 002 "Custom Metrics for AI Workloads" and the specialist quality metrics. */
typedef struct vigil_ml_ai_metrics {
    /* <ns>_model_inference_duration_seconds{model_name, batch_size, sequence_length} histogram,
     * buckets {.01 .05 .1 .5 1 2 5 10}; sequence_length is a bucket label, see below. */
    vigil_family_t *inference_duration;
    vigil_family_t *context_length;     /* <ns>_context_length_tokens{specialist_type} histogram */
    vigil_family_t *memory_efficiency;  /* <ns>_memory_efficiency_ratio{component, memory_type} */
    vigil_family_t *cache_hit_ratio;    /* <ns>_cache_hit_ratio{cache_type, specialist_type} */
    vigil_family_t *batch_efficiency;   /* <ns>_batch_processing_efficiency_ratio{specialist_type} */
    vigil_family_t *tokens_per_second;  /* <ns>_tokens_per_second{specialist_type} gauge */
    vigil_family_t *quality_score;      /* <ns>_quality_score{specialist_type} histogram 0.1..1 */
    vigil_family_t *confidence_score;   /* <ns>_confidence_score{specialist_type} histogram 0.1..1 */
} vigil_ml_ai_metrics_t;

int vigil_ml_ai_metrics_register(vigil_registry_t *reg, const char *ns,
                                 vigil_ml_ai_metrics_t *out, vigil_error_t *err);

/*
 * The sequence_length label for `tokens`: the smallest power of two >= tokens from "128" to
 * "32768", else "+Inf". Bucketing keeps the series count bounded (the seed used the raw
 * length). Static string, never freed.
 */
const char *vigil_ml_seq_len_bucket(unsigned tokens);

/*
 * Observes one inference: looks up {model, batch_size, vigil_ml_seq_len_bucket(seq_len)}
 * (no allocation once the series exists) and observes `seconds`. 0 or the lookup's error.
 */
int vigil_ml_observe_inference(const vigil_ml_ai_metrics_t *m, const char *model,
                               unsigned batch_size, unsigned seq_len, double seconds,
                               vigil_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_ML_METRICS_H */
