/*
 * log.h - structured logging: the one logging API of vigil.
 *
 * Every subsystem logs through a log_t handed to it at init (never a global), with a level, a
 * component name, a message and typed key/value fields:
 *
 *     log_info(lg, "http", "listening", LF_STR("addr", addr), LF_INT("port", port));
 *
 * Lines go out as JSON (ts, level, component, msg, then the fields) or as text for humans, to
 * stderr or a file, each with a single write(2) so concurrent threads never interleave. A NULL
 * log_t discards everything, so library code can log unconditionally.
 */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

#include "vigil/error.h"

#include <stdbool.h>

typedef enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_TRACE,
} log_level_t;

typedef enum log_format {
    LOG_FORMAT_JSON = 0,
    LOG_FORMAT_TEXT,
} log_format_t;

typedef enum log_field_type {
    LOG_FIELD_STR,
    LOG_FIELD_INT,
    LOG_FIELD_UINT,
    LOG_FIELD_DOUBLE,
    LOG_FIELD_BOOL,
} log_field_type_t;

typedef struct log_field {
    const char      *key;
    log_field_type_t type;
    union {
        const char        *s;  /* NULL prints as JSON null / "(null)" */
        long long          i;
        unsigned long long u;
        double             d;
        bool               b;
    } v;
} log_field_t;

#define LF_STR(k, val)  (&(const log_field_t){ .key = (k), .type = LOG_FIELD_STR,    .v.s = (val) })
#define LF_INT(k, val)  (&(const log_field_t){ .key = (k), .type = LOG_FIELD_INT,    .v.i = (val) })
#define LF_UINT(k, val) (&(const log_field_t){ .key = (k), .type = LOG_FIELD_UINT,   .v.u = (val) })
#define LF_DBL(k, val)  (&(const log_field_t){ .key = (k), .type = LOG_FIELD_DOUBLE, .v.d = (val) })
#define LF_BOOL(k, val) (&(const log_field_t){ .key = (k), .type = LOG_FIELD_BOOL,   .v.b = (val) })

typedef struct log log_t;

typedef struct log_options {
    log_level_t  level;
    log_format_t format;
    const char  *path;  /* NULL or "" or "stderr": standard error; otherwise appended to */
} log_options_t;

/* Opens a logger. On success *out is owned by the caller and freed with log_close(). */
int log_open(log_t **out, const log_options_t *opts, vigil_error_t *err);

/* Flushes nothing (lines are written whole) and frees the logger; NULL is a no-op. */
void log_close(log_t *lg);

/* Changes level and format of a live logger (config reload). Thread-safe. */
void log_set_level(log_t *lg, log_level_t level);
void log_set_format(log_t *lg, log_format_t format);

/* True when a line at `level` would be written; false for a NULL logger. */
bool log_enabled(const log_t *lg, log_level_t level);

/* Writes one line. The variadic part is `const log_field_t *` pointers ending in NULL; use the
 * log_<level>() macros, which add the NULL. Lines over 16 KiB are truncated, never split. */
void log_emit(log_t *lg, log_level_t level, const char *component, const char *msg, ...)
    __attribute__((sentinel));

#define log_at_(lg, level, component, ...)                                              \
    do {                                                                                \
        if (log_enabled((lg), (level)))                                                 \
            log_emit((lg), (level), (component), __VA_ARGS__, (const log_field_t *)0);  \
    } while (0)

#define log_error(lg, component, ...) log_at_(lg, LOG_LEVEL_ERROR, component, __VA_ARGS__)
#define log_warn(lg, component, ...)  log_at_(lg, LOG_LEVEL_WARN, component, __VA_ARGS__)
#define log_info(lg, component, ...)  log_at_(lg, LOG_LEVEL_INFO, component, __VA_ARGS__)
#define log_debug(lg, component, ...) log_at_(lg, LOG_LEVEL_DEBUG, component, __VA_ARGS__)
#define log_trace(lg, component, ...) log_at_(lg, LOG_LEVEL_TRACE, component, __VA_ARGS__)

/* Parse / name levels and formats ("error" "warn" "info" "debug" "trace"; "json" "text").
 * The parsers return 0 or VIGIL_EINVAL; the names are static strings. */
int log_level_parse(const char *s, log_level_t *out);
const char *log_level_name(log_level_t level);
int log_format_parse(const char *s, log_format_t *out);
const char *log_format_name(log_format_t format);

#endif /* VIGIL_LOG_H */
