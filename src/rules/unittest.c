/*
 * unittest.c - `promtool test rules` files run against vigil's rule evaluation
 * (../shared/peers/NOTES.md section 4 has the format and semantics).
 *
 * Per test group: a fresh in-memory store gets the input series (sample k at start + k *
 * interval); the rule files are loaded with the group's external labels and URL; every group
 * of rules (ordered by group_eval_order, the others first, in file order) is evaluated at each
 * evaluation_interval tick from the start to the largest eval_time, with alerting rules
 * "restored" so ALERTS series exist. An alert_rule_test at eval_time E is checked against
 * the evaluation at the tick t with t <= E < t + interval (firing alerts only); a
 * promql_expr_test is an instant query at E after all ticks. A rule failing to evaluate
 * stops the group. Messages follow promtool's so failures read the same.
 */
#include "rules/rules_int.h"
#include "rules/unittest_int.h"
#include "util/duration.h"

#include <glob.h>
#include <libgen.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ut {
    const char *file;
    yaml_document_t *doc;
    const rules_test_opts_t *o;
    rules_errors_t errs;
} ut_t;

__attribute__((format(printf, 2, 3)))
static void ut_err(ut_t *u, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char **nv = realloc(u->errs.v, (u->errs.n + 1) * sizeof(*nv));
    if (nv == NULL)
        return;
    u->errs.v = nv;
    if ((nv[u->errs.n] = strdup(msg)) != NULL)
        u->errs.n++;
}

/* ut_err about a place in the file: "FILE:LINE:COL: " and then the message. */
__attribute__((format(printf, 3, 4)))
static void ut_err_at(ut_t *u, const yaml_node_t *at, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ut_err(u, "%s:%u:%u: %s", u->file, yamldoc_line(at), yamldoc_col(at), msg);
}

/* Go's time.Duration.String() for whole milliseconds: "0s", "1m0s", "2m59.999s", "1h0m0s". */
static void go_duration(int64_t ms, char *out, size_t cap)
{
    if (ms == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    const char *sign = ms < 0 ? "-" : "";
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (a < 1000) {
        snprintf(out, cap, "%s%llums", sign, (unsigned long long)a);
        return;
    }
    uint64_t h = a / 3600000, m = a / 60000 % 60, s = a / 1000 % 60, f = a % 1000;
    char sec[32];
    if (f == 0) {
        snprintf(sec, sizeof(sec), "%llus", (unsigned long long)s);
    } else {
        snprintf(sec, sizeof(sec), "%llu.%03llu", (unsigned long long)s, (unsigned long long)f);
        size_t l = strlen(sec);
        while (sec[l - 1] == '0')
            sec[--l] = '\0';
        snprintf(sec + l, sizeof(sec) - l, "s");
    }
    if (h > 0)
        snprintf(out, cap, "%s%lluh%llum%s", sign, (unsigned long long)h, (unsigned long long)m,
                 sec);
    else if (m > 0)
        snprintf(out, cap, "%s%llum%s", sign, (unsigned long long)m, sec);
    else
        snprintf(out, cap, "%s%s", sign, sec);
}

static void model_duration(int64_t ms, char *out, size_t cap)
{
    duration_format(ms, out, cap);
}

/* ---- YAML field helpers ---- */

/* The key/value pairs of mapping n into *ps (the caller frees it). false when n is not a
 * mapping, recorded as a failure only when `report`: of the passes that read the same part of
 * the file, only one reports it. */
static bool pairs_of(ut_t *u, const yaml_node_t *n, bool report, yamldoc_pair_t **ps, size_t *k)
{
    vigil_error_t e;
    if (yamldoc_pairs(u->doc, u->file, n, ps, k, &e) == 0)
        return true;
    if (report)
        ut_err(u, "%s", e.message);
    return false;
}

/* A field read without a type check: yamldoc_str(), but "" for a mapping or a list too. */
static const char *text_or_empty(const yaml_node_t *n)
{
    const char *s = yamldoc_str(n);
    return s != NULL ? s : "";
}

static const char *str_of(ut_t *u, yaml_node_t *n, const char *field)
{
    const char *s = yamldoc_str(n);
    if (s == NULL)
        ut_err_at(u, n, "%s: cannot unmarshal %s into string", field, yamldoc_go_tag(n));
    return s;
}

static bool dur_of(ut_t *u, yaml_node_t *n, const char *field, int64_t *ms)
{
    const char *s = str_of(u, n, field);
    if (s == NULL)
        return false;
    if (*s == '\0') {
        *ms = 0;
        return true;
    }
    if (duration_parse(s, strlen(s), ms) != DURATION_OK) {
        ut_err_at(u, n, "not a valid duration string: \"%s\"", s);
        return false;
    }
    return true;
}

/* A YAML float (Go's yaml: numbers, .inf, .nan). */
static bool float_of(ut_t *u, yaml_node_t *n, double *v)
{
    const char *s = str_of(u, n, "value");
    if (s == NULL)
        return false;
    if (strcasecmp(s, ".inf") == 0 || strcasecmp(s, "+.inf") == 0) {
        *v = INFINITY;
        return true;
    }
    if (strcasecmp(s, "-.inf") == 0) {
        *v = -INFINITY;
        return true;
    }
    if (strcasecmp(s, ".nan") == 0) {
        *v = NAN;
        return true;
    }
    char *end;
    *v = strtod(s, &end);
    if (*s == '\0' || *end != '\0') {
        ut_err_at(u, n, "cannot unmarshal !!str `%s` into float64", s);
        return false;
    }
    return true;
}

/* Unix seconds ("1609459200", "1.5") or RFC 3339 ("2024-01-01T00:00:00Z", "+02:00"). */
static bool start_of(ut_t *u, yaml_node_t *n, int64_t *ms)
{
    const char *s = str_of(u, n, "start_timestamp");
    if (s == NULL)
        return false;
    char *end;
    double secs = strtod(s, &end);
    if (*s != '\0' && *end == '\0') {
        *ms = (int64_t)llround(secs * 1000);
        return true;
    }
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p != NULL) {
        int64_t frac = 0;
        if (*p == '.') {
            int64_t scale = 100;
            for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                frac += (*p - '0') * scale;
        }
        int64_t off = 0;
        if ((*p == '+' || *p == '-') && strlen(p) == 6) {
            off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
            if (*p == '-')
                off = -off;
            p += 6;
        } else if (*p == 'Z') {
            p++;
        } else {
            p = NULL;
        }
        if (p != NULL && *p == '\0') {
            *ms = ((int64_t)timegm(&tm) - off) * 1000 + frac;
            return true;
        }
    }
    ut_err_at(u, n, "start_timestamp: expected Unix seconds or RFC 3339, got \"%s\"", s);
    return false;
}

static bool labels_of(ut_t *u, yaml_node_t *n, rlabels_t *out)
{
    yamldoc_pair_t *ps;
    size_t k;
    memset(out, 0, sizeof(*out));
    if (!pairs_of(u, n, true, &ps, &k))
        return false;
    bool ok = true;
    for (size_t i = 0; i < k && ok; i++) {
        const char *v = str_of(u, ps[i].value, ps[i].key);
        ok = v != NULL && rl_set(out, ps[i].key, v) == 0;
    }
    free(ps);
    return ok;
}

static void unknown(ut_t *u, const yamldoc_pair_t *p, const char *type)
{
    if (!u->o->ignore_unknown_fields)
        ut_err_at(u, p->knode, "field %s not found in type %s", p->key, type);
}

/* ---- one test group ---- */

typedef struct group_run {
    ut_t *u;
    const char *name;           /* test group name or "" */
    int64_t eval_interval, interval, start;
    rlabels_t ext;
    const char *url;
    promql_memstore_t *mem;
    promql_engine_t *eng;
    rules_file_t **files;
    size_t n_files;
    rgroup_t *groups;
    size_t n_groups;
    bool fuzzy;
} group_run_t;

static void name_prefix(const group_run_t *g, char *out, size_t cap)
{
    if (g->name[0] != '\0')
        snprintf(out, cap, "    name: %s,\n", g->name);
    else
        out[0] = '\0';
}

static bool load_series(group_run_t *g, yaml_node_t *list)
{
    ut_t *u = g->u;
    size_t n;
    yaml_node_item_t *it = yamldoc_items(list, &n);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *node = yaml_document_get_node(u->doc, it[i]);
        yamldoc_pair_t *ps;
        size_t k;
        if (!pairs_of(u, node, true, &ps, &k))
            return false;
        const char *series = "", *values = "";
        for (size_t j = 0; j < k; j++) {
            if (strcmp(ps[j].key, "series") == 0)
                series = str_of(u, ps[j].value, "series");
            else if (strcmp(ps[j].key, "values") == 0)
                values = str_of(u, ps[j].value, "values");
            else
                unknown(u, &ps[j], "main.series");
        }
        free(ps);
        if (series == NULL || values == NULL)
            return false;
        rlabels_t l;
        char why[300];
        if (ut_parse_metric(series, &l, NULL, why, sizeof(why)) != 0) {
            ut_err_at(u, node, "input_series %s: %s", series, why);
            return false;
        }
        promql_series_values_t vs;
        vigil_error_t verr;
        bool histogram = false;
        int vrc = promql_series_values_parse(values, &vs, &verr);
        for (size_t j = 0; vrc == 0 && j < vs.n && !histogram; j++)
            histogram = vs.kind[j] == PROMQL_SLOT_HISTOGRAM;
        if (vrc != 0 || histogram) {
            /* vigil's store has no native histograms yet: refused, never stored wrongly */
            ut_err_at(u, node, "input_series %s: %s", series,
                      histogram ? "native histograms are not supported" : verr.message);
            promql_series_values_free(&vs);
            rl_free(&l);
            return false;
        }
        for (size_t j = 0; j < vs.n; j++)
            if (vs.kind[j] == PROMQL_SLOT_VALUE)
                promql_memstore_add(g->mem, l.v, l.n, g->start + (int64_t)j * g->interval,
                                    vs.v[j], false);
        promql_series_values_free(&vs);
        rl_free(&l);
    }
    return true;
}

/* Loads the rule files with this group's template data and orders the groups. */
static bool load_rules(group_run_t *g, char **paths, size_t n_paths, char **order,
                       size_t n_order)
{
    ut_t *u = g->u;
    rules_load_opts_t lo = { .tmpl = u->o->tmpl, .legacy_names = u->o->legacy_names,
                             .ignore_unknown_fields = u->o->ignore_unknown_fields };
    g->files = calloc(n_paths ? n_paths : 1, sizeof(*g->files));
    if (g->files == NULL)
        return false;
    size_t total = 0;
    bool ok = true;
    for (size_t i = 0; i < n_paths; i++) {
        rules_errors_t errs = { 0 };
        vigil_error_t e;
        if (rules_file_load(paths[i], NULL, 0, &lo, &g->files[i], &errs, &e) != 0) {
            for (size_t j = 0; j < errs.n; j++)
                ut_err(u, "%s", errs.v[j]);
            rules_errors_free(&errs);
            ok = false;
            continue;
        }
        g->n_files = i + 1;
        total += g->files[i]->n_groups;
    }
    for (size_t i = 0; i < n_paths && g->n_files < n_paths; i++)
        if (g->files[i] != NULL)
            g->n_files = i + 1;
    if (!ok)
        return false;
    g->groups = calloc(total ? total : 1, sizeof(*g->groups));
    if (g->groups == NULL)
        return false;
    /* Stable order: listed groups by their position after every unlisted one (index 0). */
    int *rank = calloc(total ? total : 1, sizeof(*rank));
    const rules_group_t **defs = calloc(total ? total : 1, sizeof(*defs));
    if (rank == NULL || defs == NULL) {
        free(rank);
        free(defs);
        return false;
    }
    size_t k = 0;
    for (size_t i = 0; i < g->n_files; i++)
        for (size_t j = 0; j < g->files[i]->n_groups; j++) {
            defs[k] = &g->files[i]->groups[j];
            rank[k] = 0;
            for (size_t x = 0; x < n_order; x++)
                if (strcmp(order[x], defs[k]->name) == 0)
                    rank[k] = (int)x;
            k++;
        }
    for (size_t x = 0; x < n_order; x++) {
        bool found = false;
        for (size_t i = 0; i < k && !found; i++)
            found = strcmp(order[x], defs[i]->name) == 0;
        if (!found) {
            ut_err(u, "group name %s in group_eval_order not found", order[x]);
            ok = false;
        }
    }
    for (int r = 0; ok && r <= (int)n_order; r++)
        for (size_t i = 0; i < k; i++)
            if (rank[i] == r) {
                rgroup_t *rg = &g->groups[g->n_groups];
                if (rgroup_init(rg, defs[i], g->interval, 0) != 0) {
                    ok = false;
                    break;
                }
                g->n_groups++;
                for (size_t x = 0; x < rg->n_rules; x++)
                    rg->rules[x].restored = true;
            }
    free(rank);
    free(defs);
    return ok;
}

typedef struct la {
    promql_labels_t l, a;
} la_t;

static int la_cmp(const void *x, const void *y)
{
    const la_t *p = x, *q = y;
    int c = rl_cmp(p->l, q->l);
    return c ? c : rl_cmp(p->a, q->a);
}

/* promtool's labelsAndAnnotations.String(), indented. */
static void la_string(buf_t *b, const la_t *v, size_t n)
{
    if (n == 0) {
        buf_puts(b, "[]");
        return;
    }
    buf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        buf_printf(b, "%s\n            %zu:\n              Labels:", i ? "," : "", i);
        rl_format(b, v[i].l);
        buf_puts(b, "\n              Annotations:");
        rl_format(b, v[i].a);
    }
    buf_puts(b, "\n            ]");
}

/* What the passes over an alert_rule_test or promql_expr_test item read. */
typedef struct test_case {
    int64_t      eval_time;   /* 0 when absent or not a duration (reported) */
    const char  *subject;     /* the alertname or the expr; "" when absent */
    yaml_node_t *exp;         /* exp_alerts or exp_samples; NULL when absent */
} test_case_t;

/* Reads one test item: eval_time, the subject under subject_key and the expected list under
 * exp_key. Other keys are reported as unknown fields of unknown_type, or passed over when it is
 * NULL. false, unreported, when the item is not a mapping: max_eval() reports that. */
static bool test_case_of(ut_t *u, yaml_node_t *node, const char *subject_key,
                         const char *exp_key, const char *unknown_type, test_case_t *tc)
{
    yamldoc_pair_t *ps;
    size_t k;
    if (!pairs_of(u, node, false, &ps, &k))
        return false;
    *tc = (test_case_t){ .eval_time = 0, .subject = "", .exp = NULL };
    for (size_t j = 0; j < k; j++) {
        if (strcmp(ps[j].key, "eval_time") == 0)
            dur_of(u, ps[j].value, "eval_time", &tc->eval_time);
        else if (strcmp(ps[j].key, subject_key) == 0)
            tc->subject = text_or_empty(ps[j].value);
        else if (strcmp(ps[j].key, exp_key) == 0)
            tc->exp = ps[j].value;
        else if (unknown_type != NULL)
            unknown(u, &ps[j], unknown_type);
    }
    free(ps);
    return true;
}

/* Checks the alert tests whose eval_time falls in [ts, ts + interval). */
static void check_alerts(group_run_t *g, yaml_node_t *tests, int64_t ts)
{
    ut_t *u = g->u;
    size_t n;
    yaml_node_item_t *it = yamldoc_items(tests, &n);
    for (size_t i = 0; i < n; i++) {
        test_case_t tc;
        if (!test_case_of(u, yaml_document_get_node(u->doc, it[i]), "alertname", "exp_alerts",
                          NULL, &tc))
            continue;
        int64_t et = tc.eval_time;
        const char *alertname = tc.subject;
        if (!(ts - g->start <= et && et < ts - g->start + g->eval_interval))
            continue;
        /* got: firing alerts of every rule with that name, in any group */
        la_t *got = NULL, *want = NULL;
        size_t ng = 0, nw = 0;
        for (size_t x = 0; x < g->n_groups; x++)
            for (size_t y = 0; y < g->groups[x].n_rules; y++) {
                rrule_t *r = &g->groups[x].rules[y];
                if (!r->def->alert || strcmp(r->def->name, alertname) != 0)
                    continue;
                for (size_t z = 0; z < r->n_active; z++) {
                    if (r->active[z]->state != ALERT_FIRING)
                        continue;
                    la_t *nv = realloc(got, (ng + 1) * sizeof(*nv));
                    if (nv == NULL)
                        continue;
                    got = nv;
                    got[ng++] = (la_t){ rl_view(&r->active[z]->labels),
                                        rl_view(&r->active[z]->annotations) };
                }
            }
        size_t ne;
        yaml_node_item_t *eit = yamldoc_items(tc.exp, &ne);
        rlabels_t *owned = calloc(2 * (ne ? ne : 1), sizeof(*owned));
        want = calloc(ne ? ne : 1, sizeof(*want));
        for (size_t x = 0; owned != NULL && want != NULL && x < ne; x++) {
            yaml_node_t *en = yaml_document_get_node(u->doc, eit[x]);
            yamldoc_pair_t *eps;
            size_t ek;
            if (!pairs_of(u, en, false, &eps, &ek))
                continue;
            for (size_t j = 0; j < ek; j++) {
                if (strcmp(eps[j].key, "exp_labels") == 0)
                    labels_of(u, eps[j].value, &owned[2 * x]);
                else if (strcmp(eps[j].key, "exp_annotations") == 0)
                    labels_of(u, eps[j].value, &owned[2 * x + 1]);
            }
            free(eps);
            rl_set(&owned[2 * x], "alertname", alertname);
            want[nw++] = (la_t){ rl_view(&owned[2 * x]), rl_view(&owned[2 * x + 1]) };
        }
        if (ng > 1)
            qsort(got, ng, sizeof(*got), la_cmp);
        if (nw > 1)
            qsort(want, nw, sizeof(*want), la_cmp);
        bool equal = ng == nw;
        for (size_t x = 0; equal && x < ng; x++)
            equal = la_cmp(&got[x], &want[x]) == 0;
        if (!equal) {
            char pre[600], d[64];
            name_prefix(g, pre, sizeof(pre));
            model_duration(et, d, sizeof(d));
            buf_t eb, gb;
            buf_init(&eb, 1 << 20);
            buf_init(&gb, 1 << 20);
            la_string(&eb, want, nw);
            la_string(&gb, got, ng);
            ut_err(u, "%s    alertname: %s, time: %s, \n        exp:%s, \n        got:%s", pre,
                   alertname, d, eb.data ? eb.data : "", gb.data ? gb.data : "");
            buf_free(&eb);
            buf_free(&gb);
        }
        for (size_t x = 0; owned != NULL && x < 2 * ne; x++)
            rl_free(&owned[x]);
        free(owned);
        free(want);
        free(got);
    }
}

typedef struct ps {
    rlabels_t l;
    double v;
} ps_t;

static int ps_cmp(const void *x, const void *y)
{
    return rl_cmp(rl_view(&((const ps_t *)x)->l), rl_view(&((const ps_t *)y)->l));
}

static void ps_string(buf_t *b, const ps_t *v, size_t n)
{
    if (n == 0) {
        buf_puts(b, "nil");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_puts(b, ", ");
        rl_format(b, rl_view(&v[i].l));
        char num[40];
        if (isnan(v[i].v))
            snprintf(num, sizeof(num), "NaN");
        else if (isinf(v[i].v))
            snprintf(num, sizeof(num), v[i].v > 0 ? "+Inf" : "-Inf");
        else {
            int prec = 1;
            for (; prec <= 17; prec++) {   /* strconv 'E', -1: shortest */
                snprintf(num, sizeof(num), "%.*E", prec - 1, v[i].v);
                if (strtod(num, NULL) == v[i].v)
                    break;
            }
        }
        buf_printf(b, " %s", num);
    }
}

static bool floats_equal(double x, double y, bool fuzzy)
{
    if (x == y || (isnan(x) && isnan(y)))
        return true;
    return fuzzy && nextafter(x, y) == y;   /* one unit in the last place */
}

static void check_exprs(group_run_t *g, yaml_node_t *tests)
{
    ut_t *u = g->u;
    size_t n;
    yaml_node_item_t *it = yamldoc_items(tests, &n);
    promql_storage_t st = promql_memstore_storage(g->mem);
    for (size_t i = 0; i < n; i++) {
        test_case_t tc;
        if (!test_case_of(u, yaml_document_get_node(u->doc, it[i]), "expr", "exp_samples", NULL,
                          &tc))
            continue;
        int64_t et = tc.eval_time;
        const char *expr = tc.subject;
        char d[64], pre[600];
        model_duration(et, d, sizeof(d));
        name_prefix(g, pre, sizeof(pre));
        promql_result_t *res;
        vigil_error_t e;
        vigil_error_clear(&e);
        if (promql_query_instant(g->eng, &st, expr, g->start + et, NULL, &res, &e) != 0) {
            ut_err(u, "%s    expr: \"%s\", time: %s, err: %s", pre, expr, d, e.message);
            continue;
        }
        if (res->type != PROMQL_VALUE_VECTOR && res->type != PROMQL_VALUE_SCALAR) {
            ut_err(u, "%s    expr: \"%s\", time: %s, err: rule result is not a vector or scalar",
                   pre, expr, d);
            promql_result_free(res);
            continue;
        }
        size_t ng = res->type == PROMQL_VALUE_SCALAR ? 1 : res->n_vector;
        ps_t *got = calloc(ng ? ng : 1, sizeof(*got));
        size_t ne;
        yaml_node_item_t *eit = yamldoc_items(tc.exp, &ne);
        ps_t *want = calloc(ne ? ne : 1, sizeof(*want));
        bool bad = got == NULL || want == NULL;
        for (size_t x = 0; !bad && x < ng; x++) {
            if (res->type == PROMQL_VALUE_SCALAR)
                got[x].v = res->scalar;
            else {
                rl_copy(&got[x].l, res->vector[x].labels);
                got[x].v = res->vector[x].v;
            }
        }
        promql_result_free(res);
        size_t nw = 0;
        for (size_t x = 0; !bad && x < ne; x++, nw++) {
            yaml_node_t *en = yaml_document_get_node(u->doc, eit[x]);
            yamldoc_pair_t *eps;
            size_t ek;
            if (!pairs_of(u, en, true, &eps, &ek)) {
                bad = true;
                break;
            }
            const char *labels = "";
            for (size_t j = 0; j < ek && !bad; j++) {
                if (strcmp(eps[j].key, "labels") == 0)
                    labels = text_or_empty(eps[j].value);
                else if (strcmp(eps[j].key, "value") == 0)
                    bad = !float_of(u, eps[j].value, &want[x].v);
                else if (strcmp(eps[j].key, "histogram") == 0) {
                    ut_err(u, "%s    expr: \"%s\", time: %s, err: native histograms are not "
                           "supported", pre, expr, d);
                    bad = true;
                }
            }
            free(eps);
            char why[300];
            if (!bad && ut_parse_metric(labels, &want[x].l, NULL, why, sizeof(why)) != 0) {
                ut_err(u, "%s    expr: \"%s\", time: %s, err: labels \"%s\": %s", pre, expr, d,
                       labels, why);
                bad = true;
            }
        }
        if (!bad) {
            qsort(got, ng, sizeof(*got), ps_cmp);
            qsort(want, nw, sizeof(*want), ps_cmp);
            bool equal = ng == nw;
            for (size_t x = 0; equal && x < ng; x++)
                equal = rl_equal(rl_view(&got[x].l), rl_view(&want[x].l)) &&
                        floats_equal(want[x].v, got[x].v, g->fuzzy);
            if (!equal) {
                buf_t eb, gb;
                buf_init(&eb, 1 << 20);
                buf_init(&gb, 1 << 20);
                ps_string(&eb, want, nw);
                ps_string(&gb, got, ng);
                ut_err(u, "%s    expr: \"%s\", time: %s,\n        exp: %s\n        got: %s", pre,
                       expr, d, eb.data ? eb.data : "", gb.data ? gb.data : "");
                buf_free(&eb);
                buf_free(&gb);
            }
        }
        for (size_t x = 0; got != NULL && x < ng; x++)
            rl_free(&got[x].l);
        for (size_t x = 0; want != NULL && x < ne; x++)
            rl_free(&want[x].l);
        free(got);
        free(want);
    }
}

/* The largest eval_time of a list of tests. */
static int64_t max_eval(ut_t *u, yaml_node_t *tests, int64_t cur)
{
    size_t n;
    yaml_node_item_t *it = yamldoc_items(tests, &n);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *node = yaml_document_get_node(u->doc, it[i]);
        yamldoc_pair_t *ps;
        size_t k;
        if (!pairs_of(u, node, true, &ps, &k))
            continue;
        for (size_t j = 0; j < k; j++) {
            int64_t t;
            if (strcmp(ps[j].key, "eval_time") == 0 && dur_of(u, ps[j].value, "eval_time", &t) &&
                t > cur)
                cur = t;
        }
        free(ps);
    }
    return cur;
}

static bool alert_tests_named(ut_t *u, yaml_node_t *tests, const char *group_name)
{
    size_t n;
    yaml_node_item_t *it = yamldoc_items(tests, &n);
    for (size_t i = 0; i < n; i++) {
        test_case_t tc;
        if (!test_case_of(u, yaml_document_get_node(u->doc, it[i]), "alertname", "exp_alerts",
                          "main.alertTestCase", &tc))
            continue;
        if (*tc.subject == '\0') {
            char d[64];
            model_duration(tc.eval_time, d, sizeof(d));
            ut_err(u, "an item under alert_rule_test misses required attribute alertname at "
                   "eval_time %s%s%s%s", d, *group_name ? " (in TestGroup " : "", group_name,
                   *group_name ? ")" : "");
            return false;
        }
    }
    return true;
}

static void run_group(ut_t *u, yaml_node_t *node, char **paths, size_t n_paths,
                      int64_t eval_interval, char **order, size_t n_order, bool fuzzy)
{
    yamldoc_pair_t *ps;
    size_t k;
    if (!pairs_of(u, node, true, &ps, &k))
        return;
    group_run_t g = { .u = u, .name = "", .eval_interval = eval_interval,
                      .interval = eval_interval, .url = "", .fuzzy = fuzzy };
    yaml_node_t *series = NULL, *alerts = NULL, *exprs = NULL;
    bool ok = true;
    for (size_t j = 0; j < k; j++) {
        const char *key = ps[j].key;
        yaml_node_t *v = ps[j].value;
        if (strcmp(key, "name") == 0)
            g.name = text_or_empty(v);
        else if (strcmp(key, "interval") == 0) {
            int64_t iv = 0;
            ok = dur_of(u, v, "interval", &iv) && ok;
            if (iv > 0)
                g.interval = iv;
        } else if (strcmp(key, "start_timestamp") == 0)
            ok = start_of(u, v, &g.start) && ok;
        else if (strcmp(key, "external_labels") == 0)
            ok = labels_of(u, v, &g.ext) && ok;
        else if (strcmp(key, "external_url") == 0)
            g.url = text_or_empty(v);
        else if (strcmp(key, "input_series") == 0)
            series = v;
        else if (strcmp(key, "alert_rule_test") == 0)
            alerts = v;
        else if (strcmp(key, "promql_expr_test") == 0)
            exprs = v;
        else
            unknown(u, &ps[j], "main.testGroup");
    }
    free(ps);
    if (!ok || !alert_tests_named(u, alerts, g.name))
        goto out;
    g.mem = promql_memstore_create();
    promql_engine_opts_t eo = { .default_step_ms = eval_interval };
    g.eng = promql_engine_create(&eo);
    if (g.mem == NULL || g.eng == NULL)
        goto out;
    if (!load_series(&g, series) || !load_rules(&g, paths, n_paths, order, n_order))
        goto out;

    rules_store_t store = rules_store_memstore(g.mem);
    rules_eval_env_t env = {
        .engine = g.eng, .store = &store,
        .tmpl = u->o->tmpl ? u->o->tmpl : rules_tmpl_default(),
        .external_labels = rl_view(&g.ext), .external_url = g.url,
        .resend_delay_ms = 60000,
    };
    int64_t maxt = g.start + max_eval(u, exprs, max_eval(u, alerts, 0));
    for (int64_t ts = g.start; ts <= maxt; ts += eval_interval) {
        size_t before = u->errs.n;
        for (size_t i = 0; i < g.n_groups; i++) {
            rgroup_eval(&g.groups[i], &env, ts);
            for (size_t j = 0; j < g.groups[i].n_rules; j++) {
                const rrule_t *r = &g.groups[i].rules[j];
                if (r->last_error != NULL) {
                    char d[64];
                    go_duration(ts, d, sizeof(d));
                    ut_err(u, "    rule: %s, time: %s, err: %s", r->def->name, d,
                           r->last_error);
                }
            }
        }
        if (u->errs.n > before)
            goto out;
        check_alerts(&g, alerts, ts);
    }
    check_exprs(&g, exprs);
out:
    for (size_t i = 0; i < g.n_groups; i++)
        rgroup_destroy(&g.groups[i]);
    free(g.groups);
    for (size_t i = 0; i < g.n_files; i++)
        rules_file_free(g.files[i]);
    free(g.files);
    promql_engine_free(g.eng);
    promql_memstore_free(g.mem);
    rl_free(&g.ext);
}

/* ---- the file ---- */

/* Appends a copy of s to the array *v of *n strings. false when out of memory (*v stays
 * valid, to be freed with free_strs). */
static bool push_copy(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (nv == NULL)
        return false;
    *v = nv;
    if ((nv[*n] = strdup(s)) == NULL)
        return false;
    (*n)++;
    return true;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool matches_run(const char *run, const char *name)
{
    if (run == NULL)
        return true;
    regex_t re;
    if (regcomp(&re, run, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool m = regexec(&re, name, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

/* rule_files globs, relative to the test file's directory. */
static bool resolve_files(ut_t *u, yaml_node_t *list, char ***out, size_t *n)
{
    char *copy = strdup(u->file);
    if (copy == NULL)
        return false;
    const char *dir = dirname(copy);
    size_t k;
    yaml_node_item_t *it = yamldoc_items(list, &k);
    bool ok = true;
    for (size_t i = 0; i < k && ok; i++) {
        const char *pat = str_of(u, yaml_document_get_node(u->doc, it[i]), "rule_files");
        if (pat == NULL) {
            ok = false;
            break;
        }
        char full[4096];
        if (pat[0] == '/')
            snprintf(full, sizeof(full), "%s", pat);
        else
            snprintf(full, sizeof(full), "%s/%s", dir, pat);
        glob_t gl;
        int rc = glob(full, 0, NULL, &gl);
        if (rc == GLOB_NOMATCH) {
            /* a literal path that does not exist fails when loaded, with its name */
            ok = push_copy(out, n, full);
            continue;
        }
        for (size_t j = 0; rc == 0 && ok && j < gl.gl_pathc; j++)
            ok = push_copy(out, n, gl.gl_pathv[j]);
        globfree(&gl);
    }
    free(copy);
    return ok;
}

static void run_file(ut_t *u)
{
    vigil_error_t e;
    yaml_document_t doc;
    if (yamldoc_load_file(&doc, u->file, &rules_yaml, &e) != 0) {
        ut_err(u, "%s", e.message);
        return;
    }
    u->doc = &doc;
    yamldoc_pair_t *ps = NULL;
    size_t k = 0;
    char **paths = NULL, **order = NULL;
    size_t n_paths = 0, n_order = 0;
    int64_t eval_interval = 60000;
    bool fuzzy = false;
    yaml_node_t *tests = NULL;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL && !pairs_of(u, root, true, &ps, &k))
        goto out;
    size_t before = u->errs.n;
    for (size_t i = 0; i < k; i++) {
        const char *key = ps[i].key;
        yaml_node_t *v = ps[i].value;
        if (strcmp(key, "rule_files") == 0) {
            resolve_files(u, v, &paths, &n_paths);
        } else if (strcmp(key, "evaluation_interval") == 0) {
            int64_t iv = 0;
            if (dur_of(u, v, "evaluation_interval", &iv) && iv > 0)
                eval_interval = iv;
        } else if (strcmp(key, "fuzzy_compare") == 0) {
            const char *s = yamldoc_str(v);
            fuzzy = s != NULL && strcmp(s, "true") == 0;
        } else if (strcmp(key, "group_eval_order") == 0) {
            size_t n;
            yaml_node_item_t *it = yamldoc_items(v, &n);
            for (size_t j = 0; j < n; j++) {
                const char *s = str_of(u, yaml_document_get_node(&doc, it[j]), "group_eval_order");
                if (s == NULL)
                    continue;
                for (size_t x = 0; x < n_order; x++)
                    if (strcmp(order[x], s) == 0)
                        ut_err(u, "group name repeated in evaluation order: %s", s);
                push_copy(&order, &n_order, s);
            }
        } else if (strcmp(key, "tests") == 0) {
            tests = v;
        } else {
            unknown(u, &ps[i], "main.unitTestFile");
        }
    }
    if (u->errs.n > before)
        goto out;
    size_t n;
    yaml_node_item_t *it = yamldoc_items(tests, &n);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *tg = yaml_document_get_node(&doc, it[i]);
        char unnamed[32];
        const char *name = NULL;
        yamldoc_pair_t *tps;
        size_t tk;
        if (pairs_of(u, tg, false, &tps, &tk)) {
            for (size_t j = 0; j < tk; j++)
                if (strcmp(tps[j].key, "name") == 0)
                    name = yamldoc_str(tps[j].value);
            free(tps);
        }
        snprintf(unnamed, sizeof(unnamed), "unnamed#%zu", i);
        if (!matches_run(u->o->run, name && *name ? name : unnamed))
            continue;
        run_group(u, tg, paths, n_paths, eval_interval, order, n_order, fuzzy);
    }
out:
    free(ps);
    free_strs(paths, n_paths);
    free_strs(order, n_order);
    yaml_document_delete(&doc);
}

int rules_test_file(const char *path, const rules_test_opts_t *o, FILE *out)
{
    static const rules_test_opts_t defaults = { 0 };
    ut_t u = { .file = path, .o = o ? o : &defaults };
    fprintf(out, "Unit Testing:  %s\n", path);
    run_file(&u);
    int rc = 0;
    if (u.errs.n > 0) {
        fprintf(out, "  FAILED:\n");
        for (size_t i = 0; i < u.errs.n; i++)
            fprintf(out, "%s\n\n", u.errs.v[i]);
        rc = 1;
    } else {
        fprintf(out, "  SUCCESS\n");
    }
    fprintf(out, "\n");
    rules_errors_free(&u.errs);
    return rc;
}
