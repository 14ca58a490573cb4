/*
 * block.h - immutable block files of completed time ranges (format: docs/format/blocks.md):
 * writing one from the head, and reading it through mmap.
 */
#ifndef VIGIL_TSDB_BLOCK_H
#define VIGIL_TSDB_BLOCK_H

#include "log/log.h"
#include "tsdb/head.h"
#include "tsdb/index.h"
#include "tsdb/match.h"

#include <stdatomic.h>

typedef struct block block_t;

/* Samples per chunk the writer encodes: eight head chunks' worth, for compression (a chunk's
 * first sample costs 16 bytes) and fewer index entries. */
#define BLOCK_CHUNK_SAMPLES 960

/* What the writer needs of one series: chunk lists (and out-of-order samples) to write. */
typedef struct block_input {
    const head_chunk_t **lists;   /* k lists of chunks, data readable until close */
    size_t              *nlists;
    size_t               k;
    const head_sample_t *extra;   /* samples not in any chunk */
    size_t               nextra;
    bool                 copy;    /* the lists are in time order, disjoint, with no extra:
                                     their bytes are copied as they are; otherwise every
                                     sample is merged (duplicates dropped) and re-encoded */
    const head_chunk_t  *lbuf[2]; /* storage a source may point lists/nlists at */
    size_t               nbuf[2];
} block_input_t;

/* A producer of series, in label order, for the block writer. */
typedef struct block_source {
    size_t n;
    const tsdb_label_t *(*labels)(void *ctx, size_t i, size_t *n);
    int  (*open)(void *ctx, size_t i, block_input_t *in);  /* 0 or VIGIL_* */
    void (*close)(void *ctx, size_t i, block_input_t *in); /* also after a failed open */
    void *ctx;
} block_source_t;

/*
 * Writes every sample of the head older than maxt to dir/<mint>-<maxt>.vblk (through a .tmp
 * file, fsynced, renamed, directory fsynced), `mint` being the range's nominal start, lowered
 * to the oldest sample when the head holds older ones (it should not; but the head is about
 * to drop everything older than maxt, so the block must take it all). Series with no such
 * sample are left out. The file's path goes to path (size bytes) and the count of series to
 * *nseries; with none, no file is written. 0, VIGIL_EIO (with path), VIGIL_ENOMEM.
 */
int block_write(const char *dir, head_t *h, int64_t mint, int64_t maxt, char *path, size_t size,
                uint64_t *nseries, vigil_error_t *err);

/*
 * Writes one block holding every series and sample of blocks[0..n) (ascending in time): the
 * longer ranges of compaction. Chunks are copied when the blocks follow each other in time,
 * merged otherwise. Path and counts as block_write(); the sources are left as they are (the
 * caller retires them once the new block is in use).
 */
int block_merge(const char *dir, block_t *const *blocks, size_t n, char *path, size_t size,
                uint64_t *nseries, vigil_error_t *err);

/*
 * Maps and verifies a block file (header, table of contents, every section's CRC32C). On
 * success *out holds one reference, released with block_unref(). VIGIL_EIO (cannot read),
 * VIGIL_EPARSE (fails a check, with the reason).
 */
int block_open(block_t **out, const char *path, vigil_error_t *err);

/* Reference counting: a block is unmapped when the last reference goes (queries hold one). */
void block_ref(block_t *b);
void block_unref(block_t *b);

/* Marks the file for deletion when the last reference goes (retention). */
void block_delete_on_last_unref(block_t *b);

int64_t     block_mint(const block_t *b);  /* first timestamp of its range */
int64_t     block_maxt(const block_t *b);  /* exclusive end of its range */
uint32_t    block_nseries(const block_t *b);
uint64_t    block_bytes(const block_t *b); /* file size */
const char *block_path(const block_t *b);

/* Series indices matching all matchers (as index_select()). *out is the caller's (free()). */
int block_select(block_t *b, const matcher_t *ms, size_t n, uint32_t **out, size_t *nout);

/* Labels of series `idx` into a new array (strings point into the mapping: valid while a
 * reference is held). *out is the caller's (free()). 0, VIGIL_ENOMEM, VIGIL_EPARSE. */
int block_series_labels(const block_t *b, uint32_t idx, tsdb_label_t **out, size_t *n);

/* Chunks of series `idx` overlapping [mint, maxt], data pointing into the mapping. *out is the
 * caller's (free()). 0, VIGIL_ENOMEM, VIGIL_EPARSE. */
int block_series_chunks(const block_t *b, uint32_t idx, int64_t mint, int64_t maxt,
                        head_chunk_t **out, size_t *n);

/* All label names / the values of one name, as interned-like pointers into the mapping
 * appended to *v (grown with realloc; the caller frees the array, not the strings). */
int block_label_names(const block_t *b, const char ***v, size_t *n, size_t *cap);
int block_label_values(const block_t *b, const char *name, const char ***v, size_t *n,
                       size_t *cap);

#endif /* VIGIL_TSDB_BLOCK_H */
