/*
 * cli.h - the `vigil` command line: one table of commands, each a function.
 *
 * main() hands argv to cli_main(), which finds the command (and subcommand, as in
 * `vigil check config FILE`) in the table and runs it. Commands print usage on stderr and
 * return 2 for an unknown command or flag; otherwise they return their own exit status.
 */
#ifndef VIGIL_CLI_H
#define VIGIL_CLI_H

#include <stdio.h>

typedef struct cli_command cli_command_t;

struct cli_command {
    const char *name;
    const char *args;      /* argument synopsis shown after the name, e.g. "FILE" */
    const char *summary;   /* one line for the command list */
    const char *help;      /* the full text of `vigil help NAME`: flags and behaviour */
    int (*run)(int argc, char **argv);  /* argv[0] is the command's own name */
    const cli_command_t *subcommands;   /* NULL-name-terminated table, or NULL */
};

/* Entry point: runs the command named by argv[1]. Returns the process exit status. */
int cli_main(int argc, char **argv);

/* Prints the usage of `cmd` (the top-level list when NULL) to `out`. */
void cli_print_usage(FILE *out, const cli_command_t *cmd);

/* Prints "vigil: MSG" and the usage of `cmd` on stderr; returns 2 (usage error). */
int cli_usage_error(const cli_command_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Looks up a command by name in the top-level table; NULL when unknown. */
const cli_command_t *cli_find(const char *name);

/* Commands, each in its own file. */
int cmd_run(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_check_metrics(int argc, char **argv);
int cmd_test_promql(int argc, char **argv);
int cmd_promql_format(int argc, char **argv);
int cmd_check_rules(int argc, char **argv);
int cmd_check_notify(int argc, char **argv);
int cmd_test_rules(int argc, char **argv);
int cmd_health(int argc, char **argv);
int cmd_wrap(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_import_openmetrics(int argc, char **argv);
int cmd_tsdb_stats(int argc, char **argv);

#endif /* VIGIL_CLI_H */
