/*
 * series.c - the input side of promtool unit tests: series descriptions `name{l="v"}`. Their
 * values (`1+1x5 _ stale`) are expanded by promql_series_values_parse(), shared with the PromQL
 * test scripts.
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
