/*
 * eval.c - the PromQL evaluator: query entry points, selectors, subqueries, results.
 *
 * A query runs in four phases:
 *   1. parse into the query arena;
 *   2. prepare: resolve @ start()/end(), duration expressions (step(), range()) and, for every
 *      selector, the time span any evaluation can touch, so each selector reads the store once;
 *   3. evaluate the root at each step (one step for an instant query). Values of a step live in
 *      the scratch arena, released after the step; a range query appends each step's vector to
 *      the result matrix (dropping __name__ where delayed removal asks for it);
 *   4. hand the result, with its arena, to the caller.
 * Samples of a vector selector carry their own timestamp (timestamp() reads it); every other
 * value is stamped with the evaluation time.
 */
#include "promql/promql_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct promql_engine {
    promql_engine_opts_t o;
};

/* One selected series: float samples (staleness markers included) and, separately, the
 * timestamps of native-histogram samples, which the engine refuses to evaluate. */
typedef struct sel_series {
    promql_labels_t lbls;
    promql_point_t *p;      /* all float samples incl. stale markers */
    size_t n;
    promql_point_t *live;   /* the same without stale markers (range vectors); p when none */
    size_t n_live;
    bool counter_name;      /* eval_counter_name() of lbls */
    uint32_t *drops;        /* mseries_t.drops over live; matrix selectors only */
    /* Where the last searches ended (see search_from): one per kind of search. */
    size_t hint_vec, hint_lo, hint_hi;
    int64_t *hist_t;        /* histogram sample timestamps */
    size_t n_hist;
} sel_series_t;

typedef struct sel_cache {
    int64_t mint, maxt;
    bool loaded;
    bool want_drops;        /* read as a range vector: count decreases for counter functions */
    /* An instant vector selector evaluated at one time only (an instant query outside
     * subqueries, or under @): only each series' last sample in the window counts, which the
     * store may hand over without reading the others (promql_series_set_ops_t.last). */
    bool last_only;
    sel_series_t *s;
    size_t n;
} sel_cache_t;

static bool is_stale(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    return bits == PROMQL_STALE_NAN_BITS;
}

int eval_error(evalctx_t *c, int code, const char *fmt, ...)
{
    if (c->err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        c->err->code = code;
        vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

void eval_annotate(evalctx_t *c, bool warning, const expr_t *at, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line = 1, col = 1;
    if (at != NULL && c->query != NULL)
        promql_pos_linecol(c->query, at->pos, &line, &col);
    char *s = arena_printf(c->a, "PromQL %s: %s (%d:%d)", warning ? "warning" : "info", msg, line,
                           col);
    const char ***list = warning ? &c->warnings : &c->infos;
    size_t *n = warning ? &c->n_warnings : &c->n_infos;
    size_t *cap = warning ? &c->cap_warnings : &c->cap_infos;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], s) == 0)
            return;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        *list = arena_realloc(c->a, (void *)*list, *cap * sizeof(char *), nc * sizeof(char *));
        *cap = nc;
    }
    (*list)[(*n)++] = s;
}

const char *eval_metric_name(promql_labels_t l)
{
    const char *n = labels_get(l, LABEL_NAME);
    return n != NULL ? n : "";
}

int eval_count_samples(evalctx_t *c, size_t n)
{
    c->cur_samples += n;
    if (c->cur_samples + c->result_samples > c->max_samples)
        return eval_error(c, VIGIL_ELIMIT,
                          "query processing would load too many samples into memory in query execution");
    return 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int check_abort(evalctx_t *c)
{
    if (c->qo != NULL && c->qo->cancelled != NULL && c->qo->cancelled(c->qo->cancel_ctx))
        return eval_error(c, VIGIL_ESTATE, "query was canceled");
    if (c->deadline_ns != 0 && now_ns() > c->deadline_ns)
        return eval_error(c, VIGIL_ETIMEOUT, "query timed out in query execution");
    return 0;
}

/* ---- preparation ---- */

double eval_duration(const evalctx_t *c, const expr_t *d)
{
    double l = d->dur.l ? eval_duration(c, d->dur.l) : 0;
    double r = d->dur.r ? eval_duration(c, d->dur.r) : 0;
    switch (d->dur.op) {
    case D_NUM: return d->dur.v;
    case D_NEG: return -l;
    case D_POS: case D_PAREN: return l;
    case D_ADD: return l + r;
    case D_SUB: return l - r;
    case D_MUL: return l * r;
    case D_DIV: return l / r;
    case D_MOD: return fmod(l, r);
    case D_POW: return pow(l, r);
    case D_STEP: return (double)c->step / 1000.0;
    case D_RANGE: return (double)(c->end - c->start) / 1000.0;
    case D_START: return (double)c->start / 1000.0;
    case D_END: return (double)c->end / 1000.0;
    case D_MIN: return l < r ? l : r;
    case D_MAX: return l > r ? l : r;
    }
    return 0;
}

static int resolve_ms(evalctx_t *c, const expr_t *d, int64_t *ms, bool positive, const char *what)
{
    if (d == NULL)
        return 0;
    double s = eval_duration(c, d);
    if (isnan(s) || isinf(s) || fabs(s) > 9.2e15)
        return eval_error(c, VIGIL_EINVAL, "%s duration out of range", what);
    *ms = (int64_t)llround(s * 1000.0);
    if (positive && *ms <= 0)
        return eval_error(c, VIGIL_EINVAL, "%s must be greater than 0", what);
    return 0;
}

static int resolve_timing(evalctx_t *c, timing_t *tm)
{
    if (tm->at == AT_START)
        tm->at_ms = c->start;
    else if (tm->at == AT_END)
        tm->at_ms = c->end;
    return resolve_ms(c, tm->offset_expr, &tm->offset_ms, false, "offset");
}

static void want_span(evalctx_t *c, expr_t *vs, int64_t mint, int64_t maxt, bool last_only)
{
    sel_cache_t *sc = vs->vs.cache;
    if (sc == NULL) {
        sc = arena_alloc(c->a, sizeof(*sc));
        sc->mint = mint;
        sc->maxt = maxt;
        sc->last_only = last_only;
        vs->vs.cache = sc;
        return;
    }
    sc->last_only = false; /* wanted twice: over two spans */
    if (mint < sc->mint)
        sc->mint = mint;
    if (maxt > sc->maxt)
        sc->maxt = maxt;
}

/* lo..hi: the evaluation times `e` may be evaluated at. */
static int prepare(evalctx_t *c, expr_t *e, int64_t lo, int64_t hi)
{
    int rc = 0;
    switch (e->kind) {
    case N_VECTOR_SEL: case N_MATRIX_SEL: {
        expr_t *vs = e->kind == N_VECTOR_SEL ? e : e->ms.vs;
        if ((rc = resolve_timing(c, &vs->vs.tm)) != 0)
            return rc;
        int64_t span = c->lookback;
        if (e->kind == N_MATRIX_SEL) {
            if ((rc = resolve_ms(c, e->ms.range_expr, &e->ms.range_ms, true, "range")) != 0)
                return rc;
            span = e->ms.range_ms;
        }
        if (vs->vs.tm.at != AT_NONE)
            lo = hi = vs->vs.tm.at_ms;
        want_span(c, vs, lo - vs->vs.tm.offset_ms - span, hi - vs->vs.tm.offset_ms,
                  e->kind == N_VECTOR_SEL && lo == hi);
        if (e->kind == N_MATRIX_SEL)
            ((sel_cache_t *)vs->vs.cache)->want_drops = true;
        return 0;
    }
    case N_SUBQUERY: {
        if ((rc = resolve_timing(c, &e->sq.tm)) != 0 ||
            (rc = resolve_ms(c, e->sq.range_expr, &e->sq.range_ms, true, "subquery range")) != 0 ||
            (rc = resolve_ms(c, e->sq.step_expr, &e->sq.step_ms, true, "subquery step")) != 0)
            return rc;
        if (e->sq.step_ms == 0)
            e->sq.step_ms = c->default_step;
        if (e->sq.tm.at != AT_NONE)
            lo = hi = e->sq.tm.at_ms;
        return prepare(c, e->sq.e, lo - e->sq.tm.offset_ms - e->sq.range_ms,
                       hi - e->sq.tm.offset_ms);
    }
    case N_PAREN: return prepare(c, e->paren.e, lo, hi);
    case N_UNARY: return prepare(c, e->un.e, lo, hi);
    case N_BINARY:
        if ((rc = prepare(c, e->bin.l, lo, hi)) != 0)
            return rc;
        return prepare(c, e->bin.r, lo, hi);
    case N_CALL:
        for (size_t i = 0; i < e->call.n; i++)
            if ((rc = prepare(c, e->call.args[i], lo, hi)) != 0)
                return rc;
        return 0;
    case N_AGG:
        if (e->agg.param != NULL && (rc = prepare(c, e->agg.param, lo, hi)) != 0)
            return rc;
        return prepare(c, e->agg.e, lo, hi);
    default:
        return 0;
    }
}

/* ---- selectors ---- */

/* Copies of a selection's label strings, direct-mapped by the store's pointer: stores intern
 * their strings, so names and common values come at one address for every series and are
 * copied once per selection rather than once per series. */
#define INTERN_SLOTS 64

typedef struct intern_slot {
    const char *from;
    char *copy;
} intern_slot_t;

static const char *copy_string(arena_t *a, const char *s, intern_slot_t *slots)
{
    intern_slot_t *e = &slots[((uintptr_t)s >> 3) % INTERN_SLOTS];
    if (e->from != s) {
        e->from = s;
        e->copy = arena_strdup(a, s);
    }
    return e->copy;
}

/* labels_copy() through the selection's string cache; .v NULL on allocation failure. */
static promql_labels_t copy_labels(arena_t *a, promql_labels_t l, intern_slot_t *slots)
{
    promql_label_t *v = arena_alloc(a, (l.n ? l.n : 1) * sizeof(*v));
    for (size_t i = 0; v != NULL && i < l.n; i++) {
        v[i].name = copy_string(a, l.v[i].name, slots);
        v[i].value = copy_string(a, l.v[i].value, slots);
        if (v[i].name == NULL || v[i].value == NULL)
            v = NULL;
    }
    return (promql_labels_t){ v, l.n };
}

/* Stores (t, v) at (*buf)[n], growing the buffer; false when out of memory. */
static bool push_point(promql_point_t **buf, size_t *cap, size_t n, int64_t t, double v)
{
    if (n == *cap) {
        size_t nc = *cap ? *cap * 2 : 512;
        promql_point_t *nb = realloc(*buf, nc * sizeof(**buf));
        if (nb == NULL)
            return false;
        *buf = nb;
        *cap = nc;
    }
    (*buf)[n] = (promql_point_t){ t, v };
    return true;
}

static int load_cache(evalctx_t *c, expr_t *vs)
{
    sel_cache_t *sc = vs->vs.cache;
    if (sc->loaded)
        return 0;
    sc->loaded = true;
    promql_series_set_t *set = NULL;
    int rc = c->st->ops->select(c->st->ctx, vs->vs.ms, vs->vs.n, sc->mint + 1, sc->maxt, &set,
                                c->err);
    if (rc != 0)
        return rc;
    /* Allocation failures longjmp out of here; the set must be closed first, so use the
     * non-jumping mode while it is open. */
    jmp_buf *oom = c->a->oom;
    c->a->oom = NULL;
    size_t cap = 0;
    /* Samples are gathered in one malloc'd buffer reused across series, then copied to an
     * exact-size arena block: growing each series' array in the arena would leave every
     * smaller copy behind (twice the memory, all of it touched). */
    promql_point_t *buf = NULL;
    size_t bcap = 0;
    intern_slot_t interned[INTERN_SLOTS] = { { NULL, NULL } };
    for (;;) {
        rc = set->ops->next(set, c->err);
        if (rc <= 0)
            break;
        sel_series_t s = { 0 };
        size_t hcap = 0, n_stale = 0;
        int64_t t;
        double v;
        int kind = PROMQL_SAMPLE_UNKNOWN;
        if (sc->last_only && set->ops->last != NULL)
            kind = set->ops->last(set, &t, &v, c->err);
        if (kind == PROMQL_SAMPLE_FLOAT) {
            if (!push_point(&buf, &bcap, s.n, t, v))
                goto oom;
            s.n++;
            n_stale += is_stale(v);
            kind = PROMQL_SAMPLE_END;
        }
        while (kind == PROMQL_SAMPLE_UNKNOWN || kind > 0) {
            if ((kind = set->ops->sample(set, &t, &v, c->err)) <= 0)
                break;
            if (kind == PROMQL_SAMPLE_HISTOGRAM) {
                if (s.n_hist == hcap) {
                    size_t nc = hcap ? hcap * 2 : 8;
                    s.hist_t = arena_realloc(c->a, s.hist_t, hcap * sizeof(int64_t),
                                             nc * sizeof(int64_t));
                    hcap = nc;
                    if (s.hist_t == NULL)
                        goto oom;
                }
                s.hist_t[s.n_hist++] = t;
                continue;
            }
            if (!push_point(&buf, &bcap, s.n, t, v))
                goto oom;
            s.n++;
            n_stale += is_stale(v);
        }
        if (kind < 0) {
            rc = kind;
            break;
        }
        if (s.n == 0 && s.n_hist == 0)
            continue;
        s.lbls = copy_labels(c->a, set->ops->labels(set), interned);
        s.p = arena_alloc(c->a, (s.n ? s.n : 1) * sizeof(*s.p));
        if (s.lbls.v == NULL || s.p == NULL)
            goto oom;
        if (s.n > 0)
            memcpy(s.p, buf, s.n * sizeof(*s.p));
        s.counter_name = !sc->want_drops || eval_counter_name(s.lbls); /* range vectors only */
        if (n_stale == 0) {
            s.live = s.p;
            s.n_live = s.n;
        } else {
            s.live = arena_alloc(c->a, (s.n - n_stale ? s.n - n_stale : 1) * sizeof(*s.live));
            if (s.live == NULL)
                goto oom;
            for (size_t i = 0; i < s.n; i++)
                if (!is_stale(s.p[i].v))
                    s.live[s.n_live++] = s.p[i];
        }
        if (sc->want_drops) {
            s.drops = arena_alloc(c->a, (s.n_live ? s.n_live : 1) * sizeof(*s.drops));
            if (s.drops == NULL)
                goto oom;
            for (size_t i = 1; i < s.n_live; i++)
                s.drops[i] = s.drops[i - 1] + (s.live[i].v < s.live[i - 1].v);
        }
        if (sc->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            sc->s = arena_realloc(c->a, sc->s, cap * sizeof(*sc->s), nc * sizeof(*sc->s));
            cap = nc;
            if (sc->s == NULL)
                goto oom;
        }
        sc->s[sc->n++] = s;
    }
    free(buf);
    set->ops->close(set);
    c->a->oom = oom;
    return rc < 0 ? rc : 0;
oom:
    free(buf);
    set->ops->close(set);
    c->a->oom = oom;
    return eval_error(c, VIGIL_ENOMEM, "out of memory");
}

/*
 * Index of the last point with t <= ts, or -1. *hint is where the previous search for this
 * series ended (the count of points at or before its time): a range query moves forward one
 * step at a time, so the answer is usually there or a few points on, and a binary search
 * runs only when it is not (other evaluation times, subqueries).
 */
static long search_from(const promql_point_t *p, size_t n, int64_t ts, size_t *hint)
{
    size_t lo = 0, hi = n;              /* the count k of points with t <= ts is in [lo, hi] */
    size_t h = *hint <= n ? *hint : n;
    if (h == 0 || p[h - 1].t <= ts) {
        size_t stop = h + 4 < n ? h + 4 : n;
        for (lo = h; lo < stop && p[lo].t <= ts; lo++)
            ;
        if (lo < stop || lo == n) {
            *hint = lo;
            return (long)lo - 1;
        }
    } else {
        hi = h - 1;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p[mid].t <= ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    *hint = lo;
    return (long)lo - 1;
}

static bool hist_in(const sel_series_t *s, int64_t lo_excl, int64_t hi_incl)
{
    for (size_t i = 0; i < s->n_hist; i++)
        if (s->hist_t[i] > lo_excl && s->hist_t[i] <= hi_incl)
            return true;
    return false;
}

static int native_histograms(evalctx_t *c, const sel_series_t *s)
{
    return eval_error(c, VIGIL_ENOTSUP,
                      "native histograms are not supported by vigil (series %s)",
                      eval_metric_name(s->lbls));
}

static int eval_vector_selector(evalctx_t *c, const expr_t *vs, int64_t t, value_t *out)
{
    int rc = load_cache(c, (expr_t *)vs);
    if (rc != 0)
        return rc;
    sel_cache_t *sc = vs->vs.cache;
    int64_t ts = (vs->vs.tm.at != AT_NONE ? vs->vs.tm.at_ms : t) - vs->vs.tm.offset_ms;
    out->type = PT_VECTOR;
    out->vec.s = arena_alloc(c->scratch, (sc->n ? sc->n : 1) * sizeof(sample_t));
    for (size_t i = 0; i < sc->n; i++) {
        sel_series_t *s = &sc->s[i];
        long k = search_from(s->p, s->n, ts, &s->hint_vec);
        int64_t ft = k >= 0 ? s->p[k].t : INT64_MIN;
        if (s->n_hist > 0 && hist_in(s, ft > ts - c->lookback ? ft : ts - c->lookback, ts))
            return native_histograms(c, s);
        if (k < 0 || s->p[k].t <= ts - c->lookback || is_stale(s->p[k].v))
            continue;
        out->vec.s[out->vec.n++] = (sample_t){ s->lbls, s->p[k].t, s->p[k].v, false };
    }
    return eval_count_samples(c, out->vec.n);
}

/* How many series ahead eval_matrix_selector prefetches. */
#define PREFETCH_AHEAD 4

static int eval_matrix_selector(evalctx_t *c, const expr_t *e, int64_t t, value_t *out)
{
    const expr_t *vs = e->ms.vs;
    int rc = load_cache(c, (expr_t *)vs);
    if (rc != 0)
        return rc;
    sel_cache_t *sc = vs->vs.cache;
    int64_t ts = (vs->vs.tm.at != AT_NONE ? vs->vs.tm.at_ms : t) - vs->vs.tm.offset_ms;
    int64_t from = ts - e->ms.range_ms;   /* exclusive */
    out->type = PT_MATRIX;
    out->mat.s = arena_alloc(c->scratch, (sc->n ? sc->n : 1) * sizeof(mseries_t));
    size_t total = 0;
    for (size_t i = 0; i < sc->n; i++) {
        sel_series_t *s = &sc->s[i];
        /* A range query visits every series at every step, and their samples far outgrow
         * the caches: fetch the window a few series ahead will search and read. */
        if (i + PREFETCH_AHEAD < sc->n) {
            const sel_series_t *f = &sc->s[i + PREFETCH_AHEAD];
            if (f->hint_lo < f->n_live) {
                __builtin_prefetch(f->live + f->hint_lo);
                __builtin_prefetch(f->live + f->hint_hi);
            }
            __builtin_prefetch(&sc->s[i + 2 * PREFETCH_AHEAD]);
        }
        if (s->n_hist > 0 && hist_in(s, from, ts))
            return native_histograms(c, s);
        long hi = search_from(s->live, s->n_live, ts, &s->hint_hi);
        long lo = search_from(s->live, s->n_live, from, &s->hint_lo);
        if (hi <= lo)
            continue;
        out->mat.s[out->mat.n++] = (mseries_t){ s->lbls, s->live + lo + 1, (size_t)(hi - lo),
                                                false, s->counter_name,
                                                s->drops ? s->drops + lo + 1 : NULL };
        total += (size_t)(hi - lo);
    }
    return eval_count_samples(c, total);
}

/* ---- building matrices from per-step vectors ---- */

/* Where the sample at one position of the previous step's vector went. */
typedef struct mb_hint {
    const promql_label_t *v;   /* its label array */
    size_t n;
    bool drop_name;
    size_t series;
} mb_hint_t;

typedef struct mbuilder {
    strmap_t idx;
    mseries_t *s;
    size_t n, cap;
    size_t *pcap;
    arena_t *a;      /* series and points */
    arena_t *tmp;    /* lookup keys (the scratch arena) */
    /* The range result drops __name__ from samples marked for it (delayed removal) as it adds
     * them; a subquery keeps the name and marks the series instead. */
    bool strip_names;
    /*
     * Steps mostly produce the same series in the same order, and a sample's label array is
     * often one that lives for the whole query (a selector's series). When the sample at
     * position i carries the same array (and drop_name) as the one at i in the previous step,
     * it belongs to the same series, found without building and hashing its key. Arrays in
     * `released` (the scratch arena, released after every step, so an address may be reused
     * for other labels) never take this path.
     */
    mb_hint_t *hint;
    size_t hint_cap;
    const arena_t *released;
    /* Steps left including the current one: a new series' points are allocated for that many
     * (up to MB_FIRST_CAP) at once, not grown by doubling with every smaller copy left
     * behind in the arena. */
    size_t steps_left;
} mbuilder_t;

/* Bounds the first allocation of a series' points: a series seen only once in a long range
 * must not cost its whole range. */
#define MB_FIRST_CAP 256

static void mb_init(mbuilder_t *b, arena_t *a, arena_t *tmp, bool strip_names,
                    const arena_t *released)
{
    memset(b, 0, sizeof(*b));
    b->a = a;
    b->tmp = tmp;
    b->strip_names = strip_names;
    b->released = released;
    strmap_init(&b->idx, a, 16);
}

static char *labels_key(arena_t *a, promql_labels_t l, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++)
        n += strlen(l.v[i].name) + strlen(l.v[i].value) + 2;
    char *k = arena_alloc(a, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < l.n; i++) {
        size_t a1 = strlen(l.v[i].name), a2 = strlen(l.v[i].value);
        memcpy(k + o, l.v[i].name, a1);
        o += a1;
        k[o++] = '\xff';
        memcpy(k + o, l.v[i].value, a2);
        o += a2;
        k[o++] = '\xfe';
    }
    *len = o;
    return k;
}

/* The series of the sample (l, drop_name) at position `pos` of its step's vector, added (labels
 * copied into the builder's arena) when new. */
static size_t mb_series(mbuilder_t *b, size_t pos, promql_labels_t l, bool drop_name)
{
    if (pos < b->hint_cap) {
        const mb_hint_t *h = &b->hint[pos];
        if (h->v == l.v && h->v != NULL && h->n == l.n && h->drop_name == drop_name)
            return h->series;
    }
    promql_labels_t key_l = l;
    if (b->strip_names && drop_name)
        key_l = labels_without(b->tmp, l, LABEL_NAME);
    size_t klen;
    char *key = labels_key(b->tmp, key_l, &klen);
    bool found;
    size_t i = strmap_get_or_put(&b->idx, key, klen, b->n, &found);
    if (!found) {
        if (b->n == b->cap) {
            size_t nc = b->cap ? b->cap * 2 : 16;
            b->s = arena_realloc(b->a, b->s, b->cap * sizeof(*b->s), nc * sizeof(*b->s));
            b->pcap = arena_realloc(b->a, b->pcap, b->cap * sizeof(size_t), nc * sizeof(size_t));
            b->cap = nc;
        }
        /* The range result keeps long-lived labels as they are; a subquery's builder and its
         * inputs share the scratch arena, so it copies. */
        promql_labels_t kept = b->released != NULL ? labels_keep(b->a, b->released, key_l)
                                                   : labels_copy(b->a, key_l);
        b->s[b->n] = (mseries_t){ kept, NULL, 0,
                                  !b->strip_names && drop_name, false, NULL };
        b->pcap[b->n] = 0;
        b->n++;
    }
    if (b->released == NULL || !arena_owns(b->released, l.v)) {
        if (pos >= b->hint_cap) {
            size_t nc = b->hint_cap ? b->hint_cap * 2 : 64;
            while (nc <= pos)
                nc *= 2;
            b->hint = arena_realloc(b->a, b->hint, b->hint_cap * sizeof(*b->hint),
                                    nc * sizeof(*b->hint));
            b->hint_cap = nc;
        }
        b->hint[pos] = (mb_hint_t){ l.v, l.n, drop_name, i };
    }
    return i;
}

/* Appends (t, v) to the series of the sample (l, drop_name) at position `pos` of its step.
 * Returns the series index; *dup is set when the series already has a point at t. */
static size_t mb_add(mbuilder_t *b, size_t pos, promql_labels_t l, bool drop_name, int64_t t,
                     double v, bool *dup)
{
    size_t i = mb_series(b, pos, l, drop_name);
    mseries_t *s = &b->s[i];
    s->drop_name = s->drop_name || (!b->strip_names && drop_name);
    *dup = s->n > 0 && s->p[s->n - 1].t == t;
    if (s->n == b->pcap[i]) {
        size_t first = b->steps_left < 8 ? 8 : b->steps_left < MB_FIRST_CAP ? b->steps_left
                                                                              : MB_FIRST_CAP;
        size_t nc = b->pcap[i] ? b->pcap[i] * 2 : first;
        s->p = arena_realloc(b->a, s->p, b->pcap[i] * sizeof(*s->p), nc * sizeof(*s->p));
        b->pcap[i] = nc;
    }
    s->p[s->n++] = (promql_point_t){ t, v };
    return i;
}

static int eval_subquery(evalctx_t *c, const expr_t *e, int64_t t, value_t *out)
{
    int64_t ts = (e->sq.tm.at != AT_NONE ? e->sq.tm.at_ms : t) - e->sq.tm.offset_ms;
    int64_t step = e->sq.step_ms;
    int64_t first = step * ((ts - e->sq.range_ms) / step);
    if (first <= ts - e->sq.range_ms)
        first += step;
    mbuilder_t b;
    mb_init(&b, c->scratch, c->scratch, false, NULL); /* scratch is not released in between */
    size_t total = 0;
    for (int64_t it = first; it <= ts; it += step) {
        int rc = check_abort(c);
        if (rc != 0)
            return rc;
        value_t v;
        if ((rc = eval_node(c, e->sq.e, it, &v)) != 0)
            return rc;
        b.steps_left = (size_t)((ts - it) / step) + 1;
        bool dup;
        if (v.type == PT_SCALAR) {
            mb_add(&b, 0, (promql_labels_t){ NULL, 0 }, false, it, v.scalar, &dup);
            total++;
            continue;
        }
        for (size_t i = 0; i < v.vec.n; i++)
            mb_add(&b, i, v.vec.s[i].lbls, v.vec.s[i].drop_name, it, v.vec.s[i].v, &dup);
        total += v.vec.n;
    }
    out->type = PT_MATRIX;
    out->mat.s = b.s;
    out->mat.n = b.n;
    return eval_count_samples(c, total);
}

/* ---- the node switch ---- */

static int eval_call(evalctx_t *c, const expr_t *e, int64_t t, value_t *out)
{
    value_t args[8];
    value_t *av = e->call.n <= 8 ? args : arena_alloc(c->scratch, e->call.n * sizeof(value_t));
    for (size_t i = 0; i < e->call.n; i++) {
        int rc = eval_node(c, e->call.args[i], t, &av[i]);
        if (rc != 0)
            return rc;
    }
    memset(out, 0, sizeof(*out));
    return e->call.f->impl(c, e, av, t, out);
}

int eval_node(evalctx_t *c, const expr_t *e, int64_t t, value_t *out)
{
    memset(out, 0, sizeof(*out));
    int rc;
    switch (e->kind) {
    case N_NUMBER:
        out->type = PT_SCALAR;
        out->scalar = e->num.v;
        return 0;
    case N_DURATION:
        out->type = PT_SCALAR;
        out->scalar = eval_duration(c, e);
        return 0;
    case N_STRING:
        out->type = PT_STRING;
        out->str = e->str.s;
        return 0;
    case N_PAREN:
        return eval_node(c, e->paren.e, t, out);
    case N_VECTOR_SEL:
        return eval_vector_selector(c, e, t, out);
    case N_MATRIX_SEL:
        return eval_matrix_selector(c, e, t, out);
    case N_SUBQUERY:
        return eval_subquery(c, e, t, out);
    case N_UNARY:
        if ((rc = eval_node(c, e->un.e, t, out)) != 0)
            return rc;
        if (e->un.op == OP_ADD)
            return 0;
        if (out->type == PT_SCALAR) {
            out->scalar = -out->scalar;
            return 0;
        }
        {
            sample_t *s = arena_alloc(c->scratch, (out->vec.n ? out->vec.n : 1) * sizeof(*s));
            for (size_t i = 0; i < out->vec.n; i++)
                s[i] = (sample_t){ out->vec.s[i].lbls, t, -out->vec.s[i].v, true };
            out->vec.s = s;
        }
        return 0;
    case N_BINARY: {
        value_t l, r;
        if ((rc = eval_node(c, e->bin.l, t, &l)) != 0 || (rc = eval_node(c, e->bin.r, t, &r)) != 0)
            return rc;
        return eval_binary(c, e, &l, &r, t, out);
    }
    case N_CALL:
        return eval_call(c, e, t, out);
    case N_AGG: {
        value_t param = { 0 }, in;
        if (e->agg.param != NULL && (rc = eval_node(c, e->agg.param, t, &param)) != 0)
            return rc;
        if ((rc = eval_node(c, e->agg.e, t, &in)) != 0)
            return rc;
        return eval_aggregate(c, e, e->agg.param != NULL ? &param : NULL, &in, t, out);
    }
    }
    return eval_error(c, VIGIL_EINVAL, "unknown expression node");
}

/* A hash of a label set's strings, eight bytes per multiply (the duplicate check hashes every
 * sample of an instant result). */
static uint64_t labels_hash64(promql_labels_t l)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < l.n; i++) {
        const char *strs[2] = { l.v[i].name, l.v[i].value };
        for (int k = 0; k < 2; k++) {
            const char *p = strs[k];
            size_t n = strlen(p);
            for (; n >= 8; p += 8, n -= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
                h ^= h >> 31;
            }
            uint64_t w = 0;
            memcpy(&w, p, n);
            h = (h ^ w ^ ((uint64_t)n << 56)) * 0x94d049bb133111ebULL; /* n ends the string */
            h ^= h >> 29;
        }
    }
    return h;
}

int eval_check_duplicates(evalctx_t *c, const vector_t *v)
{
    if (v->n < 2)
        return 0;
    size_t cap = 16;
    while (cap < v->n * 2)
        cap *= 2;
    size_t *slot = arena_alloc(c->scratch, cap * sizeof(*slot)); /* index + 1; 0 = empty */
    for (size_t i = 0; i < v->n; i++) {
        size_t j = labels_hash64(v->s[i].lbls) & (cap - 1);
        for (; slot[j] != 0; j = (j + 1) & (cap - 1))
            if (labels_equal(v->s[slot[j] - 1].lbls, v->s[i].lbls))
                return eval_error(c, VIGIL_EINVAL,
                                  "vector cannot contain metrics with the same labelset");
        slot[j] = i + 1;
    }
    return 0;
}

/* Drops __name__ from samples marked for delayed removal. */
static void drop_names(evalctx_t *c, vector_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->s[i].drop_name) {
            v->s[i].lbls = labels_without(c->scratch, v->s[i].lbls, LABEL_NAME);
            v->s[i].drop_name = false;
        }
}

/* ---- entry points ---- */

promql_engine_t *promql_engine_create(const promql_engine_opts_t *opts)
{
    promql_engine_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->o.lookback_ms = 5 * 60 * 1000;
    e->o.max_samples = 50000000;
    e->o.timeout_ms = 2 * 60 * 1000;
    e->o.default_step_ms = 60 * 1000;
    if (opts != NULL) {
        if (opts->lookback_ms > 0)
            e->o.lookback_ms = opts->lookback_ms;
        if (opts->max_samples > 0)
            e->o.max_samples = opts->max_samples;
        e->o.timeout_ms = opts->timeout_ms;
        if (opts->default_step_ms > 0)
            e->o.default_step_ms = opts->default_step_ms;
    }
    return e;
}

void promql_engine_free(promql_engine_t *e)
{
    free(e);
}

void promql_result_free(promql_result_t *r)
{
    if (r == NULL)
        return;
    arena_t *a = r->arena_;
    arena_free(a);
    free(a);
}

const char *promql_error_type(int code)
{
    switch (code) {
    case VIGIL_EPARSE: return "bad_data";
    case VIGIL_ETIMEOUT: return "timeout";
    case VIGIL_ESTATE: return "canceled";
    case VIGIL_ENOMEM: return "internal";
    default: return "execution";
    }
}

static int cmp_series_labels(const void *a, const void *b)
{
    return labels_cmp(((const promql_series_t *)a)->labels, ((const promql_series_t *)b)->labels);
}

typedef struct query {
    evalctx_t c;
    arena_t *a;
    arena_t scratch;
    expr_t *root;
    jmp_buf oom;
} query_t;

/* Everything a query does between allocating its arenas and freeing them on failure; an
 * allocation failure anywhere in here longjmps back to run(). On success *out owns q->a. */
static int run_body(query_t *q, promql_engine_t *eng, const promql_storage_t *st, const char *qs,
                    int64_t start, int64_t end, int64_t step, bool range,
                    const promql_query_opts_t *qo, promql_result_t **out, vigil_error_t *err)
{
    int rc;
    q->a->oom = &q->oom;
    q->scratch.oom = &q->oom;
    evalctx_t *c = &q->c;
    c->a = q->a;
    c->scratch = &q->scratch;
    c->st = st;
    c->query = arena_strdup(q->a, qs);
    c->start = start;
    c->end = end;
    c->step = step;
    c->range_query = range;
    c->lookback = eng->o.lookback_ms;
    c->default_step = eng->o.default_step_ms;
    c->max_samples = eng->o.max_samples;
    c->qo = qo;
    c->err = err;
    if (eng->o.timeout_ms > 0)
        c->deadline_ns = now_ns() + eng->o.timeout_ms * 1000000;
    if ((rc = promql_parse(q->a, c->query, &q->root, err)) != 0)
        goto out_free;
    if (range && q->root->type != PT_SCALAR && q->root->type != PT_VECTOR) {
        rc = vigil_error_set(err, VIGIL_EPARSE,
                             "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                             ptype_str(q->root->type));
        goto out_free;
    }
    if ((rc = prepare(c, q->root, start, end)) != 0)
        goto out_free;

    promql_result_t *r = arena_alloc(q->a, sizeof(*r));
    if (!range) {
        value_t v;
        if ((rc = eval_node(c, q->root, start, &v)) != 0)
            goto out_free;
        r->t = start;
        switch (v.type) {
        case PT_SCALAR:
            r->type = PROMQL_VALUE_SCALAR;
            r->scalar = v.scalar;
            break;
        case PT_STRING:
            r->type = PROMQL_VALUE_STRING;
            r->string = arena_strdup(q->a, v.str);
            break;
        case PT_VECTOR:
            drop_names(c, &v.vec);
            if ((rc = eval_check_duplicates(c, &v.vec)) != 0)
                goto out_free;
            r->type = PROMQL_VALUE_VECTOR;
            r->vector = arena_alloc(q->a, (v.vec.n ? v.vec.n : 1) * sizeof(*r->vector));
            for (size_t i = 0; i < v.vec.n; i++)
                r->vector[i] = (promql_sample_t){
                    labels_keep(q->a, &q->scratch, v.vec.s[i].lbls), start, v.vec.s[i].v };
            r->n_vector = v.vec.n;
            break;
        case PT_MATRIX:
            r->type = PROMQL_VALUE_MATRIX;
            r->matrix = arena_alloc(q->a, (v.mat.n ? v.mat.n : 1) * sizeof(*r->matrix));
            for (size_t i = 0; i < v.mat.n; i++) {
                mseries_t *s = &v.mat.s[i];
                promql_labels_t l = s->drop_name ? labels_without(q->a, s->lbls, LABEL_NAME)
                                                 : s->lbls;
                promql_point_t *p = arena_alloc(q->a, (s->n ? s->n : 1) * sizeof(*p));
                if (s->n > 0)
                    memcpy(p, s->p, s->n * sizeof(*p));
                r->matrix[i] = (promql_series_t){ labels_keep(q->a, &q->scratch, l), p, s->n };
            }
            r->n_matrix = v.mat.n;
            qsort(r->matrix, r->n_matrix, sizeof(*r->matrix), cmp_series_labels);
            for (size_t i = 1; i < r->n_matrix; i++)
                if (labels_equal(r->matrix[i - 1].labels, r->matrix[i].labels)) {
                    rc = eval_error(c, VIGIL_EINVAL,
                                    "vector cannot contain metrics with the same labelset");
                    goto out_free;
                }
            break;
        default:
            rc = eval_error(c, VIGIL_EINVAL, "unexpected result type");
            goto out_free;
        }
        arena_free(&q->scratch);
    } else {
        mbuilder_t b;
        mb_init(&b, q->a, &q->scratch, true, &q->scratch);
        for (int64_t t = start; t <= end; t += step) {
            if ((rc = check_abort(c)) != 0)
                goto out_free;
            arena_mark_t mark = arena_mark(&q->scratch);
            c->cur_samples = 0;
            value_t v;
            if ((rc = eval_node(c, q->root, t, &v)) != 0)
                goto out_free;
            b.steps_left = step > 0 ? (size_t)((end - t) / step) + 1 : 1;
            bool dup = false;
            if (v.type == PT_SCALAR) {
                mb_add(&b, 0, (promql_labels_t){ NULL, 0 }, false, t, v.scalar, &dup);
                c->result_samples++;
            } else {
                for (size_t i = 0; i < v.vec.n && !dup; i++)
                    mb_add(&b, i, v.vec.s[i].lbls, v.vec.s[i].drop_name, t, v.vec.s[i].v, &dup);
                c->result_samples += v.vec.n;
            }
            if (dup) {
                rc = eval_error(c, VIGIL_EINVAL, "vector cannot contain metrics with the same labelset");
                goto out_free;
            }
            if ((rc = eval_count_samples(c, 0)) != 0)
                goto out_free;
            arena_release(&q->scratch, mark);
            if (step <= 0)
                break;
        }
        arena_free(&q->scratch);
        r->type = PROMQL_VALUE_MATRIX;
        r->matrix = arena_alloc(q->a, (b.n ? b.n : 1) * sizeof(*r->matrix));
        for (size_t i = 0; i < b.n; i++)
            r->matrix[i] = (promql_series_t){ b.s[i].lbls, b.s[i].p, b.s[i].n };
        r->n_matrix = b.n;
        qsort(r->matrix, r->n_matrix, sizeof(*r->matrix), cmp_series_labels);
    }
    r->warnings = c->warnings;
    r->n_warnings = c->n_warnings;
    r->infos = c->infos;
    r->n_infos = c->n_infos;
    q->a->oom = NULL;
    r->arena_ = q->a;
    *out = r;
    return 0;
out_free:
    return rc;
}

static int run(promql_engine_t *eng, const promql_storage_t *st, const char *qs, int64_t start,
               int64_t end, int64_t step, bool range, const promql_query_opts_t *qo,
               promql_result_t **out, vigil_error_t *err)
{
    *out = NULL;
    query_t *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    q->a = malloc(sizeof(arena_t));
    if (q->a == NULL) {
        free(q);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    arena_init(q->a);
    arena_init(&q->scratch);
    int rc;
    if (setjmp(q->oom) != 0)
        rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    else
        rc = run_body(q, eng, st, qs, start, end, step, range, qo, out, err);
    if (rc != 0) {
        *out = NULL;
        arena_free(q->a);
        free(q->a);
    }
    arena_free(&q->scratch);
    free(q);
    return rc;
}

int promql_query_instant(promql_engine_t *e, const promql_storage_t *st, const char *expr,
                         int64_t t_ms, const promql_query_opts_t *qo, promql_result_t **out,
                         vigil_error_t *err)
{
    return run(e, st, expr, t_ms, t_ms, 0, false, qo, out, err);
}

int promql_query_range(promql_engine_t *e, const promql_storage_t *st, const char *expr,
                       int64_t start_ms, int64_t end_ms, int64_t step_ms,
                       const promql_query_opts_t *qo, promql_result_t **out, vigil_error_t *err)
{
    if (step_ms <= 0)
        return vigil_error_set(err, VIGIL_EINVAL,
                               "zero or negative query resolution step widths are not accepted");
    if (end_ms < start_ms)
        return vigil_error_set(err, VIGIL_EINVAL, "end timestamp must not be before start time");
    return run(e, st, expr, start_ms, end_ms, step_ms, true, qo, out, err);
}
