/*
 * config_int.h - private to src/config: value parsers, the per-type operations and helpers
 * shared by the YAML loader (load.c), flags (config.c) and the dump (dump.c).
 *
 * A value travels as a config_value_t: parsed from text (YAML scalar or flag) into the union,
 * checked against the key's range, then moved into the config_t field. Parsers never see where
 * the text came from; they describe the problem in `why` ("expected a duration like 1h30m, got
 * \"10\"") and the caller prefixes "file:line:col: key: " or "--key: ".
 */
#ifndef VIGIL_CONFIG_INT_H
#define VIGIL_CONFIG_INT_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most names a string list may hold; the duplicate check is quadratic, so keep it bounded. */
#define CONFIG_STRING_LIST_MAX 256

/* Room for a parser's problem description; the final message is capped by vigil_error_t. */
#define CONFIG_WHY_MAX 320

typedef union config_value {
    char                *s;      /* STRING, ADDRESS: owned by the value until stored */
    bool                 b;
    int                  i;      /* INT, ENUM */
    double               d;      /* DOUBLE, DURATION (seconds) */
    uint64_t             u;      /* SIZE */
    config_number_list_t nums;
    config_string_list_t strs;   /* owned by the value until stored */
} config_value_t;

/*
 * Duration in Prometheus syntax (util/duration.h, with messages for config errors): units y w d h m s ms, each at most once, largest first, each
 * a non-negative integer; "0" alone is zero. 1y = 365d, 1w = 7d. Returns 0 with *ms set, or
 * VIGIL_EPARSE (syntax) / VIGIL_ERANGE (overflow) with `why` filled.
 */
int config_parse_duration(const char *text, uint64_t *ms, char *why, size_t why_len);

/* Writes `ms` the way Prometheus prints durations ("1h30m", "15d", "500ms", "0s"). */
void config_format_duration(uint64_t ms, char *out, size_t out_len);

/*
 * Size: "0", or a non-negative integer followed by one unit: B, KB/KiB, MB/MiB, GB/GiB, TB/TiB,
 * PB/PiB, EB/EiB. Units are powers of 1024 in both spellings, as Prometheus'
 * --storage.tsdb.retention.size reads them. Returns 0, VIGIL_EPARSE or VIGIL_ERANGE.
 */
int config_parse_size(const char *text, uint64_t *bytes, char *why, size_t why_len);

/* Writes `bytes` with the largest IEC unit that divides it exactly ("32MiB", "1000B", "0"). */
void config_format_size(uint64_t bytes, char *out, size_t out_len);

/* Length (1..4) of the UTF-8 sequence at `p` with its code point in *cp; 0 when `p` does not
 * start a valid, shortest-form sequence of a scalar value. */
size_t config_utf8_decode(const unsigned char *p, uint32_t *cp);

/* Writes `text` quoted for an error message: at most ~40 bytes, control bytes escaped. */
void config_quote(const char *text, char *out, size_t out_len);

/*
 * Parses a scalar's text for `key` (any type but the lists) and checks its range. Returns 0
 * with *out filled (a string result is malloc'd and owned by the caller until stored or
 * released with config_value_release()), or VIGIL_EPARSE / VIGIL_ERANGE / VIGIL_ENOMEM.
 */
int config_parse_scalar(const config_key_t *key, const char *text, config_value_t *out,
                        char *why, size_t why_len);

/* Parses one list element and appends it to `list` (a value of key's list type), enforcing
 * the element range, CONFIG_F_INCREASING and the list's capacity. */
int config_list_push(const config_key_t *key, config_value_t *list, const char *text,
                     char *why, size_t why_len);

/* Empty value for `key`'s list type (the start for config_list_push()). */
void config_list_init(const config_key_t *key, config_value_t *list);

/* Frees what a parsed but not stored value owns. */
void config_value_release(const config_key_t *key, config_value_t *v);

/* Moves `v` into `cfg`'s field for `key` (freeing the old value) and records its origin. */
void config_store(config_t *cfg, const config_key_t *key, config_value_t *v,
                  config_origin_kind_t kind, unsigned line, unsigned col);

/* Row index of `key` in the schema table. */
size_t config_key_index(const config_key_t *key);

/* Type names for messages and docs ("duration", "size"). */
const char *config_type_name(config_type_t type);

/* The field of `key` inside `cfg`. */
static inline void *config_field(const config_t *cfg, const config_key_t *key)
{
    return (char *)cfg + key->offset;
}

/* Numeric value of an INT/DOUBLE/DURATION/SIZE key as a double (cross checks, docs). */
double config_numeric(const config_t *cfg, const config_key_t *key);

/* Appends a number as the config prints it (shortest round-trip, no exponent for integers). */
void config_format_number(double v, char *out, size_t out_len);

/* Appends "between 1 and 64" / "greater than 0 and less than 100" / "at least 0" for `key`. */
void config_format_range(const config_key_t *key, char *out, size_t out_len);

#endif /* VIGIL_CONFIG_INT_H */
