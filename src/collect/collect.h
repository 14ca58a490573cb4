/*
 * collect.h - the collector scheduler and the sample model of the agent.
 *
 * A collector is one row of a table (collect_def_t): a name, a default interval and three hooks
 * (init / collect / destroy) around a private state pointer. There is no state in statics: every
 * collector keeps what it needs (its read buffer, compiled patterns, caches) in that state, so
 * two collect_t instances never share anything and tests can run collectors against fixture
 * trees side by side.
 *
 * Each collect() call fills a collect_batch_t: metric families (name, help, type) and samples
 * (label pairs + value). A batch is arena-backed and reused every cycle, so a steady-state cycle
 * allocates nothing: strings are copied into arena blocks that are rewound, not freed.
 *
 * Scheduling: a small elastic pool of workers over a deadline-ordered table. A worker runs
 * the due collector with the earliest due time (table order breaks ties), then the next, and
 * sleeps until the next due time when none is due; a collector never runs twice at once.
 * Each collector runs at a fixed rate (next = previous due time + interval); ticks missed
 * because a run was slower than its interval are skipped, never queued. One worker is
 * normally enough (the host collectors take well under a millisecond each), so the pool is
 * one worker plus a watchdog thread instead of a thread per collector. The watchdog is what
 * keeps a pool from repeating node_exporter's "stuck mounts" failure (k collectors blocked
 * in statfs on a hung NFS mount, or in a wedged sysfs read, holding every worker): when a
 * collector has been due for 10 ms while every worker is inside a run, it starts another
 * worker, up to one per collector, so a slow or stuck collector delays the others by at most
 * that much, however many are stuck. A worker that finds nothing due while another one
 * waits leaves, so the pool shrinks back once the slow runs return. All threads sleep on
 * one condition variable (CLOCK_MONOTONIC), so collect_stop() wakes them at once and joins
 * them as soon as their current collect() returns.
 *
 * After a successful run the worker hands the finished batch to the subscribers
 * (collect_on_batch) and then swaps it with the slot's "latest" batch under a short per-slot
 * lock; readers (collect_expose_text) take the same lock while formatting that one batch. A
 * failed run increments vigil_collector_errors_total{collector} and its partial batch is
 * dropped: the previous complete batch stays the latest.
 */
#ifndef VIGIL_COLLECT_H
#define VIGIL_COLLECT_H

#include "log/log.h"
#include "util/buf.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct collect collect_t;
typedef struct collect_batch collect_batch_t;

/* ---------------------------------------------------------------------------------------------
 * Sample model
 * ------------------------------------------------------------------------------------------ */

typedef enum collect_type {
    COLLECT_COUNTER = 0,
    COLLECT_GAUGE,
    COLLECT_UNTYPED,
    COLLECT_INFO, /* value 1, the data is in the labels; text format 0.0.4 exposes it as gauge */
} collect_type_t;

typedef struct collect_label {
    const char *name;
    const char *value;
} collect_label_t;

/*
 * Starts (or finds, when this batch already has one of that name) the metric family `name`
 * and returns its index (>= 0) for collect_batch_add(), or a negative VIGIL_E* code. Name and
 * help are copied into the batch. Families keep the order in which they were first started.
 */
int collect_batch_family(collect_batch_t *b, const char *name, const char *help,
                         collect_type_t type);

/*
 * Appends one sample to family `fam`. The variadic part is label name/value pairs of
 * `const char *`, ending in NULL: collect_batch_add(b, fam, v, "device", dev, NULL).
 * Names and values are copied. Samples may be added to families in any order; the batch
 * groups them by family, keeping their relative order, when the cycle ends.
 * 0, VIGIL_EINVAL (bad family index) or VIGIL_ELIMIT (batch over its memory cap).
 */
int collect_batch_add(collect_batch_t *b, int fam, double value, ...)
    __attribute__((sentinel));

/* Same with an array of n labels. */
int collect_batch_add_labels(collect_batch_t *b, int fam, double value,
                             const collect_label_t *labels, size_t n);

/* Reading a finished batch (subscribers, exposition). Pointers stay valid until the callback
 * returns (subscribers) or the caller's lock is released. */
size_t collect_batch_family_count(const collect_batch_t *b);
const char *collect_batch_family_name(const collect_batch_t *b, size_t fam);
const char *collect_batch_family_help(const collect_batch_t *b, size_t fam);
collect_type_t collect_batch_family_type(const collect_batch_t *b, size_t fam);
/* Samples of family `fam` are indices [*first, *first + *count) of the sample accessors. */
void collect_batch_family_samples(const collect_batch_t *b, size_t fam, size_t *first,
                                  size_t *count);
double collect_batch_sample_value(const collect_batch_t *b, size_t sample);
size_t collect_batch_sample_labels(const collect_batch_t *b, size_t sample,
                                   const collect_label_t **labels);
/* The collector that produced the batch, and when its run started (Unix seconds). */
const char *collect_batch_collector(const collect_batch_t *b);
double collect_batch_time(const collect_batch_t *b);

/* ---------------------------------------------------------------------------------------------
 * Collector table
 * ------------------------------------------------------------------------------------------ */

/* What the collectors may ask of the system besides reading files, so that tests can pin it.
 * A NULL member (or a NULL table) means the real system call. */
typedef struct collect_statfs {
    uint64_t blocks, bfree, bavail, bsize, files, ffree;
} collect_statfs_t;

typedef struct collect_sys {
    void *ctx;
    /* Wall-clock time in seconds since the epoch. */
    double (*now)(void *ctx);
    /* statfs(2) of `path`: 0, or a negative errno. */
    int (*statfs)(void *ctx, const char *path, collect_statfs_t *out);
    /* getpid(2): which process is "the agent itself" for the process collector. */
    int (*getpid)(void *ctx);
    /* sysconf(_SC_PAGESIZE): RSS in /proc/PID/stat is in pages. */
    long (*page_size)(void *ctx);
} collect_sys_t;

/* Data one collector publishes for others (the GPU collector's per-process memory, which the
 * process collector joins by pid). Owned by collect_t; see collect_int.h. */
typedef struct collect_shared collect_shared_t;

/* Handed to every collector's init; valid (but for opts) for the collector's whole life. */
typedef struct collect_env {
    const char *procfs;  /* node_exporter --path.procfs */
    const char *sysfs;   /* --path.sysfs */
    const char *rootfs;  /* --path.rootfs */
    const struct collect_options *opts; /* during init only (NULL afterwards) */
    const collect_sys_t *sys; /* never NULL; members may be NULL (see above) */
    log_t *log;
    collect_shared_t *shared; /* never NULL; thread-safe (collect_int.h) */
} collect_env_t;

typedef struct collect_def {
    const char *name;           /* [a-z0-9_]+, unique; the {collector} label */
    uint32_t    interval_ms;    /* default interval; 0 = collect_options_t.default_interval_ms */
    bool        enabled;        /* enabled unless the options say otherwise */
    /* Creates the private state in *state (freed by destroy). Failing fails collect_create. */
    int  (*init)(void **state, const collect_env_t *env, vigil_error_t *err);
    /* One run: fills `b` (empty on entry). Returns 0 or a VIGIL_E* code with detail in err. */
    int  (*collect)(void *state, collect_batch_t *b, vigil_error_t *err);
    /* Frees the state; NULL state is possible when init set none. */
    void (*destroy)(void *state);
} collect_def_t;

/* The built-in collectors in table order: the host collectors ("cpu", "stat", ...), then
 * "gpu", "process" (after gpu, whose process list it joins) and "cgroup"; *n gets the count.
 * Static storage, never freed. */
const collect_def_t *const *collect_host_table(size_t *n);

/* ---------------------------------------------------------------------------------------------
 * Scheduler
 * ------------------------------------------------------------------------------------------ */

typedef struct collect_enable {
    const char *name;  /* a collector's name */
    bool enabled;
} collect_enable_t;

typedef struct collect_interval {
    const char *name;
    uint32_t interval_ms; /* > 0 */
} collect_interval_t;

typedef struct collect_options {
    const char *procfs;              /* NULL: "/proc" */
    const char *sysfs;               /* NULL: "/sys" */
    const char *rootfs;              /* NULL: "/" */
    uint32_t    default_interval_ms; /* 0: 1000 */
    /* Overrides by collector name; an unknown name fails collect_create with VIGIL_EINVAL. */
    const collect_enable_t   *enable;
    size_t                    n_enable;
    const collect_interval_t *intervals;
    size_t                    n_intervals;
    /* Extra collectors appended to the built-in table (tests, plug-ins). */
    const collect_def_t *extra;
    size_t               n_extra;
    /* POSIX extended regexes; NULL: the defaults of Debian's prometheus-node-exporter 1.5,
     * listed in docs/collectors.md. */
    const char *filesystem_mount_points_exclude;
    const char *filesystem_fs_types_exclude;
    const char *diskstats_device_exclude;
    const char *netdev_device_exclude;
    const char *vmstat_fields;
    const collect_sys_t *sys;        /* NULL: the real system */

    /* "gpu": the NVML library to dlopen. NULL: $VIGIL_NVML_LIBRARY, else "libnvidia-ml.so.1".
     * A library that cannot be loaded means no GPU metrics, not an error. */
    const char *nvml_library;

    /* "process": besides the agent itself (always), the processes selected by any of: */
    const int  *process_pids;           /* these pids, while they exist */
    size_t      n_process_pids;
    const char *process_name_regex;     /* ERE matched against comm and against the command
                                         * line (arguments joined by spaces); NULL: none */
    const char *process_cgroup_prefix;  /* a cgroup path prefix ("/docker", "/system.slice/
                                         * nginx.service") matched per path component against
                                         * every hierarchy in /proc/PID/cgroup; NULL: none */
    size_t      process_max;            /* most processes reported per run; 0: 256 */

    /* "cgroup": most cgroups reported per run (in id order; the rest are dropped with a
     * warning); 0: 4096. */
    size_t      cgroup_max;
} collect_options_t;

/* Creates the scheduler and runs every enabled collector's init. Nothing runs until
 * collect_start(). On success *out is the caller's, freed with collect_free(). The options'
 * strings and tables are copied where kept; opts->extra and opts->sys must outlive *out. */
int collect_create(collect_t **out, const collect_options_t *opts, log_t *log,
                   vigil_error_t *err);

/* Starts the scheduler (a worker and the watchdog). VIGIL_ESTATE when already started. */
int collect_start(collect_t *c, vigil_error_t *err);

/* Wakes and joins the scheduler's threads; returns as soon as in-flight runs finish.
 * Idempotent; the latest batches stay readable. */
void collect_stop(collect_t *c);

/* Stops if needed, destroys the collectors and frees everything; NULL is a no-op. */
void collect_free(collect_t *c);

/* Appends the latest batch of every collector in table order, then
 * vigil_collector_duration_seconds and vigil_collector_errors_total, in Prometheus text
 * format 0.0.4. 0 or the buf_* error (VIGIL_ELIMIT / VIGIL_ENOMEM); safe while running. */
int collect_expose_text(collect_t *c, buf_t *out);

/* The same in OpenMetrics 1.0 text, without the closing "# EOF" (the caller appends its own
 * families and then the marker): counter families are named without "_total" and info
 * families without "_info", as OpenMetrics requires; a counter or info family whose samples
 * lack that suffix, and untyped families, are typed "unknown"; HELP also escapes quotes. */
int collect_expose_openmetrics(collect_t *c, buf_t *out);

/* Registers fn to receive every complete batch, on the worker that ran it, before it becomes
 * the latest. The batch is valid only during the call. Register before collect_start();
 * at most 8 subscribers. 0, VIGIL_ESTATE (running) or VIGIL_ELIMIT. */
int collect_on_batch(collect_t *c, void (*fn)(void *ctx, const collect_batch_t *b), void *ctx);

/* Runs collector `name` (NULL: every enabled collector, in table order) once on the calling
 * thread, exactly as a scheduled run (statistics, subscribers, latest batch), then appends the
 * collected families to `out` in text format. Only while the scheduler is not started
 * (VIGIL_ESTATE otherwise); VIGIL_ENOENT for an unknown name; a failing collector's error. */
int collect_run_once(collect_t *c, const char *name, buf_t *out, vigil_error_t *err);

/* Statistics of one collector (tests, `vigil doctor`). VIGIL_ENOENT for an unknown name. */
typedef struct collect_stats {
    uint64_t runs;       /* completed runs, failed ones included */
    uint64_t errors;     /* failed runs */
    double   last_duration_seconds;
} collect_stats_t;
int collect_get_stats(collect_t *c, const char *name, collect_stats_t *out);

#endif /* VIGIL_COLLECT_H */
