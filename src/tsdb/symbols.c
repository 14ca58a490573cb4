/*
 * symbols.c - string interning in arena blocks.
 *
 * Each string is stored as [uint64 hash][uint32 len][uint32 refs][bytes][NUL], 8-byte aligned,
 * inside 64 KiB blocks (longer strings get a block of their own), so interning costs one bump
 * allocation instead of a malloc, and the hash is read back without rehashing when the index
 * or a series needs it. `refs` counts the interns not yet released; a string at zero leaves
 * the map, and a block whose strings are all gone is freed (series garbage collection drops
 * churned label values this way without a per-string malloc).
 */
#include "tsdb/symbols.h"

#include "vigil/error.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SYM_BLOCK_BYTES 65536
#define SYM_HDR         16 /* hash (8) + len (4) + refs (4): keeps the string 8-byte aligned */
#define SYM_SEED        0x5e3b01

struct sym_block {
    sym_block_t *next;
    size_t       cap;
    size_t       live; /* strings in it still in the map (under the write lock) */
    /* the bytes follow, 16-byte aligned by the header's size */
    _Alignas(16) unsigned char data[];
};

typedef struct sym_key {
    const char *s;
    size_t      len;
} sym_key_t;

uint64_t sym_hash(const char *interned)
{
    uint64_t h;
    memcpy(&h, interned - SYM_HDR, sizeof(h));
    return h;
}

uint32_t sym_len(const char *interned)
{
    uint32_t n;
    memcpy(&n, interned - SYM_HDR + 8, sizeof(n));
    return n;
}

/* The reference count of an interned string: changed atomically under the read lock by
 * interns, and dropped to zero only under the write lock, so no intern can revive a string
 * that is being removed. */
static _Atomic uint32_t *sym_refs(const char *interned)
{
    return (_Atomic uint32_t *)(uintptr_t)(interned - SYM_HDR + 12);
}

uint64_t symtab_hash(const char *s, size_t len)
{
    return tsdb_hash_bytes(s, len, SYM_SEED);
}

static bool sym_eq(const void *item, const void *key)
{
    const char      *s = item;
    const sym_key_t *k = key;
    return sym_len(s) == k->len && memcmp(s, k->s, k->len) == 0;
}

int symtab_init(symtab_t *st)
{
    memset(st, 0, sizeof(*st));
    hmap_init(&st->map);
    if (pthread_rwlock_init(&st->lock, NULL) != 0)
        return VIGIL_ESYS;
    return 0;
}

void symtab_destroy(symtab_t *st)
{
    for (sym_block_t *b = st->blocks, *n; b != NULL; b = n) {
        n = b->next;
        free(b);
    }
    hmap_free(&st->map);
    pthread_rwlock_destroy(&st->lock);
}

const char *symtab_find(symtab_t *st, const char *s, size_t len)
{
    sym_key_t k = {s, len};
    pthread_rwlock_rdlock(&st->lock);
    const char *r = hmap_find(&st->map, tsdb_hash_bytes(s, len, SYM_SEED), sym_eq, &k);
    pthread_rwlock_unlock(&st->lock);
    return r;
}

/* Bump-allocates `need` bytes (a multiple of 16) from the arena; *blk is the block holding
 * them. Lock held for writing. */
static unsigned char *arena_alloc(symtab_t *st, size_t need, sym_block_t **blk)
{
    if (st->blocks == NULL || st->blocks->cap - st->used < need) {
        size_t       cap = need > SYM_BLOCK_BYTES ? need : SYM_BLOCK_BYTES;
        sym_block_t *b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->cap = cap;
        b->live = 0;
        if (st->blocks != NULL && need > SYM_BLOCK_BYTES) {
            /* An oversized string gets its own block behind the current one, so the current
             * block's free space is not abandoned. */
            b->next = st->blocks->next;
            st->blocks->next = b;
            *blk = b;
            return b->data;
        }
        b->next = st->blocks;
        st->blocks = b;
        st->used = 0;
    }
    unsigned char *p = st->blocks->data + st->used;
    st->used += need;
    *blk = st->blocks;
    return p;
}

const char *symtab_intern(symtab_t *st, const char *s, size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    uint64_t  h = tsdb_hash_bytes(s, len, SYM_SEED);
    sym_key_t k = {s, len};
    pthread_rwlock_rdlock(&st->lock);
    const char *r = hmap_find(&st->map, h, sym_eq, &k);
    if (r != NULL)
        atomic_fetch_add_explicit(sym_refs(r), 1, memory_order_relaxed);
    pthread_rwlock_unlock(&st->lock);
    if (r != NULL)
        return r;

    pthread_rwlock_wrlock(&st->lock);
    r = hmap_find(&st->map, h, sym_eq, &k); /* another thread may have won the race */
    if (r != NULL) {
        atomic_fetch_add_explicit(sym_refs(r), 1, memory_order_relaxed);
    } else {
        size_t         need = (SYM_HDR + len + 1 + 15) & ~(size_t)15;
        sym_block_t   *blk;
        unsigned char *p = arena_alloc(st, need, &blk);
        if (p != NULL) {
            uint32_t n = (uint32_t)len;
            memcpy(p, &h, 8);
            memcpy(p + 8, &n, 4);
            atomic_init(sym_refs((const char *)(p + SYM_HDR)), 1);
            memcpy(p + SYM_HDR, s, len);
            p[SYM_HDR + len] = '\0';
            if (hmap_insert(&st->map, h, p + SYM_HDR) == 0) {
                r = (const char *)(p + SYM_HDR);
                st->bytes += len;
                blk->live++;
            }
            /* On a failed insert the arena bytes are simply wasted until destroy. */
        }
    }
    pthread_rwlock_unlock(&st->lock);
    return r;
}

static int cmp_block_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(sym_block_t *const *)a, y = (uintptr_t)*(sym_block_t *const *)b;
    return (x > y) - (x < y);
}

/* The block of blocks[0..n) (sorted by address) whose bytes hold p. */
static sym_block_t *block_of(sym_block_t **blocks, size_t n, const char *p)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)blocks[mid] <= (uintptr_t)p)
            lo = mid;
        else
            hi = mid;
    }
    return blocks[lo];
}

void symtab_release(symtab_t *st, const char *const *v, size_t n)
{
    if (n == 0)
        return;
    pthread_rwlock_wrlock(&st->lock);
    /* The blocks sorted by address, to find each dead string's block; without the memory the
     * strings still leave the map and their blocks are simply kept. */
    size_t nblocks = 0;
    for (sym_block_t *b = st->blocks; b != NULL; b = b->next)
        nblocks++;
    sym_block_t **sorted = malloc((nblocks ? nblocks : 1) * sizeof(*sorted));
    if (sorted != NULL) {
        size_t k = 0;
        for (sym_block_t *b = st->blocks; b != NULL; b = b->next)
            sorted[k++] = b;
        qsort(sorted, nblocks, sizeof(*sorted), cmp_block_addr);
    }
    bool any_dead = false;
    for (size_t i = 0; i < n; i++) {
        if (atomic_fetch_sub_explicit(sym_refs(v[i]), 1, memory_order_relaxed) != 1)
            continue;
        hmap_remove(&st->map, sym_hash(v[i]), v[i]);
        st->bytes -= sym_len(v[i]);
        if (sorted != NULL) {
            block_of(sorted, nblocks, v[i])->live--;
            any_dead = true;
        }
    }
    free(sorted);
    /* Free emptied blocks, except the one being bump-allocated from. */
    for (sym_block_t **pp = any_dead && st->blocks ? &st->blocks->next : NULL; pp && *pp;) {
        sym_block_t *b = *pp;
        if (b->live == 0) {
            *pp = b->next;
            free(b);
        } else {
            pp = &b->next;
        }
    }
    pthread_rwlock_unlock(&st->lock);
}

void symtab_stats(symtab_t *st, size_t *count, size_t *bytes)
{
    pthread_rwlock_rdlock(&st->lock);
    *count = st->map.len;
    *bytes = st->bytes;
    pthread_rwlock_unlock(&st->lock);
}
