/*
 * tsdb.c - the store's API (tsdb.h): open with WAL replay, the appender, the querier, label
 * listings and statistics. The pieces it joins: head.c (memory), wal.c + record.c (disk).
 *
 * Write path: tsdb_appender_add() validates the labels, finds or creates the series (a new
 * series logs its WAL series record from the head's creation hook, before anyone can append to
 * it), appends the sample to the head under the series lock and remembers (ref, t, v).
 * tsdb_appender_commit() encodes what it remembered as one samples record, logs it and, for
 * TSDB_SYNC, waits for the group commit that covers it. Only accepted samples are logged, so
 * replay never resurrects a rejected one.
 *
 * Replay: series records map WAL refs to head series (a temporary hash map, dropped after
 * open); samples go through head_append(replay = true), which files samples that arrive out of
 * order (two appenders to one series can log in either order) in the out-of-order buffer
 * instead of rejecting them, and ignores exact duplicates.
 */
#include "tsdb/tsdb.h"

#include "tsdb/head.h"
#include "tsdb/match.h"
#include "tsdb/record.h"
#include "tsdb/wal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RECORD_MAX_SAMPLES 100000 /* samples per WAL record: 2.8 MB at worst, under the cap */
#define REPLAY_BLOCK       4096

typedef struct replay_ref {
    uint64_t       ref;
    head_series_t *s;
} replay_ref_t;

typedef struct replay_block {
    struct replay_block *next;
    size_t               used;
    replay_ref_t         e[REPLAY_BLOCK];
} replay_block_t;

typedef struct replay {
    hmap_t          refs;   /* of replay_ref_t*, by ref */
    replay_block_t *blocks; /* storage of the entries */
    rec_sample_t   *samples;
    size_t          cap;
    head_delta_t    delta;
    uint64_t        skipped;       /* samples and series dropped */
    bool            warned_unknown;
    bool            warned_labels;
} replay_t;

struct tsdb {
    char          *dir;   /* owned; NULL without a WAL */
    log_t         *lg;
    head_t        *head;
    wal_t         *wal;   /* NULL without a WAL */
    replay_t      *replay; /* only during tsdb_open */
    wal_replay_stats_t rs;
    uint64_t       replay_skipped;
};

struct tsdb_appender {
    tsdb_t       *db;
    rec_sample_t *pending;  /* accepted since the last commit */
    size_t        n, cap;
    head_delta_t  delta;
    tsdb_label_t *scratch;  /* prepared labels */
    size_t        scratch_cap;
    buf_t         rec;      /* record payload being built */
};

static const char *const reason_names[TSDB_REJECT__COUNT] = {
    [TSDB_REJECT_OUT_OF_ORDER] = "out_of_order",
    [TSDB_REJECT_TOO_OLD] = "too_old",
    [TSDB_REJECT_DUPLICATE] = "duplicate",
    [TSDB_REJECT_MAX_SERIES] = "max_series",
    [TSDB_REJECT_MAX_LABELS] = "max_labels",
    [TSDB_REJECT_LABEL_NAME_LENGTH] = "label_name_length",
    [TSDB_REJECT_LABEL_VALUE_LENGTH] = "label_value_length",
    [TSDB_REJECT_INVALID_LABELS] = "invalid_labels",
};

const char *tsdb_reject_reason_name(tsdb_reject_reason_t r)
{
    return (unsigned)r < TSDB_REJECT__COUNT ? reason_names[r] : "unknown";
}

/* ---- replay ------------------------------------------------------------------------------- */

static bool ref_eq(const void *item, const void *key)
{
    return ((const replay_ref_t *)item)->ref == *(const uint64_t *)key;
}

static uint64_t ref_hash(uint64_t ref)
{
    ref ^= ref >> 33;
    ref *= 0xff51afd7ed558ccdULL;
    ref ^= ref >> 33;
    return ref;
}

static int replay_map(replay_t *r, uint64_t ref, head_series_t *s)
{
    if (r->blocks == NULL || r->blocks->used == REPLAY_BLOCK) {
        replay_block_t *b = malloc(sizeof(*b));
        if (b == NULL)
            return VIGIL_ENOMEM;
        b->next = r->blocks;
        b->used = 0;
        r->blocks = b;
    }
    replay_ref_t *e = &r->blocks->e[r->blocks->used];
    e->ref = ref;
    e->s = s;
    if (hmap_insert(&r->refs, ref_hash(ref), e) != 0)
        return VIGIL_ENOMEM;
    r->blocks->used++;
    return 0;
}

static int replay_series(void *ctx, uint64_t ref, const tsdb_label_t *ls, size_t n)
{
    tsdb_t   *db = ctx;
    replay_t *r = db->replay;
    if (ref == 0)
        return VIGIL_EPARSE;
    if (hmap_find(&r->refs, ref_hash(ref), ref_eq, &ref) != NULL)
        return 0; /* the same series record twice (a future checkpoint may repeat them) */
    tsdb_label_t        *tmp = malloc((n ? n : 1) * sizeof(*tmp));
    size_t               k;
    uint64_t             hash;
    tsdb_reject_reason_t reason;
    vigil_error_t        err;
    if (tmp == NULL)
        return VIGIL_ENOMEM;
    int rc = head_labels_prepare(db->head, ls, n, tmp, &k, &hash, &reason, &err);
    head_series_t *s = NULL;
    if (rc == 0)
        rc = head_get_or_create(db->head, tmp, k, hash, ref, &s, &reason, &err);
    free(tmp);
    if (rc == VIGIL_ENOMEM)
        return rc;
    if (rc != 0) {
        /* Limits may have been lowered since the series was written: skip it and its samples. */
        r->skipped++;
        if (!r->warned_labels)
            log_warn(db->lg, "tsdb", "WAL replay skips series the current limits reject",
                     LF_STR("error", err.message));
        r->warned_labels = true;
        return 0;
    }
    return replay_map(r, ref, s);
}

static int replay_record(void *ctx, uint8_t type, const uint8_t *p, size_t len)
{
    tsdb_t   *db = ctx;
    replay_t *r = db->replay;
    if (type == RECORD_SERIES)
        return record_decode_series(p, len, replay_series, db);
    size_t n;
    int    rc = record_decode_samples(p, len, &r->samples, &r->cap, &n);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        replay_ref_t *e = hmap_find(&r->refs, ref_hash(r->samples[i].ref), ref_eq,
                                    &r->samples[i].ref);
        if (e == NULL) {
            r->skipped++;
            if (!r->warned_unknown)
                log_warn(db->lg, "tsdb", "WAL replay: samples of an unknown series skipped "
                         "(its series record was lost or rejected)",
                         LF_UINT("ref", r->samples[i].ref));
            r->warned_unknown = true;
            continue;
        }
        bool                 stored;
        tsdb_reject_reason_t reason;
        rc = head_append(db->head, e->s, r->samples[i].t, r->samples[i].v, true, &r->delta,
                         &stored, &reason, NULL);
        if (rc == VIGIL_ENOMEM)
            return rc;
        if (rc != 0)
            r->skipped++; /* a duplicate timestamp with another value: the first one wins */
    }
    return 0;
}

static void replay_free(replay_t *r)
{
    for (replay_block_t *b = r->blocks, *n; b != NULL; b = n) {
        n = b->next;
        free(b);
    }
    hmap_free(&r->refs);
    free(r->samples);
}

/* ---- open / close ------------------------------------------------------------------------- */

/* Logs the WAL series record of a new series (the head's creation hook). */
static int log_series(void *ctx, const head_series_t *s, vigil_error_t *err)
{
    tsdb_t *db = ctx;
    buf_t   b;
    buf_init(&b, WAL_MAX_RECORD);
    int rc = record_encode_series(&b, s->ref, s->labels, s->nlabels);
    if (rc != 0)
        rc = vigil_error_set(err, rc, "series record: %s", vigil_strerror(rc));
    else
        rc = wal_log(db->wal, RECORD_SERIES, b.data, b.len, NULL, err);
    buf_free(&b);
    return rc;
}

static int mkdirs(const char *path, vigil_error_t *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return vigil_error_set(err, VIGIL_EINVAL, "path too long: %s", path);
    for (char *p = tmp + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return vigil_error_set(err, VIGIL_EIO, "cannot create %s: %s", tmp,
                                       strerror(errno));
            *p = c;
            if (c == '\0')
                return 0;
        }
    }
}

int tsdb_open(tsdb_t **out, const tsdb_options_t *opts, log_t *lg, vigil_error_t *err)
{
    if (opts->ooo_window_ms < 0)
        return vigil_error_set(err, VIGIL_EINVAL, "tsdb: negative out-of-order window");
    head_limits_t lim = {
        .max_series = opts->max_series ? opts->max_series : 1000000,
        .max_labels = opts->max_labels ? opts->max_labels : 64,
        .max_label_name_len = opts->max_label_name_len ? opts->max_label_name_len : 256,
        .max_label_value_len = opts->max_label_value_len ? opts->max_label_value_len : 4096,
        .ooo_window_ms = opts->ooo_window_ms,
    };
    if (lim.max_series > UINT32_MAX - 1)
        return vigil_error_set(err, VIGIL_EINVAL, "tsdb: max_series over %u", UINT32_MAX - 1);
    tsdb_t *db = calloc(1, sizeof(*db));
    if (db == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "tsdb: out of memory");
    db->lg = lg;
    int rc = head_create(&db->head, &lim, err);
    if (rc != 0)
        goto out_free;
    if (opts->dir == NULL || opts->dir[0] == '\0') {
        *out = db;
        return 0;
    }
    if ((db->dir = strdup(opts->dir)) == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "tsdb: out of memory");
        goto out_head;
    }
    if ((rc = mkdirs(db->dir, err)) != 0)
        goto out_head;
    char waldir[4096];
    if (snprintf(waldir, sizeof(waldir), "%s/wal", db->dir) >= (int)sizeof(waldir)) {
        rc = vigil_error_set(err, VIGIL_EINVAL, "path too long: %s", db->dir);
        goto out_head;
    }
    replay_t r;
    memset(&r, 0, sizeof(r));
    hmap_init(&r.refs);
    head_delta_init(&r.delta);
    db->replay = &r;
    wal_options_t wo = {.dir = waldir, .segment_bytes = opts->wal_segment_bytes,
                        .flush_interval_ms = opts->wal_flush_interval_ms};
    rc = wal_open(&db->wal, &wo, lg, replay_record, db, &db->rs, err);
    head_delta_flush(db->head, &r.delta);
    db->replay_skipped = r.skipped;
    db->replay = NULL;
    replay_free(&r);
    if (rc != 0)
        goto out_head;
    head_set_on_series(db->head, log_series, db);
    *out = db;
    return 0;

out_head:
    head_free(db->head);
out_free:
    free(db->dir);
    free(db);
    return rc;
}

void tsdb_close(tsdb_t *db)
{
    if (db == NULL)
        return;
    wal_close(db->wal);
    head_free(db->head);
    free(db->dir);
    free(db);
}

/* ---- appender ----------------------------------------------------------------------------- */

tsdb_appender_t *tsdb_appender_new(tsdb_t *db)
{
    tsdb_appender_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->db = db;
    head_delta_init(&a->delta);
    buf_init(&a->rec, WAL_MAX_RECORD);
    return a;
}

void tsdb_appender_free(tsdb_appender_t *a)
{
    if (a == NULL)
        return;
    head_delta_flush(a->db->head, &a->delta);
    free(a->pending);
    free(a->scratch);
    buf_free(&a->rec);
    free(a);
}

/* Appends a sample to a series and remembers it for the WAL. */
static int add_to_series(tsdb_appender_t *a, head_series_t *s, int64_t t, double v,
                         vigil_error_t *err)
{
    if (a->n == a->cap && a->db->wal != NULL) {
        size_t        ncap = a->cap ? a->cap * 2 : 256;
        rec_sample_t *n = realloc(a->pending, ncap * sizeof(*n));
        if (n == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "appender: out of memory");
        a->pending = n;
        a->cap = ncap;
    }
    bool                 stored;
    tsdb_reject_reason_t reason;
    int rc = head_append(a->db->head, s, t, v, false, &a->delta, &stored, &reason, err);
    if (rc == VIGIL_ERANGE)
        a->delta.rejected[reason]++;
    if (rc == 0 && stored && a->db->wal != NULL)
        a->pending[a->n++] = (rec_sample_t){s->ref, t, v};
    return rc;
}

int tsdb_appender_add(tsdb_appender_t *a, const tsdb_label_t *labels, size_t n, int64_t t_ms,
                      double v, tsdb_ref_t *ref, vigil_error_t *err)
{
    if (n > a->scratch_cap) {
        tsdb_label_t *ns = realloc(a->scratch, n * sizeof(*ns));
        if (ns == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "appender: out of memory");
        a->scratch = ns;
        a->scratch_cap = n;
    }
    size_t               k;
    uint64_t             hash;
    tsdb_reject_reason_t reason;
    head_series_t       *s;
    int rc = head_labels_prepare(a->db->head, labels, n, a->scratch, &k, &hash, &reason, err);
    if (rc == 0)
        rc = head_get_or_create(a->db->head, a->scratch, k, hash, 0, &s, &reason, err);
    if (rc == VIGIL_ELIMIT || rc == VIGIL_EINVAL) {
        a->delta.rejected[reason]++;
        return rc;
    }
    if (rc != 0)
        return rc;
    if (ref != NULL)
        *ref = (tsdb_ref_t)s->id + 1;
    return add_to_series(a, s, t_ms, v, err);
}

int tsdb_appender_add_ref(tsdb_appender_t *a, tsdb_ref_t ref, int64_t t_ms, double v,
                          vigil_error_t *err)
{
    head_series_t *s = ref == 0 || ref > UINT32_MAX ? NULL
                                                    : head_series_by_id(a->db->head,
                                                                        (uint32_t)(ref - 1));
    if (s == NULL)
        return vigil_error_set(err, VIGIL_ENOENT, "no series with ref %llu",
                               (unsigned long long)ref);
    return add_to_series(a, s, t_ms, v, err);
}

int tsdb_appender_commit(tsdb_appender_t *a, tsdb_durability_t d, vigil_error_t *err)
{
    int      rc = 0;
    uint64_t lsn = 0;
    for (size_t off = 0; off < a->n && rc == 0; off += RECORD_MAX_SAMPLES) {
        size_t k = a->n - off < RECORD_MAX_SAMPLES ? a->n - off : RECORD_MAX_SAMPLES;
        buf_reset(&a->rec);
        rc = record_encode_samples(&a->rec, a->pending + off, k);
        if (rc != 0)
            rc = vigil_error_set(err, rc, "samples record: %s", vigil_strerror(rc));
        else
            rc = wal_log(a->db->wal, RECORD_SAMPLES, a->rec.data, a->rec.len, &lsn, err);
    }
    if (rc == 0 && d == TSDB_SYNC && lsn != 0)
        rc = wal_sync(a->db->wal, lsn, err);
    a->n = 0;
    head_delta_flush(a->db->head, &a->delta);
    return rc;
}

int tsdb_append(tsdb_t *db, const tsdb_label_t *labels, size_t n, int64_t t_ms, double v,
                vigil_error_t *err)
{
    tsdb_appender_t *a = tsdb_appender_new(db);
    if (a == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "appender: out of memory");
    int rc = tsdb_appender_add(a, labels, n, t_ms, v, NULL, err);
    int crc = tsdb_appender_commit(a, TSDB_ASYNC, rc == 0 ? err : NULL);
    tsdb_appender_free(a);
    return rc != 0 ? rc : crc;
}

/* ---- querier ------------------------------------------------------------------------------ */

struct tsdb_series_set {
    head_series_t **s;  /* borrowed series, sorted by labels */
    size_t          n;
    int64_t         mint, maxt;
};

static int cmp_series(const void *a, const void *b)
{
    const head_series_t *x = *(head_series_t *const *)a, *y = *(head_series_t *const *)b;
    for (uint32_t i = 0; i < x->nlabels && i < y->nlabels; i++) {
        int c = strcmp(x->labels[i].name, y->labels[i].name);
        if (c == 0)
            c = strcmp(x->labels[i].value, y->labels[i].value);
        if (c != 0)
            return c;
    }
    return (x->nlabels > y->nlabels) - (x->nlabels < y->nlabels);
}

/* Series matching the matchers with samples in range, unsorted. *out is the caller's. */
static int select_series(tsdb_t *db, const tsdb_matcher_t *m, size_t n, int64_t mint,
                         int64_t maxt, head_series_t ***out, size_t *nout, vigil_error_t *err)
{
    matcher_t *ms = calloc(n ? n : 1, sizeof(*ms));
    if (ms == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "select: out of memory");
    int    rc = 0;
    size_t compiled = 0;
    for (; compiled < n && rc == 0; compiled++)
        if ((rc = matcher_compile(&ms[compiled], &m[compiled], err)) != 0)
            break;
    uint32_t *ids = NULL;
    size_t    nids = 0;
    if (rc == 0) {
        uint32_t nall = head_series_count(db->head);
        if ((rc = index_select(head_index(db->head), ms, n, nall, &ids, &nids)) != 0)
            rc = vigil_error_set(err, rc, "select: out of memory");
    }
    for (size_t i = 0; i < compiled; i++)
        matcher_free(&ms[i]);
    free(ms);
    if (rc != 0)
        return rc;
    head_series_t **v = malloc((nids ? nids : 1) * sizeof(*v));
    if (v == NULL) {
        free(ids);
        return vigil_error_set(err, VIGIL_ENOMEM, "select: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < nids; i++) {
        head_series_t *s = head_series_by_id(db->head, ids[i]);
        if (s != NULL && head_series_overlaps(s, mint, maxt))
            v[k++] = s;
    }
    free(ids);
    *out = v;
    *nout = k;
    return 0;
}

int tsdb_select(tsdb_t *db, const tsdb_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                tsdb_series_set_t **out, vigil_error_t *err)
{
    tsdb_series_set_t *set = calloc(1, sizeof(*set));
    if (set == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "select: out of memory");
    int rc = select_series(db, m, n, mint, maxt, &set->s, &set->n, err);
    if (rc != 0) {
        free(set);
        return rc;
    }
    qsort(set->s, set->n, sizeof(*set->s), cmp_series);
    set->mint = mint;
    set->maxt = maxt;
    *out = set;
    return 0;
}

size_t tsdb_series_set_len(const tsdb_series_set_t *set)
{
    return set->n;
}

const tsdb_label_t *tsdb_series_labels(const tsdb_series_set_t *set, size_t i, size_t *n)
{
    *n = set->s[i]->nlabels;
    return set->s[i]->labels;
}

const char *tsdb_series_label(const tsdb_series_set_t *set, size_t i, const char *name)
{
    const head_series_t *s = set->s[i];
    for (uint32_t k = 0; k < s->nlabels; k++)
        if (strcmp(s->labels[k].name, name) == 0)
            return s->labels[k].value;
    return NULL;
}

void tsdb_series_set_free(tsdb_series_set_t *set)
{
    if (set == NULL)
        return;
    free(set->s);
    free(set);
}

typedef struct merged_sample {
    int64_t t;
    double  v;
    size_t  seq; /* source order: in-order chunks first, so they win ties */
} merged_sample_t;

struct tsdb_iter {
    head_snap_t      snap;
    int64_t          mint, maxt;
    size_t           ci;       /* next chunk (stream mode) */
    chunk_iter_t     it;
    bool             in_chunk;
    bool             done;
    merged_sample_t *merged;   /* merge mode: all samples in range, sorted, unique */
    size_t           nmerged, pos;
};

static int cmp_merged(const void *a, const void *b)
{
    const merged_sample_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Out-of-order data exists: materialise the range once, sorted, first copy of a timestamp
 * kept. Rare (OOO window or reordered replay), so simplicity wins over streaming. */
static int build_merged(tsdb_iter_t *it)
{
    size_t total = it->snap.nooo;
    for (size_t i = 0; i < it->snap.nchunks; i++)
        total += it->snap.chunks[i].count;
    for (size_t i = 0; i < it->snap.nooo_chunks; i++)
        total += it->snap.ooo_chunks[i].count;
    it->merged = malloc((total ? total : 1) * sizeof(*it->merged));
    if (it->merged == NULL)
        return VIGIL_ENOMEM;
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        const head_chunk_t *cs = pass ? it->snap.ooo_chunks : it->snap.chunks;
        size_t              nc = pass ? it->snap.nooo_chunks : it->snap.nchunks;
        for (size_t i = 0; i < nc; i++) {
            chunk_iter_t ci;
            int64_t      t;
            double       v;
            if (chunk_iter_init(&ci, cs[i].data, cs[i].len) != 0)
                continue;
            while (n < total && chunk_iter_next(&ci, &t, &v))
                if (t >= it->mint && t <= it->maxt)
                    it->merged[n] = (merged_sample_t){t, v, n}, n++;
        }
    }
    for (size_t i = 0; i < it->snap.nooo && n < total; i++)
        if (it->snap.ooo[i].t >= it->mint && it->snap.ooo[i].t <= it->maxt)
            it->merged[n] = (merged_sample_t){it->snap.ooo[i].t, it->snap.ooo[i].v, n}, n++;
    qsort(it->merged, n, sizeof(*it->merged), cmp_merged);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || it->merged[k - 1].t != it->merged[i].t)
            it->merged[k++] = it->merged[i];
    it->nmerged = k;
    return 0;
}

int tsdb_iter_open(const tsdb_series_set_t *set, size_t i, tsdb_iter_t **out)
{
    tsdb_iter_t *it = calloc(1, sizeof(*it));
    if (it == NULL)
        return VIGIL_ENOMEM;
    it->mint = set->mint;
    it->maxt = set->maxt;
    int rc = head_snapshot(set->s[i], set->mint, set->maxt, &it->snap);
    if (rc == 0 && (it->snap.nooo > 0 || it->snap.nooo_chunks > 0))
        rc = build_merged(it);
    if (rc != 0) {
        tsdb_iter_free(it);
        return rc;
    }
    *out = it;
    return 0;
}

bool tsdb_iter_next(tsdb_iter_t *it, int64_t *t, double *v)
{
    if (it->merged != NULL) {
        if (it->pos >= it->nmerged)
            return false;
        *t = it->merged[it->pos].t;
        *v = it->merged[it->pos].v;
        it->pos++;
        return true;
    }
    while (!it->done) {
        if (!it->in_chunk) {
            if (it->ci >= it->snap.nchunks) {
                it->done = true;
                break;
            }
            const head_chunk_t *c = &it->snap.chunks[it->ci++];
            if (chunk_iter_init(&it->it, c->data, c->len) != 0)
                continue;
            it->in_chunk = true;
        }
        int64_t ct;
        double  cv;
        if (!chunk_iter_next(&it->it, &ct, &cv)) {
            it->in_chunk = false;
            continue;
        }
        if (ct < it->mint)
            continue;
        if (ct > it->maxt) {
            it->done = true; /* chunks are ascending: nothing later is in range */
            break;
        }
        *t = ct;
        *v = cv;
        return true;
    }
    return false;
}

void tsdb_iter_free(tsdb_iter_t *it)
{
    if (it == NULL)
        return;
    head_snap_free(&it->snap);
    free(it->merged);
    free(it);
}

/* ---- listings ----------------------------------------------------------------------------- */

void tsdb_strings_free(tsdb_strings_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted unique copies of v[0..n) (interned strings), at most limit. */
static int strings_unique(const char **v, size_t n, size_t limit, tsdb_strings_t *out)
{
    qsort(v, n, sizeof(*v), cmp_cstr);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(v[k - 1], v[i]) != 0)
            v[k++] = v[i];
    if (limit != 0 && k > limit)
        k = limit;
    out->v = calloc(k ? k : 1, sizeof(char *));
    out->n = 0;
    if (out->v == NULL)
        return VIGIL_ENOMEM;
    for (size_t i = 0; i < k; i++) {
        if ((out->v[i] = strdup(v[i])) == NULL) {
            tsdb_strings_free(out);
            return VIGIL_ENOMEM;
        }
        out->n++;
    }
    return 0;
}

/* Names (name == NULL) or values of `name` over the selected series. */
static int list_from_series(tsdb_t *db, const char *name, const tsdb_matcher_t *m, size_t n,
                            int64_t mint, int64_t maxt, size_t limit, tsdb_strings_t *out,
                            vigil_error_t *err)
{
    head_series_t **ss;
    size_t          ns;
    int             rc = select_series(db, m, n, mint, maxt, &ss, &ns, err);
    if (rc != 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < ns; i++)
        total += name ? 1 : ss[i]->nlabels;
    const char **v = malloc((total ? total : 1) * sizeof(*v));
    size_t       k = 0;
    if (v == NULL) {
        free(ss);
        return vigil_error_set(err, VIGIL_ENOMEM, "listing: out of memory");
    }
    for (size_t i = 0; i < ns; i++)
        for (uint32_t j = 0; j < ss[i]->nlabels; j++) {
            if (name == NULL)
                v[k++] = ss[i]->labels[j].name;
            else if (strcmp(ss[i]->labels[j].name, name) == 0)
                v[k++] = ss[i]->labels[j].value;
        }
    rc = strings_unique(v, k, limit, out);
    free(v);
    free(ss);
    return rc != 0 ? vigil_error_set(err, rc, "listing: out of memory") : 0;
}

int tsdb_label_names(tsdb_t *db, const tsdb_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                     size_t limit, tsdb_strings_t *out, vigil_error_t *err)
{
    if (n == 0) {
        int rc = index_label_names(head_index(db->head), limit, out);
        return rc ? vigil_error_set(err, rc, "listing: out of memory") : 0;
    }
    return list_from_series(db, NULL, m, n, mint, maxt, limit, out, err);
}

int tsdb_label_values(tsdb_t *db, const char *name, const tsdb_matcher_t *m, size_t n,
                      int64_t mint, int64_t maxt, size_t limit, tsdb_strings_t *out,
                      vigil_error_t *err)
{
    if (name == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "label values: NULL name");
    if (n == 0) {
        int rc = index_label_values(head_index(db->head), name, limit, out);
        return rc ? vigil_error_set(err, rc, "listing: out of memory") : 0;
    }
    return list_from_series(db, name, m, n, mint, maxt, limit, out, err);
}

/* ---- statistics --------------------------------------------------------------------------- */

void tsdb_stats(tsdb_t *db, tsdb_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    head_fill_stats(db->head, out);
    if (db->wal != NULL)
        wal_stats(db->wal, &out->wal_bytes, &out->wal_syncs, &out->wal_segments);
    out->wal_replayed_records = db->rs.records;
    out->wal_corruptions = db->rs.corruptions;
    out->wal_replay_skipped = db->replay_skipped;
}

int tsdb_status(tsdb_t *db, size_t limit, tsdb_status_t *out)
{
    return index_status(head_index(db->head), limit, out);
}

void tsdb_status_free(tsdb_status_t *st)
{
    if (st == NULL)
        return;
    tsdb_stat_entry_t *lists[4] = {st->series_by_metric, st->values_by_label, st->memory_by_label,
                                   st->series_by_pair};
    size_t             ns[4] = {st->n_series_by_metric, st->n_values_by_label,
                                st->n_memory_by_label, st->n_series_by_pair};
    for (int i = 0; i < 4; i++) {
        for (size_t k = 0; k < ns[i]; k++)
            free(lists[i][k].name);
        free(lists[i]);
    }
    memset(st, 0, sizeof(*st));
}
