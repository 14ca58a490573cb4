/*
 * test_script.c - interpreter of Prometheus' promqltest `.test` scripts (../shared/peers/DSL.md).
 *
 * A file is split into lines (trimmed; a `#` line counts as blank and ends a block). Commands:
 * `clear`, `load <interval>` / `load_with_nhcb <interval>` (series descriptions into a memstore),
 * and `eval instant at T EXPR` / `eval range from S to E step D EXPR` (plus the deprecated
 * eval_fail/eval_warn/eval_info/eval_ordered) with `expect ...` lines and expected series,
 * scalars or strings. Each eval is reported passed, failed (printed as FILE:LINE: reason) or
 * skipped. Skips come only from rules, printed with their reason:
 *   - the eval expects native-histogram values ({{...}} in its expected lines);
 *   - the engine refused the query as not supported (VIGIL_ENOTSUP: it read native-histogram
 *     samples, or used an experimental feature vigil does not implement).
 * Annotation texts are compared leniently: a `msg:`/`regex:` expectation also matches when the
 * two differ only in the trailing " (line:col)" position (new on Prometheus main after 3.14).
 */
#include "promql/promql_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE ((size_t)64 << 20)

typedef struct line {
    char *s;      /* trimmed, NUL-terminated; "" for blank and comment lines */
    int no;       /* 1-based line number */
} line_t;

typedef struct script {
    const char *path;
    FILE *out;
    bool verbose;
    promql_test_counts_t *counts;
    promql_memstore_t *store;
    promql_engine_t *engine;
    arena_t a;     /* per-eval scratch */
} script_t;

/* ---- series descriptions ---- */

typedef struct sdesc {
    promql_label_t *lbls;
    size_t n_lbls;
    double *v;          /* values; NaN with omitted[i] for `_` */
    bool *omitted;
    bool *hist;
    size_t n;
    bool has_hist;
} sdesc_t;

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Parses "name{a="b", ...}" at p into labels; returns the rest or NULL. */
static const char *parse_metric(arena_t *a, const char *p, sdesc_t *d, char *err, size_t errlen)
{
    promql_label_t *l = arena_alloc(a, 64 * sizeof(*l));
    size_t n = 0, cap = 64;
    const char *start = p;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
        p++;
    if (p > start)
        l[n++] = (promql_label_t){ LABEL_NAME, arena_strndup(a, start, (size_t)(p - start)) };
    if (*p == '{') {
        const char *q = p + 1;
        int depth = 1;
        char quote = 0;
        while (*q && depth > 0) {
            if (quote) {
                if (*q == '\\' && quote != '`' && q[1])
                    q++;
                else if (*q == quote)
                    quote = 0;
            } else if (*q == '"' || *q == '\'' || *q == '`') {
                quote = *q;
            } else if (*q == '{') {
                depth++;
            } else if (*q == '}') {
                depth--;
            }
            q++;
        }
        if (depth != 0) {
            snprintf(err, errlen, "unterminated label set");
            return NULL;
        }
        lexer_t lx;
        lexer_init(&lx, p, (size_t)(q - p));
        token_t t = lexer_next(&lx);   /* { */
        for (;;) {
            t = lexer_next(&lx);
            if (t.type == T_RBRACE)
                break;
            const char *name;
            if (t.type == T_IDENT)
                name = arena_strndup(a, t.text, (size_t)t.len);
            else if (t.type == T_STRING)
                name = promql_unquote(a, t.text, (size_t)t.len);
            else {
                snprintf(err, errlen, "bad label set");
                return NULL;
            }
            token_t eq = lexer_next(&lx);
            const char *value;
            if (eq.type == T_ASSIGN) {
                token_t v = lexer_next(&lx);
                if (v.type != T_STRING || (value = promql_unquote(a, v.text, (size_t)v.len)) == NULL) {
                    snprintf(err, errlen, "bad label value");
                    return NULL;
                }
                eq = lexer_next(&lx);
            } else {
                value = name;       /* {"metric.name"} */
                name = LABEL_NAME;
            }
            if (name == NULL) {
                snprintf(err, errlen, "bad label name");
                return NULL;
            }
            if (n == cap) {
                l = arena_realloc(a, l, cap * sizeof(*l), cap * 2 * sizeof(*l));
                cap *= 2;
            }
            l[n++] = (promql_label_t){ name, value };
            if (eq.type == T_RBRACE)
                break;
            if (eq.type != T_COMMA) {
                snprintf(err, errlen, "bad label set");
                return NULL;
            }
        }
        p = q;
    } else if (p == start) {
        snprintf(err, errlen, "expected a metric");
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (l[i].value[0] != '\0')
            l[k++] = l[i];
    d->lbls = l;
    d->n_lbls = labels_sort(l, k);
    return p;
}

/* Parses one series description line. */
static bool parse_series_desc(arena_t *a, const char *line, sdesc_t *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    const char *p = parse_metric(a, skip_ws(line), d, err, errlen);
    if (p == NULL)
        return false;
    promql_series_values_t vs;
    vigil_error_t verr;
    if (promql_series_values_parse(p, &vs, &verr) != 0) {
        /* the message quotes at most 60 bytes of the item: it fits the callers' 200 */
        snprintf(err, errlen, "%.190s", verr.message);
        return false;
    }
    d->n = vs.n;
    d->v = arena_alloc(a, (vs.n ? vs.n : 1) * sizeof(double));
    d->omitted = arena_alloc(a, vs.n ? vs.n : 1);
    d->hist = arena_alloc(a, vs.n ? vs.n : 1);
    for (size_t i = 0; i < vs.n; i++) {
        d->omitted[i] = vs.kind[i] == PROMQL_SLOT_OMITTED;
        d->hist[i] = vs.kind[i] == PROMQL_SLOT_HISTOGRAM;
        d->v[i] = d->omitted[i] ? NAN : vs.v[i];
        d->has_hist |= d->hist[i];
    }
    promql_series_values_free(&vs);
    return true;
}

/* ---- the file ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static bool parse_dur_tok(const char *s, int64_t *ms)
{
    return promql_parse_duration(s, strlen(s), ms);
}

/* ---- load ---- */

static int cmd_load(script_t *sc, const line_t *lines, size_t n, size_t *i)
{
    const char *hdr = lines[*i].s;
    bool nhcb = strncmp(hdr, "load_with_nhcb", 14) == 0;
    const char *p = skip_ws(hdr + (nhcb ? 14 : 4));
    int64_t interval;
    if (!parse_dur_tok(p, &interval)) {
        fprintf(sc->out, "%s:%d: invalid load interval \"%s\"\n", sc->path, lines[*i].no, p);
        return -1;
    }
    int hdr_line = lines[*i].no;
    (*i)++;
    for (; *i < n && lines[*i].s[0] != '\0'; (*i)++) {
        arena_t a;
        arena_init(&a);
        sdesc_t d;
        char err[200];
        const char *ln = lines[*i].s;
        /* start-timestamp lines (`metric@st ...`) feed ST-aware functions vigil lacks */
        const char *first_sp = strpbrk(ln, " \t");
        if (first_sp != NULL && first_sp - ln >= 3 && strncmp(first_sp - 3, "@st", 3) == 0) {
            arena_free(&a);
            continue;
        }
        if (!parse_series_desc(&a, ln, &d, err, sizeof(err))) {
            fprintf(sc->out, "%s:%d: load (line %d): %s\n", sc->path, lines[*i].no, hdr_line, err);
            arena_free(&a);
            return -1;
        }
        for (size_t k = 0; k < d.n; k++) {
            if (d.omitted[k])
                continue;
            if (promql_memstore_add(sc->store, d.lbls, d.n_lbls, (int64_t)k * interval, d.v[k],
                                    d.hist[k]) != 0) {
                arena_free(&a);
                return VIGIL_ENOMEM;
            }
        }
        /* load_with_nhcb: X_bucket{le} series also become native histograms named X */
        const char *name = NULL;
        for (size_t k = 0; k < d.n_lbls; k++)
            if (strcmp(d.lbls[k].name, LABEL_NAME) == 0)
                name = d.lbls[k].value;
        size_t nl = name ? strlen(name) : 0;
        if (nhcb && name != NULL && nl > 7 && strcmp(name + nl - 7, "_bucket") == 0) {
            promql_label_t *hl = arena_alloc(&a, (d.n_lbls + 1) * sizeof(*hl));
            size_t hn = 0;
            for (size_t k = 0; k < d.n_lbls; k++) {
                if (strcmp(d.lbls[k].name, "le") == 0)
                    continue;
                hl[hn] = d.lbls[k];
                if (strcmp(hl[hn].name, LABEL_NAME) == 0)
                    hl[hn].value = arena_strndup(&a, name, nl - 7);
                hn++;
            }
            for (size_t k = 0; k < d.n; k++)
                if (!d.omitted[k])
                    promql_memstore_add(sc->store, hl, hn, (int64_t)k * interval, 0, true);
        }
        arena_free(&a);
    }
    return 0;
}

/* ---- eval ---- */

typedef struct expect_ann {
    int kind;            /* 0 any, 1 msg, 2 regex */
    const char *text;
} expect_ann_t;

typedef struct eval_spec {
    bool range;
    int64_t t, start, end, step;
    const char *expr;
    bool fail, ordered, no_warn, no_info;
    int fail_kind;       /* 0 any, 1 msg, 2 regex */
    const char *fail_text;
    expect_ann_t warn[16], info[16];
    int n_warn, n_info;
    bool want_warn, want_info;
    bool range_vector;
    int64_t rv_start, rv_end, rv_step;
    bool has_scalar;
    double scalar;
    bool has_string;
    const char *string;
    sdesc_t *series;
    size_t n_series;
    int line;
    bool expects_hist;
} eval_spec_t;

static bool stale_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b == PROMQL_STALE_NAN_BITS;
}

/* util/almost.Equal with epsilon 1e-6 */
static bool almost(double a, double b)
{
    const double min_normal = 2.2250738585072014e-308, eps = 1e-6;
    if (stale_bits(a) || stale_bits(b))
        return stale_bits(a) && stale_bits(b);
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    double absum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || absum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(absum, 1.7976931348623157e308) < eps;
}

static bool re_search(const char *re, const char *s)
{
    char eb[200];
    void *r = promql_regex_compile(re, false, eb, sizeof(eb));
    if (r == NULL)
        return false;
    bool m = promql_regex_match(r, s, NULL, 0);
    promql_regex_free(r);
    return m;
}

/* s without a trailing " (line:col)" */
static char *strip_pos(arena_t *a, const char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == ')') {
        const char *open = strrchr(s, '(');
        if (open != NULL && open > s && open[-1] == ' ') {
            bool ok = true;
            for (const char *p = open + 1; p < s + n - 1 && ok; p++)
                ok = isdigit((unsigned char)*p) || *p == ':';
            if (ok)
                return arena_strndup(a, s, (size_t)(open - 1 - s));
        }
    }
    return arena_strdup(a, s);
}

static bool ann_match(arena_t *a, const expect_ann_t *x, const char *got)
{
    if (x->kind == 0)
        return true;
    if (x->kind == 1)
        return strcmp(x->text, got) == 0 ||
               strcmp(strip_pos(a, x->text), strip_pos(a, got)) == 0;
    return re_search(x->text, got) || re_search(strip_pos(a, x->text), strip_pos(a, got));
}

static const char *check_anns(arena_t *a, const char *what, bool want, const expect_ann_t *x,
                              int nx, bool none, const char *const *got, size_t ng)
{
    if (none && ng > 0)
        return arena_printf(a, "expected no %s annotations, got \"%s\"", what, got[0]);
    if (!want)
        return NULL;
    if (ng == 0)
        return arena_printf(a, "expected %s annotations, got none", what);
    for (int i = 0; i < nx; i++) {
        bool ok = false;
        for (size_t j = 0; j < ng && !ok; j++)
            ok = ann_match(a, &x[i], got[j]);
        if (!ok)
            return arena_printf(a, "no %s annotation matches \"%s\" (got \"%s\")", what,
                                x[i].text ? x[i].text : "", got[0]);
    }
    for (size_t j = 0; j < ng; j++) {
        bool ok = false;
        for (int i = 0; i < nx && !ok; i++)
            ok = ann_match(a, &x[i], got[j]);
        if (!ok)
            return arena_printf(a, "unexpected %s annotation \"%s\"", what, got[j]);
    }
    return NULL;
}

static const char *fmt_labels(arena_t *a, promql_labels_t l)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    labels_format(&b, l);
    char *s = arena_strdup(a, b.data != NULL ? b.data : "{}");
    buf_free(&b);
    return s;
}

static const sdesc_t *find_expected(const eval_spec_t *ev, promql_labels_t l, bool *used)
{
    for (size_t i = 0; i < ev->n_series; i++)
        if (!used[i] && labels_equal((promql_labels_t){ ev->series[i].lbls, ev->series[i].n_lbls }, l)) {
            used[i] = true;
            return &ev->series[i];
        }
    return NULL;
}

/* Compares a matrix with expected series whose k-th value belongs to from + k*step. */
static const char *cmp_matrix(arena_t *a, const eval_spec_t *ev, const promql_series_t *m,
                              size_t n, int64_t from, int64_t step)
{
    bool *used = arena_alloc(a, ev->n_series + 1);
    for (size_t i = 0; i < n; i++) {
        const sdesc_t *d = find_expected(ev, m[i].labels, used);
        if (d == NULL)
            return arena_printf(a, "unexpected series %s", fmt_labels(a, m[i].labels));
        size_t want = 0;
        for (size_t k = 0; k < d->n; k++)
            want += !d->omitted[k];
        if (want != m[i].n)
            return arena_printf(a, "series %s: expected %zu points, got %zu",
                                fmt_labels(a, m[i].labels), want, m[i].n);
        size_t p = 0;
        for (size_t k = 0; k < d->n; k++) {
            if (d->omitted[k])
                continue;
            int64_t ts = from + (int64_t)k * step;
            if (m[i].points[p].t != ts)
                return arena_printf(a, "series %s: expected a point at %lld, got one at %lld",
                                    fmt_labels(a, m[i].labels), (long long)ts,
                                    (long long)m[i].points[p].t);
            if (!almost(d->v[k], m[i].points[p].v))
                return arena_printf(a, "series %s at %lld: expected %.17g, got %.17g",
                                    fmt_labels(a, m[i].labels), (long long)ts, d->v[k],
                                    m[i].points[p].v);
            p++;
        }
    }
    for (size_t i = 0; i < ev->n_series; i++)
        if (!used[i])
            return arena_printf(a, "expected series %s not in the result",
                                fmt_labels(a, (promql_labels_t){ ev->series[i].lbls,
                                                                 ev->series[i].n_lbls }));
    return NULL;
}

static const char *cmp_result(arena_t *a, const eval_spec_t *ev, const promql_result_t *r)
{
    if (ev->has_scalar) {
        if (r->type != PROMQL_VALUE_SCALAR)
            return "expected a scalar result";
        if (!almost(ev->scalar, r->scalar))
            return arena_printf(a, "expected scalar %.17g, got %.17g", ev->scalar, r->scalar);
        return NULL;
    }
    if (ev->has_string) {
        if (r->type != PROMQL_VALUE_STRING)
            return "expected a string result";
        if (strcmp(ev->string, r->string) != 0)
            return arena_printf(a, "expected string \"%s\", got \"%s\"", ev->string, r->string);
        return NULL;
    }
    if (r->type == PROMQL_VALUE_MATRIX) {
        if (ev->range)
            return cmp_matrix(a, ev, r->matrix, r->n_matrix, ev->start, ev->step);
        if (!ev->range_vector && r->n_matrix > 0)
            return "got a range vector without `expect range vector`";
        return cmp_matrix(a, ev, r->matrix, r->n_matrix, ev->rv_start, ev->rv_step);
    }
    if (r->type == PROMQL_VALUE_SCALAR || r->type == PROMQL_VALUE_STRING)
        return "expected a vector, got a scalar or string";
    if (r->n_vector != ev->n_series)
        return arena_printf(a, "expected %zu samples, got %zu", ev->n_series, r->n_vector);
    bool *used = arena_alloc(a, ev->n_series + 1);
    for (size_t i = 0; i < r->n_vector; i++) {
        const sdesc_t *d;
        if (ev->ordered) {
            d = &ev->series[i];
            if (!labels_equal((promql_labels_t){ d->lbls, d->n_lbls }, r->vector[i].labels))
                return arena_printf(a, "expected %s at position %zu, got %s",
                                    fmt_labels(a, (promql_labels_t){ d->lbls, d->n_lbls }), i + 1,
                                    fmt_labels(a, r->vector[i].labels));
        } else {
            d = find_expected(ev, r->vector[i].labels, used);
            if (d == NULL)
                return arena_printf(a, "unexpected sample %s %.17g",
                                    fmt_labels(a, r->vector[i].labels), r->vector[i].v);
        }
        if (d->n != 1)
            return arena_printf(a, "expected series %s has %zu values; an instant result has one",
                                fmt_labels(a, r->vector[i].labels), d->n);
        if (!almost(d->v[0], r->vector[i].v))
            return arena_printf(a, "%s: expected %.17g, got %.17g",
                                fmt_labels(a, r->vector[i].labels), d->v[0], r->vector[i].v);
    }
    return NULL;
}

static void report(script_t *sc, const eval_spec_t *ev, int status, const char *why)
{
    if (status == 0) {
        sc->counts->passed++;
        if (sc->verbose)
            fprintf(sc->out, "%s:%d: ok: %s\n", sc->path, ev->line, ev->expr);
    } else if (status == 1) {
        sc->counts->failed++;
        fprintf(sc->out, "%s:%d: FAIL: %s: %s\n", sc->path, ev->line, ev->expr, why);
    } else {
        sc->counts->skipped++;
        fprintf(sc->out, "%s:%d: skipped (%s): %s\n", sc->path, ev->line, why, ev->expr);
    }
}

static void run_eval(script_t *sc, eval_spec_t *ev)
{
    arena_t *a = &sc->a;
    if (ev->expects_hist) {
        report(sc, ev, 2, "rule: expects native histogram values, not supported");
        return;
    }
    promql_storage_t st = promql_memstore_storage(sc->store);
    promql_result_t *r = NULL;
    vigil_error_t err;
    vigil_error_clear(&err);
    int rc = ev->range ? promql_query_range(sc->engine, &st, ev->expr, ev->start, ev->end,
                                            ev->step, NULL, &r, &err)
                       : promql_query_instant(sc->engine, &st, ev->expr, ev->t, NULL, &r, &err);
    if (rc == VIGIL_ENOTSUP) {
        report(sc, ev, 2, arena_printf(a, "rule: not supported: %s", err.message));
        return;
    }
    if (rc == VIGIL_EPARSE && !ev->fail) {
        report(sc, ev, 1, arena_printf(a, "parse error (broken test or parser bug): %s",
                                       err.message));
        return;
    }
    if (rc != 0) {
        if (!ev->fail) {
            report(sc, ev, 1, arena_printf(a, "unexpected error: %s", err.message));
            return;
        }
        if (ev->fail_kind == 1 && strcmp(ev->fail_text, err.message) != 0) {
            report(sc, ev, 1, arena_printf(a, "expected error \"%s\", got \"%s\"", ev->fail_text,
                                           err.message));
            return;
        }
        if (ev->fail_kind == 2 && !re_search(ev->fail_text, err.message)) {
            report(sc, ev, 1, arena_printf(a, "error \"%s\" does not match /%s/", err.message,
                                           ev->fail_text));
            return;
        }
        report(sc, ev, 0, NULL);
        return;
    }
    const char *why = NULL;
    if (ev->fail)
        why = "expected the query to fail, it succeeded";
    if (why == NULL)
        why = cmp_result(a, ev, r);
    if (why == NULL)
        why = check_anns(a, "warning", ev->want_warn, ev->warn, ev->n_warn, ev->no_warn,
                         r->warnings, r->n_warnings);
    if (why == NULL)
        why = check_anns(a, "info", ev->want_info, ev->info, ev->n_info, ev->no_info, r->infos,
                         r->n_infos);
    promql_result_free(r);
    report(sc, ev, why == NULL ? 0 : 1, why);
}

static bool parse_ann(arena_t *a, const char *rest, expect_ann_t *x)
{
    rest = skip_ws(rest);
    if (*rest == '\0') {
        x->kind = 0;
        x->text = NULL;
        return true;
    }
    if (strncmp(rest, "msg:", 4) == 0) {
        x->kind = 1;
        x->text = trim(arena_strdup(a, rest + 4));
        return true;
    }
    if (strncmp(rest, "regex:", 6) == 0) {
        x->kind = 2;
        x->text = trim(arena_strdup(a, rest + 6));
        return true;
    }
    return false;
}

/* Splits "tok rest" at the first whitespace; returns rest or NULL. */
static char *next_tok(arena_t *a, const char *s, char **tok)
{
    s = skip_ws(s);
    const char *e = s;
    while (*e && *e != ' ' && *e != '\t')
        e++;
    *tok = arena_strndup(a, s, (size_t)(e - s));
    return (char *)skip_ws(e);
}

static int cmd_eval(script_t *sc, const line_t *lines, size_t n, size_t *i)
{
    arena_t *a = &sc->a;
    eval_spec_t *ev = arena_alloc(a, sizeof(*ev));
    ev->line = lines[*i].no;
    char *word;
    char *rest = next_tok(a, lines[*i].s, &word);
    for (char *p = word; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(word, "eval_fail") == 0)
        ev->fail = true;
    else if (strcmp(word, "eval_warn") == 0)
        ev->want_warn = true;
    else if (strcmp(word, "eval_info") == 0)
        ev->want_info = true;
    else if (strcmp(word, "eval_ordered") == 0)
        ev->ordered = true;
    char *kind;
    rest = next_tok(a, rest, &kind);
    const char *bad = NULL;
    if (strcmp(kind, "instant") == 0) {
        char *at, *ts;
        rest = next_tok(a, rest, &at);
        rest = next_tok(a, rest, &ts);
        if (strcmp(at, "at") != 0 || !parse_dur_tok(ts, &ev->t))
            bad = "bad instant eval header";
    } else if (strcmp(kind, "range") == 0) {
        char *from, *s, *to, *e, *step, *d;
        rest = next_tok(a, rest, &from);
        rest = next_tok(a, rest, &s);
        rest = next_tok(a, rest, &to);
        rest = next_tok(a, rest, &e);
        rest = next_tok(a, rest, &step);
        rest = next_tok(a, rest, &d);
        ev->range = true;
        if (strcmp(from, "from") != 0 || strcmp(to, "to") != 0 || strcmp(step, "step") != 0 ||
            !parse_dur_tok(s, &ev->start) || !parse_dur_tok(e, &ev->end) ||
            !parse_dur_tok(d, &ev->step) || ev->end < ev->start)
            bad = "bad range eval header";
    } else {
        bad = "bad eval header";
    }
    ev->expr = rest;
    size_t cap = 0;
    (*i)++;
    for (; *i < n && lines[*i].s[0] != '\0' && bad == NULL; (*i)++) {
        const char *ln = lines[*i].s;
        if (strncmp(ln, "expect ", 7) == 0) {
            const char *x = skip_ws(ln + 7);
            if (strncmp(x, "fail", 4) == 0) {
                expect_ann_t f;
                ev->fail = true;
                if (!parse_ann(a, x + 4, &f))
                    bad = "bad expect fail";
                ev->fail_kind = f.kind;
                ev->fail_text = f.text;
            } else if (strncmp(x, "warn", 4) == 0) {
                ev->want_warn = true;
                if (ev->n_warn >= 16 || !parse_ann(a, x + 4, &ev->warn[ev->n_warn++]))
                    bad = "bad expect warn";
            } else if (strncmp(x, "info", 4) == 0) {
                ev->want_info = true;
                if (ev->n_info >= 16 || !parse_ann(a, x + 4, &ev->info[ev->n_info++]))
                    bad = "bad expect info";
            } else if (strcmp(x, "no_warn") == 0) {
                ev->no_warn = true;
            } else if (strcmp(x, "no_info") == 0) {
                ev->no_info = true;
            } else if (strcmp(x, "ordered") == 0) {
                ev->ordered = true;
            } else if (strncmp(x, "range vector", 12) == 0) {
                char *from, *s, *to, *e, *step, *d;
                char *r = next_tok(a, x + 12, &from);
                r = next_tok(a, r, &s);
                r = next_tok(a, r, &to);
                r = next_tok(a, r, &e);
                r = next_tok(a, r, &step);
                r = next_tok(a, r, &d);
                ev->range_vector = true;
                if (!parse_dur_tok(s, &ev->rv_start) || !parse_dur_tok(e, &ev->rv_end) ||
                    !parse_dur_tok(d, &ev->rv_step))
                    bad = "bad expect range vector";
            } else if (strncmp(x, "string", 6) == 0) {
                const char *q = skip_ws(x + 6);
                ev->has_string = true;
                ev->string = promql_unquote(a, q, strlen(q));
                if (ev->string == NULL)
                    bad = "bad expect string";
            } else {
                bad = "unknown expect line";
            }
            continue;
        }
        if (strncmp(ln, "expected_fail_message", 21) == 0 ||
            strncmp(ln, "expected_fail_regexp", 20) == 0) {
            bool re = ln[15] == 'r';
            ev->fail = true;
            ev->fail_kind = re ? 2 : 1;
            ev->fail_text = trim(arena_strdup(a, ln + (re ? 20 : 21)));
            continue;
        }
        double v;
        if (promql_parse_number(ln, strlen(ln), &v)) {
            ev->has_scalar = true;
            ev->scalar = v;
            (*i)++;
            break;
        }
        if (ev->n_series == cap) {
            size_t nc = cap ? cap * 2 : 8;
            ev->series = arena_realloc(a, ev->series, cap * sizeof(sdesc_t), nc * sizeof(sdesc_t));
            cap = nc;
        }
        char err[200];
        if (!parse_series_desc(a, ln, &ev->series[ev->n_series], err, sizeof(err))) {
            fprintf(sc->out, "%s:%d: bad expected series: %s\n", sc->path, lines[*i].no, err);
            bad = "bad expected series";
            break;
        }
        if (ev->series[ev->n_series].has_hist)
            ev->expects_hist = true;
        ev->n_series++;
    }
    /* skip the rest of the block (after a scalar line) */
    while (*i < n && lines[*i].s[0] != '\0')
        (*i)++;
    if (bad != NULL) {
        report(sc, ev, 1, bad);
        return 0;
    }
    run_eval(sc, ev);
    return 0;
}

int promql_test_run_file(const char *path, FILE *out, bool verbose, promql_test_counts_t *counts,
                         vigil_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(errno));
    buf_t b;
    buf_init(&b, MAX_FILE);
    char chunk[65536];
    size_t got;
    int rc = 0;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if ((rc = buf_append(&b, chunk, got)) != 0)
            break;
    fclose(f);
    if (rc != 0) {
        buf_free(&b);
        return vigil_error_set(err, rc, "%s: too large or out of memory", path);
    }
    char *text = b.data != NULL ? b.data : (char *)"";
    size_t nlines = 1;
    for (char *p = text; *p; p++)
        nlines += *p == '\n';
    line_t *lines = calloc(nlines, sizeof(*lines));
    script_t sc = { path, out, verbose, counts, promql_memstore_create(), NULL, { 0 } };
    promql_engine_opts_t eo = { 5 * 60 * 1000, 10000, 100 * 1000, 60 * 1000 };
    sc.engine = promql_engine_create(&eo);
    if (lines == NULL || sc.store == NULL || sc.engine == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
        goto out_free;
    }
    size_t n = 0;
    char *save = text;
    for (int no = 1; save != NULL; no++) {
        char *nl = strchr(save, '\n');
        if (nl != NULL)
            *nl = '\0';
        char *s = trim(save);
        lines[n++] = (line_t){ s[0] == '#' ? (char *)"" : s, no };
        save = nl != NULL ? nl + 1 : NULL;
    }
    for (size_t i = 0; i < n;) {
        const char *s = lines[i].s;
        if (s[0] == '\0') {
            i++;
            continue;
        }
        arena_init(&sc.a);
        if (strncasecmp(s, "clear", 5) == 0 && (s[5] == '\0' || isspace((unsigned char)s[5]))) {
            promql_memstore_clear(sc.store);
            i++;
        } else if (strncasecmp(s, "load", 4) == 0) {
            int lr = cmd_load(&sc, lines, n, &i);
            if (lr != 0) {
                counts->failed++;
                while (i < n && lines[i].s[0] != '\0')
                    i++;
            }
        } else if (strncasecmp(s, "eval", 4) == 0) {
            cmd_eval(&sc, lines, n, &i);
        } else {
            fprintf(out, "%s:%d: invalid command \"%s\"\n", path, lines[i].no, s);
            counts->failed++;
            i++;
        }
        arena_free(&sc.a);
    }
out_free:
    promql_engine_free(sc.engine);
    promql_memstore_free(sc.store);
    free(lines);
    buf_free(&b);
    return rc;
}
