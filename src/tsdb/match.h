/*
 * match.h - compiled label matchers (tsdb_matcher_t) and the RE2-to-POSIX regex translation.
 */
#ifndef VIGIL_TSDB_MATCH_H
#define VIGIL_TSDB_MATCH_H

#include "tsdb/tsdb.h"
#include "util/buf.h"

#include <regex.h>
#include <stdbool.h>

typedef struct matcher {
    tsdb_match_type_t type;
    const char       *name;          /* borrowed from the caller's tsdb_matcher_t */
    const char       *value;         /* borrowed */
    bool              has_re;        /* re is compiled (=~, !~) */
    bool              matches_empty; /* true when a series without the label matches */
    regex_t           re;
} matcher_t;

/* Compiles `src` into *m (which borrows src's strings: keep them alive). Release with
 * matcher_free(). VIGIL_EINVAL (NULL name/value), VIGIL_EPARSE (bad regex, with the regcomp
 * message), VIGIL_ENOTSUP (RE2 syntax POSIX cannot express, with its position). */
int matcher_compile(matcher_t *m, const tsdb_matcher_t *src, vigil_error_t *err);

/* True when `value` ("" for an absent label) satisfies the matcher. */
bool matcher_matches(const matcher_t *m, const char *value);

void matcher_free(matcher_t *m);

/* Rewrites an RE2 regex as an anchored POSIX ERE "^(...)$" in `out` (appended) and says
 * whether it began with (?i). Exposed for tests. Errors as matcher_compile(). */
int match_translate_re2(const char *re, buf_t *out, bool *icase, vigil_error_t *err);

#endif /* VIGIL_TSDB_MATCH_H */
