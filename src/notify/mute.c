/*
 * mute.c - what keeps an alert out of notifications: inhibit rules and silences.
 *
 * Inhibition is Alertmanager's Inhibitor.Mutes: an alert matching a rule's target matchers is
 * muted while some other firing alert matches the source matchers and has the same values for
 * the `equal` labels (absent counts as ""); an alert matching both sides cannot be inhibited by
 * another alert that also matches both. Silences: an alert is muted while a silence is active
 * (starts <= now < ends) and all its matchers match. Silences live in the notifier and in its
 * state file; expired ones are kept for NOTIFY_RETENTION_MS and then dropped.
 */
#include "notify/notify_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static bool equal_labels(const ninhibit_t *r, const nalert_t *a, const nalert_t *b)
{
    for (size_t i = 0; i < r->nequal; i++)
        if (strcmp(nm_label(a->labels, a->nlabels, r->equal[i]),
                   nm_label(b->labels, b->nlabels, r->equal[i])) != 0)
            return false;
    return true;
}

size_t nmute_inhibitors(const notify_t *n, const nalert_t *a, int64_t now,
                        void (*each)(void *ctx, const nalert_t *source), void *ctx)
{
    const notify_config_t *cfg = n->cfg;
    size_t found = 0;
    for (size_t r = 0; r < cfg->ninhibits; r++) {
        const ninhibit_t *ir = &cfg->inhibits[r];
        if (!nm_matches(&ir->target, a->labels, a->nlabels))
            continue;
        bool two_sided = nm_matches(&ir->source, a->labels, a->nlabels);
        for (size_t g = 0; g < n->ngroups; g++)
            for (size_t i = 0; i < n->groups[g]->n; i++) {
                const nalert_t *s = n->groups[g]->alerts[i];
                if (s->fp == a->fp || s->ends_ms <= now ||
                    !nm_matches(&ir->source, s->labels, s->nlabels) || !equal_labels(ir, a, s))
                    continue;
                if (two_sided && nm_matches(&ir->target, s->labels, s->nlabels))
                    continue;
                found++;
                if (each == NULL)
                    return found;  /* whether, not which: the first one answers */
                each(ctx, s);
            }
    }
    return found;
}

bool nmute_inhibited(const notify_t *n, const nalert_t *a, int64_t now)
{
    return nmute_inhibitors(n, a, now, NULL, NULL) > 0;
}

bool nmute_silenced(const notify_t *n, const notify_kv_t *labels, size_t nl, int64_t now)
{
    for (size_t i = 0; i < n->nsil; i++) {
        const nsilence_t *s = &n->sil[i];
        if (s->starts_ms <= now && now < s->ends_ms && nm_matches(&s->matchers, labels, nl))
            return true;
    }
    return false;
}

void nsilence_free(nsilence_t *s)
{
    free(s->matchers_text);
    nm_free(&s->matchers);
    free(s->created_by);
    free(s->comment);
}

void nmute_gc(notify_t *n, int64_t now)
{
    size_t o = 0;
    for (size_t i = 0; i < n->nsil; i++) {
        if (n->sil[i].ends_ms + NOTIFY_RETENTION_MS < now) {
            nsilence_free(&n->sil[i]);
            n->dirty = true;
            continue;
        }
        n->sil[o++] = n->sil[i];
    }
    n->nsil = o;
}

/* A random (version 4) UUID, the form Alertmanager gives silence ids and amtool prints.
 * getrandom() only fails without kernel support or when interrupted; the clock and the
 * address of the output then still keep ids apart within this process. */
static void new_silence_id(char *out, size_t cap)
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        uint64_t y = (uint64_t)(uintptr_t)out ^ (x * 0x9e3779b97f4a7c15u);
        memcpy(b, &x, 8);
        memcpy(b + 8, &y, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);  /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
    snprintf(out, cap,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

int notify_silence_add(notify_t *n, notify_silence_t *s, vigil_error_t *err)
{
    nsilence_t x;
    memset(&x, 0, sizeof(x));
    char why[512];
    if (s->matchers == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "silence: no matchers");
    int rc = nm_parse(&x.matchers, s->matchers, why, sizeof(why));
    if (rc != 0) {
        nm_free(&x.matchers);
        return vigil_error_set(err, rc, "silence: %s", why);
    }
    if (x.matchers.n == 0) {
        nm_free(&x.matchers);
        return vigil_error_set(err, VIGIL_EINVAL, "silence: no matchers");
    }
    /* Alertmanager's validation: a silence matching the empty label set would mute every
     * alert lacking the labels it names, which is never what was meant. */
    if (nm_matches(&x.matchers, NULL, 0)) {
        nm_free(&x.matchers);
        return vigil_error_set(err, VIGIL_EINVAL,
                               "silence: at least one matcher must not match the empty string");
    }
    pthread_mutex_lock(&n->mu);
    int64_t now = notify_now(n);
    x.starts_ms = s->starts_at_ms ? s->starts_at_ms : now;
    x.ends_ms = s->ends_at_ms;
    x.updated_ms = now;
    if (x.ends_ms <= x.starts_ms || x.ends_ms <= now) {
        pthread_mutex_unlock(&n->mu);
        nm_free(&x.matchers);
        return vigil_error_set(err, VIGIL_EINVAL, "silence: end time must be after the start "
                               "time and in the future");
    }
    if (n->nsil >= NOTIFY_MAX_SILENCES) {
        pthread_mutex_unlock(&n->mu);
        nm_free(&x.matchers);
        return vigil_error_set(err, VIGIL_ELIMIT, "silence: more than %d silences",
                               NOTIFY_MAX_SILENCES);
    }
    new_silence_id(x.id, sizeof(x.id));
    x.matchers_text = strdup(s->matchers);
    x.created_by = strdup(s->created_by ? s->created_by : "");
    x.comment = strdup(s->comment ? s->comment : "");
    nsilence_t *v = realloc(n->sil, (n->nsil + 1) * sizeof(*v));
    if (v == NULL || !x.matchers_text || !x.created_by || !x.comment) {
        if (v != NULL)
            n->sil = v;
        pthread_mutex_unlock(&n->mu);
        nsilence_free(&x);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    n->sil = v;
    n->sil[n->nsil++] = x;
    n->dirty = true;
    snprintf(s->id, sizeof(s->id), "%s", x.id);
    pthread_cond_signal(&n->cond);
    pthread_mutex_unlock(&n->mu);
    return 0;
}

int notify_silence_expire(notify_t *n, const char *id)
{
    int rc = VIGIL_ENOENT;
    pthread_mutex_lock(&n->mu);
    int64_t now = notify_now(n);
    for (size_t i = 0; i < n->nsil; i++) {
        nsilence_t *s = &n->sil[i];
        if (strcmp(s->id, id) != 0)
            continue;
        rc = 0;  /* one that has expired already stays as it is; Alertmanager answers 200 too */
        if (s->ends_ms > now) {
            if (s->starts_ms > now)
                s->starts_ms = now;  /* a pending silence never becomes active */
            s->ends_ms = now;
            s->updated_ms = now;
            n->dirty = true;
        }
        break;
    }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

void notify_silence_list(notify_t *n,
                         void (*fn)(void *ctx, const notify_silence_t *s, const char *state),
                         void *ctx)
{
    pthread_mutex_lock(&n->mu);
    int64_t now = notify_now(n);
    for (size_t i = 0; i < n->nsil; i++) {
        const nsilence_t *x = &n->sil[i];
        notify_silence_t s = { .matchers = x->matchers_text, .starts_at_ms = x->starts_ms,
                               .ends_at_ms = x->ends_ms, .created_by = x->created_by,
                               .comment = x->comment };
        snprintf(s.id, sizeof(s.id), "%s", x->id);
        fn(ctx, &s, now < x->starts_ms ? "pending" : now < x->ends_ms ? "active" : "expired");
    }
    pthread_mutex_unlock(&n->mu);
}

bool notify_silenced(notify_t *n, const notify_kv_t *labels, size_t nlabels)
{
    pthread_mutex_lock(&n->mu);
    bool r = nmute_silenced(n, labels, nlabels, notify_now(n));
    pthread_mutex_unlock(&n->mu);
    return r;
}
