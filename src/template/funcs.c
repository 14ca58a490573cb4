/*
 * funcs.c - the functions a template may call, as one table: Go's builtins (and, or, not,
 * len, index, slice, print, printf, println, eq, ne, lt, le, gt, ge, html, js, urlquery),
 * Prometheus's query-free functions (humanize*, title, toUpper, toLower, match,
 * reReplaceAll, safeHtml, stripPort, stripDomain, parseDuration, graphLink, tableLink,
 * externalURL, pathPrefix, args) and Alertmanager's (join, stringSlice, trimSpace).
 *
 * Functions that need a query engine or Go's time.Time (query, first, label, value,
 * sortByLabel, strvalue, toTime, since, date, tz, tmpl, call) are listed too, so a template
 * using them fails at compile time with the reason instead of "not defined".
 */
#include "template/tmpl_int.h"
#include "util/duration.h"
#include "util/re2posix.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TMPL_F_PAIRS_ 0x100u  /* exec.c's Pairs flag (for the type name only) */

/* ---- values: truth, type names, %v ----------------------------------------------------- */

bool tmpl_truth(const template_value_t *v)
{
    switch (v->kind) {
    case TEMPLATE_NIL:    return false;
    case TEMPLATE_BOOL:   return v->b;
    case TEMPLATE_INT:    return v->i != 0;
    case TEMPLATE_FLOAT:  return v->f != 0;
    case TEMPLATE_STRING: return v->s[0] != '\0';
    case TEMPLATE_LIST:   return v->n > 0;
    case TEMPLATE_MAP:    return (v->flags & TEMPLATE_F_STRUCT) || v->n > 0;
    }
    return false;
}

const char *tmpl_type_name(const template_value_t *v)
{
    switch (v->kind) {
    case TEMPLATE_NIL:    return "<nil>";
    case TEMPLATE_BOOL:   return "bool";
    case TEMPLATE_INT:    return "int";
    case TEMPLATE_FLOAT:  return "float64";
    case TEMPLATE_STRING: return "string";
    case TEMPLATE_LIST:
        return (v->flags & TEMPLATE_F_ALERTS) ? "template.Alerts"
             : (v->flags & TMPL_F_PAIRS_) ? "template.Pairs" : "[]interface {}";
    case TEMPLATE_MAP:
        return (v->flags & (TEMPLATE_F_LABELS | TEMPLATE_F_STRMAP)) ? "map[string]string"
             : (v->flags & TEMPLATE_F_STRUCT) ? "struct" : "map[string]interface {}";
    }
    return "?";
}

static int print_value(buf_t *b, const template_value_t *v, bool top)
{
    char num[64];
    int rc = 0;
    switch (v->kind) {
    case TEMPLATE_NIL:
        return buf_puts(b, top ? "<no value>" : "<nil>");
    case TEMPLATE_BOOL:
        return buf_puts(b, v->b ? "true" : "false");
    case TEMPLATE_INT:
        return buf_printf(b, "%lld", v->i);
    case TEMPLATE_FLOAT:
        template_format_float(v->f, num, sizeof(num));
        return buf_puts(b, num);
    case TEMPLATE_STRING:
        return buf_puts(b, v->s);
    case TEMPLATE_LIST:
        rc = buf_putc(b, '[');
        for (size_t i = 0; rc == 0 && i < v->n; i++) {
            if (i > 0)
                rc = buf_putc(b, ' ');
            if (rc == 0)
                rc = print_value(b, v->items[i], false);
        }
        return rc ? rc : buf_putc(b, ']');
    case TEMPLATE_MAP: {
        bool st = v->flags & TEMPLATE_F_STRUCT;
        rc = buf_puts(b, st ? "{" : "map[");
        for (size_t i = 0; rc == 0 && i < v->n; i++) {
            if (i > 0)
                rc = buf_putc(b, ' ');
            if (rc == 0 && !st)
                rc = buf_printf(b, "%s:", v->keys[i]);
            if (rc == 0)
                rc = print_value(b, v->items[i], false);
        }
        return rc ? rc : buf_puts(b, st ? "}" : "]");
    }
    }
    return 0;
}

int tmpl_print(tmpl_exec_t *ex, buf_t *b, const template_value_t *v)
{
    if (b != NULL)
        return print_value(b, v, true) == 0 ? 0
               : tmpl_exec_fail(ex, VIGIL_ELIMIT, "value too large to print");
    size_t room = ex->max_output - (ex->out->len - ex->out_start);
    buf_t tmp;
    buf_init(&tmp, room);
    int rc = print_value(&tmp, v, true);
    if (rc == 0 && tmp.len > 0 && buf_append(ex->out, tmp.data, tmp.len) != 0)
        rc = VIGIL_ENOMEM;
    buf_free(&tmp);
    if (rc == VIGIL_ELIMIT)
        return tmpl_exec_fail(ex, rc, "output larger than %zu bytes", ex->max_output);
    return rc ? tmpl_exec_fail(ex, rc, "out of memory") : 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

#define FN(name) static int name(tmpl_exec_t *ex, const template_value_t *const *a, int n, \
                                 const template_value_t **out)

static int oom(tmpl_exec_t *ex) { return tmpl_exec_fail(ex, VIGIL_ENOMEM, "out of memory"); }

static int ret_str(tmpl_exec_t *ex, const char *s, size_t len, const template_value_t **out)
{
    const template_value_t *v = tmpl_val_str(&ex->arena, s, len);
    if (v == NULL)
        return oom(ex);
    *out = v;
    return 0;
}

static int ret_buf(tmpl_exec_t *ex, buf_t *b, int rc, const template_value_t **out)
{
    if (rc == 0)
        rc = ret_str(ex, b->data ? b->data : "", b->len, out);
    else
        rc = tmpl_exec_fail(ex, rc, rc == VIGIL_ELIMIT ? "result too long" : "out of memory");
    buf_free(b);
    return rc;
}

static int ret_bool(tmpl_exec_t *ex, bool b, const template_value_t **out)
{
    template_value_t *v = tmpl_val_new(&ex->arena, TEMPLATE_BOOL);
    if (v == NULL)
        return oom(ex);
    v->b = b;
    *out = v;
    return 0;
}

static int ret_float(tmpl_exec_t *ex, double f, const template_value_t **out)
{
    template_value_t *v = tmpl_val_new(&ex->arena, TEMPLATE_FLOAT);
    if (v == NULL)
        return oom(ex);
    v->f = f;
    *out = v;
    return 0;
}

static int ret_int(tmpl_exec_t *ex, long long i, const template_value_t **out)
{
    template_value_t *v = tmpl_val_new(&ex->arena, TEMPLATE_INT);
    if (v == NULL)
        return oom(ex);
    v->i = i;
    *out = v;
    return 0;
}

/* The string in argument `v` of function `fn`, borrowed from `v`; NULL, with the error Go
 * would report recorded in ex, when `v` is not a string. Returning the string itself (not a
 * status plus an out-parameter) lets the compiler see that it is set on every used path. */
static const char *arg_str(tmpl_exec_t *ex, const char *fn, const template_value_t *v)
{
    if (v->kind != TEMPLATE_STRING) {
        tmpl_exec_fail(ex, VIGIL_EINVAL,
                       "error calling %s: wrong type for value; expected string; got %s", fn,
                       tmpl_type_name(v));
        return NULL;
    }
    return v->s;
}

/* Prometheus's convertToFloat: float64, int, or a string strconv.ParseFloat accepts. True
 * with *d set, or false with the error recorded in ex (and *d = 0, so *d is always set). */
static bool arg_float(tmpl_exec_t *ex, const char *fn, const template_value_t *v, double *d)
{
    *d = 0;
    switch (v->kind) {
    case TEMPLATE_FLOAT:
        *d = v->f;
        return true;
    case TEMPLATE_INT:
        *d = (double)v->i;
        return true;
    case TEMPLATE_STRING: {
        char *end;
        errno = 0;
        *d = strtod(v->s, &end);
        if (v->s[0] == '\0' || isspace((unsigned char)v->s[0]) || *end != '\0') {
            tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling %s: strconv.ParseFloat: parsing "
                           "\"%s\": invalid syntax", fn, v->s);
            return false;
        }
        return true;
    }
    default:
        tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling %s: can't convert %s to float", fn,
                       tmpl_type_name(v));
        return false;
    }
}

/* ---- Go builtins -------------------------------------------------------------------------- */

FN(fn_not) { (void)n; return ret_bool(ex, !tmpl_truth(a[0]), out); }

FN(fn_len)
{
    (void)n;
    switch (a[0]->kind) {
    case TEMPLATE_STRING: return ret_int(ex, (long long)strlen(a[0]->s), out);
    case TEMPLATE_LIST:
    case TEMPLATE_MAP:    return ret_int(ex, (long long)a[0]->n, out);
    case TEMPLATE_NIL:
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling len: len of nil pointer");
    default:
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling len: len of type %s",
                              tmpl_type_name(a[0]));
    }
}

FN(fn_index)
{
    const template_value_t *v = a[0];
    for (int i = 1; i < n; i++) {
        const template_value_t *k = a[i];
        if (v->kind == TEMPLATE_MAP) {
            if (k->kind != TEMPLATE_STRING)
                return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling index: value has type "
                                      "%s; should be string", tmpl_type_name(k));
            /* A missing key gives the zero value of the element type whatever the
             * missingkey option: "" for map[string]string, nil otherwise. */
            long at = tmpl_map_find(v, k->s);
            v = at >= 0 ? v->items[at]
              : (v->flags & (TEMPLATE_F_LABELS | TEMPLATE_F_STRMAP)) ? &tmpl_empty_string
              : &tmpl_nil;
        } else if (v->kind == TEMPLATE_LIST || v->kind == TEMPLATE_STRING) {
            if (k->kind != TEMPLATE_INT)
                return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling index: cannot index "
                                      "slice/array with type %s", tmpl_type_name(k));
            size_t len = v->kind == TEMPLATE_LIST ? v->n : strlen(v->s);
            if (k->i < 0 || (unsigned long long)k->i >= len)
                return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling index: index out of "
                                      "range: %lld", k->i);
            if (v->kind == TEMPLATE_LIST)
                v = v->items[k->i];
            else
                return ret_int(ex, (unsigned char)v->s[k->i], out);
        } else if (v->kind == TEMPLATE_NIL) {
            return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling index: index of untyped nil");
        } else {
            return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling index: can't index item of "
                                  "type %s", tmpl_type_name(v));
        }
    }
    *out = v;
    return 0;
}

FN(fn_slice)
{
    const template_value_t *v = a[0];
    if (v->kind != TEMPLATE_STRING && v->kind != TEMPLATE_LIST)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling slice: can't slice item of "
                              "type %s", tmpl_type_name(v));
    long long len = v->kind == TEMPLATE_LIST ? (long long)v->n : (long long)strlen(v->s);
    long long idx[2] = { 0, len };
    for (int i = 1; i < n; i++) {
        if (a[i]->kind != TEMPLATE_INT)
            return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling slice: cannot index slice/"
                                  "array with type %s", tmpl_type_name(a[i]));
        idx[i - 1] = a[i]->i;
    }
    if (idx[0] < 0 || idx[1] > len || idx[0] > idx[1])
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling slice: index out of range");
    if (v->kind == TEMPLATE_STRING)
        return ret_str(ex, v->s + idx[0], (size_t)(idx[1] - idx[0]), out);
    template_value_t *l = tmpl_val_new(&ex->arena, TEMPLATE_LIST);
    if (l == NULL)
        return oom(ex);
    for (long long i = idx[0]; i < idx[1]; i++)
        if (tmpl_val_push(&ex->arena, l, v->items[i]) != 0)
            return oom(ex);
    *out = l;
    return 0;
}

/* fmt.Sprint: a space between operands when neither is a string; Sprintln: always. */
static int sprint(tmpl_exec_t *ex, const template_value_t *const *a, int n, bool ln,
                  const template_value_t **out)
{
    buf_t b;
    buf_init(&b, ex->max_output);
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (i > 0 && (ln || (a[i]->kind != TEMPLATE_STRING &&
                             a[i - 1]->kind != TEMPLATE_STRING)))
            rc = buf_putc(&b, ' ');
        if (rc == 0)
            rc = print_value(&b, a[i], false);
    }
    if (rc == 0 && ln)
        rc = buf_putc(&b, '\n');
    return ret_buf(ex, &b, rc, out);
}

FN(fn_print) { return sprint(ex, a, n, false, out); }
FN(fn_println) { return sprint(ex, a, n, true, out); }

/* "%!d(string=foo)": Go's report of a verb that does not fit its operand. */
static int bad_verb(buf_t *b, char verb, const template_value_t *v)
{
    if (v->kind == TEMPLATE_NIL)
        return buf_printf(b, "%%!%c(<nil>)", verb);
    int rc = buf_printf(b, "%%!%c(%s=", verb, tmpl_type_name(v));
    if (rc == 0)
        rc = print_value(b, v, false);
    return rc ? rc : buf_putc(b, ')');
}

/* Pads `s` to `width` (Go: '-' left-justifies, '0' pads numbers with zeros after the sign). */
static int pad(buf_t *b, const char *s, int width, bool minus, bool zero)
{
    int len = (int)strlen(s), rc = 0;
    if (len >= width)
        return buf_puts(b, s);
    if (minus) {
        rc = buf_puts(b, s);
        for (int i = len; rc == 0 && i < width; i++)
            rc = buf_putc(b, ' ');
        return rc;
    }
    if (zero && (*s == '-' || *s == '+' || *s == ' ')) {
        rc = buf_putc(b, *s++);
        width--;
        len--;
    }
    for (int i = len; rc == 0 && i < width; i++)
        rc = buf_putc(b, zero ? '0' : ' ');
    return rc ? rc : buf_puts(b, s);
}

static int format_one(buf_t *b, char verb, const template_value_t *v, int width, int prec,
                      bool minus, bool plus, bool zero, bool space, bool sharp)
{
    buf_t tmp;
    buf_init(&tmp, b->max);
    char num[512];
    int rc = 0;
    bool numeric = false;
    switch (verb) {
    case 'v':
        if (v->kind == TEMPLATE_FLOAT) {
            tmpl_format_float_verb(v->f, 'g', prec, plus, space, num, sizeof(num));
            rc = buf_puts(&tmp, num);
            numeric = true;
        } else if (v->kind == TEMPLATE_NIL) {
            rc = buf_puts(&tmp, "<nil>");
        } else {
            rc = print_value(&tmp, v, false);
        }
        break;
    case 's':
    case 'q':
        if (v->kind == TEMPLATE_STRING) {
            if (verb == 'q') {
                rc = buf_put_go_quoted(&tmp, v->s);
            } else {
                size_t l = strlen(v->s);
                rc = buf_append(&tmp, v->s, prec >= 0 && (size_t)prec < l ? (size_t)prec : l);
            }
        } else if (v->kind == TEMPLATE_LIST && verb == 's') {
            rc = print_value(&tmp, v, false);
        } else {
            rc = bad_verb(&tmp, verb, v);
        }
        break;
    case 'd':
        if (v->kind == TEMPLATE_INT) {
            rc = buf_printf(&tmp, "%s%lld", plus && v->i >= 0 ? "+" : space && v->i >= 0 ? " " : "",
                            v->i);
            numeric = true;
        } else {
            rc = bad_verb(&tmp, verb, v);
        }
        break;
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
        if (v->kind == TEMPLATE_FLOAT) {
            tmpl_format_float_verb(v->f, verb == 'F' ? 'f' : verb, prec, plus, space, num,
                                   sizeof(num));
            rc = buf_puts(&tmp, num);
            numeric = true;
        } else {
            rc = bad_verb(&tmp, verb, v);
        }
        break;
    case 'x': case 'X':
        if (v->kind == TEMPLATE_INT) {
            rc = buf_printf(&tmp, verb == 'x' ? "%s%s%llx" : "%s%s%llX", v->i < 0 ? "-" : "",
                            sharp ? (verb == 'x' ? "0x" : "0X") : "",
                            (unsigned long long)(v->i < 0 ? -v->i : v->i));
            numeric = true;
        } else if (v->kind == TEMPLATE_STRING) {
            for (const char *s = v->s; rc == 0 && *s; s++)
                rc = buf_printf(&tmp, verb == 'x' ? "%02x" : "%02X", (unsigned char)*s);
        } else {
            rc = bad_verb(&tmp, verb, v);
        }
        break;
    case 't':
        rc = v->kind == TEMPLATE_BOOL ? buf_puts(&tmp, v->b ? "true" : "false")
                                      : bad_verb(&tmp, verb, v);
        break;
    case 'c':
        rc = v->kind == TEMPLATE_INT && v->i >= 0 && v->i < 128 ? buf_putc(&tmp, (char)v->i)
                                                                : bad_verb(&tmp, verb, v);
        break;
    default:
        rc = bad_verb(&tmp, verb, v);
    }
    if (rc == 0)
        rc = pad(b, tmp.data ? tmp.data : "", width, minus, zero && numeric);
    buf_free(&tmp);
    return rc;
}

FN(fn_printf)
{
    const char *f = arg_str(ex, "printf", a[0]);
    if (f == NULL)
        return ex->rc;
    buf_t b;
    buf_init(&b, ex->max_output);
    int argi = 1, rc = 0;
    for (const char *p = f; rc == 0 && *p; p++) {
        if (*p != '%') {
            rc = buf_putc(&b, *p);
            continue;
        }
        p++;
        bool minus = false, plus = false, zero = false, space = false, sharp = false;
        for (;; p++) {
            if (*p == '-') minus = true;
            else if (*p == '+') plus = true;
            else if (*p == '0') zero = !minus;
            else if (*p == ' ') space = true;
            else if (*p == '#') sharp = true;
            else break;
        }
        int width = 0, prec = -1;
        while (isdigit((unsigned char)*p) && width < 10000)
            width = width * 10 + (*p++ - '0');
        if (*p == '.') {
            p++;
            prec = 0;
            while (isdigit((unsigned char)*p) && prec < 10000)
                prec = prec * 10 + (*p++ - '0');
        }
        if (*p == '\0') {
            rc = buf_puts(&b, "%!(NOVERB)");
            break;
        }
        if (*p == '%') {
            rc = buf_putc(&b, '%');
            continue;
        }
        if (argi >= n) {
            rc = buf_printf(&b, "%%!%c(MISSING)", *p);
            continue;
        }
        rc = format_one(&b, *p, a[argi++], width, prec, minus, plus, zero, space, sharp);
    }
    if (rc == 0 && argi < n) {
        rc = buf_puts(&b, "%!(EXTRA ");
        for (int i = argi; rc == 0 && i < n; i++) {
            if (i > argi)
                rc = buf_puts(&b, ", ");
            if (rc == 0)
                rc = buf_printf(&b, "%s=", tmpl_type_name(a[i]));
            if (rc == 0)
                rc = print_value(&b, a[i], false);
        }
        if (rc == 0)
            rc = buf_putc(&b, ')');
    }
    return ret_buf(ex, &b, rc, out);
}

/* Go's basicKind classes for comparisons. */
typedef enum { K_INVALID, K_BOOL, K_INT, K_FLOAT, K_STRING, K_OTHER } basic_t;

static basic_t basic(const template_value_t *v)
{
    switch (v->kind) {
    case TEMPLATE_NIL:    return K_INVALID;
    case TEMPLATE_BOOL:   return K_BOOL;
    case TEMPLATE_INT:    return K_INT;
    case TEMPLATE_FLOAT:  return K_FLOAT;
    case TEMPLATE_STRING: return K_STRING;
    default:              return K_OTHER;
    }
}

static int fn_eq_impl(tmpl_exec_t *ex, const template_value_t *const *a, int n, bool *res)
{
    basic_t k1 = basic(a[0]);
    *res = false;
    for (int i = 1; i < n; i++) {
        basic_t k2 = basic(a[i]);
        bool truth = false;
        if (k1 != k2) {
            if (k1 != K_INVALID && k2 != K_INVALID)
                return tmpl_exec_fail(ex, VIGIL_EINVAL,
                                      "error calling eq: incompatible types for comparison");
        } else {
            switch (k1) {
            case K_INVALID: truth = true; break;
            case K_BOOL:    truth = a[0]->b == a[i]->b; break;
            case K_INT:     truth = a[0]->i == a[i]->i; break;
            case K_FLOAT:   truth = a[0]->f == a[i]->f; break;
            case K_STRING:  truth = strcmp(a[0]->s, a[i]->s) == 0; break;
            case K_OTHER:
                return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling eq: non-comparable "
                                      "type %s", tmpl_type_name(a[0]));
            }
        }
        if (truth) {
            *res = true;
            return 0;
        }
    }
    return 0;
}

FN(fn_eq)
{
    bool r;
    return fn_eq_impl(ex, a, n, &r) ? ex->rc : ret_bool(ex, r, out);
}

FN(fn_ne)
{
    bool r;
    return fn_eq_impl(ex, a, n, &r) ? ex->rc : ret_bool(ex, !r, out);
}

/* lt/le/gt/ge: op 0 lt, 1 le, 2 gt, 3 ge. */
static int order(tmpl_exec_t *ex, const template_value_t *const *a, int op, const char *name,
                 const template_value_t **out)
{
    basic_t k1 = basic(a[0]), k2 = basic(a[1]);
    if (k1 == K_INVALID || k1 == K_OTHER || k1 == K_BOOL || k2 == K_INVALID ||
        k2 == K_OTHER || k2 == K_BOOL)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling %s: invalid type for comparison",
                              name);
    if (k1 != k2)
        return tmpl_exec_fail(ex, VIGIL_EINVAL,
                              "error calling %s: incompatible types for comparison", name);
    int c;
    if (k1 == K_INT)
        c = a[0]->i < a[1]->i ? -1 : a[0]->i > a[1]->i;
    else if (k1 == K_FLOAT)
        c = a[0]->f < a[1]->f ? -1 : a[0]->f > a[1]->f ? 1 : a[0]->f == a[1]->f ? 0 : 2;
    else
        c = strcmp(a[0]->s, a[1]->s) < 0 ? -1 : strcmp(a[0]->s, a[1]->s) > 0;
    bool r = c == 2 ? false  /* NaN: unordered */
           : op == 0 ? c < 0 : op == 1 ? c <= 0 : op == 2 ? c > 0 : c >= 0;
    return ret_bool(ex, r, out);
}

FN(fn_lt) { (void)n; return order(ex, a, 0, "lt", out); }
FN(fn_le) { (void)n; return order(ex, a, 1, "le", out); }
FN(fn_gt) { (void)n; return order(ex, a, 2, "gt", out); }
FN(fn_ge) { (void)n; return order(ex, a, 3, "ge", out); }

/* The text of html/js/urlquery's arguments: fmt.Sprint of them, or the one string. */
static int args_text(tmpl_exec_t *ex, const template_value_t *const *a, int n, buf_t *b)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (i > 0 && a[i]->kind != TEMPLATE_STRING && a[i - 1]->kind != TEMPLATE_STRING)
            rc = buf_putc(b, ' ');
        if (rc == 0)
            rc = print_value(b, a[i], false);
    }
    return rc ? tmpl_exec_fail(ex, VIGIL_ELIMIT, "argument too long") : 0;
}

FN(fn_html)
{
    buf_t in, b;
    buf_init(&in, ex->max_output);
    buf_init(&b, ex->max_output);
    int rc = args_text(ex, a, n, &in);
    for (size_t i = 0; rc == 0 && i < in.len; i++) {
        switch (in.data[i]) {
        case '<':  rc = buf_puts(&b, "&lt;"); break;
        case '>':  rc = buf_puts(&b, "&gt;"); break;
        case '&':  rc = buf_puts(&b, "&amp;"); break;
        case '"':  rc = buf_puts(&b, "&#34;"); break;
        case '\'': rc = buf_puts(&b, "&#39;"); break;
        case '\0': rc = buf_puts(&b, "\xef\xbf\xbd"); break;
        default:   rc = buf_putc(&b, in.data[i]);
        }
    }
    buf_free(&in);
    return ex->rc ? ex->rc : ret_buf(ex, &b, rc, out);
}

FN(fn_js)
{
    buf_t in, b;
    buf_init(&in, ex->max_output);
    buf_init(&b, ex->max_output);
    int rc = args_text(ex, a, n, &in);
    for (size_t i = 0; rc == 0 && i < in.len; i++) {
        unsigned char c = (unsigned char)in.data[i];
        switch (c) {
        case '\\': rc = buf_puts(&b, "\\\\"); break;
        case '\'': rc = buf_puts(&b, "\\'"); break;
        case '"':  rc = buf_puts(&b, "\\\""); break;
        case '<':  rc = buf_puts(&b, "\\u003C"); break;
        case '>':  rc = buf_puts(&b, "\\u003E"); break;
        case '&':  rc = buf_puts(&b, "\\u0026"); break;
        case '=':  rc = buf_puts(&b, "\\u003D"); break;
        default:
            rc = c < ' ' ? buf_printf(&b, "\\u%04X", c) : buf_putc(&b, (char)c);
        }
    }
    buf_free(&in);
    return ex->rc ? ex->rc : ret_buf(ex, &b, rc, out);
}

/* url.QueryEscape */
static int query_escape(buf_t *b, const char *s)
{
    int rc = 0;
    for (; rc == 0 && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            rc = buf_putc(b, (char)c);
        else if (c == ' ')
            rc = buf_putc(b, '+');
        else
            rc = buf_printf(b, "%%%02X", c);
    }
    return rc;
}

FN(fn_urlquery)
{
    buf_t in, b;
    buf_init(&in, ex->max_output);
    buf_init(&b, ex->max_output * 3);
    int rc = args_text(ex, a, n, &in);
    if (rc == 0)
        rc = query_escape(&b, in.data ? in.data : "");
    buf_free(&in);
    return ex->rc ? ex->rc : ret_buf(ex, &b, rc, out);
}

/* ---- Prometheus ---------------------------------------------------------------------------- */

static int humanize_any(tmpl_exec_t *ex, const char *fn, const template_value_t *v,
                        void (*f)(double, char *, size_t), const template_value_t **out)
{
    double d;
    if (!arg_float(ex, fn, v, &d))
        return ex->rc;
    char s[128];
    f(d, s, sizeof(s));
    return ret_str(ex, s, strlen(s), out);
}

FN(fn_humanize) { (void)n; return humanize_any(ex, "humanize", a[0], tmpl_humanize, out); }
FN(fn_humanize1024)
{
    (void)n;
    return humanize_any(ex, "humanize1024", a[0], tmpl_humanize1024, out);
}
FN(fn_humanize_duration)
{
    (void)n;
    return humanize_any(ex, "humanizeDuration", a[0], tmpl_humanize_duration, out);
}
FN(fn_humanize_percentage)
{
    (void)n;
    return humanize_any(ex, "humanizePercentage", a[0], tmpl_humanize_percentage, out);
}
FN(fn_humanize_timestamp)
{
    (void)n;
    return humanize_any(ex, "humanizeTimestamp", a[0], tmpl_humanize_timestamp, out);
}

/* Byte-wise string mapping for toUpper / toLower / title (ASCII; other bytes unchanged). */
static int map_string(tmpl_exec_t *ex, const char *fn, const template_value_t *v, int mode,
                      const template_value_t **out)
{
    const char *s = arg_str(ex, fn, v);
    if (s == NULL)
        return ex->rc;
    size_t len = strlen(s);
    template_value_t *r = tmpl_val_str(&ex->arena, s, len);
    if (r == NULL)
        return oom(ex);
    bool sep = true;  /* strings.Title: a letter after a separator is upper-cased */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)r->s[i];
        if (mode == 0)
            r->s[i] = (char)toupper(c);
        else if (mode == 1)
            r->s[i] = (char)tolower(c);
        else {
            if (sep)
                r->s[i] = (char)toupper(c);
            sep = c < 0x80 && !isalnum(c) && c != '_';
        }
    }
    *out = r;
    return 0;
}

FN(fn_to_upper) { (void)n; return map_string(ex, "toUpper", a[0], 0, out); }
FN(fn_to_lower) { (void)n; return map_string(ex, "toLower", a[0], 1, out); }
FN(fn_title) { (void)n; return map_string(ex, "title", a[0], 2, out); }

FN(fn_trim_space)
{
    (void)n;
    const char *s = arg_str(ex, "trimSpace", a[0]);
    if (s == NULL)
        return ex->rc;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    return ret_str(ex, s, len, out);
}

FN(fn_safe_html)
{
    (void)n;
    const char *s = arg_str(ex, "safeHtml", a[0]);
    return s == NULL ? ex->rc : ret_str(ex, s, strlen(s), out);
}

/* net.SplitHostPort; false when Go would return an error. */
static bool split_host_port(const char *hp, const char **host, size_t *hlen, const char **port)
{
    if (hp[0] == '[') {
        const char *end = strchr(hp, ']');
        if (end == NULL || end[1] != ':')
            return false;
        *host = hp + 1;
        *hlen = (size_t)(end - hp - 1);
        *port = end + 2;
        return strchr(*port, ']') == NULL && strchr(*port, '[') == NULL;
    }
    const char *colon = strrchr(hp, ':');
    if (colon == NULL || memchr(hp, ':', (size_t)(colon - hp)) != NULL)
        return false;  /* missing port / too many colons */
    if (memchr(hp, '[', (size_t)(colon - hp)) || memchr(hp, ']', (size_t)(colon - hp)))
        return false;
    *host = hp;
    *hlen = (size_t)(colon - hp);
    *port = colon + 1;
    return true;
}

FN(fn_strip_port)
{
    (void)n;
    const char *s = arg_str(ex, "stripPort", a[0]), *host, *port;
    size_t hlen;
    if (s == NULL)
        return ex->rc;
    if (!split_host_port(s, &host, &hlen, &port))
        return ret_str(ex, s, strlen(s), out);
    return ret_str(ex, host, hlen, out);
}

FN(fn_strip_domain)
{
    (void)n;
    const char *s = arg_str(ex, "stripDomain", a[0]), *host, *port = "";
    size_t hlen;
    if (s == NULL)
        return ex->rc;
    if (!split_host_port(s, &host, &hlen, &port)) {
        host = s;
        hlen = strlen(s);
        port = "";
    }
    /* An IP address stays as it is (net.ParseIP). */
    char h[256];
    snprintf(h, sizeof(h), "%.*s", (int)(hlen < 255 ? hlen : 255), host);
    bool ip = strchr(h, ':') != NULL || (strspn(h, "0123456789.") == strlen(h) &&
                                         strchr(h, '.') != NULL);
    if (ip)
        return ret_str(ex, s, strlen(s), out);
    size_t first = strcspn(h, ".");
    buf_t b;
    buf_init(&b, 1024);
    bool v6 = memchr(h, ':', first) != NULL;
    int rc = *port != '\0' ? buf_printf(&b, v6 ? "[%.*s]:%s" : "%.*s:%s", (int)first, h, port)
                           : buf_printf(&b, "%.*s", (int)first, h);
    return ret_buf(ex, &b, rc, out);
}

FN(fn_parse_duration)
{
    (void)n;
    const char *s = arg_str(ex, "parseDuration", a[0]);
    if (s == NULL)
        return ex->rc;
    int64_t ms;
    duration_error_t e = duration_parse(s, strlen(s), &ms);
    if (e != DURATION_OK)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling parseDuration: not a valid "
                              "duration string: \"%s\"", s);
    return ret_float(ex, (double)ms / 1000.0, out);
}

static int link(tmpl_exec_t *ex, const char *fn, const template_value_t *v, int tab,
                const template_value_t **out)
{
    const char *expr = arg_str(ex, fn, v);
    if (expr == NULL)
        return ex->rc;
    buf_t b;
    buf_init(&b, ex->max_output);
    /* Prometheus: pathPrefix + "/graph?g0.expr=" + url.QueryEscape(expr) + "&g0.tab=N" */
    const char *ext = ex->opts->external_url ? ex->opts->external_url : "";
    const char *path = strstr(ext, "://");
    path = path ? strchr(path + 3, '/') : ext;
    int rc = buf_puts(&b, path ? path : "");
    if (rc == 0)
        rc = buf_puts(&b, "/graph?g0.expr=");
    if (rc == 0)
        rc = query_escape(&b, expr);
    if (rc == 0)
        rc = buf_printf(&b, "&g0.tab=%d", tab);
    return ret_buf(ex, &b, rc, out);
}

FN(fn_graph_link) { (void)n; return link(ex, "graphLink", a[0], 0, out); }
FN(fn_table_link) { (void)n; return link(ex, "tableLink", a[0], 1, out); }

FN(fn_external_url)
{
    (void)a;
    (void)n;
    const char *u = ex->opts->external_url ? ex->opts->external_url : "";
    return ret_str(ex, u, strlen(u), out);
}

FN(fn_path_prefix)
{
    (void)a;
    (void)n;
    const char *u = ex->opts->external_url ? ex->opts->external_url : "";
    const char *p = strstr(u, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    return ret_str(ex, p ? p : "", p ? strlen(p) : 0, out);
}

FN(fn_args)
{
    template_value_t *m = tmpl_val_new(&ex->arena, TEMPLATE_MAP);
    if (m == NULL)
        return oom(ex);
    /* keys arg0..argN sort as strings: arg0 arg1 arg10 arg11 ... arg2; insert in that order */
    char names[64][8];
    int idx[64], cnt = n < 64 ? n : 64;
    for (int i = 0; i < cnt; i++) {
        snprintf(names[i], sizeof(names[i]), "arg%d", i);
        idx[i] = i;
    }
    for (int i = 1; i < cnt; i++)
        for (int j = i; j > 0 && strcmp(names[idx[j - 1]], names[idx[j]]) > 0; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (int i = 0; i < cnt; i++) {
        char *k = tmpl_arena_strndup(&ex->arena, names[idx[i]], strlen(names[idx[i]]));
        if (k == NULL || tmpl_val_put(&ex->arena, m, k, a[idx[i]]) != 0)
            return oom(ex);
    }
    *out = m;
    return 0;
}

/* ---- regular expressions ---------------------------------------------------------------------- */

static int compile_re(tmpl_exec_t *ex, const char *fn, const char *pat, re2posix_t *re)
{
    vigil_error_t why;
    if (re2posix_compile(re, pat, 0, &why) != 0)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling %s: %s", fn, why.message);
    return 0;
}

FN(fn_match)
{
    (void)n;
    const char *pat = arg_str(ex, "match", a[0]);
    const char *s = pat != NULL ? arg_str(ex, "match", a[1]) : NULL;
    if (s == NULL)
        return ex->rc;
    re2posix_t re;
    if (compile_re(ex, "match", pat, &re) != 0)
        return ex->rc;
    bool m = re2posix_matches(&re, s);
    re2posix_free(&re);
    return ret_bool(ex, m, out);
}

/* Appends repl with $1 / ${1} / $$ expanded as Go's Regexp.Expand does ($name takes the
 * longest run of letters, digits and '_'; unknown names and numbers expand to nothing).
 * m[g] is RE2 group g, for g < nm. */
static int expand(buf_t *b, const char *repl, const char *s, const regmatch_t *m, int nm)
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
        const char *name = p + 1;
        size_t len;
        bool braced = *name == '{';
        if (braced) {
            name++;
            const char *close = strchr(name, '}');
            len = close ? (size_t)(close - name) : 0;
            if (close == NULL || len == 0 ||
                strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789_") < len) {
                rc = buf_putc(b, '$');  /* malformed: the '$' is literal */
                continue;
            }
            p = close;
        } else {
            len = strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_");
            if (len == 0) {
                rc = buf_putc(b, '$');
                continue;
            }
            p = name + len - 1;
        }
        if (strspn(name, "0123456789") >= len && len < 9) {
            int g = atoi(name);
            if (g < nm && m[g].rm_so >= 0)
                rc = buf_append(b, s + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
        }
    }
    return rc;
}

FN(fn_re_replace_all)
{
    (void)n;
    const char *pat = arg_str(ex, "reReplaceAll", a[0]);
    const char *repl = pat != NULL ? arg_str(ex, "reReplaceAll", a[1]) : NULL;
    const char *s = repl != NULL ? arg_str(ex, "reReplaceAll", a[2]) : NULL;
    if (s == NULL)
        return ex->rc;
    re2posix_t re;
    if (compile_re(ex, "reReplaceAll", pat, &re) != 0)
        return ex->rc;
    regmatch_t m[10];
    buf_t b;
    buf_init(&b, ex->max_output);
    int rc = 0;
    /* Go's Regexp.ReplaceAllString loop: no replacement for an empty match right after the
     * previous match, and always advance by at least one character (UTF-8 aware). */
    size_t len = strlen(s), search = 0, last_end = 0;
    while (rc == 0 && search <= len) {
        if (!re2posix_exec(&re, s + search, search > 0 ? REG_NOTBOL : 0, m, 10))
            break;
        for (int i = 0; i < 10; i++)
            if (m[i].rm_so >= 0) {
                m[i].rm_so += (regoff_t)search;
                m[i].rm_eo += (regoff_t)search;
            }
        size_t so = (size_t)m[0].rm_so, eo = (size_t)m[0].rm_eo;
        rc = buf_append(&b, s + last_end, so - last_end);
        if (rc == 0 && (eo > last_end || so == 0))
            rc = expand(&b, repl, s, m, 10);
        last_end = eo;
        size_t width = 0;
        if (search < len) {
            unsigned char c = (unsigned char)s[search];
            width = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            if (search + width > len)
                width = len - search;
        }
        if (search + width > eo)
            search += width;
        else if (search + 1 > eo)
            search++;
        else
            search = eo;
    }
    if (rc == 0 && last_end < len)
        rc = buf_append(&b, s + last_end, len - last_end);
    re2posix_free(&re);
    return ret_buf(ex, &b, rc, out);
}

/* ---- Alertmanager ------------------------------------------------------------------------ */

FN(fn_join)
{
    (void)n;
    const char *sep = arg_str(ex, "join", a[0]);
    if (sep == NULL)
        return ex->rc;
    if (a[1]->kind != TEMPLATE_LIST)
        return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling join: wrong type for value; "
                              "expected []string; got %s", tmpl_type_name(a[1]));
    buf_t b;
    buf_init(&b, ex->max_output);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a[1]->n; i++) {
        const template_value_t *it = a[1]->items[i];
        if (it->kind != TEMPLATE_STRING) {
            buf_free(&b);
            return tmpl_exec_fail(ex, VIGIL_EINVAL, "error calling join: wrong type for value; "
                                  "expected []string; got a list holding %s",
                                  tmpl_type_name(it));
        }
        if (i > 0)
            rc = buf_puts(&b, sep);
        if (rc == 0)
            rc = buf_puts(&b, it->s);
    }
    return ret_buf(ex, &b, rc, out);
}

FN(fn_string_slice)
{
    template_value_t *l = tmpl_val_new(&ex->arena, TEMPLATE_LIST);
    if (l == NULL)
        return oom(ex);
    for (int i = 0; i < n; i++) {
        if (arg_str(ex, "stringSlice", a[i]) == NULL)
            return ex->rc;
        if (tmpl_val_push(&ex->arena, l, a[i]) != 0)
            return oom(ex);
    }
    *out = l;
    return 0;
}

/* ---- the table ------------------------------------------------------------------------------- */

static const tmpl_func_t funcs[] = {
    /* Go text/template builtins */
    { "and", 1, -1, NULL },
    { "or", 1, -1, NULL },
    { "not", 1, 1, fn_not },
    { "len", 1, 1, fn_len },
    { "index", 1, -1, fn_index },
    { "slice", 1, 3, fn_slice },
    { "print", 0, -1, fn_print },
    { "printf", 1, -1, fn_printf },
    { "println", 0, -1, fn_println },
    { "eq", 2, -1, fn_eq },
    { "ne", 2, 2, fn_ne },
    { "lt", 2, 2, fn_lt },
    { "le", 2, 2, fn_le },
    { "gt", 2, 2, fn_gt },
    { "ge", 2, 2, fn_ge },
    { "html", 0, -1, fn_html },
    { "js", 0, -1, fn_js },
    { "urlquery", 0, -1, fn_urlquery },
    /* Prometheus */
    { "humanize", 1, 1, fn_humanize },
    { "humanize1024", 1, 1, fn_humanize1024 },
    { "humanizeDuration", 1, 1, fn_humanize_duration },
    { "humanizePercentage", 1, 1, fn_humanize_percentage },
    { "humanizeTimestamp", 1, 1, fn_humanize_timestamp },
    { "title", 1, 1, fn_title },
    { "toUpper", 1, 1, fn_to_upper },
    { "toLower", 1, 1, fn_to_lower },
    { "match", 2, 2, fn_match },
    { "reReplaceAll", 3, 3, fn_re_replace_all },
    { "safeHtml", 1, 1, fn_safe_html },
    { "stripPort", 1, 1, fn_strip_port },
    { "stripDomain", 1, 1, fn_strip_domain },
    { "parseDuration", 1, 1, fn_parse_duration },
    { "graphLink", 1, 1, fn_graph_link },
    { "tableLink", 1, 1, fn_table_link },
    { "externalURL", 0, 0, fn_external_url },
    { "pathPrefix", 0, 0, fn_path_prefix },
    { "args", 0, -1, fn_args },
    /* Alertmanager */
    { "join", 2, 2, fn_join },
    { "stringSlice", 0, -1, fn_string_slice },
    { "trimSpace", 1, 1, fn_trim_space },
};

/* Known functions vigil leaves out on purpose, with the reason a user sees. */
static const struct { const char *name, *why; } unsupported[] = {
    { "query", "templates cannot run queries in vigil" },
    { "first", "it works on query results, and templates cannot run queries in vigil" },
    { "label", "it works on query results, and templates cannot run queries in vigil" },
    { "value", "it works on query results, and templates cannot run queries in vigil" },
    { "sortByLabel", "it works on query results, and templates cannot run queries in vigil" },
    { "strvalue", "it works on query results, and templates cannot run queries in vigil" },
    { "tmpl", "console templates do not exist in vigil" },
    { "toTime", "time values are not supported yet" },
    { "since", "time values are not supported yet" },
    { "date", "time values are not supported yet" },
    { "tz", "time values are not supported yet" },
    { "call", "templates have no function values" },
};

const tmpl_func_t *tmpl_func_find(const char *name, const char **why)
{
    *why = NULL;
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
        if (strcmp(funcs[i].name, name) == 0)
            return &funcs[i];
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (strcmp(unsupported[i].name, name) == 0)
            *why = unsupported[i].why;
    return NULL;
}

const char *template_function_name(size_t i)
{
    return i < sizeof(funcs) / sizeof(funcs[0]) ? funcs[i].name : NULL;
}
