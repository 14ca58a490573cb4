/*
 * grouping.c - query-wide memo of "which group does this sample belong to" (group_memo_t).
 *
 * Grouping is the cost of aggregations and of the classic histogram functions in a range
 * query: every step derives a label set from each sample's labels (filtering them) and hashes
 * it. Steps mostly see the same input series at the same positions, so a node's memo
 * remembers, per position, the label array it saw there and the group that array belongs to,
 * as an id stable for the whole query; a step then finds a sample's group by comparing one
 * pointer and indexing an array. Only label arrays that outlive the step qualify: arrays in
 * the scratch arena are released after each step and their addresses reused for other labels.
 * Group labels are copied into the query arena, so the label arrays a node outputs are stable
 * too (the next node's memo and the range result builder use that the same way).
 */
#include "promql/promql_int.h"

#include <string.h>

typedef struct memo_pos {
    const promql_label_t *src;   /* the input label array last seen at this position */
    size_t n;
    size_t id;
    double aux;
} memo_pos_t;

struct group_memo {
    strmap_t ids;                /* group key -> id */
    promql_labels_t *lbls;       /* per id: the group's labels (query arena) */
    size_t *step_group;          /* per id: its index among this step's groups... */
    uint64_t *step_gen;          /* ...valid while equal to gen */
    size_t n_ids, cap_ids;
    uint64_t gen;
    size_t step_groups;          /* groups of the current grouping so far */
    memo_pos_t *pos;
    size_t cap_pos;
    buf_t key;                   /* scratch for keys (freed with the query) */
};

static void free_key(void *p)
{
    buf_free(p);
}

group_memo_t *group_memo(evalctx_t *c, void **slot)
{
    group_memo_t *m = *slot;
    if (m == NULL) {
        m = arena_alloc(c->a, sizeof(*m));
        strmap_init(&m->ids, c->a, 16);
        buf_init(&m->key, (size_t)1 << 24);
        arena_defer(c->a, free_key, &m->key);
        *slot = m;
    }
    m->gen++;
    m->step_groups = 0;
    return m;
}

void group_key(buf_t *key, promql_labels_t gl)
{
    buf_reset(key);
    for (size_t j = 0; j < gl.n; j++) {
        buf_puts(key, gl.v[j].name);
        buf_putc(key, '\xff');
        buf_puts(key, gl.v[j].value);
        buf_putc(key, '\xfe');
    }
}

bool group_memo_find(evalctx_t *c, group_memo_t *m, size_t pos, const sample_t *s,
                     group_fn_t fn, const void *arg, group_ref_t *out)
{
    size_t id;
    double aux;
    if (pos < m->cap_pos && m->pos[pos].src == s->lbls.v && s->lbls.v != NULL &&
        m->pos[pos].n == s->lbls.n) {
        id = m->pos[pos].id;
        aux = m->pos[pos].aux;
    } else {
        promql_labels_t gl;
        if (!fn(c, arg, s, &gl, &aux))
            return false;
        group_key(&m->key, gl);
        bool found;
        id = strmap_get_or_put(&m->ids, m->key.data != NULL ? m->key.data : "", m->key.len,
                               m->n_ids, &found);
        if (!found) {
            if (m->n_ids == m->cap_ids) {
                size_t nc = m->cap_ids ? m->cap_ids * 2 : 16;
                m->lbls = arena_realloc(c->a, m->lbls, m->cap_ids * sizeof(*m->lbls),
                                        nc * sizeof(*m->lbls));
                m->step_group = arena_realloc(c->a, m->step_group, m->cap_ids * sizeof(size_t),
                                              nc * sizeof(size_t));
                m->step_gen = arena_realloc(c->a, m->step_gen, m->cap_ids * sizeof(uint64_t),
                                            nc * sizeof(uint64_t));
                m->cap_ids = nc;
            }
            m->lbls[id] = labels_copy(c->a, gl);
            m->step_gen[id] = 0;
            m->n_ids++;
        }
        if (s->lbls.v != NULL && !arena_owns(c->scratch, s->lbls.v)) {
            if (pos >= m->cap_pos) {
                size_t nc = m->cap_pos ? m->cap_pos * 2 : 64;
                while (nc <= pos)
                    nc *= 2;
                m->pos = arena_realloc(c->a, m->pos, m->cap_pos * sizeof(*m->pos),
                                       nc * sizeof(*m->pos));
                m->cap_pos = nc;
            }
            m->pos[pos] = (memo_pos_t){ s->lbls.v, s->lbls.n, id, aux };
        }
    }
    out->is_new = m->step_gen[id] != m->gen;
    if (out->is_new) {
        m->step_gen[id] = m->gen;
        m->step_group[id] = m->step_groups++;
    }
    out->group = m->step_group[id];
    out->lbls = m->lbls[id];
    out->aux = aux;
    return true;
}
