/*
 * load.c - the agent's YAML config file -> config_t.
 *
 * yamldoc (libyaml's document API) turns the file into a node graph, keeping each node's
 * start mark; we then walk it against the flat schema. A mapping key's dotted path ("health" + "memory"
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
#include "config/yamldoc.h"

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

/* The agent config's YAML: a second document is an error, not silently ignored as it would
 * be by a one-document reader; merge keys are not read (yamldoc_next()). */
static const yamldoc_opts_t config_yaml = {
    .max_len = CONFIG_FILE_MAX,
    .syntax = YAMLDOC_SYNTAX_VIGIL,
    .second_document = "only one YAML document is allowed in a config file",
};

/* Records "name:line:col: " + message at node `n` and returns `code`. */
__attribute__((format(printf, 4, 5)))
static int fail_at(const loader_t *ld, const yaml_node_t *n, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = yamldoc_verror(ld->err, code, ld->name, n, fmt, ap);
    va_end(ap);
    return rc;
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
        return fail_at(ld, n, VIGIL_EPARSE, "%s: expected %s, got %s", k->key,
                       what, yamldoc_kind(n));
    *text = yamldoc_text(n);
    if (*text == NULL)
        return fail_at(ld, n, VIGIL_EPARSE, "%s: contains a NUL byte", k->key);
    bool numeric = k->type == CONFIG_BOOL || k->type == CONFIG_INT ||
                   k->type == CONFIG_DOUBLE || k->type == CONFIG_NUMBER_LIST;
    if (yamldoc_is_null(n) && !(k->type == CONFIG_STRING && !element))
        return fail_at(ld, n, VIGIL_EPARSE, "%s: expected %s, got null", k->key,
                       what);
    if (numeric && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        char q[64];
        config_quote(*text, q, sizeof(q));
        return fail_at(ld, n, VIGIL_EPARSE,
                       "%s: expected %s, got the quoted string %s", k->key, what, q);
    }
    if (yamldoc_is_null(n))
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
        if (!yamldoc_is_null(n)) {
            if (n->type != YAML_SEQUENCE_NODE) {
                char what[64];
                expected_what(k, what, sizeof(what));
                return fail_at(ld, n, VIGIL_EPARSE, "%s: expected %s, got %s",
                               k->key, what, yamldoc_kind(n));
            }
            size_t count;
            yaml_node_item_t *items = yamldoc_items(n, &count);
            for (size_t i = 0; i < count; i++) {
                yaml_node_t *item = yaml_document_get_node(ld->doc, items[i]);
                rc = scalar_for(ld, k, item, true, &text);
                if (rc == 0 && (rc = config_list_push(k, &v, text, why, sizeof(why))) != 0)
                    rc = fail_at(ld, item, rc, "%s: %s", k->key, why);
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
            return fail_at(ld, n, rc, "%s: %s", k->key, why);
    }
    config_store(ld->cfg, k, &v, CONFIG_FROM_FILE, yamldoc_line(n), yamldoc_col(n));
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
    if (yamldoc_is_null(map))
        return 0;  /* "storage:" with everything commented out */
    if (map->type != YAML_MAPPING_NODE) {
        if (*prefix == '\0')
            return fail_at(ld, map, VIGIL_EPARSE,
                           "expected a mapping of keys at the top level, got %s",
                           yamldoc_kind(map));
        return fail_at(ld, map, VIGIL_EPARSE, "%.*s: expected a mapping, got %s",
                       (int)strlen(prefix) - 1, prefix, yamldoc_kind(map));
    }
    /* A mapping fails at its first bad, repeated or unknown key, so the iterator's duplicate
     * scan over the earlier (known, distinct) keys is short however long the mapping is. */
    yamldoc_iter_t it;
    yamldoc_pair_t p;
    const yaml_node_t *first;
    yamldoc_next_t st;
    yamldoc_iter_init(&it, ld->doc, map);
    while ((st = yamldoc_next(&it, &p, &first)) != YAMLDOC_END) {
        yaml_node_t *key = p.knode;
        if (st == YAMLDOC_BAD_KEY)
            return fail_at(ld, key, VIGIL_EPARSE,
                           "%sexpected a key name, got %s", prefix, yamldoc_kind(key));
        /* The key as written: "~" stays "~" in messages about it. */
        const char *name = yamldoc_text(key);
        char path[PATH_MAX_LEN + 1];
        bool fits = strlen(prefix) + strlen(name) <= PATH_MAX_LEN;
        snprintf(path, sizeof(path), "%s%s", prefix, name);
        if (st == YAMLDOC_DUP_KEY)
            return fail_at(ld, key, VIGIL_EPARSE, "%s: duplicate key (first at %u:%u)", path,
                           yamldoc_line(first), yamldoc_col(first));
        const config_key_t *k = fits ? config_key_find(path) : NULL;
        int rc;
        if (k != NULL) {
            rc = load_value(ld, k, p.value);
        } else if (fits && is_section(path)) {
            char sub[PATH_MAX_LEN + 2];
            snprintf(sub, sizeof(sub), "%s.", path);
            rc = load_mapping(ld, p.value, sub);
        } else {
            char q[64], names[300];
            config_quote(path, q, sizeof(q));
            names_under(prefix, names, sizeof(names));
            rc = fail_at(ld, key, VIGIL_EPARSE,
                         "unknown key %s; expected one of %s", q, names);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Applies a loaded document to a copy of *cfg, which replaces *cfg only when all of it was
 * good. The document stays the caller's. */
static int apply_document(config_t *cfg, const char *name, yaml_document_t *doc,
                          vigil_error_t *err)
{
    config_t tmp;
    loader_t ld = { .cfg = &tmp, .name = name, .doc = doc, .err = err };
    int rc;

    if ((rc = config_copy(&tmp, cfg)) != 0)
        return vigil_error_set(err, rc, "%s: out of memory", name);
    free(tmp.source_);
    if ((tmp.source_ = strdup(name)) == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory", name);
        goto out_tmp;
    }
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (root != NULL && (rc = load_mapping(&ld, root, "")) != 0)
        goto out_tmp;
    config_free(cfg);
    *cfg = tmp;  /* ownership of tmp's strings moves to cfg */
    return 0;

out_tmp:
    config_free(&tmp);
    return rc;
}

int config_load_buffer(config_t *cfg, const char *name, const char *data, size_t len,
                       vigil_error_t *err)
{
    yaml_document_t doc;
    int rc = yamldoc_load(&doc, name, data, len, &config_yaml, err);
    if (rc != 0)
        return rc;
    rc = apply_document(cfg, name, &doc, err);
    yaml_document_delete(&doc);
    return rc;
}

int config_load_file(config_t *cfg, const char *path, vigil_error_t *err)
{
    yaml_document_t doc;
    int rc = yamldoc_load_file(&doc, path, &config_yaml, err);
    if (rc != 0)
        return rc;
    rc = apply_document(cfg, path, &doc, err);
    yaml_document_delete(&doc);
    return rc;
}
