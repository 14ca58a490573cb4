/*
 * agent.h - `vigil run`: the agent's lifecycle.
 *
 * agent_main() loads the configuration (defaults < file < flags), opens the log, locks the data
 * directory, builds the subsystems (health checker, self-metrics registry, collectors, HTTP
 * server with the route table of routes.c) and then waits for signals on the main thread:
 * SIGINT/SIGTERM stop everything in reverse order, SIGHUP reloads the configuration (a bad file
 * is rejected with a log line and the running configuration stays).
 */
#ifndef VIGIL_AGENT_H
#define VIGIL_AGENT_H

#include "config/config.h"
#include "vigil/error.h"

#include <stddef.h>

/* A configuration key set on the command line (`--http.threads=8` -> {"http.threads", "8"}). */
typedef struct agent_flag {
    const char *key;    /* canonical dotted key */
    const char *value;
} agent_flag_t;

typedef struct agent_args {
    const char         *config_path;  /* NULL: no config file */
    const agent_flag_t *flags;        /* applied over the file, in order; borrowed */
    size_t              flag_count;
    const char *const  *rule_files;   /* --rules FILE, added to the config's rule_files */
    size_t              rule_file_count;
} agent_args_t;

/*
 * Builds the effective configuration into *cfg (initialised here; the caller frees it with
 * config_free() on success and on failure): defaults, then the file, then the flags, then
 * cross-field validation. Errors carry file:line:col or the flag name.
 */
int agent_load_config(config_t *cfg, const agent_args_t *args, vigil_error_t *err);

/* Runs the agent until SIGINT/SIGTERM. Returns the process exit status: 0 after a clean stop,
 * 1 when start-up failed (the reason is printed on stderr and logged), 2 for a bad config. */
int agent_main(const agent_args_t *args);

#endif /* VIGIL_AGENT_H */
