/*
 * regex.c - Go (RE2) regular expressions on POSIX regcomp.
 *
 * Prometheus and Alertmanager take RE2 syntax. POSIX ERE covers most of what people write in
 * matchers and reReplaceAll; the rest is translated or refused, never silently reinterpreted:
 *   (?:...)       -> (...), with a map from RE2 group numbers to POSIX ones for $1 in replies
 *   (?i) prefix   -> REG_ICASE
 *   \d \D \s \S \w \W (also inside [...]), \n \t \r \f \v \xHH, \A \z, escaped punctuation
 *   [...]         -> rebuilt from a byte set, since a backslash is literal in POSIX brackets
 *   a{ not followed by a repetition -> a literal '{', as RE2 reads it
 * Refused (VIGIL_ENOTSUP): non-greedy repetition (*? +? ?? {n}?), \b \B \p \Q, back
 * references, named groups, flags other than a leading (?i) / (?s), non-ASCII bytes in classes.
 * What stays different: POSIX picks the leftmost-longest match where RE2 picks leftmost-first,
 * which can change what an alternation inside reReplaceAll captures (docs/templates.md).
 */
#include "template/template.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rx {
    const char *src;
    size_t      i;
    buf_t       out;
    int        *groups;   /* RE2 group -> POSIX group */
    int         ngroups;  /* RE2 groups */
    int         posix;    /* POSIX groups so far */
    int         depth;
    /* RE2's limits, which also keep glibc's regcomp from exponential blow-ups: no quantifier
     * without an operand or on another quantifier, and at most 1000 repetitions however
     * {n,m} nest. inner[d]: the largest repeat product inside the open group at depth d. */
    int         inner[64];
    int         closed_inner;  /* of the group just closed, or 1 */
    bool        can_repeat;    /* the previous item is an operand */
    bool        after_repeat;  /* the previous item is a quantifier */
    char       *why;
    size_t      why_len;
} rx_t;

__attribute__((format(printf, 3, 4)))
static int rx_fail(rx_t *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, r->why_len, fmt, ap);
    va_end(ap);
    return code;
}

static int add_group(rx_t *r, bool capturing)
{
    r->posix++;
    if (!capturing)
        return 0;
    int *g = realloc(r->groups, (size_t)(r->ngroups + 2) * sizeof(*g));
    if (g == NULL)
        return rx_fail(r, VIGIL_ENOMEM, "out of memory");
    r->groups = g;
    g[++r->ngroups] = r->posix;
    return 0;
}

/* Adds the class escape \d \s \w (upper case: negated) to `set`; false if `c` is not one. */
static bool class_escape(char c, bool set[256])
{
    bool neg = isupper((unsigned char)c);
    bool tmp[256] = { false };
    switch (tolower((unsigned char)c)) {
    case 'd':
        for (int x = '0'; x <= '9'; x++) tmp[x] = true;
        break;
    case 's':
        tmp['\t'] = tmp['\n'] = tmp['\f'] = tmp['\r'] = tmp[' '] = true;
        break;
    case 'w':
        for (int x = 0; x < 256; x++) tmp[x] = isalnum(x) && x < 128;
        tmp['_'] = true;
        break;
    default:
        return false;
    }
    for (int x = 0; x < 256; x++)
        if (tmp[x] != neg)
            set[x] = true;
    return true;
}

/* A single-character escape (\n, \., \xHH); -1 when it is not one. */
static int char_escape(rx_t *r)
{
    char c = r->src[r->i];
    switch (c) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    case 'a': return '\a';
    case 'x': {
        if (isxdigit((unsigned char)r->src[r->i + 1]) && isxdigit((unsigned char)r->src[r->i + 2])) {
            char hex[3] = { r->src[r->i + 1], r->src[r->i + 2], 0 };
            r->i += 2;
            return (int)strtol(hex, NULL, 16);
        }
        return -1;
    }
    default:
        if (ispunct((unsigned char)c))
            return (unsigned char)c;
        return -1;
    }
}

/* Emits `set` as a POSIX bracket expression. */
static int emit_set(rx_t *r, const bool set[256], bool negate)
{
    int rc = buf_putc(&r->out, '[');
    if (negate && rc == 0)
        rc = buf_putc(&r->out, '^');
    /* ']' first, '-' last, '^' never first; other bytes as ranges of plain characters. */
    if (set[']'] && rc == 0)
        rc = buf_putc(&r->out, ']');
    bool any = set[']'] || set['-'];
    for (int x = 1; x < 256 && rc == 0; x++) {
        if (!set[x] || x == ']' || x == '-' || x == '^')
            continue;
        int y = x;
        while (y + 1 < 256 && set[y + 1] && y + 1 != ']' && y + 1 != '-' && y + 1 != '^')
            y++;
        any = true;
        if (y - x >= 2)
            rc = buf_printf(&r->out, "%c-%c", x, y);
        else
            for (int z = x; z <= y && rc == 0; z++)
                rc = buf_putc(&r->out, (char)z);
        x = y;
    }
    if (set['^'] && rc == 0) {
        rc = buf_putc(&r->out, '^');
        any = true;
    }
    if (set['-'] && rc == 0)
        rc = buf_putc(&r->out, '-');
    if (!any && rc == 0)  /* an empty class: RE2 matches nothing; say so portably */
        rc = negate ? buf_puts(&r->out, "\x01-\xff") : buf_puts(&r->out, "^\x01-\xff");
    if (rc == 0)
        rc = buf_putc(&r->out, ']');
    return rc ? rx_fail(r, rc, "regular expression too long") : 0;
}

static int parse_class(rx_t *r)
{
    bool set[256] = { false }, negate = false;
    size_t start = r->i;
    r->i++;  /* '[' */
    if (r->src[r->i] == '^') {
        negate = true;
        r->i++;
    }
    bool first = true;
    for (;;) {
        char c = r->src[r->i];
        if (c == '\0')
            return rx_fail(r, VIGIL_EPARSE, "missing closing ]: `%s`", r->src + start);
        if (c == ']' && !first)
            break;
        first = false;
        if (c == '[' && r->src[r->i + 1] == ':') {
            const char *end = strstr(r->src + r->i + 2, ":]");
            if (end == NULL)
                return rx_fail(r, VIGIL_EPARSE, "missing closing ]: `%s`", r->src + start);
            char name[16];
            size_t n = (size_t)(end - (r->src + r->i + 2));
            snprintf(name, sizeof(name), "%.*s", (int)(n < 15 ? n : 15), r->src + r->i + 2);
            bool neg = name[0] == '^';
            const char *nm = neg ? name + 1 : name;
            int (*pred)(int) = NULL;
            if (!strcmp(nm, "alpha")) pred = isalpha;
            else if (!strcmp(nm, "digit")) pred = isdigit;
            else if (!strcmp(nm, "alnum")) pred = isalnum;
            else if (!strcmp(nm, "space")) pred = isspace;
            else if (!strcmp(nm, "upper")) pred = isupper;
            else if (!strcmp(nm, "lower")) pred = islower;
            else if (!strcmp(nm, "punct")) pred = ispunct;
            else if (!strcmp(nm, "xdigit")) pred = isxdigit;
            else if (!strcmp(nm, "print")) pred = isprint;
            else if (!strcmp(nm, "graph")) pred = isgraph;
            else if (!strcmp(nm, "cntrl")) pred = iscntrl;
            else if (!strcmp(nm, "blank")) pred = isblank;
            if (pred == NULL)
                return rx_fail(r, VIGIL_EPARSE, "invalid character class range: `[:%s:]`", name);
            for (int x = 0; x < 128; x++)
                if ((pred(x) != 0) != neg)
                    set[x] = true;
            r->i = (size_t)(end - r->src) + 2;
            continue;
        }
        int lo;
        if (c == '\\') {
            r->i++;
            if (class_escape(r->src[r->i], set)) {
                r->i++;
                continue;
            }
            if ((lo = char_escape(r)) < 0)
                return rx_fail(r, VIGIL_EPARSE, "invalid escape sequence: `\\%c`", r->src[r->i]);
        } else {
            lo = (unsigned char)c;
        }
        r->i++;
        int hi = lo;
        if (r->src[r->i] == '-' && r->src[r->i + 1] != ']' && r->src[r->i + 1] != '\0') {
            r->i++;
            char d = r->src[r->i];
            if (d == '\\') {
                r->i++;
                if ((hi = char_escape(r)) < 0)
                    return rx_fail(r, VIGIL_EPARSE, "invalid character class range");
            } else {
                hi = (unsigned char)d;
            }
            r->i++;
            if (hi < lo)
                return rx_fail(r, VIGIL_EPARSE, "invalid character class range: `%c-%c`", lo,
                               hi);
        }
        if (hi >= 0x80)
            return rx_fail(r, VIGIL_ENOTSUP, "non-ASCII characters in a character class are "
                           "not supported");
        for (int x = lo; x <= hi; x++)
            set[x] = true;
    }
    r->i++;  /* ']' */
    return emit_set(r, set, negate);
}

/* True when the text at `p` is a valid repetition {n}, {n,}, {n,m}. */
static bool repetition(const char *p)
{
    if (*p++ != '{' || !isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == ',') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '}';
}

/* Checks a quantifier at r->i (max repetitions `max`, 1 for * + ?) against RE2's rules. */
static int check_repeat(rx_t *r, int max, size_t len)
{
    if (r->after_repeat)
        return rx_fail(r, VIGIL_EPARSE, "invalid nested repetition operator: `%.*s`",
                       (int)len + 1, r->src + r->i - 1);
    if (!r->can_repeat)
        return rx_fail(r, VIGIL_EPARSE, "missing argument to repetition operator: `%.*s`",
                       (int)len, r->src + r->i);
    long product = (long)max * r->closed_inner;
    if (max > 1000 || product > 1000)
        return rx_fail(r, VIGIL_EPARSE, "invalid repeat count: `%.*s`", (int)len, r->src + r->i);
    if (product > r->inner[r->depth])
        r->inner[r->depth] = (int)product;
    r->after_repeat = true;
    r->can_repeat = false;
    return 0;
}

static int translate(rx_t *r)
{
    const char *s = r->src;
    int rc = 0;
    r->inner[0] = 1;
    r->closed_inner = 1;
    while (rc == 0 && s[r->i] != '\0') {
        char c = s[r->i];
        char next = s[r->i + 1];
        if ((c == '*' || c == '+' || c == '?' || c == '}') && next == '?')
            return rx_fail(r, VIGIL_ENOTSUP, "non-greedy repetition (%c?) is not supported", c);
        if (c == '*' || c == '+' || c == '?') {
            if ((rc = check_repeat(r, 1, 1)) != 0)
                return rc;
            rc = buf_putc(&r->out, c);
            r->i++;
            continue;
        }
        if (c == '{' && repetition(s + r->i)) {
            const char *p = s + r->i + 1;
            long lo = strtol(p, (char **)&p, 10), hi = lo;
            if (*p == ',')
                hi = isdigit((unsigned char)p[1]) ? strtol(p + 1, NULL, 10) : lo;
            size_t len = strcspn(s + r->i, "}") + 1;
            if (lo > 1000 || hi > 1000 || hi < lo)
                return rx_fail(r, VIGIL_EPARSE, "invalid repeat count: `%.*s`", (int)len,
                               s + r->i);
            if ((rc = check_repeat(r, (int)(hi > lo ? hi : lo), len)) != 0)
                return rc;
            rc = buf_append(&r->out, s + r->i, len);
            r->i += len;
            continue;
        }
        bool was_close = c == ')';
        r->after_repeat = false;
        r->can_repeat = !(c == '(' || c == '|');
        if (!was_close)
            r->closed_inner = 1;
        switch (c) {
        case '[':
            rc = parse_class(r);
            continue;
        case '(':
            if (next == '?') {
                if (s[r->i + 2] == ':') {
                    r->i += 3;
                    rc = add_group(r, false);
                } else if (s[r->i + 2] == 'P' || s[r->i + 2] == '<') {
                    return rx_fail(r, VIGIL_ENOTSUP, "named groups are not supported");
                } else {
                    return rx_fail(r, VIGIL_ENOTSUP, "flags inside a regular expression are "
                                   "not supported (only a leading (?i))");
                }
            } else {
                r->i++;
                rc = add_group(r, true);
            }
            if (++r->depth >= 64)
                return rx_fail(r, VIGIL_ELIMIT, "groups nested too deeply");
            r->inner[r->depth] = 1;
            if (rc == 0)
                rc = buf_putc(&r->out, '(');
            continue;
        case ')':
            if (r->depth == 0)
                return rx_fail(r, VIGIL_EPARSE, "unexpected ): `%s`", s);
            r->closed_inner = r->inner[r->depth];
            r->depth--;
            if (r->closed_inner > r->inner[r->depth])
                r->inner[r->depth] = r->closed_inner;
            break;
        case '{':
            if (!repetition(s + r->i)) {
                rc = buf_puts(&r->out, "\\{");
                r->i++;
                continue;
            }
            break;
        case '\\': {
            r->i++;
            char e = s[r->i];
            bool set[256] = { false };
            if (class_escape(e, set)) {
                r->i++;
                rc = emit_set(r, set, false);
                continue;
            }
            if (e == 'A' || e == 'z') {
                rc = buf_putc(&r->out, e == 'A' ? '^' : '$');
                r->i++;
                continue;
            }
            if (strchr("bBpPQEC", e) != NULL && e != '\0')
                return rx_fail(r, VIGIL_ENOTSUP, "\\%c is not supported", e);
            int ch = e != '\0' ? char_escape(r) : -1;
            if (ch < 0)
                return rx_fail(r, VIGIL_EPARSE, "invalid escape sequence: `\\%c`", e ? e : ' ');
            r->i++;
            if (ispunct(ch))
                rc = buf_printf(&r->out, "\\%c", ch);
            else
                rc = buf_putc(&r->out, (char)ch);
            continue;
        }
        default:
            break;
        }
        rc = buf_putc(&r->out, c);
        r->i++;
    }
    if (rc == 0 && r->depth != 0)
        return rx_fail(r, VIGIL_EPARSE, "missing closing ): `%s`", s);
    return rc == VIGIL_ELIMIT ? rx_fail(r, rc, "regular expression too long") : rc;
}

int template_regex_compile(regex_t *re, const char *pattern, bool anchored, int **groups,
                           int *ngroups, char *why, size_t why_len)
{
    rx_t r = { .src = pattern, .why = why, .why_len = why_len };
    int flags = REG_EXTENDED;
    if (strncmp(pattern, "(?i)", 4) == 0) {
        flags |= REG_ICASE;
        r.i = 4;
    } else if (strncmp(pattern, "(?s)", 4) == 0) {
        r.i = 4;  /* POSIX '.' already matches a newline */
    }
    buf_init(&r.out, 64 * 1024);
    if (groups != NULL)
        *groups = NULL;
    int rc = 0;
    if ((r.groups = calloc(1, sizeof(int))) == NULL)
        rc = rx_fail(&r, VIGIL_ENOMEM, "out of memory");
    if (rc == 0 && anchored) {
        rc = buf_puts(&r.out, "^(");
        r.posix = 1;
    }
    if (rc == 0)
        rc = translate(&r);
    if (rc == 0 && anchored)
        rc = buf_puts(&r.out, ")$");
    if (rc == 0) {
        int e = regcomp(re, r.out.data ? r.out.data : "", flags);
        if (e != 0) {
            char msg[160];
            regerror(e, re, msg, sizeof(msg));
            snprintf(why, why_len, "error parsing regexp: %s: `%s`", msg, pattern);
            rc = VIGIL_EPARSE;
        }
    } else if (rc == VIGIL_ELIMIT) {
        snprintf(why, why_len, "regular expression too long");
    }
    buf_free(&r.out);
    if (rc == 0 && groups != NULL) {
        *groups = r.groups;
        if (ngroups != NULL)
            *ngroups = r.ngroups;
    } else {
        free(r.groups);
    }
    return rc;
}
