/*
 * host_misc.c - the small host collectors: "pressure" (procfs/pressure/{cpu,io,memory}),
 * "filefd" (procfs/sys/fs/file-nr), "uname" (procfs/sys/kernel/...), "os" (rootfs
 * etc/os-release or usr/lib/os-release) and "time" (the clock and sysfs clocksources).
 *
 * uname reads procfs/sys/kernel/{ostype,hostname,osrelease,version,domainname,arch} rather
 * than calling uname(2): the kernel fills both from the same UTS namespace, and files are what
 * a recorded fixture tree can hold. Only a kernel without sys/kernel/arch (before 6.1) makes
 * us ask uname(2) for the machine.
 */
#include "collect/collect_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

/* Copies the file's first line into out (cap bytes), without the newline. */
static void first_line(const collect_file_t *f, char *out, size_t cap)
{
    size_t n = strcspn(f->data, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, f->data, n);
    out[n] = '\0';
}

/* ---- pressure ---- */

static const struct {
    const char *file;  /* under procfs/pressure/ */
    const char *kind;  /* "some" or "full" line */
    const char *name, *help;
} psi_fields[] = {
    { "cpu", "some", "node_pressure_cpu_waiting_seconds_total",
      "Total time in seconds that processes have waited for CPU time" },
    { "io", "some", "node_pressure_io_waiting_seconds_total",
      "Total time in seconds that processes have waited due to IO congestion" },
    { "io", "full", "node_pressure_io_stalled_seconds_total",
      "Total time in seconds no process could make progress due to IO congestion" },
    { "memory", "some", "node_pressure_memory_waiting_seconds_total",
      "Total time in seconds that processes have waited for memory" },
    { "memory", "full", "node_pressure_memory_stalled_seconds_total",
      "Total time in seconds no process could make progress due to memory congestion" },
};

bool collect_psi_total(const char *text, const char *kind, double *out)
{
    size_t kl = strlen(kind);
    for (const char *line = text; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        if (eol == NULL)
            eol = line + strlen(line);
        if (strncmp(line, kind, kl) == 0 && line[kl] == ' ') {
            const char *t = strstr(line, "total=");
            if (t == NULL || t > eol)
                return false;
            char num[32];
            size_t n = 0;
            for (t += 6; t < eol && n + 1 < sizeof(num) && *t >= '0' && *t <= '9'; t++)
                num[n++] = *t;
            num[n] = '\0';
            double us;
            if (!collect_parse_u(num, &us))
                return false;
            *out = us / 1000.0 / 1000.0; /* µs -> s, in node_exporter's order of operations */
            return true;
        }
        line = *eol == '\n' ? eol + 1 : eol;
    }
    return false;
}

static int pressure_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    collect_simple_t *s = state;
    const char *loaded = NULL;
    bool absent = false;
    for (size_t i = 0; i < sizeof(psi_fields) / sizeof(psi_fields[0]); i++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "pressure/%s", psi_fields[i].file);
        if (loaded == NULL || strcmp(loaded, psi_fields[i].file) != 0) {
            bool missing;
            int rc = collect_file_read(&s->file, s->env->procfs, rel, &missing, err);
            loaded = psi_fields[i].file;
            absent = rc != 0 && missing;
            if (rc != 0 && !missing)
                return rc;
        }
        /* No PSI in this kernel (or psi=0): not a failure, there is just nothing to say. */
        if (absent)
            continue;
        double v;
        if (!collect_psi_total(s->file.data, psi_fields[i].kind, &v))
            return vigil_error_set(err, VIGIL_EPARSE, "%s/%s: no \"%s ... total=\" line",
                                   s->env->procfs, rel, psi_fields[i].kind);
        int fam = collect_batch_family(b, psi_fields[i].name, psi_fields[i].help,
                                       COLLECT_COUNTER);
        int rc = fam < 0 ? fam : collect_batch_add(b, fam, v, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const collect_def_t collect_def_pressure = {
    .name = "pressure", .enabled = true,
    .init = collect_simple_init, .collect = pressure_collect, .destroy = collect_simple_destroy,
};

/* ---- filefd ---- */

static int filefd_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    collect_simple_t *s = state;
    int rc = collect_file_read(&s->file, s->env->procfs, "sys/fs/file-nr", NULL, err);
    if (rc != 0)
        return rc;
    char *f[3];
    double alloc, max;
    if (collect_split(s->file.data, f, 3) != 3 || !collect_parse_u(f[0], &alloc) ||
        !collect_parse_u(f[2], &max))
        return vigil_error_set(err, VIGIL_EPARSE, "%s/sys/fs/file-nr: expected three numbers",
                               s->env->procfs);
    int fa = collect_batch_family(b, "node_filefd_allocated",
                                  "File descriptor statistics: allocated.", COLLECT_GAUGE);
    rc = fa < 0 ? fa : collect_batch_add(b, fa, alloc, NULL);
    if (rc != 0)
        return rc;
    int fm = collect_batch_family(b, "node_filefd_maximum",
                                  "File descriptor statistics: maximum.", COLLECT_GAUGE);
    return fm < 0 ? fm : collect_batch_add(b, fm, max, NULL);
}

const collect_def_t collect_def_filefd = {
    .name = "filefd", .enabled = true,
    .init = collect_simple_init, .collect = filefd_collect, .destroy = collect_simple_destroy,
};

/* ---- uname ---- */

static int uname_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    /* In the order of the labels, which is node_exporter's (alphabetical). */
    static const struct {
        const char *label, *file;
    } fields[] = {
        { "domainname", "sys/kernel/domainname" }, { "machine", "sys/kernel/arch" },
        { "nodename", "sys/kernel/hostname" },     { "release", "sys/kernel/osrelease" },
        { "sysname", "sys/kernel/ostype" },        { "version", "sys/kernel/version" },
    };
    enum { N = sizeof(fields) / sizeof(fields[0]) };
    collect_simple_t *s = state;
    char vals[N][256];
    collect_label_t labels[N];
    for (size_t i = 0; i < N; i++) {
        bool missing;
        int rc = collect_file_read(&s->file, s->env->procfs, fields[i].file, &missing, err);
        if (rc == 0) {
            first_line(&s->file, vals[i], sizeof(vals[i]));
        } else if (missing && strcmp(fields[i].label, "machine") == 0) {
            struct utsname u;
            if (uname(&u) != 0)
                return vigil_error_set(err, VIGIL_ESYS, "uname: failed");
            snprintf(vals[i], sizeof(vals[i]), "%s", u.machine);
        } else {
            return rc;
        }
        labels[i] = (collect_label_t){ fields[i].label, vals[i] };
    }
    int fam = collect_batch_family(b, "node_uname_info",
                                   "Labeled system information as provided by the uname "
                                   "system call.", COLLECT_INFO);
    return fam < 0 ? fam : collect_batch_add_labels(b, fam, 1, labels, N);
}

const collect_def_t collect_def_uname = {
    .name = "uname", .enabled = true,
    .init = collect_simple_init, .collect = uname_collect, .destroy = collect_simple_destroy,
};

/* ---- os ---- */

/* os-release keys in node_os_info's label order. */
static const char *const os_keys[] = {
    "BUILD_ID", "ID", "ID_LIKE", "IMAGE_ID", "IMAGE_VERSION", "NAME", "PRETTY_NAME",
    "VARIANT", "VARIANT_ID", "VERSION", "VERSION_CODENAME", "VERSION_ID",
};
static const char *const os_labels[] = {
    "build_id", "id", "id_like", "image_id", "image_version", "name", "pretty_name",
    "variant", "variant_id", "version", "version_codename", "version_id",
};
#define N_OS (sizeof(os_keys) / sizeof(os_keys[0]))

/* Unquotes an os-release value in place: shell-style "..." (with \ escapes) or '...'. */
static char *os_unquote(char *v)
{
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\r'))
        v[--n] = '\0';
    if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
        char q = v[0];
        v[n - 1] = '\0';
        v++;
        if (q == '"') {
            char *w = v;
            for (char *r = v; *r != '\0'; r++) {
                if (*r == '\\' && r[1] != '\0')
                    r++;
                *w++ = *r;
            }
            *w = '\0';
        }
    }
    return v;
}

static int os_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    collect_simple_t *s = state;
    bool missing;
    int rc = collect_file_read(&s->file, s->env->rootfs, "etc/os-release", &missing, NULL);
    if (rc != 0)
        rc = collect_file_read(&s->file, s->env->rootfs, "usr/lib/os-release", NULL, err);
    if (rc != 0)
        return rc;
    const char *vals[N_OS];
    for (size_t i = 0; i < N_OS; i++)
        vals[i] = "";
    char *pos = s->file.data, *line;
    while ((line = collect_next_line(&pos)) != NULL) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || eq == NULL)
            continue;
        *eq = '\0';
        for (size_t i = 0; i < N_OS; i++)
            if (strcmp(line, os_keys[i]) == 0)
                vals[i] = os_unquote(eq + 1);
    }
    collect_label_t labels[N_OS];
    for (size_t i = 0; i < N_OS; i++)
        labels[i] = (collect_label_t){ os_labels[i], vals[i] };
    int fam = collect_batch_family(b, "node_os_info",
                                   "A metric with a constant '1' value labeled by build_id, id, "
                                   "id_like, image_id, image_version, name, pretty_name, "
                                   "variant, variant_id, version, version_codename, "
                                   "version_id.", COLLECT_INFO);
    rc = fam < 0 ? fam : collect_batch_add_labels(b, fam, 1, labels, N_OS);
    if (rc != 0)
        return rc;
    /* node_os_version: the major.minor prefix of VERSION_ID, when it has one. */
    const char *vid = vals[11];
    char num[32];
    size_t n = 0;
    while (n + 1 < sizeof(num) && vid[n] >= '0' && vid[n] <= '9') {
        num[n] = vid[n];
        n++;
    }
    if (n == 0)
        return 0;
    if (vid[n] == '.' && vid[n + 1] >= '0' && vid[n + 1] <= '9') {
        num[n] = '.';
        size_t k = n + 1;
        while (k + 1 < sizeof(num) && vid[k] >= '0' && vid[k] <= '9') {
            num[k] = vid[k];
            k++;
        }
        n = k;
    }
    num[n] = '\0';
    double ver;
    if (!collect_parse_d(num, &ver))
        return 0;
    fam = collect_batch_family(b, "node_os_version",
                               "Metric containing the major.minor part of the OS version.",
                               COLLECT_GAUGE);
    return fam < 0 ? fam
                   : collect_batch_add(b, fam, ver, "id", vals[1], "id_like", vals[2], "name",
                                       vals[5], NULL);
}

const collect_def_t collect_def_os = {
    .name = "os", .enabled = true,
    .init = collect_simple_init, .collect = os_collect, .destroy = collect_simple_destroy,
};

/* ---- time ---- */

static int time_clocksources(collect_simple_t *s, collect_batch_t *b, vigil_error_t *err)
{
    int favail = -1, fcur = -1;
    for (int dev = 0; dev < 64; dev++) {
        char rel[96], devs[16];
        bool missing;
        snprintf(devs, sizeof(devs), "%d", dev);
        snprintf(rel, sizeof(rel), "devices/system/clocksource/clocksource%d/"
                 "available_clocksource", dev);
        int rc = collect_file_read(&s->file, s->env->sysfs, rel, &missing, err);
        if (rc != 0 && missing)
            break; /* devices are numbered densely from 0 */
        if (rc != 0)
            return rc;
        if (favail < 0)
            favail = collect_batch_family(b, "node_time_clocksource_available_info",
                                          "Available clocksources read from "
                                          "'/sys/devices/system/clocksource'.", COLLECT_INFO);
        if (favail < 0)
            return favail;
        char *f[16];
        size_t n = collect_split(s->file.data, f, 16);
        for (size_t i = 0; i < n; i++) {
            rc = collect_batch_add(b, favail, 1, "clocksource", f[i], "device", devs, NULL);
            if (rc != 0)
                return rc;
        }
        snprintf(rel, sizeof(rel), "devices/system/clocksource/clocksource%d/"
                 "current_clocksource", dev);
        rc = collect_file_read(&s->file, s->env->sysfs, rel, NULL, err);
        if (rc != 0)
            return rc;
        if (fcur < 0)
            fcur = collect_batch_family(b, "node_time_clocksource_current_info",
                                        "Current clocksource read from "
                                        "'/sys/devices/system/clocksource'.", COLLECT_INFO);
        if (fcur < 0)
            return fcur;
        if (collect_split(s->file.data, f, 1) == 1) {
            rc = collect_batch_add(b, fcur, 1, "clocksource", f[0], "device", devs, NULL);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int time_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    collect_simple_t *s = state;
    double now = collect_now(s->env);
    int rc = time_clocksources(s, b, err);
    if (rc != 0)
        return rc;
    int fam = collect_batch_family(b, "node_time_seconds",
                                   "System time in seconds since epoch (1970).", COLLECT_GAUGE);
    rc = fam < 0 ? fam : collect_batch_add(b, fam, now, NULL);
    if (rc != 0)
        return rc;
    time_t t = (time_t)now;
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL)
        return vigil_error_set(err, VIGIL_ESYS, "localtime_r failed");
    fam = collect_batch_family(b, "node_time_zone_offset_seconds",
                               "System time zone offset in seconds.", COLLECT_GAUGE);
    return fam < 0 ? fam
                   : collect_batch_add(b, fam, (double)tm.tm_gmtoff, "time_zone",
                                       tm.tm_zone != NULL ? tm.tm_zone : "", NULL);
}

const collect_def_t collect_def_time = {
    .name = "time", .enabled = true,
    .init = collect_simple_init, .collect = time_collect, .destroy = collect_simple_destroy,
};
