/*
 * parser.c - recursive-descent PromQL parser producing the AST of promql_int.h.
 *
 * Precedence climbing reproduces Prometheus' yacc grammar (generated_parser.y):
 *   or < and, unless < == != <= < >= > < + - < * / % atan2 < ^ (right-assoc)
 * Unary +/- take an operand that may contain `^` but not `*` (the grammar gives the unary rule
 * MUL's precedence, so -a^b is -(a^b) and -a*b is (-a)*b). Postfix `[...]`, `offset` and `@`
 * bind tighter than every operator. After `offset` only one duration term is read (a literal,
 * step(), range(), min_of/max_of(...) or a parenthesised expression, each optionally signed), so
 * `x offset 1m + 1m` is `(x offset 1m) + 1m` as upstream; inside `[...]` full duration
 * arithmetic applies.
 *
 * Errors carry the 1-based line:col of the offending token, formatted like Prometheus:
 * "1:7: parse error: unexpected ...". The parser stops at the first error (longjmp to
 * promql_parse), so it never builds a partial tree.
 */
#include "promql/promql_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct parser {
    lexer_t lx;
    arena_t *a;
    const char *in;
    token_t tok;       /* current token */
    token_t peeked;
    bool has_peek;
    jmp_buf jb;
    int code;
    vigil_error_t *err;
    int depth;         /* recursion guard against stack exhaustion on hostile input */
} parser_t;

#define MAX_DEPTH 512

void promql_pos_linecol(const char *in, int pos, int *line, int *col)
{
    int l = 1, last = -1;
    for (int i = 0; i < pos && in[i] != '\0'; i++)
        if (in[i] == '\n') {
            l++;
            last = i;
        }
    *line = l;
    *col = pos - last;
}

static _Noreturn void fail_code(parser_t *p, int code, int pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static _Noreturn void fail_code(parser_t *p, int code, int pos, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line, col;
    promql_pos_linecol(p->in, pos, &line, &col);
    vigil_error_set(p->err, code, "%d:%d: parse error: %s", line, col, msg);
    p->code = code;
    longjmp(p->jb, 1);
}

#define fail(p, pos, ...) fail_code((p), VIGIL_EPARSE, (pos), __VA_ARGS__)

static token_t next(parser_t *p)
{
    if (p->has_peek) {
        p->tok = p->peeked;
        p->has_peek = false;
    } else {
        p->tok = lexer_next(&p->lx);
    }
    if (p->tok.type == T_ERROR) {
        if (p->lx.errmsg != NULL)
            fail(p, p->tok.pos, "%s", p->lx.errmsg);
        fail(p, p->tok.pos, "unexpected character: '%c'", p->tok.text[0]);
    }
    return p->tok;
}

static token_t peek(parser_t *p)
{
    if (!p->has_peek) {
        token_t save = p->tok;
        next(p);
        p->peeked = p->tok;
        p->tok = save;
        p->has_peek = true;
    }
    return p->peeked;
}

/* "identifier \"foo\"", "\"(\"", "end of input" - as Prometheus' Item.desc(). */
static const char *tdesc(parser_t *p, token_t t)
{
    switch (t.type) {
    case T_EOF:
        return "end of input";
    case T_IDENT: case T_METRIC_IDENT: case T_NUMBER: case T_DURATION: case T_STRING:
        return arena_printf(p->a, "%s \"%.*s\"", tok_desc(t.type), t.len, t.text);
    default:
        if (tok_is_aggregator(t.type))
            return arena_printf(p->a, "aggregation \"%.*s\"", t.len, t.text);
        if (tok_is_keyword(t.type))
            return arena_printf(p->a, "keyword \"%.*s\"", t.len, t.text);
        return tok_desc(t.type);
    }
}

static _Noreturn void unexpected(parser_t *p, token_t t, const char *ctx, const char *expected)
{
    if (expected != NULL)
        fail(p, t.pos, "unexpected %s in %s, expected %s", tdesc(p, t), ctx, expected);
    fail(p, t.pos, "unexpected %s in %s", tdesc(p, t), ctx);
}

static token_t expect(parser_t *p, tok_type_t type, const char *ctx)
{
    token_t t = next(p);
    if (t.type != type)
        unexpected(p, t, ctx, tok_desc(type));
    return t;
}

static expr_t *node(parser_t *p, node_kind_t k, int pos)
{
    expr_t *e = arena_alloc(p->a, sizeof(*e));
    e->kind = k;
    e->pos = pos;
    e->end = p->tok.pos + p->tok.len;
    return e;
}

const char *ptype_str(ptype_t t)
{
    switch (t) {
    case PT_SCALAR: return "scalar";
    case PT_VECTOR: return "instant vector";
    case PT_MATRIX: return "range vector";
    case PT_STRING: return "string";
    default: return "none";
    }
}

static bool is_label_name(const char *s, int n)
{
    if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (int i = 1; i < n; i++)
        if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

static const char *string_lit(parser_t *p, token_t t)
{
    const char *s = promql_unquote(p->a, t.text, (size_t)t.len);
    if (s == NULL)
        fail(p, t.pos, "invalid syntax in string literal %.*s", t.len, t.text);
    return s;
}

static double number_lit(parser_t *p, token_t t, bool *dur)
{
    *dur = false;
    if (t.type == T_DURATION) {
        int64_t ms;
        if (!promql_parse_duration(t.text, (size_t)t.len, &ms))
            fail(p, t.pos, "bad duration syntax: \"%.*s\"", t.len, t.text);
        *dur = true;
        return (double)ms / 1000.0;
    }
    double v;
    if (!promql_parse_number(t.text, (size_t)t.len, &v))
        fail(p, t.pos, "bad number syntax: \"%.*s\"", t.len, t.text);
    return v;
}

static expr_t *parse_expr(parser_t *p, int minprec);

/* ---- duration expressions ---- */

static expr_t *dur_node(parser_t *p, durop_t op, int pos, expr_t *l, expr_t *r)
{
    expr_t *d = node(p, N_DURATION, pos);
    d->type = PT_SCALAR;
    d->dur.op = op;
    d->dur.l = l;
    d->dur.r = r;
    return d;
}

static expr_t *parse_dur(parser_t *p, int minprec);

/* One term: a literal, step(), range(), min_of/max_of(a, b), (expr), with optional sign. */
static expr_t *parse_dur_term(parser_t *p, const char *ctx)
{
    token_t t = next(p);
    if (++p->depth > MAX_DEPTH)
        fail(p, t.pos, "expression nests too deeply");
    expr_t *d;
    switch (t.type) {
    case T_ADD: case T_SUB: {
        expr_t *inner = parse_dur_term(p, ctx);
        if (inner->dur.op == D_NUM) {
            /* A signed literal stays a literal, as in the grammar. */
            if (t.type == T_SUB)
                inner->dur.v = -inner->dur.v;
            inner->pos = t.pos;
            d = inner;
        } else {
            d = dur_node(p, t.type == T_SUB ? D_NEG : D_POS, t.pos, inner, NULL);
        }
        break;
    }
    case T_NUMBER: case T_DURATION:
        d = dur_node(p, D_NUM, t.pos, NULL, NULL);
        d->dur.v = number_lit(p, t, &d->dur.dur);
        break;
    case T_LPAREN: {
        expr_t *inner = parse_dur(p, 0);
        expect(p, T_RPAREN, ctx);
        d = dur_node(p, D_PAREN, t.pos, inner, NULL);
        break;
    }
    case T_STEP: case T_RANGE:
        expect(p, T_LPAREN, ctx);
        expect(p, T_RPAREN, ctx);
        d = dur_node(p, t.type == T_STEP ? D_STEP : D_RANGE, t.pos, NULL, NULL);
        break;
    case T_IDENT:
        if ((t.len == 6 && (strncmp(t.text, "min_of", 6) == 0 || strncmp(t.text, "max_of", 6) == 0))) {
            expect(p, T_LPAREN, ctx);
            expr_t *a = parse_dur(p, 0);
            expect(p, T_COMMA, ctx);
            expr_t *b = parse_dur(p, 0);
            expect(p, T_RPAREN, ctx);
            d = dur_node(p, t.text[1] == 'i' ? D_MIN : D_MAX, t.pos, a, b);
            break;
        }
        /* fallthrough */
    default:
        unexpected(p, t, ctx, "number, duration, step(), or range()");
    }
    p->depth--;
    return d;
}

static int dur_prec(tok_type_t t)
{
    switch (t) {
    case T_ADD: case T_SUB: return 4;
    case T_MUL: case T_DIV: case T_MOD: return 5;
    case T_POW: return 6;
    default: return -1;
    }
}

static expr_t *parse_dur(parser_t *p, int minprec)
{
    token_t t = peek(p);
    expr_t *l;
    if (t.type == T_ADD || t.type == T_SUB) {
        next(p);
        expr_t *inner = parse_dur(p, 6);
        if (inner->dur.op == D_NUM) {
            if (t.type == T_SUB)
                inner->dur.v = -inner->dur.v;
            inner->pos = t.pos;
            l = inner;
        } else {
            l = dur_node(p, t.type == T_SUB ? D_NEG : D_POS, t.pos, inner, NULL);
        }
    } else {
        l = parse_dur_term(p, "duration expression");
    }
    for (;;) {
        token_t op = peek(p);
        int prec = dur_prec(op.type);
        if (prec < 0 || prec < minprec)
            return l;
        next(p);
        expr_t *r = parse_dur(p, op.type == T_POW ? prec : prec + 1);
        durop_t d = op.type == T_ADD ? D_ADD : op.type == T_SUB ? D_SUB : op.type == T_MUL ? D_MUL
                  : op.type == T_DIV ? D_DIV : op.type == T_MOD ? D_MOD : D_POW;
        l = dur_node(p, d, l->pos, l, r);
    }
}

static bool dur_is_const(const expr_t *d)
{
    if (d == NULL)
        return true;
    if (d->dur.op == D_STEP || d->dur.op == D_RANGE || d->dur.op == D_START || d->dur.op == D_END)
        return false;
    return dur_is_const(d->dur.l) && dur_is_const(d->dur.r);
}

/* Seconds of a constant duration expression (step()/range() count as 0 here). */
static double dur_const(const expr_t *d)
{
    double l = d->dur.l ? dur_const(d->dur.l) : 0, r = d->dur.r ? dur_const(d->dur.r) : 0;
    switch (d->dur.op) {
    case D_NUM: return d->dur.v;
    case D_NEG: return -l;
    case D_POS: case D_PAREN: return l;
    case D_ADD: return l + r;
    case D_SUB: return l - r;
    case D_MUL: return l * r;
    case D_DIV: return l / r;
    case D_MOD: return fmod(l, r);
    case D_POW: return pow(l, r);
    case D_MIN: return l < r ? l : r;
    case D_MAX: return l > r ? l : r;
    default: return 0;
    }
}

/* Resolves a duration expression to ms when constant; leaves *expr for step()/range(). */
static void resolve_dur(parser_t *p, expr_t *d, int64_t *ms, expr_t **expr, bool positive,
                        const char *what)
{
    if (!dur_is_const(d)) {
        *ms = 0;
        *expr = d;
        return;
    }
    double s = dur_const(d);
    if (isnan(s) || isinf(s) || fabs(s) > 9.2e15)
        fail(p, d->pos, "%s duration out of range", what);
    *ms = (int64_t)llround(s * 1000.0);
    *expr = d->dur.op == D_NUM ? NULL : d;
    if (positive && *ms <= 0)
        fail(p, d->pos, "%s must be greater than 0", what);
}

/* ---- selectors ---- */

static void add_matcher(parser_t *p, expr_t *vs, promql_match_op_t op, const char *name,
                        const char *value, int pos, size_t *cap)
{
    if (vs->vs.n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        vs->vs.ms = arena_realloc(p->a, vs->vs.ms, *cap * sizeof(promql_matcher_t),
                                  nc * sizeof(promql_matcher_t));
        *cap = nc;
    }
    promql_matcher_t *m = &vs->vs.ms[vs->vs.n++];
    m->op = op;
    m->name = name;
    m->value = value;
    if (op == PROMQL_MATCH_RE || op == PROMQL_MATCH_NRE) {
        char eb[200];
        m->re = promql_regex_compile(value, true, eb, sizeof(eb));
        if (m->re == NULL)
            fail(p, pos, "invalid regular expression %s", eb);
        arena_defer(p->a, promql_regex_free, m->re);
    }
}

static void parse_matchers(parser_t *p, expr_t *vs)
{
    size_t cap = 0;
    for (;;) {
        token_t t = next(p);
        if (t.type == T_RBRACE)
            break;
        const char *name;
        if (t.type == T_IDENT) {
            name = arena_strndup(p->a, t.text, (size_t)t.len);
        } else if (t.type == T_STRING) {
            name = string_lit(p, t);
            token_t n = peek(p);
            if (n.type == T_COMMA || n.type == T_RBRACE) {
                /* {"metric.name"}: a quoted metric name */
                add_matcher(p, vs, PROMQL_MATCH_EQ, LABEL_NAME, name, t.pos, &cap);
                goto sep;
            }
        } else {
            unexpected(p, t, "label matching", "identifier or \"}\"");
        }
        {
            token_t op = next(p);
            promql_match_op_t mop;
            switch (op.type) {
            case T_ASSIGN: mop = PROMQL_MATCH_EQ; break;
            case T_NEQ: mop = PROMQL_MATCH_NEQ; break;
            case T_EQL_REGEX: mop = PROMQL_MATCH_RE; break;
            case T_NEQ_REGEX: mop = PROMQL_MATCH_NRE; break;
            default: unexpected(p, op, "label matching", "label matching operator");
            }
            token_t v = next(p);
            if (v.type != T_STRING)
                unexpected(p, v, "label matching", "string");
            add_matcher(p, vs, mop, name, string_lit(p, v), t.pos, &cap);
        }
sep:;
        token_t s = next(p);
        if (s.type == T_RBRACE)
            break;
        if (s.type != T_COMMA)
            unexpected(p, s, "label matching", "\",\" or \"}\"");
    }
}

static expr_t *parse_selector(parser_t *p, token_t name_tok)
{
    expr_t *vs = node(p, N_VECTOR_SEL, name_tok.pos);
    vs->type = PT_VECTOR;
    if (name_tok.type != T_LBRACE) {
        vs->vs.name = arena_strndup(p->a, name_tok.text, (size_t)name_tok.len);
        if (peek(p).type == T_LBRACE) {
            next(p);
            parse_matchers(p, vs);
        }
    } else {
        parse_matchers(p, vs);
    }
    vs->end = p->tok.pos + p->tok.len;
    if (vs->vs.name != NULL) {
        for (size_t i = 0; i < vs->vs.n; i++)
            if (strcmp(vs->vs.ms[i].name, LABEL_NAME) == 0)
                fail(p, vs->pos, "metric name must not be set twice: \"%s\" or \"%s\"",
                     vs->vs.name, vs->vs.ms[i].value);
        promql_matcher_t *ms = arena_alloc(p->a, (vs->vs.n + 1) * sizeof(*ms));
        ms[0] = (promql_matcher_t){ PROMQL_MATCH_EQ, LABEL_NAME, vs->vs.name, NULL };
        if (vs->vs.n > 0)
            memcpy(ms + 1, vs->vs.ms, vs->vs.n * sizeof(*ms));
        vs->vs.ms = ms;
        vs->vs.n++;
    } else {
        /* {__name__="x"} is the same selector as x; keep the name for printing. */
        for (size_t i = 0; i < vs->vs.n; i++)
            if (strcmp(vs->vs.ms[i].name, LABEL_NAME) == 0 && vs->vs.ms[i].op == PROMQL_MATCH_EQ &&
                vs->vs.name == NULL)
                vs->vs.name = vs->vs.ms[i].value;
    }
    bool nonempty = false;
    for (size_t i = 0; i < vs->vs.n; i++)
        if (!promql_matcher_matches(&vs->vs.ms[i], ""))
            nonempty = true;
    if (!nonempty)
        fail(p, vs->pos, "vector selector must contain at least one non-empty matcher");
    return vs;
}

/* ---- grouping labels, function calls, aggregations ---- */

static void parse_grouping(parser_t *p, const char ***out, size_t *n, const char *ctx)
{
    token_t t = next(p);
    if (t.type != T_LPAREN)
        unexpected(p, t, ctx, "\"(\"");
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (;;) {
        t = next(p);
        if (t.type == T_RPAREN)
            break;
        const char *name = NULL;
        if (t.type == T_STRING)
            name = string_lit(p, t);
        else if ((t.type == T_IDENT || tok_is_keyword(t.type)) && is_label_name(t.text, t.len))
            name = arena_strndup(p->a, t.text, (size_t)t.len);
        else
            unexpected(p, t, ctx, "label");
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 4;
            *out = arena_realloc(p->a, (void *)*out, cap * sizeof(char *), nc * sizeof(char *));
            cap = nc;
        }
        (*out)[(*n)++] = name;
        t = next(p);
        if (t.type == T_RPAREN)
            break;
        if (t.type != T_COMMA)
            unexpected(p, t, ctx, "\",\" or \")\"");
    }
    if (*out == NULL)
        *out = arena_alloc(p->a, sizeof(char *));
}

static void check_type(parser_t *p, const expr_t *e, ptype_t want, const char *fmt, const char *fn)
{
    if (e->type != want)
        fail(p, e->pos, fmt, ptype_str(want), fn, ptype_str(e->type));
}

static expr_t *parse_call(parser_t *p, token_t name)
{
    const func_t *f = promql_func_lookup(name.text, (size_t)name.len);
    if (f == NULL && ((name.len == 4 && strncmp(name.text, "fill", 4) == 0) ||
                      (name.len >= 9 && strncmp(name.text, "fill_", 5) == 0)))
        fail_code(p, VIGIL_ENOTSUP, name.pos,
                  "the experimental binary operator fill modifiers are not supported by vigil");
    if (f == NULL)
        fail(p, name.pos, "unknown function with name \"%.*s\"", name.len, name.text);
    expect(p, T_LPAREN, "function call");
    expr_t *e = node(p, N_CALL, name.pos);
    e->call.f = f;
    e->type = f->ret;
    size_t cap = 0;
    if (peek(p).type == T_RPAREN) {
        next(p);
    } else {
        for (;;) {
            expr_t *a = parse_expr(p, 0);
            if (e->call.n == cap) {
                size_t nc = cap ? cap * 2 : 4;
                e->call.args = arena_realloc(p->a, e->call.args, cap * sizeof(expr_t *),
                                             nc * sizeof(expr_t *));
                cap = nc;
            }
            e->call.args[e->call.n++] = a;
            token_t t = next(p);
            if (t.type == T_RPAREN)
                break;
            if (t.type != T_COMMA)
                unexpected(p, t, "function call", "\",\" or \")\"");
            if (peek(p).type == T_RPAREN)
                fail(p, t.pos, "trailing commas not allowed in function call args");
        }
    }
    e->end = p->tok.pos + 1;
    int n = (int)e->call.n;
    if (f->variadic == 0) {
        if (n != f->n_args)
            fail(p, e->pos, "expected %d argument(s) in call to \"%s\", got %d", f->n_args,
                 f->name, n);
    } else {
        int min = f->variadic > 0 ? f->n_args - f->variadic : f->n_args - 1;
        if (n < min)
            fail(p, e->pos, "expected at least %d argument(s) in call to \"%s\", got %d", min,
                 f->name, n);
        if (f->variadic > 0 && n > f->n_args)
            fail(p, e->pos, "expected at most %d argument(s) in call to \"%s\", got %d",
                 f->n_args, f->name, n);
    }
    for (int i = 0; i < n; i++) {
        ptype_t want = f->args[i < f->n_args ? i : f->n_args - 1];
        check_type(p, e->call.args[i], want, "expected type %s in call to function \"%s\", got %s",
                   f->name);
    }
    return e;
}

static const aggop_t agg_of_tok[] = {
    [T_SUM] = AGG_SUM, [T_AVG] = AGG_AVG, [T_COUNT] = AGG_COUNT, [T_MIN] = AGG_MIN,
    [T_MAX] = AGG_MAX, [T_GROUP] = AGG_GROUP, [T_STDDEV] = AGG_STDDEV, [T_STDVAR] = AGG_STDVAR,
    [T_TOPK] = AGG_TOPK, [T_BOTTOMK] = AGG_BOTTOMK, [T_QUANTILE] = AGG_QUANTILE,
    [T_COUNT_VALUES] = AGG_COUNT_VALUES, [T_LIMITK] = AGG_LIMITK,
    [T_LIMIT_RATIO] = AGG_LIMIT_RATIO,
};

static bool agg_has_param(aggop_t op)
{
    return op == AGG_TOPK || op == AGG_BOTTOMK || op == AGG_QUANTILE || op == AGG_COUNT_VALUES ||
           op == AGG_LIMITK || op == AGG_LIMIT_RATIO;
}

static expr_t *parse_aggregation(parser_t *p, token_t op)
{
    expr_t *e = node(p, N_AGG, op.pos);
    e->agg.op = agg_of_tok[op.type];
    e->type = PT_VECTOR;
    bool grouped = false;
    token_t t = peek(p);
    if (t.type == T_BY || t.type == T_WITHOUT) {
        next(p);
        e->agg.without = t.type == T_WITHOUT;
        e->agg.by = !e->agg.without;
        parse_grouping(p, &e->agg.grouping, &e->agg.n_grouping, "grouping opts");
        grouped = true;
    }
    token_t lp = next(p);
    if (lp.type != T_LPAREN)
        unexpected(p, lp, "aggregation", "\"(\"");
    expr_t *args[2];
    int n = 0;
    if (peek(p).type != T_RPAREN) {
        for (;;) {
            expr_t *a = parse_expr(p, 0);
            if (n < 2)
                args[n] = a;
            n++;
            token_t s = next(p);
            if (s.type == T_RPAREN)
                break;
            if (s.type != T_COMMA)
                unexpected(p, s, "aggregation", "\",\" or \")\"");
            if (peek(p).type == T_RPAREN)
                fail(p, s.pos, "trailing commas not allowed in function call args");
        }
    } else {
        next(p);
    }
    e->end = p->tok.pos + 1;
    int want = agg_has_param(e->agg.op) ? 2 : 1;
    if (n != want)
        fail(p, lp.pos, "wrong number of arguments for aggregate expression provided, expected %d, got %d",
             want, n);
    if (want == 2) {
        e->agg.param = args[0];
        e->agg.e = args[1];
    } else {
        e->agg.e = args[0];
    }
    t = peek(p);
    if (!grouped && (t.type == T_BY || t.type == T_WITHOUT)) {
        next(p);
        e->agg.without = t.type == T_WITHOUT;
        e->agg.by = !e->agg.without;
        parse_grouping(p, &e->agg.grouping, &e->agg.n_grouping, "grouping opts");
        e->end = p->tok.pos + 1;
    }
    if (e->agg.e->type != PT_VECTOR)
        fail(p, e->agg.e->pos, "expected type instant vector in aggregation expression, got %s",
             ptype_str(e->agg.e->type));
    if (e->agg.param != NULL) {
        ptype_t pw = e->agg.op == AGG_COUNT_VALUES ? PT_STRING : PT_SCALAR;
        if (e->agg.param->type != pw)
            fail(p, e->agg.param->pos, "expected type %s in aggregation parameter, got %s",
                 ptype_str(pw), ptype_str(e->agg.param->type));
    }
    return e;
}

/* ---- modifiers: [range], [range:step], offset, @ ---- */

static timing_t *timing_of(expr_t *e)
{
    if (e->kind == N_VECTOR_SEL)
        return &e->vs.tm;
    if (e->kind == N_MATRIX_SEL)
        return &e->ms.vs->vs.tm;
    if (e->kind == N_SUBQUERY)
        return &e->sq.tm;
    return NULL;
}

static expr_t *parse_brackets(parser_t *p, expr_t *e, token_t lb)
{
    expr_t *range = parse_dur(p, 0);
    token_t t = next(p);
    if (t.type == T_RBRACKET) {
        const char *msg = NULL;
        if (e->kind != N_VECTOR_SEL)
            msg = "ranges only allowed for vector selectors";
        else if (e->vs.tm.has_offset)
            msg = "no offset modifiers allowed before range";
        else if (e->vs.tm.at != AT_NONE)
            msg = "no @ modifiers allowed before range";
        if (msg != NULL)
            fail(p, lb.pos, "%s", msg);
        expr_t *m = node(p, N_MATRIX_SEL, e->pos);
        m->type = PT_MATRIX;
        m->ms.vs = e;
        resolve_dur(p, range, &m->ms.range_ms, &m->ms.range_expr, true, "range");
        return m;
    }
    if (t.type != T_COLON)
        unexpected(p, t, "subquery or range", "\":\" or \"]\"");
    expr_t *sq = node(p, N_SUBQUERY, e->pos);
    sq->type = PT_MATRIX;
    sq->sq.e = e;
    resolve_dur(p, range, &sq->sq.range_ms, &sq->sq.range_expr, true, "subquery range");
    if (peek(p).type != T_RBRACKET) {
        expr_t *step = parse_dur(p, 0);
        resolve_dur(p, step, &sq->sq.step_ms, &sq->sq.step_expr, true, "subquery step");
    }
    t = next(p);
    if (t.type != T_RBRACKET)
        unexpected(p, t, "subquery selector", "\"]\"");
    sq->end = t.pos + 1;
    if (e->type != PT_VECTOR)
        fail(p, e->pos, "subquery is only allowed on instant vector, got %s instead",
             ptype_str(e->type));
    return sq;
}

static void parse_offset(parser_t *p, expr_t *e, token_t kw)
{
    timing_t *tm = timing_of(e);
    if (tm == NULL)
        fail(p, kw.pos, "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
    if (tm->has_offset)
        fail(p, kw.pos, "offset may not be set multiple times");
    token_t t = peek(p);
    if (t.type == T_EOF)
        unexpected(p, t, "offset", "number, duration, step(), or range()");
    expr_t *d = parse_dur_term(p, "offset");
    tm->has_offset = true;
    resolve_dur(p, d, &tm->offset_ms, &tm->offset_expr, false, "offset");
    e->end = p->tok.pos + p->tok.len;
}

static void parse_at(parser_t *p, expr_t *e, token_t kw)
{
    timing_t *tm = timing_of(e);
    if (tm == NULL)
        fail(p, kw.pos, "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
    if (tm->at != AT_NONE)
        fail(p, kw.pos, "@ <timestamp> may not be set multiple times");
    token_t t = next(p);
    if (t.type == T_START || t.type == T_END) {
        expect(p, T_LPAREN, "@");
        expect(p, T_RPAREN, "@");
        tm->at = t.type == T_START ? AT_START : AT_END;
        e->end = p->tok.pos + 1;
        return;
    }
    double sign = 1;
    if (t.type == T_ADD || t.type == T_SUB) {
        sign = t.type == T_SUB ? -1 : 1;
        t = next(p);
    }
    if (t.type != T_NUMBER && t.type != T_DURATION)
        unexpected(p, t, "@", "timestamp");
    bool dur;
    double v = sign * number_lit(p, t, &dur);
    if (isnan(v) || isinf(v) || fabs(v) * 1000 > 9.2e18)
        fail(p, t.pos, "timestamp out of bounds for @ modifier: %g", v);
    tm->at = AT_TS;
    tm->at_ms = (int64_t)llround(v * 1000.0);
    e->end = t.pos + t.len;
}

/* ---- expressions ---- */

static expr_t *parse_primary(parser_t *p)
{
    token_t t = next(p);
    expr_t *e;
    switch (t.type) {
    case T_NUMBER: case T_DURATION:
        e = node(p, N_NUMBER, t.pos);
        e->type = PT_SCALAR;
        e->num.v = number_lit(p, t, &e->num.dur);
        return e;
    case T_STRING:
        e = node(p, N_STRING, t.pos);
        e->type = PT_STRING;
        e->str.s = string_lit(p, t);
        return e;
    case T_LPAREN: {
        expr_t *inner = parse_expr(p, 0);
        expect(p, T_RPAREN, "paren expression");
        e = node(p, N_PAREN, t.pos);
        e->paren.e = inner;
        e->type = inner->type;
        return e;
    }
    case T_LBRACE:
        return parse_selector(p, t);
    case T_STEP: case T_RANGE: case T_START: case T_END:
        if (peek(p).type == T_LPAREN) {
            /* step() and range() are scalars anywhere, not only in durations */
            expect(p, T_LPAREN, "expression");
            expect(p, T_RPAREN, "expression");
            e = dur_node(p, t.type == T_STEP ? D_STEP : t.type == T_RANGE ? D_RANGE
                          : t.type == T_START ? D_START : D_END, t.pos, NULL, NULL);
            return e;
        }
        return parse_selector(p, t);
    case T_IDENT:
        if (peek(p).type == T_LPAREN)
            return parse_call(p, t);
        return parse_selector(p, t);
    case T_METRIC_IDENT:
        return parse_selector(p, t);
    default:
        break;
    }
    if (tok_is_aggregator(t.type)) {
        token_t n = peek(p);
        if (n.type == T_LPAREN || n.type == T_BY || n.type == T_WITHOUT)
            return parse_aggregation(p, t);
        return parse_selector(p, t);
    }
    switch (t.type) {
    case T_BY: case T_WITHOUT: case T_AND: case T_OR: case T_UNLESS: case T_OFFSET:
    case T_START: case T_END: case T_STEP: case T_RANGE: case T_BOOL: case T_ON:
    case T_IGNORING: case T_GROUP_LEFT: case T_GROUP_RIGHT: case T_ATAN2:
    case T_ANCHORED: case T_SMOOTHED:
        if (t.type == T_BY || t.type == T_WITHOUT || t.type == T_AND || t.type == T_OR ||
            t.type == T_UNLESS || t.type == T_OFFSET || t.type == T_START ||
            t.type == T_END || t.type == T_STEP || t.type == T_RANGE)
            return parse_selector(p, t);
        break;
    default:
        break;
    }
    if (t.type == T_EOF)
        fail(p, t.pos, "unexpected end of input");
    unexpected(p, t, "expression", NULL);
}

static expr_t *parse_postfix(parser_t *p, expr_t *e)
{
    for (;;) {
        token_t t = peek(p);
        switch (t.type) {
        case T_LBRACKET:
            next(p);
            e = parse_brackets(p, e, t);
            break;
        case T_OFFSET:
            next(p);
            parse_offset(p, e, t);
            break;
        case T_AT:
            next(p);
            parse_at(p, e, t);
            break;
        case T_ANCHORED: case T_SMOOTHED:
            fail_code(p, VIGIL_ENOTSUP, t.pos,
                      "the experimental %.*s range modifier is not supported by vigil", t.len,
                      t.text);
        default:
            return e;
        }
    }
}

static int binop_prec(tok_type_t t, binop_t *op)
{
    switch (t) {
    case T_OR: *op = OP_OR; return 1;
    case T_AND: *op = OP_AND; return 2;
    case T_UNLESS: *op = OP_UNLESS; return 2;
    case T_EQLC: *op = OP_EQLC; return 3;
    case T_NEQ: *op = OP_NEQ; return 3;
    case T_LTE: *op = OP_LTE; return 3;
    case T_LSS: *op = OP_LSS; return 3;
    case T_GTE: *op = OP_GTE; return 3;
    case T_GTR: *op = OP_GTR; return 3;
    case T_ADD: *op = OP_ADD; return 4;
    case T_SUB: *op = OP_SUB; return 4;
    case T_MUL: *op = OP_MUL; return 5;
    case T_DIV: *op = OP_DIV; return 5;
    case T_MOD: *op = OP_MOD; return 5;
    case T_ATAN2: *op = OP_ATAN2; return 5;
    case T_POW: *op = OP_POW; return 6;
    default: return -1;
    }
}

static expr_t *parse_unary(parser_t *p)
{
    token_t t = peek(p);
    if (t.type != T_ADD && t.type != T_SUB)
        return parse_postfix(p, parse_primary(p));
    next(p);
    if (++p->depth > MAX_DEPTH)
        fail(p, t.pos, "expression nests too deeply");
    expr_t *inner = parse_expr(p, 6);
    p->depth--;
    if (inner->kind == N_NUMBER) {
        if (t.type == T_SUB)
            inner->num.v = -inner->num.v;
        inner->pos = t.pos;
        return inner;
    }
    if (inner->type != PT_SCALAR && inner->type != PT_VECTOR)
        fail(p, inner->pos, "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
             ptype_str(inner->type));
    expr_t *e = node(p, N_UNARY, t.pos);
    e->un.op = t.type == T_SUB ? OP_SUB : OP_ADD;
    e->un.e = inner;
    e->type = inner->type;
    e->end = inner->end;
    return e;
}

static void check_binary(parser_t *p, expr_t *e, token_t optok)
{
    expr_t *l = e->bin.l, *r = e->bin.r;
    binop_t op = e->bin.op;
    if ((l->type != PT_SCALAR && l->type != PT_VECTOR) ||
        (r->type != PT_SCALAR && r->type != PT_VECTOR))
        fail(p, e->pos, "binary expression must contain only scalar and instant vector types");
    if (e->bin.ret_bool && !binop_is_comparison(op))
        fail(p, optok.pos, "bool modifier can only be used on comparison operators");
    if (binop_is_comparison(op) && !e->bin.ret_bool && l->type == PT_SCALAR &&
        r->type == PT_SCALAR)
        fail(p, optok.pos, "comparisons between scalars must use BOOL modifier");
    if ((l->type != PT_VECTOR || r->type != PT_VECTOR) &&
        (e->bin.has_matching || e->bin.card == CARD_MANY_TO_ONE ||
         e->bin.card == CARD_ONE_TO_MANY))
        fail(p, e->pos, "vector matching only allowed between instant vectors");
    if (binop_is_set(op)) {
        if (l->type == PT_SCALAR || r->type == PT_SCALAR)
            fail(p, e->pos, "set operator \"%s\" not allowed in binary scalar expression",
                 binop_str(op));
        if (e->bin.card == CARD_MANY_TO_ONE || e->bin.card == CARD_ONE_TO_MANY)
            fail(p, optok.pos, "no grouping allowed for \"%s\" operation", binop_str(op));
        e->bin.card = CARD_MANY_TO_MANY;
    }
    for (size_t i = 0; e->bin.on && i < e->bin.n_include; i++)
        for (size_t j = 0; j < e->bin.n_mlabels; j++)
            if (strcmp(e->bin.include[i], e->bin.mlabels[j]) == 0)
                fail(p, e->pos, "label \"%s\" must not occur in ON and GROUP clause at once",
                     e->bin.include[i]);
    e->type = l->type == PT_SCALAR && r->type == PT_SCALAR ? PT_SCALAR : PT_VECTOR;
}

static expr_t *parse_expr(parser_t *p, int minprec)
{
    if (++p->depth > MAX_DEPTH)
        fail(p, p->tok.pos, "expression nests too deeply");
    expr_t *l = parse_unary(p);
    for (;;) {
        token_t t = peek(p);
        binop_t op;
        int prec = binop_prec(t.type, &op);
        if (prec < 0 || prec < minprec)
            break;
        next(p);
        expr_t *e = node(p, N_BINARY, l->pos);
        e->bin.op = op;
        e->bin.l = l;
        if (peek(p).type == T_BOOL) {
            next(p);
            e->bin.ret_bool = true;
        }
        token_t m = peek(p);
        if (m.type == T_ON || m.type == T_IGNORING) {
            next(p);
            e->bin.on = m.type == T_ON;
            e->bin.has_matching = true;
            parse_grouping(p, &e->bin.mlabels, &e->bin.n_mlabels, "grouping opts");
            token_t g = peek(p);
            if (g.type == T_GROUP_LEFT || g.type == T_GROUP_RIGHT) {
                next(p);
                e->bin.card = g.type == T_GROUP_LEFT ? CARD_MANY_TO_ONE : CARD_ONE_TO_MANY;
                if (peek(p).type == T_LPAREN)
                    parse_grouping(p, &e->bin.include, &e->bin.n_include, "grouping opts");
            }
        } else if (m.type == T_GROUP_LEFT || m.type == T_GROUP_RIGHT) {
            unexpected(p, m, "binary expression", NULL);
        }
        e->bin.r = parse_expr(p, op == OP_POW ? prec : prec + 1);
        e->end = e->bin.r->end;
        check_binary(p, e, t);
        l = e;
    }
    p->depth--;
    return l;
}

int promql_parse(arena_t *a, const char *in, expr_t **out, vigil_error_t *err)
{
    parser_t *p = arena_alloc(a, sizeof(*p));
    if (p == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    lexer_init(&p->lx, in, strlen(in));
    p->a = a;
    p->in = in;
    p->err = err;
    jmp_buf *saved = a->oom;
    if (setjmp(p->jb) != 0) {
        a->oom = saved;
        return p->code;
    }
    if (a->oom == NULL) {
        /* Allocation failures inside the parser end the parse with VIGIL_ENOMEM. */
        p->code = VIGIL_ENOMEM;
        vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
        a->oom = &p->jb;
    }
    if (peek(p).type == T_EOF)
        fail(p, 0, "no expression found in input");
    expr_t *e = parse_expr(p, 0);
    token_t t = next(p);
    if (t.type != T_EOF)
        unexpected(p, t, "expression", NULL);
    a->oom = saved;
    *out = e;
    return 0;
}
