/*
 * rule_files.c - expanding rule_files globs (see rule_files.h).
 */
#include "agent/rule_files.h"

#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rule_paths_free(rule_paths_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int rule_paths_expand(const config_t *cfg, const char *config_path, const char *const *extra,
                      size_t n_extra, rule_paths_t *out, vigil_error_t *err)
{
    out->v = NULL;
    out->n = 0;
    char base[4096] = "";
    if (config_path != NULL) {
        const char *slash = strrchr(config_path, '/');
        if (slash != NULL)
            snprintf(base, sizeof(base), "%.*s/", (int)(slash - config_path), config_path);
    }
    glob_t g;
    memset(&g, 0, sizeof(g));
    int flags = 0;
    size_t n_file = cfg->rule_files.count;
    for (size_t i = 0; i < n_file + n_extra; i++) {
        bool from_file = i < n_file;
        const char *pat = from_file ? cfg->rule_files.items[i] : extra[i - n_file];
        char full[4096];
        snprintf(full, sizeof(full), "%s%s", pat[0] == '/' || !from_file ? "" : base, pat);
        int rc = glob(full, flags | GLOB_ERR, NULL, &g);
        if (rc == GLOB_NOMATCH) {
            globfree(&g);
            return vigil_error_set(err, VIGIL_ENOENT, "rule_files: \"%s\" matches no file", full);
        }
        if (rc != 0) {
            globfree(&g);
            return vigil_error_set(err, VIGIL_EIO, "rule_files: cannot expand \"%s\"", full);
        }
        flags = GLOB_APPEND;
    }
    if (g.gl_pathc == 0) {
        globfree(&g);
        return 0;
    }
    out->v = calloc(g.gl_pathc, sizeof(char *));
    if (out->v == NULL) {
        globfree(&g);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        out->v[out->n] = strdup(g.gl_pathv[i]);
        if (out->v[out->n] == NULL) {
            globfree(&g);
            rule_paths_free(out);
            return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
        }
        out->n++;
    }
    globfree(&g);
    qsort(out->v, out->n, sizeof(char *), cmp_str);
    size_t w = 0;
    for (size_t r = 0; r < out->n; r++) {
        if (w > 0 && strcmp(out->v[w - 1], out->v[r]) == 0)
            free(out->v[r]);
        else
            out->v[w++] = out->v[r];
    }
    out->n = w;
    return 0;
}
