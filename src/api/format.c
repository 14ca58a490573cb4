/*
 * format.c - numbers, times and query results in the exact JSON Prometheus's API writes.
 *
 * Clients compare values as strings (Grafana shows them, tests diff them), so sample values
 * follow Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal digits that read back
 * to the same double, written without an exponent.
 */
#include "api/api.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_put_value(buf_t *out, double v)
{
    if (isnan(v))
        return buf_puts(out, "NaN");
    if (isinf(v))
        return buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return buf_puts(out, signbit(v) ? "-0" : "0");

    /* Shortest round-tripping digits in scientific form: "-d.ddde+XX". */
    char sci[40];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    const char *p = sci;
    bool negative = *p == '-';
    if (negative)
        p++;
    char digits[24];
    size_t nd = 0;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp10 = atoi(p + 1);

    char fixed[400]; /* |exp10| <= 324 */
    size_t n = 0;
    if (negative)
        fixed[n++] = '-';
    if (exp10 < 0) {
        fixed[n++] = '0';
        fixed[n++] = '.';
        for (int i = -1; i > exp10; i--)
            fixed[n++] = '0';
        memcpy(fixed + n, digits, nd);
        n += nd;
    } else {
        size_t int_digits = (size_t)exp10 + 1;
        for (size_t i = 0; i < int_digits; i++)
            fixed[n++] = i < nd ? digits[i] : '0';
        if (nd > int_digits) {
            fixed[n++] = '.';
            memcpy(fixed + n, digits + int_digits, nd - int_digits);
            n += nd - int_digits;
        }
    }
    return buf_append(out, fixed, n);
}

int api_put_time(buf_t *out, int64_t ms)
{
    uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    unsigned frac = (unsigned)(mag % 1000);
    int rc = buf_printf(out, "%s%" PRIu64, ms < 0 ? "-" : "", mag / 1000);
    if (rc != 0 || frac == 0)
        return rc;
    char f[5];
    snprintf(f, sizeof(f), ".%03u", frac);
    size_t len = 4;
    while (f[len - 1] == '0')
        len--;
    return buf_append(out, f, len);
}

int api_put_labels(buf_t *out, promql_labels_t labels)
{
    int rc = buf_putc(out, '{');
    for (size_t i = 0; rc == 0 && i < labels.n; i++) {
        if (i > 0)
            rc = buf_putc(out, ',');
        rc = rc ? rc : buf_put_json_string(out, labels.v[i].name);
        rc = rc ? rc : buf_putc(out, ':');
        rc = rc ? rc : buf_put_json_string(out, labels.v[i].value);
    }
    return rc ? rc : buf_putc(out, '}');
}

/* [t,"v"] */
static int put_point(buf_t *out, int64_t t, double v)
{
    int rc = buf_putc(out, '[');
    rc = rc ? rc : api_put_time(out, t);
    rc = rc ? rc : buf_puts(out, ",\"");
    rc = rc ? rc : api_put_value(out, v);
    return rc ? rc : buf_puts(out, "\"]");
}

static int put_vector(buf_t *out, const promql_result_t *r)
{
    int rc = buf_puts(out, "{\"resultType\":\"vector\",\"result\":[");
    for (size_t i = 0; rc == 0 && i < r->n_vector; i++) {
        const promql_sample_t *s = &r->vector[i];
        rc = buf_puts(out, i > 0 ? ",{\"metric\":" : "{\"metric\":");
        rc = rc ? rc : api_put_labels(out, s->labels);
        rc = rc ? rc : buf_puts(out, ",\"value\":");
        rc = rc ? rc : put_point(out, s->t, s->v);
        rc = rc ? rc : buf_putc(out, '}');
    }
    return rc ? rc : buf_puts(out, "]}");
}

static int put_matrix(buf_t *out, const promql_result_t *r)
{
    int rc = buf_puts(out, "{\"resultType\":\"matrix\",\"result\":[");
    for (size_t i = 0; rc == 0 && i < r->n_matrix; i++) {
        const promql_series_t *s = &r->matrix[i];
        rc = buf_puts(out, i > 0 ? ",{\"metric\":" : "{\"metric\":");
        rc = rc ? rc : api_put_labels(out, s->labels);
        rc = rc ? rc : buf_puts(out, ",\"values\":[");
        for (size_t j = 0; rc == 0 && j < s->n; j++) {
            if (j > 0)
                rc = buf_putc(out, ',');
            rc = rc ? rc : put_point(out, s->points[j].t, s->points[j].v);
        }
        rc = rc ? rc : buf_puts(out, "]}");
    }
    return rc ? rc : buf_puts(out, "]}");
}

int api_put_result(buf_t *out, const promql_result_t *r)
{
    int rc;
    switch (r->type) {
    case PROMQL_VALUE_VECTOR:
        return put_vector(out, r);
    case PROMQL_VALUE_MATRIX:
        return put_matrix(out, r);
    case PROMQL_VALUE_SCALAR:
        rc = buf_puts(out, "{\"resultType\":\"scalar\",\"result\":");
        rc = rc ? rc : put_point(out, r->t, r->scalar);
        return rc ? rc : buf_putc(out, '}');
    case PROMQL_VALUE_STRING:
        rc = buf_puts(out, "{\"resultType\":\"string\",\"result\":[");
        rc = rc ? rc : api_put_time(out, r->t);
        rc = rc ? rc : buf_putc(out, ',');
        rc = rc ? rc : buf_put_json_string(out, r->string != NULL ? r->string : "");
        return rc ? rc : buf_puts(out, "]}");
    case PROMQL_VALUE_NONE:
        break;
    }
    return VIGIL_EINVAL;
}
