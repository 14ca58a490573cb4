/*
 * pattern.c - a filter pattern whose verdicts are remembered by name (collect_pattern_t).
 *
 * The exclude and select patterns (diskstats and netdev devices, filesystem mount points and
 * types, vmstat keys) are matched against the same few names every run. glibc's regexec
 * builds its DFA while it matches, 2-4 KiB per state it reaches, and keeps it in the regex_t:
 * the four default patterns held ~80 KiB of DFA plus ~50 KiB of compiled NFA for good, on
 * behalf of names whose verdict never changes. So a pattern keeps its source and a table of
 * name -> verdict; a name it has not seen compiles the regex for the rest of that run (the
 * collector calls collect_pattern_release at the end of a run), and a steady-state run
 * compiles nothing and allocates nothing.
 *
 * The table is open addressing (FNV-1a, linear probing, at most 3/4 full) over one string
 * pool. It holds at most COLLECT_PATTERN_MAX_NAMES names and then starts over, so names that
 * churn (a veth device per container) cost at worst one compile per run, never unbounded
 * memory. A failed allocation only skips remembering the verdict.
 */
#include "collect/collect_int.h"

#include <stdlib.h>
#include <string.h>

#define COLLECT_PATTERN_MAX_NAMES 1024
#define COLLECT_PATTERN_FIRST_CAP 16

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int collect_pattern_init(collect_pattern_t *p, const char *pattern, const char *option,
                         vigil_error_t *err)
{
    memset(p, 0, sizeof(*p));
    /* Compiled once here so a bad pattern fails the agent's start, then freed. */
    int rc = collect_regex_compile(&p->re, pattern, option, err);
    if (rc != 0)
        return rc;
    regfree(&p->re);
    p->source = strdup(pattern);
    if (p->source == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "collect: no memory");
    return 0;
}

void collect_pattern_release(collect_pattern_t *p)
{
    if (p->compiled)
        regfree(&p->re);
    p->compiled = false;
}

void collect_pattern_free(collect_pattern_t *p)
{
    collect_pattern_release(p);
    free(p->slots);
    free(p->pool);
    free(p->source);
    memset(p, 0, sizeof(*p));
}

/* The slot holding `name` (hash h), or the empty slot where it would go. cap > 0. */
static collect_verdict_t *find(const collect_pattern_t *p, const char *name, uint32_t h)
{
    size_t mask = p->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        collect_verdict_t *v = &p->slots[i];
        if (v->off == 0 || (v->hash == h && strcmp(p->pool + v->off - 1, name) == 0))
            return v;
    }
}

/* Makes room for one more name; false when out of memory (the verdict is then not kept). */
static bool reserve(collect_pattern_t *p, size_t name_bytes)
{
    if (p->n >= COLLECT_PATTERN_MAX_NAMES) {
        memset(p->slots, 0, p->cap * sizeof(*p->slots));
        p->n = 0;
        p->pool_len = 0;
    }
    if (p->pool_len + name_bytes > p->pool_cap) {
        size_t cap = p->pool_cap ? p->pool_cap * 2 : 256;
        while (cap < p->pool_len + name_bytes)
            cap *= 2;
        char *pool = realloc(p->pool, cap);
        if (pool == NULL)
            return false;
        p->pool = pool;
        p->pool_cap = cap;
    }
    if ((p->n + 1) * 4 <= p->cap * 3)
        return true;
    size_t cap = p->cap ? p->cap * 2 : COLLECT_PATTERN_FIRST_CAP;
    collect_verdict_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return false;
    collect_verdict_t *old = p->slots;
    size_t old_cap = p->cap;
    p->slots = slots;
    p->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].off != 0)
            *find(p, p->pool + old[i].off - 1, old[i].hash) = old[i];
    free(old);
    return true;
}

int collect_pattern_match(collect_pattern_t *p, const char *name, bool *match)
{
    uint32_t h = name_hash(name);
    if (p->cap > 0) {
        const collect_verdict_t *v = find(p, name, h);
        if (v->off != 0) {
            *match = v->match;
            return 0;
        }
    }
    if (!p->compiled) {
        /* The source compiled at init; only memory can fail now. */
        if (regcomp(&p->re, p->source, REG_EXTENDED | REG_NOSUB) != 0)
            return VIGIL_ENOMEM;
        p->compiled = true;
    }
    *match = regexec(&p->re, name, 0, NULL, 0) == 0;
    size_t len = strlen(name) + 1;
    if (len < UINT32_MAX / 2 && reserve(p, len)) {
        collect_verdict_t *v = find(p, name, h);
        memcpy(p->pool + p->pool_len, name, len);
        *v = (collect_verdict_t){ .hash = h, .off = (uint32_t)p->pool_len + 1,
                                  .match = *match };
        p->pool_len += len;
        p->n++;
    }
    return 0;
}
