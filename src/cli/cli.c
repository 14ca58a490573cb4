/*
 * cli.c - the command table of the vigil binary, `vigil help` and `vigil version`.
 *
 * Adding a command means one row here and one cmd_* function in its own file. Subcommands
 * (`vigil check config`) are rows of a nested table.
 */
#include "cli/cli.h"

#include "util/version.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int cmd_help(int argc, char **argv);

static const cli_command_t check_commands[] = {
    { "config", "FILE", "validate a configuration file without starting",
      "Parses FILE exactly as `vigil run --config FILE` would and reports every problem as\n"
      "file:line:col: message. Exit 0 when valid, 2 when not.\n",
      cmd_check_config, NULL },
    { "metrics", "[--strict] [--format F] < FILE",
      "validate a metrics exposition (text or OpenMetrics)",
      "Parses the exposition on stdin (--format text, the default, or openmetrics) and reports the\n"
      "first problem as stdin:line:col: message. --strict: OpenMetrics 1.0 to the letter, or for text\n"
      "what promtool check metrics rejects; without it, what Prometheus's scraper accepts.\n"
      "Exit 0 when valid, 1 when not, 2 on a usage error.\n",
      cmd_check_metrics, NULL },
    { "rules",
      "[--lint=duplicate-rules|all|none] [--lint-fatal] [--ignore-unknown-fields] "
      "[--validation-scheme=utf8|legacy] FILE...",
      "validate Prometheus rule files",
      "Loads each FILE as the agent would and reports every problem as file:line:col. Duplicate rules\n"
      "are a lint error. Exit 0 valid, 1 invalid, 3 lint problems with --lint-fatal, 2 usage.\n",
      cmd_check_rules, NULL },
    { "notify", "[--lenient] FILE...", "validate an Alertmanager configuration file",
      "Loads each FILE as the notifier does and reports as `amtool check-config`, with the\n"
      "problem's file:line:col. --lenient: placeholder receiver URLs only disable their\n"
      "integration (warnings), as the agent loads them. Exit 0 valid, 1 invalid, 2 usage.\n",
      cmd_check_notify, NULL },
    { NULL, NULL, NULL, NULL, NULL, NULL },
};

static const cli_command_t test_commands[] = {
    { "promql", "[-v] FILE...", "run Prometheus .test scripts against the PromQL engine",
      "Runs each FILE (Prometheus' promqltest language, docs/promql.md) and prints each failure as\n"
      "FILE:LINE, each skip with its rule, then \"N passed, N failed, N skipped\". -v prints passes.\n"
      "Exit 0 when nothing failed, 1 when an eval failed, 2 on usage errors or unreadable files.\n",
      cmd_test_promql, NULL },
    { "rules", "[--run REGEX] [--ignore-unknown-fields] FILE...", "run promtool rule unit tests",
      "Runs promtool test rules files (input_series, alert_rule_test, promql_expr_test).\n"
      "Exit 0 when all pass, 1 when a test fails or a file is unusable, 2 usage.\n",
      cmd_test_rules, NULL },
    { NULL, NULL, NULL, NULL, NULL, NULL },
};

static const cli_command_t promql_commands[] = {
    { "format", "EXPR", "pretty-print a PromQL expression",
      "Parses EXPR and prints it as `promtool promql format` does (lines split past 100 columns).\n"
      "Parse errors are printed as line:col: parse error: ...; exit 1.\n",
      cmd_promql_format, NULL },
    { NULL, NULL, NULL, NULL, NULL, NULL },
};

static const cli_command_t import_commands[] = {
    { "openmetrics", "FILE --data DIR",
      "bulk-import an OpenMetrics file into a stopped agent's data directory",
      "Appends every sample of FILE (OpenMetrics 1.0; - for stdin) to the store in DIR, like\n"
      "`promtool tsdb create-blocks-from openmetrics`: takes DIR's lock (a running agent's directory is\n"
      "refused), commits with fsync, prints the samples and new series. Each series' samples must be in\n"
      "time order. Exit 0 when all were stored; 1 for a malformed file (nothing stored, line:col), a\n"
      "locked or unusable directory, or refused samples (the others stay stored).\n",
      cmd_import_openmetrics, NULL },
    { NULL, NULL, NULL, NULL, NULL, NULL },
};

static const cli_command_t tsdb_commands[] = {
    { "stats", "--data DIR", "series, samples, bytes on disk and bytes/sample of a data directory",
      "Opens a stopped agent's data directory (takes its lock) and prints series, samples, time range,\n"
      "head, blocks, WAL, bytes on disk and bytes per sample. Exit 0, or 1 when unreadable or locked.\n",
      cmd_tsdb_stats, NULL },
    { NULL, NULL, NULL, NULL, NULL, NULL },
};

static const cli_command_t commands[] = {
    { "run", "[flags]", "start the agent in the foreground",
      "Starts the agent: HTTP API and /metrics on --listen, data in --data.\n"
      "Flags (each also a key of the config file; flag > file > default):\n"
      "  --config FILE         YAML configuration file (see docs/configuration.md)\n"
      "  --listen HOST:PORT    address to serve HTTP on (default 127.0.0.1:9470)\n"
      "  --data DIR            data directory, created and locked (default ./vigil-data)\n"
      "  --log-level LEVEL     error, warn, info, debug or trace (default info)\n"
      "  --log-format FORMAT   json or text (default json)\n"
      "  --rules FILE          a Prometheus rule file or glob (repeatable; adds to rule_files)\n"
      "  --notify.config FILE  an Alertmanager configuration: vigil delivers the rules' alerts\n"
      "                        itself (see docs/notify.md)\n"
      "  --KEY=VALUE           any config key by its dotted name, e.g. --http.max_connections=64\n"
      "Signals: SIGINT/SIGTERM shut down cleanly; SIGHUP reloads the config file.\n",
      cmd_run, NULL },
    { "check", "WHAT ...", "validate inputs without starting the agent",
      "Subcommands validate a file and exit 0 when it is valid.\n", NULL, check_commands },
    { "test", "WHAT ...", "run test scripts", "Subcommands run test scripts.\n", NULL,
      test_commands },
    { "promql", "COMMAND ...", "PromQL tools", "Subcommands work on PromQL expressions.\n", NULL,
      promql_commands },
    { "doctor", "[--listen HOST:PORT] [--data DIR]", "check that the agent can run here",
      "Checks the data directory, the listen address, /proc, cgroups and the NVIDIA driver and\n"
      "prints one row per check. Exit 0 when the agent can run, 1 when it cannot.\n",
      cmd_doctor, NULL },
    { "query", "[--server URL] [--time T] [--json] EXPR | --range --start T --end T --step D EXPR",
      "run a PromQL query against a running agent",
      "POSTs EXPR to URL/api/v1/query (or query_range with --range; default http://127.0.0.1:9470) and\n"
      "prints a table, warnings on stderr; --json prints the raw answer. Times: Unix seconds, RFC 3339,\n"
      "now, now-1h, -1h. Exit 0 on success, 1 on an API error or unreachable server, 2 on usage errors.\n",
      cmd_query, NULL },
    { "import", "FORMAT ...", "import samples into a data directory", "Subcommands import files.\n",
      NULL, import_commands },
    { "tsdb", "COMMAND ...", "inspect a stopped agent's store",
      "Subcommands inspect a data directory.\n", NULL, tsdb_commands },
    { "health", "[--json] [--server URL]", "ask a running agent's /health; exit 0/1/2",
      "GETs URL/health (default http://127.0.0.1:9470) and prints one line per component, or the\n"
      "JSON with --json. Exit 0 healthy, 1 warning or unknown, 2 critical or no answer: usable as\n"
      "a container liveness probe and a CI gate.\n",
      cmd_health, NULL },
    { "wrap", "[--json FILE] [--interval S] -- CMD ARGS...", "run a job under monitoring",
      "Runs CMD, samples its whole process tree every S seconds (default 1): CPU, RSS, I/O and,\n"
      "with NVML, GPU memory and utilisation. Signals are forwarded; the exit code is CMD's.\n"
      "The job gets VIGIL_STATSD=127.0.0.1:PORT; StatsD lines (name:value|c|g|ms|h, #tags) are\n"
      "counted and a counter `tokens` gives throughput_tok_per_s and latency_ms_per_tok.\n"
      "Prints a summary on stderr; --json FILE writes the summary and the sampled series.\n",
      cmd_wrap, NULL },
    { "version", "", "print version, revision and library versions",
      "Prints the vigil version and git revision, then the versions of the libraries it uses.\n",
      cmd_version, NULL },
    { "help", "[COMMAND ...]", "show help for a command", "Shows the help of a command.\n",
      cmd_help, NULL },
    { NULL, NULL, NULL, NULL, NULL, NULL },
};

static const cli_command_t *find_in(const cli_command_t *table, const char *name)
{
    for (const cli_command_t *c = table; c != NULL && c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const cli_command_t *cli_find(const char *name)
{
    return find_in(commands, name);
}

static void print_table(FILE *out, const char *prefix, const cli_command_t *table)
{
    for (const cli_command_t *c = table; c->name != NULL; c++) {
        char left[192];
        snprintf(left, sizeof(left), "%s%s %s", prefix, c->name, c->args);
        fprintf(out, "  %-34s %s\n", left, c->summary);
    }
}

/* Writes the words that name `cmd` ("check config") by finding it in the nested tables. */
static bool command_path(const cli_command_t *table, const cli_command_t *cmd, char *out,
                         size_t n)
{
    for (const cli_command_t *c = table; c != NULL && c->name != NULL; c++) {
        size_t len = strlen(out);
        if (c == cmd) {
            snprintf(out + len, n - len, "%s%s", len ? " " : "", c->name);
            return true;
        }
        if (c->subcommands != NULL) {
            snprintf(out + len, n - len, "%s%s", len ? " " : "", c->name);
            if (command_path(c->subcommands, cmd, out, n))
                return true;
            out[len] = '\0';
        }
    }
    return false;
}

void cli_print_usage(FILE *out, const cli_command_t *cmd)
{
    if (cmd == NULL) {
        fprintf(out, "usage: vigil COMMAND [ARGS]\n\ncommands:\n");
        print_table(out, "", commands);
        fprintf(out, "\nRun `vigil help COMMAND` for a command's flags.\n");
        return;
    }
    char path[128] = "";
    command_path(commands, cmd, path, sizeof(path));
    fprintf(out, "usage: vigil %s %s\n\n%s", path, cmd->args, cmd->help);
    if (cmd->subcommands != NULL) {
        char prefix[160];
        snprintf(prefix, sizeof(prefix), "%s ", path);
        fprintf(out, "\nsubcommands:\n");
        print_table(out, prefix, cmd->subcommands);
    }
}

int cli_usage_error(const cli_command_t *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vigil: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n\n", stderr);
    va_end(ap);
    cli_print_usage(stderr, cmd);
    return 2;
}

/* Descends argv through nested tables; returns the deepest command named and how many
 * arguments named it in *depth. */
static const cli_command_t *resolve(int argc, char **argv, int *depth)
{
    const cli_command_t *table = commands, *found = NULL;
    int i = 0;
    while (i < argc && table != NULL) {
        const cli_command_t *c = find_in(table, argv[i]);
        if (c == NULL)
            break;
        found = c;
        table = c->subcommands;
        i++;
    }
    *depth = i;
    return found;
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        cli_print_usage(stdout, NULL);
        return 0;
    }
    int depth;
    const cli_command_t *c = resolve(argc - 1, argv + 1, &depth);
    if (c == NULL || depth != argc - 1)
        return cli_usage_error(NULL, "help: unknown command '%s'", argv[1 + depth]);
    cli_print_usage(stdout, c);
    return 0;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(NULL, "no command given");
    const char *first = argv[1];
    if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
        cli_print_usage(stdout, NULL);
        return 0;
    }
    if (strcmp(first, "--version") == 0)
        return cmd_version(1, argv + 1);

    int depth;
    const cli_command_t *c = resolve(argc - 1, argv + 1, &depth);
    if (c == NULL)
        return cli_usage_error(NULL, "unknown command '%s'", first);
    if (c->run == NULL) {
        if (depth < argc - 1)
            return cli_usage_error(c, "%s: unknown subcommand '%s'", c->name, argv[1 + depth]);
        return cli_usage_error(c, "%s: a subcommand is required", c->name);
    }
    /* The command sees its own name as argv[0], as getopt expects. */
    int sub_argc = argc - depth;
    char **sub_argv = argv + depth;
    for (int i = 1; i < sub_argc; i++) {
        if (strcmp(sub_argv[i], "--help") == 0 || strcmp(sub_argv[i], "-h") == 0) {
            cli_print_usage(stdout, c);
            return 0;
        }
        if (strcmp(sub_argv[i], "--") == 0)
            break;
    }
    return c->run(sub_argc, sub_argv);
}
