/*
 * cli_driver.c - runs `vigil query`, `vigil import openmetrics` and `vigil tsdb stats` from
 * their cmd_* functions, for the integration tests while the binary's command table does not
 * list them yet (the tests prefer the real binary as soon as `vigil help import` works).
 * argv is the same as the real binary's: cli_driver query EXPR, cli_driver import openmetrics
 * FILE --data DIR, cli_driver tsdb stats --data DIR.
 */
#include <stdio.h>
#include <string.h>

int cmd_query(int argc, char **argv);
int cmd_import_openmetrics(int argc, char **argv);
int cmd_tsdb_stats(int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "query") == 0)
        return cmd_query(argc - 1, argv + 1);
    if (argc >= 3 && strcmp(argv[1], "import") == 0 && strcmp(argv[2], "openmetrics") == 0)
        return cmd_import_openmetrics(argc - 2, argv + 2);
    if (argc >= 3 && strcmp(argv[1], "tsdb") == 0 && strcmp(argv[2], "stats") == 0)
        return cmd_tsdb_stats(argc - 2, argv + 2);
    fprintf(stderr, "usage: cli_driver query ... | import openmetrics ... | tsdb stats ...\n");
    return 2;
}
