/*
 * vigil/error.h - the one error convention of libvigil and the agent.
 *
 * Functions that can fail return 0 on success or a negative VIGIL_E* code. Human-readable
 * detail (which file, line, field or byte offset) never goes into the code: callers that want
 * it pass a vigil_error_t, which the failing function fills. Codes are frozen once released:
 * new ones are appended to the table, never renumbered.
 */
#ifndef VIGIL_ERROR_H
#define VIGIL_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message). The table is the only place a code is defined. */
#define VIGIL_ERROR_TABLE(X)                                               \
    X(VIGIL_OK,        0,  "success")                                      \
    X(VIGIL_ENOMEM,   -1,  "out of memory")                                \
    X(VIGIL_EINVAL,   -2,  "invalid argument")                             \
    X(VIGIL_EIO,      -3,  "input/output error")                           \
    X(VIGIL_EPARSE,   -4,  "parse error")                                  \
    X(VIGIL_ERANGE,   -5,  "value out of range")                           \
    X(VIGIL_ENOENT,   -6,  "not found")                                    \
    X(VIGIL_EEXIST,   -7,  "already exists")                               \
    X(VIGIL_EBUSY,    -8,  "resource busy")                                \
    X(VIGIL_ELIMIT,   -9,  "limit exceeded")                               \
    X(VIGIL_ESTATE,   -10, "invalid state for this operation")             \
    X(VIGIL_ENOTSUP,  -11, "not supported")                                \
    X(VIGIL_ETIMEOUT, -12, "timed out")                                    \
    X(VIGIL_ESYS,     -13, "system call failed")

enum vigil_error_code {
#define VIGIL_ERROR_ENUM_(name, value, msg) name = value,
    VIGIL_ERROR_TABLE(VIGIL_ERROR_ENUM_)
#undef VIGIL_ERROR_ENUM_
};

/* Detail of the last failure. Fixed size: filling it never allocates. */
typedef struct vigil_error {
    int  code;          /* the VIGIL_E* code that was returned */
    char message[512];  /* "file:line:col: what went wrong", NUL-terminated */
} vigil_error_t;

/* Returns a static string naming what `code` means; never NULL, never to be freed. */
const char *vigil_strerror(int code);

/* Returns the symbolic name of `code` ("VIGIL_EPARSE"); static, never NULL. */
const char *vigil_error_name(int code);

/*
 * Records `code` and a printf-style message in `err` (which may be NULL: the detail is then
 * dropped) and returns `code`, so a failing function can `return vigil_error_set(...)`.
 */
int vigil_error_set(vigil_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets `err` to VIGIL_OK with an empty message. `err` may be NULL. */
void vigil_error_clear(vigil_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_ERROR_H */
