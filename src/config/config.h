/*
 * config.h - the agent's configuration: one YAML file, every key also a flag.
 *
 * Precedence is flag > file > default. The configuration is a plain struct (config_t) the
 * rest of the agent reads directly (`cfg->http.max_connections`); everything about a key - its
 * name, type, where it lives in config_t, its default, its range or choices and its one-line
 * doc - is one row of the schema table (config_keys()). Loading, flags, defaults, validation,
 * the YAML dump and docs/configuration.md are all driven by that table, so adding a key is
 * adding a field and a row.
 *
 * Nothing else in vigil parses the YAML. Every error reads
 *     vigil.yml:7:12: log.level: expected one of error, warn, info, debug, trace, got "verbose"
 * (1-based line and column of the offending node) or, for a flag,
 *     --log.level: expected one of error, warn, info, debug, trace, got "verbose"
 *
 * Ownership: string fields and the string list are owned by the config_t (or point at the
 * schema's static defaults, which is why config_init() cannot fail). Treat every field as
 * read-only; change values only through config_set()/config_load_file() and release them with
 * config_free(). A config_t is not thread-safe: the agent builds a new one on reload and swaps.
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include "log/log.h"
#include "util/buf.h"
#include "vigil/error.h"
#include "vigil/health.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most values a number list (CONFIG_NUMBER_LIST) may hold; inline so defaults allocate nothing. */
#define CONFIG_NUMBER_LIST_MAX 32
/* Capacity of the per-key provenance array; config.c asserts the schema fits. */
#define CONFIG_KEYS_MAX 128

/*
 * Every collector of collect_host_table(), in that table's order: one X(name, extra) each.
 * This one list generates the schema rows collect.<name>.enabled and collect.<name>.interval,
 * the config_collector_id_t enum and config_collector_name(); a unit test fails when it and
 * collect_host_table() disagree. `extra` names the group of collector-specific rows in
 * schema.c (EXTRA_ROWS_<extra>: collect.filesystem.mount_points_exclude, ...) that must sit
 * right after the collector's own two rows, because the dump, the docs and the loader's
 * "expected one of" list need each YAML section's rows to be contiguous.
 */
#define CONFIG_COLLECTORS(X)   \
    X(cpu, NONE)               \
    X(stat, NONE)              \
    X(meminfo, NONE)           \
    X(vmstat, VMSTAT)          \
    X(loadavg, NONE)           \
    X(diskstats, DISKSTATS)    \
    X(filesystem, FILESYSTEM)  \
    X(netdev, NETDEV)          \
    X(pressure, NONE)          \
    X(filefd, NONE)            \
    X(uname, NONE)             \
    X(os, NONE)                \
    X(time, NONE)              \
    X(gpu, GPU)                \
    X(process, PROCESS)        \
    X(cgroup, CGROUP)

/* Index of a collector in config_t.collect.collectors[] (CONFIG_COLLECTOR_cpu, ...). */
typedef enum config_collector_id {
#define CONFIG_COLLECTOR_ENUM_(name, extra) CONFIG_COLLECTOR_##name,
    CONFIG_COLLECTORS(CONFIG_COLLECTOR_ENUM_)
#undef CONFIG_COLLECTOR_ENUM_
    CONFIG_COLLECTOR_COUNT
} config_collector_id_t;

/* collect.<name>.enabled / collect.<name>.interval of one collector. */
typedef struct config_collector {
    bool   enabled;
    double interval;  /* seconds; 0 = collect.interval */
} config_collector_t;

typedef enum config_type {
    CONFIG_STRING,        /* char *; "" allowed unless CONFIG_F_NONEMPTY */
    CONFIG_BOOL,          /* bool; true / false */
    CONFIG_INT,           /* int; decimal, within [min, max] */
    CONFIG_DOUBLE,        /* double; decimal, within min/max (open ends by flag) */
    CONFIG_DURATION,      /* double seconds; Prometheus syntax 1y2w3d4h5m6s7ms, or 0 */
    CONFIG_SIZE,          /* uint64_t bytes; <integer><unit> (B, KB=KiB=1024, MB=MiB, ...) or 0 */
    CONFIG_ENUM,          /* int: index into `choices` (the matching C enum has the same order) */
    CONFIG_NUMBER_LIST,   /* config_number_list_t; each element a CONFIG_DOUBLE within min/max */
    CONFIG_STRING_LIST,   /* config_string_list_t; non-empty strings; default always empty */
    CONFIG_ADDRESS,       /* char *; host:port, [v6]:port or :port (all interfaces), port 0..65535 */
    CONFIG_TYPE_COUNT_
} config_type_t;

/* Key flags. */
#define CONFIG_F_MIN_OPEN   0x01u  /* value (each element) must be > min, not >= */
#define CONFIG_F_MAX_OPEN   0x02u  /* value (each element) must be < max, not <= */
#define CONFIG_F_INCREASING 0x04u  /* number list: strictly increasing */
#define CONFIG_F_NONEMPTY   0x08u  /* string: "" is rejected */
#define CONFIG_F_NO_MAX     0x10u  /* no upper bound (max is ignored) */
#define CONFIG_F_RESTART    0x20u  /* a change only takes effect after a restart, not a reload */
#define CONFIG_F_ZERO_OK    0x40u  /* 0 is accepted besides [min, max] (0 = "inherit") */
#define CONFIG_F_INTEGER    0x80u  /* number list: each element a whole number */
#define CONFIG_F_REGEX      0x100u /* string: "" or a POSIX extended regex (regcomp must take
                                    * it with REG_EXTENDED | REG_NOSUB, as the collectors do) */

/* One row of the schema. */
typedef struct config_key {
    const char          *key;      /* dotted name: "http.max_connections" */
    config_type_t        type;
    size_t               offset;   /* offsetof(config_t, ...) of the field */
    const char          *def;      /* default, written as it would be in the YAML file */
    double               min;      /* INT, DOUBLE, lists: the value; DURATION: seconds;
                                      SIZE: bytes */
    double               max;      /* as min; ignored with CONFIG_F_NO_MAX */
    unsigned             flags;    /* CONFIG_F_* */
    const char *const   *choices;  /* ENUM: NULL-terminated names; else NULL */
    const char          *doc;      /* one line, for docs/configuration.md and `vigil help` */
} config_key_t;

typedef struct config_number_list {
    size_t count;
    double items[CONFIG_NUMBER_LIST_MAX];
} config_number_list_t;

typedef struct config_string_list {
    char  **items;  /* owned, with each string; NULL when count is 0 */
    size_t  count;
} config_string_list_t;

/* Where a key's current value came from, so cross-field errors can point at it. */
typedef enum config_origin_kind {
    CONFIG_FROM_DEFAULT = 0,
    CONFIG_FROM_FILE,
    CONFIG_FROM_FLAG,
} config_origin_kind_t;

typedef struct config_origin {
    config_origin_kind_t kind;
    unsigned             line;  /* FILE: 1-based line and column of the value */
    unsigned             col;
    unsigned             seq;   /* order of setting (later wins the blame in cross checks) */
} config_origin_t;

typedef struct config {
    char *listen;                        /* HTTP listen address, "127.0.0.1:9470" */
    config_string_list_t rule_files;     /* Prometheus rule-file globs */

    struct {
        char    *path;                   /* data directory */
        double   retention_time;         /* seconds; 0 = no time limit */
        uint64_t retention_size;         /* bytes; 0 = unlimited */
    } storage;

    struct {
        log_level_t  level;
        log_format_t format;
        char        *file;               /* "" = standard error */
    } log;

    struct {
        int      max_connections;
        double   connection_timeout;     /* seconds */
        uint64_t max_body_size;          /* bytes */
        int      threads;
    } http;

    struct {                             /* the collectors (collect_options_t) */
        double interval;                 /* seconds; default collector interval */
        struct {
            char *procfs;                /* node_exporter --path.procfs, "/proc" */
            char *sysfs;                 /* --path.sysfs, "/sys" */
            char *rootfs;                /* --path.rootfs, "/" */
        } path;
        config_collector_t collectors[CONFIG_COLLECTOR_COUNT]; /* by config_collector_id_t */
        /* The exclusion regexes: "" = the built-in node_exporter defaults. */
        struct {
            char *fields;                /* node_vmstat_<field> included */
        } vmstat;
        struct {
            char *device_exclude;
        } diskstats;
        struct {
            char *mount_points_exclude;
            char *fs_types_exclude;
        } filesystem;
        struct {
            char *device_exclude;
        } netdev;
        struct {
            char *nvml_library;          /* "" = $VIGIL_NVML_LIBRARY, else libnvidia-ml.so.1 */
        } gpu;
        struct {
            config_number_list_t pids;   /* whole numbers, 1 .. 4194304 */
            char *name_regex;            /* "" = none */
            char *cgroup_prefix;         /* "" = none */
            int   max;
        } process;
        struct {
            int max;
        } cgroup;
    } collect;

    struct {                             /* the seed's MonitoringConfig */
        double               metrics_interval;         /* seconds */
        double               health_check_interval;    /* seconds */
        double               resource_check_interval;  /* seconds */
        double               metrics_retention;        /* seconds (seed: hours) */
        int                  max_events;
        config_number_list_t latency_percentiles;      /* each in (0,100), increasing */
        double               slow_request_threshold;   /* seconds */
        struct {
            double cpu;                  /* percent */
            double memory;
            double gpu_memory;
        } resource_thresholds;
    } monitoring;

    struct {                             /* HealthChecker thresholds, percent */
        vigil_health_thresholds_t memory;
        vigil_health_thresholds_t cpu;
        vigil_health_thresholds_t disk;
        vigil_health_thresholds_t gpu_memory;
    } health;

    struct {
        double evaluation_interval;      /* seconds; groups without their own interval */
    } rules;

    struct {
        bool                 enabled;
        config_string_list_t channels;   /* receiver names */
        config_string_list_t alertmanagers; /* Alertmanager base URLs */
    } alerting;

    struct {
        char *config;                    /* Alertmanager config file; "" = notifier off */
    } notify;

    struct {
        struct {
            bool  enabled;
            char *path;                  /* directory the JSON snapshots go to */
        } json;
    } export;

    /* Private to src/config: provenance of each key (index = row of config_keys()) and the
     * path of the file last loaded (owned; NULL before any). */
    config_origin_t origin_[CONFIG_KEYS_MAX];
    unsigned        origin_seq_;
    char           *source_;
} config_t;

/* Sets every key to its default. Allocates nothing, cannot fail. */
void config_init(config_t *cfg);

/* Frees the owned strings and lists and zeroes `cfg` (so a second config_free() is harmless);
 * call config_init() again to reuse it. NULL is a no-op. */
void config_free(config_t *cfg);

/*
 * Applies the YAML file at `path` on top of `cfg`: only keys present in the file change. All or
 * nothing: on error `cfg` is unchanged. Returns 0, VIGIL_EIO (cannot read; message
 * "path: strerror"), VIGIL_ELIMIT (file over 4 MiB), VIGIL_EPARSE (syntax, unknown or duplicate key, wrong type, bad value),
 * VIGIL_ERANGE (out of range) or VIGIL_ENOMEM; the message starts with "path:line:col: ".
 * Cross-field rules are config_validate()'s job, since flags may still change the values.
 */
int config_load_file(config_t *cfg, const char *path, vigil_error_t *err);

/* As config_load_file() on `len` bytes in memory; `name` is used in messages (fuzzing, tests). */
int config_load_buffer(config_t *cfg, const char *name, const char *data, size_t len,
                       vigil_error_t *err);

/*
 * Sets one dotted key from its text form, as given on the command line. Lists are comma
 * separated ("50,90,99"; "" is the empty list). Returns 0; VIGIL_ENOENT for a key that is not
 * in the schema ("--key: unknown flag"); VIGIL_EPARSE / VIGIL_ERANGE for a bad value
 * ("--key: ..."); VIGIL_ENOMEM. On error `cfg` is unchanged.
 */
int config_set(config_t *cfg, const char *key, const char *value, vigil_error_t *err);

/* Canonical key for a command-line alias ("data" -> "storage.path"), or NULL if `flag` is not
 * an alias. The result is static. */
const char *config_flag_alias(const char *flag);

/*
 * Cross-field checks (health warning < critical, http.threads <= http.max_connections). Returns
 * 0 or VIGIL_EINVAL; the message points at whichever of the two keys was set last:
 * "file:line:col: key: ...", "--key: ..." or "key: ..." for two defaults.
 */
int config_validate(const config_t *cfg, vigil_error_t *err);

/* Deep copy of `src` into `dst`, which must own nothing (fresh, or after config_free()).
 * Returns 0 or VIGIL_ENOMEM (then `dst` owns nothing and holds defaults). */
int config_copy(config_t *dst, const config_t *src);

/* True when every key has the same value in both (provenance is ignored). */
bool config_equal(const config_t *a, const config_t *b);

/* True when `key`'s value differs between `a` and `b` (for reload: which keys changed). */
bool config_key_changed(const config_t *a, const config_t *b, const config_key_t *key);

/* The schema table, `*count` rows; static, never freed. */
const config_key_t *config_keys(size_t *count);

/* The schema row of a dotted key, or NULL. */
const config_key_t *config_key_find(const char *key);

/* Appends the effective configuration as YAML that config_load_buffer() reads back to an equal
 * config. 0, VIGIL_ENOMEM or VIGIL_ELIMIT (out's cap). */
int config_dump_yaml(const config_t *cfg, buf_t *out);

/* Appends the value of one key in its YAML/flag text form ("15d", "32MiB", "[50, 90]"). */
int config_format_value(const config_t *cfg, const config_key_t *key, buf_t *out);

/* Name of collector `id` ("cpu"), as in collect_host_table(); NULL when out of range.
 * Static, never freed. */
const char *config_collector_name(config_collector_id_t id);

/* Appends the markdown table of all keys (key, type, default, range, meaning) that
 * docs/configuration.md embeds; a test fails when the committed copy is stale. */
int config_doc_table(buf_t *out);

#endif /* VIGIL_CONFIG_H */
