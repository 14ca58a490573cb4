/*
 * fuzz_tsdb_block.c - libFuzzer target for the block file reader (src/tsdb/block.c, format
 * docs/format/blocks.md) and everything that reads a mapped block: the store's open, selection
 * by matchers, label listings, chunk iteration (query.c) and merging blocks (the compactor).
 * Block files are read through mmap after a crash, from a damaged disk or from a copied data
 * directory: a bad one must be refused (and moved aside) or read within its bounds.
 *
 * Input: one flag byte, then the file's bytes.
 *   bit 0  fix checksums before writing: each section's CRC32C (for sections that lie inside
 *          the file) and the header + table-of-contents CRC. Without this the fuzzer would
 *          almost never get past block_open's checks into the symbol, series, postings and
 *          chunk readers, which trust nothing but the checksums' coverage.
 * The file goes into a scratch data directory as blocks/0-1.vblk; the store is opened with it
 * (no WAL content), every series is selected and read, label names and values are listed,
 * matchers of all four kinds are run with values found in the block, and the block is merged
 * with itself (the overlapping path of compaction: every chunk decoded and re-encoded).
 *
 * Oracles: iterators are strictly ascending; a merge either fails cleanly or writes a block that
 * opens and holds no more series than its source.
 *
 * Seeds: fuzz/corpus/tsdb_block/ (blocks written by the store's compactor, valid, truncated and
 * with flipped bytes); regenerate with tests/tsdb/gen_fuzz_corpus.c.
 */
#include "fuzz_scratch.h"
#include "tsdb/block.h"
#include "tsdb/crc32c.h"
#include "tsdb/tsdb.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FLAG_FIX_CRC 1
#define HEADER       32
#define SECTIONS     6
#define TOC          (SECTIONS * 20 + 4)

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crcs(uint8_t *d, size_t n)
{
    if (n < HEADER + TOC)
        return;
    uint8_t *toc = d + n - TOC;
    for (int k = 0; k < SECTIONS; k++) {
        uint64_t off = get_le(toc + 20 * k, 8), len = get_le(toc + 20 * k + 8, 8);
        if (off <= n - TOC && len <= n - TOC - off)
            put_le32(toc + 20 * k + 16, crc32c(d + off, len));
    }
    put_le32(toc + TOC - 4, crc32c_update(crc32c(d, HEADER), toc, TOC - 4));
}

/* Reads every sample of every series in `set`, checking the order. */
static void read_all(tsdb_series_set_t *set)
{
    for (size_t i = 0; i < tsdb_series_set_len(set); i++) {
        size_t              nl;
        const tsdb_label_t *ls = tsdb_series_labels(set, i, &nl);
        for (size_t k = 0; k < nl; k++)
            if (ls[k].name == NULL || ls[k].value == NULL)
                abort();
        tsdb_iter_t *it;
        if (tsdb_iter_open(set, i, &it) != 0)
            continue;
        int64_t t, prev = 0;
        double  v;
        bool    first = true;
        while (tsdb_iter_next(it, &t, &v)) {
            if (!first && t <= prev)
                abort();
            first = false;
            prev = t;
        }
        tsdb_iter_free(it);
    }
}

/* Runs the store's read side over the block: selection, iteration, listings, matchers. */
static void query_store(const char *dir)
{
    tsdb_options_t o = {.dir = dir, .compact_interval_ms = UINT32_MAX};
    tsdb_t        *db;
    if (tsdb_open(&db, &o, NULL, NULL) != 0)
        return;
    tsdb_series_set_t *set;
    if (tsdb_select(db, NULL, 0, INT64_MIN, INT64_MAX, &set, NULL) == 0) {
        read_all(set);
        tsdb_series_set_free(set);
    }
    tsdb_strings_t names;
    if (tsdb_label_names(db, NULL, 0, INT64_MIN, INT64_MAX, 0, &names, NULL) == 0) {
        for (size_t i = 0; i < names.n && i < 8; i++) {
            tsdb_strings_t vals;
            if (tsdb_label_values(db, names.v[i], NULL, 0, INT64_MIN, INT64_MAX, 0, &vals,
                                  NULL) != 0)
                continue;
            const char *val = vals.n > 0 ? vals.v[vals.n / 2] : "x";
            for (int type = TSDB_MATCH_EQ; type <= TSDB_MATCH_NRE; type++) {
                /* A value is not always a valid regex: =~ then fails cleanly, which is fine. */
                tsdb_matcher_t m = {(tsdb_match_type_t)type, names.v[i], val};
                if (tsdb_select(db, &m, 1, 0, INT64_MAX, &set, NULL) == 0) {
                    read_all(set);
                    tsdb_series_set_free(set);
                }
            }
            tsdb_strings_free(&vals);
        }
        tsdb_strings_free(&names);
    }
    tsdb_close(db);
}

/* Merges the block with itself into `out` (overlapping blocks: every chunk re-encoded). */
static void merge_self(const char *path, const char *out)
{
    block_t *b;
    if (block_open(&b, path, NULL) != 0)
        return;
    mkdir(out, 0755);
    block_t *two[2] = {b, b};
    char     merged[4300];
    uint64_t nseries = 0;
    if (block_merge(out, two, 2, merged, sizeof(merged), &nseries, NULL) == 0 && nseries > 0) {
        block_t *m;
        if (block_open(&m, merged, NULL) != 0 || block_nseries(m) != nseries ||
            nseries > block_nseries(b))
            abort();
        block_unref(m);
    }
    block_unref(b);
    fuzz_remove_dir(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t  flags = data[0];
    size_t   n = size - 1;
    uint8_t *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, n);
    if (flags & FLAG_FIX_CRC)
        fix_crcs(copy, n);

    const char *dir = fuzz_scratch_dir("tsdb-block");
    char        blocks[4200], wal[4200], file[4300], out[4200];
    snprintf(blocks, sizeof(blocks), "%s/blocks", dir);
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    snprintf(out, sizeof(out), "%s/merged", dir);
    mkdir(blocks, 0755);
    snprintf(file, sizeof(file), "%s/0-1.vblk", blocks);
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, copy, n) != (ssize_t)n)
        abort();
    close(fd);
    free(copy);

    merge_self(file, out);
    query_store(dir); /* last: a block failing its checks is renamed aside here */
    fuzz_remove_dir(blocks);
    fuzz_remove_dir(wal);
    return 0;
}
