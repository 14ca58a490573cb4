/*
 * regex.c - Prometheus label regexes (RE2 syntax), compiled by the shared RE2-on-POSIX
 * translator (src/util/re2posix.h, which lists what is rewritten and what is refused).
 */
#include "promql/promql_int.h"

#include "util/re2posix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *promql_regex_compile(const char *re, bool anchored, char *errbuf, size_t errlen)
{
    re2posix_t *r = malloc(sizeof(*r));
    if (r == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    vigil_error_t err;
    if (re2posix_compile(r, re, anchored ? RE2POSIX_ANCHORED : 0, &err) != 0) {
        snprintf(errbuf, errlen, "\"%s\": %s", re, err.message);
        free(r);
        return NULL;
    }
    return r;
}

void promql_regex_free(void *p)
{
    re2posix_t *r = p;
    if (r == NULL)
        return;
    re2posix_free(r);
    free(r);
}

bool promql_regex_match(void *p, const char *s, int *m, int nm)
{
    re2posix_t *r = p;
    if (nm <= 0)
        return re2posix_matches(r, s);
    regmatch_t pm[PROMQL_REGEX_MAX_GROUPS];
    size_t n = (size_t)nm < PROMQL_REGEX_MAX_GROUPS ? (size_t)nm : PROMQL_REGEX_MAX_GROUPS;
    if (!re2posix_exec(r, s, 0, pm, n))
        return false;
    for (int i = 0; i < nm; i++) {
        bool set = (size_t)i < n;
        m[2 * i] = set ? (int)pm[i].rm_so : -1;
        m[2 * i + 1] = set ? (int)pm[i].rm_eo : -1;
    }
    return true;
}

bool promql_matcher_matches(const promql_matcher_t *m, const char *value)
{
    if (value == NULL)
        value = "";
    switch (m->op) {
    case PROMQL_MATCH_EQ: return strcmp(value, m->value) == 0;
    case PROMQL_MATCH_NEQ: return strcmp(value, m->value) != 0;
    case PROMQL_MATCH_RE: return promql_regex_match(m->re, value, NULL, 0);
    case PROMQL_MATCH_NRE: return !promql_regex_match(m->re, value, NULL, 0);
    }
    return false;
}

void promql_strings_free(promql_strings_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}
