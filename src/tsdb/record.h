/*
 * record.h - payloads of the WAL's series, samples and chunk records (docs/format/wal.md):
 * encoding into a buf_t and decoding without copying strings or chunk bytes.
 */
#ifndef VIGIL_TSDB_RECORD_H
#define VIGIL_TSDB_RECORD_H

#include "tsdb/tsdb.h"
#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

#define RECORD_SERIES      1
#define RECORD_SAMPLES     2 /* samples the head took in order */
#define RECORD_CHUNK_V1    3 /* checkpoints written before chunk records had type 4: uvarint ref,
                                then one chunk's bytes; read, never written */
#define RECORD_CHUNK       4 /* one head chunk (rec_chunk_t) */
#define RECORD_OOO_SAMPLES 5 /* samples the head took out of order; payload as type 2 */

#define RECORD_MAX_SAMPLES 100000 /* samples per samples record: 2.8 MB at worst, under the
                                     WAL's record cap */

#define RECORD_CHUNK_CUT_LIVE 0x01 /* rec_chunk_t.flags: the head cut it while serving appends
                                      (not at replay, not a checkpoint's copy) */

typedef struct rec_sample {
    uint64_t ref;
    int64_t  t;
    double   v;
} rec_sample_t;

/* A chunk record: one chunk of one series, as the head holds it. */
typedef struct rec_chunk {
    uint64_t       ref;
    uint8_t        flags;     /* RECORD_CHUNK_CUT_LIVE */
    int64_t        mint;      /* its first timestamp (decoded from the chunk, not stored) */
    int64_t        maxt;      /* its last timestamp */
    int64_t        prev_maxt; /* the last timestamp of the series' chunk before it in the
                                 head, INT64_MIN when none: replay tells from it whether the
                                 chunks it has seen follow each other with nothing between */
    uint32_t       count;     /* samples (from the chunk's header) */
    const uint8_t *data;      /* the chunk's bytes (chunks.md); borrowed */
    size_t         len;
} rec_chunk_t;

/* Appends a chunk record payload (mint and count are not written: they are in the chunk).
 * 0 or VIGIL_ENOMEM. */
int record_encode_chunk(buf_t *b, const rec_chunk_t *c);

/* Decodes and checks a chunk record payload; data points into p. 0 or VIGIL_EPARSE. */
int record_decode_chunk(const uint8_t *p, size_t len, rec_chunk_t *out);

/* Appends a series record payload for one series. 0, VIGIL_ENOMEM or VIGIL_ELIMIT. */
int record_encode_series(buf_t *b, uint64_t ref, const tsdb_label_t *ls, size_t n);

/* Appends a samples record payload. 0, VIGIL_ENOMEM or VIGIL_ELIMIT. */
int record_encode_samples(buf_t *b, const rec_sample_t *s, size_t n);

/* Called for each series of a series record. Label strings point into a scratch copy that is
 * valid only during the call (NUL-terminated). Non-zero stops decoding and is returned. */
typedef int (*record_series_fn)(void *ctx, uint64_t ref, const tsdb_label_t *ls, size_t n);

/* Decodes a series record payload. 0, the callback's code, or VIGIL_EPARSE when malformed. */
int record_decode_series(const uint8_t *p, size_t len, record_series_fn fn, void *ctx);

/* Decodes a samples record payload into *out (grown with realloc as needed; the caller frees
 * it with free() and may pass it back to reuse it), *n samples. 0, VIGIL_EPARSE, VIGIL_ENOMEM. */
int record_decode_samples(const uint8_t *p, size_t len, rec_sample_t **out, size_t *cap,
                          size_t *n);

/* Varint helpers shared with wal.c. put_* append to b; get_* return false on truncation. */
int record_put_uvarint(buf_t *b, uint64_t v);
bool record_get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v);

#endif /* VIGIL_TSDB_RECORD_H */
