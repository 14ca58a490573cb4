/*
 * fuzz_tsdb_wal.c - libFuzzer target for WAL replay (src/tsdb/wal.c framing, record.c payloads,
 * tsdb.c replay into the head; format docs/format/wal.md). A data directory found on disk after
 * a crash, a full disk or a bad sector holds arbitrary bytes: opening it must cut at the last
 * good record, never crash, never leak.
 *
 * Input: one flag byte, then the file's bytes.
 *   bit 0  fix checksums before writing: the segment header's sequence and CRC, and each
 *          record's CRC, with a record length past the end clamped to the end. Without this
 *          almost every mutation dies at the first CRC check and the payload decoders (series,
 *          samples, chunk records) and the head behind them would never be reached.
 *   bit 1  write the bytes as checkpoint.00000001 (replayed first, holds chunk records) instead
 *          of segment 00000001.
 * The file goes into a scratch data directory (made once per process under $TMPDIR), the store
 * is opened (replay; no compactor), every series is selected and read, and the store closed.
 *
 * Oracle: the first open cut whatever was bad, so a second open of the same directory must find
 * no corruption at all and rebuild exactly the same head (series, samples, and the samples a
 * full read returns). A bad record must not have been half applied either.
 *
 * Seeds: fuzz/corpus/tsdb_wal/ (segments and a checkpoint written by the store itself, valid,
 * truncated and with flipped bytes); regenerate with tests/tsdb/gen_fuzz_corpus.c.
 */
#include "fuzz_scratch.h"
#include "tsdb/crc32c.h"
#include "tsdb/tsdb.h"
#include "tsdb/wal.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FLAG_FIX_CRC    1
#define FLAG_CHECKPOINT 2

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Makes the framing self-consistent (see bit 0 above); the magic, version and types are left
 * as the input has them. */
static void fix_crcs(uint8_t *d, size_t n)
{
    if (n < WAL_HEADER_BYTES)
        return;
    put_le32(d + 8, 1);
    put_le32(d + 12, crc32c(d, 12));
    size_t off = WAL_HEADER_BYTES;
    while (n - off >= WAL_RECORD_HEADER) {
        uint32_t len = get_le32(d + off + 1);
        if (len > n - off - WAL_RECORD_HEADER) {
            len = (uint32_t)(n - off - WAL_RECORD_HEADER);
            put_le32(d + off + 1, len);
        }
        put_le32(d + off + 5, crc32c_update(crc32c(d + off, 5), d + off + WAL_RECORD_HEADER, len));
        off += WAL_RECORD_HEADER + len;
    }
}

typedef struct seen {
    uint64_t series, samples, read, corruptions;
} seen_t;

/* Opens the store in dir, reads everything back, closes it. false when it would not open. */
static bool open_and_read(const char *dir, seen_t *out)
{
    tsdb_options_t o = {.dir = dir, .compact_interval_ms = UINT32_MAX};
    tsdb_t        *db;
    if (tsdb_open(&db, &o, NULL, NULL) != 0)
        return false;
    tsdb_stats_t st;
    tsdb_stats(db, &st);
    out->series = st.series;
    out->samples = st.samples;
    out->corruptions = st.wal_corruptions;
    out->read = 0;
    tsdb_series_set_t *set;
    if (tsdb_select(db, NULL, 0, INT64_MIN, INT64_MAX, &set, NULL) == 0) {
        for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
            tsdb_iter_t *it;
            if (tsdb_iter_open(set, i, &it) != 0)
                continue;
            int64_t t, prev = INT64_MIN;
            double  v;
            bool    first = true;
            while (tsdb_iter_next(it, &t, &v)) {
                if (!first && t <= prev)
                    abort(); /* iterators are strictly ascending */
                first = false;
                prev = t;
                out->read++;
            }
            tsdb_iter_free(it);
        }
        tsdb_series_set_free(set);
    }
    tsdb_close(db);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t  n = size - 1;
    uint8_t *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, n);
    if (flags & FLAG_FIX_CRC)
        fix_crcs(copy, n);

    const char *dir = fuzz_scratch_dir("tsdb-wal");
    char        wal[4200], blocks[4200], file[4300];
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    snprintf(blocks, sizeof(blocks), "%s/blocks", dir);
    mkdir(wal, 0755);
    snprintf(file, sizeof(file), "%s/%s", wal,
             (flags & FLAG_CHECKPOINT) ? "checkpoint.00000001" : "00000001");
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, copy, n) != (ssize_t)n)
        abort();
    close(fd);
    free(copy);

    seen_t a, b;
    if (open_and_read(dir, &a)) {
        if (!open_and_read(dir, &b))
            abort(); /* it opened once: the cut directory must open again */
        if (b.corruptions != 0 || a.series != b.series || a.samples != b.samples ||
            a.read != b.read)
            abort();
    }
    fuzz_remove_dir(wal);
    fuzz_remove_dir(blocks);
    return 0;
}
