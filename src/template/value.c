/*
 * value.c - the data model templates execute against, and the arena an execution allocates
 * its intermediate values from.
 *
 * Two kinds of nodes share one struct. Caller-built nodes (template_value_*) own their strings
 * and children and are freed with template_value_free(). Arena nodes (tmpl_val_*) are made
 * while executing (SortedPairs, function results); they borrow children from the caller's tree
 * or from other arena nodes and everything they use is released at once by tmpl_arena_free().
 */
#include "template/tmpl_int.h"

#include <stdlib.h>
#include <string.h>

const template_value_t tmpl_nil = { .kind = TEMPLATE_NIL, .borrowed = true };
const template_value_t tmpl_empty_string = { .kind = TEMPLATE_STRING, .s = (char *)"",
                                             .borrowed = true };

/* ---- caller-built values ---------------------------------------------------------------- */

static template_value_t *value_new(template_kind_t kind)
{
    template_value_t *v = calloc(1, sizeof(*v));
    if (v != NULL)
        v->kind = kind;
    return v;
}

template_value_t *template_value_nil(void) { return value_new(TEMPLATE_NIL); }

template_value_t *template_value_bool(bool b)
{
    template_value_t *v = value_new(TEMPLATE_BOOL);
    if (v != NULL)
        v->b = b;
    return v;
}

template_value_t *template_value_int(long long i)
{
    template_value_t *v = value_new(TEMPLATE_INT);
    if (v != NULL)
        v->i = i;
    return v;
}

template_value_t *template_value_float(double f)
{
    template_value_t *v = value_new(TEMPLATE_FLOAT);
    if (v != NULL)
        v->f = f;
    return v;
}

template_value_t *template_value_string(const char *s)
{
    template_value_t *v = value_new(TEMPLATE_STRING);
    if (v == NULL)
        return NULL;
    if ((v->s = strdup(s != NULL ? s : "")) == NULL) {
        free(v);
        return NULL;
    }
    return v;
}

template_value_t *template_value_list(unsigned flags)
{
    template_value_t *v = value_new(TEMPLATE_LIST);
    if (v != NULL)
        v->flags = flags;
    return v;
}

template_value_t *template_value_map(unsigned flags)
{
    template_value_t *v = value_new(TEMPLATE_MAP);
    if (v != NULL)
        v->flags = flags;
    return v;
}

static int grow(template_value_t *v, bool keys)
{
    if (v->n < v->cap)
        return 0;
    size_t ncap = v->cap ? v->cap * 2 : 4;
    template_value_t **items = realloc(v->items, ncap * sizeof(*items));
    if (items == NULL)
        return VIGIL_ENOMEM;
    v->items = items;
    if (keys) {
        char **k = realloc(v->keys, ncap * sizeof(*k));
        if (k == NULL)
            return VIGIL_ENOMEM;
        v->keys = k;
    }
    v->cap = ncap;
    return 0;
}

int template_list_append(template_value_t *list, template_value_t *item)
{
    if (list == NULL || item == NULL || list->kind != TEMPLATE_LIST || list->borrowed) {
        template_value_free(item);
        return VIGIL_EINVAL;
    }
    if (grow(list, false) != 0) {
        template_value_free(item);
        return VIGIL_ENOMEM;
    }
    list->items[list->n++] = item;
    return 0;
}

long tmpl_map_find(const template_value_t *map, const char *key)
{
    size_t lo = 0, hi = map->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(map->keys[mid], key);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;  /* insertion point, encoded */
}

int template_map_set(template_value_t *map, const char *key, template_value_t *item)
{
    if (map == NULL || key == NULL || item == NULL || map->kind != TEMPLATE_MAP ||
        map->borrowed) {
        template_value_free(item);
        return VIGIL_EINVAL;
    }
    long at = tmpl_map_find(map, key);
    if (at >= 0) {
        template_value_free(map->items[at]);
        map->items[at] = item;
        return 0;
    }
    size_t pos = (size_t)(-at - 1);
    char *k = strdup(key);
    if (k == NULL || grow(map, true) != 0) {
        free(k);
        template_value_free(item);
        return VIGIL_ENOMEM;
    }
    memmove(map->keys + pos + 1, map->keys + pos, (map->n - pos) * sizeof(*map->keys));
    memmove(map->items + pos + 1, map->items + pos, (map->n - pos) * sizeof(*map->items));
    map->keys[pos] = k;
    map->items[pos] = item;
    map->n++;
    return 0;
}

int template_map_set_string(template_value_t *map, const char *key, const char *s)
{
    template_value_t *v = template_value_string(s);
    if (v == NULL)
        return VIGIL_ENOMEM;
    return template_map_set(map, key, v);
}

const template_value_t *template_map_get(const template_value_t *map, const char *key)
{
    if (map == NULL || map->kind != TEMPLATE_MAP)
        return NULL;
    long at = tmpl_map_find(map, key);
    return at >= 0 ? map->items[at] : NULL;
}

void template_value_free(template_value_t *v)
{
    if (v == NULL || v->borrowed)
        return;
    for (size_t i = 0; i < v->n; i++) {
        template_value_free(v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
    free(v);
}

template_kind_t template_value_kind(const template_value_t *v)
{
    return v != NULL ? v->kind : TEMPLATE_NIL;
}

/* ---- the arena ---------------------------------------------------------------------------- */

void *tmpl_arena_alloc(tmpl_arena_t *a, size_t size)
{
    if (size > TMPL_ARENA_MAX || a->bytes > TMPL_ARENA_MAX - size)
        return NULL;
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 32;
        void **p = realloc(a->ptrs, ncap * sizeof(*p));
        if (p == NULL)
            return NULL;
        a->ptrs = p;
        a->cap = ncap;
    }
    void *m = calloc(1, size ? size : 1);
    if (m == NULL)
        return NULL;
    a->ptrs[a->n++] = m;
    a->bytes += size;
    return m;
}

char *tmpl_arena_strndup(tmpl_arena_t *a, const char *s, size_t n)
{
    char *d = tmpl_arena_alloc(a, n + 1);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

void tmpl_arena_free(tmpl_arena_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    free(a->ptrs);
    memset(a, 0, sizeof(*a));
}

template_value_t *tmpl_val_new(tmpl_arena_t *a, template_kind_t kind)
{
    template_value_t *v = tmpl_arena_alloc(a, sizeof(*v));
    if (v != NULL) {
        v->kind = kind;
        v->borrowed = true;
    }
    return v;
}

template_value_t *tmpl_val_str(tmpl_arena_t *a, const char *s, size_t n)
{
    template_value_t *v = tmpl_val_new(a, TEMPLATE_STRING);
    if (v != NULL && (v->s = tmpl_arena_strndup(a, s, n)) == NULL)
        return NULL;
    return v;
}

/* Grows an arena list/map by doubling into fresh arena arrays (the old ones stay until the
 * arena goes: cheap, and bounded by TMPL_ARENA_MAX). */
static int arena_grow(tmpl_arena_t *a, template_value_t *v, bool keys)
{
    if (v->n < v->cap)
        return 0;
    size_t ncap = v->cap ? v->cap * 2 : 8;
    template_value_t **items = tmpl_arena_alloc(a, ncap * sizeof(*items));
    char **k = keys ? tmpl_arena_alloc(a, ncap * sizeof(*k)) : NULL;
    if (items == NULL || (keys && k == NULL))
        return VIGIL_ENOMEM;
    if (v->n) {
        memcpy(items, v->items, v->n * sizeof(*items));
        if (keys)
            memcpy(k, v->keys, v->n * sizeof(*k));
    }
    v->items = items;
    if (keys)
        v->keys = k;
    v->cap = ncap;
    return 0;
}

int tmpl_val_push(tmpl_arena_t *a, template_value_t *list, const template_value_t *item)
{
    if (arena_grow(a, list, false) != 0)
        return VIGIL_ENOMEM;
    list->items[list->n++] = (template_value_t *)item;  /* borrowed: never freed through here */
    return 0;
}

int tmpl_val_put(tmpl_arena_t *a, template_value_t *map, const char *key,
                 const template_value_t *item)
{
    if (arena_grow(a, map, true) != 0)
        return VIGIL_ENOMEM;
    map->keys[map->n] = (char *)key;
    map->items[map->n++] = (template_value_t *)item;
    return 0;
}
