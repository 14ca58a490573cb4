/*
 * unittest_int.h - private to src/rules: the parsers unittest.c uses for promtool test files.
 */
#ifndef VIGIL_RULES_UNITTEST_INT_H
#define VIGIL_RULES_UNITTEST_INT_H

#include "rules/rules_int.h"

/* Parses `name{l="v", ...}` / `{...}` / "" (empty set) into *out (owned, rl_free). With
 * rest == NULL the whole string must be the metric. VIGIL_EPARSE with `why` on errors. */
int ut_parse_metric(const char *s, rlabels_t *out, const char **rest, char *why, size_t wl);


#endif /* VIGIL_RULES_UNITTEST_INT_H */
