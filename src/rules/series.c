/*
 * series.c - the input side of promtool unit tests: series descriptions `name{l="v"}` and the
 * expanding value notation of `input_series.values` (../shared/peers/DSL.md section 5):
 *   N          one value              _      one omitted slot     _xK   K omitted slots
 *   stale      a staleness marker     NxK    K+1 copies of N      N+DxK / N-DxK  K+1 steps
 * Steps are added one after another (N, N+D, N+D+D, ...) as Go's parser does, so long float
 * sequences round exactly like Prometheus'. Native histograms ({{...}}) are refused with
 * "native histograms are not supported": vigil's store has none yet.
 */
#include "rules/rules_int.h"
#include "rules/unittest_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A Go/PromQL quoted string at *pp ("...", '...' or `...`) into a malloc'd string. */
static char *unquote(const char **pp)
{
    const char *p = *pp;
    char q = *p++;
    buf_t b;
    buf_init(&b, 1 << 16);
    while (*p && *p != q) {
        if (q != '`' && *p == '\\' && p[1]) {
            p++;
            char c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p;
            buf_putc(&b, c);
            p++;
            continue;
        }
        buf_putc(&b, *p++);
    }
    if (*p != q) {
        buf_free(&b);
        return NULL;
    }
    *pp = p + 1;
    char *s = buf_detach(&b, NULL);
    buf_free(&b);
    return s;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static bool name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' || (!first && isdigit((unsigned char)c));
}

int ut_parse_metric(const char *s, rlabels_t *out, const char **rest, char *why, size_t wl)
{
    const char *p = skip_ws(s);
    memset(out, 0, sizeof(*out));
    const char *start = p;
    while (name_char(*p, p == start))
        p++;
    if (p > start) {
        char *name = strndup(start, (size_t)(p - start));
        if (name == NULL || rl_set(out, "__name__", name) != 0) {
            free(name);
            snprintf(why, wl, "out of memory");
            return VIGIL_ENOMEM;
        }
        free(name);
    }
    if (*p == '{') {
        p = skip_ws(p + 1);
        while (*p != '}') {
            char *lname = NULL, *lval = NULL;
            if (*p == '"' || *p == '\'' || *p == '`') {
                lname = unquote(&p);
            } else {
                const char *ns = p;
                while (name_char(*p, p == ns) && *p != ':')
                    p++;
                if (p > ns)
                    lname = strndup(ns, (size_t)(p - ns));
            }
            p = skip_ws(p);
            if (lname != NULL && *p == '=') {
                p = skip_ws(p + 1);
                if (*p == '"' || *p == '\'' || *p == '`')
                    lval = unquote(&p);
            } else if (lname != NULL && (*p == ',' || *p == '}')) {
                lval = lname;   /* {"metric.name"} names the metric */
                lname = strdup("__name__");
            }
            if (lname == NULL || lval == NULL) {
                free(lname);
                free(lval);
                rl_free(out);
                snprintf(why, wl, "1:%d: parse error: unexpected character in label matching",
                         (int)(p - s) + 1);
                return VIGIL_EPARSE;
            }
            int rc = rl_set(out, lname, lval);
            free(lname);
            free(lval);
            if (rc != 0) {
                rl_free(out);
                snprintf(why, wl, "out of memory");
                return rc;
            }
            p = skip_ws(p);
            if (*p == ',')
                p = skip_ws(p + 1);
            else if (*p != '}') {
                rl_free(out);
                snprintf(why, wl, "1:%d: parse error: unexpected %s in label set",
                         (int)(p - s) + 1, *p ? "character" : "end of input");
                return VIGIL_EPARSE;
            }
        }
        p++;
    } else if (p == start && *p != '\0') {
        snprintf(why, wl, "1:%d: parse error: unexpected character", (int)(p - s) + 1);
        return VIGIL_EPARSE;
    }
    if (rest != NULL)
        *rest = p;
    else if (*skip_ws(p) != '\0') {
        rl_free(out);
        snprintf(why, wl, "1:%d: parse error: unexpected character after metric",
                 (int)(p - s) + 1);
        return VIGIL_EPARSE;
    }
    return 0;
}

/* A PromQL number literal of a series description (no hex: 'x' repeats). */
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
        if ((*p == 'e' || *p == 'E') && (isdigit((unsigned char)p[1]) ||
                                         ((p[1] == '+' || p[1] == '-') &&
                                          isdigit((unsigned char)p[2])))) {
            p += 2;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    char tmp[64];
    if ((size_t)(p - s) >= sizeof(tmp))
        return false;
    memcpy(tmp, s, (size_t)(p - s));
    tmp[p - s] = '\0';
    char *end;
    *v = strtod(tmp, &end);
    if (*end != '\0')
        return false;
    *pp = p;
    return true;
}

static bool count(const char *p, long *k)
{
    if (!isdigit((unsigned char)*p))
        return false;
    char *end;
    *k = strtol(p, &end, 10);
    return *end == '\0' && *k >= 0 && *k < 100000000;
}

static int push(ut_values_t *vs, double v, bool omitted)
{
    if (vs->n == vs->cap) {
        size_t nc = vs->cap * 2 + 64;
        double *nv = realloc(vs->v, nc * sizeof(*nv));
        if (nv == NULL)
            return VIGIL_ENOMEM;
        vs->v = nv;
        bool *no = realloc(vs->omitted, nc * sizeof(*no));
        if (no == NULL)
            return VIGIL_ENOMEM;
        vs->omitted = no;
        vs->cap = nc;
    }
    vs->v[vs->n] = v;
    vs->omitted[vs->n++] = omitted;
    return 0;
}

void ut_values_free(ut_values_t *vs)
{
    free(vs->v);
    free(vs->omitted);
    memset(vs, 0, sizeof(*vs));
}

int ut_parse_values(const char *s, ut_values_t *vs, char *why, size_t wl)
{
    memset(vs, 0, sizeof(*vs));
    const char *p = s;
    int rc = 0;
    for (;;) {
        p = skip_ws(p);
        if (*p == '\0')
            return 0;
        const char *t = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        char tok[128];
        size_t len = (size_t)(p - t);
        if (strncmp(t, "{{", 2) == 0) {
            snprintf(why, wl, "native histograms are not supported");
            ut_values_free(vs);
            return VIGIL_ENOTSUP;
        }
        if (len >= sizeof(tok))
            goto bad;
        memcpy(tok, t, len);
        tok[len] = '\0';
        if (strcmp(tok, "stale") == 0) {
            double st;
            uint64_t bits = PROMQL_STALE_NAN_BITS;
            memcpy(&st, &bits, sizeof(st));
            rc = push(vs, st, false);
        } else if (tok[0] == '_') {
            long k = 1;
            if (tok[1] != '\0' && (tok[1] != 'x' || !count(tok + 2, &k)))
                goto bad;
            for (long i = 0; rc == 0 && i < k; i++)
                rc = push(vs, 0, true);
        } else {
            const char *q = tok;
            double base, delta = 0;
            long k;
            if (!number(&q, &base))
                goto bad;
            if (*q == '\0') {
                rc = push(vs, base, false);
            } else {
                if (*q == '+' || *q == '-') {
                    bool neg = *q == '-';
                    q++;
                    if (!number(&q, &delta))
                        goto bad;
                    if (neg)
                        delta = -delta;
                }
                if (*q != 'x' || !count(q + 1, &k))
                    goto bad;
                double v = base;
                for (long i = 0; rc == 0 && i <= k; i++) {
                    rc = push(vs, v, false);
                    v += delta;
                }
            }
        }
        if (rc != 0) {
            snprintf(why, wl, "out of memory");
            ut_values_free(vs);
            return rc;
        }
        continue;
bad:
        snprintf(why, wl, "1:%d: parse error: bad number or duration syntax: \"%.*s\"",
                 (int)(t - s) + 1, (int)(len > 60 ? 60 : len), t);
        ut_values_free(vs);
        return VIGIL_EPARSE;
    }
}
