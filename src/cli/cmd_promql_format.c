/*
 * cmd_promql_format.c - `vigil promql format EXPR`: parses a PromQL expression and prints it
 * the way Prometheus' `promtool promql format` does (one line, split past 100 columns).
 */
#include "cli/cli.h"
#include "promql/promql.h"
#include "util/buf.h"
#include "vigil/error.h"

#include <stdio.h>
#include <string.h>


int cmd_promql_format(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: vigil promql format EXPR\n");
        return 2;
    }
    buf_t out;
    buf_init(&out, (size_t)16 << 20);
    vigil_error_t err;
    vigil_error_clear(&err);
    int rc = promql_format(argv[1], true, &out, &err);
    if (rc != 0) {
        fprintf(stderr, "vigil: %s\n", err.message);
        buf_free(&out);
        return 1;
    }
    printf("%s\n", out.data != NULL ? out.data : "");
    buf_free(&out);
    return 0;
}
