/*
 * wal.c - write-ahead log (full specification: docs/format/wal.md; summary here).
 *
 * Files: <data>/wal/NNNNNNNN, 8-digit decimal sequence numbers from 1, and at most one
 * checkpoint.NNNNNNNN replacing every segment up to NNNNNNNN (replayed first; same header and
 * record framing). Each process start
 * replays them all, then writes a new segment after the highest; a segment is closed (synced)
 * before a record would take it past segment_bytes, so records never span segments.
 *
 * Segment header, 16 bytes:   "VGWL" | version 1 | 3 zero bytes | seq uint32 LE | CRC32C LE of
 *                             bytes 0-11.
 * Record:                     type u8 (1..5, record.h) | length u32 LE (<= 16 MiB) |
 *                             CRC32C u32 LE over type, length and payload | payload.
 *
 * Replay: records are checked in order; the first bad one (short header, bad type, length past
 * the end or cap, CRC mismatch, unparseable payload) is logged with segment and offset and the
 * segment is truncated there; replay goes on with the next segment. A zero-filled remainder is
 * the end. A segment with a short or bad header is logged and removed; one with no records is
 * removed silently. A scanner thread maps the files and checks framing and CRCs ahead of the
 * thread handing records to the caller (replay_files). Records the caller defers (WAL_DEFER)
 * are handed over again, from the mapped files, by wal_replay_deferred().
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
#include <sys/mman.h>
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
    /* Records the replay callback deferred (WAL_DEFER), for wal_replay_deferred(). */
    struct deferred *deferred;   /* owned array */
    size_t          ndeferred, capdeferred;
};

/* Where a deferred record lies: its payload is read again from there. */
struct deferred {
    uint64_t seqno;
    uint64_t off;        /* of the payload in its file */
    uint32_t len;
    uint32_t seq;        /* the segment's number, or the checkpoint's */
    uint8_t  type;
    bool     checkpoint;
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

/* Maps a whole segment for reading: replay reads it in place, without copying it (mapping is
 * the cheaper way through 1.5 GB of WAL), and the kernel reads ahead as replay goes
 * (MADV_SEQUENTIAL). *data is MAP_FAILED for an empty file; unmap with unmap_file(). */
static int map_file(const char *path, unsigned char **data, size_t *len, vigil_error_t *err)
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
    *len = (size_t)st.st_size;
    *data = MAP_FAILED;
    if (*len > 0) {
        *data = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (*data == MAP_FAILED) {
            int e = errno;
            close(fd);
            return vigil_error_set(err, VIGIL_EIO, "cannot map %s: %s", path, strerror(e));
        }
        madvise(*data, *len, MADV_SEQUENTIAL);
    }
    close(fd);
    return 0;
}

static void unmap_file(unsigned char *data, size_t len)
{
    if (data != MAP_FAILED)
        munmap(data, len);
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

static int defer_record(wal_t *w, const wal_record_t *rec, uint64_t off, uint32_t seq)
{
    if (w->ndeferred == w->capdeferred) {
        size_t           ncap = w->capdeferred ? w->capdeferred * 2 : 1024;
        struct deferred *n = realloc(w->deferred, ncap * sizeof(*n));
        if (n == NULL)
            return VIGIL_ENOMEM;
        w->deferred = n;
        w->capdeferred = ncap;
    }
    w->deferred[w->ndeferred++] = (struct deferred){
        .seqno = rec->seqno, .off = off, .len = (uint32_t)rec->len, .seq = seq,
        .type = rec->type, .checkpoint = rec->checkpoint};
    return 0;
}

/*
 * Replay runs on two threads: a scanner maps each file (checkpoint, then segments) and checks
 * its header, framing and every record's CRC, up to two files ahead; the thread in wal_open
 * hands the good records to the caller in order and makes the cuts. Checking (a CRC pass over
 * every byte) and waiting for the disk thus overlap with what the caller does with records.
 */
typedef struct scan_file {
    char           path[4096];
    uint32_t       seq;
    bool           checkpoint;
    /* Set by the scanner: */
    int            rc;          /* the file could not be mapped (err says why) */
    vigil_error_t  err;
    unsigned char *data;        /* the mapping (map_file) */
    size_t         len;
    bool           bad_header;  /* short or corrupt header: the file goes */
    size_t        *offs;        /* offsets of the good records, in order (owned) */
    size_t         noffs, capoffs;
    size_t         end;         /* where the good records end */
    const char    *why;         /* why checking stopped before len; NULL: the end */
} scan_file_t;

typedef struct scanner {
    scan_file_t    *files;
    size_t          nfiles;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    size_t          scanned;    /* under mu: files[0..scanned) are ready */
    size_t          released;   /* under mu: files[0..released) are done with */
    bool            stop;       /* under mu */
} scanner_t;

/* Files mapped and checked ahead of the one being replayed. Far ahead: records cost the
 * replaying thread very different amounts (creating a million series takes longer than
 * reading their samples records, which are only noted for pass 2), and the reading of the
 * cheap files should overlap the work on the costly ones. A mapping costs address space and
 * page cache, not memory of its own. */
#define SCAN_AHEAD 16

/* Reads a file through once, in large sequential reads: a file not in the page cache comes in
 * at the disk's full speed, where faulting it in through a mapping goes a readahead window at
 * a time. */
static void warm_file(const char *path, unsigned char *scratch, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (read(fd, scratch, size) > 0)
        ;
    close(fd);
}

static void scan_one(scan_file_t *f, unsigned char *scratch, size_t size)
{
    if (scratch != NULL)
        warm_file(f->path, scratch, size);
    f->rc = map_file(f->path, &f->data, &f->len, &f->err);
    if (f->rc != 0)
        return;
    const unsigned char *d = f->data;
    size_t               n = f->len;
    if (n < WAL_HEADER_BYTES || memcmp(d, "VGWL", 4) != 0 || d[4] != WAL_VERSION ||
        get_le32(d + 8) != f->seq || get_le32(d + 12) != crc32c(d, 12)) {
        f->bad_header = true;
        return;
    }
    size_t off = WAL_HEADER_BYTES;
    while (off < n) {
        size_t rem = n - off;
        if (all_zero(d + off, rem)) {
            f->why = "zero-filled tail";
            break;
        }
        if (rem < WAL_RECORD_HEADER) {
            f->why = "torn record header";
            break;
        }
        uint8_t  type = d[off];
        uint32_t len = get_le32(d + off + 1), crc = get_le32(d + off + 5);
        if (type == 0 || type > WAL_MAX_TYPE) {
            f->why = "invalid record type";
            break;
        }
        if (len > WAL_MAX_RECORD || len > rem - WAL_RECORD_HEADER) {
            f->why = "record extends past the end of the segment (torn write)";
            break;
        }
        if (crc32c_update(crc32c(d + off, 5), d + off + WAL_RECORD_HEADER, len) != crc) {
            f->why = "checksum mismatch";
            break;
        }
        if (f->noffs == f->capoffs) {
            size_t  ncap = f->capoffs ? f->capoffs * 2 : 1024;
            size_t *no = realloc(f->offs, ncap * sizeof(*no));
            if (no == NULL) {
                f->rc = vigil_error_set(&f->err, VIGIL_ENOMEM, "WAL replay: out of memory");
                return;
            }
            f->offs = no;
            f->capoffs = ncap;
        }
        f->offs[f->noffs++] = off;
        off += WAL_RECORD_HEADER + len;
    }
    f->end = off;
}

#define SCAN_READ_BYTES (1u << 20)

static void *scanner_main(void *arg)
{
    scanner_t     *sc = arg;
    unsigned char *scratch = malloc(SCAN_READ_BYTES);
    for (size_t i = 0; i < sc->nfiles; i++) {
        pthread_mutex_lock(&sc->mu);
        while (!sc->stop && i >= sc->released + SCAN_AHEAD)
            pthread_cond_wait(&sc->cv, &sc->mu);
        bool stop = sc->stop;
        pthread_mutex_unlock(&sc->mu);
        if (stop)
            break;
        scan_one(&sc->files[i], scratch, SCAN_READ_BYTES);
        pthread_mutex_lock(&sc->mu);
        sc->scanned = i + 1;
        pthread_cond_broadcast(&sc->cv);
        pthread_mutex_unlock(&sc->mu);
    }
    free(scratch);
    return NULL;
}

/* Replays the good records of a scanned file and cuts it where they end (a record the caller
 * finds malformed ends them too), or removes it (bad header, or no record at all). */
static int replay_scanned(wal_t *w, scan_file_t *f, wal_replay_fn fn, void *ctx,
                          wal_replay_stats_t *rs, vigil_error_t *err)
{
    if (f->rc != 0)
        return vigil_error_set(err, f->rc, "%s", f->err.message);
    rs->segments++;
    size_t      cut = SIZE_MAX, end = f->end;
    const char *why = f->why;
    int         rc = 0;
    if (f->bad_header) {
        /* A crash between creating a segment and syncing its header leaves this; nothing in
         * it can be trusted, so it goes. */
        log_warn(w->lg, "tsdb", "WAL segment has a short or corrupt header; removing it",
                 LF_STR("segment", f->path), LF_UINT("size", f->len));
        rs->corruptions++;
        if (rs->first_cut == UINT64_MAX)
            rs->first_cut = rs->records;
        cut = 0;
    }
    for (size_t i = 0; !f->bad_header && i < f->noffs; i++) {
        size_t       off = f->offs[i];
        wal_record_t rec = {.type = f->data[off], .payload = f->data + off + WAL_RECORD_HEADER,
                            .len = get_le32(f->data + off + 1), .seqno = rs->records,
                            .checkpoint = f->checkpoint};
        rc = fn(ctx, &rec);
        if (rc == WAL_DEFER)
            rc = defer_record(w, &rec, off + WAL_RECORD_HEADER, f->seq);
        if (rc == VIGIL_EPARSE) {
            why = "malformed record payload";
            end = off;
            rc = 0;
            break;
        }
        if (rc != 0)
            return vigil_error_set(err, rc, "replaying %s at offset %zu: %s", f->path, off,
                                   vigil_strerror(rc));
        rs->records++;
    }
    if (!f->bad_header && why == NULL && end == WAL_HEADER_BYTES) {
        /* A segment with no records (a start with nothing logged): drop it so restarts do not
         * pile up empty files. Numbering still continues after it. */
        rs->segments--;
        cut = 0;
    } else if (!f->bad_header && why != NULL) {
        if (strcmp(why, "zero-filled tail") != 0) {
            rs->corruptions++;
            if (rs->first_cut == UINT64_MAX)
                rs->first_cut = rs->records;
            log_warn(w->lg, "tsdb", "WAL segment cut at its last good record",
                     LF_STR("segment", f->path), LF_UINT("offset", end), LF_STR("reason", why),
                     LF_UINT("bytes_dropped", f->len - end));
        }
        cut = end;
    }
    unmap_file(f->data, f->len); /* before a cut or removal changes the file under it */
    f->data = MAP_FAILED;
    if (cut == 0) {
        if (unlink(f->path) != 0)
            return vigil_error_set(err, VIGIL_EIO, "cannot remove %s: %s", f->path,
                                   strerror(errno));
    } else if (cut != SIZE_MAX) {
        rc = truncate_at(f->path, cut, err);
    }
    return rc;
}

/* Replays files[0..n) in order with the scanner running ahead. */
static int replay_files(wal_t *w, scan_file_t *files, size_t n, wal_replay_fn fn, void *ctx,
                        wal_replay_stats_t *rs, vigil_error_t *err)
{
    scanner_t sc = {.files = files, .nfiles = n};
    pthread_mutex_init(&sc.mu, NULL);
    pthread_cond_init(&sc.cv, NULL);
    pthread_t th;
    bool      threaded = n > 0 && pthread_create(&th, NULL, scanner_main, &sc) == 0;
    int       rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (threaded) {
            pthread_mutex_lock(&sc.mu);
            while (sc.scanned <= i)
                pthread_cond_wait(&sc.cv, &sc.mu);
            pthread_mutex_unlock(&sc.mu);
        } else {
            scan_one(&files[i], NULL, 0);
        }
        rc = replay_scanned(w, &files[i], fn, ctx, rs, err);
        pthread_mutex_lock(&sc.mu);
        sc.released = i + 1;
        pthread_cond_broadcast(&sc.cv);
        pthread_mutex_unlock(&sc.mu);
    }
    if (threaded) {
        pthread_mutex_lock(&sc.mu);
        sc.stop = true;
        pthread_cond_broadcast(&sc.cv);
        pthread_mutex_unlock(&sc.mu);
        pthread_join(th, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        unmap_file(files[i].data, files[i].len);
        free(files[i].offs);
    }
    pthread_mutex_destroy(&sc.mu);
    pthread_cond_destroy(&sc.cv);
    return rc;
}

/* Hands over the deferred records of one file, d[0..n): mapped, not read, so that records the
 * caller does not want are never touched. */
static int replay_deferred_file(wal_t *w, const struct deferred *d, size_t n, wal_want_fn want,
                                wal_replay_fn fn, void *ctx, vigil_error_t *err)
{
    size_t i = 0;
    if (want != NULL) {
        while (i < n && !want(ctx, &(wal_record_t){.type = d[i].type, .seqno = d[i].seqno,
                                                    .checkpoint = d[i].checkpoint}))
            i++;
        if (i == n)
            return 0;
    }
    char path[4096];
    if (d[0].checkpoint)
        snprintf(path, sizeof(path), "%s/checkpoint.%08u", w->dir, d[0].seq);
    else
        seg_path(w, d[0].seq, path, sizeof(path));
    unsigned char *m;
    size_t         size;
    int            rc = map_file(path, &m, &size, err);
    if (rc != 0)
        return rc;
    for (; i < n && rc == 0; i++) {
        wal_record_t rec = {.type = d[i].type, .len = d[i].len, .seqno = d[i].seqno,
                            .checkpoint = d[i].checkpoint};
        if (want != NULL && !want(ctx, &rec))
            continue;
        /* Checked by its CRC at open; only the file's length can have changed since (it
         * cannot: the store holds the data directory's lock). */
        if (m == MAP_FAILED || d[i].off + d[i].len > size) {
            rc = vigil_error_set(err, VIGIL_EIO, "WAL replay: %s is shorter than at open", path);
            break;
        }
        rec.payload = m + d[i].off;
        rc = fn(ctx, &rec);
        if (rc != 0)
            rc = vigil_error_set(err, rc, "replaying %s at offset %llu: %s", path,
                                 (unsigned long long)(d[i].off - WAL_RECORD_HEADER),
                                 vigil_strerror(rc));
    }
    unmap_file(m, size);
    return rc;
}

int wal_replay_deferred(wal_t *w, wal_want_fn want, wal_replay_fn fn, void *ctx,
                        vigil_error_t *err)
{
    int rc = 0;
    for (size_t i = 0; i < w->ndeferred && rc == 0;) {
        size_t j = i + 1;
        while (j < w->ndeferred && w->deferred[j].seq == w->deferred[i].seq &&
               w->deferred[j].checkpoint == w->deferred[i].checkpoint)
            j++;
        rc = replay_deferred_file(w, w->deferred + i, j - i, want, fn, ctx, err);
        i = j;
    }
    free(w->deferred);
    w->deferred = NULL;
    w->ndeferred = w->capdeferred = 0;
    return rc;
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
    rs->first_cut = UINT64_MAX;
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
    uint32_t next = cp + 1;
    size_t   first = 0; /* the first segment after the checkpoint */
    while (first < nsegs && segs[first] <= cp)
        first++;
    if (cp > 0)
        remove_covered(w, cp);
    size_t       nfiles = (cp > 0) + (nsegs - first);
    scan_file_t *files = calloc(nfiles ? nfiles : 1, sizeof(*files));
    if (files == NULL) {
        free(segs);
        rc = vigil_error_set(err, VIGIL_ENOMEM, "WAL replay: out of memory");
        goto out_close_dir;
    }
    size_t k = 0;
    if (cp > 0) {
        snprintf(files[k].path, sizeof(files[k].path), "%s/checkpoint.%08u", w->dir, cp);
        files[k].seq = cp;
        files[k++].checkpoint = true;
        rs->checkpoint = cp;
    }
    for (size_t i = first; i < nsegs; i++, k++) {
        seg_path(w, segs[i], files[k].path, sizeof(files[k].path));
        files[k].seq = segs[i];
        next = segs[i] + 1;
    }
    for (size_t i = 0; i < nfiles; i++)
        files[i].data = MAP_FAILED;
    rc = replay_files(w, files, nfiles, fn, ctx, rs, err);
    free(files);
    if (nsegs > 0 && segs[nsegs - 1] + 1 > next)
        next = segs[nsegs - 1] + 1;
    free(segs);
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
    free(w->deferred);
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
    free(w->deferred);
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
