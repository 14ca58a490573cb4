/*
 * exec.c - runs a compiled template: walks the tree, evaluates pipelines, looks up fields and
 * variables and writes text, with Go's semantics for each control structure.
 *
 * Values are borrowed from the caller's data tree, from the template's literals, or allocated
 * in the execution's arena (function results, SortedPairs, ...), which is freed when the
 * execution ends: nothing an execution makes outlives it. Bounds: output size, TMPL_MAX_STEPS
 * node visits, TMPL_MAX_CALLS nested {{template}} calls, TMPL_ARENA_MAX bytes of values.
 */
#include "template/tmpl_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Internal flag: a list of {Name, Value} pairs (Alertmanager's Pairs): .Names .Values. */
#define TMPL_F_PAIRS 0x100u

/* exec_list results besides 0 and negative errors. */
#define FLOW_BREAK    1
#define FLOW_CONTINUE 2

int tmpl_exec_fail(tmpl_exec_t *ex, int code, const char *fmt, ...)
{
    if (ex->rc != 0)
        return ex->rc;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ex->rc = vigil_error_set(ex->err, code, "%s:%d:%d: executing: %s", ex->t->name, ex->line,
                             ex->col, msg);
    return ex->rc;
}

static int step(tmpl_exec_t *ex)
{
    if (++ex->steps > TMPL_MAX_STEPS)
        return tmpl_exec_fail(ex, VIGIL_ELIMIT, "more than %d steps", TMPL_MAX_STEPS);
    return 0;
}

static int emit(tmpl_exec_t *ex, const char *s, size_t n)
{
    if (ex->out->len - ex->out_start + n > ex->max_output)
        return tmpl_exec_fail(ex, VIGIL_ELIMIT, "output larger than %zu bytes", ex->max_output);
    if (buf_append(ex->out, s, n) != 0)
        return tmpl_exec_fail(ex, VIGIL_ENOMEM, "out of memory");
    return 0;
}

/* ---- variables ------------------------------------------------------------------------------ */

static int var_push(tmpl_exec_t *ex, const char *name, const template_value_t *v)
{
    if (ex->nvars == ex->capvars) {
        size_t ncap = ex->capvars ? ex->capvars * 2 : 16;
        tmpl_varslot_t *s = realloc(ex->vars, ncap * sizeof(*s));
        if (s == NULL)
            return tmpl_exec_fail(ex, VIGIL_ENOMEM, "out of memory");
        ex->vars = s;
        ex->capvars = ncap;
    }
    ex->vars[ex->nvars].name = name;
    ex->vars[ex->nvars].value = v;
    ex->nvars++;
    return 0;
}

static tmpl_varslot_t *var_find(tmpl_exec_t *ex, const char *name)
{
    for (size_t i = ex->nvars; i-- > 0;)
        if (strcmp(ex->vars[i].name, name) == 0)
            return &ex->vars[i];
    return NULL;
}

/* ---- fields and methods ------------------------------------------------------------------- */

static int oom(tmpl_exec_t *ex) { return tmpl_exec_fail(ex, VIGIL_ENOMEM, "out of memory"); }

/* Alertmanager's KV.SortedPairs: "alertname" first, then the other keys sorted. */
static int sorted_pairs(tmpl_exec_t *ex, const template_value_t *kv, const template_value_t **out)
{
    template_value_t *list = tmpl_val_new(&ex->arena, TEMPLATE_LIST);
    if (list == NULL)
        return oom(ex);
    list->flags = TMPL_F_PAIRS;
    long an = tmpl_map_find(kv, "alertname");
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < kv->n; i++) {
            if ((pass == 0) != ((long)i == an))
                continue;
            template_value_t *pair = tmpl_val_new(&ex->arena, TEMPLATE_MAP);
            template_value_t *name = tmpl_val_str(&ex->arena, kv->keys[i], strlen(kv->keys[i]));
            if (pair == NULL || name == NULL)
                return oom(ex);
            pair->flags = TEMPLATE_F_STRUCT;
            if (tmpl_val_put(&ex->arena, pair, "Name", name) != 0 ||
                tmpl_val_put(&ex->arena, pair, "Value", kv->items[i]) != 0 ||
                tmpl_val_push(&ex->arena, list, pair) != 0)
                return oom(ex);
        }
    }
    *out = list;
    return 0;
}

/* Pairs.Names / Pairs.Values: the one field of every pair. */
static int pairs_column(tmpl_exec_t *ex, const template_value_t *pairs, const char *field,
                        const template_value_t **out)
{
    template_value_t *list = tmpl_val_new(&ex->arena, TEMPLATE_LIST);
    if (list == NULL)
        return oom(ex);
    for (size_t i = 0; i < pairs->n; i++) {
        const template_value_t *v = template_map_get(pairs->items[i], field);
        if (tmpl_val_push(&ex->arena, list, v ? v : &tmpl_empty_string) != 0)
            return oom(ex);
    }
    *out = list;
    return 0;
}

static bool in_names(const template_value_t *names, const char *key)
{
    if (names->kind == TEMPLATE_STRING)
        return strcmp(names->s, key) == 0;
    for (size_t i = 0; names->kind == TEMPLATE_LIST && i < names->n; i++)
        if (names->items[i]->kind == TEMPLATE_STRING && strcmp(names->items[i]->s, key) == 0)
            return true;
    return false;
}

/* Calls the method `name` of `recv` if its type has one; *found says whether it did. */
static int method(tmpl_exec_t *ex, const template_value_t *recv, const char *name,
                  const template_value_t *const *args, int nargs, const template_value_t **out,
                  bool *found)
{
    *found = true;
    bool kv = recv->kind == TEMPLATE_MAP && (recv->flags & TEMPLATE_F_LABELS);
    bool pairs = recv->kind == TEMPLATE_LIST && (recv->flags & TMPL_F_PAIRS);
    bool alerts = recv->kind == TEMPLATE_LIST && (recv->flags & TEMPLATE_F_ALERTS);
    bool remove = kv && strcmp(name, "Remove") == 0;
    if (kv && (strcmp(name, "SortedPairs") == 0 || strcmp(name, "Names") == 0 ||
               strcmp(name, "Values") == 0 || remove)) {
        if (remove != (nargs == 1))
            return tmpl_exec_fail(ex, VIGIL_EINVAL, "wrong number of args for %s: want %d got %d",
                                  name, remove ? 1 : 0, nargs);
        if (remove) {
            template_value_t *m = tmpl_val_new(&ex->arena, TEMPLATE_MAP);
            if (m == NULL)
                return oom(ex);
            m->flags = recv->flags;
            for (size_t i = 0; i < recv->n; i++)
                if (!in_names(args[0], recv->keys[i]) &&
                    tmpl_val_put(&ex->arena, m, recv->keys[i], recv->items[i]) != 0)
                    return oom(ex);
            *out = m;
            return 0;
        }
        const template_value_t *sp = NULL;
        int rc = sorted_pairs(ex, recv, &sp);
        if (rc != 0 || name[0] == 'S') {
            *out = sp;
            return rc;
        }
        return pairs_column(ex, sp, name[0] == 'N' ? "Name" : "Value", out);
    }
    if ((pairs && (strcmp(name, "Names") == 0 || strcmp(name, "Values") == 0)) ||
        (alerts && (strcmp(name, "Firing") == 0 || strcmp(name, "Resolved") == 0))) {
        if (nargs != 0)
            return tmpl_exec_fail(ex, VIGIL_EINVAL, "wrong number of args for %s: want 0 got %d",
                                  name, nargs);
        if (pairs)
            return pairs_column(ex, recv, name[0] == 'N' ? "Name" : "Value", out);
        template_value_t *list = tmpl_val_new(&ex->arena, TEMPLATE_LIST);
        if (list == NULL)
            return oom(ex);
        list->flags = TEMPLATE_F_ALERTS;
        const char *want = name[0] == 'F' ? "firing" : "resolved";
        for (size_t i = 0; i < recv->n; i++) {
            const template_value_t *st = template_map_get(recv->items[i], "Status");
            if (st != NULL && st->kind == TEMPLATE_STRING && strcmp(st->s, want) == 0 &&
                tmpl_val_push(&ex->arena, list, recv->items[i]) != 0)
                return oom(ex);
        }
        *out = list;
        return 0;
    }
    *found = false;
    return 0;
}

/* recv.name(args...): a method, or a map entry / struct field (no arguments). */
static int field(tmpl_exec_t *ex, const template_value_t *recv, const char *name,
                 const template_value_t *const *args, int nargs, const template_value_t **out)
{
    bool found;
    int rc = method(ex, recv, name, args, nargs, out, &found);
    if (found || rc != 0)
        return rc;
    if (recv->kind == TEMPLATE_NIL)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "nil pointer evaluating interface {}.%s", name);
    if (recv->kind != TEMPLATE_MAP)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "can't evaluate field %s in type %s", name,
                              tmpl_type_name(recv));
    if (nargs > 0)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "%s is not a method but has arguments", name);
    long at = tmpl_map_find(recv, name);
    if (at >= 0) {
        *out = recv->items[at];
        return 0;
    }
    if (recv->flags & TEMPLATE_F_STRUCT)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "can't evaluate field %s in type %s", name,
                              tmpl_type_name(recv));
    bool strmap = recv->flags & (TEMPLATE_F_LABELS | TEMPLATE_F_STRMAP);
    *out = ex->t->missing_zero && strmap ? &tmpl_empty_string : &tmpl_nil;
    return 0;
}

/* Follows chain[0..n) from v; the last link gets the arguments. */
static int chain(tmpl_exec_t *ex, const template_value_t *v, char *const *names, int n,
                 const template_value_t *const *args, int nargs, const template_value_t **out)
{
    for (int i = 0; i < n; i++) {
        bool last = i == n - 1;
        int rc = field(ex, v, names[i], last ? args : NULL, last ? nargs : 0, &v);
        if (rc != 0)
            return rc;
    }
    if (n == 0 && nargs > 0)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "can't give argument to non-function");
    *out = v;
    return 0;
}

/* ---- pipelines -------------------------------------------------------------------------- */

static int eval_pipe(tmpl_exec_t *ex, const tmpl_pipe_t *pp, const template_value_t *dot,
                     const template_value_t **out);

static int eval_arg(tmpl_exec_t *ex, const tmpl_arg_t *a, const template_value_t *dot,
                    const template_value_t *const *args, int nargs,
                    const template_value_t **out)
{
    ex->line = a->line;
    ex->col = a->col;
    const template_value_t *base = dot;
    switch (a->kind) {
    case ARG_DOT:
        break;
    case ARG_FIELD:
        break;
    case ARG_VAR: {
        tmpl_varslot_t *s = var_find(ex, a->var);
        if (s == NULL)  /* the parser makes this impossible; stay safe anyway */
            return tmpl_exec_fail(ex, VIGIL_EINVAL, "undefined variable: $%s", a->var);
        base = s->value;
        break;
    }
    case ARG_LITERAL:
        base = &a->lit;
        break;
    case ARG_PIPE: {
        int rc = eval_pipe(ex, a->sub, dot, &base);
        if (rc != 0)
            return rc;
        break;
    }
    case ARG_FUNC:
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "function used as a value");
    }
    return chain(ex, base, a->chain, a->nchain, args, nargs, out);
}

static int call_func(tmpl_exec_t *ex, const tmpl_cmd_t *cmd, const template_value_t *dot,
                     const template_value_t *final, const template_value_t **out)
{
    const tmpl_func_t *fn = cmd->args[0].fn;
    int argc = cmd->nargs - 1 + (final != NULL);
    if (argc < fn->min_args || (fn->max_args >= 0 && argc > fn->max_args)) {
        ex->line = cmd->args[0].line;
        ex->col = cmd->args[0].col;
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "wrong number of args for %s: want %s%d got %d",
                              fn->name, fn->max_args < 0 ? "at least " : "",
                              argc < fn->min_args ? fn->min_args : fn->max_args, argc);
    }
    if (fn->fn == NULL) {
        /* and / or: evaluate left to right and stop at the deciding argument (Go 1.18). */
        bool want = strcmp(fn->name, "or") == 0;
        const template_value_t *v = NULL;
        for (int i = 1; i <= argc; i++) {
            if (i < cmd->nargs) {
                int rc = eval_arg(ex, &cmd->args[i], dot, NULL, 0, &v);
                if (rc != 0)
                    return rc;
            } else {
                v = final;
            }
            if (tmpl_truth(v) == want)
                break;
        }
        *out = v;
        return 0;
    }
    const template_value_t *argv[argc > 0 ? argc : 1];
    for (int i = 1; i < cmd->nargs; i++) {
        const tmpl_arg_t *a = &cmd->args[i];
        if (a->kind == ARG_FUNC) {
            /* A function name as an argument is a call without arguments. */
            tmpl_cmd_t sub = { .args = (tmpl_arg_t *)a, .nargs = 1 };
            int rc = call_func(ex, &sub, dot, NULL, &argv[i - 1]);
            if (rc != 0)
                return rc;
            continue;
        }
        int rc = eval_arg(ex, a, dot, NULL, 0, &argv[i - 1]);
        if (rc != 0)
            return rc;
    }
    if (final != NULL)
        argv[argc - 1] = final;
    ex->line = cmd->args[0].line;
    ex->col = cmd->args[0].col;
    return fn->fn(ex, argv, argc, out);
}

static int eval_cmd(tmpl_exec_t *ex, const tmpl_cmd_t *cmd, const template_value_t *dot,
                    const template_value_t *final, const template_value_t **out)
{
    if (step(ex) != 0)
        return ex->rc;
    const tmpl_arg_t *a0 = &cmd->args[0];
    if (a0->kind == ARG_FUNC)
        return call_func(ex, cmd, dot, final, out);
    /* A field or variable chain with arguments is a method call. */
    int nargs = cmd->nargs - 1 + (final != NULL);
    const template_value_t *argv[nargs > 0 ? nargs : 1];
    for (int i = 1; i < cmd->nargs; i++) {
        int rc;
        if (cmd->args[i].kind == ARG_FUNC) {
            tmpl_cmd_t sub = { .args = (tmpl_arg_t *)&cmd->args[i], .nargs = 1 };
            rc = call_func(ex, &sub, dot, NULL, &argv[i - 1]);
        } else {
            rc = eval_arg(ex, &cmd->args[i], dot, NULL, 0, &argv[i - 1]);
        }
        if (rc != 0)
            return rc;
    }
    if (final != NULL)
        argv[nargs - 1] = final;
    if (nargs > 0 && a0->nchain == 0)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "can't give argument to non-function");
    return eval_arg(ex, a0, dot, argv, nargs, out);
}

static int eval_pipe(tmpl_exec_t *ex, const tmpl_pipe_t *pp, const template_value_t *dot,
                     const template_value_t **out)
{
    const template_value_t *v = NULL;
    for (int i = 0; i < pp->ncmds; i++) {
        int rc = eval_cmd(ex, &pp->cmds[i], dot, v, &v);
        if (rc != 0)
            return rc;
    }
    *out = v != NULL ? v : &tmpl_nil;
    return 0;
}

/* Evaluates a pipeline and, for "$x := " / "$x = ", binds the result. */
static int eval_decl(tmpl_exec_t *ex, const tmpl_pipe_t *pp, const template_value_t *dot,
                     const template_value_t **out)
{
    int rc = eval_pipe(ex, pp, dot, out);
    if (rc != 0 || pp->ndecl == 0)
        return rc;
    if (pp->assign) {
        tmpl_varslot_t *s = var_find(ex, pp->decl[0]);
        if (s == NULL)
            return tmpl_exec_fail(ex, VIGIL_EINVAL, "undefined variable: $%s", pp->decl[0]);
        s->value = *out;
        return 0;
    }
    return var_push(ex, pp->decl[0], *out);
}

/* ---- the tree walk ------------------------------------------------------------------------ */

static int exec_list(tmpl_exec_t *ex, const tmpl_node_t *n, const template_value_t *dot);

/* One range iteration: binds $i/$v (or $v) and runs the body. */
static int range_iter(tmpl_exec_t *ex, const tmpl_node_t *n, const template_value_t *key,
                      const template_value_t *elem)
{
    size_t mark = ex->nvars;
    const tmpl_pipe_t *pp = n->pipe;
    int rc = 0;
    if (pp->ndecl == 1) {
        if (pp->assign) {
            tmpl_varslot_t *s = var_find(ex, pp->decl[0]);
            if (s != NULL)
                s->value = elem;
        } else {
            rc = var_push(ex, pp->decl[0], elem);
        }
    } else if (pp->ndecl == 2) {
        if (pp->assign) {
            tmpl_varslot_t *k = var_find(ex, pp->decl[0]), *v = var_find(ex, pp->decl[1]);
            if (k != NULL)
                k->value = key;
            if (v != NULL)
                v->value = elem;
        } else if ((rc = var_push(ex, pp->decl[0], key)) == 0) {
            rc = var_push(ex, pp->decl[1], elem);
        }
    }
    if (rc == 0)
        rc = exec_list(ex, n->body, elem);
    ex->nvars = mark;
    return rc;
}

static int exec_range(tmpl_exec_t *ex, const tmpl_node_t *n, const template_value_t *dot)
{
    const template_value_t *v;
    int rc = eval_pipe(ex, n->pipe, dot, &v);
    if (rc != 0)
        return rc;
    size_t count = 0;
    switch (v->kind) {
    case TEMPLATE_LIST:
    case TEMPLATE_MAP:
        count = v->n;
        break;
    case TEMPLATE_INT:
        if (v->i > 0)
            count = (size_t)v->i;
        break;
    case TEMPLATE_NIL:
        break;
    default:
        ex->line = n->line;
        ex->col = n->col;
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "range can't iterate over %s",
                              tmpl_type_name(v));
    }
    for (size_t i = 0; i < count; i++) {
        const template_value_t *key, *elem;
        if (v->kind == TEMPLATE_MAP) {
            if ((key = tmpl_val_str(&ex->arena, v->keys[i], strlen(v->keys[i]))) == NULL)
                return oom(ex);
            elem = v->items[i];
        } else {
            template_value_t *k = tmpl_val_new(&ex->arena, TEMPLATE_INT);
            if (k == NULL)
                return oom(ex);
            k->i = (long long)i;
            key = k;
            elem = v->kind == TEMPLATE_LIST ? v->items[i] : k;
        }
        rc = range_iter(ex, n, key, elem);
        if (rc < 0)
            return rc;
        if (rc == FLOW_BREAK)
            break;
    }
    if (count == 0 && n->elseb != NULL)
        return exec_list(ex, n->elseb, dot);
    return 0;
}

static int exec_template(tmpl_exec_t *ex, const tmpl_node_t *n, const template_value_t *dot)
{
    const tmpl_define_t *d = tmpl_find_define(ex->t, n->text);
    if (d == NULL)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "no such template \"%s\"", n->text);
    const template_value_t *arg = &tmpl_nil;
    if (n->pipe != NULL) {
        int rc = eval_pipe(ex, n->pipe, dot, &arg);
        if (rc != 0)
            return rc;
    }
    if (ex->calls >= TMPL_MAX_CALLS)
        return tmpl_exec_fail(ex, VIGIL_ELIMIT, "exceeded maximum template depth (%d)",
                              TMPL_MAX_CALLS);
    /* A called template sees only its own $: run it on a fresh variable stack and give
     * the caller's back afterwards. */
    tmpl_varslot_t *saved_vars = ex->vars;
    size_t saved_n = ex->nvars, saved_cap = ex->capvars;
    ex->vars = NULL;
    ex->nvars = ex->capvars = 0;
    ex->calls++;
    int rc = var_push(ex, "", arg);
    if (rc == 0)
        rc = exec_list(ex, d->body, arg);
    ex->calls--;
    free(ex->vars);
    ex->vars = saved_vars;
    ex->nvars = saved_n;
    ex->capvars = saved_cap;
    return rc < 0 ? rc : 0;
}

static int exec_list(tmpl_exec_t *ex, const tmpl_node_t *n, const template_value_t *dot)
{
    for (; n != NULL; n = n->next) {
        if (step(ex) != 0)
            return ex->rc;
        ex->line = n->line;
        ex->col = n->col;
        size_t mark = ex->nvars;
        const template_value_t *v;
        int rc = 0;
        switch (n->kind) {
        case NODE_TEXT:
            rc = emit(ex, n->text, n->len);
            break;
        case NODE_ACTION:
            rc = eval_decl(ex, n->pipe, dot, &v);
            if (rc == 0 && n->pipe->ndecl == 0)
                rc = tmpl_print(ex, NULL, v);
            /* {{ $x := ... }} stays visible to the rest of the enclosing list */
            mark = ex->nvars;
            break;
        case NODE_IF:
        case NODE_WITH:
            rc = eval_decl(ex, n->pipe, dot, &v);
            if (rc == 0 && tmpl_truth(v))
                rc = exec_list(ex, n->body, n->kind == NODE_WITH ? v : dot);
            else if (rc == 0 && n->elseb != NULL)
                rc = exec_list(ex, n->elseb, dot);
            break;
        case NODE_RANGE:
            rc = exec_range(ex, n, dot);
            break;
        case NODE_TEMPLATE:
            rc = exec_template(ex, n, dot);
            break;
        case NODE_BREAK:
            return FLOW_BREAK;
        case NODE_CONTINUE:
            return FLOW_CONTINUE;
        }
        ex->nvars = mark;
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int run(const template_t *t, const tmpl_node_t *body, const template_value_t *data,
               const template_exec_options_t *opts, buf_t *out, vigil_error_t *err)
{
    static const template_exec_options_t defaults = { 0 };
    if (opts == NULL)
        opts = &defaults;
    if (data == NULL)
        data = &tmpl_nil;
    tmpl_exec_t ex = { .t = t, .opts = opts, .out = out, .out_start = out->len,
                       .max_output = opts->max_output ? opts->max_output : 1024 * 1024,
                       .err = err, .line = 1, .col = 1 };
    int rc = var_push(&ex, "", data);
    for (size_t i = 0; rc == 0 && i < t->nvars; i++) {
        const template_value_t *v = &tmpl_nil;
        for (size_t j = 0; j < opts->nvars; j++)
            if (opts->vars[j].name != NULL && strcmp(opts->vars[j].name, t->vars[i]) == 0 &&
                opts->vars[j].value != NULL)
                v = opts->vars[j].value;
        rc = var_push(&ex, t->vars[i], v);
    }
    if (rc == 0)
        rc = exec_list(&ex, body, data);
    if (rc > 0)
        rc = 0;  /* break/continue cannot escape range: the parser sees to it */
    free(ex.vars);
    tmpl_arena_free(&ex.arena);
    return rc;
}

int template_execute(const template_t *t, const template_value_t *data,
                     const template_exec_options_t *opts, buf_t *out, vigil_error_t *err)
{
    if (t == NULL || out == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "template_execute: NULL argument");
    return run(t, t->root, data, opts, out, err);
}

int template_execute_named(const template_t *t, const char *name,
                           const template_value_t *data, const template_exec_options_t *opts,
                           buf_t *out, vigil_error_t *err)
{
    if (t == NULL || out == NULL || name == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "template_execute_named: NULL argument");
    const tmpl_define_t *d = tmpl_find_define(t, name);
    if (d == NULL)
        return vigil_error_set(err, VIGIL_ENOENT, "%s: no such template \"%s\"", t->name, name);
    return run(t, d->body, data, opts, out, err);
}
