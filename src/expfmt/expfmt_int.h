/*
 * expfmt_int.h - what the files of src/expfmt/ share and nobody else sees.
 *
 *   parse.c    line splitting, the syntax of both formats, numbers, escapes, the entry API
 *   om.c       OpenMetrics families (both modes) and the strict OpenMetrics semantic checks
 *   text.c     the strict text-format checks (prometheus/common's family map)
 *   strset.c   an arena-backed set of byte strings with O(1) clear
 *   content_type.c  format choice from a Content-Type header
 */
#ifndef VIGIL_EXPFMT_INT_H
#define VIGIL_EXPFMT_INT_H

#include "expfmt/expfmt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- strset.c ----------------------------------------------------------------------------
 * A set of byte strings. Keys are copied into an arena so they may come from the scratch
 * buffer; each slot carries a 32-bit value the caller may use (flags, a type). Clearing bumps a
 * generation number instead of touching the table, so a set that once grew big is emptied in
 * O(1) and reused without allocating. */
typedef struct strset_slot {
    uint64_t hash;
    size_t off;       /* key offset in the arena */
    size_t len;
    uint32_t gen;     /* the slot is used when gen == set->gen */
    uint32_t value;
} strset_slot_t;

typedef struct strset {
    strset_slot_t *slots; /* owned; cap is 0 or a power of two */
    size_t cap;
    size_t count;
    uint32_t gen;
    buf_t arena;          /* key bytes */
} strset_t;

/* An empty set whose keys may take up to max_bytes in total. Allocates nothing. */
void strset_init(strset_t *s, size_t max_bytes);
/* Frees the table and the arena. */
void strset_free(strset_t *s);
/* Empties the set, keeping its memory. */
void strset_clear(strset_t *s);
/* Finds `key`; when absent and `add` is set, inserts it with value 0. Returns the slot (valid
 * until the next insertion) or NULL when absent and not added; *added tells which happened.
 * On allocation failure returns NULL with *rc set to VIGIL_ENOMEM or VIGIL_ELIMIT. */
strset_slot_t *strset_lookup(strset_t *s, const void *key, size_t len, bool add, bool *added,
                             int *rc);

uint64_t expfmt_hash(const void *key, size_t len);

/* ---- parse.c helpers used by the checkers -------------------------------------------------- */

/* Records "line:col: message" (col counted in code points up to `at`, which lies in the current
 * line or is NULL for column 1) in err and in the parser, marks the parser failed and returns
 * `code`. */
int expfmt_fail(expfmt_parser_t *p, vigil_error_t *err, const char *at, int code,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Same, for a position in an earlier line: `line` and `col` are given. */
int expfmt_fail_at(expfmt_parser_t *p, vigil_error_t *err, size_t line, size_t col, int code,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Writes s as a double-quoted C-like literal into out (always NUL-terminated), escaping quotes,
 * backslashes and non-printable bytes and cutting it at about 60 bytes. Returns out. */
const char *expfmt_quote(char *out, size_t n, const char *s, size_t len);
#define EXPFMT_QUOTE_MAX 96

/* Parses a number in the OpenMetrics grammar (real, [sign]inf/infinity, nan; case-insensitive)
 * into *out. `special` false: realnumber only (timestamps). */
bool expfmt_parse_number(expfmt_parser_t *p, const char *s, size_t n, bool special, double *out);

bool expfmt_str_eq(expfmt_str_t a, const char *s, size_t n);
const expfmt_label_t *expfmt_find_label(const expfmt_label_t *l, size_t n, const char *name);

/* ---- om.c ---------------------------------------------------------------------------------- */
int om_state_new(expfmt_parser_t *p);
void om_state_free(expfmt_parser_t *p);
/* A metadata line (kind TYPE/HELP/UNIT) for `e->name`; e is filled by the caller. `at_name` is
 * the name's position, `at_value` the value's (for messages). */
int om_metadata(expfmt_parser_t *p, expfmt_entry_t *e, const char *at_name,
                const char *at_value, vigil_error_t *err);
/* A sample line, fully parsed into e. Sets e->family and e->type and runs strict checks. */
int om_sample(expfmt_parser_t *p, expfmt_entry_t *e, const char *at_value, vigil_error_t *err);
/* The current sample's timestamp in seconds, before om_sample (exact ordering checks). */
void om_note_timestamp(expfmt_parser_t *p, double seconds);
/* The input is over (after "# EOF"): the last family's checks. */
int om_end(expfmt_parser_t *p, vigil_error_t *err);

/* ---- text.c -------------------------------------------------------------------------------- */
int text_state_new(expfmt_parser_t *p);
void text_state_free(expfmt_parser_t *p);
int text_metadata(expfmt_parser_t *p, expfmt_entry_t *e, const char *at_name,
                  vigil_error_t *err);
/* `at_labels` is where the label set starts (for messages); NULL when there is none. */
int text_sample(expfmt_parser_t *p, expfmt_entry_t *e, const char *at_labels,
                vigil_error_t *err);

#endif /* VIGIL_EXPFMT_INT_H */
