/*
 * test_re2posix.c - RE2 syntax on POSIX regcomp: verdicts as Go's regexp gives them, RE2 group
 * numbers through non-capturing and named groups, scoped case-insensitivity, lazy quantifiers
 * only where they cannot change the answer, and the refusals with their reasons.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/re2posix.h"

#include <stdio.h>
#include <string.h>

static bool full_match(const char *pattern, const char *s)
{
    re2posix_t r;
    vigil_error_t err;
    if (re2posix_compile(&r, pattern, RE2POSIX_ANCHORED | RE2POSIX_NOSUB, &err) != 0)
        fail_msg("%s: %s", pattern, err.message);
    bool m = re2posix_matches(&r, s);
    re2posix_free(&r);
    return m;
}

static int compile_error(const char *pattern, unsigned flags, char *msg, size_t cap)
{
    re2posix_t r;
    vigil_error_t err;
    int rc = re2posix_compile(&r, pattern, flags, &err);
    if (rc == 0) {
        re2posix_free(&r);
        fail_msg("%s: compiled, expected an error", pattern);
    }
    snprintf(msg, cap, "%s", err.message);
    return rc;
}

static void test_anchored_verdicts(void **state)
{
    (void)state;
    static const struct {
        const char *re, *s;
        bool        match;
    } cases[] = {
        { "api|web", "api", true },        { "api|web", "api-1", false },
        { "a.*", "abc", true },            { ".*", "", true },
        { "(?:a|b)+c", "ababc", true },    { "\\d+", "123", true },
        { "\\d+", "12a", false },          { "\\D", "a", true },
        { "\\w+", "a_Z9", true },          { "\\W", "_", false },
        { "\\s", "\t", true },             { "[\\d.]+", "1.5", true },
        { "[\\]a]+", "]a]", true },        { "[a\\-z]", "-", true },
        { "[a\\-z]", "b", false },         { "[^\\d]", "x", true },
        { "[[:alpha:]]+", "abc", true },   { "\\.", ".", true },
        { "\\.", "x", false },             { "a{2}", "aa", true },
        { "a{2,}", "aaaa", true },         { "a{,2}", "a{,2}", true },
        { "x{", "x{", true },              { "\\x41", "A", true },
        { "/var/.*", "/var/lib", true },   { "[]]", "]", true },
        { "(?s).", "\n", true },           { "a\\{1\\}", "a{1}", true },
        { "\\Aab\\z", "ab", true },        { "[^a]", "", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (full_match(cases[i].re, cases[i].s) != cases[i].match)
            fail_msg("%s on \"%s\": expected %s", cases[i].re, cases[i].s,
                     cases[i].match ? "a match" : "no match");
}

static void test_case_insensitivity_is_scoped(void **state)
{
    (void)state;
    assert_true(full_match("(?i)error", "ERROR"));
    assert_true(full_match("(?i)[a-c]x", "BX"));
    assert_true(full_match("(?i)[^a]", "1"));
    assert_false(full_match("(?i)[^a]", "A"));
    assert_true(full_match("a(?i:b)c", "aBc"));
    assert_false(full_match("a(?i:b)c", "aBC"));
    assert_true(full_match("a(?i)bc", "aBC"));
    assert_false(full_match("a(?i)bc", "ABC"));
    assert_true(full_match("(?i)a(?-i)b", "Ab"));
    assert_false(full_match("(?i)a(?-i)b", "AB"));
    assert_true(full_match("(x(?i)y)z", "xYz"));
    assert_false(full_match("(x(?i)y)z", "xYZ"));
}

static void test_lazy_quantifiers_only_when_anchored(void **state)
{
    (void)state;
    assert_true(full_match("a.*?b", "axxb"));
    assert_true(full_match("a+?", "aaa"));
    assert_true(full_match("a{1,3}?", "aa"));
    char msg[sizeof(((vigil_error_t *)0)->message)];
    assert_int_equal(compile_error("a.*?b", 0, msg, sizeof(msg)), VIGIL_ENOTSUP);
    assert_string_equal(msg, "non-greedy repetition (*?) is not supported");
}

static void test_groups_are_numbered_as_re2(void **state)
{
    (void)state;
    re2posix_t r;
    vigil_error_t err;
    assert_int_equal(re2posix_compile(&r, "(?:x)(a+)(?:-)(?P<second>b+)(?<third>c)?",
                                      RE2POSIX_ANCHORED, &err), 0);
    assert_int_equal(r.ngroups, 3);
    const char *s = "xaa-bbb";
    regmatch_t m[5];
    assert_true(re2posix_exec(&r, s, 0, m, 5));
    assert_int_equal(m[0].rm_so, 0);
    assert_int_equal(m[0].rm_eo, 7);
    assert_int_equal(m[1].rm_so, 1);
    assert_int_equal(m[1].rm_eo, 3);
    assert_int_equal(m[2].rm_so, 4);
    assert_int_equal(m[2].rm_eo, 7);
    assert_int_equal(m[3].rm_so, -1);   /* the optional group did not take part */
    assert_int_equal(m[4].rm_so, -1);   /* there is no group 4 */
    assert_false(re2posix_exec(&r, "xaa-", 0, m, 5));
    re2posix_free(&r);
    re2posix_free(&r);  /* twice is harmless */

    /* Unanchored: the leftmost match, found inside the subject. */
    assert_int_equal(re2posix_compile(&r, "(\\d+)ms", 0, &err), 0);
    assert_true(re2posix_exec(&r, "took 250ms", 0, m, 2));
    assert_int_equal(m[1].rm_so, 5);
    assert_int_equal(m[1].rm_eo, 8);
    /* REG_NOTBOL: a search resumed inside a string, where ^ must not match. */
    re2posix_free(&r);
    assert_int_equal(re2posix_compile(&r, "^a", 0, &err), 0);
    assert_true(re2posix_exec(&r, "ab", 0, m, 1));
    assert_false(re2posix_exec(&r, "ab", REG_NOTBOL, m, 1));
    re2posix_free(&r);
}

static void test_errors_say_why(void **state)
{
    (void)state;
    static const struct {
        const char *re;
        int         rc;
        const char *msg;
    } cases[] = {
        { "(a", VIGIL_EPARSE, "missing closing ): `(a`" },
        { "a)", VIGIL_EPARSE, "unexpected ): `a)`" },
        { "[a", VIGIL_EPARSE, "missing closing ]: `[a`" },
        { "*a", VIGIL_EPARSE, "missing argument to repetition operator: `*`" },
        { "a**", VIGIL_EPARSE, "invalid nested repetition operator: `**`" },
        { "a{1001}", VIGIL_EPARSE, "invalid repeat count: `{1001}`" },
        { "(a{100}){100}", VIGIL_EPARSE, "invalid repeat count: `{100}`" },
        { "[z-a]", VIGIL_EPARSE, "invalid character class range: `z-a`" },
        { "\\q", VIGIL_EPARSE, "invalid escape sequence: `\\q`" },
        { "a\\", VIGIL_EPARSE, "trailing backslash at end of expression" },
        { "(a)\\1", VIGIL_EPARSE, "invalid escape sequence: `\\1`" },
        { "\\bword", VIGIL_ENOTSUP, "\\b is not supported" },
        { "\\pL", VIGIL_ENOTSUP, "\\p is not supported" },
        { "(?m)^a", VIGIL_ENOTSUP, "the regex flag m is not supported" },
        { "(?x)a", VIGIL_EPARSE, "invalid or unsupported Perl syntax: `(?x`" },
        { "(?P<a-b>x)", VIGIL_EPARSE, "invalid named capture: `(?P<a-b>`" },
        { "(?)", VIGIL_EPARSE, "invalid or unsupported Perl syntax: `(?)`" },
        { "[[:word:]]", VIGIL_EPARSE, "invalid character class range: `[:word:]`" },
        { "[é]", VIGIL_ENOTSUP,
          "non-ASCII characters in a character class are not supported" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[sizeof(((vigil_error_t *)0)->message)];
        int rc = compile_error(cases[i].re, RE2POSIX_ANCHORED, msg, sizeof(msg));
        if (rc != cases[i].rc || strcmp(msg, cases[i].msg) != 0)
            fail_msg("%s: got %d \"%s\", expected %d \"%s\"", cases[i].re, rc, msg,
                     cases[i].rc, cases[i].msg);
    }
}

static void test_free_of_zeroed_struct(void **state)
{
    (void)state;
    re2posix_t r;
    memset(&r, 0, sizeof(r));
    re2posix_free(&r);
    vigil_error_t err;
    assert_int_not_equal(re2posix_compile(&r, "(", 0, &err), 0);
    re2posix_free(&r);  /* a failed compile leaves nothing to free */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anchored_verdicts),
        cmocka_unit_test(test_case_insensitivity_is_scoped),
        cmocka_unit_test(test_lazy_quantifiers_only_when_anchored),
        cmocka_unit_test(test_groups_are_numbered_as_re2),
        cmocka_unit_test(test_errors_say_why),
        cmocka_unit_test(test_free_of_zeroed_struct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
