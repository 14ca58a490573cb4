/*
 * collect_pattern_t (src/collect/pattern.c): verdicts equal regexec's, a remembered name does
 * not compile the regex again, release frees what a run compiled, the table starts over
 * past its cap instead of growing, and a bad pattern fails init naming the option.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collect/collect_int.h"

#include <stdio.h>
#include <string.h>

static void test_verdicts_are_remembered(void **state)
{
    (void)state;
    collect_pattern_t p;
    vigil_error_t err;
    assert_int_equal(collect_pattern_init(&p, "^(ram|loop|fd)[0-9]+$", "device exclude", &err),
                     0);
    assert_false(p.compiled); /* init only checks the pattern */
    bool m;
    assert_int_equal(collect_pattern_match(&p, "loop0", &m), 0);
    assert_true(m);
    assert_true(p.compiled); /* a name it had not seen */
    assert_int_equal(collect_pattern_match(&p, "sda", &m), 0);
    assert_false(m);
    collect_pattern_release(&p);
    assert_false(p.compiled);
    /* The next run meets the same names: answered from the table, nothing compiled. */
    for (int round = 0; round < 3; round++) {
        assert_int_equal(collect_pattern_match(&p, "sda", &m), 0);
        assert_false(m);
        assert_int_equal(collect_pattern_match(&p, "loop0", &m), 0);
        assert_true(m);
        assert_false(p.compiled);
    }
    assert_int_equal(collect_pattern_match(&p, "", &m), 0); /* the empty name is a name */
    assert_false(m);
    collect_pattern_release(&p);
    collect_pattern_free(&p);
    collect_pattern_free(&p); /* idempotent */
}

static void test_many_names_stay_bounded_and_correct(void **state)
{
    (void)state;
    collect_pattern_t p;
    assert_int_equal(collect_pattern_init(&p, "^veth[0-9]*[02468]$", "netdev", NULL), 0);
    char name[32];
    size_t max_cap = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 5000; i++) {
            snprintf(name, sizeof(name), "veth%d", i);
            bool m;
            assert_int_equal(collect_pattern_match(&p, name, &m), 0);
            assert_int_equal(m, i % 2 == 0);
            if (p.cap > max_cap)
                max_cap = p.cap;
        }
        collect_pattern_release(&p);
    }
    assert_true(p.n <= 1024);
    assert_true(max_cap <= 2048); /* 1024 names at most 3/4 full */
    collect_pattern_free(&p);
}

static void test_bad_pattern_fails_init(void **state)
{
    (void)state;
    collect_pattern_t p;
    vigil_error_t err;
    assert_int_equal(collect_pattern_init(&p, "(unclosed", "vmstat fields", &err), VIGIL_EINVAL);
    assert_non_null(strstr(err.message, "vmstat fields"));
    collect_pattern_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts_are_remembered),
        cmocka_unit_test(test_many_names_stay_bounded_and_correct),
        cmocka_unit_test(test_bad_pattern_fails_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
