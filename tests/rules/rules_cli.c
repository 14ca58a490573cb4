/*
 * rules_cli.c - runs `vigil check rules` / `vigil test rules` through their command functions
 * until the command table (src/cli/cli.c) has the rows; the ctest scripts call this binary.
 */
#include <stdio.h>
#include <string.h>

int cmd_check_rules(int argc, char **argv);
int cmd_test_rules(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return cmd_check_rules(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "test") == 0)
        return cmd_test_rules(argc - 1, argv + 1);
    fprintf(stderr, "usage: rules_cli check|test ARGS...\n");
    return 2;
}
