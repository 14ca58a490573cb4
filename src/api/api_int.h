/*
 * api_int.h - what the files of src/api/ share: parameter helpers and the handlers the route
 * table in query.c lists.
 */
#ifndef VIGIL_API_INT_H
#define VIGIL_API_INT_H

#include "api/api.h"

/* The warning Prometheus adds when `limit` cut a listing short. */
#define API_TRUNCATED_WARNING "results truncated due to limit"

/* The API's clock (api->now_ms, else the real clock), in ms. */
int64_t api_now_ms(const api_t *api);

/* 400 bad_data `invalid parameter "NAME": <err>`. */
int api_bad_param(http_response_t *resp, const char *name, const vigil_error_t *err);

/* Reads time parameter `name` into *out, `fallback` when absent or empty. On a bad value the
 * 400 answer is written into resp and *answered is set; the return value is the handler's. */
int api_time_param(http_request_t *req, http_response_t *resp, const char *name,
                   int64_t fallback, int64_t *out, bool *answered);

/* Appends a JSON array of strings. */
int api_put_strings(buf_t *out, const char *const *v, size_t n);

/* Writes {"status":"success","data":[strings...]} and, when `warning` is not NULL,
 * "warnings":[warning]. */
int api_answer_strings(http_response_t *resp, const char *const *v, size_t n,
                       const char *warning);

/* series.c: /api/v1/series, /api/v1/labels, /api/v1/label/{name}/values, /api/v1/metadata. */
int api_handle_series(http_request_t *req, http_response_t *resp, void *ctx);
int api_handle_labels(http_request_t *req, http_response_t *resp, void *ctx);
int api_handle_label_values(http_request_t *req, http_response_t *resp, void *ctx);
int api_handle_metadata(http_request_t *req, http_response_t *resp, void *ctx);

#endif /* VIGIL_API_INT_H */
