/*
 * printer.c - turns an AST back into PromQL text: the canonical one-line form of Prometheus'
 * Node.String() and the multi-line form of Prettify (`promql format`), which splits any node
 * whose one-line form is longer than 100 characters, indenting two spaces per level.
 */
#include "promql/promql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 100

const char *binop_str(binop_t op)
{
    static const char *const s[] = {
        [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*", [OP_DIV] = "/", [OP_MOD] = "%",
        [OP_POW] = "^", [OP_ATAN2] = "atan2", [OP_EQLC] = "==", [OP_NEQ] = "!=",
        [OP_GTR] = ">", [OP_LSS] = "<", [OP_GTE] = ">=", [OP_LTE] = "<=", [OP_AND] = "and",
        [OP_OR] = "or", [OP_UNLESS] = "unless",
    };
    return s[op];
}

const char *aggop_str(aggop_t op)
{
    static const char *const s[] = {
        [AGG_SUM] = "sum", [AGG_AVG] = "avg", [AGG_COUNT] = "count", [AGG_MIN] = "min",
        [AGG_MAX] = "max", [AGG_GROUP] = "group", [AGG_STDDEV] = "stddev",
        [AGG_STDVAR] = "stdvar", [AGG_TOPK] = "topk", [AGG_BOTTOMK] = "bottomk",
        [AGG_QUANTILE] = "quantile", [AGG_COUNT_VALUES] = "count_values",
        [AGG_LIMITK] = "limitk", [AGG_LIMIT_RATIO] = "limit_ratio",
    };
    return s[op];
}

bool binop_is_comparison(binop_t op)
{
    return op >= OP_EQLC && op <= OP_LTE;
}

bool binop_is_set(binop_t op)
{
    return op == OP_AND || op == OP_OR || op == OP_UNLESS;
}

/* Go's fmt %v for a float64 (strconv 'g', shortest): round-trip digits, exponent form when the
 * decimal exponent is below -4 or at least 6 (1e+06, 1.5e-05). */
static void put_go_float(buf_t *b, double v)
{
    if (isnan(v)) {
        buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        buf_puts(b, signbit(v) ? "-0" : "0");
        return;
    }
    char tmp[40];
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp = [-]d.ddde[+-]XX */
    char *e = strchr(tmp, 'e');
    int exp = atoi(e + 1);
    *e = '\0';
    char digits[40];
    size_t nd = 0;
    bool neg = tmp[0] == '-';
    for (char *p = tmp + (neg ? 1 : 0); *p; p++)
        if (*p != '.')
            digits[nd++] = *p;
    digits[nd] = '\0';
    if (neg)
        buf_putc(b, '-');
    if (exp < -4 || exp >= 6) {
        buf_putc(b, digits[0]);
        if (nd > 1) {
            buf_putc(b, '.');
            buf_puts(b, digits + 1);
        }
        buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
        return;
    }
    if (exp < 0) {
        buf_puts(b, "0.");
        for (int i = -1; i > exp; i--)
            buf_putc(b, '0');
        buf_puts(b, digits);
        return;
    }
    for (int i = 0; i <= exp || i < (int)nd; i++) {
        if (i == exp + 1)
            buf_putc(b, '.');
        buf_putc(b, i < (int)nd ? digits[i] : '0');
    }
}

void promql_put_float(buf_t *b, double v)
{
    put_go_float(b, v);
}

const char *promql_float_str(arena_t *a, double v)
{
    buf_t b;
    buf_init(&b, 64);
    put_go_float(&b, v);
    const char *s = arena_strdup(a, b.data != NULL ? b.data : "");
    buf_free(&b);
    return s;
}

static bool legacy_name(const char *s)
{
    if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (s++; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static bool legacy_metric_name(const char *s)
{
    if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    for (s++; *s; s++)
        if (!(*s == '_' || *s == ':' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static void put_label_name(buf_t *b, const char *s)
{
    if (legacy_name(s))
        buf_puts(b, s);
    else
        buf_put_go_quoted(b, s);
}

static void print_dur(buf_t *b, const expr_t *d);

static void print_seconds(buf_t *b, double s, bool dur)
{
    if (dur && s >= 0 && s * 1000 == floor(s * 1000)) {
        promql_format_duration(b, (int64_t)llround(s * 1000));
        return;
    }
    if (dur && s < 0 && s * 1000 == floor(s * 1000)) {
        buf_putc(b, '-');
        promql_format_duration(b, (int64_t)llround(-s * 1000));
        return;
    }
    put_go_float(b, s);
}

static void print_dur(buf_t *b, const expr_t *d)
{
    static const char *const ops[] = {
        [D_ADD] = "+", [D_SUB] = "-", [D_MUL] = "*", [D_DIV] = "/", [D_MOD] = "%", [D_POW] = "^",
    };
    switch (d->dur.op) {
    case D_NUM: print_seconds(b, d->dur.v, d->dur.dur); break;
    case D_NEG: buf_putc(b, '-'); print_dur(b, d->dur.l); break;
    case D_POS: buf_putc(b, '+'); print_dur(b, d->dur.l); break;
    case D_PAREN: buf_putc(b, '('); print_dur(b, d->dur.l); buf_putc(b, ')'); break;
    case D_STEP: buf_puts(b, "step()"); break;
    case D_RANGE: buf_puts(b, "range()"); break;
    case D_START: buf_puts(b, "start()"); break;
    case D_END: buf_puts(b, "end()"); break;
    case D_MIN: case D_MAX:
        buf_puts(b, d->dur.op == D_MIN ? "min_of(" : "max_of(");
        print_dur(b, d->dur.l);
        buf_puts(b, ", ");
        print_dur(b, d->dur.r);
        buf_putc(b, ')');
        break;
    default:
        print_dur(b, d->dur.l);
        buf_printf(b, " %s ", ops[d->dur.op]);
        print_dur(b, d->dur.r);
    }
}

static void print_range(buf_t *b, int64_t ms, const expr_t *expr)
{
    if (expr != NULL)
        print_dur(b, expr);
    else
        promql_format_duration(b, ms);
}

static void print_timing(buf_t *b, const timing_t *tm)
{
    switch (tm->at) {
    case AT_TS: buf_printf(b, " @ %.3f", (double)tm->at_ms / 1000.0); break;
    case AT_START: buf_puts(b, " @ start()"); break;
    case AT_END: buf_puts(b, " @ end()"); break;
    default: break;
    }
    if (tm->offset_expr != NULL) {
        buf_puts(b, " offset ");
        print_dur(b, tm->offset_expr);
    } else if (tm->offset_ms > 0) {
        buf_puts(b, " offset ");
        promql_format_duration(b, tm->offset_ms);
    } else if (tm->offset_ms < 0) {
        buf_puts(b, " offset -");
        promql_format_duration(b, -tm->offset_ms);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_selector_body(buf_t *b, const expr_t *e)
{
    const char *name = e->vs.name;
    bool quoted_name = name != NULL && !legacy_metric_name(name);
    if (name != NULL && !quoted_name)
        buf_puts(b, name);
    /* Matcher strings, sorted as Prometheus does, without the name matcher. */
    size_t n = 0;
    char **strs = calloc(e->vs.n + 1, sizeof(char *));
    if (strs == NULL)
        return;
    if (quoted_name) {
        buf_t t;
        buf_init(&t, 1 << 20);
        buf_put_go_quoted(&t, name);
        strs[n++] = buf_detach(&t, NULL);
    }
    for (size_t i = 0; i < e->vs.n; i++) {
        const promql_matcher_t *m = &e->vs.ms[i];
        if (name != NULL && m->op == PROMQL_MATCH_EQ && strcmp(m->name, LABEL_NAME) == 0 &&
            strcmp(m->value, name) == 0 && name[0] != '\0')
            continue;
        static const char *const ops[] = { "=", "!=", "=~", "!~" };
        buf_t t;
        buf_init(&t, 1 << 20);
        put_label_name(&t, m->name);
        buf_puts(&t, ops[m->op]);
        buf_put_go_quoted(&t, m->value);
        strs[n++] = buf_detach(&t, NULL);
    }
    qsort(strs, n, sizeof(char *), cmp_str);
    if (n > 0) {
        buf_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                buf_putc(b, ',');
            buf_puts(b, strs[i] != NULL ? strs[i] : "");
        }
        buf_putc(b, '}');
    } else if (name == NULL) {
        buf_puts(b, "{}");
    }
    for (size_t i = 0; i < n; i++)
        free(strs[i]);
    free(strs);
}

static void print_grouping(buf_t *b, const char *const *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_puts(b, ", ");
        put_label_name(b, g[i]);
    }
}

static void print_agg_op(buf_t *b, const expr_t *e)
{
    buf_puts(b, aggop_str(e->agg.op));
    if (e->agg.without) {
        buf_puts(b, " without (");
        print_grouping(b, e->agg.grouping, e->agg.n_grouping);
        buf_puts(b, ") ");
    } else if (e->agg.n_grouping > 0) {
        buf_puts(b, " by (");
        print_grouping(b, e->agg.grouping, e->agg.n_grouping);
        buf_puts(b, ") ");
    }
}

static void print_matching(buf_t *b, const expr_t *e)
{
    if (!(e->bin.n_mlabels > 0 || e->bin.on))
        return;
    buf_puts(b, e->bin.on ? " on (" : " ignoring (");
    print_grouping(b, e->bin.mlabels, e->bin.n_mlabels);
    buf_putc(b, ')');
    if (e->bin.card == CARD_MANY_TO_ONE || e->bin.card == CARD_ONE_TO_MANY) {
        buf_puts(b, e->bin.card == CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
        print_grouping(b, e->bin.include, e->bin.n_include);
        buf_putc(b, ')');
    }
}

static void print_subquery_suffix(buf_t *b, const expr_t *e)
{
    buf_putc(b, '[');
    print_range(b, e->sq.range_ms, e->sq.range_expr);
    buf_putc(b, ':');
    if (e->sq.step_expr != NULL || e->sq.step_ms != 0)
        print_range(b, e->sq.step_ms, e->sq.step_expr);
    buf_putc(b, ']');
    print_timing(b, &e->sq.tm);
}

void promql_print(buf_t *b, const expr_t *e)
{
    switch (e->kind) {
    case N_NUMBER:
        print_seconds(b, e->num.v, e->num.dur);
        break;
    case N_STRING:
        buf_put_go_quoted(b, e->str.s);
        break;
    case N_DURATION:
        print_dur(b, e);
        break;
    case N_VECTOR_SEL:
        print_selector_body(b, e);
        print_timing(b, &e->vs.tm);
        break;
    case N_MATRIX_SEL:
        print_selector_body(b, e->ms.vs);
        buf_putc(b, '[');
        print_range(b, e->ms.range_ms, e->ms.range_expr);
        buf_putc(b, ']');
        print_timing(b, &e->ms.vs->vs.tm);
        break;
    case N_SUBQUERY:
        promql_print(b, e->sq.e);
        print_subquery_suffix(b, e);
        break;
    case N_PAREN:
        buf_putc(b, '(');
        promql_print(b, e->paren.e);
        buf_putc(b, ')');
        break;
    case N_UNARY:
        buf_puts(b, e->un.op == OP_SUB ? "-" : "+");
        promql_print(b, e->un.e);
        break;
    case N_BINARY:
        promql_print(b, e->bin.l);
        buf_printf(b, " %s%s", binop_str(e->bin.op), e->bin.ret_bool ? " bool" : "");
        print_matching(b, e);
        buf_putc(b, ' ');
        promql_print(b, e->bin.r);
        break;
    case N_CALL:
        buf_printf(b, "%s(", e->call.f->name);
        for (size_t i = 0; i < e->call.n; i++) {
            if (i > 0)
                buf_puts(b, ", ");
            promql_print(b, e->call.args[i]);
        }
        buf_putc(b, ')');
        break;
    case N_AGG:
        print_agg_op(b, e);
        buf_putc(b, '(');
        if (e->agg.param != NULL) {
            promql_print(b, e->agg.param);
            buf_puts(b, ", ");
        }
        promql_print(b, e->agg.e);
        buf_putc(b, ')');
        break;
    }
}

static void indent(buf_t *b, int level)
{
    for (int i = 0; i < level; i++)
        buf_puts(b, "  ");
}

/* True when the one-line form of e is longer than the column limit. */
static bool needs_split(const expr_t *e)
{
    buf_t t;
    buf_init(&t, (size_t)1 << 30);
    promql_print(&t, e);
    bool split = t.len > MAX_LINE;
    buf_free(&t);
    return split;
}

void promql_pretty(buf_t *b, const expr_t *e, int level)
{
    switch (e->kind) {
    case N_AGG:
        indent(b, level);
        if (!needs_split(e)) {
            promql_print(b, e);
            return;
        }
        print_agg_op(b, e);
        buf_puts(b, "(\n");
        if (e->agg.param != NULL) {
            promql_pretty(b, e->agg.param, level + 1);
            buf_puts(b, ",\n");
        }
        promql_pretty(b, e->agg.e, level + 1);
        buf_putc(b, '\n');
        indent(b, level);
        buf_putc(b, ')');
        return;
    case N_BINARY:
        if (!needs_split(e)) {
            indent(b, level);
            promql_print(b, e);
            return;
        }
        promql_pretty(b, e->bin.l, level + 1);
        buf_putc(b, '\n');
        indent(b, level);
        buf_printf(b, "%s%s", binop_str(e->bin.op), e->bin.ret_bool ? " bool" : "");
        print_matching(b, e);
        buf_putc(b, '\n');
        promql_pretty(b, e->bin.r, level + 1);
        return;
    case N_CALL:
        indent(b, level);
        if (!needs_split(e)) {
            promql_print(b, e);
            return;
        }
        buf_printf(b, "%s(\n", e->call.f->name);
        for (size_t i = 0; i < e->call.n; i++) {
            promql_pretty(b, e->call.args[i], level + 1);
            buf_puts(b, i + 1 < e->call.n ? ",\n" : "\n");
        }
        indent(b, level);
        buf_putc(b, ')');
        return;
    case N_PAREN:
        indent(b, level);
        if (!needs_split(e)) {
            promql_print(b, e);
            return;
        }
        buf_puts(b, "(\n");
        promql_pretty(b, e->paren.e, level + 1);
        buf_putc(b, '\n');
        indent(b, level);
        buf_putc(b, ')');
        return;
    case N_SUBQUERY:
        if (!needs_split(e)) {
            indent(b, level);
            promql_print(b, e);
            return;
        }
        promql_pretty(b, e->sq.e, level);
        print_subquery_suffix(b, e);
        return;
    case N_UNARY: {
        /* The operator goes before the child's own indentation is trimmed. */
        buf_t t;
        buf_init(&t, (size_t)1 << 30);
        promql_pretty(&t, e->un.e, level);
        const char *s = t.data != NULL ? t.data : "";
        while (*s == ' ')
            s++;
        indent(b, level);
        buf_puts(b, e->un.op == OP_SUB ? "-" : "+");
        buf_puts(b, s);
        buf_free(&t);
        return;
    }
    default:
        indent(b, level);
        promql_print(b, e);
        return;
    }
}

int promql_parse_check(const char *expr, vigil_error_t *err)
{
    arena_t a;
    arena_init(&a);
    expr_t *e;
    int rc = promql_parse(&a, expr, &e, err);
    arena_free(&a);
    return rc;
}

int promql_format(const char *expr, bool pretty, buf_t *out, vigil_error_t *err)
{
    arena_t a;
    arena_init(&a);
    expr_t *e;
    int rc = promql_parse(&a, expr, &e, err);
    if (rc == 0) {
        if (pretty)
            promql_pretty(out, e, 0);
        else
            promql_print(out, e);
    }
    arena_free(&a);
    return rc;
}
