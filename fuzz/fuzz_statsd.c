/*
 * fuzz_statsd.c - libFuzzer target for the StatsD datagram parser of `vigil wrap`
 * (src/agent/statsd.c): any datagram is counted line by line, never crashes, and the
 * aggregate's counts stay consistent.
 */
#include "agent/statsd.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static statsd_agg_t agg; /* large; static keeps it off the fuzzer's stack */
    statsd_agg_init(&agg);
    statsd_agg_datagram(&agg, (const char *)data, size);
    if (agg.bad_lines > agg.lines || agg.n > STATSD_MAX_NAMES)
        abort();
    uint64_t counted = 0;
    for (size_t i = 0; i < agg.n; i++)
        counted += agg.metrics[i].count;
    if (counted + agg.bad_lines + agg.dropped_names != agg.lines)
        abort();
    return 0;
}
