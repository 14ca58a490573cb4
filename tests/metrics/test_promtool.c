/*
 * test_promtool.c - the real `promtool check metrics` (Debian's prometheus package) parses and
 * lints a registry holding every metric type, awkward label values and HELP texts, the
 * standard collectors and the ML families. promtool reads the text format on stdin and exits
 * non-zero on a parse error or a lint problem, printing what it found.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vigil/metrics.h"
#include "vigil/ml_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static vigil_registry_t *full_registry(void)
{
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    vigil_family_t *c, *g, *h, *s;
    static const char *const labels[] = { "path", "kind", NULL };
    assert_int_equal(vigil_counter_new(reg, "app_requests_total",
                                       "Requests \"quoted\", back\\slashed and\nmulti-line.",
                                       labels, &c, NULL), 0);
    assert_int_equal(vigil_gauge_new(reg, "app_queue_depth", "Items waiting.", labels, &g,
                                     NULL), 0);
    assert_int_equal(vigil_histogram_new(reg, "app_latency_seconds", "Latency.", NULL, NULL, 0,
                                         &h, NULL), 0);
    assert_int_equal(vigil_summary_new(reg, "app_payload_bytes", "Payload sizes.", NULL, NULL,
                                       &s, NULL), 0);
    static const char *const weird[] = { "a\"b", "c\\d", "e\nf", "utf8 \xc3\xa9\xe2\x82\xac", "",
                                         "{}=,", "x" };
    for (size_t i = 0; i + 1 < sizeof(weird) / sizeof(weird[0]); i++) {
        vigil_counter_add_u64(vigil_counter_with(c, weird[i], weird[i + 1]), i + 1);
        vigil_gauge_set(vigil_gauge_with(g, weird[i], "q"), -1.5 * (double)i);
    }
    for (int i = 0; i < 1000; i++) {
        vigil_histogram_observe(vigil_histogram_with(h), i / 100.0);
        vigil_summary_observe(vigil_summary_with(s), i * 10.0);
    }
    vigil_http_metrics_t hm;
    assert_int_equal(vigil_http_metrics_register(reg, &hm, NULL), 0);
    vigil_http_metrics_observe(&hm, "/metrics", 200, 0.01);
    assert_int_equal(vigil_build_info_register(reg, "0.1.0", "deadbeef", NULL), 0);
    assert_int_equal(vigil_process_collector_register(reg, NULL), 0);
    vigil_ml_default_metrics_t dm;
    vigil_ml_ai_metrics_t ai;
    assert_int_equal(vigil_ml_default_metrics_register(reg, "invarlock", &dm, NULL), 0);
    assert_int_equal(vigil_ml_ai_metrics_register(reg, NULL, &ai, NULL), 0);
    vigil_op_t *op;
    static const char *const op_labels[] = { "specialist_type", NULL };
    assert_int_equal(vigil_op_new(reg, "specialist_requests", "specialist requests",
                                  op_labels, NULL, 0, &op, NULL), 0);
    vigil_timer_t t;
    const char *v[] = { "code" };
    vigil_timer_begin(&t, op, v, 1);
    vigil_timer_end(&t, "ValueError");
    vigil_timer_begin(&t, dm.operations, (const char *[]){ "evaluate" }, 1);
    vigil_timer_end(&t, NULL);
    vigil_ml_observe_inference(&ai, "gpt2", 4, 300, 0.2, NULL);
    vigil_gauge_set(vigil_gauge_with(ai.cache_hit_ratio, "kv", "code"), 0.9);
    vigil_gauge_set(vigil_gauge_with(dm.gpu_memory_usage, "cuda:0"), 1e9);
    vigil_counter_inc(vigil_counter_with(dm.guards_triggered, "spectral"));
    vigil_histogram_observe(vigil_histogram_with(dm.guard_duration, "spectral"), 0.02);
    vigil_histogram_observe(vigil_histogram_with(ai.quality_score, "code"), 0.8);
    return reg;
}

static void test_promtool_accepts(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        skip();
    vigil_registry_t *reg = full_registry();
    char *out;
    size_t len;
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_TEXT, &out, &len, NULL), 0);

    char dir[] = "/tmp/vigil-promtool-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char in_path[64], log_path[64], cmd[256];
    snprintf(in_path, sizeof(in_path), "%s/metrics.txt", dir);
    snprintf(log_path, sizeof(log_path), "%s/promtool.log", dir);
    FILE *f = fopen(in_path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(out, 1, len, f), len);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s > %s 2>&1", in_path, log_path);
    int status = system(cmd);
    char log[8192] = "";
    f = fopen(log_path, "r");
    if (f != NULL) {
        log[fread(log, 1, sizeof(log) - 1, f)] = '\0';
        fclose(f);
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "promtool rejected the exposition (status %d):\n%s\n--- input:\n%s",
                status, log, out);
        fail();
    }
    unlink(in_path);
    unlink(log_path);
    rmdir(dir);
    free(out);
    vigil_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promtool_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
