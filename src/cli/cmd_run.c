/*
 * cmd_run.c - `vigil run [flags]`: parse flags into config keys, then hand over to the agent.
 *
 * Every configuration key is a flag (`--http.threads=8` or `--http.threads 8`); a few common
 * ones have short aliases (`--listen`, `--data`, `--log-level`, `--log-format`). Each flag is
 * checked here against the config schema so a typo fails at once with usage and exit 2, before
 * anything starts.
 */
#include "cli/cli.h"

#include "agent/agent.h"
#include "config/config.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* At most two malloc arenas for the agent. glibc gives each thread that allocates while
 * others hold the lock its own arena, up to 8 per core: the agent's 25 threads (one per
 * collector, the HTTP workers, health, WAL, compaction) end up with about 16, each with its
 * own partly used top chunk and free lists, ~100-170 kB of resident memory of the agent's 2.5
 * MiB anonymous. The threads are idle nearly all the time, and small allocations are served
 * by glibc's per-thread cache without taking an arena lock, so sharing costs no measurable
 * time; two arenas rather than one keep an HTTP query that allocates a lot from serialising
 * every collector. An operator's own MALLOC_ARENA_MAX or glibc.malloc.arena_max tunable
 * wins. */
static void limit_malloc_arenas(void)
{
    const char *tunables = getenv("GLIBC_TUNABLES");
    if (getenv("MALLOC_ARENA_MAX") != NULL ||
        (tunables != NULL && strstr(tunables, "glibc.malloc.arena_max") != NULL))
        return;
    mallopt(M_ARENA_MAX, 2);
}

int cmd_run(int argc, char **argv)
{
    limit_malloc_arenas();
    const cli_command_t *self = cli_find("run");
    agent_flag_t *flags = calloc((size_t)argc, sizeof(*flags));
    const char **rule_files = calloc((size_t)argc, sizeof(*rule_files));
    if (flags == NULL || rule_files == NULL) {
        free(flags);
        free(rule_files);
        return 1;
    }
    agent_args_t args = { .config_path = NULL, .flags = flags, .flag_count = 0,
                          .rule_files = rule_files, .rule_file_count = 0 };
    config_t scratch;
    config_init(&scratch);
    int status = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            status = cli_usage_error(self, "run: unexpected argument '%s'", arg);
            goto out;
        }
        /* Split "--name=value" or take the value from the next argument. */
        char name[256];
        const char *value;
        size_t name_len = strcspn(arg + 2, "=");
        if (name_len >= sizeof(name)) {
            status = cli_usage_error(self, "run: flag too long: '%.40s...'", arg);
            goto out;
        }
        memcpy(name, arg + 2, name_len);
        name[name_len] = '\0';
        if (arg[2 + name_len] == '=') {
            value = arg + 2 + name_len + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            status = cli_usage_error(self, "run: flag --%s needs a value", name);
            goto out;
        }
        if (strcmp(name, "config") == 0) {
            args.config_path = value;
            continue;
        }
        if (strcmp(name, "rules") == 0) { /* repeatable: each adds a rule file or glob */
            rule_files[args.rule_file_count++] = value;
            continue;
        }
        /* The flag list outlives this loop (reloads re-apply it): keep a copy of the key. */
        const char *alias = config_flag_alias(name);
        char *key = strdup(alias != NULL ? alias : name);
        if (key == NULL) {
            status = 1;
            goto out;
        }
        flags[args.flag_count].key = key;
        flags[args.flag_count].value = value;
        args.flag_count++;
        vigil_error_t err;
        int rc = config_set(&scratch, key, value, &err);
        if (rc == VIGIL_ENOENT) {
            status = cli_usage_error(self, "run: unknown flag '--%s'", name);
            goto out;
        }
        if (rc != 0) {
            status = cli_usage_error(self, "%s", err.message);
            goto out;
        }
    }
    status = agent_main(&args);
out:
    config_free(&scratch);
    for (size_t i = 0; i < args.flag_count; i++)
        free((char *)flags[i].key);
    free(flags);
    free(rule_files);
    return status;
}
