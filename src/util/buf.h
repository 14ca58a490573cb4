/*
 * buf.h - growable byte buffers with a hard size cap.
 *
 * Every buffer that grows with untrusted input (HTTP bodies, exposition output, log lines) has
 * a maximum set at init; an append past it fails with VIGIL_ELIMIT and leaves the buffer as it
 * was. The contents are always NUL-terminated (the NUL is not counted in len), so text built
 * here can be handed to C string functions directly.
 */
#ifndef VIGIL_UTIL_BUF_H
#define VIGIL_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char  *data;  /* owned; NULL until the first append */
    size_t len;   /* bytes used, excluding the terminating NUL */
    size_t cap;   /* bytes allocated */
    size_t max;   /* len may never exceed this */
} buf_t;

/* Initialises an empty buffer that may grow to `max` bytes. Allocates nothing. */
void buf_init(buf_t *b, size_t max);

/* Frees the contents; the buffer is empty and reusable afterwards. */
void buf_free(buf_t *b);

/* Empties the buffer but keeps its allocation for reuse. */
void buf_reset(buf_t *b);

/* Ensures room for `extra` more bytes. 0, VIGIL_ENOMEM or VIGIL_ELIMIT. */
int buf_reserve(buf_t *b, size_t extra);

/* Appends bytes / a C string / one byte / formatted text. 0, VIGIL_ENOMEM or VIGIL_ELIMIT;
 * on failure the buffer keeps its previous contents. */
int buf_append(buf_t *b, const void *data, size_t len);
int buf_puts(buf_t *b, const char *s);
int buf_putc(buf_t *b, char c);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);

/* Appends `s` as a JSON string literal, quotes included, escaped as Go's encoding/json writes
 * it (what Prometheus's and Alertmanager's APIs send): \" \\ \n \r \t, other control bytes and
 * < > & as \u00XX, U+2028 and U+2029 as \u2028 \u2029, each byte of invalid UTF-8 as \ufffd;
 * valid UTF-8 as it is. On error the buffer is left as it was. */
int buf_put_json_string(buf_t *b, const char *s);

/* Appends `s` as Go's strconv.Quote writes it (the %q of label values in Prometheus and
 * Alertmanager texts, PromQL string literals): valid UTF-8 stays as it is, `"` and `\` and the
 * C escapes \a \b \f \n \r \t \v are backslashed, other control bytes and bytes of invalid
 * UTF-8 become \xHH, and the invisible code points Go does not print (C1 controls, U+00AD,
 * U+2028, U+2029, U+FEFF) become \uHHHH. On error the buffer is left as it was. */
int buf_put_go_quoted(buf_t *b, const char *s);

/* Appends a double the way Prometheus prints sample values: "NaN", "+Inf", "-Inf", or the
 * shortest representation that round-trips. */
int buf_put_double(buf_t *b, double v);

/* Hands the contents to the caller, who frees them with free(); the buffer becomes empty.
 * Returns a valid empty string (still to be freed) when nothing was appended; NULL only when
 * that allocation fails. */
char *buf_detach(buf_t *b, size_t *len);

#endif /* VIGIL_UTIL_BUF_H */
