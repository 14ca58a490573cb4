/*
 * batch.c - the sample batch a collector fills each run, and its text exposition.
 *
 * Layout: every string (family names, help, label names and values) lives in a chain of arena
 * blocks; families, samples and labels live in three arrays. Reset rewinds the blocks and the
 * arrays without freeing them, so after the first few runs a batch is a fixed set of
 * allocations reused forever. Samples are appended in whatever order a collector finds them
 * (netdev reads device by device but exposes family by family); finish() groups them by family
 * with one stable counting sort into an array of exactly the batch's samples, which replaces
 * the unsorted one: a complete batch holds no spare sample slots while it is the latest.
 */
#include "collect/collect_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Every collector keeps two batches for good (the one it fills and the latest complete one),
 * so what a batch holds beyond its needs is paid 32 times over in the agent's resident memory.
 * Most collectors' strings fit in a few hundred bytes (loadavg, uname, time) and their
 * families in a dozen slots, so the first arena block and the first array are small; each
 * further block doubles the arena and each array doubles, so a big batch (netdev, mounts,
 * processes, cgroups) still settles after a few runs. */
#define ARENA_FIRST_BLOCK_BYTES 1024
#define ARRAY_FIRST_ELEMS       16

typedef struct arena_block {
    struct arena_block *next;
    size_t cap;   /* bytes in data */
    size_t used;
    char   data[];
} arena_block_t;

typedef struct family {
    const char    *name;
    const char    *help;
    collect_type_t type;
    size_t         first;  /* after finish: first sample index */
    size_t         count;  /* samples in this family */
} family_t;

typedef struct sample {
    double   value;
    size_t   first_label; /* index into labels */
    uint32_t nlabels;
    uint32_t fam;
} sample_t;

struct collect_batch {
    const char *collector;  /* not owned */
    double      time;
    arena_block_t *head;    /* all blocks, in order */
    arena_block_t *cur;     /* block being filled */
    size_t      arena_cap;  /* bytes in all blocks */
    size_t      bytes;      /* everything allocated, against COLLECT_BATCH_MAX_BYTES */
    family_t   *fams;
    size_t      nfam, capfam;
    sample_t   *samples;
    size_t      nsample, capsample;
    collect_label_t *labels;
    size_t      nlabel, caplabel;
    /* What the batch held when collect_batch_trim() last emptied it: the first allocation
     * of each array and of the arena after a trim is this size, so a trimmed batch refills
     * with one allocation each instead of doubling its way up again. */
    size_t      hint_arena, hint_fam, hint_sample, hint_label;
};

collect_batch_t *collect_batch_new(const char *collector)
{
    collect_batch_t *b = calloc(1, sizeof(*b));
    if (b != NULL)
        b->collector = collector;
    return b;
}

/* Frees every allocation of the batch but the struct itself and empties it. */
static void release(collect_batch_t *b)
{
    for (arena_block_t *blk = b->head, *next; blk != NULL; blk = next) {
        next = blk->next;
        free(blk);
    }
    free(b->fams);
    free(b->samples);
    free(b->labels);
    b->head = b->cur = NULL;
    b->fams = NULL;
    b->samples = NULL;
    b->labels = NULL;
    b->arena_cap = b->bytes = 0;
    b->nfam = b->capfam = 0;
    b->nsample = b->capsample = 0;
    b->nlabel = b->caplabel = 0;
}

void collect_batch_free(collect_batch_t *b)
{
    if (b == NULL)
        return;
    release(b);
    free(b);
}

void collect_batch_trim(collect_batch_t *b)
{
    size_t used = 0;
    for (arena_block_t *blk = b->head; blk != NULL; blk = blk->next)
        used += blk->used;
    b->hint_arena = used;
    b->hint_fam = b->nfam;
    b->hint_sample = b->nsample;
    b->hint_label = b->nlabel;
    release(b);
}

void collect_batch_reset(collect_batch_t *b, double now)
{
    for (arena_block_t *blk = b->head; blk != NULL; blk = blk->next)
        blk->used = 0;
    b->cur = b->head;
    b->nfam = 0;
    b->nsample = 0;
    b->nlabel = 0;
    b->time = now;
}

/* Grows one of the arrays to hold `need` elements, doubling, within the batch's cap; the
 * first allocation is `hint` elements when that is more than the default. */
static int grow(collect_batch_t *b, void **arr, size_t *cap, size_t need, size_t elem,
                size_t hint)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : hint > ARRAY_FIRST_ELEMS ? hint : ARRAY_FIRST_ELEMS;
    while (ncap < need)
        ncap *= 2;
    size_t extra = (ncap - *cap) * elem;
    if (b->bytes + extra > COLLECT_BATCH_MAX_BYTES)
        return VIGIL_ELIMIT;
    void *p = realloc(*arr, ncap * elem);
    if (p == NULL)
        return VIGIL_ENOMEM;
    *arr = p;
    *cap = ncap;
    b->bytes += extra;
    return 0;
}

/* Copies s into the arena; NULL when over the cap or out of memory. */
static const char *arena_strdup(collect_batch_t *b, const char *s)
{
    size_t n = strlen(s) + 1;
    arena_block_t *blk = b->cur;
    while (blk != NULL && blk->cap - blk->used < n)
        blk = blk->next; /* later blocks are empty after a reset: reuse them */
    if (blk == NULL) {
        size_t cap = b->arena_cap > 0                            ? b->arena_cap
                     : b->hint_arena > ARENA_FIRST_BLOCK_BYTES ? b->hint_arena
                                                               : ARENA_FIRST_BLOCK_BYTES;
        if (cap < n)
            cap = n;
        if (b->bytes + cap > COLLECT_BATCH_MAX_BYTES)
            return NULL;
        blk = malloc(sizeof(*blk) + cap);
        if (blk == NULL)
            return NULL;
        blk->next = NULL;
        blk->cap = cap;
        blk->used = 0;
        b->bytes += cap;
        b->arena_cap += cap;
        arena_block_t **tail = &b->head;
        while (*tail != NULL)
            tail = &(*tail)->next;
        *tail = blk;
    }
    b->cur = blk;
    char *p = blk->data + blk->used;
    memcpy(p, s, n);
    blk->used += n;
    return p;
}

int collect_batch_family(collect_batch_t *b, const char *name, const char *help,
                         collect_type_t type)
{
    /* Newest first: collectors usually add to the family they just started. */
    for (size_t i = b->nfam; i-- > 0;)
        if (strcmp(b->fams[i].name, name) == 0)
            return (int)i;
    if (b->nfam >= (size_t)INT32_MAX)
        return VIGIL_ELIMIT;
    int rc = grow(b, (void **)&b->fams, &b->capfam, b->nfam + 1, sizeof(family_t),
                  b->hint_fam);
    if (rc != 0)
        return rc;
    family_t *f = &b->fams[b->nfam];
    f->name = arena_strdup(b, name);
    f->help = arena_strdup(b, help != NULL ? help : "");
    if (f->name == NULL || f->help == NULL)
        return VIGIL_ELIMIT;
    f->type = type;
    f->first = 0;
    f->count = 0;
    return (int)b->nfam++;
}

int collect_batch_add_labels(collect_batch_t *b, int fam, double value,
                             const collect_label_t *labels, size_t n)
{
    if (fam < 0 || (size_t)fam >= b->nfam)
        return VIGIL_EINVAL;
    int rc = grow(b, (void **)&b->samples, &b->capsample, b->nsample + 1, sizeof(sample_t),
                  b->hint_sample);
    if (rc == 0)
        rc = grow(b, (void **)&b->labels, &b->caplabel, b->nlabel + n, sizeof(collect_label_t),
                  b->hint_label);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        collect_label_t *l = &b->labels[b->nlabel + i];
        l->name = arena_strdup(b, labels[i].name);
        l->value = arena_strdup(b, labels[i].value != NULL ? labels[i].value : "");
        if (l->name == NULL || l->value == NULL)
            return VIGIL_ELIMIT;
    }
    sample_t *s = &b->samples[b->nsample++];
    s->value = value;
    s->first_label = b->nlabel;
    s->nlabels = (uint32_t)n;
    s->fam = (uint32_t)fam;
    b->nlabel += n;
    b->fams[fam].count++;
    return 0;
}

int collect_batch_add(collect_batch_t *b, int fam, double value, ...)
{
    collect_label_t labels[16];
    size_t n = 0;
    va_list ap;
    va_start(ap, value);
    for (const char *name; (name = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        if (n == sizeof(labels) / sizeof(labels[0])) {
            va_end(ap);
            return VIGIL_EINVAL;
        }
        labels[n].name = name;
        labels[n].value = v;
        n++;
    }
    va_end(ap);
    return collect_batch_add_labels(b, fam, value, labels, n);
}

int collect_batch_finish(collect_batch_t *b)
{
    size_t pos = 0;
    for (size_t i = 0; i < b->nfam; i++) {
        b->fams[i].first = pos;
        pos += b->fams[i].count;
    }
    if (b->nsample == 0)
        return 0;
    sample_t *sorted = malloc(b->nsample * sizeof(sample_t));
    if (sorted == NULL)
        return VIGIL_ENOMEM;
    /* Counting sort: each family's next free slot, starting at its first. */
    for (size_t i = 0; i < b->nfam; i++)
        b->fams[i].count = 0;
    for (size_t i = 0; i < b->nsample; i++) {
        family_t *f = &b->fams[b->samples[i].fam];
        sorted[f->first + f->count++] = b->samples[i];
    }
    free(b->samples);
    b->bytes -= (b->capsample - b->nsample) * sizeof(sample_t);
    b->samples = sorted;
    b->capsample = b->nsample;
    /* The label array is addressed by index: give its spare doubling slots back too (a
     * shrinking realloc that fails leaves the array as it was). */
    if (b->nlabel > 0 && b->nlabel < b->caplabel) {
        collect_label_t *l = realloc(b->labels, b->nlabel * sizeof(*l));
        if (l != NULL) {
            b->bytes -= (b->caplabel - b->nlabel) * sizeof(*l);
            b->labels = l;
            b->caplabel = b->nlabel;
        }
    }
    return 0;
}

size_t collect_batch_family_count(const collect_batch_t *b) { return b->nfam; }
const char *collect_batch_family_name(const collect_batch_t *b, size_t fam)
{
    return b->fams[fam].name;
}
const char *collect_batch_family_help(const collect_batch_t *b, size_t fam)
{
    return b->fams[fam].help;
}
collect_type_t collect_batch_family_type(const collect_batch_t *b, size_t fam)
{
    return b->fams[fam].type;
}
void collect_batch_family_samples(const collect_batch_t *b, size_t fam, size_t *first,
                                  size_t *count)
{
    *first = b->fams[fam].first;
    *count = b->fams[fam].count;
}
double collect_batch_sample_value(const collect_batch_t *b, size_t sample)
{
    return b->samples[sample].value;
}
size_t collect_batch_sample_labels(const collect_batch_t *b, size_t sample,
                                   const collect_label_t **labels)
{
    *labels = b->labels + b->samples[sample].first_label;
    return b->samples[sample].nlabels;
}
const char *collect_batch_collector(const collect_batch_t *b) { return b->collector; }
double collect_batch_time(const collect_batch_t *b) { return b->time; }

/* ---- text format 0.0.4 ---- */

static int put_escaped(buf_t *out, const char *s, bool quote)
{
    const char *run = s;
    int rc = 0;
    for (; rc == 0 && *s != '\0'; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '\n')
            esc = "\\n";
        else if (quote && *s == '"')
            esc = "\\\"";
        if (esc == NULL)
            continue;
        rc = buf_append(out, run, (size_t)(s - run));
        if (rc == 0)
            rc = buf_puts(out, esc);
        run = s + 1;
    }
    return rc != 0 ? rc : buf_append(out, run, (size_t)(s - run));
}

int collect_put_label_value(buf_t *out, const char *s) { return put_escaped(out, s, true); }

/* Integers (every counter we read) print exactly without the snprintf/strtod round trips of
 * buf_put_double; everything else goes through it. */
static int put_value(buf_t *out, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        char tmp[24];
        char *p = tmp + sizeof(tmp);
        long long i = (long long)v;
        unsigned long long u = i < 0 ? (unsigned long long)(-i) : (unsigned long long)i;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (i < 0)
            *--p = '-';
        return buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
    }
    return buf_put_double(out, v);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

int collect_put_family_header(buf_t *out, const char *name, const char *help,
                              collect_type_t type, bool openmetrics)
{
    const char *type_name = "untyped";
    size_t name_len = strlen(name);
    switch (type) {
    case COLLECT_COUNTER: type_name = "counter"; break;
    case COLLECT_GAUGE:   type_name = "gauge"; break;
    case COLLECT_INFO:    type_name = "gauge"; break;
    case COLLECT_UNTYPED: break;
    }
    if (openmetrics) {
        /* OpenMetrics names the family without the sample suffix its type implies. */
        if (type == COLLECT_COUNTER && has_suffix(name, "_total")) {
            name_len -= strlen("_total");
        } else if (type == COLLECT_INFO && has_suffix(name, "_info")) {
            type_name = "info";
            name_len -= strlen("_info");
        } else if (type == COLLECT_COUNTER || type == COLLECT_UNTYPED) {
            type_name = "unknown";
        }
    }
    int rc = buf_printf(out, "# HELP %.*s ", (int)name_len, name);
    if (rc == 0)
        rc = put_escaped(out, help, openmetrics);
    if (rc == 0)
        rc = buf_printf(out, "\n# TYPE %.*s %s\n", (int)name_len, name, type_name);
    return rc;
}

int collect_batch_expose(const collect_batch_t *b, bool openmetrics, buf_t *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < b->nfam; i++) {
        const family_t *f = &b->fams[i];
        if (f->count == 0)
            continue; /* a family without samples is noise to a scraper */
        rc = collect_put_family_header(out, f->name, f->help, f->type, openmetrics);
        for (size_t s = f->first; rc == 0 && s < f->first + f->count; s++) {
            const sample_t *sm = &b->samples[s];
            rc = buf_puts(out, f->name);
            for (uint32_t l = 0; rc == 0 && l < sm->nlabels; l++) {
                const collect_label_t *lb = &b->labels[sm->first_label + l];
                rc = buf_putc(out, l == 0 ? '{' : ',');
                if (rc == 0)
                    rc = buf_puts(out, lb->name);
                if (rc == 0)
                    rc = buf_puts(out, "=\"");
                if (rc == 0)
                    rc = collect_put_label_value(out, lb->value);
                if (rc == 0)
                    rc = buf_putc(out, '"');
            }
            if (rc == 0 && sm->nlabels > 0)
                rc = buf_putc(out, '}');
            if (rc == 0)
                rc = buf_putc(out, ' ');
            if (rc == 0)
                rc = put_value(out, sm->value);
            if (rc == 0)
                rc = buf_putc(out, '\n');
        }
    }
    return rc;
}
