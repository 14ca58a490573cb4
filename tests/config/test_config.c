/*
 * test_config.c - the configuration subsystem: defaults, the YAML file, flags, every error
 * kind with its exact "file:line:col: message", the dump round trip, the value parsers, and
 * docs/configuration.md staying in step with the schema. Runs from the repository root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "collect/collect.h"
#include "golden.h"
#include "config/config.h"
#include "config/config_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX "tests/config/fixtures/"

/* Reads a whole file; the caller frees the result with free(). */
static char *slurp(const char *path)
{
    char *data = test_read_file(path, NULL);
    assert_non_null(data);
    return data;
}

/* ---- defaults ------------------------------------------------------------------------ */

static void test_defaults_match_table(void **state)
{
    (void)state;
    size_t count;
    const config_key_t *keys = config_keys(&count);
    config_t cfg;
    config_init(&cfg);

    /* Each default, set as a flag, parses, is in range and equals what config_init() set. */
    for (size_t i = 0; i < count; i++) {
        config_t one;
        vigil_error_t err;
        config_init(&one);
        if (config_set(&one, keys[i].key, keys[i].def, &err) != 0)
            fail_msg("default of %s does not parse: %s", keys[i].key, err.message);
        if (config_key_changed(&cfg, &one, &keys[i]))
            fail_msg("config_init() disagrees with the table for %s", keys[i].key);
        assert_ptr_equal(config_key_find(keys[i].key), &keys[i]);
        assert_non_null(keys[i].doc);
        if (keys[i].type == CONFIG_STRING_LIST)
            assert_string_equal(keys[i].def, "[]");
        config_free(&one);
    }
    assert_true(count <= CONFIG_KEYS_MAX);

    /* The documented defaults, spelled out. */
    assert_string_equal(cfg.listen, "127.0.0.1:9470");
    assert_string_equal(cfg.storage.path, "./vigil-data");
    assert_true(cfg.storage.retention_time == 15 * 86400.0);
    assert_true(cfg.storage.retention_size == 0);
    assert_int_equal(cfg.log.level, LOG_LEVEL_INFO);
    assert_int_equal(cfg.log.format, LOG_FORMAT_JSON);
    assert_string_equal(cfg.log.file, "");
    assert_int_equal(cfg.http.max_connections, 512);
    assert_true(cfg.http.connection_timeout == 30.0);
    assert_true(cfg.http.max_body_size == 32u * 1024 * 1024);
    assert_int_equal(cfg.http.threads, 4);
    assert_true(cfg.collect.interval == 1.0);
    assert_string_equal(cfg.collect.path.procfs, "/proc");
    assert_string_equal(cfg.collect.path.sysfs, "/sys");
    assert_string_equal(cfg.collect.path.rootfs, "/");
    for (size_t i = 0; i < CONFIG_COLLECTOR_COUNT; i++) {
        assert_true(cfg.collect.collectors[i].enabled);
        assert_true(cfg.collect.collectors[i].interval == 0);
    }
    assert_string_equal(cfg.collect.vmstat.fields, "");
    assert_string_equal(cfg.collect.diskstats.device_exclude, "");
    assert_string_equal(cfg.collect.filesystem.mount_points_exclude, "");
    assert_string_equal(cfg.collect.filesystem.fs_types_exclude, "");
    assert_string_equal(cfg.collect.netdev.device_exclude, "");
    assert_string_equal(cfg.collect.gpu.nvml_library, "");
    assert_int_equal(cfg.collect.process.pids.count, 0);
    assert_string_equal(cfg.collect.process.name_regex, "");
    assert_string_equal(cfg.collect.process.cgroup_prefix, "");
    assert_int_equal(cfg.collect.process.max, 256);
    assert_int_equal(cfg.collect.cgroup.max, 4096);
    assert_true(cfg.monitoring.metrics_interval == 10.0);
    assert_true(cfg.monitoring.health_check_interval == 30.0);
    assert_true(cfg.monitoring.resource_check_interval == 5.0);
    assert_true(cfg.monitoring.metrics_retention == 24 * 3600.0);
    assert_int_equal(cfg.monitoring.max_events, 10000);
    assert_int_equal(cfg.monitoring.latency_percentiles.count, 4);
    assert_true(cfg.monitoring.latency_percentiles.items[0] == 50);
    assert_true(cfg.monitoring.latency_percentiles.items[3] == 99);
    assert_true(cfg.monitoring.slow_request_threshold == 30.0);
    assert_true(cfg.monitoring.resource_thresholds.cpu == 80);
    assert_true(cfg.monitoring.resource_thresholds.memory == 85);
    assert_true(cfg.monitoring.resource_thresholds.gpu_memory == 90);
    assert_true(cfg.health.memory.warning == 80 && cfg.health.memory.critical == 90);
    assert_true(cfg.health.cpu.warning == 85 && cfg.health.cpu.critical == 95);
    assert_true(cfg.health.disk.warning == 85 && cfg.health.disk.critical == 95);
    assert_true(cfg.health.gpu_memory.warning == 85 && cfg.health.gpu_memory.critical == 95);
    assert_true(cfg.alerting.enabled);
    assert_int_equal(cfg.alerting.channels.count, 0);
    assert_false(cfg.export.json.enabled);
    assert_string_equal(cfg.export.json.path, "./monitoring");

    assert_int_equal(config_validate(&cfg, NULL), 0);
    config_free(&cfg);
    config_free(&cfg);  /* a freed config frees nothing twice */
}

/* ---- the file ------------------------------------------------------------------------ */

static void test_full_file_loads_every_field(void **state)
{
    (void)state;
    config_t def, cfg;
    vigil_error_t err;
    config_init(&def);
    config_init(&cfg);
    if (config_load_file(&cfg, FIX "full.yml", &err) != 0)
        fail_msg("%s", err.message);
    assert_int_equal(config_validate(&cfg, &err), 0);

    /* The fixture sets every key to a non-default value: proves each row is reachable. */
    size_t count;
    const config_key_t *keys = config_keys(&count);
    for (size_t i = 0; i < count; i++)
        if (!config_key_changed(&def, &cfg, &keys[i]))
            fail_msg("full.yml does not change %s", keys[i].key);

    assert_string_equal(cfg.listen, "[::1]:9999");
    assert_string_equal(cfg.storage.path, "/var/lib/vigil");
    assert_true(cfg.storage.retention_time == 30 * 86400.0);
    assert_true(cfg.storage.retention_size == 10ull << 30);
    assert_int_equal(cfg.log.level, LOG_LEVEL_DEBUG);
    assert_int_equal(cfg.log.format, LOG_FORMAT_TEXT);
    assert_string_equal(cfg.log.file, "/var/log/vigil.log");
    assert_int_equal(cfg.http.max_connections, 64);
    assert_true(cfg.http.connection_timeout == 90.0);
    assert_true(cfg.http.max_body_size == 1u << 20);
    assert_int_equal(cfg.http.threads, 8);
    assert_true(cfg.collect.interval == 0.5);
    assert_string_equal(cfg.collect.path.procfs, "/host/proc");
    assert_string_equal(cfg.collect.path.sysfs, "/host/sys");
    assert_string_equal(cfg.collect.path.rootfs, "/host");
    assert_false(cfg.collect.collectors[CONFIG_COLLECTOR_cpu].enabled);
    assert_true(cfg.collect.collectors[CONFIG_COLLECTOR_cpu].interval == 2.0);
    assert_true(cfg.collect.collectors[CONFIG_COLLECTOR_process].interval == 0.25);
    assert_true(cfg.collect.collectors[CONFIG_COLLECTOR_cgroup].interval == 60.0);
    assert_string_equal(cfg.collect.vmstat.fields, "^(oom_kill|pgfault)$");
    assert_string_equal(cfg.collect.diskstats.device_exclude, "^(ram|loop)[0-9]+$");
    assert_string_equal(cfg.collect.filesystem.mount_points_exclude, "^/(dev|proc|sys)($|/)");
    assert_string_equal(cfg.collect.filesystem.fs_types_exclude, "^(tmpfs|overlay)$");
    assert_string_equal(cfg.collect.netdev.device_exclude, "^(lo|docker[0-9]+)$");
    assert_string_equal(cfg.collect.gpu.nvml_library, "/opt/nvidia/lib/libnvidia-ml.so.1");
    assert_int_equal(cfg.collect.process.pids.count, 2);
    assert_true(cfg.collect.process.pids.items[0] == 1);
    assert_true(cfg.collect.process.pids.items[1] == 4194304);
    assert_string_equal(cfg.collect.process.name_regex, "^(nginx|postgres)");
    assert_string_equal(cfg.collect.process.cgroup_prefix, "/system.slice/nginx.service");
    assert_int_equal(cfg.collect.process.max, 32);
    assert_int_equal(cfg.collect.cgroup.max, 100);
    assert_true(cfg.monitoring.metrics_interval == 15.0);
    assert_true(cfg.monitoring.health_check_interval == 60.0);
    assert_true(cfg.monitoring.resource_check_interval == 2.0);
    assert_true(cfg.monitoring.metrics_retention == 2 * 86400.0);
    assert_int_equal(cfg.monitoring.max_events, 500);
    assert_int_equal(cfg.monitoring.latency_percentiles.count, 3);
    assert_true(cfg.monitoring.latency_percentiles.items[0] == 25);
    assert_true(cfg.monitoring.latency_percentiles.items[1] == 50);
    assert_true(cfg.monitoring.latency_percentiles.items[2] == 99.9);
    assert_true(cfg.monitoring.slow_request_threshold == 2.5);
    assert_true(cfg.monitoring.resource_thresholds.cpu == 70.5);
    assert_true(cfg.monitoring.resource_thresholds.memory == 75);
    assert_true(cfg.monitoring.resource_thresholds.gpu_memory == 95);
    assert_true(cfg.health.memory.warning == 70 && cfg.health.memory.critical == 80);
    assert_true(cfg.health.cpu.warning == 60 && cfg.health.cpu.critical == 99.5);
    assert_true(cfg.health.disk.warning == 50 && cfg.health.disk.critical == 60);
    assert_true(cfg.health.gpu_memory.warning == 1 && cfg.health.gpu_memory.critical == 2);
    assert_false(cfg.alerting.enabled);
    assert_int_equal(cfg.alerting.channels.count, 2);
    assert_string_equal(cfg.alerting.channels.items[0], "ops");
    assert_string_equal(cfg.alerting.channels.items[1], "on-call");
    assert_true(cfg.export.json.enabled);
    assert_string_equal(cfg.export.json.path, "./out/json");

    config_free(&cfg);
    config_free(&def);
}

static void test_partial_file_keeps_other_values(void **state)
{
    (void)state;
    static const char yml[] = "log:\n  level: warn\nstorage:\nhealth:\n  cpu: ~\n";
    config_t cfg;
    vigil_error_t err;
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "http.threads", "2", &err), 0);
    if (config_load_buffer(&cfg, "p.yml", yml, strlen(yml), &err) != 0)
        fail_msg("%s", err.message);
    assert_int_equal(cfg.log.level, LOG_LEVEL_WARN);
    assert_int_equal(cfg.http.threads, 2);           /* untouched by the file */
    assert_string_equal(cfg.storage.path, "./vigil-data");
    config_free(&cfg);

    /* Empty files and comment-only files are an empty configuration. */
    config_init(&cfg);
    assert_int_equal(config_load_buffer(&cfg, "e.yml", "", 0, &err), 0);
    assert_int_equal(config_load_buffer(&cfg, "c.yml", "# nothing\n", 10, &err), 0);
    config_free(&cfg);
}

static void test_flags_override_file(void **state)
{
    (void)state;
    config_t cfg;
    vigil_error_t err;
    config_init(&cfg);
    assert_int_equal(config_load_file(&cfg, FIX "full.yml", &err), 0);
    assert_int_equal(config_set(&cfg, "http.max_connections", "128", &err), 0);
    assert_int_equal(config_set(&cfg, config_flag_alias("log-level"), "error", &err), 0);
    assert_int_equal(config_set(&cfg, config_flag_alias("log-format"), "json", &err), 0);
    assert_int_equal(config_set(&cfg, config_flag_alias("data"), "/tmp/d", &err), 0);
    assert_int_equal(config_set(&cfg, config_flag_alias("listen"), ":9470", &err), 0);
    assert_int_equal(config_set(&cfg, "monitoring.latency_percentiles", "[10, 20.5,30]", &err),
                     0);
    assert_int_equal(config_set(&cfg, "alerting.channels", "a, b", &err), 0);
    assert_int_equal(config_set(&cfg, "health.memory.critical", "95", &err), 0);
    assert_int_equal(cfg.http.max_connections, 128);
    assert_int_equal(cfg.log.level, LOG_LEVEL_ERROR);
    assert_int_equal(cfg.log.format, LOG_FORMAT_JSON);
    assert_string_equal(cfg.storage.path, "/tmp/d");
    assert_string_equal(cfg.listen, ":9470");
    assert_int_equal(cfg.monitoring.latency_percentiles.count, 3);
    assert_true(cfg.monitoring.latency_percentiles.items[1] == 20.5);
    assert_int_equal(cfg.alerting.channels.count, 2);
    assert_string_equal(cfg.alerting.channels.items[1], "b");
    assert_true(cfg.health.memory.warning == 70);     /* from the file */
    assert_true(cfg.health.memory.critical == 95);    /* from the flag */
    assert_int_equal(cfg.http.threads, 8);            /* file value, no flag */
    assert_int_equal(config_set(&cfg, "alerting.channels", "", &err), 0);
    assert_int_equal(cfg.alerting.channels.count, 0);
    assert_int_equal(config_validate(&cfg, &err), 0);

    assert_string_equal(config_flag_alias("listen"), "listen");
    assert_null(config_flag_alias("http.threads"));
    assert_null(config_flag_alias("config"));
    config_free(&cfg);
}

/* ---- errors -------------------------------------------------------------------------- */

static const struct error_case {
    const char *file;
    int         code;
    const char *message;
} error_cases[] = {
    { "unknown_key.yml", VIGIL_EPARSE,
      FIX "unknown_key.yml:4:3: unknown key \"storage.retension_time\"; expected one of path, "
          "retention_time, retention_size" },
    { "wrong_type_map.yml", VIGIL_EPARSE,
      FIX "wrong_type_map.yml:3:5: log.level: expected one of error, warn, info, debug, trace, "
          "got a mapping" },
    { "wrong_type_string.yml", VIGIL_EPARSE,
      FIX "wrong_type_string.yml:2:12: http.threads: expected an integer, got \"many\"" },
    { "out_of_range.yml", VIGIL_ERANGE,
      FIX "out_of_range.yml:2:20: http.max_connections: must be between 1 and 65535, got 70000" },
    { "bad_duration.yml", VIGIL_EPARSE,
      FIX "bad_duration.yml:2:13: collect.interval: expected a duration like 1h30m, 15d or "
          "500ms, got \"10\" (missing unit)" },
    { "bad_enum.yml", VIGIL_EPARSE,
      FIX "bad_enum.yml:5:10: log.level: expected one of error, warn, info, debug, trace, got "
          "\"verbose\"" },
    { "duplicate_key.yml", VIGIL_EPARSE,
      FIX "duplicate_key.yml:5:5: health.memory.warning: duplicate key (first at 3:5)" },
    { "syntax.yml", VIGIL_EPARSE,
      FIX "syntax.yml:4:1: syntax error: did not find expected node content (while parsing a "
          "flow node at 4:1)" },
};

static void test_file_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        char path[256];
        config_t cfg, before;
        vigil_error_t err;
        snprintf(path, sizeof(path), FIX "%s", c->file);
        config_init(&cfg);
        config_init(&before);
        int rc = config_load_file(&cfg, path, &err);
        if (rc != c->code || strcmp(err.message, c->message) != 0)
            fail_msg("%s: rc %d, message\n  got      %s\n  expected %s", c->file, rc,
                     err.message, c->message);
        assert_true(config_equal(&cfg, &before));  /* all or nothing */
        config_free(&cfg);
        config_free(&before);
    }
}

/* Loads `yml` as "t.yml" and checks the error code and message. */
static void expect_load_error(const char *yml, int code, const char *message)
{
    config_t cfg;
    vigil_error_t err;
    config_init(&cfg);
    int rc = config_load_buffer(&cfg, "t.yml", yml, strlen(yml), &err);
    if (rc != code || strcmp(err.message, message) != 0)
        fail_msg("rc %d, message\n  got      %s\n  expected %s", rc, err.message, message);
    config_free(&cfg);
}

static void test_more_load_errors(void **state)
{
    (void)state;
    expect_load_error("bogus: 1\n", VIGIL_EPARSE,
                      "t.yml:1:1: unknown key \"bogus\"; expected one of listen, rule_files, "
                      "storage, log, http, collect, monitoring, health, rules, alerting, notify, "
                      "export");
    expect_load_error("scrape_configs: []\n", VIGIL_EPARSE,
                      "t.yml:1:1: unknown key \"scrape_configs\"; expected one of listen, "
                      "rule_files, storage, log, http, collect, monitoring, health, rules, "
                      "alerting, notify, export");
    expect_load_error("- a\n- b\n", VIGIL_EPARSE,
                      "t.yml:1:1: expected a mapping of keys at the top level, got a list");
    expect_load_error("health: 5\n", VIGIL_EPARSE,
                      "t.yml:1:9: health: expected a mapping, got a scalar");
    expect_load_error("http:\n  threads: \"4\"\n", VIGIL_EPARSE,
                      "t.yml:2:12: http.threads: expected an integer, got the quoted string "
                      "\"4\"");
    expect_load_error("http:\n  threads: [4]\n", VIGIL_EPARSE,
                      "t.yml:2:12: http.threads: expected an integer, got a list");
    expect_load_error("http:\n  threads:\n", VIGIL_EPARSE,
                      "t.yml:2:11: http.threads: expected an integer, got null");
    expect_load_error("alerting:\n  enabled: yes\n", VIGIL_EPARSE,
                      "t.yml:2:12: alerting.enabled: expected true or false, got \"yes\"");
    expect_load_error("listen: localhost\n", VIGIL_EPARSE,
                      "t.yml:1:9: listen: expected host:port like 127.0.0.1:9470, [::1]:9470 "
                      "or :9470, got \"localhost\"");
    expect_load_error("storage:\n  path: \"\"\n", VIGIL_EPARSE,
                      "t.yml:2:9: storage.path: must not be empty");
    expect_load_error("storage:\n  retention_size: 5\n", VIGIL_EPARSE,
                      "t.yml:2:19: storage.retention_size: expected a size like 512MB, 10MiB or "
                      "0, got \"5\" (missing unit)");
    expect_load_error("http:\n  max_body_size: 2GiB\n", VIGIL_ERANGE,
                      "t.yml:2:18: http.max_body_size: must be between 1KiB and 1GiB, got 2GiB");
    expect_load_error("collect:\n  interval: 50ms\n", VIGIL_ERANGE,
                      "t.yml:2:13: collect.interval: must be between 100ms and 1h, got 50ms");
    expect_load_error("monitoring:\n  latency_percentiles: [50, 99, 90]\n", VIGIL_ERANGE,
                      "t.yml:2:33: monitoring.latency_percentiles: values must be strictly "
                      "increasing, got \"90\" after 99");
    expect_load_error("monitoring:\n  latency_percentiles: [0, 50]\n", VIGIL_ERANGE,
                      "t.yml:2:25: monitoring.latency_percentiles: must be greater than 0 and "
                      "less than 100, got 0");
    expect_load_error("monitoring:\n  latency_percentiles: [50, {a: 1}]\n", VIGIL_EPARSE,
                      "t.yml:2:29: monitoring.latency_percentiles: expected a number, got a "
                      "mapping");
    expect_load_error("monitoring:\n  latency_percentiles: 50\n", VIGIL_EPARSE,
                      "t.yml:2:24: monitoring.latency_percentiles: expected a list of numbers, "
                      "got a scalar");
    expect_load_error("alerting:\n  channels: [a, a]\n", VIGIL_EPARSE,
                      "t.yml:2:17: alerting.channels: \"a\" is listed twice");
    expect_load_error("health:\n  memory:\n    warning: 101\n", VIGIL_ERANGE,
                      "t.yml:3:14: health.memory.warning: must be between 0 and 100, got 101");
    expect_load_error("health:\n  memory:\n    warning: 1e999\n", VIGIL_ERANGE,
                      "t.yml:3:14: health.memory.warning: must be between 0 and 100, got 1e999");
    expect_load_error("health:\n  memory:\n    warning: nan\n", VIGIL_EPARSE,
                      "t.yml:3:14: health.memory.warning: expected a number, got \"nan\"");
    expect_load_error("log:\n  file: \"a\\0b\"\n", VIGIL_EPARSE,
                      "t.yml:2:9: log.file: contains a NUL byte");
    expect_load_error("? [a]\n: 1\n", VIGIL_EPARSE,
                      "t.yml:1:3: expected a key name, got a list");
    expect_load_error("log: {}\n---\nlog: {}\n", VIGIL_EPARSE,
                      "t.yml:2:1: only one YAML document is allowed in a config file");
    expect_load_error("log: *nope\n", VIGIL_EPARSE,
                      "t.yml:1:6: syntax error: found undefined alias");
    expect_load_error("log:\n\tlevel: info\n", VIGIL_EPARSE,
                      "t.yml:2:1: syntax error: found character that cannot start any token "
                      "(while scanning for the next token at 2:1)");
    expect_load_error("log:\n  level: \xff\n", VIGIL_EPARSE,
                      "t.yml:2:10: syntax error: invalid leading UTF-8 octet");

    config_t cfg;
    vigil_error_t err;
    config_init(&cfg);
    assert_int_equal(config_load_file(&cfg, FIX "does-not-exist.yml", &err), VIGIL_EIO);
    assert_string_equal(err.message, FIX "does-not-exist.yml: No such file or directory");
    assert_int_equal(config_load_file(&cfg, FIX, &err), VIGIL_EIO);  /* a directory */

    /* Inputs are capped: a config over 4 MiB is refused before parsing. */
    size_t big = 4u * 1024 * 1024 + 1;
    char *huge = calloc(1, big);
    assert_non_null(huge);
    memset(huge, '#', big);
    assert_int_equal(config_load_buffer(&cfg, "big.yml", huge, big, &err), VIGIL_ELIMIT);
    assert_string_equal(err.message, "big.yml: larger than 4194304 bytes");
    free(huge);

    /* Lists are capped too. */
    char nums[512] = "";
    for (int i = 1; i <= CONFIG_NUMBER_LIST_MAX + 1; i++)
        snprintf(nums + strlen(nums), sizeof(nums) - strlen(nums), "%s%d", i > 1 ? "," : "", i);
    assert_int_equal(config_set(&cfg, "monitoring.latency_percentiles", nums, &err),
                     VIGIL_ERANGE);
    assert_string_equal(err.message, "--monitoring.latency_percentiles: at most 32 values");
    config_free(&cfg);
}

static void test_flag_errors(void **state)
{
    (void)state;
    config_t cfg, before;
    vigil_error_t err;
    config_init(&cfg);
    config_init(&before);
    assert_int_equal(config_set(&cfg, "http.bogus", "1", &err), VIGIL_ENOENT);
    assert_string_equal(err.message, "--http.bogus: unknown flag");
    assert_int_equal(config_set(&cfg, "health", "1", &err), VIGIL_ENOENT);
    assert_int_equal(config_set(&cfg, "log.level", "verbose", &err), VIGIL_EPARSE);
    assert_string_equal(err.message, "--log.level: expected one of error, warn, info, debug, "
                                     "trace, got \"verbose\"");
    assert_int_equal(config_set(&cfg, "http.max_connections", "0", &err), VIGIL_ERANGE);
    assert_string_equal(err.message, "--http.max_connections: must be between 1 and 65535, "
                                     "got 0");
    assert_int_equal(config_set(&cfg, "http.threads", "99999999999999999999", &err),
                     VIGIL_ERANGE);
    assert_int_equal(config_set(&cfg, "http.threads", " 4", &err), VIGIL_EPARSE);
    assert_int_equal(config_set(&cfg, "http.threads", "4.0", &err), VIGIL_EPARSE);
    assert_int_equal(config_set(&cfg, "http.threads", "0x4", &err), VIGIL_EPARSE);
    assert_int_equal(config_set(&cfg, "alerting.channels", "a,,b", &err), VIGIL_EPARSE);
    assert_string_equal(err.message, "--alerting.channels: empty name in list");
    assert_int_equal(config_set(&cfg, "monitoring.latency_percentiles", "50,100", &err),
                     VIGIL_ERANGE);
    assert_int_equal(config_set(&cfg, "storage.retention_time", "10", &err), VIGIL_EPARSE);
    assert_string_equal(err.message, "--storage.retention_time: expected a duration like 1h30m, "
                                     "15d or 500ms, got \"10\" (missing unit)");
    assert_int_equal(config_set(&cfg, "log.level", NULL, &err), VIGIL_EINVAL);
    assert_true(config_equal(&cfg, &before));  /* failed flags change nothing */
    config_free(&cfg);
    config_free(&before);
}

static void test_validate(void **state)
{
    (void)state;
    config_t cfg;
    vigil_error_t err;

    config_init(&cfg);
    assert_int_equal(config_load_file(&cfg, FIX "warning_ge_critical.yml", &err), 0);
    assert_int_equal(config_validate(&cfg, &err), VIGIL_EINVAL);
    assert_string_equal(err.message,
                        FIX "warning_ge_critical.yml:4:14: health.disk.warning: must be less "
                            "than health.disk.critical (90), got 90");
    /* A flag can repair what the file broke: precedence is applied before validation. */
    assert_int_equal(config_set(&cfg, "health.disk.critical", "91", &err), 0);
    assert_int_equal(config_validate(&cfg, &err), 0);
    config_free(&cfg);

    config_init(&cfg);
    assert_int_equal(config_load_file(&cfg, FIX "critical_below_warning.yml", &err), 0);
    assert_int_equal(config_validate(&cfg, &err), VIGIL_EINVAL);
    assert_string_equal(err.message,
                        FIX "critical_below_warning.yml:3:15: health.cpu.critical: must be "
                            "greater than health.cpu.warning (85), got 50");
    config_free(&cfg);

    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "health.gpu_memory.warning", "99", &err), 0);
    assert_int_equal(config_validate(&cfg, &err), VIGIL_EINVAL);
    assert_string_equal(err.message, "--health.gpu_memory.warning: must be less than "
                                     "health.gpu_memory.critical (95), got 99");
    config_free(&cfg);

    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "http.max_connections", "2", &err), 0);
    assert_int_equal(config_validate(&cfg, &err), VIGIL_EINVAL);
    assert_string_equal(err.message, "--http.max_connections: must be at least http.threads "
                                     "(4), got 2");
    assert_int_equal(config_set(&cfg, "http.threads", "2", &err), 0);
    assert_int_equal(config_validate(&cfg, &err), 0);  /* equal is allowed here */
    config_free(&cfg);
}

/* ---- the collectors' keys ------------------------------------------------------------ */

/* CONFIG_COLLECTORS() is a copy of collect_host_table()'s names (the config cannot include
 * the collectors); this is what keeps the two in step. The defaults must be what the
 * collectors do on their own, since collect_config.c passes every enable flag through and
 * the docs promise that an interval of 0s means collect.interval. */
static void test_collector_list_matches_table(void **state)
{
    (void)state;
    size_t n;
    const collect_def_t *const *defs = collect_host_table(&n);
    config_t cfg;
    config_init(&cfg);
    for (size_t i = 0; i < n || i < CONFIG_COLLECTOR_COUNT; i++) {
        const char *ours = config_collector_name((config_collector_id_t)i);
        const char *theirs = i < n ? defs[i]->name : NULL;
        if (ours == NULL || theirs == NULL || strcmp(ours, theirs) != 0)
            fail_msg("CONFIG_COLLECTORS() in config.h and collect_host_table() differ at %zu: "
                     "%s vs %s", i, ours ? ours : "(end)", theirs ? theirs : "(end)");
        if (cfg.collect.collectors[i].enabled != defs[i]->enabled)
            fail_msg("collect.%s.enabled defaults differently from the collector", ours);
        if (defs[i]->interval_ms != 0)
            fail_msg("collector %s has its own default interval: document it in the schema",
                     ours);
        char key[64];
        snprintf(key, sizeof(key), "collect.%s.enabled", ours);
        assert_non_null(config_key_find(key));
        snprintf(key, sizeof(key), "collect.%s.interval", ours);
        assert_non_null(config_key_find(key));
    }
    assert_null(config_collector_name(CONFIG_COLLECTOR_COUNT));
    config_free(&cfg);
}

static void test_collect_keys(void **state)
{
    (void)state;
    config_t cfg;
    vigil_error_t err;

    /* A bad regex is caught where it is written, in the file and in a flag. */
    expect_load_error("collect:\n  filesystem:\n    mount_points_exclude: \"^/(dev\"\n",
                      VIGIL_EPARSE,
                      "t.yml:3:27: collect.filesystem.mount_points_exclude: expected a POSIX "
                      "extended regex, got \"^/(dev\" (Unmatched ( or \\()");
    expect_load_error("collect:\n  process:\n    name_regex: a{2,1}\n", VIGIL_EPARSE,
                      "t.yml:3:17: collect.process.name_regex: expected a POSIX extended "
                      "regex, got \"a{2,1}\" (Invalid content of \\{\\})");
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "collect.netdev.device_exclude", "[lo", &err),
                     VIGIL_EPARSE);
    assert_string_equal(err.message, "--collect.netdev.device_exclude: expected a POSIX "
                                     "extended regex, got \"[lo\" (Unmatched [, [^, [:, [., "
                                     "or [=)");
    assert_int_equal(config_set(&cfg, "collect.vmstat.fields", "*", &err), VIGIL_EPARSE);
    assert_int_equal(config_set(&cfg, "collect.diskstats.device_exclude", "^(ram|loop)", &err),
                     0);
    assert_int_equal(config_set(&cfg, "collect.diskstats.device_exclude", "", &err), 0);

    /* Per-collector intervals: 0 (inherit) or collect.interval's own range. */
    expect_load_error("collect:\n  cpu:\n    interval: 50ms\n", VIGIL_ERANGE,
                      "t.yml:3:15: collect.cpu.interval: must be 0, or between 100ms and 1h, "
                      "got 50ms");
    assert_int_equal(config_set(&cfg, "collect.cpu.interval", "0", &err), 0);
    assert_int_equal(config_set(&cfg, "collect.cpu.interval", "100ms", &err), 0);
    assert_int_equal(config_set(&cfg, "collect.cpu.interval", "2h", &err), VIGIL_ERANGE);
    assert_int_equal(config_set(&cfg, "collect.bogus.enabled", "true", &err), VIGIL_ENOENT);
    expect_load_error("collect:\n  bogus:\n    enabled: true\n", VIGIL_EPARSE,
                      "t.yml:2:3: unknown key \"collect.bogus\"; expected one of interval, "
                      "path, cpu, stat, meminfo, vmstat, loadavg, diskstats, filesystem, "
                      "netdev, pressure, filefd, uname, os, time, gpu, process, cgroup");

    /* Pids are whole numbers of the kernel's range. */
    expect_load_error("collect:\n  process:\n    pids: [1, 2.5]\n", VIGIL_ERANGE,
                      "t.yml:3:15: collect.process.pids: must be a whole number between 1 "
                      "and 4194304, got 2.5");
    assert_int_equal(config_set(&cfg, "collect.process.pids", "0", &err), VIGIL_ERANGE);
    assert_int_equal(config_set(&cfg, "collect.process.pids", "4194305", &err), VIGIL_ERANGE);
    assert_int_equal(config_set(&cfg, "collect.process.pids", "1e3, 42", &err), 0);
    assert_int_equal(cfg.collect.process.pids.count, 2);
    assert_true(cfg.collect.process.pids.items[0] == 1000);

    /* Paths cannot be empty: "" would make every collector read relative to the cwd. */
    assert_int_equal(config_set(&cfg, "collect.path.procfs", "", &err), VIGIL_EPARSE);
    assert_string_equal(err.message, "--collect.path.procfs: must not be empty");
    assert_int_equal(config_set(&cfg, "collect.process.max", "0", &err), VIGIL_ERANGE);
    assert_int_equal(config_validate(&cfg, &err), 0);
    config_free(&cfg);

    /* Every collector key needs a restart: reload does not re-create the collectors. */
    size_t count;
    const config_key_t *keys = config_keys(&count);
    for (size_t i = 0; i < count; i++)
        if (strncmp(keys[i].key, "collect.", 8) == 0 && !(keys[i].flags & CONFIG_F_RESTART))
            fail_msg("%s is applied on reload, but nothing re-creates the collectors",
                     keys[i].key);
}

/* ---- dump, copy ---------------------------------------------------------------------- */

/* Dumps `cfg`, loads the text into fresh defaults and checks it comes back equal. */
static void assert_round_trip(const config_t *cfg)
{
    buf_t out;
    config_t back;
    vigil_error_t err;
    buf_init(&out, 1 << 20);
    assert_int_equal(config_dump_yaml(cfg, &out), 0);
    config_init(&back);
    if (config_load_buffer(&back, "dump.yml", out.data, out.len, &err) != 0)
        fail_msg("%s\n%s", err.message, out.data);
    if (!config_equal(cfg, &back))
        fail_msg("dump does not reload to an equal config:\n%s", out.data);
    config_free(&back);
    buf_free(&out);
}

static void test_dump_round_trip(void **state)
{
    (void)state;
    config_t cfg;
    vigil_error_t err;

    config_init(&cfg);
    assert_round_trip(&cfg);
    buf_t out;
    buf_init(&out, 1 << 16);
    assert_int_equal(config_dump_yaml(&cfg, &out), 0);
    assert_non_null(strstr(out.data, "\nhealth:\n  memory:\n    warning: 80\n    critical: 90\n"));
    assert_non_null(strstr(out.data, "\n  retention_time: 15d\n"));
    assert_non_null(strstr(out.data, "\n  max_body_size: 32MiB\n"));
    assert_non_null(strstr(out.data, "\n  latency_percentiles: [50, 90, 95, 99]\n"));
    assert_non_null(strstr(out.data, "\nexport:\n  json:\n    enabled: false\n"));
    buf_free(&out);

    assert_int_equal(config_load_file(&cfg, FIX "full.yml", &err), 0);
    assert_round_trip(&cfg);

    /* Values only flags can produce: odd strings, odd sizes and durations. */
    assert_int_equal(config_set(&cfg, "storage.path", "a \"quoted\"\\path\twith\nnewline: #x",
                                &err), 0);
    /* Non-ASCII survives; C1 controls and Unicode line breaks must be escaped, since YAML
     * readers reject the former raw and fold the latter into spaces. */
    assert_int_equal(config_set(&cfg, "log.file", "caf\xc3\xa9 \xe2\x80\xa8 \xc2\x85 \xc2\x80 "
                                "\xef\xbb\xbf \xf0\x9f\x93\x88 \x01\x7f", &err), 0);
    assert_int_equal(config_set(&cfg, "export.json.path", "\xff", &err), VIGIL_EPARSE);
    assert_string_equal(err.message, "--export.json.path: is not valid UTF-8: \"\\xff\"");
    assert_int_equal(config_set(&cfg, "alerting.channels", "ok,\xc0\x80", &err), VIGIL_EPARSE);
    assert_int_equal(config_set(&cfg, "storage.retention_size", "1000B", &err), 0);
    assert_int_equal(config_set(&cfg, "storage.retention_time", "1y2w3d4h5m6s7ms", &err), 0);
    assert_int_equal(config_set(&cfg, "alerting.channels", "x: y,- z,[w]", &err), 0);
    assert_int_equal(config_set(&cfg, "monitoring.latency_percentiles", "0.001,33.3333333333,"
                                "99.99999", &err), 0);
    assert_int_equal(config_set(&cfg, "health.cpu.warning", "1e-7", &err), 0);
    assert_round_trip(&cfg);
    config_free(&cfg);
}

static void test_copy_is_deep(void **state)
{
    (void)state;
    config_t a, b;
    vigil_error_t err;
    config_init(&a);
    assert_int_equal(config_load_file(&a, FIX "full.yml", &err), 0);
    assert_int_equal(config_copy(&b, &a), 0);
    assert_true(config_equal(&a, &b));
    assert_ptr_not_equal(a.storage.path, b.storage.path);
    assert_ptr_not_equal(a.alerting.channels.items[0], b.alerting.channels.items[0]);
    config_free(&a);  /* b must survive a */
    assert_string_equal(b.alerting.channels.items[1], "on-call");
    assert_string_equal(b.export.json.path, "./out/json");
    /* Provenance travels with the copy, so a reload can still point at the file. */
    assert_int_equal(config_set(&b, "health.disk.warning", "60", &err), 0);
    assert_int_equal(config_validate(&b, &err), VIGIL_EINVAL);
    assert_string_equal(err.message, "--health.disk.warning: must be less than "
                                     "health.disk.critical (60), got 60");
    config_free(&b);
}

/* ---- value parsers ------------------------------------------------------------------- */

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t    ms;
        const char *printed;
    } ok[] = {
        { "0", 0, "0s" },           { "0s", 0, "0s" },          { "500ms", 500, "500ms" },
        { "1h30m", 5400000, "1h30m" }, { "15d", 1296000000, "15d" }, { "2w", 1209600000, "2w" },
        { "1y", 31536000000, "1y" }, { "90d", 7776000000, "90d" }, { "1m1ms", 60001, "1m1ms" },
        { "1y2w3d4h5m6s7ms", 33019506007, "382d4h5m6s7ms" },  /* y, w only when exact */
        { "106751d23h47m16s854ms", 9223372036854, "106751d23h47m16s854ms" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms;
        char why[CONFIG_WHY_MAX], out[64];
        if (config_parse_duration(ok[i].text, &ms, why, sizeof(why)) != 0)
            fail_msg("%s: %s", ok[i].text, why);
        assert_int_equal(ms, ok[i].ms);
        config_format_duration(ms, out, sizeof(out));
        assert_string_equal(out, ok[i].printed);
    }
    static const struct {
        const char *text;
        int         code;
        const char *why;
    } bad[] = {
        { "", VIGIL_EPARSE, "expected a duration like 1h30m, 15d or 500ms, got \"\"" },
        { "10", VIGIL_EPARSE,
          "expected a duration like 1h30m, 15d or 500ms, got \"10\" (missing unit)" },
        { "1h1h", VIGIL_EPARSE, "expected a duration like 1h30m, 15d or 500ms, got \"1h1h\" "
                                "(each unit at most once, largest first)" },
        { "30m1h", VIGIL_EPARSE, "expected a duration like 1h30m, 15d or 500ms, got \"30m1h\" "
                                 "(each unit at most once, largest first)" },
        { "-5s", VIGIL_EPARSE,
          "expected a duration like 1h30m, 15d or 500ms, got \"-5s\" (negative)" },
        { "1.5h", VIGIL_EPARSE, "expected a duration like 1h30m, 15d or 500ms, got \"1.5h\" "
                                "(fractions are not allowed: 1h30m, not 1.5h)" },
        { "5x", VIGIL_EPARSE, "expected a duration like 1h30m, 15d or 500ms, got \"5x\" "
                              "(units are y, w, d, h, m, s, ms)" },
        { "5 s", VIGIL_EPARSE, "expected a duration like 1h30m, 15d or 500ms, got \"5 s\" "
                               "(units are y, w, d, h, m, s, ms)" },
        { "1h ", VIGIL_EPARSE, "expected a duration like 1h30m, 15d or 500ms, got \"1h \"" },
        { "h", VIGIL_EPARSE, "expected a duration like 1h30m, 15d or 500ms, got \"h\"" },
        { "1000y", VIGIL_ERANGE, "duration \"1000y\" is too long (at most 292y)" },
        { "293y", VIGIL_ERANGE, "duration \"293y\" is too long (at most 292y)" },
        { "106751d23h47m16s855ms", VIGIL_ERANGE,
          "duration \"106751d23h47m16s855ms\" is too long (at most 292y)" },
        { "99999999999999999999999s", VIGIL_ERANGE,
          "duration \"99999999999999999999999s\" is too long (at most 292y)" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms = 42;
        char why[CONFIG_WHY_MAX];
        int rc = config_parse_duration(bad[i].text, &ms, why, sizeof(why));
        if (rc != bad[i].code || strcmp(why, bad[i].why) != 0)
            fail_msg("\"%s\": rc %d why %s", bad[i].text, rc, why);
        assert_int_equal(ms, 42);
    }
}

static void test_sizes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t    bytes;
        const char *printed;
    } ok[] = {
        { "0", 0, "0" },                  { "0B", 0, "0" },
        { "1B", 1, "1B" },                { "1000B", 1000, "1000B" },
        { "1KB", 1024, "1KiB" },          { "1KiB", 1024, "1KiB" },
        { "512MB", 512ull << 20, "512MiB" }, { "10MiB", 10ull << 20, "10MiB" },
        { "1GB", 1ull << 30, "1GiB" },    { "1536MiB", 1536ull << 20, "1536MiB" },
        { "2TB", 2ull << 40, "2TiB" },    { "15EiB", 15ull << 60, "15EiB" },
        { "18446744073709551615B", UINT64_MAX, "18446744073709551615B" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t b;
        char why[CONFIG_WHY_MAX], out[64];
        if (config_parse_size(ok[i].text, &b, why, sizeof(why)) != 0)
            fail_msg("%s: %s", ok[i].text, why);
        assert_true(b == ok[i].bytes);
        config_format_size(b, out, sizeof(out));
        assert_string_equal(out, ok[i].printed);
    }
    static const struct {
        const char *text;
        int         code;
    } bad[] = {
        { "", VIGIL_EPARSE },     { "5", VIGIL_EPARSE },     { "MB", VIGIL_EPARSE },
        { "-1MB", VIGIL_EPARSE }, { "1.5GB", VIGIL_EPARSE }, { "1mb", VIGIL_EPARSE },
        { "1 MB", VIGIL_EPARSE }, { "1MBB", VIGIL_EPARSE },  { "16EiB", VIGIL_ERANGE },
        { "18446744073709551616B", VIGIL_ERANGE },           { "99999999999999999999999KB",
                                                               VIGIL_ERANGE },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t b = 42;
        char why[CONFIG_WHY_MAX];
        int rc = config_parse_size(bad[i].text, &b, why, sizeof(why));
        if (rc != bad[i].code)
            fail_msg("\"%s\": rc %d why %s", bad[i].text, rc, why);
        assert_true(b == 42);
    }
    char why[CONFIG_WHY_MAX];
    uint64_t b;
    assert_int_equal(config_parse_size("5", &b, why, sizeof(why)), VIGIL_EPARSE);
    assert_string_equal(why, "expected a size like 512MB, 10MiB or 0, got \"5\" (missing unit)");
}

static void test_addresses(void **state)
{
    (void)state;
    static const char *const ok[] = { "127.0.0.1:9470", "[::1]:9470", "localhost:0",
                                      ":9470", "[fe80::1%eth0]:80", "my-host.example:65535" };
    static const char *const bad[] = { "", "9470", "127.0.0.1", "127.0.0.1:", "::1:9470",
                                       "[::1]9470", "[]:1", "host:65536", "host:123456",
                                       "host:-1", "a b:1", "host:1x" };
    config_t cfg;
    vigil_error_t err;
    config_init(&cfg);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (config_set(&cfg, "listen", ok[i], &err) != 0)
            fail_msg("%s: %s", ok[i], err.message);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (config_set(&cfg, "listen", bad[i], &err) != VIGIL_EPARSE)
            fail_msg("\"%s\" accepted", bad[i]);
    config_free(&cfg);
}

static void test_quote_caps_messages(void **state)
{
    (void)state;
    char q[64];
    config_quote("a\"b\\c\n\x01", q, sizeof(q));
    assert_string_equal(q, "\"a\\\"b\\\\c\\x0a\\x01\"");
    config_quote("0123456789012345678901234567890123456789XYZ", q, sizeof(q));
    assert_string_equal(q, "\"0123456789012345678901234567890123456789...\"");
}

/* ---- docs ---------------------------------------------------------------------------- */

static void test_docs_cover_every_key(void **state)
{
    (void)state;
    char *doc = slurp("docs/configuration.md");
    size_t count;
    const config_key_t *keys = config_keys(&count);
    for (size_t i = 0; i < count; i++) {
        char needle[128];
        snprintf(needle, sizeof(needle), "`%s`", keys[i].key);
        if (strstr(doc, needle) == NULL)
            fail_msg("docs/configuration.md does not mention %s", needle);
    }

    /* The key table between the markers is exactly what config_doc_table() generates;
     * regenerate it with build-dir/test/config_doc_table after changing the schema. */
    static const char begin[] = "<!-- BEGIN GENERATED KEY TABLE -->\n";
    static const char end[] = "<!-- END GENERATED KEY TABLE -->";
    char *b = strstr(doc, begin), *e = strstr(doc, end);
    assert_non_null(b);
    assert_non_null(e);
    b += strlen(begin);
    buf_t table;
    buf_init(&table, 1 << 16);
    assert_int_equal(config_doc_table(&table), 0);
    if ((size_t)(e - b) != table.len || memcmp(b, table.data, table.len) != 0)
        fail_msg("the key table in docs/configuration.md is stale; regenerate it:\n%s",
                 table.data);
    buf_free(&table);

    /* The complete example is there, and it and every other YAML example load and
     * validate. */
    assert_non_null(strstr(doc, "```yaml\n# vigil.yml"));
    size_t examples = 0;
    for (char *y = doc; (y = strstr(y, "```yaml\n")) != NULL; examples++) {
        y += strlen("```yaml\n");
        char *y_end = strstr(y, "```");
        assert_non_null(y_end);
        config_t cfg;
        vigil_error_t err;
        config_init(&cfg);
        if (config_load_buffer(&cfg, "docs example", y, (size_t)(y_end - y), &err) != 0 ||
            config_validate(&cfg, &err) != 0)
            fail_msg("%s", err.message);
        config_free(&cfg);
        y = y_end + 3;
    }
    assert_true(examples >= 2);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_table),
        cmocka_unit_test(test_full_file_loads_every_field),
        cmocka_unit_test(test_partial_file_keeps_other_values),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_more_load_errors),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_collector_list_matches_table),
        cmocka_unit_test(test_collect_keys),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_copy_is_deep),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_quote_caps_messages),
        cmocka_unit_test(test_docs_cover_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
