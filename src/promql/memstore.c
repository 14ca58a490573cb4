/*
 * memstore.c - a small in-memory time-series store behind the storage interface (storage.h).
 *
 * It backs the .test interpreter's `load` blocks and the unit tests; it is not built for
 * volume: series sit in an array sorted by labels on demand and a hash table finds a series by
 * its label set, samples are appended to a growable array per series.
 */
#include "promql/promql_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct mem_series {
    promql_label_t *lbls;   /* owned strings, sorted */
    size_t n_lbls;
    uint64_t hash;
    int64_t *t;
    double *v;
    unsigned char *hist;    /* 1 = native histogram sample */
    size_t n, cap;
} mem_series_t;

struct promql_memstore {
    mem_series_t **s;
    size_t n, cap;
    size_t *table;          /* hash -> index+1 (0 = empty), open addressing */
    size_t table_cap;
    bool sorted;
};

promql_memstore_t *promql_memstore_create(void)
{
    return calloc(1, sizeof(promql_memstore_t));
}

static void series_free(mem_series_t *s)
{
    for (size_t i = 0; i < s->n_lbls; i++) {
        free((char *)s->lbls[i].name);
        free((char *)s->lbls[i].value);
    }
    free(s->lbls);
    free(s->t);
    free(s->v);
    free(s->hist);
    free(s);
}

void promql_memstore_clear(promql_memstore_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        series_free(m->s[i]);
    free(m->s);
    free(m->table);
    memset(m, 0, sizeof(*m));
}

void promql_memstore_free(promql_memstore_t *m)
{
    if (m == NULL)
        return;
    promql_memstore_clear(m);
    free(m);
}

static promql_labels_t series_labels(const mem_series_t *s)
{
    return (promql_labels_t){ s->lbls, s->n_lbls };
}

static int rebuild_table(promql_memstore_t *m, size_t cap)
{
    size_t *t = calloc(cap, sizeof(*t));
    if (t == NULL)
        return VIGIL_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = m->s[i]->hash & (cap - 1);
        while (t[j] != 0)
            j = (j + 1) & (cap - 1);
        t[j] = i + 1;
    }
    free(m->table);
    m->table = t;
    m->table_cap = cap;
    return 0;
}

static mem_series_t *find_or_add(promql_memstore_t *m, promql_labels_t l)
{
    uint64_t h = labels_hash(l);
    if (m->table_cap > 0) {
        size_t j = h & (m->table_cap - 1);
        while (m->table[j] != 0) {
            mem_series_t *s = m->s[m->table[j] - 1];
            if (s->hash == h && labels_equal(series_labels(s), l))
                return s;
            j = (j + 1) & (m->table_cap - 1);
        }
    }
    mem_series_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->lbls = calloc(l.n ? l.n : 1, sizeof(*s->lbls));
    if (s->lbls == NULL) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < l.n; i++) {
        s->lbls[i].name = strdup(l.v[i].name);
        s->lbls[i].value = strdup(l.v[i].value);
        s->n_lbls = i + 1;
        if (s->lbls[i].name == NULL || s->lbls[i].value == NULL) {
            series_free(s);
            return NULL;
        }
    }
    s->hash = h;
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        mem_series_t **ns = realloc(m->s, nc * sizeof(*ns));
        if (ns == NULL) {
            series_free(s);
            return NULL;
        }
        m->s = ns;
        m->cap = nc;
    }
    m->s[m->n++] = s;
    m->sorted = false;
    if (m->n * 2 > m->table_cap) {
        if (rebuild_table(m, m->table_cap ? m->table_cap * 2 : 128) != 0) {
            m->n--;
            series_free(s);
            return NULL;
        }
    } else {
        size_t j = h & (m->table_cap - 1);
        while (m->table[j] != 0)
            j = (j + 1) & (m->table_cap - 1);
        m->table[j] = m->n;
    }
    return s;
}

int promql_memstore_add(promql_memstore_t *m, const promql_label_t *ls, size_t n, int64_t t,
                        double v, bool histogram)
{
    promql_label_t tmp[64];
    promql_label_t *buf = n <= 64 ? tmp : malloc(n * sizeof(*buf));
    if (buf == NULL)
        return VIGIL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (ls[i].value[0] != '\0')   /* an empty value means the label is absent */
            buf[k++] = ls[i];
    k = labels_sort(buf, k);
    mem_series_t *s = find_or_add(m, (promql_labels_t){ buf, k });
    if (buf != tmp)
        free(buf);
    if (s == NULL)
        return VIGIL_ENOMEM;
    if (s->n > 0 && s->t[s->n - 1] >= t) {
        /* Replace at an existing timestamp; ignore out-of-order samples otherwise. */
        for (size_t i = s->n; i-- > 0;)
            if (s->t[i] == t) {
                s->v[i] = v;
                s->hist[i] = histogram;
                return 0;
            }
        return 0;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        int64_t *nt = realloc(s->t, nc * sizeof(*nt));
        if (nt == NULL)
            return VIGIL_ENOMEM;
        s->t = nt;
        double *nv = realloc(s->v, nc * sizeof(*nv));
        if (nv == NULL)
            return VIGIL_ENOMEM;
        s->v = nv;
        unsigned char *nh = realloc(s->hist, nc);
        if (nh == NULL)
            return VIGIL_ENOMEM;
        s->hist = nh;
        s->cap = nc;
    }
    s->t[s->n] = t;
    s->v[s->n] = v;
    s->hist[s->n] = histogram;
    s->n++;
    return 0;
}

static int cmp_series(const void *a, const void *b)
{
    const mem_series_t *x = *(mem_series_t *const *)a, *y = *(mem_series_t *const *)b;
    return labels_cmp(series_labels(x), series_labels(y));
}

static void ensure_sorted(promql_memstore_t *m)
{
    if (m->sorted)
        return;
    if (m->n > 1)
        qsort(m->s, m->n, sizeof(*m->s), cmp_series);
    rebuild_table(m, m->table_cap ? m->table_cap : 128);
    m->sorted = true;
}

static bool series_matches(const mem_series_t *s, const promql_matcher_t *ms, size_t n)
{
    promql_labels_t l = series_labels(s);
    for (size_t i = 0; i < n; i++)
        if (!promql_matcher_matches(&ms[i], labels_get(l, ms[i].name)))
            return false;
    return true;
}

/* A selection: the matching series' indices, walked in order. */
typedef struct mem_set {
    promql_series_set_t base;
    promql_memstore_t *m;
    size_t *idx;
    size_t n, cur;          /* cur = 1-based index of the current series */
    size_t pos, stop;       /* sample cursor in the current series */
    int64_t mint, maxt;
} mem_set_t;

static int set_next(promql_series_set_t *ss, vigil_error_t *err)
{
    mem_set_t *s = (mem_set_t *)ss;
    if (s->cur >= s->n)
        return 0;
    mem_series_t *ms = s->m->s[s->idx[s->cur++]];
    size_t lo = 0, hi = ms->n;
    while (lo < hi) {   /* first sample >= mint */
        size_t mid = (lo + hi) / 2;
        if (ms->t[mid] < s->mint)
            lo = mid + 1;
        else
            hi = mid;
    }
    s->pos = lo;
    s->stop = ms->n;
    return 1;
}

static promql_labels_t set_labels(promql_series_set_t *ss)
{
    mem_set_t *s = (mem_set_t *)ss;
    return series_labels(s->m->s[s->idx[s->cur - 1]]);
}

static int set_sample(promql_series_set_t *ss, int64_t *t, double *v, vigil_error_t *err)
{
    mem_set_t *s = (mem_set_t *)ss;
    mem_series_t *ms = s->m->s[s->idx[s->cur - 1]];
    if (s->pos >= s->stop || ms->t[s->pos] > s->maxt)
        return PROMQL_SAMPLE_END;
    *t = ms->t[s->pos];
    *v = ms->v[s->pos];
    int kind = ms->hist[s->pos] ? PROMQL_SAMPLE_HISTOGRAM : PROMQL_SAMPLE_FLOAT;
    s->pos++;
    return kind;
}

static void set_close(promql_series_set_t *ss)
{
    mem_set_t *s = (mem_set_t *)ss;
    free(s->idx);
    free(s);
}

/* No last(): every sample is in memory already, so the engine reads them. */
static const promql_series_set_ops_t mem_set_ops = { set_next, set_labels, set_sample, set_close,
                                                     NULL };

static int mem_select(void *ctx, const promql_matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                      promql_series_set_t **out, vigil_error_t *err)
{
    promql_memstore_t *m = ctx;
    ensure_sorted(m);
    mem_set_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    s->idx = malloc((m->n ? m->n : 1) * sizeof(*s->idx));
    if (s->idx == NULL) {
        free(s);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    s->base.ops = &mem_set_ops;
    s->m = m;
    s->mint = mint;
    s->maxt = maxt;
    for (size_t i = 0; i < m->n; i++)
        if (series_matches(m->s[i], ms, n))
            s->idx[s->n++] = i;
    *out = &s->base;
    return 0;
}

static int add_unique(promql_strings_t *out, const char *v)
{
    for (size_t i = 0; i < out->n; i++)
        if (strcmp(out->v[i], v) == 0)
            return 0;
    char **nv = realloc(out->v, (out->n + 1) * sizeof(char *));
    if (nv == NULL)
        return VIGIL_ENOMEM;
    out->v = nv;
    if ((out->v[out->n] = strdup(v)) == NULL)
        return VIGIL_ENOMEM;
    out->n++;
    return 0;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mem_labels(promql_memstore_t *m, const char *name, const promql_matcher_t *ms,
                      size_t n, promql_strings_t *out, vigil_error_t *err)
{
    out->v = NULL;
    out->n = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (!series_matches(m->s[i], ms, n))
            continue;
        for (size_t j = 0; j < m->s[i]->n_lbls; j++) {
            const promql_label_t *l = &m->s[i]->lbls[j];
            if (name != NULL && strcmp(l->name, name) != 0)
                continue;
            if (add_unique(out, name != NULL ? l->value : l->name) != 0) {
                promql_strings_free(out);
                return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
            }
        }
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(char *), cmp_cstr);
    return 0;
}

static int mem_label_names(void *ctx, const promql_matcher_t *ms, size_t n, int64_t mint,
                           int64_t maxt, promql_strings_t *out, vigil_error_t *err)
{
    return mem_labels(ctx, NULL, ms, n, out, err);
}

static int mem_label_values(void *ctx, const char *name, const promql_matcher_t *ms, size_t n,
                            int64_t mint, int64_t maxt, promql_strings_t *out, vigil_error_t *err)
{
    return mem_labels(ctx, name, ms, n, out, err);
}

static const promql_storage_ops_t mem_ops = { mem_select, mem_label_names, mem_label_values };

promql_storage_t promql_memstore_storage(promql_memstore_t *m)
{
    return (promql_storage_t){ &mem_ops, m };
}
