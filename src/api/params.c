/*
 * params.c - the parameter syntax of Prometheus's HTTP API: times and durations.
 */
#include "api/api.h"

#include "util/duration.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Unix seconds with a fraction, rounded to the millisecond as Prometheus rounds them. */
static bool parse_unix_seconds(const char *s, int64_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || fabs(v) > 9.2e15)
        return false;
    double whole;
    double frac = modf(v, &whole);
    *ms = (int64_t)whole * 1000 + (int64_t)llround(frac * 1000);
    return true;
}

static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return false;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* RFC 3339: 2015-07-01T20:10:51.781Z or with a ±hh:mm offset (Go's RFC3339Nano). */
static bool parse_rfc3339(const char *s, int64_t *ms)
{
    const char *p = s;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int y, mo, d, h, mi, sec;
    if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
        !digits(&p, 2, &d) || !(expect(&p, 'T') || expect(&p, 't')) || !digits(&p, 2, &h) ||
        !expect(&p, ':') || !digits(&p, 2, &mi) || !expect(&p, ':') || !digits(&p, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return false;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int scale = 100, n = 0;
        for (; isdigit((unsigned char)*p); p++, n++) {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (n == 0)
            return false;
    }
    int offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!digits(&p, 2, &oh) || !expect(&p, ':') || !digits(&p, 2, &om) || oh > 23 || om > 59)
            return false;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return false;
    }
    if (*p != '\0')
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
    return true;
}

int api_parse_time(const char *s, int64_t *ms, vigil_error_t *err)
{
    if (s != NULL && (parse_unix_seconds(s, ms) || parse_rfc3339(s, ms)))
        return 0;
    return vigil_error_set(err, VIGIL_EINVAL, "cannot parse \"%s\" to a valid timestamp",
                           s != NULL ? s : "");
}

int api_parse_duration(const char *s, int64_t *ms, vigil_error_t *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && *end == '\0' && errno != ERANGE && isfinite(v)) {
        if (fabs(v) * 1000 > 9.2e15)
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "cannot parse \"%s\" to a valid duration. It overflows int64",
                                   s);
        *ms = (int64_t)llround(v * 1000);
        return 0;
    }
    if (duration_parse(s, strlen(s), ms) == DURATION_OK)
        return 0;
    return vigil_error_set(err, VIGIL_EINVAL, "cannot parse \"%s\" to a valid duration", s);
}

int api_parse_limit(const char *s, size_t *limit, vigil_error_t *err)
{
    *limit = 0;
    if (s == NULL || s[0] == '\0')
        return 0;
    /* Go's strconv.Atoi: an optional sign, then decimal digits only. */
    const char *p = s + (s[0] == '+' || s[0] == '-');
    if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
        return vigil_error_set(err, VIGIL_EINVAL, "strconv.Atoi: parsing \"%s\": invalid syntax",
                               s);
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return vigil_error_set(err, VIGIL_EINVAL,
                               "strconv.Atoi: parsing \"%s\": value out of range", s);
    if (v < 0)
        return vigil_error_set(err, VIGIL_EINVAL, "limit must be non-negative");
    *limit = (size_t)v;
    return 0;
}
