/*
 * wal.h - the write-ahead log: segment files, checksummed records, group commit, replay
 * (format: docs/format/wal.md). Record payloads are opaque here (record.h builds them).
 * Thread-safe: any number of threads may log and sync at once.
 */
#ifndef VIGIL_TSDB_WAL_H
#define VIGIL_TSDB_WAL_H

#include "log/log.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_HEADER_BYTES  16
#define WAL_RECORD_HEADER 9
#define WAL_MAX_RECORD    (16u << 20) /* payload bytes */
#define WAL_MAX_TYPE      5           /* record types 1..5 (record.h) */

typedef struct wal wal_t;

typedef struct wal_options {
    const char *dir;               /* the WAL directory itself (created when missing) */
    size_t      segment_bytes;     /* rotate before a record would pass this; 0: 128 MiB */
    uint32_t    flush_interval_ms; /* the flusher syncs at least this often; 0: 1000 */
    size_t      max_buffered;      /* bytes waiting for the disk before logging fails with
                                      VIGIL_EIO; 0: 256 MiB */
} wal_options_t;

/* One good record as replay hands it over. */
typedef struct wal_record {
    uint8_t        type;
    const uint8_t *payload;    /* borrowed: valid during the call only */
    size_t         len;
    uint64_t       seqno;      /* its place in log order: 0 for the first record replayed */
    bool           checkpoint; /* read from the checkpoint rather than a segment */
} wal_record_t;

/* Called for each good record at replay. Return 0; WAL_DEFER to have the record handed over
 * again by wal_replay_deferred() (the caller needs to see the whole log first); VIGIL_EPARSE
 * to have the record treated as corrupt (the segment is cut there); anything else aborts
 * wal_open with that code. */
typedef int (*wal_replay_fn)(void *ctx, const wal_record_t *rec);
#define WAL_DEFER 1

typedef struct wal_replay_stats {
    uint64_t segments;    /* segment files read */
    uint64_t records;     /* good records replayed */
    uint64_t corruptions; /* bad records / segment headers found (each logged and cut) */
    uint64_t first_cut;   /* seqno the first record after the first cut would have had;
                             UINT64_MAX: nothing was cut. Equal to `records` when every cut
                             was at the end of the log (a torn tail) */
    uint32_t checkpoint;  /* number of the checkpoint replayed first, 0 if none */
} wal_replay_stats_t;

/*
 * Replays every segment in opts->dir through fn (in order), cutting torn or corrupt tails as
 * docs/format/wal.md describes, then opens a new segment and starts the flusher thread. On
 * success *out is the caller's, released with wal_close(). VIGIL_EIO with the path on I/O
 * errors, or fn's code.
 */
int wal_open(wal_t **out, const wal_options_t *opts, log_t *lg, wal_replay_fn fn, void *ctx,
             wal_replay_stats_t *rs, vigil_error_t *err);

/*
 * The second pass: hands each record deferred at open to fn, in log order, reading each
 * segment again (mapped, so records `want` turns down cost nothing). `want` sees only the
 * record's type, seqno and origin (payload NULL) and may be NULL (all wanted). Call it once,
 * after wal_open and before anything can checkpoint: the segments are still all there then.
 * fn's non-zero code stops it and is returned; VIGIL_EIO when a segment cannot be read back
 * or a record no longer matches its checksum.
 */
typedef bool (*wal_want_fn)(void *ctx, const wal_record_t *rec);
int wal_replay_deferred(wal_t *w, wal_want_fn want, wal_replay_fn fn, void *ctx,
                        vigil_error_t *err);

/*
 * Buffers one record (type 1..255, payload up to WAL_MAX_RECORD) and stores in *lsn (may be
 * NULL) the log position just after it, for wal_sync(). May write (and sync) to make room or
 * to start a new segment. 0, VIGIL_ELIMIT (record too big), VIGIL_EIO (the disk is failing
 * and too much is waiting for it; detail in err).
 */
int wal_log(wal_t *w, uint8_t type, const void *payload, size_t len, uint64_t *lsn,
            vigil_error_t *err);

/* Returns once everything logged up to `lsn` is written and fdatasync'ed; concurrent callers
 * share one write and one sync (group commit). 0 or VIGIL_EIO with detail. */
int wal_sync(wal_t *w, uint64_t lsn, vigil_error_t *err);

/* Syncs what is buffered (errors are logged), stops the flusher, closes. NULL: no-op. */
void wal_close(wal_t *w);

/*
 * Checkpoints: a compact copy of what the head still needs, replacing every segment before it.
 * wal_checkpoint_begin() closes the current segment and starts a new one (later records go
 * there), and opens checkpoint.<last closed segment>.tmp; the caller adds records (the live
 * series and their samples, as of after the rotation: anything logged before it is in the head
 * by then); wal_checkpoint_commit() syncs and renames it, then deletes the segments it covers
 * and older checkpoints. On any failure nothing is deleted. *cp is owned by the WAL module:
 * commit or abort it exactly once.
 */
typedef struct wal_cp wal_cp_t;
int  wal_checkpoint_begin(wal_t *w, wal_cp_t **cp, vigil_error_t *err);
int  wal_checkpoint_add(wal_cp_t *cp, uint8_t type, const void *payload, size_t len,
                        vigil_error_t *err);
int  wal_checkpoint_commit(wal_t *w, wal_cp_t *cp, vigil_error_t *err);
void wal_checkpoint_abort(wal_cp_t *cp);

/* Counters since open: bytes logged, fdatasync calls, the number of segment files, and
 * checkpoints written. */
void wal_stats(wal_t *w, uint64_t *bytes, uint64_t *syncs, uint64_t *segments,
               uint64_t *checkpoints);

#endif /* VIGIL_TSDB_WAL_H */
