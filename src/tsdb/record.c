/*
 * record.c - WAL record payloads (the format is specified in docs/format/wal.md and
 * summarised at the top of wal.c):
 *
 *   series (type 1):  uvarint count, count × { uvarint ref, uvarint nlabels,
 *                                              nlabels × { uvarint len, name, uvarint len, value } }
 *   samples (types 2 and 5): uvarint count, varint base_t,
 *                     count × { uvarint ref, varint (t - base_t), 8-byte LE IEEE 754 value }
 *   chunk (type 4):   uvarint ref, flags byte, varint maxt, varint prev_maxt, chunk bytes
 */
#include "tsdb/record.h"

#include "tsdb/chunk.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LABELS_IN_RECORD 4096 /* far above any sane limit; bounds the decoder's scratch */

int record_put_uvarint(buf_t *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t        n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    return buf_append(b, tmp, n);
}

static int put_varint(buf_t *b, int64_t v)
{
    return record_put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

bool record_get_uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t c = *(*p)++;
        if (shift == 63 && c > 1)
            return false; /* more than 64 bits */
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

static bool get_varint(const uint8_t **p, const uint8_t *end, int64_t *v)
{
    uint64_t u;
    if (!record_get_uvarint(p, end, &u))
        return false;
    uint64_t s = (u >> 1) ^ (~(u & 1) + 1);
    memcpy(v, &s, sizeof(s));
    return true;
}

static int put_str(buf_t *b, const char *s)
{
    size_t n = strlen(s);
    int    rc = record_put_uvarint(b, n);
    return rc ? rc : buf_append(b, s, n);
}

int record_encode_series(buf_t *b, uint64_t ref, const tsdb_label_t *ls, size_t n)
{
    int rc = record_put_uvarint(b, 1);
    rc = rc ? rc : record_put_uvarint(b, ref);
    rc = rc ? rc : record_put_uvarint(b, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = put_str(b, ls[i].name);
        rc = rc ? rc : put_str(b, ls[i].value);
    }
    return rc;
}

int record_encode_samples(buf_t *b, const rec_sample_t *s, size_t n)
{
    int rc = record_put_uvarint(b, n);
    if (n == 0 || rc != 0)
        return rc;
    int64_t base = s[0].t;
    rc = put_varint(b, base);
    /* One reservation for the worst case keeps the loop free of error paths that matter. */
    rc = rc ? rc : buf_reserve(b, n * 28);
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t bits, d = (uint64_t)s[i].t - (uint64_t)base;
        int64_t  sd;
        memcpy(&sd, &d, sizeof(sd));
        memcpy(&bits, &s[i].v, sizeof(bits));
        unsigned char le[8];
        for (int k = 0; k < 8; k++)
            le[k] = (unsigned char)(bits >> (8 * k));
        rc = record_put_uvarint(b, s[i].ref);
        rc = rc ? rc : put_varint(b, sd);
        rc = rc ? rc : buf_append(b, le, 8);
    }
    return rc;
}

int record_decode_series(const uint8_t *p, size_t len, record_series_fn fn, void *ctx)
{
    const uint8_t *end = p + len;
    uint64_t       count;
    if (!record_get_uvarint(&p, end, &count))
        return VIGIL_EPARSE;
    tsdb_label_t *ls = NULL;
    char         *scratch = malloc(len + 1); /* every string fits, with room for NULs */
    int           rc = scratch == NULL ? VIGIL_ENOMEM : 0;
    size_t        lcap = 0;
    for (uint64_t i = 0; i < count && rc == 0; i++) {
        uint64_t ref, nl;
        if (!record_get_uvarint(&p, end, &ref) || !record_get_uvarint(&p, end, &nl) ||
            nl > MAX_LABELS_IN_RECORD) {
            rc = VIGIL_EPARSE;
            break;
        }
        if (nl > lcap) {
            tsdb_label_t *n = realloc(ls, nl * sizeof(*n));
            if (n == NULL) {
                rc = VIGIL_ENOMEM;
                break;
            }
            ls = n;
            lcap = nl;
        }
        char *w = scratch;
        for (uint64_t k = 0; k < 2 * nl && rc == 0; k++) {
            uint64_t sl;
            if (!record_get_uvarint(&p, end, &sl) || sl > (uint64_t)(end - p)) {
                rc = VIGIL_EPARSE;
                break;
            }
            memcpy(w, p, sl);
            w[sl] = '\0';
            if (strlen(w) != sl) /* an embedded NUL would silently shorten a label */
                rc = VIGIL_EPARSE;
            if (k % 2 == 0)
                ls[k / 2].name = w;
            else
                ls[k / 2].value = w;
            w += sl + 1;
            p += sl;
        }
        if (rc == 0)
            rc = fn(ctx, ref, ls, nl);
    }
    if (rc == 0 && p != end)
        rc = VIGIL_EPARSE;
    free(ls);
    free(scratch);
    return rc;
}

/* record_get_uvarint for the hot loop: when ten bytes remain (the longest varint) the bytes
 * need no bounds checks, and the call is inlined; otherwise the checked version. Replay
 * decodes two varints a sample, and the checked call was a sixth of its decoding time. */
static inline bool get_uvarint_fast(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *q = *p;
    if (end - q < 10)
        return record_get_uvarint(p, end, v);
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t c = *q++;
        if (shift == 63 && c > 1)
            return false; /* more than 64 bits */
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *p = q;
            *v = r;
            return true;
        }
    }
    return false;
}

int record_decode_samples(const uint8_t *p, size_t len, rec_sample_t **out, size_t *cap,
                          size_t *n)
{
    const uint8_t *end = p + len;
    uint64_t       count;
    int64_t        base = 0;
    *n = 0;
    if (!record_get_uvarint(&p, end, &count))
        return VIGIL_EPARSE;
    if (count == 0)
        return p == end ? 0 : VIGIL_EPARSE;
    if (count > len / 10 || !get_varint(&p, end, &base)) /* a sample takes >= 10 bytes */
        return VIGIL_EPARSE;
    if (count > *cap) {
        rec_sample_t *ns = realloc(*out, count * sizeof(*ns));
        if (ns == NULL)
            return VIGIL_ENOMEM;
        *out = ns;
        *cap = count;
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t ref;
        int64_t  d;
        uint64_t zz;
        if (!get_uvarint_fast(&p, end, &ref) || !get_uvarint_fast(&p, end, &zz) || end - p < 8)
            return VIGIL_EPARSE;
        uint64_t sd = (zz >> 1) ^ (~(zz & 1) + 1); /* zigzag, as get_varint */
        memcpy(&d, &sd, sizeof(sd));
        uint64_t bits = 0;
        for (int k = 0; k < 8; k++)
            bits |= (uint64_t)p[k] << (8 * k);
        p += 8;
        rec_sample_t *s = &(*out)[i];
        s->ref = ref;
        uint64_t t = (uint64_t)base + (uint64_t)d;
        memcpy(&s->t, &t, sizeof(t));
        memcpy(&s->v, &bits, sizeof(bits));
    }
    if (p != end)
        return VIGIL_EPARSE;
    *n = count;
    return 0;
}

int record_encode_chunk(buf_t *b, const rec_chunk_t *c)
{
    int rc = record_put_uvarint(b, c->ref);
    rc = rc ? rc : buf_append(b, &c->flags, 1);
    rc = rc ? rc : put_varint(b, c->maxt);
    rc = rc ? rc : put_varint(b, c->prev_maxt);
    return rc ? rc : buf_append(b, c->data, c->len);
}

int record_decode_chunk(const uint8_t *p, size_t len, rec_chunk_t *out)
{
    const uint8_t *end = p + len;
    if (!record_get_uvarint(&p, end, &out->ref) || out->ref == 0 || p >= end)
        return VIGIL_EPARSE;
    out->flags = *p++;
    if (!get_varint(&p, end, &out->maxt) || !get_varint(&p, end, &out->prev_maxt))
        return VIGIL_EPARSE;
    out->data = p;
    out->len = (size_t)(end - p);
    out->count = chunk_count(p, out->len);
    /* The first sample's timestamp: the bit stream's first 64 bits, big-endian. */
    if (out->count == 0 || out->len < CHUNK_HEADER_BYTES + 16)
        return VIGIL_EPARSE;
    uint64_t t0 = 0;
    for (int i = 0; i < 8; i++)
        t0 = t0 << 8 | p[CHUNK_HEADER_BYTES + i];
    memcpy(&out->mint, &t0, sizeof(t0));
    chunk_iter_t it;
    if (chunk_iter_init(&it, out->data, out->len) != 0 || out->mint > out->maxt ||
        (out->count == 1 && out->mint != out->maxt) || out->prev_maxt >= out->mint)
        return VIGIL_EPARSE;
    return 0;
}
