/*
 * http_int.h - internals of the HTTP server shared between its files (and its tests and the
 * fuzz target): percent-decoding, the query/form parameter list, route patterns and the listen
 * socket, and the wire format (request heads, chunked bodies). Only server.c does I/O on
 * connections.
 */
#ifndef VIGIL_HTTP_INT_H
#define VIGIL_HTTP_INT_H

#include "http/http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- params.c: percent-decoding and application/x-www-form-urlencoded lists */

/* Most parameters one request may carry (query string and form body together). */
#define HTTP_PARAMS_MAX 4096

/*
 * Decodes `len` bytes of `s` into `out` (room for `len` + 1 bytes; the result is never longer
 * and is NUL-terminated), turning %XX into a byte and, when `plus_is_space`, '+' into ' '.
 * Returns 0 and the decoded length in *out_len, or VIGIL_EPARSE for a malformed escape or an
 * escaped NUL (C strings cannot carry it), with the detail in `err`.
 */
int http_pct_decode(const char *s, size_t len, bool plus_is_space, char *out, size_t *out_len,
                    vigil_error_t *err);

/* One decoded pair. `name` points at one malloc'd block that also holds `value`; freeing
 * `name` frees both. */
typedef struct http_param {
    char *name;
    char *value;
} http_param_t;

typedef struct http_params {
    http_param_t *items;  /* owned; in the order parsed */
    size_t        count;
    size_t        cap;
} http_params_t;

/* Initialises an empty list; allocates nothing. */
void http_params_init(http_params_t *p);

/* Frees every pair and the array; the list is empty and reusable afterwards. */
void http_params_free(http_params_t *p);

/*
 * Appends the pairs of a query string or urlencoded body (`len` bytes, no NUL needed) to `p`,
 * following Go's net/url.ParseQuery, which Prometheus clients are written against: pairs split
 * on '&', empty pairs skipped, a pair without '=' has value "", '+' is a space, %XX a byte.
 * Errors: VIGIL_EPARSE for a bad escape, an escaped NUL or a ';' separator (Go rejects those
 * too); VIGIL_ELIMIT past HTTP_PARAMS_MAX pairs; VIGIL_ENOMEM. On error the pairs parsed so
 * far stay in the list (http_params_free still frees them).
 */
int http_params_parse(http_params_t *p, const char *s, size_t len, vigil_error_t *err);

/* The next value of `name` at or after index *pos, advancing *pos past it; NULL when none. */
const char *http_params_next(const http_params_t *p, const char *name, size_t *pos);

/* ---- route.c: compiled route patterns */

#define HTTP_ROUTE_MAX_SEGMENTS 32
#define HTTP_PATH_PARAMS_MAX    8

typedef struct http_segment {
    char *text;   /* owned: the literal, or the parameter name without braces */
    bool  param;  /* `{name}` */
} http_segment_t;

/* A route row with its pattern split into segments. Owns copies of every string. */
typedef struct http_croute {
    unsigned        methods;
    char           *pattern;
    char           *handler_name;
    http_handler_fn handler;
    void           *ctx;
    http_segment_t *segs;
    size_t          nsegs;
    bool            prefix;   /* pattern ended in a lone asterisk segment */
} http_croute_t;

/* Decoded `{name}` values of the matched route. `name` points into the route; `value` is
 * malloc'd and freed by http_path_params_free. */
typedef struct http_path_params {
    struct {
        const char *name;
        char       *value;
    } items[HTTP_PATH_PARAMS_MAX + 1];  /* + the prefix remainder "*" */
    size_t count;
} http_path_params_t;

/* Validates and compiles `in` into *out, which the caller frees with http_route_free.
 * VIGIL_EINVAL with the pattern named in `err` for a malformed one; VIGIL_ENOMEM. */
int http_route_compile(http_croute_t *out, const http_route_t *in, vigil_error_t *err);

/* Frees what http_route_compile allocated; safe on a zeroed route. */
void http_route_free(http_croute_t *r);

/*
 * Matches the raw (still percent-encoded) absolute path of `len` bytes, whose escapes the
 * caller has already validated, against `r`. Returns 1 on a match, 0 when it does not match,
 * VIGIL_ENOMEM. With `pp` non-NULL a match also appends the decoded parameters to it.
 */
int http_route_match(const http_croute_t *r, const char *path, size_t len,
                     http_path_params_t *pp);

/* Frees the values in `pp` and empties it. */
void http_path_params_free(http_path_params_t *pp);

/* ---- wire.c: request heads and chunked bodies, without I/O */

/* One request header, pointing into the head buffer that http_head_parse was given. */
typedef struct http_field {
    const char *name;
    const char *value;   /* optional whitespace around it removed */
} http_field_t;

/* A parsed request head. Strings point into the caller's buffer; `fields` is the one
 * allocation, freed by http_head_free. */
typedef struct http_head {
    const char   *method;             /* "GET"; any token */
    const char   *target;             /* the request target as sent: "/api/v1/query?x=1" */
    int           minor;              /* HTTP/1.<minor>: 0 or 1 */
    http_field_t *fields;             /* in the order sent, repeats kept */
    size_t        field_count;
    /* Framing and connection handling, from the fields: */
    bool          has_content_length;
    uint64_t      content_length;
    bool          chunked;            /* Transfer-Encoding: chunked */
    bool          keep_alive;         /* the connection may carry another request */
    bool          expect_continue;    /* the client waits for "100 Continue" (HTTP/1.1) */
} http_head_t;

/*
 * How many bytes at the start of `buf` make a complete request head: up to and including the
 * empty line that ends it (CRLF or bare LF line ends; empty lines before the request line
 * count as part of it). 0 while the empty line has not arrived.
 */
size_t http_head_length(const char *buf, size_t len);

/*
 * Parses a request head of `len` bytes in place: `buf` must have room for one more byte, and
 * its line ends are overwritten with NULs. Returns 0; or an HTTP status to answer with (400
 * malformed, 417 unknown Expect, 501 a transfer coding other than chunked, 505 not HTTP/1.x)
 * with the reason in `err`; or VIGIL_ENOMEM. Call http_head_free afterwards in every case.
 */
int http_head_parse(char *buf, size_t len, http_head_t *head, vigil_error_t *err);

/* Frees what http_head_parse allocated; the strings stay the caller's. */
void http_head_free(http_head_t *head);

/* The value of the first field named `name` (case-insensitive), or NULL. */
const char *http_head_field(const http_head_t *head, const char *name);

/* Decoder state of one chunked body; zero it before the first byte. */
typedef struct http_chunked {
    int      state;
    uint64_t left;      /* data bytes left in the current chunk, or the size being read */
    unsigned digits;    /* hex digits of the size read so far */
    unsigned line;      /* bytes of the current size line */
    unsigned trailer;   /* bytes of the trailer section */
    uint64_t offset;    /* bytes of the body consumed, for error messages */
    bool     failed;
} http_chunked_t;

/*
 * Decodes the next bytes of a chunked body. Consumes *used bytes of `in` and sets *data and
 * *data_len to the run of chunk data among them (pointing into `in`; length 0 when there was
 * none): call again with the rest. Returns 0 while more body is to come, 1 once the last
 * chunk and its trailers have been consumed (bytes after them are the next request's), or
 * VIGIL_EPARSE with the byte offset in `err` (then *used is 0 and no data is handed
 * out); after an error every call fails. A call that
 * returns 0 for a non-empty `in` has consumed at least one byte of it.
 */
int http_chunked_decode(http_chunked_t *c, const char *in, size_t n, size_t *used,
                        const char **data, size_t *data_len, vigil_error_t *err);

/* ---- response.c */

/* Resets `resp` to the defaults handlers see (200, text/plain, empty body capped at
 * `max_body`, no headers). Allocates nothing. */
void http_response_init(http_response_t *resp, size_t max_body);

/* Frees the body and headers; the response can be initialised again. */
void http_response_free(http_response_t *resp);

/* ---- listen.c: the listening socket */

/*
 * Splits a listen address into host ("" for all interfaces; brackets of an IPv6 literal
 * removed) and port. VIGIL_EINVAL naming the address when malformed or too long.
 */
int http_listen_split(const char *listen, char *host, size_t host_size, unsigned *port,
                      vigil_error_t *err);

/*
 * Opens a non-blocking, close-on-exec TCP socket listening on `listen`. On success *fd is the
 * socket, owned by the caller (close(2); the server closes it on stop) and *port
 * the bound port. A name with several addresses binds the first that works, IPv4 first; ""
 * binds all interfaces, dual-stack where IPv6 exists. Errors are described in `err` as
 * "listen <address>: <system error>".
 */
int http_listen_open(const char *listen, int *fd, int *port, vigil_error_t *err);

#endif /* VIGIL_HTTP_INT_H */
