/*
 * bench_common.h - what every compiled benchmark shares: selection by $BENCH, a monotonic
 * clock, and the one-line JSON result format of bench/README.md.
 */
#ifndef VIGIL_BENCH_COMMON_H
#define VIGIL_BENCH_COMMON_H

#include <stdbool.h>

/* True when `name` starts with $BENCH, or $BENCH is unset or empty: run it. */
bool bench_wanted(const char *name);

/* Seconds on CLOCK_MONOTONIC. */
double bench_now_s(void);

/* Prints {"bench":NAME,"value":V,"unit":U,"baseline":B,"baseline_value":BV,"ratio":V/BV} and
 * flushes, so a runner reading the pipe sees each line as it is measured. */
void bench_report(const char *name, double value, const char *unit, const char *baseline,
                  double baseline_value);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound, read back, closed), for a peer
 * process to listen on; -1 when none could be had. */
int bench_free_port(void);

#endif /* VIGIL_BENCH_COMMON_H */
