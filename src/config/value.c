/*
 * value.c - text to typed value for every config type, and back.
 *
 * The same parsers read YAML scalars, flags and the schema's defaults, so the three can never
 * disagree. They are deliberately strict, as Prometheus is: a duration needs a unit, a number
 * is plain decimal (no hex, inf or nan), a bool is true or false. Each parser reports the
 * problem in `why` without location; callers add "file:line:col: key: " or "--key: ".
 */
#include "config/config_int.h"

#include "util/duration.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 4, 5)))
static int fail(int code, char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return code;
}

void config_quote(const char *text, char *out, size_t out_len)
{
    /* Long or binary input (fuzzers, a pasted file) must not flood the one-line message, and
     * invalid UTF-8 must not reach the JSON log, so both are cut or escaped here. */
    static const size_t shown_max = 40;
    size_t o = 0, shown = 0;
    if (out_len < 8) {
        if (out_len > 0)
            out[0] = '\0';
        return;
    }
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0';) {
        uint32_t c;
        size_t len = config_utf8_decode(p, &c);
        if (shown == shown_max || o + 8 >= out_len) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (len == 0 || c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", *p);
            len = 1;
        } else if (c == '"' || c == '\\') {
            o += (size_t)snprintf(out + o, out_len - o, "\\%c", *p);
        } else {
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
        shown++;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* ---- text ---------------------------------------------------------------------------- */

/* Length of the UTF-8 sequence at `p` with its code point in *cp, or 0 if it is not one. */
size_t config_utf8_decode(const unsigned char *p, uint32_t *cp)
{
    size_t len = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
               : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0)
        return 0;
    uint32_t c = len == 1 ? p[0] : p[0] & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3fu);
    }
    static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < min[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

static bool valid_utf8(const char *s)
{
    uint32_t c;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
        size_t len = config_utf8_decode(p, &c);
        if (len == 0)
            return false;
        p += len;
    }
    return true;
}

/* ---- durations ----------------------------------------------------------------------- */

#define DURATION_SYNTAX_TEXT "expected a duration like 1h30m, 15d or 500ms"

int config_parse_duration(const char *text, uint64_t *ms, char *why, size_t why_len)
{
    char q[64];
    config_quote(text, q, sizeof(q));
    int64_t v;
    duration_error_t e = duration_parse(text, strlen(text), &v);
    switch (e) {
    case DURATION_OK:
        *ms = (uint64_t)v;
        return 0;
    case DURATION_TOO_LONG:
        return fail(VIGIL_ERANGE, why, why_len, "duration %s is too long (at most 292y)", q);
    case DURATION_SYNTAX:
        return fail(VIGIL_EPARSE, why, why_len, DURATION_SYNTAX_TEXT ", got %s", q);
    case DURATION_EMPTY:
        return fail(VIGIL_EPARSE, why, why_len, DURATION_SYNTAX_TEXT ", got \"\"");
    default:
        return fail(VIGIL_EPARSE, why, why_len, DURATION_SYNTAX_TEXT ", got %s (%s)", q,
                    duration_error_text(e));
    }
}

void config_format_duration(uint64_t ms, char *out, size_t out_len)
{
    duration_format((int64_t)ms, out, out_len);
}

/* ---- sizes --------------------------------------------------------------------------- */

static const struct {
    const char *unit;
    unsigned    shift;
} size_units[] = {
    { "B", 0 },    { "KB", 10 }, { "KiB", 10 }, { "MB", 20 }, { "MiB", 20 },
    { "GB", 30 },  { "GiB", 30 }, { "TB", 40 }, { "TiB", 40 }, { "PB", 50 },
    { "PiB", 50 }, { "EB", 60 }, { "EiB", 60 },
};
#define SIZE_SYNTAX "expected a size like 512MB, 10MiB or 0"

int config_parse_size(const char *text, uint64_t *bytes, char *why, size_t why_len)
{
    char q[64];
    config_quote(text, q, sizeof(q));
    if (strcmp(text, "0") == 0) {
        *bytes = 0;
        return 0;
    }
    const char *p = text;
    if (*p == '-')
        return fail(VIGIL_EPARSE, why, why_len, SIZE_SYNTAX ", got %s (negative)", q);
    if (*p < '0' || *p > '9')
        return fail(VIGIL_EPARSE, why, why_len, SIZE_SYNTAX ", got %s", q);
    uint64_t n = 0;
    bool overflow = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            overflow = true;
        else
            n = n * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.')
        return fail(VIGIL_EPARSE, why, why_len,
                    SIZE_SYNTAX ", got %s (fractions are not allowed: 1536MiB, not 1.5GiB)", q);
    if (*p == '\0')
        return fail(VIGIL_EPARSE, why, why_len, SIZE_SYNTAX ", got %s (missing unit)", q);
    for (size_t u = 0; u < sizeof(size_units) / sizeof(size_units[0]); u++) {
        if (strcmp(p, size_units[u].unit) != 0)
            continue;
        if (overflow || n > (UINT64_MAX >> size_units[u].shift))
            return fail(VIGIL_ERANGE, why, why_len, "size %s is too large (at most 15EiB)", q);
        *bytes = n << size_units[u].shift;
        return 0;
    }
    return fail(VIGIL_EPARSE, why, why_len,
                SIZE_SYNTAX ", got %s (units are B, KB, MB, GB, TB, PB, EB or KiB ... EiB)", q);
}

void config_format_size(uint64_t bytes, char *out, size_t out_len)
{
    static const char *const iec[] = { "EiB", "PiB", "TiB", "GiB", "MiB", "KiB" };
    if (bytes == 0) {
        snprintf(out, out_len, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(iec) / sizeof(iec[0]); i++) {
        unsigned shift = 60 - 10 * (unsigned)i;
        if ((bytes & ((UINT64_C(1) << shift) - 1)) == 0) {
            snprintf(out, out_len, "%" PRIu64 "%s", bytes >> shift, iec[i]);
            return;
        }
    }
    snprintf(out, out_len, "%" PRIu64 "B", bytes);
}

/* ---- numbers and ranges -------------------------------------------------------------- */

void config_format_number(double v, char *out, size_t out_len)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, out_len, "%.0f", v);
        return;
    }
    /* Shortest text that reads back to the same double. */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, out_len, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* Formats a bound of `key` in the key's own notation (durations as "100ms", sizes "1GiB"). */
static void format_bound(const config_key_t *key, double v, char *out, size_t out_len)
{
    if (key->type == CONFIG_DURATION)
        config_format_duration((uint64_t)llround(v * 1000.0), out, out_len);
    else if (key->type == CONFIG_SIZE)
        config_format_size((uint64_t)v, out, out_len);
    else
        config_format_number(v, out, out_len);
}

void config_format_range(const config_key_t *key, char *out, size_t out_len)
{
    char lo[48], hi[48];
    format_bound(key, key->min, lo, sizeof(lo));
    format_bound(key, key->max, hi, sizeof(hi));
    bool lo_open = (key->flags & CONFIG_F_MIN_OPEN) != 0;
    bool hi_open = (key->flags & CONFIG_F_MAX_OPEN) != 0;
    const char *zero = (key->flags & CONFIG_F_ZERO_OK) ? "0, or " : "";
    const char *whole = (key->flags & CONFIG_F_INTEGER) ? "a whole number " : "";
    if (key->flags & CONFIG_F_NO_MAX)
        snprintf(out, out_len, "%s%s%s %s", zero, whole, lo_open ? "greater than" : "at least",
                 lo);
    else if (!lo_open && !hi_open)
        snprintf(out, out_len, "%s%sbetween %s and %s", zero, whole, lo, hi);
    else
        snprintf(out, out_len, "%s%s%s %s and %s %s", zero, whole,
                 lo_open ? "greater than" : "at least", lo, hi_open ? "less than" : "at most",
                 hi);
}

static bool in_range(const config_key_t *key, double v)
{
    if ((key->flags & CONFIG_F_ZERO_OK) && v == 0)
        return true;
    if ((key->flags & CONFIG_F_INTEGER) && v != floor(v))
        return false;
    if ((key->flags & CONFIG_F_MIN_OPEN) ? !(v > key->min) : !(v >= key->min))
        return false;
    if (key->flags & CONFIG_F_NO_MAX)
        return true;
    return (key->flags & CONFIG_F_MAX_OPEN) ? v < key->max : v <= key->max;
}

static int range_error(const config_key_t *key, const char *got, char *why, size_t why_len)
{
    char range[128];
    config_format_range(key, range, sizeof(range));
    return fail(VIGIL_ERANGE, why, why_len, "must be %s, got %s", range, got);
}

/* Plain decimal: [+-]digits[.digits][(e|E)[+-]digits], at least one digit before the
 * exponent. strtod alone would also take "inf", "nan", hex and leading blanks. */
static bool decimal_syntax(const char *s, bool integer)
{
    const char *p = s;
    size_t digits = 0;
    if (*p == '+' || *p == '-')
        p++;
    for (; *p >= '0' && *p <= '9'; p++)
        digits++;
    if (!integer && *p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (digits == 0)
        return false;
    if (!integer && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

static int parse_double(const config_key_t *key, const char *text, double *out, char *why,
                        size_t why_len)
{
    char q[64];
    config_quote(text, q, sizeof(q));
    if (!decimal_syntax(text, false))
        return fail(VIGIL_EPARSE, why, why_len, "expected a number, got %s", q);
    errno = 0;
    double v = strtod(text, NULL);
    if (!isfinite(v))
        return range_error(key, text, why, why_len);
    if (!in_range(key, v))
        return range_error(key, text, why, why_len);
    *out = v;
    return 0;
}

static int parse_int(const config_key_t *key, const char *text, int *out, char *why,
                     size_t why_len)
{
    char q[64];
    config_quote(text, q, sizeof(q));
    if (!decimal_syntax(text, true))
        return fail(VIGIL_EPARSE, why, why_len, "expected an integer, got %s", q);
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE || v < INT_MIN || v > INT_MAX || !in_range(key, (double)v))
        return range_error(key, text, why, why_len);
    *out = (int)v;
    return 0;
}

/* ---- addresses ----------------------------------------------------------------------- */

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
}

static bool valid_address(const char *s)
{
    const char *colon;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end == s + 1)
            return false;
        for (const char *p = s + 1; p < end; p++)
            if (!(host_char(*p) || *p == ':' || *p == '%'))
                return false;
        colon = end + 1;
        if (*colon != ':')
            return false;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return false;
        for (const char *p = s; p < colon; p++)
            if (!host_char(*p))
                return false;
    }
    const char *port = colon + 1;
    size_t len = strlen(port);
    if (len == 0 || len > 5)
        return false;
    for (const char *p = port; *p != '\0'; p++)
        if (*p < '0' || *p > '9')
            return false;
    return atoi(port) <= 65535;
}

/* ---- regexes ------------------------------------------------------------------------- */

/*
 * Compiles `text` the way the collectors will (collect_regex_compile: REG_EXTENDED |
 * REG_NOSUB) and throws the result away, so that a bad pattern is reported at its line and
 * column when the file is loaded, not first at agent start-up with no position at all.
 */
static int check_regex(const char *text, char *why, size_t why_len)
{
    regex_t re;
    int rc = regcomp(&re, text, REG_EXTENDED | REG_NOSUB);
    if (rc == 0) {
        regfree(&re);
        return 0;
    }
    char q[64], msg[128];
    config_quote(text, q, sizeof(q));
    regerror(rc, &re, msg, sizeof(msg));
    /* No regfree() here: POSIX defines it only for a compiled pattern, and a failed regcomp
     * releases what it allocated itself (glibc, musl). */
    return fail(rc == REG_ESPACE ? VIGIL_ENOMEM : VIGIL_EPARSE, why, why_len,
                "expected a POSIX extended regex, got %s (%s)", q, msg);
}

/* ---- the scalar dispatcher ----------------------------------------------------------- */

int config_parse_scalar(const config_key_t *key, const char *text, config_value_t *out,
                        char *why, size_t why_len)
{
    char q[64];
    config_quote(text, q, sizeof(q));
    memset(out, 0, sizeof(*out));
    switch (key->type) {
    case CONFIG_STRING:
    case CONFIG_ADDRESS:
        /* A YAML file is UTF-8 by definition; a flag could carry anything, and then the dump
         * would not load again. */
        if (!valid_utf8(text))
            return fail(VIGIL_EPARSE, why, why_len, "is not valid UTF-8: %s", q);
        if (key->type == CONFIG_ADDRESS && !valid_address(text))
            return fail(VIGIL_EPARSE, why, why_len,
                        "expected host:port like 127.0.0.1:9470, [::1]:9470 or :9470, got %s",
                        q);
        if ((key->flags & CONFIG_F_NONEMPTY) && *text == '\0')
            return fail(VIGIL_EPARSE, why, why_len, "must not be empty");
        if ((key->flags & CONFIG_F_REGEX) && *text != '\0') {
            int rc = check_regex(text, why, why_len);
            if (rc != 0)
                return rc;
        }
        out->s = strdup(text);
        return out->s != NULL ? 0 : fail(VIGIL_ENOMEM, why, why_len, "out of memory");
    case CONFIG_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "True") == 0 ||
            strcmp(text, "TRUE") == 0)
            out->b = true;
        else if (strcmp(text, "false") == 0 || strcmp(text, "False") == 0 ||
                 strcmp(text, "FALSE") == 0)
            out->b = false;
        else
            return fail(VIGIL_EPARSE, why, why_len, "expected true or false, got %s", q);
        return 0;
    case CONFIG_INT:
        return parse_int(key, text, &out->i, why, why_len);
    case CONFIG_DOUBLE:
        return parse_double(key, text, &out->d, why, why_len);
    case CONFIG_DURATION: {
        uint64_t ms;
        int rc = config_parse_duration(text, &ms, why, why_len);
        if (rc != 0)
            return rc;
        out->d = (double)ms / 1000.0;
        return in_range(key, out->d) ? 0 : range_error(key, text, why, why_len);
    }
    case CONFIG_SIZE: {
        int rc = config_parse_size(text, &out->u, why, why_len);
        if (rc != 0)
            return rc;
        return in_range(key, (double)out->u) ? 0 : range_error(key, text, why, why_len);
    }
    case CONFIG_ENUM: {
        char list[256];
        size_t o = 0;
        for (int i = 0; key->choices[i] != NULL; i++) {
            if (strcmp(text, key->choices[i]) == 0) {
                out->i = i;
                return 0;
            }
            o += (size_t)snprintf(list + o, o < sizeof(list) ? sizeof(list) - o : 0, "%s%s",
                                  i > 0 ? ", " : "", key->choices[i]);
        }
        return fail(VIGIL_EPARSE, why, why_len, "expected one of %s, got %s", list, q);
    }
    case CONFIG_NUMBER_LIST:
    case CONFIG_STRING_LIST:
    case CONFIG_TYPE_COUNT_:
        break;
    }
    return fail(VIGIL_EPARSE, why, why_len, "expected a %s", config_type_name(key->type));
}

/* ---- lists --------------------------------------------------------------------------- */

void config_list_init(const config_key_t *key, config_value_t *list)
{
    (void)key;  /* both list types start as all-zero; the key keeps the call sites honest */
    memset(list, 0, sizeof(*list));
}

int config_list_push(const config_key_t *key, config_value_t *list, const char *text,
                     char *why, size_t why_len)
{
    char q[64];
    config_quote(text, q, sizeof(q));
    if (key->type == CONFIG_NUMBER_LIST) {
        config_number_list_t *l = &list->nums;
        double v;
        if (l->count == CONFIG_NUMBER_LIST_MAX)
            return fail(VIGIL_ERANGE, why, why_len, "at most %d values",
                        CONFIG_NUMBER_LIST_MAX);
        int rc = parse_double(key, text, &v, why, why_len);
        if (rc != 0)
            return rc;
        if ((key->flags & CONFIG_F_INCREASING) && l->count > 0 && !(v > l->items[l->count - 1])) {
            char prev[48];
            config_format_number(l->items[l->count - 1], prev, sizeof(prev));
            return fail(VIGIL_ERANGE, why, why_len,
                        "values must be strictly increasing, got %s after %s", q, prev);
        }
        l->items[l->count++] = v;
        return 0;
    }
    config_string_list_t *l = &list->strs;
    if (l->count == CONFIG_STRING_LIST_MAX)
        return fail(VIGIL_ERANGE, why, why_len, "at most %d names", CONFIG_STRING_LIST_MAX);
    if (*text == '\0')
        return fail(VIGIL_EPARSE, why, why_len, "empty name in list");
    if (!valid_utf8(text))
        return fail(VIGIL_EPARSE, why, why_len, "is not valid UTF-8: %s", q);
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->items[i], text) == 0)
            return fail(VIGIL_EPARSE, why, why_len, "%s is listed twice", q);
    char *copy = strdup(text);
    char **items = copy != NULL ? realloc(l->items, (l->count + 1) * sizeof(*items)) : NULL;
    if (items == NULL) {
        free(copy);
        return fail(VIGIL_ENOMEM, why, why_len, "out of memory");
    }
    items[l->count++] = copy;
    l->items = items;
    return 0;
}

void config_value_release(const config_key_t *key, config_value_t *v)
{
    switch (key->type) {
    case CONFIG_STRING:
    case CONFIG_ADDRESS:
        free(v->s);
        v->s = NULL;
        break;
    case CONFIG_STRING_LIST:
        for (size_t i = 0; i < v->strs.count; i++)
            free(v->strs.items[i]);
        free(v->strs.items);
        v->strs.items = NULL;
        v->strs.count = 0;
        break;
    default:
        break;
    }
}
