/*
 * yamldoc.h - the one YAML document layer: what the agent config (config/load.c), rule and
 * promtool unit-test files (rules/rulefmt.c, rules/unittest.c) and the Alertmanager config
 * (notify/config.c) need from libyaml's document API.
 *
 * Each format parses its file into a libyaml node graph with yamldoc_load() and walks it with
 * its own schema. What differs between the formats is policy, passed in yamldoc_opts_t or
 * chosen by which mapping reader the walker calls:
 *   - the wording of syntax errors (each format speaks like the tool it must agree with),
 *   - what a second document means (an error in vigil's config; ignored by Go's yaml.Decoder),
 *   - merge keys "<<: *anchor": resolved by yamldoc_pairs() (yaml.v3 does, promtool's files
 *     use them), an ordinary key for yamldoc_next() (vigil's config and Alertmanager's
 *     strict decoding both reject "<<" as an unknown field).
 * Every message about a place in the file reads "NAME:LINE:COL: message", 1-based.
 *
 * Agent-only: libvigil does not link libyaml.
 */
#ifndef VIGIL_CONFIG_YAMLDOC_H
#define VIGIL_CONFIG_YAMLDOC_H

#include "vigil/error.h"

#include <yaml.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* How a libyaml syntax error is worded. */
typedef enum yamldoc_syntax {
    /* vigil's config: "NAME:L:C: syntax error: PROBLEM (CONTEXT at L:C)" */
    YAMLDOC_SYNTAX_VIGIL,
    /* promtool, after Go's yaml package: "NAME:L:C: yaml: PROBLEM CONTEXT" */
    YAMLDOC_SYNTAX_GO,
    /* amtool check-config: "NAME:L:C: syntax error: PROBLEM"; an encoding error carries only
     * its byte offset: "NAME: syntax error: PROBLEM at byte N" */
    YAMLDOC_SYNTAX_AMTOOL,
} yamldoc_syntax_t;

/* What one format asks of the loader. */
typedef struct yamldoc_opts {
    size_t           max_len;          /* longest input accepted (bytes) */
    const char      *too_large;        /* "NAME: " + this for a longer one; NULL: "larger than
                                        * MAX bytes" */
    yamldoc_syntax_t syntax;
    const char      *second_document;  /* the error at a second document's start; NULL: later
                                        * documents are not read at all */
} yamldoc_opts_t;

/*
 * Parses the first document of data[0..len) into *doc. On success the caller owns *doc and
 * deletes it with yaml_document_delete() (its root is NULL for an empty input); on failure
 * there is nothing to delete and err holds VIGIL_ELIMIT, VIGIL_EPARSE or VIGIL_ENOMEM with a
 * message that starts with `name`.
 */
int yamldoc_load(yaml_document_t *doc, const char *name, const char *data, size_t len,
                 const yamldoc_opts_t *o, vigil_error_t *err);

/* yamldoc_load() of the file at `path` (named so in messages), which is read whole first:
 * VIGIL_EIO "PATH: strerror" when it cannot be, VIGIL_ELIMIT past o->max_len. */
int yamldoc_load_file(yaml_document_t *doc, const char *path, const yamldoc_opts_t *o,
                      vigil_error_t *err);

/* Records "NAME:LINE:COL: message" at node `n` in err and returns `code`. */
int yamldoc_error(vigil_error_t *err, int code, const char *name, const yaml_node_t *n,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int yamldoc_verror(vigil_error_t *err, int code, const char *name, const yaml_node_t *n,
                   const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* 1-based line and column of a node. */
static inline unsigned yamldoc_line(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.line + 1;
}
static inline unsigned yamldoc_col(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.column + 1;
}

/* "a mapping" / "a list" / "a scalar", for "expected ..., got %s" messages. Static string. */
const char *yamldoc_kind(const yaml_node_t *n);

/* Go's tag for the node, "!!map" / "!!seq" / "!!str", for "cannot unmarshal %s into T".
 * Static string. */
const char *yamldoc_go_tag(const yaml_node_t *n);

/* True for YAML's null: a plain "", "~", "null", "Null" or "NULL" scalar, or no node (NULL). */
bool yamldoc_is_null(const yaml_node_t *n);

/* A scalar's text exactly as written; NULL for a node that is not a scalar or holds a NUL
 * byte (a "\0" escape) that C strings cannot carry. Borrowed from the document. */
const char *yamldoc_text(const yaml_node_t *n);

/* What Go decodes into a string: yamldoc_text(), but "" for null and for no node (NULL).
 * NULL for a mapping, a list or text holding a NUL byte. Borrowed from the document. */
const char *yamldoc_str(const yaml_node_t *n);

/* The items of a sequence node and their count in *n; none (NULL, 0) for any other node or
 * NULL. Borrowed: resolve each with yaml_document_get_node(). */
yaml_node_item_t *yamldoc_items(const yaml_node_t *seq, size_t *n);

/* One key/value of a mapping. */
typedef struct yamldoc_pair {
    const char  *key;     /* yamldoc_str() of the key: "" for a null key; borrowed */
    yaml_node_t *knode;
    yaml_node_t *value;
} yamldoc_pair_t;

/* Walks a mapping's explicit pairs in order, checking each key as it comes, so that a walker
 * reports the first problem in file order whatever its kind. "<<" is an ordinary key. */
typedef struct yamldoc_iter {
    yaml_document_t  *doc;
    yaml_node_pair_t *start, *at, *end;
    bool              skip_merge;  /* yamldoc_pairs(): pass over merge keys, resolved later */
} yamldoc_iter_t;

/* What yamldoc_next() found. */
typedef enum yamldoc_next {
    YAMLDOC_END = 0,   /* no more pairs */
    YAMLDOC_PAIR,      /* *p is the next pair */
    YAMLDOC_BAD_KEY,   /* p->knode is not a scalar, or holds a NUL byte (p->key is NULL) */
    YAMLDOC_DUP_KEY,   /* p->key repeats an earlier key, whose node is *first */
} yamldoc_next_t;

/* Starts walking `map`, which must be a mapping node of `doc`. */
void yamldoc_iter_init(yamldoc_iter_t *it, yaml_document_t *doc, const yaml_node_t *map);

/* Steps to the next pair. After BAD_KEY or DUP_KEY the walk should stop: the duplicate check
 * assumes every earlier key was good, which keeps it to one comparison per earlier key. */
yamldoc_next_t yamldoc_next(yamldoc_iter_t *it, yamldoc_pair_t *p, const yaml_node_t **first);

/*
 * The effective pairs of `map` as yaml.v3 decodes them: explicit keys in order, then the pairs
 * that merge keys ("<<: *anchor", or a list of anchors) bring in and the explicit keys (or
 * earlier merges) lack. A null `map` has no pairs. On success *out is the caller's (free(),
 * also when *n is 0); on failure there is nothing to free and err holds, at the node:
 * VIGIL_EPARSE "expected a mapping, got %s", "expected a key name, got %s", yaml.v3's
 * "mapping key \"K\" already defined at line N", "map merge requires map or sequence of maps
 * as the value", "merge keys nested too deeply"; or VIGIL_ENOMEM "NAME: out of memory".
 */
int yamldoc_pairs(yaml_document_t *doc, const char *name, const yaml_node_t *map,
                  yamldoc_pair_t **out, size_t *n, vigil_error_t *err);

#endif /* VIGIL_CONFIG_YAMLDOC_H */
