/*
 * regex.c - Prometheus label regexes (RE2 syntax) on the C library's POSIX regex.
 *
 * Prometheus anchors every matcher regex (^(?:re)$) and uses RE2. We translate the RE2 forms
 * that appear in practice into POSIX extended syntax: (?:...) groups, the (?i) flag and (?i:...)
 * groups (letters become [xX] classes), \d \D \w \W \s \S, and lazy quantifiers (*? +? ??,
 * which cannot change whether a fully anchored regex matches). Named groups (?P<n>...) become
 * plain groups. Anything else is handed to regcomp as is; what it rejects is an error.
 * docs/promql.md lists the difference.
 */
#include "promql/promql_int.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

typedef struct promql_regex {
    regex_t re;
} promql_regex_t;

static void put(buf_t *b, const char *s)
{
    buf_puts(b, s);
}

/* Translates `re` into POSIX ERE in b. Returns false on a construct we cannot express. */
static bool translate(const char *re, buf_t *b)
{
    /* ci_stack[d]: case-insensitivity in group depth d */
    bool ci_stack[256];
    int depth = 0;
    ci_stack[0] = false;
    bool in_class = false;
    for (const char *p = re; *p; p++) {
        char c = *p;
        if (in_class) {
            if (c == '\\' && p[1] != '\0') {
                char n = *++p;
                switch (n) {
                case 'd': put(b, "0-9"); break;
                case 'w': put(b, "A-Za-z0-9_"); break;
                case 's': put(b, "[:space:]"); break;
                case '\\': put(b, "\\"); break;
                case ']': put(b, "]"); break;   /* POSIX: ] only literal first; best effort */
                case '-': put(b, "-"); break;
                case 'n': put(b, "\n"); break;
                case 't': put(b, "\t"); break;
                default: buf_putc(b, n); break;
                }
                continue;
            }
            if (c == ']')
                in_class = false;
            buf_putc(b, c);
            if (ci_stack[depth] && isalpha((unsigned char)c) && in_class) {
                buf_putc(b, (char)(islower((unsigned char)c) ? toupper((unsigned char)c)
                                                             : tolower((unsigned char)c)));
            }
            continue;
        }
        switch (c) {
        case '\\': {
            char n = p[1];
            if (n == '\0')
                return false;
            p++;
            switch (n) {
            case 'd': put(b, "[0-9]"); break;
            case 'D': put(b, "[^0-9]"); break;
            case 'w': put(b, "[A-Za-z0-9_]"); break;
            case 'W': put(b, "[^A-Za-z0-9_]"); break;
            case 's': put(b, "[[:space:]]"); break;
            case 'S': put(b, "[^[:space:]]"); break;
            case 'n': put(b, "\n"); break;
            case 't': put(b, "\t"); break;
            default:
                if (isalnum((unsigned char)n))
                    return false;   /* \b, \pL, \Q... have no POSIX form */
                buf_putc(b, '\\');
                buf_putc(b, n);
            }
            break;
        }
        case '[':
            in_class = true;
            buf_putc(b, '[');
            if (p[1] == '^') {
                buf_putc(b, '^');
                p++;
            }
            if (p[1] == ']') {
                buf_putc(b, ']');
                p++;
            }
            break;
        case '(':
            if (p[1] == '?') {
                const char *q = p + 2;
                bool ci = ci_stack[depth];
                bool flag_only = false;
                if (*q == 'P' && q[1] == '<') {
                    const char *e = strchr(q, '>');
                    if (e == NULL)
                        return false;
                    p = e;
                } else {
                    while (*q == 'i' || *q == 's' || *q == 'm' || *q == 'U' || *q == '-') {
                        if (*q == 'i')
                            ci = true;
                        q++;
                    }
                    if (*q == ')')
                        flag_only = true;
                    else if (*q != ':')
                        return false;
                    p = q;
                }
                if (flag_only) {
                    ci_stack[depth] = ci;   /* applies to the rest of the current group */
                    break;
                }
                if (depth + 1 >= (int)(sizeof(ci_stack) / sizeof(ci_stack[0])))
                    return false;
                ci_stack[++depth] = ci;
                buf_putc(b, '(');
                break;
            }
            if (depth + 1 >= (int)(sizeof(ci_stack) / sizeof(ci_stack[0])))
                return false;
            ci_stack[depth + 1] = ci_stack[depth];
            depth++;
            buf_putc(b, '(');
            break;
        case ')':
            if (depth > 0)
                depth--;
            buf_putc(b, ')');
            break;
        case '*': case '+': case '?':
            buf_putc(b, c);
            if (p[1] == '?')
                p++;   /* lazy quantifier: same language */
            break;
        case '}':
            buf_putc(b, c);
            if (p[1] == '?')
                p++;
            break;
        default:
            if (ci_stack[depth] && isalpha((unsigned char)c)) {
                buf_printf(b, "[%c%c]", tolower((unsigned char)c), toupper((unsigned char)c));
            } else {
                buf_putc(b, c);
            }
        }
    }
    return !in_class;
}

void *promql_regex_compile(const char *re, bool anchored, char *errbuf, size_t errlen)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    if (anchored)
        buf_puts(&b, "^(");
    if (!translate(re, &b)) {
        snprintf(errbuf, errlen, "\"%s\": unsupported syntax", re);
        buf_free(&b);
        return NULL;
    }
    if (anchored)
        buf_puts(&b, ")$");
    promql_regex_t *r = malloc(sizeof(*r));
    if (r == NULL || b.data == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        free(r);
        buf_free(&b);
        return NULL;
    }
    int rc = regcomp(&r->re, b.data, REG_EXTENDED);
    buf_free(&b);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &r->re, msg, sizeof(msg));
        snprintf(errbuf, errlen, "\"%s\": %s", re, msg);
        free(r);
        return NULL;
    }
    return r;
}

void promql_regex_free(void *p)
{
    promql_regex_t *r = p;
    if (r == NULL)
        return;
    regfree(&r->re);
    free(r);
}

bool promql_regex_match(void *p, const char *s, int *m, int nm)
{
    promql_regex_t *r = p;
    regmatch_t pm[10];
    int n = nm > 10 ? 10 : nm;
    if (regexec(&r->re, s, (size_t)(n > 0 ? n : 0), n > 0 ? pm : NULL, 0) != 0)
        return false;
    for (int i = 0; i < n; i++) {
        m[2 * i] = (int)pm[i].rm_so;
        m[2 * i + 1] = (int)pm[i].rm_eo;
    }
    return true;
}

bool promql_matcher_matches(const promql_matcher_t *m, const char *value)
{
    if (value == NULL)
        value = "";
    switch (m->op) {
    case PROMQL_MATCH_EQ: return strcmp(value, m->value) == 0;
    case PROMQL_MATCH_NEQ: return strcmp(value, m->value) != 0;
    case PROMQL_MATCH_RE: return promql_regex_match(m->re, value, NULL, 0);
    case PROMQL_MATCH_NRE: return !promql_regex_match(m->re, value, NULL, 0);
    }
    return false;
}

void promql_strings_free(promql_strings_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}
