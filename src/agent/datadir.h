/*
 * datadir.h - the agent's data directory: created on start and held with an exclusive lock.
 *
 * The lock is flock(2) on DIR/lock, which also records the holder's pid so a second agent can
 * say who holds it. The kernel drops the lock when the process dies, so a crash never leaves a
 * stale lock behind.
 */
#ifndef VIGIL_AGENT_DATADIR_H
#define VIGIL_AGENT_DATADIR_H

#include "vigil/error.h"

typedef struct datadir {
    char *path;     /* owned copy of the directory path */
    int   lock_fd;  /* open, flock'ed DIR/lock; -1 when closed */
} datadir_t;

/*
 * Creates `path` (and missing parents, mode 0755) and takes the exclusive lock. VIGIL_EBUSY with
 * "data directory DIR is in use by another vigil (pid N)" when another process holds it,
 * VIGIL_EIO when it cannot be created or opened. On success release with datadir_close().
 */
int datadir_open(datadir_t *dd, const char *path, vigil_error_t *err);

/* Releases the lock and frees the path. Safe on a closed or zeroed datadir_t. */
void datadir_close(datadir_t *dd);

/* Creates `path` and its missing parents like `mkdir -p`. 0 or VIGIL_EIO with detail. */
int datadir_mkdirs(const char *path, vigil_error_t *err);

#endif /* VIGIL_AGENT_DATADIR_H */
