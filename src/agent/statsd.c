/*
 * statsd.c - StatsD line parsing and aggregation for `vigil wrap` (statsd.h).
 */
#include "agent/statsd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = { "c", "g", "ms", "h" };

const char *statsd_type_name(statsd_type_t t)
{
    return (unsigned)t <= STATSD_HISTOGRAM ? type_names[t] : "?";
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

/* Parses a double that spans exactly [p, end). */
static bool parse_num(const char *p, const char *end, double *out)
{
    char tmp[64];
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *e;
    errno = 0;
    *out = strtod(tmp, &e);
    return e == tmp + n && errno == 0 && isfinite(*out);
}

int statsd_parse_line(const char *line, size_t len, statsd_line_t *out, vigil_error_t *err)
{
    memset(out, 0, sizeof(*out));
    out->rate = 1;
    const char *p = line, *end = line + len;
    const char *colon = memchr(p, ':', len);
    if (colon == NULL || colon == p || (size_t)(colon - p) >= STATSD_NAME_MAX)
        return vigil_error_set(err, VIGIL_EPARSE, "1: expected name:value");
    for (const char *q = p; q < colon; q++)
        if (!name_char(*q))
            return vigil_error_set(err, VIGIL_EPARSE, "%d: invalid character in name",
                                   (int)(q - line) + 1);
    memcpy(out->name, p, (size_t)(colon - p));
    const char *bar = memchr(colon, '|', (size_t)(end - colon));
    if (bar == NULL)
        return vigil_error_set(err, VIGIL_EPARSE, "%d: expected |type", (int)len + 1);
    if (!parse_num(colon + 1, bar, &out->value))
        return vigil_error_set(err, VIGIL_EPARSE, "%d: invalid value", (int)(colon - line) + 2);
    const char *tstart = bar + 1;
    const char *tend = memchr(tstart, '|', (size_t)(end - tstart));
    if (tend == NULL)
        tend = end;
    size_t tl = (size_t)(tend - tstart);
    if (tl == 1 && *tstart == 'c')
        out->type = STATSD_COUNTER;
    else if (tl == 1 && *tstart == 'g')
        out->type = STATSD_GAUGE;
    else if (tl == 2 && memcmp(tstart, "ms", 2) == 0)
        out->type = STATSD_TIMER;
    else if (tl == 1 && *tstart == 'h')
        out->type = STATSD_HISTOGRAM;
    else
        return vigil_error_set(err, VIGIL_EPARSE, "%d: type must be c, g, ms or h",
                               (int)(tstart - line) + 1);
    out->relative = out->type == STATSD_GAUGE && (colon[1] == '+' || colon[1] == '-');
    /* Optional sections: |@rate and |#tags, in either order, each at most once. */
    bool seen_rate = false, seen_tags = false;
    for (p = tend; p < end;) {
        const char *s = p + 1;  /* after '|' */
        const char *e = memchr(s, '|', (size_t)(end - s));
        if (e == NULL)
            e = end;
        if (s < e && *s == '@' && !seen_rate) {
            seen_rate = true;
            if (!parse_num(s + 1, e, &out->rate) || !(out->rate > 0 && out->rate <= 1))
                return vigil_error_set(err, VIGIL_EPARSE, "%d: sample rate must be in (0, 1]",
                                       (int)(s - line) + 2);
        } else if (s < e && *s == '#' && !seen_tags) {
            seen_tags = true;
            /* tag[:value] separated by commas; each tag non-empty */
            const char *t = s + 1;
            while (t <= e) {
                const char *c = memchr(t, ',', (size_t)(e - t));
                if (c == NULL)
                    c = e;
                if (c == t)
                    return vigil_error_set(err, VIGIL_EPARSE, "%d: empty tag",
                                           (int)(t - line) + 1);
                for (const char *q = t; q < c; q++)
                    if (*q == ' ' || *q == '|' || *q == '#')
                        return vigil_error_set(err, VIGIL_EPARSE, "%d: invalid character in "
                                                                  "tag", (int)(q - line) + 1);
                out->n_tags++;
                t = c + 1;
            }
        } else
            return vigil_error_set(err, VIGIL_EPARSE, "%d: expected |@rate or |#tags",
                                   (int)(p - line) + 1);
        p = e;
    }
    return 0;
}

void statsd_agg_init(statsd_agg_t *a)
{
    memset(a, 0, sizeof(*a));
}

static statsd_metric_t *find(statsd_agg_t *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->metrics[i].name, name) == 0)
            return &a->metrics[i];
    return NULL;
}

const statsd_metric_t *statsd_agg_find(const statsd_agg_t *a, const char *name)
{
    return find((statsd_agg_t *)a, name);
}

static void add(statsd_agg_t *a, const statsd_line_t *l)
{
    statsd_metric_t *m = find(a, l->name);
    if (m == NULL) {
        if (a->n == STATSD_MAX_NAMES) {
            a->dropped_names++;
            return;
        }
        m = &a->metrics[a->n++];
        memset(m, 0, sizeof(*m));
        memcpy(m->name, l->name, sizeof(m->name));
        m->type = l->type;
        m->min = INFINITY;
        m->max = -INFINITY;
    }
    m->count++;
    switch (l->type) {
    case STATSD_COUNTER:
        m->sum += l->value / l->rate;
        break;
    case STATSD_GAUGE:
        m->last = l->relative ? m->last + l->value : l->value;
        break;
    case STATSD_TIMER:
    case STATSD_HISTOGRAM:
        m->sum += l->value;
        break;
    }
    double v = l->type == STATSD_GAUGE ? m->last : l->value;
    if (v < m->min)
        m->min = v;
    if (v > m->max)
        m->max = v;
}

void statsd_agg_datagram(statsd_agg_t *a, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl != NULL ? nl : end;
        size_t l = (size_t)(e - p);
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (l > 0) {
            statsd_line_t line;
            a->lines++;
            if (statsd_parse_line(p, l, &line, NULL) == 0) {
                a->tagged_lines += line.n_tags > 0;
                add(a, &line);
            } else
                a->bad_lines++;
        }
        p = e + 1;
    }
}
