/*
 * aggregate.c - aggregation operators (sum, avg, ..., topk, quantile, count_values, limitk,
 * limit_ratio) over one instant vector, as Prometheus' engine computes them:
 *  - sum and avg use Kahan-Neumaier compensation; avg switches from direct to incremental
 *    mean only when the running sum would overflow;
 *  - stddev/stdvar use Welford's online algorithm;
 *  - topk/bottomk keep a k-sized heap per group (Go container/heap order, pop then push as
 *    Prometheus 2.42 does) and output each group sorted, NaN last; groups come out in order
 *    of first appearance;
 *  - the output keeps __name__ only when grouped by it; its delayed-removal mark is the OR of
 *    the group's members (topk and friends keep each sample's own labels and mark).
 */
#include "promql/promql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct group {
    promql_labels_t lbls;
    double value, kahan, mean;
    double count;
    bool incremental_mean;
    bool drop_name;
    bool seen_value;
    sample_t *heap;      /* topk/bottomk/limitk members */
    size_t n_heap;
    double *vals;        /* quantile inputs */
    size_t n_vals, cap_vals;
} group_t;

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

double promql_quantile(double q, double *v, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    /* insertion sort keeps NaN first, as Prometheus' sort of vectorByValueHeap */
    for (size_t i = 1; i < n; i++) {
        double x = v[i];
        size_t j = i;
        while (j > 0 && (isnan(x) ? !isnan(v[j - 1]) : (!isnan(v[j - 1]) && v[j - 1] > x))) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    double rank = q * (double)(n - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin((double)n - 1, lower + 1);
    double weight = rank - floor(rank);
    return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

/* heap "less" of topk (min-heap on value, NaN smallest) and bottomk (max-heap, NaN smallest) */
static bool heap_less(bool top, double a, double b)
{
    if (isnan(a))
        return true;
    return top ? a < b : a > b;
}

static void heap_up(sample_t *h, size_t j, bool top)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (i == j || !heap_less(top, h[j].v, h[i].v))
            break;
        sample_t t = h[i];
        h[i] = h[j];
        h[j] = t;
        j = i;
    }
}

static void heap_down(sample_t *h, size_t i0, size_t n, bool top)
{
    size_t i = i0;
    for (;;) {
        size_t j1 = 2 * i + 1;
        if (j1 >= n)
            break;
        size_t j = j1;
        if (j1 + 1 < n && heap_less(top, h[j1 + 1].v, h[j1].v))
            j = j1 + 1;
        if (!heap_less(top, h[j].v, h[i].v))
            break;
        sample_t t = h[i];
        h[i] = h[j];
        h[j] = t;
        i = j;
    }
}

/* Stable sort of the group's members by the reverse of the heap order (NaN last). */
static void sort_members(sample_t *h, size_t n, bool top)
{
    for (size_t i = 1; i < n; i++) {
        sample_t x = h[i];
        size_t j = i;
        while (j > 0 && heap_less(top, h[j - 1].v, x.v)) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = x;
    }
}

/* Deterministic per-series offset in [0, 1) for limit_ratio. */
static double ratio_offset(promql_labels_t l)
{
    return (double)labels_hash(l) / 18446744073709551615.0;
}

/* strconv.FormatFloat(f, 'f', -1, 64): shortest digits, never an exponent. */
static char *format_value(arena_t *a, double v)
{
    if (isnan(v))
        return arena_strdup(a, "NaN");
    if (isinf(v))
        return arena_strdup(a, v > 0 ? "+Inf" : "-Inf");
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    int exp = 0;
    char e[64];
    snprintf(e, sizeof(e), "%.*e", prec - 1, v);
    exp = atoi(strchr(e, 'e') + 1);
    int decimals = prec - 1 - exp;
    if (decimals < 0)
        decimals = 0;
    return arena_printf(a, "%.*f", decimals, v);
}

/* group_fn_t of aggregations: the grouping labels (by / without, which drops the name). */
static bool group_labels(evalctx_t *c, const void *arg, const sample_t *s, promql_labels_t *gl,
                         double *aux)
{
    const expr_t *e = arg;
    *aux = 0;
    if (!e->agg.without) {
        *gl = labels_filter(c->scratch, s->lbls, e->agg.grouping, e->agg.n_grouping, true);
        return true;
    }
    promql_labels_t l = labels_filter(c->scratch, s->lbls, e->agg.grouping, e->agg.n_grouping,
                                      false);
    *gl = labels_without(c->scratch, l, LABEL_NAME);
    return true;
}

int eval_aggregate(evalctx_t *c, const expr_t *e, value_t *param, value_t *in, int64_t t,
                   value_t *out)
{
    aggop_t op = e->agg.op;
    vector_t *v = &in->vec;
    int64_t k = 0;
    double ratio = 0, q = 0;
    const char *cv_label = NULL;
    if (op == AGG_TOPK || op == AGG_BOTTOMK || op == AGG_LIMITK) {
        double p = param->scalar;
        if (isnan(p))
            return eval_error(c, VIGIL_EINVAL, "Parameter value is NaN");
        if (p >= 9.2e18)
            k = INT64_MAX;
        else if (p <= -9.2e18)
            k = INT64_MIN;
        else
            k = (int64_t)p;
        out->type = PT_VECTOR;
        if (k < 1)
            return 0;
    } else if (op == AGG_LIMIT_RATIO) {
        ratio = param->scalar;
        if (isnan(ratio))
            return eval_error(c, VIGIL_EINVAL, "Ratio value is NaN");
        if (ratio > 1 || ratio < -1) {
            double capped = ratio > 1 ? 1 : -1;
            eval_annotate(c, true, e->agg.param,
                          "ratio value should be between -1 and 1, got %s, capping to %s",
                          promql_float_str(c->scratch, ratio), promql_float_str(c->scratch, capped));
            ratio = capped;
        }
    } else if (op == AGG_QUANTILE) {
        q = param->scalar;
        if (isnan(q) || q < 0 || q > 1)
            eval_annotate(c, true, e->agg.param,
                          "quantile value should be between 0 and 1, got %s", promql_float_str(c->scratch, q));
    } else if (op == AGG_COUNT_VALUES) {
        cv_label = param->str;
        bool ok = cv_label[0] != '\0';
        for (const unsigned char *s = (const unsigned char *)cv_label; *s && ok; s++)
            ok = *s >= 0x20 && *s < 0x7f;
        if (!ok)
            return eval_error(c, VIGIL_EINVAL, "invalid label name \"%s\"", cv_label);
    }

    /* count_values groups by the value as well, so it builds its keys at every step; the
     * others find groups through the node's memo (grouping.c). */
    group_memo_t *memo = op == AGG_COUNT_VALUES ? NULL : group_memo(c, &((expr_t *)e)->agg.cache);
    strmap_t groups = { 0 };
    if (memo == NULL)
        strmap_init(&groups, c->scratch, v->n);
    group_t *g = arena_alloc(c->scratch, (v->n + 1) * sizeof(*g));
    size_t ng = 0;
    buf_t key;
    buf_init(&key, (size_t)1 << 24);
    for (size_t i = 0; i < v->n; i++) {
        sample_t *s = &v->s[i];
        promql_labels_t gl;
        size_t gi;
        bool found;
        if (memo != NULL) {
            group_ref_t ref;
            group_memo_find(c, memo, i, s, group_labels, e, &ref);
            gi = ref.group;
            found = !ref.is_new;
            gl = ref.lbls;
        } else {
            double unused;
            group_labels(c, e, s, &gl, &unused);
            gl = labels_set(c->scratch, gl, cv_label, format_value(c->scratch, s->v));
            group_key(&key, gl);
            gi = strmap_get_or_put(&groups, key.data != NULL ? key.data : "", key.len, ng,
                                   &found);
        }
        group_t *gr = &g[gi];
        if (!found) {
            ng++;
            gr->lbls = gl;
            gr->drop_name = s->drop_name;
            gr->value = s->v;
            gr->mean = s->v;
            gr->count = 1;
            switch (op) {
            case AGG_STDDEV: case AGG_STDVAR:
                /* the first sample goes through the same update, so NaN propagates */
                gr->value = s->v * 0 * (s->v - s->v);
                gr->mean = s->v;
                break;
            case AGG_COUNT: case AGG_GROUP: case AGG_COUNT_VALUES: gr->value = 1; break;
            case AGG_TOPK: case AGG_BOTTOMK: case AGG_LIMITK: case AGG_LIMIT_RATIO: {
                size_t cap = (size_t)(k > 0 && (uint64_t)k < v->n ? (size_t)k : v->n);
                gr->heap = arena_alloc(c->scratch, (cap + 1) * sizeof(sample_t));
                if (op == AGG_LIMIT_RATIO) {
                    double off = ratio_offset(s->lbls);
                    if ((ratio >= 0 && off < ratio) || (ratio < 0 && off >= 1 + ratio))
                        gr->heap[gr->n_heap++] = *s;
                } else {
                    gr->heap[gr->n_heap++] = *s;
                }
                break;
            }
            case AGG_QUANTILE:
                gr->cap_vals = 8;
                gr->vals = arena_alloc(c->scratch, gr->cap_vals * sizeof(double));
                gr->vals[gr->n_vals++] = s->v;
                break;
            default: break;
            }
            continue;
        }
        gr->drop_name = gr->drop_name || s->drop_name;
        switch (op) {
        case AGG_SUM:
            kahan_inc(s->v, &gr->value, &gr->kahan);
            break;
        case AGG_AVG:
            gr->count++;
            if (!gr->incremental_mean) {
                double nv = gr->value, nc = gr->kahan;
                kahan_inc(s->v, &nv, &nc);
                if (!isinf(nv)) {
                    gr->value = nv;
                    gr->kahan = nc;
                    break;
                }
                gr->incremental_mean = true;
                gr->mean = gr->value / (gr->count - 1);
                gr->kahan /= gr->count - 1;
            }
            {
                double qq = (gr->count - 1) / gr->count;
                double m = qq * gr->mean, kc = qq * gr->kahan;
                kahan_inc(s->v / gr->count, &m, &kc);
                gr->mean = m;
                gr->kahan = kc;
            }
            break;
        case AGG_COUNT: case AGG_COUNT_VALUES:
            gr->value++;
            break;
        case AGG_GROUP:
            break;
        case AGG_MAX:
            if (gr->value < s->v || isnan(gr->value))
                gr->value = s->v;
            break;
        case AGG_MIN:
            if (gr->value > s->v || isnan(gr->value))
                gr->value = s->v;
            break;
        case AGG_STDDEV: case AGG_STDVAR: {
            gr->count++;
            double delta = s->v - gr->mean;
            gr->mean += delta / gr->count;
            gr->value += delta * (s->v - gr->mean);
            break;
        }
        case AGG_TOPK: case AGG_BOTTOMK: {
            bool top = op == AGG_TOPK;
            if ((int64_t)gr->n_heap < k) {
                gr->heap[gr->n_heap++] = *s;
                heap_up(gr->heap, gr->n_heap - 1, top);
            } else if ((top ? gr->heap[0].v < s->v : gr->heap[0].v > s->v) ||
                       isnan(gr->heap[0].v)) {
                /* Prometheus 2.42 pops the smallest and pushes the newcomer (in place only
                 * for k == 1): with ties the survivors depend on that exact sequence. */
                if (k > 1) {
                    size_t last = gr->n_heap - 1;
                    gr->heap[0] = gr->heap[last];
                    heap_down(gr->heap, 0, last, top);
                    gr->heap[last] = *s;
                    heap_up(gr->heap, last, top);
                } else {
                    gr->heap[0] = *s;
                }
            }
            break;
        }
        case AGG_LIMITK:
            if ((int64_t)gr->n_heap < k)
                gr->heap[gr->n_heap++] = *s;
            break;
        case AGG_LIMIT_RATIO: {
            double off = ratio_offset(s->lbls);
            if ((ratio >= 0 && off < ratio) || (ratio < 0 && off >= 1 + ratio))
                gr->heap[gr->n_heap++] = *s;
            break;
        }
        case AGG_QUANTILE:
            if (gr->n_vals == gr->cap_vals) {
                gr->vals = arena_realloc(c->scratch, gr->vals, gr->cap_vals * sizeof(double),
                                         gr->cap_vals * 2 * sizeof(double));
                gr->cap_vals *= 2;
            }
            gr->vals[gr->n_vals++] = s->v;
            break;
        }
    }
    buf_free(&key);

    out->type = PT_VECTOR;
    size_t total = 0;
    for (size_t i = 0; i < ng; i++)
        total += g[i].n_heap ? g[i].n_heap : 1;
    out->vec.s = arena_alloc(c->scratch, (total + 1) * sizeof(sample_t));
    size_t n = 0;
    for (size_t i = 0; i < ng; i++) {
        group_t *gr = &g[i];
        double val = gr->value;
        switch (op) {
        case AGG_TOPK: case AGG_BOTTOMK: case AGG_LIMITK: case AGG_LIMIT_RATIO:
            if (op == AGG_TOPK || op == AGG_BOTTOMK)
                sort_members(gr->heap, gr->n_heap, op == AGG_TOPK);
            for (size_t j = 0; j < gr->n_heap; j++) {
                out->vec.s[n] = gr->heap[j];
                out->vec.s[n++].t = t;
            }
            continue;
        case AGG_SUM: val = gr->value + gr->kahan; break;
        case AGG_AVG:
            val = gr->incremental_mean ? gr->mean + gr->kahan
                                       : (gr->value + gr->kahan) / gr->count;
            break;
        case AGG_STDVAR: val = gr->value / gr->count; break;
        case AGG_STDDEV: val = sqrt(gr->value / gr->count); break;
        case AGG_QUANTILE: val = promql_quantile(q, gr->vals, gr->n_vals); break;
        default: break;
        }
        bool has_name = labels_get(gr->lbls, LABEL_NAME) != NULL;
        out->vec.s[n++] = (sample_t){ gr->lbls, t, val, has_name && gr->drop_name };
    }
    out->vec.n = n;
    return eval_count_samples(c, n);
}
