/*
 * bench_common.c - see bench_common.h.
 */
#include "bench_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

bool bench_wanted(const char *name)
{
    const char *b = getenv("BENCH");
    return b == NULL || *b == '\0' || strncmp(name, b, strlen(b)) == 0;
}

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_report(const char *name, double value, const char *unit, const char *baseline,
                  double baseline_value)
{
    printf("{\"bench\":\"%s\",\"value\":%.4g,\"unit\":\"%s\",\"baseline\":\"%s\","
           "\"baseline_value\":%.4g,\"ratio\":%.3g}\n",
           name, value, unit, baseline, baseline_value, value / baseline_value);
    fflush(stdout);
}

int bench_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}
