/*
 * cmd_check_metrics.c - `vigil check metrics [--strict] [--format text|openmetrics] < FILE`:
 * validates an exposition read from stdin, like `promtool check metrics` without the lint.
 *
 * Exit 0 when valid, 1 when not (the first problem as "stdin:line:col: message" on stderr),
 * 2 for a usage error or an unreadable input.
 */
#include "cli/cli.h"

#include "expfmt/expfmt.h"
#include "util/buf.h"

#include <stdio.h>
#include <string.h>

/* The largest exposition accepted on stdin; Prometheus's default body_size_limit is
 * unlimited, but a checker has no reason to hold more than this in memory. */
#define CHECK_METRICS_MAX_INPUT ((size_t)1 << 30)

static int usage(const char *fmt, const char *arg)
{
    const cli_command_t *check = cli_find("check");
    return cli_usage_error(check, fmt, arg);
}

int cmd_check_metrics(int argc, char **argv)
{
    expfmt_mode_t mode = EXPFMT_LENIENT;
    expfmt_format_t format = EXPFMT_TEXT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strcmp(a, "--strict") == 0) {
            mode = EXPFMT_STRICT;
            continue;
        }
        if (strcmp(a, "--format") == 0) {
            if (i + 1 >= argc)
                return usage("check metrics: %s needs a value (text or openmetrics)", a);
            v = argv[++i];
        } else if (strncmp(a, "--format=", 9) == 0) {
            v = a + 9;
        } else {
            return usage("check metrics: unknown argument \"%s\" (the input comes on stdin)", a);
        }
        if (strcmp(v, "text") == 0)
            format = EXPFMT_TEXT;
        else if (strcmp(v, "openmetrics") == 0)
            format = EXPFMT_OPENMETRICS;
        else
            return usage("check metrics: unknown format \"%s\" (text or openmetrics)", v);
    }

    buf_t in;
    buf_init(&in, CHECK_METRICS_MAX_INPUT);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        if ((rc = buf_append(&in, chunk, n)) != 0)
            break;
    if (rc != 0 || ferror(stdin)) {
        fprintf(stderr, "vigil: check metrics: cannot read stdin: %s\n",
                rc != 0 ? vigil_strerror(rc) : "read error");
        buf_free(&in);
        return 2;
    }

    vigil_error_t err;
    size_t samples = 0;
    rc = expfmt_validate(in.data, in.len, format, mode, &samples, &err);
    buf_free(&in);
    if (rc != 0) {
        fprintf(stderr, "stdin:%s (%s, %s; %zu samples read before it)\n", err.message,
                expfmt_format_name(format), mode == EXPFMT_STRICT ? "strict" : "lenient",
                samples);
        return 1;
    }
    printf("stdin: valid %s exposition, %zu samples (%s)\n", expfmt_format_name(format),
           samples, mode == EXPFMT_STRICT ? "strict" : "lenient");
    return 0;
}
