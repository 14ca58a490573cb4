/*
 * test_expfmt.c - unit tests of the exposition parser (src/expfmt/).
 *
 * Escaping, the line:column of errors, what strict and lenient modes each accept, timestamps,
 * exemplars, NaN/Inf, the number fast path against strtod, Content-Type choice, and that no
 * allocation happens per sample once the parser is warm. The last one counts calls through
 * the linker's --wrap of malloc/calloc/realloc (see CMakeLists.txt).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "expfmt/expfmt.h"
#include "expfmt/expfmt_int.h" /* expfmt_parse_number */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation counting (the binary is linked with --wrap=malloc,calloc,realloc) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);

/* A test binary is single-threaded; this counter is the one piece of global state. */
static size_t allocations;

void *__wrap_malloc(size_t n)
{
    allocations++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    allocations++;
    return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    allocations++;
    return __real_realloc(p, n);
}

/* ---- helpers ---- */

static int check(const char *text, expfmt_format_t f, expfmt_mode_t m, vigil_error_t *err)
{
    vigil_error_t local;
    return expfmt_validate(text, strlen(text), f, m, NULL, err != NULL ? err : &local);
}

static void assert_valid(const char *text, expfmt_format_t f, expfmt_mode_t m)
{
    vigil_error_t err;
    int rc = check(text, f, m, &err);
    if (rc != 0)
        fail_msg("expected valid, got %s for:\n%s", err.message, text);
}

/* Asserts the input is rejected with exactly `msg` (or with a message starting with it when
 * msg ends in "..."). */
static void assert_error(const char *text, expfmt_format_t f, expfmt_mode_t m, const char *msg)
{
    vigil_error_t err;
    int rc = check(text, f, m, &err);
    if (rc == 0)
        fail_msg("expected \"%s\", but it was accepted:\n%s", msg, text);
    size_t ml = strlen(msg);
    if (ml > 3 && strcmp(msg + ml - 3, "...") == 0) {
        if (strncmp(err.message, msg, ml - 3) != 0)
            fail_msg("expected \"%s\", got \"%s\"", msg, err.message);
    } else if (strcmp(err.message, msg) != 0) {
        fail_msg("expected \"%s\", got \"%s\"", msg, err.message);
    }
}

/* Parses `text` and returns its first sample (pointers valid while *p lives). */
static void first_sample(expfmt_parser_t *p, const char *text, expfmt_format_t f,
                         expfmt_mode_t m, expfmt_entry_t *e)
{
    vigil_error_t err;
    assert_int_equal(expfmt_parser_init(p, text, strlen(text), f, m), 0);
    for (;;) {
        int rc = expfmt_next(p, e, &err);
        if (rc != 0)
            fail_msg("%s", err.message);
        assert_int_not_equal(e->kind, EXPFMT_ENTRY_END);
        if (e->kind == EXPFMT_ENTRY_SAMPLE)
            return;
    }
}

static bool str_is(expfmt_str_t s, const char *want, size_t n)
{
    return s.len == n && memcmp(s.ptr, want, n) == 0;
}

#define OM EXPFMT_OPENMETRICS
#define TEXT EXPFMT_TEXT
#define STRICT EXPFMT_STRICT
#define LENIENT EXPFMT_LENIENT

/* ---- tests ---- */

static void test_escaping(void **state)
{
    (void)state;
    expfmt_parser_t p;
    expfmt_entry_t e;
    /* OpenMetrics: \" \\ \n unescape; any other \X stays as written. */
    first_sample(&p, "a{l=\"x\\\"y\\\\z\\nw\\q\",m=\"plain\"} 1\n# EOF\n", OM, STRICT, &e);
    assert_int_equal(e.nlabels, 2);
    assert_true(str_is(e.labels[0].value, "x\"y\\z\nw\\q", 9));
    assert_true(str_is(e.labels[1].value, "plain", 5));
    /* A value without escapes points into the input itself. */
    assert_true(e.labels[1].value.ptr > p.data && e.labels[1].value.ptr < p.data + p.len);
    expfmt_parser_destroy(&p);

    /* A NUL byte is a valid label value character in OpenMetrics. */
    static const char nul[] = "a{l=\"x\0y\"} 1\n# EOF\n";
    assert_int_equal(expfmt_validate(nul, sizeof(nul) - 1, OM, STRICT, NULL, NULL), 0);

    /* Text: strict (prometheus/common) rejects unknown escapes, lenient keeps them. */
    assert_error("a{l=\"x\\q\"} 1\n", TEXT, STRICT,
                 "1:7: invalid escape sequence '\\q' in the value of label \"l\" (only \\\\, "
                 "\\\" and \\n are allowed)");
    first_sample(&p, "a{l=\"x\\q\\n\"} 1\n", TEXT, LENIENT, &e);
    assert_true(str_is(e.labels[0].value, "x\\q\n", 4));
    expfmt_parser_destroy(&p);

    /* HELP: OpenMetrics unescapes \" too; the text format only \\ and \n. */
    const char *om_help = "# HELP a x\\\"y\\\\z\\n\n# EOF\n";
    assert_int_equal(expfmt_parser_init(&p, om_help, strlen(om_help), OM, STRICT), 0);
    assert_int_equal(expfmt_next(&p, &e, NULL), 0);
    assert_int_equal(e.kind, EXPFMT_ENTRY_HELP);
    assert_true(str_is(e.text, "x\"y\\z\n", 6));
    expfmt_parser_destroy(&p);
    const char *text_help = "# HELP a x\\\"y\\\\z\\n\n";
    assert_int_equal(expfmt_parser_init(&p, text_help, strlen(text_help), TEXT, LENIENT), 0);
    assert_int_equal(expfmt_next(&p, &e, NULL), 0);
    assert_true(str_is(e.text, "x\\\"y\\z\n", 7));
    expfmt_parser_destroy(&p);
    assert_error(text_help, TEXT, STRICT, "1:11: invalid escape sequence '\\\"' in HELP text...");
    /* An unescaped quote in OpenMetrics HELP breaks the ABNF's escaped-string. */
    assert_error("# HELP a say \"hi\"\n# EOF\n", OM, STRICT,
                 "1:14: a '\"' in HELP text must be escaped as \\\"");
    assert_valid("# HELP a say \"hi\"\n# EOF\n", OM, LENIENT);

    /* Label values must be UTF-8 in every mode. */
    assert_error("a{l=\"\xff\"} 1\n", TEXT, LENIENT,
                 "1:6: the value of label \"l\" is not valid UTF-8");
}

static void test_error_positions(void **state)
{
    (void)state;
    assert_error("# TYPE up gauge\nup{job\"x\"} 1\n", TEXT, LENIENT,
                 "2:7: expected '=' after label name \"job\", found '\"'");
    assert_error("up 1\nup{job=\"x\" 1\n", TEXT, STRICT,
                 "2:12: expected ',' or '}' after the value of label \"job\", found '1'");
    /* Columns count code points, not bytes: "é" is one column. */
    assert_error("a{l=\"\xc3\xa9\xc3\xa9\",m} 1\n# EOF\n", OM, STRICT,
                 "1:11: expected '=' after label name \"m\", found '}'");
    assert_error("a 1\nb x\n", TEXT, LENIENT, "2:3: invalid value \"x\"");
    assert_error("a 1 2 3\n", TEXT, LENIENT, "1:7: unexpected text after the timestamp");
    assert_error("a 1\n\n# EOF\n", OM, LENIENT, "2:1: blank line (OpenMetrics has none)");
    assert_error("a 1\n# EOF\nb 2\n", OM, LENIENT,
                 "3:1: text after '# EOF' (it must be the last line)");
    assert_error("a 1\n", OM, LENIENT, "2:1: missing '# EOF' at the end of the exposition");
    assert_error("a{l=\"x} 1\n", TEXT, LENIENT,
                 "1:5: the value of label \"l\" has no closing '\"' on this line");
    /* A whole-metric-point check points at where the point started. */
    assert_error("# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_count 0\nh_sum 0\n# EOF\n", OM,
                 STRICT, "2:1: histogram \"h\": the metric point starting here has no "
                         "le=\"+Inf\" bucket");

    /* The parser stops at the first error and says how many samples came before it. */
    const char *in = "a 1\nb 2\nc{ 3\nd 4\n";
    expfmt_parser_t p;
    expfmt_entry_t e;
    vigil_error_t err;
    assert_int_equal(expfmt_parser_init(&p, in, strlen(in), TEXT, LENIENT), 0);
    int rc;
    while ((rc = expfmt_next(&p, &e, &err)) == 0 && e.kind != EXPFMT_ENTRY_END)
        ;
    assert_int_equal(rc, VIGIL_EPARSE);
    assert_int_equal(expfmt_samples_read(&p), 2);
    /* And it keeps returning that error. */
    vigil_error_t again;
    assert_int_equal(expfmt_next(&p, &e, &again), VIGIL_EPARSE);
    assert_string_equal(again.message, err.message);
    expfmt_parser_destroy(&p);
}

static void test_lenient_vs_strict(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        expfmt_format_t format;
        bool strict_ok, lenient_ok;
    } cases[] = {
        /* text: prometheus/common's family rules only in strict mode */
        { "# HELP a x\n# HELP a y\na 1\n", TEXT, false, true },
        { "# TYPE a gauge\n# TYPE a gauge\na 1\n", TEXT, false, true },
        { "a 1\n# TYPE a gauge\n", TEXT, false, true },
        { "a{__name__=\"b\"} 1\n", TEXT, false, true },
        { "# TYPE s summary\ns 1\n", TEXT, false, true },
        { "# TYPE h histogram\nh_bucket 1\n", TEXT, false, true },
        { "# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", TEXT, false, true },
        /* text: what both accept */
        { "  a { l = \"v\" , } 1 -5  \n\n# comment\n#TYPE b counter\nb 2\n", TEXT, true, true },
        { "a 1\nb 2\na 3\n", TEXT, true, true }, /* families may come back */
        /* text: what both reject */
        { "a{l=\"1\",l=\"2\"} 1\n", TEXT, false, false },
        { "# TYPE a gaugehistogram\n", TEXT, false, false },
        { "a 1 1.5\n", TEXT, false, false },
        { "a 0x1p3\n", TEXT, false, false },
        { "a 1_000\n", TEXT, false, false },
        /* OpenMetrics: semantics only in strict mode */
        { "# TYPE a counter\na_total -1\n# EOF\n", OM, false, true },
        { "# TYPE a gauge\na 1 # {x=\"y\"} 1\n# EOF\n", OM, false, true },
        { "# TYPE a gauge\n# TYPE a gauge\n# EOF\n", OM, false, true },
        { "a 1\nb 1\na 1\n# EOF\n", OM, false, true },
        { "a{_x=\"1\"} 1\n# EOF\n", OM, false, true },
        { "# TYPE a info\na_info 2\n# EOF\n", OM, false, true },
        { "# TYPE h histogram\nh_bucket{le=\"2\"} 0\nh_bucket{le=\"1\"} 0\n# EOF\n", OM, false,
          true },
        /* OpenMetrics: syntax in both modes */
        { "a  1\n# EOF\n", OM, false, false },
        { "a 1 \n# EOF\n", OM, false, false },
        { "a{l=\"v\",} 1\n# EOF\n", OM, false, false },
        { "# comment\n# EOF\n", OM, false, false },
        { "# UNIT a_bytes seconds\n# EOF\n", OM, false, false },
        { "a 1\n# EOF\n\n", OM, false, false },
        /* OpenMetrics: valid either way */
        { "# TYPE a counter\n# UNIT a \n# HELP a h\na_total 1 # {t=\"x\"} 2 3\n# EOF", OM, true,
          true },
        { "# TYPE a gauge\na{x=\"1\"} 1 0\na{x=\"1\"} 2 0\na{x=\"2\"} 3\n# EOF\n", OM, true,
          true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vigil_error_t err;
        int s = check(cases[i].text, cases[i].format, STRICT, &err);
        if ((s == 0) != cases[i].strict_ok)
            fail_msg("case %zu strict: expected %s, got %s (%s)", i,
                     cases[i].strict_ok ? "valid" : "invalid", s == 0 ? "valid" : "invalid",
                     s == 0 ? "" : err.message);
        int l = check(cases[i].text, cases[i].format, LENIENT, &err);
        if ((l == 0) != cases[i].lenient_ok)
            fail_msg("case %zu lenient: expected %s, got %s (%s)", i,
                     cases[i].lenient_ok ? "valid" : "invalid", l == 0 ? "valid" : "invalid",
                     l == 0 ? "" : err.message);
    }
}

static void test_timestamps(void **state)
{
    (void)state;
    expfmt_parser_t p;
    expfmt_entry_t e;
    first_sample(&p, "a 1 -1500\n", TEXT, STRICT, &e);
    assert_true(e.has_timestamp);
    assert_int_equal(e.timestamp_ms, -1500);
    expfmt_parser_destroy(&p);
    first_sample(&p, "a 1\n", TEXT, STRICT, &e);
    assert_false(e.has_timestamp);
    expfmt_parser_destroy(&p);
    /* OpenMetrics timestamps are seconds; Prometheus truncates seconds * 1000. */
    first_sample(&p, "a 1 1.5\n# EOF\n", OM, STRICT, &e);
    assert_int_equal(e.timestamp_ms, 1500);
    expfmt_parser_destroy(&p);
    first_sample(&p, "a 1 1520879607.789\n# EOF\n", OM, STRICT, &e);
    assert_int_equal(e.timestamp_ms, 1520879607789);
    expfmt_parser_destroy(&p);
    /* Past int64 milliseconds: clamped, not wrapped. */
    first_sample(&p, "a 1 12345678901234567890.1\n# EOF\n", OM, STRICT, &e);
    assert_true(e.timestamp_ms == INT64_MAX);
    expfmt_parser_destroy(&p);
    assert_valid("a 1 9223372036854775807\n", TEXT, STRICT);
    assert_error("a 1 9223372036854775808\n", TEXT, LENIENT,
                 "1:5: invalid timestamp \"9223372036854775808\"...");
    assert_error("a 1 NaN\n# EOF\n", OM, LENIENT, "1:5: invalid timestamp \"NaN\"");
    assert_error("a 1 +Inf\n# EOF\n", OM, LENIENT, "1:5: invalid timestamp \"+Inf\"");
    /* Within one metric: all or none, and never backwards (strict OpenMetrics). */
    assert_error("a 1 2\na 1 1\n# EOF\n", OM, STRICT, "2:1: \"a\": timestamp 1 goes back from 2 "
                 "within one metric");
    assert_error("a 1\na 1 1\n# EOF\n", OM, STRICT, "2:1: \"a\": a metric's samples must all "
                 "have timestamps or none");
    assert_valid("a 1 2\na 1 1\n# EOF\n", OM, LENIENT);
}

static void test_exemplars(void **state)
{
    (void)state;
    expfmt_parser_t p;
    expfmt_entry_t e;
    first_sample(&p, "# TYPE a counter\na_total{x=\"1\"} 5 7 # {trace_id=\"ab\\\"c\"} 0.5 9.25\n"
                 "# EOF\n", OM, STRICT, &e);
    assert_true(str_is(e.family, "a", 1));
    assert_int_equal(e.type, EXPFMT_TYPE_COUNTER);
    assert_int_equal(e.nlabels, 1);
    assert_true(e.has_exemplar);
    assert_int_equal(e.exemplar_nlabels, 1);
    assert_true(str_is(e.exemplar_labels[0].name, "trace_id", 8));
    assert_true(str_is(e.exemplar_labels[0].value, "ab\"c", 4));
    assert_true(e.exemplar_value == 0.5);
    assert_true(e.exemplar_has_timestamp);
    assert_int_equal(e.exemplar_timestamp_ms, 9250);
    assert_int_equal(e.timestamp_ms, 7000);
    expfmt_parser_destroy(&p);
    /* Empty exemplar labels are fine; 128 code points are, 129 are not. */
    assert_valid("# TYPE a counter\na_total 1 # {} 1\n# EOF\n", OM, STRICT);
    char in[512], v[200];
    memset(v, 'x', sizeof(v));
    snprintf(in, sizeof(in), "# TYPE a counter\na_total 1 # {t=\"%.*s\"} 1\n# EOF\n", 127, v);
    assert_valid(in, OM, STRICT);
    snprintf(in, sizeof(in), "# TYPE a counter\na_total 1 # {t=\"%.*s\"} 1\n# EOF\n", 128, v);
    assert_error(in, OM, STRICT, "2:1: the exemplar's labels have 129 code points; at most 128 "
                 "are allowed");
    assert_valid(in, OM, LENIENT);
    /* Only buckets and totals carry them. */
    assert_error("# TYPE h histogram\nh_count 1 # {} 1\n# EOF\n", OM, STRICT,
                 "2:1: \"h_count\" has an exemplar; only histogram buckets and counter totals "
                 "may");
    /* Exemplar syntax. */
    assert_error("# TYPE a counter\na_total 1 #{} 1\n# EOF\n", OM, LENIENT,
                 "2:12: expected ' ' after the exemplar's '#', found '{'");
    assert_error("# TYPE a counter\na_total 1 # {} 1 \n# EOF\n", OM, LENIENT,
                 "2:18: expected the exemplar's timestamp after ' '");
}

static void test_nan_inf(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        double want; /* NAN for NaN */
    } ok[] = {
        { "NaN", NAN },       { "nan", NAN },         { "+Inf", INFINITY },
        { "-Inf", -INFINITY }, { "inf", INFINITY },   { "Infinity", INFINITY },
        { "-infinity", -INFINITY }, { "1e3", 1000 },  { "1E-3", 0.001 },
        { ".5", 0.5 },        { "5.", 5 },            { "-0", -0.0 },
        { "0000001.2e-1", 0.12 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char in[64];
        snprintf(in, sizeof(in), "a %s\n# EOF\n", ok[i].v);
        expfmt_parser_t p;
        expfmt_entry_t e;
        first_sample(&p, in, OM, STRICT, &e);
        if (isnan(ok[i].want))
            assert_true(isnan(e.value));
        else if (!(e.value == ok[i].want && signbit(e.value) == signbit(ok[i].want)))
            fail_msg("%s parsed as %.17g", ok[i].v, e.value);
        expfmt_parser_destroy(&p);
    }
    static const char *const bad[] = { "-NaN", "+nan", "0x1", "0x1p3", "1_0", "1e", ".", "e5",
                                       "1e400", "Inff", "--1", "1.2.3", "in" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char in[64];
        snprintf(in, sizeof(in), "a %s\n", bad[i]);
        if (check(in, TEXT, LENIENT, NULL) == 0)
            fail_msg("value %s was accepted", bad[i]);
    }
    /* Counter-like NaN is rejected by strict OpenMetrics; a gauge may be NaN. */
    assert_valid("# TYPE g gauge\ng NaN\n# EOF\n", OM, STRICT);
    assert_error("# TYPE c counter\nc_total NaN\n# EOF\n", OM, STRICT,
                 "2:1: \"c_total\" is NaN, which counter-like values must not be");
    /* le="+Inf" must be spelled so; "Inf" is a number but not the canonical bucket. */
    assert_error("# TYPE h histogram\nh_bucket{le=\"Inf\"} 1\n# EOF\n", OM, STRICT,
                 "2:14: invalid le=\"Inf\" (a number, not NaN; infinity is +Inf)");
}

/* The fast path and strtod must agree on every value the fast path takes. */
static void test_number_fast_path(void **state)
{
    (void)state;
    static const char *const vals[] = {
        "0", "1", "123456789012345", "1234567890123456", "0.1", "0.3", "2.675", "1.005",
        "9007199254740993", "0.000000000000000000001", "123.456e7", "1e-10",
        /* longer than the 128-byte stack copy: goes through the heap copy */
        "10000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000000000.5",
        "4.9e-324", "0.12345678901234567890",
    };
    expfmt_parser_t p;
    assert_int_equal(expfmt_parser_init(&p, "", 0, TEXT, LENIENT), 0);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        double got;
        if (!expfmt_parse_number(&p, vals[i], strlen(vals[i]), true, &got))
            fail_msg("%.40s... was rejected", vals[i]);
        double want = strtod(vals[i], NULL);
        if (memcmp(&got, &want, sizeof(got)) != 0)
            fail_msg("%s: %.17g, strtod says %.17g", vals[i], got, want);
    }
    expfmt_parser_destroy(&p);
}

static void test_entries(void **state)
{
    (void)state;
    const char *om = "# TYPE h_seconds histogram\n# UNIT h_seconds seconds\n"
                     "# HELP h_seconds Latency.\n"
                     "h_seconds_bucket{le=\"0.1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 2\n"
                     "h_seconds_count 2\nh_seconds_sum 0.3\nup 1\n# EOF\n";
    expfmt_parser_t p;
    expfmt_entry_t e;
    vigil_error_t err;
    assert_int_equal(expfmt_parser_init(&p, om, strlen(om), OM, STRICT), 0);
    static const expfmt_entry_kind_t kinds[] = {
        EXPFMT_ENTRY_TYPE,   EXPFMT_ENTRY_UNIT,   EXPFMT_ENTRY_HELP,   EXPFMT_ENTRY_SAMPLE,
        EXPFMT_ENTRY_SAMPLE, EXPFMT_ENTRY_SAMPLE, EXPFMT_ENTRY_SAMPLE, EXPFMT_ENTRY_SAMPLE,
        EXPFMT_ENTRY_END,
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (expfmt_next(&p, &e, &err) != 0)
            fail_msg("%s", err.message);
        assert_int_equal(e.kind, kinds[i]);
        assert_int_equal(e.line, i + 1);
        if (i == 0)
            assert_int_equal(e.type, EXPFMT_TYPE_HISTOGRAM);
        if (i == 1)
            assert_true(str_is(e.text, "seconds", 7));
        if (i == 2)
            assert_true(str_is(e.text, "Latency.", 8));
        if (i >= 3 && i <= 6) {
            assert_true(str_is(e.family, "h_seconds", 9));
            assert_int_equal(e.type, EXPFMT_TYPE_HISTOGRAM);
        }
        if (i == 7) {
            assert_true(str_is(e.family, "up", 2));
            assert_int_equal(e.type, EXPFMT_TYPE_UNKNOWN);
        }
    }
    assert_int_equal(expfmt_samples_read(&p), 5);
    assert_int_equal(expfmt_next(&p, &e, &err), 0); /* END again */
    assert_int_equal(e.kind, EXPFMT_ENTRY_END);
    expfmt_parser_destroy(&p);

    /* Text: summary samples get their family from the TYPE line in both modes. */
    const char *text = "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\nother 4\n";
    for (int m = 0; m < 2; m++) {
        assert_int_equal(expfmt_parser_init(&p, text, strlen(text), TEXT, (expfmt_mode_t)m), 0);
        assert_int_equal(expfmt_next(&p, &e, NULL), 0);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(expfmt_next(&p, &e, NULL), 0);
            assert_int_equal(e.kind, EXPFMT_ENTRY_SAMPLE);
            assert_int_equal(e.type, i < 3 ? EXPFMT_TYPE_SUMMARY : EXPFMT_TYPE_UNKNOWN);
            assert_true(i < 3 ? str_is(e.family, "s", 1) : str_is(e.family, "other", 5));
        }
        expfmt_parser_destroy(&p);
    }
}

static void test_content_type(void **state)
{
    (void)state;
    expfmt_format_t f = OM;
    vigil_error_t err;
    assert_int_equal(expfmt_format_from_content_type(NULL, &f, &err), 0);
    assert_int_equal(f, TEXT);
    f = OM;
    assert_int_equal(expfmt_format_from_content_type("text/plain; version=0.0.4; charset=utf-8",
                                                     &f, &err), 0);
    assert_int_equal(f, TEXT);
    assert_int_equal(expfmt_format_from_content_type(
                         "Application/OpenMetrics-Text; version=1.0.0; charset=utf-8", &f, &err),
                     0);
    assert_int_equal(f, OM);
    f = TEXT;
    assert_int_equal(expfmt_format_from_content_type("application/openmetrics-text;"
                                                     "version=\"0.0.1\"", &f, &err), 0);
    assert_int_equal(f, OM);
    assert_int_equal(expfmt_format_from_content_type("application/openmetrics-text; "
                                                     "version=2.0.0", &f, &err), VIGIL_ENOTSUP);
    assert_int_equal(expfmt_format_from_content_type("application/vnd.google.protobuf; "
                                                     "proto=io.prometheus.client.MetricFamily",
                                                     &f, &err), VIGIL_ENOTSUP);
    assert_non_null(strstr(err.message, "not supported"));
}

/* Builds `n` lines of samples in `format`, with escapes so the scratch path runs too. */
static char *make_input(expfmt_format_t format, int n, size_t *len)
{
    buf_t b;
    buf_init(&b, 1 << 24);
    assert_int_equal(buf_puts(&b, "# TYPE req counter\n# HELP req Requests \\\\ total.\n"), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(buf_printf(&b, "req%s{path=\"/a\\\"%d\",code=\"200\"} %d.5 %d%s\n",
                                    format == OM ? "_total" : "", i % 7, i,
                                    1000 + i, format == OM ? " # {id=\"x\"} 1" : ""), 0);
    if (format == OM)
        assert_int_equal(buf_puts(&b, "# EOF\n"), 0);
    return buf_detach(&b, len);
}

static void run_zero_alloc(expfmt_format_t format, expfmt_mode_t mode, int n)
{
    size_t len;
    char *in = make_input(format, n, &len);
    expfmt_parser_t p;
    expfmt_entry_t e;
    vigil_error_t err;
    assert_int_equal(expfmt_parser_init(&p, in, len, format, mode), 0);
    /* Warm-up: the first lines grow the label array and the scratch buffer, and (strict
     * OpenMetrics) the first metrics' grouping sets. */
    int rc = 0;
    for (int i = 0; i < 50 && (rc = expfmt_next(&p, &e, &err)) == 0; i++)
        ;
    assert_int_equal(rc, 0);
    allocations = 0;
    size_t before = expfmt_samples_read(&p);
    while ((rc = expfmt_next(&p, &e, &err)) == 0 && e.kind != EXPFMT_ENTRY_END)
        ;
    if (rc != 0)
        fail_msg("%s", err.message);
    size_t counted = allocations;
    assert_true(expfmt_samples_read(&p) - before > (size_t)n / 2);
    if (counted != 0)
        fail_msg("%zu allocations while parsing %zu samples (%s, %s)", counted,
                 expfmt_samples_read(&p) - before, expfmt_format_name(format),
                 mode == STRICT ? "strict" : "lenient");
    expfmt_parser_destroy(&p);
    free(in);
}

static void test_zero_alloc_per_sample(void **state)
{
    (void)state;
    /* Timestamps increase and the 7 label sets repeat: in strict OpenMetrics that would be
     * interleaving, so there each metric is a run of its own. */
    run_zero_alloc(TEXT, LENIENT, 5000);
    run_zero_alloc(TEXT, STRICT, 5000);
    run_zero_alloc(OM, LENIENT, 5000);
    /* Strict OpenMetrics: one metric, many points - nothing new to remember per sample. */
    size_t len;
    buf_t b;
    buf_init(&b, 1 << 24);
    assert_int_equal(buf_puts(&b, "# TYPE g gauge\n"), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_printf(&b, "g{l=\"a\\\\b\"} %d %d\n", i, i), 0);
    assert_int_equal(buf_puts(&b, "# EOF\n"), 0);
    char *in = buf_detach(&b, &len);
    expfmt_parser_t p;
    expfmt_entry_t e;
    assert_int_equal(expfmt_parser_init(&p, in, len, OM, STRICT), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(expfmt_next(&p, &e, NULL), 0);
    allocations = 0;
    while (expfmt_samples_read(&p) < 5000)
        assert_int_equal(expfmt_next(&p, &e, NULL), 0);
    assert_int_equal(allocations, 0);
    /* The end of a family (here at "# EOF") records its names: once per family, not per
     * sample. */
    assert_int_equal(expfmt_next(&p, &e, NULL), 0);
    assert_int_equal(e.kind, EXPFMT_ENTRY_END);
    expfmt_parser_destroy(&p);
    free(in);
}

static void test_samples_parse(void **state)
{
    (void)state;
    /* The peers' sample expositions (../shared/peers/openmetrics/samples) in their format;
     * lenient always, strict where they follow the specification (alltypes.5mfs.om.txt has a
     * _sum on a histogram with negative buckets, which OpenMetrics 1.0 forbids). */
    static const struct {
        const char *path;
        expfmt_format_t format;
        bool strict_ok;
    } files[] = {
        { "common-expfmt/text", TEXT, true },
        { "promtool/metrics-test.prom", TEXT, true },
        { "prometheus-textparse/alltypes.237mfs.prom.txt", TEXT, true },
        { "prometheus-textparse/alltypes.237mfs.nometa.prom.txt", TEXT, true },
        { "prometheus-textparse/alltypes.5mfs.om.txt", OM, false },
        { "prometheus-textparse/1histogram.om.txt", OM, true },
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "../shared/peers/openmetrics/samples/%s", files[i].path);
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            print_message("skipping %s: not found\n", path);
            continue;
        }
        buf_t b;
        buf_init(&b, 1 << 26);
        char chunk[8192];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            assert_int_equal(buf_append(&b, chunk, n), 0);
        fclose(f);
        vigil_error_t err;
        size_t samples = 0;
        if (expfmt_validate(b.data, b.len, files[i].format, LENIENT, &samples, &err) != 0)
            fail_msg("%s (lenient): %s", path, err.message);
        assert_true(samples > 0);
        int rc = expfmt_validate(b.data, b.len, files[i].format, STRICT, &samples, &err);
        if ((rc == 0) != files[i].strict_ok)
            fail_msg("%s (strict): %s", path, rc == 0 ? "accepted" : err.message);
        buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_lenient_vs_strict),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_exemplars),
        cmocka_unit_test(test_nan_inf),
        cmocka_unit_test(test_number_fast_path),
        cmocka_unit_test(test_entries),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_zero_alloc_per_sample),
        cmocka_unit_test(test_samples_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
