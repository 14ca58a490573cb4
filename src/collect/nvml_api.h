/*
 * nvml_api.h - the part of the NVIDIA Management Library's C API the "gpu" collector uses,
 * declared here because the library is loaded at run time (dlopen) and its header is not a
 * build dependency: the agent must build and run on machines that never saw a driver.
 *
 * Every type, constant and struct layout below is a fact of NVML's public, ABI-stable API
 * (nvml.h, driver R450 and later). Only what we call is declared. Struct layouts are
 * versioned by NVML through the entry point's name (_v2, _v3): each function pointer below
 * names the version whose layout we declare, and nvml_api_load() never falls back to an entry
 * point whose layout differs.
 *
 * The fake library of the tests (tests/collect/fake_nvml/) implements these same entry points
 * and includes this header, so a layout mistake here shows up as a test failure, not only on
 * a real GPU.
 */
#ifndef VIGIL_COLLECT_NVML_API_H
#define VIGIL_COLLECT_NVML_API_H

#include <stdbool.h>
#include <stddef.h>

typedef int nvmlReturn_t;

/* Return codes we tell apart; everything else is "an error" and logged by name. */
#define NVML_SUCCESS                  0
#define NVML_ERROR_UNINITIALIZED      1
#define NVML_ERROR_INVALID_ARGUMENT   2
#define NVML_ERROR_NOT_SUPPORTED      3
#define NVML_ERROR_NO_PERMISSION      4
#define NVML_ERROR_NOT_FOUND          6
#define NVML_ERROR_INSUFFICIENT_SIZE  7
#define NVML_ERROR_DRIVER_NOT_LOADED  9
#define NVML_ERROR_TIMEOUT            10
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_ERROR_GPU_IS_LOST        15
#define NVML_ERROR_UNKNOWN            999

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlEventSet_st *nvmlEventSet_t;

/* Buffer sizes NVML guarantees to be enough (the _V2 sizes, the larger ones). */
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE        96
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE        96
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE     32
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE  16

/* nvmlDeviceGetPciInfo_v3 */
typedef struct nvmlPciInfo {
    char         busIdLegacy[NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    char         busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE]; /* "00000000:3B:00.0" */
} nvmlPciInfo_t;

/* nvmlDeviceGetUtilizationRates: percent over the driver's last sample period. */
typedef struct nvmlUtilization {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

/* nvmlDeviceGetMemoryInfo (v1 layout): bytes. */
typedef struct nvmlMemory {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

/* nvmlDeviceGetComputeRunningProcesses_v3 / GraphicsRunningProcesses_v3 (and _v2): the v2
 * process info layout. */
typedef struct nvmlProcessInfo {
    unsigned int       pid;
    unsigned long long usedGpuMemory;      /* bytes, or NVML_VALUE_NOT_AVAILABLE */
    unsigned int       gpuInstanceId;      /* 0xFFFFFFFF without MIG */
    unsigned int       computeInstanceId;
} nvmlProcessInfo_t;

#define NVML_VALUE_NOT_AVAILABLE 0xFFFFFFFFFFFFFFFFULL

/* nvmlEventSetWait_v2 */
typedef struct nvmlEventData {
    nvmlDevice_t       device;
    unsigned long long eventType;
    unsigned long long eventData;          /* the XID for nvmlEventTypeXidCriticalError */
    unsigned int       gpuInstanceId;
    unsigned int       computeInstanceId;
} nvmlEventData_t;

#define NVML_EVENT_TYPE_XID_CRITICAL_ERROR 0x0000000000000008ULL

/* nvmlDeviceGetFieldValues */
typedef union nvmlValue {
    double             dVal;
    unsigned int       uiVal;
    unsigned long      ulVal;
    unsigned long long ullVal;
    long long          sllVal;
    int                siVal;
    unsigned short     usVal;
} nvmlValue_t;

typedef struct nvmlFieldValue {
    unsigned int fieldId;
    unsigned int scopeId;      /* for NVLink fields the link; 0xFFFFFFFF: all links */
    long long    timestamp;
    long long    latencyUsec;
    int          valueType;    /* NVML_VALUE_TYPE_* */
    nvmlReturn_t nvmlReturn;
    nvmlValue_t  value;
} nvmlFieldValue_t;

#define NVML_VALUE_TYPE_DOUBLE             0
#define NVML_VALUE_TYPE_UNSIGNED_INT       1
#define NVML_VALUE_TYPE_UNSIGNED_LONG      2
#define NVML_VALUE_TYPE_UNSIGNED_LONG_LONG 3
#define NVML_VALUE_TYPE_SIGNED_LONG_LONG   4
#define NVML_VALUE_TYPE_SIGNED_INT         5
#define NVML_VALUE_TYPE_UNSIGNED_SHORT     6

#define NVML_FI_DEV_MEMORY_TEMP               82
#define NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX 138  /* KiB since driver load */
#define NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX 139
#define NVML_SCOPE_ALL_LINKS                  0xFFFFFFFFu

/* Enumerations passed by value. */
#define NVML_TEMPERATURE_GPU          0
#define NVML_CLOCK_SM                 1
#define NVML_CLOCK_MEM                2
#define NVML_PCIE_UTIL_TX_BYTES       0
#define NVML_PCIE_UTIL_RX_BYTES       1
#define NVML_MEMORY_ERROR_TYPE_CORRECTED   0
#define NVML_MEMORY_ERROR_TYPE_UNCORRECTED 1
#define NVML_VOLATILE_ECC             0
#define NVML_DEVICE_MIG_ENABLE        1
#define NVML_PSTATE_UNKNOWN           32

/*
 * The entry points, resolved with dlsym. Any of them may be NULL (an old driver, a trimmed
 * library): the collector then skips what needs it. The X-macro keeps the list, the symbol
 * names and the loader in one place.
 */
#define NVML_API_FUNCS(X)                                                                     \
    X(init, "nvmlInit_v2", nvmlReturn_t, (void))                                              \
    X(shutdown, "nvmlShutdown", nvmlReturn_t, (void))                                         \
    X(error_string, "nvmlErrorString", const char *, (nvmlReturn_t))                          \
    X(device_count, "nvmlDeviceGetCount_v2", nvmlReturn_t, (unsigned int *))                  \
    X(handle_by_index, "nvmlDeviceGetHandleByIndex_v2", nvmlReturn_t,                         \
      (unsigned int, nvmlDevice_t *))                                                         \
    X(uuid, "nvmlDeviceGetUUID", nvmlReturn_t, (nvmlDevice_t, char *, unsigned int))          \
    X(name, "nvmlDeviceGetName", nvmlReturn_t, (nvmlDevice_t, char *, unsigned int))          \
    X(pci_info, "nvmlDeviceGetPciInfo_v3", nvmlReturn_t, (nvmlDevice_t, nvmlPciInfo_t *))     \
    X(minor_number, "nvmlDeviceGetMinorNumber", nvmlReturn_t, (nvmlDevice_t, unsigned int *)) \
    X(utilization, "nvmlDeviceGetUtilizationRates", nvmlReturn_t,                             \
      (nvmlDevice_t, nvmlUtilization_t *))                                                    \
    X(memory_info, "nvmlDeviceGetMemoryInfo", nvmlReturn_t, (nvmlDevice_t, nvmlMemory_t *))   \
    X(temperature, "nvmlDeviceGetTemperature", nvmlReturn_t,                                  \
      (nvmlDevice_t, int, unsigned int *))                                                    \
    X(power_usage, "nvmlDeviceGetPowerUsage", nvmlReturn_t, (nvmlDevice_t, unsigned int *))   \
    X(total_energy, "nvmlDeviceGetTotalEnergyConsumption", nvmlReturn_t,                      \
      (nvmlDevice_t, unsigned long long *))                                                   \
    X(clock_info, "nvmlDeviceGetClockInfo", nvmlReturn_t, (nvmlDevice_t, int, unsigned int *)) \
    X(pcie_throughput, "nvmlDeviceGetPcieThroughput", nvmlReturn_t,                           \
      (nvmlDevice_t, int, unsigned int *))                                                    \
    X(pcie_replay, "nvmlDeviceGetPcieReplayCounter", nvmlReturn_t,                            \
      (nvmlDevice_t, unsigned int *))                                                         \
    X(total_ecc, "nvmlDeviceGetTotalEccErrors", nvmlReturn_t,                                 \
      (nvmlDevice_t, int, int, unsigned long long *))                                         \
    X(throttle_reasons, "nvmlDeviceGetCurrentClocksThrottleReasons", nvmlReturn_t,            \
      (nvmlDevice_t, unsigned long long *))                                                   \
    X(power_limit, "nvmlDeviceGetPowerManagementLimit", nvmlReturn_t,                         \
      (nvmlDevice_t, unsigned int *))                                                         \
    X(fan_speed, "nvmlDeviceGetFanSpeed", nvmlReturn_t, (nvmlDevice_t, unsigned int *))       \
    X(pstate, "nvmlDeviceGetPerformanceState", nvmlReturn_t, (nvmlDevice_t, int *))           \
    X(field_values, "nvmlDeviceGetFieldValues", nvmlReturn_t,                                 \
      (nvmlDevice_t, int, nvmlFieldValue_t *))                                                \
    X(mig_mode, "nvmlDeviceGetMigMode", nvmlReturn_t,                                         \
      (nvmlDevice_t, unsigned int *, unsigned int *))                                         \
    X(max_mig_count, "nvmlDeviceGetMaxMigDeviceCount", nvmlReturn_t,                          \
      (nvmlDevice_t, unsigned int *))                                                         \
    X(mig_by_index, "nvmlDeviceGetMigDeviceHandleByIndex", nvmlReturn_t,                      \
      (nvmlDevice_t, unsigned int, nvmlDevice_t *))                                           \
    X(gpu_instance_id, "nvmlDeviceGetGpuInstanceId", nvmlReturn_t,                            \
      (nvmlDevice_t, unsigned int *))                                                         \
    X(compute_procs, "nvmlDeviceGetComputeRunningProcesses_v3", nvmlReturn_t,                 \
      (nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *))                                    \
    X(graphics_procs, "nvmlDeviceGetGraphicsRunningProcesses_v3", nvmlReturn_t,               \
      (nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *))                                    \
    X(compute_procs_v2, "nvmlDeviceGetComputeRunningProcesses_v2", nvmlReturn_t,              \
      (nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *))                                    \
    X(graphics_procs_v2, "nvmlDeviceGetGraphicsRunningProcesses_v2", nvmlReturn_t,            \
      (nvmlDevice_t, unsigned int *, nvmlProcessInfo_t *))                                    \
    X(event_set_create, "nvmlEventSetCreate", nvmlReturn_t, (nvmlEventSet_t *))               \
    X(event_set_free, "nvmlEventSetFree", nvmlReturn_t, (nvmlEventSet_t))                     \
    X(supported_events, "nvmlDeviceGetSupportedEventTypes", nvmlReturn_t,                     \
      (nvmlDevice_t, unsigned long long *))                                                   \
    X(register_events, "nvmlDeviceRegisterEvents", nvmlReturn_t,                              \
      (nvmlDevice_t, unsigned long long, nvmlEventSet_t))                                     \
    X(event_set_wait, "nvmlEventSetWait_v2", nvmlReturn_t,                                    \
      (nvmlEventSet_t, nvmlEventData_t *, unsigned int))

typedef struct nvml_api {
    void *dl; /* dlopen handle; NULL when the library could not be loaded */
#define NVML_API_MEMBER_(member, sym, ret, args) ret (*member) args;
    NVML_API_FUNCS(NVML_API_MEMBER_)
#undef NVML_API_MEMBER_
} nvml_api_t;

/*
 * Loads `path` and resolves every entry point (missing ones stay NULL). false when the
 * library cannot be opened or lacks nvmlInit_v2; *why then names the reason (dlerror's text,
 * valid until the next dl* call). On success the handle is the caller's, released with
 * nvml_api_unload().
 */
bool nvml_api_load(nvml_api_t *api, const char *path, const char **why);
void nvml_api_unload(nvml_api_t *api);

/* NVML's own name for rc when the library has nvmlErrorString, else "NVML error N" in buf. */
const char *nvml_api_strerror(const nvml_api_t *api, nvmlReturn_t rc, char *buf, size_t cap);

#endif /* VIGIL_COLLECT_NVML_API_H */
