/*
 * format.c - times and query results in the exact JSON Prometheus's API writes.
 *
 * Clients compare values as strings (Grafana shows them, tests diff them), so sample values
 * are written as Prometheus does (dtoa.c), and times as float seconds with at most three
 * decimals. A range query writes hundreds of thousands of points, so neither goes through
 * printf.
 */
#include "api/api.h"

#include <stdint.h>
#include <string.h>

int api_put_time(buf_t *out, int64_t ms)
{
    uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    unsigned frac = (unsigned)(mag % 1000);
    uint64_t secs = mag / 1000;
    char s[32];
    size_t o = sizeof(s);
    if (frac != 0) {
        /* ".781", ".5", ".01": the millisecond digits without trailing zeros */
        char f[4] = { '.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                      (char)('0' + frac % 10) };
        size_t len = 4;
        while (f[len - 1] == '0')
            len--;
        o -= len;
        memcpy(s + o, f, len);
    }
    do {
        s[--o] = (char)('0' + secs % 10);
        secs /= 10;
    } while (secs != 0);
    if (ms < 0)
        s[--o] = '-';
    return buf_append(out, s + o, sizeof(s) - o);
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

/* [t,"v"]; `put` writes v (vectors and matrices use api_put_value, a scalar api_put_float). */
static int put_point(buf_t *out, int64_t t, double v, int (*put)(buf_t *, double))
{
    int rc = buf_putc(out, '[');
    rc = rc ? rc : api_put_time(out, t);
    rc = rc ? rc : buf_puts(out, ",\"");
    rc = rc ? rc : put(out, v);
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
        rc = rc ? rc : put_point(out, s->t, s->v, api_put_value);
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
            rc = rc ? rc : put_point(out, s->points[j].t, s->points[j].v, api_put_value);
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
        rc = rc ? rc : put_point(out, r->t, r->scalar, api_put_float);
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
