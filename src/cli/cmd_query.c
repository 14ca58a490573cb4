/*
 * cmd_query.c - `vigil query [--server URL] [--time T] [--json] EXPR` and
 * `vigil query --range --start T --end T --step D [--server URL] [--json] EXPR`: runs a PromQL
 * query against a running agent (or any Prometheus-compatible server) over its HTTP API and
 * prints the result as a table, like `promtool query instant|range`.
 *
 * Times are what the API accepts (Unix seconds, RFC 3339), plus `now` and `now-DURATION` /
 * `-DURATION` (relative to this machine's clock), turned into Unix seconds here. The request
 * is a form POST, so long expressions do not hit URL length limits. --json prints the server's
 * body unchanged. Exit 0 when the server answered "success", 1 for an API error or when the
 * server cannot be reached, 2 for a usage error.
 */
#include "cli/cli.h"

#include "util/buf.h"
#include "util/duration.h"
#include "vigil/error.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUERY_DEFAULT_SERVER "http://127.0.0.1:9470"
/* The largest answer read; a bigger one is an error rather than memory without bound. */
#define QUERY_MAX_RESPONSE ((size_t)1 << 30)

typedef struct query_args {
    const char *server;
    const char *time, *start, *end, *step;
    const char *expr;
    bool range, json;
    long timeout_s;
} query_args_t;

static int usage(const char *fmt, const char *arg)
{
    return cli_usage_error(cli_find("query"), fmt, arg);
}

/* Resolves `now`, `now-1h` and `-1h` into Unix seconds (written into out); anything else is
 * passed on for the server to parse. */
static const char *resolve_time(const char *s, char *out, size_t cap)
{
    const char *rel = NULL;
    if (strcmp(s, "now") == 0)
        rel = "";
    else if (strncmp(s, "now-", 4) == 0)
        rel = s + 4;
    else if (s[0] == '-')
        rel = s + 1; /* "-1.5" (Unix seconds) is no duration and goes to the server as is */
    if (rel == NULL)
        return s;
    int64_t ago = 0;
    if (rel[0] != '\0' && duration_parse(rel, strlen(rel), &ago) != DURATION_OK)
        return s; /* let the server explain what it cannot parse */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - ago;
    snprintf(out, cap, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
    return out;
}

static int parse_args(int argc, char **argv, query_args_t *a)
{
    *a = (query_args_t){ .server = QUERY_DEFAULT_SERVER, .timeout_s = 300 };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char **slot = NULL;
        if (strcmp(arg, "--range") == 0) {
            a->range = true;
            continue;
        }
        if (strcmp(arg, "--json") == 0) {
            a->json = true;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            if (i + 2 != argc)
                return usage("query: expected one expression after %s", arg);
            a->expr = argv[i + 1];
            break;
        }
        if (strcmp(arg, "--server") == 0)
            slot = &a->server;
        else if (strcmp(arg, "--time") == 0)
            slot = &a->time;
        else if (strcmp(arg, "--start") == 0)
            slot = &a->start;
        else if (strcmp(arg, "--end") == 0)
            slot = &a->end;
        else if (strcmp(arg, "--step") == 0)
            slot = &a->step;
        if (slot != NULL) {
            if (i + 1 >= argc)
                return usage("query: %s needs a value", arg);
            *slot = argv[++i];
            continue;
        }
        if (arg[0] == '-' && arg[1] == '-')
            return usage("query: unknown flag '%s'", arg);
        if (a->expr != NULL)
            return usage("query: unexpected argument '%s' (quote the expression)", arg);
        a->expr = arg;
    }
    if (a->expr == NULL)
        return usage("query: no expression given%s", "");
    if (a->range && (a->start == NULL || a->end == NULL || a->step == NULL))
        return usage("query: --range needs --start, --end and --step%s", "");
    if (!a->range && (a->start != NULL || a->end != NULL || a->step != NULL))
        return usage("query: --start, --end and --step need --range%s", "");
    if (a->range && a->time != NULL)
        return usage("query: --time is for instant queries, not with --range%s", "");
    return 0;
}

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
    return buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

/* Appends "&name=<escaped value>" to the form. */
static int form_add(CURL *c, buf_t *form, const char *name, const char *value)
{
    if (value == NULL)
        return 0;
    char *esc = curl_easy_escape(c, value, 0);
    if (esc == NULL)
        return VIGIL_ENOMEM;
    int rc = buf_printf(form, "%s%s=%s", form->len > 0 ? "&" : "", name, esc);
    curl_free(esc);
    return rc;
}

/* POSTs the query; on success *status is the HTTP status and body holds the answer. Returns
 * 0, or 1 after printing why the server could not be asked. */
static int post_query(const query_args_t *a, buf_t *body, long *status)
{
    CURL *c = curl_easy_init();
    if (c == NULL) {
        fprintf(stderr, "vigil: query: cannot initialise libcurl\n");
        return 1;
    }
    buf_t form, url;
    buf_init(&form, 16u << 20);
    buf_init(&url, 64u << 10);
    char t1[64], t2[64], t3[64];
    int rc = form_add(c, &form, "query", a->expr);
    if (a->range) {
        rc = rc ? rc : form_add(c, &form, "start", resolve_time(a->start, t1, sizeof(t1)));
        rc = rc ? rc : form_add(c, &form, "end", resolve_time(a->end, t2, sizeof(t2)));
        rc = rc ? rc : form_add(c, &form, "step", a->step);
    } else if (a->time != NULL) {
        rc = rc ? rc : form_add(c, &form, "time", resolve_time(a->time, t3, sizeof(t3)));
    }
    size_t slen = strlen(a->server);
    while (slen > 0 && a->server[slen - 1] == '/')
        slen--;
    rc = rc ? rc : buf_printf(&url, "%.*s/api/v1/%s", (int)slen, a->server,
                              a->range ? "query_range" : "query");
    rc = rc ? rc : buf_putc(&form, '\0');
    int ret = 1;
    if (rc != 0) {
        fprintf(stderr, "vigil: query: %s\n", vigil_strerror(rc));
        goto out;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form.data);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, a->timeout_s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "vigil-query");
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(stderr, "vigil: query: %s: %s\n", url.data,
                errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    ret = 0;
out:
    buf_free(&form);
    buf_free(&url);
    curl_easy_cleanup(c);
    return ret;
}

/* Prints a label set as Prometheus writes series: name{a="b", c="d"}. */
static void format_metric(buf_t *b, json_t *metric)
{
    buf_reset(b);
    json_t *name = json_object_get(metric, "__name__");
    if (json_is_string(name))
        buf_puts(b, json_string_value(name));
    /* jansson keeps the server's key order, which is the label order. */
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(metric, k, v) {
        if (strcmp(k, "__name__") == 0)
            continue;
        buf_printf(b, "%s%s=", first ? "{" : ", ", k);
        char *quoted = json_dumps(v, JSON_ENCODE_ANY);
        buf_puts(b, quoted != NULL ? quoted : "\"\"");
        free(quoted);
        first = false;
    }
    if (!first)
        buf_putc(b, '}');
    else if (b->len == 0)
        buf_puts(b, "{}");
    buf_putc(b, '\0');
}

/* "1700000000.5" -> "2023-11-14T22:13:20.5Z". */
static void format_time(json_t *t, char *out, size_t cap)
{
    double s = json_number_value(t);
    time_t whole = (time_t)s;
    struct tm tm;
    gmtime_r(&whole, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    long ms = (long)((s - (double)whole) * 1000 + 0.5);
    if (ms > 0 && ms < 1000)
        n += (size_t)snprintf(out + n, cap - n, ".%03ld", ms);
    snprintf(out + n, cap - n, "Z");
}

static void print_vector(json_t *result)
{
    buf_t m;
    buf_init(&m, 1u << 20);
    size_t width = 6;
    size_t i;
    json_t *s;
    json_array_foreach(result, i, s) {
        format_metric(&m, json_object_get(s, "metric"));
        if (m.len - 1 > width)
            width = m.len - 1;
    }
    printf("%-*s  %s\n", (int)width, "SERIES", "VALUE");
    json_array_foreach(result, i, s) {
        format_metric(&m, json_object_get(s, "metric"));
        json_t *value = json_object_get(s, "value");
        printf("%-*s  %s\n", (int)width, m.data, json_string_value(json_array_get(value, 1)));
    }
    buf_free(&m);
}

static void print_matrix(json_t *result)
{
    buf_t m;
    buf_init(&m, 1u << 20);
    size_t i, j;
    json_t *s, *p;
    json_array_foreach(result, i, s) {
        format_metric(&m, json_object_get(s, "metric"));
        printf("%s%s\n", i > 0 ? "\n" : "", m.data);
        json_array_foreach(json_object_get(s, "values"), j, p) {
            char t[64];
            format_time(json_array_get(p, 0), t, sizeof(t));
            printf("  %-24s  %s\n", t, json_string_value(json_array_get(p, 1)));
        }
    }
    buf_free(&m);
}

/* Prints a success answer's data as a table, and its warnings and infos on stderr. */
static void print_result(json_t *doc)
{
    json_t *data = json_object_get(doc, "data");
    const char *type = json_string_value(json_object_get(data, "resultType"));
    json_t *result = json_object_get(data, "result");
    if (type == NULL)
        type = "";
    if (strcmp(type, "vector") == 0) {
        print_vector(result);
    } else if (strcmp(type, "matrix") == 0) {
        print_matrix(result);
    } else if (strcmp(type, "scalar") == 0 || strcmp(type, "string") == 0) {
        printf("%s\n", json_string_value(json_array_get(result, 1)));
    }
    const char *keys[] = { "warnings", "infos" };
    for (size_t k = 0; k < 2; k++) {
        size_t i;
        json_t *w;
        json_array_foreach(json_object_get(doc, keys[k]), i, w)
            fprintf(stderr, "%s: %s\n", k == 0 ? "warning" : "info", json_string_value(w));
    }
}

int cmd_query(int argc, char **argv)
{
    query_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    buf_t body;
    buf_init(&body, QUERY_MAX_RESPONSE);
    long status = 0;
    int ret = post_query(&a, &body, &status);
    if (ret != 0)
        goto out;
    json_error_t jerr;
    json_t *doc = json_loadb(body.data != NULL ? body.data : "", body.len, 0, &jerr);
    const char *st = json_string_value(json_object_get(doc, "status"));
    bool success = st != NULL && strcmp(st, "success") == 0;
    if (a.json) {
        fwrite(body.data != NULL ? body.data : "", 1, body.len, stdout);
        putchar('\n');
    } else if (doc == NULL) {
        fprintf(stderr, "vigil: query: the server answered HTTP %ld without JSON: %.200s\n",
                status, body.data != NULL ? body.data : "");
    } else if (!success) {
        const char *type = json_string_value(json_object_get(doc, "errorType"));
        const char *msg = json_string_value(json_object_get(doc, "error"));
        fprintf(stderr, "vigil: query: %s: %s\n", type != NULL ? type : "error",
                msg != NULL ? msg : "(no message)");
    } else {
        print_result(doc);
    }
    json_decref(doc);
    ret = success ? 0 : 1;
out:
    buf_free(&body);
    curl_global_cleanup();
    return ret;
}
