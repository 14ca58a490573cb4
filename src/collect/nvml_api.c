/*
 * nvml_api.c - loading libnvidia-ml at run time.
 *
 * Why dlopen and not a link-time dependency: the agent ships as one binary for every host,
 * and most hosts have no NVIDIA driver. Linking libnvidia-ml would make the binary fail to
 * start there; loading it lazily makes "no driver" an ordinary, silent case. It also lets the
 * tests substitute a fake library by path.
 */
#include "collect/nvml_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

bool nvml_api_load(nvml_api_t *api, const char *path, const char **why)
{
    memset(api, 0, sizeof(*api));
    /* RTLD_LOCAL: NVML's symbols must not satisfy anyone else's lookups (a program that
     * embeds the agent may bring its own NVML). RTLD_NOW: a broken library fails here, once,
     * instead of on the first call in a collector thread. */
    api->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (api->dl == NULL) {
        *why = dlerror();
        return false;
    }
#define NVML_API_RESOLVE_(member, sym, ret, args)            \
    do {                                                     \
        void *p_ = dlsym(api->dl, sym);                      \
        memcpy(&api->member, &p_, sizeof(p_));               \
    } while (0);
    NVML_API_FUNCS(NVML_API_RESOLVE_)
#undef NVML_API_RESOLVE_
    if (api->init == NULL) {
        *why = "the library has no nvmlInit_v2 (driver older than R450?)";
        dlclose(api->dl);
        memset(api, 0, sizeof(*api));
        return false;
    }
    return true;
}

void nvml_api_unload(nvml_api_t *api)
{
    if (api->dl != NULL)
        dlclose(api->dl);
    memset(api, 0, sizeof(*api));
}

const char *nvml_api_strerror(const nvml_api_t *api, nvmlReturn_t rc, char *buf, size_t cap)
{
    if (api->error_string != NULL) {
        const char *s = api->error_string(rc);
        if (s != NULL)
            return s;
    }
    snprintf(buf, cap, "NVML error %d", rc);
    return buf;
}
