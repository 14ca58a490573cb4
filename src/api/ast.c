/*
 * ast.c - /api/v1/parse_query: a PromQL expression's syntax tree as the JSON Prometheus's API
 * returns (web/api/v1/translate_ast.go of Prometheus 3.x), for PromLens-style tree views.
 *
 * Prometheus builds Go maps and lets encoding/json write them, which sorts the keys of every
 * object alphabetically; each node below writes its keys in that order so the bytes match.
 * Differences to Prometheus's AST that are visible here are undone while writing:
 *   - vigil keeps the matcher of a metric name written before {...} first; Prometheus appends
 *     it after the written matchers.
 *   - set operators without group modifiers are many-to-many, and a binary expression with a
 *     scalar side has no "matching" object (null), as Prometheus's parser leaves them.
 * The experimental fields of later 3.x releases (anchored/smoothed selectors, fill values) are
 * not written: vigil refuses that syntax, so they could only ever be false/null.
 *
 * This file reads the parser's private AST (promql/promql_int.h): the JSON form of the tree is
 * the API's business, and the tree has no public walker. It only reads; nothing is evaluated.
 */
#include "api/api.h"

#include "promql/promql_int.h"

#include <stdlib.h>
#include <string.h>

static int put_node(buf_t *b, const expr_t *e);

static const char *value_type_name(ptype_t t)
{
    switch (t) {
    case PT_SCALAR: return "scalar";
    case PT_VECTOR: return "vector";
    case PT_MATRIX: return "matrix";
    case PT_STRING: return "string";
    case PT_NONE: break;
    }
    return "none";
}

static const char *match_op_name(promql_match_op_t op)
{
    switch (op) {
    case PROMQL_MATCH_EQ: return "=";
    case PROMQL_MATCH_NEQ: return "!=";
    case PROMQL_MATCH_RE: return "=~";
    case PROMQL_MATCH_NRE: return "!~";
    }
    return "=";
}

static const char *card_name(card_t c)
{
    switch (c) {
    case CARD_ONE_TO_ONE: return "one-to-one";
    case CARD_MANY_TO_ONE: return "many-to-one";
    case CARD_ONE_TO_MANY: return "one-to-many";
    case CARD_MANY_TO_MANY: return "many-to-many";
    }
    return "one-to-one";
}

static int put_strings(buf_t *b, const char *const *v, size_t n)
{
    int rc = buf_putc(b, '[');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = buf_putc(b, ',');
        rc = rc ? rc : buf_put_json_string(b, v[i]);
    }
    return rc ? rc : buf_putc(b, ']');
}

static int put_matcher(buf_t *b, const promql_matcher_t *m)
{
    int rc = buf_puts(b, "{\"name\":");
    rc = rc ? rc : buf_put_json_string(b, m->name);
    rc = rc ? rc : buf_printf(b, ",\"type\":\"%s\",\"value\":", match_op_name(m->op));
    rc = rc ? rc : buf_put_json_string(b, m->value);
    return rc ? rc : buf_putc(b, '}');
}

/* "matchers":[...],"name":"..." of a vector selector, the name matcher last as in Prometheus. */
static int put_matchers_and_name(buf_t *b, const expr_t *vs)
{
    size_t first = vs->vs.name != NULL ? 1 : 0;
    int rc = buf_puts(b, "\"matchers\":[");
    bool any = false;
    for (size_t i = first; rc == 0 && i < vs->vs.n; i++, any = true)
        rc = (any ? buf_putc(b, ',') : 0) || put_matcher(b, &vs->vs.ms[i]);
    if (rc == 0 && first == 1)
        rc = (any ? buf_putc(b, ',') : 0) || put_matcher(b, &vs->vs.ms[0]);
    rc = rc ? rc : buf_puts(b, "],\"name\":");
    return rc ? rc : buf_put_json_string(b, vs->vs.name != NULL ? vs->vs.name : "");
}

/* Each writes one key of a selector's or subquery's timing, with its leading comma; callers
 * interleave them with their own keys in sorted order. */
static int put_offset(buf_t *b, const timing_t *tm)
{
    return buf_printf(b, ",\"offset\":%lld", (long long)(tm->has_offset ? tm->offset_ms : 0));
}

static int put_start_or_end(buf_t *b, const timing_t *tm)
{
    const char *soe = tm->at == AT_START ? "\"start\"" : tm->at == AT_END ? "\"end\"" : "null";
    return buf_printf(b, ",\"startOrEnd\":%s", soe);
}

static int put_timestamp(buf_t *b, const timing_t *tm)
{
    if (tm->at == AT_TS)
        return buf_printf(b, ",\"timestamp\":%lld", (long long)tm->at_ms);
    return buf_puts(b, ",\"timestamp\":null");
}

static int put_aggregation(buf_t *b, const expr_t *e)
{
    int rc = buf_puts(b, "{\"expr\":");
    rc = rc ? rc : put_node(b, e->agg.e);
    rc = rc ? rc : buf_puts(b, ",\"grouping\":");
    rc = rc ? rc : put_strings(b, e->agg.grouping, e->agg.n_grouping);
    rc = rc ? rc : buf_printf(b, ",\"op\":\"%s\",\"param\":", aggop_str(e->agg.op));
    rc = rc ? rc : put_node(b, e->agg.param);
    return rc ? rc : buf_printf(b, ",\"type\":\"aggregation\",\"without\":%s}",
                                e->agg.without ? "true" : "false");
}

static int put_binary(buf_t *b, const expr_t *e)
{
    int rc = buf_printf(b, "{\"bool\":%s,\"lhs\":", e->bin.ret_bool ? "true" : "false");
    rc = rc ? rc : put_node(b, e->bin.l);
    rc = rc ? rc : buf_puts(b, ",\"matching\":");
    if (rc == 0 && (e->bin.l->type != PT_VECTOR || e->bin.r->type != PT_VECTOR)) {
        rc = buf_puts(b, "null");
    } else if (rc == 0) {
        card_t card = e->bin.card;
        if (binop_is_set(e->bin.op) && card == CARD_ONE_TO_ONE)
            card = CARD_MANY_TO_MANY;
        rc = buf_printf(b, "{\"card\":\"%s\",\"include\":", card_name(card));
        rc = rc ? rc : put_strings(b, e->bin.include, e->bin.n_include);
        rc = rc ? rc : buf_puts(b, ",\"labels\":");
        rc = rc ? rc : put_strings(b, e->bin.mlabels, e->bin.n_mlabels);
        rc = rc ? rc : buf_printf(b, ",\"on\":%s}", e->bin.on ? "true" : "false");
    }
    rc = rc ? rc : buf_printf(b, ",\"op\":\"%s\",\"rhs\":", binop_str(e->bin.op));
    rc = rc ? rc : put_node(b, e->bin.r);
    return rc ? rc : buf_puts(b, ",\"type\":\"binaryExpr\"}");
}

static int put_call(buf_t *b, const expr_t *e)
{
    const func_t *f = e->call.f;
    int rc = buf_puts(b, "{\"args\":[");
    for (size_t i = 0; rc == 0 && i < e->call.n; i++) {
        if (i > 0)
            rc = buf_putc(b, ',');
        rc = rc ? rc : put_node(b, e->call.args[i]);
    }
    rc = rc ? rc : buf_puts(b, "],\"func\":{\"argTypes\":[");
    for (int i = 0; rc == 0 && i < f->n_args; i++)
        rc = buf_printf(b, "%s\"%s\"", i > 0 ? "," : "", value_type_name(f->args[i]));
    rc = rc ? rc : buf_puts(b, "],\"name\":");
    rc = rc ? rc : buf_put_json_string(b, f->name);
    return rc ? rc : buf_printf(b, ",\"returnType\":\"%s\",\"variadic\":%d},\"type\":\"call\"}",
                                value_type_name(f->ret), f->variadic);
}

static int put_vector_selector(buf_t *b, const expr_t *e)
{
    int rc = buf_putc(b, '{');
    rc = rc ? rc : put_matchers_and_name(b, e);
    rc = rc ? rc : put_offset(b, &e->vs.tm);
    rc = rc ? rc : put_start_or_end(b, &e->vs.tm);
    rc = rc ? rc : put_timestamp(b, &e->vs.tm);
    return rc ? rc : buf_puts(b, ",\"type\":\"vectorSelector\"}");
}

static int put_matrix_selector(buf_t *b, const expr_t *e)
{
    const expr_t *vs = e->ms.vs;
    int rc = buf_putc(b, '{');
    rc = rc ? rc : put_matchers_and_name(b, vs);
    rc = rc ? rc : put_offset(b, &vs->vs.tm);
    rc = rc ? rc : buf_printf(b, ",\"range\":%lld", (long long)e->ms.range_ms);
    rc = rc ? rc : put_start_or_end(b, &vs->vs.tm);
    rc = rc ? rc : put_timestamp(b, &vs->vs.tm);
    return rc ? rc : buf_puts(b, ",\"type\":\"matrixSelector\"}");
}

static int put_subquery(buf_t *b, const expr_t *e)
{
    int rc = buf_puts(b, "{\"expr\":");
    rc = rc ? rc : put_node(b, e->sq.e);
    rc = rc ? rc : put_offset(b, &e->sq.tm);
    rc = rc ? rc : buf_printf(b, ",\"range\":%lld", (long long)e->sq.range_ms);
    rc = rc ? rc : put_start_or_end(b, &e->sq.tm);
    rc = rc ? rc : buf_printf(b, ",\"step\":%lld", (long long)e->sq.step_ms);
    rc = rc ? rc : put_timestamp(b, &e->sq.tm);
    return rc ? rc : buf_puts(b, ",\"type\":\"subquery\"}");
}

static int put_node(buf_t *b, const expr_t *e)
{
    if (e == NULL)
        return buf_puts(b, "null");
    int rc;
    switch (e->kind) {
    case N_NUMBER:
        rc = buf_puts(b, "{\"type\":\"numberLiteral\",\"val\":\"");
        rc = rc ? rc : api_put_float(b, e->num.v);
        return rc ? rc : buf_puts(b, "\"}");
    case N_STRING:
        rc = buf_puts(b, "{\"type\":\"stringLiteral\",\"val\":");
        rc = rc ? rc : buf_put_json_string(b, e->str.s);
        return rc ? rc : buf_putc(b, '}');
    case N_PAREN:
        rc = buf_puts(b, "{\"expr\":");
        rc = rc ? rc : put_node(b, e->paren.e);
        return rc ? rc : buf_puts(b, ",\"type\":\"parenExpr\"}");
    case N_UNARY:
        rc = buf_puts(b, "{\"expr\":");
        rc = rc ? rc : put_node(b, e->un.e);
        return rc ? rc : buf_printf(b, ",\"op\":\"%s\",\"type\":\"unaryExpr\"}",
                                    e->un.op == OP_SUB ? "-" : "+");
    case N_VECTOR_SEL:
        return put_vector_selector(b, e);
    case N_MATRIX_SEL:
        return put_matrix_selector(b, e);
    case N_SUBQUERY:
        return put_subquery(b, e);
    case N_BINARY:
        return put_binary(b, e);
    case N_CALL:
        return put_call(b, e);
    case N_AGG:
        return put_aggregation(b, e);
    case N_DURATION:
        break;
    }
    /* A duration expression only ever hangs below a range, offset or step, which are written
     * as their resolved milliseconds: reaching one here is a parser change to follow. */
    return VIGIL_EINVAL;
}

int api_parse_query_json(const char *query, buf_t *out, vigil_error_t *err)
{
    arena_t a;
    arena_init(&a);
    expr_t *root;
    int rc = promql_parse(&a, query, &root, err);
    if (rc == 0 && (rc = put_node(out, root)) != 0)
        vigil_error_set(err, rc, "cannot write the syntax tree: %s", vigil_strerror(rc));
    arena_free(&a);
    return rc;
}
