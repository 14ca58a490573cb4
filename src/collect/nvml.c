/*
 * nvml.c - collector "gpu": NVIDIA GPUs through NVML, with dcgm-exporter's metric names,
 * labels and units, so dashboards built for dcgm-exporter work unchanged.
 *
 * Life of the collector:
 *   init     load the library (nvml_api.c; $VIGIL_NVML_LIBRARY, else the option, else
 *            libnvidia-ml.so.1), nvmlInit, enumerate the GPUs once (UUID, PCI bus id, minor
 *            number and model are fixed while the driver is loaded) and register every GPU
 *            that supports it for XID events in one event set.
 *   collect  drain the event set without waiting, then read each metric of the table below
 *            for every GPU (and every MIG instance for the metrics that have one), then the
 *            process lists, which are also published for the process collector.
 *   destroy  free the event set, nvmlShutdown, dlclose.
 *
 * Nothing here can fail a run: no library, no driver, no GPU, a field a GPU does not support
 * (NVML_ERROR_NOT_SUPPORTED) all mean "that metric is absent". Each such fact is logged once
 * (NOT_SUPPORTED at debug, other failures at info) and a NOT_SUPPORTED field is never asked
 * again, so an unsupported query costs nothing after the first run. When the driver is not
 * loaded yet at start, nvmlInit is retried every GPU_RETRY_RUNS runs.
 *
 * Labels, as dcgm-exporter: gpu (NVML index), UUID, pci_bus_id, device ("nvidia<minor>"),
 * modelName, Hostname (procfs/sys/kernel/hostname, like the uname collector), plus
 * GPU_I_PROFILE and GPU_I_ID on MIG instance series.
 */
#include "collect/collect_int.h"
#include "collect/nvml_api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GPU_MAX_DEVICES   64
#define GPU_MAX_MIG       8      /* MIG allows 7 GPU instances per GPU */
#define GPU_MAX_EVENTS    256    /* drained per run: a storm must not hold the thread */
#define GPU_RETRY_RUNS    60
#define GPU_MAX_PROCS     4096

/* ---- the metric table ---- */

/* Reads one metric of handle h into *out; arg is the row's NVML argument (a clock, a PCIe
 * direction, an ECC error type), so that rows asking one entry point share its reader. */
typedef nvmlReturn_t (*gpu_read_fn)(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out);

#define NEED(fn) do { if (api->fn == NULL) return NVML_ERROR_FUNCTION_NOT_FOUND; } while (0)

static nvmlReturn_t rd_gpu_util(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(utilization);
    nvmlUtilization_t u;
    nvmlReturn_t rc = api->utilization(h, &u);
    *out = u.gpu;
    return rc;
}

static nvmlReturn_t rd_mem_copy_util(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(utilization);
    nvmlUtilization_t u;
    nvmlReturn_t rc = api->utilization(h, &u);
    *out = u.memory;
    return rc;
}

/* DCGM reports framebuffer sizes in whole MiB. */
static nvmlReturn_t rd_fb_used(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(memory_info);
    nvmlMemory_t m;
    nvmlReturn_t rc = api->memory_info(h, &m);
    *out = (double)(m.used >> 20);
    return rc;
}

static nvmlReturn_t rd_fb_free(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(memory_info);
    nvmlMemory_t m;
    nvmlReturn_t rc = api->memory_info(h, &m);
    *out = (double)(m.free >> 20);
    return rc;
}

static nvmlReturn_t rd_gpu_temp(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(temperature);
    unsigned int v;
    nvmlReturn_t rc = api->temperature(h, NVML_TEMPERATURE_GPU, &v);
    *out = v;
    return rc;
}

static double field_value(const nvmlFieldValue_t *f)
{
    switch (f->valueType) {
    case NVML_VALUE_TYPE_DOUBLE:             return f->value.dVal;
    case NVML_VALUE_TYPE_UNSIGNED_INT:       return f->value.uiVal;
    case NVML_VALUE_TYPE_UNSIGNED_LONG:      return (double)f->value.ulVal;
    case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: return (double)f->value.ullVal;
    case NVML_VALUE_TYPE_SIGNED_LONG_LONG:   return (double)f->value.sllVal;
    case NVML_VALUE_TYPE_SIGNED_INT:         return f->value.siVal;
    case NVML_VALUE_TYPE_UNSIGNED_SHORT:     return f->value.usVal;
    default:                                 return NAN;
    }
}

/* Memory temperature has no dedicated entry point; it is field 82 of nvmlDeviceGetFieldValues,
 * which is also where DCGM gets it. */
static nvmlReturn_t rd_memory_temp(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(field_values);
    nvmlFieldValue_t f = { .fieldId = NVML_FI_DEV_MEMORY_TEMP };
    nvmlReturn_t rc = api->field_values(h, 1, &f);
    if (rc != NVML_SUCCESS)
        return rc;
    *out = field_value(&f);
    return f.nvmlReturn;
}

static nvmlReturn_t rd_power(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(power_usage);
    unsigned int mw;
    nvmlReturn_t rc = api->power_usage(h, &mw);
    *out = mw / 1000.0;
    return rc;
}

static nvmlReturn_t rd_energy(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(total_energy);
    unsigned long long mj;
    nvmlReturn_t rc = api->total_energy(h, &mj);
    *out = (double)mj;
    return rc;
}

/* arg: NVML_CLOCK_SM or NVML_CLOCK_MEM. */
static nvmlReturn_t rd_clock(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(clock_info);
    unsigned int v;
    nvmlReturn_t rc = api->clock_info(h, arg, &v);
    *out = v;
    return rc;
}

/* arg: NVML_PCIE_UTIL_TX_BYTES or NVML_PCIE_UTIL_RX_BYTES. */
static nvmlReturn_t rd_pcie(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(pcie_throughput);
    unsigned int v;
    nvmlReturn_t rc = api->pcie_throughput(h, arg, &v);
    *out = v;
    return rc;
}

static nvmlReturn_t rd_pcie_replay(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(pcie_replay);
    unsigned int v;
    nvmlReturn_t rc = api->pcie_replay(h, &v);
    *out = v;
    return rc;
}

/* Volatile ECC errors (since the driver loaded); arg: NVML_MEMORY_ERROR_TYPE_CORRECTED
 * (single-bit) or NVML_MEMORY_ERROR_TYPE_UNCORRECTED (double-bit). */
static nvmlReturn_t rd_ecc(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(total_ecc);
    unsigned long long v;
    nvmlReturn_t rc = api->total_ecc(h, arg, NVML_VOLATILE_ECC, &v);
    *out = (double)v;
    return rc;
}

static nvmlReturn_t rd_throttle(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(throttle_reasons);
    unsigned long long v;
    nvmlReturn_t rc = api->throttle_reasons(h, &v);
    *out = (double)v;
    return rc;
}

static nvmlReturn_t rd_power_limit(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(power_limit);
    unsigned int mw;
    nvmlReturn_t rc = api->power_limit(h, &mw);
    *out = mw / 1000.0;
    return rc;
}

static nvmlReturn_t rd_fan(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(fan_speed);
    unsigned int v;
    nvmlReturn_t rc = api->fan_speed(h, &v);
    *out = v;
    return rc;
}

static nvmlReturn_t rd_pstate(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(pstate);
    int v;
    nvmlReturn_t rc = api->pstate(h, &v);
    /* P-state "unknown" (32) is no state at all: absent rather than a bogus P32. */
    if (rc == NVML_SUCCESS && (v < 0 || v >= NVML_PSTATE_UNKNOWN))
        return NVML_ERROR_NOT_SUPPORTED;
    *out = v;
    return rc;
}

/* NVLink traffic: the data counters (KiB since the driver loaded) of all links, both
 * directions. GPUs without NVLink answer NOT_SUPPORTED. */
static nvmlReturn_t rd_nvlink(const nvml_api_t *api, nvmlDevice_t h, int arg, double *out)
{
    NEED(field_values);
    nvmlFieldValue_t f[2] = {
        { .fieldId = NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX, .scopeId = NVML_SCOPE_ALL_LINKS },
        { .fieldId = NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX, .scopeId = NVML_SCOPE_ALL_LINKS },
    };
    nvmlReturn_t rc = api->field_values(h, 2, f);
    if (rc != NVML_SUCCESS)
        return rc;
    if (f[0].nvmlReturn != NVML_SUCCESS)
        return f[0].nvmlReturn;
    if (f[1].nvmlReturn != NVML_SUCCESS)
        return f[1].nvmlReturn;
    *out = field_value(&f[0]) + field_value(&f[1]);
    return NVML_SUCCESS;
}

#undef NEED

typedef struct gpu_metric {
    const char    *name, *help;
    collect_type_t type;
    gpu_read_fn    read;
    int            arg;    /* passed to read; 0 where the reader takes none */
    bool           mig;    /* also read per MIG instance */
} gpu_metric_t;

/* Help texts are dcgm-exporter's (default-counters.csv) where it has one. */
static const gpu_metric_t gpu_metrics[] = {
    { "DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", COLLECT_GAUGE, rd_gpu_util, 0, true },
    { "DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).", COLLECT_GAUGE,
      rd_mem_copy_util, 0, true },
    { "DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", COLLECT_GAUGE, rd_fb_used, 0,
      true },
    { "DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", COLLECT_GAUGE, rd_fb_free, 0,
      true },
    { "DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", COLLECT_GAUGE, rd_gpu_temp, 0, false },
    { "DCGM_FI_DEV_MEMORY_TEMP", "Memory temperature (in C).", COLLECT_GAUGE, rd_memory_temp, 0,
      false },
    { "DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", COLLECT_GAUGE, rd_power, 0, false },
    { "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
      "Total energy consumption since boot (in mJ).", COLLECT_COUNTER, rd_energy, 0, false },
    { "DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", COLLECT_GAUGE, rd_clock,
      NVML_CLOCK_SM, false },
    { "DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", COLLECT_GAUGE,
      rd_clock, NVML_CLOCK_MEM, false },
    /* dcgm-exporter declares these two counters, but NVML's value is a throughput (KB/s over
     * a 20 ms window), so they are gauges here: rate() of them would be meaningless. */
    { "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "PCIe TX throughput (in KB/s).", COLLECT_GAUGE,
      rd_pcie, NVML_PCIE_UTIL_TX_BYTES, false },
    { "DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "PCIe RX throughput (in KB/s).", COLLECT_GAUGE,
      rd_pcie, NVML_PCIE_UTIL_RX_BYTES, false },
    { "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "Total number of PCIe retries.", COLLECT_COUNTER,
      rd_pcie_replay, 0, false },
    { "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "Total number of single-bit volatile ECC errors.",
      COLLECT_COUNTER, rd_ecc, NVML_MEMORY_ERROR_TYPE_CORRECTED, false },
    { "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "Total number of double-bit volatile ECC errors.",
      COLLECT_COUNTER, rd_ecc, NVML_MEMORY_ERROR_TYPE_UNCORRECTED, false },
    { "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", "Current clock throttle reasons (bitmask).",
      COLLECT_GAUGE, rd_throttle, 0, false },
    { "DCGM_FI_DEV_POWER_MGMT_LIMIT", "Power management limit (in W).", COLLECT_GAUGE,
      rd_power_limit, 0, false },
    { "DCGM_FI_DEV_FAN_SPEED", "Fan speed for the device in percent 0-100.", COLLECT_GAUGE,
      rd_fan, 0, false },
    { "DCGM_FI_DEV_PSTATE", "Performance state (P-State) 0-15. 15 indicates lowest performance.",
      COLLECT_GAUGE, rd_pstate, 0, false },
    { "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
      "Total NVLink data traffic of all links, both directions (in KiB).", COLLECT_COUNTER,
      rd_nvlink, 0, false },
};

#define GPU_NMETRICS (sizeof(gpu_metrics) / sizeof(gpu_metrics[0]))
_Static_assert(GPU_NMETRICS <= 64, "one bit per metric in a uint64_t");

/* ---- state ---- */

/* What we have learnt about one handle (a GPU or a MIG instance): which metrics it does not
 * support (never asked again) and which failures were already logged. */
typedef struct gpu_seen {
    uint64_t unsupported;
    uint64_t logged;
} gpu_seen_t;

typedef struct gpu_mig {
    nvmlDevice_t h;
    unsigned     index;         /* NVML's MIG device index: the key of mig_seen */
    char         id[12];        /* GPU_I_ID */
    char         profile[32];   /* GPU_I_PROFILE, "3g.20gb" */
} gpu_mig_t;

typedef struct gpu_dev {
    nvmlDevice_t h;
    char         gpu[12], uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char         busid[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE], device[24];
    char         model[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    gpu_seen_t   seen;
    gpu_seen_t   mig_seen[GPU_MAX_MIG];   /* by MIG device index */
    gpu_mig_t    mig[GPU_MAX_MIG];        /* this run's instances */
    unsigned     nmig;
    bool         mig_logged;
    bool         xid_registered;
    double       last_xid;
} gpu_dev_t;

typedef struct gpu_xid {
    unsigned dev;
    unsigned long long xid;
    double   count;
} gpu_xid_t;

typedef struct gpu_state {
    const collect_env_t *env;
    char                *libpath;
    nvml_api_t           api;
    bool                 loaded;     /* the library is open */
    bool                 ready;      /* nvmlInit succeeded and the GPUs are enumerated */
    unsigned             retry_in;   /* runs until nvmlInit is tried again */
    bool                 logged_events, logged_procs;
    char                 hostname[256];
    gpu_dev_t           *devs;
    unsigned             ndev;
    nvmlEventSet_t       events;
    gpu_xid_t           *xids;
    size_t               nxid, capxid;
    nvmlProcessInfo_t   *procs;      /* one device's process list, reused */
    unsigned             capprocs;
    collect_gpu_proc_t  *merged;     /* one device's, merged by pid */
    size_t               nmerged, capmerged;
    collect_gpu_proc_t  *pub;        /* all devices', summed by pid, for the process collector */
    size_t               npub, cappub;
    collect_file_t       file;
} gpu_state_t;

static const char *gpu_err(gpu_state_t *s, nvmlReturn_t rc, char *buf, size_t cap)
{
    return nvml_api_strerror(&s->api, rc, buf, cap);
}

/* Logs a failed read once per (handle, metric); NOT_SUPPORTED also stops asking. */
static void gpu_note_failure(gpu_state_t *s, gpu_seen_t *seen, const gpu_dev_t *d,
                             const char *mig_id, size_t row, nvmlReturn_t rc)
{
    uint64_t bit = 1ull << row;
    if (rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_FUNCTION_NOT_FOUND)
        seen->unsupported |= bit;
    if (seen->logged & bit)
        return;
    seen->logged |= bit;
    char buf[48];
    const char *why = gpu_err(s, rc, buf, sizeof(buf));
    if (seen->unsupported & bit)
        log_debug(s->env->log, "gpu", "metric not supported, not asked again",
                  LF_STR("gpu", d->gpu), LF_STR("GPU_I_ID", mig_id),
                  LF_STR("metric", gpu_metrics[row].name), LF_STR("reason", why));
    else
        log_info(s->env->log, "gpu", "metric unavailable", LF_STR("gpu", d->gpu),
                 LF_STR("GPU_I_ID", mig_id), LF_STR("metric", gpu_metrics[row].name),
                 LF_STR("error", why));
}

/* ---- start-up: load, init, enumerate, register for events ---- */

static void gpu_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

/* Reads the static facts of GPU `i`. false (logged) when the GPU cannot be reached. */
static bool gpu_describe(gpu_state_t *s, unsigned i, gpu_dev_t *d)
{
    char buf[48];
    memset(d, 0, sizeof(*d));
    nvmlReturn_t rc = s->api.handle_by_index != NULL ? s->api.handle_by_index(i, &d->h)
                                                      : NVML_ERROR_FUNCTION_NOT_FOUND;
    if (rc != NVML_SUCCESS) {
        log_info(s->env->log, "gpu", "GPU skipped", LF_UINT("gpu", i),
                 LF_STR("error", gpu_err(s, rc, buf, sizeof(buf))));
        return false;
    }
    snprintf(d->gpu, sizeof(d->gpu), "%u", i);
    /* The identifying labels are best effort: a GPU with an unreadable UUID still has
     * metrics worth reporting, under an empty label. */
    if (s->api.uuid == NULL || s->api.uuid(d->h, d->uuid, sizeof(d->uuid)) != NVML_SUCCESS)
        d->uuid[0] = '\0';
    if (s->api.name == NULL || s->api.name(d->h, d->model, sizeof(d->model)) != NVML_SUCCESS)
        d->model[0] = '\0';
    nvmlPciInfo_t pci;
    if (s->api.pci_info != NULL && s->api.pci_info(d->h, &pci) == NVML_SUCCESS)
        gpu_copy(d->busid, sizeof(d->busid), pci.busId);
    unsigned minor;
    if (s->api.minor_number != NULL && s->api.minor_number(d->h, &minor) == NVML_SUCCESS)
        snprintf(d->device, sizeof(d->device), "nvidia%u", minor);
    return true;
}

static void gpu_register_events(gpu_state_t *s)
{
    char buf[48];
    if (s->api.event_set_create == NULL || s->api.register_events == NULL ||
        s->api.event_set_wait == NULL) {
        log_info(s->env->log, "gpu", "no XID events: the library lacks the event API");
        return;
    }
    nvmlReturn_t rc = s->api.event_set_create(&s->events);
    if (rc != NVML_SUCCESS) {
        s->events = NULL;
        log_info(s->env->log, "gpu", "no XID events: nvmlEventSetCreate failed",
                 LF_STR("error", gpu_err(s, rc, buf, sizeof(buf))));
        return;
    }
    for (unsigned i = 0; i < s->ndev; i++) {
        gpu_dev_t *d = &s->devs[i];
        unsigned long long types = NVML_EVENT_TYPE_XID_CRITICAL_ERROR;
        if (s->api.supported_events != NULL &&
            s->api.supported_events(d->h, &types) != NVML_SUCCESS)
            types = 0;
        rc = (types & NVML_EVENT_TYPE_XID_CRITICAL_ERROR)
                 ? s->api.register_events(d->h, NVML_EVENT_TYPE_XID_CRITICAL_ERROR, s->events)
                 : NVML_ERROR_NOT_SUPPORTED;
        d->xid_registered = rc == NVML_SUCCESS;
        if (!d->xid_registered)
            log_debug(s->env->log, "gpu", "no XID events for this GPU", LF_STR("gpu", d->gpu),
                      LF_STR("reason", gpu_err(s, rc, buf, sizeof(buf))));
    }
}

/* nvmlInit and enumeration. Leaves s->ready false (and logs why) when there is nothing to
 * collect; never an error. */
static void gpu_start(gpu_state_t *s)
{
    char buf[48];
    nvmlReturn_t rc = s->api.init();
    if (rc != NVML_SUCCESS) {
        s->retry_in = GPU_RETRY_RUNS;
        log_info(s->env->log, "gpu", "NVML did not initialise; no GPU metrics for now",
                 LF_STR("error", gpu_err(s, rc, buf, sizeof(buf))));
        return;
    }
    unsigned n = 0;
    rc = s->api.device_count != NULL ? s->api.device_count(&n) : NVML_ERROR_FUNCTION_NOT_FOUND;
    if (rc != NVML_SUCCESS) {
        log_info(s->env->log, "gpu", "cannot count GPUs; no GPU metrics",
                 LF_STR("error", gpu_err(s, rc, buf, sizeof(buf))));
        n = 0;
    }
    if (n > GPU_MAX_DEVICES)
        n = GPU_MAX_DEVICES;
    s->devs = n > 0 ? calloc(n, sizeof(*s->devs)) : NULL;
    if (n > 0 && s->devs == NULL)
        n = 0;
    for (unsigned i = 0; i < n; i++)
        if (gpu_describe(s, i, &s->devs[s->ndev]))
            s->ndev++;
    log_info(s->env->log, "gpu", "NVML ready", LF_STR("library", s->libpath),
             LF_UINT("gpus", s->ndev));
    if (s->ndev > 0)
        gpu_register_events(s);
    s->ready = true;
}

/* The first line of procfs file `rel` into out, cut to fit; false when it cannot be read. */
static bool gpu_read_line(gpu_state_t *s, const char *rel, char *out, size_t cap)
{
    if (collect_file_read(&s->file, s->env->procfs, rel, NULL, NULL) != 0)
        return false;
    size_t n = strcspn(s->file.data, "\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s->file.data, n);
    out[n] = '\0';
    return true;
}

static void gpu_read_hostname(gpu_state_t *s)
{
    if (!gpu_read_line(s, "sys/kernel/hostname", s->hostname, sizeof(s->hostname)) &&
        gethostname(s->hostname, sizeof(s->hostname)) != 0)
        s->hostname[0] = '\0';
    s->hostname[sizeof(s->hostname) - 1] = '\0';
}

static void gpu_destroy(void *state);

static int gpu_init(void **state, const collect_env_t *env, vigil_error_t *err)
{
    gpu_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "gpu: no memory");
    s->env = env;
    collect_file_init(&s->file);
    /* The environment variable wins over the configuration so that an operator (or a test)
     * can point one agent at another library without editing its configuration. */
    const char *path = getenv("VIGIL_NVML_LIBRARY");
    if (path == NULL || *path == '\0')
        path = env->opts->nvml_library;
    if (path == NULL || *path == '\0')
        path = "libnvidia-ml.so.1";
    s->libpath = strdup(path);
    if (s->libpath == NULL) {
        gpu_destroy(s);
        return vigil_error_set(err, VIGIL_ENOMEM, "gpu: no memory");
    }
    *state = s;
    gpu_read_hostname(s);
    const char *why = NULL;
    s->loaded = nvml_api_load(&s->api, s->libpath, &why);
    if (!s->loaded) {
        log_info(env->log, "gpu", "NVML not available; no GPU metrics",
                 LF_STR("library", s->libpath), LF_STR("reason", why));
        return 0;
    }
    gpu_start(s);
    return 0;
}

static void gpu_destroy(void *state)
{
    gpu_state_t *s = state;
    if (s == NULL)
        return;
    if (s->events != NULL && s->api.event_set_free != NULL)
        s->api.event_set_free(s->events);
    if (s->ready && s->api.shutdown != NULL)
        s->api.shutdown();
    nvml_api_unload(&s->api);
    collect_file_free(&s->file);
    free(s->devs);
    free(s->xids);
    free(s->procs);
    free(s->merged);
    free(s->pub);
    free(s->libpath);
    free(s);
}

/* ---- one run ---- */

static void gpu_count_xid(gpu_state_t *s, unsigned dev, unsigned long long xid)
{
    for (size_t i = 0; i < s->nxid; i++) {
        if (s->xids[i].dev == dev && s->xids[i].xid == xid) {
            s->xids[i].count++;
            return;
        }
    }
    if (s->nxid == s->capxid) {
        size_t ncap = s->capxid ? s->capxid * 2 : 8;
        gpu_xid_t *p = realloc(s->xids, ncap * sizeof(*p));
        if (p == NULL)
            return; /* the gauge still shows the XID; only its count is lost */
        s->xids = p;
        s->capxid = ncap;
    }
    /* Kept sorted by (device, xid) so the exposition order does not depend on arrival. */
    size_t at = s->nxid;
    while (at > 0 && (s->xids[at - 1].dev > dev ||
                      (s->xids[at - 1].dev == dev && s->xids[at - 1].xid > xid)))
        at--;
    memmove(&s->xids[at + 1], &s->xids[at], (s->nxid - at) * sizeof(*s->xids));
    s->xids[at] = (gpu_xid_t){ .dev = dev, .xid = xid, .count = 1 };
    s->nxid++;
}

/* Takes every pending event without waiting (timeout 0): a run never blocks on the driver's
 * event queue. */
static void gpu_drain_events(gpu_state_t *s)
{
    if (s->events == NULL)
        return;
    for (int n = 0; n < GPU_MAX_EVENTS; n++) {
        nvmlEventData_t ev;
        memset(&ev, 0, sizeof(ev));
        nvmlReturn_t rc = s->api.event_set_wait(s->events, &ev, 0);
        if (rc == NVML_ERROR_TIMEOUT)
            return;
        if (rc != NVML_SUCCESS) {
            if (!s->logged_events) {
                char buf[48];
                log_info(s->env->log, "gpu", "reading XID events failed",
                         LF_STR("error", gpu_err(s, rc, buf, sizeof(buf))));
                s->logged_events = true;
            }
            return;
        }
        if (!(ev.eventType & NVML_EVENT_TYPE_XID_CRITICAL_ERROR))
            continue;
        for (unsigned i = 0; i < s->ndev; i++) {
            if (s->devs[i].h == ev.device) {
                s->devs[i].last_xid = (double)ev.eventData;
                gpu_count_xid(s, i, ev.eventData);
                log_warn(s->env->log, "gpu", "XID error", LF_STR("gpu", s->devs[i].gpu),
                         LF_STR("UUID", s->devs[i].uuid), LF_UINT("xid", ev.eventData));
                break;
            }
        }
    }
}

/* The MIG profile ("3g.20gb") is the last word of a MIG device's name ("NVIDIA A100-SXM4-40GB
 * MIG 3g.20gb"), which is also where dcgm-exporter's value ultimately comes from. */
static void gpu_mig_profile(const char *name, char *out, size_t cap)
{
    const char *p = strstr(name, "MIG ");
    snprintf(out, cap, "%s", p != NULL ? p + 4 : "");
}

static void gpu_scan_mig(gpu_state_t *s, gpu_dev_t *d)
{
    d->nmig = 0;
    unsigned cur = 0, pending = 0, max = 0;
    if (s->api.mig_mode == NULL || s->api.mig_mode(d->h, &cur, &pending) != NVML_SUCCESS ||
        cur != NVML_DEVICE_MIG_ENABLE)
        return;
    if (s->api.max_mig_count == NULL || s->api.mig_by_index == NULL ||
        s->api.max_mig_count(d->h, &max) != NVML_SUCCESS)
        return;
    if (max > GPU_MAX_MIG)
        max = GPU_MAX_MIG;
    for (unsigned i = 0; i < max; i++) {
        gpu_mig_t *m = &d->mig[d->nmig];
        /* NOT_FOUND: no instance at this index (instances need not be contiguous). */
        if (s->api.mig_by_index(d->h, i, &m->h) != NVML_SUCCESS)
            continue;
        unsigned gi;
        if (s->api.gpu_instance_id == NULL || s->api.gpu_instance_id(m->h, &gi) != NVML_SUCCESS)
            continue;
        m->index = i;
        snprintf(m->id, sizeof(m->id), "%u", gi);
        char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = "";
        if (s->api.name != NULL)
            s->api.name(m->h, name, sizeof(name));
        gpu_mig_profile(name, m->profile, sizeof(m->profile));
        d->nmig++;
    }
    if (!d->mig_logged) {
        log_info(s->env->log, "gpu", "MIG enabled", LF_STR("gpu", d->gpu),
                 LF_UINT("instances", d->nmig));
        d->mig_logged = true;
    }
}

/* Fills labels with the GPU's identity (and MIG instance when m is not NULL); returns n. */
static size_t gpu_labels(const gpu_state_t *s, const gpu_dev_t *d, const gpu_mig_t *m,
                         collect_label_t *l)
{
    size_t n = 0;
    l[n++] = (collect_label_t){ "gpu", d->gpu };
    l[n++] = (collect_label_t){ "UUID", d->uuid };
    l[n++] = (collect_label_t){ "pci_bus_id", d->busid };
    l[n++] = (collect_label_t){ "device", d->device };
    l[n++] = (collect_label_t){ "modelName", d->model };
    if (m != NULL) {
        l[n++] = (collect_label_t){ "GPU_I_PROFILE", m->profile };
        l[n++] = (collect_label_t){ "GPU_I_ID", m->id };
    }
    l[n++] = (collect_label_t){ "Hostname", s->hostname };
    return n;
}

/* Starts family *fam (when not yet started) for the sample about to be added: families start
 * on their first sample, so that a metric no GPU supports leaves no empty family behind. */
static int gpu_family(collect_batch_t *b, int *fam, const char *name, const char *help,
                      collect_type_t type)
{
    if (*fam < 0)
        *fam = collect_batch_family(b, name, help, type);
    return *fam < 0 ? *fam : 0;
}

/* One metric for one handle: read, and on success add the sample. */
static int gpu_emit(gpu_state_t *s, collect_batch_t *b, int *fam, size_t row, nvmlDevice_t h,
                    gpu_seen_t *seen, const gpu_dev_t *d, const gpu_mig_t *m)
{
    if (seen->unsupported & (1ull << row))
        return 0;
    double v = 0;
    nvmlReturn_t rc = gpu_metrics[row].read(&s->api, h, gpu_metrics[row].arg, &v);
    if (rc != NVML_SUCCESS) {
        gpu_note_failure(s, seen, d, m != NULL ? m->id : NULL, row, rc);
        return 0;
    }
    int frc = gpu_family(b, fam, gpu_metrics[row].name, gpu_metrics[row].help,
                         gpu_metrics[row].type);
    if (frc != 0)
        return frc;
    collect_label_t l[8];
    size_t n = gpu_labels(s, d, m, l);
    return collect_batch_add_labels(b, *fam, v, l, n);
}

static int gpu_emit_xids(gpu_state_t *s, collect_batch_t *b)
{
    collect_label_t l[9];
    int fam = -1, rc = 0;
    for (unsigned i = 0; rc == 0 && i < s->ndev; i++) {
        gpu_dev_t *d = &s->devs[i];
        if (!d->xid_registered)
            continue;
        rc = gpu_family(b, &fam, "DCGM_FI_DEV_XID_ERRORS",
                        "Value of the last XID error encountered.", COLLECT_GAUGE);
        if (rc == 0)
            rc = collect_batch_add_labels(b, fam, d->last_xid, l, gpu_labels(s, d, NULL, l));
    }
    fam = -1;
    for (size_t i = 0; rc == 0 && i < s->nxid; i++) {
        rc = gpu_family(b, &fam, "vigil_gpu_xid_errors_total",
                        "XID errors reported by the driver since the agent started, by XID.",
                        COLLECT_COUNTER);
        if (rc != 0)
            break;
        const gpu_dev_t *d = &s->devs[s->xids[i].dev];
        size_t n = gpu_labels(s, d, NULL, l);
        char xid[24];
        snprintf(xid, sizeof(xid), "%llu", s->xids[i].xid);
        l[n++] = (collect_label_t){ "xid", xid };
        rc = collect_batch_add_labels(b, fam, s->xids[i].count, l, n);
    }
    return rc;
}

/* One of NVML's process lists of one GPU into s->procs; *n gets the count. */
static nvmlReturn_t gpu_proc_list(gpu_state_t *s, nvmlReturn_t (*fn)(nvmlDevice_t, unsigned *,
                                  nvmlProcessInfo_t *), nvmlDevice_t h, unsigned *n)
{
    /* The list can grow between the sizing call and the reading call: retry a few times
     * with the size NVML asked for, plus headroom. */
    for (int attempt = 0; attempt < 4; attempt++) {
        unsigned count = s->capprocs;
        nvmlReturn_t rc = fn(h, &count, s->procs);
        if (rc == NVML_SUCCESS) {
            *n = count < s->capprocs ? count : s->capprocs;
            return NVML_SUCCESS;
        }
        if (rc != NVML_ERROR_INSUFFICIENT_SIZE || count > GPU_MAX_PROCS)
            return rc;
        unsigned ncap = count + 16;
        nvmlProcessInfo_t *p = realloc(s->procs, ncap * sizeof(*p));
        if (p == NULL)
            return NVML_ERROR_UNKNOWN;
        s->procs = p;
        s->capprocs = ncap;
    }
    return NVML_ERROR_INSUFFICIENT_SIZE;
}

/* Adds bytes to pid's entry of a pid-sorted list (sum when sum, else max). */
static int gpu_proc_add(collect_gpu_proc_t **arr, size_t *n, size_t *cap, uint32_t pid,
                        double bytes, bool sum)
{
    size_t at = *n;
    while (at > 0 && (*arr)[at - 1].pid > pid)
        at--;
    if (at > 0 && (*arr)[at - 1].pid == pid) {
        collect_gpu_proc_t *e = &(*arr)[at - 1];
        e->bytes = sum ? e->bytes + bytes : (bytes > e->bytes ? bytes : e->bytes);
        return 0;
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 32;
        collect_gpu_proc_t *p = realloc(*arr, ncap * sizeof(*p));
        if (p == NULL)
            return VIGIL_ENOMEM;
        *arr = p;
        *cap = ncap;
    }
    memmove(&(*arr)[at + 1], &(*arr)[at], (*n - at) * sizeof(**arr));
    (*arr)[at] = (collect_gpu_proc_t){ .pid = pid, .bytes = bytes };
    (*n)++;
    return 0;
}

/* The compute and graphics lists of one GPU, merged by pid into s->merged. A process in both
 * lists (CUDA + OpenGL) holds one allocation reported twice, so the larger figure is kept. */
static void gpu_merge_procs(gpu_state_t *s, gpu_dev_t *d)
{
    typedef nvmlReturn_t (*list_fn)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *);
    list_fn lists[2] = {
        s->api.compute_procs != NULL ? s->api.compute_procs : s->api.compute_procs_v2,
        s->api.graphics_procs != NULL ? s->api.graphics_procs : s->api.graphics_procs_v2,
    };
    s->nmerged = 0;
    for (int k = 0; k < 2; k++) {
        if (lists[k] == NULL)
            continue;
        unsigned n = 0;
        nvmlReturn_t rc = gpu_proc_list(s, lists[k], d->h, &n);
        if (rc != NVML_SUCCESS) {
            if (!s->logged_procs) {
                char buf[48];
                log_info(s->env->log, "gpu", "GPU process list unavailable",
                         LF_STR("gpu", d->gpu), LF_STR("error", gpu_err(s, rc, buf,
                                                                        sizeof(buf))));
                s->logged_procs = true;
            }
            continue;
        }
        for (unsigned i = 0; i < n; i++) {
            /* Without the memory figure (Windows WDDM, some vGPU) there is nothing to say. */
            if (s->procs[i].usedGpuMemory == NVML_VALUE_NOT_AVAILABLE)
                continue;
            if (gpu_proc_add(&s->merged, &s->nmerged, &s->capmerged, s->procs[i].pid,
                             (double)s->procs[i].usedGpuMemory, false) != 0)
                return;
        }
    }
}

/* comm of pid from procfs (NVML gives host pids: with a procfs from another pid namespace
 * the name may be empty). */
static void gpu_comm(gpu_state_t *s, uint32_t pid, char *out, size_t cap)
{
    char rel[32];
    snprintf(rel, sizeof(rel), "%u/comm", pid);
    if (!gpu_read_line(s, rel, out, cap))
        out[0] = '\0';
}

static int gpu_emit_procs(gpu_state_t *s, collect_batch_t *b)
{
    int fam = -1, rc = 0;
    s->npub = 0;
    for (unsigned i = 0; rc == 0 && i < s->ndev; i++) {
        gpu_dev_t *d = &s->devs[i];
        gpu_merge_procs(s, d);
        for (size_t k = 0; rc == 0 && k < s->nmerged; k++) {
            collect_gpu_proc_t *p = &s->merged[k];
            rc = gpu_family(b, &fam, "vigil_gpu_process_memory_bytes",
                            "GPU memory used by a process on this GPU.", COLLECT_GAUGE);
            if (rc != 0)
                break;
            char pid[16], comm[64];
            snprintf(pid, sizeof(pid), "%u", p->pid);
            gpu_comm(s, p->pid, comm, sizeof(comm));
            rc = collect_batch_add(b, fam, p->bytes, "gpu", d->gpu, "UUID", d->uuid, "pid", pid,
                                   "comm", comm, NULL);
            if (rc == 0)
                rc = gpu_proc_add(&s->pub, &s->npub, &s->cappub, p->pid, p->bytes, true);
        }
    }
    if (rc == 0)
        collect_shared_gpu_publish(s->env->shared, s->pub, s->npub);
    return rc;
}

static int gpu_collect(void *state, collect_batch_t *b, vigil_error_t *err)
{
    gpu_state_t *s = state;
    if (s->loaded && !s->ready && s->retry_in > 0 && --s->retry_in == 0)
        gpu_start(s);
    if (!s->ready || s->ndev == 0)
        return 0;
    gpu_drain_events(s);
    for (unsigned i = 0; i < s->ndev; i++)
        gpu_scan_mig(s, &s->devs[i]);

    int rc = 0;
    for (size_t row = 0; rc == 0 && row < GPU_NMETRICS; row++) {
        int fam = -1;
        for (unsigned i = 0; rc == 0 && i < s->ndev; i++) {
            gpu_dev_t *d = &s->devs[i];
            rc = gpu_emit(s, b, &fam, row, d->h, &d->seen, d, NULL);
            for (unsigned k = 0; rc == 0 && gpu_metrics[row].mig && k < d->nmig; k++)
                rc = gpu_emit(s, b, &fam, row, d->mig[k].h, &d->mig_seen[d->mig[k].index], d,
                             &d->mig[k]);
        }
    }
    if (rc == 0)
        rc = gpu_emit_xids(s, b);
    if (rc == 0)
        rc = gpu_emit_procs(s, b);
    if (rc != 0)
        return vigil_error_set(err, rc, "gpu: %s", vigil_strerror(rc));
    return 0;
}

const collect_def_t collect_def_gpu = {
    .name = "gpu", .enabled = true,
    .init = gpu_init, .collect = gpu_collect, .destroy = gpu_destroy,
};
