/*
 * query.c - the read side of the store (tsdb.h): tsdb_select() over the head and the blocks,
 * series sets, sample iterators, label listings.
 *
 * A selection gathers candidates from every block overlapping the range (their own postings)
 * and from the head's index, sorts them by label set and groups equal ones into one entry with
 * several sources. The set joins the current reader epoch and holds a reference on each block
 * it uses, so neither a block deletion (retention) nor a head truncation (compaction) can take
 * data from under it. An iterator streams its chunks directly when they follow each other in
 * time (one source, or blocks and head holding disjoint ranges); overlapping sources or
 * out-of-order data are merged once into a sorted, duplicate-free array.
 */
#include "tsdb/tsdb_int.h"

#include "tsdb/match.h"

#include <stdlib.h>
#include <string.h>

/* ---- querier ------------------------------------------------------------------------------ */

/* Where one series of a set lives in one block. */
typedef struct block_src {
    block_t *b;   /* borrowed: the set holds a reference */
    uint32_t idx;
} block_src_t;

typedef struct set_entry {
    const tsdb_label_t *labels;  /* the head series' (interned) or `owned` */
    size_t              nlabels;
    tsdb_label_t       *owned;   /* labels read from a block (strings in its mapping) */
    head_series_t      *hs;      /* NULL when the head has no such series in range */
    block_src_t        *bsrc;    /* owned; ascending by block time */
    size_t              nbsrc;
} set_entry_t;

struct tsdb_series_set {
    tsdb_t      *db;
    set_entry_t *e;       /* owned, sorted by labels */
    size_t       n;
    block_t    **blocks;  /* owned array; one reference each */
    size_t       nblocks;
    uint64_t     epoch;
    int64_t      mint, maxt;
};

/* A candidate before grouping: one series in one source. */
typedef struct cand {
    const tsdb_label_t *labels;
    size_t              nlabels;
    tsdb_label_t       *owned;
    head_series_t      *hs;
    block_t            *b;
    uint32_t            idx;
    size_t              order; /* source order: blocks by time, the head last */
} cand_t;

/* head_labels_cmp() that skips strcmp for strings at the same address: the head interns its
 * strings, so its series share the name's and most values' pointers. */
static int cmp_labels(const tsdb_label_t *a, size_t na, const tsdb_label_t *b, size_t nb)
{
    for (size_t i = 0; i < na && i < nb; i++) {
        int c = a[i].name == b[i].name ? 0 : strcmp(a[i].name, b[i].name);
        if (c == 0 && a[i].value != b[i].value)
            c = strcmp(a[i].value, b[i].value);
        if (c != 0)
            return c;
    }
    return (na > nb) - (na < nb);
}

static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    int           c = cmp_labels(x->labels, x->nlabels, y->labels, y->nlabels);
    if (c == 0)
        c = (x->order > y->order) - (x->order < y->order);
    return c;
}

/* More sources than this: sort from scratch. */
#define MERGE_MAX_RUNS 16

/* Sorts the candidates by cmp_cand. They arrive grouped by source (each block's, then the
 * head's; cand_t.order): a block stores its series in label order, so its group is already a
 * sorted run, and only the head's (in creation order) needs sorting; the runs are then merged
 * with a comparison per candidate and pass, where one qsort would redo the whole order.
 * 0 or VIGIL_ENOMEM. */
static int sort_cands(cand_t *cv, size_t n)
{
    size_t starts[MERGE_MAX_RUNS + 1], nruns = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        bool sorted = true;
        for (; j < n && cv[j].order == cv[i].order; j++)
            sorted = sorted && cmp_cand(&cv[j - 1], &cv[j]) <= 0;
        if (nruns == MERGE_MAX_RUNS) {
            qsort(cv, n, sizeof(*cv), cmp_cand);
            return 0;
        }
        if (!sorted)
            qsort(cv + i, j - i, sizeof(*cv), cmp_cand);
        starts[nruns++] = i;
        i = j;
    }
    if (nruns <= 1)
        return 0;
    starts[nruns] = n;
    cand_t *tmp = malloc(n * sizeof(*tmp));
    if (tmp == NULL)
        return VIGIL_ENOMEM;
    cand_t *src = cv, *dst = tmp;
    while (nruns > 1) {
        size_t out = 0, k = 0;
        for (size_t r = 0; r < nruns; r += 2) {
            size_t a = starts[r], am = starts[r + 1];
            size_t bm = r + 2 <= nruns ? starts[r + 2] : am;
            size_t b = am;
            starts[k++] = out;
            while (a < am && b < bm)
                dst[out++] = cmp_cand(&src[b], &src[a]) < 0 ? src[b++] : src[a++];
            while (a < am)
                dst[out++] = src[a++];
            while (b < bm)
                dst[out++] = src[b++];
        }
        starts[k] = n;
        nruns = k;
        cand_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != cv)
        memcpy(cv, src, n * sizeof(*cv));
    free(tmp);
    return 0;
}

static int cand_push(cand_t **v, size_t *n, size_t *cap, cand_t c)
{
    if (*n == *cap) {
        size_t  ncap = *cap ? *cap * 2 : 64;
        cand_t *nv = realloc(*v, ncap * sizeof(*nv));
        if (nv == NULL)
            return VIGIL_ENOMEM;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = c;
    return 0;
}

/* Compiles the matchers into *out (n of them); the caller frees with free_matchers(). */
static int compile_matchers(const tsdb_matcher_t *m, size_t n, matcher_t **out, vigil_error_t *err)
{
    matcher_t *ms = calloc(n ? n : 1, sizeof(*ms));
    if (ms == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "select: out of memory");
    for (size_t i = 0; i < n; i++) {
        int rc = matcher_compile(&ms[i], &m[i], err);
        if (rc != 0) {
            for (size_t k = 0; k < i; k++)
                matcher_free(&ms[k]);
            free(ms);
            return rc;
        }
    }
    *out = ms;
    return 0;
}

static void free_matchers(matcher_t *ms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        matcher_free(&ms[i]);
    free(ms);
}

/* True when series idx of block b has a chunk overlapping [mint, maxt]. */
static bool block_series_in_range(block_t *b, uint32_t idx, int64_t mint, int64_t maxt)
{
    head_chunk_t *cs;
    size_t        n = 0;
    if (block_series_chunks(b, idx, mint, maxt, &cs, &n) != 0)
        return false;
    free(cs);
    return n > 0;
}

/* Gathers the candidates of every source into *set (blocks referenced, epoch joined). */
static int gather(tsdb_t *db, const matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                  tsdb_series_set_t *set, cand_t **cv, size_t *nc)
{
    size_t cap = 0;
    int    rc = 0;
    *cv = NULL;
    *nc = 0;
    /* Join the current epoch and take the blocks under the same lock order compaction uses
     * (blocks, then epoch), so a set sees either the block or the head data it replaced. */
    pthread_mutex_lock(&db->blocks_mu);
    pthread_mutex_lock(&db->epoch_mu);
    set->epoch = db->epoch;
    db->live[set->epoch & 1]++;
    pthread_mutex_unlock(&db->epoch_mu);
    set->blocks = malloc((db->nblocks ? db->nblocks : 1) * sizeof(block_t *));
    if (set->blocks == NULL)
        rc = VIGIL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < db->nblocks; i++)
        if (block_maxt(db->blocks[i]) > mint && block_mint(db->blocks[i]) <= maxt) {
            block_ref(db->blocks[i]);
            set->blocks[set->nblocks++] = db->blocks[i];
        }
    pthread_mutex_unlock(&db->blocks_mu);

    for (size_t bi = 0; rc == 0 && bi < set->nblocks; bi++) {
        block_t  *b = set->blocks[bi];
        uint32_t *ids;
        size_t    nids;
        if ((rc = block_select(b, ms, n, &ids, &nids)) != 0)
            break;
        for (size_t k = 0; rc == 0 && k < nids; k++) {
            if (!block_series_in_range(b, ids[k], mint, maxt))
                continue;
            cand_t c = {.b = b, .idx = ids[k], .order = bi};
            if ((rc = block_series_labels(b, ids[k], &c.owned, &c.nlabels)) != 0)
                break;
            c.labels = c.owned;
            if ((rc = cand_push(cv, nc, &cap, c)) != 0)
                free(c.owned);
        }
        free(ids);
    }
    if (rc == 0) {
        uint32_t *ids;
        size_t    nids;
        uint32_t  nall = head_series_count(db->head);
        rc = index_select(head_index(db->head), ms, n, nall, &ids, &nids);
        for (size_t k = 0; rc == 0 && k < nids; k++) {
            head_series_t *s = head_series_by_id(db->head, ids[k]);
            if (s == NULL || !head_series_overlaps(s, mint, maxt))
                continue;
            cand_t c = {.labels = s->labels, .nlabels = s->nlabels, .hs = s,
                        .order = set->nblocks};
            rc = cand_push(cv, nc, &cap, c);
        }
        if (rc == 0)
            free(ids);
    }
    return rc;
}

int tsdb_select(tsdb_t *db, const tsdb_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                tsdb_series_set_t **out, vigil_error_t *err)
{
    matcher_t *ms = NULL;
    int        rc = compile_matchers(m, n, &ms, err);
    if (rc != 0)
        return rc;
    tsdb_series_set_t *set = calloc(1, sizeof(*set));
    if (set == NULL) {
        free_matchers(ms, n);
        return vigil_error_set(err, VIGIL_ENOMEM, "select: out of memory");
    }
    set->db = db;
    set->mint = mint;
    set->maxt = maxt;
    cand_t *cv;
    size_t  nc;
    rc = gather(db, ms, n, mint, maxt, set, &cv, &nc);
    free_matchers(ms, n);
    if (rc == 0) {
        if (nc > 1) /* cv is NULL when nothing matched */
            rc = sort_cands(cv, nc);
        set->e = rc == 0 ? calloc(nc ? nc : 1, sizeof(*set->e)) : NULL;
        if (set->e == NULL)
            rc = VIGIL_ENOMEM;
    }
    /* Group candidates with equal label sets into one entry. */
    for (size_t i = 0; rc == 0 && i < nc;) {
        size_t j = i;
        while (j < nc && cmp_labels(cv[i].labels, cv[i].nlabels, cv[j].labels,
                                    cv[j].nlabels) == 0)
            j++;
        set_entry_t *e = &set->e[set->n++];
        e->bsrc = malloc((j - i) * sizeof(*e->bsrc));
        if (e->bsrc == NULL)
            rc = VIGIL_ENOMEM;
        for (size_t k = i; k < j; k++) {
            if (cv[k].hs != NULL) {
                e->hs = cv[k].hs;
                e->labels = cv[k].hs->labels; /* interned: outlives any block */
                e->nlabels = cv[k].hs->nlabels;
            } else if (e->bsrc != NULL) {
                e->bsrc[e->nbsrc++] = (block_src_t){cv[k].b, cv[k].idx};
            }
            if (e->owned == NULL && cv[k].owned != NULL) {
                e->owned = cv[k].owned; /* keep one copy; the others go */
                cv[k].owned = NULL;
            }
        }
        if (e->hs == NULL) {
            e->labels = e->owned;
            e->nlabels = cv[i].nlabels;
        }
        i = j;
    }
    for (size_t k = 0; k < nc; k++)
        free(cv[k].owned);
    free(cv);
    if (rc != 0) {
        tsdb_series_set_free(set);
        return vigil_error_set(err, rc, "select: %s", vigil_strerror(rc));
    }
    *out = set;
    return 0;
}

size_t tsdb_series_set_len(const tsdb_series_set_t *set)
{
    return set->n;
}

const tsdb_label_t *tsdb_series_labels(const tsdb_series_set_t *set, size_t i, size_t *n)
{
    *n = set->e[i].nlabels;
    return set->e[i].labels;
}

const char *tsdb_series_label(const tsdb_series_set_t *set, size_t i, const char *name)
{
    const set_entry_t *e = &set->e[i];
    for (size_t k = 0; k < e->nlabels; k++)
        if (strcmp(e->labels[k].name, name) == 0)
            return e->labels[k].value;
    return NULL;
}

void tsdb_series_set_free(tsdb_series_set_t *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++) {
        free(set->e[i].owned);
        free(set->e[i].bsrc);
    }
    free(set->e);
    for (size_t i = 0; i < set->nblocks; i++)
        block_unref(set->blocks[i]);
    free(set->blocks);
    tsdb_t *db = set->db;
    pthread_mutex_lock(&db->epoch_mu);
    if (--db->live[set->epoch & 1] == 0)
        pthread_cond_broadcast(&db->epoch_cv);
    pthread_mutex_unlock(&db->epoch_mu);
    free(set);
}

struct tsdb_iter {
    head_snap_t    snap;
    head_chunk_t  *bchunks;  /* owned: chunks of every block source (data in the mappings) */
    size_t         nbchunks;
    int64_t        mint, maxt;
    /* stream mode: one in-order chunk list */
    const head_chunk_t *stream;
    size_t         nstream, ci;
    chunk_iter_t   it;
    bool           in_chunk, done;
    bool           any;      /* a sample was returned: `last` holds its timestamp */
    int64_t        last;
    head_chunk_t  *joined;   /* owned: the stream of several sources, when they do not overlap */
    /* merge mode: every sample in range, sorted, unique */
    head_sample_t *merged;
    size_t         nmerged, pos;
};

static int cmp_chunk_mint(const void *a, const void *b)
{
    const head_chunk_t *x = a, *y = b;
    return (x->mint > y->mint) - (x->mint < y->mint);
}

/* Series usually span a few blocks and the head, each holding its own time range: their
 * chunks, ordered by start, then follow each other without overlapping and can be streamed
 * like one source instead of decoded, sorted and deduplicated up front (merge mode). Sets
 * it->joined and the stream to them and returns true in that case; false (nothing set) when
 * some chunks overlap (or on allocation failure, where merge mode still works). */
static bool join_sources(tsdb_iter_t *it)
{
    size_t n = it->nbchunks + it->snap.nchunks;
    head_chunk_t *j = malloc((n ? n : 1) * sizeof(*j));
    if (j == NULL)
        return false;
    if (it->nbchunks > 0)
        memcpy(j, it->bchunks, it->nbchunks * sizeof(*j));
    if (it->snap.nchunks > 0)
        memcpy(j + it->nbchunks, it->snap.chunks, it->snap.nchunks * sizeof(*j));
    qsort(j, n, sizeof(*j), cmp_chunk_mint);
    for (size_t i = 1; i < n; i++)
        if (j[i].mint <= j[i - 1].maxt) {
            free(j);
            return false;
        }
    it->joined = j;
    it->stream = j;
    it->nstream = n;
    return true;
}

int tsdb_iter_open(const tsdb_series_set_t *set, size_t i, tsdb_iter_t **out)
{
    const set_entry_t *e = &set->e[i];
    tsdb_iter_t       *it = calloc(1, sizeof(*it));
    if (it == NULL)
        return VIGIL_ENOMEM;
    it->mint = set->mint;
    it->maxt = set->maxt;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < e->nbsrc; k++) {
        head_chunk_t *cs;
        size_t        nc;
        if ((rc = block_series_chunks(e->bsrc[k].b, e->bsrc[k].idx, it->mint, it->maxt, &cs,
                                      &nc)) != 0)
            break;
        head_chunk_t *nb = realloc(it->bchunks, (it->nbchunks + nc + 1) * sizeof(*nb));
        if (nb == NULL) {
            free(cs);
            rc = VIGIL_ENOMEM;
            break;
        }
        it->bchunks = nb;
        memcpy(it->bchunks + it->nbchunks, cs, nc * sizeof(*cs));
        it->nbchunks += nc;
        free(cs);
    }
    if (rc == 0 && e->hs != NULL)
        rc = head_snapshot(e->hs, it->mint, it->maxt, &it->snap);
    if (rc == 0) {
        bool head_ooo = it->snap.nooo > 0 || it->snap.nooo_chunks > 0;
        if (!head_ooo && it->nbchunks == 0) {
            it->stream = it->snap.chunks;
            it->nstream = it->snap.nchunks;
        } else if (!head_ooo && it->snap.nchunks == 0 && e->nbsrc == 1) {
            it->stream = it->bchunks;
            it->nstream = it->nbchunks;
        } else if (head_ooo || !join_sources(it)) {
            /* Overlapping sources or out-of-order data: materialise once (blocks first, so a
             * timestamp present twice keeps the block's sample). */
            const head_chunk_t *lists[3] = {it->bchunks, it->snap.chunks, it->snap.ooo_chunks};
            size_t              nl[3] = {it->nbchunks, it->snap.nchunks, it->snap.nooo_chunks};
            rc = head_collect_samples(lists, nl, 3, it->snap.ooo, it->snap.nooo, it->mint,
                                      it->maxt, &it->merged, &it->nmerged);
        }
    }
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
            if (it->ci >= it->nstream) {
                it->done = true;
                break;
            }
            const head_chunk_t *c = &it->stream[it->ci++];
            if (chunk_iter_init(&it->it, c->data, c->len) != 0)
                continue;
            it->in_chunk = true;
        }
        int64_t ct;
        if (!chunk_iter_next_from(&it->it, it->mint, &ct)) {
            it->in_chunk = false;
            continue;
        }
        if (ct > it->maxt) {
            it->done = true; /* chunks are ascending: nothing later is in range */
            break;
        }
        /* The writers only produce ascending chunks, but a block is read from disk and its
         * CRCs prove only that it is what was written: a damaged writer's or a crafted file's
         * chunk may go backwards. Callers rely on strictly ascending samples, so such samples
         * are dropped here (one comparison; found by fuzz/fuzz_tsdb_block.c). */
        if (it->any && ct <= it->last)
            continue;
        it->any = true;
        it->last = ct;
        *t = ct;
        *v = chunk_iter_value(&it->it);
        return true;
    }
    return false;
}

int tsdb_series_last(const tsdb_series_set_t *set, size_t i, int64_t *t_ms, double *v)
{
    const set_entry_t *e = &set->e[i];
    head_series_t     *hs = e->hs;
    if (hs == NULL)
        return -1;
    slock_lock(&hs->mu);
    int     rc = -1;
    int64_t t = hs->last_t;
    /* maxt >= t: the sample is still stored (truncation drops the oldest chunks, never the
     * newest, but a series left without chunks keeps its last_t). */
    if (hs->has_last && hs->ooo == NULL && hs->maxt >= t && t <= set->maxt) {
        rc = t >= set->mint ? 1 : 0;
        /* A block's samples lie before its exclusive end: all older than t when it ends by t
         * (else it may hold t itself, and the block's copy would win). */
        for (size_t k = 0; k < e->nbsrc; k++)
            if (block_maxt(e->bsrc[k].b) > t)
                rc = -1;
        if (rc == 1) {
            *t_ms = t;
            uint64_t bits = head_series_last_bits(hs);
            memcpy(v, &bits, sizeof(*v));
        }
    }
    slock_unlock(&hs->mu);
    return rc;
}

void tsdb_iter_free(tsdb_iter_t *it)
{
    if (it == NULL)
        return;
    head_snap_free(&it->snap);
    free(it->bchunks);
    free(it->joined);
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

/* Sorted unique copies of v[0..n), at most limit. */
static int strings_unique(const char **v, size_t n, size_t limit, tsdb_strings_t *out)
{
    if (n > 1) /* v may be NULL when empty */
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
    tsdb_series_set_t *set;
    int                rc = tsdb_select(db, m, n, mint, maxt, &set, err);
    if (rc != 0)
        return rc;
    size_t total = 0;
    for (size_t i = 0; i < set->n; i++)
        total += set->e[i].nlabels;
    const char **v = malloc((total ? total : 1) * sizeof(*v));
    size_t       k = 0;
    if (v == NULL) {
        tsdb_series_set_free(set);
        return vigil_error_set(err, VIGIL_ENOMEM, "listing: out of memory");
    }
    for (size_t i = 0; i < set->n; i++)
        for (size_t j = 0; j < set->e[i].nlabels; j++) {
            if (name == NULL)
                v[k++] = set->e[i].labels[j].name;
            else if (strcmp(set->e[i].labels[j].name, name) == 0)
                v[k++] = set->e[i].labels[j].value;
        }
    rc = strings_unique(v, k, limit, out); /* copies before the set (and its blocks) go */
    free(v);
    tsdb_series_set_free(set);
    return rc != 0 ? vigil_error_set(err, rc, "listing: out of memory") : 0;
}

/* Names or values of `name` from the head's index and the blocks overlapping the range. */
static int list_all(tsdb_t *db, const char *name, int64_t mint, int64_t maxt, size_t limit,
                    tsdb_strings_t *out, vigil_error_t *err)
{
    tsdb_strings_t head;
    int rc = name ? index_label_values(head_index(db->head), name, 0, &head)
                  : index_label_names(head_index(db->head), 0, &head);
    if (rc != 0)
        return vigil_error_set(err, rc, "listing: out of memory");
    const char **v = NULL;
    size_t       n = 0, cap = 0;
    for (size_t i = 0; rc == 0 && i < head.n; i++) {
        if (n == cap) {
            size_t       nc = cap ? cap * 2 : 64;
            const char **nv = realloc(v, nc * sizeof(*nv));
            if (nv == NULL) {
                rc = VIGIL_ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        v[n++] = head.v[i];
    }
    pthread_mutex_lock(&db->blocks_mu);
    for (size_t i = 0; rc == 0 && i < db->nblocks; i++) {
        block_t *b = db->blocks[i];
        if (block_maxt(b) <= mint || block_mint(b) > maxt)
            continue;
        rc = name ? block_label_values(b, name, &v, &n, &cap) : block_label_names(b, &v, &n, &cap);
    }
    if (rc == 0) /* copies made while the blocks are still held */
        rc = strings_unique(v, n, limit, out);
    pthread_mutex_unlock(&db->blocks_mu);
    free(v);
    tsdb_strings_free(&head);
    return rc != 0 ? vigil_error_set(err, rc, "listing: %s", vigil_strerror(rc)) : 0;
}

int tsdb_label_names(tsdb_t *db, const tsdb_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                     size_t limit, tsdb_strings_t *out, vigil_error_t *err)
{
    if (n == 0)
        return list_all(db, NULL, mint, maxt, limit, out, err);
    return list_from_series(db, NULL, m, n, mint, maxt, limit, out, err);
}

int tsdb_label_values(tsdb_t *db, const char *name, const tsdb_matcher_t *m, size_t n,
                      int64_t mint, int64_t maxt, size_t limit, tsdb_strings_t *out,
                      vigil_error_t *err)
{
    if (name == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "label values: NULL name");
    if (n == 0)
        return list_all(db, name, mint, maxt, limit, out, err);
    return list_from_series(db, name, m, n, mint, maxt, limit, out, err);
}

