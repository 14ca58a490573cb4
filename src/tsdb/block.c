/*
 * block.c - block files (full specification: docs/format/blocks.md; summary here).
 *
 *   <data>/blocks/<mint>-<maxt>.vblk, written as .tmp, fsynced, renamed, dir fsynced.
 *   header (32):  "VGBK" | version 1 | 3 zero | mint i64 | maxt i64 (exclusive) |
 *                 nseries u32 | nsymbols u32
 *   sections:     chunks | symbols (uvarint len, bytes, NUL; sorted) |
 *                 series (nlabels, sym pairs, nchunks × (mint, maxt-mint, offset, len)) |
 *                 series offsets (u64 each) | postings ((name sym, value sym, count, ids), sorted) |
 *                 postings offsets (u64 each)
 *   toc (124):    6 × (offset u64, length u64, CRC32C u32) | CRC32C of the header and those
 *                 120 bytes
 *
 * Readers map the file read-only, verify everything once at open, and then hand out pointers
 * into the mapping (label strings, chunk bytes) that stay valid while they hold a reference.
 */
#include "tsdb/block.h"

#include "tsdb/crc32c.h"
#include "tsdb/record.h"
#include "util/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK_VERSION   1
#define BLOCK_HEADER    32
#define BLOCK_SECTIONS  6
#define BLOCK_TOC       (BLOCK_SECTIONS * 20 + 4)
#define SEC_CHUNKS      0
#define SEC_SYMBOLS     1
#define SEC_SERIES      2
#define SEC_SERIES_OFFS 3
#define SEC_POSTINGS    4
#define SEC_POST_OFFS   5

struct block {
    _Atomic int    refs;
    _Atomic bool   doomed;  /* unlink the file when the last reference goes */
    char          *path;    /* owned */
    const uint8_t *map;
    size_t         size;
    int64_t        mint, maxt;
    uint32_t       nseries, nsymbols, npairs;
    const char   **syms;    /* owned array of pointers into the mapping */
    uint64_t       off[BLOCK_SECTIONS], len[BLOCK_SECTIONS];
};

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct bw {
    int      fd;
    uint64_t pos;   /* file offset of the next byte */
    buf_t    out;   /* bytes waiting to be written */
    uint32_t crc;   /* CRC of the current section so far */
    int      err;   /* first errno */
} bw_t;

static void bw_flush(bw_t *w)
{
    size_t done = 0;
    while (w->err == 0 && done < w->out.len) {
        ssize_t k = write(w->fd, w->out.data + done, w->out.len - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            w->err = k < 0 ? errno : EIO;
        else
            done += (size_t)k;
    }
    buf_reset(&w->out);
}

static void bw_put(bw_t *w, const void *p, size_t n)
{
    w->crc = crc32c_update(w->crc, p, n);
    w->pos += n;
    if (w->out.len + n > (1u << 20))
        bw_flush(w);
    if (n > (1u << 20)) {
        size_t done = 0; /* large pieces go straight out */
        while (w->err == 0 && done < n) {
            ssize_t k = write(w->fd, (const char *)p + done, n - done);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                w->err = k < 0 ? errno : EIO;
            else
                done += (size_t)k;
        }
        return;
    }
    if (buf_append(&w->out, p, n) != 0 && w->err == 0)
        w->err = ENOMEM;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_series_ptr(const void *a, const void *b)
{
    const head_series_t *x = *(head_series_t *const *)a, *y = *(head_series_t *const *)b;
    return head_labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

/* Position of an interned string in the sorted unique symbol array. */
static uint32_t sym_index(const char **syms, size_t n, const char *s)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int    c = strcmp(syms[mid], s);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (uint32_t)lo;
}

typedef struct triple {
    uint32_t name, value, series;
} triple_t;

static int cmp_triple(const void *a, const void *b)
{
    const triple_t *x = a, *y = b;
    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return (x->series > y->series) - (x->series < y->series);
}

/* Writes one series' chunks (everything of `in` older than maxt) and its series entry. */
static int write_series(bw_t *w, buf_t *series, const tsdb_label_t *labels, size_t nlabels,
                        const block_input_t *in, int64_t maxt, const char **syms, size_t nsyms,
                        uint64_t *nchunks_out, int64_t *data_mint)
{
    int    rc = 0;
    size_t total = 1;
    for (size_t l = 0; l < in->k; l++)
        total += in->nlists[l];
    /* Metadata of the chunks written: (mint, maxt, offset, len). */
    size_t        cap = total, n = 0;
    head_chunk_t *out = malloc(cap * sizeof(*out));
    if (out == NULL)
        return VIGIL_ENOMEM;
    if (in->copy) {
        for (size_t l = 0; l < in->k; l++)
            for (size_t i = 0; i < in->nlists[l]; i++) {
                out[n] = in->lists[l][i];
                out[n].data = (uint8_t *)(uintptr_t)(w->pos - BLOCK_HEADER); /* an offset */
                bw_put(w, in->lists[l][i].data, in->lists[l][i].len);
                n++;
            }
    } else {
        head_sample_t *v;
        size_t         nv;
        rc = head_collect_samples(in->lists, in->nlists, in->k, in->extra, in->nextra, INT64_MIN,
                                  maxt - 1, &v, &nv);
        for (size_t i = 0; rc == 0 && i < nv;) {
            chunk_appender_t a;
            chunk_appender_init(&a);
            size_t first = i;
            while (rc == 0 && i < nv && a.count < BLOCK_CHUNK_SAMPLES)
                rc = chunk_append(&a, v[i].t, v[i].v), i++;
            size_t   len;
            uint8_t *bytes = chunk_appender_detach(&a, &len);
            if (rc == 0 && bytes == NULL)
                rc = VIGIL_ENOMEM;
            if (rc == 0 && n == cap) {
                head_chunk_t *nb = realloc(out, cap * 2 * sizeof(*nb));
                if (nb == NULL)
                    rc = VIGIL_ENOMEM;
                else
                    out = nb, cap *= 2;
            }
            if (rc == 0) {
                out[n] = (head_chunk_t){.mint = v[first].t, .maxt = v[i - 1].t,
                                        .data = (uint8_t *)(uintptr_t)(w->pos - BLOCK_HEADER),
                                        .len = (uint32_t)len};
                bw_put(w, bytes, len);
                n++;
            }
            free(bytes);
            chunk_appender_free(&a);
        }
        if (rc == 0)
            free(v);
    }
    for (size_t i = 0; i < n; i++)
        if (out[i].mint < *data_mint)
            *data_mint = out[i].mint;
    if (rc == 0 && n > 0) {
        rc = record_put_uvarint(series, nlabels);
        for (size_t k = 0; rc == 0 && k < nlabels; k++) {
            rc = record_put_uvarint(series, sym_index(syms, nsyms, labels[k].name));
            rc = rc ? rc : record_put_uvarint(series, sym_index(syms, nsyms, labels[k].value));
        }
        rc = rc ? rc : record_put_uvarint(series, n);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            int64_t  m = out[i].mint;
            uint64_t zz = ((uint64_t)m << 1) ^ (uint64_t)(m >> 63);
            rc = record_put_uvarint(series, zz);
            rc = rc ? rc : record_put_uvarint(series, (uint64_t)out[i].maxt - (uint64_t)m);
            rc = rc ? rc : record_put_uvarint(series, (uint64_t)(uintptr_t)out[i].data);
            rc = rc ? rc : record_put_uvarint(series, out[i].len);
        }
    }
    free(out);
    *nchunks_out = n;
    return rc;
}

/* Writes a block from `src` (series in label order): everything older than maxt; mint is
 * the nominal start, lowered to the oldest sample written. */
static int write_block(const char *dir, int64_t mint, int64_t maxt, const block_source_t *src,
                       char *path_out, size_t path_size, uint64_t *nseries, vigil_error_t *err)
{
    if (nseries != NULL)
        *nseries = 0;
    if (path_size > 0)
        path_out[0] = '\0';
    size_t ns = src->n;
    if (ns == 0)
        return 0;

    /* Symbols: every label string, sorted and unique. */
    size_t nstr = 0;
    for (size_t i = 0; i < ns; i++) {
        size_t nl;
        src->labels(src->ctx, i, &nl);
        nstr += 2 * nl;
    }
    const char **syms = malloc((nstr ? nstr : 1) * sizeof(*syms));
    if (syms == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "block: out of memory");
    size_t nsyms = 0;
    for (size_t i = 0; i < ns; i++) {
        size_t              nl;
        const tsdb_label_t *ls = src->labels(src->ctx, i, &nl);
        for (size_t k = 0; k < nl; k++) {
            syms[nsyms++] = ls[k].name;
            syms[nsyms++] = ls[k].value;
        }
    }
    qsort(syms, nsyms, sizeof(*syms), cmp_str_ptr);
    size_t u = 0;
    for (size_t i = 0; i < nsyms; i++)
        if (u == 0 || strcmp(syms[u - 1], syms[i]) != 0)
            syms[u++] = syms[i];
    nsyms = u;

    /* The file is named after its final range; until the data is written it is only .tmp. */
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof(tmp), "%s/%lld.vblk.tmp", dir, (long long)maxt);
    int64_t data_mint = INT64_MAX;
    int rc = 0;
    bw_t w = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    buf_init(&w.out, (size_t)2 << 20);
    buf_t series, soffs, post, poffs;
    buf_init(&series, SIZE_MAX / 2);
    buf_init(&soffs, SIZE_MAX / 2);
    buf_init(&post, SIZE_MAX / 2);
    buf_init(&poffs, SIZE_MAX / 2);
    triple_t *tr = NULL;
    if (w.fd < 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto out_free;
    }
    unsigned char hdr[BLOCK_HEADER] = {0};
    bw_put(&w, hdr, sizeof(hdr)); /* rewritten at the end, when the counts are known */

    uint64_t off[BLOCK_SECTIONS], len[BLOCK_SECTIONS];
    uint32_t crc[BLOCK_SECTIONS];
    /* Chunks, streamed; the series entries and offsets are built alongside. */
    off[SEC_CHUNKS] = w.pos;
    w.crc = 0;
    size_t ntr = 0, trcap = 0;
    uint32_t nwritten = 0;
    for (size_t i = 0; i < ns && rc == 0 && w.err == 0; i++) {
        size_t              before = series.len, nl;
        uint64_t            nch;
        const tsdb_label_t *ls = src->labels(src->ctx, i, &nl);
        block_input_t       in;
        memset(&in, 0, sizeof(in));
        rc = src->open(src->ctx, i, &in);
        if (rc == 0)
            rc = write_series(&w, &series, ls, nl, &in, maxt, syms, nsyms, &nch, &data_mint);
        src->close(src->ctx, i, &in);
        if (rc != 0)
            break;
        if (nch == 0)
            continue; /* only out-of-range out-of-order data */
        unsigned char le[8];
        put_le(le, before, 8);
        if ((rc = buf_append(&soffs, le, 8)) != 0)
            break;
        if (ntr + nl > trcap) {
            size_t    ncap = (trcap ? trcap * 2 : 1024) + nl;
            triple_t *n = realloc(tr, ncap * sizeof(*n));
            if (n == NULL) {
                rc = VIGIL_ENOMEM;
                break;
            }
            tr = n;
            trcap = ncap;
        }
        for (size_t k = 0; k < nl; k++)
            tr[ntr++] = (triple_t){sym_index(syms, nsyms, ls[k].name),
                                   sym_index(syms, nsyms, ls[k].value), nwritten};
        nwritten++;
    }
    len[SEC_CHUNKS] = w.pos - off[SEC_CHUNKS];
    crc[SEC_CHUNKS] = w.crc;
    if (rc != 0) {
        rc = vigil_error_set(err, rc, "block %s: %s", tmp, vigil_strerror(rc));
        goto out_close;
    }

    /* Postings, from (name, value, series) triples sorted into groups. */
    if (ntr > 1) /* tr is NULL when no series had data */
        qsort(tr, ntr, sizeof(*tr), cmp_triple);
    for (size_t i = 0; i < ntr && rc == 0;) {
        size_t j = i;
        while (j < ntr && tr[j].name == tr[i].name && tr[j].value == tr[i].value)
            j++;
        unsigned char le[12];
        put_le(le, post.len, 8);
        rc = buf_append(&poffs, le, 8);
        put_le(le, tr[i].name, 4);
        put_le(le + 4, tr[i].value, 4);
        put_le(le + 8, j - i, 4);
        rc = rc ? rc : buf_append(&post, le, 12);
        for (; i < j && rc == 0; i++) {
            put_le(le, tr[i].series, 4);
            rc = buf_append(&post, le, 4);
        }
    }
    if (rc != 0) {
        rc = vigil_error_set(err, rc, "block %s: out of memory", tmp);
        goto out_close;
    }

    /* The remaining sections, each with its CRC. */
    off[SEC_SYMBOLS] = w.pos;
    w.crc = 0;
    for (size_t i = 0; i < nsyms; i++) {
        buf_t         one;
        unsigned char v[10];
        size_t        sl = strlen(syms[i]), k = 0;
        uint64_t      x = sl;
        (void)one;
        while (x >= 0x80) {
            v[k++] = (unsigned char)(x | 0x80);
            x >>= 7;
        }
        v[k++] = (unsigned char)x;
        bw_put(&w, v, k);
        bw_put(&w, syms[i], sl + 1); /* with its NUL */
    }
    len[SEC_SYMBOLS] = w.pos - off[SEC_SYMBOLS];
    crc[SEC_SYMBOLS] = w.crc;
    buf_t *rest[4] = {&series, &soffs, &post, &poffs};
    for (int k = 0; k < 4; k++) {
        off[SEC_SERIES + k] = w.pos;
        w.crc = 0;
        bw_put(&w, rest[k]->data ? rest[k]->data : "", rest[k]->len);
        len[SEC_SERIES + k] = w.pos - off[SEC_SERIES + k];
        crc[SEC_SERIES + k] = w.crc;
    }
    unsigned char toc[BLOCK_TOC];
    for (int k = 0; k < BLOCK_SECTIONS; k++) {
        put_le(toc + 20 * k, off[k], 8);
        put_le(toc + 20 * k + 8, len[k], 8);
        put_le(toc + 20 * k + 16, crc[k], 4);
    }
    if (data_mint < mint)
        mint = data_mint;
    memcpy(hdr, "VGBK", 4);
    hdr[4] = BLOCK_VERSION;
    put_le(hdr + 8, (uint64_t)mint, 8);
    put_le(hdr + 16, (uint64_t)maxt, 8);
    put_le(hdr + 24, nwritten, 4);
    put_le(hdr + 28, nsyms, 4);
    put_le(toc + BLOCK_TOC - 4, crc32c_update(crc32c(hdr, sizeof(hdr)), toc, BLOCK_TOC - 4), 4);
    bw_put(&w, toc, sizeof(toc));
    bw_flush(&w);

    if (w.err == 0 && pwrite(w.fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
        w.err = errno ? errno : EIO;
    if (w.err == 0 && fsync(w.fd) != 0)
        w.err = errno;
    if (w.err != 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "cannot write %s: %s", tmp, strerror(w.err));
        goto out_close;
    }
    if (nwritten == 0) { /* only out-of-range out-of-order data: no block */
        unlink(tmp);
        goto out_close;
    }
    /* A unique name: a merged block may cover the same range as one it replaces. */
    snprintf(path, sizeof(path), "%s/%lld-%lld.vblk", dir, (long long)mint, (long long)maxt);
    for (int k = 1; access(path, F_OK) == 0 && k < 1000; k++)
        snprintf(path, sizeof(path), "%s/%lld-%lld.%d.vblk", dir, (long long)mint,
                 (long long)maxt, k);
    if (rename(tmp, path) != 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "cannot rename %s: %s", tmp, strerror(errno));
        goto out_close;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        rc = vigil_error_set(err, VIGIL_EIO, "cannot sync %s: %s", dir, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    if (rc == 0 && nseries != NULL)
        *nseries = nwritten;
    if (rc == 0)
        snprintf(path_out, path_size, "%s", path);

out_close:
    close(w.fd);
    if (rc != 0)
        unlink(tmp);
out_free:
    free(tr);
    buf_free(&w.out);
    buf_free(&series);
    buf_free(&soffs);
    buf_free(&post);
    buf_free(&poffs);
    free(syms);
    return rc;
}


/* ---- sources: the head, and blocks being merged ------------------------------------------- */

typedef struct head_src {
    head_series_t **ss;   /* series with data older than maxt, in label order */
    int64_t         maxt;
    head_snap_t     snap; /* of the series being written */
} head_src_t;

static const tsdb_label_t *head_src_labels(void *ctx, size_t i, size_t *n)
{
    head_src_t *h = ctx;
    *n = h->ss[i]->nlabels;
    return h->ss[i]->labels;
}

static int head_src_open(void *ctx, size_t i, block_input_t *in)
{
    head_src_t *h = ctx;
    int         rc = head_snapshot(h->ss[i], INT64_MIN, h->maxt - 1, &h->snap);
    if (rc != 0)
        return rc;
    in->lists = in->lbuf;
    in->nlists = in->nbuf;
    in->lbuf[0] = h->snap.chunks;
    in->nbuf[0] = h->snap.nchunks;
    in->lbuf[1] = h->snap.ooo_chunks;
    in->nbuf[1] = h->snap.nooo_chunks;
    in->k = 2;
    in->extra = h->snap.ooo;
    in->nextra = h->snap.nooo;
    /* Head chunks hold up to 120 samples (cut small so replay re-encodes little): their
     * samples are encoded again into block-sized chunks. */
    in->copy = false;
    return 0;
}

static void head_src_close(void *ctx, size_t i, block_input_t *in)
{
    (void)i;
    (void)in;
    head_snap_free(&((head_src_t *)ctx)->snap);
}

int block_write(const char *dir, head_t *h, int64_t mint, int64_t maxt, char *path_out,
                size_t path_size, uint64_t *nseries, vigil_error_t *err)
{
    uint32_t   total = head_series_count(h);
    head_src_t hs = {.maxt = maxt};
    hs.ss = malloc((total ? total : 1) * sizeof(*hs.ss));
    if (hs.ss == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "block: out of memory");
    size_t ns = 0;
    for (uint32_t id = 0; id < total; id++) {
        head_series_t *s = head_series_by_id(h, id);
        if (s != NULL && head_series_overlaps(s, INT64_MIN, maxt - 1))
            hs.ss[ns++] = s;
    }
    if (ns > 1)
        qsort(hs.ss, ns, sizeof(*hs.ss), cmp_series_ptr);
    block_source_t src = {ns, head_src_labels, head_src_open, head_src_close, &hs};
    int            rc = write_block(dir, mint, maxt, &src, path_out, path_size, nseries, err);
    free(hs.ss);
    return rc;
}

typedef struct merge_item {
    tsdb_label_t *labels; /* owned; strings in a source block's mapping */
    size_t        nlabels;
    size_t        first, count; /* its (block, idx) pairs in merge_src_t.refs */
} merge_item_t;

typedef struct merge_ref {
    const tsdb_label_t *labels; /* borrowed from the item being sorted */
    size_t              nlabels;
    size_t              block;  /* position in the sources, ascending in time */
    uint32_t            idx;
    tsdb_label_t       *owned;
} merge_ref_t;

typedef struct merge_src {
    block_t      **blocks;
    size_t         nblocks;
    merge_ref_t   *refs;
    merge_item_t  *items;
    size_t         nitems;
    head_chunk_t **chunks; /* per source of the item being written */
} merge_src_t;

static int cmp_merge_ref(const void *a, const void *b)
{
    const merge_ref_t *x = a, *y = b;
    int                c = head_labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
    return c ? c : (x->block > y->block) - (x->block < y->block);
}

static const tsdb_label_t *merge_src_labels(void *ctx, size_t i, size_t *n)
{
    merge_src_t *m = ctx;
    *n = m->items[i].nlabels;
    return m->items[i].labels;
}

static int merge_src_open(void *ctx, size_t i, block_input_t *in)
{
    merge_src_t        *m = ctx;
    const merge_item_t *it = &m->items[i];
    in->lists = calloc(it->count, sizeof(*in->lists));
    in->nlists = calloc(it->count, sizeof(*in->nlists));
    if (in->lists == NULL || in->nlists == NULL)
        return VIGIL_ENOMEM;
    in->copy = true;
    int64_t last = INT64_MIN;
    for (size_t k = 0; k < it->count; k++) {
        const merge_ref_t *r = &m->refs[it->first + k];
        head_chunk_t      *cs;
        size_t             nc;
        int rc = block_series_chunks(m->blocks[r->block], r->idx, INT64_MIN, INT64_MAX, &cs, &nc);
        if (rc != 0)
            return rc;
        in->lists[k] = cs;
        in->nlists[k] = nc;
        in->k = k + 1;
        /* Blocks of one window normally follow each other in time: chunks are then copied.
         * Overlaps (a crash between a merge and the deletion of its sources) are merged. */
        for (size_t c = 0; c < nc; c++) {
            if (cs[c].mint <= last)
                in->copy = false;
            last = cs[c].maxt;
        }
    }
    return 0;
}

static void merge_src_close(void *ctx, size_t i, block_input_t *in)
{
    (void)ctx;
    (void)i;
    for (size_t k = 0; k < in->k; k++)
        free((void *)(uintptr_t)in->lists[k]);
    free(in->lists);
    free(in->nlists);
}

int block_merge(const char *dir, block_t *const *blocks, size_t n, char *path_out,
                size_t path_size, uint64_t *nseries, vigil_error_t *err)
{
    merge_src_t m = {.blocks = (block_t **)(uintptr_t)blocks, .nblocks = n};
    size_t      total = 0, nr = 0;
    int64_t     mint = INT64_MAX, maxt = INT64_MIN;
    for (size_t b = 0; b < n; b++) {
        total += block_nseries(blocks[b]);
        if (block_mint(blocks[b]) < mint)
            mint = block_mint(blocks[b]);
        if (block_maxt(blocks[b]) > maxt)
            maxt = block_maxt(blocks[b]);
    }
    m.refs = calloc(total ? total : 1, sizeof(*m.refs));
    m.items = calloc(total ? total : 1, sizeof(*m.items));
    int rc = m.refs == NULL || m.items == NULL ? VIGIL_ENOMEM : 0;
    for (size_t b = 0; rc == 0 && b < n; b++)
        for (uint32_t i = 0; rc == 0 && i < block_nseries(blocks[b]); i++) {
            merge_ref_t *r = &m.refs[nr];
            r->block = b;
            r->idx = i;
            if ((rc = block_series_labels(blocks[b], i, &r->owned, &r->nlabels)) == 0) {
                r->labels = r->owned;
                nr++;
            }
        }
    if (rc == 0 && nr > 1)
        qsort(m.refs, nr, sizeof(*m.refs), cmp_merge_ref);
    for (size_t i = 0; rc == 0 && i < nr;) {
        size_t j = i + 1;
        while (j < nr && head_labels_cmp(m.refs[i].labels, m.refs[i].nlabels, m.refs[j].labels,
                                         m.refs[j].nlabels) == 0)
            j++;
        m.items[m.nitems++] = (merge_item_t){m.refs[i].owned, m.refs[i].nlabels, i, j - i};
        i = j;
    }
    if (rc == 0) {
        block_source_t src = {m.nitems, merge_src_labels, merge_src_open, merge_src_close, &m};
        rc = write_block(dir, mint, maxt, &src, path_out, path_size, nseries, err);
    } else {
        rc = vigil_error_set(err, rc, "block merge: %s", vigil_strerror(rc));
    }
    for (size_t i = 0; i < nr; i++)
        free(m.refs[i].owned);
    free(m.refs);
    free(m.items);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------ */

static void block_free(block_t *b)
{
    if (b->map != NULL)
        munmap((void *)(uintptr_t)b->map, b->size);
    free(b->syms);
    free(b->path);
    free(b);
}

int block_open(block_t **out, const char *path, vigil_error_t *err)
{
    block_t *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->path = strdup(path)) == NULL) {
        free(b);
        return vigil_error_set(err, VIGIL_ENOMEM, "block: out of memory");
    }
    atomic_init(&b->refs, 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        block_free(b);
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(e));
    }
    b->size = (size_t)st.st_size;
    const char *why = NULL;
    if (b->size < BLOCK_HEADER + BLOCK_TOC) {
        why = "shorter than a header and table of contents";
    } else {
        void *m = mmap(NULL, b->size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            block_free(b);
            return vigil_error_set(err, VIGIL_EIO, "cannot map %s: %s", path, strerror(e));
        }
        b->map = m;
    }
    close(fd);
    const uint8_t *p = b->map;
    if (why == NULL && (memcmp(p, "VGBK", 4) != 0 || p[4] != BLOCK_VERSION))
        why = "bad magic or version";
    /* Short files were refused above and have no mapping: no pointer arithmetic on NULL. */
    const uint8_t *toc = why == NULL ? p + b->size - BLOCK_TOC : NULL;
    if (why == NULL && get_le(toc + BLOCK_TOC - 4, 4) !=
                           crc32c_update(crc32c(p, BLOCK_HEADER), toc, BLOCK_TOC - 4))
        why = "header or table of contents checksum mismatch";
    uint64_t prev_end = BLOCK_HEADER;
    for (int k = 0; why == NULL && k < BLOCK_SECTIONS; k++) {
        b->off[k] = get_le(toc + 20 * k, 8);
        b->len[k] = get_le(toc + 20 * k + 8, 8);
        if (b->off[k] != prev_end || b->len[k] > b->size - BLOCK_TOC - b->off[k])
            why = "section outside the file";
        else if (crc32c(p + b->off[k], b->len[k]) != (uint32_t)get_le(toc + 20 * k + 16, 4))
            why = "section checksum mismatch";
        prev_end = b->off[k] + b->len[k];
    }
    if (why == NULL) {
        b->mint = (int64_t)get_le(p + 8, 8);
        b->maxt = (int64_t)get_le(p + 16, 8);
        b->nseries = (uint32_t)get_le(p + 24, 4);
        b->nsymbols = (uint32_t)get_le(p + 28, 4);
        /* A symbol takes at least 2 bytes (its length and its NUL): a larger count is a lie that
         * would size the pointer array below from the header alone (found by fuzzing). */
        if (b->len[SEC_SERIES_OFFS] != (uint64_t)b->nseries * 8 || b->len[SEC_POST_OFFS] % 8 != 0 ||
            b->nsymbols > b->len[SEC_SYMBOLS] / 2)
            why = "table sizes disagree with the header";
        b->npairs = (uint32_t)(b->len[SEC_POST_OFFS] / 8);
    }
    if (why == NULL) {
        b->syms = malloc((b->nsymbols ? b->nsymbols : 1) * sizeof(char *));
        if (b->syms == NULL) {
            block_free(b);
            return vigil_error_set(err, VIGIL_ENOMEM, "block: out of memory");
        }
        const uint8_t *s = p + b->off[SEC_SYMBOLS], *end = s + b->len[SEC_SYMBOLS];
        for (uint32_t i = 0; why == NULL && i < b->nsymbols; i++) {
            uint64_t sl;
            if (!record_get_uvarint(&s, end, &sl) || sl >= (uint64_t)(end - s) || s[sl] != 0 ||
                memchr(s, 0, sl) != NULL)
                why = "malformed symbol table";
            else {
                b->syms[i] = (const char *)s;
                s += sl + 1;
            }
        }
    }
    if (why != NULL) {
        block_free(b);
        return vigil_error_set(err, VIGIL_EPARSE, "block %s: %s", path, why);
    }
    *out = b;
    return 0;
}

void block_ref(block_t *b)
{
    atomic_fetch_add(&b->refs, 1);
}

void block_unref(block_t *b)
{
    if (b == NULL || atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    if (atomic_load(&b->doomed))
        unlink(b->path);
    block_free(b);
}

void block_delete_on_last_unref(block_t *b)
{
    atomic_store(&b->doomed, true);
}

int64_t block_mint(const block_t *b) { return b->mint; }
int64_t block_maxt(const block_t *b) { return b->maxt; }
uint32_t block_nseries(const block_t *b) { return b->nseries; }
uint64_t block_bytes(const block_t *b) { return b->size; }
const char *block_path(const block_t *b) { return b->path; }

/* The postings pair at index i: name, value, count and where its ids start (bounds-checked). */
static bool pair_at(const block_t *b, uint32_t i, uint32_t *name, uint32_t *value,
                    uint32_t *count, const uint8_t **ids)
{
    uint64_t o = get_le(b->map + b->off[SEC_POST_OFFS] + 8 * (uint64_t)i, 8);
    if (o > b->len[SEC_POSTINGS] || b->len[SEC_POSTINGS] - o < 12)
        return false;
    const uint8_t *p = b->map + b->off[SEC_POSTINGS] + o;
    *name = (uint32_t)get_le(p, 4);
    *value = (uint32_t)get_le(p + 4, 4);
    *count = (uint32_t)get_le(p + 8, 4);
    if ((b->len[SEC_POSTINGS] - o - 12) / 4 < *count || *name >= b->nsymbols ||
        *value >= b->nsymbols)
        return false;
    *ids = p + 12;
    return true;
}

/* Symbol index of s, or UINT32_MAX. */
static uint32_t find_sym(const block_t *b, const char *s)
{
    size_t lo = 0, hi = b->nsymbols;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int    c = strcmp(b->syms[mid], s);
        if (c == 0)
            return (uint32_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return UINT32_MAX;
}

/* First pair index whose name symbol is >= name. */
static uint32_t first_pair(const block_t *b, uint32_t name)
{
    uint32_t lo = 0, hi = b->npairs;
    while (lo < hi) {
        uint32_t       mid = lo + (hi - lo) / 2, nm, v, c;
        const uint8_t *ids;
        if (!pair_at(b, mid, &nm, &v, &c, &ids) || nm >= name)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Union of the series of every value of m->name for which the matcher says `want`. */
static int block_union(const block_t *b, const matcher_t *m, bool want, idset_t *out)
{
    out->ids = NULL;
    out->len = 0;
    uint32_t ns = find_sym(b, m->name);
    if (ns == UINT32_MAX)
        return 0;
    size_t total = 0, lists = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (total == 0)
                return 0;
            out->ids = malloc(total * sizeof(uint32_t));
            if (out->ids == NULL)
                return VIGIL_ENOMEM;
        }
        for (uint32_t i = first_pair(b, ns); i < b->npairs; i++) {
            uint32_t       nm, v, c;
            const uint8_t *ids;
            if (!pair_at(b, i, &nm, &v, &c, &ids) || nm != ns)
                break;
            if (matcher_matches(m, b->syms[v]) != want)
                continue;
            if (pass == 0) {
                total += c;
                lists++;
                continue;
            }
            for (uint32_t k = 0; k < c; k++) {
                uint32_t id = (uint32_t)get_le(ids + 4 * k, 4);
                if (id < b->nseries)
                    out->ids[out->len++] = id;
            }
        }
    }
    if (lists > 1)
        idset_sort(out);
    return 0;
}

int block_select(block_t *b, const matcher_t *ms, size_t n, uint32_t **out, size_t *nout)
{
    idset_t acc = {NULL, 0};
    bool    have = false;
    int     rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (ms[i].matches_empty)
            continue;
        idset_t s;
        if ((rc = block_union(b, &ms[i], true, &s)) != 0)
            break;
        if (!have) {
            acc = s;
            have = true;
        } else {
            idset_intersect(&acc, &s);
            free(s.ids);
        }
        if (acc.len == 0)
            break;
    }
    if (rc == 0 && !have) {
        acc.ids = malloc((b->nseries ? b->nseries : 1) * sizeof(uint32_t));
        if (acc.ids == NULL)
            rc = VIGIL_ENOMEM;
        for (uint32_t i = 0; rc == 0 && i < b->nseries; i++)
            acc.ids[i] = i;
        acc.len = rc == 0 ? b->nseries : 0;
    }
    for (size_t i = 0; i < n && rc == 0 && acc.len > 0; i++) {
        if (!ms[i].matches_empty)
            continue;
        idset_t s;
        if ((rc = block_union(b, &ms[i], false, &s)) == 0)
            idset_subtract(&acc, &s);
        free(s.ids);
    }
    if (rc != 0) {
        free(acc.ids);
        return rc;
    }
    *out = acc.ids;
    *nout = acc.len;
    return 0;
}

/* Start of series idx's entry, bounds-checked. */
static const uint8_t *series_at(const block_t *b, uint32_t idx, const uint8_t **end)
{
    if (idx >= b->nseries)
        return NULL;
    uint64_t o = get_le(b->map + b->off[SEC_SERIES_OFFS] + 8 * (uint64_t)idx, 8);
    if (o >= b->len[SEC_SERIES])
        return NULL;
    *end = b->map + b->off[SEC_SERIES] + b->len[SEC_SERIES];
    return b->map + b->off[SEC_SERIES] + o;
}

int block_series_labels(const block_t *b, uint32_t idx, tsdb_label_t **out, size_t *n)
{
    const uint8_t *end, *p = series_at(b, idx, &end);
    uint64_t       nl;
    if (p == NULL || !record_get_uvarint(&p, end, &nl) || nl > 4096)
        return VIGIL_EPARSE;
    tsdb_label_t *ls = malloc((nl ? nl : 1) * sizeof(*ls));
    if (ls == NULL)
        return VIGIL_ENOMEM;
    for (uint64_t i = 0; i < nl; i++) {
        uint64_t a, v;
        if (!record_get_uvarint(&p, end, &a) || !record_get_uvarint(&p, end, &v) ||
            a >= b->nsymbols || v >= b->nsymbols) {
            free(ls);
            return VIGIL_EPARSE;
        }
        ls[i] = (tsdb_label_t){b->syms[a], b->syms[v]};
    }
    *out = ls;
    *n = nl;
    return 0;
}

int block_series_chunks(const block_t *b, uint32_t idx, int64_t mint, int64_t maxt,
                        head_chunk_t **out, size_t *n)
{
    const uint8_t *end, *p = series_at(b, idx, &end);
    uint64_t       nl, nc, x;
    if (p == NULL || !record_get_uvarint(&p, end, &nl))
        return VIGIL_EPARSE;
    for (uint64_t i = 0; i < 2 * nl; i++)
        if (!record_get_uvarint(&p, end, &x))
            return VIGIL_EPARSE;
    if (!record_get_uvarint(&p, end, &nc) || nc > b->len[SEC_CHUNKS])
        return VIGIL_EPARSE;
    head_chunk_t *cs = malloc((nc ? nc : 1) * sizeof(*cs));
    if (cs == NULL)
        return VIGIL_ENOMEM;
    size_t k = 0;
    for (uint64_t i = 0; i < nc; i++) {
        uint64_t zz, dur, off, len;
        if (!record_get_uvarint(&p, end, &zz) || !record_get_uvarint(&p, end, &dur) ||
            !record_get_uvarint(&p, end, &off) || !record_get_uvarint(&p, end, &len) ||
            off > b->len[SEC_CHUNKS] || len > b->len[SEC_CHUNKS] - off) {
            free(cs);
            return VIGIL_EPARSE;
        }
        uint64_t um = (zz >> 1) ^ (~(zz & 1) + 1), ux = um + dur;
        int64_t  cmint, cmaxt;
        memcpy(&cmint, &um, 8);
        memcpy(&cmaxt, &ux, 8);
        if (cmaxt < mint || cmint > maxt)
            continue;
        const uint8_t *data = b->map + b->off[SEC_CHUNKS] + off;
        cs[k++] = (head_chunk_t){.mint = cmint, .maxt = cmaxt, .data = (uint8_t *)(uintptr_t)data,
                                 .len = (uint32_t)len, .count = chunk_count(data, len)};
    }
    *out = cs;
    *n = k;
    return 0;
}

static int push(const char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t       nc = *cap ? *cap * 2 : 64;
        const char **nv = realloc(*v, nc * sizeof(*nv));
        if (nv == NULL)
            return VIGIL_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = s;
    return 0;
}

int block_label_names(const block_t *b, const char ***v, size_t *n, size_t *cap)
{
    uint32_t last = UINT32_MAX;
    for (uint32_t i = 0; i < b->npairs; i++) {
        uint32_t       nm, val, c;
        const uint8_t *ids;
        if (!pair_at(b, i, &nm, &val, &c, &ids))
            return VIGIL_EPARSE;
        if (nm != last && push(v, n, cap, b->syms[nm]) != 0)
            return VIGIL_ENOMEM;
        last = nm;
    }
    return 0;
}

int block_label_values(const block_t *b, const char *name, const char ***v, size_t *n,
                       size_t *cap)
{
    uint32_t ns = find_sym(b, name);
    if (ns == UINT32_MAX)
        return 0;
    for (uint32_t i = first_pair(b, ns); i < b->npairs; i++) {
        uint32_t       nm, val, c;
        const uint8_t *ids;
        if (!pair_at(b, i, &nm, &val, &c, &ids) || nm != ns)
            break;
        if (push(v, n, cap, b->syms[val]) != 0)
            return VIGIL_ENOMEM;
    }
    return 0;
}
