/*
 * expose.c - Prometheus text 0.0.4 and OpenMetrics 1.0.0 exposition, and content negotiation.
 *
 * Everything that does not change between scrapes is rendered once, when it is created:
 * escaped HELP in both dialects (family), each child's label pairs with values escaped
 * (child), histogram "le" and summary "quantile" values in both dialects (family). A scrape
 * is then mostly memcpy of those strings plus one number per line.
 *
 * The two dialects differ in:
 *   - counters: text calls the family "<base>_total" in HELP/TYPE, OpenMetrics "<base>";
 *     samples are "<base>_total" in both. _created samples are not written (OpenMetrics makes
 *     them optional; Prometheus 2.x would store each as a separate series).
 *   - HELP escaping: text escapes \ and newline, OpenMetrics also the double quote.
 *   - le/quantile values: OpenMetrics prints floats as floats ("1.0").
 *   - OpenMetrics ends with "# EOF".
 * Label values are escaped alike (\\, \", \n). Families come in name order, children in
 * creation order, so consecutive scrapes list series identically.
 */
#include "metrics/metrics_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CT_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define CT_OM   "application/openmetrics-text; version=1.0.0; charset=utf-8"

const char *vigil_format_content_type(vigil_format_t fmt)
{
    return fmt == VIGIL_FORMAT_OPENMETRICS ? CT_OM : CT_TEXT;
}

/* ---- numbers --------------------------------------------------------------------------- */

static size_t format_u64(char *out, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

size_t metrics_format_double(char *out, double v)
{
    if (isnan(v)) {
        memcpy(out, "NaN", 4);
        return 3;
    }
    if (isinf(v)) {
        memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
        return 4;
    }
    /* Whole numbers (counts, most gauges) skip printf entirely. */
    if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
        if (v < 0) {
            out[0] = '-';
            return 1 + format_u64(out + 1, (uint64_t)(-(int64_t)v));
        }
        return format_u64(out, (uint64_t)v);
    }
    /* Few decimals (20.01, 0.25): the smallest k for which round(v*10^k)/10^k is v again
     * gives the shortest round-tripping decimal, printed without printf. */
    if (fabs(v) < 1e9) {
        static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6 };
        for (int k = 1; k <= 6; k++) {
            double r = nearbyint(v * p10[k]);
            if (r / p10[k] != v)
                continue;
            size_t n = 0;
            uint64_t m = (uint64_t)fabs(r), scale = (uint64_t)p10[k];
            if (v < 0)
                out[n++] = '-';
            n += format_u64(out + n, m / scale);
            out[n++] = '.';
            uint64_t frac = m % scale;
            for (int d = k - 1; d >= 0; d--, frac /= 10)
                out[n + (size_t)d] = (char)('0' + frac % 10);
            n += (size_t)k;
            out[n] = '\0';
            return n;
        }
    }
    /* Shortest of %.15g..%.17g that reads back as the same double. */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return (size_t)n;
}

/* ---- escaping -------------------------------------------------------------------------- */

int metrics_escape_label(buf_t *b, const char *s)
{
    const char *run = s;
    int rc = 0;
    for (const char *p = s;; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '"')
            esc = "\\\"";
        else if (*p == '\n')
            esc = "\\n";
        else if (*p != '\0')
            continue;
        if (p > run && (rc = buf_append(b, run, (size_t)(p - run))) != 0)
            return rc;
        if (esc == NULL)
            return 0;
        if ((rc = buf_puts(b, esc)) != 0)
            return rc;
        run = p + 1;
    }
}

/* ---- Accept ---------------------------------------------------------------------------- */

/* Trims spaces and tabs around [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

static bool token_is(const char *s, const char *e, const char *tok)
{
    size_t n = strlen(tok);
    return (size_t)(e - s) == n && strncasecmp(s, tok, n) == 0;
}

/*
 * One media range "type/subtype;param=value;q=0.5". Returns the format it selects and its
 * q-value through *q, or -1 for a range we do not serve.
 */
static int parse_range(const char *s, const char *e, double *q)
{
    const char *semi = memchr(s, ';', (size_t)(e - s));
    const char *te = semi != NULL ? semi : e;
    const char *ts = s;
    trim(&ts, &te);
    *q = 1.0;
    const char *version = NULL, *version_end = NULL;
    for (const char *p = semi; p != NULL && p < e;) {
        const char *ps = p + 1;
        const char *pe = memchr(ps, ';', (size_t)(e - ps));
        if (pe == NULL)
            pe = e;
        const char *eq = memchr(ps, '=', (size_t)(pe - ps));
        if (eq != NULL) {
            const char *ks = ps, *ke = eq, *vs = eq + 1, *ve = pe;
            trim(&ks, &ke);
            trim(&vs, &ve);
            if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
                vs++;
                ve--;
            }
            if (token_is(ks, ke, "q")) {
                char num[16];
                size_t n = (size_t)(ve - vs);
                if (n == 0 || n >= sizeof(num))
                    return -1;
                memcpy(num, vs, n);
                num[n] = '\0';
                char *end;
                double v = strtod(num, &end);
                if (*end != '\0' || !(v >= 0 && v <= 1))
                    return -1;
                *q = v;
            } else if (token_is(ks, ke, "version")) {
                version = vs;
                version_end = ve;
            }
        }
        p = pe;
    }
    if (token_is(ts, te, "application/openmetrics-text")) {
        if (version != NULL && !token_is(version, version_end, "1.0.0") &&
            !token_is(version, version_end, "0.0.1"))
            return -1;
        return VIGIL_FORMAT_OPENMETRICS;
    }
    if (token_is(ts, te, "text/plain")) {
        if (version != NULL && !token_is(version, version_end, "0.0.4"))
            return -1;
        return VIGIL_FORMAT_TEXT;
    }
    if (token_is(ts, te, "*/*") || token_is(ts, te, "text/*"))
        return VIGIL_FORMAT_TEXT;
    if (token_is(ts, te, "application/*"))
        return VIGIL_FORMAT_OPENMETRICS;
    return -1;
}

vigil_format_t vigil_format_from_accept(const char *accept)
{
    if (accept == NULL)
        return VIGIL_FORMAT_TEXT;
    double best_q = 0.0;
    vigil_format_t best = VIGIL_FORMAT_TEXT;
    const char *s = accept;
    for (;;) {
        const char *e = strchr(s, ',');
        const char *end = e != NULL ? e : s + strlen(s);
        double q;
        int f = parse_range(s, end, &q);
        if (f >= 0 && q > 0 &&
            (q > best_q || (q == best_q && f == VIGIL_FORMAT_OPENMETRICS))) {
            best_q = q;
            best = (vigil_format_t)f;
        }
        if (e == NULL)
            break;
        s = e + 1;
    }
    return best;
}

/* ---- writing --------------------------------------------------------------------------- */

typedef struct writer {
    buf_t         *b;
    bool           om;
    int            rc;
} writer_t;

/*
 * One sample line: name suffix {labels[,extra="value"]} number. The line is assembled in
 * place after a single reservation, which is what keeps a 10k-series scrape near memcpy speed.
 */
static void put_sample(writer_t *w, const vigil_family_t *f, const char *suffix,
                       const metrics_child_t *c, const char *extra, const char *extra_val,
                       const char *num, size_t num_len)
{
    if (w->rc != 0)
        return;
    size_t name_len = strlen(f->name), suf_len = strlen(suffix);
    size_t extra_len = extra != NULL ? strlen(extra) + strlen(extra_val) + 4 : 0;
    size_t need = name_len + suf_len + c->labels_len + extra_len + num_len + 4;
    if ((w->rc = buf_reserve(w->b, need)) != 0)
        return;
    char *p = w->b->data + w->b->len;
    memcpy(p, f->name, name_len);
    p += name_len;
    memcpy(p, suffix, suf_len);
    p += suf_len;
    if (c->labels_len > 0 || extra != NULL) {
        *p++ = '{';
        memcpy(p, c->labels, c->labels_len);
        p += c->labels_len;
        if (extra != NULL) {
            if (c->labels_len > 0)
                *p++ = ',';
            size_t n = strlen(extra);
            memcpy(p, extra, n);
            p += n;
            *p++ = '=';
            *p++ = '"';
            n = strlen(extra_val);
            memcpy(p, extra_val, n);
            p += n;
            *p++ = '"';
        }
        *p++ = '}';
    }
    *p++ = ' ';
    memcpy(p, num, num_len);
    p += num_len;
    *p++ = '\n';
    *p = '\0';
    w->b->len = (size_t)(p - w->b->data);
}

static void put_value(writer_t *w, const vigil_family_t *f, const char *suffix,
                      const metrics_child_t *c, const char *extra, const char *extra_val,
                      double v)
{
    char num[40];
    size_t n = metrics_format_double(num, v);
    put_sample(w, f, suffix, c, extra, extra_val, num, n);
}

static void put_u64(writer_t *w, const vigil_family_t *f, const char *suffix,
                    const metrics_child_t *c, const char *extra, const char *extra_val,
                    uint64_t v)
{
    char num[24];
    size_t n = format_u64(num, v);
    put_sample(w, f, suffix, c, extra, extra_val, num, n);
}

static void put_meta(writer_t *w, const vigil_family_t *f)
{
    static const char *const types[] = { "counter", "gauge", "histogram", "summary" };
    const char *suffix = f->type == METRICS_COUNTER && !w->om ? "_total" : "";
    const char *help = w->om ? f->help_om : f->help_text;
    if (w->rc == 0 && help[0] != '\0')
        w->rc = buf_printf(w->b, "# HELP %s%s %s\n", f->name, suffix, help);
    if (w->rc == 0)
        w->rc = buf_printf(w->b, "# TYPE %s%s %s\n", f->name, suffix, types[f->type]);
}

static void put_histogram(writer_t *w, const vigil_family_t *f, const metrics_child_t *c)
{
    char *const *le = w->om ? f->le_om : f->le_text;
    uint64_t cum = 0;
    for (size_t i = 0; i <= f->n_bounds; i++) {
        cum += metrics_cells_sum_u64(c, i);
        put_u64(w, f, "_bucket", c, "le", le[i], cum);
    }
    put_value(w, f, "_sum", c, NULL, NULL, metrics_cells_sum_double(c, f->n_bounds + 1));
    put_u64(w, f, "_count", c, NULL, NULL, cum);
}

static void put_summary(writer_t *w, const vigil_family_t *f, metrics_child_t *c)
{
    double qv[METRICS_MAX_QUANTILES];
    metrics_sketch_quantiles(c->sketch, f->quantiles, f->n_quantiles, qv);
    char *const *ql = w->om ? f->q_om : f->q_text;
    for (size_t i = 0; i < f->n_quantiles; i++)
        put_value(w, f, "", c, "quantile", ql[i], qv[i]);
    put_value(w, f, "_sum", c, NULL, NULL, metrics_cells_sum_double(c, 1));
    put_u64(w, f, "_count", c, NULL, NULL, metrics_cells_sum_u64(c, 0));
}

static void put_family(writer_t *w, vigil_family_t *f)
{
    pthread_mutex_lock(&f->mu);
    if (f->n_children == 0)
        goto out_unlock; /* a labelled family nobody used yet: nothing to say */
    put_meta(w, f);
    for (size_t i = 0; i < f->n_children && w->rc == 0; i++) {
        metrics_child_t *c = f->children[i];
        switch (f->type) {
        case METRICS_COUNTER:
            if (c->fn != NULL)
                put_value(w, f, "_total", c, NULL, NULL, c->fn(c->fn_arg));
            else if (metrics_cells_sum_double(c, 1) == 0)
                put_u64(w, f, "_total", c, NULL, NULL, metrics_cells_sum_u64(c, 0));
            else
                put_value(w, f, "_total", c, NULL, NULL,
                          (double)metrics_cells_sum_u64(c, 0) + metrics_cells_sum_double(c, 1));
            break;
        case METRICS_GAUGE:
            put_value(w, f, "", c, NULL, NULL,
                      c->fn != NULL ? c->fn(c->fn_arg)
                                    : vigil_gauge_value((const vigil_gauge_t *)c));
            break;
        case METRICS_HISTOGRAM:
            put_histogram(w, f, c);
            break;
        case METRICS_SUMMARY:
            put_summary(w, f, c);
            break;
        }
    }
out_unlock:
    pthread_mutex_unlock(&f->mu);
}

int metrics_expose_buf(vigil_registry_t *reg, vigil_format_t fmt, buf_t *b, vigil_error_t *err)
{
    writer_t w = { .b = b, .om = fmt == VIGIL_FORMAT_OPENMETRICS, .rc = 0 };
    size_t start = b->len;
    pthread_mutex_lock(&reg->mu);
    for (size_t i = 0; i < reg->n_fams && w.rc == 0; i++)
        put_family(&w, reg->fams[i]);
    pthread_mutex_unlock(&reg->mu);
    if (w.rc == 0 && w.om)
        w.rc = buf_puts(b, "# EOF\n");
    if (w.rc != 0) {
        b->len = start;
        if (b->data != NULL)
            b->data[start] = '\0';
        return vigil_error_set(err, w.rc, "exposition: %s (limit %zu bytes)",
                               vigil_strerror(w.rc), b->max);
    }
    return 0;
}

int vigil_registry_expose(vigil_registry_t *reg, vigil_format_t fmt, char **out,
                          size_t *out_len, vigil_error_t *err)
{
    *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    buf_t b;
    buf_init(&b, reg->max_expose);
    int rc = metrics_expose_buf(reg, fmt, &b, err);
    if (rc != 0) {
        buf_free(&b);
        return rc;
    }
    *out = buf_detach(&b, out_len);
    if (*out == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "exposition: out of memory");
    return 0;
}
