/*
 * buf.c - growable byte buffers with a hard size cap (see buf.h).
 */
#include "util/buf.h"

#include "vigil/error.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

int buf_reserve(buf_t *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return VIGIL_ELIMIT;
    size_t need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return VIGIL_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(buf_t *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(buf_t *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return VIGIL_EINVAL;
    if ((size_t)n < sizeof(small))
        return buf_append(b, small, (size_t)n);
    int rc = buf_reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Takes back what a failed append wrote: nothing half-written stays in the buffer. */
static void truncate_to(buf_t *b, size_t len)
{
    b->len = len;
    if (b->data != NULL)
        b->data[len] = '\0';
}

/* Length of the valid UTF-8 sequence at p (1 for ASCII), 0 when invalid; *cp its code point. */
static size_t utf8_sequence(const unsigned char *p, uint32_t *cp)
{
    size_t len = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
               : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0)
        return 0;
    uint32_t c = len == 1 ? p[0] : p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    static const uint32_t least[] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;  /* overlong, beyond Unicode, or a surrogate: Go's decoder refuses these */
    *cp = c;
    return len;
}

/* True for the bytes Go's encoding/json writes as they are: printable ASCII except the quote,
 * the backslash and the HTML characters it escapes (<, >, &). */
static bool json_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&';
}

static int put_json_escaped(buf_t *b, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = buf_putc(b, '"');
    size_t i = 0;
    while (rc == 0 && i < n) {
        size_t run = i;
        while (i < n && json_plain(p[i]))
            i++;
        if (i > run)
            rc = buf_append(b, p + run, i - run);
        if (rc != 0 || i == n)
            break;
        unsigned char c = p[i];
        uint32_t cp;
        size_t len = c < 0x80 ? 1 : utf8_sequence(p + i, &cp);
        if (c < 0x80) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };
            if (c == '"' || c == '\\')
                rc = buf_append(b, (char[]){ '\\', (char)c }, 2);
            else if (c == '\n')
                rc = buf_append(b, "\\n", 2);
            else if (c == '\r')
                rc = buf_append(b, "\\r", 2);
            else if (c == '\t')
                rc = buf_append(b, "\\t", 2);
            else
                rc = buf_append(b, e, 6);
        } else if (len == 0) {
            rc = buf_append(b, "\\ufffd", 6);  /* invalid UTF-8, as Go replaces it */
            len = 1;
        } else if (cp == 0x2028 || cp == 0x2029) {
            rc = buf_append(b, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
        } else {
            rc = buf_append(b, p + i, len);
        }
        i += len;
    }
    return rc ? rc : buf_putc(b, '"');
}

int buf_put_json_string(buf_t *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    bool plain = true;
    for (; p[n] != '\0'; n++)
        plain = plain && json_plain(p[n]);
    size_t start_len = b->len;
    int rc;
    if (!plain) {
        rc = put_json_escaped(b, p, n);
    } else if ((rc = buf_reserve(b, n + 2)) == 0) {  /* almost every string: one copy */
        char *d = b->data + b->len;
        d[0] = '"';
        memcpy(d + 1, s, n);
        d[n + 1] = '"';
        b->len += n + 2;
        b->data[b->len] = '\0';
    }
    if (rc != 0)
        truncate_to(b, start_len);
    return rc;
}


int buf_put_go_quoted(buf_t *b, const char *s)
{
    size_t start_len = b->len;
    int rc = buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (rc == 0 && *p != '\0') {
        uint32_t c;
        size_t len = utf8_sequence(p, &c);
        if (len == 0) {
            rc = buf_printf(b, "\\x%02x", *p++);
            continue;
        }
        p += len;
        switch (c) {
        case '"':  rc = buf_puts(b, "\\\""); break;
        case '\\': rc = buf_puts(b, "\\\\"); break;
        case '\a': rc = buf_puts(b, "\\a"); break;
        case '\b': rc = buf_puts(b, "\\b"); break;
        case '\f': rc = buf_puts(b, "\\f"); break;
        case '\n': rc = buf_puts(b, "\\n"); break;
        case '\r': rc = buf_puts(b, "\\r"); break;
        case '\t': rc = buf_puts(b, "\\t"); break;
        case '\v': rc = buf_puts(b, "\\v"); break;
        default:
            if (c < 0x20 || c == 0x7f)
                rc = buf_printf(b, "\\x%02x", (unsigned)c);
            else if ((c >= 0x80 && c <= 0x9f) || c == 0xad || c == 0x2028 || c == 0x2029 ||
                     c == 0xfeff)
                rc = buf_printf(b, "\\u%04x", (unsigned)c);
            else
                rc = buf_append(b, p - len, len);
        }
    }
    if (rc == 0)
        rc = buf_putc(b, '"');
    if (rc != 0)
        truncate_to(b, start_len);
    return rc;
}

int buf_put_double(buf_t *b, double v)
{
    if (isnan(v))
        return buf_puts(b, "NaN");
    if (isinf(v))
        return buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    char tmp[32];
    /* %.17g always round-trips; try shorter precisions first for readable output. */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return buf_puts(b, tmp);
}

char *buf_detach(buf_t *b, size_t *len)
{
    if (b->data == NULL && buf_reserve(b, 0) != 0)
        return NULL;
    if (b->len == 0)
        b->data[0] = '\0';
    char *out = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return out;
}
