/*
 * tsdb_int.h - what the store's own files share: the tsdb_t itself. tsdb.c opens, replays,
 * appends and reports; query.c selects and lists; compact.c writes blocks, truncates,
 * checkpoints and applies retention. Nothing outside src/tsdb/ includes this.
 */
#ifndef VIGIL_TSDB_INT_H
#define VIGIL_TSDB_INT_H

#include "tsdb/block.h"
#include "tsdb/head.h"
#include "tsdb/tsdb.h"
#include "tsdb/wal.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct replay replay_t;

struct tsdb {
    char              *dir;     /* owned; NULL without a WAL */
    char              *blocks_dir; /* owned: dir/blocks */
    log_t             *lg;
    head_t            *head;
    wal_t             *wal;     /* NULL without a WAL */
    replay_t          *replay;  /* only during tsdb_open */
    wal_replay_stats_t rs;
    uint64_t           replay_skipped;
    uint64_t           replay_chunks, replay_covered, replay_unread;
    atomic_bool        chunk_log_failed; /* a cut chunk could not be logged (warned once) */
    int64_t            retention_ms;
    uint64_t           retention_bytes; /* 0: none */
    uint32_t           compact_interval_ms;

    pthread_mutex_t    blocks_mu;  /* guards blocks/nblocks and the block counters */
    block_t          **blocks;     /* each holds one reference; ascending by mint */
    size_t             nblocks, capblocks;
    uint64_t           compactions, blocks_deleted, merges;

    /* Reader epochs: a series set belongs to the epoch current at its creation; compaction
     * bumps the epoch after publishing a block and waits for the previous one to empty. */
    pthread_mutex_t    epoch_mu;
    pthread_cond_t     epoch_cv;
    uint64_t           epoch;
    uint64_t           live[2];

    pthread_mutex_t    compact_mu; /* one compaction at a time */
    pthread_mutex_t    stop_mu;
    pthread_cond_t     stop_cv;
    bool               stop;
    bool               compactor_started;
    pthread_t          compactor;
};

/* Adds a block (taking over its reference) to the list, kept ascending by mint. blocks_mu
 * held. 0 or VIGIL_ENOMEM (the caller still owns the reference then). */
int tsdb_blocks_add(tsdb_t *db, block_t *b);

#endif /* VIGIL_TSDB_INT_H */
