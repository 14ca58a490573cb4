/*
 * load.c - the YAML file: the only place in vigil that parses it.
 *
 * libyaml's document API turns the file into a node graph, keeping each node's start mark;
 * we then walk it against the flat schema. A mapping key's dotted path ("health" + "memory"
 * + "warning") is looked up in the table: an exact row is a value, a row that starts with
 * "path." makes it a section (a mapping to descend into), anything else is an unknown key.
 * Every error is reported at the node it is about, 1-based: "file:line:col: key: message".
 *
 * The walk stays bounded on hostile input even though aliases can make a node reachable many
 * times: the schema is at most three levels deep, a mapping fails at its first unknown or
 * repeated key (so it holds at most one entry per known name before we stop), and lists are
 * capped. The input itself is capped at CONFIG_FILE_MAX bytes.
 *
 * Loading is all or nothing: the file is applied to a copy which replaces the caller's config
 * only when the whole file was good.
 */
#include "config/config_int.h"

#include <yaml.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest config file read; a bigger one is a mistake (or an attack), not a configuration. */
#define CONFIG_FILE_MAX (4u * 1024 * 1024)
/* Longest dotted path we look up; longer keys cannot be in the schema. */
#define PATH_MAX_LEN 200

typedef struct loader {
    config_t        *cfg;
    const char      *name;  /* file name for messages */
    yaml_document_t *doc;
    vigil_error_t   *err;
} loader_t;

/* Records "name:line:col: " + message for the 0-based libyaml mark and returns `code`. */
__attribute__((format(printf, 4, 5)))
static int fail_at(const loader_t *ld, yaml_mark_t mark, int code, const char *fmt, ...)
{
    char msg[sizeof(ld->err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vigil_error_set(ld->err, code, "%s:%zu:%zu: %s", ld->name, mark.line + 1,
                           mark.column + 1, msg);
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE:  return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default:                 return "a scalar";
    }
}

/* Plain "", "~", "null": YAML's null, which we read as "not given" for sections and lists. */
static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* What a key of this type looks like, for "expected ..., got a mapping". */
static void expected_what(const config_key_t *k, char *out, size_t n)
{
    switch (k->type) {
    case CONFIG_STRING:       snprintf(out, n, "a string"); break;
    case CONFIG_BOOL:         snprintf(out, n, "true or false"); break;
    case CONFIG_INT:          snprintf(out, n, "an integer"); break;
    case CONFIG_DOUBLE:       snprintf(out, n, "a number"); break;
    case CONFIG_DURATION:     snprintf(out, n, "a duration like 1h30m, 15d or 500ms"); break;
    case CONFIG_SIZE:         snprintf(out, n, "a size like 512MB, 10MiB or 0"); break;
    case CONFIG_ADDRESS:      snprintf(out, n, "host:port"); break;
    case CONFIG_NUMBER_LIST:  snprintf(out, n, "a list of numbers"); break;
    case CONFIG_STRING_LIST:  snprintf(out, n, "a list of strings"); break;
    case CONFIG_ENUM: {
        size_t o = (size_t)snprintf(out, n, "one of");
        for (int i = 0; k->choices[i] != NULL && o < n; i++)
            o += (size_t)snprintf(out + o, n - o, "%s %s", i ? "," : "", k->choices[i]);
        break;
    }
    case CONFIG_TYPE_COUNT_:
        snprintf(out, n, "?");
        break;
    }
}

/* A scalar's text, or NULL when it holds a NUL byte (a "\0" escape) C strings cannot carry. */
static const char *scalar_text(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    return strlen(s) == n->data.scalar.length ? s : NULL;
}

/*
 * Checks one scalar node as text for `k` (or a list element of `k`): plain style is required
 * for bools and numbers, because `threads: "4"` is a string in YAML, and being lax here would
 * make the YAML mean something different to vigil than to every other YAML tool.
 */
static int scalar_for(const loader_t *ld, const config_key_t *k, const yaml_node_t *n,
                      bool element, const char **text)
{
    char what[160];
    expected_what(k, what, sizeof(what));
    if (element && k->type == CONFIG_NUMBER_LIST)
        snprintf(what, sizeof(what), "a number");
    else if (element)
        snprintf(what, sizeof(what), "a string");
    if (n->type != YAML_SCALAR_NODE)
        return fail_at(ld, n->start_mark, VIGIL_EPARSE, "%s: expected %s, got %s", k->key,
                       what, node_kind(n));
    *text = scalar_text(n);
    if (*text == NULL)
        return fail_at(ld, n->start_mark, VIGIL_EPARSE, "%s: contains a NUL byte", k->key);
    bool numeric = k->type == CONFIG_BOOL || k->type == CONFIG_INT ||
                   k->type == CONFIG_DOUBLE || k->type == CONFIG_NUMBER_LIST;
    if (is_null(n) && !(k->type == CONFIG_STRING && !element))
        return fail_at(ld, n->start_mark, VIGIL_EPARSE, "%s: expected %s, got null", k->key,
                       what);
    if (numeric && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        char q[64];
        config_quote(*text, q, sizeof(q));
        return fail_at(ld, n->start_mark, VIGIL_EPARSE,
                       "%s: expected %s, got the quoted string %s", k->key, what, q);
    }
    if (is_null(n))
        *text = "";
    return 0;
}

static int load_value(loader_t *ld, const config_key_t *k, yaml_node_t *n)
{
    config_value_t v;
    char why[CONFIG_WHY_MAX];
    const char *text;
    int rc;

    if (k->type == CONFIG_NUMBER_LIST || k->type == CONFIG_STRING_LIST) {
        config_list_init(k, &v);
        if (!is_null(n)) {
            if (n->type != YAML_SEQUENCE_NODE) {
                char what[64];
                expected_what(k, what, sizeof(what));
                return fail_at(ld, n->start_mark, VIGIL_EPARSE, "%s: expected %s, got %s",
                               k->key, what, node_kind(n));
            }
            for (yaml_node_item_t *it = n->data.sequence.items.start;
                 it < n->data.sequence.items.top; it++) {
                yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
                rc = scalar_for(ld, k, item, true, &text);
                if (rc == 0 && (rc = config_list_push(k, &v, text, why, sizeof(why))) != 0)
                    rc = fail_at(ld, item->start_mark, rc, "%s: %s", k->key, why);
                if (rc != 0) {
                    config_value_release(k, &v);
                    return rc;
                }
            }
        }
    } else {
        rc = scalar_for(ld, k, n, false, &text);
        if (rc != 0)
            return rc;
        rc = config_parse_scalar(k, text, &v, why, sizeof(why));
        if (rc != 0)
            return fail_at(ld, n->start_mark, rc, "%s: %s", k->key, why);
    }
    config_store(ld->cfg, k, &v, CONFIG_FROM_FILE, (unsigned)n->start_mark.line + 1,
                 (unsigned)n->start_mark.column + 1);
    return 0;
}

/* True when some schema key lies under `path` ("health.memory" for "health.memory.cpu"). */
static bool is_section(const char *path)
{
    size_t count, len = strlen(path);
    const config_key_t *keys = config_keys(&count);
    for (size_t i = 0; i < count; i++)
        if (strncmp(keys[i].key, path, len) == 0 && keys[i].key[len] == '.')
            return true;
    return false;
}

/* Lists the names allowed directly under `prefix` ("" or "health."), comma separated. */
static void names_under(const char *prefix, char *out, size_t n)
{
    size_t count, plen = strlen(prefix), o = 0;
    const config_key_t *keys = config_keys(&count);
    const char *last = NULL;
    size_t last_len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < count && o < n; i++) {
        if (strncmp(keys[i].key, prefix, plen) != 0)
            continue;
        const char *name = keys[i].key + plen;
        size_t len = strcspn(name, ".");
        /* Rows of one section are contiguous, so comparing with the previous name dedups. */
        if (last != NULL && len == last_len && strncmp(name, last, len) == 0)
            continue;
        o += (size_t)snprintf(out + o, n - o, "%s%.*s", o ? ", " : "", (int)len, name);
        last = name;
        last_len = len;
    }
}

static int load_mapping(loader_t *ld, yaml_node_t *map, const char *prefix)
{
    if (is_null(map))
        return 0;  /* "storage:" with everything commented out */
    if (map->type != YAML_MAPPING_NODE) {
        if (*prefix == '\0')
            return fail_at(ld, map->start_mark, VIGIL_EPARSE,
                           "expected a mapping of keys at the top level, got %s",
                           node_kind(map));
        return fail_at(ld, map->start_mark, VIGIL_EPARSE, "%.*s: expected a mapping, got %s",
                       (int)strlen(prefix) - 1, prefix, node_kind(map));
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(ld->doc, p->key);
        yaml_node_t *value = yaml_document_get_node(ld->doc, p->value);
        const char *name = key->type == YAML_SCALAR_NODE ? scalar_text(key) : NULL;
        if (name == NULL)
            return fail_at(ld, key->start_mark, VIGIL_EPARSE,
                           "%sexpected a key name, got %s", prefix, node_kind(key));
        char path[PATH_MAX_LEN + 1];
        bool fits = strlen(prefix) + strlen(name) <= PATH_MAX_LEN;
        snprintf(path, sizeof(path), "%s%s", prefix, name);

        /* Earlier keys of this mapping are all known and distinct (else we stopped), so this
         * scan is short however long the mapping is. */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *prev = yaml_document_get_node(ld->doc, q->key);
            if (strcmp((const char *)prev->data.scalar.value, name) == 0)
                return fail_at(ld, key->start_mark, VIGIL_EPARSE,
                               "%s: duplicate key (first at %zu:%zu)", path,
                               prev->start_mark.line + 1, prev->start_mark.column + 1);
        }
        const config_key_t *k = fits ? config_key_find(path) : NULL;
        int rc;
        if (k != NULL) {
            rc = load_value(ld, k, value);
        } else if (fits && is_section(path)) {
            char sub[PATH_MAX_LEN + 2];
            snprintf(sub, sizeof(sub), "%s.", path);
            rc = load_mapping(ld, value, sub);
        } else {
            char q[64], names[300];
            config_quote(path, q, sizeof(q));
            names_under(prefix, names, sizeof(names));
            rc = fail_at(ld, key->start_mark, VIGIL_EPARSE,
                         "unknown key %s; expected one of %s", q, names);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Reports a libyaml failure at its mark. Reader errors (bad UTF-8) only carry a byte offset,
 * which we turn into line:col ourselves. */
static int syntax_error(loader_t *ld, const yaml_parser_t *parser, const char *data,
                        size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR)
        return vigil_error_set(ld->err, VIGIL_ENOMEM, "%s: out of memory", ld->name);
    const char *problem = parser->problem ? parser->problem : "invalid YAML";
    yaml_mark_t mark = parser->problem_mark;
    if (parser->error == YAML_READER_ERROR) {
        memset(&mark, 0, sizeof(mark));
        for (size_t i = 0; i < parser->problem_offset && i < len; i++) {
            if (data[i] == '\n') {
                mark.line++;
                mark.column = 0;
            } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
                mark.column++;
            }
        }
    }
    if (parser->context != NULL)
        return fail_at(ld, mark, VIGIL_EPARSE, "syntax error: %s (%s at %zu:%zu)", problem,
                       parser->context, parser->context_mark.line + 1,
                       parser->context_mark.column + 1);
    return fail_at(ld, mark, VIGIL_EPARSE, "syntax error: %s", problem);
}

int config_load_buffer(config_t *cfg, const char *name, const char *data, size_t len,
                       vigil_error_t *err)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    config_t tmp;
    int rc;
    loader_t ld = { .cfg = &tmp, .name = name, .doc = &doc, .err = err };

    if (len > CONFIG_FILE_MAX)
        return vigil_error_set(err, VIGIL_ELIMIT, "%s: larger than %u bytes", name,
                               CONFIG_FILE_MAX);
    if (!yaml_parser_initialize(&parser))
        return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = syntax_error(&ld, &parser, data, len);
        goto out_parser;
    }
    /* A second document would silently be ignored by a one-document reader: reject it. */
    if (!yaml_parser_load(&parser, &extra)) {
        rc = syntax_error(&ld, &parser, data, len);
        goto out_doc;
    }
    if (yaml_document_get_root_node(&extra) != NULL) {
        rc = fail_at(&ld, extra.start_mark, VIGIL_EPARSE,
                     "only one YAML document is allowed in a config file");
        yaml_document_delete(&extra);
        goto out_doc;
    }
    yaml_document_delete(&extra);

    if ((rc = config_copy(&tmp, cfg)) != 0) {
        rc = vigil_error_set(err, rc, "%s: out of memory", name);
        goto out_doc;
    }
    free(tmp.source_);
    if ((tmp.source_ = strdup(name)) == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", name);
        goto out_tmp;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root != NULL && (rc = load_mapping(&ld, root, "")) != 0)
        goto out_tmp;
    config_free(cfg);
    *cfg = tmp;  /* ownership of tmp's strings moves to cfg */
    rc = 0;
    goto out_doc;

out_tmp:
    config_free(&tmp);
out_doc:
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&parser);
    return rc;
}

int config_load_file(config_t *cfg, const char *path, vigil_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(errno));
    buf_t b;
    buf_init(&b, CONFIG_FILE_MAX);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if ((rc = buf_append(&b, chunk, n)) != 0) {
            rc = rc == VIGIL_ELIMIT
                     ? vigil_error_set(err, rc, "%s: larger than %u bytes", path,
                                       CONFIG_FILE_MAX)
                     : vigil_error_set(err, rc, "%s: out of memory", path);
            goto out_buf;
        }
    }
    if (ferror(f)) {
        rc = vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(errno));
        goto out_buf;
    }
    rc = config_load_buffer(cfg, path, b.data ? b.data : "", b.len, err);
out_buf:
    buf_free(&b);
    fclose(f);
    return rc;
}
