/*
 * cmd_check_notify.c - `vigil check notify [--lenient] FILE...`: amtool check-config for the
 * notifier's Alertmanager configuration, with vigil's loader (src/notify), so a file that
 * passes here loads in the agent.
 *
 * Output and exit codes follow amtool: "Checking 'FILE'  SUCCESS" and the "Found:" summary
 * on stdout, or "Checking 'FILE'  FAILED: file:line:col: message" (vigil adds the position);
 * exit 0 when every file is valid, 1 when one is not, 2 on a usage error. --lenient checks
 * as the agent loads: placeholder receiver URLs only disable their integration (listed as
 * warnings), which is how the seeds' file runs unchanged although amtool rejects it.
 */
#include "cli/cli.h"
#include "notify/notify.h"
#include "vigil/error.h"

#include <stdio.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: vigil check notify [--lenient] FILE...\n");
    return 2;
}

int cmd_check_notify(int argc, char **argv)
{
    unsigned flags = 0;
    int first = 1, bad = 0, files = 0;
    for (; first < argc && argv[first][0] == '-' && argv[first][1] != '\0'; first++) {
        if (strcmp(argv[first], "--lenient") == 0)
            flags |= NOTIFY_LOAD_LENIENT;
        else if (strcmp(argv[first], "--") == 0) {
            first++;
            break;
        } else if (strcmp(argv[first], "-h") == 0 || strcmp(argv[first], "--help") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "vigil check notify: unknown flag %s\n", argv[first]);
            return usage();
        }
    }
    for (int i = first; i < argc; i++, files++) {
        notify_config_t *cfg;
        vigil_error_t err = { 0 };
        printf("Checking '%s'", argv[i]);
        if (notify_config_load_file(&cfg, argv[i], flags, &err) != 0) {
            printf("  FAILED: %s\n\n", err.message);
            bad++;
            continue;
        }
        notify_config_summary_t s;
        notify_config_summarize(cfg, &s);
        printf("  SUCCESS\nFound:\n - global config\n - route\n - %zu inhibit rules\n"
               " - %zu receivers\n - %zu templates\n", s.inhibit_rules, s.receivers,
               s.templates);
        for (size_t w = 0; notify_config_warning(cfg, w) != NULL; w++)
            printf("  warning: %s\n", notify_config_warning(cfg, w));
        printf("\n");
        notify_config_free(cfg);
    }
    if (files == 0)
        return usage();
    if (bad > 0) {
        fprintf(stderr, "vigil: error: failed to validate %d file(s)\n", bad);
        return 1;
    }
    return 0;
}
