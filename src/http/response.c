/*
 * response.c - what handlers fill: status, content type, capped body, a few extra headers
 * (see http.h). server.c turns the struct into the status line, headers and
 * body it sends after the handler returns.
 */
#include "http/http_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CT_TEXT "text/plain; charset=utf-8"
#define CT_JSON "application/json"

void http_response_init(http_response_t *resp, size_t max_body)
{
    resp->status = 200;
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", CT_TEXT);
    buf_init(&resp->body, max_body);
    resp->header_count = 0;
}

void http_response_free(http_response_t *resp)
{
    buf_free(&resp->body);
    for (size_t i = 0; i < resp->header_count; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    resp->header_count = 0;
}

void http_response_set_content_type(http_response_t *resp, const char *content_type)
{
    snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
}

/* Replaces the body with `s`; on failure the body is left empty rather than half-written. */
static int set_body(http_response_t *resp, const char *s)
{
    buf_reset(&resp->body);
    return buf_puts(&resp->body, s);
}

int http_response_json(http_response_t *resp, int status, const char *json)
{
    resp->status = status;
    http_response_set_content_type(resp, CT_JSON);
    return set_body(resp, json);
}

int http_response_text(http_response_t *resp, int status, const char *text)
{
    resp->status = status;
    http_response_set_content_type(resp, CT_TEXT);
    return set_body(resp, text);
}

int http_response_error(http_response_t *resp, int status, const char *error_type,
                        const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    resp->status = status;
    http_response_set_content_type(resp, CT_JSON);
    buf_t *b = &resp->body;
    buf_reset(b);
    int rc = buf_puts(b, "{\"status\":\"error\",\"errorType\":");
    if (rc == 0)
        rc = buf_put_json_string(b, error_type);
    if (rc == 0)
        rc = buf_puts(b, ",\"error\":");
    if (rc == 0)
        rc = buf_put_json_string(b, msg);
    if (rc == 0)
        rc = buf_putc(b, '}');
    if (rc != 0)
        buf_reset(b);
    return rc;
}

/* RFC 9110 token characters: what a header name may be made of. */
static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
            return false;
    }
    return true;
}

int http_response_set_header(http_response_t *resp, const char *name, const char *value)
{
    /* Refusing CR/LF here is what keeps handler-supplied values from splitting the response. */
    if (!is_token(name) || strpbrk(value, "\r\n") != NULL ||
        strcasecmp(name, "Content-Type") == 0 || strcasecmp(name, "Content-Length") == 0 ||
        strcasecmp(name, "Transfer-Encoding") == 0)
        return VIGIL_EINVAL;
    char *v = strdup(value);
    if (v == NULL)
        return VIGIL_ENOMEM;
    for (size_t i = 0; i < resp->header_count; i++) {
        if (strcasecmp(resp->headers[i].name, name) == 0) {
            free(resp->headers[i].value);
            resp->headers[i].value = v;
            return 0;
        }
    }
    if (resp->header_count >= HTTP_RESPONSE_MAX_HEADERS) {
        free(v);
        return VIGIL_ELIMIT;
    }
    char *n = strdup(name);
    if (n == NULL) {
        free(v);
        return VIGIL_ENOMEM;
    }
    resp->headers[resp->header_count].name = n;
    resp->headers[resp->header_count].value = v;
    resp->header_count++;
    return 0;
}

const char *http_response_header(const http_response_t *resp, const char *name)
{
    for (size_t i = 0; i < resp->header_count; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}
