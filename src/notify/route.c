/*
 * route.c - the route tree: receiver references, matching an alert down the tree, and the
 * group key of an alert at a route, each exactly as Alertmanager's dispatch package does it.
 */
#include "notify/notify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int resolve(notify_config_t *cfg, nroute_t *r, char *why, size_t why_len, int *line,
                   int *col)
{
    size_t i = 0;
    while (i < cfg->nreceivers && strcmp(cfg->receivers[i].name, r->receiver) != 0)
        i++;
    if (i == cfg->nreceivers) {
        snprintf(why, why_len, "undefined receiver \"%s\" used in route", r->receiver);
        *line = r->line;
        *col = r->col;
        return VIGIL_EPARSE;
    }
    r->receiver_idx = i;
    for (size_t k = 0; k < r->nroutes; k++) {
        int rc = resolve(cfg, &r->routes[k], why, why_len, line, col);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int nroute_finish(notify_config_t *cfg, char *why, size_t why_len, int *line, int *col)
{
    return resolve(cfg, &cfg->route, why, why_len, line, col);
}

/* Route.Match: a node matches when its matchers do; its children are tried in order, the
 * first matching child ends the search unless it has `continue`; a node none of whose
 * children matched is itself the match. */
static size_t match(const nroute_t *r, const notify_kv_t *labels, size_t n,
                    const nroute_t **out, size_t cap, size_t used)
{
    if (!nm_matches(&r->matchers, labels, n))
        return used;
    size_t start = used;
    for (size_t i = 0; i < r->nroutes; i++) {
        size_t before = used;
        used = match(&r->routes[i], labels, n, out, cap, used);
        if (used > before && !r->routes[i].cont)
            break;
    }
    if (used == start && used < cap)
        out[used++] = r;
    return used;
}

size_t nroute_match(const nroute_t *root, const notify_kv_t *labels, size_t n,
                    const nroute_t **out, size_t cap)
{
    return match(root, labels, n, out, cap, 0);
}

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const notify_kv_t *)a)->name, ((const notify_kv_t *)b)->name);
}

/* "route key:{a=\"b\", c=\"d\"}": the alert's labels named in group_by (all with "..."). */
int nroute_group_key(const nroute_t *r, const notify_kv_t *labels, size_t n, buf_t *key)
{
    notify_kv_t stack[32];
    notify_kv_t *sel = n <= 32 ? stack : malloc(n * sizeof(*sel));
    if (sel == NULL)
        return VIGIL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool want = r->group_by_all;
        for (size_t j = 0; !want && j < r->ngroup_by; j++)
            want = strcmp(r->group_by[j], labels[i].name) == 0;
        if (want)
            sel[k++] = labels[i];
    }
    qsort(sel, k, sizeof(*sel), cmp_kv);
    int rc = buf_printf(key, "%s:{", r->key);
    for (size_t i = 0; rc == 0 && i < k; i++) {
        rc = buf_printf(key, "%s%s=", i ? ", " : "", sel[i].name);
        if (rc == 0)
            rc = buf_put_go_quoted(key, sel[i].value);
    }
    if (rc == 0)
        rc = buf_putc(key, '}');
    if (sel != stack)
        free(sel);
    return rc;
}
