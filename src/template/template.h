/*
 * template.h - a subset of Go's text/template, as Prometheus (alert labels and annotations)
 * and Alertmanager (notification texts) use it.
 *
 * A template is compiled once (template_compile) and executed many times (template_execute)
 * against a data model the caller builds from template_value_t nodes: nil, bool, int, float,
 * string, list and map (sorted string keys). Everything that would make a template mean
 * something different in vigil than in Go is refused at compile time with "NAME:LINE:COL:
 * ..." (an unknown function, `query`, an undefined variable, a syntax error); a run-time error
 * (a bad comparison, a failing function) fails the execution with a message, never a wrong text.
 *
 * The supported language is listed in docs/templates.md: text and actions with `{{-`/`-}}`
 * trimming, comments, pipelines, `.Field` chains, variables (`:=`, `=`), if/else if/else,
 * range (lists, maps in key order, `$i, $v :=`, else, break, continue), with/else, define,
 * template, block, and the functions of Go, Prometheus and Alertmanager that need no query
 * engine (template_function_name() lists them).
 *
 * Thread safety: a compiled template is immutable; any number of threads may execute it at
 * once. A value tree may be shared by concurrent executions as long as nobody modifies it.
 */
#ifndef VIGIL_TEMPLATE_H
#define VIGIL_TEMPLATE_H

#include "util/buf.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- the data model -------------------------------------------------------------------- */

typedef enum template_kind {
    TEMPLATE_NIL = 0,  /* Go's "no value": prints "<no value>", false in conditions */
    TEMPLATE_BOOL,
    TEMPLATE_INT,      /* Go int: len results, integer literals */
    TEMPLATE_FLOAT,    /* Go float64: $value, float literals */
    TEMPLATE_STRING,
    TEMPLATE_LIST,
    TEMPLATE_MAP,
} template_kind_t;

/* Flags that give a map or list the methods of the Go type it stands for. */
#define TEMPLATE_F_LABELS 0x1u  /* map[string]string (Alertmanager KV, Prometheus labels):
                                   .SortedPairs .Names .Values .Remove; a missing key is ""
                                   under missingkey=zero and <no value> otherwise */
#define TEMPLATE_F_STRUCT 0x2u  /* a Go struct: a missing field is an execution error */
#define TEMPLATE_F_ALERTS 0x4u  /* Alertmanager's Alerts list: .Firing .Resolved (elements
                                   are maps with a "Status" entry) */
#define TEMPLATE_F_STRMAP 0x8u  /* a plain map[string]string (Prometheus' $labels): a missing
                                   key is "" under missingkey=zero, as with LABELS, but no
                                   methods, so a label called "Names" is just that label */

typedef struct template_value template_value_t;

/* Constructors. Each returns a new node owned by the caller (free it with
 * template_value_free(), or hand it to a list/map, which then owns it); NULL when out of
 * memory. Strings are copied. */
template_value_t *template_value_nil(void);
template_value_t *template_value_bool(bool b);
template_value_t *template_value_int(long long i);
template_value_t *template_value_float(double f);
template_value_t *template_value_string(const char *s);
template_value_t *template_value_list(unsigned flags);
template_value_t *template_value_map(unsigned flags);

/* Appends `item` to a list; the list owns it from then on, also when this fails (the item is
 * freed). 0, VIGIL_EINVAL (not a list or item NULL) or VIGIL_ENOMEM. */
int template_list_append(template_value_t *list, template_value_t *item);

/* Sets map[key] = item (replacing and freeing an older value); the map owns `item` from then
 * on, also when this fails. Keys stay sorted. 0, VIGIL_EINVAL or VIGIL_ENOMEM. */
int template_map_set(template_value_t *map, const char *key, template_value_t *item);

/* Shorthand for template_map_set(map, key, template_value_string(s)). */
int template_map_set_string(template_value_t *map, const char *key, const char *s);

/* The value of map[key], borrowed from the map; NULL when absent or `map` is not a map. */
const template_value_t *template_map_get(const template_value_t *map, const char *key);

/* Frees a node and everything it owns; NULL is a no-op. */
void template_value_free(template_value_t *v);

template_kind_t template_value_kind(const template_value_t *v);

/* ---- compiling and executing ------------------------------------------------------------ */

typedef struct template template_t;

typedef struct template_options {
    const char        *name;          /* for messages: "NAME:LINE:COL: ..."; NULL: "template" */
    const char *const *vars;          /* predeclared variables, without '$', NULL-terminated
                                         (Prometheus: labels, externalLabels, externalURL,
                                         value); their values are given at execution */
    bool               missing_zero;  /* missingkey=zero (Prometheus): a missing label prints
                                         "" instead of Go's default "<no value>" (Alertmanager) */
    const template_t  *lib;           /* NULL or a compiled template whose {{define}}s this one
                                         may call with {{template}}; must outlive this one */
} template_options_t;

/* Compiles `text` (NUL-terminated). On success *out is owned by the caller and freed with
 * template_free(). Errors: VIGIL_EPARSE ("NAME:LINE:COL: what", 1-based columns in bytes),
 * VIGIL_ENOTSUP (a Go or Prometheus construct vigil does not implement, with its position),
 * VIGIL_ELIMIT (nesting deeper than 100), VIGIL_ENOMEM. */
int template_compile(template_t **out, const char *text, const template_options_t *opts,
                     vigil_error_t *err);

void template_free(template_t *t);

/* True when `text` has no action at all, so it can be used as it is without compiling. */
bool template_is_plain(const char *text);

/* A variable's value for one execution (name without '$'). Borrowed. */
typedef struct template_var {
    const char             *name;
    const template_value_t *value;
} template_var_t;

typedef struct template_exec_options {
    const template_var_t *vars;         /* values of the predeclared variables; one missing
                                           executes as nil */
    size_t                nvars;
    const char           *external_url; /* externalURL / pathPrefix / graphLink; NULL: "" */
    size_t                max_output;   /* cap on the text appended; 0: 1 MiB */
} template_exec_options_t;

/* Executes `t` with dot = `data` (NULL: nil) and appends the text to `out`. On an execution
 * error `out` keeps what was appended before the error and the message reads
 * "NAME:LINE:COL: executing ...: what". 0, VIGIL_EINVAL (run-time error), VIGIL_ELIMIT
 * (output cap, step budget or template recursion), VIGIL_ENOMEM. */
int template_execute(const template_t *t, const template_value_t *data,
                     const template_exec_options_t *opts, buf_t *out, vigil_error_t *err);

/* Executes the {{define}}d template `name` of `t` (or of its lib) instead of the main one.
 * VIGIL_ENOENT when there is no such template; otherwise as template_execute(). */
int template_execute_named(const template_t *t, const char *name,
                           const template_value_t *data, const template_exec_options_t *opts,
                           buf_t *out, vigil_error_t *err);

/* The name of the i-th function templates may call (static), NULL past the last. */
const char *template_function_name(size_t i);

/* Writes `v` as Go's fmt %v prints a float64 (strconv 'g' with the shortest digits that read
 * back: "1e+06", "0.1", "NaN", "+Inf") into out[cap], truncated to fit; 32 bytes always
 * suffice. */
void template_format_float(double v, char *out, size_t cap);

#endif /* VIGIL_TEMPLATE_H */
