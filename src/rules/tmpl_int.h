/*
 * tmpl_int.h - private to src/rules: the interim template engine behind rules_tmpl_ops_t.
 *
 * A subset of Go's text/template, as Prometheus configures it for alert labels and annotations
 * (missingkey=zero, the variables $labels, $externalLabels, $externalURL, $value, and
 * Prometheus' query-free functions). It exists so rule files load, check and expand exactly
 * until src/template provides the full engine; rules_tmpl_default() then points there and this
 * pair of files goes. Anything outside the subset (range, with, define, template, query, ...)
 * is a compile error, never a silently different text.
 */
#ifndef VIGIL_RULES_TMPL_INT_H
#define VIGIL_RULES_TMPL_INT_H

#include "rules/rules.h"

#include <stdbool.h>

/* A run-time value. Strings and maps are borrowed from the template or the data, or owned by
 * the evaluation's scratch list (see tmpl.c). */
typedef enum tval_kind { TV_NIL, TV_STR, TV_NUM, TV_BOOL, TV_MAP, TV_DATA } tval_kind_t;

typedef struct tval {
    tval_kind_t k;
    const char *s;            /* TV_STR */
    double n;                 /* TV_NUM */
    bool b;                   /* TV_BOOL */
    promql_labels_t map;      /* TV_MAP */
} tval_t;

/* A function of the template language: argc values in, one value out (a string result is
 * malloc'd into *owned, which the caller frees after use). 0, or -1 with `why` filled. */
typedef int (*tfunc_fn)(const tval_t *argv, int argc, tval_t *out, char **owned, char *why,
                        size_t why_len);

typedef struct tfunc {
    const char *name;
    int min_args, max_args;   /* max -1: variadic */
    tfunc_fn fn;
} tfunc_t;

/* The function table; NULL when `name` is not a function of the subset. *unsupported is set
 * for Prometheus functions vigil deliberately leaves out (query, ...). */
const tfunc_t *rules_tmpl_func_find(const char *name, bool *unsupported);

/* Prints a value as Go's fmt %v does (floats shortest, "map[a:b]", "<no value>" for nil). */
int rules_tmpl_print_value(buf_t *b, const tval_t *v);

/* Go's strconv.FormatFloat(v, 'g', -1, 64), NaN as "NaN", infinities as "+Inf"/"-Inf". */
void rules_tmpl_format_float(double v, char *out, size_t cap);

/* Go truthiness: false, 0, "", nil and empty maps are false. */
bool rules_tmpl_truth(const tval_t *v);

#endif /* VIGIL_RULES_TMPL_INT_H */
