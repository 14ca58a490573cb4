/*
 * strset.c - an arena-backed hash set of byte strings (see expfmt_int.h).
 *
 * Open addressing with linear probing, load factor at most 1/2. Keys live in one growable
 * arena, so a set costs two allocations however many keys it holds, and clearing it (once per
 * metric family in the strict OpenMetrics checks) is a generation bump.
 */
#include "expfmt/expfmt_int.h"

#include <stdlib.h>
#include <string.h>

uint64_t expfmt_hash(const void *key, size_t len)
{
    /* A small multiply-xorshift hash over 8-byte words: the keys are label sets and names from
     * the exposition, and this only has to spread them, not resist an adversary (a collision
     * costs a memcmp, never a wrong answer). */
    const unsigned char *p = key;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    if (len > 0) /* an empty key may come from a buffer that was never allocated (NULL) */
        memcpy(&w, p, len);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h;
}

void strset_init(strset_t *s, size_t max_bytes)
{
    memset(s, 0, sizeof(*s));
    s->gen = 1;
    buf_init(&s->arena, max_bytes);
}

void strset_free(strset_t *s)
{
    free(s->slots);
    buf_free(&s->arena);
    memset(s, 0, sizeof(*s));
}

void strset_clear(strset_t *s)
{
    s->count = 0;
    buf_reset(&s->arena);
    if (++s->gen == 0) {
        /* After 2^32 clears the generation wraps: old slots could look used again. */
        if (s->slots != NULL)
            memset(s->slots, 0, s->cap * sizeof(*s->slots));
        s->gen = 1;
    }
}

static int grow(strset_t *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 64;
    strset_slot_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return VIGIL_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        strset_slot_t *o = &s->slots[i];
        if (o->gen != s->gen)
            continue;
        size_t j = o->hash & (ncap - 1);
        while (ns[j].gen == s->gen)
            j = (j + 1) & (ncap - 1);
        ns[j] = *o;
    }
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    return 0;
}

strset_slot_t *strset_lookup(strset_t *s, const void *key, size_t len, bool add, bool *added,
                             int *rc)
{
    *added = false;
    *rc = 0;
    uint64_t h = expfmt_hash(key, len);
    if (s->cap != 0) {
        size_t j = h & (s->cap - 1);
        while (s->slots[j].gen == s->gen) {
            strset_slot_t *o = &s->slots[j];
            if (o->hash == h && o->len == len &&
                (len == 0 || memcmp(s->arena.data + o->off, key, len) == 0))
                return o;
            j = (j + 1) & (s->cap - 1);
        }
    }
    if (!add)
        return NULL;
    if ((s->count + 1) * 2 > s->cap && (*rc = grow(s)) != 0)
        return NULL;
    size_t off = s->arena.len;
    if (len > 0 && (*rc = buf_append(&s->arena, key, len)) != 0)
        return NULL;
    size_t j = h & (s->cap - 1);
    while (s->slots[j].gen == s->gen)
        j = (j + 1) & (s->cap - 1);
    strset_slot_t *o = &s->slots[j];
    *o = (strset_slot_t){ .hash = h, .off = off, .len = len, .gen = s->gen, .value = 0 };
    s->count++;
    *added = true;
    return o;
}
