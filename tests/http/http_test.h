/*
 * http_test.h - what the HTTP server tests share: a record of the server's completion reports
 * (on_request_done) that tests wait on, a local TCP client socket, and a sleep.
 */
#ifndef VIGIL_TESTS_HTTP_TEST_H
#define VIGIL_TESTS_HTTP_TEST_H

#include <pthread.h>
#include <stddef.h>

typedef struct request_report {
    char handler[32];
    int  status;         /* -1 when the report's duration was negative */
} request_report_t;

/* The reports the server made, in order; the first 256 are kept. */
typedef struct request_log {
    pthread_mutex_t  lock;
    request_report_t reports[256];
    size_t           count;
} request_log_t;

void request_log_init(request_log_t *log);
void request_log_destroy(request_log_t *log);

/* An http_request_done_fn: `ctx` is the request_log_t. Runs on a server thread, where a
 * cmocka assert cannot jump: it records, and the test asserts later. */
void request_log_record(void *ctx, const char *handler, int status, double seconds);

/* How many reports there are so far. */
size_t request_log_count(request_log_t *log);

/* Waits (bounded, about 5 s) for a report of `handler` with `status` at index `from` or later,
 * and fails the test without one. The server reports after the answer went out, so possibly
 * after the client has read it. */
void request_log_expect(request_log_t *log, size_t from, const char *handler, int status);

/* A TCP connection to 127.0.0.1:port (the test fails if it cannot connect), with a 10 s
 * receive timeout, so a hang fails the test instead of blocking it, and TCP_NODELAY, so each
 * write is its own segment. The caller closes it. */
int connect_local(int port);

void sleep_ms(long ms);

#endif /* VIGIL_TESTS_HTTP_TEST_H */
