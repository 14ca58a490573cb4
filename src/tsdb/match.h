/*
 * match.h - compiled label matchers (tsdb_matcher_t). Regexes are RE2, fully anchored as
 * Prometheus's, compiled by the shared translator (util/re2posix.h).
 */
#ifndef VIGIL_TSDB_MATCH_H
#define VIGIL_TSDB_MATCH_H

#include "tsdb/tsdb.h"
#include "util/re2posix.h"

#include <stdbool.h>

typedef struct matcher {
    tsdb_match_type_t type;
    const char       *name;          /* borrowed from the caller's tsdb_matcher_t */
    const char       *value;         /* borrowed */
    bool              matches_empty; /* true when a series without the label matches */
    re2posix_t        re;            /* compiled for =~ and !~, zeroed otherwise */
} matcher_t;

/* Compiles `src` into *m (which borrows src's strings: keep them alive). Release with
 * matcher_free(). VIGIL_EINVAL (NULL name/value), VIGIL_EPARSE (bad regex, with the reason),
 * VIGIL_ENOTSUP (RE2 syntax POSIX cannot express). */
int matcher_compile(matcher_t *m, const tsdb_matcher_t *src, vigil_error_t *err);

/* True when `value` ("" for an absent label) satisfies the matcher. */
bool matcher_matches(const matcher_t *m, const char *value);

void matcher_free(matcher_t *m);

#endif /* VIGIL_TSDB_MATCH_H */
