/* Temporary while the foundation is being built (issue 2); removed before it is resolved. */
#include "cli/cli.h"
#include <stdio.h>
int cmd_run(int argc, char **argv) { (void)argc; (void)argv; fputs("vigil: run: not yet\n", stderr); return 1; }
int cmd_doctor(int argc, char **argv) { (void)argc; (void)argv; fputs("vigil: doctor: not yet\n", stderr); return 1; }
int cmd_check_config(int argc, char **argv) { (void)argc; (void)argv; fputs("vigil: check config: not yet\n", stderr); return 1; }
