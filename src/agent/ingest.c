/*
 * ingest.c - samples into the store (see ingest.h).
 *
 * Label strings of an exposition are not NUL-terminated (they point into the input), so each
 * sample's labels are copied into one reusable scratch buffer before they are handed to the
 * store, which interns what it keeps.
 */
#include "agent/ingest.h"

#include "promql/storage.h"
#include "util/buf.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define INGEST_MAX_LABELS 128

typedef struct sample_labels {
    buf_t        text;                        /* NUL-separated copies of names and values */
    tsdb_label_t labels[INGEST_MAX_LABELS + 1];
    size_t       offsets[2 * (INGEST_MAX_LABELS + 1)];
    size_t       n;
} sample_labels_t;

static int put_str(sample_labels_t *sl, const char *p, size_t len, size_t *off)
{
    *off = sl->text.len;
    int rc = buf_append(&sl->text, p, len);
    return rc ? rc : buf_putc(&sl->text, '\0');
}

static bool replaced_by_extra(const expfmt_label_t *l, const ingest_options_t *o)
{
    for (size_t i = 0; i < o->n_extra; i++)
        if (strlen(o->extra[i].name) == l->name.len &&
            memcmp(o->extra[i].name, l->name.ptr, l->name.len) == 0)
            return true;
    return false;
}

/* Builds __name__, the sample's labels (minus those an extra label replaces) and the extras. */
static int build_labels(sample_labels_t *sl, const expfmt_entry_t *e, const ingest_options_t *o,
                        vigil_error_t *err)
{
    if (e->nlabels + o->n_extra + 1 > INGEST_MAX_LABELS)
        return vigil_error_set(err, VIGIL_ELIMIT, "line %zu: more than %d labels", e->line,
                               INGEST_MAX_LABELS);
    buf_reset(&sl->text);
    sl->n = 0;
    int rc = put_str(sl, "__name__", 8, &sl->offsets[0]);
    rc = rc ? rc : put_str(sl, e->name.ptr, e->name.len, &sl->offsets[1]);
    sl->n = 1;
    for (size_t i = 0; rc == 0 && i < e->nlabels; i++) {
        const expfmt_label_t *l = &e->labels[i];
        if (replaced_by_extra(l, o))
            continue;
        rc = put_str(sl, l->name.ptr, l->name.len, &sl->offsets[2 * sl->n]);
        rc = rc ? rc : put_str(sl, l->value.ptr, l->value.len, &sl->offsets[2 * sl->n + 1]);
        sl->n++;
    }
    if (rc != 0)
        return vigil_error_set(err, rc, "line %zu: labels too large", e->line);
    /* Pointers only now: the buffer may have moved while it grew. */
    for (size_t i = 0; i < sl->n; i++)
        sl->labels[i] = (tsdb_label_t){ sl->text.data + sl->offsets[2 * i],
                                        sl->text.data + sl->offsets[2 * i + 1] };
    for (size_t i = 0; i < o->n_extra; i++)
        sl->labels[sl->n++] = o->extra[i];
    return 0;
}

static void count_reject(ingest_result_t *res, const vigil_error_t *why)
{
    if (res->rejected++ == 0)
        res->first_reject = *why;
}

/* ---- metadata ---- */

/* Families are few (hundreds), read rarely and written once per exposition line of metadata:
 * a sorted array with binary search is enough. */
typedef struct meta_entry {
    char *metric, *type, *help, *unit;   /* malloc'd, owned by the map */
} meta_entry_t;

struct ingest_metadata {
    pthread_mutex_t lock;
    meta_entry_t   *v;
    size_t          n, cap;
};

ingest_metadata_t *ingest_metadata_new(void)
{
    ingest_metadata_t *m = calloc(1, sizeof(*m));
    if (m != NULL)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void meta_entry_free(meta_entry_t *e)
{
    free(e->metric);
    free(e->type);
    free(e->help);
    free(e->unit);
}

void ingest_metadata_free(ingest_metadata_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        meta_entry_free(&m->v[i]);
    free(m->v);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

size_t ingest_metadata_count(ingest_metadata_t *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

int ingest_metadata_walk(void *ctx, api_metadata_fn each, void *arg)
{
    ingest_metadata_t *m = ctx;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; rc == 0 && i < m->n; i++) {
        const meta_entry_t *e = &m->v[i];
        api_metadata_t md = { e->metric, e->type, e->help, e->unit };
        rc = each(arg, &md);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Compares a stored name with a non-terminated one. */
static int cmp_name(const char *stored, expfmt_str_t name)
{
    int c = strncmp(stored, name.ptr, name.len);
    return c != 0 ? c : (stored[name.len] != '\0' ? 1 : 0);
}

/* The entry of family `name`, created (type "unknown", empty help and unit) when new. Called
 * with the lock held; NULL when out of memory. */
static meta_entry_t *meta_find_or_add(ingest_metadata_t *m, expfmt_str_t name)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_name(m->v[mid].metric, name);
        if (c == 0)
            return &m->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        meta_entry_t *v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        m->v = v;
        m->cap = cap;
    }
    meta_entry_t e = { strndup(name.ptr, name.len), strdup("unknown"), strdup(""), strdup("") };
    if (e.metric == NULL || e.type == NULL || e.help == NULL || e.unit == NULL) {
        meta_entry_free(&e);
        return NULL;
    }
    memmove(&m->v[lo + 1], &m->v[lo], (m->n - lo) * sizeof(*m->v));
    m->v[lo] = e;
    m->n++;
    return &m->v[lo];
}

/* Records one TYPE, HELP or UNIT line. Out of memory only loses metadata, never samples. */
static void meta_record(ingest_metadata_t *m, const expfmt_entry_t *e, expfmt_format_t format)
{
    pthread_mutex_lock(&m->lock);
    meta_entry_t *me = meta_find_or_add(m, e->name);
    char *s = NULL, **slot = NULL;
    if (me != NULL && e->kind == EXPFMT_ENTRY_TYPE) {
        /* Prometheus names the text format's "untyped" "unknown" in its metadata. */
        const char *t = e->type == EXPFMT_TYPE_UNKNOWN ? "unknown"
                                                        : expfmt_type_name(e->type, format);
        s = strdup(t);
        slot = &me->type;
    } else if (me != NULL) {
        s = strndup(e->text.ptr, e->text.len);
        slot = e->kind == EXPFMT_ENTRY_HELP ? &me->help : &me->unit;
    }
    if (s != NULL) {
        free(*slot);
        *slot = s;
    }
    pthread_mutex_unlock(&m->lock);
}

/* Replaces *slot with a copy of `value` unless it already holds it. */
static void meta_set_field(char **slot, const char *value)
{
    if (strcmp(*slot, value) == 0)
        return;
    char *s = strdup(value);
    if (s != NULL) {
        free(*slot);
        *slot = s;
    }
}

void ingest_metadata_set(ingest_metadata_t *m, const char *name, const char *type,
                         const char *help)
{
    pthread_mutex_lock(&m->lock);
    meta_entry_t *me = meta_find_or_add(m, (expfmt_str_t){ name, strlen(name) });
    if (me != NULL) {
        meta_set_field(&me->type, type);
        meta_set_field(&me->help, help);
    }
    pthread_mutex_unlock(&m->lock);
}

int ingest_exposition(tsdb_t *db, const char *data, size_t len, const ingest_options_t *opts,
                      ingest_result_t *res, vigil_error_t *err)
{
    memset(res, 0, sizeof(*res));
    int rc = expfmt_validate(data, len, opts->format, opts->mode, NULL, err);
    if (rc != 0)
        return rc;
    expfmt_parser_t p;
    sample_labels_t *sl = malloc(sizeof(*sl));
    tsdb_appender_t *app = tsdb_appender_new(db);
    if (sl == NULL || app == NULL) {
        free(sl);
        tsdb_appender_free(app);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    buf_init(&sl->text, 1u << 20);
    rc = expfmt_parser_init(&p, data, len, opts->format, opts->mode);
    expfmt_entry_t e;
    while (rc == 0 && (rc = expfmt_next(&p, &e, err)) == 0 && e.kind != EXPFMT_ENTRY_END) {
        if (e.kind != EXPFMT_ENTRY_SAMPLE) {
            if (opts->metadata != NULL)
                meta_record(opts->metadata, &e, opts->format);
            continue;
        }
        vigil_error_t why;
        int64_t t = e.has_timestamp ? e.timestamp_ms : opts->default_time_ms;
        if (build_labels(sl, &e, opts, &why) != 0 ||
            tsdb_appender_add(app, sl->labels, sl->n, t, e.value, NULL, &why) != 0) {
            count_reject(res, &why);
            continue;
        }
        res->samples++;
    }
    expfmt_parser_destroy(&p);
    if (rc == 0)
        rc = tsdb_appender_commit(app, opts->durability, err);
    tsdb_appender_free(app);
    buf_free(&sl->text);
    free(sl);
    return rc;
}

/* One collector's series: those its previous run wrote, and those of the run being stored.
 * Both sorted by ref once complete; the two buffers swap roles after each run. */
typedef struct ref_set {
    tsdb_ref_t *refs;
    size_t      n, cap;
} ref_set_t;

struct ingest_collector_series {
    char     *collector;
    ref_set_t prev, cur;
};

void ingest_sink_init(ingest_sink_t *sink, tsdb_t *db, ingest_metadata_t *metadata)
{
    memset(sink, 0, sizeof(*sink));
    sink->db = db;
    sink->metadata = metadata;
    pthread_mutex_init(&sink->lock, NULL);
}

void ingest_sink_free(ingest_sink_t *sink)
{
    if (sink->db == NULL)
        return; /* never initialised: start-up failed before the store opened */
    for (size_t i = 0; i < sink->ncollectors; i++) {
        ingest_collector_series_t *h = sink->collectors[i];
        free(h->collector);
        free(h->prev.refs);
        free(h->cur.refs);
        free(h);
    }
    free(sink->collectors);
    pthread_mutex_destroy(&sink->lock);
    memset(sink, 0, sizeof(*sink));
}

/* The history of `collector`, created on its first batch; NULL when out of memory (that batch
 * is stored without staleness tracking). */
static ingest_collector_series_t *collector_history(ingest_sink_t *sink, const char *collector)
{
    ingest_collector_series_t *h = NULL;
    pthread_mutex_lock(&sink->lock);
    for (size_t i = 0; i < sink->ncollectors && h == NULL; i++)
        if (strcmp(sink->collectors[i]->collector, collector) == 0)
            h = sink->collectors[i];
    if (h == NULL) {
        ingest_collector_series_t **grown =
            realloc(sink->collectors, (sink->ncollectors + 1) * sizeof(*grown));
        if (grown != NULL) {
            sink->collectors = grown;
            h = calloc(1, sizeof(*h));
            if (h != NULL && (h->collector = strdup(collector)) != NULL)
                sink->collectors[sink->ncollectors++] = h;
            else {
                free(h);
                h = NULL;
            }
        }
    }
    pthread_mutex_unlock(&sink->lock);
    return h;
}

/* Two sets per collector stay allocated for good, and most collectors have a handful of
 * series (loadavg 3, time 2, uname 1): the first array is small and doubles from there, so a
 * set settles at most twice its collector's series. */
#define REF_SET_FIRST_CAP 8

static int ref_set_add(ref_set_t *s, tsdb_ref_t ref)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : REF_SET_FIRST_CAP;
        tsdb_ref_t *grown = realloc(s->refs, cap * sizeof(*grown));
        if (grown == NULL)
            return VIGIL_ENOMEM;
        s->refs = grown;
        s->cap = cap;
    }
    s->refs[s->n++] = ref;
    return 0;
}

static int cmp_ref(const void *a, const void *b)
{
    tsdb_ref_t x = *(const tsdb_ref_t *)a, y = *(const tsdb_ref_t *)b;
    return (x > y) - (x < y);
}

/* Marks stale, at `t`, every series of h->prev missing from h->cur, then makes cur the new
 * prev. Both are walked in ref order, so this is one merge pass. */
static void mark_vanished(ingest_collector_series_t *h, tsdb_appender_t *app, int64_t t)
{
    if (h->cur.n > 1) /* qsort of an empty, never allocated array is undefined */
        qsort(h->cur.refs, h->cur.n, sizeof(*h->cur.refs), cmp_ref);
    uint64_t bits = PROMQL_STALE_NAN_BITS;
    double stale;
    memcpy(&stale, &bits, sizeof(stale));
    size_t j = 0;
    for (size_t i = 0; i < h->prev.n; i++) {
        while (j < h->cur.n && h->cur.refs[j] < h->prev.refs[i])
            j++;
        if (j < h->cur.n && h->cur.refs[j] == h->prev.refs[i])
            continue;
        vigil_error_t why;
        tsdb_appender_add_ref(app, h->prev.refs[i], t, stale, &why); /* a series the store
                                                                         dropped meanwhile is
                                                                         not an error */
    }
    ref_set_t was = h->prev;
    h->prev = h->cur;
    h->cur = was;
    h->cur.n = 0;
}

void ingest_collect_batch(void *ctx, const collect_batch_t *b)
{
    ingest_sink_t *sink = ctx;
    tsdb_appender_t *app = tsdb_appender_new(sink->db);
    if (app == NULL)
        return; /* the store counts nothing it never saw; the next cycle tries again */
    ingest_collector_series_t *h = collector_history(sink, collect_batch_collector(b));
    bool tracking = h != NULL;
    int64_t t = (int64_t)llround(collect_batch_time(b) * 1000.0);
    tsdb_label_t labels[INGEST_MAX_LABELS + 1];
    for (size_t f = 0; f < collect_batch_family_count(b); f++) {
        size_t first, count;
        collect_batch_family_samples(b, f, &first, &count);
        labels[0] = (tsdb_label_t){ "__name__", collect_batch_family_name(b, f) };
        if (sink->metadata != NULL) {
            static const char *const types[] = { "counter", "gauge", "unknown", "info" };
            collect_type_t ft = collect_batch_family_type(b, f);
            ingest_metadata_set(sink->metadata, labels[0].value,
                                (unsigned)ft < 4 ? types[ft] : "unknown",
                                collect_batch_family_help(b, f));
        }
        for (size_t s = first; s < first + count; s++) {
            const collect_label_t *ls;
            size_t n = collect_batch_sample_labels(b, s, &ls);
            if (n > INGEST_MAX_LABELS)
                continue;
            for (size_t i = 0; i < n; i++)
                labels[1 + i] = (tsdb_label_t){ ls[i].name, ls[i].value };
            vigil_error_t why;
            tsdb_ref_t ref;
            if (tsdb_appender_add(app, labels, n + 1, t, collect_batch_sample_value(b, s), &ref,
                                  &why) != 0)
                continue; /* refusals are counted by the store */
            if (tracking && ref_set_add(&h->cur, ref) != 0)
                tracking = false;
        }
    }
    if (tracking)
        mark_vanished(h, app, t);
    else if (h != NULL)
        h->prev.n = h->cur.n = 0; /* an incomplete set would mark live series stale */
    vigil_error_t err;
    tsdb_appender_commit(app, TSDB_ASYNC, &err);
    tsdb_appender_free(app);
}
