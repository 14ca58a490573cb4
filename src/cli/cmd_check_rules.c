/*
 * cmd_check_rules.c - `vigil check rules [flags] FILE...`: promtool check rules, with vigil's
 * rule loader (src/rules), so a file that passes here loads in the agent.
 *
 * Output and exit codes are promtool's: per file "Checking FILE" then "  SUCCESS: N rules
 * found" (stdout) or "  FAILED:" and every problem (stderr); duplicate rules (same name and
 * labels) are a lint error "lint error N duplicate rule(s) found." that fails the run only
 * with --lint-fatal. Exit 0 good, 1 a file is bad, 3 lint problems with --lint-fatal,
 * 2 usage.
 */
#include "cli/cli.h"
#include "rules/rules.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Also declared in cli/cli.h once the command table has its row. */

typedef struct dup_key {
    const char *metric;
    const rules_kv_t *labels;
    size_t n;
} dup_key_t;

static int kv_cmp(const rules_kv_t *a, size_t na, const rules_kv_t *b, size_t nb)
{
    for (size_t i = 0; i < na && i < nb; i++) {
        int c = strcmp(a[i].name, b[i].name);
        if (c == 0)
            c = strcmp(a[i].value, b[i].value);
        if (c != 0)
            return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

static int dup_cmp(const void *x, const void *y)
{
    const dup_key_t *a = x, *b = y;
    int c = strcmp(a->metric, b->metric);
    return c != 0 ? c : kv_cmp(a->labels, a->n, b->labels, b->n);
}

/* promtool's checkDuplicates: sort by (name, labels) and report each repeated pair once. */
static void report_duplicates(const rules_file_t *f, bool *lint_failed)
{
    size_t n = rules_file_count(f), k = 0;
    if (n < 2)
        return;
    dup_key_t *v = calloc(n, sizeof(*v));
    size_t *dups = calloc(n, sizeof(*dups));
    if (v == NULL || dups == NULL) {
        free(v);
        free(dups);
        return;
    }
    for (size_t i = 0; i < f->n_groups; i++)
        for (size_t j = 0; j < f->groups[i].n_rules; j++) {
            const rules_rule_t *r = &f->groups[i].rules[j];
            v[k++] = (dup_key_t){ r->name, r->labels, r->n_labels };
        }
    qsort(v, k, sizeof(*v), dup_cmp);
    size_t nd = 0;
    for (size_t i = 1; i < k; i++)
        if (dup_cmp(&v[i - 1], &v[i]) == 0 && (nd == 0 || dup_cmp(&v[dups[nd - 1]], &v[i]) != 0))
            dups[nd++] = i;
    if (nd > 0) {
        *lint_failed = true;
        fprintf(stderr, "  FAILED:\nlint error %zu duplicate rule(s) found.\n", nd);
        for (size_t i = 0; i < nd; i++) {
            const dup_key_t *d = &v[dups[i]];
            fprintf(stderr, "Metric: %s\nLabel(s):\n", d->metric);
            for (size_t j = 0; j < d->n; j++)
                fprintf(stderr, "\t%s: %s\n", d->labels[j].name, d->labels[j].value);
        }
        fprintf(stderr, "Might cause inconsistency while recording expressions\n");
    }
    free(v);
    free(dups);
}

static int usage(void)
{
    fprintf(stderr, "usage: vigil check rules [--lint=duplicate-rules|all|none] [--lint-fatal]\n"
                    "                         [--ignore-unknown-fields]\n"
                    "                         [--validation-scheme=utf8|legacy] FILE...\n");
    return 2;
}

int cmd_check_rules(int argc, char **argv)
{
    rules_load_opts_t o = { 0 };
    bool lint = true, lint_fatal = false;
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        const char *a = argv[first];
        if (strcmp(a, "--") == 0) {
            first++;
            break;
        } else if (strcmp(a, "--lint-fatal") == 0) {
            lint_fatal = true;
        } else if (strcmp(a, "--ignore-unknown-fields") == 0) {
            o.ignore_unknown_fields = true;
        } else if (strncmp(a, "--lint=", 7) == 0) {
            const char *l = a + 7;
            if (strcmp(l, "none") == 0)
                lint = false;
            else if (strcmp(l, "duplicate-rules") == 0 || strcmp(l, "all") == 0)
                lint = true;
            else
                return usage();
        } else if (strncmp(a, "--validation-scheme=", 20) == 0) {
            const char *s = a + 20;
            if (strcmp(s, "legacy") == 0)
                o.legacy_names = true;
            else if (strcmp(s, "utf8") != 0)
                return usage();
        } else {
            return usage();
        }
    }
    if (first >= argc)
        return usage();
    bool failed = false, has_errors = false;
    for (int i = first; i < argc; i++) {
        printf("Checking %s\n", argv[i]);
        fflush(stdout);
        rules_file_t *f;
        rules_errors_t errs = { 0 };
        vigil_error_t err;
        if (rules_file_load(argv[i], NULL, 0, &o, &f, &errs, &err) != 0) {
            failed = has_errors = true;
            fprintf(stderr, "  FAILED:\n");
            for (size_t j = 0; j < errs.n; j++)
                fprintf(stderr, "%s\n", errs.v[j]);
            if (errs.n == 0)
                fprintf(stderr, "%s\n", err.message);
            rules_errors_free(&errs);
            printf("\n");
            continue;
        }
        bool lint_failed = false;
        if (lint)
            report_duplicates(f, &lint_failed);
        if (lint_failed)
            failed = true;
        else
            printf("  SUCCESS: %zu rules found\n", rules_file_count(f));
        printf("\n");
        rules_file_free(f);
    }
    if (failed && has_errors)
        return 1;
    if (failed && lint_fatal)
        return 3;
    return 0;
}
