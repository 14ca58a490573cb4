/*
 * labels.c - owned label sets for alerts and written series, Prometheus' label hash, and the
 * name checks of rule files.
 *
 * The hash must be Prometheus' (xxhash64 over name 0xff value 0xff ...) because it decides a
 * group's evaluation slot: vigil and Prometheus then evaluate the same group at the same
 * offset within the interval.
 */
#include "rules/rules_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- XXH64 (the public algorithm, seed 0) ---- */

#define P1 11400714785074694791ULL
#define P2 14029467366897019727ULL
#define P3 1609587929392839161ULL
#define P4 9650029242287828579ULL
#define P5 2870177450012600261ULL

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;   /* little-endian hosts only, as the rest of vigil's on-disk code assumes */
}

static uint32_t rd32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t round1(uint64_t acc, uint64_t in)
{
    acc += in * P2;
    acc = rotl(acc, 31);
    return acc * P1;
}

static uint64_t merge1(uint64_t acc, uint64_t v)
{
    acc ^= round1(0, v);
    return acc * P1 + P4;
}

uint64_t rules_xxh64(const void *data, size_t len)
{
    const unsigned char *p = data, *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = (uint64_t)0 - P1;
        while (p + 32 <= end) {
            v1 = round1(v1, rd64(p));
            v2 = round1(v2, rd64(p + 8));
            v3 = round1(v3, rd64(p + 16));
            v4 = round1(v4, rd64(p + 24));
            p += 32;
        }
        h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
        h = merge1(h, v1);
        h = merge1(h, v2);
        h = merge1(h, v3);
        h = merge1(h, v4);
    } else {
        h = P5;
    }
    h += (uint64_t)len;
    while (p + 8 <= end) {
        h ^= round1(0, rd64(p));
        h = rotl(h, 27) * P1 + P4;
        p += 8;
    }
    if (p + 4 <= end) {
        h ^= (uint64_t)rd32(p) * P1;
        h = rotl(h, 23) * P2 + P3;
        p += 4;
    }
    while (p < end) {
        h ^= (*p) * P5;
        h = rotl(h, 11) * P1;
        p++;
    }
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint64_t rl_hash(promql_labels_t l)
{
    size_t len = 0;
    for (size_t i = 0; i < l.n; i++)
        len += strlen(l.v[i].name) + strlen(l.v[i].value) + 2;
    unsigned char stack[1024] = { 0 };
    unsigned char *b = len <= sizeof(stack) ? stack : malloc(len);
    if (b == NULL)
        return 0;  /* only on OOM; a collision then costs a wrong dedup, never a crash */
    size_t o = 0;
    for (size_t i = 0; i < l.n; i++) {
        size_t a = strlen(l.v[i].name), c = strlen(l.v[i].value);
        memcpy(b + o, l.v[i].name, a);
        o += a;
        b[o++] = 0xff;
        memcpy(b + o, l.v[i].value, c);
        o += c;
        b[o++] = 0xff;
    }
    uint64_t h = rules_xxh64(b, o);
    if (b != stack)
        free(b);
    return h;
}

/* ---- owned label sets ---- */

void rl_free(rlabels_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free((char *)l->v[i].name);
        free((char *)l->v[i].value);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Room for `want` entries; grows by half again so building a set label by label stays linear. */
static int rl_reserve(rlabels_t *l, size_t want)
{
    if (want <= l->cap)
        return 0;
    size_t nc = l->cap + l->cap / 2;
    if (nc < want)
        nc = want;
    promql_label_t *v = realloc(l->v, nc * sizeof(*v));
    if (v == NULL)
        return VIGIL_ENOMEM;
    l->v = v;
    l->cap = nc;
    return 0;
}

const char *rl_get(promql_labels_t l, const char *name)
{
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.v[i].name, name) == 0)
            return l.v[i].value;
    return NULL;
}

void rl_del(rlabels_t *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0) {
            free((char *)l->v[i].name);
            free((char *)l->v[i].value);
            memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(l->v[0]));
            l->n--;
            return;
        }
}

int rl_set(rlabels_t *l, const char *name, const char *value)
{
    if (value == NULL || value[0] == '\0') {
        rl_del(l, name);
        return 0;
    }
    size_t i = 0;
    while (i < l->n && strcmp(l->v[i].name, name) < 0)
        i++;
    char *nv = strdup(value);
    if (nv == NULL)
        return VIGIL_ENOMEM;
    if (i < l->n && strcmp(l->v[i].name, name) == 0) {
        free((char *)l->v[i].value);
        l->v[i].value = nv;
        return 0;
    }
    char *nn = strdup(name);
    if (nn == NULL || rl_reserve(l, l->n + 1) != 0) {
        free(nn);
        free(nv);
        return VIGIL_ENOMEM;
    }
    memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof(l->v[0]));
    l->v[i] = (promql_label_t){ nn, nv };
    l->n++;
    return 0;
}

int rl_copy(rlabels_t *dst, promql_labels_t src)
{
    *dst = (rlabels_t){ 0 };
    if (rl_reserve(dst, src.n + 4) != 0)
        return VIGIL_ENOMEM;
    /* Query results and stored series come sorted with unique names: append in order. Any
     * other input takes the sorted insert of rl_set(). */
    for (size_t i = 0; i < src.n; i++) {
        const char *name = src.v[i].name, *value = src.v[i].value;
        bool in_order = dst->n == 0 || strcmp(dst->v[dst->n - 1].name, name) < 0;
        int rc = 0;
        if (!in_order) {
            rc = rl_set(dst, name, value);
        } else if (value != NULL && value[0] != '\0') {
            char *nn = strdup(name), *nv = strdup(value);
            if (nn == NULL || nv == NULL) {
                free(nn);
                free(nv);
                rc = VIGIL_ENOMEM;
            } else {
                dst->v[dst->n++] = (promql_label_t){ nn, nv };
            }
        }
        if (rc != 0) {
            rl_free(dst);
            return VIGIL_ENOMEM;
        }
    }
    return 0;
}

int rl_cmp(promql_labels_t a, promql_labels_t b)
{
    for (size_t i = 0; i < a.n && i < b.n; i++) {
        int c = strcmp(a.v[i].name, b.v[i].name);
        if (c != 0)
            return c;
        c = strcmp(a.v[i].value, b.v[i].value);
        if (c != 0)
            return c;
    }
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

bool rl_equal(promql_labels_t a, promql_labels_t b)
{
    return a.n == b.n && rl_cmp(a, b) == 0;
}

int rl_format(buf_t *b, promql_labels_t l)
{
    int rc = buf_putc(b, '{');
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        if (i > 0)
            rc = buf_puts(b, ", ");
        if (rc == 0)
            rc = rules_label_name_valid(l.v[i].name, true) ? buf_puts(b, l.v[i].name)
                                                            : buf_put_go_quoted(b, l.v[i].name);
        if (rc == 0)
            rc = buf_putc(b, '=');
        if (rc == 0)
            rc = buf_put_go_quoted(b, l.v[i].value);
    }
    return rc ? rc : buf_putc(b, '}');
}

/* ---- names ---- */

bool rules_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n;
    }
    return true;
}

static bool legacy_name(const char *s, bool colon)
{
    if (*s == '\0')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (p > s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

bool rules_label_name_valid(const char *s, bool legacy)
{
    return legacy ? legacy_name(s, false) : (*s != '\0' && rules_utf8_valid(s));
}

bool rules_metric_name_valid(const char *s, bool legacy)
{
    return legacy ? legacy_name(s, true) : (*s != '\0' && rules_utf8_valid(s));
}
