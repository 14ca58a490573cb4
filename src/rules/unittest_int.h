/*
 * unittest_int.h - private to src/rules: the parsers unittest.c uses for promtool test files.
 */
#ifndef VIGIL_RULES_UNITTEST_INT_H
#define VIGIL_RULES_UNITTEST_INT_H

#include "rules/rules_int.h"

/* Expanded input values: one slot per sample interval. */
typedef struct ut_values {
    double *v;
    bool *omitted;     /* "_": the slot holds no sample */
    size_t n, cap;
} ut_values_t;

/* Parses `name{l="v", ...}` / `{...}` / "" (empty set) into *out (owned, rl_free). With
 * rest == NULL the whole string must be the metric. VIGIL_EPARSE with `why` on errors. */
int ut_parse_metric(const char *s, rlabels_t *out, const char **rest, char *why, size_t wl);

/* Expands a values string. VIGIL_EPARSE (bad item), VIGIL_ENOTSUP (native histograms) with
 * `why`; on success the caller frees with ut_values_free(). */
int ut_parse_values(const char *s, ut_values_t *vs, char *why, size_t wl);
void ut_values_free(ut_values_t *vs);

#endif /* VIGIL_RULES_UNITTEST_INT_H */
