/*
 * re2posix.c - see re2posix.h.
 *
 * A single left-to-right pass rewrites the pattern into a POSIX ERE buffer. Bracket
 * expressions are parsed into a 256-entry byte set and written back out in the one order
 * POSIX reads unambiguously (']' first, '^' not first, '-' last), which is how RE2's escapes
 * inside brackets (\], \-, \d) survive. Case-insensitivity is scoped like RE2's flags: a
 * (?i) applies to the rest of its group, (?i:...) to that group; it is written out as letter
 * pairs rather than REG_ICASE because POSIX has no per-group flag.
 */
#include "util/re2posix.h"

#include "util/buf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH  64
#define MAX_REPEAT 1000

typedef struct rx {
    const char   *src;
    size_t        i;
    unsigned      flags;
    buf_t         out;
    int          *groups;         /* RE2 group -> POSIX group */
    int           ngroups;        /* RE2 groups so far */
    int           posix;          /* POSIX groups so far */
    int           depth;
    bool          icase[MAX_DEPTH + 1];  /* (?i) in effect at each open group depth */
    /* inner[d]: the largest repeat product inside the open group at depth d. */
    int           inner[MAX_DEPTH + 1];
    int           closed_inner;   /* of the group just closed, or 1 */
    bool          can_repeat;     /* the previous item is an operand */
    bool          after_repeat;   /* the previous item is a quantifier */
    vigil_error_t *err;
} rx_t;

__attribute__((format(printf, 3, 4)))
static int rx_fail(rx_t *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char msg[sizeof(r->err->message)];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vigil_error_set(r->err, code, "%s", msg);
}

static int out_of_room(rx_t *r, int rc)
{
    return rc == VIGIL_ENOMEM ? rx_fail(r, rc, "out of memory")
                              : rx_fail(r, VIGIL_ELIMIT, "regular expression too long");
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
        for (int x = '0'; x <= '9'; x++)
            tmp[x] = true;
        break;
    case 's':
        tmp['\t'] = tmp['\n'] = tmp['\f'] = tmp['\r'] = tmp[' '] = true;
        break;
    case 'w':
        for (int x = 0; x < 128; x++)
            tmp[x] = isalnum(x) != 0;
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

/* A single-character escape at r->src[r->i] (\n, \., \xHH; r->i is left on its last byte);
 * -1 when it is not one. */
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
    case 'x':
        if (isxdigit((unsigned char)r->src[r->i + 1]) &&
            isxdigit((unsigned char)r->src[r->i + 2])) {
            char hex[3] = { r->src[r->i + 1], r->src[r->i + 2], 0 };
            r->i += 2;
            return (int)strtol(hex, NULL, 16);
        }
        return -1;
    default:
        return ispunct((unsigned char)c) ? (unsigned char)c : -1;
    }
}

/* Emits `set` as a POSIX bracket expression. */
static int emit_set(rx_t *r, const bool set[256], bool negate)
{
    int rc = buf_putc(&r->out, '[');
    if (negate && rc == 0)
        rc = buf_putc(&r->out, '^');
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
    return rc ? out_of_room(r, rc) : 0;
}

/* [:name:] inside a bracket expression, r->i on its '['. */
static int parse_named_class(rx_t *r, bool set[256], size_t start)
{
    const char *end = strstr(r->src + r->i + 2, ":]");
    if (end == NULL)
        return rx_fail(r, VIGIL_EPARSE, "missing closing ]: `%s`", r->src + start);
    char name[16];
    size_t n = (size_t)(end - (r->src + r->i + 2));
    snprintf(name, sizeof(name), "%.*s", (int)(n < 15 ? n : 15), r->src + r->i + 2);
    static const struct {
        const char *name;
        int (*pred)(int);
    } classes[] = {
        { "alpha", isalpha }, { "digit", isdigit }, { "alnum", isalnum }, { "space", isspace },
        { "upper", isupper }, { "lower", islower }, { "punct", ispunct }, { "xdigit", isxdigit },
        { "print", isprint }, { "graph", isgraph }, { "cntrl", iscntrl }, { "blank", isblank },
    };
    bool neg = name[0] == '^';
    int (*pred)(int) = NULL;
    for (size_t k = 0; k < sizeof(classes) / sizeof(classes[0]) && pred == NULL; k++)
        if (strcmp(neg ? name + 1 : name, classes[k].name) == 0)
            pred = classes[k].pred;
    if (pred == NULL)
        return rx_fail(r, VIGIL_EPARSE, "invalid character class range: `[:%s:]`", name);
    for (int x = 0; x < 128; x++)
        if ((pred(x) != 0) != neg)
            set[x] = true;
    r->i = (size_t)(end - r->src) + 2;
    return 0;
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
    for (bool first = true;; first = false) {
        char c = r->src[r->i];
        if (c == '\0')
            return rx_fail(r, VIGIL_EPARSE, "missing closing ]: `%s`", r->src + start);
        if (c == ']' && !first)
            break;
        if (c == '[' && r->src[r->i + 1] == ':') {
            int rc = parse_named_class(r, set, start);
            if (rc != 0)
                return rc;
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
            if (r->src[r->i] == '\\') {
                r->i++;
                if ((hi = char_escape(r)) < 0)
                    return rx_fail(r, VIGIL_EPARSE, "invalid character class range");
            } else {
                hi = (unsigned char)r->src[r->i];
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
    if (r->icase[r->depth])
        for (int x = 'a'; x <= 'z'; x++)
            if (set[x] || set[toupper(x)])
                set[x] = set[toupper(x)] = true;
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

/* Checks a quantifier of `len` bytes at r->i (at most `max` repetitions; 1 for * + ?) against
 * RE2's rules, and handles a lazy '?' after it. Sets *lazy when there is one. */
static int check_repeat(rx_t *r, int max, size_t len, bool *lazy)
{
    if (r->after_repeat)
        return rx_fail(r, VIGIL_EPARSE, "invalid nested repetition operator: `%.*s`",
                       (int)len + 1, r->src + r->i - 1);
    if (!r->can_repeat)
        return rx_fail(r, VIGIL_EPARSE, "missing argument to repetition operator: `%.*s`",
                       (int)len, r->src + r->i);
    long product = (long)max * r->closed_inner;
    if (max > MAX_REPEAT || product > MAX_REPEAT)
        return rx_fail(r, VIGIL_EPARSE, "invalid repeat count: `%.*s`", (int)len,
                       r->src + r->i);
    if (product > r->inner[r->depth])
        r->inner[r->depth] = (int)product;
    *lazy = r->src[r->i + len] == '?';
    if (*lazy && !(r->flags & RE2POSIX_ANCHORED))
        return rx_fail(r, VIGIL_ENOTSUP, "non-greedy repetition (%.*s?) is not supported",
                       (int)len, r->src + r->i);
    r->after_repeat = true;
    r->can_repeat = false;
    return 0;
}

/* "(?flags)" or "(?flags:" at r->i: i and s on, "-i" off; m and U refused. Sets *scoped for
 * the "(?flags:" form, leaves r->i after the ')' or ':'. */
static int parse_flags(rx_t *r, bool *icase, bool *scoped)
{
    bool neg = false, any = false;
    size_t at = r->i;
    for (r->i += 2;; r->i++) {
        char c = r->src[r->i];
        switch (c) {
        case 'i':
            *icase = !neg;
            any = true;
            break;
        case 's':
            any = true;  /* POSIX '.' matches a newline already */
            break;
        case '-':
            if (neg)
                return rx_fail(r, VIGIL_EPARSE, "invalid or unsupported Perl syntax: `%.*s`",
                               (int)(r->i - at + 1), r->src + at);
            neg = true;
            any = false;
            break;
        case 'm':
        case 'U':
            return rx_fail(r, VIGIL_ENOTSUP, "the regex flag %c is not supported", c);
        case ')':
        case ':':
            if (!any && (c == ')' || neg))  /* "(?)", "(?-)", "(?i-:" */
                return rx_fail(r, VIGIL_EPARSE, "invalid or unsupported Perl syntax: `%.*s`",
                               (int)(r->i - at + 1), r->src + at);
            *scoped = c == ':';
            r->i++;
            return 0;
        default:
            return rx_fail(r, VIGIL_EPARSE, "invalid or unsupported Perl syntax: `%.*s`",
                           (int)(r->i - at + 1), r->src + at);
        }
    }
}

/* An opening parenthesis at r->i: a capturing, named, non-capturing or flag group. */
static int open_group(rx_t *r)
{
    const char *s = r->src;
    bool capturing = true, icase = r->icase[r->depth];
    if (s[r->i + 1] == '?') {
        bool named = s[r->i + 2] == '<' || (s[r->i + 2] == 'P' && s[r->i + 3] == '<');
        if (named) {
            const char *name = s + r->i + (s[r->i + 2] == '<' ? 3 : 4);
            size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789_");
            if (n == 0 || name[n] != '>')
                return rx_fail(r, VIGIL_EPARSE, "invalid named capture: `%.*s`",
                               (int)strcspn(s + r->i, ">") + 1, s + r->i);
            r->i = (size_t)(name + n + 1 - s);
        } else {
            bool scoped = false;
            int rc = parse_flags(r, &icase, &scoped);
            if (rc != 0)
                return rc;
            if (!scoped) {  /* (?i): the rest of the enclosing group */
                r->icase[r->depth] = icase;
                return 0;
            }
            capturing = false;
        }
    } else {
        r->i++;
    }
    if (r->depth + 1 > MAX_DEPTH)
        return rx_fail(r, VIGIL_ELIMIT, "groups nested too deeply");
    int rc = add_group(r, capturing);
    if (rc != 0)
        return rc;
    r->depth++;
    r->icase[r->depth] = icase;
    r->inner[r->depth] = 1;
    r->can_repeat = false;
    r->after_repeat = false;
    r->closed_inner = 1;
    rc = buf_putc(&r->out, '(');
    return rc ? out_of_room(r, rc) : 0;
}

/* A backslash escape outside brackets at r->i. */
static int escape(rx_t *r)
{
    r->i++;
    char e = r->src[r->i];
    bool set[256] = { false };
    if (class_escape(e, set)) {
        r->i++;
        return emit_set(r, set, false);
    }
    if (e == 'A' || e == 'z') {
        r->i++;
        int rc = buf_putc(&r->out, e == 'A' ? '^' : '$');
        return rc ? out_of_room(r, rc) : 0;
    }
    if (e != '\0' && strchr("bBpPQEC", e) != NULL)
        return rx_fail(r, VIGIL_ENOTSUP, "\\%c is not supported", e);
    if (e >= '1' && e <= '9')
        return rx_fail(r, VIGIL_EPARSE, "invalid escape sequence: `\\%c`", e);
    int ch = e != '\0' ? char_escape(r) : -1;
    if (ch < 0 && e == '\0')
        return rx_fail(r, VIGIL_EPARSE, "trailing backslash at end of expression");
    if (ch < 0)
        return rx_fail(r, VIGIL_EPARSE, "invalid escape sequence: `\\%c`", e);
    r->i++;
    int rc;
    if (ispunct(ch))
        rc = buf_printf(&r->out, "\\%c", ch);
    else if (r->icase[r->depth] && isalpha(ch))
        rc = buf_printf(&r->out, "[%c%c]", tolower(ch), toupper(ch));
    else
        rc = buf_putc(&r->out, (char)ch);
    return rc ? out_of_room(r, rc) : 0;
}

static int translate(rx_t *r)
{
    const char *s = r->src;
    r->inner[0] = 1;
    r->closed_inner = 1;
    while (s[r->i] != '\0') {
        char c = s[r->i];
        int rc = 0;
        if (c == '*' || c == '+' || c == '?' || (c == '{' && repetition(s + r->i))) {
            size_t len = 1;
            int max = 1;
            if (c == '{') {
                const char *p = s + r->i + 1;
                long lo = strtol(p, (char **)&p, 10), hi = lo;
                if (*p == ',')
                    hi = isdigit((unsigned char)p[1]) ? strtol(p + 1, NULL, 10) : lo;
                len = strcspn(s + r->i, "}") + 1;
                if (lo > MAX_REPEAT || hi > MAX_REPEAT || hi < lo)
                    return rx_fail(r, VIGIL_EPARSE, "invalid repeat count: `%.*s`", (int)len,
                                   s + r->i);
                max = (int)(hi > lo ? hi : lo);
            }
            bool lazy;
            if ((rc = check_repeat(r, max, len, &lazy)) != 0)
                return rc;
            rc = buf_append(&r->out, s + r->i, len);
            r->i += len + (lazy ? 1 : 0);  /* anchored: lazy and greedy agree on the verdict */
            if (rc != 0)
                return out_of_room(r, rc);
            continue;
        }
        if (c == '(') {
            if ((rc = open_group(r)) != 0)
                return rc;
            continue;
        }
        r->after_repeat = false;
        r->can_repeat = c != '|';
        if (c != ')')
            r->closed_inner = 1;
        switch (c) {
        case '[':
            rc = parse_class(r);
            break;
        case '\\':
            rc = escape(r);
            break;
        case ')':
            if (r->depth == 0)
                return rx_fail(r, VIGIL_EPARSE, "unexpected ): `%s`", s);
            r->closed_inner = r->inner[r->depth];
            r->depth--;
            if (r->closed_inner > r->inner[r->depth])
                r->inner[r->depth] = r->closed_inner;
            rc = buf_putc(&r->out, ')');
            r->i++;
            break;
        case '{':  /* not a repetition: RE2 reads a literal brace */
            rc = buf_puts(&r->out, "\\{");
            r->i++;
            break;
        default:
            if (r->icase[r->depth] && isalpha((unsigned char)c))
                rc = buf_printf(&r->out, "[%c%c]", tolower((unsigned char)c),
                                toupper((unsigned char)c));
            else
                rc = buf_putc(&r->out, c);
            r->i++;
            break;
        }
        if (rc != 0)  /* parse_class() and escape() said why; the buffer did not */
            return c == '[' || c == '\\' ? rc : out_of_room(r, rc);
    }
    if (r->depth != 0)
        return rx_fail(r, VIGIL_EPARSE, "missing closing ): `%s`", s);
    return 0;
}

int re2posix_compile(re2posix_t *out, const char *pattern, unsigned flags, vigil_error_t *err)
{
    memset(out, 0, sizeof(*out));
    rx_t r = { .src = pattern, .flags = flags, .err = err };
    buf_init(&r.out, 64 * 1024);
    int rc = 0;
    if ((r.groups = calloc(1, sizeof(int))) == NULL)
        rc = rx_fail(&r, VIGIL_ENOMEM, "out of memory");
    if (rc == 0 && (flags & RE2POSIX_ANCHORED)) {
        if ((rc = buf_puts(&r.out, "^(")) != 0)
            rc = out_of_room(&r, rc);
        r.posix = 1;
    }
    if (rc == 0)
        rc = translate(&r);
    if (rc == 0 && (flags & RE2POSIX_ANCHORED) && (rc = buf_puts(&r.out, ")$")) != 0)
        rc = out_of_room(&r, rc);
    if (rc == 0) {
        int cflags = REG_EXTENDED | ((flags & RE2POSIX_NOSUB) ? REG_NOSUB : 0);
        int e = regcomp(&out->re, r.out.data != NULL ? r.out.data : "", cflags);
        if (e != 0) {
            char msg[160];
            regerror(e, &out->re, msg, sizeof(msg));
            rc = vigil_error_set(err, VIGIL_EPARSE, "error parsing regexp: %s: `%s`", msg,
                                 pattern);
        }
    }
    buf_free(&r.out);
    if (rc != 0) {
        free(r.groups);
        memset(out, 0, sizeof(*out));
        return rc;
    }
    out->groups = r.groups;
    out->ngroups = r.ngroups;
    return 0;
}

bool re2posix_matches(const re2posix_t *r, const char *s)
{
    return regexec(&r->re, s, 0, NULL, 0) == 0;
}

bool re2posix_exec(const re2posix_t *r, const char *s, int eflags, regmatch_t *m, size_t n)
{
    /* POSIX groups: the anchoring wrapper and non-capturing groups come in between RE2's. */
    regmatch_t pm[2 * MAX_DEPTH + 2];
    size_t np = (size_t)(r->groups[r->ngroups] + 1);
    if (np > sizeof(pm) / sizeof(pm[0]))
        np = sizeof(pm) / sizeof(pm[0]);
    if (r->ngroups == 0)
        np = 1;
    if (regexec(&r->re, s, np, pm, eflags) != 0)
        return false;
    for (size_t k = 0; k < n; k++) {
        size_t pk = k == 0 ? 0 : (int)k <= r->ngroups ? (size_t)r->groups[k] : np;
        if (pk < np)
            m[k] = pm[pk];
        else
            m[k].rm_so = m[k].rm_eo = -1;
    }
    return true;
}

void re2posix_free(re2posix_t *r)
{
    if (r->groups == NULL)
        return;
    regfree(&r->re);
    free(r->groups);
    memset(r, 0, sizeof(*r));
}
