/*
 * log.c - structured log lines in JSON or text (see log.h).
 *
 * A line is formatted into a stack buffer and written with one write(2): writes of whole lines
 * to an O_APPEND file or a pipe never interleave between threads, so no lock is held while
 * formatting. Level and format are atomics so a config reload can change them under load.
 */
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 16384

struct log {
    int         fd;
    bool        owns_fd;
    atomic_int  level;
    atomic_int  format;
};

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };
static const char *const format_names[] = { "json", "text" };

int log_level_parse(const char *s, log_level_t *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return VIGIL_EINVAL;
}

const char *log_level_name(log_level_t level)
{
    return (unsigned)level < 5 ? level_names[level] : "?";
}

int log_format_parse(const char *s, log_format_t *out)
{
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(s, format_names[i]) == 0) {
            *out = (log_format_t)i;
            return 0;
        }
    }
    return VIGIL_EINVAL;
}

const char *log_format_name(log_format_t format)
{
    return (unsigned)format < 2 ? format_names[format] : "?";
}

int log_open(log_t **out, const log_options_t *opts, vigil_error_t *err)
{
    log_t *lg = calloc(1, sizeof(*lg));
    if (lg == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "log: out of memory");
    lg->fd = STDERR_FILENO;
    if (opts->path != NULL && opts->path[0] != '\0' && strcmp(opts->path, "stderr") != 0) {
        lg->fd = open(opts->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (lg->fd < 0) {
            int e = errno;
            free(lg);
            return vigil_error_set(err, VIGIL_EIO, "log: cannot open %s: %s", opts->path,
                                   strerror(e));
        }
        lg->owns_fd = true;
    }
    atomic_init(&lg->level, opts->level);
    atomic_init(&lg->format, opts->format);
    *out = lg;
    return 0;
}

void log_close(log_t *lg)
{
    if (lg == NULL)
        return;
    if (lg->owns_fd)
        close(lg->fd);
    free(lg);
}

void log_set_level(log_t *lg, log_level_t level)
{
    if (lg != NULL)
        atomic_store(&lg->level, level);
}

void log_set_format(log_t *lg, log_format_t format)
{
    if (lg != NULL)
        atomic_store(&lg->format, format);
}

bool log_enabled(const log_t *lg, log_level_t level)
{
    return lg != NULL && (int)level <= atomic_load(&((log_t *)lg)->level);
}

/* A bounded line under construction: appends past the end are dropped, never overflow. */
typedef struct line {
    char   buf[LOG_LINE_MAX];
    size_t len;
} line_t;

static void line_put(line_t *l, const char *s, size_t n)
{
    size_t room = sizeof(l->buf) - 1 - l->len; /* keep one byte for the newline */
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_puts(line_t *l, const char *s)
{
    line_put(l, s, strlen(s));
}

static void line_printf(line_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_printf(line_t *l, const char *fmt, ...)
{
    size_t room = sizeof(l->buf) - 1 - l->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < room ? (size_t)n : room;
}

static void line_json_string(line_t *l, const char *s)
{
    line_put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':  line_put(l, "\\\"", 2); break;
        case '\\': line_put(l, "\\\\", 2); break;
        case '\n': line_put(l, "\\n", 2); break;
        case '\r': line_put(l, "\\r", 2); break;
        case '\t': line_put(l, "\\t", 2); break;
        default:
            if (*p < 0x20)
                line_printf(l, "\\u%04x", *p);
            else
                line_put(l, (const char *)p, 1);
        }
    }
    line_put(l, "\"", 1);
}

/* Text values are quoted only when they contain a space, quote or '=' or are empty. */
static void line_text_value(line_t *l, const char *s)
{
    if (s[0] != '\0' && strpbrk(s, " \"=\t\n") == NULL)
        line_puts(l, s);
    else
        line_json_string(l, s);
}

static void format_double(char *out, size_t n, double d, bool json)
{
    if (isnan(d))
        snprintf(out, n, json ? "\"NaN\"" : "NaN");
    else if (isinf(d))
        snprintf(out, n, json ? "\"%cInf\"" : "%cInf", d > 0 ? '+' : '-');
    else
        snprintf(out, n, "%.15g", d);
}

static void line_field(line_t *l, const log_field_t *f, bool json)
{
    char num[48];
    if (json) {
        line_put(l, ",", 1);
        line_json_string(l, f->key);
        line_put(l, ":", 1);
    } else {
        line_put(l, " ", 1);
        line_puts(l, f->key);
        line_put(l, "=", 1);
    }
    switch (f->type) {
    case LOG_FIELD_STR:
        if (f->v.s == NULL)
            line_puts(l, json ? "null" : "(null)");
        else if (json)
            line_json_string(l, f->v.s);
        else
            line_text_value(l, f->v.s);
        return;
    case LOG_FIELD_INT:    snprintf(num, sizeof(num), "%lld", f->v.i); break;
    case LOG_FIELD_UINT:   snprintf(num, sizeof(num), "%llu", f->v.u); break;
    case LOG_FIELD_DOUBLE: format_double(num, sizeof(num), f->v.d, json); break;
    case LOG_FIELD_BOOL:   snprintf(num, sizeof(num), "%s", f->v.b ? "true" : "false"); break;
    default:               snprintf(num, sizeof(num), "null"); break;
    }
    line_puts(l, num);
}

static void line_timestamp(line_t *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    line_printf(l, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void log_emit(log_t *lg, log_level_t level, const char *component, const char *msg, ...)
{
    if (!log_enabled(lg, level))
        return;
    bool json = atomic_load(&lg->format) == LOG_FORMAT_JSON;
    line_t l;
    l.len = 0;
    if (json) {
        line_puts(&l, "{\"ts\":\"");
        line_timestamp(&l);
        line_printf(&l, "\",\"level\":\"%s\",\"component\":", log_level_name(level));
        line_json_string(&l, component);
        line_puts(&l, ",\"msg\":");
        line_json_string(&l, msg);
    } else {
        line_timestamp(&l);
        line_printf(&l, " %-5s %s: %s", log_level_name(level), component, msg);
    }
    va_list ap;
    va_start(ap, msg);
    for (const log_field_t *f; (f = va_arg(ap, const log_field_t *)) != NULL;)
        line_field(&l, f, json);
    va_end(ap);
    if (json) {
        if (l.len > sizeof(l.buf) - 3)
            l.len = sizeof(l.buf) - 3; /* truncated: still one line, ends with a brace */
        line_put(&l, "}", 1);
    }
    l.buf[l.len++] = '\n';
    for (size_t off = 0; off < l.len;) {
        ssize_t n = write(lg->fd, l.buf + off, l.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* nowhere left to report a failing log sink */
        off += (size_t)n;
    }
}
