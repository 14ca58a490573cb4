/*
 * exporter.c - the embedded exporter: a two-route table on vigil's HTTP layer (http/http.h).
 * The scrape handler renders straight into the response body; the HTTP layer's observer
 * counts requests into the registry's vigil_http_* families.
 */
#include "metrics/metrics_int.h"
#include "vigil/exporter.h"
#include "http/http.h"

#include <stdlib.h>

struct vigil_exporter {
    vigil_registry_t    *reg;
    http_server_t       *srv;
    vigil_http_metrics_t http;  /* families may be NULL when registration was skipped */
};

static int handle_metrics(http_request_t *req, http_response_t *resp, void *ctx)
{
    vigil_exporter_t *ex = ctx;
    vigil_format_t fmt = vigil_format_from_accept(http_request_header(req, "Accept"));
    vigil_error_t err;
    int rc = metrics_expose_buf(ex->reg, fmt, &resp->body, &err);
    if (rc != 0)
        return rc; /* the server answers 500 */
    http_response_set_content_type(resp, vigil_format_content_type(fmt));
    return 0;
}

static int handle_root(http_request_t *req, http_response_t *resp, void *ctx)
{
    (void)req;
    (void)ctx;
    return http_response_text(resp, 200, "vigil exporter: metrics at /metrics\n");
}

static void request_done(void *ctx, const char *handler, int status, double seconds)
{
    vigil_exporter_t *ex = ctx;
    if (ex->http.requests != NULL && ex->http.duration != NULL)
        vigil_http_metrics_observe(&ex->http, handler, status, seconds);
}

int vigil_exporter_start(vigil_registry_t *reg, const char *listen, vigil_exporter_t **out,
                         vigil_error_t *err)
{
    *out = NULL;
    if (reg == NULL || listen == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "exporter: registry and listen are required");
    vigil_exporter_t *ex = calloc(1, sizeof(*ex));
    if (ex == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "exporter: out of memory");
    ex->reg = reg;
    /* A registry the agent already instruments keeps its families; we then do not count. */
    vigil_error_t ignored;
    if (vigil_http_metrics_register(reg, &ex->http, &ignored) != 0)
        ex->http.requests = ex->http.duration = NULL;

    const http_route_t routes[] = {
        { HTTP_GET, "/metrics", "metrics", handle_metrics, ex },
        { HTTP_GET, "/", "root", handle_root, ex },
    };
    http_server_options_t o = {
        .listen = listen,
        .threads = 2,
        .routes = routes,
        .route_count = sizeof(routes) / sizeof(routes[0]),
        .max_response_bytes = reg->max_expose,
        .on_request_done = request_done,
        .on_request_done_ctx = ex,
    };
    int rc = http_server_start(&ex->srv, &o, err);
    if (rc != 0) {
        free(ex);
        return rc;
    }
    *out = ex;
    return 0;
}

int vigil_exporter_port(const vigil_exporter_t *ex)
{
    return http_server_port(ex->srv);
}

void vigil_exporter_stop(vigil_exporter_t *ex)
{
    if (ex == NULL)
        return;
    http_server_stop(ex->srv);
    free(ex);
}
