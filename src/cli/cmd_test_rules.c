/*
 * cmd_test_rules.c - `vigil test rules [flags] FILE...`: promtool's rule unit tests
 * (input_series, alert_rule_test, promql_expr_test; docs/rules.md) run against vigil's rule
 * evaluation. Per file "Unit Testing:  FILE" then "  SUCCESS" or "  FAILED:" with each
 * failure. Exit 0 when every test passed, 1 when one failed or a file was unusable (as
 * promtool), 2 on usage errors.
 */
#include "cli/cli.h"
#include "rules/rules.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Also declared in cli/cli.h once the command table has its row. */

int cmd_test_rules(int argc, char **argv)
{
    rules_test_opts_t o = { 0 };
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        const char *a = argv[first];
        if (strcmp(a, "--") == 0) {
            first++;
            break;
        } else if (strncmp(a, "--run=", 6) == 0) {
            o.run = a + 6;
        } else if (strcmp(a, "--run") == 0 && first + 1 < argc) {
            o.run = argv[++first];
        } else if (strcmp(a, "--ignore-unknown-fields") == 0) {
            o.ignore_unknown_fields = true;
        } else if (strcmp(a, "--validation-scheme=legacy") == 0) {
            o.legacy_names = true;
        } else if (strcmp(a, "--validation-scheme=utf8") == 0) {
            o.legacy_names = false;
        } else {
            first = argc;
            break;
        }
    }
    if (first >= argc) {
        fprintf(stderr, "usage: vigil test rules [--run REGEX] [--ignore-unknown-fields]\n"
                        "                        [--validation-scheme=utf8|legacy] FILE...\n");
        return 2;
    }
    int rc = 0;
    for (int i = first; i < argc; i++)
        if (rules_test_file(argv[i], &o, stdout) != 0)
            rc = 1;
    return rc;
}
