/*
 * datadir.c - creating and locking the data directory (see datadir.h).
 */
#include "agent/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int datadir_mkdirs(const char *path, vigil_error_t *err)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp))
        return vigil_error_set(err, VIGIL_EINVAL, "data directory path is empty or too long");
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return vigil_error_set(err, VIGIL_EIO, "cannot create directory %s: %s", tmp,
                                   strerror(errno));
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return vigil_error_set(err, VIGIL_EIO, "%s exists but is not a directory", path);
    return 0;
}

int datadir_open(datadir_t *dd, const char *path, vigil_error_t *err)
{
    dd->path = NULL;
    dd->lock_fd = -1;
    int rc = datadir_mkdirs(path, err);
    if (rc != 0)
        return rc;
    char lock_path[4200];
    snprintf(lock_path, sizeof(lock_path), "%s/lock", path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return vigil_error_set(err, VIGIL_EIO, "cannot open %s: %s", lock_path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        close(fd);
        if (e == EWOULDBLOCK) {
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            return vigil_error_set(err, VIGIL_EBUSY,
                                   "data directory %s is in use by another vigil (pid %s)", path,
                                   pid[0] ? pid : "unknown");
        }
        return vigil_error_set(err, VIGIL_EIO, "cannot lock %s: %s", lock_path, strerror(e));
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        return vigil_error_set(err, VIGIL_EIO, "cannot write %s: %s", lock_path, strerror(e));
    }
    dd->path = strdup(path);
    if (dd->path == NULL) {
        close(fd);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    dd->lock_fd = fd;
    return 0;
}

void datadir_close(datadir_t *dd)
{
    if (dd->lock_fd >= 0)
        close(dd->lock_fd);
    dd->lock_fd = -1;
    free(dd->path);
    dd->path = NULL;
}
