/*
 * fuzz_tsdb_chunk.c - libFuzzer target for the chunk decoder (src/tsdb/chunk.c, format
 * docs/format/chunks.md). Chunk bytes come from block files and checkpoints on disk, so the
 * reader must survive any input: never read past `len`, never loop more than the header's
 * count, never hit undefined behaviour on wrapping timestamps or decimal integers.
 *
 * Oracle: whatever the decoder returns (even from a chunk it later finds malformed) is a plain
 * sequence of (int64, double) samples, and the encoder must round-trip any such sequence bit
 * for bit. So the decoded prefix is re-encoded with chunk_append() and decoded again; the two
 * must agree exactly, and the re-encoded chunk must decode without failing. That fuzzes the
 * writer's code choices (decimal exponent search, XOR windows, buckets) with inputs it would
 * never see from collectors.
 *
 * Seeds: fuzz/corpus/tsdb_chunk/ (real chunks written by chunk_append, and truncated and
 * corrupted copies); regenerate with tests/tsdb/gen_fuzz_corpus.c (see fuzz/README.md).
 */
#include "tsdb/chunk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct sample {
    int64_t  t;
    uint64_t vbits; /* compared as bits: NaN payloads and -0.0 must survive too */
} sample_t;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chunk_iter_t it;
    if (chunk_iter_init(&it, data, size) != 0)
        return 0;
    uint32_t  count = chunk_count(data, size);
    sample_t *got = malloc((count ? count : 1) * sizeof(*got));
    if (got == NULL)
        return 0;
    size_t  n = 0;
    int64_t t;
    double  v;
    while (chunk_iter_next(&it, &t, &v)) {
        if (n >= count) /* the iterator may never return more than the header promises */
            abort();
        got[n].t = t;
        memcpy(&got[n].vbits, &v, sizeof(v));
        n++;
    }
    if (!chunk_iter_failed(&it) && n != count)
        abort(); /* stopping early is only allowed when the bytes are malformed */

    chunk_appender_t a;
    chunk_appender_init(&a);
    for (size_t i = 0; i < n; i++) {
        double x;
        memcpy(&x, &got[i].vbits, sizeof(x));
        if (chunk_append(&a, got[i].t, x) != 0)
            abort(); /* n <= 65535 samples and memory is plentiful: appends cannot fail */
    }
    size_t         len;
    const uint8_t *enc = chunk_appender_bytes(&a, &len);
    if (n > 0) {
        chunk_iter_t again;
        if (enc == NULL || chunk_iter_init(&again, enc, len) != 0 || chunk_count(enc, len) != n)
            abort();
        size_t k = 0;
        while (chunk_iter_next(&again, &t, &v)) {
            uint64_t b;
            memcpy(&b, &v, sizeof(b));
            if (k >= n || t != got[k].t || b != got[k].vbits)
                abort();
            k++;
        }
        if (chunk_iter_failed(&again) || k != n)
            abort();
    }
    chunk_appender_free(&a);
    free(got);
    return 0;
}
