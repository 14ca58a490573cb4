/*
 * compact.c - moving completed head ranges to blocks, then truncating the head and the WAL,
 * and deleting blocks past retention (tsdb_compact; the compactor thread in tsdb.c calls it).
 *
 * Order of one pass, for the oldest complete range R = [start, end):
 *   1. raise the head's minimum valid time to `end` (appends below it are refused from now on;
 *      the check runs under the series lock that the block writer's snapshots take);
 *   2. write everything older than `end` to a block (.tmp, fsync, rename, dir fsync);
 *   3. publish the block to queries;
 *   4. bump the reader epoch and wait until sets of the old epoch are freed;
 *   5. drop everything older than `end` from the head;
 * and after the last range, 6. garbage-collect the series left with nothing in the head
 * (unlink them, wait for the reader epoch that could have seen them, free them), 7. checkpoint
 * the WAL (which deletes the segments it replaces), so the checkpoint no longer names them.
 * A crash before 2 completes leaves a .tmp (deleted at start) and the full WAL; between 2 and
 * 6, the block and the full WAL (replay skips samples older than the newest block's end).
 */
#include "tsdb/tsdb_int.h"

#include "tsdb/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- compaction, checkpoint, retention ---------------------------------------------------- */

/* Floor of t to a multiple of the block range. */
static int64_t range_start(int64_t t)
{
    int64_t q = t / HEAD_BLOCK_RANGE;
    if (t % HEAD_BLOCK_RANGE < 0)
        q--;
    return q * HEAD_BLOCK_RANGE;
}

/* Adds the out-of-order samples of a snapshot (sealed chunks and buffer) to a checkpoint. */
static int checkpoint_ooo(wal_cp_t *cp, uint64_t ref, const head_snap_t *snap, buf_t *b,
                          vigil_error_t *err)
{
    size_t n = snap->nooo;
    for (size_t k = 0; k < snap->nooo_chunks; k++)
        n += snap->ooo_chunks[k].count;
    rec_sample_t *rs = malloc(n * sizeof(*rs));
    if (rs == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "checkpoint: out of memory");
    size_t k = 0;
    for (size_t c = 0; c < snap->nooo_chunks; c++) {
        chunk_iter_t it;
        if (chunk_iter_init(&it, snap->ooo_chunks[c].data, snap->ooo_chunks[c].len) != 0)
            continue;
        while (k < n && chunk_iter_next(&it, &rs[k].t, &rs[k].v))
            rs[k++].ref = ref;
    }
    for (size_t i = 0; i < snap->nooo && k < n; i++)
        rs[k++] = (rec_sample_t){ref, snap->ooo[i].t, snap->ooo[i].v};
    int rc = 0;
    for (size_t off = 0; off < k && rc == 0; off += RECORD_MAX_SAMPLES) {
        size_t m = k - off < RECORD_MAX_SAMPLES ? k - off : RECORD_MAX_SAMPLES;
        buf_reset(b);
        if ((rc = record_encode_samples(b, rs + off, m)) != 0)
            rc = vigil_error_set(err, rc, "checkpoint: %s", vigil_strerror(rc));
        else
            rc = wal_checkpoint_add(cp, RECORD_OOO_SAMPLES, b->data, b->len, err);
    }
    free(rs);
    return rc;
}

/* Writes the head's live series and samples to a checkpoint that replaces the WAL so far. */
static int checkpoint(tsdb_t *db, vigil_error_t *err)
{
    wal_cp_t *cp;
    int       rc = wal_checkpoint_begin(db->wal, &cp, err);
    if (rc != 0)
        return rc;
    buf_t b;
    buf_init(&b, WAL_MAX_RECORD);
    uint32_t n = head_series_count(db->head);
    for (uint32_t id = 0; rc == 0 && id < n; id++) {
        head_series_t *s = head_series_by_id(db->head, id);
        if (s == NULL)
            continue;
        /* Every series, empty ones too: later segments may name its ref. */
        buf_reset(&b);
        rc = record_encode_series(&b, s->ref, s->labels, s->nlabels);
        rc = rc ? vigil_error_set(err, rc, "checkpoint: %s", vigil_strerror(rc))
                : wal_checkpoint_add(cp, RECORD_SERIES, b.data, b.len, err);
        head_snap_t snap;
        if (rc == 0 && (rc = head_snapshot(s, INT64_MIN, INT64_MAX, &snap)) != 0)
            rc = vigil_error_set(err, rc, "checkpoint: out of memory");
        if (rc != 0)
            break;
        /* In-order chunks (the open one last) as chunk records, chained by prev_maxt. */
        for (size_t k = 0; k < snap.nchunks && rc == 0; k++) {
            rec_chunk_t c = {.ref = s->ref, .maxt = snap.chunks[k].maxt,
                             .prev_maxt = k ? snap.chunks[k - 1].maxt : INT64_MIN,
                             .data = snap.chunks[k].data, .len = snap.chunks[k].len};
            buf_reset(&b);
            rc = record_encode_chunk(&b, &c);
            rc = rc ? vigil_error_set(err, rc, "checkpoint: %s", vigil_strerror(rc))
                    : wal_checkpoint_add(cp, RECORD_CHUNK, b.data, b.len, err);
        }
        /* Out-of-order data as out-of-order samples: replay files them as such again. */
        if (rc == 0 && (snap.nooo > 0 || snap.nooo_chunks > 0))
            rc = checkpoint_ooo(cp, s->ref, &snap, &b, err);
        head_snap_free(&snap);
    }
    buf_free(&b);
    if (rc != 0) {
        wal_checkpoint_abort(cp);
        return rc;
    }
    return wal_checkpoint_commit(db->wal, cp, err);
}

/* Bumps the reader epoch and waits until every series set of the previous one is freed: sets
 * created from now on see the store as it is now. */
static void wait_for_readers(tsdb_t *db)
{
    pthread_mutex_lock(&db->epoch_mu);
    uint64_t old = db->epoch++;
    while (db->live[old & 1] > 0)
        pthread_cond_wait(&db->epoch_cv, &db->epoch_mu);
    pthread_mutex_unlock(&db->epoch_mu);
}

/* Series garbage collection (head.h): nothing here fails the compaction, a series kept now is
 * collected after a later truncation. */
static void collect_series(tsdb_t *db)
{
    head_gc_t gc;
    int       rc = head_gc_unlink(db->head, &gc);
    if (rc != 0)
        log_warn(db->lg, "tsdb", "series garbage collection incomplete; the next truncation "
                 "retries", LF_STR("reason", vigil_strerror(rc)));
    if (gc.n == 0)
        return;
    size_t n = gc.n;
    wait_for_readers(db); /* sets that found a series before it was unlinked may still read it */
    head_gc_free(db->head, &gc);
    log_info(db->lg, "tsdb", "series garbage collected from the head", LF_UINT("series", n));
}

/* Finds the oldest window of `range` (aligned) holding two or more blocks that lie inside it,
 * complete (the head has moved past its end). Takes a reference on each; 0 when none. */
static size_t find_group(tsdb_t *db, int64_t range, block_t ***out)
{
    int64_t limit = head_min_valid(db->head);
    size_t  found = 0;
    pthread_mutex_lock(&db->blocks_mu);
    for (size_t i = 0; i < db->nblocks && found == 0;) {
        /* The window [w, w + range) holding this block's start, aligned to `range`. */
        int64_t m = block_mint(db->blocks[i]);
        int64_t w = m - ((m % range) + range) % range;
        size_t j = i;
        while (j < db->nblocks && block_mint(db->blocks[j]) >= w &&
               block_maxt(db->blocks[j]) <= w + range)
            j++;
        if (j - i >= 2 && w + range <= limit) {
            *out = malloc((j - i) * sizeof(block_t *));
            if (*out != NULL) {
                for (size_t k = i; k < j; k++) {
                    block_ref(db->blocks[k]);
                    (*out)[k - i] = db->blocks[k];
                }
                found = j - i;
            }
        }
        i = j > i ? j : i + 1;
    }
    pthread_mutex_unlock(&db->blocks_mu);
    return found;
}

/*
 * Merges blocks into longer ranges: 3 × the block range, then 3 × that, up to a tenth of the
 * retention (Prometheus's rule), so a long retention is a few dozen files, not hundreds. The
 * new block is published and its sources retired in one step under the blocks lock; queries
 * holding a source keep it mapped until they finish, and a crash between writing the new block
 * and deleting the sources leaves overlapping blocks, which reads merge and the next pass
 * merges again.
 */
static int merge_blocks(tsdb_t *db, vigil_error_t *err)
{
    int rc = 0;
    for (int64_t range = 3 * HEAD_BLOCK_RANGE;
         rc == 0 && range <= db->retention_ms / 10 && range <= INT64_MAX / 3; range *= 3) {
        block_t **group;
        size_t    n;
        while (rc == 0 && (n = find_group(db, range, &group)) > 0) {
            char     path[4300];
            uint64_t nseries;
            block_t *nb = NULL;
            rc = block_merge(db->blocks_dir, group, n, path, sizeof(path), &nseries, err);
            if (rc == 0 && nseries > 0)
                rc = block_open(&nb, path, err);
            if (rc == 0) {
                pthread_mutex_lock(&db->blocks_mu);
                if (nb != NULL && (rc = tsdb_blocks_add(db, nb)) != 0) {
                    block_unref(nb);
                    rc = vigil_error_set(err, rc, "compaction: out of memory");
                }
                size_t k = 0;
                for (size_t i = 0; rc == 0 && i < db->nblocks; i++) {
                    bool retire = false;
                    for (size_t g = 0; g < n; g++)
                        retire |= db->blocks[i] == group[g];
                    if (retire) {
                        block_delete_on_last_unref(db->blocks[i]);
                        block_unref(db->blocks[i]);
                    } else {
                        db->blocks[k++] = db->blocks[i];
                    }
                }
                if (rc == 0) {
                    db->nblocks = k;
                    db->merges++;
                }
                pthread_mutex_unlock(&db->blocks_mu);
                if (rc == 0)
                    log_info(db->lg, "tsdb", "blocks merged", LF_STR("block", path),
                             LF_UINT("sources", n), LF_UINT("series", nseries));
            }
            for (size_t g = 0; g < n; g++)
                block_unref(group[g]);
            free(group);
        }
    }
    return rc;
}

/* Deletes blocks that ended more than the retention before `newest`, then, with a size limit,
 * the oldest blocks while all blocks together are over it. */
static void apply_retention(tsdb_t *db, int64_t newest)
{
    int64_t cutoff = INT64_MIN;
    if (newest != INT64_MIN && newest >= INT64_MIN + db->retention_ms)
        cutoff = newest - db->retention_ms;
    pthread_mutex_lock(&db->blocks_mu);
    uint64_t bytes = 0;
    for (size_t i = 0; i < db->nblocks; i++)
        bytes += block_bytes(db->blocks[i]);
    size_t k = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        block_t *b = db->blocks[i];
        bool     by_time = block_maxt(b) <= cutoff;
        bool     by_size = db->retention_bytes > 0 && bytes > db->retention_bytes;
        if (by_time || by_size) { /* blocks are ascending in time: the oldest go first */
            log_info(db->lg, "tsdb", "block deleted by retention", LF_STR("block", block_path(b)),
                     LF_STR("reason", by_time ? "time" : "size"));
            bytes -= block_bytes(b);
            block_delete_on_last_unref(b); /* queries still reading it keep the mapping */
            block_unref(b);
            db->blocks_deleted++;
        } else {
            db->blocks[k++] = b;
        }
    }
    db->nblocks = k;
    pthread_mutex_unlock(&db->blocks_mu);
}

int tsdb_compact(tsdb_t *db, vigil_error_t *err)
{
    if (db->dir == NULL)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&db->compact_mu);
    bool wrote = false;
    for (;;) {
        tsdb_stats_t st;
        head_fill_stats(db->head, &st);
        if (st.mint == INT64_MAX || st.maxt == INT64_MIN)
            break;
        int64_t start = range_start(st.mint < head_min_valid(db->head) ? head_min_valid(db->head)
                                                                      : st.mint);
        if (start > INT64_MAX - 2 * HEAD_BLOCK_RANGE ||
            st.maxt < start + HEAD_BLOCK_RANGE + HEAD_BLOCK_RANGE / 2)
            break;
        int64_t end = start + HEAD_BLOCK_RANGE;
        /* No append may add to [start, end) from here on: see the comment at the top. */
        head_set_min_valid(db->head, end);
        uint64_t nseries;
        char     path[4300];
        if ((rc = block_write(db->blocks_dir, db->head, start, end, path, sizeof(path), &nseries,
                              err)) != 0)
            break;
        if (nseries > 0) {
            block_t *b;
            if ((rc = block_open(&b, path, err)) != 0)
                break;
            pthread_mutex_lock(&db->blocks_mu);
            rc = tsdb_blocks_add(db, b);
            if (rc == 0)
                db->compactions++;
            pthread_mutex_unlock(&db->blocks_mu);
            if (rc != 0) {
                block_unref(b);
                rc = vigil_error_set(err, rc, "compaction: out of memory");
                break;
            }
            log_info(db->lg, "tsdb", "head range written to a block", LF_STR("block", path),
                     LF_UINT("series", nseries));
        }
        /* Sets created before the block was listed may still need the head's copy. */
        wait_for_readers(db);
        head_truncate(db->head, end);
        wrote = true;
    }
    if (rc == 0 && wrote) {
        collect_series(db);
        rc = checkpoint(db, err);
    }
    if (rc == 0)
        rc = merge_blocks(db, err);
    if (rc == 0) {
        tsdb_stats_t st;
        head_fill_stats(db->head, &st);
        int64_t newest = st.maxt;
        pthread_mutex_lock(&db->blocks_mu);
        if (db->nblocks > 0 && block_maxt(db->blocks[db->nblocks - 1]) - 1 > newest)
            newest = block_maxt(db->blocks[db->nblocks - 1]) - 1;
        pthread_mutex_unlock(&db->blocks_mu);
        apply_retention(db, newest);
    }
    pthread_mutex_unlock(&db->compact_mu);
    return rc;
}

