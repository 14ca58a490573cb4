/*
 * http_int.h - internals of the HTTP server shared between its files (and its tests and the
 * fuzz target): percent-decoding, the query/form parameter list, route patterns and the listen
 * socket. Nothing here touches libmicrohttpd except server.c.
 */
#ifndef VIGIL_HTTP_INT_H
#define VIGIL_HTTP_INT_H

#include "http/http.h"

#include <stdbool.h>
#include <stddef.h>

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
 * socket, owned by the caller (close(2); or handed to MHD, which closes it on stop) and *port
 * the bound port. A name with several addresses binds the first that works, IPv4 first; ""
 * binds all interfaces, dual-stack where IPv6 exists. Errors are described in `err` as
 * "listen <address>: <system error>".
 */
int http_listen_open(const char *listen, int *fd, int *port, vigil_error_t *err);

#endif /* VIGIL_HTTP_INT_H */
