/*
 * match.c - label matchers.
 *
 * Prometheus matches regexes with Go's RE2, fully anchored (^(?:re)$). We use POSIX extended
 * regexes (regcomp/regexec from libc, no third-party engine) and translate the RE2 syntax that
 * PromQL users actually write:
 *   (?:...)             -> (...)            (groups are not captured anyway: REG_NOSUB)
 *   \d \D \s \S \w \W   -> bracket classes  (also inside [...], where they are merged in)
 *   \. \* \\ etc.       -> kept outside brackets; inside brackets the escaped char itself
 *   (?i) at the start   -> REG_ICASE
 *   *? +? ?? {n,m}?     -> greedy forms     (same verdict under full-string matching)
 * Rejected with VIGIL_ENOTSUP and the byte offset: \b \B \A \z \pX \Q..\E, back references,
 * named groups, inline flags after the start, and \] \^ \- inside brackets (POSIX brackets have
 * no escapes; write ] first or - last instead). '.' matches newline, like Prometheus 3's (?s).
 */
#include "tsdb/match.h"

#include <stdio.h>
#include <string.h>

/* Appends what a Perl class escape stands for; `in_bracket` drops the outer brackets.
 * Returns 0, a negative buf_* error, 1 when `c` is not a class letter, or 2 for a negated class
 * inside brackets (which POSIX cannot merge). */
static int put_class(buf_t *out, char c, bool in_bracket)
{
    const char *body;
    bool        neg = false;
    switch (c) {
    case 'd': body = "0-9"; break;
    case 'D': body = "0-9"; neg = true; break;
    case 's': body = "[:space:]"; break;
    case 'S': body = "[:space:]"; neg = true; break;
    case 'w': body = "[:alnum:]_"; break;
    case 'W': body = "[:alnum:]_"; neg = true; break;
    default: return 1;
    }
    if (in_bracket)
        return neg ? 2 : buf_puts(out, body);
    return buf_printf(out, "[%s%s]", neg ? "^" : "", body);
}

int match_translate_re2(const char *re, buf_t *out, bool *icase, vigil_error_t *err)
{
    size_t i = 0, n = strlen(re);
    *icase = false;
    if (strncmp(re, "(?i)", 4) == 0) {
        *icase = true;
        i = 4;
    }
    int rc = buf_puts(out, "^(");
    bool in_bracket = false;
    size_t bracket_start = 0;
    for (; rc == 0 && i < n; i++) {
        char c = re[i];
        if (in_bracket) {
            if (c == ']' && i > bracket_start) {
                in_bracket = false;
                rc = buf_putc(out, c);
            } else if (c == '\\' && i + 1 < n) {
                char e = re[++i];
                int  k = put_class(out, e, true);
                if (k == 2 || e == ']' || e == '^' || e == '-')
                    return vigil_error_set(err, VIGIL_ENOTSUP,
                                           "regex \"%s\": \\%c inside [...] at offset %zu is not "
                                           "supported (POSIX brackets have no escapes)", re, e, i - 1);
                if (k == 1)
                    rc = buf_putc(out, e == 'n' ? '\n' : e == 't' ? '\t' : e);
                else
                    rc = k;
            } else {
                rc = buf_putc(out, c);
            }
            continue;
        }
        switch (c) {
        case '[':
            in_bracket = true;
            rc = buf_putc(out, c);
            bracket_start = i + 1;
            if (i + 1 < n && re[i + 1] == '^') {
                rc = rc ? rc : buf_putc(out, '^');
                i++;
                bracket_start = i + 1;
            }
            /* A ']' right after '[' or '[^' is a literal in both syntaxes. */
            break;
        case '\\': {
            if (i + 1 >= n)
                return vigil_error_set(err, VIGIL_EPARSE, "regex \"%s\": trailing backslash", re);
            char e = re[++i];
            int  k = put_class(out, e, false);
            if (k != 1) {
                rc = k;
            } else if (strchr("bBAzpPQEkg123456789", e) != NULL) {
                return vigil_error_set(err, VIGIL_ENOTSUP,
                                       "regex \"%s\": \\%c at offset %zu is RE2 syntax vigil's "
                                       "POSIX matcher does not support", re, e, i - 1);
            } else if (e == 'n' || e == 't') {
                rc = buf_putc(out, e == 'n' ? '\n' : '\t');
            } else {
                rc = buf_putc(out, '\\');
                rc = rc ? rc : buf_putc(out, e);
            }
            break;
        }
        case '(':
            if (i + 2 < n && re[i + 1] == '?') {
                if (re[i + 2] != ':')
                    return vigil_error_set(err, VIGIL_ENOTSUP,
                                           "regex \"%s\": group flags \"(?%c\" at offset %zu are "
                                           "not supported", re, re[i + 2], i);
                i += 2;
            }
            rc = buf_putc(out, '(');
            break;
        case '*': case '+': case '?': case '}':
            rc = buf_putc(out, c);
            if (i + 1 < n && re[i + 1] == '?')
                i++; /* lazy quantifier: the full-match verdict is the same as greedy */
            break;
        default:
            rc = buf_putc(out, c);
            break;
        }
    }
    if (rc == 0 && in_bracket)
        return vigil_error_set(err, VIGIL_EPARSE, "regex \"%s\": missing ]", re);
    if (rc == 0)
        rc = buf_puts(out, ")$");
    if (rc != 0)
        return vigil_error_set(err, rc, "regex \"%s\": %s", re, vigil_strerror(rc));
    return 0;
}

int matcher_compile(matcher_t *m, const tsdb_matcher_t *src, vigil_error_t *err)
{
    memset(m, 0, sizeof(*m));
    if (src->name == NULL || src->value == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "matcher with a NULL name or value");
    m->type = src->type;
    m->name = src->name;
    m->value = src->value;
    if (m->type == TSDB_MATCH_RE || m->type == TSDB_MATCH_NRE) {
        buf_t b;
        bool  icase;
        buf_init(&b, 1 << 20);
        int rc = match_translate_re2(src->value, &b, &icase, err);
        if (rc == 0) {
            int flags = REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0);
            int r = regcomp(&m->re, b.data, flags);
            if (r != 0) {
                char msg[128];
                regerror(r, &m->re, msg, sizeof(msg));
                rc = vigil_error_set(err, VIGIL_EPARSE, "regex \"%s\": %s", src->value, msg);
            } else {
                m->has_re = true;
            }
        }
        buf_free(&b);
        if (rc != 0)
            return rc;
    } else if (m->type != TSDB_MATCH_EQ && m->type != TSDB_MATCH_NEQ) {
        return vigil_error_set(err, VIGIL_EINVAL, "unknown matcher type %d", (int)m->type);
    }
    m->matches_empty = matcher_matches(m, "");
    return 0;
}

bool matcher_matches(const matcher_t *m, const char *value)
{
    switch (m->type) {
    case TSDB_MATCH_EQ: return strcmp(value, m->value) == 0;
    case TSDB_MATCH_NEQ: return strcmp(value, m->value) != 0;
    case TSDB_MATCH_RE: return regexec(&m->re, value, 0, NULL, 0) == 0;
    case TSDB_MATCH_NRE: return regexec(&m->re, value, 0, NULL, 0) != 0;
    }
    return false;
}

void matcher_free(matcher_t *m)
{
    if (m->has_re)
        regfree(&m->re);
    m->has_re = false;
}
