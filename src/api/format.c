/*
 * format.c - numbers, times and query results in the exact JSON Prometheus's API writes.
 *
 * Clients compare values as strings (Grafana shows them, tests diff them), so sample values
 * follow Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal digits that read back
 * to the same double, written without an exponent.
 */
#include "api/api.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits "[-]d.ddde[+-]XX" into its digits (returned count) and decimal exponent. */
static size_t split_sci(const char *sci, char *digits, int *exp10)
{
    const char *p = sci + (*sci == '-');
    size_t nd = 0;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    *exp10 = atoi(p + 1);
    return nd;
}

/* Whether the k digits with exponent e read back as exactly v. */
static bool reads_back(double v, const char *digits, size_t k, int e)
{
    char s[48];
    size_t n = 0;
    if (v < 0)
        s[n++] = '-';
    s[n++] = digits[0];
    s[n++] = '.';
    memcpy(s + n, digits + 1, k - 1);
    n += k - 1;
    snprintf(s + n, sizeof(s) - n, "e%d", e);
    return strtod(s, NULL) == v;
}

/* Shortest round-tripping digits by trying every precision (subnormals, which carry fewer
 * than 15 significant digits). */
static size_t shortest_slow(double v, char *digits, int *exp10)
{
    char sci[40];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    return split_sci(sci, digits, exp10);
}

/*
 * Shortest round-tripping digits of a normal double, the digits Go's FormatFloat(v, 'f', -1)
 * writes. A double carries 15.95 decimal digits, so when some k <= 15 digits read back to v,
 * v rounded to 15 digits is exactly those k digits followed by zeros (v is far closer to them
 * than half a unit of the 15th digit) and the caller's dropping of trailing zeros yields them.
 * Past 15, the correctly rounded 16 digits are the closest 16-digit decimal, so they read back
 * if any do, and 17 always do. Range queries write hundreds of thousands of values, so this
 * converts once, to 17 digits, and rounds that string to 16 and 15 digits itself; only a tie
 * in the dropped digits ("5" then zeros, where the 17-digit string no longer tells which way
 * v lies) is converted again by the C library.
 */
static size_t shortest_normal(double v, char *digits, int *exp10)
{
    char sci[40];
    snprintf(sci, sizeof(sci), "%.16e", v);
    char d17[24];
    int e17;
    split_sci(sci, d17, &e17);
    d17[17] = '\0';
    for (size_t k = 15; k <= 16; k++) {
        bool tie = d17[k] == '5' && strspn(d17 + k + 1, "0") >= 17 - k - 1;
        int e = e17;
        if (tie) {
            snprintf(sci, sizeof(sci), "%.*e", (int)k - 1, v);
            split_sci(sci, digits, &e);
        } else {
            memcpy(digits, d17, k);
            if (d17[k] >= '5') { /* round up, carrying */
                size_t i = k;
                while (i > 0 && digits[i - 1] == '9')
                    digits[--i] = '0';
                if (i == 0) {
                    digits[0] = '1';
                    e++;
                } else {
                    digits[i - 1]++;
                }
            }
        }
        if (reads_back(v, digits, k, e)) {
            *exp10 = e;
            return k;
        }
    }
    memcpy(digits, d17, 17);
    *exp10 = e17;
    return 17;
}

int api_put_value(buf_t *out, double v)
{
    if (isnan(v))
        return buf_puts(out, "NaN");
    if (isinf(v))
        return buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return buf_puts(out, signbit(v) ? "-0" : "0");

    bool negative = signbit(v);
    char digits[24];
    size_t nd;
    int exp10;
    if (fabs(v) < DBL_MIN)
        nd = shortest_slow(v, digits, &exp10);
    else
        nd = shortest_normal(v, digits, &exp10);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;

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
