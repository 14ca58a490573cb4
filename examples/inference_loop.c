/*
 * inference_loop.c - a toy inference server instrumented with libvigil, showing the whole
 * metrics API: a registry, labelled counters/gauges/histograms/summaries, the scoped
 * operation timer, the ready-made ML families, the process collector, build info and the
 * embedded exporter.
 *
 *   inference_loop [--listen ADDR] [--requests N] [--forever]
 *
 * It serves its registry at http://ADDR/metrics (default 127.0.0.1:0, a free port), prints
 * "listening on 127.0.0.1:PORT", runs N fake inference requests (default 1000), prints
 * "done", and with --forever keeps serving until SIGINT/SIGTERM. After the loop,
 * example_requests_total{model="toy"} is exactly N (the integration test checks that value
 * through a real Prometheus).
 */
#include "vigil/exporter.h"
#include "vigil/metrics.h"
#include "vigil/ml_metrics.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* A deterministic stand-in for a model: "latency" grows with batch and sequence length. */
static double fake_inference(unsigned batch, unsigned seq, unsigned i)
{
    return 0.002 * batch + 0.00001 * seq + 0.001 * (double)(i % 7);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0";
    long requests = 1000;
    int forever = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
            requests = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--forever") == 0)
            forever = 1;
        else {
            fprintf(stderr, "usage: %s [--listen ADDR] [--requests N] [--forever]\n", argv[0]);
            return 2;
        }
    }

    vigil_error_t err;
    vigil_registry_t *reg;
    if (vigil_registry_new(NULL, &reg, &err) != 0) {
        fprintf(stderr, "registry: %s\n", err.message);
        return 1;
    }
    int rc = 1;
    vigil_exporter_t *ex = NULL;

    /* Families: the example's own, then the ready-made ones. */
    static const char *const model_label[] = { "model", NULL };
    vigil_family_t *requests_f, *inflight_f, *tokens_f;
    vigil_ml_default_metrics_t ml;
    vigil_ml_ai_metrics_t ai;
    vigil_op_t *op;
    static const double token_q[] = { 0.5, 0.9, 0.99 };
    vigil_summary_opts_t sopts = { .quantiles = token_q, .n_quantiles = 3, .max_age_s = 60 };
    if (vigil_counter_new(reg, "example_requests_total", "Inference requests served.",
                          model_label, &requests_f, &err) != 0 ||
        vigil_gauge_new(reg, "example_inflight_requests", "Requests being processed.",
                        model_label, &inflight_f, &err) != 0 ||
        vigil_summary_new(reg, "example_output_tokens", "Tokens generated per request.",
                          model_label, &sopts, &tokens_f, &err) != 0 ||
        vigil_op_new(reg, "example_inference", "inference calls", model_label, NULL, 0, &op,
                     &err) != 0 ||
        vigil_ml_default_metrics_register(reg, "example", &ml, &err) != 0 ||
        vigil_ml_ai_metrics_register(reg, "example", &ai, &err) != 0 ||
        vigil_build_info_register(reg, "0.1.0", "example", &err) != 0 ||
        vigil_process_collector_register(reg, &err) != 0) {
        fprintf(stderr, "metrics: %s\n", err.message);
        goto out_free_reg;
    }

    /* Children are looked up once and kept: the loop below only touches handles. */
    vigil_counter_t *req = vigil_counter_with(requests_f, "toy");
    vigil_gauge_t *inflight = vigil_gauge_with(inflight_f, "toy");
    vigil_summary_t *tokens = vigil_summary_with(tokens_f, "toy");
    vigil_gauge_t *tps = vigil_gauge_with(ai.tokens_per_second, "toy");
    vigil_histogram_t *quality = vigil_histogram_with(ai.quality_score, "toy");
    vigil_gauge_set(vigil_gauge_with(ml.model_parameters, "toy"), 124e6);
    vigil_gauge_set(vigil_gauge_with(ml.model_size, "toy"), 548e6);
    vigil_counter_inc(vigil_counter_with(ml.model_loads, "toy"));
    if (req == NULL || inflight == NULL || tokens == NULL || tps == NULL || quality == NULL) {
        fprintf(stderr, "metrics: child lookup failed\n");
        goto out_free_reg;
    }

    if (vigil_exporter_start(reg, listen, &ex, &err) != 0) {
        fprintf(stderr, "exporter: %s\n", err.message);
        goto out_free_reg;
    }
    printf("listening on 127.0.0.1:%d\n", vigil_exporter_port(ex));
    fflush(stdout);

    const char *model[] = { "toy" };
    for (long i = 0; i < requests && !stop_requested; i++) {
        unsigned batch = 1u << (i % 4), seq = 64u << (i % 6);
        vigil_timer_t t;
        vigil_timer_begin(&t, op, model, 1);
        vigil_gauge_inc(inflight);
        double secs = fake_inference(batch, seq, (unsigned)i);
        vigil_ml_observe_inference(&ai, "toy", batch, seq, secs, NULL);
        vigil_summary_observe(tokens, (double)(seq / 4));
        vigil_gauge_set(tps, (double)(seq / 4) / secs);
        vigil_histogram_observe(quality, 0.5 + 0.05 * (double)(i % 10));
        vigil_gauge_dec(inflight);
        vigil_timer_end(&t, i % 50 == 49 ? "TimeoutError" : NULL);
        vigil_counter_inc(req);
    }
    printf("done\n");
    fflush(stdout);

    /* Wait for SIGINT/SIGTERM with them blocked between checks, so none is missed. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (forever && !stop_requested)
        sigsuspend(&old);
    rc = 0;

    vigil_exporter_stop(ex);
out_free_reg:
    vigil_registry_free(reg);
    return rc;
}
