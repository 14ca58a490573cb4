/*
 * ingest.h - samples into the store: collector batches, and expositions in Prometheus text or
 * OpenMetrics (POST /api/v1/import/prometheus, the agent's own metrics, `vigil import`).
 */
#ifndef VIGIL_AGENT_INGEST_H
#define VIGIL_AGENT_INGEST_H

#include "api/api.h"
#include "collect/collect.h"
#include "expfmt/expfmt.h"
#include "tsdb/tsdb.h"

#include <pthread.h>

/*
 * The HELP/TYPE/UNIT of the metric families ingested so far, for /api/v1/metadata: one entry
 * per family name, the latest lines win. In memory only (Prometheus too keeps metadata from
 * scrapes, not in blocks). Thread-safe: ingests and the API may use it at once.
 */
typedef struct ingest_metadata ingest_metadata_t;

/* A new empty map; the caller frees it with ingest_metadata_free(). NULL when out of memory. */
ingest_metadata_t *ingest_metadata_new(void);
void ingest_metadata_free(ingest_metadata_t *m);

/* An api_t.metadata walker (ctx = the ingest_metadata_t): calls `each` per family in name
 * order under the map's lock; returns the first non-zero value `each` returned, or 0. */
int ingest_metadata_walk(void *ctx, api_metadata_fn each, void *arg);

/* Number of families recorded. */
size_t ingest_metadata_count(ingest_metadata_t *m);

/* Records family `name`'s type and help (copied; nothing is copied when they are unchanged,
 * so steady collector cycles allocate nothing). Out of memory only loses metadata. */
void ingest_metadata_set(ingest_metadata_t *m, const char *name, const char *type,
                         const char *help);

typedef struct ingest_options {
    expfmt_format_t     format;
    expfmt_mode_t       mode;
    int64_t             default_time_ms;  /* for samples without a timestamp */
    const tsdb_label_t *extra;            /* added to every sample, replacing same-named ones */
    size_t              n_extra;
    tsdb_durability_t   durability;       /* of the final commit */
    ingest_metadata_t  *metadata;         /* records HELP/TYPE/UNIT here; NULL: not kept */
} ingest_options_t;

typedef struct ingest_result {
    size_t        samples;        /* appended */
    size_t        rejected;       /* refused by the store (out of order, limits, ...) */
    vigil_error_t first_reject;   /* why the first refused sample was refused */
} ingest_result_t;

/*
 * Parses the whole exposition first: a syntax error returns VIGIL_EPARSE with "line:col:
 * message" in err and stores nothing. Otherwise appends every sample and commits with the
 * requested durability; samples the store refuses are counted in *res, not errors. Returns 0,
 * the commit's VIGIL_EIO (nothing is then acknowledged as durable) or VIGIL_ENOMEM.
 */
int ingest_exposition(tsdb_t *db, const char *data, size_t len, const ingest_options_t *opts,
                      ingest_result_t *res, vigil_error_t *err);

/* Where collector batches go: the store, the metadata map (may be NULL), and per collector the
 * series of its previous run, so that a series a collector stops reporting (a process that
 * exited, an unmounted filesystem, a removed container) gets a staleness marker and leaves
 * queries at once, as a series gone from a Prometheus scrape does, instead of lingering for
 * the 5 m lookback. Set up with ingest_sink_init(), release with ingest_sink_free(). */
typedef struct ingest_collector_series ingest_collector_series_t;

typedef struct ingest_sink {
    tsdb_t                     *db;
    ingest_metadata_t          *metadata;
    pthread_mutex_t             lock;        /* guards the `collectors` array itself */
    ingest_collector_series_t **collectors;  /* one per collector seen; after lookup each is
                                                used only by its collector's thread */
    size_t                      ncollectors;
} ingest_sink_t;

/* Prepares `sink` (db and metadata set by the caller). */
void ingest_sink_init(ingest_sink_t *sink, tsdb_t *db, ingest_metadata_t *metadata);

/* Frees the per-collector history; call after the collectors stopped. A zeroed sink (never
 * initialised) is left alone. */
void ingest_sink_free(ingest_sink_t *sink);

/* A collect_on_batch() subscriber (ctx = an ingest_sink_t that outlives the collectors):
 * appends the batch with its run's timestamp, metric name as __name__, durability
 * TSDB_ASYNC, records each family's type and help, and writes a staleness marker (the NaN
 * 0x7ff0000000000002) at the same timestamp for every series the collector's previous run
 * had and this one lacks. */
void ingest_collect_batch(void *ctx, const collect_batch_t *b);

#endif /* VIGIL_AGENT_INGEST_H */
