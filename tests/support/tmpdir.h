/*
 * tmpdir.h - a scratch directory per test, for tests that need real files (the store's WAL
 * and blocks): cmocka setup/teardown functions, and a recursive remove.
 */
#ifndef VIGIL_TESTS_TMPDIR_H
#define VIGIL_TESTS_TMPDIR_H

/* cmocka setup: makes "$TMPDIR/vigil-test-XXXXXX" (or under /tmp) and stores its path (a
 * malloc'd string) in *state. */
int test_tmpdir_setup(void **state);

/* cmocka teardown: removes the directory in *state with everything below it, frees the path. */
int test_tmpdir_teardown(void **state);

/* Removes `path` and everything below it (not following symlinks); a missing path is fine. */
void test_remove_tree(const char *path);

#endif /* VIGIL_TESTS_TMPDIR_H */
