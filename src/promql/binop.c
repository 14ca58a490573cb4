/*
 * binop.c - binary operators: scalar/scalar, vector/scalar and vector/vector with matching.
 *
 * Follows Prometheus' engine (VectorBinop, VectorscalarBinop, the set operators):
 *  - arithmetic and `bool` comparisons mark the result for delayed __name__ removal; filtering
 *    comparisons keep the left-hand sample (its value and name);
 *  - one-to-one and many-to-one matching hash the "one" side by its matching signature;
 *    group_right swaps the sides first; duplicates on the "one" side are a many-to-many error;
 *  - and/or/unless match on the signature (all labels but __name__ unless on/ignoring).
 */
#include "promql/promql_int.h"

#include <math.h>
#include <string.h>

double binop_float(binop_t op, double l, double r, bool *keep)
{
    *keep = true;
    switch (op) {
    case OP_ADD: return l + r;
    case OP_SUB: return l - r;
    case OP_MUL: return l * r;
    case OP_DIV: return l / r;
    case OP_MOD: return fmod(l, r);
    case OP_POW: return pow(l, r);
    case OP_ATAN2: return atan2(l, r);
    case OP_EQLC: *keep = l == r; return l;
    case OP_NEQ: *keep = l != r; return l;
    case OP_GTR: *keep = l > r; return l;
    case OP_LSS: *keep = l < r; return l;
    case OP_GTE: *keep = l >= r; return l;
    case OP_LTE: *keep = l <= r; return l;
    default: *keep = false; return 0;
    }
}

/* The matching signature of l: a byte string of the labels that take part in matching. */
static char *signature(arena_t *a, const expr_t *e, promql_labels_t l, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        n += strlen(l.v[i].name) + strlen(l.v[i].value) + 2;
    char *k = arena_alloc(a, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < l.n; i++) {
        const char *name = l.v[i].name;
        bool listed = false;
        for (size_t j = 0; j < e->bin.n_mlabels && !listed; j++)
            listed = strcmp(e->bin.mlabels[j], name) == 0;
        if (e->bin.on ? !listed : (listed || strcmp(name, LABEL_NAME) == 0))
            continue;
        size_t a1 = strlen(name), a2 = strlen(l.v[i].value);
        memcpy(k + o, name, a1);
        o += a1;
        k[o++] = '\xff';
        memcpy(k + o, l.v[i].value, a2);
        o += a2;
        k[o++] = '\xfe';
    }
    *len = o;
    return k;
}

/* The labels of the match group (Prometheus' Labels.MatchLabels), for error texts. */
static promql_labels_t match_labels(arena_t *a, const expr_t *e, promql_labels_t l)
{
    if (e->bin.on)
        return labels_filter(a, l, e->bin.mlabels, e->bin.n_mlabels, true);
    promql_labels_t r = labels_filter(a, l, e->bin.mlabels, e->bin.n_mlabels, false);
    return labels_without(a, r, LABEL_NAME);
}

static int set_op(evalctx_t *c, const expr_t *e, vector_t *l, vector_t *r, value_t *out)
{
    strmap_t rs, ls;
    strmap_init(&rs, c->scratch, r->n);
    strmap_init(&ls, c->scratch, l->n);
    size_t len, v;
    bool found;
    for (size_t i = 0; i < r->n; i++) {
        char *k = signature(c->scratch, e, r->s[i].lbls, &len);
        strmap_get_or_put(&rs, k, len, i, &found);
    }
    out->type = PT_VECTOR;
    out->vec.s = arena_alloc(c->scratch, (l->n + r->n + 1) * sizeof(sample_t));
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        char *k = signature(c->scratch, e, l->s[i].lbls, &len);
        bool in_r = strmap_get(&rs, k, len, &v);
        if (e->bin.op == OP_OR) {
            strmap_get_or_put(&ls, k, len, i, &found);
            out->vec.s[n++] = l->s[i];
        } else if (in_r == (e->bin.op == OP_AND)) {
            out->vec.s[n++] = l->s[i];
        }
    }
    if (e->bin.op == OP_OR) {
        for (size_t i = 0; i < r->n; i++) {
            char *k = signature(c->scratch, e, r->s[i].lbls, &len);
            if (!strmap_get(&ls, k, len, &v))
                out->vec.s[n++] = r->s[i];
        }
    }
    out->vec.n = n;
    return 0;
}

static int vector_vector(evalctx_t *c, const expr_t *e, vector_t *lhs, vector_t *rhs, int64_t t,
                         value_t *out)
{
    binop_t op = e->bin.op;
    bool cmp = binop_is_comparison(op);
    card_t card = e->bin.card;
    vector_t *l = lhs, *r = rhs;
    if (card == CARD_ONE_TO_MANY) {
        l = rhs;
        r = lhs;
    }
    strmap_t rs;
    strmap_init(&rs, c->scratch, r->n);
    size_t len;
    bool found;
    for (size_t i = 0; i < r->n; i++) {
        char *k = signature(c->scratch, e, r->s[i].lbls, &len);
        size_t prev = strmap_get_or_put(&rs, k, len, i, &found);
        if (found) {
            buf_t b;
            buf_init(&b, 1 << 16);
            labels_format(&b, match_labels(c->scratch, e, r->s[i].lbls));
            buf_puts(&b, " on the ");
            buf_puts(&b, card == CARD_ONE_TO_MANY ? "left" : "right");
            buf_puts(&b, " hand-side of the operation: [");
            /* the pair in sorted order, so the message is stable */
            promql_labels_t x = r->s[i].lbls, y = r->s[prev].lbls;
            if (labels_cmp(x, y) > 0) {
                promql_labels_t tmp = x;
                x = y;
                y = tmp;
            }
            labels_format(&b, x);
            buf_puts(&b, ", ");
            labels_format(&b, y);
            buf_puts(&b, "]");
            int rc = eval_error(c, VIGIL_EINVAL,
                                "found duplicate series for the match group %s;many-to-many matching not allowed: matching labels must be unique on one side",
                                b.data != NULL ? b.data : "");
            buf_free(&b);
            return rc;
        }
    }
    out->type = PT_VECTOR;
    out->vec.s = arena_alloc(c->scratch, (l->n + 1) * sizeof(sample_t));
    size_t n = 0;
    strmap_t matched;   /* one-to-one: signatures used; many-to-one: result label sets */
    strmap_init(&matched, c->scratch, l->n);
    for (size_t i = 0; i < l->n; i++) {
        char *k = signature(c->scratch, e, l->s[i].lbls, &len);
        size_t ri;
        if (!strmap_get(&rs, k, len, &ri))
            continue;
        const sample_t *ls = &l->s[i], *rsmp = &r->s[ri];
        double fl = ls->v, fr = rsmp->v;
        if (card == CARD_ONE_TO_MANY) {
            double tmp = fl;
            fl = fr;
            fr = tmp;
        }
        /* one-to-one: a second match is an error even when filtering would drop it */
        if (card == CARD_ONE_TO_ONE) {
            strmap_get_or_put(&matched, k, len, i, &found);
            if (found)
                return eval_error(c, VIGIL_EINVAL,
                                  "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
        }
        bool keep;
        double v = binop_float(op, fl, fr, &keep);
        if (e->bin.ret_bool) {
            v = keep ? 1 : 0;
        } else if (!keep) {
            continue;
        }
        /* result labels */
        promql_labels_t m = ls->lbls;
        bool drop = ls->drop_name || e->bin.ret_bool || !cmp;
        if (card == CARD_ONE_TO_ONE) {
            if (e->bin.on)
                m = labels_filter(c->scratch, m, e->bin.mlabels, e->bin.n_mlabels, true);
            else
                m = labels_filter(c->scratch, m, e->bin.mlabels, e->bin.n_mlabels, false);
        }
        for (size_t j = 0; j < e->bin.n_include; j++)
            m = labels_set(c->scratch, m, e->bin.include[j],
                           labels_get(rsmp->lbls, e->bin.include[j]));
        if (card != CARD_ONE_TO_ONE) {
            size_t ml;
            char *mk = signature(c->scratch, &(expr_t){ .bin = { .on = false } }, m, &ml);
            /* the name is still part of the labels here (delayed removal) */
            const char *nm = labels_get(m, LABEL_NAME);
            char *full = arena_printf(c->scratch, "%.*s|%s|%.*s", (int)len, k, nm ? nm : "",
                                      (int)ml, mk);
            strmap_get_or_put(&matched, full, strlen(full), i, &found);
            if (found)
                return eval_error(c, VIGIL_EINVAL,
                                  "multiple matches for labels: grouping labels must ensure unique matches");
        }
        out->vec.s[n++] = (sample_t){ m, t, v, drop };
    }
    out->vec.n = n;
    return 0;
}

int eval_binary(evalctx_t *c, const expr_t *e, value_t *l, value_t *r, int64_t t, value_t *out)
{
    binop_t op = e->bin.op;
    memset(out, 0, sizeof(*out));
    if (l->type == PT_SCALAR && r->type == PT_SCALAR) {
        bool keep;
        double v = binop_float(op, l->scalar, r->scalar, &keep);
        out->type = PT_SCALAR;
        out->scalar = binop_is_comparison(op) ? (keep ? 1 : 0) : v;
        return 0;
    }
    if (l->type == PT_VECTOR && r->type == PT_VECTOR) {
        int rc;
        if (binop_is_set(op))
            rc = set_op(c, e, &l->vec, &r->vec, out);
        else
            rc = vector_vector(c, e, &l->vec, &r->vec, t, out);
        if (rc != 0)
            return rc;
        return eval_count_samples(c, out->vec.n);
    }
    /* vector and scalar */
    bool swap = l->type == PT_SCALAR;
    vector_t *vec = swap ? &r->vec : &l->vec;
    double sc = swap ? l->scalar : r->scalar;
    bool cmp = binop_is_comparison(op);
    out->type = PT_VECTOR;
    out->vec.s = arena_alloc(c->scratch, (vec->n + 1) * sizeof(sample_t));
    size_t n = 0;
    for (size_t i = 0; i < vec->n; i++) {
        const sample_t *s = &vec->s[i];
        double lv = swap ? sc : s->v, rv = swap ? s->v : sc;
        bool keep;
        double v = binop_float(op, lv, rv, &keep);
        if (cmp && swap)
            v = s->v;   /* a filter always keeps the vector's value */
        if (e->bin.ret_bool) {
            v = keep ? 1 : 0;
            keep = true;
        }
        if (!keep)
            continue;
        bool drop = s->drop_name || !cmp || e->bin.ret_bool;
        out->vec.s[n++] = (sample_t){ s->lbls, t, v, drop };
    }
    out->vec.n = n;
    return eval_count_samples(c, n);
}
