/*
 * cmd_health.c - `vigil health [--json] [--server URL]`: asks a running agent's GET /health and
 * turns the overall status into the exit code, so the command works as a container liveness
 * probe and a CI gate:
 *   0 healthy, 1 warning (and unknown: nothing failed, but something could not be checked),
 *   2 critical, an unreachable agent or an answer that is not the /health JSON, or a usage
 *   error (a probe must fail when the agent cannot answer).
 * Without --json it prints one line per component; with --json the agent's JSON verbatim.
 */
#include "cli/cli.h"

#include "util/buf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    buf_t *b = ctx;
    return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* GETs url into body (capped at 16 MiB). 0, or 2 with the reason printed. */
static int fetch(const char *url, buf_t *body, long *status)
{
    CURL *c = curl_easy_init();
    if (c == NULL) {
        fprintf(stderr, "vigil health: cannot initialise libcurl\n");
        return 2;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        fprintf(stderr, "vigil health: %s: %s\n", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return 2;
    }
    return 0;
}

int cmd_health(int argc, char **argv)
{
    const cli_command_t *self = cli_find("health");
    bool as_json = false;
    const char *server = "http://127.0.0.1:9470";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
        else if (strncmp(argv[i], "--server=", 9) == 0)
            server = argv[i] + 9;
        else if (self != NULL)
            return cli_usage_error(self, "health: unknown argument '%s'", argv[i]);
        else {
            fprintf(stderr, "vigil health: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char url[2048];
    size_t sl = strlen(server);
    while (sl > 0 && server[sl - 1] == '/')
        sl--;
    /* A bare host:port is taken as http:// (what --listen takes). */
    snprintf(url, sizeof(url), "%s%.*s/health", strstr(server, "://") ? "" : "http://", (int)sl,
             server);
    buf_t body;
    buf_init(&body, 16u << 20);
    long status = 0;
    int rc = fetch(url, &body, &status);
    if (rc != 0) {
        buf_free(&body);
        return rc;
    }
    json_error_t je;
    json_t *doc = json_loadb(body.data ? body.data : "", body.len, 0, &je);
    const char *overall = json_string_value(json_object_get(doc, "overall_status"));
    if (overall == NULL) {
        fprintf(stderr, "vigil health: %s answered HTTP %ld without the health JSON%s%s\n", url,
                status, doc == NULL ? ": " : "", doc == NULL ? je.text : "");
        json_decref(doc);
        buf_free(&body);
        return 2;
    }
    int code = strcmp(overall, "healthy") == 0 ? 0 : strcmp(overall, "critical") == 0 ? 2 : 1;
    if (as_json) {
        fwrite(body.data, 1, body.len, stdout);
        if (body.len == 0 || body.data[body.len - 1] != '\n')
            putchar('\n');
    } else {
        printf("overall: %s\n", overall);
        const char *name;
        json_t *comp;
        json_object_foreach(json_object_get(doc, "components"), name, comp) {
            const char *st = json_string_value(json_object_get(comp, "status"));
            const char *msg = json_string_value(json_object_get(comp, "message"));
            printf("  %-14s %-9s %s\n", name, st != NULL ? st : "?", msg != NULL ? msg : "");
        }
    }
    json_decref(doc);
    buf_free(&body);
    return code;
}
