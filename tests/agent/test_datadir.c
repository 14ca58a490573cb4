/* Unit tests of the data directory: nested creation, the exclusive lock and its message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/datadir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[256];

static int make_root(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/vigil-test-datadir-XXXXXX");
    return mkdtemp(root) == NULL ? -1 : 0;
}

static int remove_root(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_creates_nested_and_writes_pid(void **state)
{
    (void)state;
    char path[300], lock[320];
    snprintf(path, sizeof(path), "%s/a/b/c", root);
    datadir_t dd;
    vigil_error_t err;
    assert_int_equal(datadir_open(&dd, path, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    snprintf(lock, sizeof(lock), "%s/lock", path);
    FILE *f = fopen(lock, "r");
    assert_non_null(f);
    long pid = 0;
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    assert_int_equal(pid, (long)getpid());
    datadir_close(&dd);
}

static void test_second_holder_is_refused_with_pid(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof(path), "%s/locked", root);
    datadir_t dd;
    assert_int_equal(datadir_open(&dd, path, NULL), 0);
    /* flock is per open file description: a child process must be refused. */
    pid_t child = fork();
    if (child == 0) {
        datadir_t other;
        vigil_error_t err;
        int rc = datadir_open(&other, path, &err);
        char want[64];
        snprintf(want, sizeof(want), "(pid %ld)", (long)getppid());
        _exit(rc == VIGIL_EBUSY && strstr(err.message, "is in use by another vigil") &&
                      strstr(err.message, want) ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    datadir_close(&dd);
    /* Released: can be taken again. */
    assert_int_equal(datadir_open(&dd, path, NULL), 0);
    datadir_close(&dd);
}

static void test_path_is_a_file(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof(path), "%s/file", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    datadir_t dd;
    vigil_error_t err;
    assert_int_equal(datadir_open(&dd, path, &err), VIGIL_EIO);
    assert_non_null(strstr(err.message, "not a directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_creates_nested_and_writes_pid),
        cmocka_unit_test(test_second_holder_is_refused_with_pid),
        cmocka_unit_test(test_path_is_a_file),
    };
    return cmocka_run_group_tests(tests, make_root, remove_root);
}
