/*
 * golden.c - see golden.h.
 */
#include "golden.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            char *grown = realloc(data, cap + 1);
            if (grown == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        free(data);
        return NULL;
    }
    data[n] = '\0';
    if (len != NULL)
        *len = n;
    return data;
}

void test_assert_golden(const char *got, size_t len, const char *expected_path)
{
    if (got == NULL) {
        got = "";
        len = 0;
    }
    if (getenv("VIGIL_UPDATE_EXPECTED") != NULL) {
        FILE *f = fopen(expected_path, "wb");
        if (f == NULL || fwrite(got, 1, len, f) != len || fclose(f) != 0)
            fail_msg("cannot rewrite %s", expected_path);
    }
    char *want = test_read_file(expected_path, NULL);
    if (want == NULL)
        fail_msg("missing %s", expected_path);
    assert_string_equal(got, want);
    free(want);
}
