/*
 * chunk.h - the compressed sample chunk of one series (format: docs/format/chunks.md).
 *
 * A chunk_appender_t builds a chunk sample by sample in a buffer it owns; a chunk_iter_t reads
 * any chunk's bytes (open or closed) without allocating. Neither is thread-safe: the head
 * guards each series' appender with the series lock and hands readers copies.
 */
#ifndef VIGIL_TSDB_CHUNK_H
#define VIGIL_TSDB_CHUNK_H

#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CHUNK_ENCODING     2       /* byte 0 of the chunks written now (format version 2) */
#define CHUNK_ENCODING_V1  1       /* version 1 (no repeat runs): still read, never written */
#define CHUNK_HEADER_BYTES 3       /* encoding byte + big-endian uint16 sample count */
#define CHUNK_MAX_SAMPLES  65535u  /* what the count field can hold */

typedef struct chunk_appender {
    uint8_t *buf;       /* owned: header + bit stream, zero beyond the last written bit */
    uint32_t cap;       /* bytes allocated in buf (a chunk is at most ~1.3 MB) */
    uint32_t nbits;     /* bits of bit stream written (the header is not counted); 32 bits
                           like cap: one appender lives in every head series */
    uint32_t count;     /* samples appended */
    uint32_t run_pos;   /* bit offset (in the bit stream) of the repeat-run field that ends
                           the stream, while the last samples form a run; 0: none */
    int64_t  t;         /* last timestamp */
    uint64_t tdelta;    /* last timestamp delta, modulo 2^64 */
    uint64_t vbits;     /* last value's IEEE 754 bits */
    uint8_t  lead;      /* XOR window: leading zero bits (0..31) */
    uint8_t  trail;     /* XOR window: trailing zero bits */
    bool     win_valid; /* a window was set by a 1110 code */
    bool     dec_valid; /* the decimal state (e, m, dm) describes the last value */
    uint8_t  e;         /* decimal exponent: values are m / 10^e */
    uint8_t  dec_miss;  /* writer heuristic: consecutive failed exponent searches */
    uint16_t run;       /* repeats counted in that field (the samples after the run's first) */
    int64_t  m;         /* last value as a decimal integer */
    int64_t  dm;        /* last decimal integer delta */
} chunk_appender_t;

/* Starts an empty chunk. Allocates nothing until the first append; release with
 * chunk_appender_free() or hand the bytes over with chunk_appender_detach(). */
void chunk_appender_init(chunk_appender_t *a);

/* Appends one sample (any int64 timestamp, any double, bit-exactly). 0, VIGIL_ENOMEM, or
 * VIGIL_ELIMIT when the chunk already holds CHUNK_MAX_SAMPLES; on failure nothing changes. */
int chunk_append(chunk_appender_t *a, int64_t t, double v);

/* The chunk as it stands: header and bit stream, valid until the next append or free.
 * Returns NULL and *len = 0 when no sample was appended. */
const uint8_t *chunk_appender_bytes(const chunk_appender_t *a, size_t *len);

/* Hands the finished chunk to the caller (shrunk to its exact size), who frees it with
 * free(); the appender is left empty and re-initialised. NULL when it holds no sample. */
uint8_t *chunk_appender_detach(chunk_appender_t *a, size_t *len);

/* Frees the buffer; the appender is empty afterwards. */
void chunk_appender_free(chunk_appender_t *a);

typedef struct chunk_iter {
    const uint8_t *data;  /* the chunk's bytes, borrowed */
    size_t   nbits;       /* bits in the bit stream */
    size_t   pos;         /* next bit to read */
    uint32_t count;       /* samples in the chunk */
    uint32_t read;        /* samples returned so far */
    uint32_t repeats;     /* samples still to return from the current repeat run */
    uint8_t  version;     /* CHUNK_ENCODING or CHUNK_ENCODING_V1 */
    bool     failed;      /* the stream ended early or was malformed */
    int64_t  t;
    uint64_t tdelta;
    uint64_t vbits;
    uint8_t  lead, trail;
    bool     dec_valid;
    uint8_t  e;
    int64_t  m, dm;
    bool     vlazy;       /* the value is m / 10^e, not yet converted into vbits */
} chunk_iter_t;

/* Prepares to read `data` (borrowed; it must outlive the iterator), of either version. 0, or
 * VIGIL_EPARSE when the header is short or names an unknown encoding. */
int chunk_iter_init(chunk_iter_t *it, const uint8_t *data, size_t len);

/* Returns the next sample in *t, *v; false at the end or when the chunk is malformed
 * (chunk_iter_failed() tells which). */
bool chunk_iter_next(chunk_iter_t *it, int64_t *t, double *v);

/* Like chunk_iter_next without the value: readers skipping the samples before their range
 * spare the decimal conversion. chunk_iter_value() gives the value of the sample it read. */
bool chunk_iter_next_time(chunk_iter_t *it, int64_t *t);
/* chunk_iter_next_time() of the next sample at or after mint (skipping earlier ones in one
 * loop: a query's range usually starts inside a chunk). */
bool chunk_iter_next_from(chunk_iter_t *it, int64_t mint, int64_t *t);
double chunk_iter_value(chunk_iter_t *it);

/* True when iteration stopped because the bytes were malformed or truncated. */
bool chunk_iter_failed(const chunk_iter_t *it);

/* Sample count from a chunk's header (0 when the header is short). */
uint32_t chunk_count(const uint8_t *data, size_t len);

#endif /* VIGIL_TSDB_CHUNK_H */
