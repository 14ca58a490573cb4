/*
 * tsdb.h - the embedded time-series store: the one interface the rest of vigil uses.
 *
 * Reading order of the implementation: chunk.c (sample encoding) -> symbols.c (interning) ->
 * index.c + match.c (postings and matchers) -> head.c (series, chunks, limits, locking) ->
 * record.c + wal.c (durability, checkpoints) -> block.c (immutable range files) -> tsdb.c
 * (this API: open/replay, appender, stats) -> query.c (select, iterators, listings) ->
 * compact.c (blocks from the head, truncation, checkpoints, retention). Formats:
 * docs/format/.
 *
 * Life cycle: tsdb_open() maps the blocks in <dir>/blocks, replays <dir>/wal (checkpoint, then
 * segments) into the in-memory head and starts the WAL's flusher and the compactor threads;
 * tsdb_close() syncs and frees. Every compaction interval the compactor writes head ranges
 * that are complete (2 h, once the head holds 1.5 ranges) to blocks, drops them from the head,
 * checkpoints and truncates the WAL, and deletes blocks past retention. Everything below is
 * thread-safe on one tsdb_t unless it says otherwise: any number of threads may append and
 * query at once.
 *
 * For a query engine: tsdb_select() is the whole read interface. It returns an immutable,
 * sorted list of series (labels by index) and opens a sample iterator per series on demand;
 * wrap it as the engine's "Querier.Select(matchers, mint, maxt) -> SeriesSet" with
 * set/labels/iterator adapters, and free the set when the query ends.
 *
 * Reading: a query reads the blocks overlapping its range and the head alike, merging a series
 * found in several (by label set; a timestamp found twice keeps one sample).
 *
 * Labels: a series is identified by its set of (name, value) pairs. Callers may pass labels in
 * any order; the store sorts them by name, drops pairs with an empty value (as Prometheus
 * does: `{a=""}` is the same series as `{}`), and rejects empty or duplicate names.
 *
 * Durability: tsdb_appender_commit(..., TSDB_SYNC) returns only after the committed samples
 * are fsynced in the WAL (for push requests); TSDB_ASYNC returns at once and the WAL's flusher
 * syncs them within the flush interval, 1 s by default (for collectors). Samples become
 * visible to queries as soon as they are added, before the commit (read-uncommitted): a sample
 * a failed commit did not make durable is still served until restart.
 */
#ifndef VIGIL_TSDB_H
#define VIGIL_TSDB_H

#include "log/log.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tsdb tsdb_t;

/* One label pair. In results the strings belong to the store (see each function). */
typedef struct tsdb_label {
    const char *name;
    const char *value;
} tsdb_label_t;

/* Why a sample was rejected: index into tsdb_stats_t.rejected, and the `reason` label of
 * vigil_tsdb_rejected_samples_total (tsdb_reject_reason_name()). */
typedef enum tsdb_reject_reason {
    TSDB_REJECT_OUT_OF_ORDER = 0,  /* older than the series' newest sample, no OOO window */
    TSDB_REJECT_TOO_OLD,           /* older than the newest sample minus the OOO window */
    TSDB_REJECT_DUPLICATE,         /* same timestamp as a stored sample, different value */
    TSDB_REJECT_MAX_SERIES,        /* would create a series past max_series */
    TSDB_REJECT_MAX_LABELS,        /* more labels than max_labels */
    TSDB_REJECT_LABEL_NAME_LENGTH, /* a label name longer than max_label_name_len */
    TSDB_REJECT_LABEL_VALUE_LENGTH,/* a label value longer than max_label_value_len */
    TSDB_REJECT_INVALID_LABELS,    /* empty or duplicate label name, or no labels at all */
    TSDB_REJECT__COUNT
} tsdb_reject_reason_t;

/* "out_of_order", "too_old", "duplicate", "max_series", "max_labels", "label_name_length",
 * "label_value_length", "invalid_labels"; static strings. */
const char *tsdb_reject_reason_name(tsdb_reject_reason_t r);

typedef enum tsdb_durability {
    TSDB_ASYNC = 0, /* fsynced by the flusher within flush_interval_ms */
    TSDB_SYNC,      /* fsynced before the commit returns */
} tsdb_durability_t;

typedef struct tsdb_options {
    const char *dir;                 /* data directory (the WAL goes in dir/wal); NULL or ""
                                        for a store with no WAL (tests, benchmarks) */
    size_t   max_series;             /* 0: 1 000 000 */
    size_t   max_labels;             /* labels per series; 0: 64 */
    size_t   max_label_name_len;     /* bytes; 0: 256 */
    size_t   max_label_value_len;    /* bytes; 0: 4096 */
    int64_t  ooo_window_ms;          /* accept samples this much older than a series' newest;
                                        0: reject every out-of-order sample (the default) */
    uint32_t wal_flush_interval_ms;  /* async durability bound; 0: 1000 */
    size_t   wal_segment_bytes;      /* 0: 128 MiB */
    int64_t  retention_ms;           /* blocks ending this long before the newest sample are
                                        deleted; 0: 15 days */
    uint64_t retention_bytes;        /* while blocks take more than this, the oldest goes;
                                        0: no size limit (the WAL and head are not counted) */
    uint32_t compact_interval_ms;    /* how often the compactor looks; 0: 60 000; UINT32_MAX:
                                        no compactor thread (call tsdb_compact yourself) */
} tsdb_options_t;

/*
 * Opens (creating dir/wal when needed) and replays the WAL. A torn or corrupt WAL tail is cut
 * and logged (segment, offset), not an error. The caller holds the data directory's lock (the
 * agent's datadir_open); the store takes none. On success *out is freed with tsdb_close().
 * VIGIL_EIO (with path) when the directory or a segment cannot be read or written,
 * VIGIL_EINVAL for bad options, VIGIL_ENOMEM.
 */
int tsdb_open(tsdb_t **out, const tsdb_options_t *opts, log_t *lg, vigil_error_t *err);

/* Writes and fsyncs what the WAL buffered, stops its flusher and frees everything. Every
 * series set must have been freed first. NULL is a no-op. */
void tsdb_close(tsdb_t *db);

/* ---- appending -------------------------------------------------------------------------- */

/* A series handle: pass it back to skip the label lookup. Valid until the series is garbage
 * collected (all its samples written to blocks and none newer in the head: see tsdb_compact);
 * tsdb_appender_add_ref() then says VIGIL_ENOENT, and tsdb_appender_add() by labels creates
 * the series again. 0 is never a valid ref. */
typedef uint64_t tsdb_ref_t;

/* A batch of samples from one thread. Not thread-safe itself; use one per thread. */
typedef struct tsdb_appender tsdb_appender_t;

/* A new appender; the caller frees it with tsdb_appender_free(). NULL when out of memory. */
tsdb_appender_t *tsdb_appender_new(tsdb_t *db);

/*
 * Adds one sample to the series `labels` (n pairs; not retained), creating the series when
 * new, and stores *ref (may be NULL) for tsdb_appender_add_ref(). The sample is in the head
 * (visible to queries) when this returns 0; it is durable after tsdb_appender_commit().
 * Rejections count in the stats by reason and return VIGIL_ERANGE (out of order, too old,
 * duplicate), VIGIL_ELIMIT (max series, max labels, name/value length) or VIGIL_EINVAL (invalid
 * labels), with the series and reason in err; the appender stays usable. A sample equal in
 * timestamp and value bits to a stored one is accepted and ignored, as Prometheus does.
 */
int tsdb_appender_add(tsdb_appender_t *app, const tsdb_label_t *labels, size_t n, int64_t t_ms,
                      double v, tsdb_ref_t *ref, vigil_error_t *err);

/* As tsdb_appender_add() for a series already known by its ref; VIGIL_ENOENT for a bad ref. */
int tsdb_appender_add_ref(tsdb_appender_t *app, tsdb_ref_t ref, int64_t t_ms, double v,
                          vigil_error_t *err);

/* Logs the samples added since the last commit to the WAL and, for TSDB_SYNC, waits until
 * they are fsynced. 0, or VIGIL_EIO (disk full, I/O error) with detail: the samples are then
 * in memory but not durable. The appender is empty and reusable afterwards either way. */
int tsdb_appender_commit(tsdb_appender_t *app, tsdb_durability_t d, vigil_error_t *err);

/* Frees the appender; samples not committed are in the head but not logged. NULL: no-op. */
void tsdb_appender_free(tsdb_appender_t *app);

/* One sample, committed TSDB_ASYNC: a convenience for tests and occasional writers. */
int tsdb_append(tsdb_t *db, const tsdb_label_t *labels, size_t n, int64_t t_ms, double v,
                vigil_error_t *err);

/* ---- querying --------------------------------------------------------------------------- */

typedef enum tsdb_match_type {
    TSDB_MATCH_EQ,  /* name="value" */
    TSDB_MATCH_NEQ, /* name!="value" */
    TSDB_MATCH_RE,  /* name=~"re"  fully anchored, as Prometheus: ^(?:re)$ */
    TSDB_MATCH_NRE, /* name!~"re" */
} tsdb_match_type_t;

/*
 * One label matcher, with Prometheus semantics: a series without the label has the value "",
 * so {a!="x"} and {a=~".*"} also select series with no label a, and {a=""} selects exactly
 * those. Regexes are POSIX extended with RE2's common extras translated: (?:...), \d \D \s \S
 * \w \W (also inside [...]), a leading (?i), lazy quantifiers (equivalent under full-string
 * matching); '.' matches newline as in Prometheus 3. Other RE2 syntax (\b, \pN, named groups,
 * inline flags elsewhere) is VIGIL_ENOTSUP with the position in err.
 */
typedef struct tsdb_matcher {
    tsdb_match_type_t type;
    const char       *name;
    const char       *value;
} tsdb_matcher_t;

/* The result of a selection: series sorted by their label sets. */
typedef struct tsdb_series_set tsdb_series_set_t;

/*
 * Selects every series matching all n matchers with at least one sample in [mint, maxt]
 * (milliseconds, inclusive). Matchers that all match the empty string (or n == 0) select
 * every series: PromQL's rule that a selector needs one non-empty matcher is the engine's to
 * enforce. On success *out belongs to the caller, who frees it with tsdb_series_set_free()
 * before tsdb_close(). VIGIL_EINVAL / VIGIL_EPARSE / VIGIL_ENOTSUP (bad matcher or regex, with
 * detail), VIGIL_ENOMEM.
 */
int tsdb_select(tsdb_t *db, const tsdb_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                tsdb_series_set_t **out, vigil_error_t *err);

/* Number of series in the set. */
size_t tsdb_series_set_len(const tsdb_series_set_t *set);

/* Labels of series i (sorted by name), *n of them. Borrowed: valid until the set is freed
 * (the strings are interned in the store, which may drop them once no set or series uses
 * them), never freed by the caller. */
const tsdb_label_t *tsdb_series_labels(const tsdb_series_set_t *set, size_t i, size_t *n);

/* The value of label `name` of series i, or NULL. Borrowed as tsdb_series_labels(). */
const char *tsdb_series_label(const tsdb_series_set_t *set, size_t i, const char *name);

/* Frees the set. NULL is a no-op. Free sets promptly: while one is alive, the compactor waits
 * before dropping from the head a range it has just written to a block (so the set never
 * misses it). */
void tsdb_series_set_free(tsdb_series_set_t *set);

/* Iterator over one series' samples in [mint, maxt] of its set, ascending by timestamp. It may
 * outlive neither its set nor the store. */
typedef struct tsdb_iter tsdb_iter_t;

/*
 * Opens an iterator over series i of the set. Head data is copied now (appends that land later
 * are not seen; no lock is held while iterating); block data is read from the mapping. *out
 * belongs to the caller: tsdb_iter_free(). VIGIL_ENOMEM.
 */
int tsdb_iter_open(const tsdb_series_set_t *set, size_t i, tsdb_iter_t **out);

/* The next sample; false at the end. Staleness markers come back as the exact NaN stored. */
bool tsdb_iter_next(tsdb_iter_t *it, int64_t *t_ms, double *v);

/* Frees the iterator. NULL is a no-op. */
void tsdb_iter_free(tsdb_iter_t *it);

/*
 * The last sample of series i in [mint, maxt] of its set, when the store has it at hand: the
 * head holds the series' newest sample, no block of the series reaches its time and it has no
 * out-of-order data. 1: *t_ms, *v are that sample (what tsdb_iter_next would return last);
 * 0: the series has no sample in the range; -1: not at hand (iterate instead). Instant queries
 * at the present need only this, and it spares decoding the chunk that leads up to it.
 */
int tsdb_series_last(const tsdb_series_set_t *set, size_t i, int64_t *t_ms, double *v);

/* A list of strings returned by the listing functions; the caller frees it with
 * tsdb_strings_free(). The strings are sorted and unique. */
typedef struct tsdb_strings {
    char **v;
    size_t n;
} tsdb_strings_t;

void tsdb_strings_free(tsdb_strings_t *s);

/*
 * Label names (/api/v1/labels) and the values of one label (/api/v1/label/<name>/values) of
 * the series matching the matchers (n may be 0: all series) with samples in [mint, maxt]
 * (with n == 0 the time range is not applied: the head answers from its index). At most
 * `limit` strings (0: all). *out is the caller's (tsdb_strings_free). Errors as tsdb_select().
 */
int tsdb_label_names(tsdb_t *db, const tsdb_matcher_t *m, size_t n, int64_t mint, int64_t maxt,
                     size_t limit, tsdb_strings_t *out, vigil_error_t *err);
int tsdb_label_values(tsdb_t *db, const char *name, const tsdb_matcher_t *m, size_t n,
                      int64_t mint, int64_t maxt, size_t limit, tsdb_strings_t *out,
                      vigil_error_t *err);

/* ---- statistics ------------------------------------------------------------------------- */

typedef struct tsdb_stats {
    uint64_t series;          /* series in the head */
    uint64_t samples;         /* samples stored in the head */
    uint64_t chunks;          /* chunks, open and closed */
    uint64_t chunk_bytes;     /* bytes of encoded chunks, open ones included */
    uint64_t symbols;         /* distinct label strings */
    uint64_t symbol_bytes;
    int64_t  mint, maxt;      /* oldest time in blocks or head, newest in the head;
                                 INT64_MAX / INT64_MIN when empty */
    uint64_t rejected[TSDB_REJECT__COUNT];
    uint64_t wal_bytes;       /* bytes logged since open */
    uint64_t wal_syncs;       /* fdatasync calls since open (group commits) */
    uint64_t wal_segments;    /* segment files in dir/wal */
    uint64_t wal_replayed_records;
    uint64_t wal_replay_skipped;  /* samples dropped at replay (unknown series, limits) */
    uint64_t wal_replay_chunks;   /* chunk records taken whole at replay (not re-encoded) */
    uint64_t wal_replay_covered;  /* samples of samples records read at replay that those
                                     chunks already held */
    uint64_t wal_replay_unread;   /* samples records replay did not need to read: every
                                     sample in them was in a chunk it took whole */
    uint64_t wal_corruptions;     /* bad records found (and cut) at replay */
    uint64_t wal_checkpoints;     /* checkpoints written since open */
    uint64_t blocks;              /* block files in use */
    uint64_t block_bytes;         /* their size */
    uint64_t block_series;        /* series summed over blocks (a series in two counts twice) */
    uint64_t compactions;         /* head ranges written to blocks since open */
    uint64_t blocks_deleted;      /* by retention, since open */
    uint64_t block_merges;        /* blocks merged into longer ranges, since open */
    int64_t  head_min_valid;      /* samples older than this are in blocks (INT64_MIN: none) */
    uint64_t head_series_removed; /* series garbage collected from the head since open */
} tsdb_stats_t;

/* Fills *out. Cheap (counters; no scan). */
void tsdb_stats(tsdb_t *db, tsdb_stats_t *out);

/*
 * One compaction pass, as the compactor thread runs it: while the head spans 1.5 block ranges
 * (2 h) past the start of its oldest range, writes that range to a block, drops it from the
 * head, garbage-collects the series left with nothing in the head and checkpoints the WAL; merges complete windows of blocks into longer ranges (6 h,
 * 18 h, ... up to a tenth of retention); then deletes blocks past retention. Serialised with the
 * compactor. 0, or VIGIL_EIO / VIGIL_ENOMEM with detail (the head keeps the data and the WAL
 * its segments: nothing is lost, the next pass retries). Stores without a directory do
 * nothing and return 0. Waits for series sets created before a new block to be freed: never
 * call it while the calling thread holds a set.
 */
int tsdb_compact(tsdb_t *db, vigil_error_t *err);

/* One row of a top-N list of /api/v1/status/tsdb. */
typedef struct tsdb_stat_entry {
    char    *name;  /* owned by the tsdb_status_t */
    uint64_t value;
} tsdb_stat_entry_t;

/* The cardinality lists of /api/v1/status/tsdb, each sorted by value, largest first. */
typedef struct tsdb_status {
    tsdb_stat_entry_t *series_by_metric;     /* series per __name__ value */
    size_t             n_series_by_metric;
    tsdb_stat_entry_t *values_by_label;      /* distinct values per label name */
    size_t             n_values_by_label;
    tsdb_stat_entry_t *memory_by_label;      /* bytes of distinct values per label name */
    size_t             n_memory_by_label;
    tsdb_stat_entry_t *series_by_pair;       /* series per "name=value" pair */
    size_t             n_series_by_pair;
    uint64_t           label_pairs;          /* distinct "name=value" pairs in the head */
} tsdb_status_t;

/* Computes the top `limit` (0: 10) rows of each list from the index. The caller frees *out
 * with tsdb_status_free(). 0 or VIGIL_ENOMEM. */
int tsdb_status(tsdb_t *db, size_t limit, tsdb_status_t *out);
void tsdb_status_free(tsdb_status_t *st);

#endif /* VIGIL_TSDB_H */
