/*
 * chunk.c - sample chunk encoding, version 2 (the full specification is
 * docs/format/chunks.md; this is its summary, kept in step with the code). Version 1 chunks
 * (the same without repeat runs) are still read: blocks and checkpoints written before hold
 * them.
 *
 *   byte 0      encoding = 0x02 (0x01: version 1)
 *   bytes 1-2   sample count, uint16 big-endian
 *   bytes 3..   bit stream, most significant bit first, zero padded
 *
 * Sample 0: t as 64 raw bits, v as 64 raw IEEE 754 bits. Then per sample:
 *   timestamp: delta-of-delta (mod 2^64) in buckets
 *              0 | 10+3 | 110+7 | 1110+14 | 11110+20 | 111110+32 | 111111+64 bits
 *   value:     0                     same bits as the previous value
 *              10  + int bucket      decimal: m' = m + dm + dod, v = m' / 10^e
 *              110 + bits            Gorilla XOR inside the current window
 *              1110 + 5 + 6 + bits   Gorilla XOR with a new window (lead, len-1)
 *              1111 + 4 + int bucket new exponent e': m0 = llrint(prev * 10^e'), m' = m0 + d
 *   int bucket: 0 | 10+4 | 110+8 | 1110+12 | 11110+16 | 111110+24 | 111111+64 bits
 *               (two's complement)
 *   repeat run (version 2): after a sample coded timestamp 0 and value 0 (an exact repeat:
 *              same interval, same value) comes the number r of further exact repeats,
 *              0 | 10+2 (1..4) | 110+4 (5..20) | 1110+8 (21..276) | 1111+16 (277..65812);
 *              those r samples have no bits of their own.
 *
 * Why decimal: host metrics are mostly integers (bytes, packets) or decimal fractions
 * (/proc/stat centiseconds as seconds). XOR of such doubles flips tens of mantissa bits per
 * sample, while the delta-of-delta of the decimal integer is usually 0 or tiny. A value takes
 * the decimal path only when dividing the integer back gives exactly its bits, so the path
 * is lossless for every double; NaN payloads, infinities and -0.0 always go through XOR.
 *
 * Why runs: in an hour of a real host's metrics (bench/data/) 71 % of samples repeat the
 * previous one exactly (constant gauges, idle counters), in runs of 10.5 on average (scrape
 * jitter breaks them). Version 1 spent 2 bits on each; a run costs 2 bits plus its length.
 * The writer keeps the open run's length field at the very end of the stream and rewrites it
 * in place as the run grows, so the chunk is complete and readable after every append.
 */
#include "tsdb/chunk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Exact powers of ten (all exactly representable in binary64 up to 1e22). */
static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/* Field widths of the buckets (the last one holds any 64-bit value). Bucket i is written as i
 * one bits and a zero, the last as BUCKETS-1 one bits. */
#define BUCKETS 7
static const uint8_t ts_widths[BUCKETS]  = {0, 3, 7, 14, 20, 32, 64};
static const uint8_t val_widths[BUCKETS] = {0, 4, 8, 12, 16, 24, 64};

#define MAX_SAMPLE_BITS 160 /* 5+64 timestamp + 4+4+5+64 worst value, rounded up */
#define TWO53           9007199254740992.0

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

/* Two's complement reinterpretation without implementation-defined conversions. */
static int64_t u2i(uint64_t u)
{
    int64_t i;
    memcpy(&i, &u, sizeof(i));
    return i;
}

/* m such that (double)m / 10^e has exactly the bits of v, if there is one. */
static bool dec_of(double v, unsigned e, int64_t *m)
{
    double x = v * p10[e];
    if (!(fabs(x) <= TWO53)) /* also false for NaN and infinities */
        return false;
    int64_t mi = (int64_t)llrint(x);
    if (dbits((double)mi / p10[e]) != dbits(v))
        return false;
    *m = mi;
    return true;
}

/* Index of the smallest bucket that holds x. */
static unsigned bucket_of(int64_t x, const uint8_t *widths)
{
    for (unsigned i = 0; i < BUCKETS - 1; i++) {
        unsigned w = widths[i];
        if (w == 0 ? x == 0 : (x >= -(INT64_C(1) << (w - 1)) && x < (INT64_C(1) << (w - 1))))
            return i;
    }
    return BUCKETS - 1;
}

static unsigned bucket_cost(int64_t x, const uint8_t *widths)
{
    unsigned i = bucket_of(x, widths);
    return (i < BUCKETS - 1 ? i + 1 : BUCKETS - 1) + widths[i];
}

/* ---- bit writer ------------------------------------------------------------------------- */

/* A 64-bit word between host and big-endian (stream) order. */
static uint64_t be64(uint64_t w)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap64(w);
#else
    return w;
#endif
}

/* Writes the low n bits of v (n <= 64), most significant first. buf must be zero there. */
static void put_bits(chunk_appender_t *a, uint64_t v, unsigned n)
{
    if (n < 64)
        v &= (UINT64_C(1) << n) - 1;
    uint8_t *p = a->buf + CHUNK_HEADER_BYTES;
    /* Fast path: OR the bits into the big-endian 64-bit word at their first byte, when they
     * fit in it (offset + n <= 64) and the word lies inside the buffer; byte by byte
     * otherwise. WAL replay spends most of its time here, a few bits at a time. */
    size_t   first = a->nbits >> 3;
    unsigned off = a->nbits & 7;
    if (n > 0 && off + n <= 64 && CHUNK_HEADER_BYTES + first + 8 <= a->cap) {
        uint64_t w;
        memcpy(&w, p + first, 8);
        w = be64(be64(w) | v << (64 - off - n));
        memcpy(p + first, &w, 8);
        a->nbits += n;
        return;
    }
    while (n > 0) {
        size_t   byte = a->nbits >> 3;
        unsigned room = 8 - (unsigned)(a->nbits & 7);
        unsigned take = n < room ? n : room;
        unsigned bits = (unsigned)(v >> (n - take)) & ((1u << take) - 1);
        p[byte] |= (uint8_t)(bits << (room - take));
        n -= take;
        a->nbits += take;
    }
}

static void put_bucket(chunk_appender_t *a, int64_t x, const uint8_t *widths)
{
    unsigned i = bucket_of(x, widths);
    if (i < BUCKETS - 1)
        put_bits(a, ((UINT64_C(1) << i) - 1) << 1, i + 1); /* i ones then a zero */
    else
        put_bits(a, (UINT64_C(1) << (BUCKETS - 1)) - 1, BUCKETS - 1);
    if (widths[i] > 0)
        put_bits(a, (uint64_t)x, widths[i]);
}

/* Repeat-run length buckets: bucket i (i ones then a zero, the last 4 ones alone) holds
 * run_base[i] .. run_base[i] + 2^run_widths[i] - 1. */
#define RUN_BUCKETS 5
static const uint8_t  run_widths[RUN_BUCKETS] = {0, 2, 4, 8, 16};
static const uint32_t run_base[RUN_BUCKETS] = {0, 1, 5, 21, 277};

static void put_run(chunk_appender_t *a, uint32_t r)
{
    unsigned i = 0;
    while (i < RUN_BUCKETS - 1 && r >= run_base[i + 1])
        i++;
    if (i < RUN_BUCKETS - 1)
        put_bits(a, ((UINT64_C(1) << i) - 1) << 1, i + 1);
    else
        put_bits(a, (UINT64_C(1) << (RUN_BUCKETS - 1)) - 1, RUN_BUCKETS - 1);
    if (run_widths[i] > 0)
        put_bits(a, r - run_base[i], run_widths[i]);
}

/* Zeroes the bit stream from bit `pos` to its end and makes `pos` the end: put_bits ORs, so
 * rewriting the run field in place needs clean bits under it. */
static void truncate_bits(chunk_appender_t *a, size_t pos)
{
    uint8_t *p = a->buf + CHUNK_HEADER_BYTES;
    size_t   end = ((size_t)a->nbits + 7) / 8, byte = pos >> 3;
    if (pos & 7) {
        p[byte] &= (uint8_t)(0xff00u >> (pos & 7));
        byte++;
    }
    if (end > byte)
        memset(p + byte, 0, end - byte);
    a->nbits = (uint32_t)pos;
}

/* Makes room for one more sample; the new bytes are zeroed because put_bits ORs into them.
 * Grows by half (rounded to 16 bytes) rather than doubling: every head series holds an open
 * chunk, and doubling left a third of those buffers unused on average (memory per series is
 * one of the store's goals); the extra reallocations are a few per 1 KiB chunk. */
static int reserve(chunk_appender_t *a)
{
    size_t need = CHUNK_HEADER_BYTES + ((size_t)a->nbits + MAX_SAMPLE_BITS + 7) / 8;
    if (need <= a->cap)
        return 0;
    size_t ncap = a->cap ? (size_t)a->cap + a->cap / 2 : 32;
    if (ncap < need)
        ncap = need;
    ncap = (ncap + 15) & ~(size_t)15;
    uint8_t *nb = realloc(a->buf, ncap);
    if (nb == NULL)
        return VIGIL_ENOMEM;
    memset(nb + a->cap, 0, ncap - a->cap);
    a->buf = nb;
    a->cap = (uint32_t)ncap;
    return 0;
}

void chunk_appender_init(chunk_appender_t *a)
{
    memset(a, 0, sizeof(*a));
}

void chunk_appender_free(chunk_appender_t *a)
{
    free(a->buf);
    chunk_appender_init(a);
}

/* Cost in bits of XOR-coding `x` (non-zero) given the current window. */
static unsigned xor_cost(const chunk_appender_t *a, uint64_t x, unsigned *lead, unsigned *trail,
                         bool *reuse)
{
    unsigned l = (unsigned)__builtin_clzll(x), tr = (unsigned)__builtin_ctzll(x);
    if (l > 31)
        l = 31;
    *lead = l;
    *trail = tr;
    *reuse = a->win_valid && l >= a->lead && tr >= a->trail;
    unsigned fresh = 4 + 5 + 6 + (64 - l - tr);
    if (*reuse) {
        unsigned cost = 3 + (64u - a->lead - a->trail);
        if (cost <= fresh)
            return cost;
        *reuse = false;
    }
    return fresh;
}

static void put_value(chunk_appender_t *a, double v)
{
    uint64_t b = dbits(v);
    if (b == a->vbits) {
        put_bits(a, 0, 1);
        a->dm = 0;
        return;
    }
    unsigned lead, trail;
    bool     reuse;
    unsigned best = xor_cost(a, b ^ a->vbits, &lead, &trail, &reuse);
    int      choice = 0; /* 0 XOR, 1 decimal with current e, 2 new exponent */
    int64_t  m2 = 0, arg = 0;
    unsigned ne = 0;

    if (a->dec_valid && dec_of(v, a->e, &m2)) {
        int64_t  dod = m2 - a->m - a->dm;
        unsigned cost = 2 + bucket_cost(dod, val_widths);
        if (cost <= best) {
            best = cost;
            choice = 1;
            arg = dod;
        }
    }
    /* The exponent search costs up to 16 divisions; after repeated misses (random floats) it
     * runs only every 32nd sample, which keeps appends fast without changing the format. */
    if (choice == 0 && (a->dec_miss < 8 || (a->count & 31) == 0)) {
        bool found = false;
        for (unsigned e = 0; e < 16 && !found; e++) {
            int64_t mv, mp;
            if (dec_of(v, e, &mv) && dec_of(bitsd(a->vbits), e, &mp)) {
                found = true;
                unsigned cost = 8 + bucket_cost(mv - mp, val_widths);
                if (cost <= best) {
                    best = cost;
                    choice = 2;
                    ne = e;
                    m2 = mv;
                    arg = mv - mp;
                }
            }
        }
        a->dec_miss = found ? 0 : (uint8_t)(a->dec_miss < 255 ? a->dec_miss + 1 : 255);
    }

    switch (choice) {
    case 1:
        put_bits(a, 2, 2);
        put_bucket(a, arg, val_widths);
        a->dm = m2 - a->m;
        a->m = m2;
        break;
    case 2:
        put_bits(a, 0xf, 4);
        put_bits(a, ne, 4);
        put_bucket(a, arg, val_widths);
        a->dec_valid = true;
        a->e = (uint8_t)ne;
        a->dm = arg;
        a->m = m2;
        break;
    default: {
        uint64_t x = b ^ a->vbits;
        if (reuse) {
            put_bits(a, 6, 3);
            put_bits(a, x >> a->trail, 64u - a->lead - a->trail);
        } else {
            unsigned len = 64 - lead - trail;
            put_bits(a, 0xe, 4);
            put_bits(a, lead, 5);
            put_bits(a, len - 1, 6);
            put_bits(a, x >> trail, len);
            a->lead = (uint8_t)lead;
            a->trail = (uint8_t)trail;
            a->win_valid = true;
        }
        a->dec_valid = false;
        a->dm = 0;
        break;
    }
    }
    a->vbits = b;
}

int chunk_append(chunk_appender_t *a, int64_t t, double v)
{
    if (a->count >= CHUNK_MAX_SAMPLES)
        return VIGIL_ELIMIT;
    int rc = reserve(a);
    if (rc != 0)
        return rc;
    if (a->count == 0) {
        a->buf[0] = CHUNK_ENCODING;
        put_bits(a, (uint64_t)t, 64);
        put_bits(a, dbits(v), 64);
        a->t = t;
        a->tdelta = 0;
        a->vbits = dbits(v);
    } else {
        uint64_t delta = (uint64_t)t - (uint64_t)a->t;
        if (delta == a->tdelta && dbits(v) == a->vbits) {
            /* An exact repeat: extend the run whose length field ends the stream, or start
             * one (timestamp 0, value 0, length 0). Codec state is unchanged either way. */
            if (a->run_pos != 0 && a->run < UINT16_MAX) {
                truncate_bits(a, a->run_pos);
                put_run(a, ++a->run);
            } else {
                put_bits(a, 0, 2);
                a->run_pos = (uint32_t)a->nbits;
                a->run = 0;
                put_run(a, 0);
            }
            a->t = t;
            a->dm = 0;
        } else {
            a->run_pos = 0;
            put_bucket(a, u2i(delta - a->tdelta), ts_widths);
            a->tdelta = delta;
            a->t = t;
            put_value(a, v);
        }
    }
    a->count++;
    a->buf[1] = (uint8_t)(a->count >> 8);
    a->buf[2] = (uint8_t)a->count;
    return 0;
}

const uint8_t *chunk_appender_bytes(const chunk_appender_t *a, size_t *len)
{
    if (a->count == 0) {
        *len = 0;
        return NULL;
    }
    *len = CHUNK_HEADER_BYTES + (a->nbits + 7) / 8;
    return a->buf;
}

uint8_t *chunk_appender_detach(chunk_appender_t *a, size_t *len)
{
    if (a->count == 0) {
        *len = 0;
        return NULL;
    }
    size_t   n = CHUNK_HEADER_BYTES + (a->nbits + 7) / 8;
    uint8_t *p = realloc(a->buf, n); /* shrinking; on failure the larger block is still fine */
    if (p == NULL)
        p = a->buf;
    *len = n;
    chunk_appender_init(a);
    return p;
}

/* ---- reader ----------------------------------------------------------------------------- */

uint32_t chunk_count(const uint8_t *data, size_t len)
{
    return len < CHUNK_HEADER_BYTES ? 0 : ((uint32_t)data[1] << 8) | data[2];
}

int chunk_iter_init(chunk_iter_t *it, const uint8_t *data, size_t len)
{
    memset(it, 0, sizeof(*it));
    if (len < CHUNK_HEADER_BYTES || (data[0] != CHUNK_ENCODING && data[0] != CHUNK_ENCODING_V1)) {
        it->failed = true;
        return VIGIL_EPARSE;
    }
    it->version = data[0];
    it->data = data + CHUNK_HEADER_BYTES;
    it->nbits = (len - CHUNK_HEADER_BYTES) * 8;
    it->count = chunk_count(data, len);
    return 0;
}

/* The next 64 bits of the stream from it->pos, most significant first; bits past the end read
 * as zeros. Queries decode every sample of every chunk they touch, so fields are cut out of
 * one 64-bit load rather than assembled a byte (or a bit) at a time. */
static inline uint64_t peek64(const chunk_iter_t *it)
{
    size_t byte = it->pos >> 3, nbytes = (it->nbits + 7) >> 3;
    uint64_t w = 0;
    if (byte + 8 <= nbytes) {
        memcpy(&w, it->data + byte, 8);
        w = __builtin_bswap64(w);
    } else {
        for (size_t i = 0; byte + i < nbytes; i++)
            w |= (uint64_t)it->data[byte + i] << (56 - 8 * i);
    }
    return w << (it->pos & 7);
}

static bool get_bits(chunk_iter_t *it, unsigned n, uint64_t *out)
{
    if (it->nbits - it->pos < n) {
        it->failed = true;
        return false;
    }
    if (n == 0) {
        *out = 0;
        return true;
    }
    if (n > 56) { /* one load holds at least 57 bits after the in-byte offset */
        uint64_t hi = peek64(it) >> 32;
        it->pos += 32;
        *out = (hi << (n - 32)) | (peek64(it) >> (64 - (n - 32)));
        it->pos += n - 32;
        return true;
    }
    *out = peek64(it) >> (64 - n);
    it->pos += n;
    return true;
}

/* Counts up to `max` (< 64) leading one bits, consuming the terminating zero when there is
 * one; fails when the stream ends first. */
static bool get_ones(chunk_iter_t *it, unsigned max, unsigned *ones)
{
    uint64_t inv = ~peek64(it);
    unsigned n = inv == 0 ? 64 : (unsigned)__builtin_clzll(inv);
    unsigned used = n < max ? n + 1 : max;
    if (n > max)
        n = max;
    if (it->nbits - it->pos < used) {
        it->failed = true;
        return false;
    }
    it->pos += used;
    *ones = n;
    return true;
}

static bool get_bucket(chunk_iter_t *it, const uint8_t *widths, int64_t *x)
{
    /* Prefix and field usually fit one load (at least 57 valid bits): cut both from it. */
    uint64_t bits = peek64(it), inv = ~bits;
    unsigned ones = inv == 0 ? 64 : (unsigned)__builtin_clzll(inv);
    unsigned i = ones < BUCKETS - 1 ? ones : BUCKETS - 1;
    unsigned prefix = ones < BUCKETS - 1 ? ones + 1 : BUCKETS - 1;
    unsigned w = widths[i];
    uint64_t raw = 0;
    if (prefix + w <= 57) {
        if (it->nbits - it->pos < prefix + w) {
            it->failed = true;
            return false;
        }
        if (w > 0)
            raw = (bits << prefix) >> (64 - w);
        it->pos += prefix + w;
    } else {
        if (!get_ones(it, BUCKETS - 1, &i))
            return false;
        if (w > 0 && !get_bits(it, w, &raw))
            return false;
    }
    if (w > 0 && w < 64 && (raw >> (w - 1)) & 1) /* sign-extend */
        raw |= ~UINT64_C(0) << w;
    *x = u2i(raw);
    return true;
}

/* A decimal-coded value is converted to its double only when someone reads it (or when the
 * next code works on its bits): a division per sample that range starts skip. */
static inline void materialize(chunk_iter_t *it)
{
    if (it->vlazy) {
        it->vbits = dbits((double)it->m / p10[it->e]);
        it->vlazy = false;
    }
}

/* Decodes one value; *code is its code (0: same bits as before). */
static bool get_value(chunk_iter_t *it, unsigned *code_out)
{
    unsigned code;
    if (!get_ones(it, 4, &code))
        return false;
    *code_out = code;
    switch (code) {
    case 0:
        it->dm = 0;
        return true;
    case 1: {
        int64_t dod;
        if (!it->dec_valid || !get_bucket(it, val_widths, &dod))
            return (it->failed = true), false;
        /* Wrapping arithmetic: garbage input may not overflow into undefined behaviour. */
        int64_t m2 = u2i((uint64_t)it->m + (uint64_t)it->dm + (uint64_t)dod);
        it->dm = u2i((uint64_t)m2 - (uint64_t)it->m);
        it->m = m2;
        it->vlazy = true;
        return true;
    }
    case 2: {
        if (it->lead + it->trail >= 64)
            return (it->failed = true), false;
        uint64_t x;
        if (!get_bits(it, 64u - it->lead - it->trail, &x))
            return false;
        materialize(it);
        it->vbits ^= x << it->trail;
        it->dec_valid = false;
        it->dm = 0;
        return true;
    }
    case 3: {
        uint64_t lead, len1, x;
        if (!get_bits(it, 5, &lead) || !get_bits(it, 6, &len1))
            return false;
        unsigned len = (unsigned)len1 + 1;
        if (lead + len > 64)
            return (it->failed = true), false;
        if (!get_bits(it, len, &x))
            return false;
        it->lead = (uint8_t)lead;
        it->trail = (uint8_t)(64 - lead - len);
        materialize(it);
        it->vbits ^= x << it->trail;
        it->dec_valid = false;
        it->dm = 0;
        return true;
    }
    default: {
        uint64_t e;
        int64_t  d;
        if (!get_bits(it, 4, &e) || !get_bucket(it, val_widths, &d))
            return false;
        materialize(it);
        double x = bitsd(it->vbits) * p10[e];
        if (!(fabs(x) <= TWO53))
            return (it->failed = true), false;
        int64_t m2 = u2i((uint64_t)llrint(x) + (uint64_t)d);
        it->e = (uint8_t)e;
        it->dec_valid = true;
        it->dm = d;
        it->m = m2;
        it->vlazy = true;
        return true;
    }
    }
}

/* Reads a repeat-run length field into it->repeats. */
static bool get_run(chunk_iter_t *it)
{
    unsigned i;
    uint64_t x = 0;
    if (!get_ones(it, RUN_BUCKETS - 1, &i))
        return false;
    if (run_widths[i] > 0 && !get_bits(it, run_widths[i], &x))
        return false;
    uint64_t r = run_base[i] + x;
    if (r > it->count - it->read - 1) /* more repeats than samples left: malformed */
        return (it->failed = true), false;
    it->repeats = (uint32_t)r;
    return true;
}

/* Cuts a bucket (prefix of ones, then a signed field) from bits at *u; false when the field
 * would end past `limit` bits (the caller then decodes the slow way). */
static inline bool cut_bucket(uint64_t bits, unsigned *u, unsigned limit, const uint8_t *widths,
                              int64_t *x)
{
    uint64_t inv = ~(bits << *u);
    unsigned ones = inv == 0 ? 64 : (unsigned)__builtin_clzll(inv);
    unsigned i = ones < BUCKETS - 1 ? ones : BUCKETS - 1;
    unsigned end = *u + (ones < BUCKETS - 1 ? ones + 1 : BUCKETS - 1);
    unsigned w = widths[i];
    if (end + w > limit)
        return false;
    uint64_t raw = w > 0 ? (bits << end) >> (64 - w) : 0;
    if (w > 0 && (raw >> (w - 1)) & 1) /* sign-extend */
        raw |= ~UINT64_C(0) << w;
    *x = u2i(raw);
    *u = end + w;
    return true;
}

/*
 * The usual sample, decoded from one 64-bit load: a timestamp bucket, then value code 0 (same
 * value) or 1 (decimal delta-of-delta bucket), all within the 57 bits a load is sure to hold,
 * with that many bits left in the stream. Commits nothing and returns false for anything else,
 * which the general path then decodes (and judges) bit field by bit field.
 */
static bool next_fast(chunk_iter_t *it)
{
    if (it->nbits - it->pos < 57)
        return false;
    uint64_t bits = peek64(it);
    unsigned u = 0;
    int64_t dod, vdod = 0;
    if (!cut_bucket(bits, &u, 57, ts_widths, &dod))
        return false;
    bool tzero = u == 1;
    unsigned code = (bits << u) >> 63;  /* "0": same value; "10": decimal bucket */
    if (code != 0) {
        if ((bits << u) >> 62 != 2 || !it->dec_valid)
            return false;
        u += 2;
        if (!cut_bucket(bits, &u, 57, val_widths, &vdod))
            return false;
    } else {
        u += 1;
    }
    it->pos += u;
    it->tdelta += (uint64_t)dod;
    it->t = u2i((uint64_t)it->t + it->tdelta);
    if (code == 0) {
        it->dm = 0;
        if (it->version != CHUNK_ENCODING_V1 && tzero && !get_run(it))
            return (it->failed = true), true;
        return true;
    }
    int64_t m2 = u2i((uint64_t)it->m + (uint64_t)it->dm + (uint64_t)vdod);
    it->dm = u2i((uint64_t)m2 - (uint64_t)it->m);
    it->m = m2;
    it->vlazy = true;
    return true;
}

static inline bool next_time(chunk_iter_t *it, int64_t *t)
{
    if (it->failed || it->read >= it->count)
        return false;
    if (it->repeats > 0) {
        /* A repeat: same interval, same value, no bits. */
        it->repeats--;
        it->t = u2i((uint64_t)it->t + it->tdelta);
    } else if (it->read == 0) {
        uint64_t tb;
        if (!get_bits(it, 64, &tb) || !get_bits(it, 64, &it->vbits))
            return false;
        it->t = u2i(tb);
        it->lead = 0;
        it->trail = 64; /* no window yet: a 110 code before any 1110 is malformed */
    } else if (next_fast(it)) {
        if (it->failed)
            return false;
    } else {
        int64_t  dod;
        unsigned vcode;
        size_t   at = it->pos;
        if (!get_bucket(it, ts_widths, &dod))
            return false;
        bool tzero = it->pos - at == 1; /* the one-bit "0" code: delta-of-delta 0 */
        it->tdelta += (uint64_t)dod;
        it->t = u2i((uint64_t)it->t + it->tdelta);
        if (!get_value(it, &vcode))
            return false;
        if (it->version != CHUNK_ENCODING_V1 && tzero && vcode == 0 && !get_run(it))
            return false;
    }
    it->read++;
    *t = it->t;
    return true;
}

bool chunk_iter_next_time(chunk_iter_t *it, int64_t *t)
{
    return next_time(it, t);
}

bool chunk_iter_next_from(chunk_iter_t *it, int64_t mint, int64_t *t)
{
    while (next_time(it, t))
        if (*t >= mint)
            return true;
    return false;
}

double chunk_iter_value(chunk_iter_t *it)
{
    materialize(it);
    return bitsd(it->vbits);
}

bool chunk_iter_next(chunk_iter_t *it, int64_t *t, double *v)
{
    if (!chunk_iter_next_time(it, t))
        return false;
    *v = chunk_iter_value(it);
    return true;
}

bool chunk_iter_failed(const chunk_iter_t *it)
{
    return it->failed;
}
