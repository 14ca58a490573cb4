/*
 * duration.h - Prometheus durations ("1h30m", "15d", "500ms"), parsed and printed exactly as
 * Prometheus's model.ParseDuration and model.Duration.String do. Used by the config file,
 * PromQL and the HTTP API, so one duration reads the same everywhere.
 */
#ifndef VIGIL_UTIL_DURATION_H
#define VIGIL_UTIL_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* The longest duration: what fits in int64 nanoseconds (Go's time.Duration), about 292y. */
#define DURATION_MAX_MS (INT64_MAX / 1000000)

/* Why a duration did not parse. */
typedef enum duration_error {
    DURATION_OK = 0,
    DURATION_EMPTY,        /* "" */
    DURATION_NEGATIVE,     /* "-5m" */
    DURATION_SYNTAX,       /* not digits followed by a unit */
    DURATION_FRACTION,     /* "1.5h" */
    DURATION_MISSING_UNIT, /* "15" */
    DURATION_UNKNOWN_UNIT, /* "5x" */
    DURATION_UNIT_ORDER,   /* "1m1h", "1h1h": each unit at most once, largest first */
    DURATION_TOO_LONG,     /* over DURATION_MAX_MS */
} duration_error_t;

/* Parses the `n` bytes at `s` (units y w d h m s ms; "0" alone is zero) into milliseconds.
 * Returns DURATION_OK and sets *ms, or the reason it failed (*ms untouched). */
duration_error_t duration_parse(const char *s, size_t n, int64_t *ms);

/* A short English reason for an error ("missing unit"); static. */
const char *duration_error_text(duration_error_t e);

/* Writes `ms` as Prometheus prints it ("1h30m", "10d", "0s", "-5m"; years and weeks only when
 * exact) into out (NUL-terminated, truncated to cap). */
void duration_format(int64_t ms, char *out, size_t cap);

#endif /* VIGIL_UTIL_DURATION_H */
