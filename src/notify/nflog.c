/*
 * nflog.c - the notification log and the state file that keeps it, the silences and the alerts
 * held across restarts, so a restart neither repeats a notification nor loses a resolve.
 *
 * The log has one entry per (group key, receiver, integration, index): when the receiver was
 * last notified and which alert fingerprints were firing and resolved then (Alertmanager's
 * nflog). Entries expire NOTIFY_RETENTION_MS after their last update.
 *
 * File format (<data_dir>/notify.state; docs/format/notify-log.md), all integers
 * little-endian:
 *
 *   header   "VGNL" (4 bytes) | version u32 = 1
 *   record*  type u8 | length u32 (of the payload) | payload | crc32 u32
 *            (CRC-32/IEEE over type, length and payload)
 *   type 1   log entry: ts_ms i64 | expires_ms i64 | key (str) | nfiring u32 | u64 * nfiring
 *            | nresolved u32 | u64 * nresolved
 *   type 2   silence: id (str) | matchers (str) | starts_ms i64 | ends_ms i64 |
 *            updated_ms i64 | created_by (str) | comment (str)
 *   type 3   alert: starts_ms i64 | ends_ms i64 | updated_ms i64 | generator_url (str) |
 *            nlabels u32 | (name (str) | value (str)) * nlabels | nannotations u32 |
 *            (name (str) | value (str)) * nannotations
 *   str      length u32 | bytes (no NUL)
 *
 * Readers skip record types they do not know (type 3 came after the first files were
 * written: older readers skip it, newer ones read files without it).
 *
 * The file is rewritten whole (a temporary file, fsync, rename, fsync of the directory), so
 * a crash leaves the old or the new file, never a mix. Reading stops at the first record
 * whose CRC or length is wrong (a torn disk write); the records before it are kept and the
 * next save rewrites the file. An unknown version is refused, not guessed at.
 */
#include "notify/notify_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NFLOG_MAGIC "VGNL"
#define NFLOG_VERSION 1u
#define NFLOG_FILE "notify.state"
#define NFLOG_MAX_FILE (64u * 1024 * 1024)
#define NFLOG_MAX_ENTRIES 200000

uint32_t nflog_crc32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

/* ---- the log in memory ---------------------------------------------------------------------- */

const nlog_entry_t *nflog_get(const notify_t *n, const char *key)
{
    for (size_t i = 0; i < n->nlog; i++)
        if (strcmp(n->log[i].key, key) == 0)
            return &n->log[i];
    return NULL;
}

static void entry_free(nlog_entry_t *e)
{
    free(e->key);
    free(e->firing);
    free(e->resolved);
}

static uint64_t *dup_u64(const uint64_t *v, size_t n)
{
    uint64_t *d = malloc((n ? n : 1) * sizeof(*d));
    if (d != NULL && n > 0)
        memcpy(d, v, n * sizeof(*d));
    return d;
}

int nflog_set(notify_t *n, const char *key, int64_t now, const uint64_t *firing, size_t nf,
              const uint64_t *resolved, size_t nr)
{
    nlog_entry_t e = { .ts_ms = now, .expires_ms = now + NOTIFY_RETENTION_MS,
                       .firing = dup_u64(firing, nf), .resolved = dup_u64(resolved, nr),
                       .nfiring = nf, .nresolved = nr };
    if (e.firing == NULL || e.resolved == NULL) {
        entry_free(&e);
        return VIGIL_ENOMEM;
    }
    n->dirty = true;
    for (size_t i = 0; i < n->nlog; i++) {
        if (strcmp(n->log[i].key, key) == 0) {
            e.key = n->log[i].key;
            n->log[i].key = NULL;
            entry_free(&n->log[i]);
            n->log[i] = e;
            return 0;
        }
    }
    if (n->nlog >= NFLOG_MAX_ENTRIES) {
        entry_free(&e);
        return VIGIL_ELIMIT;
    }
    nlog_entry_t *v = realloc(n->log, (n->nlog + 1) * sizeof(*v));
    if (v == NULL || (e.key = strdup(key)) == NULL) {
        if (v != NULL)
            n->log = v;
        entry_free(&e);
        return VIGIL_ENOMEM;
    }
    n->log = v;
    n->log[n->nlog++] = e;
    return 0;
}

void nflog_gc(notify_t *n, int64_t now)
{
    size_t o = 0;
    for (size_t i = 0; i < n->nlog; i++) {
        if (n->log[i].expires_ms < now) {
            entry_free(&n->log[i]);
            n->dirty = true;
            continue;
        }
        n->log[o++] = n->log[i];
    }
    n->nlog = o;
}

void nflog_free_all(notify_t *n)
{
    for (size_t i = 0; i < n->nlog; i++)
        entry_free(&n->log[i]);
    free(n->log);
    n->log = NULL;
    n->nlog = 0;
}

/* ---- encoding ---------------------------------------------------------------------------------- */

static int put_u32(buf_t *b, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    return buf_append(b, x, 4);
}

static int put_u64(buf_t *b, uint64_t v)
{
    int rc = put_u32(b, (uint32_t)v);
    return rc != 0 ? rc : put_u32(b, (uint32_t)(v >> 32));
}

static int put_str(buf_t *b, const char *s)
{
    size_t n = strlen(s);
    int rc = put_u32(b, (uint32_t)n);
    return rc != 0 ? rc : buf_append(b, s, n);
}

/* Wraps the payload in rec (from byte 5 on) with type, length and CRC. */
static int seal(buf_t *out, buf_t *rec, unsigned char type)
{
    uint32_t len = (uint32_t)(rec->len - 5);
    rec->data[0] = (char)type;
    for (int i = 0; i < 4; i++)
        rec->data[1 + i] = (char)(len >> (8 * i));
    int rc = buf_append(out, rec->data, rec->len);
    if (rc == 0)
        rc = put_u32(out, nflog_crc32(rec->data, rec->len));
    buf_reset(rec);
    return rc;
}

int nflog_save(notify_t *n, vigil_error_t *err)
{
    buf_t out, rec;
    buf_init(&out, NFLOG_MAX_FILE);
    buf_init(&rec, NFLOG_MAX_FILE);
    int rc = buf_append(&out, NFLOG_MAGIC, 4);
    if (rc == 0)
        rc = put_u32(&out, NFLOG_VERSION);
    for (size_t i = 0; rc == 0 && i < n->nlog; i++) {
        const nlog_entry_t *e = &n->log[i];
        rc = buf_append(&rec, "\0\0\0\0\0", 5);
        if (rc == 0) rc = put_u64(&rec, (uint64_t)e->ts_ms);
        if (rc == 0) rc = put_u64(&rec, (uint64_t)e->expires_ms);
        if (rc == 0) rc = put_str(&rec, e->key);
        if (rc == 0) rc = put_u32(&rec, (uint32_t)e->nfiring);
        for (size_t k = 0; rc == 0 && k < e->nfiring; k++)
            rc = put_u64(&rec, e->firing[k]);
        if (rc == 0) rc = put_u32(&rec, (uint32_t)e->nresolved);
        for (size_t k = 0; rc == 0 && k < e->nresolved; k++)
            rc = put_u64(&rec, e->resolved[k]);
        if (rc == 0)
            rc = seal(&out, &rec, 1);
    }
    for (size_t i = 0; rc == 0 && i < n->nsil; i++) {
        const nsilence_t *s = &n->sil[i];
        rc = buf_append(&rec, "\0\0\0\0\0", 5);
        if (rc == 0) rc = put_str(&rec, s->id);
        if (rc == 0) rc = put_str(&rec, s->matchers_text);
        if (rc == 0) rc = put_u64(&rec, (uint64_t)s->starts_ms);
        if (rc == 0) rc = put_u64(&rec, (uint64_t)s->ends_ms);
        if (rc == 0) rc = put_u64(&rec, (uint64_t)s->updated_ms);
        if (rc == 0) rc = put_str(&rec, s->created_by);
        if (rc == 0) rc = put_str(&rec, s->comment);
        if (rc == 0)
            rc = seal(&out, &rec, 2);
    }
    /* The alerts, resolved ones included: a resolve not yet delivered must survive too. */
    const nalert_t **alerts = NULL;
    size_t nalerts = 0;
    if (rc == 0)
        rc = nalert_unique(n, 0, true, &alerts, &nalerts);
    for (size_t i = 0; rc == 0 && i < nalerts; i++) {
        const nalert_t *a = alerts[i];
        rc = buf_append(&rec, "\0\0\0\0\0", 5);
        if (rc == 0) rc = put_u64(&rec, (uint64_t)a->starts_ms);
        if (rc == 0) rc = put_u64(&rec, (uint64_t)a->ends_ms);
        if (rc == 0) rc = put_u64(&rec, (uint64_t)a->updated_ms);
        if (rc == 0) rc = put_str(&rec, a->generator_url);
        if (rc == 0) rc = put_u32(&rec, (uint32_t)a->nlabels);
        for (size_t k = 0; rc == 0 && k < a->nlabels; k++) {
            rc = put_str(&rec, a->labels[k].name);
            if (rc == 0) rc = put_str(&rec, a->labels[k].value);
        }
        if (rc == 0) rc = put_u32(&rec, (uint32_t)a->nannotations);
        for (size_t k = 0; rc == 0 && k < a->nannotations; k++) {
            rc = put_str(&rec, a->annotations[k].name);
            if (rc == 0) rc = put_str(&rec, a->annotations[k].value);
        }
        if (rc == 0)
            rc = seal(&out, &rec, 3);
    }
    free(alerts);
    buf_free(&rec);
    if (rc != 0) {
        buf_free(&out);
        return vigil_error_set(err, rc, "notification log: larger than %u bytes",
                               NFLOG_MAX_FILE);
    }
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/%s", n->data_dir, NFLOG_FILE);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        buf_free(&out);
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", tmp, strerror(errno));
    }
    size_t off = 0;
    while (off < out.len) {
        ssize_t w = write(fd, out.data + off, out.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    bool ok = off == out.len && fsync(fd) == 0;
    close(fd);
    buf_free(&out);
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return vigil_error_set(err, VIGIL_EIO, "%s: %s", path, strerror(e));
    }
    int dfd = open(n->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);  /* make the rename itself durable */
        close(dfd);
    }
    n->dirty = false;
    return 0;
}

/* ---- decoding ---------------------------------------------------------------------------------- */

typedef struct reader {
    const unsigned char *p;
    size_t               len, off;
    bool                 bad;
} reader_t;

static uint64_t get_n(reader_t *r, int bytes)
{
    if (r->bad || r->len - r->off < (size_t)bytes) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += (size_t)bytes;
    return v;
}

/* A malloc'd copy of a str field (caller frees); NULL when malformed. */
static char *get_str(reader_t *r)
{
    uint32_t n = (uint32_t)get_n(r, 4);
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    char *s = strndup((const char *)r->p + r->off, n);
    r->off += n;
    if (s == NULL)
        r->bad = true;
    return s;
}

static int load_entry(notify_t *n, reader_t *r)
{
    int64_t ts = (int64_t)get_n(r, 8), exp = (int64_t)get_n(r, 8);
    char *key = get_str(r);
    uint32_t nf = (uint32_t)get_n(r, 4);
    if (r->bad || nf > (r->len - r->off) / 8) {
        free(key);
        return VIGIL_EPARSE;
    }
    uint64_t *f = malloc((nf ? nf : 1) * sizeof(*f));
    for (uint32_t i = 0; f && i < nf; i++)
        f[i] = get_n(r, 8);
    uint32_t nr = (uint32_t)get_n(r, 4);
    uint64_t *res = !r->bad && nr <= (r->len - r->off) / 8 ? malloc((nr ? nr : 1) * 8) : NULL;
    for (uint32_t i = 0; res && i < nr; i++)
        res[i] = get_n(r, 8);
    int rc = VIGIL_EPARSE;
    if (f != NULL && res != NULL && !r->bad && r->off == r->len) {
        rc = nflog_set(n, key, ts, f, nf, res, nr);
        for (size_t i = 0; rc == 0 && i < n->nlog; i++)
            if (strcmp(n->log[i].key, key) == 0)
                n->log[i].expires_ms = exp;
    }
    free(key);
    free(f);
    free(res);
    return rc;
}

static int load_silence(notify_t *n, reader_t *r)
{
    nsilence_t s;
    memset(&s, 0, sizeof(s));
    char *id = get_str(r);
    s.matchers_text = get_str(r);
    s.starts_ms = (int64_t)get_n(r, 8);
    s.ends_ms = (int64_t)get_n(r, 8);
    s.updated_ms = (int64_t)get_n(r, 8);
    s.created_by = get_str(r);
    s.comment = get_str(r);
    char why[256];
    int rc = VIGIL_EPARSE;
    if (!r->bad && r->off == r->len && id != NULL && strlen(id) < sizeof(s.id) &&
        nm_parse(&s.matchers, s.matchers_text, why, sizeof(why)) == 0) {
        snprintf(s.id, sizeof(s.id), "%s", id);
        nsilence_t *v = realloc(n->sil, (n->nsil + 1) * sizeof(*v));
        if (v != NULL) {
            n->sil = v;
            n->sil[n->nsil++] = s;
            free(id);
            return 0;
        }
        rc = VIGIL_ENOMEM;
    }
    free(id);
    nsilence_free(&s);
    return rc;
}

static void pairs_free(notify_kv_t *kv, size_t n)
{
    for (size_t i = 0; kv != NULL && i < n; i++) {
        free((char *)kv[i].name);
        free((char *)kv[i].value);
    }
    free(kv);
}

/* `count` name/value pairs (malloc'd, each string too; caller frees with pairs_free), NULL
 * when malformed. Each pair takes at least 8 bytes, which bounds `count` by what is left. */
static notify_kv_t *get_pairs(reader_t *r, size_t *count)
{
    uint32_t n = (uint32_t)get_n(r, 4);
    *count = 0;
    if (r->bad || n > (r->len - r->off) / 8) {
        r->bad = true;
        return NULL;
    }
    notify_kv_t *kv = calloc(n ? n : 1, sizeof(*kv));
    for (uint32_t i = 0; kv != NULL && i < n && !r->bad; i++) {
        kv[i].name = get_str(r);
        kv[i].value = get_str(r);
        *count = i + 1;
    }
    if (kv == NULL)
        r->bad = true;
    return kv;
}

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const notify_kv_t *)a)->name, ((const notify_kv_t *)b)->name);
}

/* An alert record: back into the groups of the routes it matches now (the configuration may
 * have changed since it was written). */
static int load_alert(notify_t *n, reader_t *r)
{
    nalert_t a;
    memset(&a, 0, sizeof(a));
    a.starts_ms = (int64_t)get_n(r, 8);
    a.ends_ms = (int64_t)get_n(r, 8);
    a.updated_ms = (int64_t)get_n(r, 8);
    a.generator_url = get_str(r);
    a.labels = get_pairs(r, &a.nlabels);
    a.annotations = get_pairs(r, &a.nannotations);
    int rc = VIGIL_EPARSE;
    if (!r->bad && r->off == r->len && a.nlabels > 0) {
        qsort(a.labels, a.nlabels, sizeof(*a.labels), cmp_pair);
        a.fp = notify_fingerprint(a.labels, a.nlabels);
        rc = nalert_route(n, &a, notify_now(n));
    }
    free(a.generator_url);
    pairs_free(a.labels, a.nlabels);
    pairs_free(a.annotations, a.nannotations);
    return rc;
}

int nflog_load(notify_t *n, vigil_error_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", n->data_dir, NFLOG_FILE);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? 0 : vigil_error_set(err, VIGIL_EIO, "%s: %s", path,
                                                     strerror(errno));
    buf_t b;
    buf_init(&b, NFLOG_MAX_FILE);
    char chunk[8192];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(&b, chunk, got);
    fclose(f);
    if (rc != 0) {
        buf_free(&b);
        return vigil_error_set(err, rc, "%s: larger than %u bytes", path, NFLOG_MAX_FILE);
    }
    reader_t r = { .p = (const unsigned char *)b.data, .len = b.len };
    if (b.len < 8 || memcmp(b.data, NFLOG_MAGIC, 4) != 0) {
        buf_free(&b);
        return vigil_error_set(err, VIGIL_EPARSE, "%s: not a vigil notification log", path);
    }
    r.off = 4;
    uint32_t version = (uint32_t)get_n(&r, 4);
    if (version != NFLOG_VERSION) {
        buf_free(&b);
        return vigil_error_set(err, VIGIL_ENOTSUP, "%s: version %u (this vigil reads %u)", path,
                               version, NFLOG_VERSION);
    }
    size_t records = 0;
    while (r.off < r.len) {
        size_t start = r.off;
        unsigned type = (unsigned)get_n(&r, 1);
        uint32_t len = (uint32_t)get_n(&r, 4);
        if (r.bad || r.len - r.off < (size_t)len + 4)
            break;  /* torn tail */
        uint32_t crc = (uint32_t)(r.p[r.off + len] | r.p[r.off + len + 1] << 8 |
                                  r.p[r.off + len + 2] << 16 |
                                  (uint32_t)r.p[r.off + len + 3] << 24);
        if (crc != nflog_crc32(r.p + start, 5 + (size_t)len))
            break;
        reader_t rr = { .p = r.p + r.off, .len = len };
        int lrc = type == 1 ? load_entry(n, &rr)
                : type == 2 ? load_silence(n, &rr)
                : type == 3 ? load_alert(n, &rr)
                            : 0;
        if (lrc == VIGIL_ENOMEM) {
            buf_free(&b);
            return vigil_error_set(err, lrc, "%s: out of memory", path);
        }
        r.off += (size_t)len + 4;
        records++;
    }
    if (r.off < r.len)
        log_warn(n->opts.log, "notify", "notification log: ignoring a damaged tail",
                 LF_STR("path", path), LF_UINT("records", records),
                 LF_UINT("offset", r.off));
    buf_free(&b);
    n->dirty = r.off < r.len;
    return 0;
}
