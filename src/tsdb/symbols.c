/*
 * symbols.c - string interning in arena blocks.
 *
 * Each string is stored as [uint64 hash][uint32 len][bytes][NUL], 8-byte aligned, inside 64 KiB
 * blocks (longer strings get a block of their own), so interning costs one bump allocation
 * instead of a malloc, and the hash is read back without rehashing when the index or a series
 * needs it.
 */
#include "tsdb/symbols.h"

#include "vigil/error.h"

#include <stdlib.h>
#include <string.h>

#define SYM_BLOCK_BYTES 65536
#define SYM_HDR         16 /* hash (8) + len (4) + pad (4): keeps the string 8-byte aligned */
#define SYM_SEED        0x5e3b01

struct sym_block {
    sym_block_t *next;
    size_t       cap;
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

/* Bump-allocates `need` bytes (a multiple of 16) from the arena. Lock held for writing. */
static unsigned char *arena_alloc(symtab_t *st, size_t need)
{
    if (st->blocks == NULL || st->blocks->cap - st->used < need) {
        size_t       cap = need > SYM_BLOCK_BYTES ? need : SYM_BLOCK_BYTES;
        sym_block_t *b = malloc(sizeof(*b) + cap);
        if (b == NULL)
            return NULL;
        b->cap = cap;
        if (st->blocks != NULL && need > SYM_BLOCK_BYTES) {
            /* An oversized string gets its own block behind the current one, so the current
             * block's free space is not abandoned. */
            b->next = st->blocks->next;
            st->blocks->next = b;
            return b->data;
        }
        b->next = st->blocks;
        st->blocks = b;
        st->used = 0;
    }
    unsigned char *p = st->blocks->data + st->used;
    st->used += need;
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
    pthread_rwlock_unlock(&st->lock);
    if (r != NULL)
        return r;

    pthread_rwlock_wrlock(&st->lock);
    r = hmap_find(&st->map, h, sym_eq, &k); /* another thread may have won the race */
    if (r == NULL) {
        size_t         need = (SYM_HDR + len + 1 + 15) & ~(size_t)15;
        unsigned char *p = arena_alloc(st, need);
        if (p != NULL) {
            uint32_t n = (uint32_t)len;
            memcpy(p, &h, 8);
            memcpy(p + 8, &n, 4);
            memset(p + 12, 0, 4);
            memcpy(p + SYM_HDR, s, len);
            p[SYM_HDR + len] = '\0';
            if (hmap_insert(&st->map, h, p + SYM_HDR) == 0) {
                r = (const char *)(p + SYM_HDR);
                st->bytes += len;
            }
            /* On a failed insert the arena bytes are simply wasted until destroy. */
        }
    }
    pthread_rwlock_unlock(&st->lock);
    return r;
}

void symtab_stats(symtab_t *st, size_t *count, size_t *bytes)
{
    pthread_rwlock_rdlock(&st->lock);
    *count = st->map.len;
    *bytes = st->bytes;
    pthread_rwlock_unlock(&st->lock);
}
