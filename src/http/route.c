/*
 * route.c - route patterns: compiling "/api/v1/operations/{id}/end" into segments and matching
 * raw request paths against them (see http_int.h).
 *
 * Matching works on the raw, still percent-encoded path and decodes one segment at a time, so
 * an encoded slash stays inside its segment ("/api/v1/label/a%2Fb/values" has three segments
 * after "label", not four). Paths are not normalised ("." and ".." are plain segments): nothing
 * here serves files, and a route table of exact paths has nothing to escape from.
 */
#include "http/http_int.h"

#include <stdlib.h>
#include <string.h>

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

void http_route_free(http_croute_t *r)
{
    for (size_t i = 0; i < r->nsegs; i++)
        free(r->segs[i].text);
    free(r->segs);
    free(r->pattern);
    free(r->handler_name);
    memset(r, 0, sizeof(*r));
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Classifies one pattern segment and stores it as segment `i` of `r`. */
static int compile_segment(http_croute_t *r, const char *s, size_t n, bool last,
                           vigil_error_t *err)
{
    const char *pat = r->pattern;
    if (n == 1 && s[0] == '*') {
        if (!last)
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "route pattern \"%s\": '*' must be the last segment", pat);
        r->prefix = true;
        return 0;
    }
    bool param = n >= 2 && s[0] == '{' && s[n - 1] == '}';
    if (param) {
        s++;
        n -= 2;
        if (n == 0)
            return vigil_error_set(err, VIGIL_EINVAL, "route pattern \"%s\": empty {} name",
                                   pat);
        for (size_t i = 0; i < n; i++)
            if (!is_name_char(s[i]))
                return vigil_error_set(err, VIGIL_EINVAL,
                                       "route pattern \"%s\": bad parameter name", pat);
        size_t params = 0;
        for (size_t i = 0; i < r->nsegs; i++) {
            if (!r->segs[i].param)
                continue;
            params++;
            if (strlen(r->segs[i].text) == n && memcmp(r->segs[i].text, s, n) == 0)
                return vigil_error_set(err, VIGIL_EINVAL,
                                       "route pattern \"%s\": parameter {%.*s} repeated", pat,
                                       (int)n, s);
        }
        if (params >= HTTP_PATH_PARAMS_MAX)
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "route pattern \"%s\": more than %d parameters", pat,
                                   HTTP_PATH_PARAMS_MAX);
    } else if (memchr(s, '{', n) != NULL || memchr(s, '}', n) != NULL ||
               memchr(s, '*', n) != NULL) {
        return vigil_error_set(err, VIGIL_EINVAL,
                               "route pattern \"%s\": '{', '}' and '*' must fill a segment",
                               pat);
    }
    if (r->nsegs >= HTTP_ROUTE_MAX_SEGMENTS)
        return vigil_error_set(err, VIGIL_EINVAL, "route pattern \"%s\": more than %d segments",
                               pat, HTTP_ROUTE_MAX_SEGMENTS);
    char *text = dup_n(s, n);
    if (text == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    r->segs[r->nsegs].text = text;
    r->segs[r->nsegs].param = param;
    r->nsegs++;
    return 0;
}

int http_route_compile(http_croute_t *out, const http_route_t *in, vigil_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (in->pattern == NULL || in->pattern[0] != '/')
        return vigil_error_set(err, VIGIL_EINVAL, "route pattern \"%s\" must start with '/'",
                               in->pattern != NULL ? in->pattern : "(null)");
    if (in->handler == NULL || (in->methods & ~(unsigned)HTTP_RAW_BODY) == 0 ||
        in->handler_name == NULL ||
        in->handler_name[0] == '\0')
        return vigil_error_set(err, VIGIL_EINVAL,
                               "route \"%s\": needs methods, a handler and a handler_name",
                               in->pattern);
    out->methods = in->methods;
    out->handler = in->handler;
    out->ctx = in->ctx;
    out->pattern = strdup(in->pattern);
    out->handler_name = strdup(in->handler_name);
    /* One segment follows each '/': the table is allocated for exactly that many (capped:
     * compile_segment refuses the segment past the cap), not for the cap itself, which
     * made 42 routes hold 21 KiB for their ~100 segments. */
    size_t nslash = 0;
    for (const char *c = in->pattern; *c != '\0'; c++)
        nslash += *c == '/';
    out->segs = calloc(nslash < HTTP_ROUTE_MAX_SEGMENTS ? nslash : HTTP_ROUTE_MAX_SEGMENTS,
                       sizeof(*out->segs));
    if (out->pattern == NULL || out->handler_name == NULL || out->segs == NULL) {
        http_route_free(out);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    const char *p = in->pattern + 1;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        int rc = compile_segment(out, p, n, slash == NULL, err);
        if (rc != 0) {
            http_route_free(out);
            return rc;
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    return 0;
}

void http_path_params_free(http_path_params_t *pp)
{
    for (size_t i = 0; i < pp->count; i++)
        free(pp->items[i].value);
    pp->count = 0;
}

/* Compares raw segment `s` (`n` bytes, valid escapes) after decoding with `lit`. */
static bool segment_equals(const char *s, size_t n, const char *lit)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++, j++) {
        char c = s[i];
        if (c == '%') {
            unsigned v = 0;
            for (int k = 1; k <= 2; k++) {
                char h = s[i + k];
                v = v * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
            }
            c = (char)v;
            i += 2;
        }
        if (lit[j] == '\0' || lit[j] != c)
            return false;
    }
    return lit[j] == '\0';
}

static int add_param(http_path_params_t *pp, const char *name, const char *s, size_t n)
{
    char *v = malloc(n + 1);
    if (v == NULL)
        return VIGIL_ENOMEM;
    if (http_pct_decode(s, n, false, v, NULL, NULL) != 0) {
        free(v);
        return VIGIL_EINVAL; /* the caller validated the path; cannot happen */
    }
    pp->items[pp->count].name = name;
    pp->items[pp->count].value = v;
    pp->count++;
    return 0;
}

int http_route_match(const http_croute_t *r, const char *path, size_t len,
                     http_path_params_t *pp)
{
    if (len == 0 || path[0] != '/')
        return 0;
    size_t pos = 1; /* start of the current segment */
    size_t start_count = pp != NULL ? pp->count : 0;
    for (size_t i = 0; i < r->nsegs; i++) {
        if (pos > len)
            goto out_nomatch; /* the path has fewer segments */
        const char *slash = memchr(path + pos, '/', len - pos);
        size_t end = slash != NULL ? (size_t)(slash - path) : len;
        const char *seg = path + pos;
        size_t n = end - pos;
        if (r->segs[i].param) {
            if (n == 0)
                goto out_nomatch;
            if (pp != NULL) {
                int rc = add_param(pp, r->segs[i].text, seg, n);
                if (rc != 0) {
                    http_path_params_free(pp);
                    return rc;
                }
            }
        } else if (!segment_equals(seg, n, r->segs[i].text)) {
            goto out_nomatch;
        }
        pos = end + 1; /* past the '/', or len + 1 after the last segment */
    }
    if (r->prefix) {
        /* The prefix must be followed by '/': pos points just past it. */
        if (pos > len)
            goto out_nomatch;
        if (pp != NULL) {
            int rc = add_param(pp, "*", path + pos, len - pos);
            if (rc != 0) {
                http_path_params_free(pp);
                return rc;
            }
        }
        return 1;
    }
    if (pos != len + 1)
        goto out_nomatch; /* the path has more segments */
    return 1;

out_nomatch:
    if (pp != NULL) {
        while (pp->count > start_count)
            free(pp->items[--pp->count].value);
    }
    return 0;
}
