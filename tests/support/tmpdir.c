/*
 * tmpdir.c - see tmpdir.h.
 */
#define _XOPEN_SOURCE 700
#include "tmpdir.h"

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmocka.h>

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void test_remove_tree(const char *path)
{
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int test_tmpdir_setup(void **state)
{
    const char *base = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    char *dir = malloc(PATH_MAX);
    assert_non_null(dir);
    int n = snprintf(dir, PATH_MAX, "%s/vigil-test-XXXXXX", base);
    assert_true(n > 0 && n < PATH_MAX);
    assert_non_null(mkdtemp(dir));
    *state = dir;
    return 0;
}

int test_tmpdir_teardown(void **state)
{
    test_remove_tree(*state);
    free(*state);
    return 0;
}
