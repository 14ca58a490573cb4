/*
 * storage.h - what the PromQL engine needs from a time-series store, as a vtable.
 *
 * The engine never includes a store's headers: it selects series through this interface, so the
 * real store (src/tsdb) and the in-memory one of the tests (memstore.c) are interchangeable. A
 * store implements promql_storage_ops_t; a selection is a promql_series_set_t whose first member
 * is the ops pointer of the implementation (embed it as the first field of your own struct).
 *
 * Threading: one query uses one series set at a time from one thread. Label strings a set hands
 * out stay valid until that set's close(); the engine copies what it keeps.
 */
#ifndef VIGIL_PROMQL_STORAGE_H
#define VIGIL_PROMQL_STORAGE_H

#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One label; a label set is an array sorted by name with unique names. */
typedef struct promql_label {
    const char *name;
    const char *value;
} promql_label_t;

typedef struct promql_labels {
    const promql_label_t *v;  /* sorted by name (strcmp) */
    size_t n;
} promql_labels_t;

typedef enum promql_match_op {
    PROMQL_MATCH_EQ,   /* =  */
    PROMQL_MATCH_NEQ,  /* != */
    PROMQL_MATCH_RE,   /* =~ (fully anchored) */
    PROMQL_MATCH_NRE,  /* !~ (fully anchored) */
} promql_match_op_t;

/* A label matcher. A missing label matches as the empty string, as in Prometheus. */
typedef struct promql_matcher {
    promql_match_op_t op;
    const char *name;
    const char *value;  /* literal, or the regex source as written */
    void *re;           /* compiled regex (engine-private); use promql_matcher_matches() */
} promql_matcher_t;

/* True when `value` (NULL = label absent = "") satisfies `m`. Stores call this rather than
 * interpreting the regex themselves, so every store matches exactly like the engine. */
bool promql_matcher_matches(const promql_matcher_t *m, const char *value);

/* Kind of one sample handed out by a series set. */
enum {
    PROMQL_SAMPLE_END = 0,        /* no more samples in this series */
    PROMQL_SAMPLE_FLOAT = 1,      /* *v holds the value (may be the staleness NaN) */
    PROMQL_SAMPLE_HISTOGRAM = 2,  /* a native histogram: the engine refuses it (not supported) */
    PROMQL_SAMPLE_UNKNOWN = 3,    /* last(): not at hand; read the samples instead */
};

/* Bit pattern of Prometheus' staleness marker. */
#define PROMQL_STALE_NAN_BITS 0x7ff0000000000002ULL

typedef struct promql_series_set promql_series_set_t;

typedef struct promql_series_set_ops {
    /* Advances to the next series: 1 = there is one, 0 = end, < 0 = VIGIL_E* error. */
    int (*next)(promql_series_set_t *ss, vigil_error_t *err);
    /* Labels of the current series, valid until close(). */
    promql_labels_t (*labels)(promql_series_set_t *ss);
    /* Next sample of the current series in time order within [mint, maxt]: one of
     * PROMQL_SAMPLE_*, or < 0 on error. */
    int (*sample)(promql_series_set_t *ss, int64_t *t, double *v, vigil_error_t *err);
    /* Releases the set (and everything it handed out). */
    void (*close)(promql_series_set_t *ss);
    /* Optional (NULL when not offered): the current series' last sample in [mint, maxt], for
     * selectors evaluated at a single time, which need no other. PROMQL_SAMPLE_FLOAT with *t,
     * *v; PROMQL_SAMPLE_END when the series has no sample in range; PROMQL_SAMPLE_UNKNOWN when
     * the store cannot tell without reading them (the engine then calls sample()); < 0 on
     * error. Called instead of sample(), before it. */
    int (*last)(promql_series_set_t *ss, int64_t *t, double *v, vigil_error_t *err);
} promql_series_set_ops_t;

struct promql_series_set {
    const promql_series_set_ops_t *ops;
};

/* A list of strings a store returns from label_names / label_values. The caller frees it with
 * promql_strings_free(). */
typedef struct promql_strings {
    char **v;
    size_t n;
} promql_strings_t;

void promql_strings_free(promql_strings_t *s);

typedef struct promql_storage_ops {
    /* Selects the series matching all `ms` that have samples in [mint, maxt] (ms since epoch,
     * inclusive), sorted by labels. The caller closes *out. 0 or a VIGIL_E* code. */
    int (*select)(void *ctx, const promql_matcher_t *ms, size_t n, int64_t mint, int64_t maxt,
                  promql_series_set_t **out, vigil_error_t *err);
    /* Sorted, unique label names / values of one name over the series matching `ms` (all
     * series when n == 0). The caller frees *out with promql_strings_free(). */
    int (*label_names)(void *ctx, const promql_matcher_t *ms, size_t n, int64_t mint,
                       int64_t maxt, promql_strings_t *out, vigil_error_t *err);
    int (*label_values)(void *ctx, const char *name, const promql_matcher_t *ms, size_t n,
                        int64_t mint, int64_t maxt, promql_strings_t *out, vigil_error_t *err);
} promql_storage_ops_t;

/* A store: its ops and its context. Owned by the caller; the engine only borrows it. */
typedef struct promql_storage {
    const promql_storage_ops_t *ops;
    void *ctx;
} promql_storage_t;

/* ---- memstore: the in-memory store of the .test interpreter and unit tests ---- */

typedef struct promql_memstore promql_memstore_t;

/* Creates an empty store; free with promql_memstore_free(). NULL on out-of-memory. */
promql_memstore_t *promql_memstore_create(void);
void promql_memstore_free(promql_memstore_t *m);

/* Appends one sample to the series with labels `ls` (any order; copied). Samples of a series
 * must come in increasing time order; one at an existing timestamp replaces it.
 * `histogram` marks a native-histogram sample (its value is ignored). 0 or VIGIL_ENOMEM. */
int promql_memstore_add(promql_memstore_t *m, const promql_label_t *ls, size_t n, int64_t t,
                        double v, bool histogram);

/* Drops every series. */
void promql_memstore_clear(promql_memstore_t *m);

/* The storage interface over `m` (borrowed; valid while `m` lives). */
promql_storage_t promql_memstore_storage(promql_memstore_t *m);

#endif /* VIGIL_PROMQL_STORAGE_H */
