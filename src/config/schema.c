/*
 * schema.c - the configuration schema: one row per key, the only place a key is defined.
 *
 * Rows sharing a section must be contiguous and in the order the dump and the docs print
 * them (the dump opens a YAML section whenever the dotted prefix changes). Defaults are text
 * in YAML syntax and go through the same parser as the file, so what the docs print is what
 * config_init() sets; the tests check every default parses and lies in its range.
 *
 * The collectors' rows (collect.<name>.enabled / .interval and each collector's own options)
 * are generated from CONFIG_COLLECTORS() in config.h, the list a test holds equal to
 * collect_host_table(), so a new collector cannot be left without its keys.
 *
 * Sections planned but not accepted yet (see docs/configuration.md): scrape_configs,
 * remote_write.
 */
#include "config/config_int.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

static const char *const level_choices[] = { "error", "warn", "info", "debug", "trace", NULL };
static const char *const format_choices[] = { "json", "text", NULL };

/* Enum rows store the index of the choice; the C enums must list values in the same order. */
_Static_assert(LOG_LEVEL_ERROR == 0 && LOG_LEVEL_TRACE == 4, "log level order");
_Static_assert(LOG_FORMAT_JSON == 0 && LOG_FORMAT_TEXT == 1, "log format order");
_Static_assert(sizeof(log_level_t) == sizeof(int) && sizeof(log_format_t) == sizeof(int),
               "enum fields are written as int");

#define OFF(field) offsetof(config_t, field)
#define KiB 1024.0
#define GiB (1024.0 * 1024.0 * 1024.0)
#define HOUR 3600.0
#define DAY (24 * HOUR)

/* One health-check threshold pair, both percentages. */
#define HEALTH_ROWS(field, warn, crit, what)                                                 \
    { "health." #field ".warning", CONFIG_DOUBLE, OFF(health.field.warning), warn, 0, 100, 0, \
      NULL, what " usage (percent) above which the check is warning" },                      \
    { "health." #field ".critical", CONFIG_DOUBLE, OFF(health.field.critical), crit, 0, 100, \
      0, NULL, what " usage (percent) above which the check is critical; must exceed warning" }

/* Largest pid Linux hands out (PID_MAX_LIMIT on 64-bit), the upper bound of a pid list. */
#define PID_MAX 4194304.0

/* The restart-only string options of the collectors ("" is allowed; collect_config.c maps it
 * to NULL, which means the collector's built-in default). */
#define COLLECT_STRING(key, field, flags, doc)                                                  \
    { "collect." key, CONFIG_STRING, OFF(collect.field), "", 0, 0,                              \
      CONFIG_F_RESTART | (flags), NULL, doc }

/* Collector-specific rows, in the section of the collector named in CONFIG_COLLECTORS(). */
#define EXTRA_ROWS_NONE
#define EXTRA_ROWS_VMSTAT                                                                       \
    COLLECT_STRING("vmstat.fields", vmstat.fields, CONFIG_F_REGEX,                              \
                   "regex of the /proc/vmstat fields exposed; \"\" = node_exporter's default"),
#define EXTRA_ROWS_DISKSTATS                                                                    \
    COLLECT_STRING("diskstats.device_exclude", diskstats.device_exclude, CONFIG_F_REGEX,        \
                   "regex of block devices left out; \"\" = node_exporter's default"),
#define EXTRA_ROWS_FILESYSTEM                                                                   \
    COLLECT_STRING("filesystem.mount_points_exclude", filesystem.mount_points_exclude,          \
                   CONFIG_F_REGEX, "regex of mount points left out; \"\" = node_exporter's "    \
                   "default"),                                                                  \
    COLLECT_STRING("filesystem.fs_types_exclude", filesystem.fs_types_exclude,                  \
                   CONFIG_F_REGEX, "regex of filesystem types left out; \"\" = "                \
                   "node_exporter's default"),
#define EXTRA_ROWS_NETDEV                                                                       \
    COLLECT_STRING("netdev.device_exclude", netdev.device_exclude, CONFIG_F_REGEX,              \
                   "regex of network devices left out; \"\" = node_exporter's default"),
#define EXTRA_ROWS_GPU                                                                          \
    COLLECT_STRING("gpu.nvml_library", gpu.nvml_library, 0,                                     \
                   "NVML library to load; \"\" = $VIGIL_NVML_LIBRARY, else "                    \
                   "libnvidia-ml.so.1"),
#define EXTRA_ROWS_PROCESS                                                                      \
    { "collect.process.pids", CONFIG_NUMBER_LIST, OFF(collect.process.pids), "[]", 1,           \
      PID_MAX, CONFIG_F_INTEGER | CONFIG_F_RESTART, NULL,                                       \
      "pids reported besides the agent itself, while they exist" },                             \
    COLLECT_STRING("process.name_regex", process.name_regex, CONFIG_F_REGEX,                    \
                   "processes whose comm or command line matches are reported; \"\" = none"),   \
    COLLECT_STRING("process.cgroup_prefix", process.cgroup_prefix, 0,                           \
                   "processes in this cgroup or below (/docker, /system.slice/x.service) "      \
                   "are reported; \"\" = none"),                                                \
    { "collect.process.max", CONFIG_INT, OFF(collect.process.max), "256", 1, 1000000,           \
      CONFIG_F_RESTART, NULL, "most processes reported per run (the lowest pids win)" },
#define EXTRA_ROWS_CGROUP                                                                       \
    { "collect.cgroup.max", CONFIG_INT, OFF(collect.cgroup.max), "4096", 1, 1000000,            \
      CONFIG_F_RESTART, NULL, "most cgroups reported per run, in id order" },

/* collect.<name>.enabled and .interval, then the collector's own rows. */
#define COLLECTOR_ROWS(name, extra)                                                             \
    { "collect." #name ".enabled", CONFIG_BOOL,                                                 \
      OFF(collect.collectors[CONFIG_COLLECTOR_##name].enabled), "true", 0, 0,                   \
      CONFIG_F_RESTART, NULL, "run the " #name " collector" },                                  \
    { "collect." #name ".interval", CONFIG_DURATION,                                            \
      OFF(collect.collectors[CONFIG_COLLECTOR_##name].interval), "0s", 0.1, HOUR,               \
      CONFIG_F_ZERO_OK | CONFIG_F_RESTART, NULL,                                                \
      "interval of the " #name " collector; 0s = collect.interval" },                           \
    EXTRA_ROWS_##extra

static const config_key_t schema[] = {
    { "listen", CONFIG_ADDRESS, OFF(listen), "127.0.0.1:9470", 0, 0, CONFIG_F_RESTART, NULL,
      "HTTP listen address: host:port, [ipv6]:port, or :port for all interfaces" },
    { "rule_files", CONFIG_STRING_LIST, OFF(rule_files), "[]", 0, 0, 0, NULL,
      "Prometheus rule files (globs, relative to the config file's directory); the --rules "
      "FILE flag adds one; reloaded on SIGHUP" },

    { "storage.path", CONFIG_STRING, OFF(storage.path), "./vigil-data", 0, 0,
      CONFIG_F_NONEMPTY | CONFIG_F_RESTART, NULL,
      "data directory; created if missing and locked by the running agent" },
    { "storage.retention_time", CONFIG_DURATION, OFF(storage.retention_time), "15d", 0, 0,
      CONFIG_F_NO_MAX | CONFIG_F_RESTART, NULL,
      "how long stored samples are kept (whole 2h blocks are deleted); 0 = no time limit" },
    { "storage.retention_size", CONFIG_SIZE, OFF(storage.retention_size), "0", 0, 0,
      CONFIG_F_NO_MAX | CONFIG_F_RESTART, NULL,
      "most bytes of stored blocks, oldest deleted first (WAL and head not counted); 0 = unlimited" },

    { "log.level", CONFIG_ENUM, OFF(log.level), "info", 0, 0, 0, level_choices,
      "lowest level written" },
    { "log.format", CONFIG_ENUM, OFF(log.format), "json", 0, 0, 0, format_choices,
      "json: one JSON object a line; text: for humans" },
    { "log.file", CONFIG_STRING, OFF(log.file), "", 0, 0, 0, NULL,
      "file the log is appended to; \"\" = standard error" },

    { "http.max_connections", CONFIG_INT, OFF(http.max_connections), "512", 1, 65535,
      CONFIG_F_RESTART, NULL, "most concurrent HTTP connections" },
    { "http.connection_timeout", CONFIG_DURATION, OFF(http.connection_timeout), "30s", 1, HOUR,
      CONFIG_F_RESTART, NULL, "idle keep-alive connections are closed after this" },
    { "http.max_body_size", CONFIG_SIZE, OFF(http.max_body_size), "32MiB", KiB, GiB,
      CONFIG_F_RESTART, NULL, "largest request body accepted; larger ones get 413" },
    { "http.threads", CONFIG_INT, OFF(http.threads), "4", 1, 64, CONFIG_F_RESTART, NULL,
      "HTTP worker threads; at most http.max_connections" },

    /* The collectors are created once at start-up (reload does not re-create them), hence
     * every collect.* key needs a restart. */
    { "collect.interval", CONFIG_DURATION, OFF(collect.interval), "1s", 0.1, HOUR,
      CONFIG_F_RESTART, NULL, "default interval of the collectors" },
    { "collect.path.procfs", CONFIG_STRING, OFF(collect.path.procfs), "/proc", 0, 0,
      CONFIG_F_NONEMPTY | CONFIG_F_RESTART, NULL,
      "procfs mount point (node_exporter --path.procfs)" },
    { "collect.path.sysfs", CONFIG_STRING, OFF(collect.path.sysfs), "/sys", 0, 0,
      CONFIG_F_NONEMPTY | CONFIG_F_RESTART, NULL,
      "sysfs mount point (node_exporter --path.sysfs)" },
    { "collect.path.rootfs", CONFIG_STRING, OFF(collect.path.rootfs), "/", 0, 0,
      CONFIG_F_NONEMPTY | CONFIG_F_RESTART, NULL,
      "root filesystem mount point (node_exporter --path.rootfs)" },
    CONFIG_COLLECTORS(COLLECTOR_ROWS)

    { "monitoring.metrics_interval", CONFIG_DURATION, OFF(monitoring.metrics_interval), "10s",
      0.1, HOUR, 0, NULL, "how often metrics are collected (seed: metrics_interval)" },
    { "monitoring.health_check_interval", CONFIG_DURATION,
      OFF(monitoring.health_check_interval), "30s", 1, DAY, 0, NULL,
      "how often the health checks run (seed: health_check_interval)" },
    { "monitoring.resource_check_interval", CONFIG_DURATION,
      OFF(monitoring.resource_check_interval), "5s", 0.1, HOUR, 0, NULL,
      "how often CPU/memory/disk/GPU usage is sampled (seed: resource_check_interval)" },
    { "monitoring.metrics_retention", CONFIG_DURATION, OFF(monitoring.metrics_retention), "24h",
      60, 365 * DAY, 0, NULL,
      "how long in-memory monitoring metrics are kept (seed: metrics_retention_hours)" },
    { "monitoring.max_events", CONFIG_INT, OFF(monitoring.max_events), "10000", 1, 10000000, 0,
      NULL, "most monitoring events kept in memory (seed: max_events)" },
    { "monitoring.latency_percentiles", CONFIG_NUMBER_LIST,
      OFF(monitoring.latency_percentiles), "[50, 90, 95, 99]", 0, 100,
      CONFIG_F_MIN_OPEN | CONFIG_F_MAX_OPEN | CONFIG_F_INCREASING, NULL,
      "latency percentiles reported, each in (0,100), strictly increasing" },
    { "monitoring.slow_request_threshold", CONFIG_DURATION,
      OFF(monitoring.slow_request_threshold), "30s", 0.001, DAY, 0, NULL,
      "operations slower than this count as slow (seed: slow_request_threshold)" },
    { "monitoring.resource_thresholds.cpu", CONFIG_DOUBLE,
      OFF(monitoring.resource_thresholds.cpu), "80", 0, 100, 0, NULL,
      "CPU usage (percent) above which a resource warning is raised (seed: cpu_threshold)" },
    { "monitoring.resource_thresholds.memory", CONFIG_DOUBLE,
      OFF(monitoring.resource_thresholds.memory), "85", 0, 100, 0, NULL,
      "memory usage (percent) above which a resource warning is raised "
      "(seed: memory_threshold)" },
    { "monitoring.resource_thresholds.gpu_memory", CONFIG_DOUBLE,
      OFF(monitoring.resource_thresholds.gpu_memory), "90", 0, 100, 0, NULL,
      "GPU memory usage (percent) above which a resource warning is raised "
      "(seed: gpu_memory_threshold)" },

    HEALTH_ROWS(memory, "80", "90", "system memory"),
    HEALTH_ROWS(cpu, "85", "95", "CPU"),
    HEALTH_ROWS(disk, "85", "95", "disk space"),
    HEALTH_ROWS(gpu_memory, "85", "95", "GPU memory"),

    { "rules.evaluation_interval", CONFIG_DURATION, OFF(rules.evaluation_interval), "1m", 1,
      DAY, 0, NULL,
      "how often rule groups without their own interval are evaluated (Prometheus: "
      "global.evaluation_interval)" },

    { "alerting.enabled", CONFIG_BOOL, OFF(alerting.enabled), "true", 0, 0, 0, NULL,
      "evaluate alert thresholds and record violations (seed: enable_alerting)" },
    { "alerting.channels", CONFIG_STRING_LIST, OFF(alerting.channels), "[]", 0, 0, 0, NULL,
      "names of the receivers alerts go to (seed: alert_channels)" },
    { "alerting.alertmanagers", CONFIG_STRING_LIST, OFF(alerting.alertmanagers), "[]", 0, 0,
      CONFIG_F_RESTART, NULL,
      "Alertmanager base URLs (http://host:9093) the rules' alerts are POSTed to "
      "(/api/v2/alerts), as Prometheus's notifier does" },

    { "notify.config", CONFIG_STRING, OFF(notify.config), "", 0, 0, 0, NULL,
      "Alertmanager configuration file (route, receivers, inhibit_rules) the agent notifies "
      "with itself, relative to the config file's directory; \"\" = no notifications; "
      "reloaded on SIGHUP (a bad file keeps the running one)" },

    { "export.json.enabled", CONFIG_BOOL, OFF(export.json.enabled), "false", 0, 0, 0, NULL,
      "write periodic JSON snapshots of the metrics (seed: json_export_enabled)" },
    { "export.json.path", CONFIG_STRING, OFF(export.json.path), "./monitoring", 0, 0,
      CONFIG_F_NONEMPTY, NULL, "directory of the JSON snapshots (seed: json_export_path)" },
};

_Static_assert(sizeof(schema) / sizeof(schema[0]) <= CONFIG_KEYS_MAX,
               "raise CONFIG_KEYS_MAX: config_t keeps one origin per key");

static const struct {
    const char *alias;
    const char *key;
} aliases[] = {
    { "listen", "listen" },
    { "data", "storage.path" },
    { "log-level", "log.level" },
    { "log-format", "log.format" },
};

const config_key_t *config_keys(size_t *count)
{
    if (count != NULL)
        *count = sizeof(schema) / sizeof(schema[0]);
    return schema;
}

const config_key_t *config_key_find(const char *key)
{
    if (key == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++)
        if (strcmp(schema[i].key, key) == 0)
            return &schema[i];
    return NULL;
}

size_t config_key_index(const config_key_t *key)
{
    return (size_t)(key - schema);
}

const char *config_flag_alias(const char *flag)
{
    if (flag == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(aliases[i].alias, flag) == 0)
            return aliases[i].key;
    return NULL;
}

const char *config_collector_name(config_collector_id_t id)
{
    static const char *const names[CONFIG_COLLECTOR_COUNT] = {
#define COLLECTOR_NAME(name, extra) [CONFIG_COLLECTOR_##name] = #name,
        CONFIG_COLLECTORS(COLLECTOR_NAME)
#undef COLLECTOR_NAME
    };
    return (unsigned)id < CONFIG_COLLECTOR_COUNT ? names[id] : NULL;
}

const char *config_type_name(config_type_t type)
{
    static const char *const names[CONFIG_TYPE_COUNT_] = {
        [CONFIG_STRING] = "string",   [CONFIG_BOOL] = "bool",
        [CONFIG_INT] = "integer",     [CONFIG_DOUBLE] = "number",
        [CONFIG_DURATION] = "duration", [CONFIG_SIZE] = "size",
        [CONFIG_ENUM] = "enum",       [CONFIG_NUMBER_LIST] = "list of numbers",
        [CONFIG_STRING_LIST] = "list of strings", [CONFIG_ADDRESS] = "host:port",
    };
    return (unsigned)type < CONFIG_TYPE_COUNT_ ? names[type] : "?";
}
