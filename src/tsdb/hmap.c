/*
 * hmap.c - open addressing with linear probing, kept at most half full so probes stay short.
 * Deletion shifts the rest of the probe run back (no tombstones), so lookups after many
 * series garbage collections stay as short as after none.
 */
#include "tsdb/hmap.h"

#include "vigil/error.h"

#include <stdlib.h>
#include <string.h>

void hmap_init(hmap_t *m)
{
    memset(m, 0, sizeof(*m));
}

void hmap_free(hmap_t *m)
{
    free(m->slots);
    hmap_init(m);
}

void *hmap_find(const hmap_t *m, uint64_t hash, hmap_eq_fn eq, const void *key)
{
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        const hmap_slot_t *sl = &m->slots[i];
        if (sl->item == NULL)
            return NULL;
        if (sl->hash == hash && eq(sl->item, key))
            return sl->item;
    }
}

static void place(hmap_slot_t *slots, size_t cap, uint64_t hash, void *item)
{
    size_t mask = cap - 1;
    size_t i = hash & mask;
    while (slots[i].item != NULL)
        i = (i + 1) & mask;
    slots[i] = (hmap_slot_t){hash, item};
}

int hmap_insert(hmap_t *m, uint64_t hash, void *item)
{
    if ((m->len + 1) * 2 > m->cap) {
        size_t       ncap = m->cap ? m->cap * 2 : 16;
        hmap_slot_t *ns = calloc(ncap, sizeof(*ns));
        if (ns == NULL)
            return VIGIL_ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].item != NULL)
                place(ns, ncap, m->slots[i].hash, m->slots[i].item);
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    place(m->slots, m->cap, hash, item);
    m->len++;
    return 0;
}

bool hmap_remove(hmap_t *m, uint64_t hash, const void *item)
{
    if (m->cap == 0)
        return false;
    size_t mask = m->cap - 1, i = hash & mask;
    while (m->slots[i].item != item) {
        if (m->slots[i].item == NULL)
            return false;
        i = (i + 1) & mask;
    }
    /* Backward shift: move each later entry of the run into the hole unless its home slot
     * lies cyclically in (hole, entry], where moving it would put it before its home. */
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (m->slots[j].item == NULL)
            break;
        size_t home = m->slots[j].hash & mask;
        bool   stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i].item = NULL;
    m->len--;
    return true;
}

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

uint64_t tsdb_hash_bytes(const void *p, size_t len, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t             h = seed ^ (len * 0x9E3779B97F4A7C15ULL);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = rotl(h ^ (w * 0x87C37B91114253D5ULL), 31) * 0x4CF5AD432745937FULL;
        s += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, len);
    h ^= w * 0x87C37B91114253D5ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}
