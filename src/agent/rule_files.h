/*
 * rule_files.h - from the config's rule_files globs to the list of rule files to load.
 */
#ifndef VIGIL_AGENT_RULE_FILES_H
#define VIGIL_AGENT_RULE_FILES_H

#include "config/config.h"
#include "vigil/error.h"

typedef struct rule_paths {
    char  **v;  /* owned, each string too */
    size_t  n;
} rule_paths_t;

/*
 * Expands every glob of cfg->rule_files and of `extra` (the --rules flags), sorted, duplicates
 * removed. Relative patterns of the file are resolved against the directory of `config_path`
 * (as Prometheus resolves rule_files); relative flags against the working directory. A
 * pattern that matches nothing is an error, as is a bad pattern. On success free *out with
 * rule_paths_free().
 */
int rule_paths_expand(const config_t *cfg, const char *config_path, const char *const *extra,
                      size_t n_extra, rule_paths_t *out, vigil_error_t *err);

void rule_paths_free(rule_paths_t *p);

#endif /* VIGIL_AGENT_RULE_FILES_H */
