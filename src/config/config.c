/*
 * config.c - the config_t lifecycle (init, free, copy, compare), flags and cross-field checks.
 *
 * Every operation walks the schema table and dispatches on the key's type; there is no code
 * that names a particular key except the cross-field rules below, which are a table too.
 *
 * String defaults are not copied: a string field may point straight at its schema row's
 * `def`, and only pointers that differ from it are owned. That keeps config_init() free of
 * allocation (so it cannot fail), at the cost of one pointer compare on free and copy.
 */
#include "config/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Size of the field that holds a value of `type`. */
static size_t field_size(config_type_t type)
{
    switch (type) {
    case CONFIG_STRING:
    case CONFIG_ADDRESS:      return sizeof(char *);
    case CONFIG_BOOL:         return sizeof(bool);
    case CONFIG_INT:
    case CONFIG_ENUM:         return sizeof(int);
    case CONFIG_DOUBLE:
    case CONFIG_DURATION:     return sizeof(double);
    case CONFIG_SIZE:         return sizeof(uint64_t);
    case CONFIG_NUMBER_LIST:  return sizeof(config_number_list_t);
    case CONFIG_STRING_LIST:  return sizeof(config_string_list_t);
    case CONFIG_TYPE_COUNT_:  break;
    }
    return 0;
}

/* Frees what cfg owns for `key` (a string that is not the static default, a string list). */
static void release_field(config_t *cfg, const config_key_t *key)
{
    void *f = config_field(cfg, key);
    if (key->type == CONFIG_STRING || key->type == CONFIG_ADDRESS) {
        char **s = f;
        if (*s != key->def)
            free(*s);
        *s = NULL;
    } else if (key->type == CONFIG_STRING_LIST) {
        config_value_t v;
        memcpy(&v.strs, f, sizeof(v.strs));
        config_value_release(key, &v);
        memset(f, 0, sizeof(config_string_list_t));
    }
}

void config_store(config_t *cfg, const config_key_t *key, config_value_t *v,
                  config_origin_kind_t kind, unsigned line, unsigned col)
{
    release_field(cfg, key);
    memcpy(config_field(cfg, key), v, field_size(key->type));
    memset(v, 0, sizeof(*v));  /* ownership moved */
    config_origin_t *o = &cfg->origin_[config_key_index(key)];
    o->kind = kind;
    o->line = line;
    o->col = col;
    o->seq = kind == CONFIG_FROM_DEFAULT ? 0 : ++cfg->origin_seq_;
}

/* Trims ASCII blanks in place and returns the start. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/*
 * A list from text: "50,90,99", optionally in brackets ("[50, 90]"); "" and "[]" are empty.
 * On success *out owns what it holds.
 */
static int parse_list_text(const config_key_t *key, const char *text, config_value_t *out,
                           char *why, size_t why_len)
{
    config_list_init(key, out);
    char *copy = strdup(text);
    if (copy == NULL) {
        snprintf(why, why_len, "out of memory");
        return VIGIL_ENOMEM;
    }
    char *s = trim(copy);
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s[n - 1] = '\0';
        s = trim(s + 1);
    }
    int rc = 0;
    if (*s != '\0') {
        for (char *item = s;; ) {
            char *comma = strchr(item, ',');
            if (comma != NULL)
                *comma = '\0';
            rc = config_list_push(key, out, trim(item), why, why_len);
            if (rc != 0 || comma == NULL)
                break;
            item = comma + 1;
        }
    }
    free(copy);
    if (rc != 0)
        config_value_release(key, out);
    return rc;
}

/* Any key from its text form: the flag and default path. */
static int parse_text(const config_key_t *key, const char *text, config_value_t *out,
                      char *why, size_t why_len)
{
    if (key->type == CONFIG_NUMBER_LIST || key->type == CONFIG_STRING_LIST)
        return parse_list_text(key, text, out, why, why_len);
    return config_parse_scalar(key, text, out, why, why_len);
}

void config_init(config_t *cfg)
{
    size_t count;
    const config_key_t *keys = config_keys(&count);
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < count; i++) {
        const config_key_t *k = &keys[i];
        config_value_t v;
        char why[CONFIG_WHY_MAX];
        if (k->type == CONFIG_STRING || k->type == CONFIG_ADDRESS) {
            *(char **)config_field(cfg, k) = (char *)k->def;
            continue;
        }
        if (k->type == CONFIG_STRING_LIST)
            continue;  /* default is always the empty list: nothing to allocate */
        /* Non-string defaults allocate nothing; the tests prove every default parses. */
        if (parse_text(k, k->def, &v, why, sizeof(why)) == 0)
            memcpy(config_field(cfg, k), &v, field_size(k->type));
    }
}

void config_free(config_t *cfg)
{
    if (cfg == NULL)
        return;
    size_t count;
    const config_key_t *keys = config_keys(&count);
    for (size_t i = 0; i < count; i++)
        release_field(cfg, &keys[i]);
    free(cfg->source_);
    memset(cfg, 0, sizeof(*cfg));
}

int config_copy(config_t *dst, const config_t *src)
{
    size_t count;
    const config_key_t *keys = config_keys(&count);
    config_init(dst);
    for (size_t i = 0; i < count; i++) {
        const config_key_t *k = &keys[i];
        const void *from = config_field(src, k);
        void *to = config_field(dst, k);
        if (k->type == CONFIG_STRING || k->type == CONFIG_ADDRESS) {
            const char *s = *(char *const *)from;
            char *c = s == k->def ? (char *)k->def : strdup(s);
            if (c == NULL)
                goto out_nomem;
            *(char **)to = c;
        } else if (k->type == CONFIG_STRING_LIST) {
            const config_string_list_t *l = from;
            config_value_t v;
            char why[CONFIG_WHY_MAX];
            config_list_init(k, &v);
            for (size_t j = 0; j < l->count; j++) {
                if (config_list_push(k, &v, l->items[j], why, sizeof(why)) != 0) {
                    config_value_release(k, &v);
                    goto out_nomem;
                }
            }
            memcpy(to, &v.strs, sizeof(v.strs));
        } else {
            memcpy(to, from, field_size(k->type));
        }
    }
    if (src->source_ != NULL && (dst->source_ = strdup(src->source_)) == NULL)
        goto out_nomem;
    memcpy(dst->origin_, src->origin_, sizeof(dst->origin_));
    dst->origin_seq_ = src->origin_seq_;
    return 0;

out_nomem:
    config_free(dst);
    config_init(dst);
    return VIGIL_ENOMEM;
}

bool config_key_changed(const config_t *a, const config_t *b, const config_key_t *key)
{
    const void *fa = config_field(a, key), *fb = config_field(b, key);
    switch (key->type) {
    case CONFIG_STRING:
    case CONFIG_ADDRESS:
        return strcmp(*(char *const *)fa, *(char *const *)fb) != 0;
    case CONFIG_BOOL:
        return *(const bool *)fa != *(const bool *)fb;
    case CONFIG_INT:
    case CONFIG_ENUM:
        return *(const int *)fa != *(const int *)fb;
    case CONFIG_DOUBLE:
    case CONFIG_DURATION:
        return *(const double *)fa != *(const double *)fb;
    case CONFIG_SIZE:
        return *(const uint64_t *)fa != *(const uint64_t *)fb;
    case CONFIG_NUMBER_LIST: {
        const config_number_list_t *la = fa, *lb = fb;
        if (la->count != lb->count)
            return true;
        for (size_t i = 0; i < la->count; i++)
            if (la->items[i] != lb->items[i])
                return true;
        return false;
    }
    case CONFIG_STRING_LIST: {
        const config_string_list_t *la = fa, *lb = fb;
        if (la->count != lb->count)
            return true;
        for (size_t i = 0; i < la->count; i++)
            if (strcmp(la->items[i], lb->items[i]) != 0)
                return true;
        return false;
    }
    case CONFIG_TYPE_COUNT_:
        break;
    }
    return true;
}

bool config_equal(const config_t *a, const config_t *b)
{
    size_t count;
    const config_key_t *keys = config_keys(&count);
    for (size_t i = 0; i < count; i++)
        if (config_key_changed(a, b, &keys[i]))
            return false;
    return true;
}

double config_numeric(const config_t *cfg, const config_key_t *key)
{
    const void *f = config_field(cfg, key);
    switch (key->type) {
    case CONFIG_INT:
    case CONFIG_ENUM:     return *(const int *)f;
    case CONFIG_DOUBLE:
    case CONFIG_DURATION: return *(const double *)f;
    case CONFIG_SIZE:     return (double)*(const uint64_t *)f;
    case CONFIG_BOOL:     return *(const bool *)f ? 1 : 0;
    default:              return 0;
    }
}

int config_set(config_t *cfg, const char *key, const char *value, vigil_error_t *err)
{
    const config_key_t *k = config_key_find(key);
    if (k == NULL)
        return vigil_error_set(err, VIGIL_ENOENT, "--%s: unknown flag", key ? key : "(null)");
    if (value == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "--%s: needs a value", key);
    config_value_t v;
    char why[CONFIG_WHY_MAX];
    int rc = parse_text(k, value, &v, why, sizeof(why));
    if (rc != 0)
        return vigil_error_set(err, rc, "--%s: %s", key, why);
    config_store(cfg, k, &v, CONFIG_FROM_FLAG, 0, 0);
    return 0;
}

/* ---- cross-field rules --------------------------------------------------------------- */

/* `lo` must be below `hi` (strict) or not above it. */
static const struct order_rule {
    const char *lo;
    const char *hi;
    bool        strict;
} order_rules[] = {
    { "health.memory.warning", "health.memory.critical", true },
    { "health.cpu.warning", "health.cpu.critical", true },
    { "health.disk.warning", "health.disk.critical", true },
    { "health.gpu_memory.warning", "health.gpu_memory.critical", true },
    { "http.threads", "http.max_connections", false },
};

/* Writes "file:line:col: ", "--" or "" for where `key` was set; the key name follows. */
static void origin_prefix(const config_t *cfg, const config_key_t *key, char *out, size_t n)
{
    const config_origin_t *o = &cfg->origin_[config_key_index(key)];
    if (o->kind == CONFIG_FROM_FILE)
        snprintf(out, n, "%s:%u:%u: ", cfg->source_ ? cfg->source_ : "(config)", o->line,
                 o->col);
    else if (o->kind == CONFIG_FROM_FLAG)
        snprintf(out, n, "--");
    else
        out[0] = '\0';
}

int config_validate(const config_t *cfg, vigil_error_t *err)
{
    for (size_t i = 0; i < sizeof(order_rules) / sizeof(order_rules[0]); i++) {
        const struct order_rule *r = &order_rules[i];
        const config_key_t *lo = config_key_find(r->lo), *hi = config_key_find(r->hi);
        double a = config_numeric(cfg, lo), b = config_numeric(cfg, hi);
        if (r->strict ? a < b : a <= b)
            continue;
        char sa[48], sb[48], pre[300];
        config_format_number(a, sa, sizeof(sa));
        config_format_number(b, sb, sizeof(sb));
        /* Blame the key set last: that is the edit that broke the pair. */
        bool blame_hi = cfg->origin_[config_key_index(hi)].seq >
                        cfg->origin_[config_key_index(lo)].seq;
        if (blame_hi) {
            origin_prefix(cfg, hi, pre, sizeof(pre));
            return vigil_error_set(err, VIGIL_EINVAL, "%s%s: must be %s %s (%s), got %s", pre,
                                   hi->key, r->strict ? "greater than" : "at least", lo->key,
                                   sa, sb);
        }
        origin_prefix(cfg, lo, pre, sizeof(pre));
        return vigil_error_set(err, VIGIL_EINVAL, "%s%s: must be %s %s (%s), got %s", pre,
                               lo->key, r->strict ? "less than" : "at most", hi->key, sb, sa);
    }
    return 0;
}
