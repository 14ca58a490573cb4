/*
 * cmd_check_config.c - `vigil check config FILE`: the agent's config loading, without the agent.
 */
#include "cli/cli.h"

#include "agent/agent.h"

#include <stdio.h>

int cmd_check_config(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error(cli_find("check"), "check config: expected exactly one FILE");
    agent_args_t args = { .config_path = argv[1], .flags = NULL, .flag_count = 0 };
    config_t cfg;
    vigil_error_t err;
    int rc = agent_load_config(&cfg, &args, &err);
    config_free(&cfg);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 2;
    }
    printf("%s: valid\n", argv[1]);
    return 0;
}
