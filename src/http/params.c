/*
 * params.c - percent-decoding and the query-string / urlencoded-form parser (see http_int.h).
 *
 * This is the one parser in the HTTP layer that reads untrusted bytes before any handler does,
 * so it is self-contained (no I/O, no logging) and has a fuzz target, fuzz/fuzz_http_params.c.
 * Semantics follow Go's net/url.ParseQuery because Prometheus API clients (Grafana, promtool,
 * client_golang) are written against it.
 */
#include "http/http_int.h"
#include "util/hex.h"

#include <stdlib.h>
#include <string.h>

int http_pct_decode(const char *s, size_t len, bool plus_is_space, char *out, size_t *out_len,
                    vigil_error_t *err)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 1 < len ? hex_digit_value((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_digit_value((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                size_t n = len - i < 3 ? len - i : 3;
                return vigil_error_set(err, VIGIL_EPARSE, "invalid URL escape \"%.*s\"",
                                       (int)n, s + i);
            }
            if (hi == 0 && lo == 0)
                return vigil_error_set(err, VIGIL_EPARSE, "invalid URL escape \"%%00\": "
                                       "NUL bytes are not allowed");
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else if (c == '\0') {
            /* Reachable only from raw bodies; a NUL would silently cut the value short. */
            return vigil_error_set(err, VIGIL_EPARSE, "NUL byte in URL-encoded data");
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return 0;
}

void http_params_init(http_params_t *p)
{
    p->items = NULL;
    p->count = 0;
    p->cap = 0;
}

void http_params_free(http_params_t *p)
{
    for (size_t i = 0; i < p->count; i++)
        free(p->items[i].name);
    free(p->items);
    http_params_init(p);
}

/* Decodes one "name=value" pair (without the '&') and appends it. */
static int add_pair(http_params_t *p, const char *s, size_t len, vigil_error_t *err)
{
    if (p->count >= HTTP_PARAMS_MAX)
        return vigil_error_set(err, VIGIL_ELIMIT, "more than %d parameters", HTTP_PARAMS_MAX);
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        http_param_t *items = realloc(p->items, cap * sizeof(*items));
        if (items == NULL)
            return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
        p->items = items;
        p->cap = cap;
    }
    const char *eq = memchr(s, '=', len);
    size_t nlen = eq != NULL ? (size_t)(eq - s) : len;
    size_t vlen = eq != NULL ? len - nlen - 1 : 0;
    /* Name and value share one block: one allocation per pair, one free. */
    char *block = malloc(nlen + 1 + vlen + 1);
    if (block == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    size_t dn;
    int rc = http_pct_decode(s, nlen, true, block, &dn, err);
    if (rc == 0)
        rc = http_pct_decode(eq != NULL ? eq + 1 : "", vlen, true, block + dn + 1, NULL, err);
    if (rc != 0) {
        free(block);
        return rc;
    }
    p->items[p->count].name = block;
    p->items[p->count].value = block + dn + 1;
    p->count++;
    return 0;
}

int http_params_parse(http_params_t *p, const char *s, size_t len, vigil_error_t *err)
{
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t end = amp != NULL ? (size_t)(amp - s) : len;
        if (memchr(s + i, ';', end - i) != NULL)
            return vigil_error_set(err, VIGIL_EPARSE, "invalid semicolon separator in query");
        if (end > i) {
            int rc = add_pair(p, s + i, end - i, err);
            if (rc != 0)
                return rc;
        }
        i = end + 1;
    }
    return 0;
}

const char *http_params_next(const http_params_t *p, const char *name, size_t *pos)
{
    for (size_t i = *pos; i < p->count; i++) {
        if (strcmp(p->items[i].name, name) == 0) {
            *pos = i + 1;
            return p->items[i].value;
        }
    }
    *pos = p->count;
    return NULL;
}
