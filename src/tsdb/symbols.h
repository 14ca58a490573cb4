/*
 * symbols.h - interned strings: every label name and value of the head is stored once, and
 * series and the index hold `const char *` to the one copy, so equality of interned strings is
 * pointer equality and a million series naming `instance="host-1"` share one copy.
 *
 * Every symtab_intern() takes a reference that symtab_release() gives back; a string whose
 * references are all released is removed and its memory reused or freed. Thread-safe: lookups
 * take a read lock, interning a new string and releasing the write lock, and both happen only
 * when a series is created or garbage collected.
 */
#ifndef VIGIL_TSDB_SYMBOLS_H
#define VIGIL_TSDB_SYMBOLS_H

#include "tsdb/hmap.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sym_block sym_block_t;

typedef struct symtab {
    pthread_rwlock_t lock;
    hmap_t           map;    /* of interned strings (the char pointers themselves) */
    sym_block_t     *blocks; /* arena blocks holding the strings, newest first */
    size_t           used;   /* bytes used in the newest block */
    size_t           bytes;  /* string bytes interned, for stats */
} symtab_t;

/* 0 or VIGIL_ESYS. Release with symtab_destroy(). */
int symtab_init(symtab_t *st);

/* Frees every interned string; pointers handed out become invalid. */
void symtab_destroy(symtab_t *st);

/* The interned copy of s[0..len) (NUL-terminated), inserting it when new, with one more
 * reference: valid until that reference is given back with symtab_release() (or
 * symtab_destroy()); never freed by the caller. NULL only when out of memory. */
const char *symtab_intern(symtab_t *st, const char *s, size_t len);

/* Gives back one reference to each of v[0..n) (interned copies, a string may appear several
 * times); strings left without one are removed and must no longer be used by anyone. */
void symtab_release(symtab_t *st, const char *const *v, size_t n);

/* The interned copy if there is one, else NULL; never inserts nor takes a reference: valid
 * only while the caller otherwise knows a reference is held. */
const char *symtab_find(symtab_t *st, const char *s, size_t len);

/* The hash an interned copy of s[0..len) has (or would have): lets the index find entries by
 * a string that was never interned (a matcher's label name). */
uint64_t symtab_hash(const char *s, size_t len);

/* The hash and length stored with an interned string (a pointer symtab_* returned). */
uint64_t sym_hash(const char *interned);
uint32_t sym_len(const char *interned);

/* Number of distinct strings and their bytes. */
void symtab_stats(symtab_t *st, size_t *count, size_t *bytes);

#endif /* VIGIL_TSDB_SYMBOLS_H */
