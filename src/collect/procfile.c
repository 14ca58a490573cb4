/*
 * procfile.c - the one read buffer per collector, the in-place tokenisers, number parsing and
 * the system-call seam (clock, statfs) every collector goes through.
 *
 * Why in place: netdata's lesson is that a /proc reader which splits files without allocating
 * per line is what makes per-second collection cheap. A file is read whole into the collector's
 * buffer, lines and fields become NUL-terminated slices of it, and values are parsed straight
 * from those slices.
 */
#include "collect/collect_int.h"
#include "host/host.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

int collect_simple_init(void **state, const collect_env_t *env, vigil_error_t *err)
{
    collect_simple_t *s = malloc(sizeof(*s));
    if (s == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "collect: no memory");
    s->env = env;
    collect_file_init(&s->file);
    *state = s;
    return 0;
}

void collect_simple_destroy(void *state)
{
    collect_simple_t *s = state;
    if (s == NULL)
        return;
    collect_file_free(&s->file);
    free(s);
}

void collect_file_init(collect_file_t *f)
{
    f->data = NULL;
    f->len = 0;
    f->cap = 0;
    f->max = COLLECT_FILE_MAX;
}

void collect_file_free(collect_file_t *f)
{
    free(f->data);
    collect_file_init(f);
}

/* Every collector keeps its buffer for good, sized for the largest file it has read; most
 * of what they read is far below a page (loadavg, file-nr, pressure, os-release, a
 * process's stat), so the first buffer is small and doubles (re-reading the file) only for
 * the files that need it, in the first run. */
#define COLLECT_FILE_FIRST 256

int collect_file_read(collect_file_t *f, const char *root, const char *rel, bool *missing,
                      vigil_error_t *err)
{
    if (missing != NULL)
        *missing = false;
    for (;;) {
        if (f->cap == 0) {
            f->data = malloc(COLLECT_FILE_FIRST);
            if (f->data == NULL)
                return vigil_error_set(err, VIGIL_ENOMEM, "%s/%s: no memory", root, rel);
            f->cap = COLLECT_FILE_FIRST;
        }
        int rc = host_read_file(root, rel, f->data, f->cap, &f->len, err);
        if (rc != 0) {
            if (missing != NULL) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", root, rel);
                *missing = access(path, F_OK) != 0 && (errno == ENOENT || errno == ENOTDIR);
            }
            return rc;
        }
        if (f->len + 1 < f->cap)
            return 0;
        /* Filled to the brim: the file may be longer. Grow and read it again from the start,
         * which is what a procfs file needs anyway (its contents are generated per open). */
        if (f->cap >= f->max)
            return vigil_error_set(err, VIGIL_ELIMIT, "%s/%s: larger than %zu bytes", root, rel,
                                   f->max);
        size_t ncap = f->cap * 2 > f->max ? f->max : f->cap * 2;
        char *p = realloc(f->data, ncap);
        if (p == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "%s/%s: no memory", root, rel);
        f->data = p;
        f->cap = ncap;
    }
}

char *collect_next_line(char **pos)
{
    char *line = *pos;
    if (line == NULL || *line == '\0')
        return NULL;
    char *nl = strchr(line, '\n');
    if (nl != NULL) {
        *nl = '\0';
        *pos = nl + 1;
    } else {
        *pos = line + strlen(line);
    }
    return line;
}

size_t collect_split(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (*p == '\0')
            break;
        fields[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        if (*p == '\0')
            break;
        *p++ = '\0';
    }
    return n;
}

bool collect_parse_u(const char *s, double *out)
{
    uint64_t v = 0;
    double big = 0;
    bool overflow = false;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (!overflow && v <= (UINT64_MAX - d) / 10) {
            v = v * 10 + d;
        } else {
            if (!overflow)
                big = (double)v;
            overflow = true;
            big = big * 10 + d;
        }
    }
    if (p == s || *p != '\0')
        return false;
    *out = overflow ? big : (double)v;
    return true;
}

bool collect_parse_d(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

int collect_regex_compile(regex_t *re, const char *pattern, const char *option,
                          vigil_error_t *err)
{
    int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[256];
        regerror(rc, re, msg, sizeof(msg));
        return vigil_error_set(err, VIGIL_EINVAL, "%s: bad regex \"%s\": %s", option, pattern,
                               msg);
    }
    return 0;
}

int collect_filtered_file_new(void **state, size_t size, const collect_env_t *env,
                              const char *pattern, const char *fallback, const char *option,
                              vigil_error_t *err)
{
    collect_filtered_file_t *f = calloc(1, size);
    if (f == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "collect: no memory");
    int rc = collect_pattern_init(&f->pattern, pattern != NULL ? pattern : fallback, option,
                                  err);
    if (rc != 0) {
        collect_pattern_free(&f->pattern);
        free(f);
        return rc;
    }
    f->env = env;
    collect_file_init(&f->file);
    *state = f;
    return 0;
}

void collect_filtered_file_free(void *state)
{
    collect_filtered_file_t *f = state;
    if (f == NULL)
        return;
    collect_pattern_free(&f->pattern);
    collect_file_free(&f->file);
    free(f);
}

int collect_path(char *out, size_t cap, const char *root, const char *rel, vigil_error_t *err)
{
    /* A rootfs of "/" must not produce "//etc": join without doubling the slash. */
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/')
        rl--;
    while (*rel == '/')
        rel++;
    int n = snprintf(out, cap, "%.*s/%s", (int)rl, root, rel);
    if (n < 0 || (size_t)n >= cap)
        return vigil_error_set(err, VIGIL_ERANGE, "path too long: %s/%s", root, rel);
    return 0;
}

double collect_now(const collect_env_t *env)
{
    if (env->sys->now != NULL)
        return env->sys->now(env->sys->ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int collect_statfs(const collect_env_t *env, const char *path, collect_statfs_t *out)
{
    if (env->sys->statfs != NULL)
        return env->sys->statfs(env->sys->ctx, path, out);
    struct statfs st;
    if (statfs(path, &st) != 0)
        return -errno;
    out->blocks = (uint64_t)st.f_blocks;
    out->bfree = (uint64_t)st.f_bfree;
    out->bavail = (uint64_t)st.f_bavail;
    out->bsize = (uint64_t)st.f_bsize;
    out->files = (uint64_t)st.f_files;
    out->ffree = (uint64_t)st.f_ffree;
    return 0;
}

int collect_getpid(const collect_env_t *env)
{
    if (env->sys->getpid != NULL)
        return env->sys->getpid(env->sys->ctx);
    return (int)getpid();
}

long collect_page_size(const collect_env_t *env)
{
    if (env->sys->page_size != NULL)
        return env->sys->page_size(env->sys->ctx);
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? ps : 4096;
}
