/*
 * head.h - the in-memory part of the store: series keyed by label set, each with its open
 * chunk, closed chunks and out-of-order samples; symbol table and postings index; limits.
 * Locking is described at the top of head.c.
 */
#ifndef VIGIL_TSDB_HEAD_H
#define VIGIL_TSDB_HEAD_H

#include "tsdb/chunk.h"
#include "tsdb/index.h"
#include "tsdb/slock.h"
#include "tsdb/symbols.h"
#include "tsdb/tsdb.h"

#include <pthread.h>
#include <stdatomic.h>

/* A head chunk is cut at 120 samples (as Prometheus cuts its head chunks) or 1 KiB, and logged
 * to the WAL as it is cut, so a restart re-encodes at most one chunk's samples a series; blocks
 * gather head chunks into chunks of up to BLOCK_CHUNK_SAMPLES (block.h), which compress
 * better. */
#define HEAD_CHUNK_SAMPLES 120
#define HEAD_CHUNK_BYTES   1024
#define HEAD_BLOCK_RANGE   (INT64_C(2) * 3600 * 1000) /* chunks never span a multiple of this */
#define HEAD_STRIPES       64                        /* series-map stripes (a power of two) */
#define HEAD_PAGE_BITS     12                        /* series table pages of 4096 slots */

typedef struct head_sample {
    int64_t t;
    double  v;
} head_sample_t;

/* A closed chunk: immutable bytes, freed by head_truncate() or head_free(). */
typedef struct head_chunk {
    int64_t  mint, maxt;
    uint8_t *data; /* owned by the head */
    uint32_t len;
    uint32_t count;
} head_chunk_t;

/* A series' out-of-order state, allocated with its first out-of-order sample (most series
 * never have one: keeping it out of head_series_t saves 24 bytes a series). */
typedef struct head_ooo {
    head_sample_t *samples;       /* owned: not yet in a chunk, sorted */
    uint32_t       n, cap;
    head_chunk_t  *chunks;        /* owned: full buffers, each sorted */
    uint32_t       nchunks, capchunks;
} head_ooo_t;

typedef struct head_series {
    slock_t          mu;          /* guards everything below except the const-after-create */
    uint32_t         id;          /* slot in the series table and postings id (const) */
    uint64_t         hash;        /* of the label set (const) */
    uint64_t         ref;         /* persistent WAL ref (const) */
    uint32_t         nlabels;     /* (const) */
    int64_t          mint, maxt;  /* of all stored samples; INT64_MAX/INT64_MIN when none */
    int64_t          last_t;      /* newest in-order sample */
    uint64_t         last_v;      /* its value bits */
    bool             has_last;
    bool             last_v_unknown; /* last_t came from a chunk replayed whole, whose last
                                        value is decoded when first needed */
    chunk_appender_t open;        /* the chunk being appended to */
    int64_t          open_mint;   /* first timestamp in it */
    int64_t          open_end;    /* the block-range boundary it must not cross */
    head_chunk_t    *closed;      /* owned array, ascending in time */
    uint32_t         nclosed, capclosed;
    head_ooo_t      *ooo;         /* owned; NULL until the first out-of-order sample */
    tsdb_label_t     labels[];    /* interned strings, sorted by name (const) */
} head_series_t;

typedef struct head_limits {
    size_t  max_series;
    size_t  max_labels;
    size_t  max_label_name_len;
    size_t  max_label_value_len;
    int64_t ooo_window_ms;
} head_limits_t;

/* Called under the creation lock for each new series before any other thread can see it
 * (the store logs the WAL series record there, so it precedes every sample record). A
 * non-zero return refuses the series with that code. */
typedef int (*head_on_series_fn)(void *ctx, const head_series_t *s, vigil_error_t *err);

/* Called for each in-order chunk the head cuts, under the series lock (or by the thread
 * owning the series at replay), right after it joined the closed chunks: prev_maxt is the
 * maxt of the closed chunk before it, INT64_MIN when none; `replay` tells a cut made while
 * replaying the WAL. The store logs it as a WAL chunk record. */
typedef void (*head_on_chunk_fn)(void *ctx, const head_series_t *s, const head_chunk_t *c,
                                 int64_t prev_maxt, bool replay);

/* What head_append did with a sample it accepted. */
typedef enum head_stored {
    HEAD_STORED_NONE,     /* nothing: an exact duplicate, or a replayed sample a block holds */
    HEAD_STORED_IN_ORDER, /* appended to the open chunk */
    HEAD_STORED_OOO,      /* filed with the out-of-order samples */
} head_stored_t;

/* Counters an appender accumulates without touching shared cache lines, and adds to the head
 * in one go with head_delta_flush(). */
typedef struct head_delta {
    int64_t samples;
    int64_t chunks;
    int64_t chunk_bytes;  /* growth of encoded chunk bytes, open chunks included */
    int64_t mint, maxt;
    uint64_t rejected[TSDB_REJECT__COUNT];
} head_delta_t;

typedef struct head head_t;

/* Creates an empty head; *out is freed with head_free(). 0, VIGIL_ENOMEM or VIGIL_ESYS. */
int head_create(head_t **out, const head_limits_t *lim, vigil_error_t *err);
void head_free(head_t *h);

/* Installs the new-series hook (NULL: none). Not thread-safe: call before appends start. */
void head_set_on_series(head_t *h, head_on_series_fn fn, void *ctx);

/* Installs the chunk-cut hook (NULL: none). Not thread-safe: call before appends start. */
void head_set_on_chunk(head_t *h, head_on_chunk_fn fn, void *ctx);

/*
 * Validates and normalises a caller's label set into `scratch` (room for n entries; the
 * strings stay borrowed from `in`): drops empty values, sorts by name, checks limits. Sets
 * *nout and *hash. On a rejection counts nothing (the caller does, via *reason) and returns
 * VIGIL_ELIMIT / VIGIL_EINVAL with detail.
 */
int head_labels_prepare(const head_t *h, const tsdb_label_t *in, size_t n, tsdb_label_t *scratch,
                        size_t *nout, uint64_t *hash, tsdb_reject_reason_t *reason,
                        vigil_error_t *err);

/*
 * The series with the prepared labels `ls` (n of them, hash from head_labels_prepare),
 * created when absent with WAL ref `ref` (0: the head assigns the next one). Borrowed: valid
 * while the head is pinned (head_pin) or, single-threaded, until the next garbage collection.
 * VIGIL_ELIMIT (max series; *reason set), VIGIL_ENOMEM, or the
 * hook's error.
 */
int head_get_or_create(head_t *h, const tsdb_label_t *ls, size_t n, uint64_t hash, uint64_t ref,
                       head_series_t **out, tsdb_reject_reason_t *reason, vigil_error_t *err);

/*
 * Appends one sample. In order: to the open chunk. Out of order (t older than the newest
 * sample): into the out-of-order buffer when within the window or when `replay` (the WAL
 * holds only samples that were accepted once). VIGIL_ERANGE with *reason for out of order /
 * too old / duplicate, VIGIL_ENOMEM. *stored says where the sample went (nowhere for an
 * accepted exact duplicate). Counters go to *d.
 */
int head_append(head_t *h, head_series_t *s, int64_t t, double v, bool replay, head_delta_t *d,
                head_stored_t *stored, tsdb_reject_reason_t *reason, vigil_error_t *err);

/* head_append(replay = true) without the series lock, for WAL replay: the caller guarantees
 * that no other thread touches s meanwhile (replay runs before the store is handed out, and
 * each replay worker owns the series of its shard). Saves a lock round trip on every replayed
 * sample, a third of replay's time. */
int head_append_owned(head_t *h, head_series_t *s, int64_t t, double v, head_delta_t *d,
                      head_stored_t *stored, tsdb_reject_reason_t *reason);

/*
 * WAL replay: makes a logged chunk (count samples over [mint, maxt], bytes copied from data)
 * the series' newest closed chunk, without decoding it. Closed chunks starting at or after
 * mint are dropped first: they are earlier copies of the same chunk (a checkpoint copies the
 * then open chunk, which went on filling). The series must be owned by the caller and hold
 * nothing but closed chunks. VIGIL_ERANGE when the chunk overlaps an older one otherwise
 * (nothing changes), VIGIL_ENOMEM.
 */
int head_adopt_chunk(head_series_t *s, const uint8_t *data, size_t len, int64_t mint,
                     int64_t maxt, uint32_t count, head_delta_t *d);

/* The value bits of the series' newest in-order sample (last_t); the caller holds the series
 * lock or owns the series. Decodes the chunk holding it once after a replay that took the
 * chunk whole. */
uint64_t head_series_last_bits(head_series_t *s);

/* Adds a delta to the head's counters and resets it. */
void head_delta_init(head_delta_t *d);
void head_delta_flush(head_t *h, head_delta_t *d);

/* Series by table id; NULL when absent. Lock-free. The pointer stays valid while the caller
 * pins the head (appenders) or is in a reader epoch that began before the series could be
 * garbage collected (series sets); see head_gc_unlink(). */
head_series_t *head_series_by_id(head_t *h, uint32_t id);

/* The tsdb_ref_t of a series: its id + 1 in the low 32 bits and the low 32 bits of its WAL
 * ref above, so a handle kept past the series' garbage collection does not find the series
 * that reuses its id. head_series_by_handle() is NULL for such a handle, 0, or a free id. */
uint64_t head_series_handle(const head_series_t *s);
head_series_t *head_series_by_handle(head_t *h, uint64_t handle);

/* Appenders pin the head from their first sample to their commit: series found while pinned
 * are not garbage collected until head_unpin(). Pins nest and are cheap (a shared read lock
 * per batch); unpin from the thread that pinned. */
void head_pin(head_t *h);
void head_unpin(head_t *h);

/* Series unlinked by head_gc_unlink(), waiting for readers before head_gc_free(). */
typedef struct head_gc {
    head_series_t **dead; /* owned array */
    size_t          n;
} head_gc_t;

/*
 * Garbage collection, step 1 (call after head_truncate): every series with nothing left in
 * the head (all its chunks are in blocks) leaves the series map, the table and the postings,
 * and no longer counts as a head series; a new sample for its label set creates a new series
 * with a new WAL ref. Waits (up to a second) for a moment when no appender is pinned;
 * VIGIL_EBUSY when there was none (nothing unlinked: the next truncation tries again),
 * VIGIL_ENOMEM when memory ran out part-way (what was unlinked is in *gc all the same).
 * Readers that found a series before this may still use it: wait for them, then step 2.
 */
int head_gc_unlink(head_t *h, head_gc_t *gc);

/* Step 2: frees the series of *gc, gives back their label strings (strings no other series
 * uses leave the symbol table) and makes their ids reusable. *gc is empty afterwards. */
void head_gc_free(head_t *h, head_gc_t *gc);
uint32_t head_series_count(head_t *h);

/* The symbol table and index, for the querier. */
symtab_t *head_symbols(head_t *h);
index_t *head_index(head_t *h);

/* Orders label sets (sorted by name) as selections and blocks list series. */
int head_labels_cmp(const tsdb_label_t *a, size_t na, const tsdb_label_t *b, size_t nb);

/* Samples older than the head's minimum valid time are in blocks: live appends of them are
 * rejected (too old), replayed ones skipped. It only moves forward. */
int64_t head_min_valid(head_t *h);
void head_set_min_valid(head_t *h, int64_t t);

/* Frees every chunk and sample older than t (a block-range boundary already written to a
 * block) and raises the minimum valid time to t. Series stay, empty ones too, until
 * head_gc_unlink(). Readers are safe: snapshots copy what they read. */
void head_truncate(head_t *h, int64_t t);

/* Overall counters for tsdb_stats(). */
void head_fill_stats(head_t *h, tsdb_stats_t *st);

/* A reader's private copy of one series' chunks overlapping [mint, maxt]. */
typedef struct head_snap {
    head_chunk_t  *chunks;      /* owned array: in-order chunks, ascending, open chunk last */
    size_t         nchunks;
    head_chunk_t  *ooo_chunks;  /* owned array: sealed out-of-order chunks */
    size_t         nooo_chunks;
    head_sample_t *ooo;         /* owned copy of the out-of-order buffer */
    size_t         nooo;
    uint8_t       *data;        /* owned: the bytes every chunk above points into */
} head_snap_t;

/*
 * Every sample of the chunk lists lists[0..k) (nlists[i] chunks each) and of extra[0..nextra)
 * within [mint, maxt], sorted by timestamp, the first copy of a timestamp kept (earlier lists
 * win). For series with out-of-order data or several sources. *out is the caller's (free()).
 * 0 or VIGIL_ENOMEM.
 */
int head_collect_samples(const head_chunk_t *const *lists, const size_t *nlists, size_t k,
                         const head_sample_t *extra, size_t nextra, int64_t mint, int64_t maxt,
                         head_sample_t **out, size_t *nout);

/* Takes a snapshot under the series lock; release with head_snap_free(). 0 or VIGIL_ENOMEM. */
int head_snapshot(head_series_t *s, int64_t mint, int64_t maxt, head_snap_t *snap);
void head_snap_free(head_snap_t *snap);

/* True when the series has a sample in [mint, maxt] (by its time range, under its lock). */
bool head_series_overlaps(head_series_t *s, int64_t mint, int64_t maxt);

#endif /* VIGIL_TSDB_HEAD_H */
