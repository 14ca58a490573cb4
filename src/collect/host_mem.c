/*
 * host_mem.c - collectors "meminfo" (procfs/meminfo) and "vmstat" (procfs/vmstat).
 *
 * meminfo follows node_exporter: every line becomes node_memory_<Key>, "(x)" in a key becomes
 * "_x" (Active(anon) -> Active_anon), and a value in kB is multiplied by 1024 and gets the
 * suffix _bytes; unitless lines (HugePages_Total) keep their name and value.
 *
 * vmstat exposes the fields matching --collector.vmstat.fields (default
 * "^(oom_kill|pgpg|pswp|pg.*fault).*") as untyped, as node_exporter does. The file has ~180
 * lines and their keys never change between runs, so the match result per line is cached by
 * key: a steady-state run does one strcmp per line instead of one regexec.
 */
#include "collect/collect_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- meminfo ---- */

static int meminfo_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    collect_simple_t *s = state;
    int rc = collect_file_read(&s->file, s->env->procfs, "meminfo", NULL, err);
    if (rc != 0)
        return rc;
    char *pos = s->file.data, *line;
    int lineno = 0;
    while ((line = collect_next_line(&pos)) != NULL) {
        lineno++;
        char *colon = strchr(line, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        char *f[2];
        size_t n = collect_split(colon + 1, f, 2);
        double v;
        if (n == 0 || !collect_parse_u(f[0], &v))
            return vigil_error_set(err, VIGIL_EPARSE, "%s/meminfo:%d: bad value for %s",
                                   s->env->procfs, lineno, line);
        bool kb = n == 2 && strcmp(f[1], "kB") == 0;
        char name[160], help[200];
        size_t k = (size_t)snprintf(name, sizeof(name), "node_memory_");
        for (const char *p = line; *p != '\0' && k + 8 < sizeof(name); p++) {
            if (*p == '(')
                name[k++] = '_';
            else if (*p != ')')
                name[k++] = *p;
        }
        name[k] = '\0';
        if (kb) {
            memcpy(name + k, "_bytes", sizeof("_bytes"));
            v *= 1024;
        }
        snprintf(help, sizeof(help), "Memory information field %s.", name + 12);
        int fam = collect_batch_family(b, name, help, COLLECT_GAUGE);
        rc = fam < 0 ? fam : collect_batch_add(b, fam, v, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const collect_def_t collect_def_meminfo = {
    .name = "meminfo", .enabled = true,
    .init = collect_simple_init, .collect = meminfo_collect, .destroy = collect_simple_destroy,
};

/* ---- vmstat ---- */

typedef struct vmstat_cache_entry {
    char key[48];   /* "" when the key was too long to cache */
    bool match;
} vmstat_cache_entry_t;

typedef struct vmstat_state {
    collect_filtered_file_t in;   /* the pattern selects fields; must stay first */
    vmstat_cache_entry_t   *cache;  /* by line number */
    size_t                  ncache;
} vmstat_state_t;

#define VMSTAT_FIELDS_DEFAULT "^(oom_kill|pgpg|pswp|pg.*fault).*"

static int vmstat_init(void **state, const collect_env_t *env, vigil_error_t *err)
{
    return collect_filtered_file_new(state, sizeof(vmstat_state_t), env,
                                     env->opts->vmstat_fields, VMSTAT_FIELDS_DEFAULT,
                                     "vmstat fields", err);
}

static void vmstat_destroy(void *state)
{
    vmstat_state_t *s = state;
    if (s != NULL)
        free(s->cache);
    collect_filtered_file_free(s);
}

static bool vmstat_wanted(vmstat_state_t *s, size_t idx, const char *key)
{
    if (idx < s->ncache && s->cache[idx].key[0] != '\0' && strcmp(s->cache[idx].key, key) == 0)
        return s->cache[idx].match;
    bool match = regexec(&s->in.pattern, key, 0, NULL, 0) == 0;
    if (idx >= s->ncache) {
        size_t n = idx + 64;
        vmstat_cache_entry_t *p = realloc(s->cache, n * sizeof(*p));
        if (p == NULL)
            return match; /* caching is an optimisation only */
        memset(p + s->ncache, 0, (n - s->ncache) * sizeof(*p));
        s->cache = p;
        s->ncache = n;
    }
    size_t kl = strlen(key);
    if (kl < sizeof(s->cache[idx].key)) {
        memcpy(s->cache[idx].key, key, kl + 1);
        s->cache[idx].match = match;
    } else {
        s->cache[idx].key[0] = '\0';
    }
    return match;
}

static int vmstat_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    vmstat_state_t *s = state;
    int rc = collect_file_read(&s->in.file, s->in.env->procfs, "vmstat", NULL, err);
    if (rc != 0)
        return rc;
    char *pos = s->in.file.data, *line;
    size_t idx = 0;
    for (; (line = collect_next_line(&pos)) != NULL; idx++) {
        char *f[2];
        if (collect_split(line, f, 2) != 2 || !vmstat_wanted(s, idx, f[0]))
            continue;
        double v;
        if (!collect_parse_u(f[1], &v))
            return vigil_error_set(err, VIGIL_EPARSE, "%s/vmstat:%zu: bad value \"%s\"",
                                   s->in.env->procfs, idx + 1, f[1]);
        char name[128], help[160];
        snprintf(name, sizeof(name), "node_vmstat_%s", f[0]);
        snprintf(help, sizeof(help), "/proc/vmstat information field %s.", f[0]);
        int fam = collect_batch_family(b, name, help, COLLECT_UNTYPED);
        rc = fam < 0 ? fam : collect_batch_add(b, fam, v, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const collect_def_t collect_def_vmstat = {
    .name = "vmstat", .enabled = true,
    .init = vmstat_init, .collect = vmstat_collect, .destroy = vmstat_destroy,
};
