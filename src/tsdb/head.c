/*
 * head.c - in-memory series, chunks, limits and the locking that lets many appenders and
 * readers work at once.
 *
 * Locking (innermost last; a thread only ever takes locks in this order):
 *   1. head.create_mu   serialises series *creation* only: ids are then dense and ascending,
 *                       postings lists stay appends, and the WAL series record is logged
 *                       before the series can be found (so it precedes its samples in the log).
 *   2. stripe.mu        one of 256 mutexes guarding a hash map from label set to series; a
 *                       lookup holds it for a probe. Striping by hash keeps appenders on
 *                       different series from meeting on one lock.
 *   3. symtab.lock, index.lock   reader-writer locks, written only during creation.
 *   4. series.mu        per series (a 4-byte futex lock, slock.h): append, out-of-order insert,
 *                       snapshot. Held for one sample (appenders) or one copy (readers), never
 *                       while taking another lock but the WAL's.
 *   (the WAL's mutex is a leaf, taken under 1-2 by the creation hook and under 4 by the chunk
 *   hook, which logs each chunk the head cuts.)
 *   0. head.gc_lock     outermost: appenders hold it for reading from their first add until
 *                       their commit (head_pin); series garbage collection holds it for
 *                       writing while it unlinks series, and only ever try-locks it.
 * Why not a single writer with lock-free readers: collectors, pushes and rule evaluation
 * append from different threads, and a single writer would serialise them all; per-series
 * locks are uncontended in the common case (one writer per series), cost ~20 ns, and make the
 * reader side trivial (copy under the lock, iterate without it).
 *
 * The series table is two-level (pages of 4096 pointers, page array sized for max_series at
 * create), so it never moves and lookups by id need no lock: slots are stored with release
 * and loaded with acquire, and the count of ids in use only grows. A slot can be NULL when
 * creation failed after the id was taken (the index may already name it) or after its series
 * was garbage collected; readers skip NULL slots.
 *
 * Closed chunks are immutable; head_truncate() frees those older than the last block. Readers
 * therefore copy what they read (head_snapshot copies the chunk bytes under the series lock),
 * so no reader ever holds a pointer into the head after the lock.
 *
 * Series garbage collection (after truncation, as Prometheus's head GC): a series with nothing
 * left in the head is unlinked (map, table slot, postings) by head_gc_unlink() while no
 * appender is pinned and no series is being created, so no appender holds its pointer and no
 * sample can land in it. Readers (series sets) may still hold it: the store waits for the
 * reader epoch that could have seen it to end, then head_gc_free() frees it, gives back its
 * label strings and makes its id reusable. Reusing ids keeps the table and the postings
 * bounded by the live series under churn; a stale tsdb_ref_t is told apart by the WAL ref bits
 * it carries (head_series_by_handle).
 */
#include "tsdb/head.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct stripe {
    pthread_mutex_t mu;
    hmap_t          map; /* of head_series_t*, keyed by label set */
    char            pad[64 - (sizeof(pthread_mutex_t) + sizeof(hmap_t)) % 64];
} stripe_t;

struct head {
    head_limits_t     lim;
    symtab_t          syms;
    index_t           index;
    pthread_rwlock_t  gc_lock;   /* see the top of the file */
    pthread_mutex_t   create_mu;
    uint64_t          next_ref;  /* under create_mu */
    uint32_t         *free_ids;  /* under create_mu: ids of collected series, reused first */
    uint32_t          nfree, capfree;
    _Atomic uint64_t  removed;   /* series garbage collected since create */
    head_on_series_fn on_series;
    void             *on_series_ctx;
    head_on_chunk_fn  on_chunk;
    void             *on_chunk_ctx;
    _Atomic(head_series_t *) **pages; /* npages page pointers; each page 4096 slots */
    size_t            npages;
    _Atomic uint32_t  nseries;   /* ids in use (slots filled or burnt) */
    _Atomic uint32_t  nlive;     /* series actually created */
    _Atomic int64_t   samples, chunks, chunk_bytes, mint, maxt;
    _Atomic int64_t   min_valid; /* samples older than this are in blocks: rejected / skipped */
    _Atomic uint64_t  rejected[TSDB_REJECT__COUNT];
    stripe_t          stripes[HEAD_STRIPES];
};

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

int head_create(head_t **out, const head_limits_t *lim, vigil_error_t *err)
{
    head_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "tsdb head: out of memory");
    h->lim = *lim;
    h->next_ref = 1;
    atomic_init(&h->mint, INT64_MAX);
    atomic_init(&h->maxt, INT64_MIN);
    atomic_init(&h->min_valid, INT64_MIN);
    /* One spare page so max_series not a multiple of the page size still fits. */
    h->npages = (lim->max_series >> HEAD_PAGE_BITS) + 1;
    h->pages = calloc(h->npages, sizeof(*h->pages));
    int rc = h->pages == NULL ? VIGIL_ENOMEM : 0;
    if (rc == 0)
        rc = symtab_init(&h->syms);
    if (rc == 0 && (rc = index_init(&h->index)) != 0)
        symtab_destroy(&h->syms);
    if (rc != 0) {
        free(h->pages);
        free(h);
        return vigil_error_set(err, rc, "tsdb head: cannot initialise (%s)", vigil_strerror(rc));
    }
    pthread_mutex_init(&h->create_mu, NULL);
    pthread_rwlock_init(&h->gc_lock, NULL);
    for (size_t i = 0; i < HEAD_STRIPES; i++) {
        pthread_mutex_init(&h->stripes[i].mu, NULL);
        hmap_init(&h->stripes[i].map);
    }
    *out = h;
    return 0;
}

static _Atomic(head_series_t *) *slot(head_t *h, uint32_t id)
{
    return &h->pages[id >> HEAD_PAGE_BITS][id & ((1u << HEAD_PAGE_BITS) - 1)];
}

static void series_free(head_series_t *s)
{
    for (uint32_t i = 0; i < s->nclosed; i++)
        free(s->closed[i].data);
    if (s->ooo != NULL) {
        for (uint32_t i = 0; i < s->ooo->nchunks; i++)
            free(s->ooo->chunks[i].data);
        free(s->ooo->chunks);
        free(s->ooo->samples);
        free(s->ooo);
    }
    free(s->closed);
    chunk_appender_free(&s->open);
    free(s);
}

void head_free(head_t *h)
{
    if (h == NULL)
        return;
    uint32_t n = atomic_load(&h->nseries);
    for (uint32_t id = 0; id < n; id++) {
        head_series_t *s = atomic_load_explicit(slot(h, id), memory_order_relaxed);
        if (s != NULL)
            series_free(s);
    }
    for (size_t i = 0; i < h->npages; i++)
        free(h->pages[i]);
    free(h->pages);
    for (size_t i = 0; i < HEAD_STRIPES; i++) {
        hmap_free(&h->stripes[i].map);
        pthread_mutex_destroy(&h->stripes[i].mu);
    }
    index_destroy(&h->index);
    symtab_destroy(&h->syms);
    pthread_mutex_destroy(&h->create_mu);
    pthread_rwlock_destroy(&h->gc_lock);
    free(h->free_ids);
    free(h);
}

void head_set_on_series(head_t *h, head_on_series_fn fn, void *ctx)
{
    h->on_series = fn;
    h->on_series_ctx = ctx;
}

void head_set_on_chunk(head_t *h, head_on_chunk_fn fn, void *ctx)
{
    h->on_chunk = fn;
    h->on_chunk_ctx = ctx;
}

symtab_t *head_symbols(head_t *h) { return &h->syms; }
index_t *head_index(head_t *h) { return &h->index; }
uint32_t head_series_count(head_t *h) { return atomic_load_explicit(&h->nseries, memory_order_acquire); }

head_series_t *head_series_by_id(head_t *h, uint32_t id)
{
    if (id >= atomic_load_explicit(&h->nseries, memory_order_acquire))
        return NULL;
    return atomic_load_explicit(slot(h, id), memory_order_acquire);
}

uint64_t head_series_handle(const head_series_t *s)
{
    return (s->ref & 0xffffffffu) << 32 | ((uint64_t)s->id + 1);
}

head_series_t *head_series_by_handle(head_t *h, uint64_t handle)
{
    uint64_t id1 = handle & 0xffffffffu;
    if (id1 == 0)
        return NULL;
    head_series_t *s = head_series_by_id(h, (uint32_t)(id1 - 1));
    return s != NULL && (s->ref & 0xffffffffu) == handle >> 32 ? s : NULL;
}

void head_pin(head_t *h)
{
    pthread_rwlock_rdlock(&h->gc_lock);
}

void head_unpin(head_t *h)
{
    pthread_rwlock_unlock(&h->gc_lock);
}

/* ---- labels ------------------------------------------------------------------------------- */

int head_labels_prepare(const head_t *h, const tsdb_label_t *in, size_t n, tsdb_label_t *out,
                        size_t *nout, uint64_t *hash, tsdb_reject_reason_t *reason,
                        vigil_error_t *err)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].name == NULL || in[i].name[0] == '\0') {
            *reason = TSDB_REJECT_INVALID_LABELS;
            return vigil_error_set(err, VIGIL_EINVAL, "label %zu has an empty name", i);
        }
        if (in[i].value == NULL || in[i].value[0] == '\0')
            continue; /* an empty value is the same as no label, as in Prometheus */
        size_t ln = strlen(in[i].name), lv = strlen(in[i].value);
        if (ln > h->lim.max_label_name_len) {
            *reason = TSDB_REJECT_LABEL_NAME_LENGTH;
            return vigil_error_set(err, VIGIL_ELIMIT,
                                   "label name \"%.64s...\" is %zu bytes, over the limit of %zu",
                                   in[i].name, ln, h->lim.max_label_name_len);
        }
        if (lv > h->lim.max_label_value_len) {
            *reason = TSDB_REJECT_LABEL_VALUE_LENGTH;
            return vigil_error_set(err, VIGIL_ELIMIT,
                                   "value of label %s is %zu bytes, over the limit of %zu",
                                   in[i].name, lv, h->lim.max_label_value_len);
        }
        /* Insertion sort: label sets are short and usually already sorted (one compare each). */
        size_t j = k;
        while (j > 0 && strcmp(out[j - 1].name, in[i].name) > 0) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = in[i];
        k++;
    }
    if (k == 0) {
        *reason = TSDB_REJECT_INVALID_LABELS;
        return vigil_error_set(err, VIGIL_EINVAL, "a series needs at least one non-empty label");
    }
    if (k > h->lim.max_labels) {
        *reason = TSDB_REJECT_MAX_LABELS;
        return vigil_error_set(err, VIGIL_ELIMIT, "series has %zu labels, over the limit of %zu",
                               k, h->lim.max_labels);
    }
    uint64_t hv = 0x6a09e667f3bcc908ULL;
    for (size_t i = 0; i < k; i++) {
        if (i > 0 && strcmp(out[i - 1].name, out[i].name) == 0) {
            *reason = TSDB_REJECT_INVALID_LABELS;
            return vigil_error_set(err, VIGIL_EINVAL, "label %s appears twice", out[i].name);
        }
        /* The NUL terminators are hashed too, so ("ab","c") and ("a","bc") differ. */
        hv = tsdb_hash_bytes(out[i].name, strlen(out[i].name) + 1, hv);
        hv = tsdb_hash_bytes(out[i].value, strlen(out[i].value) + 1, hv);
    }
    *nout = k;
    *hash = hv;
    return 0;
}

typedef struct lkey {
    const tsdb_label_t *ls;
    size_t              n;
} lkey_t;

static bool series_eq(const void *item, const void *key)
{
    const head_series_t *s = item;
    const lkey_t        *k = key;
    if (s->nlabels != k->n)
        return false;
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(s->labels[i].name, k->ls[i].name) != 0 ||
            strcmp(s->labels[i].value, k->ls[i].value) != 0)
            return false;
    return true;
}

static stripe_t *stripe_of(head_t *h, uint64_t hash)
{
    return &h->stripes[(hash >> 40) & (HEAD_STRIPES - 1)];
}

/* Takes an id (a collected series' first, else the next), making sure its page exists.
 * create_mu held. */
static int take_id(head_t *h, uint32_t *id)
{
    if (h->nfree > 0) {
        *id = h->free_ids[--h->nfree];
        return 0;
    }
    uint32_t n = atomic_load_explicit(&h->nseries, memory_order_relaxed);
    size_t   page = n >> HEAD_PAGE_BITS;
    if (page >= h->npages)
        return VIGIL_ELIMIT;
    if (h->pages[page] == NULL) {
        h->pages[page] = calloc((size_t)1 << HEAD_PAGE_BITS, sizeof(head_series_t *));
        if (h->pages[page] == NULL)
            return VIGIL_ENOMEM;
    }
    *id = n;
    return 0;
}

/* Fills slot `id` (or leaves it NULL to burn it) and publishes it to lock-free readers. */
static void publish(head_t *h, uint32_t id, head_series_t *s)
{
    atomic_store_explicit(slot(h, id), s, memory_order_release);
    if (id + 1 > atomic_load_explicit(&h->nseries, memory_order_relaxed))
        atomic_store_explicit(&h->nseries, id + 1, memory_order_release);
}

/* Gives back the label strings of s's first n labels (both sides interned). create_mu held. */
static void release_labels(head_t *h, const head_series_t *s, size_t n)
{
    const char *v[2 * 64];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; i < n && k < sizeof(v) / sizeof(v[0]); i++) {
            v[k++] = s->labels[i].name;
            v[k++] = s->labels[i].value;
        }
        symtab_release(&h->syms, v, k);
    }
}

int head_get_or_create(head_t *h, const tsdb_label_t *ls, size_t n, uint64_t hash, uint64_t ref,
                       head_series_t **out, tsdb_reject_reason_t *reason, vigil_error_t *err)
{
    stripe_t *st = stripe_of(h, hash);
    lkey_t    key = {ls, n};
    pthread_mutex_lock(&st->mu);
    head_series_t *s = hmap_find(&st->map, hash, series_eq, &key);
    pthread_mutex_unlock(&st->mu);
    if (s != NULL) {
        *out = s;
        return 0;
    }

    int rc = 0;
    pthread_mutex_lock(&h->create_mu);
    pthread_mutex_lock(&st->mu);
    s = hmap_find(&st->map, hash, series_eq, &key); /* another creator may have won */
    if (s != NULL)
        goto out_unlock;
    if (atomic_load(&h->nlive) >= h->lim.max_series) {
        *reason = TSDB_REJECT_MAX_SERIES;
        rc = vigil_error_set(err, VIGIL_ELIMIT, "series limit of %zu reached", h->lim.max_series);
        goto out_unlock;
    }
    uint32_t id;
    if ((rc = take_id(h, &id)) != 0) {
        if (rc == VIGIL_ELIMIT)
            *reason = TSDB_REJECT_MAX_SERIES;
        rc = vigil_error_set(err, rc, "cannot create a series: %s", vigil_strerror(rc));
        goto out_unlock;
    }
    s = calloc(1, sizeof(*s) + n * sizeof(tsdb_label_t));
    if (s == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "cannot create a series: out of memory");
        goto out_unlock;
    }
    for (size_t i = 0; i < n; i++) {
        s->labels[i].name = symtab_intern(&h->syms, ls[i].name, strlen(ls[i].name));
        s->labels[i].value = symtab_intern(&h->syms, ls[i].value, strlen(ls[i].value));
        if (s->labels[i].name == NULL || s->labels[i].value == NULL) {
            if (s->labels[i].name != NULL)
                symtab_release(&h->syms, &s->labels[i].name, 1);
            if (s->labels[i].value != NULL)
                symtab_release(&h->syms, &s->labels[i].value, 1);
            release_labels(h, s, i);
            if (id < atomic_load(&h->nseries)) /* popped from the free list: put it back */
                h->free_ids[h->nfree++] = id;
            free(s);
            s = NULL;
            rc = vigil_error_set(err, VIGIL_ENOMEM, "cannot create a series: out of memory");
            goto out_unlock;
        }
    }
    s->hash = hash;
    s->id = id;
    s->nlabels = (uint32_t)n;
    s->mint = INT64_MAX;
    s->maxt = INT64_MIN;
    s->ref = ref != 0 ? ref : h->next_ref;
    chunk_appender_init(&s->open);

    if ((rc = index_add(&h->index, id, (const char *const *)s->labels, n)) != 0) {
        rc = vigil_error_set(err, rc, "cannot index a series: %s", vigil_strerror(rc));
        if (id < atomic_load(&h->nseries)) /* in no postings list: reusable as it was */
            h->free_ids[h->nfree++] = id;
        goto out_free;
    }
    /* From here on the index may name the id: on failure the id is burnt, never reused. */
    if (h->on_series != NULL && (rc = h->on_series(h->on_series_ctx, s, err)) != 0)
        goto out_burn;
    if ((rc = hmap_insert(&st->map, hash, s)) != 0) {
        rc = vigil_error_set(err, rc, "cannot create a series: out of memory");
        goto out_burn;
    }
    if (s->ref >= h->next_ref)
        h->next_ref = s->ref + 1;
    publish(h, id, s);
    atomic_fetch_add(&h->nlive, 1);
    goto out_unlock;

out_burn:
    publish(h, id, NULL);
out_free:
    release_labels(h, s, n);
    series_free(s);
    s = NULL;
out_unlock:
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_unlock(&h->create_mu);
    *out = s;
    return rc;
}

/* ---- appending ---------------------------------------------------------------------------- */

void head_delta_init(head_delta_t *d)
{
    memset(d, 0, sizeof(*d));
    d->mint = INT64_MAX;
    d->maxt = INT64_MIN;
}

void head_delta_flush(head_t *h, head_delta_t *d)
{
    if (d->samples)
        atomic_fetch_add_explicit(&h->samples, d->samples, memory_order_relaxed);
    if (d->chunks)
        atomic_fetch_add_explicit(&h->chunks, d->chunks, memory_order_relaxed);
    if (d->chunk_bytes)
        atomic_fetch_add_explicit(&h->chunk_bytes, d->chunk_bytes, memory_order_relaxed);
    for (int i = 0; i < TSDB_REJECT__COUNT; i++)
        if (d->rejected[i])
            atomic_fetch_add_explicit(&h->rejected[i], d->rejected[i], memory_order_relaxed);
    int64_t cur = atomic_load_explicit(&h->mint, memory_order_relaxed);
    while (d->mint < cur && !atomic_compare_exchange_weak(&h->mint, &cur, d->mint))
        ;
    cur = atomic_load_explicit(&h->maxt, memory_order_relaxed);
    while (d->maxt > cur && !atomic_compare_exchange_weak(&h->maxt, &cur, d->maxt))
        ;
    head_delta_init(d);
}

/* The first multiple of the block range above t (floor division, so negative t works). */
static int64_t range_end(int64_t t)
{
    int64_t q = t / HEAD_BLOCK_RANGE;
    if (t % HEAD_BLOCK_RANGE < 0)
        q--;
    if (q >= INT64_MAX / HEAD_BLOCK_RANGE)
        return INT64_MAX;
    return (q + 1) * HEAD_BLOCK_RANGE;
}

/* Moves the open chunk to the closed list and passes it to the chunk hook. Series lock held. */
static int close_open(head_t *h, head_series_t *s, bool replay)
{
    if (s->open.count == 0)
        return 0;
    if (s->nclosed == s->capclosed) {
        uint32_t      ncap = s->capclosed ? s->capclosed * 2 : 1;
        head_chunk_t *n = realloc(s->closed, ncap * sizeof(*n));
        if (n == NULL)
            return VIGIL_ENOMEM;
        s->closed = n;
        s->capclosed = ncap;
    }
    head_chunk_t *c = &s->closed[s->nclosed];
    c->count = s->open.count;
    c->mint = s->open_mint;
    c->maxt = s->last_t;
    size_t len;
    c->data = chunk_appender_detach(&s->open, &len);
    c->len = (uint32_t)len;
    s->nclosed++;
    if (h->on_chunk != NULL)
        h->on_chunk(h->on_chunk_ctx, s, c, s->nclosed > 1 ? c[-1].maxt : INT64_MIN, replay);
    return 0;
}

/* Looks for a stored sample at t in the chunks that could hold it. Series lock held. */
static bool find_in_chunks(const head_chunk_t *cs, size_t n, int64_t t, uint64_t *vbits)
{
    for (size_t i = 0; i < n; i++) {
        if (t < cs[i].mint || t > cs[i].maxt)
            continue;
        chunk_iter_t it;
        int64_t      ct;
        double       cv;
        if (chunk_iter_init(&it, cs[i].data, cs[i].len) != 0)
            continue;
        while (chunk_iter_next(&it, &ct, &cv) && ct <= t)
            if (ct == t) {
                *vbits = dbits(cv);
                return true;
            }
    }
    return false;
}

static bool find_stored(head_series_t *s, int64_t t, uint64_t *vbits);

uint64_t head_series_last_bits(head_series_t *s)
{
    uint64_t vbits;
    if (s->last_v_unknown && find_stored(s, s->last_t, &vbits)) {
        s->last_v = vbits;
        s->last_v_unknown = false;
    }
    return s->last_v;
}

static bool find_stored(head_series_t *s, int64_t t, uint64_t *vbits)
{
    if (find_in_chunks(s->closed, s->nclosed, t, vbits) ||
        (s->ooo != NULL && find_in_chunks(s->ooo->chunks, s->ooo->nchunks, t, vbits)))
        return true;
    if (s->open.count > 0 && t >= s->open_mint) {
        size_t       len;
        head_chunk_t c = {.mint = s->open_mint, .maxt = s->last_t};
        c.data = (uint8_t *)chunk_appender_bytes(&s->open, &len);
        c.len = (uint32_t)len;
        if (find_in_chunks(&c, 1, t, vbits))
            return true;
    }
    return false;
}

/* Inserts an out-of-order sample; full buffers become sorted chunks. Series lock held. */
static int ooo_insert(head_series_t *s, int64_t t, double v, head_delta_t *d)
{
    if (s->ooo == NULL && (s->ooo = calloc(1, sizeof(*s->ooo))) == NULL)
        return VIGIL_ENOMEM;
    head_ooo_t *o = s->ooo;
    size_t      lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (o->samples[mid].t < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (o->n == o->cap) {
        uint32_t       ncap = o->cap ? o->cap * 2 : 8;
        head_sample_t *n = realloc(o->samples, ncap * sizeof(*n));
        if (n == NULL)
            return VIGIL_ENOMEM;
        o->samples = n;
        o->cap = ncap;
    }
    memmove(&o->samples[lo + 1], &o->samples[lo], (o->n - lo) * sizeof(*o->samples));
    o->samples[lo] = (head_sample_t){t, v};
    o->n++;
    if (o->n < HEAD_CHUNK_SAMPLES)
        return 0;
    /* Seal the buffer into a chunk so out-of-order data is compressed like the rest. */
    if (o->nchunks == o->capchunks) {
        uint32_t      ncap = o->capchunks ? o->capchunks * 2 : 2;
        head_chunk_t *n = realloc(o->chunks, ncap * sizeof(*n));
        if (n == NULL)
            return 0; /* stays in the buffer; sealing is retried on the next insert */
        o->chunks = n;
        o->capchunks = ncap;
    }
    chunk_appender_t a;
    chunk_appender_init(&a);
    for (uint32_t i = 0; i < o->n; i++)
        if (chunk_append(&a, o->samples[i].t, o->samples[i].v) != 0) {
            chunk_appender_free(&a);
            return 0;
        }
    head_chunk_t *c = &o->chunks[o->nchunks++];
    size_t        len;
    c->mint = o->samples[0].t;
    c->maxt = o->samples[o->n - 1].t;
    c->count = o->n;
    c->data = chunk_appender_detach(&a, &len);
    c->len = (uint32_t)len;
    o->n = 0;
    d->chunks++;
    d->chunk_bytes += (int64_t)len;
    return 0;
}

/* `{a="b", ...}` of a series for error messages, cut to fit `size`; returns buf. */
static const char *series_desc(const head_series_t *s, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < s->nlabels && n + 1 < size; i++) {
        int w = snprintf(buf + n, size - n, "%s%s=\"%s\"", i ? ", " : "{", s->labels[i].name,
                         s->labels[i].value);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    if (n + 1 < size)
        snprintf(buf + n, size - n, "}");
    return buf;
}

/* head_append's work; the caller holds the series lock or owns the series outright. */
static int append_locked(head_t *h, head_series_t *s, int64_t t, double v, bool replay,
                         head_delta_t *d, head_stored_t *stored, tsdb_reject_reason_t *reason,
                         vigil_error_t *err)
{
    int  rc = 0;
    bool out_of_order = false;
    *stored = HEAD_STORED_NONE;
    /* Checked under the series lock, which the block writer's snapshot also takes: once the
     * compactor has raised min_valid, no sample below it can slip into a range being written. */
    if (t < atomic_load(&h->min_valid)) {
        if (!replay) { /* replayed: already in a block (crash between block and checkpoint) */
            char desc[256];
            *reason = TSDB_REJECT_TOO_OLD;
            rc = vigil_error_set(err, VIGIL_ERANGE,
                                 "series %s: sample at %lld is older than the head (%lld); that "
                                 "range is already written to a block",
                                 series_desc(s, desc, sizeof(desc)), (long long)t,
                                 (long long)atomic_load(&h->min_valid));
        }
        goto out_unlock;
    }
    if (s->has_last && t <= s->last_t) {
        uint64_t old;
        if (t == s->last_t || find_stored(s, t, &old)) {
            if (t == s->last_t)
                old = head_series_last_bits(s);
            if (old != dbits(v)) {
                char desc[256];
                *reason = TSDB_REJECT_DUPLICATE;
                rc = vigil_error_set(err, VIGIL_ERANGE,
                                     "series %s: sample at %lld has a different value than "
                                     "the one stored", series_desc(s, desc, sizeof(desc)),
                                     (long long)t);
            }
            goto out_unlock; /* an exact duplicate: accepted, nothing to store */
        }
        for (uint32_t i = 0; s->ooo != NULL && i < s->ooo->n; i++)
            if (s->ooo->samples[i].t == t) {
                if (dbits(s->ooo->samples[i].v) != dbits(v)) {
                    char desc[256];
                    *reason = TSDB_REJECT_DUPLICATE;
                    rc = vigil_error_set(err, VIGIL_ERANGE,
                                         "series %s: sample at %lld has a different value "
                                         "than the one stored", series_desc(s, desc, sizeof(desc)),
                                         (long long)t);
                }
                goto out_unlock;
            }
        /* Unsigned: t < last_t, and the difference may not fit an int64. */
        uint64_t age = (uint64_t)s->last_t - (uint64_t)t;
        bool     in_window = h->lim.ooo_window_ms > 0 && age <= (uint64_t)h->lim.ooo_window_ms;
        if (!replay && !in_window) {
            *reason = h->lim.ooo_window_ms > 0 ? TSDB_REJECT_TOO_OLD : TSDB_REJECT_OUT_OF_ORDER;
            char desc[256];
            rc = vigil_error_set(err, VIGIL_ERANGE,
                                 "series %s: sample at %lld is %llu ms older than the newest "
                                 "(%s)", series_desc(s, desc, sizeof(desc)), (long long)t,
                                 (unsigned long long)age,
                                 h->lim.ooo_window_ms > 0 ? "outside the out-of-order window"
                                                          : "out of order");
            goto out_unlock;
        }
        if ((rc = ooo_insert(s, t, v, d)) != 0) {
            rc = vigil_error_set(err, rc, "out of memory");
            goto out_unlock;
        }
        out_of_order = true;
    } else {
        if (s->open.count > 0 && t >= s->open_end && (rc = close_open(h, s, replay)) != 0) {
            rc = vigil_error_set(err, rc, "out of memory");
            goto out_unlock;
        }
        if (s->open.count == 0) {
            d->chunks++;
            s->open_mint = t;
            s->open_end = range_end(t);
        }
        size_t before, after;
        chunk_appender_bytes(&s->open, &before);
        if ((rc = chunk_append(&s->open, t, v)) != 0) {
            if (s->open.count == 0)
                d->chunks--;
            rc = vigil_error_set(err, rc, "out of memory");
            goto out_unlock;
        }
        s->last_t = t;
        s->last_v = dbits(v);
        s->has_last = true;
        s->last_v_unknown = false;
        chunk_appender_bytes(&s->open, &after);
        d->chunk_bytes += (int64_t)(after - before); /* counted as it grows: open chunks too */
        if (s->open.count >= HEAD_CHUNK_SAMPLES || after >= HEAD_CHUNK_BYTES)
            close_open(h, s, replay); /* on failure the chunk stays open a little longer */
    }
    if (t < s->mint)
        s->mint = t;
    if (t > s->maxt)
        s->maxt = t;
    if (t < d->mint)
        d->mint = t;
    if (t > d->maxt)
        d->maxt = t;
    d->samples++;
    *stored = out_of_order ? HEAD_STORED_OOO : HEAD_STORED_IN_ORDER;
out_unlock:
    return rc;
}

int head_append(head_t *h, head_series_t *s, int64_t t, double v, bool replay, head_delta_t *d,
                head_stored_t *stored, tsdb_reject_reason_t *reason, vigil_error_t *err)
{
    slock_lock(&s->mu);
    int rc = append_locked(h, s, t, v, replay, d, stored, reason, err);
    slock_unlock(&s->mu);
    return rc;
}

int head_append_owned(head_t *h, head_series_t *s, int64_t t, double v, head_delta_t *d,
                      head_stored_t *stored, tsdb_reject_reason_t *reason)
{
    return append_locked(h, s, t, v, true, d, stored, reason, NULL);
}

int head_adopt_chunk(head_series_t *s, const uint8_t *data, size_t len, int64_t mint,
                     int64_t maxt, uint32_t count, head_delta_t *d)
{
    uint32_t keep = s->nclosed;
    while (keep > 0 && s->closed[keep - 1].mint >= mint)
        keep--;
    if (keep > 0 && s->closed[keep - 1].maxt >= mint)
        return VIGIL_ERANGE;
    uint8_t *copy = malloc(len);
    if (copy == NULL)
        return VIGIL_ENOMEM;
    for (uint32_t i = keep; i < s->nclosed; i++) {
        d->samples -= s->closed[i].count;
        d->chunks--;
        d->chunk_bytes -= s->closed[i].len;
        free(s->closed[i].data);
    }
    s->nclosed = keep;
    if (s->nclosed == s->capclosed) {
        uint32_t      ncap = s->capclosed ? s->capclosed * 2 : 1;
        head_chunk_t *n = realloc(s->closed, ncap * sizeof(*n));
        if (n == NULL) {
            free(copy);
            return VIGIL_ENOMEM;
        }
        s->closed = n;
        s->capclosed = ncap;
    }
    memcpy(copy, data, len);
    s->closed[s->nclosed++] = (head_chunk_t){.mint = mint, .maxt = maxt, .data = copy,
                                             .len = (uint32_t)len, .count = count};
    s->mint = s->closed[0].mint;
    s->maxt = maxt;
    s->last_t = maxt;
    s->has_last = true;
    s->last_v_unknown = true;
    d->samples += count;
    d->chunks++;
    d->chunk_bytes += (int64_t)len;
    if (mint < d->mint)
        d->mint = mint;
    if (maxt > d->maxt)
        d->maxt = maxt;
    return 0;
}

/* ---- reading ------------------------------------------------------------------------------ */

bool head_series_overlaps(head_series_t *s, int64_t mint, int64_t maxt)
{
    slock_lock(&s->mu);
    bool r = s->mint <= maxt && s->maxt >= mint;
    slock_unlock(&s->mu);
    return r;
}

/* Bytes of the chunks in cs[0..n) overlapping [mint, maxt]. */
static size_t overlapping_bytes(const head_chunk_t *cs, size_t n, int64_t mint, int64_t maxt,
                                size_t *count)
{
    size_t b = 0;
    for (size_t i = 0; i < n; i++)
        if (cs[i].maxt >= mint && cs[i].mint <= maxt) {
            b += cs[i].len;
            (*count)++;
        }
    return b;
}

/* Appends copies of the overlapping chunks to out[*k], their bytes at *data. */
static void copy_overlapping(const head_chunk_t *cs, size_t n, int64_t mint, int64_t maxt,
                             head_chunk_t *out, size_t *k, uint8_t **data)
{
    for (size_t i = 0; i < n; i++)
        if (cs[i].maxt >= mint && cs[i].mint <= maxt) {
            out[*k] = cs[i];
            out[*k].data = *data;
            memcpy(*data, cs[i].data, cs[i].len);
            *data += cs[i].len;
            (*k)++;
        }
}

int head_snapshot(head_series_t *s, int64_t mint, int64_t maxt, head_snap_t *snap)
{
    memset(snap, 0, sizeof(*snap));
    int rc = 0;
    slock_lock(&s->mu);
    /* Everything is copied, chunk bytes included: head truncation frees closed chunks, and a
     * reader must not depend on the series lock after this returns. A copy is about one byte a
     * sample, cheap next to decoding. */
    static const head_ooo_t none; /* what a series without out-of-order data reads as */
    const head_ooo_t *o = s->ooo != NULL ? s->ooo : &none;
    size_t         nc = 0, noc = 0, open_len = 0;
    size_t         bytes = overlapping_bytes(s->closed, s->nclosed, mint, maxt, &nc) +
                   overlapping_bytes(o->chunks, o->nchunks, mint, maxt, &noc);
    const uint8_t *open = NULL;
    if (s->open.count > 0 && s->open_mint <= maxt && s->last_t >= mint) {
        open = chunk_appender_bytes(&s->open, &open_len);
        bytes += open_len;
    }
    snap->data = malloc(bytes ? bytes : 1);
    snap->chunks = malloc((nc + 1) * sizeof(head_chunk_t));
    snap->ooo_chunks = malloc((noc ? noc : 1) * sizeof(head_chunk_t));
    if (o->n > 0)
        snap->ooo = malloc(o->n * sizeof(head_sample_t));
    if (snap->data == NULL || snap->chunks == NULL || snap->ooo_chunks == NULL ||
        (o->n > 0 && snap->ooo == NULL)) {
        rc = VIGIL_ENOMEM;
    } else {
        uint8_t *d = snap->data;
        copy_overlapping(s->closed, s->nclosed, mint, maxt, snap->chunks, &snap->nchunks, &d);
        if (open != NULL) {
            memcpy(d, open, open_len);
            snap->chunks[snap->nchunks++] = (head_chunk_t){
                .mint = s->open_mint, .maxt = s->last_t, .data = d, .len = (uint32_t)open_len,
                .count = s->open.count};
            d += open_len;
        }
        copy_overlapping(o->chunks, o->nchunks, mint, maxt, snap->ooo_chunks,
                         &snap->nooo_chunks, &d);
        if (o->n > 0)
            memcpy(snap->ooo, o->samples, o->n * sizeof(head_sample_t));
        snap->nooo = o->n;
    }
    slock_unlock(&s->mu);
    if (rc != 0)
        head_snap_free(snap);
    return rc;
}

typedef struct seq_sample {
    int64_t t;
    double  v;
    size_t  seq; /* source order, so the first copy of a timestamp wins */
} seq_sample_t;

static int cmp_seq(const void *a, const void *b)
{
    const seq_sample_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

int head_collect_samples(const head_chunk_t *const *lists, const size_t *nlists, size_t k,
                         const head_sample_t *extra, size_t nextra, int64_t mint, int64_t maxt,
                         head_sample_t **out, size_t *nout)
{
    size_t total = nextra;
    for (size_t l = 0; l < k; l++)
        for (size_t i = 0; i < nlists[l]; i++)
            total += lists[l][i].count;
    seq_sample_t *v = malloc((total ? total : 1) * sizeof(*v));
    if (v == NULL)
        return VIGIL_ENOMEM;
    size_t n = 0;
    for (size_t l = 0; l < k; l++)
        for (size_t i = 0; i < nlists[l]; i++) {
            chunk_iter_t it;
            int64_t      t;
            double       x;
            if (chunk_iter_init(&it, lists[l][i].data, lists[l][i].len) != 0)
                continue;
            while (n < total && chunk_iter_next(&it, &t, &x))
                if (t >= mint && t <= maxt) {
                    v[n] = (seq_sample_t){t, x, n};
                    n++;
                }
        }
    for (size_t i = 0; i < nextra && n < total; i++)
        if (extra[i].t >= mint && extra[i].t <= maxt) {
            v[n] = (seq_sample_t){extra[i].t, extra[i].v, n};
            n++;
        }
    qsort(v, n, sizeof(*v), cmp_seq);
    head_sample_t *r = malloc((n ? n : 1) * sizeof(*r));
    if (r == NULL) {
        free(v);
        return VIGIL_ENOMEM;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || r[m - 1].t != v[i].t)
            r[m++] = (head_sample_t){v[i].t, v[i].v};
    free(v);
    *out = r;
    *nout = m;
    return 0;
}

void head_snap_free(head_snap_t *snap)
{
    free(snap->chunks);
    free(snap->data);
    free(snap->ooo_chunks);
    free(snap->ooo);
    memset(snap, 0, sizeof(*snap));
}

int head_labels_cmp(const tsdb_label_t *a, size_t na, const tsdb_label_t *b, size_t nb)
{
    for (size_t i = 0; i < na && i < nb; i++) {
        int c = strcmp(a[i].name, b[i].name);
        if (c == 0)
            c = strcmp(a[i].value, b[i].value);
        if (c != 0)
            return c;
    }
    return (na > nb) - (na < nb);
}

int64_t head_min_valid(head_t *h)
{
    return atomic_load(&h->min_valid);
}

void head_set_min_valid(head_t *h, int64_t t)
{
    int64_t cur = atomic_load(&h->min_valid);
    while (t > cur && !atomic_compare_exchange_weak(&h->min_valid, &cur, t))
        ;
}

/* Drops the chunks of cs[0..*n) that end before t, keeping order. Series lock held. */
static void drop_chunks(head_chunk_t *cs, uint32_t *n, int64_t t, head_delta_t *d)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < *n; i++) {
        if (cs[i].maxt < t) {
            d->samples -= cs[i].count;
            d->chunks--;
            d->chunk_bytes -= cs[i].len;
            free(cs[i].data);
        } else {
            cs[k++] = cs[i];
        }
    }
    *n = k;
}

void head_truncate(head_t *h, int64_t t)
{
    head_set_min_valid(h, t);
    head_delta_t d;
    head_delta_init(&d);
    int64_t oldest = INT64_MAX; /* oldest sample left */
    uint32_t n = head_series_count(h);
    for (uint32_t id = 0; id < n; id++) {
        head_series_t *s = head_series_by_id(h, id);
        if (s == NULL)
            continue;
        slock_lock(&s->mu);
        /* Chunks never span a block-range boundary and t is one, so whole chunks go. */
        drop_chunks(s->closed, &s->nclosed, t, &d);
        head_ooo_t *o = s->ooo;
        if (o != NULL)
            drop_chunks(o->chunks, &o->nchunks, t, &d);
        if (s->open.count > 0 && s->last_t < t) {
            size_t len;
            chunk_appender_bytes(&s->open, &len);
            d.samples -= s->open.count;
            d.chunks--;
            d.chunk_bytes -= (int64_t)len;
            chunk_appender_free(&s->open); /* last_t stays: order checks still apply */
        }
        if (o != NULL) {
            uint32_t k = 0;
            for (uint32_t i = 0; i < o->n; i++)
                if (o->samples[i].t >= t)
                    o->samples[k++] = o->samples[i];
            d.samples -= o->n - k;
            o->n = k;
        }
        s->mint = INT64_MAX;
        if (s->nclosed > 0)
            s->mint = s->closed[0].mint;
        else if (s->open.count > 0)
            s->mint = s->open_mint;
        for (uint32_t i = 0; o != NULL && i < o->nchunks; i++)
            if (o->chunks[i].mint < s->mint)
                s->mint = o->chunks[i].mint;
        if (o != NULL && o->n > 0 && o->samples[0].t < s->mint)
            s->mint = o->samples[0].t;
        if (s->mint == INT64_MAX)
            s->maxt = INT64_MIN; /* no data left in the head; has_last/last_t keep ordering */
        if (s->mint < oldest)
            oldest = s->mint;
        slock_unlock(&s->mu);
    }
    head_delta_flush(h, &d);
    /* The head's start moves to its oldest sample, so the compactor does not walk empty ranges
     * one by one after a stray old sample. An append racing with this scan can leave it a
     * little high; harmless, as blocks take everything older than their end (block_write). */
    if (oldest == INT64_MAX || oldest < t)
        oldest = t;
    int64_t cur = atomic_load(&h->mint);
    while (cur < oldest && !atomic_compare_exchange_weak(&h->mint, &cur, oldest))
        ;
}

/* True when nothing of s is left in the head. Series lock held. */
static bool series_empty(const head_series_t *s)
{
    return s->open.count == 0 && s->nclosed == 0 &&
           (s->ooo == NULL || (s->ooo->n == 0 && s->ooo->nchunks == 0));
}

int head_gc_unlink(head_t *h, head_gc_t *gc)
{
    gc->dead = NULL;
    gc->n = 0;
    /* Appenders pin the head for a whole batch; wait up to a second for a gap between batches
     * rather than block them (or deadlock a caller that compacts with a batch open). */
    int tries = 0;
    while (pthread_rwlock_trywrlock(&h->gc_lock) != 0) {
        if (++tries == 200)
            return VIGIL_EBUSY;
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    }
    pthread_mutex_lock(&h->create_mu);
    uint32_t  n = atomic_load(&h->nseries);
    uint64_t *bits = calloc(((size_t)n + 63) / 64 + 1, sizeof(uint64_t));
    size_t    cap = 0;
    int       rc = bits == NULL ? VIGIL_ENOMEM : 0;
    for (uint32_t id = 0; rc == 0 && id < n; id++) {
        head_series_t *s = atomic_load_explicit(slot(h, id), memory_order_relaxed);
        if (s == NULL)
            continue;
        /* No appender is pinned and no creation runs, so emptiness cannot change under us; the
         * lock is for readers' snapshots, which may still run. */
        slock_lock(&s->mu);
        bool empty = series_empty(s);
        slock_unlock(&s->mu);
        if (!empty)
            continue;
        if (gc->n == cap) {
            size_t          ncap = cap ? cap * 2 : 1024;
            head_series_t **nd = realloc(gc->dead, ncap * sizeof(*nd));
            if (nd == NULL) {
                rc = VIGIL_ENOMEM; /* what is unlinked so far stays unlinked */
                break;
            }
            gc->dead = nd;
            cap = ncap;
        }
        stripe_t *st = stripe_of(h, s->hash);
        pthread_mutex_lock(&st->mu);
        hmap_remove(&st->map, s->hash, s);
        pthread_mutex_unlock(&st->mu);
        atomic_store_explicit(slot(h, id), NULL, memory_order_release);
        bits[id >> 6] |= UINT64_C(1) << (id & 63);
        gc->dead[gc->n++] = s;
    }
    if (gc->n > 0) {
        index_remove(&h->index, bits, n);
        atomic_fetch_sub(&h->nlive, (uint32_t)gc->n);
        atomic_fetch_add(&h->removed, gc->n);
    }
    free(bits);
    pthread_mutex_unlock(&h->create_mu);
    pthread_rwlock_unlock(&h->gc_lock);
    return rc;
}

void head_gc_free(head_t *h, head_gc_t *gc)
{
    pthread_mutex_lock(&h->create_mu);
    if (h->capfree - h->nfree < gc->n) {
        size_t    ncap = h->nfree + gc->n;
        uint32_t *nf = ncap <= UINT32_MAX ? realloc(h->free_ids, ncap * sizeof(*nf)) : NULL;
        if (nf != NULL) { /* without it the ids are not reused: only table slots are lost */
            h->free_ids = nf;
            h->capfree = (uint32_t)ncap;
        }
    }
    for (size_t i = 0; i < gc->n; i++) {
        head_series_t *s = gc->dead[i];
        if (h->nfree < h->capfree)
            h->free_ids[h->nfree++] = s->id;
        release_labels(h, s, s->nlabels);
        series_free(s);
    }
    pthread_mutex_unlock(&h->create_mu);
    free(gc->dead);
    gc->dead = NULL;
    gc->n = 0;
}

void head_fill_stats(head_t *h, tsdb_stats_t *st)
{
    st->series = atomic_load(&h->nlive);
    st->head_series_removed = atomic_load(&h->removed);
    st->samples = (uint64_t)atomic_load(&h->samples);
    st->chunks = (uint64_t)atomic_load(&h->chunks);
    st->chunk_bytes = (uint64_t)atomic_load(&h->chunk_bytes);
    st->mint = atomic_load(&h->mint);
    st->maxt = atomic_load(&h->maxt);
    for (int i = 0; i < TSDB_REJECT__COUNT; i++)
        st->rejected[i] = atomic_load(&h->rejected[i]);
    size_t n, b;
    symtab_stats(&h->syms, &n, &b);
    st->symbols = n;
    st->symbol_bytes = b;
}
