/*
 * golden.h - helpers the unit tests share: reading a fixture file and comparing output with
 * an expected ("golden") file.
 *
 * Golden files live beside the tests (tests/<subsystem>/expected/...). Running a test with
 * VIGIL_UPDATE_EXPECTED=1 rewrites the golden file from the output instead of comparing, so a
 * deliberate change of output is one command and a reviewable diff.
 */
#ifndef VIGIL_TESTS_GOLDEN_H
#define VIGIL_TESTS_GOLDEN_H

#include <stddef.h>

/* The whole file at `path`, NUL-terminated, or NULL when it cannot be read; *len (when not
 * NULL) gets its length without the NUL. The caller frees the result. */
char *test_read_file(const char *path, size_t *len);

/* Fails the running cmocka test unless `got` (NULL reads as "") equals the contents of
 * `expected_path`; rewrites that file first when VIGIL_UPDATE_EXPECTED is set. */
void test_assert_golden(const char *got, size_t len, const char *expected_path);

#endif /* VIGIL_TESTS_GOLDEN_H */
