/*
 * tmpl.c - alert labels and annotations through src/template, set up as Prometheus' rule
 * manager sets up Go's text/template (template.NewTemplateExpander):
 *
 *   - the text is compiled once, at load, with missingkey=zero and the variables $labels,
 *     $externalLabels, $externalURL and $value (Prometheus prepends
 *     "{{$labels := .Labels}}..." to the text; predeclaring them gives the same scope without
 *     moving the positions in error messages);
 *   - dot is the struct {Labels, ExternalLabels, ExternalURL, Value} (AlertTemplateData), the
 *     label sets plain map[string]string (a missing label reads "", no methods), Value a
 *     float64;
 *   - messages read "template: NAME:LINE:COL: ..." as Go's do (Go's parse errors carry no
 *     column; vigil keeps it).
 *
 * src/template refuses at compile time what it does not implement (query, ...), so a rule
 * file using it fails to load instead of expanding to different text.
 */
#include "rules/rules_int.h"
#include "template/template.h"

#include <stdlib.h>
#include <string.h>

/* The predeclared variables, in the order tdata_t.vars holds their values. */
static const char *const var_names[] = { "labels", "externalLabels", "externalURL", "value",
                                         NULL };

/* One alert's data as src/template sees it. `dot` owns every node; `vars` borrow from it. */
typedef struct tdata {
    template_value_t *dot;
    template_var_t    vars[4];
    char             *external_url;
} tdata_t;

static int engine_compile(void *ctx, const char *name, const char *text, void **out,
                          vigil_error_t *err)
{
    (void)ctx;
    template_options_t o = { .name = name, .vars = var_names, .missing_zero = true };
    template_t *t;
    vigil_error_t e;
    int rc = template_compile(&t, text, &o, &e);
    if (rc != 0)
        return vigil_error_set(err, rc, "template: %s", e.message);
    *out = t;
    return 0;
}

static void engine_release(void *ctx, void *tmpl)
{
    (void)ctx;
    template_free(tmpl);
}

/* A map[string]string of `ls` (owned by the caller); NULL when out of memory. */
static template_value_t *string_map(promql_labels_t ls)
{
    template_value_t *m = template_value_map(TEMPLATE_F_STRMAP);
    for (size_t i = 0; m != NULL && i < ls.n; i++) {
        if (template_map_set_string(m, ls.v[i].name, ls.v[i].value) != 0) {
            template_value_free(m);
            m = NULL;
        }
    }
    return m;
}

static void engine_data_free(void *ctx, void *data)
{
    (void)ctx;
    tdata_t *td = data;
    if (td == NULL)
        return;
    template_value_free(td->dot);
    free(td->external_url);
    free(td);
}

static int engine_data_new(void *ctx, const rules_tmpl_data_t *d, void **out)
{
    const char *url = d->external_url != NULL ? d->external_url : "";
    tdata_t *td = calloc(1, sizeof(*td));
    if (td == NULL)
        return VIGIL_ENOMEM;
    td->dot = template_value_map(TEMPLATE_F_STRUCT);
    td->external_url = strdup(url);
    /* template_map_set owns (and on failure frees) each child, NULL ones included. */
    if (td->dot == NULL || td->external_url == NULL ||
        template_map_set(td->dot, "Labels", string_map(d->labels)) != 0 ||
        template_map_set(td->dot, "ExternalLabels", string_map(d->external_labels)) != 0 ||
        template_map_set(td->dot, "ExternalURL", template_value_string(url)) != 0 ||
        template_map_set(td->dot, "Value", template_value_float(d->value)) != 0) {
        engine_data_free(ctx, td);
        return VIGIL_ENOMEM;
    }
    static const char *const fields[] = { "Labels", "ExternalLabels", "ExternalURL", "Value" };
    for (size_t i = 0; i < 4; i++)
        td->vars[i] = (template_var_t){ var_names[i], template_map_get(td->dot, fields[i]) };
    *out = td;
    return 0;
}

static int engine_expand(void *ctx, const void *tmpl, const void *data, buf_t *out,
                         vigil_error_t *err)
{
    (void)ctx;
    const tdata_t *td = data;
    template_exec_options_t o = { .vars = td->vars, .nvars = 4,
                                  .external_url = td->external_url };
    vigil_error_t e;
    int rc = template_execute(tmpl, td->dot, &o, out, &e);
    if (rc != 0)
        return vigil_error_set(err, rc, "template: %s", e.message);
    return 0;
}

static const rules_tmpl_ops_t engine_ops = {
    .compile = engine_compile,
    .data_new = engine_data_new,
    .expand = engine_expand,
    .data_free = engine_data_free,
    .release = engine_release,
};

const rules_tmpl_ops_t *rules_tmpl_default(void)
{
    return &engine_ops;
}

int rules_kv_expand(rules_expander_t *x, const rules_kv_t *kv, buf_t *out)
{
    if (kv->tmpl == NULL)
        return buf_puts(out, kv->value);
    if (x->data == NULL && x->ops->data_new(x->ops->ctx, x->d, &x->data) != 0)
        return VIGIL_ENOMEM;
    vigil_error_t e;
    size_t mark = out->len;
    if (x->ops->expand(x->ops->ctx, kv->tmpl, x->data, out, &e) == 0)
        return 0;
    /* Prometheus keeps none of a failed expansion's text, only the message. */
    out->len = mark;
    if (out->data != NULL)
        out->data[mark] = '\0';
    return buf_printf(out, "<error expanding template: %s>", e.message);
}

void rules_expander_done(rules_expander_t *x)
{
    if (x->data != NULL)
        x->ops->data_free(x->ops->ctx, x->data);
    x->data = NULL;
}
