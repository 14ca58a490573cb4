/*
 * expfmt.h - streaming parser for the Prometheus text exposition format 0.0.4 and the
 * OpenMetrics 1.0 text format.
 *
 * One parser reads one exposition held in memory and hands out one entry per call: a family's
 * metadata (TYPE, HELP, UNIT) or a sample (name, labels, value, optional timestamp, optional
 * exemplar). Nothing is allocated per sample once the parser is warm: names point into the
 * input, and label values that needed unescaping point into a scratch buffer the parser owns
 * and reuses for every entry. An entry is therefore valid only until the next call to
 * expfmt_next() or expfmt_parser_destroy(); copy what you keep.
 *
 * Two modes (docs/format/exposition.md has the full list of what each accepts):
 *   EXPFMT_STRICT   OpenMetrics: the OpenMetrics 1.0 specification to the letter (the
 *                   conformance suite's verdicts); text: what prometheus/common's text parser
 *                   (the one behind `promtool check metrics`) rejects.
 *   EXPFMT_LENIENT  what Prometheus's scrape parser (model/textparse) accepts.
 *
 * The parser stops at the first error: expfmt_next() returns VIGIL_EPARSE with
 * "line:column: message" in the vigil_error_t, and keeps returning that code afterwards.
 * Checks that need a whole family or metric point (histogram bucket order, _count against the
 * +Inf bucket, name clashes between families) can only fail when the next family starts or the
 * input ends, so a caller that must not act on an invalid exposition (the OpenMetrics spec says
 * a partial exposition is erroneous in its entirety) parses it to the end before using it.
 */
#ifndef VIGIL_EXPFMT_H
#define VIGIL_EXPFMT_H

#include "util/buf.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum expfmt_format {
    EXPFMT_TEXT = 0,        /* text/plain; version=0.0.4 */
    EXPFMT_OPENMETRICS = 1, /* application/openmetrics-text; version=1.0.0 */
} expfmt_format_t;

typedef enum expfmt_mode {
    EXPFMT_LENIENT = 0,
    EXPFMT_STRICT = 1,
} expfmt_mode_t;

/* Metric family types. The text format's "untyped" is EXPFMT_TYPE_UNKNOWN. */
typedef enum expfmt_type {
    EXPFMT_TYPE_UNKNOWN = 0,
    EXPFMT_TYPE_COUNTER,
    EXPFMT_TYPE_GAUGE,
    EXPFMT_TYPE_HISTOGRAM,
    EXPFMT_TYPE_GAUGEHISTOGRAM,
    EXPFMT_TYPE_SUMMARY,
    EXPFMT_TYPE_INFO,
    EXPFMT_TYPE_STATESET,
} expfmt_type_t;

typedef enum expfmt_entry_kind {
    EXPFMT_ENTRY_END = 0, /* the exposition is over (and valid as far as the mode checks) */
    EXPFMT_ENTRY_TYPE,
    EXPFMT_ENTRY_HELP,
    EXPFMT_ENTRY_UNIT,
    EXPFMT_ENTRY_SAMPLE,
} expfmt_entry_kind_t;

/* A byte string that is not NUL-terminated (label values may contain NUL in OpenMetrics). */
typedef struct expfmt_str {
    const char *ptr;
    size_t len;
} expfmt_str_t;

typedef struct expfmt_label {
    expfmt_str_t name;
    expfmt_str_t value; /* unescaped */
} expfmt_label_t;

/* One entry; every pointer in it is valid until the next expfmt_next() call. */
typedef struct expfmt_entry {
    expfmt_entry_kind_t kind;
    size_t line;               /* 1-based line the entry came from */
    expfmt_str_t name;         /* metadata: the family name; sample: the sample's metric name */
    expfmt_str_t family;       /* sample: the family it belongs to (name without its suffix) */
    expfmt_type_t type;        /* TYPE: the declared type; sample: its family's type */
    expfmt_str_t text;         /* HELP: the unescaped help text; UNIT: the unit */
    const expfmt_label_t *labels;  /* sample: labels in input order */
    size_t nlabels;
    double value;
    bool has_timestamp;
    int64_t timestamp_ms;      /* OpenMetrics seconds * 1000, truncated and clamped to int64 */
    bool has_exemplar;
    const expfmt_label_t *exemplar_labels;
    size_t exemplar_nlabels;
    double exemplar_value;
    bool exemplar_has_timestamp;
    int64_t exemplar_timestamp_ms;
} expfmt_entry_t;

/* Label-count cap per sample (and per exemplar): more fails with VIGIL_ELIMIT. */
#define EXPFMT_MAX_LABELS 4096

typedef struct expfmt_om_state expfmt_om_state_t;     /* OpenMetrics family state (om.c) */
typedef struct expfmt_text_state expfmt_text_state_t; /* strict text family map (text.c) */

/*
 * The parser. The caller allocates it (usually on the stack); the fields are private to
 * src/expfmt/ and documented there.
 */
typedef struct expfmt_parser {
    const char *data;         /* the exposition; borrowed, must outlive the parser */
    size_t len;
    size_t pos;               /* offset of the next unread line */
    size_t line_no;           /* 1-based number of the current line */
    const char *line;         /* the current line and its end (the '\n' or data + len) */
    const char *line_end;
    expfmt_format_t format;
    expfmt_mode_t mode;
    int failed;               /* 0, or the code of the first error (sticky) */
    vigil_error_t error;      /* that error's message, repeated by later calls */
    bool done;                /* END was returned */
    bool seen_eof;            /* OpenMetrics: the "# EOF" line was read */
    size_t samples;           /* samples returned so far */

    expfmt_label_t *labels;   /* the current sample's labels, then its exemplar's */
    size_t labels_cap;
    buf_t scratch;            /* unescaped strings of the current line */
    bool scratch_ready;       /* scratch has room for the whole current line */
    const expfmt_label_t **sorted; /* label pointers sorted by name (duplicate checks) */
    size_t sorted_cap;
    buf_t numbuf;             /* a NUL-terminated copy of a long number for strtod */

    expfmt_om_state_t *om;    /* OpenMetrics only */
    expfmt_text_state_t *text; /* strict text only */
    /* Lenient text: the family named by the last TYPE line, to type the samples. */
    expfmt_str_t last_family;
    expfmt_type_t last_type;
} expfmt_parser_t;

/*
 * Prepares `p` to parse `len` bytes at `data` (borrowed: the caller keeps it alive and
 * unchanged until expfmt_parser_destroy). Allocates only the mode's state; returns 0,
 * VIGIL_EINVAL or VIGIL_ENOMEM. Always pair with expfmt_parser_destroy, even on failure.
 */
int expfmt_parser_init(expfmt_parser_t *p, const char *data, size_t len, expfmt_format_t format,
                       expfmt_mode_t mode);

/* Frees everything the parser allocated. Safe on a zeroed or failed-init parser. */
void expfmt_parser_destroy(expfmt_parser_t *p);

/*
 * Reads the next entry into *e. Returns 0 with e->kind set (EXPFMT_ENTRY_END once the input
 * is over), or VIGIL_EPARSE / VIGIL_ELIMIT / VIGIL_ENOMEM with "line:col: message" in err
 * (which may be NULL). After an error or END every further call returns the same result.
 */
int expfmt_next(expfmt_parser_t *p, expfmt_entry_t *e, vigil_error_t *err);

/* Samples returned so far: on error, how many were read before it. */
size_t expfmt_samples_read(const expfmt_parser_t *p);

/*
 * Parses a whole exposition and only checks it: 0 when valid, else the first error in err.
 * *samples (may be NULL) gets the number of samples read (before the error, if any).
 */
int expfmt_validate(const char *data, size_t len, expfmt_format_t format, expfmt_mode_t mode,
                    size_t *samples, vigil_error_t *err);

/*
 * Picks the format from an HTTP Content-Type header value. NULL or empty and "text/plain"
 * (any version) give EXPFMT_TEXT; "application/openmetrics-text" with version 0.0.1, 1.0.0 or
 * none gives EXPFMT_OPENMETRICS. Anything else (protobuf, other OpenMetrics versions) returns
 * VIGIL_ENOTSUP with the reason in err; *format is then left unchanged.
 */
int expfmt_format_from_content_type(const char *content_type, expfmt_format_t *format,
                                    vigil_error_t *err);

/* "counter", "gauge", ...; the text format's name for EXPFMT_TYPE_UNKNOWN is "untyped".
 * Static strings, never NULL. */
const char *expfmt_type_name(expfmt_type_t type, expfmt_format_t format);

/* "text" or "openmetrics" (static). */
const char *expfmt_format_name(expfmt_format_t format);

#endif /* VIGIL_EXPFMT_H */
