/*
 * index.h - the head's inverted index: for every label pair, the sorted list ("postings") of
 * the ids of the series that have it, and the selection of series by matchers.
 *
 * Locking: one reader-writer lock. Writers are series creations only (rare next to samples:
 * one per new series), readers are selections and listings; a reader computes its result
 * into its own arrays under the read lock, so nothing it returns is shared with the index.
 */
#ifndef VIGIL_TSDB_INDEX_H
#define VIGIL_TSDB_INDEX_H

#include "tsdb/hmap.h"
#include "tsdb/match.h"
#include "tsdb/tsdb.h"

#include <pthread.h>
#include <stdint.h>

typedef struct postings {
    uint32_t *ids; /* owned, ascending */
    uint32_t  len;
    uint32_t  cap;
} postings_t;

/* A set of series ids being computed by a selection (the index's or a block's). */
typedef struct idset {
    uint32_t *ids; /* owned (free()) */
    size_t    len;
} idset_t;

/* Set operations on ascending, duplicate-free id arrays; results overwrite *acc in place. */
void idset_intersect(idset_t *acc, const idset_t *b);
void idset_subtract(idset_t *acc, const idset_t *b);
void idset_sort(idset_t *s);

typedef struct index {
    pthread_rwlock_t lock;
    hmap_t           names;   /* of index_name_t*, keyed by the interned name pointer */
    uint64_t         npairs;  /* distinct label pairs */
} index_t;

int  index_init(index_t *ix);    /* 0 or VIGIL_ESYS; release with index_destroy() */
void index_destroy(index_t *ix);

/*
 * Adds series `id` under each of its n label pairs (interned strings, `pairs[2k]` the name and
 * `pairs[2k+1]` the value). Ids are normally added in ascending order (the head creates series
 * under one mutex); the postings stay sorted either way. 0 or VIGIL_ENOMEM; after a failure
 * the series may be in some postings lists and not others, and the head rolls nothing back:
 * it refuses the series, which a later append retries.
 */
int index_add(index_t *ix, uint32_t id, const char *const *pairs, size_t n);

/* Removes every id whose bit is set in dead[] (nbits bits, bit i of dead[i / 64]) from all
 * postings lists; label pairs and names left without series go too. Their strings are the
 * head's to release afterwards. Never fails. */
void index_remove(index_t *ix, const uint64_t *dead, uint32_t nbits);

/*
 * Ids of the series matching all n compiled matchers, ascending; `nall` is the number of
 * series ids in use (the universe for matchers that match the empty string). *out is the
 * caller's (free()). 0 or VIGIL_ENOMEM.
 */
int index_select(index_t *ix, const matcher_t *ms, size_t n, uint32_t nall, uint32_t **out,
                 size_t *nout);

/* All label names / all values of `name` (sorted, unique, at most limit unless 0), as copies
 * the caller frees with tsdb_strings_free(). 0 or VIGIL_ENOMEM. */
int index_label_names(index_t *ix, size_t limit, tsdb_strings_t *out);
int index_label_values(index_t *ix, const char *name, size_t limit, tsdb_strings_t *out);

/* The cardinality lists of tsdb_status() (see tsdb.h); 0 or VIGIL_ENOMEM. */
int index_status(index_t *ix, size_t limit, tsdb_status_t *out);

#endif /* VIGIL_TSDB_INDEX_H */
