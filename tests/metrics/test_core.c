/*
 * test_core.c - families, validation errors, children lookup, exposition in both formats
 * (escaping round-trip, # EOF, order, counters' _total naming) and Accept negotiation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vigil/metrics.h"
#include "metrics/metrics_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vigil_registry_t *new_reg(void)
{
    vigil_registry_t *reg = NULL;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    return reg;
}

static char *expose(vigil_registry_t *reg, vigil_format_t fmt)
{
    char *out = NULL;
    size_t len = 0;
    vigil_error_t err;
    assert_int_equal(vigil_registry_expose(reg, fmt, &out, &len, &err), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_name_validation(void **state)
{
    (void)state;
    vigil_registry_t *reg = new_reg();
    vigil_error_t err;
    vigil_family_t *f;
    assert_int_equal(vigil_counter_new(reg, "1bad", "h", NULL, &f, &err), VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "invalid name"));
    assert_int_equal(vigil_counter_new(reg, "bad-name", "h", NULL, &f, &err), VIGIL_EINVAL);
    assert_int_equal(vigil_counter_new(reg, "", "h", NULL, &f, &err), VIGIL_EINVAL);
    assert_int_equal(vigil_counter_new(reg, NULL, "h", NULL, &f, &err), VIGIL_EINVAL);

    static const char *const bad_label[] = { "ok", "has space", NULL };
    assert_int_equal(vigil_counter_new(reg, "c1", "h", bad_label, &f, &err), VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "invalid label name \"has space\""));
    static const char *const reserved[] = { "__name", NULL };
    assert_int_equal(vigil_gauge_new(reg, "g1", "h", reserved, &f, &err), VIGIL_EINVAL);
    static const char *const dup[] = { "a", "b", "a", NULL };
    assert_int_equal(vigil_gauge_new(reg, "g1", "h", dup, &f, &err), VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "duplicate label \"a\""));
    static const char *const le[] = { "le", NULL };
    assert_int_equal(vigil_histogram_new(reg, "h1", "h", le, NULL, 0, &f, &err), VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "reserved"));
    static const char *const q[] = { "quantile", NULL };
    assert_int_equal(vigil_summary_new(reg, "s1", "h", q, NULL, &f, &err), VIGIL_EINVAL);
    assert_int_equal(vigil_gauge_new(reg, "g1", "bad \xff utf8", NULL, &f, &err), VIGIL_EINVAL);

    double unsorted[] = { 1, 0.5 };
    assert_int_equal(vigil_histogram_new(reg, "h1", "h", NULL, unsorted, 2, &f, &err),
                     VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "increase"));
    double with_nan[] = { 1, NAN };
    assert_int_equal(vigil_histogram_new(reg, "h1", "h", NULL, with_nan, 2, &f, &err),
                     VIGIL_EINVAL);

    /* Clashes: same name, and names whose samples would collide. */
    assert_int_equal(vigil_counter_new(reg, "jobs_total", "h", NULL, &f, &err), 0);
    assert_int_equal(vigil_counter_new(reg, "jobs", "h", NULL, &f, &err), VIGIL_EEXIST);
    assert_int_equal(vigil_gauge_new(reg, "jobs_total", "h", NULL, &f, &err), VIGIL_EEXIST);
    assert_int_equal(vigil_histogram_new(reg, "lat", "h", NULL, NULL, 0, &f, &err), 0);
    assert_int_equal(vigil_gauge_new(reg, "lat_count", "h", NULL, &f, &err), VIGIL_EEXIST);
    assert_non_null(strstr(err.message, "clashes"));
    vigil_registry_free(reg);
}

static void test_children(void **state)
{
    (void)state;
    vigil_registry_t *reg = new_reg();
    vigil_error_t err;
    vigil_family_t *f, *g;
    static const char *const labels[] = { "handler", "code", NULL };
    assert_int_equal(vigil_counter_new(reg, "req_total", "Requests.", labels, &f, &err), 0);
    assert_int_equal(vigil_gauge_new(reg, "temp", "T.", NULL, &g, &err), 0);

    vigil_counter_t *a = vigil_counter_with(f, "/", "200");
    vigil_counter_t *b = vigil_counter_with(f, "/", "500");
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    /* Same values from different storage: the same child. */
    char h[] = "/", c[] = "200";
    assert_ptr_equal(vigil_counter_with(f, h, c), a);
    /* Values that concatenate alike are still different series. */
    assert_ptr_not_equal(vigil_counter_with(f, "/2", "00"), a);

    assert_null(vigil_counter_labels(f, (const char *[]){ "/" }, 1, &err));
    assert_int_equal(err.code, VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "1 label values for 2 labels"));
    assert_null(vigil_gauge_labels(f, (const char *[]){ "/", "1" }, 2, &err));
    assert_non_null(strstr(err.message, "is a counter, not a gauge"));
    assert_null(vigil_counter_labels(f, (const char *[]){ "/", "\xc0\x80" }, 2, &err));
    assert_non_null(strstr(err.message, "UTF-8"));
    assert_null(vigil_counter_labels(f, (const char *[]){ "/", NULL }, 2, &err));

    vigil_counter_inc(a);
    vigil_counter_add(a, 2);
    vigil_counter_add(a, 0.5);
    vigil_counter_add(a, -7); /* ignored */
    vigil_counter_add(a, NAN); /* ignored */
    vigil_counter_add_u64(a, 10);
    assert_true(vigil_counter_value(a) == 13.5);

    vigil_gauge_t *t = vigil_gauge_with(g);
    assert_non_null(t);
    vigil_gauge_set(t, 3);
    vigil_gauge_inc(t);
    vigil_gauge_dec(t);
    vigil_gauge_dec(t);
    vigil_gauge_add(t, -0.25);
    assert_true(vigil_gauge_value(t) == 1.75);
    vigil_gauge_set_to_current_time(t);
    assert_true(vigil_gauge_value(t) > 1.7e9);
    vigil_registry_free(reg);
}

static void test_series_limit(void **state)
{
    (void)state;
    vigil_registry_opts_t o = { .max_series_per_family = 3 };
    vigil_registry_t *reg;
    vigil_error_t err;
    assert_int_equal(vigil_registry_new(&o, &reg, NULL), 0);
    vigil_family_t *f;
    static const char *const labels[] = { "k", NULL };
    assert_int_equal(vigil_counter_new(reg, "lim", "h", labels, &f, NULL), 0);
    assert_non_null(vigil_counter_with(f, "a"));
    assert_non_null(vigil_counter_with(f, "b"));
    assert_non_null(vigil_counter_with(f, "c"));
    assert_null(vigil_counter_labels(f, (const char *[]){ "d" }, 1, &err));
    assert_int_equal(err.code, VIGIL_ELIMIT);
    assert_non_null(vigil_counter_with(f, "a")); /* existing still found */
    vigil_registry_free(reg);
}

/* Many children force several table growths; every handle stays findable and distinct. */
static void test_table_growth(void **state)
{
    (void)state;
    vigil_registry_t *reg = new_reg();
    vigil_family_t *f;
    static const char *const labels[] = { "i", NULL };
    assert_int_equal(vigil_histogram_new(reg, "grow", "h", labels, NULL, 0, &f, NULL), 0);
    vigil_histogram_t *hs[2000];
    char v[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(v, sizeof(v), "%d", i);
        hs[i] = vigil_histogram_with(f, v);
        assert_non_null(hs[i]);
        vigil_histogram_observe(hs[i], i);
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(v, sizeof(v), "%d", i);
        assert_ptr_equal(vigil_histogram_with(f, v), hs[i]);
    }
    vigil_registry_free(reg);
}

static void test_buckets(void **state)
{
    (void)state;
    size_t n;
    const double *d = vigil_default_buckets(&n);
    assert_int_equal(n, 11);
    assert_true(d[0] == 0.005 && d[10] == 10);
    double b[4];
    assert_int_equal(vigil_buckets_linear(1, 2, 4, b, NULL), 0);
    assert_true(b[0] == 1 && b[3] == 7);
    assert_int_equal(vigil_buckets_exponential(1, 10, 4, b, NULL), 0);
    assert_true(b[1] == 10 && b[3] == 1000);
    assert_int_equal(vigil_buckets_linear(1, 0, 4, b, NULL), VIGIL_EINVAL);
    assert_int_equal(vigil_buckets_exponential(0, 2, 4, b, NULL), VIGIL_EINVAL);
    assert_int_equal(vigil_buckets_exponential(1, 1, 4, b, NULL), VIGIL_EINVAL);
}

static void test_expose_text(void **state)
{
    (void)state;
    vigil_registry_t *reg = new_reg();
    vigil_family_t *c, *h, *g;
    static const char *const labels[] = { "path", NULL };
    assert_int_equal(vigil_counter_new(reg, "zz_requests_total", "Requests \\ served\nnow.",
                                       labels, &c, NULL), 0);
    double buckets[] = { 0.1, 1, 2.5 };
    assert_int_equal(vigil_histogram_new(reg, "aa_latency_seconds", "Latency.", NULL, buckets,
                                         3, &h, NULL), 0);
    assert_int_equal(vigil_gauge_new(reg, "mm_unused", "Unused.", labels, &g, NULL), 0);
    vigil_counter_add_u64(vigil_counter_with(c, "a\"b\\c\nd"), 7);
    vigil_histogram_t *hc = vigil_histogram_with(h);
    vigil_histogram_observe(hc, 0.05);
    vigil_histogram_observe(hc, 0.1);  /* le is inclusive */
    vigil_histogram_observe(hc, 2);
    vigil_histogram_observe(hc, 100);

    char *out = expose(reg, VIGIL_FORMAT_TEXT);
    const char *want =
        "# HELP aa_latency_seconds Latency.\n"
        "# TYPE aa_latency_seconds histogram\n"
        "aa_latency_seconds_bucket{le=\"0.1\"} 2\n"
        "aa_latency_seconds_bucket{le=\"1\"} 2\n"
        "aa_latency_seconds_bucket{le=\"2.5\"} 3\n"
        "aa_latency_seconds_bucket{le=\"+Inf\"} 4\n"
        "aa_latency_seconds_sum 102.15\n"
        "aa_latency_seconds_count 4\n"
        "# HELP zz_requests_total Requests \\\\ served\\nnow.\n"
        "# TYPE zz_requests_total counter\n"
        "zz_requests_total{path=\"a\\\"b\\\\c\\nd\"} 7\n";
    assert_string_equal(out, want);
    free(out);

    out = expose(reg, VIGIL_FORMAT_OPENMETRICS);
    const char *want_om =
        "# HELP aa_latency_seconds Latency.\n"
        "# TYPE aa_latency_seconds histogram\n"
        "aa_latency_seconds_bucket{le=\"0.1\"} 2\n"
        "aa_latency_seconds_bucket{le=\"1.0\"} 2\n"
        "aa_latency_seconds_bucket{le=\"2.5\"} 3\n"
        "aa_latency_seconds_bucket{le=\"+Inf\"} 4\n"
        "aa_latency_seconds_sum 102.15\n"
        "aa_latency_seconds_count 4\n"
        "# HELP zz_requests Requests \\\\ served\\nnow.\n"
        "# TYPE zz_requests counter\n"
        "zz_requests_total{path=\"a\\\"b\\\\c\\nd\"} 7\n"
        "# EOF\n";
    assert_string_equal(out, want_om);
    free(out);
    vigil_registry_free(reg);
}

/* Undoes the label-value escaping of the exposition: the round trip must be the identity. */
static char *unescape(const char *s, size_t n)
{
    char *o = malloc(n + 1), *p = o;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            i++;
            *p++ = s[i] == 'n' ? '\n' : s[i];
        } else {
            *p++ = s[i];
        }
    }
    *p = '\0';
    return o;
}

static void test_escape_roundtrip(void **state)
{
    (void)state;
    static const char *const values[] = {
        "plain", "quote\"", "back\\slash", "new\nline", "\\n literal", "\"\"\\\\\n\n",
        "utf8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "", "trailing\\",
    };
    for (int fmt = 0; fmt < 2; fmt++) {
        vigil_registry_t *reg = new_reg();
        vigil_family_t *f;
        static const char *const labels[] = { "v", NULL };
        assert_int_equal(vigil_gauge_new(reg, "esc", "h", labels, &f, NULL), 0);
        size_t nv = sizeof(values) / sizeof(values[0]);
        for (size_t i = 0; i < nv; i++)
            vigil_gauge_set(vigil_gauge_with(f, values[i]), (double)i);
        char *out = expose(reg, (vigil_format_t)fmt);
        size_t seen = 0;
        for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            if (line[0] == '#')
                continue;
            char *open = strstr(line, "{v=\"");
            assert_non_null(open);
            char *close = strrchr(line, '}');
            assert_non_null(close);
            char *val = unescape(open + 4, (size_t)(close - 1 - (open + 4)));
            int idx = atoi(close + 2);
            assert_string_equal(val, values[idx]);
            free(val);
            seen++;
        }
        assert_int_equal(seen, nv);
        free(out);
        vigil_registry_free(reg);
    }
}

static void test_openmetrics_eof_and_empty(void **state)
{
    (void)state;
    vigil_registry_t *reg = new_reg();
    char *out = expose(reg, VIGIL_FORMAT_OPENMETRICS);
    assert_string_equal(out, "# EOF\n");
    free(out);
    out = expose(reg, VIGIL_FORMAT_TEXT);
    assert_string_equal(out, "");
    free(out);
    vigil_counter_new(reg, "x", "X.", NULL, NULL, NULL);
    out = expose(reg, VIGIL_FORMAT_OPENMETRICS);
    size_t len = strlen(out);
    assert_true(len > 6 && strcmp(out + len - 6, "# EOF\n") == 0);
    assert_non_null(strstr(out, "x_total 0\n"));
    free(out);
    vigil_registry_free(reg);
}

static void test_expose_limit(void **state)
{
    (void)state;
    vigil_registry_opts_t o = { .max_expose_bytes = 64 };
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(&o, &reg, NULL), 0);
    vigil_family_t *f;
    static const char *const labels[] = { "k", NULL };
    vigil_counter_new(reg, "big", "Big.", labels, &f, NULL);
    for (int i = 0; i < 20; i++) {
        char v[8];
        snprintf(v, sizeof(v), "%d", i);
        vigil_counter_inc(vigil_counter_with(f, v));
    }
    char *out = (char *)1;
    vigil_error_t err;
    assert_int_equal(vigil_registry_expose(reg, VIGIL_FORMAT_TEXT, &out, NULL, &err),
                     VIGIL_ELIMIT);
    assert_null(out);
    vigil_registry_free(reg);
}

static double cb_value(void *arg)
{
    return *(double *)arg;
}

static void test_callbacks(void **state)
{
    (void)state;
    vigil_registry_t *reg = new_reg();
    double v = 42.5, cv = 9;
    assert_int_equal(vigil_gauge_func_new(reg, "cb_gauge", "Callback.", cb_value, &v, NULL), 0);
    assert_int_equal(vigil_counter_func_new(reg, "cb_things_total", "Things.", cb_value, &cv,
                                            NULL), 0);
    vigil_family_t *f;
    static const char *const labels[] = { "k", NULL };
    vigil_gauge_new(reg, "lab_gauge", "L.", labels, &f, NULL);
    vigil_gauge_t *g = vigil_gauge_with(f, "x");
    vigil_gauge_set(g, 1);
    vigil_gauge_set_fn(g, cb_value, &v);
    char *out = expose(reg, VIGIL_FORMAT_TEXT);
    assert_non_null(strstr(out, "\ncb_gauge 42.5\n"));
    assert_non_null(strstr(out, "\ncb_things_total 9\n"));
    assert_non_null(strstr(out, "lab_gauge{k=\"x\"} 42.5\n"));
    free(out);
    v = 1;
    vigil_gauge_set_fn(g, NULL, NULL);
    out = expose(reg, VIGIL_FORMAT_TEXT);
    assert_non_null(strstr(out, "\ncb_gauge 1\n"));
    assert_non_null(strstr(out, "lab_gauge{k=\"x\"} 1\n"));
    free(out);
    vigil_registry_free(reg);
}

static void test_accept(void **state)
{
    (void)state;
    assert_int_equal(vigil_format_from_accept(NULL), VIGIL_FORMAT_TEXT);
    assert_int_equal(vigil_format_from_accept(""), VIGIL_FORMAT_TEXT);
    assert_int_equal(vigil_format_from_accept("*/*"), VIGIL_FORMAT_TEXT);
    /* What Prometheus 2.42 sends. */
    assert_int_equal(vigil_format_from_accept(
                         "application/openmetrics-text;version=1.0.0,application/"
                         "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;"
                         "q=0.5,*/*;q=0.1"),
                     VIGIL_FORMAT_OPENMETRICS);
    assert_int_equal(vigil_format_from_accept("text/plain;version=0.0.4;q=0.9, "
                                              "application/openmetrics-text; q=0.5"),
                     VIGIL_FORMAT_TEXT);
    assert_int_equal(vigil_format_from_accept("application/openmetrics-text; version=2.0.0"),
                     VIGIL_FORMAT_TEXT);
    assert_int_equal(vigil_format_from_accept("application/openmetrics-text;q=0"),
                     VIGIL_FORMAT_TEXT);
    assert_int_equal(vigil_format_from_accept("APPLICATION/OpenMetrics-Text"),
                     VIGIL_FORMAT_OPENMETRICS);
    assert_int_equal(vigil_format_from_accept("text/html, application/json"), VIGIL_FORMAT_TEXT);
    assert_int_equal(vigil_format_from_accept(";;,,=;q=,"), VIGIL_FORMAT_TEXT);
    assert_string_equal(vigil_format_content_type(VIGIL_FORMAT_TEXT),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(vigil_format_content_type(VIGIL_FORMAT_OPENMETRICS),
                        "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

static void test_format_double(void **state)
{
    (void)state;
    char b[48];
    metrics_format_double(b, 0);
    assert_string_equal(b, "0");
    metrics_format_double(b, -12);
    assert_string_equal(b, "-12");
    metrics_format_double(b, 0.1);
    assert_string_equal(b, "0.1");
    metrics_format_double(b, 1e300);
    assert_string_equal(b, "1e+300");
    metrics_format_double(b, NAN);
    assert_string_equal(b, "NaN");
    metrics_format_double(b, -INFINITY);
    assert_string_equal(b, "-Inf");
    metrics_format_double(b, 20.01);
    assert_string_equal(b, "20.01");
    metrics_format_double(b, -0.5);
    assert_string_equal(b, "-0.5");
    metrics_format_double(b, 123456.000001);
    assert_string_equal(b, "123456.000001");
    metrics_format_double(b, 1e-7);
    assert_true(strtod(b, NULL) == 1e-7);
    double tricky = 0.1 + 0.2;
    metrics_format_double(b, tricky);
    assert_true(strtod(b, NULL) == tricky);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_validation),
        cmocka_unit_test(test_children),
        cmocka_unit_test(test_series_limit),
        cmocka_unit_test(test_table_growth),
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_expose_text),
        cmocka_unit_test(test_escape_roundtrip),
        cmocka_unit_test(test_openmetrics_eof_and_empty),
        cmocka_unit_test(test_expose_limit),
        cmocka_unit_test(test_callbacks),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_format_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
