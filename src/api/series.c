/*
 * series.c - the endpoints over the store's index: /api/v1/series, /api/v1/labels,
 * /api/v1/label/{name}/values and /api/v1/metadata, in Prometheus's JSON.
 *
 * Every `match[]` parameter is one series selector; the answer is over the union of the sets
 * they select (Prometheus merges one selection per match[]), deduplicated and sorted. `start`
 * and `end` bound the series to those with samples in the window (all time when absent).
 * `limit` cuts the sorted answer and adds the warning "results truncated due to limit", as
 * Prometheus 3 does.
 */
#include "api/api_int.h"

#include <stdlib.h>
#include <string.h>

/* The parsed match[] parameters of one request. */
typedef struct match_sets {
    promql_selector_t **v;
    size_t n;
} match_sets_t;

static void match_sets_free(match_sets_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        promql_selector_free(m->v[i]);
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

/* Parses every match[]. On a bad selector the 400 answer is written and *answered set, as
 * Prometheus: the parser's message as is, or "match[] must contain at least one non-empty
 * matcher" for a selector every series would match (`{a=~".*"}`). */
static int parse_match_sets(http_request_t *req, http_response_t *resp, match_sets_t *out,
                            bool *answered)
{
    *answered = false;
    out->v = NULL;
    out->n = 0;
    size_t count = http_request_param_count(req, "match[]");
    if (count == 0)
        return 0;
    out->v = calloc(count, sizeof(*out->v));
    if (out->v == NULL)
        return VIGIL_ENOMEM;
    size_t pos = 0;
    const char *s;
    while ((s = http_request_param_next(req, "match[]", &pos)) != NULL) {
        vigil_error_t err;
        int rc = promql_parse_selector(s, &out->v[out->n], &err);
        if (rc == VIGIL_ENOMEM)
            return rc;
        /* The query parser refuses an all-empty selector itself; Prometheus's selector parser
         * does not, and the API answers its own text for it (below). Same verdict, its words. */
        if (rc != 0 && strstr(err.message, "must contain at least one non-empty matcher") != NULL)
            goto out_unselective;
        if (rc != 0) {
            *answered = true;
            return http_response_error(resp, 400, "bad_data", "%s", err.message);
        }
        size_t n;
        const promql_matcher_t *ms = promql_selector_matchers(out->v[out->n++], &n);
        bool selective = false;
        for (size_t i = 0; i < n && !selective; i++)
            selective = !promql_matcher_matches(&ms[i], "");
        if (!selective)
            goto out_unselective;
    }
    return 0;
out_unselective:
    *answered = true;
    return http_response_error(resp, 400, "bad_data",
                               "match[] must contain at least one non-empty matcher");
}

/* `start`, `end` and `limit`, shared by the three listings. */
static int window_and_limit(http_request_t *req, http_response_t *resp, int64_t *mint,
                            int64_t *maxt, size_t *limit, bool *answered)
{
    int rc = api_time_param(req, resp, "start", INT64_MIN / 2, mint, answered);
    if (*answered || rc != 0)
        return rc;
    rc = api_time_param(req, resp, "end", INT64_MAX / 2, maxt, answered);
    if (*answered || rc != 0)
        return rc;
    vigil_error_t err;
    if (api_parse_limit(http_request_param(req, "limit"), limit, &err) != 0) {
        *answered = true;
        return api_bad_param(resp, "limit", &err);
    }
    return 0;
}

/* ---- /api/v1/series ---- */

/* One series' labels in one allocation: the array, then the NUL-terminated strings. */
typedef struct series_labels {
    promql_label_t *v;
    size_t n;
} series_labels_t;

typedef struct series_list {
    series_labels_t *v;
    size_t n, cap;
} series_list_t;

static void series_list_free(series_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].v);
    free(l->v);
}

/* Appends a copy of `ls` (the series set's strings die with the set). */
static int series_list_add(series_list_t *l, promql_labels_t ls)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        series_labels_t *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return VIGIL_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    size_t bytes = ls.n * sizeof(promql_label_t);
    for (size_t i = 0; i < ls.n; i++)
        bytes += strlen(ls.v[i].name) + strlen(ls.v[i].value) + 2;
    promql_label_t *copy = malloc(bytes ? bytes : 1);
    if (copy == NULL)
        return VIGIL_ENOMEM;
    char *p = (char *)(copy + ls.n);
    for (size_t i = 0; i < ls.n; i++) {
        size_t nl = strlen(ls.v[i].name) + 1, vl = strlen(ls.v[i].value) + 1;
        copy[i].name = memcpy(p, ls.v[i].name, nl);
        copy[i].value = memcpy(p + nl, ls.v[i].value, vl);
        p += nl + vl;
    }
    l->v[l->n++] = (series_labels_t){ copy, ls.n };
    return 0;
}

/* Prometheus's labels.Compare: pair by pair, name then value; a prefix sorts first. */
static int cmp_series(const void *pa, const void *pb)
{
    const series_labels_t *a = pa, *b = pb;
    for (size_t i = 0; i < a->n && i < b->n; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c == 0)
            c = strcmp(a->v[i].value, b->v[i].value);
        if (c != 0)
            return c;
    }
    return a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
}

/* Adds every series one selector selects in [mint, maxt]. */
static int collect_series(const api_t *api, const promql_selector_t *sel, int64_t mint,
                          int64_t maxt, series_list_t *out, vigil_error_t *err)
{
    size_t n;
    const promql_matcher_t *ms = promql_selector_matchers(sel, &n);
    promql_series_set_t *ss;
    int rc = api->storage.ops->select(api->storage.ctx, ms, n, mint, maxt, &ss, err);
    if (rc != 0)
        return rc;
    while ((rc = ss->ops->next(ss, err)) == 1)
        if ((rc = series_list_add(out, ss->ops->labels(ss))) != 0) {
            vigil_error_set(err, rc, "out of memory");
            break;
        }
    ss->ops->close(ss);
    return rc < 0 ? rc : 0;
}

static int put_series_answer(http_response_t *resp, const series_list_t *l, size_t n,
                             bool truncated)
{
    buf_t *b = &resp->body;
    http_response_set_content_type(resp, "application/json");
    int rc = buf_puts(b, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = buf_putc(b, ',');
        rc = rc ? rc : api_put_labels(b, (promql_labels_t){ l->v[i].v, l->v[i].n });
    }
    rc = rc ? rc : buf_putc(b, ']');
    if (rc == 0 && truncated)
        rc = buf_puts(b, ",\"warnings\":[\"" API_TRUNCATED_WARNING "\"]");
    return rc ? rc : buf_putc(b, '}');
}

int api_handle_series(http_request_t *req, http_response_t *resp, void *ctx)
{
    api_t *api = ctx;
    if (http_request_param_count(req, "match[]") == 0)
        return http_response_error(resp, 400, "bad_data", "no match[] parameter provided");
    bool answered;
    int64_t mint, maxt;
    size_t limit;
    int rc = window_and_limit(req, resp, &mint, &maxt, &limit, &answered);
    if (answered || rc != 0)
        return rc;
    match_sets_t sets;
    rc = parse_match_sets(req, resp, &sets, &answered);
    if (answered || rc != 0)
        goto out_sets;
    series_list_t list = { NULL, 0, 0 };
    vigil_error_t err;
    for (size_t i = 0; rc == 0 && i < sets.n; i++)
        rc = collect_series(api, sets.v[i], mint, maxt, &list, &err);
    if (rc != 0) {
        rc = http_response_error(resp, rc == VIGIL_ENOMEM ? 500 : 422,
                                 rc == VIGIL_ENOMEM ? "internal" : "execution", "%s",
                                 err.message);
        goto out_list;
    }
    qsort(list.v, list.n, sizeof(*list.v), cmp_series);
    size_t uniq = 0;
    for (size_t i = 0; i < list.n; i++) {
        if (uniq > 0 && cmp_series(&list.v[uniq - 1], &list.v[i]) == 0) {
            free(list.v[i].v);
            continue;
        }
        list.v[uniq++] = list.v[i];
    }
    list.n = uniq;
    bool truncated = limit > 0 && list.n > limit;
    rc = put_series_answer(resp, &list, truncated ? limit : list.n, truncated);
out_list:
    series_list_free(&list);
out_sets:
    match_sets_free(&sets);
    return rc;
}

/* ---- /api/v1/labels and /api/v1/label/{name}/values ---- */

static int cmp_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Moves the strings of `from` to the end of `to` (both promql_strings_t lists). */
static int strings_append(promql_strings_t *to, promql_strings_t *from)
{
    if (from->n == 0)
        return 0;
    char **v = realloc(to->v, (to->n + from->n) * sizeof(*v));
    if (v == NULL)
        return VIGIL_ENOMEM;
    memcpy(v + to->n, from->v, from->n * sizeof(*v));
    to->v = v;
    to->n += from->n;
    free(from->v);
    from->v = NULL;
    from->n = 0;
    return 0;
}

/* Sorts and deduplicates a list merged from several selectors. */
static void strings_sort_unique(promql_strings_t *s)
{
    qsort(s->v, s->n, sizeof(*s->v), cmp_strings);
    size_t uniq = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (uniq > 0 && strcmp(s->v[uniq - 1], s->v[i]) == 0) {
            free(s->v[i]);
            continue;
        }
        s->v[uniq++] = s->v[i];
    }
    s->n = uniq;
}

/* Label names (name == NULL) or the values of `name` over the union of the match[] sets
 * (every series without match[]), then the answer with `limit` applied. */
static int answer_listing(http_request_t *req, http_response_t *resp, const api_t *api,
                          const char *name)
{
    bool answered;
    int64_t mint, maxt;
    size_t limit;
    int rc = window_and_limit(req, resp, &mint, &maxt, &limit, &answered);
    if (answered || rc != 0)
        return rc;
    match_sets_t sets;
    rc = parse_match_sets(req, resp, &sets, &answered);
    if (answered || rc != 0)
        goto out_sets;
    const promql_storage_ops_t *ops = api->storage.ops;
    promql_strings_t all = { NULL, 0 };
    vigil_error_t err;
    for (size_t i = 0; rc == 0 && i < (sets.n ? sets.n : 1); i++) {
        size_t n = 0;
        const promql_matcher_t *ms = sets.n ? promql_selector_matchers(sets.v[i], &n) : NULL;
        promql_strings_t one = { NULL, 0 };
        rc = name == NULL
                 ? ops->label_names(api->storage.ctx, ms, n, mint, maxt, &one, &err)
                 : ops->label_values(api->storage.ctx, name, ms, n, mint, maxt, &one, &err);
        if (rc == 0 && (rc = strings_append(&all, &one)) != 0)
            vigil_error_set(&err, rc, "out of memory");
        promql_strings_free(&one);
    }
    if (rc != 0) {
        rc = http_response_error(resp, rc == VIGIL_ENOMEM ? 500 : 422,
                                 rc == VIGIL_ENOMEM ? "internal" : "execution", "%s",
                                 err.message);
        goto out_strings;
    }
    if (sets.n > 1)
        strings_sort_unique(&all);
    bool truncated = limit > 0 && all.n > limit;
    rc = api_answer_strings(resp, (const char *const *)all.v, truncated ? limit : all.n,
                            truncated ? API_TRUNCATED_WARNING : NULL);
out_strings:
    promql_strings_free(&all);
out_sets:
    match_sets_free(&sets);
    return rc;
}

int api_handle_labels(http_request_t *req, http_response_t *resp, void *ctx)
{
    return answer_listing(req, resp, ctx, NULL);
}

int api_handle_label_values(http_request_t *req, http_response_t *resp, void *ctx)
{
    const char *name = http_request_path_param(req, "name");
    return answer_listing(req, resp, ctx, name != NULL ? name : "");
}

/* ---- /api/v1/metadata ---- */

typedef struct metadata_walk {
    buf_t      *b;
    const char *metric;   /* only this family, or NULL */
    long long   limit;    /* families; < 0: all */
    long long   written;
} metadata_walk_t;

static int put_metadata(void *arg, const api_metadata_t *m)
{
    metadata_walk_t *w = arg;
    if (w->metric != NULL && strcmp(w->metric, m->metric) != 0)
        return 0;
    if (w->limit >= 0 && w->written >= w->limit)
        return 1; /* stop the walk: the answer is complete */
    buf_t *b = w->b;
    int rc = buf_puts(b, w->written++ > 0 ? "," : "");
    rc = rc ? rc : buf_put_json_string(b, m->metric);
    /* vigil keeps one entry per family (the latest seen), and Prometheus's limit_per_metric
     * only applies when > 0, so it never shortens a one-entry list. */
    rc = rc ? rc : buf_puts(b, ":[{\"type\":");
    rc = rc ? rc : buf_put_json_string(b, m->type);
    rc = rc ? rc : buf_puts(b, ",\"help\":");
    rc = rc ? rc : buf_put_json_string(b, m->help);
    rc = rc ? rc : buf_puts(b, ",\"unit\":");
    rc = rc ? rc : buf_put_json_string(b, m->unit);
    rc = rc ? rc : buf_puts(b, "}]");
    return rc < 0 ? rc : 0;
}

/* Go's strconv.Atoi over a parameter, -1 when absent; false when not a number. */
static bool int_param(http_request_t *req, const char *name, long long *out)
{
    const char *s = http_request_param(req, name);
    *out = -1;
    if (s == NULL || s[0] == '\0')
        return true;
    char *end;
    *out = strtoll(s, &end, 10);
    return end != s && *end == '\0';
}

int api_handle_metadata(http_request_t *req, http_response_t *resp, void *ctx)
{
    api_t *api = ctx;
    metadata_walk_t w = { .b = &resp->body, .metric = http_request_param(req, "metric") };
    if (!int_param(req, "limit", &w.limit))
        return http_response_error(resp, 400, "bad_data", "limit must be a number");
    long long per_metric;
    if (!int_param(req, "limit_per_metric", &per_metric))
        return http_response_error(resp, 400, "bad_data", "limit_per_metric must be a number");
    if (w.metric != NULL && w.metric[0] == '\0')
        w.metric = NULL;
    http_response_set_content_type(resp, "application/json");
    int rc = buf_puts(&resp->body, "{\"status\":\"success\",\"data\":{");
    if (rc == 0 && api->metadata != NULL) {
        rc = api->metadata(api->metadata_ctx, put_metadata, &w);
        if (rc > 0)
            rc = 0; /* stopped by the limit */
    }
    return rc ? rc : buf_puts(&resp->body, "}}");
}
