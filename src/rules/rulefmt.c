/*
 * rulefmt.c - Prometheus rule files (model/rulefmt): YAML -> rules_file_t, with every problem
 * reported as "FILE:LINE:COL: ..." and the messages Prometheus uses, so promtool's expected
 * substrings hold ("groupname: \"x\" is repeated in the same file", "field 'expr' must be set
 * in rule", ...).
 *
 * Two passes, as Go's rulefmt does: the structure (known fields, types, durations) first; only
 * a structurally sound file is validated (names, expressions, templates). Templates of alerting
 * rules are compiled here, at load time, so an unsupported construct fails the load instead of
 * producing a wrong text at evaluation.
 *
 *   groups:
 *     - name: NAME                 required, unique in the file
 *       interval: DURATION         default: the manager's evaluation interval
 *       query_offset: DURATION
 *       limit: INT                 alerts/series per rule; 0 = none
 *       labels: {k: v}             added to every rule (the rule's own labels win)
 *       rules:
 *         - record: NAME | alert: NAME
 *           expr: PROMQL
 *           for: DURATION          alerting only
 *           keep_firing_for: DURATION   alerting only
 *           labels: {k: v}         templates allowed in alerting rules
 *           annotations: {k: v}    alerting only, templates allowed
 */
#include "rules/rules_int.h"
#include "util/duration.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rule and unit-test files as promtool reads them: Go's yaml.Decoder reads the first document
 * only, its syntax errors read "yaml: ...", and merge keys work (yamldoc_pairs()). */
const yamldoc_opts_t rules_yaml = {
    .max_len = RULES_FILE_MAX,
    .too_large = "file too large",
    .syntax = YAMLDOC_SYNTAX_GO,
};

typedef struct loader {
    const char *file;
    yaml_document_t *doc;
    const rules_load_opts_t *o;
    const rules_tmpl_ops_t *t;
    rules_errors_t *errs;
    vigil_error_t *err;       /* first problem */
    int code;                 /* first code: VIGIL_EPARSE unless memory ran out */
    bool structural;          /* a structural problem was found: skip validation */
} loader_t;

void rules_errors_free(rules_errors_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

static void problem_raw(loader_t *ld, int code, const char *full);

/* Records "FILE:LINE:COL: message". Out of memory keeps the first error only. */
__attribute__((format(printf, 5, 6)))
static void problem(loader_t *ld, int code, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char full[1200];
    snprintf(full, sizeof(full), "%s:%u:%u: %s", ld->file, line, col, msg);
    problem_raw(ld, code, full);
}

/* Records a message that already starts with "FILE:LINE:COL: ". */
static void problem_raw(loader_t *ld, int code, const char *full)
{
    if (ld->code == 0) {
        ld->code = code;
        vigil_error_set(ld->err, code, "%s", full);
    }
    if (ld->errs == NULL)
        return;
    char **nv = realloc(ld->errs->v, (ld->errs->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return;
    ld->errs->v = nv;
    if ((nv[ld->errs->n] = strdup(full)) != NULL)
        ld->errs->n++;
}

static void oom(loader_t *ld)
{
    problem(ld, VIGIL_ENOMEM, 0, 0, "out of memory");
    ld->code = VIGIL_ENOMEM;
}

/* ---- structure ---- */

static void unknown_field(loader_t *ld, const yamldoc_pair_t *p, const char *type)
{
    if (ld->o->ignore_unknown_fields)
        return;
    ld->structural = true;
    problem(ld, VIGIL_EPARSE, yamldoc_line(p->knode), yamldoc_col(p->knode),
            "field %s not found in type rulefmt.%s", p->key, type);
}

/* A string field: any scalar (Go's yaml decodes 1 or true into a string field too). */
static const char *want_str(loader_t *ld, yaml_node_t *v)
{
    const char *s = yamldoc_str(v);
    if (s == NULL) {
        ld->structural = true;
        problem(ld, VIGIL_EPARSE, yamldoc_line(v), yamldoc_col(v),
                "cannot unmarshal %s into string", yamldoc_go_tag(v));
    }
    return s;
}

static bool want_duration(loader_t *ld, yaml_node_t *v, int64_t *ms)
{
    const char *s = want_str(ld, v);
    if (s == NULL)
        return false;
    if (*s == '\0') {
        *ms = 0;
        return true;
    }
    if (duration_parse(s, strlen(s), ms) != DURATION_OK) {
        ld->structural = true;
        problem(ld, VIGIL_EPARSE, yamldoc_line(v), yamldoc_col(v),
                "not a valid duration string: \"%s\"", s);
        return false;
    }
    return true;
}

static bool want_int(loader_t *ld, yaml_node_t *v, int *out)
{
    const char *s = yamldoc_str(v);
    char *end = NULL;
    long x = 0;
    if (s != NULL && *s != '\0') {
        x = strtol(s, &end, 10);
    }
    if (s == NULL || (*s != '\0' && (*end != '\0' || x < -2147483647L || x > 2147483647L)) ||
        (v->type == YAML_SCALAR_NODE && v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)) {
        ld->structural = true;
        problem(ld, VIGIL_EPARSE, yamldoc_line(v), yamldoc_col(v),
                "cannot unmarshal %s `%s` into int", yamldoc_go_tag(v), s ? s : "");
        return false;
    }
    *out = (int)x;
    return true;
}

/* A {name: value} mapping of strings into kv (sorted by name; NULL templates). */
static bool want_kvs(loader_t *ld, yaml_node_t *v, rules_kv_t **out, size_t *n,
                     yaml_node_t ***keys)
{
    yamldoc_pair_t *ps;
    size_t k;
    vigil_error_t e;
    *out = NULL;
    *n = 0;
    if (yamldoc_pairs(ld->doc, ld->file, v, &ps, &k, &e) != 0) {
        ld->structural = true;
        if (v->type != YAML_MAPPING_NODE)
            problem(ld, VIGIL_EPARSE, yamldoc_line(v), yamldoc_col(v),
                    "cannot unmarshal %s into map[string]string", yamldoc_go_tag(v));
        else
            problem_raw(ld, e.code, e.message);
        return false;
    }
    if (k == 0) {
        free(ps);
        return true;
    }
    rules_kv_t *kv = calloc(k, sizeof(*kv));
    yaml_node_t **kn = calloc(k, sizeof(*kn));
    if (kv == NULL || kn == NULL) {
        free(kv);
        free(kn);
        free(ps);
        oom(ld);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < k; i++) {
        const char *val = want_str(ld, ps[i].value);
        if (val == NULL) {
            ok = false;
            continue;
        }
        /* insertion sort by name: maps are small */
        size_t j = *n;
        while (j > 0 && strcmp(kv[j - 1].name, ps[i].key) > 0) {
            kv[j] = kv[j - 1];
            kn[j] = kn[j - 1];
            j--;
        }
        kv[j].name = strdup(ps[i].key);
        kv[j].value = strdup(val);
        kv[j].tmpl = NULL;
        kn[j] = ps[i].knode;
        (*n)++;
        if (kv[j].name == NULL || kv[j].value == NULL) {
            oom(ld);
            ok = false;
            break;
        }
    }
    free(ps);
    *out = kv;
    if (keys != NULL)
        *keys = kn;
    else
        free(kn);
    return ok;
}

static void kvs_free(const rules_tmpl_ops_t *t, rules_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
        if (kv[i].tmpl != NULL && t != NULL)
            t->release(t->ctx, kv[i].tmpl);
    }
    free(kv);
}

/* Where the fields of one rule were written, for messages. */
typedef struct rule_nodes {
    yaml_node_t *map, *record, *alert, *expr;
    yaml_node_t **label_keys, **ann_keys;
} rule_nodes_t;

static void parse_rule(loader_t *ld, yaml_node_t *node, rules_rule_t *r, rule_nodes_t *rn)
{
    yamldoc_pair_t *ps;
    size_t k;
    vigil_error_t e;
    memset(rn, 0, sizeof(*rn));
    rn->map = node;
    r->line = yamldoc_line(node);
    r->col = yamldoc_col(node);
    if (node->type != YAML_MAPPING_NODE) {
        ld->structural = true;
        problem(ld, VIGIL_EPARSE, yamldoc_line(node), yamldoc_col(node),
                "cannot unmarshal %s into rulefmt.Rule", yamldoc_go_tag(node));
        return;
    }
    if (yamldoc_pairs(ld->doc, ld->file, node, &ps, &k, &e) != 0) {
        ld->structural = true;
        problem_raw(ld, e.code, e.message);
        return;
    }
    const char *record = "", *alert = "", *expr = "";
    for (size_t i = 0; i < k; i++) {
        const char *key = ps[i].key;
        yaml_node_t *v = ps[i].value;
        if (strcmp(key, "record") == 0) {
            if ((record = want_str(ld, v)) == NULL)
                record = "";
            rn->record = v;
        } else if (strcmp(key, "alert") == 0) {
            if ((alert = want_str(ld, v)) == NULL)
                alert = "";
            rn->alert = v;
        } else if (strcmp(key, "expr") == 0) {
            if ((expr = want_str(ld, v)) == NULL)
                expr = "";
            rn->expr = v;
        } else if (strcmp(key, "for") == 0) {
            want_duration(ld, v, &r->for_ms);
        } else if (strcmp(key, "keep_firing_for") == 0) {
            want_duration(ld, v, &r->keep_firing_for_ms);
        } else if (strcmp(key, "labels") == 0) {
            want_kvs(ld, v, &r->labels, &r->n_labels, &rn->label_keys);
        } else if (strcmp(key, "annotations") == 0) {
            want_kvs(ld, v, &r->annotations, &r->n_annotations, &rn->ann_keys);
        } else {
            unknown_field(ld, &ps[i], "Rule");
        }
    }
    free(ps);
    /* Both names are kept for validation; `name` is the one Prometheus reports. */
    r->alert = *alert != '\0';
    r->name = strdup(r->alert ? alert : record);
    r->expr = strdup(expr);
    if (r->name == NULL || r->expr == NULL)
        oom(ld);
    yaml_node_t *at = r->alert ? rn->alert : rn->record;
    if (at != NULL) {
        r->line = yamldoc_line(at);
        r->col = yamldoc_col(at);
    }
}

static void parse_group(loader_t *ld, yaml_node_t *node, rules_group_t *g, rule_nodes_t **rns,
                        yaml_node_t ***glabel_keys, rules_kv_t **glabels, size_t *n_glabels)
{
    yamldoc_pair_t *ps;
    size_t k;
    vigil_error_t e;
    g->line = yamldoc_line(node);
    g->col = yamldoc_col(node);
    if (node->type != YAML_MAPPING_NODE) {
        ld->structural = true;
        problem(ld, VIGIL_EPARSE, g->line, g->col, "cannot unmarshal %s into rulefmt.RuleGroup",
                yamldoc_go_tag(node));
        return;
    }
    if (yamldoc_pairs(ld->doc, ld->file, node, &ps, &k, &e) != 0) {
        ld->structural = true;
        problem_raw(ld, e.code, e.message);
        return;
    }
    const char *name = "";
    yaml_node_t *rules = NULL;
    for (size_t i = 0; i < k; i++) {
        const char *key = ps[i].key;
        yaml_node_t *v = ps[i].value;
        if (strcmp(key, "name") == 0) {
            if ((name = want_str(ld, v)) == NULL)
                name = "";
        } else if (strcmp(key, "interval") == 0) {
            want_duration(ld, v, &g->interval_ms);
        } else if (strcmp(key, "query_offset") == 0) {
            g->has_query_offset = want_duration(ld, v, &g->query_offset_ms) && !yamldoc_is_null(v);
        } else if (strcmp(key, "limit") == 0) {
            want_int(ld, v, &g->limit);
        } else if (strcmp(key, "labels") == 0) {
            want_kvs(ld, v, glabels, n_glabels, glabel_keys);
        } else if (strcmp(key, "rules") == 0) {
            rules = v;
        } else {
            unknown_field(ld, &ps[i], "RuleGroup");
        }
    }
    free(ps);
    if ((g->name = strdup(name)) == NULL || (g->file = strdup(ld->file)) == NULL) {
        oom(ld);
        return;
    }
    if (rules == NULL || yamldoc_is_null(rules))
        return;
    if (rules->type != YAML_SEQUENCE_NODE) {
        ld->structural = true;
        problem(ld, VIGIL_EPARSE, yamldoc_line(rules), yamldoc_col(rules),
                "cannot unmarshal %s into []rulefmt.Rule", yamldoc_go_tag(rules));
        return;
    }
    size_t n;
    yaml_node_item_t *it = yamldoc_items(rules, &n);
    if (n == 0)
        return;
    g->rules = calloc(n, sizeof(*g->rules));
    *rns = calloc(n, sizeof(**rns));
    if (g->rules == NULL || *rns == NULL) {
        oom(ld);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        parse_rule(ld, yaml_document_get_node(ld->doc, it[i]), &g->rules[i], &(*rns)[i]);
        g->n_rules = i + 1;
    }
}

/* ---- validation ---- */

__attribute__((format(printf, 6, 7)))
static void rule_problem(loader_t *ld, const rules_group_t *g, size_t i, const yaml_node_t *at,
                         const rules_rule_t *r, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    unsigned line = at ? yamldoc_line(at) : r->line, col = at ? yamldoc_col(at) : r->col;
    problem(ld, VIGIL_EPARSE, line, col, "group \"%s\", rule %zu, \"%s\": %s", g->name, i + 1,
            r->name ? r->name : "", msg);
}

static void check_label_kvs(loader_t *ld, const rules_group_t *g, size_t i, const rules_rule_t *r,
                            const rules_kv_t *kv, size_t n, yaml_node_t **keys, bool annotations)
{
    for (size_t j = 0; j < n; j++) {
        const yaml_node_t *at = keys ? keys[j] : NULL;
        bool bad = !rules_label_name_valid(kv[j].name, ld->o->legacy_names) ||
                   (!annotations && strcmp(kv[j].name, "__name__") == 0);
        if (bad)
            rule_problem(ld, g, i, at, r, "invalid %s name: %s",
                         annotations ? "annotation" : "label", kv[j].name);
        if (!annotations && !rules_utf8_valid(kv[j].value))
            rule_problem(ld, g, i, at, r, "invalid label value: %s", kv[j].value);
    }
}

static void compile_kvs(loader_t *ld, const rules_group_t *g, size_t i, const rules_rule_t *r,
                        rules_kv_t *kv, size_t n, yaml_node_t **keys, const char *what)
{
    char name[600];
    snprintf(name, sizeof(name), "__alert_%s", r->name);
    for (size_t j = 0; j < n; j++) {
        if (strstr(kv[j].value, "{{") == NULL)
            continue;   /* plain text expands to itself */
        vigil_error_t e;
        vigil_error_clear(&e);
        if (ld->t->compile(ld->t->ctx, name, kv[j].value, &kv[j].tmpl, &e) != 0) {
            kv[j].tmpl = NULL;
            rule_problem(ld, g, i, keys ? keys[j] : NULL, r, "%s \"%s\": %s", what, kv[j].name,
                         e.message);
        }
    }
}

static void validate_rule(loader_t *ld, const rules_group_t *g, size_t i, rules_rule_t *r,
                          const rule_nodes_t *rn)
{
    const char *record = rn->record ? yamldoc_str(rn->record) : "";
    const char *alert = rn->alert ? yamldoc_str(rn->alert) : "";
    if (*record && *alert)
        rule_problem(ld, g, i, rn->record, r, "only one of 'record' and 'alert' must be set");
    if (!*record && !*alert)
        rule_problem(ld, g, i, rn->map, r, "one of 'record' or 'alert' must be set");
    if (r->expr[0] == '\0') {
        rule_problem(ld, g, i, rn->map, r, "field 'expr' must be set in rule");
    } else {
        vigil_error_t e;
        vigil_error_clear(&e);
        if (promql_parse_check(r->expr, &e) != 0)
            rule_problem(ld, g, i, rn->expr, r, "could not parse expression: %s", e.message);
    }
    if (*record) {
        if (r->n_annotations > 0)
            rule_problem(ld, g, i, rn->record, r,
                         "invalid field 'annotations' in recording rule");
        if (r->for_ms != 0)
            rule_problem(ld, g, i, rn->record, r, "invalid field 'for' in recording rule");
        if (r->keep_firing_for_ms != 0)
            rule_problem(ld, g, i, rn->record, r,
                         "invalid field 'keep_firing_for' in recording rule");
        /* A valid UTF-8 name may still be a PromQL selector pasted in by mistake. */
        if (strchr(record, '{') != NULL || strchr(record, '}') != NULL)
            rule_problem(ld, g, i, rn->record, r,
                         "braces present in the recording rule name; should it be in expr?: %s",
                         record);
        else if (!rules_metric_name_valid(record, ld->o->legacy_names))
            rule_problem(ld, g, i, rn->record, r, "invalid recording rule name: %s", record);
    }
    check_label_kvs(ld, g, i, r, r->labels, r->n_labels, rn->label_keys, false);
    check_label_kvs(ld, g, i, r, r->annotations, r->n_annotations, rn->ann_keys, true);
    if (r->alert && !*record) {
        compile_kvs(ld, g, i, r, r->labels, r->n_labels, rn->label_keys, "label");
        compile_kvs(ld, g, i, r, r->annotations, r->n_annotations, rn->ann_keys, "annotation");
    }
}

/* Adds the group's labels to each rule's (the rule's own values win). */
static void merge_group_labels(loader_t *ld, rules_rule_t *r, const rules_kv_t *gl, size_t gn)
{
    if (gn == 0)
        return;
    rules_kv_t *v = calloc(r->n_labels + gn, sizeof(*v));
    if (v == NULL) {
        oom(ld);
        return;
    }
    size_t a = 0, b = 0, n = 0;
    while (a < r->n_labels || b < gn) {
        int c = a == r->n_labels ? 1 : b == gn ? -1 : strcmp(r->labels[a].name, gl[b].name);
        if (c <= 0) {
            v[n++] = r->labels[a++];
            if (c == 0)
                b++;
        } else {
            v[n].name = strdup(gl[b].name);
            v[n].value = strdup(gl[b].value);
            if (v[n].name == NULL || v[n].value == NULL)
                oom(ld);
            n++;
            b++;
        }
    }
    free(r->labels);
    r->labels = v;
    r->n_labels = n;
}

static void rule_free(const rules_tmpl_ops_t *t, rules_rule_t *r)
{
    free(r->name);
    free(r->expr);
    kvs_free(t, r->labels, r->n_labels);
    kvs_free(t, r->annotations, r->n_annotations);
}

void rules_file_free(rules_file_t *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_groups; i++) {
        rules_group_t *g = &f->groups[i];
        for (size_t j = 0; j < g->n_rules; j++)
            rule_free(f->tmpl, &g->rules[j]);
        free(g->rules);
        free(g->name);
        free(g->file);
    }
    free(f->groups);
    free(f->path);
    free(f);
}

size_t rules_file_count(const rules_file_t *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_groups; i++)
        n += f->groups[i].n_rules;
    return n;
}

static void parse_root(loader_t *ld, yaml_node_t *root, rules_file_t *f)
{
    yamldoc_pair_t *ps;
    size_t k;
    vigil_error_t e;
    if (root == NULL || yamldoc_is_null(root))
        return;
    if (root->type != YAML_MAPPING_NODE) {
        ld->structural = true;
        problem(ld, VIGIL_EPARSE, yamldoc_line(root), yamldoc_col(root),
                "cannot unmarshal %s into rulefmt.RuleGroups", yamldoc_go_tag(root));
        return;
    }
    if (yamldoc_pairs(ld->doc, ld->file, root, &ps, &k, &e) != 0) {
        ld->structural = true;
        problem_raw(ld, e.code, e.message);
        return;
    }
    yaml_node_t *groups = NULL;
    for (size_t i = 0; i < k; i++) {
        if (strcmp(ps[i].key, "groups") == 0)
            groups = ps[i].value;
        else
            unknown_field(ld, &ps[i], "RuleGroups");
    }
    free(ps);
    if (groups == NULL || yamldoc_is_null(groups))
        return;
    if (groups->type != YAML_SEQUENCE_NODE) {
        ld->structural = true;
        problem(ld, VIGIL_EPARSE, yamldoc_line(groups), yamldoc_col(groups),
                "cannot unmarshal %s into []rulefmt.RuleGroup", yamldoc_go_tag(groups));
        return;
    }
    size_t n;
    yaml_node_item_t *it = yamldoc_items(groups, &n);
    if (n == 0)
        return;
    f->groups = calloc(n, sizeof(*f->groups));
    rule_nodes_t **rns = calloc(n, sizeof(*rns));
    yaml_node_t ***gkeys = calloc(n, sizeof(*gkeys));
    rules_kv_t **glabels = calloc(n, sizeof(*glabels));
    size_t *n_glabels = calloc(n, sizeof(*n_glabels));
    if (f->groups == NULL || rns == NULL || gkeys == NULL || glabels == NULL ||
        n_glabels == NULL) {
        oom(ld);
        goto out_free;
    }
    for (size_t i = 0; i < n; i++) {
        parse_group(ld, yaml_document_get_node(ld->doc, it[i]), &f->groups[i], &rns[i],
                    &gkeys[i], &glabels[i], &n_glabels[i]);
        f->n_groups = i + 1;
    }
    if (ld->structural || ld->code != 0)
        goto out_free;
    for (size_t i = 0; i < n; i++) {
        rules_group_t *g = &f->groups[i];
        if (g->name[0] == '\0')
            problem(ld, VIGIL_EPARSE, g->line, g->col, "Groupname must not be empty");
        for (size_t j = 0; j < i; j++)
            if (strcmp(f->groups[j].name, g->name) == 0) {
                problem(ld, VIGIL_EPARSE, g->line, g->col,
                        "groupname: \"%s\" is repeated in the same file", g->name);
                break;
            }
        for (size_t j = 0; j < n_glabels[i]; j++) {
            const yaml_node_t *kn = gkeys[i][j];
            if (!rules_label_name_valid(glabels[i][j].name, ld->o->legacy_names) ||
                strcmp(glabels[i][j].name, "__name__") == 0)
                problem(ld, VIGIL_EPARSE, yamldoc_line(kn), yamldoc_col(kn),
                        "invalid label name: %s", glabels[i][j].name);
            if (!rules_utf8_valid(glabels[i][j].value))
                problem(ld, VIGIL_EPARSE, yamldoc_line(kn), yamldoc_col(kn),
                        "invalid label value: %s", glabels[i][j].value);
        }
        for (size_t j = 0; j < g->n_rules; j++) {
            merge_group_labels(ld, &g->rules[j], glabels[i], n_glabels[i]);
            /* merged labels have no key nodes of their own: report at the rule */
            if (n_glabels[i] > 0) {
                free(rns[i][j].label_keys);
                rns[i][j].label_keys = NULL;
            }
            validate_rule(ld, g, j, &g->rules[j], &rns[i][j]);
        }
    }
out_free:
    for (size_t i = 0; i < n && rns != NULL; i++) {
        for (size_t j = 0; rns[i] != NULL && j < f->groups[i].n_rules; j++) {
            free(rns[i][j].label_keys);
            free(rns[i][j].ann_keys);
        }
        free(rns[i]);
    }
    for (size_t i = 0; i < n && glabels != NULL; i++) {
        kvs_free(NULL, glabels[i], n_glabels ? n_glabels[i] : 0);
        if (gkeys != NULL)
            free(gkeys[i]);
    }
    free(rns);
    free(gkeys);
    free(glabels);
    free(n_glabels);
}

int rules_file_load(const char *path, const char *data, size_t len, const rules_load_opts_t *o,
                    rules_file_t **out, rules_errors_t *errs, vigil_error_t *err)
{
    static const rules_load_opts_t defaults = { 0 };
    int rc;
    *out = NULL;
    if (o == NULL)
        o = &defaults;
    yaml_document_t doc;
    vigil_error_t e;
    rc = data != NULL ? yamldoc_load(&doc, path, data, len, &rules_yaml, &e)
                      : yamldoc_load_file(&doc, path, &rules_yaml, &e);
    if (rc != 0) {
        /* yamldoc's message already starts with the file name */
        loader_t ld0 = { .file = path, .errs = errs, .err = err, .o = o };
        problem_raw(&ld0, rc, e.message);
        return rc;
    }
    rules_file_t *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        yaml_document_delete(&doc);
        return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", path);
    }
    f->tmpl = o->tmpl ? o->tmpl : rules_tmpl_default();
    loader_t ld = { .file = path, .doc = &doc, .o = o, .t = f->tmpl, .errs = errs, .err = err };
    parse_root(&ld, yaml_document_get_root_node(&doc), f);
    yaml_document_delete(&doc);
    if (ld.code != 0) {
        rules_file_free(f);
        return ld.code;
    }
    *out = f;
    return 0;
}
