/*
 * promql_driver.c - runs the two PromQL commands without the vigil command table, until the
 * lead adds their rows to src/cli/cli.c:
 *   promql_driver test FILE...      = vigil test promql FILE...
 *   promql_driver format EXPR       = vigil promql format EXPR
 */
#include <stdio.h>
#include <string.h>

int cmd_test_promql(int argc, char **argv);
int cmd_promql_format(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "test") == 0)
        return cmd_test_promql(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "format") == 0)
        return cmd_promql_format(argc - 1, argv + 1);
    fprintf(stderr, "usage: promql_driver test FILE... | format EXPR\n");
    return 2;
}
