/*
 * index.c - postings per label pair, and matcher evaluation over them.
 *
 * Layout: names (hash map by label name) -> index_name_t { values (hash map by value) ->
 * index_value_t { postings } }. Strings are
 * the head's interned copies. Selection follows Prometheus's PostingsForMatchers: intersect the
 * postings of the matchers that do not match "", then subtract, for each matcher that does
 * match "", the series whose value for that label fails it.
 */
#include "tsdb/index.h"

#include "tsdb/symbols.h"

#include <stdlib.h>
#include <string.h>

typedef struct index_value {
    const char *value; /* interned */
    postings_t  p;
} index_value_t;

typedef struct index_name {
    const char *name;  /* interned */
    hmap_t      values; /* of index_value_t* */
    uint64_t    value_bytes;
} index_name_t;

/* Items of both maps start with their string; keys are plain C strings. */
static bool str_eq(const void *item, const void *key)
{
    return strcmp(*(const char *const *)item, key) == 0;
}

int index_init(index_t *ix)
{
    memset(ix, 0, sizeof(*ix));
    hmap_init(&ix->names);
    return pthread_rwlock_init(&ix->lock, NULL) == 0 ? 0 : VIGIL_ESYS;
}

void index_destroy(index_t *ix)
{
    index_name_t *nm;
    HMAP_FOREACH(&ix->names, nm) {
        index_value_t *iv;
        HMAP_FOREACH(&nm->values, iv) {
            free(iv->p.ids);
            free(iv);
        }
        hmap_free(&nm->values);
        free(nm);
    }
    hmap_free(&ix->names);
    pthread_rwlock_destroy(&ix->lock);
}

/* Makes room for one more id, so that adding cannot fail half-way through a label set. */
static int postings_reserve(postings_t *p)
{
    if (p->len < p->cap)
        return 0;
    uint32_t  ncap = p->cap ? p->cap * 2 : 4;
    uint32_t *n = realloc(p->ids, ncap * sizeof(*n));
    if (n == NULL)
        return VIGIL_ENOMEM;
    p->ids = n;
    p->cap = ncap;
    return 0;
}

/* Inserts id keeping the list sorted (room reserved); ids nearly always arrive in order. */
static void postings_add(postings_t *p, uint32_t id)
{
    uint32_t i = p->len;
    while (i > 0 && p->ids[i - 1] > id) {
        p->ids[i] = p->ids[i - 1];
        i--;
    }
    p->ids[i] = id;
    p->len++;
}

static index_name_t *find_name(const index_t *ix, const char *name)
{
    return hmap_find(&ix->names, symtab_hash(name, strlen(name)), str_eq, name);
}

static index_value_t *find_value(const index_name_t *nm, const char *value)
{
    return hmap_find(&nm->values, symtab_hash(value, strlen(value)), str_eq, value);
}

int index_add(index_t *ix, uint32_t id, const char *const *pairs, size_t n)
{
    int             rc = 0;
    index_value_t  *stack[16];
    index_value_t **ivs = n <= 16 ? stack : malloc(n * sizeof(*ivs));
    if (ivs == NULL)
        return VIGIL_ENOMEM;
    pthread_rwlock_wrlock(&ix->lock);
    /* Pass 1 allocates everything (entries, postings room); pass 2 cannot fail. So the id is in
     * all of its lists or in none. Entries created before a failure stay, empty. The strings
     * are interned: their hashes are read from the symbol table, not computed again. */
    for (size_t k = 0; k < n && rc == 0; k++) {
        const char   *name = pairs[2 * k], *value = pairs[2 * k + 1];
        index_name_t *nm = hmap_find(&ix->names, sym_hash(name), str_eq, name);
        if (nm == NULL) {
            nm = calloc(1, sizeof(*nm));
            if (nm == NULL || hmap_insert(&ix->names, sym_hash(name), nm) != 0) {
                free(nm);
                rc = VIGIL_ENOMEM;
                break;
            }
            nm->name = name;
            hmap_init(&nm->values);
        }
        index_value_t *iv = hmap_find(&nm->values, sym_hash(value), str_eq, value);
        if (iv == NULL) {
            iv = calloc(1, sizeof(*iv));
            if (iv == NULL || hmap_insert(&nm->values, sym_hash(value), iv) != 0) {
                free(iv);
                rc = VIGIL_ENOMEM;
                break;
            }
            iv->value = value;
            nm->value_bytes += sym_len(value);
            ix->npairs++;
        }
        rc = postings_reserve(&iv->p);
        ivs[k] = iv;
    }
    for (size_t k = 0; k < n && rc == 0; k++)
        postings_add(&ivs[k]->p, id);
    pthread_rwlock_unlock(&ix->lock);
    if (ivs != stack)
        free(ivs);
    return rc;
}

static bool id_dead(const uint64_t *dead, uint32_t nbits, uint32_t id)
{
    return id < nbits && (dead[id >> 6] >> (id & 63) & 1) != 0;
}

void index_remove(index_t *ix, const uint64_t *dead, uint32_t nbits)
{
    pthread_rwlock_wrlock(&ix->lock);
    /* One pass over every postings list: series garbage collection removes thousands of ids at
     * once, and filtering each list once beats a search per removed id. A slot is looked at
     * again after a removal (hmap_remove shifts later entries into it). */
    for (size_t ni = 0; ni < ix->names.cap;) {
        index_name_t *nm = ix->names.slots[ni].item;
        if (nm == NULL) {
            ni++;
            continue;
        }
        for (size_t vi = 0; vi < nm->values.cap;) {
            index_value_t *iv = nm->values.slots[vi].item;
            if (iv == NULL) {
                vi++;
                continue;
            }
            uint32_t k = 0;
            for (uint32_t i = 0; i < iv->p.len; i++)
                if (!id_dead(dead, nbits, iv->p.ids[i]))
                    iv->p.ids[k++] = iv->p.ids[i];
            iv->p.len = k;
            if (k > 0) {
                vi++;
                continue;
            }
            hmap_remove(&nm->values, sym_hash(iv->value), iv);
            nm->value_bytes -= sym_len(iv->value);
            ix->npairs--;
            free(iv->p.ids);
            free(iv);
        }
        if (nm->values.len > 0) {
            ni++;
            continue;
        }
        hmap_remove(&ix->names, sym_hash(nm->name), nm);
        hmap_free(&nm->values);
        free(nm);
    }
    pthread_rwlock_unlock(&ix->lock);
}

/* ---- set operations on sorted id arrays --------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Union of the postings of every value of nm for which the matcher says `want`. */
static int union_matching(const index_name_t *nm, const matcher_t *m, bool want, idset_t *out)
{
    out->ids = NULL;
    out->len = 0;
    if (nm == NULL)
        return 0;
    /* Fast path: = on a present value is one postings list. */
    if (m->type == TSDB_MATCH_EQ && want) {
        const index_value_t *iv = find_value(nm, m->value);
        if (iv == NULL)
            return 0;
        out->ids = malloc((iv->p.len ? iv->p.len : 1) * sizeof(uint32_t));
        if (out->ids == NULL)
            return VIGIL_ENOMEM;
        memcpy(out->ids, iv->p.ids, iv->p.len * sizeof(uint32_t));
        out->len = iv->p.len;
        return 0;
    }
    size_t               total = 0, nlists = 0;
    const index_value_t *iv;
    HMAP_FOREACH(&nm->values, iv) {
        if (matcher_matches(m, iv->value) == want) {
            total += iv->p.len;
            nlists++;
        }
    }
    if (total == 0)
        return 0;
    out->ids = malloc(total * sizeof(uint32_t));
    if (out->ids == NULL)
        return VIGIL_ENOMEM;
    HMAP_FOREACH(&nm->values, iv) {
        if (matcher_matches(m, iv->value) == want) {
            memcpy(out->ids + out->len, iv->p.ids, iv->p.len * sizeof(uint32_t));
            out->len += iv->p.len;
        }
    }
    /* A series has one value per name, so the lists are disjoint: sorting suffices. */
    if (nlists > 1)
        idset_sort(out);
    return 0;
}

void idset_sort(idset_t *s)
{
    qsort(s->ids, s->len, sizeof(uint32_t), cmp_u32);
}

void idset_intersect(idset_t *acc, const idset_t *b)
{
    size_t i = 0, j = 0, k = 0;
    while (i < acc->len && j < b->len) {
        if (acc->ids[i] < b->ids[j])
            i++;
        else if (acc->ids[i] > b->ids[j])
            j++;
        else {
            acc->ids[k++] = acc->ids[i];
            i++;
            j++;
        }
    }
    acc->len = k;
}

void idset_subtract(idset_t *acc, const idset_t *b)
{
    size_t i = 0, j = 0, k = 0;
    while (i < acc->len) {
        while (j < b->len && b->ids[j] < acc->ids[i])
            j++;
        if (j < b->len && b->ids[j] == acc->ids[i])
            i++;
        else
            acc->ids[k++] = acc->ids[i++];
    }
    acc->len = k;
}

int index_select(index_t *ix, const matcher_t *ms, size_t n, uint32_t nall, uint32_t **out,
                 size_t *nout)
{
    idset_t acc = {NULL, 0};
    bool    have = false;
    int     rc = 0;
    pthread_rwlock_rdlock(&ix->lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (ms[i].matches_empty)
            continue;
        idset_t s;
        rc = union_matching(find_name(ix, ms[i].name), &ms[i], true, &s);
        if (rc != 0)
            break;
        if (!have) {
            acc = s;
            have = true;
        } else {
            idset_intersect(&acc, &s);
            free(s.ids);
        }
        if (acc.len == 0)
            break;
    }
    if (rc == 0 && !have) {
        /* Only empty-matching matchers: start from every series, as {__name__=~".*"} would. */
        acc.ids = malloc((nall ? nall : 1) * sizeof(uint32_t));
        if (acc.ids == NULL)
            rc = VIGIL_ENOMEM;
        for (uint32_t i = 0; rc == 0 && i < nall; i++)
            acc.ids[i] = i;
        acc.len = nall;
    }
    for (size_t i = 0; i < n && rc == 0 && acc.len > 0; i++) {
        if (!ms[i].matches_empty)
            continue;
        idset_t s;
        rc = union_matching(find_name(ix, ms[i].name), &ms[i], false, &s);
        if (rc == 0)
            idset_subtract(&acc, &s);
        free(s.ids);
    }
    pthread_rwlock_unlock(&ix->lock);
    if (rc != 0) {
        free(acc.ids);
        return rc;
    }
    *out = acc.ids;
    *nout = acc.len;
    return 0;
}

/* ---- listings ----------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts, truncates to limit and copies `n` borrowed strings into *out. */
static int strings_from(const char **v, size_t n, size_t limit, tsdb_strings_t *out)
{
    qsort(v, n, sizeof(*v), cmp_str);
    if (limit != 0 && n > limit)
        n = limit;
    out->v = calloc(n ? n : 1, sizeof(char *));
    out->n = 0;
    if (out->v == NULL)
        return VIGIL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        out->v[i] = strdup(v[i]);
        if (out->v[i] == NULL) {
            tsdb_strings_free(out);
            return VIGIL_ENOMEM;
        }
        out->n++;
    }
    return 0;
}

int index_label_names(index_t *ix, size_t limit, tsdb_strings_t *out)
{
    pthread_rwlock_rdlock(&ix->lock);
    const char **v = malloc((ix->names.len ? ix->names.len : 1) * sizeof(*v));
    size_t       n = 0;
    int          rc = VIGIL_ENOMEM;
    if (v != NULL) {
        const index_name_t *nm;
        HMAP_FOREACH(&ix->names, nm) {
            const index_value_t *iv;
            bool                 used = false;
            HMAP_FOREACH(&nm->values, iv)
                used |= iv->p.len > 0;
            if (used) /* entries left empty by a failed index_add are not listed */
                v[n++] = nm->name;
        }
        rc = strings_from(v, n, limit, out);
    }
    pthread_rwlock_unlock(&ix->lock);
    free(v);
    return rc;
}

int index_label_values(index_t *ix, const char *name, size_t limit, tsdb_strings_t *out)
{
    pthread_rwlock_rdlock(&ix->lock);
    const index_name_t *nm = find_name(ix, name);
    size_t              cap = nm ? nm->values.len : 0;
    const char        **v = malloc((cap ? cap : 1) * sizeof(*v));
    size_t              n = 0;
    int                 rc = VIGIL_ENOMEM;
    if (v != NULL) {
        const index_value_t *iv;
        if (nm != NULL)
            HMAP_FOREACH(&nm->values, iv)
                if (iv->p.len > 0)
                    v[n++] = iv->value;
        rc = strings_from(v, n, limit, out);
    }
    pthread_rwlock_unlock(&ix->lock);
    free(v);
    return rc;
}

/* ---- status ------------------------------------------------------------------------------- */

typedef struct topn {
    tsdb_stat_entry_t *e; /* owned, sorted by value descending */
    size_t             n, limit;
} topn_t;

/* Offers a candidate; `name` is formatted only when it makes the list. */
static int topn_offer(topn_t *t, uint64_t value, const char *a, const char *b)
{
    if (t->n == t->limit && (t->n == 0 || t->e[t->n - 1].value >= value))
        return 0;
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char  *s = malloc(la + lb + 2);
    if (s == NULL)
        return VIGIL_ENOMEM;
    memcpy(s, a, la);
    if (b != NULL) {
        s[la] = '=';
        memcpy(s + la + 1, b, lb);
        s[la + 1 + lb] = '\0';
    } else {
        s[la] = '\0';
    }
    if (t->n == t->limit) {
        free(t->e[t->n - 1].name);
        t->n--;
    }
    size_t i = t->n;
    while (i > 0 && t->e[i - 1].value < value) {
        t->e[i] = t->e[i - 1];
        i--;
    }
    t->e[i].name = s;
    t->e[i].value = value;
    t->n++;
    return 0;
}

int index_status(index_t *ix, size_t limit, tsdb_status_t *out)
{
    memset(out, 0, sizeof(*out));
    if (limit == 0)
        limit = 10;
    topn_t t[4];
    for (int i = 0; i < 4; i++) {
        t[i].e = calloc(limit, sizeof(tsdb_stat_entry_t));
        t[i].n = 0;
        t[i].limit = limit;
    }
    int rc = 0;
    for (int i = 0; i < 4; i++)
        if (t[i].e == NULL)
            rc = VIGIL_ENOMEM;
    pthread_rwlock_rdlock(&ix->lock);
    const index_name_t *nm;
    HMAP_FOREACH(&ix->names, nm) {
        if (rc != 0)
            break;
        rc = topn_offer(&t[1], nm->values.len, nm->name, NULL);
        if (rc == 0)
            rc = topn_offer(&t[2], nm->value_bytes, nm->name, NULL);
        out->label_pairs += nm->values.len;
        bool                 is_name = strcmp(nm->name, "__name__") == 0;
        const index_value_t *iv;
        HMAP_FOREACH(&nm->values, iv) {
            if (rc == 0 && is_name)
                rc = topn_offer(&t[0], iv->p.len, iv->value, NULL);
            if (rc == 0)
                rc = topn_offer(&t[3], iv->p.len, nm->name, iv->value);
        }
    }
    pthread_rwlock_unlock(&ix->lock);
    out->series_by_metric = t[0].e;
    out->n_series_by_metric = t[0].n;
    out->values_by_label = t[1].e;
    out->n_values_by_label = t[1].n;
    out->memory_by_label = t[2].e;
    out->n_memory_by_label = t[2].n;
    out->series_by_pair = t[3].e;
    out->n_series_by_pair = t[3].n;
    if (rc != 0)
        tsdb_status_free(out);
    return rc;
}
