/*
 * re2posix.h - RE2 regular expressions (Go's regexp syntax, which Prometheus, Alertmanager and
 * Go templates take) compiled with the C library's POSIX regcomp.
 *
 * One translator serves every place vigil reads a user's regex: PromQL matchers and
 * label_replace, the store's label matchers, Alertmanager matchers and the templates'
 * reReplaceAll / match. POSIX ERE covers what people write; the rest of RE2 is rewritten or
 * refused with a reason, never silently read another way:
 *   (?:...)               -> (...), with a map from RE2 group numbers to POSIX ones
 *   (?P<n>...) (?<n>...)  -> (...), numbered as RE2 numbers them
 *   (?i) (?i:...) (?-i)   -> letters written as [xX] (inside brackets both cases are added)
 *   (?s)                  -> nothing: POSIX '.' already matches a newline
 *   \d \D \s \S \w \W     -> bracket classes, inside [...] too
 *   \n \t \r \f \v \a \xHH, \A \z, escaped punctuation
 *   [...]                 -> rebuilt from a byte set (a backslash is literal in POSIX brackets)
 *   a{ not a repetition   -> a literal '{', as RE2 reads it
 *   *? +? ?? {n,m}?       -> the greedy form when the match is anchored at both ends (the
 *                            verdict is the same); refused otherwise, where it would change
 *                            what is matched
 * Refused (VIGIL_ENOTSUP): \b \B \p \P \Q \E \C, back references, flags m and U, non-ASCII bytes
 * in classes. RE2's limits are kept (a quantifier needs an operand, none on another quantifier,
 * at most 1000 repetitions however {n,m} nest), which also spares glibc's regcomp its
 * exponential cases. What stays different: POSIX picks the leftmost-longest match and RE2 the
 * leftmost-first, which can change what an alternation captures (docs/promql.md).
 */
#ifndef VIGIL_UTIL_RE2POSIX_H
#define VIGIL_UTIL_RE2POSIX_H

#include "vigil/error.h"

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

/* The whole subject must match: ^(?:re)$, as Prometheus's label matchers and label_replace. */
#define RE2POSIX_ANCHORED (1u << 0)
/* No capture groups are read: regcomp's REG_NOSUB, faster matching. */
#define RE2POSIX_NOSUB    (1u << 1)

typedef struct re2posix {
    regex_t re;
    int    *groups;    /* groups[k]: the POSIX group of RE2 group k (k = 1..ngroups); owned */
    int     ngroups;   /* RE2's capturing groups */
} re2posix_t;

/*
 * Compiles `pattern` into *out. Returns 0, or VIGIL_EPARSE (invalid RE2, message as Go's
 * regexp: "missing closing ): `(a`"), VIGIL_ENOTSUP (valid RE2 that POSIX cannot express),
 * VIGIL_ELIMIT (too long) or VIGIL_ENOMEM, with the reason in err; *out is then left empty.
 * Free with re2posix_free().
 */
int re2posix_compile(re2posix_t *out, const char *pattern, unsigned flags, vigil_error_t *err);

/* True when `s` matches (wholly, for RE2POSIX_ANCHORED). */
bool re2posix_matches(const re2posix_t *r, const char *s);

/*
 * Matches `s` and fills m[0] (the whole match) and m[k] (RE2 group k) for k < n, with
 * rm_so = rm_eo = -1 for a group that did not take part. `eflags`: regexec's (REG_NOTBOL to
 * search on from inside a string). False when `s` does not match. Not for a regex compiled
 * with RE2POSIX_NOSUB.
 */
bool re2posix_exec(const re2posix_t *r, const char *s, int eflags, regmatch_t *m, size_t n);

/* Frees what re2posix_compile() allocated; safe on a zeroed struct and twice. */
void re2posix_free(re2posix_t *r);

#endif /* VIGIL_UTIL_RE2POSIX_H */
