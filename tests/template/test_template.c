/*
 * test_template.c - the template engine: every construct and function with exact output.
 *
 * Expected texts come from Go's text/template semantics and Prometheus's template functions
 * (prometheus/template/template_test.go, prometheus/common helpers/templates/time_test.go,
 * docs/configuration/template_reference.md); each case says what it checks.
 */
#include "template/template.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <math.h>

/* Data for Prometheus-style templates: $labels, $value, $externalLabels. */
typedef struct fixture {
    template_value_t *labels, *ext, *value, *data;
} fixture_t;

static void fixture_init(fixture_t *f, double value)
{
    f->labels = template_value_map(TEMPLATE_F_LABELS);
    template_map_set_string(f->labels, "instance", "host1:9100");
    template_map_set_string(f->labels, "job", "node");
    template_map_set_string(f->labels, "alertname", "HighLoad");
    f->ext = template_value_map(TEMPLATE_F_LABELS);
    template_map_set_string(f->ext, "cluster", "prod");
    f->value = template_value_float(value);
    f->data = template_value_map(TEMPLATE_F_STRUCT);
    template_value_t *l2 = template_value_map(TEMPLATE_F_LABELS);
    template_map_set_string(l2, "instance", "host1:9100");
    template_map_set(f->data, "Labels", l2);
    template_map_set(f->data, "Value", template_value_float(value));
}

static void fixture_free(fixture_t *f)
{
    template_value_free(f->labels);
    template_value_free(f->ext);
    template_value_free(f->value);
    template_value_free(f->data);
}

/* Compiles and runs `text` Prometheus-style; returns the malloc'd output or NULL, with the
 * error code in *rc and the message in err. */
static char *run_prom(const char *text, double value, int *rc, vigil_error_t *err)
{
    static const char *const vars[] = { "labels", "externalLabels", "externalURL", "value",
                                        NULL };
    template_options_t o = { .name = "t", .vars = vars, .missing_zero = true };
    template_t *t;
    *rc = template_compile(&t, text, &o, err);
    if (*rc != 0)
        return NULL;
    fixture_t f;
    fixture_init(&f, value);
    template_value_t *url = template_value_string("http://prom.example:9090/prefix");
    template_var_t v[] = { { "labels", f.labels }, { "externalLabels", f.ext },
                           { "externalURL", url }, { "value", f.value } };
    template_exec_options_t eo = { .vars = v, .nvars = 4,
                                   .external_url = "http://prom.example:9090/prefix" };
    buf_t b;
    buf_init(&b, 1 << 20);
    *rc = template_execute(t, f.data, &eo, &b, err);
    char *s = buf_detach(&b, NULL);
    template_value_free(url);
    fixture_free(&f);
    template_free(t);
    if (*rc != 0) {
        free(s);
        return NULL;
    }
    return s;
}

static void expect(const char *text, double value, const char *want)
{
    vigil_error_t err = { 0 };
    int rc;
    char *got = run_prom(text, value, &rc, &err);
    if (rc != 0)
        fail_msg("%s: unexpected error %d: %s", text, rc, err.message);
    if (strcmp(got, want) != 0)
        fail_msg("%s:\n got  [%s]\n want [%s]", text, got, want);
    free(got);
}

/* Compile error with the given code and message text. */
static void expect_compile_error(const char *text, int code, const char *msg)
{
    vigil_error_t err = { 0 };
    int rc;
    char *got = run_prom(text, 1, &rc, &err);
    free(got);
    if (rc != code || strstr(err.message, msg) == NULL)
        fail_msg("%s: got rc %d [%s], want %d containing [%s]", text, rc, err.message, code,
                 msg);
}

static void test_text_and_actions(void **state)
{
    (void)state;
    expect("plain text", 0, "plain text");
    expect("", 0, "");
    expect("a {{ \"b\" }} c", 0, "a b c");
    expect("a  {{- \"b\" -}}  c", 0, "abc");
    expect("a\n\t{{- 1 }}\n", 0, "a1\n");
    expect("{{/* a comment */}}x", 0, "x");
    expect("a {{- /* trimmed */ -}} b", 0, "ab");
    expect("{{ `raw\\n` }}", 0, "raw\\n");
    expect("{{ \"tab\\tnl\\n\\u00e9\" }}", 0, "tab\tnl\n\xc3\xa9");
    expect("{{ 3 }} {{ -4 }} {{ 0x1F }} {{ 1.5 }} {{ 1e3 }} {{ true }}", 0,
           "3 -4 31 1.5 1000 true");
}

static void test_prometheus_variables(void **state)
{
    (void)state;
    expect("{{ $labels.instance }} is {{ $value }}", 0.5, "host1:9100 is 0.5");
    expect("{{ $labels.missing }}|", 1, "|");  /* missingkey=zero */
    expect("{{ $externalLabels.cluster }}", 1, "prod");
    expect("{{ $externalURL }}", 1, "http://prom.example:9090/prefix");
    expect("{{ .Labels.instance }} {{ .Value }}", 2, "host1:9100 2");
    expect("{{ $value }}", 1234567, "1.234567e+06");
    expect("{{ $value }}", 100000, "100000");
    expect("{{ $value }}", 0.0001, "0.0001");
    expect("{{ $value }}", 0.00001, "1e-05");
    expect("{{ $value }}", NAN, "NaN");
    expect("{{ $value }}", -INFINITY, "-Inf");
}

static void test_control(void **state)
{
    (void)state;
    expect("{{ if gt $value 1.0 }}big{{ else }}small{{ end }}", 2, "big");
    expect("{{ if gt $value 1.0 }}big{{ else if gt $value 0.5 }}mid{{ else }}small{{ end }}",
           0.7, "mid");
    expect("{{ if eq $labels.job \"node\" \"x\" }}yes{{ end }}", 0, "yes");
    expect("{{ if and $labels.job (not $labels.none) }}ok{{ end }}", 0, "ok");
    expect("{{ or $labels.none \"fallback\" }}", 0, "fallback");
    expect("{{ and 1 0 }} {{ and 1 2 }} {{ or 0 \"\" }}", 0, "0 2 ");
    expect("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", 0,
           "alertname=HighLoad;instance=host1:9100;job=node;");
    expect("{{ range $labels }}{{ . }},{{ end }}", 0, "HighLoad,host1:9100,node,");
    expect("{{ range $i, $v := .Labels }}{{ $i }}{{ end }}", 0, "instance");
    expect("{{ range stringSlice }}x{{ else }}empty{{ end }}", 0, "empty");
    expect("{{ range $k, $v := $labels }}{{ if eq $k \"instance\" }}{{ break }}{{ end }}"
           "{{ $k }};{{ end }}", 0, "alertname;");
    expect("{{ range $k, $v := $labels }}{{ if eq $k \"instance\" }}{{ continue }}{{ end }}"
           "{{ $k }};{{ end }}", 0, "alertname;job;");
    expect("{{ with $labels.job }}job={{ . }}{{ end }}", 0, "job=node");
    expect("{{ with $labels.none }}x{{ else }}none{{ end }}", 0, "none");
    expect("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", 0, "2");
    expect("{{ $x := \"a\" }}{{ with $y := \"b\" }}{{ $x }}{{ $y }}{{ end }}", 0, "ab");
    expect("{{ define \"t1\" }}[{{ . }}]{{ end }}{{ template \"t1\" $labels.job }}", 0,
           "[node]");
    expect("{{ block \"b\" 5 }}<{{ . }}>{{ end }}", 0, "<5>");
    expect("{{ len $labels }} {{ len \"abc\" }} {{ index $labels \"job\" }}", 0, "3 3 node");
    expect("{{ slice \"abcdef\" 1 3 }}", 0, "bc");
    expect("{{ (printf \"%s-%s\" \"a\" \"b\") | toUpper }}", 0, "A-B");
    expect("{{ $labels.job | printf \"%s!\" }}", 0, "node!");
}

static void test_printf(void **state)
{
    (void)state;
    expect("{{ printf \"%.2f\" $value }}", 3.14159, "3.14");
    expect("{{ printf \"%f\" $value }}", 1.5, "1.500000");
    expect("{{ printf \"%d\" 42 }}", 0, "42");
    expect("{{ printf \"%d\" $value }}", 3, "%!d(float64=3)");
    expect("{{ printf \"%s\" $labels.job }}", 0, "node");
    expect("{{ printf \"%v %v\" $value true }}", 2.5, "2.5 true");
    expect("{{ printf \"%q\" \"a\\\"b\" }}", 0, "\"a\\\"b\"");
    expect("{{ printf \"%5d|%-5d|%05d\" 42 42 42 }}", 0, "   42|42   |00042");
    expect("{{ printf \"%e\" $value }}", 1234.5678, "1.234568e+03");
    expect("{{ printf \"%g\" $value }}", 1234.5678, "1234.5678");
    expect("{{ printf \"%x %X\" 255 \"hi\" }}", 0, "ff 6869");
    expect("{{ printf \"%d %d\" 1 }}", 0, "1 %!d(MISSING)");
    expect("{{ printf \"%d\" 1 2 }}", 0, "1%!(EXTRA int=2)");
    expect("{{ printf \"100%%\" }}", 0, "100%");
    expect("{{ print 1 2 \"a\" \"b\" 3 }}", 0, "1 2ab3");
    expect("{{ println 1 \"a\" }}", 0, "1 a\n");
}

static void test_humanize(void **state)
{
    (void)state;
    /* prometheus template_test.go / template_reference.md */
    expect("{{ humanize 1234567.0 }}", 0, "1.235M");
    expect("{{ humanize $value }}", 1234567, "1.235M");
    expect("{{ humanize $value }}", 0, "0");
    expect("{{ humanize $value }}", 0.001234, "1.234m");
    expect("{{ humanize $value }}", 12, "12");
    expect("{{ humanize $value }}", -12345, "-12.35k");
    expect("{{ humanize $value }}", INFINITY, "+Inf");
    expect("{{ humanize \"2.5e9\" }}", 0, "2.5G");
    expect("{{ humanize1024 $value }}", 1048576, "1Mi");
    expect("{{ humanize1024 $value }}", 1, "1");
    expect("{{ humanize1024 $value }}", 1536, "1.5ki");
    expect("{{ humanizeDuration $value }}", 90, "1m 30s");
    expect("{{ humanizeDuration $value }}", 0, "0s");
    expect("{{ humanizeDuration $value }}", 1, "1s");
    expect("{{ humanizeDuration $value }}", 60, "1m 0s");
    expect("{{ humanizeDuration $value }}", 3600, "1h 0m 0s");
    expect("{{ humanizeDuration $value }}", 86400 + 3600, "1d 1h 0m 0s");
    expect("{{ humanizeDuration $value }}", -(86400 * 2 + 3600 * 3 + 60 * 4 + 5),
           "-2d 3h 4m 5s");
    expect("{{ humanizeDuration $value }}", 899.99, "14m 59s");
    expect("{{ humanizeDuration $value }}", 0.1, "100ms");
    expect("{{ humanizeDuration $value }}", 0.0001, "100us");
    expect("{{ humanizeDuration $value }}", 0.12345, "123.5ms");
    expect("{{ humanizeDuration $value }}", 1.5, "1.5s");
    expect("{{ humanizePercentage $value }}", 0.1234, "12.34%");
    expect("{{ humanizePercentage $value }}", 0.1234567, "12.35%");
    expect("{{ humanizePercentage $value }}", 1, "100%");
    expect("{{ humanizeTimestamp $value }}", 1435065584.128, "2015-06-23 13:19:44.128 +0000 UTC");
    expect("{{ humanizeTimestamp $value }}", 0, "1970-01-01 00:00:00 +0000 UTC");
    /* the fraction loses its trailing zeros, never a significant one */
    expect("{{ humanizeTimestamp $value }}", 1.5, "1970-01-01 00:00:01.5 +0000 UTC");
    expect("{{ humanizeTimestamp $value }}", 1.05, "1970-01-01 00:00:01.05 +0000 UTC");
    expect("{{ humanizeTimestamp $value }}", 1.25, "1970-01-01 00:00:01.25 +0000 UTC");
    expect("{{ humanizeDuration $value }}", -1.5, "-1.5s");
    expect("{{ humanize $value }}", 1e30, "1e+06Y");
}

/* Go's %v of a float64, as the rules API writes JSON numbers with it. */
static void test_format_float(void **state)
{
    (void)state;
    static const struct { double v; const char *want; } cases[] = {
        { 0, "0" }, { 0.1, "0.1" }, { 1e6, "1e+06" }, { 123456, "123456" },
        { 1234567, "1.234567e+06" }, { 1e-5, "1e-05" }, { 0.0001, "0.0001" },
        { -2.5e-7, "-2.5e-07" }, { 1.7976931348623157e308, "1.7976931348623157e+308" },
        { 5e-324, "5e-324" },
    };
    char out[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        template_format_float(cases[i].v, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
    template_format_float(NAN, out, sizeof(out));
    assert_string_equal(out, "NaN");
    template_format_float(-INFINITY, out, sizeof(out));
    assert_string_equal(out, "-Inf");
    template_format_float(1234567, out, 5);   /* truncated, terminated */
    assert_string_equal(out, "1.23");
}

/* TEMPLATE_F_STRMAP: Go's plain map[string]string - a missing key is "" under
 * missingkey=zero, <no value> without it, and the KV method names are ordinary keys. */
static void test_strmap(void **state)
{
    (void)state;
    template_value_t *m = template_value_map(TEMPLATE_F_STRMAP);
    assert_int_equal(template_map_set_string(m, "Names", "n"), 0);
    assert_int_equal(template_map_set_string(m, "job", "node"), 0);
    for (int zero = 0; zero < 2; zero++) {
        template_options_t o = { .name = "s", .missing_zero = zero };
        template_t *t;
        vigil_error_t err;
        assert_int_equal(template_compile(&t, "{{ .Names }}|{{ .job }}|{{ .nope }}|"
                                          "{{ .SortedPairs }}|{{ index . \"nope\" }}|"
                                          "{{ . }}", &o, &err), 0);
        buf_t b;
        buf_init(&b, 4096);
        assert_int_equal(template_execute(t, m, NULL, &b, &err), 0);
        assert_string_equal(b.data, zero ? "n|node||||map[Names:n job:node]"
                                         : "n|node|<no value>|<no value>||map[Names:n job:node]");
        buf_free(&b);
        template_free(t);
    }
    template_value_free(m);
}

static void test_strings(void **state)
{
    (void)state;
    expect("{{ title \"hello world-foo_bar\" }}", 0, "Hello World-Foo_bar");
    expect("{{ toUpper \"aBc\" }} {{ toLower \"aBc\" }}", 0, "ABC abc");
    expect("{{ stripPort $labels.instance }}", 0, "host1");
    expect("{{ stripPort \"[::1]:9090\" }} {{ stripPort \"noport\" }}", 0, "::1 noport");
    expect("{{ stripDomain \"foo.example.com:9090\" }} {{ stripDomain \"1.2.3.4:80\" }}", 0,
           "foo:9090 1.2.3.4:80");
    expect("{{ reReplaceAll \"(a*)bc\" \"x${1}y\" \"aaabc abc bc\" }}", 0, "xaaay xay xy");
    expect("{{ reReplaceAll \":.*\" \"\" $labels.instance }}", 0, "host1");
    expect("{{ reReplaceAll \"a(?:b)(c)\" \"[$1]\" \"abc\" }}", 0, "[c]");
    expect("{{ reReplaceAll \"x*\" \"-\" \"abc\" }}", 0, "-a-b-c-");
    expect("{{ reReplaceAll \"(\\\\d+)\" \"<$1>\" \"a12b3\" }}", 0, "a<12>b<3>");
    expect("{{ reReplaceAll \"(a)\" \"$1x\" \"a\" }}", 0, "");  /* $1x is ${1x}: empty */
    expect("{{ match \"^host\" $labels.instance }} {{ match \"^x\" \"y\" }}", 0, "true false");
    expect("{{ safeHtml \"<b>\" }} {{ html \"<b>&\" }}", 0, "<b> &lt;b&gt;&amp;");
    expect("{{ urlquery \"a b&c\" }}", 0, "a+b%26c");
    expect("{{ parseDuration \"1m30s\" }}", 0, "90");
    expect("{{ graphLink \"up == 0\" }}", 0, "/prefix/graph?g0.expr=up+%3D%3D+0&g0.tab=0");
    expect("{{ externalURL }} {{ pathPrefix }}", 0, "http://prom.example:9090/prefix /prefix");
    expect("{{ with args 1 \"x\" }}{{ .arg0 }} {{ .arg1 }}{{ end }}", 0, "1 x");
    expect("{{ stringSlice \"a\" \"b\" | join \", \" }}", 0, "a, b");
    expect("[{{ trimSpace \"  a b \\n\" }}]", 0, "[a b]");
}

static void test_compile_errors(void **state)
{
    (void)state;
    expect_compile_error("{{ query \"up\" }}", VIGIL_ENOTSUP, "t:1:4: function \"query\" is not supported");
    expect_compile_error("x\n  {{ nosuch 1 }}", VIGIL_EPARSE, "t:2:6: function \"nosuch\" not defined");
    expect_compile_error("{{ $undefined }}", VIGIL_EPARSE, "t:1:4: undefined variable \"$undefined\"");
    expect_compile_error("{{ if true }}x", VIGIL_EPARSE, "unexpected EOF");
    expect_compile_error("{{ end }}", VIGIL_EPARSE, "unexpected {{end}}");
    expect_compile_error("{{ .A ", VIGIL_EPARSE, "unclosed action");
    expect_compile_error("{{ \"a }}", VIGIL_EPARSE, "t:1:4: unterminated quoted string");
    expect_compile_error("{{ template \"nope\" }}", VIGIL_EPARSE, "no such template \"nope\"");
    expect_compile_error("{{ break }}", VIGIL_EPARSE, "{{break}} outside {{range}}");
    expect_compile_error("{{ 1 2 }}", VIGIL_EPARSE, "can't give argument to non-function");
    expect_compile_error("{{ . | 3 }}", VIGIL_EPARSE, "non executable command in pipeline stage 2");
    expect_compile_error("{{ }}", VIGIL_EPARSE, "missing value for command");
    expect_compile_error("{{ nil }}", VIGIL_EPARSE, "nil is not a command");
    expect_compile_error("{{ $x = 1 }}", VIGIL_EPARSE, "undefined variable \"$x\"");
    expect_compile_error("{{ toTime 1 }}", VIGIL_ENOTSUP, "not supported");
    expect_compile_error("{{ (1 }}", VIGIL_EPARSE, "unexpected \"}}\"");
    expect_compile_error("{{/* open", VIGIL_EPARSE, "unclosed comment");
}

static void expect_exec_error(const char *text, const char *msg)
{
    vigil_error_t err = { 0 };
    int rc;
    char *got = run_prom(text, 1, &rc, &err);
    free(got);
    if (rc != VIGIL_EINVAL || strstr(err.message, msg) == NULL)
        fail_msg("%s: got rc %d [%s], want EINVAL containing [%s]", text, rc, err.message, msg);
}

static void test_exec_errors(void **state)
{
    (void)state;
    expect_exec_error("{{ gt $value 1 }}", "incompatible types for comparison");
    expect_exec_error("{{ lt true false }}", "invalid type for comparison");
    expect_exec_error("{{ .Nope }}", "t:1:4: executing: can't evaluate field Nope");
    expect_exec_error("{{ $labels.job.x }}", "can't evaluate field x in type string");
    expect_exec_error("{{ humanize \"abc\" }}", "strconv.ParseFloat: parsing \"abc\"");
    expect_exec_error("{{ index $labels 1 }}", "should be string");
    expect_exec_error("{{ match \"(\" \"x\" }}", "error calling match");
    expect_exec_error("{{ toUpper 1 }}", "expected string; got int");
    expect_exec_error("{{ range 1.5 }}{{ end }}", "range can't iterate over float64");
    expect_exec_error("{{ len 3 }}", "len of type int");
    /* recursion is bounded */
    vigil_error_t err = { 0 };
    template_t *t;
    assert_int_equal(template_compile(&t, "{{ define \"r\" }}{{ template \"r\" . }}{{ end }}"
                                          "{{ template \"r\" . }}", NULL, &err), 0);
    buf_t b;
    buf_init(&b, 1024);
    assert_int_equal(template_execute(t, NULL, NULL, &b, &err), VIGIL_ELIMIT);
    buf_free(&b);
    template_free(t);
}

/* Alertmanager's notification data: methods on KV, Alerts.Firing, missing key "<no value>". */
static void test_alertmanager(void **state)
{
    (void)state;
    template_value_t *d = template_value_map(TEMPLATE_F_STRUCT);
    template_map_set_string(d, "Status", "firing");
    template_map_set_string(d, "Receiver", "team x");
    template_value_t *alerts = template_value_list(TEMPLATE_F_ALERTS);
    for (int i = 0; i < 3; i++) {
        template_value_t *a = template_value_map(TEMPLATE_F_STRUCT);
        template_value_t *l = template_value_map(TEMPLATE_F_LABELS);
        template_map_set_string(l, "alertname", "Down");
        template_map_set_string(l, "zone", i ? "b" : "a");
        template_map_set_string(l, "instance", i == 2 ? "h3" : "h1");
        template_map_set(a, "Labels", l);
        template_value_t *an = template_value_map(TEMPLATE_F_LABELS);
        template_map_set_string(an, "summary", "down!");
        template_map_set(a, "Annotations", an);
        template_map_set_string(a, "Status", i == 1 ? "resolved" : "firing");
        template_list_append(alerts, a);
    }
    template_map_set(d, "Alerts", alerts);
    template_value_t *gl = template_value_map(TEMPLATE_F_LABELS);
    template_map_set_string(gl, "alertname", "Down");
    template_map_set(d, "GroupLabels", gl);
    template_value_t *cl = template_value_map(TEMPLATE_F_LABELS);
    template_map_set_string(cl, "alertname", "Down");
    template_map_set_string(cl, "team", "x");
    template_map_set(d, "CommonLabels", cl);
    template_map_set_string(d, "ExternalURL", "http://am:9093");

    static const struct { const char *text, *want; } cases[] = {
        { "{{ range .Alerts }}*Alert:* {{ .Annotations.summary }} {{ .Annotations.nope }}\n"
          "{{ end }}",
          "*Alert:* down! <no value>\n*Alert:* down! <no value>\n*Alert:* down! <no value>\n" },
        { "[{{ .Status | toUpper }}{{ if eq .Status \"firing\" }}:{{ .Alerts.Firing | len }}"
          "{{ end }}] {{ .GroupLabels.SortedPairs.Values | join \" \" }} "
          "{{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove "
          ".GroupLabels.Names }}{{ .Values | join \" \" }}{{ end }}){{ end }}",
          "[FIRING:2] Down (x)" },
        { "{{ range (index .Alerts 2).Labels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }}",
          "alertname=Down instance=h3 zone=b " },
        { "{{ len .Alerts.Resolved }} {{ .CommonLabels.Names }}", "1 [alertname team]" },
        { "{{ .Receiver | urlquery }}", "team+x" },
        { "{{ (index .Alerts 0).Labels }}", "map[alertname:Down instance:h1 zone:a]" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        template_t *t;
        vigil_error_t err = { 0 };
        template_options_t o = { .name = "am" };
        if (template_compile(&t, cases[i].text, &o, &err) != 0)
            fail_msg("%s: %s", cases[i].text, err.message);
        buf_t b;
        buf_init(&b, 1 << 16);
        if (template_execute(t, d, NULL, &b, &err) != 0)
            fail_msg("%s: %s", cases[i].text, err.message);
        if (strcmp(b.data ? b.data : "", cases[i].want) != 0)
            fail_msg("%s:\n got  [%s]\n want [%s]", cases[i].text, b.data, cases[i].want);
        buf_free(&b);
        template_free(t);
    }
    template_value_free(d);
}

/* A library of defines shared by templates (Alertmanager's default.tmpl style). */
static void test_lib(void **state)
{
    (void)state;
    template_t *lib, *t;
    vigil_error_t err = { 0 };
    assert_int_equal(template_compile(&lib, "{{ define \"x\" }}X{{ . }}{{ end }}", NULL, &err),
                     0);
    template_options_t o = { .lib = lib };
    assert_int_equal(template_compile(&t, "{{ template \"x\" 1 }}", &o, &err), 0);
    buf_t b;
    buf_init(&b, 100);
    assert_int_equal(template_execute(t, NULL, NULL, &b, &err), 0);
    assert_string_equal(b.data, "X1");
    buf_reset(&b);
    assert_int_equal(template_execute_named(t, "x", NULL, NULL, &b, &err), 0);
    assert_string_equal(b.data, "X<no value>");
    assert_int_equal(template_execute_named(t, "nope", NULL, NULL, &b, &err), VIGIL_ENOENT);
    buf_free(&b);
    template_free(t);
    template_free(lib);
    assert_true(template_is_plain("no actions"));
    assert_false(template_is_plain("{{ . }}"));
    assert_string_equal(template_function_name(0), "and");
}

static void test_output_cap(void **state)
{
    (void)state;
    template_t *t;
    vigil_error_t err = { 0 };
    assert_int_equal(template_compile(&t, "{{ range $i, $v := 100 }}0123456789{{ end }}", NULL,
                                      &err), 0);
    buf_t b;
    buf_init(&b, 1 << 20);
    template_exec_options_t eo = { .max_output = 100 };
    assert_int_equal(template_execute(t, NULL, &eo, &b, &err), VIGIL_ELIMIT);
    assert_true(b.len <= 100);
    buf_free(&b);
    template_free(t);
}

/* Regexes go through util/re2posix (tested in tests/util/test_re2posix.c); here: how the
 * template functions use it. */
static void test_regex(void **state)
{
    (void)state;
    expect("{{ reReplaceAll \"a(?:b|c)(d)\" \"[$1]\" \"xacdx\" }}", 0, "x[d]x");
    expect("{{ reReplaceAll \"(?P<n>\\\\d)\" \"<$1>\" \"a1\" }}", 0, "a<1>");
    expect("{{ reReplaceAll \"^a\" \"-\" \"aaa\" }}", 0, "-aa");
    expect("{{ reReplaceAll \"[\\\\]a-c\\\\d-]+\" \".\" \"x]b7-y\" }}", 0, "x.y");
    expect("{{ match \"(?i)abc\" \"xABCx\" }}", 0, "true");
    expect("{{ match \"a{x\" \"a{x\" }}", 0, "true");
    expect_exec_error("{{ reReplaceAll \"a+?\" \"\" \"a\" }}",
                      "error calling reReplaceAll: non-greedy repetition (+?) is not supported");
    expect_exec_error("{{ match \"(\" \"a\" }}",
                      "error calling match: missing closing ): `(`");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_and_actions),
        cmocka_unit_test(test_prometheus_variables),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_humanize),
        cmocka_unit_test(test_format_float),
        cmocka_unit_test(test_strmap),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_alertmanager),
        cmocka_unit_test(test_lib),
        cmocka_unit_test(test_output_cap),
        cmocka_unit_test(test_regex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
