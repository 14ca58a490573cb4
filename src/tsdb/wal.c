/*
 * wal.c - write-ahead log (full specification: docs/format/wal.md; summary here).
 *
 * Files: <data>/wal/NNNNNNNN, 8-digit decimal sequence numbers from 1, and at most one
 * checkpoint.NNNNNNNN replacing every segment up to NNNNNNNN (replayed first; same header and
 * record framing, plus record type 3 = one chunk). Each process start
 * replays them all, then writes a new segment after the highest; a segment is closed (synced)
 * before a record would take it past segment_bytes, so records never span segments.
 *
 * Segment header, 16 bytes:   "VGWL" | version 1 | 3 zero bytes | seq uint32 LE | CRC32C LE of
 *                             bytes 0-11.
 * Record:                     type u8 (1 series, 2 samples) | length u32 LE (<= 16 MiB) |
 *                             CRC32C u32 LE over type, length and payload | payload.
 *
 * Replay: records are checked in order; the first bad one (short header, bad type, length past
 * the end or cap, CRC mismatch, unparseable payload) is logged with segment and offset and the
 * segment is truncated there; replay goes on with the next segment. A zero-filled remainder is
 * the end. A segment with a short or bad header is logged and removed; one with no records is
 * removed silently.
 *
 * Group commit: wal_log() appends a framed record to `pending` under the mutex and returns its
 * end LSN (bytes logged since open). wal_sync(lsn) makes one thread the leader: it swaps
 * `pending` out, writes and fdatasyncs it without holding the mutex, and wakes every waiter
 * whose LSN that covered; waiters that arrive meanwhile form the next group. The flusher thread
 * does the same every flush interval, which bounds the loss window of async commits.
 * A failed write keeps the unwritten bytes at the front of `pending` (retried by the next
 * leader; a torn record on disk is completed by the retry or cut at replay); a failed
 * fdatasync is retried by the next leader. (Linux may drop dirty pages after a failed fsync and
 * report success later; the WAL cannot detect that, as no user-space log can.)
 */
#include "tsdb/wal.h"

#include "tsdb/crc32c.h"
#include "util/buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAL_VERSION 1

struct wal {
    char           *dir;         /* owned */
    log_t          *lg;
    size_t          seg_max;
    uint32_t        interval_ms;
    int             dirfd;
    pthread_mutex_t mu;
    pthread_cond_t  synced;      /* a leader finished */
    pthread_cond_t  wake;        /* wakes the flusher early (stop) */
    pthread_t       flusher;
    bool            flusher_started;
    bool            stop;
    /* under mu: */
    buf_t           pending;     /* framed records not yet handed to a leader */
    buf_t           spare;       /* the leader's buffer while it writes */
    uint64_t        lsn_logged;  /* end of everything logged */
    uint64_t        lsn_written; /* end of what reached the file */
    uint64_t        lsn_synced;  /* end of what is durable */
    bool            leader;      /* a leader is writing or syncing */
    int             fd;          /* current segment */
    uint32_t        seq;         /* its number */
    uint64_t        seg_size;    /* bytes assigned to it: written + pending */
    uint64_t        syncs;
    uint64_t        nsegments;
    uint64_t        checkpoints; /* written since open */
    bool            failing;     /* the last flush failed; logged once per streak */
};

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void seg_path(const wal_t *w, uint32_t seq, char *out, size_t size)
{
    snprintf(out, size, "%s/%08u", w->dir, seq);
}

/* write(2) all of it; on failure *done says how much did reach the file. */
static int write_all(int fd, const void *p, size_t n, size_t *done)
{
    *done = 0;
    while (*done < n) {
        ssize_t k = write(fd, (const char *)p + *done, n - *done);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        *done += (size_t)k;
    }
    return 0;
}

/* ---- replay ------------------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment numbers found in the directory, ascending, and the highest checkpoint number
 * (*cp, 0 when none). Leftover checkpoint .tmp files (an interrupted checkpoint) are deleted.
 * *out is the caller's (free()). */
static int list_segments(const char *dir, uint32_t **out, size_t *n, uint32_t *cp,
                         vigil_error_t *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", dir, strerror(errno));
    size_t    cap = 16;
    uint32_t *v = malloc(cap * sizeof(*v));
    *n = 0;
    *cp = 0;
    struct dirent *e;
    while (v != NULL && (e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        if (strncmp(s, "checkpoint.", 11) == 0 && strspn(s + 11, "0123456789") == 8) {
            if (s[19] == '\0') {
                uint32_t k = (uint32_t)strtoul(s + 11, NULL, 10);
                if (k > *cp)
                    *cp = k;
            } else if (strcmp(s + 19, ".tmp") == 0) {
                char p[4096];
                snprintf(p, sizeof(p), "%s/%s", dir, s);
                unlink(p);
            }
            continue;
        }
        if (strlen(s) != 8 || strspn(s, "0123456789") != 8)
            continue;
        if (*n == cap) {
            uint32_t *nv = realloc(v, cap * 2 * sizeof(*nv));
            if (nv == NULL) {
                free(v);
                v = NULL;
                break;
            }
            v = nv;
            cap *= 2;
        }
        v[(*n)++] = (uint32_t)strtoul(s, NULL, 10);
    }
    closedir(d);
    if (v == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "listing %s: out of memory", dir);
    qsort(v, *n, sizeof(*v), cmp_u32);
    *out = v;
    return 0;
}

/* Deletes checkpoints older than `keep` and segments numbered <= keep: everything they held is
 * in checkpoint `keep`. */
static void remove_covered(wal_t *w, uint32_t keep)
{
    DIR *d = opendir(w->dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        char        p[4096];
        bool        cp = strncmp(s, "checkpoint.", 11) == 0 && strspn(s + 11, "0123456789") == 8 &&
                  s[19] == '\0';
        bool        seg = strlen(s) == 8 && strspn(s, "0123456789") == 8;
        uint32_t    k = (uint32_t)strtoul(cp ? s + 11 : s, NULL, 10);
        if ((cp && k < keep) || (seg && k <= keep)) {
            snprintf(p, sizeof(p), "%s/%s", w->dir, s);
            if (unlink(p) == 0 && seg && w->nsegments > 0)
                w->nsegments--;
        }
    }
    closedir(d);
    fsync(w->dirfd);
}

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

/* Reads a whole segment into *data (the caller's, free(); grown with realloc to *cap bytes
 * and reused from one segment to the next, so replay does not fault in fresh pages for every
 * 128 MiB segment). */
static int read_file(const char *path, unsigned char **data, size_t *cap, size_t *len,
                     vigil_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(e));
    }
    size_t         n = (size_t)st.st_size, got = 0;
    unsigned char *p = *data;
    if (n > *cap || p == NULL) {
        free(p); /* the old contents are not needed: no realloc copy */
        *data = NULL;
        *cap = 0;
        if ((p = malloc(n ? n : 1)) == NULL) {
            close(fd);
            return vigil_error_set(err, VIGIL_ENOMEM, "%s: out of memory reading %zu bytes",
                                   path, n);
        }
        *data = p;
        *cap = n ? n : 1;
    }
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    *len = got;
    return 0;
}

/* Asks the kernel to start reading a file into the page cache now (replay decodes one segment
 * while the next is read from disk, instead of waiting for each in turn). Advice only:
 * errors are ignored. */
static void read_ahead(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
        close(fd);
    }
}

/* Cuts a segment at `off`, syncing the cut so a crash cannot bring the bad bytes back. */
static int truncate_at(const char *path, size_t off, vigil_error_t *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return vigil_error_set(err, VIGIL_EIO, "cannot truncate %s at %zu: %s", path, off,
                               strerror(e));
    }
    close(fd);
    return 0;
}

/* Replays one segment (or checkpoint) read into *buf (*cap bytes; see read_file). */
static int replay_segment(wal_t *w, const char *path, uint32_t seq, wal_replay_fn fn, void *ctx,
                          wal_replay_stats_t *rs, unsigned char **buf, size_t *cap,
                          vigil_error_t *err)
{
    size_t n = 0;
    int    rc = read_file(path, buf, cap, &n, err);
    if (rc != 0)
        return rc;
    unsigned char *d = *buf;
    rs->segments++;
    if (n < WAL_HEADER_BYTES || memcmp(d, "VGWL", 4) != 0 || d[4] != WAL_VERSION ||
        get_le32(d + 8) != seq || get_le32(d + 12) != crc32c(d, 12)) {
        /* A crash between creating a segment and syncing its header leaves this; nothing in
         * it can be trusted, so it goes. */
        log_warn(w->lg, "tsdb", "WAL segment has a short or corrupt header; removing it",
                 LF_STR("segment", path), LF_UINT("size", n));
        rs->corruptions++;
        if (unlink(path) != 0)
            return vigil_error_set(err, VIGIL_EIO, "cannot remove %s: %s", path,
                                   strerror(errno));
        return 0;
    }
    size_t      off = WAL_HEADER_BYTES;
    const char *why = NULL;
    while (off < n) {
        size_t rem = n - off;
        if (all_zero(d + off, rem)) {
            if (rem > 0)
                why = "zero-filled tail";
            break;
        }
        if (rem < WAL_RECORD_HEADER) {
            why = "torn record header";
            break;
        }
        uint8_t  type = d[off];
        uint32_t len = get_le32(d + off + 1), crc = get_le32(d + off + 5);
        if (type == 0 || type > WAL_MAX_TYPE) {
            why = "invalid record type";
            break;
        }
        if (len > WAL_MAX_RECORD || len > rem - WAL_RECORD_HEADER) {
            why = "record extends past the end of the segment (torn write)";
            break;
        }
        uint32_t c = crc32c_update(crc32c(d + off, 5), d + off + WAL_RECORD_HEADER, len);
        if (c != crc) {
            why = "checksum mismatch";
            break;
        }
        rc = fn(ctx, type, d + off + WAL_RECORD_HEADER, len);
        if (rc == VIGIL_EPARSE) {
            why = "malformed record payload";
            break;
        }
        if (rc != 0) {
            return vigil_error_set(err, rc, "replaying %s at offset %zu: %s", path, off,
                                   vigil_strerror(rc));
        }
        rs->records++;
        off += WAL_RECORD_HEADER + len;
    }
    if (why == NULL && off == WAL_HEADER_BYTES) {
        /* A segment with no records (a start with nothing logged): drop it so restarts do not
         * pile up empty files. Numbering still continues after it. */
        if (unlink(path) != 0)
            return vigil_error_set(err, VIGIL_EIO, "cannot remove %s: %s", path,
                                   strerror(errno));
        rs->segments--;
        return 0;
    }
    if (why != NULL) {
        bool zero = strcmp(why, "zero-filled tail") == 0;
        if (!zero) {
            rs->corruptions++;
            log_warn(w->lg, "tsdb", "WAL segment cut at its last good record",
                     LF_STR("segment", path), LF_UINT("offset", off), LF_STR("reason", why),
                     LF_UINT("bytes_dropped", n - off));
        }
        return truncate_at(path, off, err);
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* Creates segment `seq` with its header, synced together with the directory entry. */
static int open_segment(wal_t *w, uint32_t seq, vigil_error_t *err)
{
    char path[4096];
    seg_path(w, seq, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return vigil_error_set(err, VIGIL_EIO, "cannot create %s: %s", path, strerror(errno));
    unsigned char h[WAL_HEADER_BYTES] = {'V', 'G', 'W', 'L', WAL_VERSION, 0, 0, 0};
    put_le32(h + 8, seq);
    put_le32(h + 12, crc32c(h, 12));
    size_t done;
    int    e = write_all(fd, h, sizeof(h), &done);
    if (e == 0 && fdatasync(fd) != 0)
        e = -errno;
    if (e == 0 && fsync(w->dirfd) != 0)
        e = -errno;
    if (e != 0) {
        close(fd);
        unlink(path);
        return vigil_error_set(err, VIGIL_EIO, "cannot write %s: %s", path, strerror(-e));
    }
    w->fd = fd;
    w->seq = seq;
    w->seg_size = WAL_HEADER_BYTES;
    w->nsegments++;
    return 0;
}

/*
 * Writes `pending` and syncs, as the leader. Called and returns with mu held and `leader` set
 * by the caller; drops mu around the I/O when `unlock` (always, except during rotation, when
 * nothing else may touch the segment anyway).
 */
static int lead_flush(wal_t *w, bool unlock, vigil_error_t *err)
{
    buf_t tmp = w->spare;
    w->spare = w->pending;
    w->pending = tmp;
    uint64_t end = w->lsn_logged;
    int      fd = w->fd;
    if (unlock)
        pthread_mutex_unlock(&w->mu);

    size_t done = 0;
    int    e = w->spare.len ? write_all(fd, w->spare.data, w->spare.len, &done) : 0;
    bool   wrote = e == 0;
    if (e == 0 && fdatasync(fd) != 0)
        e = -errno;

    if (unlock)
        pthread_mutex_lock(&w->mu);
    w->syncs++;
    if (wrote) {
        w->lsn_written = end;
        if (e == 0)
            w->lsn_synced = end;
        buf_reset(&w->spare);
    } else {
        /* Put the unwritten remainder back in front of what was logged meanwhile. */
        buf_t merged;
        buf_init(&merged, w->pending.max);
        int m = buf_append(&merged, w->spare.data + done, w->spare.len - done);
        if (m == 0)
            m = buf_append(&merged, w->pending.data, w->pending.len);
        if (m == 0) {
            buf_free(&w->pending);
            w->pending = merged;
        } else {
            buf_free(&merged); /* cannot happen within the cap; keep what we have */
        }
        w->lsn_written += done;
        buf_reset(&w->spare);
    }
    if (e != 0) {
        char path[4096];
        seg_path(w, w->seq, path, sizeof(path));
        if (!w->failing)
            log_error(w->lg, "tsdb", "WAL write failed; samples are not durable until it "
                      "recovers", LF_STR("segment", path), LF_STR("error", strerror(-e)));
        w->failing = true;
        return vigil_error_set(err, VIGIL_EIO, "WAL %s: %s", path, strerror(-e));
    }
    if (w->failing)
        log_info(w->lg, "tsdb", "WAL writes recovered");
    w->failing = false;
    return 0;
}

int wal_sync(wal_t *w, uint64_t lsn, vigil_error_t *err)
{
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    while (w->lsn_synced < lsn) {
        if (w->leader) {
            pthread_cond_wait(&w->synced, &w->mu);
            continue;
        }
        w->leader = true;
        rc = lead_flush(w, true, err);
        w->leader = false;
        pthread_cond_broadcast(&w->synced);
        if (rc != 0)
            break;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Closes the current segment (everything written and synced) and opens the next. mu held,
 * no leader active. */
static int rotate(wal_t *w, vigil_error_t *err)
{
    w->leader = true;
    int rc = lead_flush(w, false, err);
    if (rc == 0 && w->lsn_synced == w->lsn_logged) {
        close(w->fd);
        w->fd = -1;
        rc = open_segment(w, w->seq + 1, err);
    } else if (rc == 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "WAL rotation could not sync segment %u", w->seq);
    }
    w->leader = false;
    pthread_cond_broadcast(&w->synced);
    return rc;
}

int wal_log(wal_t *w, uint8_t type, const void *payload, size_t len, uint64_t *lsn,
            vigil_error_t *err)
{
    if (len > WAL_MAX_RECORD || type == 0)
        return vigil_error_set(err, VIGIL_ELIMIT, "WAL record of %zu bytes is over the cap of %u",
                               len, WAL_MAX_RECORD);
    unsigned char h[WAL_RECORD_HEADER];
    h[0] = type;
    put_le32(h + 1, (uint32_t)len);
    put_le32(h + 5, crc32c_update(crc32c(h, 5), payload, len));
    size_t total = WAL_RECORD_HEADER + len;

    int rc = 0;
    pthread_mutex_lock(&w->mu);
    if (w->fd < 0) {
        rc = vigil_error_set(err, VIGIL_ESTATE, "WAL is closed");
        goto out_unlock;
    }
    if (w->seg_size + total > w->seg_max && w->seg_size > WAL_HEADER_BYTES) {
        while (w->leader)
            pthread_cond_wait(&w->synced, &w->mu);
        if ((rc = rotate(w, err)) != 0)
            goto out_unlock;
    }
    size_t before = w->pending.len;
    rc = buf_append(&w->pending, h, sizeof(h));
    if (rc == 0 && (rc = buf_append(&w->pending, payload, len)) != 0)
        w->pending.len = before; /* drop the half-appended header */
    if (rc != 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "WAL: %zu bytes wait for the disk (%s)",
                             w->pending.len, vigil_strerror(rc));
        goto out_unlock;
    }
    w->lsn_logged += total;
    w->seg_size += total;
    if (lsn != NULL)
        *lsn = w->lsn_logged;
    /* Keep memory bounded when producers outrun the flusher: the producer pays for one write. */
    if (w->pending.len >= (4u << 20) && !w->leader) {
        w->leader = true;
        int frc = lead_flush(w, true, NULL);
        w->leader = false;
        pthread_cond_broadcast(&w->synced);
        (void)frc; /* the record is buffered; a failing disk is reported by the next sync */
    }
out_unlock:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static void *flusher_main(void *arg)
{
    wal_t *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += w->interval_ms / 1000;
        ts.tv_nsec += (long)(w->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->wake, &w->mu, &ts);
        if (w->stop)
            break;
        uint64_t target = w->lsn_logged;
        pthread_mutex_unlock(&w->mu);
        wal_sync(w, target, NULL); /* failures are logged by lead_flush */
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int wal_open(wal_t **out, const wal_options_t *opts, log_t *lg, wal_replay_fn fn, void *ctx,
             wal_replay_stats_t *rs, vigil_error_t *err)
{
    wal_t *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->dir = strdup(opts->dir)) == NULL) {
        free(w);
        return vigil_error_set(err, VIGIL_ENOMEM, "WAL: out of memory");
    }
    memset(rs, 0, sizeof(*rs));
    w->lg = lg;
    w->fd = -1;
    w->seg_max = opts->segment_bytes ? opts->segment_bytes : (size_t)128 << 20;
    if (w->seg_max < WAL_HEADER_BYTES + WAL_RECORD_HEADER + 64)
        w->seg_max = WAL_HEADER_BYTES + WAL_RECORD_HEADER + 64;
    w->interval_ms = opts->flush_interval_ms ? opts->flush_interval_ms : 1000;
    size_t maxbuf = opts->max_buffered ? opts->max_buffered : (size_t)256 << 20;
    buf_init(&w->pending, maxbuf);
    buf_init(&w->spare, maxbuf);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->synced, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);

    int rc = 0;
    if (mkdir(w->dir, 0755) != 0 && errno != EEXIST) {
        rc = vigil_error_set(err, VIGIL_EIO, "cannot create %s: %s", w->dir, strerror(errno));
        goto out_free;
    }
    w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "cannot open %s: %s", w->dir, strerror(errno));
        goto out_free;
    }
    uint32_t *segs = NULL;
    size_t    nsegs = 0;
    uint32_t  cp = 0;
    if ((rc = list_segments(w->dir, &segs, &nsegs, &cp, err)) != 0)
        goto out_close_dir;
    /* The newest checkpoint holds everything of the segments up to its number (a crash may have
     * left some of them, and older checkpoints, behind: they go). Then the later segments. */
    uint32_t       next = cp + 1;
    unsigned char *buf = NULL; /* the segment being replayed, reused for the next */
    size_t         cap = 0;
    size_t         first = 0; /* the first segment after the checkpoint */
    while (first < nsegs && segs[first] <= cp)
        first++;
    if (cp > 0) {
        remove_covered(w, cp);
        char path[4096];
        if (first < nsegs) {
            seg_path(w, segs[first], path, sizeof(path));
            read_ahead(path);
        }
        snprintf(path, sizeof(path), "%s/checkpoint.%08u", w->dir, cp);
        rc = replay_segment(w, path, cp, fn, ctx, rs, &buf, &cap, err);
        rs->checkpoint = cp;
    }
    for (size_t i = first; i < nsegs && rc == 0; i++) {
        char path[4096];
        if (i + 1 < nsegs) {
            seg_path(w, segs[i + 1], path, sizeof(path));
            read_ahead(path);
        }
        seg_path(w, segs[i], path, sizeof(path));
        rc = replay_segment(w, path, segs[i], fn, ctx, rs, &buf, &cap, err);
        next = segs[i] + 1;
    }
    if (nsegs > 0 && segs[nsegs - 1] + 1 > next)
        next = segs[nsegs - 1] + 1;
    free(segs);
    free(buf);
    if (rc != 0)
        goto out_close_dir;
    w->nsegments = rs->segments - (cp > 0); /* segments replayed and kept */
    if ((rc = open_segment(w, next, err)) != 0)
        goto out_close_dir;
    if (pthread_create(&w->flusher, NULL, flusher_main, w) != 0) {
        rc = vigil_error_set(err, VIGIL_ESYS, "WAL: cannot start the flusher thread");
        goto out_close_seg;
    }
    w->flusher_started = true;
    log_info(lg, "tsdb", "WAL replayed", LF_STR("dir", w->dir), LF_UINT("segments", rs->segments),
             LF_UINT("records", rs->records), LF_UINT("corruptions", rs->corruptions));
    *out = w;
    return 0;

out_close_seg:
    close(w->fd);
out_close_dir:
    close(w->dirfd);
out_free:
    buf_free(&w->pending);
    buf_free(&w->spare);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->synced);
    pthread_cond_destroy(&w->wake);
    free(w->dir);
    free(w);
    return rc;
}

void wal_close(wal_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->wake);
    uint64_t target = w->lsn_logged;
    pthread_mutex_unlock(&w->mu);
    if (w->flusher_started)
        pthread_join(w->flusher, NULL);
    vigil_error_t err;
    if (wal_sync(w, target, &err) != 0)
        log_error(w->lg, "tsdb", "WAL: final sync failed", LF_STR("error", err.message));
    close(w->fd);
    close(w->dirfd);
    buf_free(&w->pending);
    buf_free(&w->spare);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->synced);
    pthread_cond_destroy(&w->wake);
    free(w->dir);
    free(w);
}

/* ---- checkpoints ------------------------------------------------------------------------ */

struct wal_cp {
    int      fd;
    uint32_t upto;       /* the checkpoint replaces segments <= upto */
    char     tmp[4200];  /* checkpoint.NNNNNNNN.tmp */
    char     path[4096]; /* checkpoint.NNNNNNNN */
    buf_t    out;
    int      err;        /* first errno */
};

static void cp_flush(wal_cp_t *cp)
{
    size_t done;
    if (cp->err == 0 && cp->out.len > 0) {
        int e = write_all(cp->fd, cp->out.data, cp->out.len, &done);
        if (e != 0)
            cp->err = -e;
    }
    buf_reset(&cp->out);
}

int wal_checkpoint_begin(wal_t *w, wal_cp_t **out, vigil_error_t *err)
{
    wal_cp_t *cp = calloc(1, sizeof(*cp));
    if (cp == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "checkpoint: out of memory");
    pthread_mutex_lock(&w->mu);
    while (w->leader)
        pthread_cond_wait(&w->synced, &w->mu);
    int rc = w->fd < 0 ? vigil_error_set(err, VIGIL_ESTATE, "WAL is closed") : rotate(w, err);
    cp->upto = w->seq - 1;
    pthread_mutex_unlock(&w->mu);
    if (rc != 0) {
        free(cp);
        return rc;
    }
    snprintf(cp->path, sizeof(cp->path), "%s/checkpoint.%08u", w->dir, cp->upto);
    snprintf(cp->tmp, sizeof(cp->tmp), "%s.tmp", cp->path);
    cp->fd = open(cp->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (cp->fd < 0) {
        rc = vigil_error_set(err, VIGIL_EIO, "cannot create %s: %s", cp->tmp, strerror(errno));
        free(cp);
        return rc;
    }
    buf_init(&cp->out, (size_t)4 << 20);
    unsigned char h[WAL_HEADER_BYTES] = {'V', 'G', 'W', 'L', WAL_VERSION, 0, 0, 0};
    put_le32(h + 8, cp->upto);
    put_le32(h + 12, crc32c(h, 12));
    if (buf_append(&cp->out, h, sizeof(h)) != 0)
        cp->err = ENOMEM;
    *out = cp;
    return 0;
}

int wal_checkpoint_add(wal_cp_t *cp, uint8_t type, const void *payload, size_t len,
                       vigil_error_t *err)
{
    if (len > WAL_MAX_RECORD || type == 0 || type > WAL_MAX_TYPE)
        return vigil_error_set(err, VIGIL_ELIMIT, "checkpoint record of %zu bytes", len);
    unsigned char h[WAL_RECORD_HEADER];
    h[0] = type;
    put_le32(h + 1, (uint32_t)len);
    put_le32(h + 5, crc32c_update(crc32c(h, 5), payload, len));
    if (cp->out.len + sizeof(h) + len > cp->out.max)
        cp_flush(cp);
    if (sizeof(h) + len > cp->out.max) {
        size_t done;
        cp_flush(cp);
        int e = write_all(cp->fd, h, sizeof(h), &done);
        if (e == 0)
            e = write_all(cp->fd, payload, len, &done);
        if (e != 0 && cp->err == 0)
            cp->err = -e;
    } else if (buf_append(&cp->out, h, sizeof(h)) != 0 ||
               buf_append(&cp->out, payload, len) != 0) {
        cp->err = ENOMEM;
    }
    if (cp->err != 0)
        return vigil_error_set(err, VIGIL_EIO, "cannot write %s: %s", cp->tmp, strerror(cp->err));
    return 0;
}

void wal_checkpoint_abort(wal_cp_t *cp)
{
    if (cp == NULL)
        return;
    close(cp->fd);
    unlink(cp->tmp);
    buf_free(&cp->out);
    free(cp);
}

int wal_checkpoint_commit(wal_t *w, wal_cp_t *cp, vigil_error_t *err)
{
    cp_flush(cp);
    if (cp->err == 0 && fsync(cp->fd) != 0)
        cp->err = errno;
    if (cp->err == 0 && rename(cp->tmp, cp->path) != 0)
        cp->err = errno;
    if (cp->err == 0 && fsync(w->dirfd) != 0)
        cp->err = errno;
    if (cp->err != 0) {
        int rc = vigil_error_set(err, VIGIL_EIO, "checkpoint %s: %s", cp->path, strerror(cp->err));
        wal_checkpoint_abort(cp);
        return rc;
    }
    /* Only now, with the checkpoint durable, do the segments it replaces go. */
    pthread_mutex_lock(&w->mu);
    remove_covered(w, cp->upto);
    w->checkpoints++;
    pthread_mutex_unlock(&w->mu);
    log_info(w->lg, "tsdb", "WAL checkpoint written", LF_STR("checkpoint", cp->path));
    close(cp->fd);
    buf_free(&cp->out);
    free(cp);
    return 0;
}

void wal_stats(wal_t *w, uint64_t *bytes, uint64_t *syncs, uint64_t *segments,
               uint64_t *checkpoints)
{
    pthread_mutex_lock(&w->mu);
    *checkpoints = w->checkpoints;
    *bytes = w->lsn_logged;
    *syncs = w->syncs;
    *segments = w->nsegments;
    pthread_mutex_unlock(&w->mu);
}
