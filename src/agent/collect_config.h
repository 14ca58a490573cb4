/*
 * collect_config.h - the collect.* keys of the configuration as collector options.
 *
 * config_t (src/config) and collect_options_t (src/collect) do not know each other: the
 * configuration only stores values, the scheduler only takes options. This is the one place
 * that maps the former onto the latter, so `vigil run` and the tests build the collectors from
 * a config the same way.
 */
#ifndef VIGIL_AGENT_COLLECT_CONFIG_H
#define VIGIL_AGENT_COLLECT_CONFIG_H

#include "collect/collect.h"
#include "config/config.h"

/* The options and the tables they point at, in one caller-owned block (usually on the stack)
 * so that filling it allocates nothing and cannot fail. */
typedef struct agent_collect_config {
    collect_options_t  opts;
    collect_enable_t   enable[CONFIG_COLLECTOR_COUNT];     /* every collector, in table order */
    collect_interval_t intervals[CONFIG_COLLECTOR_COUNT];  /* only the non-zero ones */
    int                pids[CONFIG_NUMBER_LIST_MAX];
} agent_collect_config_t;

/*
 * Fills *cc from cfg's collect.* keys and returns &cc->opts for collect_create(). A "" string
 * (regex, NVML library, cgroup prefix) becomes NULL, i.e. the collector's built-in default;
 * an interval of 0 is left out, so the collector runs at collect.interval.
 *
 * Nothing is allocated and nothing needs freeing. The options point into *cc and into cfg's
 * strings, so both must stay unchanged until collect_create() returns (it copies what it
 * keeps); after that they may go.
 */
const collect_options_t *agent_collect_config(agent_collect_config_t *cc, const config_t *cfg);

#endif /* VIGIL_AGENT_COLLECT_CONFIG_H */
