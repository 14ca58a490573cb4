/*
 * statsd.h - a StatsD line parser and a bounded per-name aggregate, for `vigil wrap` (the
 * wrapped job sends to VIGIL_STATSD=127.0.0.1:PORT).
 *
 * Line syntax (the common StatsD/DogStatsD subset):
 *     name:value|type[|@sample_rate][|#tag:value,tag2:value2]
 * type is c (counter), g (gauge), ms (timer) or h (histogram); name is [A-Za-z0-9_.-]+. A
 * datagram holds one or more lines separated by '\n'. Counters add value / sample_rate, gauges
 * keep the last value (a leading '+' or '-' on a gauge adds, as in StatsD), timers and
 * histograms keep count, sum, min and max. Tags are parsed and validated but not aggregated
 * on: `tokens:5|c|#model:a` and `tokens:5|c` add to the same "tokens".
 */
#ifndef VIGIL_AGENT_STATSD_H
#define VIGIL_AGENT_STATSD_H

#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATSD_NAME_MAX 128
#define STATSD_MAX_NAMES 256

typedef enum statsd_type { STATSD_COUNTER, STATSD_GAUGE, STATSD_TIMER, STATSD_HISTOGRAM } statsd_type_t;

typedef struct statsd_line {
    char          name[STATSD_NAME_MAX];
    statsd_type_t type;
    double        value;
    double        rate;      /* 1 when absent */
    bool          relative;  /* gauge given with a sign: adds */
    size_t        n_tags;
} statsd_line_t;

/* Parses one line (len bytes, no newline). 0, or VIGIL_EPARSE with the column in err. */
int statsd_parse_line(const char *line, size_t len, statsd_line_t *out, vigil_error_t *err);

typedef struct statsd_metric {
    char          name[STATSD_NAME_MAX];
    statsd_type_t type;
    uint64_t      count;   /* lines */
    double        sum;     /* counters: the total; timers: the sum of values */
    double        last;    /* gauges: the value */
    double        min, max;
} statsd_metric_t;

/* The aggregate: fixed arrays, no allocation (a job cannot make the wrapper grow). */
typedef struct statsd_agg {
    statsd_metric_t metrics[STATSD_MAX_NAMES];
    size_t          n;
    uint64_t        lines, bad_lines, dropped_names, tagged_lines;
} statsd_agg_t;

void statsd_agg_init(statsd_agg_t *a);

/* Parses a datagram and adds each line. Bad lines are counted, never fatal. */
void statsd_agg_datagram(statsd_agg_t *a, const char *data, size_t len);

/* The metric named `name`, or NULL. */
const statsd_metric_t *statsd_agg_find(const statsd_agg_t *a, const char *name);

/* "c", "g", "ms", "h"; static. */
const char *statsd_type_name(statsd_type_t t);

#endif /* VIGIL_AGENT_STATSD_H */
