/*
 * yamldoc.c - libyaml documents with 1-based positions, null, text, lists and mappings (with
 * duplicate keys and merge keys) for the three YAML formats vigil reads; see yamldoc.h.
 *
 * libyaml leaves merge keys and duplicate keys to the application, and reports encoding
 * errors by byte offset only: those three are the reason this layer exists beyond naming.
 */
#include "config/yamldoc.h"
#include "util/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest chain of merges followed. libyaml cannot build an alias cycle (an anchor is defined
 * before its use), so this only bounds the work a hostile file can ask for. */
#define YAMLDOC_MERGE_DEPTH 16

/* ---- loading ----------------------------------------------------------------------------- */

__attribute__((format(printf, 5, 6)))
static int error_at(vigil_error_t *err, int code, const char *name, yaml_mark_t m,
                    const char *fmt, ...)
{
    char msg[sizeof(err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vigil_error_set(err, code, "%s:%zu:%zu: %s", name, m.line + 1, m.column + 1, msg);
}

int yamldoc_verror(vigil_error_t *err, int code, const char *name, const yaml_node_t *n,
                   const char *fmt, va_list ap)
{
    char msg[sizeof(err->message)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    return vigil_error_set(err, code, "%s:%u:%u: %s", name, yamldoc_line(n), yamldoc_col(n),
                           msg);
}

int yamldoc_error(vigil_error_t *err, int code, const char *name, const yaml_node_t *n,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = yamldoc_verror(err, code, name, n, fmt, ap);
    va_end(ap);
    return rc;
}

/* Reports a libyaml failure in the format's words. Reader errors (bad UTF-8) only carry a
 * byte offset, which we turn into line:col ourselves where the format shows positions. */
static int syntax_error(const yaml_parser_t *p, const char *name, const char *data, size_t len,
                        yamldoc_syntax_t syntax, vigil_error_t *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", name);
    const char *problem = p->problem ? p->problem : "invalid YAML";
    yaml_mark_t m = p->problem_mark;
    if (p->error == YAML_READER_ERROR) {
        if (syntax == YAMLDOC_SYNTAX_AMTOOL)
            return vigil_error_set(err, VIGIL_EPARSE, "%s: syntax error: %s at byte %zu", name,
                                   problem, p->problem_offset);
        memset(&m, 0, sizeof(m));
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (data[i] == '\n') {
                m.line++;
                m.column = 0;
            } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
                m.column++;
            }
        }
    }
    switch (syntax) {
    case YAMLDOC_SYNTAX_GO:
        return error_at(err, VIGIL_EPARSE, name, m, "yaml: %s%s%s", problem,
                        p->context ? " " : "", p->context ? p->context : "");
    case YAMLDOC_SYNTAX_VIGIL:
        if (p->context != NULL)
            return error_at(err, VIGIL_EPARSE, name, m, "syntax error: %s (%s at %zu:%zu)",
                            problem, p->context, p->context_mark.line + 1,
                            p->context_mark.column + 1);
        break;
    case YAMLDOC_SYNTAX_AMTOOL:
        break;
    }
    return error_at(err, VIGIL_EPARSE, name, m, "syntax error: %s", problem);
}

static int too_large(const char *name, const yamldoc_opts_t *o, vigil_error_t *err)
{
    if (o->too_large != NULL)
        return vigil_error_set(err, VIGIL_ELIMIT, "%s: %s", name, o->too_large);
    return vigil_error_set(err, VIGIL_ELIMIT, "%s: larger than %zu bytes", name, o->max_len);
}

int yamldoc_load(yaml_document_t *doc, const char *name, const char *data, size_t len,
                 const yamldoc_opts_t *o, vigil_error_t *err)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    int rc = 0;

    if (len > o->max_len)
        return too_large(name, o, err);
    if (!yaml_parser_initialize(&parser))
        return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = syntax_error(&parser, name, data, len, o->syntax, err);
        goto out_parser;
    }
    if (o->second_document == NULL)
        goto out_parser;
    /* A one-document reader would silently ignore the rest: look at it. */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = syntax_error(&parser, name, data, len, o->syntax, err);
        goto out_doc;
    }
    if (yaml_document_get_root_node(&extra) != NULL)
        rc = error_at(err, VIGIL_EPARSE, name, extra.start_mark, "%s", o->second_document);
    yaml_document_delete(&extra);
    if (rc == 0)
        goto out_parser;
out_doc:
    yaml_document_delete(doc);
out_parser:
    yaml_parser_delete(&parser);
    return rc;
}

int yamldoc_load_file(yaml_document_t *doc, const char *path, const yamldoc_opts_t *o,
                      vigil_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(errno));
    buf_t b;
    buf_init(&b, o->max_len);
    char chunk[16384];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if ((rc = buf_append(&b, chunk, n)) != 0) {
            rc = rc == VIGIL_ELIMIT ? too_large(path, o, err)
                                    : vigil_error_set(err, rc, "%s: out of memory", path);
            goto out_buf;
        }
    }
    if (ferror(f)) {
        rc = vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(errno));
        goto out_buf;
    }
    rc = yamldoc_load(doc, path, b.data != NULL ? b.data : "", b.len, o, err);
out_buf:
    buf_free(&b);
    fclose(f);
    return rc;
}

/* ---- nodes ------------------------------------------------------------------------------- */

const char *yamldoc_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:  return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default:                 return "a scalar";
    }
}

const char *yamldoc_go_tag(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:  return "!!map";
    case YAML_SEQUENCE_NODE: return "!!seq";
    default:                 return "!!str";
    }
}

bool yamldoc_is_null(const yaml_node_t *n)
{
    if (n == NULL)
        return true;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

const char *yamldoc_text(const yaml_node_t *n)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE)
        return NULL;
    const char *s = (const char *)n->data.scalar.value;
    return strlen(s) == n->data.scalar.length ? s : NULL;
}

const char *yamldoc_str(const yaml_node_t *n)
{
    return yamldoc_is_null(n) ? "" : yamldoc_text(n);
}

yaml_node_item_t *yamldoc_items(const yaml_node_t *seq, size_t *n)
{
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE) {
        *n = 0;
        return NULL;
    }
    *n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    return seq->data.sequence.items.start;
}

/* ---- mappings ---------------------------------------------------------------------------- */

static bool is_merge_key(const yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           strcmp((const char *)k->data.scalar.value, "<<") == 0;
}

void yamldoc_iter_init(yamldoc_iter_t *it, yaml_document_t *doc, const yaml_node_t *map)
{
    it->doc = doc;
    it->start = it->at = map->data.mapping.pairs.start;
    it->end = map->data.mapping.pairs.top;
    it->skip_merge = false;
}

yamldoc_next_t yamldoc_next(yamldoc_iter_t *it, yamldoc_pair_t *p, const yaml_node_t **first)
{
    yaml_node_pair_t *cur;
    do {
        if (it->at == it->end)
            return YAMLDOC_END;
        cur = it->at++;
        p->knode = yaml_document_get_node(it->doc, cur->key);
    } while (it->skip_merge && is_merge_key(p->knode));
    p->value = yaml_document_get_node(it->doc, cur->value);
    p->key = yamldoc_str(p->knode);
    if (p->key == NULL)
        return YAMLDOC_BAD_KEY;
    /* Earlier keys were all good (the walk stops at a bad one), so yamldoc_str() of each is
     * its text, and the scan is one comparison per earlier key. */
    for (yaml_node_pair_t *q = it->start; q < cur; q++) {
        const yaml_node_t *prev = yaml_document_get_node(it->doc, q->key);
        if (it->skip_merge && is_merge_key(prev))
            continue;
        if (strcmp(yamldoc_str(prev), p->key) == 0) {
            *first = prev;
            return YAMLDOC_DUP_KEY;
        }
    }
    return YAMLDOC_PAIR;
}

static bool has_key(const yamldoc_pair_t *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return true;
    return false;
}

/* Adds the pairs of a merged mapping that the explicit keys (and earlier merges) lack. */
static int merge_from(yaml_document_t *d, const char *name, const yaml_node_t *src,
                      yamldoc_pair_t **v, size_t *n, size_t *cap, int depth, vigil_error_t *err)
{
    if (depth > YAMLDOC_MERGE_DEPTH)
        return yamldoc_error(err, VIGIL_EPARSE, name, src, "merge keys nested too deeply");
    if (src->type == YAML_SEQUENCE_NODE) {
        size_t k;
        yaml_node_item_t *it = yamldoc_items(src, &k);
        for (size_t i = 0; i < k; i++) {
            int rc = merge_from(d, name, yaml_document_get_node(d, it[i]), v, n, cap,
                                depth + 1, err);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (src->type != YAML_MAPPING_NODE)
        return yamldoc_error(err, VIGIL_EPARSE, name, src,
                             "map merge requires map or sequence of maps as the value");
    for (yaml_node_pair_t *p = src->data.mapping.pairs.start; p < src->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        yaml_node_t *val = yaml_document_get_node(d, p->value);
        if (is_merge_key(k)) {
            int rc = merge_from(d, name, val, v, n, cap, depth + 1, err);
            if (rc != 0)
                return rc;
            continue;
        }
        /* The merged mapping was, or will be, checked where it is written. */
        const char *key = yamldoc_str(k);
        if (key == NULL || has_key(*v, *n, key))
            continue;
        if (*n == *cap) {
            size_t nc = *cap * 2 + 8;
            yamldoc_pair_t *nv = realloc(*v, nc * sizeof(*nv));
            if (nv == NULL)
                return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", name);
            *v = nv;
            *cap = nc;
        }
        (*v)[(*n)++] = (yamldoc_pair_t){ key, k, val };
    }
    return 0;
}

int yamldoc_pairs(yaml_document_t *doc, const char *name, const yaml_node_t *map,
                  yamldoc_pair_t **out, size_t *n, vigil_error_t *err)
{
    *out = NULL;
    *n = 0;
    if (yamldoc_is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return yamldoc_error(err, VIGIL_EPARSE, name, map, "expected a mapping, got %s",
                             yamldoc_kind(map));
    size_t total = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    size_t cap = total + 8, k = 0;
    yamldoc_pair_t *v = malloc(cap * sizeof(*v));
    if (v == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", name);
    int rc = 0;
    /* Explicit keys first: they win over merged ones wherever the merge key stands. */
    yamldoc_iter_t it;
    yamldoc_iter_init(&it, doc, map);
    it.skip_merge = true;
    yamldoc_next_t st;
    const yaml_node_t *first;
    while ((st = yamldoc_next(&it, &v[k], &first)) == YAMLDOC_PAIR)
        k++;
    if (st == YAMLDOC_BAD_KEY) {
        rc = yamldoc_error(err, VIGIL_EPARSE, name, v[k].knode, "expected a key name, got %s",
                           yamldoc_kind(v[k].knode));
        goto out_fail;
    }
    if (st == YAMLDOC_DUP_KEY) {
        rc = yamldoc_error(err, VIGIL_EPARSE, name, v[k].knode,
                           "mapping key \"%s\" already defined at line %u", v[k].key,
                           yamldoc_line(first));
        goto out_fail;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        if (is_merge_key(kn) &&
            (rc = merge_from(doc, name, yaml_document_get_node(doc, p->value), &v, &k, &cap, 0,
                             err)) != 0)
            goto out_fail;
    }
    *out = v;
    *n = k;
    return 0;
out_fail:
    free(v);
    return rc;
}
