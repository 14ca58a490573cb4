/*
 * symbols.h - interned strings: every label name and value of the head is stored once, and
 * series and the index hold `const char *` to the one copy, so equality of interned strings is
 * pointer equality and a million series naming `instance="host-1"` share one copy.
 *
 * Interned strings live until symtab_destroy(); nothing is freed earlier (head truncation will
 * rebuild the table). Thread-safe: lookups take a read lock, interning a new string the write
 * lock, and interning happens only when a series is created.
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

/* The interned copy of s[0..len) (NUL-terminated), inserting it when new; valid until
 * symtab_destroy(); never freed by the caller. NULL only when out of memory. */
const char *symtab_intern(symtab_t *st, const char *s, size_t len);

/* The interned copy if there is one, else NULL; never inserts. */
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
