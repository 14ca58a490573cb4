/*
 * tmpl_funcs.c - the functions of the interim template engine: Prometheus' query-free template
 * functions (template/template.go) and text/template's builtins they are used with.
 *
 * Number formatting follows Go: fmt's "%.4g" is C's "%.4g" except for NaN and infinities, and
 * a float printed with %v is strconv's shortest 'g' form ("1e+06", "0.1").
 */
#include "rules/tmpl_int.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void rules_tmpl_format_float(double v, char *out, size_t cap)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Shortest precision that round-trips, as strconv does. */
    char tmp[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    int exp = 0;
    const char *e = strchr(tmp, 'e');
    if (e != NULL)
        exp = atoi(e + 1);
    /* strconv 'g' with shortest digits switches to the exponent form at exp < -4 or
     * exp >= 6 (its eprec for the shortest precision). */
    if (exp < -4 || exp >= 6) {
        /* mantissa digits then e+XX with at least two exponent digits */
        char mant[32];
        snprintf(mant, sizeof(mant), "%.*e", prec - 1, v);
        char *ep = strchr(mant, 'e');
        *ep = '\0';
        snprintf(out, cap, "%se%c%02d", mant, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else {
        int decimals = prec - 1 - exp;
        snprintf(out, cap, "%.*f", decimals > 0 ? decimals : 0, v);
    }
}

/* Go's fmt "%.4g" plus a suffix. */
static void g4(double v, const char *suffix, char *out, size_t cap)
{
    if (isnan(v) || isinf(v)) {
        snprintf(out, cap, "%s%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf", suffix);
        return;
    }
    snprintf(out, cap, "%.4g%s", v, suffix);
}

bool rules_tmpl_truth(const tval_t *v)
{
    switch (v->k) {
    case TV_NIL:  return false;
    case TV_STR:  return v->s[0] != '\0';
    case TV_NUM:  return v->n != 0;
    case TV_BOOL: return v->b;
    case TV_MAP:  return v->map.n > 0;
    case TV_DATA: return true;
    }
    return false;
}

int rules_tmpl_print_value(buf_t *b, const tval_t *v)
{
    char num[64];
    switch (v->k) {
    case TV_NIL:
        return buf_puts(b, "<no value>");
    case TV_STR:
        return buf_puts(b, v->s);
    case TV_NUM:
        rules_tmpl_format_float(v->n, num, sizeof(num));
        return buf_puts(b, num);
    case TV_BOOL:
        return buf_puts(b, v->b ? "true" : "false");
    case TV_MAP: {
        int rc = buf_puts(b, "map[");
        for (size_t i = 0; rc == 0 && i < v->map.n; i++)
            rc = buf_printf(b, "%s%s:%s", i ? " " : "", v->map.v[i].name, v->map.v[i].value);
        return rc ? rc : buf_putc(b, ']');
    }
    case TV_DATA:
        return buf_puts(b, "{...}");
    }
    return 0;
}

/* Prometheus' convertToFloat: numbers, and strings that parse as floats. */
static int to_float(const tval_t *v, double *out, char *why, size_t wl)
{
    if (v->k == TV_NUM) {
        *out = v->n;
        return 0;
    }
    if (v->k == TV_STR) {
        char *end;
        const char *s = v->s;
        if (strcasecmp(s, "nan") == 0 || strcasecmp(s, "inf") == 0 ||
            strcasecmp(s, "+inf") == 0 || strcasecmp(s, "-inf") == 0) {
            *out = strtod(s, NULL);
            return 0;
        }
        *out = strtod(s, &end);
        if (*s != '\0' && *end == '\0')
            return 0;
        snprintf(why, wl, "strconv.ParseFloat: parsing \"%s\": invalid syntax", s);
        return -1;
    }
    snprintf(why, wl, "can't convert value to float");
    return -1;
}

static int ret_str(tval_t *out, char **owned, const char *s)
{
    if ((*owned = strdup(s)) == NULL)
        return -1;
    *out = (tval_t){ .k = TV_STR, .s = *owned };
    return 0;
}

#define FN(name) static int name(const tval_t *a, int argc, tval_t *out, char **owned, \
                                 char *why, size_t wl)

FN(f_humanize)
{
    double v;
    char r[64];
    if (to_float(&a[0], &v, why, wl) != 0)
        return -1;
    if (v == 0 || isnan(v) || isinf(v)) {
        g4(v, "", r, sizeof(r));
    } else if (fabs(v) >= 1) {
        static const char *const p[] = { "k", "M", "G", "T", "P", "E", "Z", "Y" };
        const char *prefix = "";
        for (size_t i = 0; i < 8 && fabs(v) >= 1000; i++) {
            prefix = p[i];
            v /= 1000;
        }
        g4(v, prefix, r, sizeof(r));
    } else {
        static const char *const p[] = { "m", "u", "n", "p", "f", "a", "z", "y" };
        const char *prefix = "";
        for (size_t i = 0; i < 8 && fabs(v) < 1; i++) {
            prefix = p[i];
            v *= 1000;
        }
        g4(v, prefix, r, sizeof(r));
    }
    return ret_str(out, owned, r);
}

FN(f_humanize1024)
{
    double v;
    char r[64];
    if (to_float(&a[0], &v, why, wl) != 0)
        return -1;
    if (fabs(v) <= 1 || isnan(v) || isinf(v)) {
        g4(v, "", r, sizeof(r));
        return ret_str(out, owned, r);
    }
    static const char *const p[] = { "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi" };
    const char *prefix = "";
    for (size_t i = 0; i < 8 && fabs(v) >= 1024; i++) {
        prefix = p[i];
        v /= 1024;
    }
    g4(v, prefix, r, sizeof(r));
    return ret_str(out, owned, r);
}

FN(f_humanize_duration)
{
    double v;
    char r[96];
    if (to_float(&a[0], &v, why, wl) != 0)
        return -1;
    if (isnan(v) || isinf(v)) {
        g4(v, "", r, sizeof(r));
    } else if (v == 0) {
        g4(v, "s", r, sizeof(r));
    } else if (fabs(v) >= 1) {
        const char *sign = "";
        if (v < 0) {
            sign = "-";
            v = -v;
        }
        int64_t d = (int64_t)v;
        int64_t s = d % 60, m = (d / 60) % 60, h = (d / 3600) % 24, days = d / 86400;
        if (days != 0)
            snprintf(r, sizeof(r), "%s%lldd %lldh %lldm %llds", sign, (long long)days,
                     (long long)h, (long long)m, (long long)s);
        else if (h != 0)
            snprintf(r, sizeof(r), "%s%lldh %lldm %llds", sign, (long long)h, (long long)m,
                     (long long)s);
        else if (m != 0)
            snprintf(r, sizeof(r), "%s%lldm %llds", sign, (long long)m, (long long)s);
        else
            snprintf(r, sizeof(r), "%s%.4gs", sign, v);
    } else {
        static const char *const p[] = { "m", "u", "n", "p", "f", "a", "z", "y" };
        const char *prefix = "";
        for (size_t i = 0; i < 8 && fabs(v) < 1; i++) {
            prefix = p[i];
            v *= 1000;
        }
        char suffix[8];
        snprintf(suffix, sizeof(suffix), "%ss", prefix);
        g4(v, suffix, r, sizeof(r));
    }
    return ret_str(out, owned, r);
}

FN(f_humanize_percentage)
{
    double v;
    char r[64];
    if (to_float(&a[0], &v, why, wl) != 0)
        return -1;
    g4(v * 100, "%", r, sizeof(r));
    return ret_str(out, owned, r);
}

FN(f_humanize_timestamp)
{
    double v;
    char r[96];
    if (to_float(&a[0], &v, why, wl) != 0)
        return -1;
    if (isnan(v) || isinf(v)) {
        g4(v, "", r, sizeof(r));
        return ret_str(out, owned, r);
    }
    /* Go's time.Time.String() in UTC: "2006-01-02 15:04:05.999999999 +0000 UTC". */
    double whole = floor(v);
    time_t secs = (time_t)whole;
    long nanos = (long)llround((v - whole) * 1e9);
    if (nanos >= 1000000000L) {
        secs++;
        nanos -= 1000000000L;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char frac[32] = "";
    if (nanos > 0) {
        snprintf(frac, sizeof(frac), ".%09ld", nanos);
        size_t l = strlen(frac);
        while (l > 1 && frac[l - 1] == '0')
            frac[--l] = '\0';
    }
    snprintf(r, sizeof(r), "%04d-%02d-%02d %02d:%02d:%02d%s +0000 UTC", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return ret_str(out, owned, r);
}

static int want_string(const tval_t *v, const char *fn, char *why, size_t wl)
{
    if (v->k == TV_STR)
        return 0;
    snprintf(why, wl, "wrong type for value; expected string in call to %s", fn);
    return -1;
}

FN(f_to_upper)
{
    if (want_string(&a[0], "toUpper", why, wl) != 0 || ret_str(out, owned, a[0].s) != 0)
        return -1;
    for (char *p = *owned; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return 0;
}

FN(f_to_lower)
{
    if (want_string(&a[0], "toLower", why, wl) != 0 || ret_str(out, owned, a[0].s) != 0)
        return -1;
    for (char *p = *owned; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

FN(f_title)
{
    if (want_string(&a[0], "title", why, wl) != 0 || ret_str(out, owned, a[0].s) != 0)
        return -1;
    /* strings.Title: a letter after a separator (not a letter, digit, '_' or non-ASCII
     * byte) starts a word. */
    bool prev_sep = true;
    for (char *p = *owned; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (prev_sep && islower(c))
            *p = (char)toupper(c);
        prev_sep = !(isalnum(c) || c == '_' || c >= 0x80);
    }
    return 0;
}

static int compile_re(regex_t *re, const char *pat, char *why, size_t wl)
{
    int rc = regcomp(re, pat, REG_EXTENDED);
    if (rc != 0) {
        char m[128];
        regerror(rc, re, m, sizeof(m));
        snprintf(why, wl, "error parsing regexp: %s: `%s`", m, pat);
        return -1;
    }
    return 0;
}

FN(f_match)
{
    if (want_string(&a[0], "match", why, wl) != 0 || want_string(&a[1], "match", why, wl) != 0)
        return -1;
    regex_t re;
    if (compile_re(&re, a[0].s, why, wl) != 0)
        return -1;
    *out = (tval_t){ .k = TV_BOOL, .b = regexec(&re, a[1].s, 0, NULL, 0) == 0 };
    regfree(&re);
    return 0;
}

/* Appends Go's Regexp.Expand of `repl` ($1, ${1}, $$) for one match. */
static int expand_repl(buf_t *b, const char *repl, const char *src, const regmatch_t *m,
                       size_t nm)
{
    int rc = 0;
    for (const char *p = repl; rc == 0 && *p; p++) {
        if (*p != '$') {
            rc = buf_putc(b, *p);
            continue;
        }
        if (p[1] == '$') {
            rc = buf_putc(b, '$');
            p++;
            continue;
        }
        const char *q = p + 1;
        bool brace = *q == '{';
        if (brace)
            q++;
        const char *s = q;
        while (isalnum((unsigned char)*q) || *q == '_')
            q++;
        if (q == s || (brace && *q != '}')) {
            rc = buf_putc(b, '$');
            continue;
        }
        bool numeric = true;
        for (const char *d = s; d < q; d++)
            numeric = numeric && isdigit((unsigned char)*d);
        if (numeric) {
            size_t idx = (size_t)strtoul(s, NULL, 10);
            if (idx < nm && m[idx].rm_so >= 0)
                rc = buf_append(b, src + m[idx].rm_so, (size_t)(m[idx].rm_eo - m[idx].rm_so));
        }
        /* named groups do not exist in POSIX regexes: they expand to "" as unknown names do */
        p = brace ? q : q - 1;
    }
    return rc;
}

FN(f_re_replace_all)
{
    for (int i = 0; i < 3; i++)
        if (want_string(&a[i], "reReplaceAll", why, wl) != 0)
            return -1;
    regex_t re;
    if (compile_re(&re, a[0].s, why, wl) != 0)
        return -1;
    buf_t b;
    buf_init(&b, 1 << 20);
    const char *s = a[2].s;
    regmatch_t m[10];
    int rc = 0;
    bool first = true;
    while (rc == 0) {
        if (regexec(&re, s, 10, m, first ? 0 : REG_NOTBOL) != 0) {
            rc = buf_puts(&b, s);
            break;
        }
        first = false;
        rc = buf_append(&b, s, (size_t)m[0].rm_so);
        if (rc == 0)
            rc = expand_repl(&b, a[1].s, s, m, 10);
        if (m[0].rm_eo == m[0].rm_so) {   /* empty match: copy one byte and go on */
            if (s[m[0].rm_eo] == '\0')
                break;
            if (rc == 0)
                rc = buf_putc(&b, s[m[0].rm_eo]);
            s += m[0].rm_eo + 1;
        } else {
            s += m[0].rm_eo;
        }
    }
    regfree(&re);
    if (rc != 0) {
        buf_free(&b);
        snprintf(why, wl, "result too large");
        return -1;
    }
    *owned = buf_detach(&b, NULL);
    buf_free(&b);
    if (*owned == NULL)
        return -1;
    *out = (tval_t){ .k = TV_STR, .s = *owned };
    return 0;
}

FN(f_strip_port)
{
    if (want_string(&a[0], "stripPort", why, wl) != 0)
        return -1;
    const char *s = a[0].s;
    char host[512];
    /* net.SplitHostPort: "[v6]:port" or "host:port" with exactly one colon. */
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (e != NULL && e[1] == ':' && (size_t)(e - s - 1) < sizeof(host)) {
            snprintf(host, sizeof(host), "%.*s", (int)(e - s - 1), s + 1);
            return ret_str(out, owned, host);
        }
        return ret_str(out, owned, s);
    }
    const char *c = strchr(s, ':');
    if (c != NULL && strchr(c + 1, ':') == NULL && (size_t)(c - s) < sizeof(host)) {
        snprintf(host, sizeof(host), "%.*s", (int)(c - s), s);
        return ret_str(out, owned, host);
    }
    return ret_str(out, owned, s);
}

FN(f_parse_duration)
{
    if (want_string(&a[0], "parseDuration", why, wl) != 0)
        return -1;
    /* Prometheus' model.ParseDuration, seconds as a float. */
    const char *s = a[0].s;
    double total = 0;
    const char *p = s;
    static const struct { const char *u; double sec; } units[] = {
        { "ms", 0.001 }, { "y", 31536000 }, { "w", 604800 }, { "d", 86400 },
        { "h", 3600 }, { "m", 60 }, { "s", 1 },
    };
    if (strcmp(s, "0") == 0) {
        *out = (tval_t){ .k = TV_NUM, .n = 0 };
        return 0;
    }
    while (*p) {
        if (!isdigit((unsigned char)*p))
            goto bad;
        double n = 0;
        while (isdigit((unsigned char)*p))
            n = n * 10 + (*p++ - '0');
        size_t i = 0;
        for (; i < sizeof(units) / sizeof(units[0]); i++)
            if (strncmp(p, units[i].u, strlen(units[i].u)) == 0)
                break;
        if (i == sizeof(units) / sizeof(units[0]))
            goto bad;
        total += n * units[i].sec;
        p += strlen(units[i].u);
    }
    if (p == s)
        goto bad;
    *out = (tval_t){ .k = TV_NUM, .n = total };
    return 0;
bad:
    snprintf(why, wl, "not a valid duration string: \"%s\"", s);
    return -1;
}

/* ---- text/template builtins ---- */

static int cmp_vals(const tval_t *x, const tval_t *y, int *c, char *why, size_t wl)
{
    if (x->k == TV_NUM && y->k == TV_NUM) {
        *c = x->n < y->n ? -1 : x->n > y->n ? 1 : 0;
        return 0;
    }
    if (x->k == TV_STR && y->k == TV_STR) {
        *c = strcmp(x->s, y->s);
        return 0;
    }
    if (x->k == TV_BOOL && y->k == TV_BOOL) {
        *c = x->b == y->b ? 0 : 1;
        return 0;
    }
    snprintf(why, wl, "incompatible types for comparison");
    return -1;
}

FN(f_eq)
{
    bool r = false;
    for (int i = 1; i < argc && !r; i++) {
        int c;
        if (cmp_vals(&a[0], &a[i], &c, why, wl) != 0)
            return -1;
        r = c == 0;
    }
    *out = (tval_t){ .k = TV_BOOL, .b = r };
    return 0;
}

#define CMP_FN(name, test)                                                   \
    FN(name)                                                                 \
    {                                                                        \
        int c;                                                               \
        if (cmp_vals(&a[0], &a[1], &c, why, wl) != 0)                        \
            return -1;                                                       \
        *out = (tval_t){ .k = TV_BOOL, .b = (test) };                        \
        return 0;                                                            \
    }
CMP_FN(f_ne, c != 0)
CMP_FN(f_lt, c < 0)
CMP_FN(f_le, c <= 0)
CMP_FN(f_gt, c > 0)
CMP_FN(f_ge, c >= 0)

FN(f_and)
{
    for (int i = 0; i < argc; i++)
        if (!rules_tmpl_truth(&a[i]) || i == argc - 1) {
            *out = a[i];
            return 0;
        }
    return 0;
}

FN(f_or)
{
    for (int i = 0; i < argc; i++)
        if (rules_tmpl_truth(&a[i]) || i == argc - 1) {
            *out = a[i];
            return 0;
        }
    return 0;
}

FN(f_not)
{
    *out = (tval_t){ .k = TV_BOOL, .b = !rules_tmpl_truth(&a[0]) };
    return 0;
}

FN(f_len)
{
    if (a[0].k == TV_STR)
        *out = (tval_t){ .k = TV_NUM, .n = (double)strlen(a[0].s) };
    else if (a[0].k == TV_MAP)
        *out = (tval_t){ .k = TV_NUM, .n = (double)a[0].map.n };
    else {
        snprintf(why, wl, "len of type not supported");
        return -1;
    }
    return 0;
}

FN(f_print)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    int rc = 0;
    for (int i = 0; rc == 0 && i < argc; i++) {
        /* fmt.Sprint adds a space between operands when neither is a string */
        if (i > 0 && a[i].k != TV_STR && a[i - 1].k != TV_STR)
            rc = buf_putc(&b, ' ');
        if (rc == 0)
            rc = rules_tmpl_print_value(&b, &a[i]);
    }
    *owned = rc == 0 ? buf_detach(&b, NULL) : NULL;
    buf_free(&b);
    if (*owned == NULL)
        return -1;
    *out = (tval_t){ .k = TV_STR, .s = *owned };
    return 0;
}

/* One verb of printf with its flags, width and precision applied to one value. */
static int printf_one(buf_t *b, const char *spec, size_t slen, char verb, const tval_t *v)
{
    char fmt[40];
    if (slen > 30)
        slen = 30;
    if (verb == 'v' || (verb == 's' && v->k != TV_NUM) || (verb == 'q' && v->k == TV_STR)) {
        buf_t t;
        buf_init(&t, 1 << 20);
        int rc = rules_tmpl_print_value(&t, v);
        if (rc == 0) {
            snprintf(fmt, sizeof(fmt), "%%%.*ss", (int)slen, spec);
            if (verb == 'q')
                rc = buf_put_json_string(b, t.data ? t.data : "");
            else
                rc = buf_printf(b, fmt, t.data ? t.data : "");
        }
        buf_free(&t);
        return rc;
    }
    if (v->k == TV_NUM && strchr("feEgG", verb) != NULL) {
        if (isnan(v->n) || isinf(v->n))
            return buf_puts(b, isnan(v->n) ? "NaN" : v->n > 0 ? "+Inf" : "-Inf");
        snprintf(fmt, sizeof(fmt), "%%%.*s%c", (int)slen, spec, verb);
        return buf_printf(b, fmt, v->n);
    }
    if (v->k == TV_NUM && (verb == 'd' || verb == 'x' || verb == 'X') && v->n == floor(v->n) &&
        fabs(v->n) < 9.2e18) {
        /* Go refuses %d on a float64; vigil prints whole numbers, as users mean it. Other
         * values get Go's %!d(float64=...) below. */
        snprintf(fmt, sizeof(fmt), "%%%.*sll%c", (int)slen, spec, verb);
        return buf_printf(b, fmt, (long long)v->n);
    }
    char num[64] = "";
    if (v->k == TV_NUM)
        rules_tmpl_format_float(v->n, num, sizeof(num));
    return buf_printf(b, "%%!%c(%s=%s)", verb,
                      v->k == TV_NUM ? "float64" : v->k == TV_STR ? "string" : "bool",
                      v->k == TV_NUM ? num : v->k == TV_STR ? v->s : v->b ? "true" : "false");
}

FN(f_printf)
{
    if (want_string(&a[0], "printf", why, wl) != 0)
        return -1;
    buf_t b;
    buf_init(&b, 1 << 20);
    int arg = 1, rc = 0;
    for (const char *p = a[0].s; rc == 0 && *p; p++) {
        if (*p != '%') {
            rc = buf_putc(&b, *p);
            continue;
        }
        if (p[1] == '%') {
            rc = buf_putc(&b, '%');
            p++;
            continue;
        }
        const char *spec = p + 1, *q = spec;
        while (*q && strchr("+-# 0", *q))
            q++;
        while (isdigit((unsigned char)*q) || *q == '.')
            q++;
        if (*q == '\0') {
            rc = buf_puts(&b, "%!(NOVERB)");
            break;
        }
        if (arg >= argc)
            rc = buf_printf(&b, "%%!%c(MISSING)", *q);
        else
            rc = printf_one(&b, spec, (size_t)(q - spec), *q, &a[arg++]);
        p = q;
    }
    if (rc == 0 && arg < argc) {
        rc = buf_puts(&b, "%!(EXTRA ");
        for (int i = arg; rc == 0 && i < argc; i++) {
            if (i > arg)
                rc = buf_puts(&b, ", ");
            if (rc == 0)
                rc = buf_puts(&b, a[i].k == TV_NUM ? "float64=" : "string=");
            if (rc == 0)
                rc = rules_tmpl_print_value(&b, &a[i]);
        }
        if (rc == 0)
            rc = buf_putc(&b, ')');
    }
    *owned = rc == 0 ? buf_detach(&b, NULL) : NULL;
    buf_free(&b);
    if (*owned == NULL) {
        snprintf(why, wl, "printf: result too large");
        return -1;
    }
    *out = (tval_t){ .k = TV_STR, .s = *owned };
    return 0;
}

static const tfunc_t funcs[] = {
    { "and", 1, -1, f_and },
    { "eq", 2, -1, f_eq },
    { "ge", 2, 2, f_ge },
    { "gt", 2, 2, f_gt },
    { "humanize", 1, 1, f_humanize },
    { "humanize1024", 1, 1, f_humanize1024 },
    { "humanizeDuration", 1, 1, f_humanize_duration },
    { "humanizePercentage", 1, 1, f_humanize_percentage },
    { "humanizeTimestamp", 1, 1, f_humanize_timestamp },
    { "le", 2, 2, f_le },
    { "len", 1, 1, f_len },
    { "lt", 2, 2, f_lt },
    { "match", 2, 2, f_match },
    { "ne", 2, 2, f_ne },
    { "not", 1, 1, f_not },
    { "or", 1, -1, f_or },
    { "parseDuration", 1, 1, f_parse_duration },
    { "print", 0, -1, f_print },
    { "printf", 1, -1, f_printf },
    { "reReplaceAll", 3, 3, f_re_replace_all },
    { "stripPort", 1, 1, f_strip_port },
    { "title", 1, 1, f_title },
    { "toLower", 1, 1, f_to_lower },
    { "toUpper", 1, 1, f_to_upper },
};

/* Prometheus functions left out on purpose: they query the store or render HTML. */
static const char *const unsupported[] = {
    "query", "first", "label", "value", "strvalue", "sortByLabel", "args", "tmpl", "safeHtml",
    "pathPrefix", "externalURL", "graphLink", "tableLink", "toTime", "toDuration", "now",
    "stripDomain", "index", "slice", "html", "js", "urlquery", "println", "call",
};

const tfunc_t *rules_tmpl_func_find(const char *name, bool *unsup)
{
    *unsup = false;
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
        if (strcmp(funcs[i].name, name) == 0)
            return &funcs[i];
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (strcmp(unsupported[i], name) == 0)
            *unsup = true;
    return NULL;
}
