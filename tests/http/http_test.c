/* http_test.c - see http_test.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

void request_log_init(request_log_t *log)
{
    memset(log, 0, sizeof(*log));
    pthread_mutex_init(&log->lock, NULL);
}

void request_log_destroy(request_log_t *log)
{
    pthread_mutex_destroy(&log->lock);
}

void request_log_record(void *ctx, const char *handler, int status, double seconds)
{
    request_log_t *log = ctx;
    if (seconds < 0)
        status = -1;
    pthread_mutex_lock(&log->lock);
    if (log->count < sizeof(log->reports) / sizeof(log->reports[0])) {
        request_report_t *r = &log->reports[log->count++];
        snprintf(r->handler, sizeof(r->handler), "%s", handler);
        r->status = status;
    }
    pthread_mutex_unlock(&log->lock);
}

size_t request_log_count(request_log_t *log)
{
    pthread_mutex_lock(&log->lock);
    size_t n = log->count;
    pthread_mutex_unlock(&log->lock);
    return n;
}

void request_log_expect(request_log_t *log, size_t from, const char *handler, int status)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&log->lock);
        for (size_t k = from; k < log->count; k++) {
            if (strcmp(log->reports[k].handler, handler) == 0 &&
                log->reports[k].status == status) {
                pthread_mutex_unlock(&log->lock);
                return;
            }
        }
        pthread_mutex_unlock(&log->lock);
        sleep_ms(10);
    }
    fail_msg("no report of handler %s with status %d", handler, status);
}

int connect_local(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = { 10, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}
