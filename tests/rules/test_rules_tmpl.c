/*
 * test_rules_tmpl.c - rule templates through rules_tmpl_default() (src/template set up as
 * Prometheus sets up text/template) and the label hash: Prometheus' expected outputs for the
 * humanize family (template/template_test.go values), Go's %v of floats,
 * $labels/$value/$externalLabels, missingkey=zero, the constructs the interim engine lacked
 * (range, with, define), compile-time errors for unsupported ones, and XXH64's published
 * test vectors.
 */
#include "rules/rules_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

static const promql_label_t lbl[] = { { "instance", "a:9090" }, { "job", "node" } };
static const promql_label_t ext[] = { { "region", "eu" } };

/* Expands `text` with $value = v; returns a static copy of the output ("ERR: ..." when it
 * failed to compile or expand). */
static const char *expand(const char *text, double v)
{
    static char res[1024];
    const rules_tmpl_ops_t *t = rules_tmpl_default();
    void *tp;
    vigil_error_t err;
    if (t->compile(t->ctx, "__alert_X", text, &tp, &err) != 0) {
        snprintf(res, sizeof(res), "ERR: %s", err.message);
        return res;
    }
    rules_tmpl_data_t d = { { lbl, 2 }, { ext, 1 }, "http://vigil:9470", v };
    void *data;
    assert_int_equal(t->data_new(t->ctx, &d, &data), 0);
    buf_t b;
    buf_init(&b, 4096);
    if (t->expand(t->ctx, tp, data, &b, &err) != 0)
        snprintf(res, sizeof(res), "ERR: %s", err.message);
    else
        snprintf(res, sizeof(res), "%s", b.data ? b.data : "");
    t->data_free(t->ctx, data);
    buf_free(&b);
    t->release(t->ctx, tp);
    return res;
}

static void test_humanize(void **state)
{
    (void)state;
    assert_string_equal(expand("{{ humanize 0 }}", 0), "0");
    assert_string_equal(expand("{{ humanize 1048576 }}", 0), "1.049M");
    assert_string_equal(expand("{{ humanize 0.0123 }}", 0), "12.3m");
    assert_string_equal(expand("{{ humanize 1e+30 }}", 0), "1e+06Y");
    assert_string_equal(expand("{{ $value | humanize }}", 1234.5), "1.234k");
    assert_string_equal(expand("{{ $value | humanize }}", NAN), "NaN");
    assert_string_equal(expand("{{ humanize1024 1048576 }}", 0), "1Mi");
    assert_string_equal(expand("{{ humanize1024 0.5 }}", 0), "0.5");
    assert_string_equal(expand("{{ humanizeDuration 135.3563 }}", 0), "2m 15s");
    assert_string_equal(expand("{{ humanizeDuration 0.0012 }}", 0), "1.2ms");
    assert_string_equal(expand("{{ humanizeDuration 90061 }}", 0), "1d 1h 1m 1s");
    assert_string_equal(expand("{{ humanizeDuration 0 }}", 0), "0s");
    assert_string_equal(expand("{{ humanizePercentage 0.959 }}", 0), "95.9%");
    assert_string_equal(expand("{{ humanizeTimestamp 1643114203 }}", 0),
                        "2022-01-25 12:36:43 +0000 UTC");
    assert_string_equal(expand("{{ humanize \"1000\" }}", 0), "1k");
}

static void test_values_and_labels(void **state)
{
    (void)state;
    assert_string_equal(expand("{{ $value }}", 5), "5");
    assert_string_equal(expand("{{ $value }}", 1e6), "1e+06");
    assert_string_equal(expand("{{ $value }}", 0.1), "0.1");
    assert_string_equal(expand("{{ .Value }}", 123456), "123456");
    assert_string_equal(expand("Instance {{ $labels.instance }} of {{ .Labels.job }}", 0),
                        "Instance a:9090 of node");
    assert_string_equal(expand("[{{ $labels.missing }}]", 0), "[]");
    assert_string_equal(expand("{{ $externalLabels.region }} {{ $externalURL }}", 0),
                        "eu http://vigil:9470");
    assert_string_equal(expand("{{ printf \"%.2f\" $value }}", 3.14159), "3.14");
    assert_string_equal(expand("{{ $labels.job | toUpper }} {{ title \"this part\" }}", 0),
                        "NODE This Part");
    assert_string_equal(expand("{{ reReplaceAll \"r.*d\" \"replaced\" \"rpld text\" }}", 0),
                        "replaced text");
    assert_string_equal(expand("{{ reReplaceAll \"(a+)b\" \"<$1>\" \"xaab\" }}", 0), "x<aa>");
    assert_string_equal(expand("{{ stripPort \"[::1]:6006\" }} {{ stripPort \"h:1\" }}", 0),
                        "::1 h");
    assert_string_equal(expand("{{ if gt $value 80.0 }}hot{{ else }}ok{{ end }}", 90), "hot");
    assert_string_equal(expand("{{ if gt $value 80.0 }}hot{{ else }}ok{{ end }}", 10), "ok");
    assert_string_equal(expand("{{ if eq $labels.job \"x\" }}x{{ else if eq $labels.job "
                               "\"node\" }}n{{ else }}o{{ end }}", 0), "n");
    assert_string_equal(expand("a  {{- $value -}}  b", 7), "a7b");
    assert_string_equal(expand("{{ $x := humanize $value }}v={{ $x }}", 2000), "v=2k");
    assert_string_equal(expand("{{/* note */}}plain", 0), "plain");
    assert_string_equal(expand("{{ parseDuration \"2h10m15s\" }}", 0), "7815");
}

static void test_errors(void **state)
{
    (void)state;
    /* Compile-time: Go's messages with "template: NAME:LINE:COL:" in front. */
    assert_string_equal(expand("{{ $label.foo }}", 0),
                        "ERR: template: __alert_X:1:4: undefined variable \"$label\"");
    assert_string_equal(expand("{{ nosuch 1 }}", 0),
                        "ERR: template: __alert_X:1:4: function \"nosuch\" not defined");
    assert_non_null(strstr(expand("{{ query \"up\" }}", 0), "not supported"));
    assert_non_null(strstr(expand("{{ $labels | first }}", 0), "not supported"));
    assert_non_null(strstr(expand("{{ if 1 }}x", 0), "unexpected EOF"));
    assert_non_null(strstr(expand("{{ $value ", 0), "unclosed action"));
    assert_non_null(strstr(expand("{{ template \"nope\" }}", 0), "ERR: template: "));
    /* run-time errors only show at expansion */
    assert_non_null(strstr(expand("{{ $.labels.x }}", 0), "can't evaluate field labels"));
    assert_non_null(strstr(expand("{{ humanize \"abc\" }}", 0), "error calling humanize"));
    assert_non_null(strstr(expand("{{ gt $value 1 }}", 2), "incompatible types for comparison"));
}

/* Constructs the former rules-only engine refused, which src/template runs as Go does. */
static void test_full_language(void **state)
{
    (void)state;
    assert_string_equal(expand("{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}", 0),
                        "instance=a:9090,job=node,");
    assert_string_equal(expand("{{ range $labels }}[{{ . }}]{{ end }}", 0), "[a:9090][node]");
    assert_string_equal(expand("{{ with $labels.job }}job {{ . }}{{ else }}none{{ end }}", 0),
                        "job node");
    assert_string_equal(expand("{{ with $labels.nope }}x{{ else }}none{{ end }}", 0), "none");
    assert_string_equal(expand("{{ define \"j\" }}<{{ .job }}>{{ end }}"
                               "{{ template \"j\" $labels }}", 0), "<node>");
    assert_string_equal(expand("{{ if eq $labels.job \"a\" }}a{{ else if eq $labels.job \"b\" }}"
                               "b{{ else if eq $labels.job \"node\" }}n{{ end }}", 0), "n");
    assert_string_equal(expand("{{ index $labels \"job\" }} {{ len $labels }}", 0), "node 2");
    /* Prometheus' labels are a plain map[string]string: no Alertmanager methods, a missing
     * label (whatever its name) is "" under missingkey=zero. */
    assert_string_equal(expand("[{{ $labels.Names }}][{{ .Labels.SortedPairs }}]", 0), "[][]");
    assert_string_equal(expand("{{ $labels }}", 0), "map[instance:a:9090 job:node]");
    /* Go's fmt: %d of a float64 is a bad verb, not a conversion. */
    assert_string_equal(expand("{{ printf \"%d\" $value }}", 5), "%!d(float64=5)");
    assert_string_equal(expand("{{ printf \"%s=%v\" $labels.job $value }}", 0.5), "node=0.5");
    assert_string_equal(expand("{{ graphLink \"up\" }}", 0), "/graph?g0.expr=up&g0.tab=0");
    assert_string_equal(expand("{{ $labels = $externalLabels }}{{ $labels.region }}", 0), "eu");
}

static void test_kv_expand_error_text(void **state)
{
    (void)state;
    const rules_tmpl_ops_t *t = rules_tmpl_default();
    rules_kv_t kv = { "summary", "{{ humanize \"x\" }}", NULL };
    vigil_error_t err;
    assert_int_equal(t->compile(t->ctx, "__alert_A", kv.value, &kv.tmpl, &err), 0);
    rules_tmpl_data_t d = { { NULL, 0 }, { NULL, 0 }, "", 0 };
    rules_expander_t x = { .ops = t, .d = &d };
    buf_t b;
    buf_init(&b, 4096);
    assert_int_equal(rules_kv_expand(&x, &kv, &b), 0);
    assert_non_null(strstr(b.data, "<error expanding template: template: __alert_A"));
    buf_free(&b);
    rules_expander_done(&x);
    t->release(t->ctx, kv.tmpl);
}

static void test_xxh64(void **state)
{
    (void)state;
    assert_true(rules_xxh64("", 0) == 0xEF46DB3751D8E999ULL);
    assert_true(rules_xxh64("a", 1) == 0xD24EC4F1A98C6E5BULL);
    assert_true(rules_xxh64("abc", 3) == 0x44BC2CF5AD770999ULL);
    const char *s = "Nobody inspects the spammish repetition";
    assert_true(rules_xxh64(s, strlen(s)) == 0xFBCEA83C8A378BF1ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_humanize),
        cmocka_unit_test(test_values_and_labels),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_full_language),
        cmocka_unit_test(test_kv_expand_error_text),
        cmocka_unit_test(test_xxh64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
