/*
 * cmd_version.c - `vigil version`: what this binary is and what it was built with.
 */
#include "cli/cli.h"

#include "util/curl_loader.h"
#include "util/version.h"

#include <jansson.h>
#include <stdio.h>
#include <yaml.h>

int cmd_version(int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error(cli_find("version"), "version: unexpected argument '%s'", argv[1]);
    printf("vigil %s (revision %s)\n", VIGIL_VERSION, VIGIL_REVISION);
    /* A missing libcurl shows here, once: curl_loader_version() prints no warning of its own. */
    printf("  libcurl       %s\n", curl_loader_version(NULL));
    printf("  libyaml       %s\n", yaml_get_version_string());
    printf("  jansson       %s\n", jansson_version_str());
    return 0;
}
