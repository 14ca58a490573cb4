/*
 * tmpl.c - the template interface of rules (rules_tmpl_ops_t) and the interim engine behind
 * it: a subset of Go's text/template, compiled once at load and executed per alert.
 *
 * Subset: text; {{ pipeline }} with {{- and -}} trimming; comments; operands
 * $labels.x, $value, $externalLabels.x, $externalURL, $, .Labels.x, .Value, ., "strings",
 * `raw strings`, numbers, true/false/nil, (pipelines); variables declared with := and
 * assigned with =; function calls and | pipes; if / else if / else / end. Everything else
 * (range, with, define, template, block, query, ...) fails to compile with a message naming
 * the construct. Data is Prometheus' AlertTemplateData with missingkey=zero: a missing label
 * reads as "".
 */
#include "rules/rules_int.h"
#include "rules/tmpl_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum opnd_kind { O_VAR, O_FIELD, O_STR, O_NUM, O_BOOL, O_NIL, O_FUNC, O_PIPE } opnd_kind_t;

typedef struct pipe pipe_t;

typedef struct opnd {
    opnd_kind_t k;
    char *name;          /* O_VAR "$x" ("$" for the root), O_FUNC name, O_STR text */
    char **fields;       /* .a.b after the operand */
    size_t n_fields;
    double num;
    bool b;
    pipe_t *pipe;        /* O_PIPE */
    const tfunc_t *fn;   /* O_FUNC */
} opnd_t;

typedef struct cmd {
    opnd_t *args;
    size_t n;
} cmd_t;

struct pipe {
    char *decl;          /* "$x" of "$x := ..." / "$x = ..." or NULL */
    cmd_t *cmds;
    size_t n;
    unsigned line;
};

typedef enum tnode_kind { TN_TEXT, TN_ACTION, TN_IF } tnode_kind_t;

typedef struct tnode tnode_t;
typedef struct tlist {
    tnode_t *v;
    size_t n;
} tlist_t;

struct tnode {
    tnode_kind_t k;
    char *text;          /* TN_TEXT */
    size_t len;
    pipe_t *pipe;        /* TN_ACTION, TN_IF condition */
    tlist_t then, els;   /* TN_IF */
};

typedef struct tmpl {
    char *name;
    tlist_t root;
} tmpl_t;

/* ---- parsing ---- */

typedef struct parser {
    const char *s;       /* whole text */
    size_t pos, len;
    const char *name;
    char err[400];
    char **vars;         /* declared variables in scope */
    size_t n_vars, cap_vars;
} parser_t;

__attribute__((format(printf, 2, 3)))
static int perr(parser_t *p, const char *fmt, ...)
{
    if (p->err[0] != '\0')
        return -1;
    unsigned line = 1;
    for (size_t i = 0; i < p->pos && i < p->len; i++)
        line += p->s[i] == '\n';
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, sizeof(p->err), "template: %s:%u: %s", p->name, line, msg);
    return -1;
}

static void pipe_free(pipe_t *pp);

static void opnd_free(opnd_t *o)
{
    free(o->name);
    for (size_t i = 0; i < o->n_fields; i++)
        free(o->fields[i]);
    free(o->fields);
    pipe_free(o->pipe);
}

static void pipe_free(pipe_t *pp)
{
    if (pp == NULL)
        return;
    for (size_t i = 0; i < pp->n; i++) {
        for (size_t j = 0; j < pp->cmds[i].n; j++)
            opnd_free(&pp->cmds[i].args[j]);
        free(pp->cmds[i].args);
    }
    free(pp->cmds);
    free(pp->decl);
    free(pp);
}

static void list_free(tlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].text);
        pipe_free(l->v[i].pipe);
        list_free(&l->v[i].then);
        list_free(&l->v[i].els);
    }
    free(l->v);
}

static void skip_space(parser_t *p)
{
    while (p->pos < p->len && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

/* True at "}}" or "-}}" (the latter trims the text after). */
static bool at_close(parser_t *p)
{
    const char *c = p->s + p->pos;
    return strncmp(c, "}}", 2) == 0 || strncmp(c, "-}}", 3) == 0;
}

static bool var_known(parser_t *p, const char *v)
{
    if (strcmp(v, "$") == 0)
        return true;
    for (size_t i = 0; i < p->n_vars; i++)
        if (strcmp(p->vars[i], v) == 0)
            return true;
    return false;
}

static int var_add(parser_t *p, const char *v)
{
    if (p->n_vars == p->cap_vars) {
        size_t nc = p->cap_vars * 2 + 8;
        char **nv = realloc(p->vars, nc * sizeof(*nv));
        if (nv == NULL)
            return perr(p, "out of memory");
        p->vars = nv;
        p->cap_vars = nc;
    }
    if ((p->vars[p->n_vars] = strdup(v)) == NULL)
        return perr(p, "out of memory");
    p->n_vars++;
    return 0;
}

static void vars_pop(parser_t *p, size_t to)
{
    while (p->n_vars > to)
        free(p->vars[--p->n_vars]);
}

static char *ident(parser_t *p)
{
    size_t s = p->pos;
    while (p->pos < p->len &&
           (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_'))
        p->pos++;
    return strndup(p->s + s, p->pos - s);
}

/* ".a.b.c" after an operand. */
static int fields(parser_t *p, opnd_t *o)
{
    while (p->pos < p->len && p->s[p->pos] == '.' && p->pos + 1 < p->len &&
           (isalpha((unsigned char)p->s[p->pos + 1]) || p->s[p->pos + 1] == '_')) {
        p->pos++;
        char **nf = realloc(o->fields, (o->n_fields + 1) * sizeof(*nf));
        if (nf == NULL)
            return perr(p, "out of memory");
        o->fields = nf;
        if ((nf[o->n_fields] = ident(p)) == NULL)
            return perr(p, "out of memory");
        o->n_fields++;
    }
    return 0;
}

/* A Go interpreted string literal at p->pos (the opening quote). */
static char *go_string(parser_t *p)
{
    char q = p->s[p->pos++];
    buf_t b;
    buf_init(&b, 1 << 20);
    while (p->pos < p->len && p->s[p->pos] != q) {
        char c = p->s[p->pos++];
        if (q == '`' || c != '\\') {
            if (q != '`' && c == '\n')
                break;
            buf_putc(&b, c);
            continue;
        }
        char e = p->pos < p->len ? p->s[p->pos++] : '\0';
        switch (e) {
        case 'n': buf_putc(&b, '\n'); break;
        case 't': buf_putc(&b, '\t'); break;
        case 'r': buf_putc(&b, '\r'); break;
        case '\\': buf_putc(&b, '\\'); break;
        case '"': buf_putc(&b, '"'); break;
        case '\'': buf_putc(&b, '\''); break;
        default:
            buf_free(&b);
            perr(p, "invalid syntax");
            return NULL;
        }
    }
    if (p->pos >= p->len) {
        buf_free(&b);
        perr(p, "unterminated quoted string");
        return NULL;
    }
    p->pos++;
    char *s = buf_detach(&b, NULL);
    buf_free(&b);
    if (s == NULL)
        perr(p, "out of memory");
    return s;
}

static pipe_t *parse_pipe(parser_t *p, bool in_parens);

static int operand(parser_t *p, opnd_t *o)
{
    memset(o, 0, sizeof(*o));
    char c = p->s[p->pos];
    if (c == '$') {
        p->pos++;
        char *id = ident(p);
        if (id == NULL)
            return perr(p, "out of memory");
        size_t l = strlen(id);
        o->k = O_VAR;
        o->name = malloc(l + 2);
        if (o->name == NULL) {
            free(id);
            return perr(p, "out of memory");
        }
        snprintf(o->name, l + 2, "$%s", id);
        free(id);
        if (!var_known(p, o->name))
            return perr(p, "undefined variable \"%s\"", o->name);
        return fields(p, o);
    }
    if (c == '.') {
        o->k = O_FIELD;
        if (p->pos + 1 < p->len && (isalpha((unsigned char)p->s[p->pos + 1]) ||
                                    p->s[p->pos + 1] == '_'))
            return fields(p, o);
        p->pos++;   /* "." alone: the data */
        return 0;
    }
    if (c == '"' || c == '`') {
        o->k = O_STR;
        return (o->name = go_string(p)) == NULL ? -1 : 0;
    }
    if (c == '(') {
        p->pos++;
        o->k = O_PIPE;
        if ((o->pipe = parse_pipe(p, true)) == NULL)
            return -1;
        return fields(p, o);
    }
    if (isdigit((unsigned char)c) || ((c == '-' || c == '+' || c == '.') &&
                                      isdigit((unsigned char)p->s[p->pos + 1]))) {
        char *end;
        o->k = O_NUM;
        o->num = strtod(p->s + p->pos, &end);
        p->pos = (size_t)(end - p->s);
        return 0;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        char *id = ident(p);
        if (id == NULL)
            return perr(p, "out of memory");
        if (strcmp(id, "true") == 0 || strcmp(id, "false") == 0) {
            o->k = O_BOOL;
            o->b = id[0] == 't';
            free(id);
            return 0;
        }
        if (strcmp(id, "nil") == 0) {
            o->k = O_NIL;
            free(id);
            return 0;
        }
        static const char *const keywords[] = { "range", "with", "define", "template",
                                                "block", "break", "continue", "end", "else",
                                                "if" };
        for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
            if (strcmp(id, keywords[i]) == 0) {
                int rc = perr(p, "unexpected <%s> in operand", id);
                free(id);
                return rc;
            }
        bool unsup;
        o->k = O_FUNC;
        o->name = id;
        o->fn = rules_tmpl_func_find(id, &unsup);
        if (o->fn == NULL)
            return unsup ? perr(p, "function \"%s\" is not supported by vigil's templates", id)
                         : perr(p, "function \"%s\" not defined", id);
        return 0;
    }
    return perr(p, "unexpected \"%c\" in operand", c);
}

/* command ( "|" command )*, up to "}}" or ")" */
static pipe_t *parse_pipe(parser_t *p, bool in_parens)
{
    pipe_t *pp = calloc(1, sizeof(*pp));
    if (pp == NULL) {
        perr(p, "out of memory");
        return NULL;
    }
    skip_space(p);
    /* "$x :=" / "$x =" declarations */
    if (p->s[p->pos] == '$') {
        size_t save = p->pos;
        p->pos++;
        char *id = ident(p);
        skip_space(p);
        bool decl = strncmp(p->s + p->pos, ":=", 2) == 0;
        bool assign = !decl && p->s[p->pos] == '=' && p->s[p->pos + 1] != '=';
        if (id != NULL && (decl || assign)) {
            p->pos += decl ? 2 : 1;
            size_t l = strlen(id);
            pp->decl = malloc(l + 2);
            if (pp->decl != NULL)
                snprintf(pp->decl, l + 2, "$%s", id);
            free(id);
            if (pp->decl == NULL) {
                perr(p, "out of memory");
                goto out_fail;
            }
            if (assign && !var_known(p, pp->decl)) {
                perr(p, "undefined variable \"%s\"", pp->decl);
                goto out_fail;
            }
        } else {
            free(id);
            p->pos = save;
        }
    }
    for (;;) {
        cmd_t cmd = { 0 };
        for (;;) {
            skip_space(p);
            if (p->pos >= p->len) {
                perr(p, "unclosed action");
                for (size_t j = 0; j < cmd.n; j++)
                    opnd_free(&cmd.args[j]);
                free(cmd.args);
                goto out_fail;
            }
            if ((in_parens && p->s[p->pos] == ')') || (!in_parens && at_close(p)) ||
                p->s[p->pos] == '|')
                break;
            opnd_t *na = realloc(cmd.args, (cmd.n + 1) * sizeof(*na));
            if (na == NULL) {
                perr(p, "out of memory");
                free(cmd.args);
                goto out_fail;
            }
            cmd.args = na;
            if (operand(p, &cmd.args[cmd.n]) != 0) {
                opnd_free(&cmd.args[cmd.n]);
                for (size_t j = 0; j < cmd.n; j++)
                    opnd_free(&cmd.args[j]);
                free(cmd.args);
                goto out_fail;
            }
            cmd.n++;
        }
        if (cmd.n == 0) {
            perr(p, "missing value for command");
            free(cmd.args);
            goto out_fail;
        }
        if (cmd.n > 1 && cmd.args[0].k != O_FUNC) {
            perr(p, "can't give argument to non-function %s",
                 cmd.args[0].name ? cmd.args[0].name : "operand");
            for (size_t j = 0; j < cmd.n; j++)
                opnd_free(&cmd.args[j]);
            free(cmd.args);
            goto out_fail;
        }
        cmd_t *nc = realloc(pp->cmds, (pp->n + 1) * sizeof(*nc));
        if (nc == NULL) {
            perr(p, "out of memory");
            for (size_t j = 0; j < cmd.n; j++)
                opnd_free(&cmd.args[j]);
            free(cmd.args);
            goto out_fail;
        }
        pp->cmds = nc;
        pp->cmds[pp->n++] = cmd;
        if (p->s[p->pos] == '|') {
            p->pos++;
            continue;
        }
        break;
    }
    if (in_parens)
        p->pos++;   /* ")" */
    if (pp->decl != NULL && !var_known(p, pp->decl) && var_add(p, pp->decl) != 0)
        goto out_fail;
    return pp;
out_fail:
    pipe_free(pp);
    return NULL;
}

static int list_push(parser_t *p, tlist_t *l, tnode_t *n)
{
    tnode_t *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return perr(p, "out of memory");
    l->v = nv;
    l->v[l->n++] = *n;
    return 0;
}

/* Closes an action: "}}" or "-}}" (which trims the following space). */
static int close_action(parser_t *p, bool *trim_next)
{
    skip_space(p);
    *trim_next = false;
    if (strncmp(p->s + p->pos, "-}}", 3) == 0) {
        *trim_next = true;
        p->pos += 3;
        return 0;
    }
    if (strncmp(p->s + p->pos, "}}", 2) == 0) {
        p->pos += 2;
        return 0;
    }
    return perr(p, "unexpected \"%c\" in command", p->pos < p->len ? p->s[p->pos] : ' ');
}

/* The ending keyword that stopped parse_list: "end", "else", or "" at the end of input. */
typedef struct stop {
    char word[8];
    pipe_t *else_if;   /* "else if PIPE" */
} stop_t;

static int parse_list(parser_t *p, tlist_t *l, stop_t *st, bool trim_first);

static int parse_if(parser_t *p, tnode_t *n)
{
    size_t scope = p->n_vars;
    bool trim;
    n->k = TN_IF;
    if ((n->pipe = parse_pipe(p, false)) == NULL || close_action(p, &trim) != 0)
        return -1;
    stop_t st = { 0 };
    if (parse_list(p, &n->then, &st, trim) != 0)
        return -1;
    vars_pop(p, scope);
    if (strcmp(st.word, "else") == 0) {
        if (st.else_if != NULL) {
            /* "else if X" is an if nested in the else branch that shares our "end" */
            tnode_t inner = { .k = TN_IF, .pipe = st.else_if };
            stop_t st2 = { 0 };
            if (parse_list(p, &inner.then, &st2, false) != 0) {
                list_free(&inner.then);
                pipe_free(inner.pipe);
                return -1;
            }
            vars_pop(p, scope);
            if (strcmp(st2.word, "else") == 0 && st2.else_if != NULL) {
                /* deeper chains: re-enter with the pending else-if */
                pipe_free(st2.else_if);
                list_free(&inner.then);
                pipe_free(inner.pipe);
                return perr(p, "else-if chains longer than two branches are not supported");
            }
            if (strcmp(st2.word, "else") == 0) {
                stop_t st3 = { 0 };
                if (parse_list(p, &inner.els, &st3, false) != 0 || strcmp(st3.word, "end")) {
                    list_free(&inner.then);
                    list_free(&inner.els);
                    pipe_free(inner.pipe);
                    return p->err[0] ? -1 : perr(p, "expected end; found %s",
                                                  st3.word[0] ? st3.word : "EOF");
                }
            } else if (strcmp(st2.word, "end") != 0) {
                list_free(&inner.then);
                pipe_free(inner.pipe);
                return perr(p, "unexpected EOF");
            }
            vars_pop(p, scope);
            return list_push(p, &n->els, &inner);
        }
        stop_t st2 = { 0 };
        if (parse_list(p, &n->els, &st2, false) != 0)
            return -1;
        vars_pop(p, scope);
        if (strcmp(st2.word, "end") != 0)
            return perr(p, "expected end; found %s", st2.word[0] ? st2.word : "EOF");
        return 0;
    }
    if (strcmp(st.word, "end") != 0)
        return perr(p, "unexpected EOF");
    return 0;
}

static int parse_list(parser_t *p, tlist_t *l, stop_t *st, bool trim_first)
{
    bool trim = trim_first;
    for (;;) {
        if (trim)
            skip_space(p);
        const char *open = strstr(p->s + p->pos, "{{");
        size_t end = open ? (size_t)(open - p->s) : p->len;
        size_t tend = end;
        bool left_trim = open && open[2] == '-' && isspace((unsigned char)open[3]);
        if (left_trim)
            while (tend > p->pos && isspace((unsigned char)p->s[tend - 1]))
                tend--;
        if (tend > p->pos) {
            tnode_t n = { .k = TN_TEXT, .len = tend - p->pos };
            if ((n.text = strndup(p->s + p->pos, n.len)) == NULL || list_push(p, l, &n) != 0) {
                free(n.text);
                return perr(p, "out of memory");
            }
        }
        if (open == NULL) {
            p->pos = p->len;
            return 0;
        }
        p->pos = end + 2 + (left_trim ? 2 : 0);
        /* comments */
        skip_space(p);
        if (strncmp(p->s + p->pos, "/*", 2) == 0) {
            const char *c = strstr(p->s + p->pos, "*/");
            if (c == NULL)
                return perr(p, "unclosed comment");
            p->pos = (size_t)(c - p->s) + 2;
            if (close_action(p, &trim) != 0)
                return -1;
            continue;
        }
        size_t kw = p->pos;
        char *id = isalpha((unsigned char)p->s[p->pos]) ? ident(p) : NULL;
        if (id != NULL && (strcmp(id, "end") == 0 || strcmp(id, "else") == 0)) {
            snprintf(st->word, sizeof(st->word), "%s", id);
            free(id);
            skip_space(p);
            if (strcmp(st->word, "else") == 0 && strncmp(p->s + p->pos, "if", 2) == 0 &&
                isspace((unsigned char)p->s[p->pos + 2])) {
                p->pos += 2;
                if ((st->else_if = parse_pipe(p, false)) == NULL)
                    return -1;
            }
            bool t2;
            if (close_action(p, &t2) != 0)
                return -1;
            if (t2)
                skip_space(p);
            return 0;
        }
        if (id != NULL && strcmp(id, "if") == 0) {
            free(id);
            tnode_t n = { 0 };
            int rc = parse_if(p, &n);
            if (rc != 0 || list_push(p, l, &n) != 0) {
                pipe_free(n.pipe);
                list_free(&n.then);
                list_free(&n.els);
                return -1;
            }
            trim = false;
            continue;
        }
        static const char *const unsup[] = { "range", "with", "define", "template", "block",
                                             "break", "continue" };
        for (size_t i = 0; id != NULL && i < sizeof(unsup) / sizeof(unsup[0]); i++)
            if (strcmp(id, unsup[i]) == 0) {
                int rc = perr(p, "{{%s}} is not supported by vigil's templates", id);
                free(id);
                return rc;
            }
        free(id);
        p->pos = kw;
        tnode_t n = { .k = TN_ACTION };
        if ((n.pipe = parse_pipe(p, false)) == NULL)
            return -1;
        if (close_action(p, &trim) != 0 || list_push(p, l, &n) != 0) {
            pipe_free(n.pipe);
            return -1;
        }
    }
}

static int mini_compile(void *ctx, const char *name, const char *text, void **out,
                        vigil_error_t *err)
{
    parser_t p = { .s = text, .len = strlen(text), .name = name };
    static const char *const predefined[] = { "$labels", "$externalLabels", "$externalURL",
                                              "$value" };
    tmpl_t *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->name = strdup(name)) == NULL) {
        free(t);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < 4; i++)
        var_add(&p, predefined[i]);
    stop_t st = { 0 };
    int rc = parse_list(&p, &t->root, &st, false);
    if (rc == 0 && st.word[0] != '\0') {
        pipe_free(st.else_if);
        rc = perr(&p, "unexpected {{%s}}", st.word);
    }
    vars_pop(&p, 0);
    free(p.vars);
    if (rc != 0) {
        list_free(&t->root);
        free(t->name);
        free(t);
        return vigil_error_set(err, VIGIL_EPARSE, "%s", p.err);
    }
    *out = t;
    return 0;
}

static void mini_release(void *ctx, void *tp)
{
    tmpl_t *t = tp;
    if (t == NULL)
        return;
    list_free(&t->root);
    free(t->name);
    free(t);
}

/* ---- execution ---- */

typedef struct var {
    const char *name;
    tval_t v;
} var_t;

typedef struct exec {
    const tmpl_t *t;
    const rules_tmpl_data_t *d;
    var_t vars[32];
    size_t n_vars;
    char **owned;        /* strings produced by functions, freed at the end */
    size_t n_owned, cap_owned;
    char err[400];
} exec_t;

__attribute__((format(printf, 2, 3)))
static int xerr(exec_t *x, const char *fmt, ...)
{
    if (x->err[0] != '\0')
        return -1;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(x->err, sizeof(x->err), "template: %s: executing \"%s\": %s", x->t->name,
             x->t->name, msg);
    return -1;
}

static int keep(exec_t *x, char *s)
{
    if (x->n_owned == x->cap_owned) {
        size_t nc = x->cap_owned * 2 + 8;
        char **nv = realloc(x->owned, nc * sizeof(*nv));
        if (nv == NULL) {
            free(s);
            return xerr(x, "out of memory");
        }
        x->owned = nv;
        x->cap_owned = nc;
    }
    x->owned[x->n_owned++] = s;
    return 0;
}

static int field_of(exec_t *x, tval_t *v, const char *f)
{
    if (v->k == TV_MAP) {
        const char *s = rl_get(v->map, f);
        *v = (tval_t){ .k = TV_STR, .s = s ? s : "" };   /* missingkey=zero */
        return 0;
    }
    if (v->k == TV_DATA) {
        if (strcmp(f, "Labels") == 0)
            *v = (tval_t){ .k = TV_MAP, .map = x->d->labels };
        else if (strcmp(f, "ExternalLabels") == 0)
            *v = (tval_t){ .k = TV_MAP, .map = x->d->external_labels };
        else if (strcmp(f, "ExternalURL") == 0)
            *v = (tval_t){ .k = TV_STR, .s = x->d->external_url ? x->d->external_url : "" };
        else if (strcmp(f, "Value") == 0)
            *v = (tval_t){ .k = TV_NUM, .n = x->d->value };
        else
            return xerr(x, "can't evaluate field %s in type *template.tmplData", f);
        return 0;
    }
    if (v->k == TV_NIL)
        return xerr(x, "nil pointer evaluating interface {}.%s", f);
    return xerr(x, "can't evaluate field %s in type %s", f,
                v->k == TV_NUM ? "float64" : v->k == TV_STR ? "string" : "bool");
}

static int eval_pipe(exec_t *x, const pipe_t *pp, tval_t *out);

static int eval_opnd(exec_t *x, const opnd_t *o, tval_t *out)
{
    switch (o->k) {
    case O_VAR:
        if (strcmp(o->name, "$") == 0) {
            *out = (tval_t){ .k = TV_DATA };
        } else {
            size_t i = x->n_vars;
            while (i > 0 && strcmp(x->vars[i - 1].name, o->name) != 0)
                i--;
            if (i == 0)
                return xerr(x, "undefined variable: %s", o->name);
            *out = x->vars[i - 1].v;
        }
        break;
    case O_FIELD: *out = (tval_t){ .k = TV_DATA }; break;
    case O_STR:   *out = (tval_t){ .k = TV_STR, .s = o->name }; break;
    case O_NUM:   *out = (tval_t){ .k = TV_NUM, .n = o->num }; break;
    case O_BOOL:  *out = (tval_t){ .k = TV_BOOL, .b = o->b }; break;
    case O_NIL:   *out = (tval_t){ .k = TV_NIL }; break;
    case O_PIPE:
        if (eval_pipe(x, o->pipe, out) != 0)
            return -1;
        break;
    case O_FUNC:
        return xerr(x, "function %s used as a value", o->name);
    }
    for (size_t i = 0; i < o->n_fields; i++)
        if (field_of(x, out, o->fields[i]) != 0)
            return -1;
    return 0;
}

/* One command; `prev` is the previous command's result in a pipe (an extra last argument). */
static int eval_cmd(exec_t *x, const cmd_t *c, const tval_t *prev, tval_t *out)
{
    const opnd_t *head = &c->args[0];
    if (head->k != O_FUNC) {
        if (prev != NULL)
            return xerr(x, "can't give argument to non-function");
        return eval_opnd(x, head, out);
    }
    tval_t argv[16];
    int argc = 0;
    if (c->n - 1 + (prev != NULL) > 16)
        return xerr(x, "too many arguments in call to %s", head->name);
    for (size_t i = 1; i < c->n; i++)
        if (eval_opnd(x, &c->args[i], &argv[argc++]) != 0)
            return -1;
    if (prev != NULL)
        argv[argc++] = *prev;
    const tfunc_t *f = head->fn;
    if (argc < f->min_args || (f->max_args >= 0 && argc > f->max_args))
        return xerr(x, "wrong number of args for %s: want %d got %d", f->name, f->min_args,
                    argc);
    char *owned = NULL, why[256] = "";
    if (f->fn(argv, argc, out, &owned, why, sizeof(why)) != 0) {
        free(owned);
        return xerr(x, "error calling %s: %s", f->name, why[0] ? why : "out of memory");
    }
    return owned != NULL ? keep(x, owned) : 0;
}

static int eval_pipe(exec_t *x, const pipe_t *pp, tval_t *out)
{
    tval_t v = { .k = TV_NIL };
    for (size_t i = 0; i < pp->n; i++) {
        tval_t r;
        if (eval_cmd(x, &pp->cmds[i], i > 0 ? &v : NULL, &r) != 0)
            return -1;
        v = r;
    }
    if (pp->decl != NULL) {
        size_t i = x->n_vars;
        while (i > 0 && strcmp(x->vars[i - 1].name, pp->decl) != 0)
            i--;
        if (i > 0) {
            x->vars[i - 1].v = v;
        } else {
            if (x->n_vars == sizeof(x->vars) / sizeof(x->vars[0]))
                return xerr(x, "too many variables");
            x->vars[x->n_vars++] = (var_t){ pp->decl, v };
        }
    }
    *out = v;
    return 0;
}

static int exec_list(exec_t *x, const tlist_t *l, buf_t *out)
{
    for (size_t i = 0; i < l->n; i++) {
        const tnode_t *n = &l->v[i];
        tval_t v;
        size_t scope = x->n_vars;
        switch (n->k) {
        case TN_TEXT:
            if (buf_append(out, n->text, n->len) != 0)
                return xerr(x, "output too large");
            break;
        case TN_ACTION:
            if (eval_pipe(x, n->pipe, &v) != 0)
                return -1;
            /* a declaration prints nothing */
            if (n->pipe->decl == NULL && rules_tmpl_print_value(out, &v) != 0)
                return xerr(x, "output too large");
            break;
        case TN_IF:
            if (eval_pipe(x, n->pipe, &v) != 0)
                return -1;
            if (exec_list(x, rules_tmpl_truth(&v) ? &n->then : &n->els, out) != 0)
                return -1;
            x->n_vars = scope;
            break;
        }
    }
    return 0;
}

static int mini_expand(void *ctx, const void *tp, const rules_tmpl_data_t *d, buf_t *out,
                       vigil_error_t *err)
{
    exec_t x = { .t = tp, .d = d };
    x.vars[0] = (var_t){ "$labels", { .k = TV_MAP, .map = d->labels } };
    x.vars[1] = (var_t){ "$externalLabels", { .k = TV_MAP, .map = d->external_labels } };
    x.vars[2] = (var_t){ "$externalURL", { .k = TV_STR, .s = d->external_url ? d->external_url
                                                                            : "" } };
    x.vars[3] = (var_t){ "$value", { .k = TV_NUM, .n = d->value } };
    x.n_vars = 4;
    size_t mark = out->len;
    int rc = exec_list(&x, &x.t->root, out);
    for (size_t i = 0; i < x.n_owned; i++)
        free(x.owned[i]);
    free(x.owned);
    if (rc != 0) {
        out->len = mark;
        if (out->data != NULL)
            out->data[mark] = '\0';
        return vigil_error_set(err, VIGIL_EINVAL, "%s", x.err);
    }
    return 0;
}

static const rules_tmpl_ops_t mini_ops = { mini_compile, mini_expand, mini_release, NULL };

const rules_tmpl_ops_t *rules_tmpl_default(void)
{
    return &mini_ops;
}

int rules_kv_expand(const rules_tmpl_ops_t *t, const rules_kv_t *kv, const rules_tmpl_data_t *d,
                    buf_t *out)
{
    if (kv->tmpl == NULL)
        return buf_puts(out, kv->value);
    vigil_error_t e;
    size_t mark = out->len;
    if (t->expand(t->ctx, kv->tmpl, d, out, &e) == 0)
        return 0;
    out->len = mark;
    if (out->data != NULL)
        out->data[mark] = '\0';
    return buf_printf(out, "<error expanding template: %s>", e.message);
}
