/*
 * content_type.c - which exposition format an HTTP Content-Type names.
 *
 * Prometheus negotiates "application/openmetrics-text; version=1.0.0" (or 0.0.1, the draft
 * that became 1.0) and "text/plain; version=0.0.4"; pushers often send no Content-Type at
 * all, which means the text format, as it does for Prometheus's own fallback.
 */
#include "expfmt/expfmt_int.h"

#include <string.h>
#include <strings.h>

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Copies the value of parameter `want` (case-insensitive name; token or quoted string) of the
 * parameter list at s into out; false when absent. */
static bool param(const char *s, const char *want, char *out, size_t n)
{
    size_t wl = strlen(want);
    while ((s = strchr(s, ';')) != NULL) {
        s = skip_ows(s + 1);
        const char *eq = strchr(s, '=');
        if (eq == NULL)
            return false;
        const char *ne = eq;
        while (ne > s && (ne[-1] == ' ' || ne[-1] == '\t'))
            ne--;
        const char *v = skip_ows(eq + 1);
        size_t o = 0;
        bool match = (size_t)(ne - s) == wl && strncasecmp(s, want, wl) == 0;
        if (*v == '"') {
            for (v++; *v != '\0' && *v != '"'; v++) {
                if (*v == '\\' && v[1] != '\0')
                    v++;
                if (match && o + 1 < n)
                    out[o++] = *v;
            }
        } else {
            for (; *v != '\0' && *v != ';' && *v != ' ' && *v != '\t'; v++)
                if (match && o + 1 < n)
                    out[o++] = *v;
        }
        if (match) {
            out[o] = '\0';
            return true;
        }
        s = v;
    }
    return false;
}

int expfmt_format_from_content_type(const char *content_type, expfmt_format_t *format,
                                    vigil_error_t *err)
{
    if (content_type == NULL || *skip_ows(content_type) == '\0') {
        *format = EXPFMT_TEXT;
        return 0;
    }
    const char *s = skip_ows(content_type);
    size_t ml = strcspn(s, "; \t");
    char version[32] = "";
    bool has_version = param(s + ml, "version", version, sizeof(version));
    if (ml == 10 && strncasecmp(s, "text/plain", ml) == 0) {
        *format = EXPFMT_TEXT;
        return 0;
    }
    if (ml == 28 && strncasecmp(s, "application/openmetrics-text", ml) == 0) {
        if (!has_version || strcmp(version, "1.0.0") == 0 || strcmp(version, "0.0.1") == 0) {
            *format = EXPFMT_OPENMETRICS;
            return 0;
        }
        return vigil_error_set(err, VIGIL_ENOTSUP,
                               "OpenMetrics version \"%s\" is not supported (1.0.0 is)",
                               version);
    }
    return vigil_error_set(err, VIGIL_ENOTSUP,
                           "content type \"%.*s\" is not supported (text/plain; version=0.0.4 "
                           "and application/openmetrics-text; version=1.0.0 are)",
                           (int)(ml > 100 ? 100 : ml), s);
}
