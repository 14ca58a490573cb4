/*
 * format.c - numbers and times the way Go prints them, and Prometheus's humanize family.
 *
 * Go's fmt and C's printf agree on %e, %f and %.Ng for finite numbers (both round the exact
 * binary value, both print at least two exponent digits), so those go through snprintf. They
 * differ in three places handled here: NaN/Inf spelling ("NaN", "+Inf", "-Inf"), %v / %g
 * without a precision (Go: the shortest text that reads back to the same double, exponent
 * form from 1e+06 up and below 1e-04), and time.Time's String().
 */
#include "template/tmpl_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool special(double v, bool plus, char *out, size_t cap)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return true;
    }
    if (isinf(v)) {
        snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
        return true;
    }
    (void)plus;
    return false;
}

/* Shortest digits that round-trip: *digits (no dot, no sign), exponent of the first digit. */
static void shortest(double v, char *digits, size_t cap, int *exp10)
{
    char tmp[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp: [-]d[.ddd]e[+-]xx */
    const char *s = tmp[0] == '-' ? tmp + 1 : tmp;
    size_t o = 0;
    for (; *s && *s != 'e' && o + 1 < cap; s++)
        if (*s != '.')
            digits[o++] = *s;
    while (o > 1 && digits[o - 1] == '0')
        o--;
    digits[o] = '\0';
    *exp10 = *s == 'e' ? atoi(s + 1) : 0;
}

void template_format_float(double v, char *out, size_t cap)
{
    if (special(v, false, out, cap))
        return;
    if (v == 0) {
        snprintf(out, cap, "%s", signbit(v) ? "-0" : "0");
        return;
    }
    char d[32];
    int e;
    shortest(v, d, sizeof(d), &e);
    const char *sign = v < 0 ? "-" : "";
    size_t nd = strlen(d);
    /* strconv 'g' with precision -1 decides with eprec = 6: 1e+06, 1.234567e+06, 100000. */
    if (e < -4 || e >= 6) {
        snprintf(out, cap, "%s%c%s%s%se%c%02d", sign, d[0], nd > 1 ? "." : "", d + 1, "",
                 e < 0 ? '-' : '+', abs(e));
        return;
    }
    /* fixed notation */
    char buf[64];
    size_t o = 0;
    if (e < 0) {
        buf[o++] = '0';
        buf[o++] = '.';
        for (int i = -1; i > e; i--)
            buf[o++] = '0';
        for (size_t i = 0; i < nd; i++)
            buf[o++] = d[i];
    } else {
        for (int i = 0; i <= e; i++)
            buf[o++] = (size_t)i < nd ? d[i] : '0';
        if ((int)nd > e + 1) {
            buf[o++] = '.';
            for (size_t i = (size_t)e + 1; i < nd; i++)
                buf[o++] = d[i];
        }
    }
    buf[o] = '\0';
    snprintf(out, cap, "%s%s", sign, buf);
}

void tmpl_format_float_verb(double v, char verb, int prec, bool plus, bool space, char *out,
                            size_t cap)
{
    if (special(v, plus, out, cap))
        return;
    const char *sign = v < 0 || (v == 0 && signbit(v)) ? "" : plus ? "+" : space ? " " : "";
    if ((verb == 'g' || verb == 'G') && prec < 0) {
        char tmp[64];
        template_format_float(v, tmp, sizeof(tmp));
        snprintf(out, cap, "%s%s", sign, tmp);
        return;
    }
    if (prec < 0)
        prec = 6;
    char fmt[16];
    snprintf(fmt, sizeof(fmt), "%%s%%.%d%c", prec > 100 ? 100 : prec, verb);
    snprintf(out, cap, fmt, sign, v);
}

/* Go's %.4g followed by a suffix, written in place (no intermediate buffer whose size the
 * compiler would have to prove fits `out`). */
static void g4(double v, const char *suffix, char *out, size_t cap)
{
    tmpl_format_float_verb(v, 'g', 4, false, false, out, cap);
    size_t n = strnlen(out, cap);
    if (n + 1 < cap)
        snprintf(out + n, cap - n, "%s", suffix);
}

void tmpl_humanize(double v, char *out, size_t cap)
{
    static const char *const big[] = { "k", "M", "G", "T", "P", "E", "Z", "Y" };
    static const char *const small[] = { "m", "u", "n", "p", "f", "a", "z", "y" };
    if (v == 0 || isnan(v) || isinf(v)) {
        g4(v, "", out, cap);
        return;
    }
    const char *prefix = "";
    if (fabs(v) >= 1) {
        for (size_t i = 0; i < 8 && fabs(v) >= 1000; i++) {
            prefix = big[i];
            v /= 1000;
        }
    } else {
        for (size_t i = 0; i < 8 && fabs(v) < 1; i++) {
            prefix = small[i];
            v *= 1000;
        }
    }
    g4(v, prefix, out, cap);
}

void tmpl_humanize1024(double v, char *out, size_t cap)
{
    static const char *const big[] = { "ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi" };
    if (fabs(v) <= 1 || isnan(v) || isinf(v)) {
        g4(v, "", out, cap);
        return;
    }
    const char *prefix = "";
    for (size_t i = 0; i < 8 && fabs(v) >= 1024; i++) {
        prefix = big[i];
        v /= 1024;
    }
    g4(v, prefix, out, cap);
}

void tmpl_humanize_duration(double v, char *out, size_t cap)
{
    static const char *const small[] = { "m", "u", "n", "p", "f", "a", "z", "y" };
    if (isnan(v) || isinf(v)) {
        g4(v, "", out, cap);
        return;
    }
    if (v == 0) {
        g4(v, "s", out, cap);
        return;
    }
    if (fabs(v) >= 1) {
        const char *sign = "";
        if (v < 0) {
            sign = "-";
            v = -v;
        }
        /* Go converts to int64 (truncating); values past its range saturate here instead of
         * being undefined. */
        long long d = v >= 9.2e18 ? 9200000000000000000LL : (long long)v;
        long long s = d % 60, m = (d / 60) % 60, h = (d / 3600) % 24, days = d / 86400;
        if (days != 0)
            snprintf(out, cap, "%s%lldd %lldh %lldm %llds", sign, days, h, m, s);
        else if (h != 0)
            snprintf(out, cap, "%s%lldh %lldm %llds", sign, h, m, s);
        else if (m != 0)
            snprintf(out, cap, "%s%lldm %llds", sign, m, s);
        else if (cap > 1) {
            size_t n = (size_t)snprintf(out, cap, "%s", sign);
            g4(v, "s", out + n, cap - n);
        }
        return;
    }
    const char *prefix = "";
    for (size_t i = 0; i < 8 && fabs(v) < 1; i++) {
        prefix = small[i];
        v *= 1000;
    }
    char suffix[8];
    snprintf(suffix, sizeof(suffix), "%ss", prefix);
    g4(v, suffix, out, cap);
}

void tmpl_humanize_percentage(double v, char *out, size_t cap)
{
    g4(v * 100, "%", out, cap);
}

/* Go's time.Time.String() of a UTC time at millisecond precision:
 * "2006-01-02 15:04:05.999999999 -0700 MST" with the fraction's trailing zeros removed. */
static void go_time_utc(long long ms, char *out, size_t cap)
{
    long long secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs--;
    }
    time_t tt = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL) {
        snprintf(out, cap, "%lld", ms);
        return;
    }
    /* The fraction without trailing zeros: strip them from the number, not the text. */
    char f[24] = "";
    if (frac != 0) {
        int digits = 3;
        for (; frac % 10 == 0; frac /= 10)
            digits--;
        snprintf(f, sizeof(f), ".%0*lld", digits, frac);
    }
    snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d%s +0000 UTC", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f);
}

void tmpl_humanize_timestamp(double v, char *out, size_t cap)
{
    if (isnan(v) || isinf(v)) {
        g4(v, "", out, cap);
        return;
    }
    /* Prometheus: model.TimeFromUnixNano(int64(v * 1e9)) keeps whole milliseconds. */
    double ns = v * 1e9;
    if (ns >= 9.2e18 || ns <= -9.2e18) {
        g4(v, "", out, cap);
        return;
    }
    long long n = (long long)ns;
    go_time_utc(n / 1000000, out, cap);
}
