/*
 * monitor_gpu.h - GPU readings for the monitoring APIs and `vigil wrap`, over the NVML loader of
 * the "gpu" collector (collect/nvml_api.h, used read-only): device memory and utilisation for
 * the health check and the resource monitor (as a vigil_gpu_usage_fn), and the GPU memory of a
 * set of processes for `vigil wrap`.
 *
 * No library, no driver or no GPU is not an error: monitor_gpu_open() then returns a handle
 * that reports zero devices, so callers need no special case.
 */
#ifndef VIGIL_AGENT_MONITOR_GPU_H
#define VIGIL_AGENT_MONITOR_GPU_H

#include "vigil/monitor.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct monitor_gpu monitor_gpu_t;

/*
 * Loads NVML: $VIGIL_NVML_LIBRARY if set, else `library` if not NULL or "", else
 * libnvidia-ml.so.1 (the collector's order), and initialises it. On success *out is the
 * caller's, freed with monitor_gpu_close(); only VIGIL_ENOMEM fails.
 */
int monitor_gpu_open(monitor_gpu_t **out, const char *library, vigil_error_t *err);
void monitor_gpu_close(monitor_gpu_t *g);

/* True when NVML is loaded and initialised; *why (may be NULL) says why not otherwise
 * (static or owned by the handle, valid until close). */
bool monitor_gpu_available(const monitor_gpu_t *g, const char **why);

/* vigil_gpu_usage_fn over NVML: ctx is the monitor_gpu_t. 0 devices without NVML. */
int monitor_gpu_usage(void *ctx, vigil_gpu_usage_t *out, size_t cap, size_t *n);

/* What the processes `pids` use on the GPUs. */
typedef struct monitor_gpu_procs {
    double memory_mb;     /* sum of their used GPU memory, over every device */
    double util_percent;  /* utilisation of the busiest device they run on; NaN if none */
    size_t devices;       /* devices with at least one of them */
} monitor_gpu_procs_t;

/* Reads the compute and graphics process lists of every device. 0 (zeros without NVML) or
 * VIGIL_EIO when NVML answers an error. */
int monitor_gpu_procs(monitor_gpu_t *g, const pid_t *pids, size_t n_pids,
                      monitor_gpu_procs_t *out);

#endif /* VIGIL_AGENT_MONITOR_GPU_H */
