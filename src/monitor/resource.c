/*
 * resource.c - the resource monitor (seed 000 ResourceMonitor) and the "gpu" health check.
 *
 * CPU, memory and disk come from src/host's procfs/statfs readers (the procfs root is a
 * parameter, so tests point it at fixture trees); GPUs come from a callback, because libvigil
 * does not link NVML: the agent passes one over its NVML loader.
 */
#include "vigil/monitor.h"

#include "host/host.h"
#include "monitor/monitor_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vigil_resource_monitor {
    pthread_mutex_t    lock;       /* guards prev and the thresholds */
    char               procfs[1024];
    char               disk_path[1024];
    double             cpu_t, mem_t, gpu_t;
    vigil_gpu_usage_fn gpu_fn;
    void              *gpu_ctx;
    bool               have_prev;
    host_cpu_times_t   prev;
};

int vigil_resource_create(const vigil_resource_opts_t *opts, vigil_resource_monitor_t **out,
                          vigil_error_t *err)
{
    *out = NULL;
    vigil_resource_opts_t o = opts != NULL ? *opts : (vigil_resource_opts_t){ 0 };
    vigil_resource_monitor_t *rm = calloc(1, sizeof(*rm));
    if (rm == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    const char *procfs = o.procfs != NULL ? o.procfs : "/proc";
    const char *disk = o.disk_path != NULL ? o.disk_path : "/";
    if (strlen(procfs) >= sizeof(rm->procfs) || strlen(disk) >= sizeof(rm->disk_path)) {
        free(rm);
        return vigil_error_set(err, VIGIL_EINVAL, "resource monitor: path too long");
    }
    snprintf(rm->procfs, sizeof(rm->procfs), "%s", procfs);
    snprintf(rm->disk_path, sizeof(rm->disk_path), "%s", disk);
    rm->cpu_t = o.cpu_threshold > 0 ? o.cpu_threshold : 80;
    rm->mem_t = o.memory_threshold > 0 ? o.memory_threshold : 85;
    rm->gpu_t = o.gpu_memory_threshold > 0 ? o.gpu_memory_threshold : 90;
    rm->gpu_fn = o.gpu_fn;
    rm->gpu_ctx = o.gpu_ctx;
    pthread_mutex_init(&rm->lock, NULL);
    *out = rm;
    return 0;
}

void vigil_resource_free(vigil_resource_monitor_t *rm)
{
    if (rm == NULL)
        return;
    pthread_mutex_destroy(&rm->lock);
    free(rm);
}

void vigil_resource_set_thresholds(vigil_resource_monitor_t *rm, double cpu, double memory,
                                   double gpu_memory)
{
    pthread_mutex_lock(&rm->lock);
    if (cpu > 0)
        rm->cpu_t = cpu;
    if (memory > 0)
        rm->mem_t = memory;
    if (gpu_memory > 0)
        rm->gpu_t = gpu_memory;
    pthread_mutex_unlock(&rm->lock);
}

int vigil_resource_current(vigil_resource_monitor_t *rm, vigil_resource_usage_t *out,
                           vigil_error_t *err)
{
    memset(out, 0, sizeof(*out));
    host_memory_t mem;
    host_cpu_times_t cpu;
    host_fs_usage_t fs;
    int rc = host_read_memory(rm->procfs, &mem, err);
    rc = rc ? rc : host_read_cpu_times(rm->procfs, &cpu, err);
    rc = rc ? rc : host_read_fs_usage(rm->disk_path, &fs, err);
    if (rc != 0)
        return rc;
    const double gb = 1024.0 * 1024.0 * 1024.0;
    pthread_mutex_lock(&rm->lock);
    /* First reading: the busy share since boot (all zero ticks before), as a baseline. */
    host_cpu_times_t zero = { 0, 0 };
    out->cpu_percent = host_cpu_busy_percent(rm->have_prev ? &rm->prev : &zero, &cpu);
    rm->prev = cpu;
    rm->have_prev = true;
    pthread_mutex_unlock(&rm->lock);
    uint64_t used = mem.total_bytes > mem.available_bytes ? mem.total_bytes - mem.available_bytes
                                                          : 0;
    out->memory_percent = mem.total_bytes > 0 ? 100.0 * (double)used / (double)mem.total_bytes
                                              : 0;
    out->memory_used_gb = (double)used / gb;
    out->memory_total_gb = (double)mem.total_bytes / gb;
    out->disk_percent = host_fs_used_percent(&fs);
    out->disk_free_gb = (double)fs.avail_bytes / gb;
    if (rm->gpu_fn != NULL) {
        size_t n = 0;
        if (rm->gpu_fn(rm->gpu_ctx, out->gpus, VIGIL_MONITOR_MAX_GPUS, &n) == 0)
            out->n_gpus = n < VIGIL_MONITOR_MAX_GPUS ? n : VIGIL_MONITOR_MAX_GPUS;
    }
    return 0;
}

static void warn(vigil_resource_warning_t *w, const char *resource, const char *label,
                 double value, double threshold)
{
    snprintf(w->resource, sizeof(w->resource), "%s", resource);
    w->value = value;
    w->threshold = threshold;
    snprintf(w->message, sizeof(w->message), "High %s usage: %.1f%% (threshold %.1f%%)", label,
             value, threshold);
}

size_t vigil_resource_check_thresholds(vigil_resource_monitor_t *rm,
                                       const vigil_resource_usage_t *u,
                                       vigil_resource_warning_t *out)
{
    pthread_mutex_lock(&rm->lock);
    double cpu_t = rm->cpu_t, mem_t = rm->mem_t, gpu_t = rm->gpu_t;
    pthread_mutex_unlock(&rm->lock);
    size_t n = 0;
    if (u->cpu_percent > cpu_t)
        warn(&out[n++], "cpu", "CPU", u->cpu_percent, cpu_t);
    if (u->memory_percent > mem_t)
        warn(&out[n++], "memory", "memory", u->memory_percent, mem_t);
    for (size_t i = 0; i < u->n_gpus && i < VIGIL_MONITOR_MAX_GPUS; i++)
        if (u->gpus[i].memory_percent > gpu_t) {
            char res[32], label[48];
            snprintf(res, sizeof(res), "gpu%u_memory", u->gpus[i].index);
            snprintf(label, sizeof(label), "GPU %u memory", u->gpus[i].index);
            warn(&out[n++], res, label, u->gpus[i].memory_percent, gpu_t);
        }
    return n;
}

static int put_field(buf_t *b, const char *key, double v)
{
    int rc = buf_printf(b, ",\"%s\":", key);
    return rc ? rc : monitor_put_json_number(b, v);
}

int vigil_resource_usage_json(const vigil_resource_usage_t *u,
                              const vigil_resource_warning_t *w, size_t n_w, char **json,
                              size_t *len)
{
    buf_t b;
    buf_init(&b, 1u << 20);
    int rc = buf_puts(&b, "{\"cpu_percent\":");
    rc = rc ? rc : monitor_put_json_number(&b, u->cpu_percent);
    rc = rc ? rc : put_field(&b, "memory_percent", u->memory_percent);
    rc = rc ? rc : put_field(&b, "memory_used_gb", u->memory_used_gb);
    rc = rc ? rc : put_field(&b, "memory_total_gb", u->memory_total_gb);
    rc = rc ? rc : put_field(&b, "disk_percent", u->disk_percent);
    rc = rc ? rc : put_field(&b, "disk_free_gb", u->disk_free_gb);
    rc = rc ? rc : buf_puts(&b, ",\"gpus\":[");
    for (size_t i = 0; rc == 0 && i < u->n_gpus; i++) {
        const vigil_gpu_usage_t *g = &u->gpus[i];
        rc = buf_printf(&b, "%s{\"index\":%u,\"name\":", i ? "," : "", g->index);
        rc = rc ? rc : buf_put_json_string(&b, g->name);
        rc = rc ? rc : put_field(&b, "memory_used_mb", g->memory_used_mb);
        rc = rc ? rc : put_field(&b, "memory_total_mb", g->memory_total_mb);
        rc = rc ? rc : put_field(&b, "memory_percent", g->memory_percent);
        rc = rc ? rc : put_field(&b, "util_percent", g->util_percent);
        rc = rc ? rc : buf_putc(&b, '}');
    }
    rc = rc ? rc : buf_puts(&b, "],\"warnings\":[");
    for (size_t i = 0; rc == 0 && i < n_w; i++) {
        rc = buf_printf(&b, "%s{\"resource\":", i ? "," : "");
        rc = rc ? rc : buf_put_json_string(&b, w[i].resource);
        rc = rc ? rc : put_field(&b, "value", w[i].value);
        rc = rc ? rc : put_field(&b, "threshold", w[i].threshold);
        rc = rc ? rc : buf_puts(&b, ",\"message\":");
        rc = rc ? rc : buf_put_json_string(&b, w[i].message);
        rc = rc ? rc : buf_putc(&b, '}');
    }
    rc = rc ? rc : buf_puts(&b, "]}");
    return monitor_buf_finish(&b, rc, json, len);
}

/* ---------------------------------------------------------------------------------------- */

struct vigil_gpu_check {
    pthread_mutex_t           lock;  /* thresholds change on reload while a check may run */
    vigil_gpu_usage_fn        fn;
    void                     *ctx;
    vigil_health_thresholds_t t;
};

static void gpu_check(void *ctx, vigil_health_result_t *out)
{
    vigil_gpu_check_t *gc = ctx;
    vigil_gpu_usage_t gpus[VIGIL_MONITOR_MAX_GPUS];
    size_t n = 0;
    int rc = gc->fn(gc->ctx, gpus, VIGIL_MONITOR_MAX_GPUS, &n);
    if (rc != 0) {
        out->status = VIGIL_HEALTH_UNKNOWN;
        snprintf(out->message, sizeof(out->message), "GPU read failed: %s", vigil_strerror(rc));
        return;
    }
    if (n == 0) {
        out->status = VIGIL_HEALTH_HEALTHY;
        snprintf(out->message, sizeof(out->message), "No GPU");
        return;
    }
    size_t worst = 0;
    for (size_t i = 1; i < n && i < VIGIL_MONITOR_MAX_GPUS; i++)
        if (gpus[i].memory_percent > gpus[worst].memory_percent)
            worst = i;
    pthread_mutex_lock(&gc->lock);
    vigil_health_thresholds_t t = gc->t;
    pthread_mutex_unlock(&gc->lock);
    double v = gpus[worst].memory_percent;
    out->status = vigil_health_classify(v, &t);
    out->has_value = true;
    out->value = v;
    out->has_thresholds = true;
    out->warning_threshold = t.warning;
    out->critical_threshold = t.critical;
    static const char *const word[] = { "normal", "high", "critical" };
    snprintf(out->message, sizeof(out->message), "GPU %u memory usage %s: %.1f%%",
             gpus[worst].index, out->status <= VIGIL_HEALTH_CRITICAL ? word[out->status] : "?",
             v);
}

int vigil_monitor_register_gpu_check(vigil_health_checker_t *hc, vigil_gpu_usage_fn fn,
                                     void *ctx, const vigil_health_thresholds_t *t,
                                     vigil_gpu_check_t **out, vigil_error_t *err)
{
    *out = NULL;
    if (fn == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "gpu check: NULL callback");
    vigil_gpu_check_t *gc = calloc(1, sizeof(*gc));
    if (gc == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    gc->fn = fn;
    gc->ctx = ctx;
    gc->t = t != NULL ? *t : (vigil_health_thresholds_t){ 85, 95 };
    pthread_mutex_init(&gc->lock, NULL);
    int rc = vigil_health_register(hc, "gpu", gpu_check, gc, err);
    if (rc != 0) {
        vigil_monitor_gpu_check_free(gc);
        return rc;
    }
    *out = gc;
    return 0;
}

void vigil_monitor_gpu_check_free(vigil_gpu_check_t *gc)
{
    if (gc == NULL)
        return;
    pthread_mutex_destroy(&gc->lock);
    free(gc);
}

void vigil_monitor_gpu_check_set_thresholds(vigil_gpu_check_t *gc,
                                            const vigil_health_thresholds_t *t)
{
    pthread_mutex_lock(&gc->lock);
    gc->t = *t;
    pthread_mutex_unlock(&gc->lock);
}
