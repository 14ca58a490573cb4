/*
 * host.h - readers of the host's own state from procfs and statfs.
 *
 * Small, allocation-free parsers used by the health checks (memory, CPU and disk usage) and by
 * the collectors. Every reader takes the procfs root as a parameter ("/proc" normally, a
 * recorded tree in tests) and reads into a caller-provided buffer, so readers are re-entrant
 * and testable against fixture trees.
 */
#ifndef VIGIL_HOST_H
#define VIGIL_HOST_H

#include "vigil/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct host_memory {
    uint64_t total_bytes;      /* MemTotal */
    uint64_t available_bytes;  /* MemAvailable (kernel's estimate of allocatable memory) */
} host_memory_t;

/* CPU time of all CPUs together, in clock ticks since boot, from the first line of stat. */
typedef struct host_cpu_times {
    uint64_t idle;   /* idle + iowait */
    uint64_t total;  /* every mode except guest time, which user time already counts */
} host_cpu_times_t;

typedef struct host_fs_usage {
    uint64_t size_bytes;   /* f_blocks * f_frsize */
    uint64_t free_bytes;   /* f_bfree: free including root-reserved blocks */
    uint64_t avail_bytes;  /* f_bavail: free for unprivileged users */
} host_fs_usage_t;

/*
 * Reads `procfs`/`rel` into buf (capacity cap, NUL-terminated, truncated to cap-1 bytes) and
 * stores the length in *len. 0, or VIGIL_EIO with the path and errno text in err.
 */
int host_read_file(const char *procfs, const char *rel, char *buf, size_t cap, size_t *len,
                   vigil_error_t *err);

/* Counts the entries of a directory other than "." and ".." (a process's fd/ directory gives
 * its open file descriptors). -1 when it cannot be opened. */
long host_count_dir_entries(const char *path);

/* Parses MemTotal and MemAvailable from `procfs`/meminfo. VIGIL_EPARSE when either is absent. */
int host_read_memory(const char *procfs, host_memory_t *out, vigil_error_t *err);

/* Parses the aggregate "cpu" line of `procfs`/stat. */
int host_read_cpu_times(const char *procfs, host_cpu_times_t *out, vigil_error_t *err);

/* Busy percentage (0..100) between two readings; 0 when no ticks passed. */
double host_cpu_busy_percent(const host_cpu_times_t *before, const host_cpu_times_t *after);

/* statvfs() of the filesystem holding `path`. */
int host_read_fs_usage(const char *path, host_fs_usage_t *out, vigil_error_t *err);

/* Used percentage as df shows it: used / (used + avail), 0 for an empty filesystem. */
double host_fs_used_percent(const host_fs_usage_t *fs);

#endif /* VIGIL_HOST_H */
