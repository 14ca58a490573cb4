/*
 * host_net.c - collector "netdev" (procfs/net/dev).
 *
 * node_exporter 1.5 names: node_network_{receive,transmit}_<column>_total{device}, one family
 * per column of /proc/net/dev. (node_exporter 1.5 reads the same counters over netlink by
 * default, which adds receive_nohandler; that one is not in /proc/net/dev and is not exposed
 * here.) Devices matching --collector.netdev.device-exclude are skipped; Debian's package
 * defaults it to "^lo$", which is our default too.
 */
#include "collect/collect_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NETDEV_EXCLUDE_DEFAULT "^lo$"

static const char *const netdev_cols[16] = {
    "receive_bytes",   "receive_packets", "receive_errs",   "receive_drop",
    "receive_fifo",    "receive_frame",   "receive_compressed", "receive_multicast",
    "transmit_bytes",  "transmit_packets", "transmit_errs",  "transmit_drop",
    "transmit_fifo",   "transmit_colls",  "transmit_carrier", "transmit_compressed",
};

/* The pattern excludes devices. */
typedef collect_filtered_file_t netdev_state_t;

static int netdev_init(void **state, const collect_env_t *env, vigil_error_t *err)
{
    return collect_filtered_file_new(state, sizeof(netdev_state_t), env,
                                     env->opts->netdev_device_exclude, NETDEV_EXCLUDE_DEFAULT,
                                     "netdev device exclude", err);
}

static int netdev_run(void *state, collect_batch_t *b, vigil_error_t *err)
{
    netdev_state_t *s = state;
    int rc = collect_file_read(&s->file, s->env->procfs, "net/dev", NULL, err);
    if (rc != 0)
        return rc;
    int fam[16];
    for (int i = 0; i < 16; i++) {
        char name[64], help[80];
        snprintf(name, sizeof(name), "node_network_%s_total", netdev_cols[i]);
        snprintf(help, sizeof(help), "Network device statistic %s.", netdev_cols[i]);
        fam[i] = collect_batch_family(b, name, help, COLLECT_COUNTER);
        if (fam[i] < 0)
            return fam[i];
    }
    char *pos = s->file.data, *line;
    int lineno = 0;
    while ((line = collect_next_line(&pos)) != NULL) {
        if (++lineno <= 2)
            continue; /* the two header lines */
        char *colon = strchr(line, ':');
        if (colon == NULL)
            return vigil_error_set(err, VIGIL_EPARSE, "%s/net/dev:%d: no ':' after the device",
                                   s->env->procfs, lineno);
        *colon = '\0';
        char *dev = line;
        while (*dev == ' ')
            dev++;
        bool excluded;
        rc = collect_pattern_match(&s->pattern, dev, &excluded);
        if (rc != 0)
            return rc;
        if (excluded)
            continue;
        char *f[16];
        if (collect_split(colon + 1, f, 16) != 16)
            return vigil_error_set(err, VIGIL_EPARSE, "%s/net/dev:%d: want 16 counters",
                                   s->env->procfs, lineno);
        for (int i = 0; i < 16; i++) {
            double v;
            if (!collect_parse_u(f[i], &v))
                return vigil_error_set(err, VIGIL_EPARSE, "%s/net/dev:%d: bad number \"%s\"",
                                       s->env->procfs, lineno, f[i]);
            rc = collect_batch_add(b, fam[i], v, "device", dev, NULL);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* One run; the pattern's regex, if this run compiled it, is freed after. */
static int netdev_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    int rc = netdev_run(state, b, err);
    collect_pattern_release(&((netdev_state_t *)state)->pattern);
    return rc;
}

const collect_def_t collect_def_netdev = {
    .name = "netdev", .enabled = true,
    .init = netdev_init, .collect = netdev_collect, .destroy = collect_filtered_file_free,
};
