/*
 * fuzz_scratch.c - see fuzz_scratch.h.
 */
#include "fuzz_scratch.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char scratch[PATH_MAX];

static void scratch_remove(void)
{
    rmdir(scratch);
}

const char *fuzz_scratch_dir(const char *name)
{
    if (scratch[0] == '\0') {
        const char *base = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
        int n = snprintf(scratch, sizeof(scratch), "%s/vigil-fuzz-%s-XXXXXX", base, name);
        if (n < 0 || (size_t)n >= sizeof(scratch) || mkdtemp(scratch) == NULL)
            abort();
        atexit(scratch_remove);
    }
    return scratch;
}

void fuzz_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        int n = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (n > 0 && (size_t)n < sizeof(path))
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}
