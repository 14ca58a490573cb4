/*
 * cmd_test_promql.c - `vigil test promql FILE...`: runs Prometheus .test scripts (the promqltest
 * language, docs/promql.md) against vigil's engine and prints "N passed, N failed, N skipped".
 * Exit 0 when nothing failed, 1 when an eval failed, 2 on usage or unreadable files.
 */
#include "cli/cli.h"
#include "promql/promql.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>


int cmd_test_promql(int argc, char **argv)
{
    bool verbose = false;
    int first = 1;
    if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--verbose") == 0)) {
        verbose = true;
        first = 2;
    }
    if (first >= argc || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: vigil test promql [-v] FILE...\n");
        return 2;
    }
    promql_test_counts_t total = { 0, 0, 0 };
    int unreadable = 0;
    for (int i = first; i < argc; i++) {
        promql_test_counts_t c = { 0, 0, 0 };
        vigil_error_t err;
        vigil_error_clear(&err);
        if (promql_test_run_file(argv[i], stdout, verbose, &c, &err) != 0) {
            fprintf(stderr, "vigil: %s\n", err.message);
            unreadable++;
            continue;
        }
        printf("%s: %d passed, %d failed, %d skipped\n", argv[i], c.passed, c.failed, c.skipped);
        total.passed += c.passed;
        total.failed += c.failed;
        total.skipped += c.skipped;
    }
    printf("%d passed, %d failed, %d skipped\n", total.passed, total.failed, total.skipped);
    if (unreadable > 0)
        return 2;
    return total.failed > 0 ? 1 : 0;
}
