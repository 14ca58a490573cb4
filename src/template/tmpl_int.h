/*
 * tmpl_int.h - private to src/template: the value node, the syntax tree, the execution state
 * and the function table.
 *
 *   value.c   the data model (template_value_t) and the per-execution arena
 *   parse.c   lexer and parser: text -> tree, every compile-time check
 *   exec.c    the tree walker: actions, control structures, fields, variables
 *   funcs.c   the function table (Go builtins, Prometheus, Alertmanager) and printf
 *   format.c  Go's number formatting (%v of floats, %.4g), humanize*, time printing
 *             (regexes: util/re2posix.h)
 */
#ifndef VIGIL_TEMPLATE_INT_H
#define VIGIL_TEMPLATE_INT_H

#include "template/template.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nesting of control structures and parentheses a template may have. */
#define TMPL_MAX_DEPTH 100
/* {{template}} calls in progress at once (Go allows 100000; recursion here is a mistake). */
#define TMPL_MAX_CALLS 100
/* Nodes one execution may visit: bounds templates that loop without printing. */
#define TMPL_MAX_STEPS 1000000
/* Bytes an execution may allocate for intermediate values. */
#define TMPL_ARENA_MAX (16u * 1024 * 1024)

struct template_value {
    template_kind_t    kind;
    unsigned           flags;   /* TEMPLATE_F_* */
    bool               b;
    long long          i;
    double             f;
    char              *s;       /* STRING: NUL-terminated */
    size_t             n;       /* LIST, MAP: entries */
    size_t             cap;
    char             **keys;    /* MAP: sorted, strcmp order */
    template_value_t **items;   /* LIST, MAP */
    bool               borrowed; /* arena node: keys/items/s belong to the arena, children are
                                    borrowed; template_value_free never sees these */
};

/* ---- arena: what one execution allocates, freed at its end --------------------------- */

typedef struct tmpl_arena {
    void  **ptrs;
    size_t  n, cap;
    size_t  bytes;
} tmpl_arena_t;

/* Zeroed memory owned by the arena; NULL when out of memory or over TMPL_ARENA_MAX. */
void *tmpl_arena_alloc(tmpl_arena_t *a, size_t size);
char *tmpl_arena_strndup(tmpl_arena_t *a, const char *s, size_t n);
void tmpl_arena_free(tmpl_arena_t *a);

/* Arena values (borrowed = true). List/map builders grow arena-owned arrays. */
template_value_t *tmpl_val_new(tmpl_arena_t *a, template_kind_t kind);
template_value_t *tmpl_val_str(tmpl_arena_t *a, const char *s, size_t n);
int tmpl_val_push(tmpl_arena_t *a, template_value_t *list, const template_value_t *item);
int tmpl_val_put(tmpl_arena_t *a, template_value_t *map, const char *key,
                 const template_value_t *item);  /* keys must come in sorted order */

/* The shared nil (also the value of a missing key outside missingkey=zero). */
extern const template_value_t tmpl_nil;
extern const template_value_t tmpl_empty_string;

/* Index of key in a map's sorted keys, or -1. */
long tmpl_map_find(const template_value_t *map, const char *key);

/* ---- the syntax tree -------------------------------------------------------------------- */

typedef struct tmpl_func tmpl_func_t;
typedef struct tmpl_pipe tmpl_pipe_t;

typedef enum tmpl_arg_kind {
    ARG_DOT,      /* .                              */
    ARG_FIELD,    /* .A.B    (chain on dot)         */
    ARG_VAR,      /* $x.A.B  (chain on a variable)  */
    ARG_FUNC,     /* an identifier naming a function */
    ARG_LITERAL,  /* string, number, true/false, nil */
    ARG_PIPE,     /* ( pipeline ).A                 */
} tmpl_arg_kind_t;

typedef struct tmpl_arg {
    tmpl_arg_kind_t    kind;
    int                line, col;
    char             **chain;   /* field names after the operand */
    int                nchain;
    char              *var;     /* ARG_VAR: name without '$' ("" for $) */
    const tmpl_func_t *fn;      /* ARG_FUNC */
    template_value_t   lit;     /* ARG_LITERAL (s owned by the tree) */
    tmpl_pipe_t       *sub;     /* ARG_PIPE */
} tmpl_arg_t;

typedef struct tmpl_cmd {
    tmpl_arg_t *args;
    int         nargs;
    int         line, col;
} tmpl_cmd_t;

struct tmpl_pipe {
    char      *decl[2];  /* variables declared or assigned, without '$' */
    int        ndecl;
    bool       assign;   /* '=' rather than ':=' */
    tmpl_cmd_t *cmds;
    int        ncmds;
    int        line, col;
};

typedef enum tmpl_node_kind {
    NODE_TEXT, NODE_ACTION, NODE_IF, NODE_RANGE, NODE_WITH, NODE_TEMPLATE, NODE_BREAK,
    NODE_CONTINUE,
} tmpl_node_kind_t;

typedef struct tmpl_node {
    tmpl_node_kind_t  kind;
    int               line, col;
    struct tmpl_node *next;
    char             *text;   /* TEXT (len bytes), TEMPLATE: the name */
    size_t            len;
    tmpl_pipe_t      *pipe;   /* ACTION IF RANGE WITH TEMPLATE (may be NULL for TEMPLATE) */
    struct tmpl_node *body;
    struct tmpl_node *elseb;  /* IF/RANGE/WITH; "else if" is an IF inside elseb */
} tmpl_node_t;

typedef struct tmpl_define {
    char        *name;
    tmpl_node_t *body;
} tmpl_define_t;

struct template {
    char               *name;
    tmpl_node_t        *root;
    tmpl_define_t      *defs;
    size_t              ndefs;
    char              **vars;     /* predeclared variables */
    size_t              nvars;
    bool                missing_zero;
    const template_t   *lib;
};

/* Frees a tree (parse.c). */
void tmpl_nodes_free(tmpl_node_t *n);

/* Finds a define in t or its lib chain. */
const tmpl_define_t *tmpl_find_define(const template_t *t, const char *name);

/* ---- execution ------------------------------------------------------------------------ */

typedef struct tmpl_varslot {
    const char             *name;
    const template_value_t *value;
} tmpl_varslot_t;

typedef struct tmpl_exec {
    const template_t              *t;
    const template_exec_options_t *opts;
    buf_t                         *out;
    size_t                         out_start;
    size_t                         max_output;
    tmpl_arena_t                   arena;
    tmpl_varslot_t                *vars;
    size_t                         nvars, capvars;
    int                            calls;
    long                           steps;
    int                            line, col;   /* of the node being executed */
    vigil_error_t                 *err;
    int                            rc;
} tmpl_exec_t;

/* Records an execution error at the current position; returns its code. */
int tmpl_exec_fail(tmpl_exec_t *ex, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- functions ---------------------------------------------------------------------- */

/* A function gets its evaluated arguments (the pipeline's value last) and sets *out to a value
 * it allocated in the arena or borrowed from its arguments. 0, or an error from
 * tmpl_exec_fail(). */
typedef int (*tmpl_fn_t)(tmpl_exec_t *ex, const template_value_t *const *argv, int argc,
                         const template_value_t **out);

struct tmpl_func {
    const char *name;
    int         min_args, max_args;  /* max -1: variadic */
    tmpl_fn_t   fn;                   /* NULL for and/or (evaluated lazily by exec.c) */
};

/* The function called `name`; NULL when unknown. *why is set to a reason when the name is a
 * Go/Prometheus function vigil deliberately leaves out (query, ...). */
const tmpl_func_t *tmpl_func_find(const char *name, const char **why);

/* Go truthiness. */
bool tmpl_truth(const template_value_t *v);

/* Appends v as fmt's %v prints it. */
int tmpl_print(tmpl_exec_t *ex, buf_t *b, const template_value_t *v);

/* Go's type name of a value, for messages ("string", "float64", "map[string]string"). */
const char *tmpl_type_name(const template_value_t *v);

/* ---- number and time formatting (format.c) ------------------------------------------------ */

/* Go's fmt %.<prec><verb> of a float64 for verb e, f, g (prec -1: shortest for g/e, 6 for f). */
void tmpl_format_float_verb(double v, char verb, int prec, bool plus, bool space, char *out,
                            size_t cap);
/* Prometheus's humanize family; 0, or -1 when v is not representable. */
void tmpl_humanize(double v, char *out, size_t cap);
void tmpl_humanize1024(double v, char *out, size_t cap);
void tmpl_humanize_duration(double v, char *out, size_t cap);
void tmpl_humanize_percentage(double v, char *out, size_t cap);
void tmpl_humanize_timestamp(double v, char *out, size_t cap);

#endif /* VIGIL_TEMPLATE_INT_H */
