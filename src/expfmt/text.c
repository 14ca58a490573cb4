/*
 * text.c - the strict checks of the text format 0.0.4: what prometheus/common's text parser
 * (the one behind `promtool check metrics`) rejects beyond the syntax.
 *
 * That parser keeps every metric family of the exposition by name, so unlike OpenMetrics a
 * family may come back later in the input. It rejects a second HELP or TYPE line for a name, a
 * TYPE line after samples of that name, the reserved label name __name__, a summary sample
 * without a "quantile" label and a histogram bucket without "le", and le/quantile values that
 * are not numbers. Samples named <base>_sum/_count (summary, histogram) and <base>_bucket
 * (histogram) belong to the typed family <base>.
 */
#include "expfmt/expfmt_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The 32-bit value of each family's slot. */
enum {
    F_HELP = 1u << 0,
    F_TYPE = 1u << 1,
    F_SAMPLES = 1u << 2,
    F_TYPE_SHIFT = 8, /* the expfmt_type_t sits above the flags */
};

struct expfmt_text_state {
    strset_t families; /* family name -> flags | type << F_TYPE_SHIFT */
};

int text_state_new(expfmt_parser_t *p)
{
    expfmt_text_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return VIGIL_ENOMEM;
    strset_init(&st->families, p->len + 64); /* names come from the input */
    p->text = st;
    return 0;
}

void text_state_free(expfmt_parser_t *p)
{
    if (p->text == NULL)
        return;
    strset_free(&p->text->families);
    free(p->text);
    p->text = NULL;
}

static expfmt_type_t type_of(uint32_t v)
{
    return (expfmt_type_t)(v >> F_TYPE_SHIFT);
}

int text_metadata(expfmt_parser_t *p, expfmt_entry_t *e, const char *at_name,
                  vigil_error_t *err)
{
    char q[EXPFMT_QUOTE_MAX];
    bool added;
    int rc;
    strset_slot_t *f = strset_lookup(&p->text->families, e->name.ptr, e->name.len, true, &added,
                                     &rc);
    if (f == NULL)
        return expfmt_fail(p, err, at_name, rc, "no memory for the family table");
    const char *name = expfmt_quote(q, sizeof(q), e->name.ptr, e->name.len);
    e->family = e->name;
    if (e->kind == EXPFMT_ENTRY_HELP) {
        if (f->value & F_HELP)
            return expfmt_fail(p, err, at_name, VIGIL_EPARSE,
                               "second HELP line for metric name %s", name);
        f->value |= F_HELP;
        e->type = type_of(f->value);
        return 0;
    }
    if (f->value & (F_TYPE | F_SAMPLES))
        return expfmt_fail(p, err, at_name, VIGIL_EPARSE,
                           (f->value & F_TYPE) ? "second TYPE line for metric name %s"
                                               : "TYPE line for metric name %s after its "
                                                 "samples",
                           name);
    f->value |= F_TYPE | ((uint32_t)e->type << F_TYPE_SHIFT);
    return 0;
}

static bool ends_with(expfmt_str_t s, const char *suffix, size_t n)
{
    return s.len > n && memcmp(s.ptr + s.len - n, suffix, n) == 0;
}

int text_sample(expfmt_parser_t *p, expfmt_entry_t *e, const char *at_labels,
                vigil_error_t *err)
{
    expfmt_text_state_t *st = p->text;
    char q[EXPFMT_QUOTE_MAX], q2[EXPFMT_QUOTE_MAX];
    bool added;
    int rc;
    strset_slot_t *f = NULL;
    e->family = e->name;
    e->type = EXPFMT_TYPE_UNKNOWN;

    /* A typed summary or histogram claims its _sum, _count and _bucket samples. */
    size_t sl = ends_with(e->name, "_sum", 4) ? 4 : ends_with(e->name, "_count", 6) ? 6
                : ends_with(e->name, "_bucket", 7) ? 7 : 0;
    if (sl != 0) {
        f = strset_lookup(&st->families, e->name.ptr, e->name.len - sl, false, &added, &rc);
        expfmt_type_t t = f != NULL ? type_of(f->value) : EXPFMT_TYPE_UNKNOWN;
        if (f != NULL && (t == EXPFMT_TYPE_HISTOGRAM || (t == EXPFMT_TYPE_SUMMARY && sl != 7)))
            e->family.len = e->name.len - sl;
        else
            f = NULL;
    }
    if (f == NULL) {
        f = strset_lookup(&st->families, e->name.ptr, e->name.len, true, &added, &rc);
        if (f == NULL)
            return expfmt_fail(p, err, e->name.ptr, rc, "no memory for the family table");
    }
    f->value |= F_SAMPLES;
    e->type = type_of(f->value);

    for (size_t i = 0; i < e->nlabels; i++)
        if (expfmt_str_eq(e->labels[i].name, "__name__", 8))
            return expfmt_fail(p, err, e->labels[i].name.ptr, VIGIL_EPARSE,
                               "label name \"__name__\" is reserved");

    const char *need = NULL;
    if (e->type == EXPFMT_TYPE_SUMMARY && e->family.len == e->name.len)
        need = "quantile";
    else if (e->type == EXPFMT_TYPE_HISTOGRAM && sl == 7)
        need = "le";
    if (need != NULL) {
        const expfmt_label_t *l = expfmt_find_label(e->labels, e->nlabels, need);
        double v;
        if (l == NULL)
            return expfmt_fail(p, err, at_labels != NULL ? at_labels : e->name.ptr, VIGIL_EPARSE,
                               "%s sample %s has no \"%s\" label",
                               expfmt_type_name(e->type, EXPFMT_TEXT),
                               expfmt_quote(q, sizeof(q), e->name.ptr, e->name.len), need);
        if (!expfmt_parse_number(p, l->value.ptr, l->value.len, true, &v))
            return expfmt_fail(p, err, l->value.ptr, VIGIL_EPARSE,
                               "expected a number as the value of the \"%s\" label, found %s",
                               need, expfmt_quote(q2, sizeof(q2), l->value.ptr, l->value.len));
    }
    return 0;
}
