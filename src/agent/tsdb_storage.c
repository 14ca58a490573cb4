/*
 * tsdb_storage.c - promql_storage_ops_t over tsdb_t (see tsdb_storage.h).
 *
 * A selection is a tsdb series set plus an iterator for the current series, opened when its
 * samples are first read (a selector evaluated at one time may need only the last sample,
 * which the store can often hand over without copying and decoding the series). Label sets
 * are handed to PromQL as copies of the pointer pairs (the strings stay interned in the store),
 * so neither side depends on the other's struct layout.
 */
#include "agent/tsdb_storage.h"

#include <stdlib.h>
#include <string.h>

#define STORAGE_MAX_MATCHERS 64

typedef struct tsdb_selection {
    promql_series_set_t base;   /* must stay first: PromQL sees this */
    tsdb_series_set_t  *set;
    size_t              next;   /* index of the series next() moves to */
    tsdb_iter_t        *iter;   /* over the current series; opened by the first sample() */
    bool                opened; /* iter was opened for the current series */
    promql_label_t     *labels; /* the current series' labels, as PromQL pairs */
    size_t              labels_cap;
    size_t              n_labels;
} tsdb_selection_t;

static int convert_matchers(const promql_matcher_t *ms, size_t n, tsdb_matcher_t *out,
                            vigil_error_t *err)
{
    if (n > STORAGE_MAX_MATCHERS)
        return vigil_error_set(err, VIGIL_ELIMIT, "more than %d label matchers",
                               STORAGE_MAX_MATCHERS);
    static const tsdb_match_type_t types[] = {
        [PROMQL_MATCH_EQ] = TSDB_MATCH_EQ, [PROMQL_MATCH_NEQ] = TSDB_MATCH_NEQ,
        [PROMQL_MATCH_RE] = TSDB_MATCH_RE, [PROMQL_MATCH_NRE] = TSDB_MATCH_NRE,
    };
    for (size_t i = 0; i < n; i++)
        out[i] = (tsdb_matcher_t){ types[ms[i].op], ms[i].name, ms[i].value };
    return 0;
}

static int selection_next(promql_series_set_t *ss, vigil_error_t *err)
{
    tsdb_selection_t *sel = (tsdb_selection_t *)ss;
    tsdb_iter_free(sel->iter);
    sel->iter = NULL;
    if (sel->next >= tsdb_series_set_len(sel->set))
        return 0;
    size_t i = sel->next++;
    size_t n;
    const tsdb_label_t *ls = tsdb_series_labels(sel->set, i, &n);
    if (n > sel->labels_cap) {
        promql_label_t *p = realloc(sel->labels, n * sizeof(*p));
        if (p == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
        sel->labels = p;
        sel->labels_cap = n;
    }
    for (size_t k = 0; k < n; k++)
        sel->labels[k] = (promql_label_t){ ls[k].name, ls[k].value };
    sel->n_labels = n;
    sel->opened = false; /* opening copies head data: only when samples are read */
    return 1;
}

static promql_labels_t selection_labels(promql_series_set_t *ss)
{
    tsdb_selection_t *sel = (tsdb_selection_t *)ss;
    return (promql_labels_t){ sel->labels, sel->n_labels };
}

static int selection_sample(promql_series_set_t *ss, int64_t *t, double *v, vigil_error_t *err)
{
    tsdb_selection_t *sel = (tsdb_selection_t *)ss;
    if (!sel->opened && sel->next > 0) {
        sel->opened = true;
        if (tsdb_iter_open(sel->set, sel->next - 1, &sel->iter) != 0)
            return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    if (sel->iter == NULL || !tsdb_iter_next(sel->iter, t, v))
        return PROMQL_SAMPLE_END;
    return PROMQL_SAMPLE_FLOAT;
}

static int selection_last(promql_series_set_t *ss, int64_t *t, double *v, vigil_error_t *err)
{
    (void)err;
    tsdb_selection_t *sel = (tsdb_selection_t *)ss;
    if (sel->next == 0)
        return PROMQL_SAMPLE_END;
    switch (tsdb_series_last(sel->set, sel->next - 1, t, v)) {
    case 1: return PROMQL_SAMPLE_FLOAT;
    case 0: return PROMQL_SAMPLE_END;
    default: return PROMQL_SAMPLE_UNKNOWN;
    }
}

static void selection_close(promql_series_set_t *ss)
{
    tsdb_selection_t *sel = (tsdb_selection_t *)ss;
    tsdb_iter_free(sel->iter);
    tsdb_series_set_free(sel->set);
    free(sel->labels);
    free(sel);
}

static const promql_series_set_ops_t selection_ops = {
    .next = selection_next,
    .labels = selection_labels,
    .sample = selection_sample,
    .close = selection_close,
    .last = selection_last,
};

static int storage_select(void *ctx, const promql_matcher_t *ms, size_t n, int64_t mint,
                          int64_t maxt, promql_series_set_t **out, vigil_error_t *err)
{
    tsdb_matcher_t tm[STORAGE_MAX_MATCHERS];
    int rc = convert_matchers(ms, n, tm, err);
    if (rc != 0)
        return rc;
    tsdb_selection_t *sel = calloc(1, sizeof(*sel));
    if (sel == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    rc = tsdb_select(ctx, tm, n, mint, maxt, &sel->set, err);
    if (rc != 0) {
        free(sel);
        return rc;
    }
    sel->base.ops = &selection_ops;
    *out = &sel->base;
    return 0;
}

/* tsdb_strings_t and promql_strings_t are both "sorted unique malloc'd strings": hand the
 * array over rather than copy it. */
static void move_strings(tsdb_strings_t *from, promql_strings_t *to)
{
    to->v = from->v;
    to->n = from->n;
    from->v = NULL;
    from->n = 0;
}

static int storage_label_names(void *ctx, const promql_matcher_t *ms, size_t n, int64_t mint,
                               int64_t maxt, promql_strings_t *out, vigil_error_t *err)
{
    tsdb_matcher_t tm[STORAGE_MAX_MATCHERS];
    tsdb_strings_t s = { NULL, 0 };
    int rc = convert_matchers(ms, n, tm, err);
    rc = rc ? rc : tsdb_label_names(ctx, tm, n, mint, maxt, 0, &s, err);
    if (rc == 0)
        move_strings(&s, out);
    return rc;
}

static int storage_label_values(void *ctx, const char *name, const promql_matcher_t *ms,
                                size_t n, int64_t mint, int64_t maxt, promql_strings_t *out,
                                vigil_error_t *err)
{
    tsdb_matcher_t tm[STORAGE_MAX_MATCHERS];
    tsdb_strings_t s = { NULL, 0 };
    int rc = convert_matchers(ms, n, tm, err);
    rc = rc ? rc : tsdb_label_values(ctx, name, tm, n, mint, maxt, 0, &s, err);
    if (rc == 0)
        move_strings(&s, out);
    return rc;
}

static const promql_storage_ops_t tsdb_storage_ops = {
    .select = storage_select,
    .label_names = storage_label_names,
    .label_values = storage_label_values,
};

promql_storage_t tsdb_storage(tsdb_t *db)
{
    return (promql_storage_t){ &tsdb_storage_ops, db };
}
