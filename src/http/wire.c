/*
 * wire.c - the HTTP/1.1 request syntax (RFC 9112): where a request head ends, what it says,
 * and the chunked transfer coding of a body. No I/O and no state beyond what the caller
 * hands in, so the fuzz target drives exactly what the server runs.
 *
 * The server (server.c) reads bytes into a connection buffer, asks http_head_length() whether
 * the head is complete, copies the head out and parses it with http_head_parse(); body bytes
 * then go either straight to the request (Content-Length) or through http_chunked_decode().
 *
 * Strictness follows Go's net/http, which is what Prometheus, Alertmanager and their clients
 * are written against: LF alone ends a line as well as CRLF, obsolete line folding and a space
 * before a header's colon are refused, a Content-Length must be one decimal number (repeats
 * must agree), a body must not be framed both ways, and HTTP/1.1 needs a Host header.
 */
#include "http/http_int.h"
#include "util/hex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t http_head_length(const char *buf, size_t len)
{
    size_t i = 0;
    /* RFC 9112 §2.2: empty lines before the request line are skipped (keep-alive clients
     * that send a stray CRLF after a body). */
    while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    for (;;) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (lf == NULL)
            return 0;
        i = (size_t)(lf - buf) + 1;
        if (i < len && buf[i] == '\n')
            return i + 1;
        if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
            return i + 2;
        if (i >= len || (i + 1 >= len && buf[i] == '\r'))
            return 0;
    }
}

/* tchar of RFC 9110 §5.6.2: what a method or a header name is made of. */
static bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr(extra, c) != NULL;
}

/* Splits the next line off *p (ending at LF, with an optional CR before it) and returns it
 * NUL-terminated, or NULL at `end`. */
static char *next_line(char **p, char *end)
{
    if (*p >= end)
        return NULL;
    char *line = *p;
    char *lf = memchr(line, '\n', (size_t)(end - line));
    if (lf == NULL)
        lf = end; /* the last line of a truncated head: the caller's spare byte takes the NUL */
    *p = lf < end ? lf + 1 : end;
    if (lf > line && lf[-1] == '\r')
        lf--;
    *lf = '\0';
    return line;
}

/* A comma-separated header value holds `token` as one of its elements, ignoring case. */
static bool list_has(const char *value, const char *token)
{
    size_t tl = strlen(token);
    const char *p = value;
    while (*p != '\0') {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p += n;
    }
    return false;
}

static int parse_request_line(char *line, http_head_t *h, vigil_error_t *err)
{
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL) {
        vigil_error_set(err, VIGIL_EPARSE, "malformed request line");
        return 400;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    h->method = line;
    h->target = sp1 + 1;
    const char *version = sp2 + 1;
    if (h->method[0] == '\0' || h->target[0] == '\0') {
        vigil_error_set(err, VIGIL_EPARSE, "malformed request line");
        return 400;
    }
    for (const char *m = h->method; *m != '\0'; m++)
        if (!is_tchar((unsigned char)*m)) {
            vigil_error_set(err, VIGIL_EPARSE, "invalid method");
            return 400;
        }
    for (const unsigned char *t = (const unsigned char *)h->target; *t != '\0'; t++)
        if (*t <= ' ' || *t == 0x7f) {
            vigil_error_set(err, VIGIL_EPARSE, "invalid character 0x%02x in request target",
                            *t);
            return 400;
        }
    if (strncmp(version, "HTTP/", 5) != 0 || version[5] < '0' || version[5] > '9' ||
        version[6] != '.' || version[7] < '0' || version[7] > '9' || version[8] != '\0') {
        vigil_error_set(err, VIGIL_EPARSE, "malformed HTTP version");
        return 400;
    }
    if (version[5] != '1') {
        vigil_error_set(err, VIGIL_ENOTSUP, "HTTP version %s not supported", version);
        return 505;
    }
    /* RFC 9110 §2.5: a later 1.x is handled as the highest minor we implement, so the
     * answer and the connection rules are HTTP/1.1's. */
    h->minor = version[7] == '0' ? 0 : 1;
    return 0;
}

/* One header line "Name: value": validates it and stores it trimmed. */
static int parse_field(char *line, http_field_t *f, vigil_error_t *err)
{
    if (line[0] == ' ' || line[0] == '\t') {
        vigil_error_set(err, VIGIL_EPARSE, "obsolete line folding in headers");
        return 400;
    }
    char *colon = strchr(line, ':');
    if (colon == NULL || colon == line) {
        vigil_error_set(err, VIGIL_EPARSE, "malformed header line");
        return 400;
    }
    for (const char *c = line; c < colon; c++)
        if (!is_tchar((unsigned char)*c)) {
            /* Includes a space before the colon (RFC 9112 §5.1: must be refused). */
            vigil_error_set(err, VIGIL_EPARSE, "invalid header name");
            return 400;
        }
    *colon = '\0';
    char *v = colon + 1;
    v += strspn(v, " \t");
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    v[n] = '\0';
    for (const unsigned char *c = (const unsigned char *)v; *c != '\0'; c++)
        if ((*c < ' ' && *c != '\t') || *c == 0x7f) {
            vigil_error_set(err, VIGIL_EPARSE, "invalid character 0x%02x in header %s", *c,
                            line);
            return 400;
        }
    f->name = line;
    f->value = v;
    return 0;
}

/* Content-Length: one decimal number. Repeated headers must agree; a list in one header
 * ("5, 5") is refused, as Go refuses it. */
static int take_content_length(http_head_t *h, const char *v, vigil_error_t *err)
{
    uint64_t n = 0;
    if (*v == '\0') {
        vigil_error_set(err, VIGIL_EPARSE, "empty Content-Length");
        return 400;
    }
    for (const char *c = v; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || n > (UINT64_MAX - 9) / 10) {
            vigil_error_set(err, VIGIL_EPARSE, "invalid Content-Length \"%.40s\"", v);
            return 400;
        }
        n = n * 10 + (uint64_t)(*c - '0');
    }
    if (h->has_content_length && h->content_length != n) {
        vigil_error_set(err, VIGIL_EPARSE, "conflicting Content-Length headers");
        return 400;
    }
    h->has_content_length = true;
    h->content_length = n;
    return 0;
}

int http_head_parse(char *buf, size_t len, http_head_t *h, vigil_error_t *err)
{
    memset(h, 0, sizeof(*h));
    char *p = buf, *end = buf + len;
    while (p < end && (*p == '\r' || *p == '\n'))
        p++;
    size_t lines = 0;
    for (const char *c = p; c < end; c++)
        lines += *c == '\n';
    if (memchr(p, '\0', (size_t)(end - p)) != NULL) {
        vigil_error_set(err, VIGIL_EPARSE, "NUL byte in request head");
        return 400;
    }
    char *line = next_line(&p, end);
    if (line == NULL) {
        vigil_error_set(err, VIGIL_EPARSE, "empty request");
        return 400;
    }
    int status = parse_request_line(line, h, err);
    if (status != 0)
        return status;
    /* One field per line at most; the last line may lack its LF when the caller passes
     * less than a whole head. */
    h->fields = malloc((lines + 1) * sizeof(*h->fields));
    if (h->fields == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    bool has_host = false, te = false, conn_close = false, conn_keep = false;
    while ((line = next_line(&p, end)) != NULL && line[0] != '\0') {
        http_field_t *f = &h->fields[h->field_count];
        status = parse_field(line, f, err);
        if (status != 0)
            return status;
        h->field_count++;
        if (strcasecmp(f->name, "Host") == 0) {
            has_host = true;
        } else if (strcasecmp(f->name, "Content-Length") == 0) {
            if ((status = take_content_length(h, f->value, err)) != 0)
                return status;
        } else if (strcasecmp(f->name, "Transfer-Encoding") == 0) {
            if (te || strcasecmp(f->value, "chunked") != 0) {
                /* Only "chunked" alone frames a request we can read (as Go). */
                vigil_error_set(err, VIGIL_ENOTSUP, "Transfer-Encoding \"%.40s\" not supported",
                                f->value);
                return 501;
            }
            te = true;
        } else if (strcasecmp(f->name, "Connection") == 0) {
            conn_close |= list_has(f->value, "close");
            conn_keep |= list_has(f->value, "keep-alive");
        } else if (strcasecmp(f->name, "Expect") == 0) {
            if (strcasecmp(f->value, "100-continue") != 0) {
                vigil_error_set(err, VIGIL_ENOTSUP, "unsupported expectation \"%.40s\"",
                                f->value);
                return 417;
            }
            h->expect_continue = true;
        }
    }
    if (te && h->minor == 0) {
        vigil_error_set(err, VIGIL_EPARSE, "Transfer-Encoding in an HTTP/1.0 request");
        return 400;
    }
    if (te && h->has_content_length) {
        /* Framed both ways is how requests are smuggled past proxies. */
        vigil_error_set(err, VIGIL_EPARSE, "both Content-Length and Transfer-Encoding");
        return 400;
    }
    if (h->minor >= 1 && !has_host) {
        vigil_error_set(err, VIGIL_EPARSE, "missing required Host header");
        return 400;
    }
    h->chunked = te;
    h->keep_alive = h->minor >= 1 ? !conn_close : conn_keep && !conn_close;
    /* Go and MHD ignore Expect on HTTP/1.0 too: such clients never wait for 100. */
    if (h->minor == 0)
        h->expect_continue = false;
    return 0;
}

void http_head_free(http_head_t *h)
{
    free(h->fields);
    h->fields = NULL;
    h->field_count = 0;
}

const char *http_head_field(const http_head_t *h, const char *name)
{
    for (size_t i = 0; i < h->field_count; i++)
        if (strcasecmp(h->fields[i].name, name) == 0)
            return h->fields[i].value;
    return NULL;
}

/* ---- chunked transfer coding (RFC 9112 §7.1) */

enum {
    CH_SIZE = 0,    /* hex digits of the chunk size */
    CH_SIZE_WS,     /* blanks after the size, before ';' or the line end */
    CH_EXT,         /* a chunk extension: skipped to the end of the line */
    CH_SIZE_LF,     /* CR seen after the size line; LF must follow */
    CH_DATA,        /* `left` bytes of chunk data */
    CH_DATA_CR,     /* the CRLF after chunk data */
    CH_DATA_LF,
    CH_TRAILER,     /* at the start of a trailer line, or of the final empty line */
    CH_TRAILER_LINE,
    CH_END_LF,      /* CR of the final empty line seen */
    CH_DONE,
};

/* A size line or trailer section beyond these is refused rather than buffered forever. */
#define CHUNK_LINE_MAX    4096u
#define CHUNK_TRAILER_MAX (64u << 10)

static int chunk_error(http_chunked_t *c, vigil_error_t *err, const char *what)
{
    c->failed = true;
    return vigil_error_set(err, VIGIL_EPARSE, "chunked body: %s at byte %llu", what,
                           (unsigned long long)c->offset);
}

static int chunked_decode(http_chunked_t *c, const char *in, size_t n, size_t *used,
                          const char **data, size_t *data_len, vigil_error_t *err)
{
    *used = 0;
    *data = NULL;
    *data_len = 0;
    if (c->failed)
        return vigil_error_set(err, VIGIL_EPARSE, "chunked body: decoder already failed");
    size_t i = 0;
    while (i < n && c->state != CH_DONE) {
        char ch = in[i];
        int was = c->state; /* the limits count bytes by the part they were read in */
        switch (c->state) {
        case CH_SIZE: {
            int v = hex_digit_value((unsigned char)ch);
            if (v >= 0) {
                if (c->left >> 60 != 0)
                    return chunk_error(c, err, "chunk size too large");
                c->left = c->left << 4 | (uint64_t)v;
                c->digits++;
                break;
            }
            if (c->digits == 0)
                return chunk_error(c, err, "missing chunk size");
            if (ch == ' ' || ch == '\t')
                c->state = CH_SIZE_WS;
            else if (ch == ';')
                c->state = CH_EXT;
            else if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (ch == '\n')
                goto size_line_done;
            else
                return chunk_error(c, err, "invalid chunk size");
            break;
        }
        case CH_SIZE_WS:
            if (ch == ';')
                c->state = CH_EXT;
            else if (ch == '\r')
                c->state = CH_SIZE_LF;
            else if (ch == '\n')
                goto size_line_done;
            else if (ch != ' ' && ch != '\t')
                return chunk_error(c, err, "invalid chunk size line");
            break;
        case CH_EXT:
            if (ch == '\n')
                goto size_line_done;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return chunk_error(c, err, "CR without LF after chunk size");
        size_line_done:
            c->line = 0;
            c->digits = 0;
            c->state = c->left == 0 ? CH_TRAILER : CH_DATA;
            i++;
            c->offset++;
            continue;
        case CH_DATA: {
            /* Hand out the run of data that is here: the caller copies it. */
            size_t k = n - i < c->left ? n - i : (size_t)c->left;
            if (*data_len > 0) {
                /* A second run in one call: stop so the caller takes the first. */
                *used = i;
                return 0;
            }
            *data = in + i;
            *data_len = k;
            c->left -= k;
            i += k;
            c->offset += k;
            if (c->left == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        case CH_DATA_CR:
            if (ch == '\r')
                c->state = CH_DATA_LF;
            else if (ch == '\n')
                c->state = CH_SIZE;
            else
                return chunk_error(c, err, "chunk data longer than its size");
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return chunk_error(c, err, "CR without LF after chunk data");
            c->state = CH_SIZE;
            break;
        case CH_TRAILER:
            if (ch == '\r')
                c->state = CH_END_LF;
            else if (ch == '\n')
                c->state = CH_DONE;
            else
                c->state = CH_TRAILER_LINE;
            break;
        case CH_TRAILER_LINE:
            /* Trailer fields are read past and ignored, as MHD and Go's server do for
             * requests no handler asks for. */
            if (ch == '\n')
                c->state = CH_TRAILER;
            break;
        case CH_END_LF:
            if (ch != '\n')
                return chunk_error(c, err, "CR without LF at the end of the trailers");
            c->state = CH_DONE;
            break;
        default:
            return chunk_error(c, err, "internal decoder state");
        }
        if (was == CH_EXT || was == CH_SIZE_WS || was == CH_SIZE) {
            if (++c->line > CHUNK_LINE_MAX)
                return chunk_error(c, err, "chunk size line too long");
        } else if (was == CH_TRAILER_LINE || was == CH_TRAILER || was == CH_END_LF) {
            if (++c->trailer > CHUNK_TRAILER_MAX)
                return chunk_error(c, err, "trailers too long");
        }
        i++;
        c->offset++;
    }
    *used = i;
    return c->state == CH_DONE ? 1 : 0;
}

int http_chunked_decode(http_chunked_t *c, const char *in, size_t n, size_t *used,
                        const char **data, size_t *data_len, vigil_error_t *err)
{
    int rc = chunked_decode(c, in, n, used, data, data_len, err);
    if (rc < 0) {
        /* Data decoded before the error in this call is not handed out: the body is bad. */
        *used = 0;
        *data = NULL;
        *data_len = 0;
    }
    return rc;
}
