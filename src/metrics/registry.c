/*
 * registry.c - registries, families, children: creation, validation, lookup by label values,
 * and the sharded cell arena (layout explained in metrics_int.h).
 *
 * Locking: reg->mu guards the family list (and is held through exposition); fam->mu guards a
 * family's children list and table inserts; reg->arena_mu guards pages. Order: reg->mu, then
 * fam->mu, then arena_mu. The hot path (existing children) takes none of them.
 */
#include "metrics/metrics_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MAX_SERIES  10000u
#define DEFAULT_MAX_EXPOSE  (64u << 20)
#define MIN_SHARDS          8u
#define MAX_SHARDS          METRICS_MAX_SLOTS

_Static_assert(sizeof(metrics_page_t) <= METRICS_CACHE_LINE, "page header fits a line");

_Thread_local unsigned metrics_tls_slot __attribute__((tls_model("initial-exec")));

/* The slot pool (see metrics_int.h): bit i set = slot i is held by a live thread. The key's
 * destructor returns a thread's slot when it exits. Process-wide because threads are. */
static _Atomic uint64_t slot_pool;
static pthread_key_t    slot_key;
static pthread_once_t   slot_once = PTHREAD_ONCE_INIT;
static bool             slot_key_ok;

static void slot_release(void *v)
{
    unsigned s = (unsigned)(uintptr_t)v - 1;
    if (s < METRICS_MAX_SLOTS)
        atomic_fetch_and_explicit(&slot_pool, ~(UINT64_C(1) << s), memory_order_release);
}

static void slot_key_init(void)
{
    slot_key_ok = pthread_key_create(&slot_key, slot_release) == 0;
}

unsigned metrics_slot_claim(void)
{
    pthread_once(&slot_once, slot_key_init);
    unsigned s = METRICS_MAX_SLOTS;
    /* Without the exit hook a slot could never be returned: share instead of owning. */
    if (slot_key_ok) {
        uint64_t used = atomic_load_explicit(&slot_pool, memory_order_relaxed);
        while (~used != 0) {
            unsigned bit = (unsigned)__builtin_ctzll(~used);
            if (atomic_compare_exchange_weak_explicit(&slot_pool, &used,
                                                      used | (UINT64_C(1) << bit),
                                                      memory_order_acquire,
                                                      memory_order_relaxed)) {
                s = bit;
                break;
            }
        }
        if (s < METRICS_MAX_SLOTS &&
            pthread_setspecific(slot_key, (void *)(uintptr_t)(s + 1)) != 0) {
            slot_release((void *)(uintptr_t)(s + 1));
            s = METRICS_MAX_SLOTS;
        }
    }
    metrics_tls_slot = s + 1;
    return s;
}

/* ---- validation ------------------------------------------------------------------------ */

static bool is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool metrics_name_valid(const char *name)
{
    if (name == NULL || !(is_alpha_(name[0]) || name[0] == ':'))
        return false;
    for (const char *p = name + 1; *p != '\0'; p++)
        if (!is_alpha_(*p) && !is_digit(*p) && *p != ':')
            return false;
    return true;
}

bool metrics_label_name_valid(const char *name)
{
    if (name == NULL || !is_alpha_(name[0]) || strncmp(name, "__", 2) == 0)
        return false;
    for (const char *p = name + 1; *p != '\0'; p++)
        if (!is_alpha_(*p) && !is_digit(*p))
            return false;
    return true;
}

bool metrics_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if ((*p & 0xe0) == 0xc0) {
            n = 1;
            cp = *p & 0x1f;
        } else if ((*p & 0xf0) == 0xe0) {
            n = 2;
            cp = *p & 0x0f;
        } else if ((*p & 0xf8) == 0xf0) {
            n = 3;
            cp = *p & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* Reject overlong forms, surrogates and values past U+10FFFF. */
        static const uint32_t min_cp[4] = { 0, 0x80, 0x800, 0x10000 };
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* ---- registry -------------------------------------------------------------------------- */

/* Two owned regions per online CPU, so a typical thread pool is fully covered. */
static unsigned default_shards(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long s = cpus > 0 ? 2 * cpus : MIN_SHARDS;
    return s < MIN_SHARDS ? MIN_SHARDS : s > MAX_SHARDS ? MAX_SHARDS : (unsigned)s;
}

int vigil_registry_new(const vigil_registry_opts_t *opts, vigil_registry_t **out,
                       vigil_error_t *err)
{
    *out = NULL;
    unsigned shards = opts != NULL ? opts->shards : 0;
    if (shards > MAX_SHARDS)
        return vigil_error_set(err, VIGIL_EINVAL, "registry: shards %u exceeds %u", shards,
                               MAX_SHARDS);
    vigil_registry_t *reg = calloc(1, sizeof(*reg));
    if (reg == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "registry: out of memory");
    reg->max_series = opts != NULL && opts->max_series_per_family ? opts->max_series_per_family
                                                                  : DEFAULT_MAX_SERIES;
    reg->max_expose = opts != NULL && opts->max_expose_bytes ? opts->max_expose_bytes
                                                             : DEFAULT_MAX_EXPOSE;
    reg->shards = shards != 0 ? shards : default_shards();
    pthread_mutex_init(&reg->mu, NULL);
    pthread_mutex_init(&reg->arena_mu, NULL);
    *out = reg;
    return 0;
}

static void free_strv(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void family_free(vigil_family_t *f)
{
    for (size_t i = 0; i < f->n_children; i++) {
        metrics_sketch_free(f->children[i]->sketch);
        free(f->children[i]);
    }
    free(f->children);
    metrics_table_t *t = atomic_load_explicit(&f->table, memory_order_relaxed);
    while (t != NULL) {
        metrics_table_t *prev = t->retired;
        free(t);
        t = prev;
    }
    free(f->name);
    free(f->help_text);
    free(f->help_om);
    free_strv(f->label_names, f->n_labels);
    free(f->bounds);
    free_strv(f->le_text, f->n_bounds + 1);
    free_strv(f->le_om, f->n_bounds + 1);
    free(f->quantiles);
    free_strv(f->q_text, f->n_quantiles);
    free_strv(f->q_om, f->n_quantiles);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void vigil_registry_free(vigil_registry_t *reg)
{
    if (reg == NULL)
        return;
    for (size_t i = 0; i < reg->n_fams; i++)
        family_free(reg->fams[i]);
    free(reg->fams);
    metrics_page_t *p = reg->pages;
    while (p != NULL) {
        metrics_page_t *next = p->next;
        free(p);
        p = next;
    }
    for (size_t i = 0; i < reg->n_owned; i++)
        free(reg->owned[i]);
    free(reg->owned);
    pthread_mutex_destroy(&reg->arena_mu);
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

int metrics_registry_own(vigil_registry_t *reg, void *p)
{
    pthread_mutex_lock(&reg->mu);
    if (reg->n_owned == reg->cap_owned) {
        size_t cap = reg->cap_owned ? reg->cap_owned * 2 : 8;
        void **v = realloc(reg->owned, cap * sizeof(*v));
        if (v == NULL) {
            pthread_mutex_unlock(&reg->mu);
            return VIGIL_ENOMEM;
        }
        reg->owned = v;
        reg->cap_owned = cap;
    }
    reg->owned[reg->n_owned++] = p;
    pthread_mutex_unlock(&reg->mu);
    return 0;
}

/* ---- cell arena ------------------------------------------------------------------------ */

static metrics_page_t *page_new(unsigned shards, size_t stride)
{
    /* The header takes the first cache line so every region starts on a line boundary. */
    size_t bytes = METRICS_CACHE_LINE + (size_t)(shards + 1) * stride * sizeof(metrics_cell_t);
    metrics_page_t *p = aligned_alloc(METRICS_CACHE_LINE, bytes);
    if (p == NULL)
        return NULL;
    memset(p, 0, bytes);
    p->stride = stride;
    return p;
}

metrics_cell_t *metrics_cells_alloc(vigil_registry_t *reg, size_t k, uint32_t *stride)
{
    pthread_mutex_lock(&reg->arena_mu);
    metrics_cell_t *cells = NULL;
    metrics_page_t *p = reg->pages;
    /* Large children get a page of their own, sized to them (rounded to a line). */
    bool dedicated = k > METRICS_PAGE_CELLS / 4;
    if (dedicated || p == NULL || p->stride != METRICS_PAGE_CELLS ||
        p->used + k > METRICS_PAGE_CELLS) {
        size_t per_line = METRICS_CACHE_LINE / sizeof(metrics_cell_t);
        size_t s = dedicated ? (k + per_line - 1) / per_line * per_line : METRICS_PAGE_CELLS;
        metrics_page_t *np = page_new(reg->shards, s);
        if (np == NULL)
            goto out_unlock;
        if (dedicated && p != NULL) {
            /* Keep the partly filled shared page first so later small children use it. */
            np->next = p->next;
            p->next = np;
        } else {
            np->next = p;
            reg->pages = np;
        }
        p = np;
    }
    cells = (metrics_cell_t *)((char *)p + METRICS_CACHE_LINE) + p->used;
    p->used += k;
    *stride = (uint32_t)p->stride;
out_unlock:
    pthread_mutex_unlock(&reg->arena_mu);
    return cells;
}

/* ---- families ---------------------------------------------------------------------------- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

/* HELP escaping: text 0.0.4 escapes \ and newline; OpenMetrics also ". Caller frees. */
static char *escape_help(const char *s, bool om)
{
    buf_t b;
    buf_init(&b, SIZE_MAX / 4);
    int rc = 0;
    for (const char *p = s; *p != '\0' && rc == 0; p++) {
        if (*p == '\\')
            rc = buf_puts(&b, "\\\\");
        else if (*p == '\n')
            rc = buf_puts(&b, "\\n");
        else if (*p == '"' && om)
            rc = buf_puts(&b, "\\\"");
        else
            rc = buf_putc(&b, *p);
    }
    if (rc != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

/* Formats a bucket bound or quantile for a label value. OpenMetrics wants floats to look like
 * floats ("1.0"), text 0.0.4 prints the shortest form ("1"). Caller frees. */
static char *format_bound(double v, bool om)
{
    char tmp[48];
    size_t n = metrics_format_double(tmp, v);
    if (om && strpbrk(tmp, ".eEIN") == NULL && n + 2 < sizeof(tmp))
        memcpy(tmp + n, ".0", 3);
    return dup_str(tmp);
}

static const char *const suffixes[] = { "", "_total", "_count", "_sum", "_bucket",
                                        "_created", "_info" };

/* True when the samples of one name could collide with those of the other. */
static bool names_clash(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t ls = strlen(suffixes[i]);
        if (la + ls == lb && memcmp(a, b, la) == 0 && strcmp(b + la, suffixes[i]) == 0)
            return true;
        if (lb + ls == la && memcmp(b, a, lb) == 0 && strcmp(a + lb, suffixes[i]) == 0)
            return true;
    }
    return false;
}

static const char *type_name(metrics_type_t t)
{
    static const char *const names[] = { "counter", "gauge", "histogram", "summary" };
    return names[t];
}

static int check_labels(const metrics_family_spec_t *spec, size_t *n_out, vigil_error_t *err)
{
    size_t n = 0;
    if (spec->label_names != NULL)
        while (spec->label_names[n] != NULL)
            n++;
    if (n > VIGIL_MAX_LABELS)
        return vigil_error_set(err, VIGIL_ELIMIT, "metric %s: %zu labels, at most %d",
                               spec->name, n, VIGIL_MAX_LABELS);
    for (size_t i = 0; i < n; i++) {
        const char *ln = spec->label_names[i];
        if (!metrics_label_name_valid(ln))
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "metric %s: invalid label name \"%s\" (want "
                                   "[a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
                                   spec->name, ln);
        if (spec->type == METRICS_HISTOGRAM && strcmp(ln, "le") == 0)
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "metric %s: label \"le\" is reserved for histogram buckets",
                                   spec->name);
        if (spec->type == METRICS_SUMMARY && strcmp(ln, "quantile") == 0)
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "metric %s: label \"quantile\" is reserved for summaries",
                                   spec->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(spec->label_names[j], ln) == 0)
                return vigil_error_set(err, VIGIL_EINVAL, "metric %s: duplicate label \"%s\"",
                                       spec->name, ln);
    }
    *n_out = n;
    return 0;
}

static int setup_histogram(vigil_family_t *f, const metrics_family_spec_t *spec,
                           vigil_error_t *err)
{
    const double *b = spec->buckets;
    size_t n = spec->n_buckets;
    if (b == NULL)
        b = vigil_default_buckets(&n);
    if (n > 0 && isinf(b[n - 1]) && b[n - 1] > 0)
        n--; /* +Inf is always implied */
    if (n > METRICS_MAX_BUCKETS)
        return vigil_error_set(err, VIGIL_ELIMIT, "histogram %s: %zu buckets, at most %u",
                               spec->name, n, METRICS_MAX_BUCKETS);
    for (size_t i = 0; i < n; i++) {
        if (isnan(b[i]) || (isinf(b[i]) && b[i] > 0))
            return vigil_error_set(err, VIGIL_EINVAL, "histogram %s: bucket %zu is %s",
                                   spec->name, i, isnan(b[i]) ? "NaN" : "+Inf before the end");
        if (i > 0 && !(b[i] > b[i - 1]))
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "histogram %s: buckets must increase strictly (bucket %zu)",
                                   spec->name, i);
    }
    f->bounds = malloc((n ? n : 1) * sizeof(double));
    f->le_text = calloc(n + 1, sizeof(char *));
    f->le_om = calloc(n + 1, sizeof(char *));
    f->n_bounds = n;
    if (f->bounds == NULL || f->le_text == NULL || f->le_om == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "histogram %s: out of memory", spec->name);
    for (size_t i = 0; i <= n; i++) {
        double v = i < n ? b[i] : INFINITY;
        if (i < n)
            f->bounds[i] = v;
        f->le_text[i] = format_bound(v, false);
        f->le_om[i] = format_bound(v, true);
        if (f->le_text[i] == NULL || f->le_om[i] == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "histogram %s: out of memory", spec->name);
    }
    return 0;
}

static int setup_summary(vigil_family_t *f, const metrics_family_spec_t *spec,
                         vigil_error_t *err)
{
    static const double default_q[] = { 0.5, 0.9, 0.95, 0.99 };
    const vigil_summary_opts_t *o = spec->summary;
    const double *q = o != NULL && o->quantiles != NULL ? o->quantiles : default_q;
    size_t n = o != NULL && o->quantiles != NULL ? o->n_quantiles : 4;
    double max_age = o != NULL && o->max_age_s > 0 ? o->max_age_s : 600.0;
    unsigned ages = o != NULL && o->age_buckets != 0 ? o->age_buckets : 5;
    if (n > METRICS_MAX_QUANTILES)
        return vigil_error_set(err, VIGIL_ELIMIT, "summary %s: %zu quantiles, at most %u",
                               spec->name, n, METRICS_MAX_QUANTILES);
    if (ages > 16 || !(max_age < 1e9))
        return vigil_error_set(err, VIGIL_EINVAL,
                               "summary %s: age_buckets must be 1..16 and max_age_s finite",
                               spec->name);
    for (size_t i = 0; i < n; i++)
        if (!(q[i] >= 0.0 && q[i] <= 1.0))
            return vigil_error_set(err, VIGIL_EINVAL, "summary %s: quantile %g not in [0, 1]",
                                   spec->name, q[i]);
    f->quantiles = malloc((n ? n : 1) * sizeof(double));
    f->q_text = calloc(n ? n : 1, sizeof(char *));
    f->q_om = calloc(n ? n : 1, sizeof(char *));
    f->n_quantiles = n;
    if (f->quantiles == NULL || f->q_text == NULL || f->q_om == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "summary %s: out of memory", spec->name);
    for (size_t i = 0; i < n; i++) {
        f->quantiles[i] = q[i];
        f->q_text[i] = format_bound(q[i], false);
        f->q_om[i] = format_bound(q[i], true);
        if (f->q_text[i] == NULL || f->q_om[i] == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "summary %s: out of memory", spec->name);
    }
    f->age_buckets = ages;
    f->window_ns = (uint64_t)(max_age * 1e9 / ages);
    if (f->window_ns == 0)
        f->window_ns = 1;
    return 0;
}

static int fams_insert_locked(vigil_registry_t *reg, vigil_family_t *f, vigil_error_t *err)
{
    size_t pos = 0;
    for (size_t i = 0; i < reg->n_fams; i++) {
        if (names_clash(reg->fams[i]->name, f->name))
            return vigil_error_set(err, VIGIL_EEXIST,
                                   "metric %s: clashes with the existing %s %s", f->name,
                                   type_name(reg->fams[i]->type), reg->fams[i]->name);
        if (strcmp(reg->fams[i]->name, f->name) < 0)
            pos = i + 1;
    }
    if (reg->n_fams == reg->cap_fams) {
        size_t cap = reg->cap_fams ? reg->cap_fams * 2 : 16;
        vigil_family_t **v = realloc(reg->fams, cap * sizeof(*v));
        if (v == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "metric %s: out of memory", f->name);
        reg->fams = v;
        reg->cap_fams = cap;
    }
    memmove(reg->fams + pos + 1, reg->fams + pos, (reg->n_fams - pos) * sizeof(*reg->fams));
    reg->fams[pos] = f;
    reg->n_fams++;
    return 0;
}

int metrics_family_new(vigil_registry_t *reg, const metrics_family_spec_t *spec,
                       vigil_family_t **out, vigil_error_t *err)
{
    if (out != NULL)
        *out = NULL;
    if (reg == NULL || spec->name == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "metric: registry and name are required");
    if (!metrics_name_valid(spec->name))
        return vigil_error_set(err, VIGIL_EINVAL,
                               "metric \"%s\": invalid name (want [a-zA-Z_:][a-zA-Z0-9_:]*)",
                               spec->name);
    const char *help = spec->help != NULL ? spec->help : "";
    if (!metrics_utf8_valid(help))
        return vigil_error_set(err, VIGIL_EINVAL, "metric %s: help is not valid UTF-8",
                               spec->name);
    size_t n_labels = 0;
    int rc = check_labels(spec, &n_labels, err);
    if (rc != 0)
        return rc;

    vigil_family_t *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "metric %s: out of memory", spec->name);
    pthread_mutex_init(&f->mu, NULL);
    f->reg = reg;
    f->type = spec->type;
    f->is_func = spec->fn != NULL;
    f->name = dup_str(spec->name);
    if (f->name != NULL && spec->type == METRICS_COUNTER) {
        size_t len = strlen(f->name);
        if (len > 6 && strcmp(f->name + len - 6, "_total") == 0)
            f->name[len - 6] = '\0';
    }
    f->help_text = escape_help(help, false);
    f->help_om = escape_help(help, true);
    f->label_names = calloc(n_labels ? n_labels : 1, sizeof(char *));
    if (f->name == NULL || f->help_text == NULL || f->help_om == NULL || f->label_names == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "metric %s: out of memory", spec->name);
        goto out_free;
    }
    for (size_t i = 0; i < n_labels; i++) {
        f->label_names[i] = dup_str(spec->label_names[i]);
        if (f->label_names[i] == NULL) {
            f->n_labels = i;
            rc = vigil_error_set(err, VIGIL_ENOMEM, "metric %s: out of memory", spec->name);
            goto out_free;
        }
    }
    f->n_labels = n_labels;
    if (spec->type == METRICS_HISTOGRAM)
        rc = setup_histogram(f, spec, err);
    else if (spec->type == METRICS_SUMMARY)
        rc = setup_summary(f, spec, err);
    if (rc != 0)
        goto out_free;

    metrics_table_t *t = calloc(1, sizeof(*t) + 16 * sizeof(t->slot[0]));
    if (t == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "metric %s: out of memory", spec->name);
        goto out_free;
    }
    t->mask = 15;
    atomic_init(&f->table, t);

    if (n_labels == 0) {
        metrics_child_t *c = metrics_child_get(f, f->type, NULL, 0, err);
        if (c == NULL) {
            rc = err != NULL ? err->code : VIGIL_ENOMEM;
            goto out_free;
        }
        c->fn = spec->fn;
        c->fn_arg = spec->fn_arg;
    }

    pthread_mutex_lock(&reg->mu);
    rc = fams_insert_locked(reg, f, err);
    pthread_mutex_unlock(&reg->mu);
    if (rc != 0)
        goto out_free;
    if (out != NULL)
        *out = f;
    return 0;

out_free:
    family_free(f);
    return rc;
}

/* ---- children ---------------------------------------------------------------------------- */

uint64_t metrics_hash_values(const char *const *values, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)values[i];
        do {
            h ^= *p;
            h *= 0x100000001b3ull;
        } while (*p++ != '\0');
    }
    return h;
}

static bool child_matches(const metrics_child_t *c, uint64_t h, const char *const *values,
                          size_t n)
{
    if (c->hash != h)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(c->values[i], values[i]) != 0)
            return false;
    return true;
}

static metrics_child_t *table_find(const metrics_table_t *t, uint64_t h,
                                   const char *const *values, size_t n)
{
    for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
        metrics_child_t *c = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        if (c == NULL || child_matches(c, h, values, n))
            return c;
    }
}

static void table_put(metrics_table_t *t, metrics_child_t *c)
{
    size_t i = (size_t)c->hash & t->mask;
    while (atomic_load_explicit(&t->slot[i], memory_order_relaxed) != NULL)
        i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slot[i], c, memory_order_release);
}

/* Builds a child (not yet published): cells, label copies, the rendered label string. */
static metrics_child_t *child_new(vigil_family_t *f, uint64_t h, const char *const *values,
                                  vigil_error_t *err)
{
    buf_t lb;
    buf_init(&lb, SIZE_MAX / 4);
    size_t strings = 0;
    int rc = 0;
    for (size_t i = 0; i < f->n_labels && rc == 0; i++) {
        strings += strlen(values[i]) + 1;
        if (i > 0)
            rc = buf_putc(&lb, ',');
        if (rc == 0)
            rc = buf_puts(&lb, f->label_names[i]);
        if (rc == 0)
            rc = buf_puts(&lb, "=\"");
        if (rc == 0)
            rc = metrics_escape_label(&lb, values[i]);
        if (rc == 0)
            rc = buf_putc(&lb, '"');
    }
    size_t head = (sizeof(metrics_child_t) + sizeof(char *) - 1) / sizeof(char *) *
                  sizeof(char *);
    size_t bytes = head + f->n_labels * sizeof(char *) + strings + lb.len + 1;
    bytes = (bytes + METRICS_CACHE_LINE - 1) / METRICS_CACHE_LINE * METRICS_CACHE_LINE;
    metrics_child_t *c = rc == 0 ? aligned_alloc(METRICS_CACHE_LINE, bytes) : NULL;
    if (c == NULL)
        goto out_nomem;
    memset(c, 0, bytes);
    c->fam = f;
    c->hash = h;
    c->values = (char **)((char *)c + head);
    char *s = (char *)(c->values + f->n_labels);
    for (size_t i = 0; i < f->n_labels; i++) {
        size_t len = strlen(values[i]) + 1;
        memcpy(s, values[i], len);
        c->values[i] = s;
        s += len;
    }
    c->labels = s;
    c->labels_len = lb.len;
    if (lb.len > 0)
        memcpy(s, lb.data, lb.len);
    s[lb.len] = '\0';
    buf_free(&lb);

    vigil_registry_t *reg = f->reg;
    c->shards = reg->shards;
    size_t k = 0;
    switch (f->type) {
    case METRICS_COUNTER:   k = 2; break;                /* integer part, double part */
    case METRICS_HISTOGRAM: k = f->n_bounds + 2; break;  /* buckets incl. +Inf, sum */
    case METRICS_SUMMARY:   k = 2; break;                /* count, sum */
    case METRICS_GAUGE:     k = 0; break;
    }
    if (k > 0) {
        c->cells = metrics_cells_alloc(reg, k, &c->stride);
        if (c->cells == NULL) {
            free(c);
            return vigil_error_set(err, VIGIL_ENOMEM, "metric %s: out of memory", f->name),
                   NULL;
        }
    }
    c->bounds = f->bounds;
    c->n_bounds = (uint32_t)f->n_bounds;
    if (f->type == METRICS_SUMMARY) {
        c->sketch = metrics_sketch_new(f->age_buckets, f->window_ns);
        if (c->sketch == NULL) {
            /* The cells stay in the arena until the registry goes: a bounded loss. */
            free(c);
            return vigil_error_set(err, VIGIL_ENOMEM, "metric %s: out of memory", f->name),
                   NULL;
        }
    }
    return c;

out_nomem:
    buf_free(&lb);
    return vigil_error_set(err, VIGIL_ENOMEM, "metric %s: out of memory", f->name), NULL;
}

/* Inserts `c` (fam->mu held): grows the table at half load, appends to the children list. */
static int child_publish_locked(vigil_family_t *f, metrics_child_t *c)
{
    if (f->n_children == f->cap_children) {
        size_t cap = f->cap_children ? f->cap_children * 2 : 8;
        metrics_child_t **v = realloc(f->children, cap * sizeof(*v));
        if (v == NULL)
            return VIGIL_ENOMEM;
        f->children = v;
        f->cap_children = cap;
    }
    metrics_table_t *t = atomic_load_explicit(&f->table, memory_order_relaxed);
    if ((f->n_children + 1) * 2 > t->mask + 1) {
        size_t slots = (t->mask + 1) * 2;
        metrics_table_t *nt = calloc(1, sizeof(*nt) + slots * sizeof(nt->slot[0]));
        if (nt == NULL)
            return VIGIL_ENOMEM;
        nt->mask = slots - 1;
        nt->retired = t;
        for (size_t i = 0; i <= t->mask; i++) {
            metrics_child_t *old = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
            if (old != NULL)
                table_put(nt, old);
        }
        atomic_store_explicit(&f->table, nt, memory_order_release);
        t = nt;
    }
    table_put(t, c);
    f->children[f->n_children++] = c;
    return 0;
}

metrics_child_t *metrics_child_get(vigil_family_t *f, metrics_type_t type,
                                   const char *const *values, size_t n, vigil_error_t *err)
{
    if (f == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "metric: NULL family"), NULL;
    if (f->type != type)
        return vigil_error_set(err, VIGIL_EINVAL, "metric %s: is a %s, not a %s", f->name,
                               type_name(f->type), type_name(type)), NULL;
    if (n != f->n_labels)
        return vigil_error_set(err, VIGIL_EINVAL, "metric %s: %zu label values for %zu labels",
                               f->name, n, f->n_labels), NULL;
    for (size_t i = 0; i < n; i++)
        if (values[i] == NULL)
            return vigil_error_set(err, VIGIL_EINVAL, "metric %s: label %s is NULL", f->name,
                                   f->label_names[i]), NULL;

    uint64_t h = metrics_hash_values(values, n);
    metrics_child_t *c = table_find(atomic_load_explicit(&f->table, memory_order_acquire), h,
                                    values, n);
    if (c != NULL)
        return c;

    /* First sight of this label set: validate, then build and publish under the lock. */
    for (size_t i = 0; i < n; i++)
        if (!metrics_utf8_valid(values[i]))
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "metric %s: value of label %s is not valid UTF-8", f->name,
                                   f->label_names[i]), NULL;
    pthread_mutex_lock(&f->mu);
    c = table_find(atomic_load_explicit(&f->table, memory_order_relaxed), h, values, n);
    if (c != NULL)
        goto out_unlock;
    if (f->n_children >= f->reg->max_series) {
        vigil_error_set(err, VIGIL_ELIMIT, "metric %s: more than %zu series", f->name,
                        f->reg->max_series);
        goto out_unlock;
    }
    c = child_new(f, h, values, err);
    if (c == NULL)
        goto out_unlock;
    if (child_publish_locked(f, c) != 0) {
        metrics_sketch_free(c->sketch);
        free(c);
        c = NULL;
        vigil_error_set(err, VIGIL_ENOMEM, "metric %s: out of memory", f->name);
    }
out_unlock:
    pthread_mutex_unlock(&f->mu);
    return c;
}

/* ---- typed constructors ---------------------------------------------------------------- */

int vigil_counter_new(vigil_registry_t *reg, const char *name, const char *help,
                      const char *const *label_names, vigil_family_t **out, vigil_error_t *err)
{
    metrics_family_spec_t s = { .type = METRICS_COUNTER, .name = name, .help = help,
                                .label_names = label_names };
    return metrics_family_new(reg, &s, out, err);
}

int vigil_gauge_new(vigil_registry_t *reg, const char *name, const char *help,
                    const char *const *label_names, vigil_family_t **out, vigil_error_t *err)
{
    metrics_family_spec_t s = { .type = METRICS_GAUGE, .name = name, .help = help,
                                .label_names = label_names };
    return metrics_family_new(reg, &s, out, err);
}

int vigil_histogram_new(vigil_registry_t *reg, const char *name, const char *help,
                        const char *const *label_names, const double *buckets, size_t n_buckets,
                        vigil_family_t **out, vigil_error_t *err)
{
    metrics_family_spec_t s = { .type = METRICS_HISTOGRAM, .name = name, .help = help,
                                .label_names = label_names, .buckets = buckets,
                                .n_buckets = n_buckets };
    return metrics_family_new(reg, &s, out, err);
}

int vigil_summary_new(vigil_registry_t *reg, const char *name, const char *help,
                      const char *const *label_names, const vigil_summary_opts_t *opts,
                      vigil_family_t **out, vigil_error_t *err)
{
    metrics_family_spec_t s = { .type = METRICS_SUMMARY, .name = name, .help = help,
                                .label_names = label_names, .summary = opts };
    return metrics_family_new(reg, &s, out, err);
}

int vigil_gauge_func_new(vigil_registry_t *reg, const char *name, const char *help,
                         double (*fn)(void *arg), void *arg, vigil_error_t *err)
{
    if (fn == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "metric %s: NULL callback", name);
    metrics_family_spec_t s = { .type = METRICS_GAUGE, .name = name, .help = help,
                                .fn = fn, .fn_arg = arg };
    return metrics_family_new(reg, &s, NULL, err);
}

int vigil_counter_func_new(vigil_registry_t *reg, const char *name, const char *help,
                           double (*fn)(void *arg), void *arg, vigil_error_t *err)
{
    if (fn == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "metric %s: NULL callback", name);
    metrics_family_spec_t s = { .type = METRICS_COUNTER, .name = name, .help = help,
                                .fn = fn, .fn_arg = arg };
    return metrics_family_new(reg, &s, NULL, err);
}

vigil_counter_t *vigil_counter_labels(vigil_family_t *f, const char *const *values, size_t n,
                                      vigil_error_t *err)
{
    return (vigil_counter_t *)metrics_child_get(f, METRICS_COUNTER, values, n, err);
}

vigil_gauge_t *vigil_gauge_labels(vigil_family_t *f, const char *const *values, size_t n,
                                  vigil_error_t *err)
{
    return (vigil_gauge_t *)metrics_child_get(f, METRICS_GAUGE, values, n, err);
}

vigil_histogram_t *vigil_histogram_labels(vigil_family_t *f, const char *const *values,
                                          size_t n, vigil_error_t *err)
{
    return (vigil_histogram_t *)metrics_child_get(f, METRICS_HISTOGRAM, values, n, err);
}

vigil_summary_t *vigil_summary_labels(vigil_family_t *f, const char *const *values, size_t n,
                                      vigil_error_t *err)
{
    return (vigil_summary_t *)metrics_child_get(f, METRICS_SUMMARY, values, n, err);
}
