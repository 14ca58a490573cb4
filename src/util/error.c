/*
 * error.c - the error table's messages and the vigil_error_t helpers.
 */
#include "vigil/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *vigil_strerror(int code)
{
    switch (code) {
#define VIGIL_ERROR_MSG_(name, value, msg) case name: return msg;
        VIGIL_ERROR_TABLE(VIGIL_ERROR_MSG_)
#undef VIGIL_ERROR_MSG_
    }
    return "unknown error";
}

const char *vigil_error_name(int code)
{
    switch (code) {
#define VIGIL_ERROR_NAME_(name, value, msg) case name: return #name;
        VIGIL_ERROR_TABLE(VIGIL_ERROR_NAME_)
#undef VIGIL_ERROR_NAME_
    }
    return "VIGIL_E?";
}

int vigil_error_set(vigil_error_t *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

void vigil_error_clear(vigil_error_t *err)
{
    if (err == NULL)
        return;
    err->code = VIGIL_OK;
    err->message[0] = '\0';
}
