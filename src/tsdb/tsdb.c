/*
 * tsdb.c - the store's API (tsdb.h): open (blocks, WAL replay), close, the compactor thread,
 * the appender and statistics. Reads are in query.c, compaction in compact.c; the pieces they
 * join: head.c (memory), wal.c + record.c + block.c (disk).
 *
 * Write path: tsdb_appender_add() validates the labels, finds or creates the series (a new
 * series logs its WAL series record from the head's creation hook, before anyone can append to
 * it), appends the sample to the head under the series lock and remembers (ref, t, v), in
 * order or out of order as the head took it. tsdb_appender_commit() encodes what it remembered
 * as a samples record and an out-of-order samples record, logs them and, for TSDB_SYNC, waits
 * for the group commit that covers them. Only accepted samples are logged, so replay never
 * resurrects a rejected one. Each chunk the head cuts is logged whole by the head's chunk hook
 * (log_chunk), under the series lock.
 *
 * Replay, in two passes (docs/format/wal.md, "Two passes"): blocks are mapped first (the head's
 * minimum valid time becomes the newest block's end, so replayed samples they already hold are
 * skipped). Pass 1 (wal_open, with its scanner thread checking files ahead) creates the series
 * of series records, mapping WAL refs to head series (a temporary array indexed by ref, refs
 * being dense, with a hash map for the rest; both dropped after open), and takes chunk records
 * whole; samples records are deferred. Pass 2 (wal_replay_deferred) reads only the samples
 * records and samples no chunk record covers and stages them for the replay workers (one per
 * CPU, up to 8), each owning the series of one shard and appending them in log order, bucketed
 * for the cache (see replay_worker_t), through head_append(replay = true) without the series
 * lock: it files samples that arrive out of order (two appenders to one series can log in
 * either order) in the out-of-order buffer instead of rejecting them, and ignores exact
 * duplicates; what it files out of order, and the chunks it cuts, are logged again so that a
 * later replay, which may skip their records, keeps them. Numbers: "Replay performance".
 *
 * Compaction: see compact.c.
 */
#include "tsdb/tsdb_int.h"

#include "tsdb/block.h"
#include "tsdb/head.h"
#include "tsdb/record.h"
#include "tsdb/wal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPLAY_BLOCK       4096
#define REPLAY_BUCKET_BITS 13 /* a worker's series per bucket: 2^13, their lines fit in L3 */
#define REPLAY_STAGE_BYTES (64u << 20) /* samples a worker stages before appending them, per
                                           buffer (two each): 2.8 M samples */
#define REPLAY_MAX_WORKERS 8

/* One sample on its way to the worker owning its series. */
typedef struct replay_item {
    head_series_t *s;
    int64_t        t;
    double         v;
} replay_item_t;

/* Samples of one bucket of a worker's series, in log order; the array is kept between
 * batches (no allocation once replay has warmed up). */
typedef struct replay_bucket {
    replay_item_t *e;
    size_t         n, cap;
} replay_bucket_t;

/* A batch: the samples staged for a worker, by bucket. */
typedef struct replay_stage {
    replay_bucket_t *b;
    size_t           nb;
    size_t           total;
} replay_stage_t;

/*
 * A replay worker appends the samples of the series whose own ref is ≡ its
 * index modulo the number of workers, without the series lock (head_append_owned): the
 * decoding thread (wal_open's) is the only producer and the worker the only consumer, so a
 * series is only ever touched by one thread. The producer stages samples in one of two
 * buffers while the worker appends the other. Within a buffer samples are filed by bucket
 * (ranges of 2^13 of the worker's series, in log order inside each), and the worker appends
 * bucket after bucket: a series' lines are fetched from memory once per batch instead of once
 * per sample (records hold one sample of every series, so in log order consecutive samples
 * are of different series and a large head misses the cache on each). Samples of one series
 * stay in log order: same worker, same bucket, batches in order.
 */
typedef struct replay_worker {
    tsdb_t         *db;
    pthread_t       th;
    bool            threaded;  /* false: the producer appends each batch itself */
    pthread_mutex_t mu;
    pthread_cond_t  cv;        /* a batch was handed over or finished, or the end came */
    replay_stage_t  stage[2];
    unsigned        fill;      /* the producer's buffer */
    bool            busy;      /* under mu: the worker owns stage[fill ^ 1] */
    bool            done;      /* under mu: no more batches */
    head_delta_t    delta;     /* the worker's own, flushed at the end */
    uint64_t        skipped;
    rec_sample_t   *ooo;       /* samples the worker filed out of order, logged again as such
                                  after replay (owned; nooo of capooo) */
    size_t          nooo, capooo;
    int             rc;        /* VIGIL_ENOMEM when an append ran out of memory */
} replay_worker_t;

/* Where a WAL ref's samples go: the series, the worker owning it and the bucket there, worked
 * out once at mapping from the series' own ref (which differs from the WAL ref only when two
 * refs name one label set), so that the decoding thread neither touches the series nor
 * divides per sample (two divisions were a quarter of its time). */
typedef struct replay_slot {
    head_series_t *s;
    uint32_t       worker;
    uint32_t       bucket;
    /* The chunk records of this ref replayed so far: [cover_mint, cover_maxt] is the span of
     * the newest run of them that follow each other (each one's prev_maxt the maxt of the one
     * before), so every in-order sample of the series in it is in one of them; INT64_MIN
     * when none. cover_prev: the newest one's prev_maxt. live_seqno: the seqno of the newest
     * one the head cut while serving appends, 0 when none. */
    int64_t        cover_mint, cover_maxt, cover_prev;
    uint64_t       live_seqno;
} replay_slot_t;

typedef struct replay_ref {
    uint64_t      ref;
    replay_slot_t slot;
} replay_ref_t;

typedef struct replay_block {
    struct replay_block *next;
    size_t               used;
    replay_ref_t         e[REPLAY_BLOCK];
} replay_block_t;

struct replay {
    hmap_t          refs;   /* of replay_ref_t*, by ref: the refs the dense array cannot hold */
    size_t          nmapped; /* refs mapped, in either */
    replay_block_t *blocks; /* storage of the entries */
    rec_sample_t   *samples;
    size_t          cap;
    /* Refs are handed out densely from 1, so most are found by indexing this array (a ref
     * below dense_cap whose slot is set); the others, and all of them after a wild ref in a
     * damaged WAL, by the hash map. The map alone cost a sixth of replay time. */
    replay_slot_t  *dense;
    size_t          dense_cap;
    uint64_t        skipped;       /* samples and series dropped */
    bool            warned_unknown;
    bool            warned_labels;
    int64_t          min_valid;    /* the head's at replay: older samples are in blocks */
    head_delta_t     delta;        /* chunks the decoding thread adopted */
    uint64_t         chunks;       /* chunk records adopted */
    uint64_t         covered;      /* replayed samples that adopted chunks already held */
    uint64_t         unread;       /* samples records pass 2 skipped whole */
    uint64_t         skip_could;   /* skip_before had nothing been lost: the next start,
                                      which no longer sees what was cut, skips up to there */
    rec_sample_t    *relog;        /* samples read below skip_could that no chunk holds:
                                      logged again as out of order (owned; nrelog of caprelog) */
    size_t           nrelog, caprelog;
    uint64_t         skip_before;  /* samples records of segments before this seqno are all
                                      in adopted chunks (0: none is known to be) */
    bool             no_skip;      /* a chunk record was not adopted: skip no whole record */
    bool             warned_overlap;
    bool             warned_malformed;
    replay_worker_t *workers;      /* owned array of nworkers (at least one) */
    unsigned         nworkers;
    size_t           stage_max;    /* samples per batch */
};



struct tsdb_appender {
    tsdb_t       *db;
    rec_sample_t *pending;  /* accepted in order since the last commit */
    size_t        n, cap;
    rec_sample_t *pending_ooo; /* accepted out of order (logged as their own record type:
                                  replay never takes them for samples a chunk record holds) */
    size_t        nooo, capooo;
    head_delta_t  delta;
    tsdb_label_t *scratch;  /* prepared labels */
    size_t        scratch_cap;
    buf_t         rec;      /* record payload being built */
    bool          pinned;   /* holds a head pin (head_pin) until the commit */
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

/* The slot of a ref seen in a series record, or NULL. */
static replay_slot_t *replay_lookup(replay_t *r, uint64_t ref)
{
    if (ref < r->dense_cap && r->dense[ref].s != NULL)
        return &r->dense[ref];
    replay_ref_t *e = hmap_find(&r->refs, ref_hash(ref), ref_eq, &ref);
    return e != NULL ? &e->slot : NULL;
}

/* Also files ref in the dense array when it is within a few times the series seen so far
 * (growing it); a ref far beyond stays in the map only, so a damaged record cannot make the
 * array huge. */
static bool replay_dense(replay_t *r, uint64_t ref, replay_slot_t slot)
{
    if (ref >= r->dense_cap && ref < 4 * (r->nmapped + 1024)) {
        size_t          ncap = r->dense_cap ? r->dense_cap * 2 : 4096;
        if (ncap <= ref)
            ncap = (size_t)ref + 1;
        replay_slot_t  *n = realloc(r->dense, ncap * sizeof(*n));
        if (n == NULL)
            return false; /* the map takes it */
        memset(n + r->dense_cap, 0, (ncap - r->dense_cap) * sizeof(*n));
        r->dense = n;
        r->dense_cap = ncap;
    }
    if (ref >= r->dense_cap)
        return false;
    r->dense[ref] = slot;
    return true;
}

/* Maps a WAL ref to its series: in the dense array when it fits there, else in the map (a
 * million map entries cost a tenth of replay's decoding thread). 0 or VIGIL_ENOMEM. */
static int replay_map(replay_t *r, uint64_t ref, head_series_t *s)
{
    replay_slot_t slot = {s, (uint32_t)(s->ref % r->nworkers),
                          (uint32_t)((s->ref / r->nworkers) >> REPLAY_BUCKET_BITS),
                          INT64_MIN, INT64_MIN, INT64_MIN, 0};
    r->nmapped++;
    if (replay_dense(r, ref, slot))
        return 0;
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
    e->slot = slot;
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
    if (replay_lookup(r, ref) != NULL)
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

/* Makes room for one more sample in *arr (*cap entries, n used). */
static bool samples_reserve(rec_sample_t **arr, size_t n, size_t *cap)
{
    if (n < *cap)
        return true;
    size_t        ncap = *cap ? *cap * 2 : 256;
    rec_sample_t *na = realloc(*arr, ncap * sizeof(*na));
    if (na == NULL)
        return false;
    *arr = na;
    *cap = ncap;
    return true;
}

/* ---- replay workers ---------------------------------------------------------------------- */

/* Appends items[0..n) (each series owned by w). The next series and its chunk's tail are
 * fetched ahead, for the buckets whose series are not in the cache yet. Samples filed out of
 * order are kept in w->ooo, to be logged again as out-of-order samples: the samples records
 * they came from may be skipped by a later replay, once chunk records cover their time. */
static int append_items(replay_worker_t *w, const replay_item_t *it, size_t n)
{
    head_t *h = w->db->head;
    enum { AHEAD = 8 };
    for (size_t i = 0; i < n; i++) {
        if (i + 2 * AHEAD < n) {
            /* Every line an append touches: from the time range to the closed-chunk list
             * (the lock and the const fields before them are not read). */
            const char *sp = (const char *)it[i + 2 * AHEAD].s;
            for (size_t off = offsetof(head_series_t, mint) & ~(size_t)63;
                 off < offsetof(head_series_t, ooo); off += 64)
                __builtin_prefetch(sp + off, 1);
        }
        if (i + AHEAD < n) {
            const chunk_appender_t *a = &it[i + AHEAD].s->open;
            if (a->buf != NULL)
                __builtin_prefetch(a->buf + CHUNK_HEADER_BYTES + a->nbits / 8, 1);
        }
        head_stored_t        stored;
        tsdb_reject_reason_t reason;
        int rc = head_append_owned(h, it[i].s, it[i].t, it[i].v, &w->delta, &stored, &reason);
        if (rc == VIGIL_ENOMEM)
            return rc;
        if (rc != 0)
            w->skipped++; /* a duplicate timestamp with another value: the first one wins */
        if (stored == HEAD_STORED_OOO) {
            if (!samples_reserve(&w->ooo, w->nooo, &w->capooo))
                return VIGIL_ENOMEM;
            w->ooo[w->nooo++] = (rec_sample_t){it[i].s->ref, it[i].t, it[i].v};
        }
    }
    return 0;
}

/* Appends a batch bucket by bucket and empties it (keeping its arrays). */
static void append_stage(replay_worker_t *w, replay_stage_t *st)
{
    for (size_t b = 0; b < st->nb; b++) {
        if (w->rc == 0) /* after a failure the rest is dropped: the open fails anyway */
            w->rc = append_items(w, st->b[b].e, st->b[b].n);
        st->b[b].n = 0;
    }
    st->total = 0;
}

static void *replay_worker_main(void *arg)
{
    replay_worker_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->done)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->busy)
            break;
        replay_stage_t *st = &w->stage[w->fill ^ 1]; /* fill only changes while !busy */
        pthread_mutex_unlock(&w->mu);
        append_stage(w, st);
        pthread_mutex_lock(&w->mu);
        w->busy = false;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Hands the producer's buffer to the worker (once it has finished the other) and goes on
 * filling the other; without a thread, appends it here. */
static void replay_worker_push(replay_worker_t *w)
{
    if (!w->threaded) {
        append_stage(w, &w->stage[w->fill]);
        return;
    }
    pthread_mutex_lock(&w->mu);
    while (w->busy)
        pthread_cond_wait(&w->cv, &w->mu);
    w->fill ^= 1;
    w->busy = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Sets up min(CPUs, REPLAY_MAX_WORKERS) workers, threads when there are two CPUs or more (one
 * CPU: a single worker run by the producer, which still gains from the buckets). 0 or
 * VIGIL_ENOMEM. */
static int replay_workers_start(tsdb_t *db, replay_t *r)
{
    /* The CPUs this process may run on (as nproc counts them), else the online ones. */
    cpu_set_t set;
    long      ncpu = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                                   : sysconf(_SC_NPROCESSORS_ONLN);
    unsigned want = ncpu > REPLAY_MAX_WORKERS ? REPLAY_MAX_WORKERS : ncpu < 1 ? 1 : (unsigned)ncpu;
    r->workers = calloc(want, sizeof(*r->workers));
    if (r->workers == NULL)
        return VIGIL_ENOMEM;
    r->nworkers = want;
    r->stage_max = REPLAY_STAGE_BYTES / sizeof(replay_item_t) / want;
    for (unsigned i = 0; i < want; i++) {
        replay_worker_t *w = &r->workers[i];
        w->db = db;
        head_delta_init(&w->delta);
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        /* Without a thread this worker's batches are appended by the producer. */
        w->threaded = want > 1 && pthread_create(&w->th, NULL, replay_worker_main, w) == 0;
    }
    return 0;
}

/* Logs samples as out-of-order samples records, which every replay applies in full: those
 * replay filed out of order (append_items) and those of a damaged log that no chunk record
 * holds (replay_deferred). 0, VIGIL_ENOMEM or VIGIL_EIO. */
static int log_replayed_ooo(tsdb_t *db, const rec_sample_t *s, size_t n)
{
    buf_t b;
    buf_init(&b, WAL_MAX_RECORD);
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += RECORD_MAX_SAMPLES) {
        size_t        k = n - off < RECORD_MAX_SAMPLES ? n - off : RECORD_MAX_SAMPLES;
        vigil_error_t err;
        buf_reset(&b);
        rc = record_encode_samples(&b, s + off, k);
        if (rc == 0 && (rc = wal_log(db->wal, RECORD_OOO_SAMPLES, b.data, b.len, NULL, &err)) != 0)
            log_error(db->lg, "tsdb", "WAL replay: cannot log replayed out-of-order samples",
                      LF_STR("error", err.message));
    }
    buf_free(&b);
    return rc;
}

/* Appends what is left, stops the workers, adds up their counters into the head and r, and
 * frees them. 0, or VIGIL_ENOMEM when a worker ran out of memory. */
static int replay_workers_finish(tsdb_t *db, replay_t *r)
{
    int rc = 0;
    for (unsigned i = 0; i < r->nworkers; i++) {
        replay_worker_t *w = &r->workers[i];
        if (w->stage[w->fill].total > 0)
            replay_worker_push(w);
        if (w->threaded) {
            pthread_mutex_lock(&w->mu);
            w->done = true;
            pthread_cond_signal(&w->cv);
            pthread_mutex_unlock(&w->mu);
        }
    }
    for (unsigned i = 0; i < r->nworkers; i++) {
        replay_worker_t *w = &r->workers[i];
        if (w->threaded)
            pthread_join(w->th, NULL);
        head_delta_flush(db->head, &w->delta);
        r->skipped += w->skipped;
        if (w->rc != 0)
            rc = w->rc;
        if (rc == 0 && w->nooo > 0 && db->wal != NULL)
            rc = log_replayed_ooo(db, w->ooo, w->nooo);
        free(w->ooo);
        for (int k = 0; k < 2; k++) {
            for (size_t b = 0; b < w->stage[k].nb; b++)
                free(w->stage[k].b[b].e);
            free(w->stage[k].b);
        }
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    free(r->workers);
    r->workers = NULL;
    r->nworkers = 0;
    return rc;
}

/* Stages one replayed sample for the worker owning its series. 0 or VIGIL_ENOMEM. */
static int replay_put(replay_t *r, const replay_slot_t *slot, int64_t t, double v)
{
    if (t < r->min_valid)
        return 0; /* a block holds it (a crash came between the block and the checkpoint) */
    replay_worker_t *w = &r->workers[slot->worker];
    replay_stage_t  *st = &w->stage[w->fill];
    size_t           b = slot->bucket;
    if (b >= st->nb) {
        size_t           nb = b + 1;
        replay_bucket_t *n = realloc(st->b, nb * sizeof(*n));
        if (n == NULL)
            return VIGIL_ENOMEM;
        memset(n + st->nb, 0, (nb - st->nb) * sizeof(*n));
        st->b = n;
        st->nb = nb;
    }
    replay_bucket_t *bk = &st->b[b];
    if (bk->n == bk->cap) {
        size_t         ncap = bk->cap ? bk->cap * 2 : 256;
        replay_item_t *n = realloc(bk->e, ncap * sizeof(*n));
        if (n == NULL)
            return VIGIL_ENOMEM;
        bk->e = n;
        bk->cap = ncap;
    }
    bk->e[bk->n++] = (replay_item_t){slot->s, t, v};
    if (++st->total >= r->stage_max)
        replay_worker_push(w);
    return 0;
}

/* A chunk record (pass 1): the chunk joins its series whole, without being decoded, and its
 * span is added to the ref's cover (replay_slot_t) when it follows the chunks before it. */
static int replay_chunk(tsdb_t *db, const wal_record_t *rec)
{
    replay_t   *r = db->replay;
    rec_chunk_t c;
    if (record_decode_chunk(rec->payload, rec->len, &c) != 0)
        return VIGIL_EPARSE;
    replay_slot_t *slot = replay_lookup(r, c.ref);
    if (slot == NULL) {
        r->skipped += c.count;
        return 0;
    }
    if (c.maxt < r->min_valid)
        return 0; /* a block holds it */
    int rc = head_adopt_chunk(slot->s, c.data, c.len, c.mint, c.maxt, c.count, &r->delta);
    if (rc == VIGIL_ENOMEM)
        return rc;
    if (rc != 0) {
        /* Not adopted: its samples come from the samples records, which must all be read. */
        if (!r->warned_overlap)
            log_warn(db->lg, "tsdb", "WAL replay: a chunk record overlaps the chunks before "
                     "it; its samples are replayed from the samples records",
                     LF_UINT("ref", c.ref));
        r->warned_overlap = true;
        r->no_skip = true;
        return 0;
    }
    r->chunks++;
    bool follows;
    if (slot->cover_maxt == INT64_MIN)
        follows = false;
    else if (c.mint <= slot->cover_maxt) /* a later copy of the newest chunk replaced it */
        follows = c.prev_maxt == slot->cover_prev;
    else
        follows = c.prev_maxt == slot->cover_maxt;
    if (!follows)
        slot->cover_mint = c.mint;
    slot->cover_maxt = c.maxt;
    slot->cover_prev = c.prev_maxt;
    if (c.flags & RECORD_CHUNK_CUT_LIVE)
        slot->live_seqno = rec->seqno;
    return 0;
}

/* Accepts every series: the first pass of a series record only checks that it parses. */
static int check_series(void *ctx, uint64_t ref, const tsdb_label_t *ls, size_t n)
{
    (void)ctx;
    (void)ls;
    (void)n;
    return ref == 0 ? VIGIL_EPARSE : 0;
}

/* True when a version 1 chunk record (uvarint ref, chunk) decodes to its end. */
static bool chunk_v1_parses(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t       ref;
    chunk_iter_t   it;
    int64_t        t;
    if (!record_get_uvarint(&p, end, &ref) || chunk_iter_init(&it, p, (size_t)(end - p)) != 0)
        return false;
    while (chunk_iter_next_time(&it, &t))
        ;
    return !chunk_iter_failed(&it);
}

/* Pass 1 (wal_open): series and chunk records; samples are deferred to pass 2, which needs
 * every chunk record seen first. */
static int replay_record(void *ctx, const wal_record_t *rec)
{
    tsdb_t *db = ctx;
    if (rec->type == RECORD_SERIES) {
        /* Parse the whole record before creating any of its series, so that a malformed one
         * (cut at replay) leaves none of them behind. Series records are rare (one per new
         * series), so reading them twice costs nothing that matters. */
        int rc = record_decode_series(rec->payload, rec->len, check_series, NULL);
        return rc != 0 ? rc : record_decode_series(rec->payload, rec->len, replay_series, db);
    }
    if (rec->type == RECORD_CHUNK)
        return replay_chunk(db, rec);
    if (rec->type == RECORD_CHUNK_V1 && !chunk_v1_parses(rec->payload, rec->len))
        return VIGIL_EPARSE; /* cut now: pass 2 can no longer cut a segment */
    return WAL_DEFER;
}

/* Pass 2 skips a segment's samples records older than skip_before without reading them. */
static bool replay_wanted(void *ctx, const wal_record_t *rec)
{
    replay_t *r = ((tsdb_t *)ctx)->replay;
    if (rec->type != RECORD_SAMPLES || rec->checkpoint || rec->seqno >= r->skip_before)
        return true;
    r->unread++;
    return false;
}

/* A version 1 checkpoint chunk record: uvarint ref, then the chunk's bytes, whose samples are
 * staged like a samples record's (decoded whole first). */
static int replay_chunk_v1(replay_t *r, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t       ref;
    chunk_iter_t   it;
    if (!record_get_uvarint(&p, end, &ref) || chunk_iter_init(&it, p, (size_t)(end - p)) != 0)
        return VIGIL_EPARSE;
    uint32_t count = chunk_count(p, (size_t)(end - p));
    if (count > r->cap) {
        rec_sample_t *ns = realloc(r->samples, count * sizeof(*ns));
        if (ns == NULL)
            return VIGIL_ENOMEM;
        r->samples = ns;
        r->cap = count;
    }
    size_t n = 0;
    while (n < count && chunk_iter_next(&it, &r->samples[n].t, &r->samples[n].v))
        r->samples[n++].ref = ref;
    if (chunk_iter_failed(&it))
        return VIGIL_EPARSE;
    const replay_slot_t *slot = replay_lookup(r, ref);
    if (slot == NULL) {
        r->skipped += n;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = replay_put(r, slot, r->samples[i].t, r->samples[i].v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Pass 2 (wal_replay_deferred): samples records, in log order. A sample of a segment's
 * in-order samples record that an adopted chunk holds (within its ref's cover) is dropped;
 * out-of-order samples and checkpoints' records are always applied. A record is decoded whole
 * before any of its samples is staged; a malformed one (its CRC matched: it was written so) is
 * skipped, logged and counted, as the segments can no longer be cut at this point. */
static int replay_deferred(void *ctx, const wal_record_t *rec)
{
    tsdb_t   *db = ctx;
    replay_t *r = db->replay;
    size_t    n = 0;
    int       rc = rec->type == RECORD_CHUNK_V1
                       ? replay_chunk_v1(r, rec->payload, rec->len)
                       : record_decode_samples(rec->payload, rec->len, &r->samples, &r->cap, &n);
    if (rc == VIGIL_EPARSE) {
        if (!r->warned_malformed)
            log_warn(db->lg, "tsdb", "WAL replay: a record with a good checksum does not parse; "
                     "skipped", LF_UINT("type", rec->type), LF_UINT("seqno", rec->seqno));
        r->warned_malformed = true;
        r->skipped++;
        return 0;
    }
    if (rc != 0 || rec->type == RECORD_CHUNK_V1)
        return rc;
    bool check_cover = rec->type == RECORD_SAMPLES && !rec->checkpoint;
    /* A record the next start will not read (it sees no corruption then: this start cuts it)
     * whose samples are not all in chunk records: those samples are logged again, or the next
     * start would lose what this one keeps. Only a damaged log has such records. */
    bool relog = check_cover && rec->seqno < r->skip_could;
    for (size_t i = 0; i < n; i++) {
        const rec_sample_t  *sm = &r->samples[i];
        const replay_slot_t *slot = replay_lookup(r, sm->ref);
        if (slot == NULL) {
            if (!r->warned_unknown)
                log_warn(db->lg, "tsdb", "WAL replay: samples of an unknown series skipped "
                         "(its series record was lost or rejected)", LF_UINT("ref", sm->ref));
            r->warned_unknown = true;
            r->skipped++;
        } else if (check_cover && sm->t >= slot->cover_mint && sm->t <= slot->cover_maxt) {
            r->covered++;
        } else if ((rc = replay_put(r, slot, sm->t, sm->v)) != 0) {
            return rc;
        } else if (relog && sm->t >= r->min_valid) {
            if (!samples_reserve(&r->relog, r->nrelog, &r->caprelog))
                return VIGIL_ENOMEM;
            r->relog[r->nrelog++] = (rec_sample_t){slot->s->ref, sm->t, sm->v};
        }
    }
    return 0;
}

/* Sets r->skip_before once pass 1 has seen every chunk record: the oldest of the refs' last
 * live-cut chunk records. A samples record logged before it holds samples of refs that each
 * had a chunk cut live after that record was logged; a sample is appended before it is
 * logged, and a series' chunks are cut (and logged) in order, so each of those samples is in
 * a chunk logged by then, or re-logged as out of order (append_items). Nothing is skipped
 * when records were cut with good ones after them (a torn tail cannot hold a chunk record
 * that comes before a surviving one), or a chunk record could not be adopted: what the
 * argument relies on may be what was lost. */
static void replay_find_skip(replay_t *r, const wal_replay_stats_t *rs)
{
    bool cut_inside = rs->first_cut != UINT64_MAX && rs->first_cut < rs->records;
    uint64_t low = UINT64_MAX;
    for (size_t i = 0; i < r->dense_cap; i++)
        if (r->dense[i].s != NULL && r->dense[i].live_seqno < low)
            low = r->dense[i].live_seqno;
    for (replay_block_t *b = r->blocks; b != NULL; b = b->next)
        for (size_t i = 0; i < b->used; i++)
            if (b->e[i].slot.live_seqno < low)
                low = b->e[i].slot.live_seqno;
    r->skip_could = low == UINT64_MAX ? 0 : low;
    r->skip_before = r->no_skip || cut_inside ? 0 : r->skip_could;
}

static void replay_free(replay_t *r)
{
    free(r->relog);
    free(r->dense);
    for (replay_block_t *b = r->blocks, *n; b != NULL; b = n) {
        n = b->next;
        free(b);
    }
    hmap_free(&r->refs);
    free(r->samples);
}

/* ---- open / close ------------------------------------------------------------------------- */

/* Logs a chunk the head cut as a WAL chunk record (the head's chunk hook). A failure is
 * logged; replay then finds the gap in the chunks' prev_maxt chain and takes those samples
 * from the samples records. */
static void log_chunk(void *ctx, const head_series_t *s, const head_chunk_t *c, int64_t prev_maxt,
                      bool replay)
{
    tsdb_t       *db = ctx;
    rec_chunk_t   rc = {.ref = s->ref, .flags = replay ? 0 : RECORD_CHUNK_CUT_LIVE,
                        .maxt = c->maxt, .prev_maxt = prev_maxt, .data = c->data, .len = c->len};
    buf_t         b;
    vigil_error_t err;
    buf_init(&b, WAL_MAX_RECORD);
    int e = record_encode_chunk(&b, &rc);
    if (e != 0)
        vigil_error_set(&err, e, "chunk record: %s", vigil_strerror(e));
    else
        e = wal_log(db->wal, RECORD_CHUNK, b.data, b.len, NULL, &err);
    buf_free(&b);
    if (e != 0 && !atomic_exchange(&db->chunk_log_failed, true))
        log_warn(db->lg, "tsdb", "WAL: cannot log a cut chunk; a restart re-encodes its samples "
                 "(warned once)", LF_STR("error", err.message));
}

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

/* ---- blocks ------------------------------------------------------------------------------- */

static int cmp_block(const void *a, const void *b)
{
    int64_t x = block_mint(*(block_t *const *)a), y = block_mint(*(block_t *const *)b);
    return (x > y) - (x < y);
}

int tsdb_blocks_add(tsdb_t *db, block_t *b)
{
    if (db->nblocks == db->capblocks) {
        size_t    ncap = db->capblocks ? db->capblocks * 2 : 8;
        block_t **n = realloc(db->blocks, ncap * sizeof(*n));
        if (n == NULL)
            return VIGIL_ENOMEM;
        db->blocks = n;
        db->capblocks = ncap;
    }
    db->blocks[db->nblocks++] = b;
    qsort(db->blocks, db->nblocks, sizeof(*db->blocks), cmp_block);
    return 0;
}

/* Maps every block in dir/blocks: interrupted writes (.tmp) are deleted, blocks failing their
 * checks are renamed *.corrupt and logged (never deleted: they may hold the only copy). */
static int load_blocks(tsdb_t *db, vigil_error_t *err)
{
    DIR *d = opendir(db->blocks_dir);
    if (d == NULL)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", db->blocks_dir, strerror(errno));
    int            rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        size_t      l = strlen(n);
        char        path[4096];
        snprintf(path, sizeof(path), "%s/%s", db->blocks_dir, n);
        if (l > 9 && strcmp(n + l - 9, ".vblk.tmp") == 0) {
            unlink(path);
            continue;
        }
        if (l <= 5 || strcmp(n + l - 5, ".vblk") != 0)
            continue;
        block_t      *b;
        vigil_error_t berr;
        int           brc = block_open(&b, path, &berr);
        if (brc == VIGIL_EPARSE) {
            char aside[4200];
            snprintf(aside, sizeof(aside), "%s.corrupt", path);
            log_error(db->lg, "tsdb", "block fails its checks; moved aside",
                      LF_STR("block", path), LF_STR("error", berr.message),
                      LF_STR("moved_to", aside));
            rename(path, aside);
            continue;
        }
        if (brc != 0) {
            rc = vigil_error_set(err, brc, "%s", berr.message);
            break;
        }
        if ((rc = tsdb_blocks_add(db, b)) != 0) {
            block_unref(b);
            rc = vigil_error_set(err, rc, "blocks: out of memory");
        }
    }
    closedir(d);
    return rc;
}

static void *compactor_main(void *arg)
{
    tsdb_t *db = arg;
    pthread_mutex_lock(&db->stop_mu);
    while (!db->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += db->compact_interval_ms / 1000;
        ts.tv_nsec += (long)(db->compact_interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&db->stop_cv, &db->stop_mu, &ts);
        if (db->stop)
            break;
        pthread_mutex_unlock(&db->stop_mu);
        vigil_error_t err;
        if (tsdb_compact(db, &err) != 0)
            log_error(db->lg, "tsdb", "compaction failed; will retry",
                      LF_STR("error", err.message));
        pthread_mutex_lock(&db->stop_mu);
    }
    pthread_mutex_unlock(&db->stop_mu);
    return NULL;
}

/* ---- open / close ------------------------------------------------------------------------- */

int tsdb_open(tsdb_t **out, const tsdb_options_t *opts, log_t *lg, vigil_error_t *err)
{
    if (opts->ooo_window_ms < 0 || opts->retention_ms < 0)
        return vigil_error_set(err, VIGIL_EINVAL, "tsdb: negative out-of-order window or retention");
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
    db->retention_ms = opts->retention_ms ? opts->retention_ms : INT64_C(15) * 86400 * 1000;
    db->compact_interval_ms = opts->compact_interval_ms ? opts->compact_interval_ms : 60000;
    db->retention_bytes = opts->retention_bytes;
    pthread_mutex_init(&db->blocks_mu, NULL);
    pthread_mutex_init(&db->epoch_mu, NULL);
    pthread_cond_init(&db->epoch_cv, NULL);
    pthread_mutex_init(&db->compact_mu, NULL);
    pthread_mutex_init(&db->stop_mu, NULL);
    pthread_cond_init(&db->stop_cv, NULL);
    int rc = head_create(&db->head, &lim, err);
    if (rc != 0)
        goto out_free;
    if (opts->dir == NULL || opts->dir[0] == '\0') {
        *out = db;
        return 0;
    }
    char waldir[4096], blkdir[4096];
    if (snprintf(waldir, sizeof(waldir), "%s/wal", opts->dir) >= (int)sizeof(waldir) ||
        snprintf(blkdir, sizeof(blkdir), "%s/blocks", opts->dir) >= (int)sizeof(blkdir)) {
        rc = vigil_error_set(err, VIGIL_EINVAL, "path too long: %s", opts->dir);
        goto out_head;
    }
    if ((db->dir = strdup(opts->dir)) == NULL || (db->blocks_dir = strdup(blkdir)) == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "tsdb: out of memory");
        goto out_head;
    }
    if ((rc = mkdirs(blkdir, err)) != 0 || (rc = load_blocks(db, err)) != 0)
        goto out_head;
    if (db->nblocks > 0) /* replayed samples the blocks hold are skipped */
        head_set_min_valid(db->head, block_maxt(db->blocks[db->nblocks - 1]));

    replay_t r;
    memset(&r, 0, sizeof(r));
    hmap_init(&r.refs);
    r.min_valid = head_min_valid(db->head);
    db->replay = &r;
    if ((rc = replay_workers_start(db, &r)) != 0) {
        rc = vigil_error_set(err, rc, "WAL replay: out of memory");
        goto out_head;
    }
    wal_options_t wo = {.dir = waldir, .segment_bytes = opts->wal_segment_bytes,
                        .flush_interval_ms = opts->wal_flush_interval_ms};
    head_delta_init(&r.delta);
    rc = wal_open(&db->wal, &wo, lg, replay_record, db, &db->rs, err);
    head_delta_flush(db->head, &r.delta);
    if (rc == 0) {
        replay_find_skip(&r, &db->rs);
        /* From here chunks the head cuts are logged, those replay cuts too (the WAL is open). */
        head_set_on_chunk(db->head, log_chunk, db);
        rc = wal_replay_deferred(db->wal, replay_wanted, replay_deferred, db, err);
    }
    int wrc = replay_workers_finish(db, &r);
    if (rc == 0 && wrc == 0 && r.nrelog > 0)
        wrc = log_replayed_ooo(db, r.relog, r.nrelog);
    if (rc == 0 && wrc != 0) {
        wal_close(db->wal);
        db->wal = NULL;
        rc = vigil_error_set(err, wrc, "WAL replay: %s", vigil_strerror(wrc));
    }
    db->replay_skipped = r.skipped;
    db->replay_chunks = r.chunks;
    db->replay_covered = r.covered;
    db->replay_unread = r.unread;
    if (rc == 0 && wrc == 0 && r.chunks > 0)
        log_info(lg, "tsdb", "WAL replay took chunks whole", LF_UINT("chunks", r.chunks),
                 LF_UINT("samples_records_unread", r.unread),
                 LF_UINT("samples_not_re_encoded", r.covered));
    db->replay = NULL;
    replay_free(&r);
    if (rc != 0)
        goto out_head;
    head_set_on_series(db->head, log_series, db);
    if (db->compact_interval_ms != UINT32_MAX) {
        if (pthread_create(&db->compactor, NULL, compactor_main, db) != 0) {
            rc = vigil_error_set(err, VIGIL_ESYS, "tsdb: cannot start the compactor thread");
            goto out_wal;
        }
        db->compactor_started = true;
    }
    *out = db;
    return 0;

out_wal:
    wal_close(db->wal);
out_head:
    for (size_t i = 0; i < db->nblocks; i++)
        block_unref(db->blocks[i]);
    free(db->blocks);
    head_free(db->head);
out_free:
    free(db->blocks_dir);
    free(db->dir);
    free(db);
    return rc;
}

void tsdb_close(tsdb_t *db)
{
    if (db == NULL)
        return;
    if (db->compactor_started) {
        pthread_mutex_lock(&db->stop_mu);
        db->stop = true;
        pthread_cond_signal(&db->stop_cv);
        pthread_mutex_unlock(&db->stop_mu);
        pthread_join(db->compactor, NULL);
    }
    wal_close(db->wal);
    for (size_t i = 0; i < db->nblocks; i++)
        block_unref(db->blocks[i]);
    free(db->blocks);
    head_free(db->head);
    pthread_mutex_destroy(&db->blocks_mu);
    pthread_mutex_destroy(&db->epoch_mu);
    pthread_cond_destroy(&db->epoch_cv);
    pthread_mutex_destroy(&db->compact_mu);
    pthread_mutex_destroy(&db->stop_mu);
    pthread_cond_destroy(&db->stop_cv);
    free(db->blocks_dir);
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

/* Pins the head for the batch: the series this appender finds cannot be garbage collected
 * before its commit, so none of its samples lands in an unlinked series. */
static void appender_pin(tsdb_appender_t *a)
{
    if (!a->pinned) {
        head_pin(a->db->head);
        a->pinned = true;
    }
}

static void appender_unpin(tsdb_appender_t *a)
{
    if (a->pinned) {
        head_unpin(a->db->head);
        a->pinned = false;
    }
}

void tsdb_appender_free(tsdb_appender_t *a)
{
    if (a == NULL)
        return;
    appender_unpin(a);
    head_delta_flush(a->db->head, &a->delta);
    free(a->pending);
    free(a->pending_ooo);
    free(a->scratch);
    buf_free(&a->rec);
    free(a);
}

/* Appends a sample to a series and remembers it for the WAL. */
static int add_to_series(tsdb_appender_t *a, head_series_t *s, int64_t t, double v,
                         vigil_error_t *err)
{
    if (a->db->wal != NULL && (!samples_reserve(&a->pending, a->n, &a->cap) ||
                               !samples_reserve(&a->pending_ooo, a->nooo, &a->capooo)))
        return vigil_error_set(err, VIGIL_ENOMEM, "appender: out of memory");
    head_stored_t        stored;
    tsdb_reject_reason_t reason;
    int rc = head_append(a->db->head, s, t, v, false, &a->delta, &stored, &reason, err);
    if (rc == VIGIL_ERANGE)
        a->delta.rejected[reason]++;
    if (rc != 0 || a->db->wal == NULL)
        return rc;
    if (stored == HEAD_STORED_IN_ORDER)
        a->pending[a->n++] = (rec_sample_t){s->ref, t, v};
    else if (stored == HEAD_STORED_OOO)
        a->pending_ooo[a->nooo++] = (rec_sample_t){s->ref, t, v};
    return 0;
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
    appender_pin(a);
    if (rc == 0)
        rc = head_get_or_create(a->db->head, a->scratch, k, hash, 0, &s, &reason, err);
    if (rc == VIGIL_ELIMIT || rc == VIGIL_EINVAL) {
        a->delta.rejected[reason]++;
        return rc;
    }
    if (rc != 0)
        return rc;
    if (ref != NULL)
        *ref = head_series_handle(s);
    return add_to_series(a, s, t_ms, v, err);
}

int tsdb_appender_add_ref(tsdb_appender_t *a, tsdb_ref_t ref, int64_t t_ms, double v,
                          vigil_error_t *err)
{
    appender_pin(a);
    head_series_t *s = head_series_by_handle(a->db->head, ref);
    if (s == NULL)
        return vigil_error_set(err, VIGIL_ENOENT, "no series with ref %llu",
                               (unsigned long long)ref);
    return add_to_series(a, s, t_ms, v, err);
}

/* Logs samples s[0..n) as records of `type`, at most RECORD_MAX_SAMPLES each; *lsn is the
 * position after the last. */
static int log_samples(tsdb_appender_t *a, uint8_t type, const rec_sample_t *s, size_t n,
                       uint64_t *lsn, vigil_error_t *err)
{
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += RECORD_MAX_SAMPLES) {
        size_t k = n - off < RECORD_MAX_SAMPLES ? n - off : RECORD_MAX_SAMPLES;
        buf_reset(&a->rec);
        rc = record_encode_samples(&a->rec, s + off, k);
        if (rc != 0)
            rc = vigil_error_set(err, rc, "samples record: %s", vigil_strerror(rc));
        else
            rc = wal_log(a->db->wal, type, a->rec.data, a->rec.len, lsn, err);
    }
    return rc;
}

int tsdb_appender_commit(tsdb_appender_t *a, tsdb_durability_t d, vigil_error_t *err)
{
    uint64_t lsn = 0;
    int      rc = log_samples(a, RECORD_SAMPLES, a->pending, a->n, &lsn, err);
    if (rc == 0)
        rc = log_samples(a, RECORD_OOO_SAMPLES, a->pending_ooo, a->nooo, &lsn, err);
    if (rc == 0 && d == TSDB_SYNC && lsn != 0)
        rc = wal_sync(a->db->wal, lsn, err);
    a->n = 0;
    a->nooo = 0;
    head_delta_flush(a->db->head, &a->delta);
    appender_unpin(a);
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

/* ---- statistics --------------------------------------------------------------------------- */

void tsdb_stats(tsdb_t *db, tsdb_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    head_fill_stats(db->head, out);
    if (db->wal != NULL)
        wal_stats(db->wal, &out->wal_bytes, &out->wal_syncs, &out->wal_segments,
                  &out->wal_checkpoints);
    pthread_mutex_lock(&db->blocks_mu);
    out->blocks = db->nblocks;
    for (size_t i = 0; i < db->nblocks; i++) {
        out->block_bytes += block_bytes(db->blocks[i]);
        out->block_series += block_nseries(db->blocks[i]);
        if (block_mint(db->blocks[i]) < out->mint)
            out->mint = block_mint(db->blocks[i]);
    }
    out->compactions = db->compactions;
    out->blocks_deleted = db->blocks_deleted;
    out->block_merges = db->merges;
    pthread_mutex_unlock(&db->blocks_mu);
    out->head_min_valid = head_min_valid(db->head);
    out->wal_replayed_records = db->rs.records;
    out->wal_corruptions = db->rs.corruptions;
    out->wal_replay_skipped = db->replay_skipped;
    out->wal_replay_chunks = db->replay_chunks;
    out->wal_replay_covered = db->replay_covered;
    out->wal_replay_unread = db->replay_unread;
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
