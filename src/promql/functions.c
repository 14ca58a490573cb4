/*
 * functions.c - the PromQL function table and the instant-vector functions (math, clamp,
 * round, time and date, label_replace/label_join, sort*, scalar, vector, timestamp, absent).
 * Range-vector functions and histogram_quantile/fraction live in functions_range.c.
 *
 * The table mirrors Prometheus' parser.Functions: argument types, how many trailing arguments
 * are optional (variadic > 0) or repeatable (-1), the return type. Functions that only act on
 * native histograms return nothing for float samples (what Prometheus does with floats).
 */
#include "promql/promql_int.h"
#include "promql/functions_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Go's math.Max/Min: NaN wins. */
static double go_max(double a, double b)
{
    if (isnan(a) || isnan(b))
        return NAN;
    return a > b ? a : b;
}

static double go_min(double a, double b)
{
    if (isnan(a) || isnan(b))
        return NAN;
    return a < b ? a : b;
}

vector_t fn_new_vector(evalctx_t *c, size_t n)
{
    vector_t v = { arena_alloc(c->scratch, (n + 1) * sizeof(sample_t)), 0 };
    return v;
}

/* Applies f to every sample, dropping the name (delayed). */
static int map_vector(evalctx_t *c, value_t *in, int64_t t, value_t *out, double (*f)(double))
{
    out->type = PT_VECTOR;
    out->vec = fn_new_vector(c, in->vec.n);
    for (size_t i = 0; i < in->vec.n; i++)
        out->vec.s[out->vec.n++] = (sample_t){ in->vec.s[i].lbls, t, f(in->vec.s[i].v), true };
    return 0;
}

#define MATH_FN(name, expr)                                                              \
    static double m_##name(double x) { return (expr); }                                  \
    static int f_##name(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o) \
    {                                                                                    \
        return map_vector(c, &a[0], t, o, m_##name);                                     \
    }

MATH_FN(abs, fabs(x))
MATH_FN(ceil, ceil(x))
MATH_FN(floor, floor(x))
MATH_FN(exp, exp(x))
MATH_FN(sqrt, sqrt(x))
MATH_FN(ln, log(x))
MATH_FN(log2, log2(x))
MATH_FN(log10, log10(x))
MATH_FN(sin, sin(x))
MATH_FN(cos, cos(x))
MATH_FN(tan, tan(x))
MATH_FN(asin, asin(x))
MATH_FN(acos, acos(x))
MATH_FN(atan, atan(x))
MATH_FN(sinh, sinh(x))
MATH_FN(cosh, cosh(x))
MATH_FN(tanh, tanh(x))
MATH_FN(asinh, asinh(x))
MATH_FN(acosh, acosh(x))
MATH_FN(atanh, atanh(x))
MATH_FN(deg, x * 180 / M_PI)
MATH_FN(rad, x * M_PI / 180)
MATH_FN(sgn, isnan(x) ? x : x > 0 ? 1 : x < 0 ? -1 : 0)

static int f_pi(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_SCALAR;
    o->scalar = M_PI;
    return 0;
}

static int f_time(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_SCALAR;
    o->scalar = (double)t / 1000.0;
    return 0;
}

static int f_min_of(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_SCALAR;
    o->scalar = go_min(a[0].scalar, a[1].scalar);
    return 0;
}

static int f_max_of(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_SCALAR;
    o->scalar = go_max(a[0].scalar, a[1].scalar);
    return 0;
}

static int f_scalar(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_SCALAR;
    o->scalar = a[0].vec.n == 1 ? a[0].vec.s[0].v : NAN;
    return 0;
}

static int f_vector(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, 1);
    o->vec.s[o->vec.n++] = (sample_t){ { NULL, 0 }, t, a[0].scalar, false };
    return 0;
}

static int f_timestamp(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, a[0].vec.n);
    for (size_t i = 0; i < a[0].vec.n; i++)
        o->vec.s[o->vec.n++] = (sample_t){ a[0].vec.s[i].lbls, t,
                                           (double)a[0].vec.s[i].t / 1000.0, true };
    return 0;
}

static int f_clamp(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    double lo = a[1].scalar, hi = a[2].scalar;
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, a[0].vec.n);
    if (hi < lo)
        return 0;
    for (size_t i = 0; i < a[0].vec.n; i++)
        o->vec.s[o->vec.n++] = (sample_t){ a[0].vec.s[i].lbls, t,
                                           go_max(lo, go_min(hi, a[0].vec.s[i].v)), true };
    return 0;
}

static int f_clamp_max(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, a[0].vec.n);
    for (size_t i = 0; i < a[0].vec.n; i++)
        o->vec.s[o->vec.n++] = (sample_t){ a[0].vec.s[i].lbls, t,
                                           go_min(a[1].scalar, a[0].vec.s[i].v), true };
    return 0;
}

static int f_clamp_min(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, a[0].vec.n);
    for (size_t i = 0; i < a[0].vec.n; i++)
        o->vec.s[o->vec.n++] = (sample_t){ a[0].vec.s[i].lbls, t,
                                           go_max(a[1].scalar, a[0].vec.s[i].v), true };
    return 0;
}

static int f_round(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    double to = e->call.n > 1 ? a[1].scalar : 1;
    double inv = 1.0 / to;
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, a[0].vec.n);
    for (size_t i = 0; i < a[0].vec.n; i++)
        o->vec.s[o->vec.n++] = (sample_t){ a[0].vec.s[i].lbls, t,
                                           floor(a[0].vec.s[i].v * inv + 0.5) / inv, true };
    return 0;
}

/* ---- date functions ---- */

static int date_fn(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o,
                   double (*f)(const struct tm *))
{
    o->type = PT_VECTOR;
    if (e->call.n == 0) {
        o->vec = fn_new_vector(c, 1);
        time_t secs = (time_t)(t / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        o->vec.s[o->vec.n++] = (sample_t){ { NULL, 0 }, t, f(&tm), false };
        return 0;
    }
    o->vec = fn_new_vector(c, a[0].vec.n);
    for (size_t i = 0; i < a[0].vec.n; i++) {
        double v = a[0].vec.s[i].v;
        if (isnan(v) || isinf(v) || fabs(v) > 1e15)
            continue;   /* no calendar date: Prometheus drops such samples too */
        time_t secs = (time_t)v;
        struct tm tm;
        gmtime_r(&secs, &tm);
        o->vec.s[o->vec.n++] = (sample_t){ a[0].vec.s[i].lbls, t, f(&tm), true };
    }
    return 0;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static double d_dim(const struct tm *tm)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y = tm->tm_year + 1900;
    return tm->tm_mon == 1 && leap(y) ? 29 : days[tm->tm_mon];
}
static double d_dom(const struct tm *tm) { return tm->tm_mday; }
static double d_dow(const struct tm *tm) { return tm->tm_wday; }
static double d_doy(const struct tm *tm) { return tm->tm_yday + 1; }
static double d_hour(const struct tm *tm) { return tm->tm_hour; }
static double d_minute(const struct tm *tm) { return tm->tm_min; }
static double d_month(const struct tm *tm) { return tm->tm_mon + 1; }
static double d_year(const struct tm *tm) { return tm->tm_year + 1900; }

#define DATE_FN(name, fn)                                                                \
    static int f_##name(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o) \
    {                                                                                    \
        return date_fn(c, e, a, t, o, fn);                                               \
    }
DATE_FN(days_in_month, d_dim)
DATE_FN(day_of_month, d_dom)
DATE_FN(day_of_week, d_dow)
DATE_FN(day_of_year, d_doy)
DATE_FN(hour, d_hour)
DATE_FN(minute, d_minute)
DATE_FN(month, d_month)
DATE_FN(year, d_year)

/* ---- labels ---- */

static bool valid_label_name(const char *s)
{
    if (*s == '\0')
        return false;
    /* UTF-8 label names are valid in Prometheus 3; refuse only invalid UTF-8. */
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
                : (*p & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0)
            return false;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += len;
    }
    return true;
}

/* Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$. Only numbered groups exist here. */
static char *expand(arena_t *a, const char *tmpl, const char *src, const int *m, int nm)
{
    buf_t b;
    buf_init(&b, (size_t)1 << 20);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '$') {
            buf_putc(&b, *p);
            continue;
        }
        if (p[1] == '$') {
            buf_putc(&b, '$');
            p++;
            continue;
        }
        const char *name = p + 1, *end;
        bool braced = *name == '{';
        if (braced)
            name++;
        end = name;
        while (isalnum((unsigned char)*end) || *end == '_')
            end++;
        if (end == name || (braced && *end != '}')) {
            buf_putc(&b, '$');
            continue;
        }
        bool num = true;
        for (const char *q = name; q < end; q++)
            num = num && isdigit((unsigned char)*q);
        if (num) {
            int g = atoi(name);
            if (g < nm && m[2 * g] >= 0)
                buf_append(&b, src + m[2 * g], (size_t)(m[2 * g + 1] - m[2 * g]));
        }
        p = braced ? end : end - 1;
    }
    char *s = arena_strdup(a, b.data != NULL ? b.data : "");
    buf_free(&b);
    return s;
}

static int f_label_replace(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    const char *dst = a[1].str, *repl = a[2].str, *src = a[3].str, *re_s = a[4].str;
    expr_t *node = (expr_t *)e;
    if (node->call.cache == NULL) {
        char eb[200];
        void *re = promql_regex_compile(re_s, true, eb, sizeof(eb));
        if (re == NULL)
            return eval_error(c, VIGIL_EINVAL, "invalid regular expression in label_replace(): %s",
                              re_s);
        arena_defer(c->a, promql_regex_free, re);
        node->call.cache = re;
    }
    if (!valid_label_name(dst))
        return eval_error(c, VIGIL_EINVAL, "invalid destination label name in label_replace(): %s", dst);
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, a[0].vec.n);
    for (size_t i = 0; i < a[0].vec.n; i++) {
        sample_t s = a[0].vec.s[i];
        const char *sv = labels_get(s.lbls, src);
        if (sv == NULL)
            sv = "";
        int m[20];
        for (int k = 0; k < 20; k++)
            m[k] = -1;
        if (promql_regex_match(node->call.cache, sv, m, 10)) {
            char *res = expand(c->scratch, repl, sv, m, 10);
            s.lbls = labels_set(c->scratch, s.lbls, arena_strdup(c->scratch, dst), res);
            if (strcmp(dst, LABEL_NAME) == 0)
                s.drop_name = false;
        }
        s.t = t;
        o->vec.s[o->vec.n++] = s;
    }
    return 0;
}

static int f_label_join(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    const char *dst = a[1].str, *sep = a[2].str;
    if (!valid_label_name(dst))
        return eval_error(c, VIGIL_EINVAL, "invalid destination label name in label_join(): %s", dst);
    for (size_t j = 3; j < e->call.n; j++)
        if (!valid_label_name(a[j].str))
            return eval_error(c, VIGIL_EINVAL, "invalid source label name in label_join(): %s",
                              a[j].str);
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, a[0].vec.n);
    buf_t b;
    buf_init(&b, (size_t)1 << 20);
    for (size_t i = 0; i < a[0].vec.n; i++) {
        sample_t s = a[0].vec.s[i];
        buf_reset(&b);
        for (size_t j = 3; j < e->call.n; j++) {
            if (j > 3)
                buf_puts(&b, sep);
            const char *v = labels_get(s.lbls, a[j].str);
            buf_puts(&b, v != NULL ? v : "");
        }
        s.lbls = labels_set(c->scratch, s.lbls, arena_strdup(c->scratch, dst),
                            arena_strdup(c->scratch, b.data != NULL ? b.data : ""));
        if (strcmp(dst, LABEL_NAME) == 0)
            s.drop_name = false;
        s.t = t;
        o->vec.s[o->vec.n++] = s;
    }
    buf_free(&b);
    return 0;
}

/* ---- sorting ---- */

typedef int (*sample_cmp_t)(const sample_t *, const sample_t *, const value_t *args, size_t n);

static void stable_sort(sample_t *s, size_t n, sample_cmp_t cmp, const value_t *args,
                        size_t nargs, arena_t *a)
{
    if (n < 2)
        return;
    sample_t *tmp = arena_alloc(a, n * sizeof(*tmp));
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = cmp(&s[j], &s[i], args, nargs) < 0 ? s[j++] : s[i++];
            while (i < mid)
                tmp[k++] = s[i++];
            while (j < hi)
                tmp[k++] = s[j++];
        }
        memcpy(s, tmp, n * sizeof(*s));
    }
}

static int cmp_asc(const sample_t *x, const sample_t *y, const value_t *a, size_t n)
{
    if (isnan(x->v))
        return isnan(y->v) ? 0 : 1;
    if (isnan(y->v))
        return -1;
    return x->v < y->v ? -1 : x->v > y->v;
}

static int cmp_desc(const sample_t *x, const sample_t *y, const value_t *a, size_t n)
{
    if (isnan(x->v))
        return isnan(y->v) ? 0 : 1;
    if (isnan(y->v))
        return -1;
    return x->v > y->v ? -1 : x->v < y->v;
}

/* Natural order: runs of digits compare by value. */
static int natcmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            const char *ea = a, *eb = b;
            while (isdigit((unsigned char)*ea))
                ea++;
            while (isdigit((unsigned char)*eb))
                eb++;
            if (ea - a != eb - b)
                return ea - a < eb - b ? -1 : 1;
            int c = strncmp(a, b, (size_t)(ea - a));
            if (c != 0)
                return c;
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static int cmp_by_label(const sample_t *x, const sample_t *y, const value_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        const char *lx = labels_get(x->lbls, a[i].str), *ly = labels_get(y->lbls, a[i].str);
        int c = natcmp(lx ? lx : "", ly ? ly : "");
        if (c != 0)
            return c;
    }
    return labels_cmp(x->lbls, y->lbls);
}

static int cmp_by_label_desc(const sample_t *x, const sample_t *y, const value_t *a, size_t n)
{
    return -cmp_by_label(x, y, a, n);
}

static int sort_fn(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o,
                   sample_cmp_t cmp)
{
    if (c->range_query)
        eval_annotate(c, true, e,
                      "sort is ineffective for range queries since results are always ordered by labels");
    *o = a[0];
    o->vec.s = fn_new_vector(c, a[0].vec.n).s;
    if (a[0].vec.n > 0)
        memcpy(o->vec.s, a[0].vec.s, a[0].vec.n * sizeof(sample_t));
    for (size_t i = 0; i < o->vec.n; i++)
        o->vec.s[i].t = t;
    stable_sort(o->vec.s, o->vec.n, cmp, a, e->call.n, c->scratch);
    return 0;
}

static int f_sort(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return sort_fn(c, e, a, t, o, cmp_asc);
}

static int f_sort_desc(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return sort_fn(c, e, a, t, o, cmp_desc);
}

static int f_sort_by_label(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return sort_fn(c, e, a, t, o, cmp_by_label);
}

static int f_sort_by_label_desc(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return sort_fn(c, e, a, t, o, cmp_by_label_desc);
}

/* ---- absent ---- */

/* Labels for absent(): the equality matchers of the selector, names set twice left out. */
promql_labels_t fn_absent_labels(evalctx_t *c, const expr_t *arg)
{
    while (arg->kind == N_PAREN)
        arg = arg->paren.e;
    if (arg->kind == N_MATRIX_SEL)
        arg = arg->ms.vs;
    if (arg->kind != N_VECTOR_SEL)
        return (promql_labels_t){ NULL, 0 };
    promql_labels_t l = { NULL, 0 };
    for (size_t i = 0; i < arg->vs.n; i++) {
        const promql_matcher_t *m = &arg->vs.ms[i];
        if (m->op != PROMQL_MATCH_EQ || strcmp(m->name, LABEL_NAME) == 0)
            continue;
        bool twice = false;
        for (size_t j = 0; j < arg->vs.n; j++)
            if (j != i && strcmp(arg->vs.ms[j].name, m->name) == 0)
                twice = true;
        if (!twice)
            l = labels_set(c->scratch, l, m->name, m->value);
    }
    return l;
}

static int f_absent(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, 1);
    if (a[0].vec.n > 0)
        return 0;
    o->vec.s[o->vec.n++] = (sample_t){ fn_absent_labels(c, e->call.args[0]), t, 1, false };
    return 0;
}

static int f_native_only(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    /* Float samples carry no native histogram: the result is empty, as in Prometheus. */
    o->type = PT_VECTOR;
    o->vec = fn_new_vector(c, 0);
    return 0;
}

static int f_unsupported(evalctx_t *c, const expr_t *e, value_t *a, int64_t t, value_t *o)
{
    return eval_error(c, VIGIL_ENOTSUP, "function \"%s\" is not supported by vigil",
                      e->call.f->name);
}

#define S PT_SCALAR
#define V PT_VECTOR
#define M PT_MATRIX
#define STR PT_STRING

static const func_t funcs[] = {
    { "abs", { V }, 1, 0, V, false, f_abs },
    { "absent", { V }, 1, 0, V, false, f_absent },
    { "absent_over_time", { M }, 1, 0, V, false, fr_absent_over_time },
    { "acos", { V }, 1, 0, V, false, f_acos },
    { "acosh", { V }, 1, 0, V, false, f_acosh },
    { "asin", { V }, 1, 0, V, false, f_asin },
    { "asinh", { V }, 1, 0, V, false, f_asinh },
    { "atan", { V }, 1, 0, V, false, f_atan },
    { "atanh", { V }, 1, 0, V, false, f_atanh },
    { "avg_over_time", { M }, 1, 0, V, false, fr_avg_over_time },
    { "ceil", { V }, 1, 0, V, false, f_ceil },
    { "changes", { M }, 1, 0, V, false, fr_changes },
    { "clamp", { V, S, S }, 3, 0, V, false, f_clamp },
    { "clamp_max", { V, S }, 2, 0, V, false, f_clamp_max },
    { "clamp_min", { V, S }, 2, 0, V, false, f_clamp_min },
    { "cos", { V }, 1, 0, V, false, f_cos },
    { "cosh", { V }, 1, 0, V, false, f_cosh },
    { "count_over_time", { M }, 1, 0, V, false, fr_count_over_time },
    { "days_in_month", { V }, 1, 1, V, false, f_days_in_month },
    { "day_of_month", { V }, 1, 1, V, false, f_day_of_month },
    { "day_of_week", { V }, 1, 1, V, false, f_day_of_week },
    { "day_of_year", { V }, 1, 1, V, false, f_day_of_year },
    { "deg", { V }, 1, 0, V, false, f_deg },
    { "delta", { M }, 1, 0, V, false, fr_delta },
    { "deriv", { M }, 1, 0, V, false, fr_deriv },
    { "double_exponential_smoothing", { M, S, S }, 3, 0, V, true, fr_double_exponential_smoothing },
    { "exp", { V }, 1, 0, V, false, f_exp },
    { "first_over_time", { M }, 1, 0, V, true, fr_first_over_time },
    { "floor", { V }, 1, 0, V, false, f_floor },
    { "histogram_avg", { V }, 1, 0, V, false, f_native_only },
    { "histogram_count", { V }, 1, 0, V, false, f_native_only },
    { "histogram_fraction", { S, S, V }, 3, 0, V, false, fr_histogram_fraction },
    { "histogram_quantile", { S, V }, 2, 0, V, false, fr_histogram_quantile },
    { "histogram_quantiles", { V, STR, S }, 3, -1, V, true, fr_histogram_quantiles },
    { "histogram_stddev", { V }, 1, 0, V, false, f_native_only },
    { "histogram_stdvar", { V }, 1, 0, V, false, f_native_only },
    { "histogram_sum", { V }, 1, 0, V, false, f_native_only },
    { "hour", { V }, 1, 1, V, false, f_hour },
    { "idelta", { M }, 1, 0, V, false, fr_idelta },
    { "increase", { M }, 1, 0, V, false, fr_increase },
    { "info", { V, V }, 2, 1, V, true, f_unsupported },
    { "irate", { M }, 1, 0, V, false, fr_irate },
    { "label_join", { V, STR, STR, STR }, 4, -1, V, false, f_label_join },
    { "label_replace", { V, STR, STR, STR, STR }, 5, 0, V, false, f_label_replace },
    { "last_over_time", { M }, 1, 0, V, false, fr_last_over_time },
    { "ln", { V }, 1, 0, V, false, f_ln },
    { "log10", { V }, 1, 0, V, false, f_log10 },
    { "log2", { V }, 1, 0, V, false, f_log2 },
    { "mad_over_time", { M }, 1, 0, V, true, fr_mad_over_time },
    { "max_over_time", { M }, 1, 0, V, false, fr_max_over_time },
    { "min_over_time", { M }, 1, 0, V, false, fr_min_over_time },
    { "max_of", { S, S }, 2, 0, S, true, f_max_of },
    { "min_of", { S, S }, 2, 0, S, true, f_min_of },
    { "minute", { V }, 1, 1, V, false, f_minute },
    { "month", { V }, 1, 1, V, false, f_month },
    { "pi", { S }, 0, 0, S, false, f_pi },
    { "predict_linear", { M, S }, 2, 0, V, false, fr_predict_linear },
    { "present_over_time", { M }, 1, 0, V, false, fr_present_over_time },
    { "quantile_over_time", { S, M }, 2, 0, V, false, fr_quantile_over_time },
    { "rad", { V }, 1, 0, V, false, f_rad },
    { "rate", { M }, 1, 0, V, false, fr_rate },
    { "resets", { M }, 1, 0, V, false, fr_resets },
    { "round", { V, S }, 2, 1, V, false, f_round },
    { "scalar", { V }, 1, 0, S, false, f_scalar },
    { "sgn", { V }, 1, 0, V, false, f_sgn },
    { "sin", { V }, 1, 0, V, false, f_sin },
    { "sinh", { V }, 1, 0, V, false, f_sinh },
    { "sort", { V }, 1, 0, V, false, f_sort },
    { "sort_by_label", { V, STR }, 2, -1, V, true, f_sort_by_label },
    { "sort_by_label_desc", { V, STR }, 2, -1, V, true, f_sort_by_label_desc },
    { "sort_desc", { V }, 1, 0, V, false, f_sort_desc },
    { "sqrt", { V }, 1, 0, V, false, f_sqrt },
    { "start_timestamp", { V }, 1, 0, V, true, f_unsupported },
    { "stddev_over_time", { M }, 1, 0, V, false, fr_stddev_over_time },
    { "stdvar_over_time", { M }, 1, 0, V, false, fr_stdvar_over_time },
    { "sum_over_time", { M }, 1, 0, V, false, fr_sum_over_time },
    { "tan", { V }, 1, 0, V, false, f_tan },
    { "tanh", { V }, 1, 0, V, false, f_tanh },
    { "time", { S }, 0, 0, S, false, f_time },
    { "timestamp", { V }, 1, 0, V, false, f_timestamp },
    { "ts_of_first_over_time", { M }, 1, 0, V, true, fr_ts_of_first_over_time },
    { "ts_of_last_over_time", { M }, 1, 0, V, true, fr_ts_of_last_over_time },
    { "ts_of_max_over_time", { M }, 1, 0, V, true, fr_ts_of_max_over_time },
    { "ts_of_min_over_time", { M }, 1, 0, V, true, fr_ts_of_min_over_time },
    { "vector", { S }, 1, 0, V, false, f_vector },
    { "year", { V }, 1, 1, V, false, f_year },
};

const func_t *promql_func_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
        if (strlen(funcs[i].name) == len && strncmp(funcs[i].name, name, len) == 0)
            return &funcs[i];
    return NULL;
}
