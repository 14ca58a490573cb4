/*
 * shared.c - the one piece of data collectors hand each other: the GPU collector's
 * per-process memory, joined by pid in the process collector (see collect_int.h for why this
 * is a mutex-guarded copy and not a pointer into another collector's state).
 */
#include "collect/collect_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct collect_shared {
    pthread_mutex_t     lock;
    collect_gpu_proc_t *gpu;   /* guarded by lock */
    size_t              ngpu, capgpu;
};

collect_shared_t *collect_shared_new(void)
{
    collect_shared_t *sh = calloc(1, sizeof(*sh));
    if (sh != NULL)
        pthread_mutex_init(&sh->lock, NULL);
    return sh;
}

void collect_shared_free(collect_shared_t *sh)
{
    if (sh == NULL)
        return;
    pthread_mutex_destroy(&sh->lock);
    free(sh->gpu);
    free(sh);
}

int collect_shared_gpu_publish(collect_shared_t *sh, const collect_gpu_proc_t *procs, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&sh->lock);
    if (n > sh->capgpu) {
        collect_gpu_proc_t *p = realloc(sh->gpu, n * sizeof(*p));
        if (p == NULL) {
            sh->ngpu = 0;
            rc = VIGIL_ENOMEM;
            goto out_unlock;
        }
        sh->gpu = p;
        sh->capgpu = n;
    }
    if (n > 0)
        memcpy(sh->gpu, procs, n * sizeof(*procs));
    sh->ngpu = n;
out_unlock:
    pthread_mutex_unlock(&sh->lock);
    return rc;
}

bool collect_shared_gpu_lookup(collect_shared_t *sh, uint32_t pid, double *bytes)
{
    bool found = false;
    pthread_mutex_lock(&sh->lock);
    for (size_t i = 0; i < sh->ngpu; i++) {
        if (sh->gpu[i].pid == pid) {
            *bytes = sh->gpu[i].bytes;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    return found;
}
