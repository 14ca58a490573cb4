/*
 * record.h - payloads of the WAL's series and samples records (docs/format/wal.md): encoding
 * into a buf_t and decoding without copying strings.
 */
#ifndef VIGIL_TSDB_RECORD_H
#define VIGIL_TSDB_RECORD_H

#include "tsdb/tsdb.h"
#include "util/buf.h"

#include <stddef.h>
#include <stdint.h>

#define RECORD_SERIES  1
#define RECORD_SAMPLES 2
#define RECORD_CHUNK   3 /* checkpoints only: uvarint ref, then one chunk's bytes (chunks.md) */

typedef struct rec_sample {
    uint64_t ref;
    int64_t  t;
    double   v;
} rec_sample_t;

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
