/*
 * series_values.c - the expanding value notation of series descriptions, shared by the
 * PromQL test-script interpreter (`load` blocks) and promtool unit tests (`input_series`
 * values); ../shared/peers/DSL.md section 5:
 *   N          one value              _      one omitted slot     _xK   K omitted slots
 *   stale      a staleness marker     NxK    K+1 copies of N      N+DxK / N-DxK  K+1 steps
 *   {{...}}    a native histogram (xK: K+1 of them), returned as a histogram slot
 * Steps are added one after another (N, N+D, N+D+D, ...) as Prometheus's parser does, so long
 * float sequences round exactly like Prometheus's.
 */
#include "promql/promql_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Beyond this a repetition is a mistake, not a test: it would allocate gigabytes. */
#define MAX_REPEAT 100000000L

/* A PromQL number literal at *pp (no hex: 'x' means repeat here). */
static bool number(const char **pp, double *v)
{
    const char *p = *pp, *s = p;
    if (*p == '+' || *p == '-')
        p++;
    if (strncasecmp(p, "inf", 3) == 0 || strncasecmp(p, "nan", 3) == 0) {
        p += 3;
    } else {
        const char *d = p;
        while (isdigit((unsigned char)*p) || *p == '.')
            p++;
        if (p == d)
            return false;
        if ((*p == 'e' || *p == 'E') &&
            (isdigit((unsigned char)p[1]) ||
             ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
            p += 2;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    if (!promql_parse_number(s, (size_t)(p - s), v))
        return false;
    *pp = p;
    return true;
}

/* A repeat count: the whole rest of the item. */
static bool count(const char *p, const char *end, long *k)
{
    if (p == end || !isdigit((unsigned char)*p))
        return false;
    long n = 0;
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p) || n > MAX_REPEAT / 10)
            return false;
        n = n * 10 + (*p - '0');
    }
    *k = n;
    return n <= MAX_REPEAT;
}

static int push(promql_series_values_t *out, double v, promql_slot_t kind)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        double *nv = realloc(out->v, cap * sizeof(*nv));
        if (nv == NULL)
            return VIGIL_ENOMEM;
        out->v = nv;
        unsigned char *nk = realloc(out->kind, cap);
        if (nk == NULL)
            return VIGIL_ENOMEM;
        out->kind = nk;
        out->cap = cap;
    }
    out->v[out->n] = v;
    out->kind[out->n++] = (unsigned char)kind;
    return 0;
}

/* Expands one item t[0..len). */
static int expand(const char *t, size_t len, promql_series_values_t *out)
{
    const char *end = t + len;
    long k = 1;
    int rc = 0;
    if (t[0] == '{') {  /* {{...}} or {{...}}xK: the closing braces end the histogram */
        const char *close = t + len;
        while (close > t && close[-1] != '}')
            close--;
        if (close - t < 4 || close[-2] != '}' || t[1] != '{')
            return VIGIL_EPARSE;
        k = 0;
        if (close < end && (*close != 'x' || !count(close + 1, end, &k)))
            return VIGIL_EPARSE;
        for (long i = 0; rc == 0 && i <= k; i++)
            rc = push(out, 0, PROMQL_SLOT_HISTOGRAM);
        return rc;
    }
    if (len == 5 && memcmp(t, "stale", 5) == 0) {
        uint64_t bits = PROMQL_STALE_NAN_BITS;
        double st;
        memcpy(&st, &bits, sizeof(st));
        return push(out, st, PROMQL_SLOT_VALUE);
    }
    if (t[0] == '_') {
        if (len > 1 && (t[1] != 'x' || !count(t + 2, end, &k)))
            return VIGIL_EPARSE;
        for (long i = 0; rc == 0 && i < k; i++)
            rc = push(out, 0, PROMQL_SLOT_OMITTED);
        return rc;
    }
    const char *q = t;
    double v, delta = 0;
    if (!number(&q, &v) || q > end)
        return VIGIL_EPARSE;
    if (q == end)
        return push(out, v, PROMQL_SLOT_VALUE);
    if (*q == '+' || *q == '-') {
        bool neg = *q++ == '-';
        if (!number(&q, &delta) || q > end)
            return VIGIL_EPARSE;
        if (neg)
            delta = -delta;
    }
    if (q == end || *q != 'x' || !count(q + 1, end, &k))
        return VIGIL_EPARSE;
    for (long i = 0; rc == 0 && i <= k; i++, v += delta)
        rc = push(out, v, PROMQL_SLOT_VALUE);
    return rc;
}

int promql_series_values_parse(const char *s, promql_series_values_t *out, vigil_error_t *err)
{
    memset(out, 0, sizeof(*out));
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == '\0')
            return 0;
        /* An item ends at whitespace outside braces: a histogram's {{...}} holds spaces. */
        const char *t = p;
        int depth = 0;
        while (*p != '\0' && (depth > 0 || !isspace((unsigned char)*p))) {
            depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
            p++;
        }
        size_t len = (size_t)(p - t);
        int rc = expand(t, len, out);
        if (rc == 0)
            continue;
        promql_series_values_free(out);
        if (rc == VIGIL_ENOMEM)
            return vigil_error_set(err, rc, "out of memory");
        return vigil_error_set(err, VIGIL_EPARSE,
                               "1:%d: parse error: bad number or duration syntax: \"%.*s\"",
                               (int)(t - s) + 1, (int)(len > 60 ? 60 : len), t);
    }
}

void promql_series_values_free(promql_series_values_t *v)
{
    free(v->v);
    free(v->kind);
    memset(v, 0, sizeof(*v));
}
