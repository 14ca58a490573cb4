/*
 * cli_driver.c - runs `vigil wrap` and `vigil health` (cmd_wrap, cmd_health) before the lead
 * adds them to the command table of cli.c, so the integration tests can run the real command
 * code now: `monitor_cli_driver wrap ARGS...` is `vigil wrap ARGS...`. The tests prefer the
 * real binary as soon as `vigil help wrap` succeeds.
 */
#include <stdio.h>
#include <string.h>

int cmd_wrap(int argc, char **argv);
int cmd_health(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "wrap") == 0)
        return cmd_wrap(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "health") == 0)
        return cmd_health(argc - 1, argv + 1);
    fprintf(stderr, "usage: %s wrap|health ARGS...\n", argv[0]);
    return 2;
}
