/*
 * parse.c - the exposition parser: lines, tokens, numbers, escapes and the entry API.
 *
 * The input is cut into lines with memchr; each line is parsed by one function per format
 * (om_line, text_line) that fills the entry and then hands it to the family tracker and the
 * mode's checks (om.c, text.c). Every pointer in an entry points into the input or into
 * p->scratch, which is reserved for the whole line before the first escape of a line is
 * unescaped, so it never moves while the entry is alive. Nothing here allocates per sample
 * once the label array and the scratch buffer have grown to the largest line seen.
 *
 * Syntax summary (docs/format/exposition.md has the long form):
 *   OpenMetrics  single spaces, no blank lines, "# EOF" last; metadata "# TYPE|HELP|UNIT name
 *                value"; sample "name{l="v",...} value [timestamp] [# {labels} value [ts]]",
 *                timestamps in seconds.
 *   text 0.0.4   any run of blanks/tabs separates tokens; blank lines and other "#" lines are
 *                ignored; "# HELP name text", "# TYPE name type"; sample "name{l="v",} value
 *                [timestamp]", timestamps in integer milliseconds.
 */
#include "expfmt/expfmt_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- character classes ----------------------------------------------------------------- */

static inline bool is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }
static inline bool is_alpha(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26u; }
static inline bool is_name_start(unsigned char c) { return is_alpha(c) || c == '_' || c == ':'; }
static inline bool is_name_char(unsigned char c) { return is_name_start(c) || is_digit(c); }
static inline bool is_lname_start(unsigned char c) { return is_alpha(c) || c == '_'; }
static inline bool is_lname_char(unsigned char c) { return is_lname_start(c) || is_digit(c); }
static inline bool is_blank(unsigned char c) { return c == ' ' || c == '\t'; }

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not valid UTF-8 (overlong
 * forms, surrogates and code points past U+10FFFF are invalid, as RFC 3629 says). */
static size_t utf8_seq(const unsigned char *s, const unsigned char *end)
{
    unsigned char c = s[0];
    size_t left = (size_t)(end - s);
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return left >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (left < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (left < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
            return 0;
        return 4;
    }
    return 0;
}

/* ---- errors ------------------------------------------------------------------------------ */

/* 1-based column of `at` in the current line, in code points (bytes of invalid UTF-8 count one
 * each), so an editor's cursor lands on it. */
static size_t column_of(const expfmt_parser_t *p, const char *at)
{
    if (at == NULL || at < p->line || at > p->line_end)
        return 1;
    size_t col = 1;
    for (const char *c = p->line; c < at; c++)
        if (((unsigned char)*c & 0xc0) != 0x80)
            col++;
    return col;
}

static int fail_v(expfmt_parser_t *p, vigil_error_t *err, size_t line, size_t col, int code,
                  const char *fmt, va_list ap)
{
    char msg[sizeof(p->error.message) - 48];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    vigil_error_set(&p->error, code, "%zu:%zu: %s", line, col, msg);
    p->failed = code;
    if (err != NULL)
        *err = p->error;
    return code;
}

int expfmt_fail(expfmt_parser_t *p, vigil_error_t *err, const char *at, int code,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(p, err, p->line_no, column_of(p, at), code, fmt, ap);
    va_end(ap);
    return rc;
}

int expfmt_fail_at(expfmt_parser_t *p, vigil_error_t *err, size_t line, size_t col, int code,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(p, err, line, col, code, fmt, ap);
    va_end(ap);
    return rc;
}

const char *expfmt_quote(char *out, size_t n, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        if (o + 8 >= n || i >= 60) {
            out[o++] = '.';
            out[o++] = '.';
            out[o++] = '.';
            break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c; /* UTF-8 passes through; a cut sequence is harmless here */
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* Describes the byte at `s` for "unexpected ..." messages: 'x', end of line, or \xNN. */
static const char *describe(char out[16], const char *s, const char *end)
{
    if (s >= end)
        return "end of line";
    unsigned char c = (unsigned char)*s;
    if (c == '\t')
        return "tab";
    if (c == '\r')
        return "carriage return";
    if (c < 0x20 || c >= 0x7f)
        snprintf(out, 16, "byte 0x%02x", c);
    else
        snprintf(out, 16, "'%c'", c);
    return out;
}

/* ---- small helpers ---------------------------------------------------------------------- */

bool expfmt_str_eq(expfmt_str_t a, const char *s, size_t n)
{
    return a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}

const expfmt_label_t *expfmt_find_label(const expfmt_label_t *l, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (expfmt_str_eq(l[i].name, name, len))
            return &l[i];
    return NULL;
}

static bool ci_eq(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lower[i])
            return false;
    return true;
}

/* ---- numbers ----------------------------------------------------------------------------- */

static const double pow10_exact[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/*
 * The grammar is the OpenMetrics ABNF `number` (or `realnumber` when !special), which is also
 * exactly what Go's strconv.ParseFloat accepts once Prometheus has ruled out hex floats and
 * underscores: [sign] digits [. digits] [e [sign] digits], either side of the point may be
 * empty but not both, "inf"/"infinity" with an optional sign, "nan" without one, all
 * case-insensitive. A finite literal too large for a double is rejected (Go: ErrRange).
 */
bool expfmt_parse_number(expfmt_parser_t *p, const char *s, size_t n, bool special, double *out)
{
    size_t i = 0;
    bool neg = false, sign = false;
    if (n == 0)
        return false;
    if (s[0] == '+' || s[0] == '-') {
        sign = true;
        neg = s[0] == '-';
        i = 1;
    }
    if (i < n && !is_digit((unsigned char)s[i]) && s[i] != '.') {
        if (!special)
            return false;
        size_t rn = n - i;
        if ((rn == 3 && ci_eq(s + i, "inf", 3)) || (rn == 8 && ci_eq(s + i, "infinity", 8))) {
            *out = neg ? -INFINITY : INFINITY;
            return true;
        }
        if (!sign && rn == 3 && ci_eq(s + i, "nan", 3)) {
            *out = NAN;
            return true;
        }
        return false;
    }
    uint64_t mant = 0;
    int sig = 0;
    size_t intd = 0, fracd = 0;
    for (; i < n && is_digit((unsigned char)s[i]); i++, intd++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (mant != 0 || d != 0) {
            if (sig < 19)
                mant = mant * 10 + d;
            sig++;
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && is_digit((unsigned char)s[i]); i++, fracd++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (mant != 0 || d != 0) {
                if (sig < 19)
                    mant = mant * 10 + d;
                sig++;
            }
        }
    }
    if (intd + fracd == 0)
        return false;
    bool exp = false;
    if (i < n && (s[i] | 0x20) == 'e') {
        exp = true;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d0 = i;
        while (i < n && is_digit((unsigned char)s[i]))
            i++;
        if (i == d0)
            return false;
    }
    if (i != n)
        return false;
    /* Clinger's fast path: up to 15 significant digits and 10^22 are exact doubles, and one
     * correctly rounded division gives the same double strtod would. */
    if (!exp && sig <= 15 && fracd <= 22) {
        double v = (double)mant;
        if (fracd != 0)
            v /= pow10_exact[fracd];
        *out = neg ? -v : v;
        return true;
    }
    /* strtod needs a NUL-terminated copy: the token ends inside the input, which need not be
     * terminated at all. The grammar check above means strtod consumes all of it (vigil
     * never changes LC_NUMERIC, so the decimal point is '.'). */
    char tmp[128];
    char *c = tmp;
    if (n >= sizeof(tmp)) {
        buf_reset(&p->numbuf);
        if (buf_append(&p->numbuf, s, n) != 0)
            return false;
        c = p->numbuf.data;
    } else {
        memcpy(tmp, s, n);
        tmp[n] = '\0';
    }
    double v = strtod(c, NULL);
    if (isinf(v))
        return false; /* a finite literal that does not fit in a double */
    *out = v;
    return true;
}

/* [sign] digits as an int64 (the text format's millisecond timestamps; Go's ParseInt). */
static bool parse_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return false;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* OpenMetrics seconds to milliseconds the way Prometheus does it (int64(ts * 1000), truncated
 * toward zero), clamped instead of wrapping when the product leaves int64. */
static int64_t seconds_to_ms(double sec)
{
    double ms = sec * 1000.0;
    if (ms >= 9223372036854775807.0)
        return INT64_MAX;
    if (ms <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)ms;
}

/* ---- strings and labels ------------------------------------------------------------------ */

enum quote_flavor {
    Q_OM,           /* OpenMetrics: \n \" \\ unescape, any other \X stays as written */
    Q_TEXT_STRICT,  /* prometheus/common: only \n \" \\ are valid escapes */
    Q_TEXT_LENIENT, /* Prometheus textparse: \n \" \\ unescape, any other \X stays */
};

/* Makes sure scratch can take the whole current line, so nothing written to it during this
 * line ever moves (entries point into it). */
static char *scratch_cursor(expfmt_parser_t *p, vigil_error_t *err)
{
    if (!p->scratch_ready) {
        int rc = buf_reserve(&p->scratch, (size_t)(p->line_end - p->line) + 1);
        if (rc != 0) {
            expfmt_fail(p, err, NULL, rc, "no memory to unescape this line");
            return NULL;
        }
        p->scratch_ready = true;
    }
    return p->scratch.data + p->scratch.len;
}

/*
 * A label value; *sp points just after its opening quote and, on success, after the closing
 * one. The value is valid UTF-8 in every mode (Prometheus validates label values at scrape
 * time, OpenMetrics requires UTF-8). Values without a backslash point into the input.
 */
static int scan_label_value(expfmt_parser_t *p, const char **sp, enum quote_flavor fl,
                            expfmt_str_t *out, expfmt_str_t lname, vigil_error_t *err)
{
    const char *s = *sp, *start = s, *end = p->line_end;
    char q[EXPFMT_QUOTE_MAX];
    for (;;) {
        if (s >= end)
            goto unterminated;
        unsigned char c = (unsigned char)*s;
        if (c == '"') {
            out->ptr = start;
            out->len = (size_t)(s - start);
            *sp = s + 1;
            return 0;
        }
        if (c == '\\')
            break;
        if (c >= 0x80) {
            size_t k = utf8_seq((const unsigned char *)s, (const unsigned char *)end);
            if (k == 0)
                goto bad_utf8;
            s += k;
        } else {
            s++;
        }
    }
    /* Slow path: there is an escape; unescape into scratch. */
    char *o = scratch_cursor(p, err), *o0 = o;
    if (o == NULL)
        return p->failed;
    memcpy(o, start, (size_t)(s - start));
    o += s - start;
    while (s < end) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') {
            p->scratch.len += (size_t)(o - o0);
            p->scratch.data[p->scratch.len] = '\0';
            out->ptr = o0;
            out->len = (size_t)(o - o0);
            *sp = s + 1;
            return 0;
        }
        if (c == '\\') {
            if (s + 1 >= end)
                goto unterminated;
            char n = s[1];
            if (n == 'n' || n == '"' || n == '\\') {
                *o++ = n == 'n' ? '\n' : n;
                s += 2;
                continue;
            }
            if (fl == Q_TEXT_STRICT)
                return expfmt_fail(p, err, s, VIGIL_EPARSE,
                                   "invalid escape sequence '\\%c' in the value of label %s "
                                   "(only \\\\, \\\" and \\n are allowed)",
                                   n, expfmt_quote(q, sizeof(q), lname.ptr, lname.len));
            *o++ = '\\'; /* kept as written; the next character is copied (and checked) below */
            s++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq((const unsigned char *)s, (const unsigned char *)end);
            if (k == 0)
                goto bad_utf8;
            memcpy(o, s, k);
            o += k;
            s += k;
        } else {
            *o++ = (char)c;
            s++;
        }
    }
unterminated:
    return expfmt_fail(p, err, start - 1, VIGIL_EPARSE,
                       "the value of label %s has no closing '\"' on this line",
                       expfmt_quote(q, sizeof(q), lname.ptr, lname.len));
bad_utf8:
    return expfmt_fail(p, err, s, VIGIL_EPARSE, "the value of label %s is not valid UTF-8",
                       expfmt_quote(q, sizeof(q), lname.ptr, lname.len));
}

/*
 * HELP text from s to the end of the line. OpenMetrics: an escaped-string (\n \" \\, other
 * \X kept; a raw '"' or a trailing lone '\' is invalid in strict mode; UTF-8 required).
 * Text: \n and \\ unescape; other escapes are an error in strict mode and kept in lenient
 * mode; strict mode requires UTF-8.
 */
static int scan_help(expfmt_parser_t *p, const char *s, expfmt_str_t *out, vigil_error_t *err)
{
    const char *end = p->line_end;
    bool om = p->format == EXPFMT_OPENMETRICS, strict = p->mode == EXPFMT_STRICT;
    bool check_utf8 = om || strict;
    if (memchr(s, '\\', (size_t)(end - s)) == NULL) {
        for (const char *c = s; c < end;) {
            unsigned char ch = (unsigned char)*c;
            if (ch == '"' && om && strict)
                return expfmt_fail(p, err, c, VIGIL_EPARSE,
                                   "a '\"' in HELP text must be escaped as \\\"");
            if (ch >= 0x80 && check_utf8) {
                size_t k = utf8_seq((const unsigned char *)c, (const unsigned char *)end);
                if (k == 0)
                    return expfmt_fail(p, err, c, VIGIL_EPARSE, "HELP text is not valid UTF-8");
                c += k;
            } else {
                c++;
            }
        }
        out->ptr = s;
        out->len = (size_t)(end - s);
        return 0;
    }
    char *o = scratch_cursor(p, err), *o0 = o;
    if (o == NULL)
        return p->failed;
    while (s < end) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\') {
            char n = s + 1 < end ? s[1] : '\0';
            if (s + 1 >= end) {
                if (om && strict)
                    return expfmt_fail(p, err, s, VIGIL_EPARSE,
                                       "HELP text ends with a lone '\\'");
                *o++ = '\\';
                s++;
                continue;
            }
            if (n == 'n' || n == '\\' || (om && n == '"')) {
                *o++ = n == 'n' ? '\n' : n;
                s += 2;
                continue;
            }
            if (!om && strict)
                return expfmt_fail(p, err, s, VIGIL_EPARSE,
                                   "invalid escape sequence '\\%c' in HELP text (only \\\\ and "
                                   "\\n are allowed)", n);
            *o++ = '\\';
            s++;
            continue;
        }
        if (c == '"' && om && strict)
            return expfmt_fail(p, err, s, VIGIL_EPARSE,
                               "a '\"' in HELP text must be escaped as \\\"");
        if (c >= 0x80 && check_utf8) {
            size_t k = utf8_seq((const unsigned char *)s, (const unsigned char *)end);
            if (k == 0)
                return expfmt_fail(p, err, s, VIGIL_EPARSE, "HELP text is not valid UTF-8");
            memcpy(o, s, k);
            o += k;
            s += k;
            continue;
        }
        *o++ = (char)c;
        s++;
    }
    p->scratch.len += (size_t)(o - o0);
    p->scratch.data[p->scratch.len] = '\0';
    out->ptr = o0;
    out->len = (size_t)(o - o0);
    return 0;
}

/* Appends one label slot (growing the array, which entries reach only through e->labels set
 * after the line is parsed). `n` counts the labels of the set being parsed, for the cap. */
static expfmt_label_t *push_label(expfmt_parser_t *p, size_t idx, size_t n, const char *at,
                                  vigil_error_t *err)
{
    if (n >= EXPFMT_MAX_LABELS) {
        expfmt_fail(p, err, at, VIGIL_ELIMIT, "more than %d labels", EXPFMT_MAX_LABELS);
        return NULL;
    }
    if (idx >= p->labels_cap) {
        size_t ncap = p->labels_cap ? p->labels_cap * 2 : 16;
        expfmt_label_t *nl = realloc(p->labels, ncap * sizeof(*nl));
        if (nl == NULL) {
            expfmt_fail(p, err, at, VIGIL_ENOMEM, "no memory for labels");
            return NULL;
        }
        p->labels = nl;
        p->labels_cap = ncap;
    }
    return &p->labels[idx];
}

static int cmp_label_name(const void *a, const void *b)
{
    const expfmt_label_t *x = *(const expfmt_label_t *const *)a;
    const expfmt_label_t *y = *(const expfmt_label_t *const *)b;
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int c = memcmp(x->name.ptr, y->name.ptr, n);
    return c != 0 ? c : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

/* Label names must be unique within a set (OpenMetrics LabelSet; Prometheus rejects the
 * scrape). Quadratic for the usual handful of labels, sorted beyond that. */
static int check_unique(expfmt_parser_t *p, const expfmt_label_t *l, size_t n, const char *at,
                        vigil_error_t *err)
{
    char q[EXPFMT_QUOTE_MAX];
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (l[i].name.len == l[j].name.len &&
                    memcmp(l[i].name.ptr, l[j].name.ptr, l[i].name.len) == 0)
                    return expfmt_fail(p, err, l[i].name.ptr, VIGIL_EPARSE,
                                       "duplicate label name %s",
                                       expfmt_quote(q, sizeof(q), l[i].name.ptr, l[i].name.len));
        return 0;
    }
    if (n > p->sorted_cap) {
        const expfmt_label_t **ns = realloc(p->sorted, n * sizeof(*ns));
        if (ns == NULL)
            return expfmt_fail(p, err, at, VIGIL_ENOMEM, "no memory to check labels");
        p->sorted = ns;
        p->sorted_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        p->sorted[i] = &l[i];
    qsort(p->sorted, n, sizeof(*p->sorted), cmp_label_name);
    for (size_t i = 1; i < n; i++)
        if (cmp_label_name(&p->sorted[i - 1], &p->sorted[i]) == 0)
            return expfmt_fail(p, err, p->sorted[i]->name.ptr, VIGIL_EPARSE,
                               "duplicate label name %s",
                               expfmt_quote(q, sizeof(q), p->sorted[i]->name.ptr,
                                            p->sorted[i]->name.len));
    return 0;
}

/*
 * A label set starting at the '{' at *sp; labels go to p->labels[first...], their count to
 * *count; *sp ends after the '}'. OpenMetrics: no blanks anywhere, no trailing comma. Text:
 * blanks between tokens and one trailing comma are allowed.
 */
static int scan_labels(expfmt_parser_t *p, const char **sp, size_t first, size_t *count,
                       vigil_error_t *err)
{
    const char *s = *sp + 1, *end = p->line_end;
    bool text = p->format == EXPFMT_TEXT;
    enum quote_flavor fl = !text ? Q_OM : p->mode == EXPFMT_STRICT ? Q_TEXT_STRICT
                                                                   : Q_TEXT_LENIENT;
    char q[EXPFMT_QUOTE_MAX], d[16];
    size_t n = 0;
    if (text)
        while (s < end && is_blank((unsigned char)*s))
            s++;
    if (s < end && *s == '}') {
        *sp = s + 1;
        *count = 0;
        return 0;
    }
    for (;;) {
        if (s >= end || !is_lname_start((unsigned char)*s))
            return expfmt_fail(p, err, s, VIGIL_EPARSE,
                               n == 0 ? "expected a label name or '}', found %s"
                                      : "expected a label name, found %s",
                               describe(d, s, end));
        const char *ln = s;
        while (s < end && is_lname_char((unsigned char)*s))
            s++;
        expfmt_str_t name = { ln, (size_t)(s - ln) };
        if (text)
            while (s < end && is_blank((unsigned char)*s))
                s++;
        if (s >= end || *s != '=')
            return expfmt_fail(p, err, s, VIGIL_EPARSE,
                               "expected '=' after label name %s, found %s",
                               expfmt_quote(q, sizeof(q), name.ptr, name.len),
                               describe(d, s, end));
        s++;
        if (text)
            while (s < end && is_blank((unsigned char)*s))
                s++;
        if (s >= end || *s != '"')
            return expfmt_fail(p, err, s, VIGIL_EPARSE,
                               "expected '\"' to open the value of label %s, found %s",
                               expfmt_quote(q, sizeof(q), name.ptr, name.len),
                               describe(d, s, end));
        s++;
        expfmt_label_t *l = push_label(p, first + n, n, ln, err);
        if (l == NULL)
            return p->failed;
        l->name = name;
        int rc = scan_label_value(p, &s, fl, &l->value, name, err);
        if (rc != 0)
            return rc;
        n++;
        if (text)
            while (s < end && is_blank((unsigned char)*s))
                s++;
        if (s < end && *s == ',') {
            s++;
            if (text) {
                while (s < end && is_blank((unsigned char)*s))
                    s++;
                if (s < end && *s == '}') { /* text allows a trailing comma */
                    s++;
                    break;
                }
            }
            continue;
        }
        if (s < end && *s == '}') {
            s++;
            break;
        }
        return expfmt_fail(p, err, s, VIGIL_EPARSE,
                           "expected ',' or '}' after the value of label %s, found %s",
                           expfmt_quote(q, sizeof(q), name.ptr, name.len), describe(d, s, end));
    }
    *sp = s;
    *count = n;
    return check_unique(p, &p->labels[first], n, *sp, err);
}

/* ---- OpenMetrics lines ------------------------------------------------------------------- */

static const struct {
    const char *name;
    expfmt_type_t type;
} om_types[] = {
    { "counter", EXPFMT_TYPE_COUNTER },     { "gauge", EXPFMT_TYPE_GAUGE },
    { "histogram", EXPFMT_TYPE_HISTOGRAM }, { "gaugehistogram", EXPFMT_TYPE_GAUGEHISTOGRAM },
    { "summary", EXPFMT_TYPE_SUMMARY },     { "info", EXPFMT_TYPE_INFO },
    { "stateset", EXPFMT_TYPE_STATESET },   { "unknown", EXPFMT_TYPE_UNKNOWN },
};

static const struct {
    const char *name;
    expfmt_type_t type;
} text_types[] = {
    { "counter", EXPFMT_TYPE_COUNTER },     { "gauge", EXPFMT_TYPE_GAUGE },
    { "histogram", EXPFMT_TYPE_HISTOGRAM }, { "summary", EXPFMT_TYPE_SUMMARY },
    { "untyped", EXPFMT_TYPE_UNKNOWN },
};

const char *expfmt_type_name(expfmt_type_t type, expfmt_format_t format)
{
    if (type == EXPFMT_TYPE_UNKNOWN)
        return format == EXPFMT_TEXT ? "untyped" : "unknown";
    for (size_t i = 0; i < sizeof(om_types) / sizeof(om_types[0]); i++)
        if (om_types[i].type == type)
            return om_types[i].name;
    return "unknown";
}

const char *expfmt_format_name(expfmt_format_t format)
{
    return format == EXPFMT_OPENMETRICS ? "openmetrics" : "text";
}

/* Returns 1 for an entry, 2 for the "# EOF" line, or an error code. */
static int om_meta_line(expfmt_parser_t *p, expfmt_entry_t *e, vigil_error_t *err)
{
    const char *s = p->line, *end = p->line_end;
    size_t n = (size_t)(end - s);
    char q[EXPFMT_QUOTE_MAX], d[16];
    if (n == 5 && memcmp(s, "# EOF", 5) == 0)
        return 2;
    if (n < 2 || s[1] != ' ')
        return expfmt_fail(p, err, s + 1, VIGIL_EPARSE,
                           "expected ' ' after '#' (OpenMetrics allows only '# TYPE', "
                           "'# HELP', '# UNIT' and '# EOF' lines, no comments)");
    s += 2;
    if (end - s >= 4 && memcmp(s, "TYPE", 4) == 0)
        e->kind = EXPFMT_ENTRY_TYPE;
    else if (end - s >= 4 && memcmp(s, "HELP", 4) == 0)
        e->kind = EXPFMT_ENTRY_HELP;
    else if (end - s >= 4 && memcmp(s, "UNIT", 4) == 0)
        e->kind = EXPFMT_ENTRY_UNIT;
    else if (end - s >= 3 && memcmp(s, "EOF", 3) == 0)
        return expfmt_fail(p, err, s + 3, VIGIL_EPARSE,
                           "unexpected %s after '# EOF'", describe(d, s + 3, end));
    else
        return expfmt_fail(p, err, s, VIGIL_EPARSE,
                           "expected TYPE, HELP, UNIT or EOF after '# ' (OpenMetrics has no "
                           "comments)");
    const char *kw = s;
    s += 4;
    if (s >= end || *s != ' ')
        return expfmt_fail(p, err, s, VIGIL_EPARSE, "expected ' ' and a metric name after %.4s",
                           kw);
    s++;
    const char *at_name = s;
    if (s >= end || !is_name_start((unsigned char)*s))
        return expfmt_fail(p, err, s, VIGIL_EPARSE, "expected a metric name after %.4s, found %s",
                           kw, describe(d, s, end));
    while (s < end && is_name_char((unsigned char)*s))
        s++;
    e->name = (expfmt_str_t){ at_name, (size_t)(s - at_name) };
    if (s >= end || *s != ' ')
        return expfmt_fail(p, err, s, VIGIL_EPARSE,
                           "expected ' ' after the metric name %s, found %s",
                           expfmt_quote(q, sizeof(q), e->name.ptr, e->name.len),
                           describe(d, s, end));
    s++;
    const char *at_value = s;
    if (e->kind == EXPFMT_ENTRY_TYPE) {
        size_t tl = (size_t)(end - s);
        bool found = false;
        for (size_t i = 0; i < sizeof(om_types) / sizeof(om_types[0]); i++)
            if (strlen(om_types[i].name) == tl && memcmp(om_types[i].name, s, tl) == 0) {
                e->type = om_types[i].type;
                found = true;
            }
        if (!found)
            return expfmt_fail(p, err, s, VIGIL_EPARSE,
                               "unknown metric type %s (expected counter, gauge, histogram, "
                               "gaugehistogram, summary, info, stateset or unknown)",
                               expfmt_quote(q, sizeof(q), s, tl));
    } else if (e->kind == EXPFMT_ENTRY_HELP) {
        int rc = scan_help(p, s, &e->text, err);
        if (rc != 0)
            return rc;
    } else {
        for (const char *c = s; c < end; c++)
            if (!is_name_char((unsigned char)*c))
                return expfmt_fail(p, err, c, VIGIL_EPARSE,
                                   "unexpected %s in unit (units use metric-name characters)",
                                   describe(d, c, end));
        e->text = (expfmt_str_t){ s, (size_t)(end - s) };
    }
    int rc = om_metadata(p, e, at_name, at_value, err);
    return rc != 0 ? rc : 1;
}

/* One space-delimited token starting at s (OpenMetrics). */
static const char *om_token_end(const char *s, const char *end)
{
    const char *t = memchr(s, ' ', (size_t)(end - s));
    return t != NULL ? t : end;
}

static int om_sample_line(expfmt_parser_t *p, expfmt_entry_t *e, vigil_error_t *err)
{
    const char *s = p->line, *end = p->line_end;
    char q[EXPFMT_QUOTE_MAX], d[16];
    if (s == end)
        return expfmt_fail(p, err, s, VIGIL_EPARSE, "blank line (OpenMetrics has none)");
    if (!is_name_start((unsigned char)*s))
        return expfmt_fail(p, err, s, VIGIL_EPARSE, "expected a metric name, found %s",
                           describe(d, s, end));
    while (s < end && is_name_char((unsigned char)*s))
        s++;
    e->kind = EXPFMT_ENTRY_SAMPLE;
    e->name = (expfmt_str_t){ p->line, (size_t)(s - p->line) };
    size_t nl = 0, nx = 0;
    if (s < end && *s == '{') {
        int rc = scan_labels(p, &s, 0, &nl, err);
        if (rc != 0)
            return rc;
    }
    if (s >= end || *s != ' ')
        return expfmt_fail(p, err, s, VIGIL_EPARSE,
                           s >= end ? "expected ' ' and a value after %s"
                                    : "expected ' ' and a value after %s, found %s",
                           expfmt_quote(q, sizeof(q), e->name.ptr, e->name.len),
                           describe(d, s, end));
    s++;
    const char *t = s;
    s = om_token_end(s, end);
    if (!expfmt_parse_number(p, t, (size_t)(s - t), true, &e->value))
        return expfmt_fail(p, err, t, VIGIL_EPARSE, t == s ? "expected a value" :
                           "invalid value %s", expfmt_quote(q, sizeof(q), t, (size_t)(s - t)));
    const char *at_value = t;
    if (s < end) {
        s++; /* the space */
        if (s < end && *s != '#') {
            t = s;
            s = om_token_end(s, end);
            double ts;
            if (!expfmt_parse_number(p, t, (size_t)(s - t), false, &ts))
                return expfmt_fail(p, err, t, VIGIL_EPARSE,
                                   t == s ? "expected a timestamp after ' ' (no trailing "
                                            "blanks in OpenMetrics)"
                                          : "invalid timestamp %s",
                                   expfmt_quote(q, sizeof(q), t, (size_t)(s - t)));
            e->has_timestamp = true;
            e->timestamp_ms = seconds_to_ms(ts);
            if (p->om != NULL)
                om_note_timestamp(p, ts);
            if (s < end) {
                s++;
                if (s >= end || *s != '#')
                    return expfmt_fail(p, err, s, VIGIL_EPARSE,
                                       "expected '#' to start an exemplar, found %s",
                                       describe(d, s, end));
            }
        } else if (s >= end) {
            return expfmt_fail(p, err, s, VIGIL_EPARSE,
                               "expected a timestamp after ' ' (no trailing blanks in "
                               "OpenMetrics)");
        }
        if (s < end) { /* at '#': the exemplar */
            s++;
            if (s >= end || *s != ' ')
                return expfmt_fail(p, err, s, VIGIL_EPARSE,
                                   "expected ' ' after the exemplar's '#', found %s",
                                   describe(d, s, end));
            s++;
            if (s >= end || *s != '{')
                return expfmt_fail(p, err, s, VIGIL_EPARSE,
                                   "expected '{' to open the exemplar's labels, found %s",
                                   describe(d, s, end));
            int rc = scan_labels(p, &s, nl, &nx, err);
            if (rc != 0)
                return rc;
            if (s >= end || *s != ' ')
                return expfmt_fail(p, err, s, VIGIL_EPARSE,
                                   "expected ' ' and a value after the exemplar's labels, "
                                   "found %s", describe(d, s, end));
            s++;
            t = s;
            s = om_token_end(s, end);
            if (!expfmt_parse_number(p, t, (size_t)(s - t), true, &e->exemplar_value))
                return expfmt_fail(p, err, t, VIGIL_EPARSE,
                                   t == s ? "expected the exemplar's value"
                                          : "invalid exemplar value %s",
                                   expfmt_quote(q, sizeof(q), t, (size_t)(s - t)));
            if (s < end) {
                s++;
                t = s;
                s = om_token_end(s, end);
                double ts;
                if (!expfmt_parse_number(p, t, (size_t)(s - t), false, &ts))
                    return expfmt_fail(p, err, t, VIGIL_EPARSE,
                                       t == s ? "expected the exemplar's timestamp after ' '"
                                              : "invalid exemplar timestamp %s",
                                       expfmt_quote(q, sizeof(q), t, (size_t)(s - t)));
                e->exemplar_has_timestamp = true;
                e->exemplar_timestamp_ms = seconds_to_ms(ts);
                if (s < end)
                    return expfmt_fail(p, err, s, VIGIL_EPARSE,
                                       "unexpected text after the exemplar's timestamp");
            }
            e->has_exemplar = true;
        }
    }
    e->labels = p->labels;
    e->nlabels = nl;
    e->exemplar_labels = p->labels != NULL ? p->labels + nl : NULL; /* NULL + 0 is UB */
    e->exemplar_nlabels = nx;
    int rc = om_sample(p, e, at_value, err);
    return rc != 0 ? rc : 1;
}

/* ---- text lines ---------------------------------------------------------------------------- */

static const char *skip_blanks(const char *s, const char *end)
{
    while (s < end && is_blank((unsigned char)*s))
        s++;
    return s;
}

static const char *blank_token_end(const char *s, const char *end)
{
    while (s < end && !is_blank((unsigned char)*s))
        s++;
    return s;
}

/* A '#' line of the text format: HELP, TYPE or a comment. 1 for an entry, 0 to skip. */
static int text_comment_line(expfmt_parser_t *p, const char *s, expfmt_entry_t *e,
                             vigil_error_t *err)
{
    const char *end = p->line_end;
    char q[EXPFMT_QUOTE_MAX], d[16];
    s = skip_blanks(s + 1, end);
    if (end - s < 5 || !is_blank((unsigned char)s[4]))
        return 0;
    if (memcmp(s, "HELP", 4) == 0)
        e->kind = EXPFMT_ENTRY_HELP;
    else if (memcmp(s, "TYPE", 4) == 0)
        e->kind = EXPFMT_ENTRY_TYPE;
    else
        return 0; /* a comment */
    const char *kw = s;
    s = skip_blanks(s + 4, end);
    const char *at_name = s;
    if (s >= end || !is_name_start((unsigned char)*s))
        return expfmt_fail(p, err, s, VIGIL_EPARSE, "expected a metric name after %.4s, found %s",
                           kw, describe(d, s, end));
    while (s < end && is_name_char((unsigned char)*s))
        s++;
    e->name = (expfmt_str_t){ at_name, (size_t)(s - at_name) };
    if (s < end && !is_blank((unsigned char)*s))
        return expfmt_fail(p, err, s, VIGIL_EPARSE, "unexpected %s in metric name %s",
                           describe(d, s, end),
                           expfmt_quote(q, sizeof(q), e->name.ptr, e->name.len));
    s = skip_blanks(s, end);
    if (e->kind == EXPFMT_ENTRY_HELP) {
        int rc = scan_help(p, s, &e->text, err);
        if (rc != 0)
            return rc;
    } else {
        const char *t = s;
        s = blank_token_end(s, end);
        size_t tl = (size_t)(s - t);
        bool found = false;
        for (size_t i = 0; i < sizeof(text_types) / sizeof(text_types[0]); i++)
            if (strlen(text_types[i].name) == tl && memcmp(text_types[i].name, t, tl) == 0) {
                e->type = text_types[i].type;
                found = true;
            }
        if (!found)
            return expfmt_fail(p, err, t, VIGIL_EPARSE,
                               tl == 0 ? "expected a metric type after the metric name"
                                       : "unknown metric type %s (expected counter, gauge, "
                                         "histogram, summary or untyped)",
                               expfmt_quote(q, sizeof(q), t, tl));
        s = skip_blanks(s, end);
        if (s < end)
            return expfmt_fail(p, err, s, VIGIL_EPARSE, "unexpected text after the metric type");
    }
    if (p->text != NULL) {
        int rc = text_metadata(p, e, at_name, err);
        if (rc != 0)
            return rc;
    } else if (e->kind == EXPFMT_ENTRY_TYPE) {
        p->last_family = e->name;
        p->last_type = e->type;
    }
    return 1;
}

/* Lenient text: a sample belongs to the family of the last TYPE line when its name is the
 * family's or the family's plus a suffix its type produces. */
static void text_lenient_family(expfmt_parser_t *p, expfmt_entry_t *e)
{
    e->family = e->name;
    e->type = EXPFMT_TYPE_UNKNOWN;
    expfmt_str_t f = p->last_family;
    if (f.ptr == NULL || e->name.len < f.len || memcmp(e->name.ptr, f.ptr, f.len) != 0)
        return;
    const char *suf = e->name.ptr + f.len;
    size_t sl = e->name.len - f.len;
    bool ok = sl == 0;
    if (p->last_type == EXPFMT_TYPE_SUMMARY || p->last_type == EXPFMT_TYPE_HISTOGRAM)
        ok = ok || (sl == 4 && memcmp(suf, "_sum", 4) == 0) ||
             (sl == 6 && memcmp(suf, "_count", 6) == 0);
    if (p->last_type == EXPFMT_TYPE_HISTOGRAM)
        ok = ok || (sl == 7 && memcmp(suf, "_bucket", 7) == 0);
    if (ok) {
        e->family = f;
        e->type = p->last_type;
    }
}

/* 1 for an entry, 0 for a line to skip, or an error code. */
static int text_line(expfmt_parser_t *p, expfmt_entry_t *e, vigil_error_t *err)
{
    const char *end = p->line_end;
    const char *s = skip_blanks(p->line, end);
    char q[EXPFMT_QUOTE_MAX], d[16];
    if (s == end)
        return 0;
    if (*s == '#')
        return text_comment_line(p, s, e, err);
    const char *at_name = s;
    if (!is_name_start((unsigned char)*s))
        return expfmt_fail(p, err, s, VIGIL_EPARSE, "expected a metric name, found %s",
                           describe(d, s, end));
    while (s < end && is_name_char((unsigned char)*s))
        s++;
    e->kind = EXPFMT_ENTRY_SAMPLE;
    e->name = (expfmt_str_t){ at_name, (size_t)(s - at_name) };
    if (s < end && !is_blank((unsigned char)*s) && *s != '{')
        return expfmt_fail(p, err, s, VIGIL_EPARSE, "unexpected %s in metric name %s",
                           describe(d, s, end),
                           expfmt_quote(q, sizeof(q), e->name.ptr, e->name.len));
    s = skip_blanks(s, end);
    size_t nl = 0;
    const char *at_labels = NULL;
    if (s < end && *s == '{') {
        at_labels = s;
        int rc = scan_labels(p, &s, 0, &nl, err);
        if (rc != 0)
            return rc;
        s = skip_blanks(s, end);
    }
    const char *t = s;
    s = blank_token_end(s, end);
    if (t == s)
        return expfmt_fail(p, err, t, VIGIL_EPARSE, "expected a value after %s",
                           expfmt_quote(q, sizeof(q), e->name.ptr, e->name.len));
    if (!expfmt_parse_number(p, t, (size_t)(s - t), true, &e->value))
        return expfmt_fail(p, err, t, VIGIL_EPARSE, "invalid value %s",
                           expfmt_quote(q, sizeof(q), t, (size_t)(s - t)));
    s = skip_blanks(s, end);
    if (s < end) {
        t = s;
        s = blank_token_end(s, end);
        if (!parse_int64(t, (size_t)(s - t), &e->timestamp_ms))
            return expfmt_fail(p, err, t, VIGIL_EPARSE,
                               "invalid timestamp %s (the text format wants integer "
                               "milliseconds)", expfmt_quote(q, sizeof(q), t, (size_t)(s - t)));
        e->has_timestamp = true;
        s = skip_blanks(s, end);
        if (s < end)
            return expfmt_fail(p, err, s, VIGIL_EPARSE, "unexpected text after the timestamp");
    }
    e->labels = p->labels;
    e->nlabels = nl;
    e->exemplar_labels = p->labels != NULL ? p->labels + nl : NULL; /* NULL + 0 is UB */
    if (p->text != NULL) {
        int rc = text_sample(p, e, at_labels, err);
        if (rc != 0)
            return rc;
    } else {
        text_lenient_family(p, e);
    }
    return 1;
}

/* ---- the API --------------------------------------------------------------------------------- */

int expfmt_parser_init(expfmt_parser_t *p, const char *data, size_t len, expfmt_format_t format,
                       expfmt_mode_t mode)
{
    memset(p, 0, sizeof(*p));
    if ((data == NULL && len != 0) ||
        (format != EXPFMT_TEXT && format != EXPFMT_OPENMETRICS) ||
        (mode != EXPFMT_LENIENT && mode != EXPFMT_STRICT))
        return VIGIL_EINVAL;
    p->data = data != NULL ? data : "";
    p->len = len;
    p->format = format;
    p->mode = mode;
    /* Unescaped text is never longer than the line it came from. */
    buf_init(&p->scratch, len + 16);
    buf_init(&p->numbuf, len + 4096);
    if (format == EXPFMT_OPENMETRICS)
        return om_state_new(p);
    if (mode == EXPFMT_STRICT)
        return text_state_new(p);
    return 0;
}

void expfmt_parser_destroy(expfmt_parser_t *p)
{
    om_state_free(p);
    text_state_free(p);
    buf_free(&p->scratch);
    buf_free(&p->numbuf);
    free(p->labels);
    free(p->sorted);
    p->labels = NULL;
    p->sorted = NULL;
    p->labels_cap = p->sorted_cap = 0;
}

size_t expfmt_samples_read(const expfmt_parser_t *p)
{
    return p->samples;
}

/* The input is over: OpenMetrics requires the "# EOF" line, then the last family's checks. */
static int finish(expfmt_parser_t *p, expfmt_entry_t *e, vigil_error_t *err)
{
    if (p->format == EXPFMT_OPENMETRICS) {
        if (!p->seen_eof) {
            /* Point just past the last line, where "# EOF" should have been. */
            if (p->line == NULL || (p->pos > 0 && p->data[p->pos - 1] == '\n'))
                return expfmt_fail_at(p, err, p->line_no + 1, 1, VIGIL_EPARSE,
                                      "missing '# EOF' at the end of the exposition");
            return expfmt_fail(p, err, p->line_end, VIGIL_EPARSE,
                               "missing '# EOF' at the end of the exposition");
        }
        int rc = om_end(p, err);
        if (rc != 0)
            return rc;
    }
    p->done = true;
    e->kind = EXPFMT_ENTRY_END;
    e->line = p->line_no;
    return 0;
}

int expfmt_next(expfmt_parser_t *p, expfmt_entry_t *e, vigil_error_t *err)
{
    memset(e, 0, sizeof(*e));
    if (p->failed != 0) {
        if (err != NULL)
            *err = p->error;
        return p->failed;
    }
    if (p->done) {
        e->line = p->line_no;
        return 0;
    }
    for (;;) {
        if (p->pos >= p->len)
            return finish(p, e, err);
        if (p->seen_eof)
            return expfmt_fail_at(p, err, p->line_no + 1, 1, VIGIL_EPARSE,
                                  "text after '# EOF' (it must be the last line)");
        const char *line = p->data + p->pos;
        const char *nl = memchr(line, '\n', p->len - p->pos);
        p->line = line;
        p->line_end = nl != NULL ? nl : p->data + p->len;
        p->pos = (size_t)(p->line_end - p->data) + (nl != NULL);
        p->line_no++;
        buf_reset(&p->scratch);
        p->scratch_ready = false;
        e->line = p->line_no;
        int rc;
        if (p->format == EXPFMT_OPENMETRICS) {
            rc = (p->line < p->line_end && *p->line == '#') ? om_meta_line(p, e, err)
                                                             : om_sample_line(p, e, err);
            if (rc == 2) {
                p->seen_eof = true;
                continue;
            }
        } else {
            rc = text_line(p, e, err);
        }
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (e->kind == EXPFMT_ENTRY_SAMPLE)
                p->samples++;
            return 0;
        }
        memset(e, 0, sizeof(*e));
    }
}

int expfmt_validate(const char *data, size_t len, expfmt_format_t format, expfmt_mode_t mode,
                    size_t *samples, vigil_error_t *err)
{
    expfmt_parser_t p;
    expfmt_entry_t e;
    int rc = expfmt_parser_init(&p, data, len, format, mode);
    if (rc != 0) {
        vigil_error_set(err, rc, "cannot start the parser: %s", vigil_strerror(rc));
    } else {
        while ((rc = expfmt_next(&p, &e, err)) == 0 && e.kind != EXPFMT_ENTRY_END)
            ;
    }
    if (samples != NULL)
        *samples = p.samples;
    expfmt_parser_destroy(&p);
    return rc;
}
