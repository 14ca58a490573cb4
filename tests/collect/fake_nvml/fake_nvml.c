/*
 * fake_nvml.c - a stand-in for libnvidia-ml.so.1, built as build/test/libnvidia-ml-fake.so.
 *
 * It exports the NVML entry points the "gpu" collector resolves (src/collect/nvml_api.h, whose
 * declarations it shares so that a layout mistake there breaks the tests) and answers them
 * from a fixture file named by $VIGIL_FAKE_NVML_FIXTURE, read by nvmlInit_v2:
 *
 *   # comment
 *   init !9                 top-level keys, before the first "gpu": nvmlInit's answer
 *   gpu                     starts the next GPU (index 0, 1, ...)
 *   KEY VALUE...            a value of the current device (see the readers below)
 *   KEY !CODE               the call answers NVML error CODE (a number, or NOT_SUPPORTED)
 *   mig INDEX               starts MIG device INDEX of the current GPU; its keys follow
 *   process compute|graphics PID BYTES   an entry of the GPU's process lists
 *   xid N                   a pending XID event on the current GPU (delivered once)
 *
 * A missing key answers NVML_ERROR_NOT_SUPPORTED, as a real driver does for a field a board
 * lacks. fake_nvml_calls(key) tells a test how often the values of `key` were asked for,
 * which is how it proves an unsupported field is not asked again.
 *
 * Why global state: NVML's API is global (nvmlInit, then handles), and this library stands in
 * for it. Nothing but the tests loads it.
 */
#include "collect/nvml_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_MAX_KV    48
#define FAKE_MAX_GPU   8
#define FAKE_MAX_MIG   8
#define FAKE_MAX_PROCS 16
#define FAKE_MAX_XIDS  8

#define EXPORT __attribute__((visibility("default")))

typedef struct fake_kv {
    char     key[24];
    char     val[128];
    unsigned calls;
} fake_kv_t;

typedef struct fake_proc {
    int                graphics;
    unsigned           pid;
    unsigned long long bytes;
} fake_proc_t;

struct nvmlDevice_st {
    fake_kv_t             kv[FAKE_MAX_KV];
    int                   nkv;
    struct nvmlDevice_st *mig[FAKE_MAX_MIG];   /* GPU: MIG devices by index */
    fake_proc_t           procs[FAKE_MAX_PROCS];
    int                   nprocs;
    unsigned long long    xids[FAKE_MAX_XIDS];
    int                   nxids;
    unsigned long long    registered;          /* event mask */
};

struct nvmlEventSet_st {
    int in_use;
};

static struct {
    int                  initialised;
    struct nvmlDevice_st top;                  /* top-level keys */
    struct nvmlDevice_st gpus[FAKE_MAX_GPU];
    int                  ngpu;
    struct nvmlDevice_st migs[FAKE_MAX_GPU * FAKE_MAX_MIG];
    int                  nmig;
    struct nvmlEventSet_st set;
} fake;

static void kv_put(struct nvmlDevice_st *d, const char *key, const char *val)
{
    if (d->nkv == FAKE_MAX_KV)
        return;
    fake_kv_t *kv = &d->kv[d->nkv++];
    snprintf(kv->key, sizeof(kv->key), "%s", key);
    snprintf(kv->val, sizeof(kv->val), "%s", val);
}

static int parse_fixture(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[256];
    struct nvmlDevice_st *cur = &fake.top, *gpu = NULL;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line + strspn(line, " \t");
        if (*p == '\0' || *p == '#')
            continue;
        char *key = p;
        p += strcspn(p, " \t");
        if (*p != '\0')
            *p++ = '\0';
        p += strspn(p, " \t");
        if (strcmp(key, "gpu") == 0) {
            if (fake.ngpu == FAKE_MAX_GPU)
                break;
            gpu = cur = &fake.gpus[fake.ngpu++];
        } else if (strcmp(key, "mig") == 0 && gpu != NULL) {
            unsigned idx = (unsigned)strtoul(p, NULL, 10);
            if (idx >= FAKE_MAX_MIG || fake.nmig == FAKE_MAX_GPU * FAKE_MAX_MIG)
                continue;
            cur = &fake.migs[fake.nmig++];
            gpu->mig[idx] = cur;
        } else if (strcmp(key, "process") == 0 && gpu != NULL && gpu->nprocs < FAKE_MAX_PROCS) {
            char kind[16];
            fake_proc_t *pr = &gpu->procs[gpu->nprocs];
            if (sscanf(p, "%15s %u %llu", kind, &pr->pid, &pr->bytes) == 3) {
                pr->graphics = strcmp(kind, "graphics") == 0;
                gpu->nprocs++;
            }
        } else if (strcmp(key, "xid") == 0 && gpu != NULL && gpu->nxids < FAKE_MAX_XIDS) {
            gpu->xids[gpu->nxids++] = strtoull(p, NULL, 10);
        } else {
            kv_put(cur, key, p);
        }
    }
    fclose(f);
    return 0;
}

/* The value of key on d: NVML_SUCCESS with *val, or the error the fixture asks for. */
static nvmlReturn_t lookup(struct nvmlDevice_st *d, const char *key, const char **val)
{
    *val = "";  /* a fixture error "!0" is NVML_SUCCESS with an empty value */
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (d == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (int i = 0; i < d->nkv; i++) {
        if (strcmp(d->kv[i].key, key) != 0)
            continue;
        d->kv[i].calls++;
        const char *v = d->kv[i].val;
        if (v[0] == '!')
            return strcmp(v + 1, "NOT_SUPPORTED") == 0 ? NVML_ERROR_NOT_SUPPORTED
                                                       : (nvmlReturn_t)atoi(v + 1);
        *val = v;
        return NVML_SUCCESS;
    }
    return NVML_ERROR_NOT_SUPPORTED;
}

/* Reads the n-th whitespace-separated unsigned number of key. */
static nvmlReturn_t lookup_u(struct nvmlDevice_st *d, const char *key, int nth,
                             unsigned long long *out)
{
    const char *v;
    nvmlReturn_t rc = lookup(d, key, &v);
    if (rc != NVML_SUCCESS)
        return rc;
    char *end;
    for (int i = 0;; i++) {
        unsigned long long x = strtoull(v, &end, 10);
        if (end == v)
            return NVML_ERROR_UNKNOWN;
        if (i == nth) {
            *out = x;
            return NVML_SUCCESS;
        }
        v = end;
    }
}

static nvmlReturn_t lookup_ui(struct nvmlDevice_st *d, const char *key, unsigned *out)
{
    if (out == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned long long v;
    nvmlReturn_t rc = lookup_u(d, key, 0, &v);
    if (rc == NVML_SUCCESS)
        *out = (unsigned)v;
    return rc;
}

static nvmlReturn_t lookup_str(struct nvmlDevice_st *d, const char *key, char *out,
                               unsigned len)
{
    const char *v;
    nvmlReturn_t rc = lookup(d, key, &v);
    if (rc != NVML_SUCCESS)
        return rc;
    if (strlen(v) + 1 > len)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, v, strlen(v) + 1);
    return NVML_SUCCESS;
}

/* ---- the exported API ---- */

EXPORT unsigned fake_nvml_calls(unsigned gpu, const char *key);
EXPORT unsigned fake_nvml_calls(unsigned gpu, const char *key)
{
    if (gpu >= (unsigned)fake.ngpu)
        return 0;
    for (int i = 0; i < fake.gpus[gpu].nkv; i++)
        if (strcmp(fake.gpus[gpu].kv[i].key, key) == 0)
            return fake.gpus[gpu].kv[i].calls;
    return 0;
}

EXPORT nvmlReturn_t nvmlInit_v2(void);
EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    const char *path = getenv("VIGIL_FAKE_NVML_FIXTURE");
    memset(&fake, 0, sizeof(fake));
    if (path == NULL || parse_fixture(path) != 0)
        return NVML_ERROR_DRIVER_NOT_LOADED;
    fake.initialised = 1;
    /* "init !CODE" makes nvmlInit fail (a missing key answers NOT_SUPPORTED: no failure). */
    const char *v;
    nvmlReturn_t rc = lookup(&fake.top, "init", &v);
    if (rc != NVML_SUCCESS && rc != NVML_ERROR_NOT_SUPPORTED) {
        fake.initialised = 0;
        return rc;
    }
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlShutdown(void);
EXPORT nvmlReturn_t nvmlShutdown(void)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    fake.initialised = 0;
    return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t rc);
EXPORT const char *nvmlErrorString(nvmlReturn_t rc)
{
    switch (rc) {
    case NVML_SUCCESS:                 return "Success";
    case NVML_ERROR_UNINITIALIZED:     return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT:  return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED:     return "Not Supported";
    case NVML_ERROR_NOT_FOUND:         return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT:           return "Timeout";
    case NVML_ERROR_GPU_IS_LOST:       return "GPU is lost";
    default:                           return "Unknown Error";
    }
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n);
EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned *n)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    *n = (unsigned)fake.ngpu;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *h);
EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned i, nvmlDevice_t *h)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (i >= (unsigned)fake.ngpu)
        return NVML_ERROR_INVALID_ARGUMENT;
    *h = &fake.gpus[i];
    return NVML_SUCCESS;
}

#define STR_GETTER(fn, key)                                              \
    EXPORT nvmlReturn_t fn(nvmlDevice_t d, char *out, unsigned len);     \
    EXPORT nvmlReturn_t fn(nvmlDevice_t d, char *out, unsigned len)      \
    {                                                                    \
        return lookup_str(d, key, out, len);                             \
    }
STR_GETTER(nvmlDeviceGetUUID, "uuid")
STR_GETTER(nvmlDeviceGetName, "name")

#define UINT_GETTER(fn, key)                                             \
    EXPORT nvmlReturn_t fn(nvmlDevice_t d, unsigned *out);               \
    EXPORT nvmlReturn_t fn(nvmlDevice_t d, unsigned *out)                \
    {                                                                    \
        return lookup_ui(d, key, out);                                   \
    }
UINT_GETTER(nvmlDeviceGetMinorNumber, "minor")
UINT_GETTER(nvmlDeviceGetPowerUsage, "power")
UINT_GETTER(nvmlDeviceGetPcieReplayCounter, "pcie_replay")
UINT_GETTER(nvmlDeviceGetPowerManagementLimit, "power_limit")
UINT_GETTER(nvmlDeviceGetFanSpeed, "fan")
UINT_GETTER(nvmlDeviceGetMaxMigDeviceCount, "mig_max")
UINT_GETTER(nvmlDeviceGetGpuInstanceId, "gi")

#define ULL_GETTER(fn, key)                                              \
    EXPORT nvmlReturn_t fn(nvmlDevice_t d, unsigned long long *out);     \
    EXPORT nvmlReturn_t fn(nvmlDevice_t d, unsigned long long *out)      \
    {                                                                    \
        return lookup_u(d, key, 0, out);                                 \
    }
ULL_GETTER(nvmlDeviceGetTotalEnergyConsumption, "energy")
ULL_GETTER(nvmlDeviceGetCurrentClocksThrottleReasons, "throttle")
ULL_GETTER(nvmlDeviceGetSupportedEventTypes, "events")

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci);
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
    memset(pci, 0, sizeof(*pci));
    return lookup_str(d, "pci", pci->busId, sizeof(pci->busId));
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u);
EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u)
{
    unsigned long long g, m;
    nvmlReturn_t rc = lookup_u(d, "util", 0, &g);
    if (rc == NVML_SUCCESS)
        rc = lookup_u(d, "util", 1, &m);
    if (rc == NVML_SUCCESS)
        *u = (nvmlUtilization_t){ .gpu = (unsigned)g, .memory = (unsigned)m };
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m);
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
    nvmlReturn_t rc = lookup_u(d, "memory", 0, &m->total);
    if (rc == NVML_SUCCESS)
        rc = lookup_u(d, "memory", 1, &m->free);
    if (rc == NVML_SUCCESS)
        rc = lookup_u(d, "memory", 2, &m->used);
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned *out);
EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned *out)
{
    return sensor == NVML_TEMPERATURE_GPU ? lookup_ui(d, "temp", out)
                                          : NVML_ERROR_INVALID_ARGUMENT;
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned *out);
EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned *out)
{
    if (type == NVML_CLOCK_SM)
        return lookup_ui(d, "clock_sm", out);
    if (type == NVML_CLOCK_MEM)
        return lookup_ui(d, "clock_mem", out);
    return NVML_ERROR_INVALID_ARGUMENT;
}

EXPORT nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, int counter, unsigned *out);
EXPORT nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, int counter, unsigned *out)
{
    if (counter == NVML_PCIE_UTIL_TX_BYTES)
        return lookup_ui(d, "pcie_tx", out);
    if (counter == NVML_PCIE_UTIL_RX_BYTES)
        return lookup_ui(d, "pcie_rx", out);
    return NVML_ERROR_INVALID_ARGUMENT;
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int type, int counter,
                                                unsigned long long *out);
EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int type, int counter,
                                                unsigned long long *out)
{
    if (counter != NVML_VOLATILE_ECC)
        return NVML_ERROR_INVALID_ARGUMENT;
    return lookup_u(d, type == NVML_MEMORY_ERROR_TYPE_CORRECTED ? "ecc_sbe" : "ecc_dbe", 0,
                    out);
}

EXPORT nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t d, int *out);
EXPORT nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t d, int *out)
{
    unsigned v;
    nvmlReturn_t rc = lookup_ui(d, "pstate", &v);
    if (rc == NVML_SUCCESS)
        *out = (int)v;
    return rc;
}

/* Field 82 is "memtemp"; the NVLink data fields are the two numbers of "nvlink". */
EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t d, int n, nvmlFieldValue_t *f);
EXPORT nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t d, int n, nvmlFieldValue_t *f)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    for (int i = 0; i < n; i++) {
        unsigned long long v = 0;
        switch (f[i].fieldId) {
        case NVML_FI_DEV_MEMORY_TEMP:
            f[i].nvmlReturn = lookup_u(d, "memtemp", 0, &v);
            f[i].valueType = NVML_VALUE_TYPE_UNSIGNED_INT;
            f[i].value.uiVal = (unsigned)v;
            break;
        case NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX:
        case NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX:
            f[i].nvmlReturn = f[i].scopeId == NVML_SCOPE_ALL_LINKS
                                  ? lookup_u(d, "nvlink",
                                             f[i].fieldId == NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX,
                                             &v)
                                  : NVML_ERROR_INVALID_ARGUMENT;
            f[i].valueType = NVML_VALUE_TYPE_UNSIGNED_LONG_LONG;
            f[i].value.ullVal = v;
            break;
        default:
            f[i].nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
        }
    }
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned *cur, unsigned *pending);
EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned *cur, unsigned *pending)
{
    nvmlReturn_t rc = lookup_ui(d, "mig_mode", cur);
    if (rc == NVML_SUCCESS)
        *pending = *cur;
    return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned i,
                                                        nvmlDevice_t *mig);
EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned i,
                                                        nvmlDevice_t *mig)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    if (i >= FAKE_MAX_MIG || d->mig[i] == NULL)
        return NVML_ERROR_NOT_FOUND;
    *mig = d->mig[i];
    return NVML_SUCCESS;
}

/* NVML's sizing protocol: too small a buffer answers INSUFFICIENT_SIZE with the count. */
static nvmlReturn_t procs(nvmlDevice_t d, int graphics, unsigned *count, nvmlProcessInfo_t *out)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    unsigned n = 0;
    for (int i = 0; i < d->nprocs; i++)
        n += d->procs[i].graphics == graphics;
    if (*count < n) {
        *count = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    unsigned k = 0;
    for (int i = 0; i < d->nprocs; i++) {
        if (d->procs[i].graphics != graphics)
            continue;
        out[k++] = (nvmlProcessInfo_t){ .pid = d->procs[i].pid,
                                        .usedGpuMemory = d->procs[i].bytes,
                                        .gpuInstanceId = 0xFFFFFFFFu,
                                        .computeInstanceId = 0xFFFFFFFFu };
    }
    *count = n;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned *count,
                                                            nvmlProcessInfo_t *out);
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned *count,
                                                            nvmlProcessInfo_t *out)
{
    return procs(d, 0, count, out);
}

EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned *count,
                                                             nvmlProcessInfo_t *out);
EXPORT nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t d, unsigned *count,
                                                             nvmlProcessInfo_t *out)
{
    return procs(d, 1, count, out);
}

EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set);
EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    if (!fake.initialised)
        return NVML_ERROR_UNINITIALIZED;
    fake.set.in_use = 1;
    *set = &fake.set;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set);
EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    set->in_use = 0;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types,
                                             nvmlEventSet_t set);
EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t d, unsigned long long types,
                                             nvmlEventSet_t set)
{
    if (!fake.initialised || !set->in_use)
        return NVML_ERROR_UNINITIALIZED;
    d->registered |= types;
    return NVML_SUCCESS;
}

/* Never blocks, whatever the timeout: a pending XID of a registered GPU, else TIMEOUT. */
EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *ev, unsigned ms);
EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *ev, unsigned ms)
{
    (void)ms;
    if (!fake.initialised || !set->in_use)
        return NVML_ERROR_UNINITIALIZED;
    for (int i = 0; i < fake.ngpu; i++) {
        struct nvmlDevice_st *d = &fake.gpus[i];
        if (d->nxids == 0 || !(d->registered & NVML_EVENT_TYPE_XID_CRITICAL_ERROR))
            continue;
        *ev = (nvmlEventData_t){ .device = d, .eventType = NVML_EVENT_TYPE_XID_CRITICAL_ERROR,
                                 .eventData = d->xids[0], .gpuInstanceId = 0xFFFFFFFFu,
                                 .computeInstanceId = 0xFFFFFFFFu };
        memmove(&d->xids[0], &d->xids[1], (size_t)(d->nxids - 1) * sizeof(d->xids[0]));
        d->nxids--;
        return NVML_SUCCESS;
    }
    return NVML_ERROR_TIMEOUT;
}
