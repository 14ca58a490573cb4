/*
 * ryaml.c - libyaml's document API with what rule files and unit-test files need from YAML:
 * 1-based positions, the first document only (Go's yaml.Decoder reads one), merge keys
 * ("<<: *anchor", which promtool's files use and libyaml leaves to the application), and
 * duplicate keys as errors (yaml.v3 rejects them too).
 *
 * The same approach as src/config/load.c: parse into a node graph, then walk it.
 */
#include "rules/rules_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ry_read_file(const char *path, char **data, size_t *len, vigil_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(errno));
    buf_t b;
    buf_init(&b, RULES_FILE_MAX);
    char chunk[16384];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if ((rc = buf_append(&b, chunk, n)) != 0) {
            rc = vigil_error_set(err, rc, "%s: %s", path,
                                 rc == VIGIL_ELIMIT ? "file too large" : "out of memory");
            goto out_buf;
        }
    }
    if (ferror(f)) {
        rc = vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(errno));
        goto out_buf;
    }
    *len = b.len;
    *data = buf_detach(&b, NULL);
    if (*data == NULL)
        rc = vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", path);
out_buf:
    buf_free(&b);
    fclose(f);
    return rc;
}

int ry_load(const char *file, const char *data, size_t len, yaml_document_t *doc,
            vigil_error_t *err)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", file);
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    int rc = 0;
    if (!yaml_parser_load(&p, doc)) {
        if (p.error == YAML_MEMORY_ERROR) {
            rc = vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", file);
        } else {
            yaml_mark_t m = p.problem_mark;
            if (p.error == YAML_READER_ERROR) {
                /* Reader errors carry only a byte offset: turn it into line:col. */
                memset(&m, 0, sizeof(m));
                for (size_t i = 0; i < p.problem_offset && i < len; i++) {
                    if (data[i] == '\n') {
                        m.line++;
                        m.column = 0;
                    } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
                        m.column++;
                    }
                }
            }
            rc = vigil_error_set(err, VIGIL_EPARSE, "%s:%zu:%zu: yaml: %s%s%s", file,
                                 m.line + 1, m.column + 1, p.problem ? p.problem : "invalid YAML",
                                 p.context ? " " : "", p.context ? p.context : "");
        }
    }
    yaml_parser_delete(&p);
    return rc;
}

bool ry_is_null(const yaml_node_t *n)
{
    if (n == NULL)
        return true;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

const char *ry_str(const yaml_node_t *n)
{
    if (n == NULL)
        return "";
    if (n->type != YAML_SCALAR_NODE)
        return NULL;
    if (ry_is_null(n))
        return "";
    const char *s = (const char *)n->data.scalar.value;
    return strlen(s) == n->data.scalar.length ? s : NULL;
}

const char *ry_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:  return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default:                 return "a scalar";
    }
}

const char *ry_go_tag(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:  return "!!map";
    case YAML_SEQUENCE_NODE: return "!!seq";
    default:                 return "!!str";
    }
}

yaml_node_item_t *ry_items(yaml_node_t *seq, size_t *n)
{
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE) {
        *n = 0;
        return NULL;
    }
    *n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    return seq->data.sequence.items.start;
}

static bool is_merge_key(const yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           strcmp((const char *)k->data.scalar.value, "<<") == 0;
}

static bool has_key(const ry_pair_t *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return true;
    return false;
}

/* Adds the pairs of a merged mapping that the explicit keys (and earlier merges) lack. Depth
 * bounds alias cycles, which libyaml cannot build anyway (an anchor is defined before use). */
static int merge_from(yaml_document_t *d, const char *file, yaml_node_t *src, ry_pair_t **v,
                      size_t *n, size_t *cap, int depth, vigil_error_t *err)
{
    if (depth > 16)
        return vigil_error_set(err, VIGIL_EPARSE, "%s:%u:%u: merge keys nested too deeply",
                               file, ry_line(src), ry_col(src));
    if (src->type == YAML_SEQUENCE_NODE) {
        size_t k;
        yaml_node_item_t *it = ry_items(src, &k);
        for (size_t i = 0; i < k; i++) {
            int rc = merge_from(d, file, yaml_document_get_node(d, it[i]), v, n, cap, depth + 1,
                                err);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    if (src->type != YAML_MAPPING_NODE)
        return vigil_error_set(err, VIGIL_EPARSE,
                               "%s:%u:%u: map merge requires map or sequence of maps as the value",
                               file, ry_line(src), ry_col(src));
    for (yaml_node_pair_t *p = src->data.mapping.pairs.start; p < src->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        yaml_node_t *val = yaml_document_get_node(d, p->value);
        if (is_merge_key(k)) {
            int rc = merge_from(d, file, val, v, n, cap, depth + 1, err);
            if (rc != 0)
                return rc;
            continue;
        }
        const char *key = ry_str(k);
        if (key == NULL || has_key(*v, *n, key))
            continue;
        if (*n == *cap) {
            size_t nc = *cap * 2 + 8;
            ry_pair_t *nv = realloc(*v, nc * sizeof(*nv));
            if (nv == NULL)
                return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", file);
            *v = nv;
            *cap = nc;
        }
        (*v)[(*n)++] = (ry_pair_t){ key, k, val };
    }
    return 0;
}

int ry_pairs(yaml_document_t *d, const char *file, yaml_node_t *map, ry_pair_t **out,
             size_t *n, vigil_error_t *err)
{
    *out = NULL;
    *n = 0;
    if (ry_is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return vigil_error_set(err, VIGIL_EPARSE, "%s:%u:%u: expected a mapping, got %s", file,
                               ry_line(map), ry_col(map), ry_kind(map));
    size_t total = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    size_t cap = total + 8, k = 0;
    ry_pair_t *v = malloc(cap * sizeof(*v));
    if (v == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", file);
    int rc = 0;
    /* Explicit keys first: they win over merged ones wherever the merge key stands. */
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(d, p->key);
        if (is_merge_key(kn))
            continue;
        const char *key = ry_str(kn);
        if (key == NULL) {
            rc = vigil_error_set(err, VIGIL_EPARSE, "%s:%u:%u: expected a key name, got %s",
                                 file, ry_line(kn), ry_col(kn), ry_kind(kn));
            goto out_fail;
        }
        for (size_t i = 0; i < k; i++)
            if (strcmp(v[i].key, key) == 0) {
                rc = vigil_error_set(err, VIGIL_EPARSE,
                                     "%s:%u:%u: mapping key \"%s\" already defined at line %u",
                                     file, ry_line(kn), ry_col(kn), key, ry_line(v[i].knode));
                goto out_fail;
            }
        v[k++] = (ry_pair_t){ key, kn, yaml_document_get_node(d, p->value) };
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(d, p->key);
        if (is_merge_key(kn) &&
            (rc = merge_from(d, file, yaml_document_get_node(d, p->value), &v, &k, &cap, 0,
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
