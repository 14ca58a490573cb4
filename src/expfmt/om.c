/*
 * om.c - OpenMetrics metric families, and the semantic checks of strict mode.
 *
 * Both modes track the current family the way the OpenMetrics text format defines it: a
 * metadata line for a new name, or a sample whose name the current family's type cannot
 * produce (a counter "foo" produces foo_total and foo_created), starts the next family. That
 * is what gives each sample its family and type.
 *
 * Strict mode then applies the OpenMetrics 1.0 rules that the conformance suite exercises:
 *  - metadata: at most one TYPE, HELP and UNIT per family, all before its first sample; a
 *    non-empty unit is the name's "_unit" suffix and is absent for info and stateset;
 *  - names: no two families may produce the same sample name (a gauge "a_created" and a
 *    counter "a" clash), which also rejects a family that comes back after another one;
 *  - metrics (a family's samples with the same labels, less le/quantile/the stateset label)
 *    are contiguous; within one, timestamps are all present or all absent and never go back
 *    (info excepted);
 *  - per type: counter _total, histogram and summary _sum/_count/buckets are not NaN nor
 *    negative, counts are integers, summary quantile values are not negative, le and
 *    quantile are numbers (quantile in [0, 1]), info is 1 and stateset 0 or 1, stateset samples
 *    carry the family-name label;
 *  - histogram metric points (one metric at one timestamp): le strictly increasing, bucket
 *    values non-decreasing, a +Inf bucket, _count equal to it, _count present iff _sum (or
 *    _gcount iff _gsum), no _sum with negative buckets, no negative _gsum without them;
 *  - exemplars only on histogram buckets and counter totals, with at most 128 code points of
 *    label names and values;
 *  - names starting with '_' are reserved and rejected.
 * Lenient mode checks only the unit suffix (as Prometheus's parser does).
 */
#include "expfmt/expfmt_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What a sample is to its family, from its name's suffix. */
typedef enum sample_kind {
    SK_VALUE,   /* no suffix: gauge, unknown, stateset, summary quantile */
    SK_TOTAL,
    SK_CREATED,
    SK_COUNT,
    SK_SUM,
    SK_BUCKET,
    SK_GCOUNT,
    SK_GSUM,
    SK_INFO,
} sample_kind_t;

typedef struct suffix {
    const char *text;
    sample_kind_t kind;
} suffix_t;

/* The suffixes each type's samples carry (OpenMetrics 1.0, "Suffixes"). */
static const suffix_t sfx_plain[] = { { "", SK_VALUE }, { NULL, 0 } };
static const suffix_t sfx_counter[] = { { "_total", SK_TOTAL }, { "_created", SK_CREATED },
                                        { NULL, 0 } };
static const suffix_t sfx_summary[] = { { "", SK_VALUE },
                                        { "_count", SK_COUNT },
                                        { "_sum", SK_SUM },
                                        { "_created", SK_CREATED },
                                        { NULL, 0 } };
static const suffix_t sfx_histogram[] = { { "_count", SK_COUNT },
                                          { "_sum", SK_SUM },
                                          { "_bucket", SK_BUCKET },
                                          { "_created", SK_CREATED },
                                          { NULL, 0 } };
static const suffix_t sfx_gaugehistogram[] = { { "_gcount", SK_GCOUNT },
                                               { "_gsum", SK_GSUM },
                                               { "_bucket", SK_BUCKET },
                                               { NULL, 0 } };
static const suffix_t sfx_info[] = { { "_info", SK_INFO }, { NULL, 0 } };

static const suffix_t *suffixes_of(expfmt_type_t t)
{
    switch (t) {
    case EXPFMT_TYPE_COUNTER: return sfx_counter;
    case EXPFMT_TYPE_SUMMARY: return sfx_summary;
    case EXPFMT_TYPE_HISTOGRAM: return sfx_histogram;
    case EXPFMT_TYPE_GAUGEHISTOGRAM: return sfx_gaugehistogram;
    case EXPFMT_TYPE_INFO: return sfx_info;
    default: return sfx_plain;
    }
}

/* The histogram metric point being checked (strict mode). */
typedef struct hist_point {
    bool active;
    buf_t key;        /* the metric's group key */
    bool has_ts;
    double ts;
    size_t line;      /* where the point started, for messages */
    bool has_bucket, has_count, has_sum, has_gsum, neg_buckets, neg_gsum;
    double bucket;    /* the last le */
    double value;     /* the last bucket value */
    double count;
} hist_point_t;

struct expfmt_om_state {
    bool strict;
    bool in_family;
    expfmt_str_t name;    /* points into the input */
    expfmt_type_t type;
    bool has_type, has_help, has_unit;
    expfmt_str_t unit;
    size_t family_line;
    size_t nsamples;
    double ts;            /* the current sample's timestamp in seconds */

    /* strict only */
    buf_t key;            /* the current sample's group key */
    buf_t group;          /* the previous sample's group key */
    bool has_group, group_has_ts;
    double group_ts;
    strset_t seen_groups; /* group keys of the current family */
    strset_t names;       /* every sample name the finished families can produce */
    hist_point_t h;
    strset_t point_series; /* series already seen in the histogram point (duplicates) */
    const expfmt_label_t **sorted;
    size_t sorted_cap;
};

int om_state_new(expfmt_parser_t *p)
{
    expfmt_om_state_t *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return VIGIL_ENOMEM;
    st->strict = p->mode == EXPFMT_STRICT;
    /* Keys are made of label names and values of one line, and sets hold keys of the input:
     * none can outgrow a small multiple of the input. */
    size_t cap = p->len * 2 + 4096;
    buf_init(&st->key, cap);
    buf_init(&st->group, cap);
    buf_init(&st->h.key, cap);
    strset_init(&st->seen_groups, cap);
    strset_init(&st->names, cap * 2);
    strset_init(&st->point_series, cap);
    p->om = st;
    return 0;
}

void om_state_free(expfmt_parser_t *p)
{
    expfmt_om_state_t *st = p->om;
    if (st == NULL)
        return;
    buf_free(&st->key);
    buf_free(&st->group);
    buf_free(&st->h.key);
    strset_free(&st->seen_groups);
    strset_free(&st->names);
    strset_free(&st->point_series);
    free(st->sorted);
    free(st);
    p->om = NULL;
}

void om_note_timestamp(expfmt_parser_t *p, double seconds)
{
    p->om->ts = seconds;
}

/* Equal contents; either buffer may be empty and never allocated (data NULL). */
static bool bytes_eq(const buf_t *a, const buf_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static bool is_info_or_stateset(expfmt_type_t t)
{
    return t == EXPFMT_TYPE_INFO || t == EXPFMT_TYPE_STATESET;
}

/* ---- histogram metric points ------------------------------------------------------------- */

static int hist_done(expfmt_parser_t *p, vigil_error_t *err)
{
    expfmt_om_state_t *st = p->om;
    hist_point_t *h = &st->h;
    char q[EXPFMT_QUOTE_MAX];
    const char *fam = expfmt_quote(q, sizeof(q), st->name.ptr, st->name.len);
    bool gauge = st->type == EXPFMT_TYPE_GAUGEHISTOGRAM;
    h->active = false;
    if (!h->has_bucket || !(isinf(h->bucket) && h->bucket > 0))
        return expfmt_fail_at(p, err, h->line, 1, VIGIL_EPARSE,
                              "histogram %s: the metric point starting here has no "
                              "le=\"+Inf\" bucket", fam);
    if (h->has_count && h->value != h->count)
        return expfmt_fail_at(p, err, h->line, 1, VIGIL_EPARSE,
                              "histogram %s: %s is %.17g but the +Inf bucket is %.17g", fam,
                              gauge ? "_gcount" : "_count", h->count, h->value);
    if (h->has_sum && !h->has_count)
        return expfmt_fail_at(p, err, h->line, 1, VIGIL_EPARSE,
                              "histogram %s: _sum without _count", fam);
    if (h->has_gsum && !h->has_count)
        return expfmt_fail_at(p, err, h->line, 1, VIGIL_EPARSE,
                              "gauge histogram %s: _gsum without _gcount", fam);
    if (h->has_count && !h->has_sum && !h->has_gsum)
        return expfmt_fail_at(p, err, h->line, 1, VIGIL_EPARSE,
                              "histogram %s: %s without %s", fam, gauge ? "_gcount" : "_count",
                              gauge ? "_gsum" : "_sum");
    if (h->neg_buckets && h->has_sum)
        return expfmt_fail_at(p, err, h->line, 1, VIGIL_EPARSE,
                              "histogram %s: a histogram with negative buckets must not have "
                              "_sum", fam);
    if (!h->neg_buckets && h->neg_gsum)
        return expfmt_fail_at(p, err, h->line, 1, VIGIL_EPARSE,
                              "gauge histogram %s: negative _gsum without negative buckets", fam);
    return 0;
}

static int hist_sample(expfmt_parser_t *p, const expfmt_entry_t *e, sample_kind_t sk,
                       const expfmt_label_t *le, double le_value, vigil_error_t *err)
{
    expfmt_om_state_t *st = p->om;
    hist_point_t *h = &st->h;
    char q[EXPFMT_QUOTE_MAX];
    int rc;
    bool same = h->active && bytes_eq(&h->key, &st->key) &&
                h->has_ts == e->has_timestamp && (!h->has_ts || h->ts == st->ts);
    if (!same) {
        if (h->active && (rc = hist_done(p, err)) != 0)
            return rc;
        buf_reset(&h->key);
        if (st->key.len > 0 && (rc = buf_append(&h->key, st->key.data, st->key.len)) != 0)
            return expfmt_fail(p, err, NULL, rc, "no memory for the histogram check");
        h->active = true;
        h->has_ts = e->has_timestamp;
        h->ts = st->ts;
        h->line = p->line_no;
        h->has_bucket = h->has_count = h->has_sum = h->has_gsum = false;
        h->neg_buckets = h->neg_gsum = false;
        h->value = 0;
        strset_clear(&st->point_series);
    }
    /* A sample repeated at the same timestamp (timestamps truncated by the exposer) is a
     * duplicate, not a second bucket: only its first occurrence counts. */
    char id[1 + 64];
    size_t idlen = 1;
    id[0] = (char)sk;
    const void *key = id;
    if (le != NULL) {
        buf_reset(&st->key); /* the group key is in h->key now; reuse its buffer */
        if ((rc = buf_putc(&st->key, (char)sk)) != 0 ||
            (rc = buf_append(&st->key, le->value.ptr, le->value.len)) != 0)
            return expfmt_fail(p, err, NULL, rc, "no memory for the histogram check");
        key = st->key.data;
        idlen = st->key.len;
    }
    bool added;
    if (strset_lookup(&st->point_series, key, idlen, true, &added, &rc) == NULL)
        return expfmt_fail(p, err, NULL, rc, "no memory for the histogram check");
    if (!added)
        return 0;
    switch (sk) {
    case SK_BUCKET:
        if (le_value < 0)
            h->neg_buckets = true;
        if (h->has_bucket && le_value <= h->bucket)
            return expfmt_fail(p, err, le->value.ptr, VIGIL_EPARSE,
                               "bucket le=%s comes after le=%.17g: buckets must be sorted by "
                               "increasing le",
                               expfmt_quote(q, sizeof(q), le->value.ptr, le->value.len),
                               h->bucket);
        if (e->value < h->value)
            return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                               "bucket le=%s has %.17g, less than the previous bucket's %.17g "
                               "(buckets are cumulative)",
                               expfmt_quote(q, sizeof(q), le->value.ptr, le->value.len),
                               e->value, h->value);
        h->has_bucket = true;
        h->bucket = le_value;
        h->value = e->value;
        break;
    case SK_COUNT:
    case SK_GCOUNT:
        h->has_count = true;
        h->count = e->value;
        break;
    case SK_SUM:
        h->has_sum = true;
        break;
    case SK_GSUM:
        h->has_gsum = true;
        if (e->value < 0)
            h->neg_gsum = true;
        break;
    default:
        break;
    }
    return 0;
}

/* ---- families ------------------------------------------------------------------------------ */

/* The family is over: finish its histogram point and claim the sample names it produces. */
static int end_family(expfmt_parser_t *p, vigil_error_t *err)
{
    expfmt_om_state_t *st = p->om;
    int rc;
    if (!st->in_family)
        return 0;
    st->in_family = false;
    if (!st->strict)
        return 0;
    if (st->h.active && (rc = hist_done(p, err)) != 0)
        return rc;
    char q[EXPFMT_QUOTE_MAX];
    /* Every type may produce the bare name (summary quantiles, or a sample that falls out of
     * the family), so it is claimed too, as the conformance suite's reference parser does. */
    const suffix_t *sfx = suffixes_of(st->type);
    for (int pass = 0; pass < 2; pass++) {
        for (const suffix_t *s = pass == 0 ? sfx_plain : sfx; s->text != NULL; s++) {
            if (pass == 1 && s->text[0] == '\0')
                continue;
            size_t sl = strlen(s->text);
            buf_reset(&st->key);
            if ((rc = buf_append(&st->key, st->name.ptr, st->name.len)) != 0 ||
                (rc = buf_append(&st->key, s->text, sl)) != 0)
                return expfmt_fail(p, err, NULL, rc, "no memory for the family names");
            bool added;
            if (strset_lookup(&st->names, st->key.data, st->key.len, true, &added, &rc) == NULL)
                return expfmt_fail(p, err, NULL, rc, "no memory for the family names");
            if (!added)
                return expfmt_fail_at(p, err, st->family_line, 1, VIGIL_EPARSE,
                                      "metric family %s (%s) clashes with an earlier family: "
                                      "both can produce the sample name %s (families must "
                                      "have unique names and must not be interleaved)",
                                      expfmt_quote(q, sizeof(q), st->name.ptr, st->name.len),
                                      expfmt_type_name(st->type, EXPFMT_OPENMETRICS),
                                      st->key.data);
        }
    }
    return 0;
}

static int start_family(expfmt_parser_t *p, expfmt_str_t name, const char *at,
                        vigil_error_t *err)
{
    expfmt_om_state_t *st = p->om;
    st->in_family = true;
    st->name = name;
    st->type = EXPFMT_TYPE_UNKNOWN;
    st->has_type = st->has_help = st->has_unit = false;
    st->unit = (expfmt_str_t){ NULL, 0 };
    st->family_line = p->line_no;
    st->nsamples = 0;
    if (!st->strict)
        return 0;
    st->has_group = false;
    st->h.active = false;
    strset_clear(&st->seen_groups);
    if (name.ptr[0] == '_') {
        char q[EXPFMT_QUOTE_MAX];
        return expfmt_fail(p, err, at, VIGIL_EPARSE,
                           "metric family name %s is reserved (names starting with '_' are)",
                           expfmt_quote(q, sizeof(q), name.ptr, name.len));
    }
    return 0;
}

int om_metadata(expfmt_parser_t *p, expfmt_entry_t *e, const char *at_name,
                const char *at_value, vigil_error_t *err)
{
    expfmt_om_state_t *st = p->om;
    char q[EXPFMT_QUOTE_MAX];
    int rc;
    const char *fam = expfmt_quote(q, sizeof(q), e->name.ptr, e->name.len);
    if (!st->in_family || !expfmt_str_eq(st->name, e->name.ptr, e->name.len)) {
        if ((rc = end_family(p, err)) != 0 || (rc = start_family(p, e->name, at_name, err)) != 0)
            return rc;
    } else if (st->nsamples > 0) {
        if (st->strict)
            return expfmt_fail(p, err, p->line, VIGIL_EPARSE,
                               "metadata for %s after its samples (TYPE, UNIT and HELP come "
                               "before a family's samples)", fam);
        /* Lenient: Prometheus just takes the new metadata for what follows. */
        st->has_type = st->has_help = st->has_unit = false;
        st->nsamples = 0;
    }
    e->family = e->name;
    switch (e->kind) {
    case EXPFMT_ENTRY_TYPE:
        if (st->strict && st->has_type)
            return expfmt_fail(p, err, p->line, VIGIL_EPARSE, "second TYPE line for %s", fam);
        if (st->strict && st->has_unit && st->unit.len > 0 && is_info_or_stateset(e->type))
            return expfmt_fail(p, err, at_value, VIGIL_EPARSE,
                               "%s has a unit, which %s families must not have", fam,
                               expfmt_type_name(e->type, EXPFMT_OPENMETRICS));
        st->has_type = true;
        st->type = e->type;
        break;
    case EXPFMT_ENTRY_HELP:
        if (st->strict && st->has_help)
            return expfmt_fail(p, err, p->line, VIGIL_EPARSE, "second HELP line for %s", fam);
        st->has_help = true;
        break;
    case EXPFMT_ENTRY_UNIT:
        if (st->strict && st->has_unit)
            return expfmt_fail(p, err, p->line, VIGIL_EPARSE, "second UNIT line for %s", fam);
        if (e->text.len > 0) {
            /* The family name must end in "_<unit>" (Prometheus checks this too). */
            size_t ul = e->text.len, nl = e->name.len;
            if (nl < ul + 1 || e->name.ptr[nl - ul - 1] != '_' ||
                memcmp(e->name.ptr + nl - ul, e->text.ptr, ul) != 0) {
                char u[EXPFMT_QUOTE_MAX];
                return expfmt_fail(p, err, at_value, VIGIL_EPARSE,
                                   "unit %s is not a suffix of the metric name %s (it must "
                                   "end in \"_%.*s\")",
                                   expfmt_quote(u, sizeof(u), e->text.ptr, e->text.len), fam,
                                   (int)(ul > 60 ? 60 : ul), e->text.ptr);
            }
            if (st->strict && st->has_type && is_info_or_stateset(st->type))
                return expfmt_fail(p, err, at_value, VIGIL_EPARSE,
                                   "%s families must not have a unit",
                                   expfmt_type_name(st->type, EXPFMT_OPENMETRICS));
        }
        st->has_unit = true;
        st->unit = e->text;
        break;
    default:
        break;
    }
    e->type = st->type;
    return 0;
}

/* The suffix table entry that `name` matches in the current family, or NULL. */
static const suffix_t *member(const expfmt_om_state_t *st, expfmt_str_t name)
{
    if (!st->in_family || name.len < st->name.len ||
        memcmp(name.ptr, st->name.ptr, st->name.len) != 0)
        return NULL;
    const char *rest = name.ptr + st->name.len;
    size_t rl = name.len - st->name.len;
    for (const suffix_t *s = st->has_type ? suffixes_of(st->type) : sfx_plain; s->text; s++)
        if (strlen(s->text) == rl && memcmp(s->text, rest, rl) == 0)
            return s;
    return NULL;
}

static int cmp_label_name(const void *a, const void *b)
{
    const expfmt_label_t *x = *(const expfmt_label_t *const *)a;
    const expfmt_label_t *y = *(const expfmt_label_t *const *)b;
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int c = memcmp(x->name.ptr, y->name.ptr, n);
    return c != 0 ? c : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

/* The metric's identity within the family: its labels less `skip` (le, quantile or the
 * stateset label; all of them for info, which has one metric per family for grouping
 * purposes, as the reference parser treats it), sorted by name. Names never contain '=', and
 * values are length-prefixed, so the encoding is unambiguous. */
static int group_key(expfmt_parser_t *p, const expfmt_entry_t *e, const expfmt_label_t *skip,
                     vigil_error_t *err)
{
    expfmt_om_state_t *st = p->om;
    buf_reset(&st->key);
    if (st->type == EXPFMT_TYPE_INFO || e->nlabels == 0)
        return 0;
    if (e->nlabels > st->sorted_cap) {
        size_t ncap = e->nlabels < 16 ? 16 : e->nlabels;
        const expfmt_label_t **ns = realloc(st->sorted, ncap * sizeof(*ns));
        if (ns == NULL)
            return expfmt_fail(p, err, NULL, VIGIL_ENOMEM, "no memory for the grouping check");
        st->sorted = ns;
        st->sorted_cap = ncap;
    }
    size_t n = 0;
    for (size_t i = 0; i < e->nlabels; i++)
        if (&e->labels[i] != skip)
            st->sorted[n++] = &e->labels[i];
    if (n > 1)
        qsort(st->sorted, n, sizeof(*st->sorted), cmp_label_name);
    for (size_t i = 0; i < n; i++) {
        const expfmt_label_t *l = st->sorted[i];
        uint32_t vl = (uint32_t)l->value.len;
        int rc;
        if ((rc = buf_append(&st->key, l->name.ptr, l->name.len)) != 0 ||
            (rc = buf_putc(&st->key, '=')) != 0 ||
            (rc = buf_append(&st->key, &vl, sizeof(vl))) != 0 ||
            (rc = buf_append(&st->key, l->value.ptr, l->value.len)) != 0)
            return expfmt_fail(p, err, NULL, rc, "no memory for the grouping check");
    }
    return 0;
}

static size_t code_points(expfmt_str_t s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        if (((unsigned char)s.ptr[i] & 0xc0) != 0x80)
            n++;
    return n;
}

/* A le or quantile label value: a number, not NaN, with infinities written +Inf / -Inf. */
static bool threshold_value(expfmt_parser_t *p, const expfmt_label_t *l, double *v)
{
    if (!expfmt_parse_number(p, l->value.ptr, l->value.len, true, v) || isnan(*v))
        return false;
    if (isinf(*v))
        return expfmt_str_eq(l->value, *v > 0 ? "+Inf" : "-Inf", 4);
    return true;
}

static int strict_sample(expfmt_parser_t *p, const expfmt_entry_t *e, sample_kind_t sk,
                         vigil_error_t *err)
{
    expfmt_om_state_t *st = p->om;
    char q[EXPFMT_QUOTE_MAX], q2[EXPFMT_QUOTE_MAX];
    const char *name = expfmt_quote(q, sizeof(q), e->name.ptr, e->name.len);
    expfmt_type_t t = st->type;
    bool histo = t == EXPFMT_TYPE_HISTOGRAM || t == EXPFMT_TYPE_GAUGEHISTOGRAM;
    int rc;

    for (size_t i = 0; i < e->nlabels + e->exemplar_nlabels; i++) {
        const expfmt_label_t *l = &e->labels[i];
        if (l->name.ptr[0] == '_')
            return expfmt_fail(p, err, l->name.ptr, VIGIL_EPARSE,
                               "label name %s is reserved (names starting with '_' are)",
                               expfmt_quote(q2, sizeof(q2), l->name.ptr, l->name.len));
    }

    /* Labels the type requires or forbids. */
    const expfmt_label_t *skip = NULL;
    double le_value = 0;
    if (histo) {
        const expfmt_label_t *le = expfmt_find_label(e->labels, e->nlabels, "le");
        if (sk == SK_BUCKET) {
            if (le == NULL)
                return expfmt_fail(p, err, NULL, VIGIL_EPARSE, "%s has no \"le\" label", name);
            if (!threshold_value(p, le, &le_value))
                return expfmt_fail(p, err, le->value.ptr, VIGIL_EPARSE,
                                   "invalid le=%s (a number, not NaN; infinity is +Inf)",
                                   expfmt_quote(q2, sizeof(q2), le->value.ptr, le->value.len));
            skip = le;
        } else if (le != NULL) {
            return expfmt_fail(p, err, le->name.ptr, VIGIL_EPARSE,
                               "%s must not have an \"le\" label (only _bucket samples do)",
                               name);
        }
    } else if (t == EXPFMT_TYPE_SUMMARY) {
        const expfmt_label_t *qt = expfmt_find_label(e->labels, e->nlabels, "quantile");
        if (sk == SK_VALUE) {
            double qv;
            if (qt == NULL)
                return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                                   "summary sample %s has no \"quantile\" label", name);
            if (!threshold_value(p, qt, &qv) || qv < 0 || qv > 1)
                return expfmt_fail(p, err, qt->value.ptr, VIGIL_EPARSE,
                                   "invalid quantile=%s (a number from 0 to 1)",
                                   expfmt_quote(q2, sizeof(q2), qt->value.ptr, qt->value.len));
            if (e->value < 0)
                return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                                   "quantile value %.17g of %s is negative", e->value, name);
            skip = qt;
        } else if (qt != NULL) {
            return expfmt_fail(p, err, qt->name.ptr, VIGIL_EPARSE,
                               "%s must not have a \"quantile\" label", name);
        }
    } else if (t == EXPFMT_TYPE_STATESET) {
        skip = NULL;
        for (size_t i = 0; i < e->nlabels; i++)
            if (expfmt_str_eq(e->labels[i].name, st->name.ptr, st->name.len))
                skip = &e->labels[i];
        if (skip == NULL)
            return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                               "stateset sample %s has no label named after its family", name);
        if (e->value != 0 && e->value != 1)
            return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                               "stateset sample %s is %.17g; states are 0 or 1", name, e->value);
    } else if (t == EXPFMT_TYPE_INFO && e->value != 1) {
        return expfmt_fail(p, err, NULL, VIGIL_EPARSE, "info sample %s is %.17g; it must be 1",
                           name, e->value);
    }

    /* Counter-like values. */
    bool counterish = sk == SK_TOTAL || sk == SK_SUM || sk == SK_COUNT || sk == SK_BUCKET ||
                      sk == SK_GCOUNT || sk == SK_GSUM;
    if (counterish && isnan(e->value))
        return expfmt_fail(p, err, NULL, VIGIL_EPARSE, "%s is NaN, which counter-like values "
                           "must not be", name);
    if (counterish && sk != SK_GSUM && e->value < 0)
        return expfmt_fail(p, err, NULL, VIGIL_EPARSE, "%s is negative (%.17g), which "
                           "counter-like values must not be", name, e->value);
    if ((sk == SK_COUNT || sk == SK_GCOUNT || sk == SK_BUCKET) &&
        !(isfinite(e->value) && e->value == floor(e->value)))
        return expfmt_fail(p, err, NULL, VIGIL_EPARSE, "%s is %.17g; counts must be integers",
                           name, e->value);

    if (e->has_exemplar) {
        if (!((histo && sk == SK_BUCKET) || (t == EXPFMT_TYPE_COUNTER && sk == SK_TOTAL)))
            return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                               "%s has an exemplar; only histogram buckets and counter totals "
                               "may", name);
        size_t cp = 0;
        for (size_t i = 0; i < e->exemplar_nlabels; i++)
            cp += code_points(e->exemplar_labels[i].name) +
                  code_points(e->exemplar_labels[i].value);
        if (cp > 128)
            return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                               "the exemplar's labels have %zu code points; at most 128 are "
                               "allowed", cp);
    }

    /* Metrics must be contiguous, with consistent and non-decreasing timestamps. */
    if ((rc = group_key(p, e, skip, err)) != 0)
        return rc;
    bool same = st->has_group && bytes_eq(&st->group, &st->key);
    if (same) {
        if (e->has_timestamp != st->group_has_ts)
            return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                               "%s: a metric's samples must all have timestamps or none", name);
        if (e->has_timestamp && st->ts < st->group_ts && t != EXPFMT_TYPE_INFO)
            return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                               "%s: timestamp %.17g goes back from %.17g within one metric",
                               name, st->ts, st->group_ts);
    } else {
        bool added;
        if (strset_lookup(&st->seen_groups, st->key.data, st->key.len, true, &added, &rc) ==
            NULL)
            return expfmt_fail(p, err, NULL, rc, "no memory for the grouping check");
        if (!added)
            return expfmt_fail(p, err, NULL, VIGIL_EPARSE,
                               "%s: this metric already appeared earlier in family %s, with "
                               "other metrics in between (metrics must not be interleaved)",
                               name,
                               expfmt_quote(q2, sizeof(q2), st->name.ptr, st->name.len));
        buf_reset(&st->group);
        if (st->key.len > 0 && (rc = buf_append(&st->group, st->key.data, st->key.len)) != 0)
            return expfmt_fail(p, err, NULL, rc, "no memory for the grouping check");
        st->has_group = true;
    }
    st->group_has_ts = e->has_timestamp;
    st->group_ts = st->ts;

    if (histo)
        return hist_sample(p, e, sk, skip, le_value, err);
    return 0;
}

int om_sample(expfmt_parser_t *p, expfmt_entry_t *e, const char *at_value, vigil_error_t *err)
{
    expfmt_om_state_t *st = p->om;
    (void)at_value;
    int rc;
    const suffix_t *sfx = member(st, e->name);
    if (sfx == NULL) {
        /* A name the current family cannot produce starts a new, untyped family. */
        if ((rc = end_family(p, err)) != 0 ||
            (rc = start_family(p, e->name, e->name.ptr, err)) != 0)
            return rc;
        sfx = sfx_plain;
    }
    e->family = st->name;
    e->type = st->type;
    st->nsamples++;
    if (!e->has_timestamp)
        st->ts = 0;
    if (!st->strict)
        return 0;
    return strict_sample(p, e, sfx->kind, err);
}

int om_end(expfmt_parser_t *p, vigil_error_t *err)
{
    return end_family(p, err);
}
