/*
 * format.c - times and query results in the exact JSON Prometheus's API writes.
 *
 * Clients compare values as strings (Grafana shows them, tests diff them), so sample values
 * are written as Prometheus does (dtoa.c), and times as float seconds with at most three
 * decimals. A range query writes hundreds of thousands of points, so neither goes through
 * printf.
 */
#include "api/api.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t api_format_time(char *out, int64_t ms)
{
    uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    unsigned frac = (unsigned)(mag % 1000);
    uint64_t secs = mag / 1000;
    char s[API_TIME_MAX];
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
    memcpy(out, s + o, sizeof(s) - o);
    return sizeof(s) - o;
}

int api_put_time(buf_t *out, int64_t ms)
{
    char s[API_TIME_MAX];
    return buf_append(out, s, api_format_time(s, ms));
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

/* Formatted timestamps of one result, direct-mapped by time: the points of a range result
 * share the query's steps, so each is formatted once instead of once per series. */
#define TIME_CACHE_SLOTS 1024

typedef struct time_cache {
    int64_t t[TIME_CACHE_SLOTS];
    uint8_t len[TIME_CACHE_SLOTS];  /* 0: empty */
    char s[TIME_CACHE_SLOTS][API_TIME_MAX];
} time_cache_t;

static size_t cached_time(time_cache_t *tc, int64_t t, char *out)
{
    /* Fibonacci hashing spreads an arithmetic progression of steps evenly over the slots. */
    size_t i = (size_t)(((uint64_t)t * 0x9e3779b97f4a7c15ULL) >> 54);
    if (tc->len[i] == 0 || tc->t[i] != t) {
        tc->len[i] = (uint8_t)api_format_time(tc->s[i], t);
        tc->t[i] = t;
    }
    /* A fixed-size copy (one or two moves, no call): the bytes past the length land where
     * the point's next characters are written (format_point's output has POINT_MAX room). */
    memcpy(out, tc->s[i], API_TIME_MAX);
    return tc->len[i];
}

/* The most bytes format_point writes. */
#define POINT_MAX (API_TIME_MAX + API_VALUE_MAX + 8)

/* Writes [t,"v"] (after a comma when `comma`) at p; returns its length. `sample`: v as a
 * vector or matrix value (else as a scalar); `tc`: where formatted times are kept, or NULL. */
static size_t format_point(char *p, int64_t t, double v, bool sample, time_cache_t *tc,
                           bool comma)
{
    size_t o = 0;
    if (comma)
        p[o++] = ',';
    p[o++] = '[';
    o += tc != NULL ? cached_time(tc, t, p + o) : api_format_time(p + o, t);
    p[o++] = ',';
    p[o++] = '"';
    o += api_format_value(p + o, v, sample);
    p[o++] = '"';
    p[o++] = ']';
    return o;
}

static int put_point(buf_t *out, int64_t t, double v, bool sample, time_cache_t *tc, bool comma)
{
    char p[POINT_MAX];
    return buf_append(out, p, format_point(p, t, v, sample, tc, comma));
}

/* Points written straight into the buffer, room for this many reserved at a time. */
#define POINT_BATCH 256

/* The points of one series: in batches written without a bounds check per point where the
 * buffer has room for the batch's worst case, else point by point (near the body's limit). */
static int put_points(buf_t *out, const promql_series_t *s, time_cache_t *tc)
{
    for (size_t j = 0; j < s->n;) {
        size_t end = s->n - j > POINT_BATCH ? j + POINT_BATCH : s->n;
        if (buf_reserve(out, (end - j) * POINT_MAX) != 0) {
            for (; j < end; j++) {
                int rc = put_point(out, s->points[j].t, s->points[j].v, true, tc, j > 0);
                if (rc != 0)
                    return rc;
            }
            continue;
        }
        char *d = out->data + out->len;
        for (; j < end; j++)
            d += format_point(d, s->points[j].t, s->points[j].v, true, tc, j > 0);
        out->len = (size_t)(d - out->data);
        out->data[out->len] = '\0';
    }
    return 0;
}

static int put_vector(buf_t *out, const promql_result_t *r)
{
    int rc = buf_puts(out, "{\"resultType\":\"vector\",\"result\":[");
    for (size_t i = 0; rc == 0 && i < r->n_vector; i++) {
        const promql_sample_t *s = &r->vector[i];
        rc = buf_puts(out, i > 0 ? ",{\"metric\":" : "{\"metric\":");
        rc = rc ? rc : api_put_labels(out, s->labels);
        rc = rc ? rc : buf_puts(out, ",\"value\":");
        rc = rc ? rc : put_point(out, s->t, s->v, true, NULL, false);
        rc = rc ? rc : buf_putc(out, '}');
    }
    return rc ? rc : buf_puts(out, "]}");
}

/* Bytes a matrix point usually takes at most ("[1795512607.5,\"0.3333333333333333\"],"), to
 * size the body once rather than through a dozen doublings of an 8 MB buffer (pages reserved
 * but never written cost nothing). */
#define POINT_BYTES_GUESS 40

static int put_matrix(buf_t *out, const promql_result_t *r)
{
    size_t points = 0;
    for (size_t i = 0; i < r->n_matrix; i++)
        points += r->matrix[i].n + 8; /* + its labels */
    /* Only a hint: a guess past the body's limit is left to the appends to grow or refuse. */
    if (points < (out->max - out->len) / POINT_BYTES_GUESS) {
        int rc = buf_reserve(out, points * POINT_BYTES_GUESS);
        if (rc != 0)
            return rc;
    }
    /* Without the cache (out of memory) every time is formatted: slower, same bytes. */
    time_cache_t *tc = calloc(1, sizeof(*tc));
    int rc = buf_puts(out, "{\"resultType\":\"matrix\",\"result\":[");
    for (size_t i = 0; rc == 0 && i < r->n_matrix; i++) {
        const promql_series_t *s = &r->matrix[i];
        rc = buf_puts(out, i > 0 ? ",{\"metric\":" : "{\"metric\":");
        rc = rc ? rc : api_put_labels(out, s->labels);
        rc = rc ? rc : buf_puts(out, ",\"values\":[");
        rc = rc ? rc : put_points(out, s, tc);
        rc = rc ? rc : buf_puts(out, "]}");
    }
    free(tc);
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
        rc = rc ? rc : put_point(out, r->t, r->scalar, false, NULL, false);
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
