/*
 * monitor_gpu.c - NVML readings for the monitoring APIs and `vigil wrap` (monitor_gpu.h).
 *
 * Only a handful of entry points are used (device count, handle, name, memory, utilisation,
 * process lists), each optional: a missing one just leaves its figure out. Calls are
 * serialised by a mutex because the handle is shared between the housekeeping thread, the
 * monitor thread and HTTP workers, and NVML's thread-safety guarantees vary between driver
 * versions.
 */
#include "agent/monitor_gpu.h"

#include "collect/nvml_api.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROCS 256

struct monitor_gpu {
    pthread_mutex_t lock;
    nvml_api_t      api;
    bool            ready;
    char            why[256];
};

int monitor_gpu_open(monitor_gpu_t **out, const char *library, vigil_error_t *err)
{
    monitor_gpu_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    pthread_mutex_init(&g->lock, NULL);
    const char *path = getenv("VIGIL_NVML_LIBRARY");
    if (path == NULL || path[0] == '\0')
        path = library != NULL && library[0] != '\0' ? library : "libnvidia-ml.so.1";
    const char *why = NULL;
    if (!nvml_api_load(&g->api, path, &why)) {
        snprintf(g->why, sizeof(g->why), "%s: %s", path, why != NULL ? why : "cannot load");
    } else if (g->api.init() != NVML_SUCCESS) {
        snprintf(g->why, sizeof(g->why), "%s: nvmlInit failed", path);
        nvml_api_unload(&g->api);
    } else
        g->ready = true;
    *out = g;
    return 0;
}

void monitor_gpu_close(monitor_gpu_t *g)
{
    if (g == NULL)
        return;
    if (g->ready) {
        if (g->api.shutdown != NULL)
            g->api.shutdown();
        nvml_api_unload(&g->api);
    }
    pthread_mutex_destroy(&g->lock);
    free(g);
}

bool monitor_gpu_available(const monitor_gpu_t *g, const char **why)
{
    if (why != NULL)
        *why = g->ready ? "" : g->why;
    return g->ready;
}

static unsigned device_count(monitor_gpu_t *g)
{
    unsigned n = 0;
    if (g->api.device_count == NULL || g->api.handle_by_index == NULL ||
        g->api.device_count(&n) != NVML_SUCCESS)
        return 0;
    return n;
}

int monitor_gpu_usage(void *ctx, vigil_gpu_usage_t *out, size_t cap, size_t *n)
{
    monitor_gpu_t *g = ctx;
    *n = 0;
    if (!g->ready)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&g->lock);
    unsigned count = device_count(g);
    for (unsigned i = 0; i < count && *n < cap; i++) {
        nvmlDevice_t dev;
        if (g->api.handle_by_index(i, &dev) != NVML_SUCCESS)
            continue;
        vigil_gpu_usage_t *u = &out[*n];
        memset(u, 0, sizeof(*u));
        u->index = i;
        u->util_percent = NAN;
        if (g->api.name == NULL || g->api.name(dev, u->name, sizeof(u->name)) != NVML_SUCCESS)
            snprintf(u->name, sizeof(u->name), "GPU %u", i);
        nvmlMemory_t mem;
        if (g->api.memory_info == NULL || g->api.memory_info(dev, &mem) != NVML_SUCCESS) {
            rc = VIGIL_EIO;  /* a GPU whose memory cannot be read: the check says unknown */
            continue;
        }
        u->memory_total_mb = (double)mem.total / (1024.0 * 1024.0);
        u->memory_used_mb = (double)mem.used / (1024.0 * 1024.0);
        u->memory_percent = mem.total > 0 ? 100.0 * (double)mem.used / (double)mem.total : 0;
        nvmlUtilization_t ut;
        if (g->api.utilization != NULL && g->api.utilization(dev, &ut) == NVML_SUCCESS)
            u->util_percent = ut.gpu;
        (*n)++;
    }
    pthread_mutex_unlock(&g->lock);
    return rc;
}

static bool has_pid(const pid_t *pids, size_t n, unsigned pid)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned)pids[i] == pid)
            return true;
    return false;
}

/* What one device's process lists say about the wanted pids: a process can be in both the
 * compute and the graphics list with the same allocation, so each pid counts once, with the
 * larger figure (as the gpu collector's vigil_gpu_process_memory_bytes does). */
typedef struct device_procs {
    struct {
        unsigned int       pid;
        unsigned long long bytes;
    } seen[2 * MAX_PROCS];
    size_t n;
} device_procs_t;

/* Records the wanted pids of one process list of `dev`. */
static void scan_list(nvmlReturn_t (*fn)(nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *),
                      nvmlDevice_t dev, const pid_t *pids, size_t n_pids, device_procs_t *dp)
{
    if (fn == NULL)
        return;
    nvmlProcessInfo_t info[MAX_PROCS];
    unsigned count = MAX_PROCS;
    if (fn(dev, &count, info) != NVML_SUCCESS)
        return;
    for (unsigned i = 0; i < count && i < MAX_PROCS; i++) {
        if (!has_pid(pids, n_pids, info[i].pid))
            continue;
        unsigned long long bytes =
            info[i].usedGpuMemory == NVML_VALUE_NOT_AVAILABLE ? 0 : info[i].usedGpuMemory;
        size_t k = 0;
        while (k < dp->n && dp->seen[k].pid != info[i].pid)
            k++;
        if (k == dp->n) {
            dp->seen[dp->n].pid = info[i].pid;
            dp->seen[dp->n++].bytes = bytes;
        } else if (bytes > dp->seen[k].bytes) {
            dp->seen[k].bytes = bytes;
        }
    }
}

int monitor_gpu_procs(monitor_gpu_t *g, const pid_t *pids, size_t n_pids,
                      monitor_gpu_procs_t *out)
{
    memset(out, 0, sizeof(*out));
    out->util_percent = NAN;
    if (!g->ready)
        return 0;
    pthread_mutex_lock(&g->lock);
    unsigned count = device_count(g);
    for (unsigned i = 0; i < count; i++) {
        nvmlDevice_t dev;
        if (g->api.handle_by_index(i, &dev) != NVML_SUCCESS)
            continue;
        /* The _v3 lists where the driver has them, else _v2 (same layout). */
        device_procs_t dp;
        dp.n = 0;
        scan_list(g->api.compute_procs ? g->api.compute_procs : g->api.compute_procs_v2, dev,
                  pids, n_pids, &dp);
        scan_list(g->api.graphics_procs ? g->api.graphics_procs : g->api.graphics_procs_v2, dev,
                  pids, n_pids, &dp);
        if (dp.n == 0)
            continue;
        for (size_t k = 0; k < dp.n; k++)
            out->memory_mb += (double)dp.seen[k].bytes / (1024.0 * 1024.0);
        out->devices++;
        nvmlUtilization_t ut;
        if (g->api.utilization != NULL && g->api.utilization(dev, &ut) == NVML_SUCCESS &&
            (isnan(out->util_percent) || ut.gpu > out->util_percent))
            out->util_percent = ut.gpu;
    }
    pthread_mutex_unlock(&g->lock);
    return 0;
}
