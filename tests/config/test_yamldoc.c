/*
 * test_yamldoc.c - the YAML document layer (src/config/yamldoc.h) on its own: loading with
 * each format's options (syntax-error wording, second documents, size caps, files), node
 * helpers, the mapping iterator (bad and repeated keys, "<<" as an ordinary key) and
 * yamldoc_pairs() with merge keys. Messages are checked whole: the three formats' walkers
 * pass them on to users and to the promtool/amtool parity tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config/yamldoc.h"
#include "tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const yamldoc_opts_t vigil_opts = {
    .max_len = 1024,
    .syntax = YAMLDOC_SYNTAX_VIGIL,
    .second_document = "only one document here",
};
static const yamldoc_opts_t go_opts = {
    .max_len = 1024,
    .too_large = "file too large",
    .syntax = YAMLDOC_SYNTAX_GO,
};
static const yamldoc_opts_t amtool_opts = { .max_len = 1024, .syntax = YAMLDOC_SYNTAX_AMTOOL };

/* Loads `text` (which must be good YAML) into *doc and returns its root. */
static yaml_node_t *load(yaml_document_t *doc, const char *text)
{
    vigil_error_t err;
    if (yamldoc_load(doc, "t.yml", text, strlen(text), &go_opts, &err) != 0)
        fail_msg("load: %s", err.message);
    return yaml_document_get_root_node(doc);
}

/* Expects loading `text` with `o` to fail with `code` and exactly `msg`. */
static void expect_load_error(const yamldoc_opts_t *o, const char *text, size_t len, int code,
                              const char *msg)
{
    yaml_document_t doc;
    vigil_error_t err;
    assert_int_equal(yamldoc_load(&doc, "t.yml", text, len, o, &err), code);
    assert_string_equal(err.message, msg);
}

/* ---- loading ------------------------------------------------------------------------- */

static void test_syntax_error_wordings(void **state)
{
    (void)state;
    const char *bad = "a: [1, 2\nb: 3\n";
    expect_load_error(&vigil_opts, bad, strlen(bad), VIGIL_EPARSE,
                      "t.yml:2:2: syntax error: did not find expected ',' or ']' "
                      "(while parsing a flow sequence at 1:4)");
    expect_load_error(&go_opts, bad, strlen(bad), VIGIL_EPARSE,
                      "t.yml:2:2: yaml: did not find expected ',' or ']' "
                      "while parsing a flow sequence");
    expect_load_error(&amtool_opts, bad, strlen(bad), VIGIL_EPARSE,
                      "t.yml:2:2: syntax error: did not find expected ',' or ']'");
}

static void test_encoding_error_positions(void **state)
{
    (void)state;
    /* libyaml reports bad UTF-8 by byte offset; line:col count characters, not bytes. */
    const char *bad = "a: 1\nbé: \xff\n";
    expect_load_error(&vigil_opts, bad, strlen(bad), VIGIL_EPARSE,
                      "t.yml:2:5: syntax error: invalid leading UTF-8 octet");
    expect_load_error(&go_opts, bad, strlen(bad), VIGIL_EPARSE,
                      "t.yml:2:5: yaml: invalid leading UTF-8 octet");
    expect_load_error(&amtool_opts, bad, strlen(bad), VIGIL_EPARSE,
                      "t.yml: syntax error: invalid leading UTF-8 octet at byte 10");
}

static void test_second_document(void **state)
{
    (void)state;
    const char *two = "a: 1\n---\nb: 2\n";
    expect_load_error(&vigil_opts, two, strlen(two), VIGIL_EPARSE,
                      "t.yml:2:1: only one document here");
    /* A syntax error in the second document counts where it is looked at... */
    const char *bad = "a: 1\n---\nb: [\n";
    expect_load_error(&vigil_opts, bad, strlen(bad), VIGIL_EPARSE,
                      "t.yml:4:1: syntax error: did not find expected node content "
                      "(while parsing a flow node at 4:1)");

    /* ...and not at all where only the first document is read, as Go's yaml.Decoder does. */
    yaml_document_t doc;
    vigil_error_t err;
    assert_int_equal(yamldoc_load(&doc, "t.yml", bad, strlen(bad), &go_opts, &err), 0);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    assert_non_null(root);
    assert_int_equal(root->type, YAML_MAPPING_NODE);
    yaml_document_delete(&doc);

    /* An empty second document (a trailing "---" alone is one) is no document. */
    const char *empty = "a: 1\n...\n";
    assert_int_equal(yamldoc_load(&doc, "t.yml", empty, strlen(empty), &vigil_opts, &err), 0);
    yaml_document_delete(&doc);
}

static void test_empty_input_has_no_root(void **state)
{
    (void)state;
    yaml_document_t doc;
    vigil_error_t err;
    assert_int_equal(yamldoc_load(&doc, "t.yml", "", 0, &vigil_opts, &err), 0);
    assert_null(yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
}

static void test_size_cap(void **state)
{
    (void)state;
    char big[1100];
    memset(big, '#', sizeof(big));
    expect_load_error(&vigil_opts, big, sizeof(big), VIGIL_ELIMIT,
                      "t.yml: larger than 1024 bytes");
    expect_load_error(&go_opts, big, sizeof(big), VIGIL_ELIMIT, "t.yml: file too large");
}

static void test_load_file(void **state)
{
    const char *dir = *state;
    char path[4096];
    yaml_document_t doc;
    vigil_error_t err;

    snprintf(path, sizeof(path), "%s/missing.yml", dir);
    assert_int_equal(yamldoc_load_file(&doc, path, &vigil_opts, &err), VIGIL_EIO);
    char want[4200];
    snprintf(want, sizeof(want), "%s: No such file or directory", path);
    assert_string_equal(err.message, want);

    snprintf(path, sizeof(path), "%s/good.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("x:\n  - 1\n  - two\n", f);
    fclose(f);
    assert_int_equal(yamldoc_load_file(&doc, path, &vigil_opts, &err), 0);
    size_t n;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yamldoc_pair_t *ps;
    assert_int_equal(yamldoc_pairs(&doc, path, root, &ps, &n, &err), 0);
    assert_int_equal(n, 1);
    yamldoc_items(ps[0].value, &n);
    assert_int_equal(n, 2);
    free(ps);
    yaml_document_delete(&doc);

    /* Past the cap while reading: the same message as for a buffer, named by the path. */
    snprintf(path, sizeof(path), "%s/big.yml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 2000; i++)
        fputc('#', f);
    fclose(f);
    assert_int_equal(yamldoc_load_file(&doc, path, &go_opts, &err), VIGIL_ELIMIT);
    snprintf(want, sizeof(want), "%s: file too large", path);
    assert_string_equal(err.message, want);

    /* An empty file is an empty document, not an error. */
    snprintf(path, sizeof(path), "%s/empty.yml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(yamldoc_load_file(&doc, path, &amtool_opts, &err), 0);
    assert_null(yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
}

/* ---- nodes --------------------------------------------------------------------------- */

static void test_nodes(void **state)
{
    (void)state;
    yaml_document_t doc;
    yaml_node_t *root = load(&doc, "- {a: 1}\n- [x]\n- plain\n- ~\n- ''\n- \"nul\\0byte\"\n"
                                   "- null\n- Null\n- NULL\n- 'null'\n-\n");
    size_t n;
    yaml_node_item_t *it = yamldoc_items(root, &n);
    assert_int_equal(n, 11);
    yaml_node_t *v[11];
    for (size_t i = 0; i < n; i++)
        v[i] = yaml_document_get_node(&doc, it[i]);

    assert_string_equal(yamldoc_kind(v[0]), "a mapping");
    assert_string_equal(yamldoc_kind(v[1]), "a list");
    assert_string_equal(yamldoc_kind(v[2]), "a scalar");
    assert_string_equal(yamldoc_go_tag(v[0]), "!!map");
    assert_string_equal(yamldoc_go_tag(v[1]), "!!seq");
    assert_string_equal(yamldoc_go_tag(v[2]), "!!str");

    /* Null is plain "", "~", "null", "Null", "NULL" or no node; a quoted one is a string. */
    assert_false(yamldoc_is_null(v[0]));
    assert_false(yamldoc_is_null(v[2]));
    assert_true(yamldoc_is_null(v[3]));
    assert_false(yamldoc_is_null(v[4]));
    assert_true(yamldoc_is_null(v[6]));
    assert_true(yamldoc_is_null(v[7]));
    assert_true(yamldoc_is_null(v[8]));
    assert_false(yamldoc_is_null(v[9]));
    assert_true(yamldoc_is_null(v[10]));
    assert_true(yamldoc_is_null(NULL));

    /* text: as written; str: as Go reads it into a string. */
    assert_string_equal(yamldoc_text(v[2]), "plain");
    assert_string_equal(yamldoc_text(v[3]), "~");
    assert_string_equal(yamldoc_str(v[3]), "");
    assert_string_equal(yamldoc_str(v[9]), "null");
    assert_string_equal(yamldoc_str(NULL), "");
    assert_null(yamldoc_text(NULL));
    assert_null(yamldoc_text(v[0]));
    assert_null(yamldoc_str(v[0]));
    assert_null(yamldoc_str(v[1]));
    assert_null(yamldoc_text(v[5]));  /* a NUL byte C strings cannot carry */
    assert_null(yamldoc_str(v[5]));

    /* Positions are 1-based. */
    assert_int_equal(yamldoc_line(v[1]), 2);
    assert_int_equal(yamldoc_col(v[1]), 3);

    /* items of anything but a list: none. */
    assert_null(yamldoc_items(v[0], &n));
    assert_int_equal(n, 0);
    assert_null(yamldoc_items(NULL, &n));
    assert_int_equal(n, 0);

    vigil_error_t err;
    assert_int_equal(yamldoc_error(&err, VIGIL_EPARSE, "t.yml", v[2], "bad %s", "thing"),
                     VIGIL_EPARSE);
    assert_string_equal(err.message, "t.yml:3:3: bad thing");
    yaml_document_delete(&doc);
}

/* ---- the iterator -------------------------------------------------------------------- */

static void test_iterator(void **state)
{
    (void)state;
    yaml_document_t doc;
    yaml_node_t *root = load(&doc, "a: 1\n~: 2\n<<: {c: 3}\n'<<': 4\nb: 5\na: 6\n");
    yamldoc_iter_t it;
    yamldoc_pair_t p;
    const yaml_node_t *first = NULL;
    yamldoc_iter_init(&it, &doc, root);

    const char *want[] = { "a", "", "<<", "<<" };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(yamldoc_next(&it, &p, &first), YAMLDOC_PAIR);
        assert_string_equal(p.key, want[i]);
        assert_int_equal(yamldoc_line(p.knode), i + 1);
        assert_int_equal(yamldoc_line(p.value), i + 1);
    }
    /* "<<" is an ordinary key here, so a quoted one repeats it. */
    assert_int_equal(yamldoc_next(&it, &p, &first), YAMLDOC_DUP_KEY);
    assert_string_equal(p.key, want[3]);
    assert_int_equal(yamldoc_line(p.knode), 4);
    assert_int_equal(yamldoc_line(first), 3);
    yaml_document_delete(&doc);

    root = load(&doc, "a: 1\nb: 5\na: 6\n");
    yamldoc_iter_init(&it, &doc, root);
    assert_int_equal(yamldoc_next(&it, &p, &first), YAMLDOC_PAIR);
    assert_int_equal(yamldoc_next(&it, &p, &first), YAMLDOC_PAIR);
    assert_int_equal(yamldoc_next(&it, &p, &first), YAMLDOC_DUP_KEY);
    assert_int_equal(yamldoc_line(p.knode), 3);
    assert_int_equal(yamldoc_col(first), 1);
    assert_int_equal(yamldoc_line(first), 1);
    yaml_document_delete(&doc);

    root = load(&doc, "a: 1\n[x]: 2\n");
    yamldoc_iter_init(&it, &doc, root);
    assert_int_equal(yamldoc_next(&it, &p, &first), YAMLDOC_PAIR);
    assert_int_equal(yamldoc_next(&it, &p, &first), YAMLDOC_BAD_KEY);
    assert_null(p.key);
    assert_int_equal(p.knode->type, YAML_SEQUENCE_NODE);
    yaml_document_delete(&doc);

    root = load(&doc, "{}");
    yamldoc_iter_init(&it, &doc, root);
    assert_int_equal(yamldoc_next(&it, &p, &first), YAMLDOC_END);
    yaml_document_delete(&doc);
}

/* ---- yamldoc_pairs: merge keys ------------------------------------------------------- */

/* Loads `text`, takes the pairs of the mapping at root key `at` and checks their keys and
 * values, "k=v,k=v". */
static void expect_pairs(const char *text, const char *at, const char *want)
{
    yaml_document_t doc;
    vigil_error_t err;
    yaml_node_t *root = load(&doc, text);
    yamldoc_pair_t *top, *ps;
    size_t ntop, n;
    assert_int_equal(yamldoc_pairs(&doc, "t.yml", root, &top, &ntop, &err), 0);
    const yaml_node_t *map = NULL;
    for (size_t i = 0; i < ntop; i++)
        if (strcmp(top[i].key, at) == 0)
            map = top[i].value;
    assert_non_null(map);
    if (yamldoc_pairs(&doc, "t.yml", map, &ps, &n, &err) != 0)
        fail_msg("pairs: %s", err.message);
    char got[256] = "";
    for (size_t i = 0; i < n; i++) {
        size_t o = strlen(got);
        snprintf(got + o, sizeof(got) - o, "%s%s=%s", i ? "," : "", ps[i].key,
                 yamldoc_str(ps[i].value));
    }
    assert_string_equal(got, want);
    free(ps);
    free(top);
    yaml_document_delete(&doc);
}

static void test_merge_keys(void **state)
{
    (void)state;
    const char *base = "base: &b {x: 1, y: 2}\nmore: &m {y: 9, z: 3}\n";
    char text[512];

    /* Explicit keys win wherever the merge key stands; merged keys follow in their order. */
    snprintf(text, sizeof(text), "%sv: {y: 7, <<: *b, w: 0}\n", base);
    expect_pairs(text, "v", "y=7,w=0,x=1");
    /* A list of merges: earlier ones win. */
    snprintf(text, sizeof(text), "%sv: {<<: [*b, *m]}\n", base);
    expect_pairs(text, "v", "x=1,y=2,z=3");
    /* A merged mapping's own merge keys are followed where they stand. */
    snprintf(text, sizeof(text), "%sn: &n {<<: *m, q: 4}\nv: {<<: *n}\n", base);
    expect_pairs(text, "v", "y=9,z=3,q=4");
    /* A quoted "<<" is an ordinary key. */
    snprintf(text, sizeof(text), "%sv: {'<<': 5}\n", base);
    expect_pairs(text, "v", "<<=5");
    /* Null is an empty mapping. */
    expect_pairs("v:\n", "v", "");
}

/* Expects yamldoc_pairs() of the root of `text` to fail with exactly `msg`. */
static void expect_pairs_error(const char *text, const char *msg)
{
    yaml_document_t doc;
    vigil_error_t err;
    yaml_node_t *root = load(&doc, text);
    yamldoc_pair_t *ps = (yamldoc_pair_t *)&doc;  /* must come back NULL */
    size_t n = 99;
    assert_int_equal(yamldoc_pairs(&doc, "t.yml", root, &ps, &n, &err), VIGIL_EPARSE);
    assert_string_equal(err.message, msg);
    assert_null(ps);
    assert_int_equal(n, 0);
    yaml_document_delete(&doc);
}

static void test_pairs_errors(void **state)
{
    (void)state;
    expect_pairs_error("- 1\n", "t.yml:1:1: expected a mapping, got a list");
    expect_pairs_error("a: 1\n{b: 2}: 3\n", "t.yml:2:1: expected a key name, got a mapping");
    expect_pairs_error("a: 1\nb: 2\n\"a\": 3\n",
                       "t.yml:3:1: mapping key \"a\" already defined at line 1");
    /* Two merge keys are no duplicate: both merge. */
    yaml_document_t doc;
    vigil_error_t err;
    yaml_node_t *root = load(&doc, "x: &x {a: 1}\ny: &y {b: 2}\nv: {<<: *x, <<: *y}\n");
    yamldoc_pair_t *ps;
    size_t n;
    assert_int_equal(yamldoc_pairs(&doc, "t.yml", root, &ps, &n, &err), 0);
    assert_int_equal(n, 3);
    yamldoc_pair_t *vs;
    size_t nv;
    assert_int_equal(yamldoc_pairs(&doc, "t.yml", ps[2].value, &vs, &nv, &err), 0);
    assert_int_equal(nv, 2);
    free(vs);
    free(ps);
    yaml_document_delete(&doc);

    expect_pairs_error("a: 1\n<<: 5\n",
                       "t.yml:2:5: map merge requires map or sequence of maps as the value");
    /* a list inside the list is followed too: the error is at its scalar */
    expect_pairs_error("a: 1\n<<: [{b: 1}, [c]]\n",
                       "t.yml:2:15: map merge requires map or sequence of maps as the value");

    /* Merges nested past the bound: each level a list inside a list. */
    char deep[256] = "<<: ";
    for (int i = 0; i < 20; i++)
        strcat(deep, "[");
    strcat(deep, "{a: 1}");
    for (int i = 0; i < 20; i++)
        strcat(deep, "]");
    strcat(deep, "\n");
    expect_pairs_error(deep, "t.yml:1:22: merge keys nested too deeply");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_error_wordings),
        cmocka_unit_test(test_encoding_error_positions),
        cmocka_unit_test(test_second_document),
        cmocka_unit_test(test_empty_input_has_no_root),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test_setup_teardown(test_load_file, test_tmpdir_setup, test_tmpdir_teardown),
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_iterator),
        cmocka_unit_test(test_merge_keys),
        cmocka_unit_test(test_pairs_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
