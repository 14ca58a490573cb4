/*
 * test_exporter.c - the embedded exporter serves a registry at /metrics on 127.0.0.1 (free
 * port), negotiates the format from Accept, and counts its own requests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vigil/exporter.h"
#include "vigil/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One HTTP/1.0 GET; returns the whole response (headers and body), caller frees. */
static char *http_get(int port, const char *path, const char *accept)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n%s%s%s\r\n", path,
                     accept ? "Accept: " : "", accept ? accept : "", accept ? "\r\n" : "");
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    return buf;
}

static void test_exporter_serves(void **state)
{
    (void)state;
    vigil_registry_t *reg;
    assert_int_equal(vigil_registry_new(NULL, &reg, NULL), 0);
    vigil_family_t *f;
    assert_int_equal(vigil_counter_new(reg, "jobs_total", "Jobs.", NULL, &f, NULL), 0);
    vigil_counter_add_u64(vigil_counter_with(f), 42);
    vigil_exporter_t *ex;
    vigil_error_t err;
    assert_int_equal(vigil_exporter_start(reg, "127.0.0.1:0", &ex, &err), 0);
    int port = vigil_exporter_port(ex);
    assert_true(port > 0);

    char *r = http_get(port, "/metrics", NULL);
    assert_non_null(strstr(r, "200"));
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert_non_null(strstr(r, "\njobs_total 42\n"));
    free(r);

    r = http_get(port, "/metrics", "application/openmetrics-text;version=1.0.0");
    assert_non_null(strstr(r, "application/openmetrics-text; version=1.0.0"));
    assert_non_null(strstr(r, "# TYPE jobs counter\n"));
    size_t len = strlen(r);
    assert_true(len > 6 && strcmp(r + len - 6, "# EOF\n") == 0);
    free(r);

    /* The two scrapes above are counted (the observer runs once a response went out). */
    r = http_get(port, "/metrics", NULL);
    assert_non_null(strstr(r, "vigil_http_requests_total{handler=\"metrics\",code=\"200\"} "));
    free(r);

    vigil_exporter_t *ex2;
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    assert_int_equal(vigil_exporter_start(reg, addr, &ex2, &err), VIGIL_EBUSY);
    vigil_exporter_stop(ex);
    vigil_registry_free(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exporter_serves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
