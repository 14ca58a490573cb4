/*
 * duration.c - Prometheus durations (see duration.h).
 */
#include "util/duration.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *unit;
    int64_t     ms;
    bool        exact_only; /* printed only when it divides the rest exactly */
} units[] = {
    { "y", 365LL * 24 * 3600 * 1000, true }, { "w", 7LL * 24 * 3600 * 1000, true },
    { "d", 24LL * 3600 * 1000, false },      { "h", 3600LL * 1000, false },
    { "m", 60LL * 1000, false },             { "s", 1000, false },
    { "ms", 1, false },
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

duration_error_t duration_parse(const char *s, size_t n, int64_t *ms)
{
    if (n == 0)
        return DURATION_EMPTY;
    if (n == 1 && s[0] == '0') {
        *ms = 0;
        return DURATION_OK;
    }
    if (s[0] == '-')
        return DURATION_NEGATIVE;
    int64_t total = 0;
    size_t next_unit = 0;
    bool too_long = false;
    for (size_t i = 0; i < n;) {
        if (s[i] < '0' || s[i] > '9')
            return DURATION_SYNTAX;
        int64_t v = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (v > (DURATION_MAX_MS - (s[i] - '0')) / 10)
                too_long = true;
            else
                v = v * 10 + (s[i] - '0');
        }
        if (i < n && s[i] == '.')
            return DURATION_FRACTION;
        if (i == n)
            return DURATION_MISSING_UNIT;
        size_t u = N_UNITS;
        if (s[i] == 'm' && i + 1 < n && s[i + 1] == 's') {
            u = N_UNITS - 1; /* "ms", not "m" followed by "s" */
        } else {
            for (size_t k = 0; k < N_UNITS - 1; k++) {
                if (s[i] == units[k].unit[0]) {
                    u = k;
                    break;
                }
            }
        }
        if (u == N_UNITS)
            return DURATION_UNKNOWN_UNIT;
        if (u < next_unit)
            return DURATION_UNIT_ORDER;
        next_unit = u + 1;
        i += strlen(units[u].unit);
        if (too_long || v > (DURATION_MAX_MS - total) / units[u].ms)
            too_long = true;
        else
            total += v * units[u].ms;
    }
    if (too_long)
        return DURATION_TOO_LONG;
    *ms = total;
    return DURATION_OK;
}

const char *duration_error_text(duration_error_t e)
{
    switch (e) {
    case DURATION_OK:           return "ok";
    case DURATION_EMPTY:        return "empty";
    case DURATION_NEGATIVE:     return "negative";
    case DURATION_SYNTAX:       return "not a duration";
    case DURATION_FRACTION:     return "fractions are not allowed: 1h30m, not 1.5h";
    case DURATION_MISSING_UNIT: return "missing unit";
    case DURATION_UNKNOWN_UNIT: return "units are y, w, d, h, m, s, ms";
    case DURATION_UNIT_ORDER:   return "each unit at most once, largest first";
    case DURATION_TOO_LONG:     return "too long (at most 292y)";
    }
    return "not a duration";
}

void duration_format(int64_t ms, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    if (ms == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    uint64_t rest = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0 && cap > 1) {
        out[o++] = '-';
        out[o] = '\0';
    }
    for (size_t u = 0; u < N_UNITS && rest > 0; u++) {
        uint64_t mult = (uint64_t)units[u].ms;
        if (units[u].exact_only && rest % mult != 0)
            continue;
        uint64_t v = rest / mult;
        if (v == 0)
            continue;
        int w = snprintf(out + o, cap - o, "%" PRIu64 "%s", v, units[u].unit);
        if (w < 0 || (size_t)w >= cap - o)
            return;
        o += (size_t)w;
        rest -= v * mult;
    }
}
