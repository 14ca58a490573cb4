/*
 * selector.c - series selectors on their own: the match[] parameters of the series and label
 * endpoints, parsed by the PromQL parser so they accept exactly what a query would.
 */
#include "promql/promql_int.h"

#include <stdlib.h>

struct promql_selector {
    arena_t                 arena;  /* owns the matchers and their compiled regexes */
    const promql_matcher_t *ms;
    size_t                  n;
};

int promql_parse_selector(const char *s, promql_selector_t **out, vigil_error_t *err)
{
    promql_selector_t *sel = calloc(1, sizeof(*sel));
    if (sel == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    arena_init(&sel->arena);
    expr_t *e;
    int rc = promql_parse(&sel->arena, s, &e, err);
    if (rc == 0 && e->kind != N_VECTOR_SEL)
        rc = vigil_error_set(err, VIGIL_EPARSE, "1:1: parse error: expected a series selector "
                                                "like up{job=\"x\"}, got \"%s\"", s);
    if (rc != 0) {
        promql_selector_free(sel);
        return rc;
    }
    sel->ms = e->vs.ms;
    sel->n = e->vs.n;
    *out = sel;
    return 0;
}

const promql_matcher_t *promql_selector_matchers(const promql_selector_t *sel, size_t *n)
{
    *n = sel->n;
    return sel->ms;
}

void promql_selector_free(promql_selector_t *sel)
{
    if (sel == NULL)
        return;
    arena_free(&sel->arena);
    free(sel);
}
