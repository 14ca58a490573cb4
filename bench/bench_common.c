/*
 * bench_common.c - see bench_common.h.
 */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
