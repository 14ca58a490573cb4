/*
 * match.c - label matchers (see match.h).
 */
#include "tsdb/match.h"

#include <string.h>

int matcher_compile(matcher_t *m, const tsdb_matcher_t *src, vigil_error_t *err)
{
    memset(m, 0, sizeof(*m));
    if (src->name == NULL || src->value == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "matcher with a NULL name or value");
    m->type = src->type;
    m->name = src->name;
    m->value = src->value;
    if (m->type == TSDB_MATCH_RE || m->type == TSDB_MATCH_NRE) {
        vigil_error_t why;
        int rc = re2posix_compile(&m->re, src->value, RE2POSIX_ANCHORED | RE2POSIX_NOSUB, &why);
        if (rc != 0)
            return vigil_error_set(err, rc, "regex \"%s\": %s", src->value, why.message);
    } else if (m->type != TSDB_MATCH_EQ && m->type != TSDB_MATCH_NEQ) {
        return vigil_error_set(err, VIGIL_EINVAL, "unknown matcher type %d", (int)m->type);
    }
    m->matches_empty = matcher_matches(m, "");
    return 0;
}

bool matcher_matches(const matcher_t *m, const char *value)
{
    switch (m->type) {
    case TSDB_MATCH_EQ: return strcmp(value, m->value) == 0;
    case TSDB_MATCH_NEQ: return strcmp(value, m->value) != 0;
    case TSDB_MATCH_RE: return re2posix_matches(&m->re, value);
    case TSDB_MATCH_NRE: return !re2posix_matches(&m->re, value);
    }
    return false;
}

void matcher_free(matcher_t *m)
{
    re2posix_free(&m->re);
}
