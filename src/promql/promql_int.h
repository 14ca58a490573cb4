/*
 * promql_int.h - private declarations shared by the files of src/promql/.
 *
 * Reading order: arena (all per-query memory), labels, the lexer's tokens, the AST the parser
 * builds, the function table, and the evaluator's values and context.
 */
#ifndef VIGIL_PROMQL_INT_H
#define VIGIL_PROMQL_INT_H

#include "promql/promql.h"
#include "promql/storage.h"
#include "util/buf.h"
#include "vigil/error.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------------------------
 * Arena: every allocation of a parse or a query comes from one arena and is released at once.
 * On out-of-memory, arena_alloc() longjmps to the arena's `oom` handler when one is set (the
 * entry points set it), so the code in between never checks for NULL.
 */
typedef struct arena_chunk arena_chunk_t;
typedef struct arena {
    arena_chunk_t *head;   /* current chunk (newest first) */
    size_t used;           /* bytes used in head */
    size_t total;          /* bytes allocated in all chunks, for the caller's limits */
    jmp_buf *oom;          /* where to jump on allocation failure; NULL = return NULL */
    struct arena_defer *defers;  /* cleanups run by arena_free (compiled regexes) */
    arena_chunk_t *spare;  /* one chunk arena_release kept for the next step's allocations */
} arena_t;

typedef struct arena_mark {
    arena_chunk_t *head;
    size_t used;
} arena_mark_t;

void arena_init(arena_t *a);
void arena_free(arena_t *a);                 /* releases every chunk */
void *arena_alloc(arena_t *a, size_t n);     /* zeroed, 16-byte aligned */
void *arena_realloc(arena_t *a, void *p, size_t old, size_t n);
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_strdup(arena_t *a, const char *s);
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
arena_mark_t arena_mark(const arena_t *a);
/* Runs fn(p) when the arena is freed (not on arena_release). */
void arena_defer(arena_t *a, void (*fn)(void *), void *p);
void arena_release(arena_t *a, arena_mark_t m);   /* frees what was allocated after the mark */
/* Whether p points into memory currently allocated from a (a few chunk range checks). */
bool arena_owns(const arena_t *a, const void *p);

/* ------------------------------------------------------------------------------------------
 * Labels (promql_labels_t: sorted by name). Builders allocate in an arena.
 */
#define LABEL_NAME "__name__"

const char *labels_get(promql_labels_t l, const char *name);     /* NULL when absent */
int labels_cmp(promql_labels_t a, promql_labels_t b);            /* Prometheus labels.Compare */
bool labels_equal(promql_labels_t a, promql_labels_t b);
uint64_t labels_hash(promql_labels_t l);
promql_labels_t labels_copy(arena_t *a, promql_labels_t l);      /* deep copy of strings */
/* l itself when neither its array nor any of its strings lie in `scratch` (they then live as
 * long as the query), else labels_copy(a, l). */
promql_labels_t labels_keep(arena_t *a, const arena_t *scratch, promql_labels_t l);
promql_labels_t labels_without(arena_t *a, promql_labels_t l, const char *name);
/* Sets (value non-empty) or deletes (value NULL or "") one label. Strings are not copied. */
promql_labels_t labels_set(arena_t *a, promql_labels_t l, const char *name, const char *value);
/* Keeps only (keep = true) or drops the listed names; `drop_name` also drops __name__. */
promql_labels_t labels_filter(arena_t *a, promql_labels_t l, const char *const *names, size_t n,
                              bool keep);
/* Appends "{a=\"b\", ...}" (Prometheus' Labels.String form). */
void labels_format(buf_t *b, promql_labels_t l);
/* Sorts an unsorted array in place (and keeps the last of duplicate names). */
size_t labels_sort(promql_label_t *v, size_t n);

/* A string -> index map in an arena (open addressing), for grouping and matching. */
typedef struct strmap {
    const char **keys;
    size_t *lens;
    size_t *vals;
    size_t cap, n;
    arena_t *a;
} strmap_t;
void strmap_init(strmap_t *m, arena_t *a, size_t hint);
/* Returns the value stored for key, or inserts `val` and returns it; *found tells which. */
size_t strmap_get_or_put(strmap_t *m, const char *key, size_t len, size_t val, bool *found);
/* Looks a key up without inserting; false when absent. */
bool strmap_get(const strmap_t *m, const char *key, size_t len, size_t *val);

/* ------------------------------------------------------------------------------------------
 * Lexer.
 */
typedef enum tok_type {
    T_EOF, T_ERROR, T_IDENT, T_METRIC_IDENT, T_NUMBER, T_DURATION, T_STRING,
    T_LPAREN, T_RPAREN, T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET, T_COMMA, T_COLON,
    T_ASSIGN, T_EQLC, T_NEQ, T_EQL_REGEX, T_NEQ_REGEX, T_LSS, T_GTR, T_LTE, T_GTE,
    T_ADD, T_SUB, T_MUL, T_DIV, T_MOD, T_POW, T_AT,
    /* keywords (matched case-insensitively) */
    T_AND, T_OR, T_UNLESS, T_ATAN2, T_BOOL, T_BY, T_WITHOUT, T_ON, T_IGNORING,
    T_GROUP_LEFT, T_GROUP_RIGHT, T_OFFSET, T_START, T_END, T_STEP, T_RANGE,
    T_ANCHORED, T_SMOOTHED,
    /* aggregators */
    T_SUM, T_AVG, T_COUNT, T_MIN, T_MAX, T_GROUP, T_STDDEV, T_STDVAR, T_TOPK, T_BOTTOMK,
    T_QUANTILE, T_COUNT_VALUES, T_LIMITK, T_LIMIT_RATIO,
} tok_type_t;

typedef struct token {
    tok_type_t type;
    int pos;            /* byte offset in the input */
    int len;
    const char *text;   /* points into the input */
} token_t;

typedef struct lexer {
    const char *in;
    int len, pos;
    int brace_depth;    /* inside {...} keywords are plain identifiers */
    int bracket_depth;  /* inside [...] a bare number may be followed by ':' */
    const char *errmsg; /* for T_ERROR */
} lexer_t;

void lexer_init(lexer_t *lx, const char *in, size_t len);
token_t lexer_next(lexer_t *lx);
const char *tok_desc(tok_type_t t);      /* "identifier", "\"(\"", ... for error messages */
bool tok_is_aggregator(tok_type_t t);
bool tok_is_keyword(tok_type_t t);
/* Decodes a quoted PromQL string literal (with quotes) into the arena. NULL when invalid. */
char *promql_unquote(arena_t *a, const char *s, size_t n);
/* Parses a Prometheus duration ("1h30m", "5m", "0") into ms; false when invalid. */
bool promql_parse_duration(const char *s, size_t n, int64_t *ms);
/* Appends a duration the way Prometheus prints model.Duration ("1h30m", "0s"). */
void promql_format_duration(buf_t *b, int64_t ms);
/* Parses a number literal as Prometheus does (ints with base prefix, floats, Inf, NaN). */
bool promql_parse_number(const char *s, size_t n, double *v);

/* ------------------------------------------------------------------------------------------
 * AST.
 */
typedef enum ptype { PT_NONE, PT_SCALAR, PT_VECTOR, PT_MATRIX, PT_STRING } ptype_t;

typedef enum node_kind {
    N_NUMBER, N_STRING, N_VECTOR_SEL, N_MATRIX_SEL, N_SUBQUERY, N_PAREN, N_UNARY, N_BINARY,
    N_CALL, N_AGG, N_DURATION,
} node_kind_t;

typedef enum binop {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_POW, OP_ATAN2,
    OP_EQLC, OP_NEQ, OP_GTR, OP_LSS, OP_GTE, OP_LTE,
    OP_AND, OP_OR, OP_UNLESS,
} binop_t;

typedef enum aggop {
    AGG_SUM, AGG_AVG, AGG_COUNT, AGG_MIN, AGG_MAX, AGG_GROUP, AGG_STDDEV, AGG_STDVAR,
    AGG_TOPK, AGG_BOTTOMK, AGG_QUANTILE, AGG_COUNT_VALUES, AGG_LIMITK, AGG_LIMIT_RATIO,
} aggop_t;

/* Operators of duration expressions (N_DURATION). */
typedef enum durop {
    D_NUM, D_NEG, D_POS, D_ADD, D_SUB, D_MUL, D_DIV, D_MOD, D_POW, D_STEP, D_RANGE, D_MIN, D_MAX,
    D_PAREN, D_START, D_END,
} durop_t;

typedef enum card { CARD_ONE_TO_ONE, CARD_MANY_TO_ONE, CARD_ONE_TO_MANY, CARD_MANY_TO_MANY } card_t;

typedef enum at_kind { AT_NONE, AT_TS, AT_START, AT_END } at_kind_t;

typedef struct expr expr_t;
typedef struct func func_t;

/* offset and @ of a selector or subquery */
typedef struct timing {
    int64_t offset_ms;     /* resolved offset (offset_expr evaluated at query start) */
    expr_t *offset_expr;   /* N_DURATION when written as an expression, else NULL */
    bool has_offset;
    at_kind_t at;
    int64_t at_ms;
} timing_t;

struct expr {
    node_kind_t kind;
    ptype_t type;
    int pos, end;            /* byte range in the query, for annotations */
    union {
        struct { double v; bool dur; } num;
        struct { const char *s; } str;
        struct {
            const char *name;          /* metric name written before {...}, or NULL */
            promql_matcher_t *ms;
            size_t n;
            timing_t tm;
            void *cache;               /* evaluator: selected series (per query) */
        } vs;
        struct { expr_t *vs; int64_t range_ms; expr_t *range_expr; } ms;
        struct {
            expr_t *e;
            int64_t range_ms, step_ms;
            expr_t *range_expr, *step_expr;
            timing_t tm;
        } sq;
        struct { expr_t *e; } paren;
        struct { binop_t op; expr_t *e; } un;     /* op: OP_SUB or OP_ADD */
        struct {
            binop_t op;
            bool ret_bool;
            card_t card;
            bool on;                /* on(...) given (else ignoring, possibly empty) */
            bool has_matching;      /* on/ignoring written */
            const char **mlabels;
            size_t n_mlabels;
            const char **include;   /* group_left/right labels */
            size_t n_include;
            expr_t *l, *r;
        } bin;
        struct { const func_t *f; expr_t **args; size_t n; void *cache; } call;
        struct {
            aggop_t op;
            expr_t *e, *param;
            const char **grouping;
            size_t n_grouping;
            bool without, by;
            void *cache;               /* evaluator: grouping memo (per query) */
        } agg;
        struct { durop_t op; expr_t *l, *r; double v; bool dur; } dur;  /* v in seconds */
    };
};

/* Parses `in` into an AST allocated in `a`. 0, VIGIL_EPARSE (err: "l:c: parse error: ..."),
 * or VIGIL_ENOTSUP for experimental syntax vigil does not implement. */
int promql_parse(arena_t *a, const char *in, expr_t **out, vigil_error_t *err);

/* Appends the canonical one-line form of `e`. */
void promql_print(buf_t *b, const expr_t *e);
/* Appends a float as Go's %v prints it (NaN, +Inf, 1e+06, 0.1); the arena variant returns it. */
void promql_put_float(buf_t *b, double v);
const char *promql_float_str(arena_t *a, double v);
/* Appends the prettified form at indent `level`. */
void promql_pretty(buf_t *b, const expr_t *e, int level);

const char *binop_str(binop_t op);
const char *aggop_str(aggop_t op);
bool binop_is_comparison(binop_t op);
bool binop_is_set(binop_t op);
const char *ptype_str(ptype_t t);

/* Converts `pos` (byte offset) into 1-based line and column. */
void promql_pos_linecol(const char *in, int pos, int *line, int *col);

/* ------------------------------------------------------------------------------------------
 * Values the evaluator passes around (all in the query's arena).
 */
typedef struct sample {
    promql_labels_t lbls;
    int64_t t;
    double v;
    bool drop_name;     /* delayed __name__ removal: drop at the end of evaluation */
} sample_t;

typedef struct vector {
    sample_t *s;
    size_t n;
} vector_t;

typedef struct mseries {
    promql_labels_t lbls;
    promql_point_t *p;
    size_t n;
    bool drop_name;
    bool counter_name;  /* known to need no "might not be a counter" info (see eval_counter_name) */
    /* NULL, or a running count of decreases parallel to p (drops[i] - drops[j]: how many
     * p[k].v < p[k-1].v for j < k <= i), so counter functions skip windows without resets. */
    const uint32_t *drops;
} mseries_t;

typedef struct matrix {
    mseries_t *s;
    size_t n;
} matrix_t;

typedef struct value {
    ptype_t type;
    double scalar;
    const char *str;
    vector_t vec;
    matrix_t mat;
} value_t;

typedef struct evalctx evalctx_t;

/* Signature of a function implementation. `args` are evaluated values (index i = argument i);
 * `e` is the call node. Returns 0 or an error code (with ctx->err set). */
typedef int (*func_impl_t)(evalctx_t *c, const expr_t *e, value_t *args, int64_t t, value_t *out);

struct func {
    const char *name;
    ptype_t args[6];
    int n_args;         /* fixed arguments */
    int variadic;       /* 0: fixed; >0: that many optional; -1: unlimited (last type repeats) */
    ptype_t ret;
    bool experimental;
    func_impl_t impl;
};

const func_t *promql_func_lookup(const char *name, size_t len);

/* The evaluation context of one query. */
struct evalctx {
    arena_t *a;                 /* query arena: AST, caches, result */
    arena_t *scratch;           /* per-step values (released after each top-level step) */
    const promql_storage_t *st;
    const char *query;          /* for annotation positions */
    int64_t start, end, step;   /* query range (instant: start == end, step 0) */
    int64_t lookback;
    int64_t default_step;
    size_t max_samples;
    size_t cur_samples;         /* samples held by the current step */
    size_t result_samples;      /* samples in the result so far */
    int64_t deadline_ns;        /* 0 = none */
    const promql_query_opts_t *qo;
    vigil_error_t *err;
    bool range_query;
    /* annotations (deduplicated) */
    const char **warnings;
    size_t n_warnings, cap_warnings;
    const char **infos;
    size_t n_infos, cap_infos;
};

/* ---- grouping memo (grouping.c): a node's query-wide "sample -> group" assignments ---- */
typedef struct group_memo group_memo_t;

/* Derives the group labels of sample s (in c->scratch, or borrowed from s) and one number that
 * depends only on s's labels (*aux, e.g. its parsed `le`). False skips the sample (after
 * annotating why, if it should be). */
typedef bool (*group_fn_t)(evalctx_t *c, const void *arg, const sample_t *s,
                           promql_labels_t *gl, double *aux);

typedef struct group_ref {
    size_t group;           /* index among this grouping's groups, in order of first sight */
    bool is_new;            /* first sample of that group in this grouping */
    promql_labels_t lbls;   /* the group's labels (query arena: stable for the query) */
    double aux;
} group_ref_t;

/* The memo kept in *slot (a node's cache field; created in the query arena on first use),
 * starting a new grouping: every group's index is unassigned again. Borrowed. */
group_memo_t *group_memo(evalctx_t *c, void **slot);
/* The group of the sample s at position pos of the grouped vector; false when fn skipped it. */
bool group_memo_find(evalctx_t *c, group_memo_t *m, size_t pos, const sample_t *s,
                     group_fn_t fn, const void *arg, group_ref_t *out);
/* Sets key to the lookup key of a label set (names and values with separators no UTF-8
 * label contains). */
void group_key(buf_t *key, promql_labels_t gl);

/* eval.c */
int eval_node(evalctx_t *c, const expr_t *e, int64_t t, value_t *out);
int eval_count_samples(evalctx_t *c, size_t n);
void eval_annotate(evalctx_t *c, bool warning, const expr_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int eval_error(evalctx_t *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prometheus' "vector cannot contain metrics with the same labelset" check. */
int eval_check_duplicates(evalctx_t *c, const vector_t *v);
/* The metric name of `l` for annotation texts ("" when none). */
const char *eval_metric_name(promql_labels_t l);
/* Whether rate() and increase() over a series with these labels need no "metric might not be
 * a counter" info: no name, or one ending in _total/_sum/_count/_bucket. */
bool eval_counter_name(promql_labels_t l);
/* Evaluates a duration expression in seconds (step()/range() from the context). */
double eval_duration(const evalctx_t *c, const expr_t *d);

/* binop.c */
int eval_binary(evalctx_t *c, const expr_t *e, value_t *l, value_t *r, int64_t t, value_t *out);
double binop_float(binop_t op, double l, double r, bool *keep);

/* aggregate.c */
int eval_aggregate(evalctx_t *c, const expr_t *e, value_t *param, value_t *in, int64_t t,
                   value_t *out);

/* regex.c: Prometheus (RE2) regexes on POSIX regex (util/re2posix.h). `anchored`: the whole
 * subject must match, as label matchers and label_replace require. NULL with the reason in
 * errbuf when the regex is invalid or not expressible. */
void *promql_regex_compile(const char *re, bool anchored, char *errbuf, size_t errlen);
void promql_regex_free(void *re);
/* Most groups promql_regex_match reports ($0 to $9 of label_replace, and room to spare). */
#define PROMQL_REGEX_MAX_GROUPS 16
/* Matches `s`; fills m with nm (start, end) pairs: the whole match, then RE2 groups 1.. in
 * RE2's numbering (-1 for a group that did not take part or past PROMQL_REGEX_MAX_GROUPS). */
bool promql_regex_match(void *re, const char *s, int *m, int nm);

/* quantile helpers used by aggregate.c and functions.c */
double promql_quantile(double q, double *v, size_t n);   /* sorts v */

#endif /* VIGIL_PROMQL_INT_H */
