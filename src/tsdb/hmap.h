/*
 * hmap.h - the open-addressing hash set the tsdb uses for symbols, label index entries and
 * series: it stores item pointers with their 64-bit hashes and compares through a callback,
 * so each user keeps its own key type. Not thread-safe: every user guards its map with a lock.
 */
#ifndef VIGIL_TSDB_HMAP_H
#define VIGIL_TSDB_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A slot keeps the hash beside its item, so a probe costs one cache line, not two: lookups in
 * tables of millions (series, symbols) miss the cache on every probe. */
typedef struct hmap_slot {
    uint64_t hash; /* meaningful where item != NULL */
    void    *item; /* borrowed; NULL = empty slot */
} hmap_slot_t;

typedef struct hmap {
    hmap_slot_t *slots; /* owned */
    size_t       cap;   /* power of two, or 0 before the first insert */
    size_t       len;   /* items stored */
} hmap_t;

/* True when `item` has the key `key` (the map has already compared hashes). */
typedef bool (*hmap_eq_fn)(const void *item, const void *key);

/* An empty map; allocates nothing. */
void hmap_init(hmap_t *m);

/* Frees the map's arrays (not the items). */
void hmap_free(hmap_t *m);

/* The item with this hash and key, or NULL. */
void *hmap_find(const hmap_t *m, uint64_t hash, hmap_eq_fn eq, const void *key);

/* Adds an item the caller knows is absent. 0 or VIGIL_ENOMEM (the map is then unchanged). */
int hmap_insert(hmap_t *m, uint64_t hash, void *item);

/* Removes `item` (found by pointer under `hash`); false when it is not there. Entries after
 * it in its probe run may move to earlier slots: a loop over the map that removes must look at
 * the same slot again after a removal (items already visited may be seen twice, none missed). */
bool hmap_remove(hmap_t *m, uint64_t hash, const void *item);

/* Loops over every item, in no particular order: HMAP_FOREACH(&map, item) { ... }. The index
 * variable is named after the line, so loops can nest. */
#define HMAP_CAT2_(a, b) a##b
#define HMAP_CAT_(a, b)  HMAP_CAT2_(a, b)
#define HMAP_FOREACH(m, var) HMAP_FOREACH_(m, var, HMAP_CAT_(hmap_i_, __LINE__))
#define HMAP_FOREACH_(m, var, i) \
    for (size_t i = 0; i < (m)->cap; i++) \
        if (((var) = (m)->slots[i].item) != NULL)

/* 64-bit hash of bytes (a multiply-rotate mix finished with murmur3's fmix64), seeded so that
 * label sets can be hashed incrementally. Not cryptographic: keys come from our own users'
 * labels, and a flood of colliding series would hit the series limit first. */
uint64_t tsdb_hash_bytes(const void *p, size_t len, uint64_t seed);

#endif /* VIGIL_TSDB_HMAP_H */
