/*
 * functions_range.c - range-vector functions (rate, increase, delta, irate, idelta, deriv,
 * predict_linear, resets, changes, *_over_time, double_exponential_smoothing) and the classic
 * histogram functions (histogram_quantile, histogram_fraction, histogram_quantiles over
 * `le`-labelled buckets), with the arithmetic of Prometheus' functions.go and quantile.go.
 */
#include "promql/promql_int.h"
#include "promql/functions_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void kahan_inc(double inc, double *sum, double *c)
{
    double t = *sum + inc;
    if (isinf(t))
        *c = 0;
    else if (fabs(*sum) >= fabs(inc))
        *c += (*sum - t) + inc;
    else
        *c += (inc - t) + *sum;
    *sum = t;
}

/* Computes one value from a series' points; false drops the series from the output. */
typedef bool (*series_fn_t)(evalctx_t *c, const expr_t *e, const mseries_t *s,
                            const value_t *a, int64_t t, double *out);

static int over_series(evalctx_t *c, const expr_t *e, value_t *a, size_t mi, int64_t t,
                       value_t *o, series_fn_t fn, bool keep_name)
{
    const matrix_t *m = &a[mi].mat;
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, m->n);
    for (size_t i = 0; i < m->n; i++) {
        double v;
        if (m->s[i].n == 0 || !fn(c, e, &m->s[i], a, t, &v))
            continue;
        o->vec.s[o->vec.n++] = (sample_t){ m->s[i].lbls, t, v,
                                           keep_name ? m->s[i].drop_name : true };
    }
    return 0;
}

/* The (start, end] window and range of the matrix argument at evaluation time t. */
static void arg_window(const expr_t *arg, int64_t t, int64_t *start, int64_t *end, int64_t *range)
{
    while (arg->kind == N_PAREN)
        arg = arg->paren.e;
    const timing_t *tm;
    if (arg->kind == N_SUBQUERY) {
        tm = &arg->sq.tm;
        *range = arg->sq.range_ms;
    } else {
        tm = &arg->ms.vs->vs.tm;
        *range = arg->ms.range_ms;
    }
    *end = (tm->at != AT_NONE ? tm->at_ms : t) - tm->offset_ms;
    *start = *end - *range;
}

bool eval_counter_name(promql_labels_t l)
{
    static const char *const sfx[] = { "_total", "_sum", "_count", "_bucket" };
    const char *n = eval_metric_name(l);
    if (n[0] == '\0')
        return true;
    size_t len = strlen(n);
    for (size_t i = 0; i < 4; i++) {
        size_t sl = strlen(sfx[i]);
        if (len >= sl && strcmp(n + len - sl, sfx[i]) == 0)
            return true;
    }
    return false;
}

static bool extrapolated(evalctx_t *c, const expr_t *e, const mseries_t *s, int64_t t,
                         bool counter, bool rate, double *out)
{
    if (s->n < 2)
        return false;
    int64_t start, end, range;
    arg_window(e->call.args[0], t, &start, &end, &range);
    const promql_point_t *p = s->p;
    size_t n = s->n;
    double result = p[n - 1].v - p[0].v;
    if (counter && (s->drops == NULL || s->drops[n - 1] != s->drops[0])) {
        double last = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i].v < last)
                result += last;
            last = p[i].v;
        }
    }
    double to_start = (double)(p[0].t - start) / 1000;
    double to_end = (double)(end - p[n - 1].t) / 1000;
    double sampled = (double)(p[n - 1].t - p[0].t) / 1000;
    double avg = sampled / (double)(n - 1);
    double threshold = avg * 1.1;
    if (to_start >= threshold)
        to_start = avg / 2;
    if (counter) {
        double to_zero = to_start;
        if (result > 0 && p[0].v >= 0)
            to_zero = sampled * (p[0].v / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    if (to_end >= threshold)
        to_end = avg / 2;
    double factor = (sampled + to_start + to_end) / sampled;
    if (rate)
        factor /= (double)range / 1000;
    *out = result * factor;
    return true;
}

/* Runs at every step for every series, so a selector's series carry the answer, computed once
 * per query (mseries_t.counter_name). */
static void counter_info(evalctx_t *c, const expr_t *e, const matrix_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        if (m->s[i].counter_name || m->s[i].n == 0 || eval_counter_name(m->s[i].lbls))
            continue;
        eval_annotate(c, false, e->call.args[0],
                      "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"%s\"",
                      eval_metric_name(m->s[i].lbls));
    }
}

static bool s_rate(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                   int64_t t, double *out)
{
    return extrapolated(c, e, s, t, true, true, out);
}

static bool s_increase(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                       int64_t t, double *out)
{
    return extrapolated(c, e, s, t, true, false, out);
}

static bool s_delta(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                    int64_t t, double *out)
{
    return extrapolated(c, e, s, t, false, false, out);
}

int fr_rate(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    counter_info(c, e, &a[0].mat);
    return over_series(c, e, a, 0, t, o, s_rate, false);
}

int fr_increase(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    counter_info(c, e, &a[0].mat);
    return over_series(c, e, a, 0, t, o, s_increase, false);
}

int fr_delta(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return over_series(c, e, a, 0, t, o, s_delta, false);
}

static bool instant_value(const mseries_t *s, bool rate, double *out)
{
    if (s->n < 2)
        return false;
    promql_point_t prev = s->p[s->n - 2], last = s->p[s->n - 1];
    double v = last.v - prev.v;
    if (rate && last.v < prev.v)
        v = last.v;
    int64_t dt = last.t - prev.t;
    if (dt == 0)
        return false;
    if (rate)
        v /= (double)dt / 1000;
    *out = v;
    return true;
}

static bool s_irate(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                    int64_t t, double *out)
{
    return instant_value(s, true, out);
}

static bool s_idelta(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                     int64_t t, double *out)
{
    return instant_value(s, false, out);
}

int fr_irate(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return over_series(c, e, a, 0, t, o, s_irate, false);
}

int fr_idelta(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return over_series(c, e, a, 0, t, o, s_idelta, false);
}

static void linear_regression(const promql_point_t *p, size_t n, int64_t icpt, double *slope,
                              double *intercept)
{
    double sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init = p[0].v;
    bool constant = true;
    for (size_t i = 0; i < n; i++) {
        if (constant && i > 0 && p[i].v != init)
            constant = false;
        double x = (double)(p[i].t - icpt) / 1e3;
        kahan_inc(x, &sx, &cx);
        kahan_inc(p[i].v, &sy, &cy);
        kahan_inc(x * p[i].v, &sxy, &cxy);
        kahan_inc(x * x, &sx2, &cx2);
    }
    if (constant) {
        if (isinf(init)) {
            *slope = NAN;
            *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init;
        }
        return;
    }
    double dn = (double)n;
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / dn;
    double var = sx2 - sx * sx / dn;
    *slope = cov / var;
    *intercept = sy / dn - *slope * sx / dn;
}

static bool s_deriv(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                    int64_t t, double *out)
{
    if (s->n < 2)
        return false;
    double slope, icpt;
    linear_regression(s->p, s->n, s->p[0].t, &slope, &icpt);
    *out = slope;
    return true;
}

int fr_deriv(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return over_series(c, e, a, 0, t, o, s_deriv, false);
}

static bool s_predict(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                      int64_t t, double *out)
{
    if (s->n < 2)
        return false;
    double slope, icpt;
    linear_regression(s->p, s->n, t, &slope, &icpt);
    *out = slope * a[1].scalar + icpt;
    return true;
}

int fr_predict_linear(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return over_series(c, e, a, 0, t, o, s_predict, false);
}

static bool s_resets(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                     int64_t t, double *out)
{
    double n = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->p[i].v < s->p[i - 1].v)
            n++;
    *out = n;
    return true;
}

static bool s_changes(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                      int64_t t, double *out)
{
    double n = 0;
    for (size_t i = 1; i < s->n; i++) {
        double cur = s->p[i].v, prev = s->p[i - 1].v;
        if (!(cur == prev || (isnan(cur) && isnan(prev))))
            n++;
    }
    *out = n;
    return true;
}

int fr_resets(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return over_series(c, e, a, 0, t, o, s_resets, false);
}

int fr_changes(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return over_series(c, e, a, 0, t, o, s_changes, false);
}

/* ---- *_over_time ---- */

static bool s_avg(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                  int64_t t, double *out)
{
    /* direct mean with compensation until the sum would overflow, then incremental */
    double sum = s->p[0].v, kc = 0, mean = 0, count = 1;
    bool incremental = false;
    for (size_t i = 1; i < s->n; i++) {
        double v = s->p[i].v;
        count++;
        if (!incremental) {
            double ns = sum, nc = kc;
            kahan_inc(v, &ns, &nc);
            if (!isinf(ns)) {
                sum = ns;
                kc = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1);
            kc /= count - 1;
        }
        double q = (count - 1) / count;
        double m = q * mean, k2 = q * kc;
        kahan_inc(v / count, &m, &k2);
        mean = m;
        kc = k2;
    }
    *out = incremental ? mean + kc : (sum + kc) / count;
    return true;
}

static bool s_sum(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                  int64_t t, double *out)
{
    double sum = 0, kc = 0;
    for (size_t i = 0; i < s->n; i++)
        kahan_inc(s->p[i].v, &sum, &kc);
    *out = isinf(sum) ? sum : sum + kc;
    return true;
}

static bool s_count(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                    int64_t t, double *out)
{
    *out = (double)s->n;
    return true;
}

static bool s_min(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                  int64_t t, double *out)
{
    double m = s->p[0].v;
    for (size_t i = 1; i < s->n; i++)
        if (s->p[i].v < m || isnan(m))
            m = s->p[i].v;
    *out = m;
    return true;
}

static bool s_max(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                  int64_t t, double *out)
{
    double m = s->p[0].v;
    for (size_t i = 1; i < s->n; i++)
        if (s->p[i].v > m || isnan(m))
            m = s->p[i].v;
    *out = m;
    return true;
}

static bool s_last(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                   int64_t t, double *out)
{
    *out = s->p[s->n - 1].v;
    return true;
}

static bool s_first(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                    int64_t t, double *out)
{
    *out = s->p[0].v;
    return true;
}

static bool s_present(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                      int64_t t, double *out)
{
    *out = 1;
    return true;
}

static double variance(const mseries_t *s)
{
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (size_t i = 0; i < s->n; i++) {
        double v = s->p[i].v;
        count++;
        double delta = v - (mean + cmean);
        kahan_inc(delta / count, &mean, &cmean);
        kahan_inc(delta * (v - (mean + cmean)), &aux, &caux);
    }
    return (aux + caux) / count;
}

static bool s_stdvar(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                     int64_t t, double *out)
{
    *out = variance(s);
    return true;
}

static bool s_stddev(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                     int64_t t, double *out)
{
    *out = sqrt(variance(s));
    return true;
}

static bool s_quantile(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                       int64_t t, double *out)
{
    double *v = arena_alloc(c->scratch, s->n * sizeof(double));
    for (size_t i = 0; i < s->n; i++)
        v[i] = s->p[i].v;
    *out = promql_quantile(a[0].scalar, v, s->n);
    return true;
}

static bool s_mad(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                  int64_t t, double *out)
{
    double *v = arena_alloc(c->scratch, s->n * sizeof(double));
    for (size_t i = 0; i < s->n; i++) {
        v[i] = s->p[i].v;
        if (isnan(v[i])) {
            *out = NAN;   /* a NaN sample makes the deviation undefined */
            return true;
        }
    }
    double med = promql_quantile(0.5, v, s->n);
    for (size_t i = 0; i < s->n; i++)
        v[i] = fabs(s->p[i].v - med);
    *out = promql_quantile(0.5, v, s->n);
    return true;
}

/* timestamps (seconds) of the first/last/min/max sample; ties go to the last occurrence */
static bool s_ts_first(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                       int64_t t, double *out)
{
    *out = (double)s->p[0].t / 1000;
    return true;
}

static bool s_ts_last(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                      int64_t t, double *out)
{
    *out = (double)s->p[s->n - 1].t / 1000;
    return true;
}

static bool ts_extreme(const mseries_t *s, bool max, double *out)
{
    size_t k = 0;
    for (size_t i = 1; i < s->n; i++) {
        double v = s->p[i].v, m = s->p[k].v;
        if ((max ? v >= m : v <= m) || isnan(m))
            k = i;
    }
    *out = (double)s->p[k].t / 1000;
    return true;
}

static bool s_ts_max(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                     int64_t t, double *out)
{
    return ts_extreme(s, true, out);
}

static bool s_ts_min(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                     int64_t t, double *out)
{
    return ts_extreme(s, false, out);
}

static bool s_des(evalctx_t *c, const expr_t *e, const mseries_t *s, const value_t *a,
                  int64_t t, double *out)
{
    double sf = a[1].scalar, tf = a[2].scalar;
    if (s->n < 2)
        return false;
    double s0 = 0, s1 = s->p[0].v, b = s->p[1].v - s->p[0].v;
    for (size_t i = 1; i < s->n; i++) {
        double x = sf * s->p[i].v;
        if (i > 1)
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *out = s1;
    return true;
}

#define OVER(name, fn, mi, keep)                                                 \
    int fr_##name(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o) \
    {                                                                            \
        return over_series(c, e, a, mi, t, o, fn, keep);                         \
    }
OVER(avg_over_time, s_avg, 0, false)
OVER(sum_over_time, s_sum, 0, false)
OVER(count_over_time, s_count, 0, false)
OVER(min_over_time, s_min, 0, false)
OVER(max_over_time, s_max, 0, false)
OVER(last_over_time, s_last, 0, true)
OVER(first_over_time, s_first, 0, true)
OVER(present_over_time, s_present, 0, false)
OVER(stddev_over_time, s_stddev, 0, false)
OVER(stdvar_over_time, s_stdvar, 0, false)
OVER(mad_over_time, s_mad, 0, false)
OVER(ts_of_first_over_time, s_ts_first, 0, false)
OVER(ts_of_last_over_time, s_ts_last, 0, false)
OVER(ts_of_max_over_time, s_ts_max, 0, false)
OVER(ts_of_min_over_time, s_ts_min, 0, false)

int fr_quantile_over_time(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    double q = a[0].scalar;
    if (isnan(q) || q < 0 || q > 1)
        eval_annotate(c, true, e->call.args[0], "quantile value should be between 0 and 1, got %s",
                      promql_float_str(c->scratch, q));
    return over_series(c, e, a, 1, t, o, s_quantile, false);
}

int fr_double_exponential_smoothing(evalctx_t *c, const expr_t *e, value_t *a, int64_t t,
                                    value_t *o)
{
    double sf = a[1].scalar, tf = a[2].scalar;
    if (!(sf > 0 && sf < 1))
        return eval_error(c, VIGIL_EINVAL,
                          "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf);
    if (!(tf > 0 && tf < 1))
        return eval_error(c, VIGIL_EINVAL, "invalid trend factor. Expected: 0 < tf < 1, got: %f",
                          tf);
    return over_series(c, e, a, 0, t, o, s_des, false);
}

int fr_absent_over_time(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, 1);
    for (size_t i = 0; i < a[0].mat.n; i++)
        if (a[0].mat.s[i].n > 0)
            return 0;
    o->vec.s[o->vec.n++] = (sample_t){ fn_absent_labels(c, e->call.args[0]), t, 1, false };
    return 0;
}

/* ---- classic histograms ---- */

typedef struct bucket {
    double upper, count;
} bucket_t;

typedef struct hgroup {
    promql_labels_t lbls;
    bucket_t *b;
    size_t n, cap;
} hgroup_t;

static int cmp_bucket(const void *x, const void *y)
{
    double a = ((const bucket_t *)x)->upper, b = ((const bucket_t *)y)->upper;
    return a < b ? -1 : a > b;
}

static bool parse_le(const char *s, double *v)
{
    if (s == NULL || *s == '\0')
        return false;
    return promql_parse_number(s, strlen(s), v);
}

/* group_fn_t of the bucket functions: the labels without `le` (the name stays in the group
 * key, for delayed removal: two metrics never merge), and `le` parsed; false (annotated) when
 * `le` is missing or malformed. */
static bool bucket_group(evalctx_t *c, const void *arg, const sample_t *s, promql_labels_t *gl,
                         double *le)
{
    static const char *const drop[] = { "le" };
    const char *lv = labels_get(s->lbls, "le");
    if (!parse_le(lv, le)) {
        eval_annotate(c, true, arg,
                      "bucket label \"le\" is missing or has a malformed value of \"%s\" for metric name \"%s\"",
                      lv ? lv : "", eval_metric_name(s->lbls));
        return false;
    }
    *gl = labels_filter(c->scratch, s->lbls, drop, 1, false);
    return true;
}

/* Groups a vector of `le` buckets by their other labels (through the call's grouping memo). */
static hgroup_t *group_buckets(evalctx_t *c, const expr_t *e, const vector_t *v, size_t *ng)
{
    group_memo_t *memo = group_memo(c, &((expr_t *)e)->call.cache);
    hgroup_t *g = arena_alloc(c->scratch, (v->n + 1) * sizeof(*g));
    size_t n = 0;
    for (size_t i = 0; i < v->n; i++) {
        group_ref_t ref;
        if (!group_memo_find(c, memo, i, &v->s[i], bucket_group, e, &ref))
            continue;
        if (ref.is_new)
            g[n++] = (hgroup_t){ ref.lbls, NULL, 0, 0 };
        hgroup_t *h = &g[ref.group];
        if (h->n == h->cap) {
            size_t nc = h->cap ? h->cap * 2 : 16;
            h->b = arena_realloc(c->scratch, h->b, h->cap * sizeof(bucket_t), nc * sizeof(bucket_t));
            h->cap = nc;
        }
        h->b[h->n++] = (bucket_t){ ref.aux, v->s[i].v };
    }
    *ng = n;
    return g;
}

static bool almost_equal(double a, double b, double eps)
{
    const double min_normal = 2.2250738585072014e-308;
    if (a == b)
        return true;
    double absum = fabs(a) + fabs(b);
    double diff = fabs(a - b);
    if (a == 0 || b == 0 || absum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(absum, 1.7976931348623157e308) < eps;
}

/* Sorts, merges equal bounds and repairs monotonicity; returns the new count. */
static size_t prepare_buckets(bucket_t *b, size_t n, bool *forced)
{
    qsort(b, n, sizeof(*b), cmp_bucket);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && b[k - 1].upper == b[i].upper)
            b[k - 1].count += b[i].count;
        else
            b[k++] = b[i];
    }
    if (k == 0)
        return 0;
    double prev = b[0].count;
    for (size_t i = 1; i < k; i++) {
        double cur = b[i].count;
        if (cur == prev)
            continue;
        if (almost_equal(prev, cur, 1e-12)) {
            b[i].count = prev;
            continue;
        }
        if (cur < prev) {
            b[i].count = prev;
            *forced = true;
            continue;
        }
        prev = cur;
    }
    return k;
}

static double bucket_quantile(double q, bucket_t *b, size_t n, bool *forced)
{
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    qsort(b, n, sizeof(*b), cmp_bucket);
    if (n == 0 || !isinf(b[n - 1].upper) || b[n - 1].upper < 0)
        return NAN;
    n = prepare_buckets(b, n, forced);
    if (n < 2)
        return NAN;
    double obs = b[n - 1].count;
    if (obs == 0)
        return NAN;
    double rank = q * obs;
    size_t i = 0;
    while (i < n - 1 && !(b[i].count >= rank))
        i++;
    if (i == n - 1)
        return b[n - 2].upper;
    if (i == 0 && b[0].upper <= 0)
        return b[0].upper;
    double start = 0, end = b[i].upper, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* Rank of v inside a bucket (lb, ub] whose cumulative counts go from `start` to `end`. An
 * infinitely wide bucket contributes nothing to a partial range: v maps to its finite edge. */
static double frac_rank(double v, double lb, double ub, double start, double end)
{
    if (isinf(ub))
        return start;
    if (isinf(lb))
        return end;
    if (v <= lb)
        return start;
    return start + (end - start) * (v - lb) / (ub - lb);
}

static double bucket_fraction(double lower, double upper, bucket_t *b, size_t n)
{
    qsort(b, n, sizeof(*b), cmp_bucket);
    if (n == 0 || !isinf(b[n - 1].upper) || b[n - 1].upper < 0)
        return NAN;
    bool forced = false;
    n = prepare_buckets(b, n, &forced);
    double count = b[n - 1].count;
    if (count == 0 || isnan(lower) || isnan(upper))
        return NAN;
    if (lower >= upper)
        return 0;
    double rank = 0, lo_rank = 0, up_rank = 0;
    bool lo_set = false, up_set = false;
    for (size_t i = 0; i < n; i++) {
        double lb = i > 0 ? b[i - 1].upper : -INFINITY;
        double ub = b[i].upper;
        /* the first bucket's lower end is 0 when its upper bound is positive (as quantiles) */
        double ilb = (i == 0 && ub > 0) ? 0 : lb;
        if (!lo_set && lb >= lower) {
            lo_rank = rank;
            lo_set = true;
        }
        if (!up_set && lb >= upper) {
            up_rank = rank;
            up_set = true;
        }
        if (lo_set && up_set)
            break;
        if (!lo_set && lb < lower && ub > lower) {
            lo_rank = frac_rank(lower, ilb, ub, rank, b[i].count);
            lo_set = true;
        }
        if (!up_set && lb < upper && ub > upper) {
            up_rank = frac_rank(upper, ilb, ub, rank, b[i].count);
            up_set = true;
        }
        if (lo_set && up_set)
            break;
        rank = b[i].count;
    }
    if (!lo_set || lo_rank > count)
        lo_rank = count;
    if (!up_set || up_rank > count)
        up_rank = count;
    return (up_rank - lo_rank) / count;
}

int fr_histogram_quantile(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    double q = a[0].scalar;
    if (isnan(q) || q < 0 || q > 1)
        eval_annotate(c, true, e->call.args[0], "quantile value should be between 0 and 1, got %s",
                      promql_float_str(c->scratch, q));
    size_t ng;
    hgroup_t *g = group_buckets(c, e, &a[1].vec, &ng);
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, ng);
    for (size_t i = 0; i < ng; i++) {
        bool forced = false;
        double v = bucket_quantile(q, g[i].b, g[i].n, &forced);
        if (forced)
            eval_annotate(c, false, e->call.args[1],
                          "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"%s\"",
                          eval_metric_name(g[i].lbls));
        o->vec.s[o->vec.n++] = (sample_t){ g[i].lbls, t, v, true };
    }
    return 0;
}

int fr_histogram_quantiles(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    const char *label = a[1].str;
    size_t ng;
    hgroup_t *g = group_buckets(c, e, &a[0].vec, &ng);
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, ng * (e->call.n - 2));
    for (size_t j = 2; j < e->call.n; j++) {
        double q = a[j].scalar;
        if (isnan(q) || q < 0 || q > 1)
            eval_annotate(c, true, e->call.args[j],
                          "quantile value should be between 0 and 1, got %s", promql_float_str(c->scratch, q));
        /* the quantile as a label value: shortest form, integers with ".0" */
        const char *qs = promql_float_str(c->scratch, q);
        if (!isnan(q) && !isinf(q) && strpbrk(qs, ".e") == NULL)
            qs = arena_printf(c->scratch, "%s.0", qs);
        for (size_t i = 0; i < ng; i++) {
            bucket_t *copy = arena_alloc(c->scratch, (g[i].n + 1) * sizeof(bucket_t));
            if (g[i].n > 0)
                memcpy(copy, g[i].b, g[i].n * sizeof(bucket_t));
            bool forced = false;
            double v = bucket_quantile(q, copy, g[i].n, &forced);
            if (forced)
                eval_annotate(c, false, e->call.args[0],
                              "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"%s\"",
                              eval_metric_name(g[i].lbls));
            promql_labels_t l = labels_set(c->scratch, g[i].lbls, label,
                                           qs);
            o->vec.s[o->vec.n++] = (sample_t){ l, t, v, true };
        }
    }
    return 0;
}

int fr_histogram_fraction(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    size_t ng;
    hgroup_t *g = group_buckets(c, e, &a[2].vec, &ng);
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, ng);
    for (size_t i = 0; i < ng; i++)
        o->vec.s[o->vec.n++] = (sample_t){ g[i].lbls, t,
                                           bucket_fraction(a[0].scalar, a[1].scalar, g[i].b,
                                                           g[i].n), true };
    return 0;
}
