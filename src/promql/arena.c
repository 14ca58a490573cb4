/*
 * arena.c - the per-query bump allocator, label sets and the string map of src/promql.
 *
 * A parse or a query allocates everything from one arena_t and frees it in one call, so the
 * evaluator's many short-lived vectors cost no bookkeeping. The range evaluator marks the arena
 * before each step and releases back to the mark afterwards.
 */
#include "promql/promql_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    arena_chunk_t *next;
    size_t size;      /* usable bytes in data */
    _Alignas(16) unsigned char data[];
};

struct arena_defer {
    struct arena_defer *next;
    void (*fn)(void *);
    void *p;
};

#define ARENA_CHUNK_MIN ((size_t)64 * 1024)

void arena_init(arena_t *a)
{
    memset(a, 0, sizeof(*a));
}

void arena_free(arena_t *a)
{
    for (struct arena_defer *d = a->defers; d != NULL; d = d->next)
        d->fn(d->p);
    a->defers = NULL;
    arena_chunk_t *c = a->head;
    while (c != NULL) {
        arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
    a->total = 0;
    free(a->spare);
    a->spare = NULL;
}

void *arena_alloc(arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    if (a->head == NULL || a->head->size - a->used < n) {
        size_t size = n > ARENA_CHUNK_MIN ? n : ARENA_CHUNK_MIN;
        arena_chunk_t *c;
        if (a->spare != NULL && a->spare->size >= size) {
            c = a->spare;
            size = c->size;
            a->spare = NULL;
        } else {
            c = malloc(sizeof(*c) + size);
        }
        if (c == NULL) {
            if (a->oom != NULL)
                longjmp(*a->oom, 1);
            return NULL;
        }
        c->size = size;
        c->next = a->head;
        a->head = c;
        a->used = 0;
        a->total += size;
    }
    void *p = a->head->data + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

void *arena_realloc(arena_t *a, void *p, size_t old, size_t n)
{
    if (n <= old)
        return p;
    void *q = arena_alloc(a, n);
    if (q != NULL && p != NULL && old > 0)
        memcpy(q, p, old);
    return q;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

arena_mark_t arena_mark(const arena_t *a)
{
    return (arena_mark_t){ a->head, a->used };
}

/* A range query releases its scratch arena after every step and fills it again in the next:
 * keeping the largest released chunk saves a malloc/free pair per step, and for chunks big
 * enough to be mmap'ed, the page faults of touching fresh pages again. */
void arena_release(arena_t *a, arena_mark_t m)
{
    while (a->head != m.head && a->head != NULL) {
        arena_chunk_t *c = a->head;
        a->head = c->next;
        a->total -= c->size;
        if (a->spare == NULL || a->spare->size < c->size) {
            free(a->spare);
            a->spare = c;
        } else {
            free(c);
        }
    }
    a->used = m.head == NULL ? 0 : m.used;
}

bool arena_owns(const arena_t *a, const void *p)
{
    const unsigned char *q = p;
    for (const arena_chunk_t *c = a->head; c != NULL; c = c->next)
        if (q >= c->data && q < c->data + c->size)
            return true;
    return false;
}

void arena_defer(arena_t *a, void (*fn)(void *), void *p)
{
    struct arena_defer *d = arena_alloc(a, sizeof(*d));
    if (d == NULL) {
        fn(p);   /* cannot keep it: release now rather than leak */
        return;
    }
    d->fn = fn;
    d->p = p;
    d->next = a->defers;
    a->defers = d;
}

/* ---- labels ---- */

const char *labels_get(promql_labels_t l, const char *name)
{
    size_t lo = 0, hi = l.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(l.v[mid].name, name);
        if (c == 0)
            return l.v[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int labels_cmp(promql_labels_t a, promql_labels_t b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a.v[i].name, b.v[i].name);
        if (c != 0)
            return c;
        c = strcmp(a.v[i].value, b.v[i].value);
        if (c != 0)
            return c;
    }
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

bool labels_equal(promql_labels_t a, promql_labels_t b)
{
    return a.n == b.n && labels_cmp(a, b) == 0;
}

uint64_t labels_hash(promql_labels_t l)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < l.n; i++) {
        for (const char *p = l.v[i].name; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
        for (const char *p = l.v[i].value; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ 0xfe) * 1099511628211ULL;
    }
    return h;
}

promql_labels_t labels_copy(arena_t *a, promql_labels_t l)
{
    promql_label_t *v = arena_alloc(a, (l.n ? l.n : 1) * sizeof(*v));
    for (size_t i = 0; i < l.n; i++) {
        v[i].name = arena_strdup(a, l.v[i].name);
        v[i].value = arena_strdup(a, l.v[i].value);
    }
    return (promql_labels_t){ v, l.n };
}

promql_labels_t labels_keep(arena_t *a, const arena_t *scratch, promql_labels_t l)
{
    bool volatile_ = l.v != NULL && arena_owns(scratch, l.v);
    for (size_t i = 0; i < l.n && !volatile_; i++)
        volatile_ = arena_owns(scratch, l.v[i].name) || arena_owns(scratch, l.v[i].value);
    return volatile_ ? labels_copy(a, l) : l;
}

promql_labels_t labels_without(arena_t *a, promql_labels_t l, const char *name)
{
    return labels_set(a, l, name, NULL);
}

promql_labels_t labels_set(arena_t *a, promql_labels_t l, const char *name, const char *value)
{
    bool del = value == NULL || value[0] == '\0';
    promql_label_t *v = arena_alloc(a, (l.n + 1) * sizeof(*v));
    size_t k = 0;
    bool done = false;
    for (size_t i = 0; i < l.n; i++) {
        int c = strcmp(l.v[i].name, name);
        if (!done && c >= 0) {
            if (!del)
                v[k++] = (promql_label_t){ name, value };
            done = true;
            if (c == 0)
                continue;
        }
        v[k++] = l.v[i];
    }
    if (!done && !del)
        v[k++] = (promql_label_t){ name, value };
    return (promql_labels_t){ v, k };
}

promql_labels_t labels_filter(arena_t *a, promql_labels_t l, const char *const *names, size_t n,
                              bool keep)
{
    promql_label_t *v = arena_alloc(a, (l.n ? l.n : 1) * sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < l.n; i++) {
        bool listed = false;
        for (size_t j = 0; j < n && !listed; j++)
            listed = strcmp(names[j], l.v[i].name) == 0;
        if (listed == keep)
            v[k++] = l.v[i];
    }
    return (promql_labels_t){ v, k };
}

void labels_format(buf_t *b, promql_labels_t l)
{
    buf_putc(b, '{');
    for (size_t i = 0; i < l.n; i++) {
        if (i > 0)
            buf_puts(b, ", ");
        buf_puts(b, l.v[i].name);
        buf_putc(b, '=');
        buf_put_go_quoted(b, l.v[i].value);
    }
    buf_putc(b, '}');
}

static int label_cmp_name(const void *x, const void *y)
{
    const promql_label_t *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    if (c != 0)
        return c;
    return a < b ? -1 : a > b;   /* stable: later duplicates sort last */
}

size_t labels_sort(promql_label_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), label_cmp_name);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && strcmp(v[k - 1].name, v[i].name) == 0)
            v[k - 1] = v[i];
        else
            v[k++] = v[i];
    }
    return k;
}

/* ---- string map ---- */

/* Grouping keys are label sets of tens of bytes, hashed for every sample of every step: eight
 * bytes per multiply, then a final avalanche so the low bits the table uses depend on all. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 31;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94d049bb133111ebULL;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 29);
}

void strmap_init(strmap_t *m, arena_t *a, size_t hint)
{
    size_t cap = 16;
    while (cap < hint * 2)
        cap *= 2;
    m->a = a;
    m->cap = cap;
    m->n = 0;
    m->keys = arena_alloc(a, cap * sizeof(*m->keys));
    m->lens = arena_alloc(a, cap * sizeof(*m->lens));
    m->vals = arena_alloc(a, cap * sizeof(*m->vals));
}

static void strmap_grow(strmap_t *m)
{
    strmap_t n;
    strmap_init(&n, m->a, m->cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == NULL)
            continue;
        size_t j = hash_bytes(m->keys[i], m->lens[i]) & (n.cap - 1);
        while (n.keys[j] != NULL)
            j = (j + 1) & (n.cap - 1);
        n.keys[j] = m->keys[i];
        n.lens[j] = m->lens[i];
        n.vals[j] = m->vals[i];
        n.n++;
    }
    *m = n;
}

size_t strmap_get_or_put(strmap_t *m, const char *key, size_t len, size_t val, bool *found)
{
    if ((m->n + 1) * 2 > m->cap)
        strmap_grow(m);
    size_t j = hash_bytes(key, len) & (m->cap - 1);
    while (m->keys[j] != NULL) {
        if (m->lens[j] == len && memcmp(m->keys[j], key, len) == 0) {
            *found = true;
            return m->vals[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = arena_strndup(m->a, key, len);
    m->lens[j] = len;
    m->vals[j] = val;
    m->n++;
    *found = false;
    return val;
}

bool strmap_get(const strmap_t *m, const char *key, size_t len, size_t *val)
{
    size_t j = hash_bytes(key, len) & (m->cap - 1);
    while (m->keys[j] != NULL) {
        if (m->lens[j] == len && memcmp(m->keys[j], key, len) == 0) {
            *val = m->vals[j];
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}
