/*
 * host_mem.c - collectors "meminfo" (procfs/meminfo) and "vmstat" (procfs/vmstat).
 *
 * meminfo follows node_exporter: every line becomes node_memory_<Key>, "(x)" in a key becomes
 * "_x" (Active(anon) -> Active_anon), and a value in kB is multiplied by 1024 and gets the
 * suffix _bytes; unitless lines (HugePages_Total) keep their name and value.
 *
 * vmstat exposes the fields matching --collector.vmstat.fields (default
 * "^(oom_kill|pgpg|pswp|pg.*fault).*") as untyped, as node_exporter does. The file has ~180
 * lines and their keys never change between runs, so the match result is remembered per key
 * (collect_pattern_t): a steady-state run does one hash lookup per line instead of one
 * regexec.
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

/* The pattern selects fields; it remembers each key's verdict (collect_pattern_t), so a
 * steady-state run does one hash lookup per line and holds no compiled regex. */
typedef collect_filtered_file_t vmstat_state_t;

#define VMSTAT_FIELDS_DEFAULT "^(oom_kill|pgpg|pswp|pg.*fault).*"

static int vmstat_init(void **state, const collect_env_t *env, vigil_error_t *err)
{
    return collect_filtered_file_new(state, sizeof(vmstat_state_t), env,
                                     env->opts->vmstat_fields, VMSTAT_FIELDS_DEFAULT,
                                     "vmstat fields", err);
}

static int vmstat_run(void *state, collect_batch_t *b, vigil_error_t *err)
{
    vmstat_state_t *s = state;
    int rc = collect_file_read(&s->file, s->env->procfs, "vmstat", NULL, err);
    if (rc != 0)
        return rc;
    char *pos = s->file.data, *line;
    size_t idx = 0;
    for (; (line = collect_next_line(&pos)) != NULL; idx++) {
        char *f[2];
        bool wanted;
        if (collect_split(line, f, 2) != 2)
            continue;
        rc = collect_pattern_match(&s->pattern, f[0], &wanted);
        if (rc != 0)
            return rc;
        if (!wanted)
            continue;
        double v;
        if (!collect_parse_u(f[1], &v))
            return vigil_error_set(err, VIGIL_EPARSE, "%s/vmstat:%zu: bad value \"%s\"",
                                   s->env->procfs, idx + 1, f[1]);
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

/* One run; the pattern's regex, if this run compiled it, is freed after. */
static int vmstat_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    int rc = vmstat_run(state, b, err);
    collect_pattern_release(&((vmstat_state_t *)state)->pattern);
    return rc;
}

const collect_def_t collect_def_vmstat = {
    .name = "vmstat", .enabled = true,
    .init = vmstat_init, .collect = vmstat_collect, .destroy = collect_filtered_file_free,
};
