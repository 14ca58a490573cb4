/*
 * proctree.h - one reading of a process tree from procfs, for `vigil wrap`: the root process
 * and every descendant alive at the reading, with their summed CPU time, resident memory and
 * I/O. The procfs root is a parameter so tests can use a fixture tree.
 */
#ifndef VIGIL_AGENT_PROCTREE_H
#define VIGIL_AGENT_PROCTREE_H

#include "vigil/error.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct proctree_sample {
    size_t   n_procs;      /* processes in the tree (the root included, when alive) */
    double   cpu_seconds;  /* utime + stime + cutime + cstime of each: the CPU of the tree's
                            * live processes and of the children they have reaped */
    uint64_t rss_bytes;    /* summed resident set sizes */
    uint64_t read_bytes;   /* summed /proc/PID/io read_bytes and write_bytes (storage I/O);
                            * unreadable io files count as 0 */
    uint64_t write_bytes;
} proctree_sample_t;

/*
 * Reads `procfs` once: finds every process whose parent chain leads to `root` and sums their
 * figures into *out. The pids found go to pids[0..cap) (may be NULL with cap 0); *out counts
 * all of them even beyond cap. 0, or VIGIL_EIO when procfs cannot be listed. Processes that
 * vanish during the reading are skipped.
 */
int proctree_sample(const char *procfs, pid_t root, pid_t *pids, size_t cap,
                    proctree_sample_t *out, vigil_error_t *err);

#endif /* VIGIL_AGENT_PROCTREE_H */
