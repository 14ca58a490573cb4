/*
 * cmd_doctor.c - `vigil doctor`: can the agent run on this machine, and what will it see?
 *
 * Each row of the check table inspects one prerequisite and reports ok, warn, fail or info.
 * Only failures of what `vigil run` needs (data directory, listen address, procfs) make the
 * exit status 1; a missing GPU driver or cgroup hierarchy only turns features off.
 */
#include "cli/cli.h"

#include "agent/datadir.h"
#include "host/host.h"
#include "http/http.h"
#include "util/curl_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

typedef enum { DOCTOR_OK, DOCTOR_INFO, DOCTOR_WARN, DOCTOR_FAIL } doctor_verdict_t;

typedef struct doctor_args {
    const char *data_dir;
    const char *listen;
} doctor_args_t;

typedef doctor_verdict_t (*doctor_check_fn)(const doctor_args_t *a, char *detail, size_t n);

static doctor_verdict_t check_data_dir(const doctor_args_t *a, char *detail, size_t n)
{
    struct stat st;
    if (stat(a->data_dir, &st) != 0) {
        /* Not there yet: the nearest existing ancestor must let us create it. */
        char parent[4096];
        snprintf(parent, sizeof(parent), "%s", a->data_dir);
        for (;;) {
            char *slash = strrchr(parent, '/');
            if (slash == NULL) {
                snprintf(parent, sizeof(parent), ".");
                break;
            }
            *slash = '\0';
            if (parent[0] == '\0') {
                snprintf(parent, sizeof(parent), "/");
                break;
            }
            if (stat(parent, &st) == 0)
                break;
        }
        if (access(parent, W_OK | X_OK) != 0) {
            snprintf(detail, n, "%s does not exist and %s is not writable", a->data_dir, parent);
            return DOCTOR_FAIL;
        }
        snprintf(detail, n, "%s will be created", a->data_dir);
        return DOCTOR_OK;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(detail, n, "%s exists but is not a directory", a->data_dir);
        return DOCTOR_FAIL;
    }
    if (access(a->data_dir, W_OK | X_OK) != 0) {
        snprintf(detail, n, "%s is not writable: %s", a->data_dir, strerror(errno));
        return DOCTOR_FAIL;
    }
    /* Peek at the lock without creating anything: a running agent makes the dir unusable. */
    char lock_path[4200];
    snprintf(lock_path, sizeof(lock_path), "%s/lock", a->data_dir);
    int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        bool held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        char pid[32] = "";
        ssize_t got = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[got > 0 ? got : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (held) {
            snprintf(detail, n, "%s is in use by another vigil (pid %s)", a->data_dir, pid);
            return DOCTOR_FAIL;
        }
    }
    snprintf(detail, n, "%s is writable", a->data_dir);
    return DOCTOR_OK;
}

static doctor_verdict_t check_listen(const doctor_args_t *a, char *detail, size_t n)
{
    vigil_error_t err;
    int rc = http_listen_probe(a->listen, &err);
    if (rc != 0) {
        snprintf(detail, n, "%s", err.message);
        return DOCTOR_FAIL;
    }
    snprintf(detail, n, "%s is free", a->listen);
    return DOCTOR_OK;
}

static doctor_verdict_t check_procfs(const doctor_args_t *a, char *detail, size_t n)
{
    (void)a;
    host_memory_t mem;
    host_cpu_times_t cpu;
    vigil_error_t err;
    if (host_read_memory("/proc", &mem, &err) != 0 || host_read_cpu_times("/proc", &cpu, &err) != 0) {
        snprintf(detail, n, "%s", err.message);
        return DOCTOR_FAIL;
    }
    snprintf(detail, n, "/proc readable: %ld CPUs, %.1f GiB memory", sysconf(_SC_NPROCESSORS_ONLN),
             (double)mem.total_bytes / (1024.0 * 1024 * 1024));
    return DOCTOR_OK;
}

static doctor_verdict_t check_cgroup(const doctor_args_t *a, char *detail, size_t n)
{
    (void)a;
    if (access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0) {
        snprintf(detail, n, "cgroup v2 (unified) at /sys/fs/cgroup");
        return DOCTOR_OK;
    }
    if (access("/sys/fs/cgroup/memory", R_OK) == 0 || access("/sys/fs/cgroup/cpu", R_OK) == 0) {
        bool hybrid = access("/sys/fs/cgroup/unified/cgroup.controllers", R_OK) == 0;
        snprintf(detail, n, "cgroup v1%s at /sys/fs/cgroup", hybrid ? " + v2 (hybrid)" : "");
        return DOCTOR_OK;
    }
    snprintf(detail, n, "no cgroup hierarchy readable at /sys/fs/cgroup: container metrics off");
    return DOCTOR_WARN;
}

static doctor_verdict_t check_nvml(const doctor_args_t *a, char *detail, size_t n)
{
    (void)a;
    const char *lib = getenv("VIGIL_NVML_LIBRARY");
    if (lib == NULL || lib[0] == '\0')
        lib = "libnvidia-ml.so.1";
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(detail, n, "no NVIDIA driver: GPU metrics off (%s)", dlerror());
        return DOCTOR_INFO;
    }
    typedef int (*nvml_void_fn)(void);
    typedef int (*nvml_count_fn)(unsigned int *);
    nvml_void_fn init = (nvml_void_fn)dlsym(h, "nvmlInit_v2");
    nvml_void_fn shutdown = (nvml_void_fn)dlsym(h, "nvmlShutdown");
    nvml_count_fn count = (nvml_count_fn)dlsym(h, "nvmlDeviceGetCount_v2");
    doctor_verdict_t v = DOCTOR_WARN;
    unsigned int gpus = 0;
    if (init == NULL || shutdown == NULL || count == NULL) {
        snprintf(detail, n, "%s loaded but lacks NVML entry points: GPU metrics off", lib);
    } else if (init() != 0) {
        snprintf(detail, n, "%s loaded but nvmlInit failed: GPU metrics off", lib);
    } else {
        if (count(&gpus) == 0) {
            snprintf(detail, n, "%s: %u GPU%s", lib, gpus, gpus == 1 ? "" : "s");
            v = DOCTOR_OK;
        } else {
            snprintf(detail, n, "%s: nvmlDeviceGetCount failed: GPU metrics off", lib);
        }
        shutdown();
    }
    dlclose(h);
    return v;
}

static doctor_verdict_t check_libraries(const doctor_args_t *a, char *detail, size_t n)
{
    (void)a;
    /* A missing libcurl shows in this row, with dlerror's reason, and nowhere else:
     * curl_loader_version() prints no warning of its own. */
    const char *why;
    const char *curl = curl_loader_version(&why);
    snprintf(detail, n, "libcurl %s, libyaml %s, jansson %s%s%s%s",
             curl, yaml_get_version_string(), jansson_version_str(),
             why != NULL ? " (libcurl: " : "", why != NULL ? why : "", why != NULL ? ")" : "");
    return DOCTOR_INFO;
}

static const struct {
    const char     *name;
    doctor_check_fn fn;
} doctor_checks[] = {
    { "data dir", check_data_dir },
    { "listen", check_listen },
    { "procfs", check_procfs },
    { "cgroup", check_cgroup },
    { "nvml", check_nvml },
    { "libraries", check_libraries },
};

int cmd_doctor(int argc, char **argv)
{
    doctor_args_t a = { .data_dir = "./vigil-data", .listen = "127.0.0.1:9470" };
    for (int i = 1; i < argc; i++) {
        const char **target = NULL;
        const char *arg = argv[i], *value = NULL;
        size_t name_len = strcspn(arg, "=");
        if (strncmp(arg, "--data", name_len) == 0 && name_len == 6)
            target = &a.data_dir;
        else if (strncmp(arg, "--listen", name_len) == 0 && name_len == 8)
            target = &a.listen;
        else
            return cli_usage_error(cli_find("doctor"), "doctor: unknown flag '%s'", arg);
        if (arg[name_len] == '=')
            value = arg + name_len + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return cli_usage_error(cli_find("doctor"), "doctor: %s needs a value", arg);
        *target = value;
    }

    static const char *const verdicts[] = { "ok", "info", "warn", "FAIL" };
    bool failed = false;
    printf("%-10s %-6s %s\n", "CHECK", "STATUS", "DETAIL");
    for (size_t i = 0; i < sizeof(doctor_checks) / sizeof(doctor_checks[0]); i++) {
        char detail[1024] = "";
        doctor_verdict_t v = doctor_checks[i].fn(&a, detail, sizeof(detail));
        failed |= v == DOCTOR_FAIL;
        printf("%-10s %-6s %s\n", doctor_checks[i].name, verdicts[v], detail);
    }
    printf("\n%s\n", failed ? "vigil cannot run here: fix the FAIL rows above."
                            : "vigil can run here.");
    return failed ? 1 : 0;
}
