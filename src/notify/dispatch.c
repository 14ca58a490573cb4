/*
 * dispatch.c - alerts in, notifications out: the route tree puts each alert into aggregation
 * groups, each group flushes on Alertmanager's timers, and each flush goes through the
 * pipeline of every integration of the group's receiver:
 *
 *   inhibit + silence (mute.c) -> dedup against the notification log -> send with retries
 *   -> log what was sent (nflog.c)
 *
 * Timers (Alertmanager's dispatch.aggrGroup): a new group flushes after group_wait (at once
 * when its first alert started more than group_wait ago), then every group_interval. A flush
 * notifies when the log says the receiver has not seen the current firing set, when alerts
 * resolved and send_resolved is on, when everything resolved (to clear the receiver), or when
 * repeat_interval passed since the last notification; resolved alerts leave the group after a
 * successful flush and empty groups go away.
 *
 * Locking: one mutex guards groups, log and silences; sends run without it on snapshots.
 * The clock is injectable (tests drive notify_tick with a fake one and never sleep).
 */
#include "notify/notify_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t notify_now(const notify_t *n)
{
    if (n->opts.now_ms != NULL)
        return n->opts.now_ms(n->opts.clock_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- alerts ------------------------------------------------------------------------------------ */

static void kv_free(notify_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)kv[i].name);
        free((char *)kv[i].value);
    }
    free(kv);
}

static void alert_free(nalert_t *a)
{
    if (a == NULL)
        return;
    kv_free(a->labels, a->nlabels);
    kv_free(a->annotations, a->nannotations);
    free(a->generator_url);
    free(a);
}

static int cmp_kv(const void *x, const void *y)
{
    return strcmp(((const notify_kv_t *)x)->name, ((const notify_kv_t *)y)->name);
}

/* Owned, name-sorted copy of a label array; NULL only when out of memory (n > 0). */
static notify_kv_t *kv_copy(const notify_kv_t *src, size_t n)
{
    notify_kv_t *kv = calloc(n ? n : 1, sizeof(*kv));
    if (kv == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        kv[i].name = strdup(src[i].name ? src[i].name : "");
        kv[i].value = strdup(src[i].value ? src[i].value : "");
        if (kv[i].name == NULL || kv[i].value == NULL) {
            kv_free(kv, i + 1);
            return NULL;
        }
    }
    qsort(kv, n, sizeof(*kv), cmp_kv);
    return kv;
}

static nalert_t *alert_copy(const notify_alert_t *in, int64_t now, int64_t resolve_timeout)
{
    nalert_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->labels = kv_copy(in->labels, in->nlabels);
    a->nlabels = in->nlabels;
    a->annotations = kv_copy(in->annotations, in->nannotations);
    a->nannotations = in->nannotations;
    a->generator_url = strdup(in->generator_url ? in->generator_url : "");
    if (a->labels == NULL || a->annotations == NULL || a->generator_url == NULL) {
        alert_free(a);
        return NULL;
    }
    a->starts_ms = in->starts_at_ms ? in->starts_at_ms : now;
    /* No end given: Alertmanager resolves it after resolve_timeout unless it is sent again. */
    a->ends_ms = in->ends_at_ms ? in->ends_at_ms : now + resolve_timeout;
    a->updated_ms = now;
    a->fp = notify_fingerprint(a->labels, a->nlabels);
    return a;
}

static nalert_t *alert_dup(const nalert_t *s)
{
    nalert_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    *a = *s;
    a->labels = kv_copy(s->labels, s->nlabels);
    a->annotations = kv_copy(s->annotations, s->nannotations);
    a->generator_url = strdup(s->generator_url);
    if (a->labels == NULL || a->annotations == NULL || a->generator_url == NULL) {
        alert_free(a);
        return NULL;
    }
    return a;
}

static bool resolved_at(const nalert_t *a, int64_t now) { return a->ends_ms <= now; }

/* ---- groups -------------------------------------------------------------------------------- */

static void group_free(ngroup_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        alert_free(g->alerts[i]);
    free(g->alerts);
    kv_free(g->labels, g->nlabels);
    free(g->key);
    free(g);
}

static ngroup_t *group_find(notify_t *n, const char *key)
{
    for (size_t i = 0; i < n->ngroups; i++)
        if (strcmp(n->groups[i]->key, key) == 0)
            return n->groups[i];
    return NULL;
}

static ngroup_t *group_new(notify_t *n, const char *key, const nroute_t *r, const nalert_t *a,
                           int64_t now)
{
    if (n->ngroups == n->capgroups) {
        size_t ncap = n->capgroups ? n->capgroups * 2 : 16;
        ngroup_t **g = realloc(n->groups, ncap * sizeof(*g));
        if (g == NULL)
            return NULL;
        n->groups = g;
        n->capgroups = ncap;
    }
    ngroup_t *g = calloc(1, sizeof(*g));
    if (g == NULL || (g->key = strdup(key)) == NULL) {
        free(g);
        return NULL;
    }
    g->route = r;
    /* the group labels: the alert's labels named in group_by */
    notify_kv_t *sel = calloc(a->nlabels ? a->nlabels : 1, sizeof(*sel));
    size_t k = 0;
    for (size_t i = 0; sel != NULL && i < a->nlabels; i++) {
        bool want = r->group_by_all;
        for (size_t j = 0; !want && j < r->ngroup_by; j++)
            want = strcmp(r->group_by[j], a->labels[i].name) == 0;
        if (want)
            sel[k++] = a->labels[i];
    }
    g->labels = sel ? kv_copy(sel, k) : NULL;
    g->nlabels = k;
    free(sel);
    if (g->labels == NULL) {
        group_free(g);
        return NULL;
    }
    g->next_flush = now + r->group_wait_ms;
    n->groups[n->ngroups++] = g;
    return g;
}

/* Puts a copy of `a` into g, replacing an alert with the same fingerprint. */
static int group_insert(notify_t *n, ngroup_t *g, const nalert_t *a, int64_t now)
{
    nalert_t *copy = alert_dup(a);
    if (copy == NULL)
        return VIGIL_ENOMEM;
    for (size_t i = 0; i < g->n; i++) {
        if (g->alerts[i]->fp != a->fp)
            continue;
        /* Alertmanager's merge: an alert that is still (or again) active keeps its first
         * start; a new firing instance after a resolve starts fresh. */
        if (!resolved_at(g->alerts[i], now) && g->alerts[i]->starts_ms < copy->starts_ms)
            copy->starts_ms = g->alerts[i]->starts_ms;
        alert_free(g->alerts[i]);
        g->alerts[i] = copy;
        return 0;
    }
    if (n->nalerts_total >= NOTIFY_MAX_ALERTS) {
        alert_free(copy);
        return VIGIL_ELIMIT;
    }
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 8;
        nalert_t **v = realloc(g->alerts, ncap * sizeof(*v));
        if (v == NULL) {
            alert_free(copy);
            return VIGIL_ENOMEM;
        }
        g->alerts = v;
        g->cap = ncap;
    }
    g->alerts[g->n++] = copy;
    n->nalerts_total++;
    /* A group that has not flushed yet flushes at once for an alert older than group_wait. */
    if (!g->flushed && copy->starts_ms + g->route->group_wait_ms < now)
        g->next_flush = now;
    return 0;
}

int nalert_route(notify_t *n, const nalert_t *a, int64_t now)
{
    const nroute_t *routes[64];
    size_t nr = nroute_match(&n->cfg->route, a->labels, a->nlabels, routes, 64);
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < nr; k++) {
        buf_t key;
        buf_init(&key, 1 << 20);
        rc = nroute_group_key(routes[k], a->labels, a->nlabels, &key);
        ngroup_t *g = rc == 0 ? group_find(n, key.data) : NULL;
        if (rc == 0 && g == NULL && (g = group_new(n, key.data, routes[k], a, now)) == NULL)
            rc = VIGIL_ENOMEM;
        if (rc == 0)
            rc = group_insert(n, g, a, now);
        buf_free(&key);
    }
    return rc;
}

int notify_push(notify_t *n, const notify_alert_t *alerts, size_t count)
{
    int rc = 0;
    pthread_mutex_lock(&n->mu);
    if (n->stopping) {
        pthread_mutex_unlock(&n->mu);
        return VIGIL_ESTATE;
    }
    int64_t now = notify_now(n);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        if (alerts[i].nlabels == 0) {
            rc = VIGIL_EINVAL;
            break;
        }
        nalert_t *a = alert_copy(&alerts[i], now, n->cfg->global.resolve_timeout_ms);
        if (a == NULL) {
            rc = VIGIL_ENOMEM;
            break;
        }
        rc = nalert_route(n, a, now);
        alert_free(a);
    }
    /* The alerts are part of the state file: a restart that lost them could not send the
     * resolve of an alert whose condition cleared meanwhile. */
    if (n->data_dir != NULL)
        n->dirty = true;
    pthread_cond_signal(&n->cond);
    pthread_mutex_unlock(&n->mu);
    return rc;
}

/* Drops one reference to `cfg`; true when it was the last (the caller frees it, outside the
 * lock). Caller holds the lock. */
static bool config_unref(notify_config_t *cfg)
{
    return --cfg->refs == 0;
}

int notify_reload(notify_t *n, notify_config_t *cfg)
{
    pthread_mutex_lock(&n->mu);
    if (n->stopping) {
        pthread_mutex_unlock(&n->mu);
        notify_config_free(cfg);
        return VIGIL_ESTATE;
    }
    int64_t now = notify_now(n);
    ngroup_t **old = n->groups;
    size_t nold = n->ngroups;
    n->groups = NULL;
    n->ngroups = n->capgroups = 0;
    n->nalerts_total = 0;
    notify_config_t *prev = n->cfg;
    cfg->refs = 1;
    n->cfg = cfg;
    /* Every alert again through the new tree. An alert that was in several groups (continue)
     * lands in the same new group more than once, which group_insert merges. Alerts that no
     * longer fit (the limit, memory) are dropped: the rules send firing ones again. */
    int rc = 0;
    for (size_t i = 0; i < nold; i++) {
        for (size_t j = 0; j < old[i]->n; j++)
            if (nalert_route(n, old[i]->alerts[j], now) != 0)
                rc = VIGIL_ENOMEM;
        group_free(old[i]);
    }
    free(old);
    if (rc != 0)
        log_warn(n->opts.log, "notify", "alerts dropped while re-routing them on reload");
    bool free_prev = config_unref(prev);
    pthread_cond_signal(&n->cond);
    pthread_mutex_unlock(&n->mu);
    if (free_prev)
        notify_config_free(prev);
    return 0;
}

/* ---- flushing ------------------------------------------------------------------------------- */

/* A flush's own copy of a group, so sending needs no lock. */
typedef struct snapshot {
    notify_config_t *cfg;     /* the configuration `route` belongs to (one reference) */
    char           *key;
    const nroute_t *route;
    notify_kv_t    *glabels;
    size_t          nglabels;
    nalert_t      **alerts;   /* owned copies, Alertmanager's order */
    size_t          n;
} snapshot_t;

/* Frees the snapshot's copies; its configuration reference is dropped by the caller. */
static void snapshot_free(snapshot_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        alert_free(s->alerts[i]);
    free(s->alerts);
    kv_free(s->glabels, s->nglabels);
    free(s->key);
}

/* LabelSet.Before: label by label in name order, name then value; a prefix sorts first. */
static int labels_cmp(const nalert_t *a, const nalert_t *b)
{
    for (size_t i = 0; i < a->nlabels && i < b->nlabels; i++) {
        int c = strcmp(a->labels[i].name, b->labels[i].name);
        if (c == 0)
            c = strcmp(a->labels[i].value, b->labels[i].value);
        if (c != 0)
            return c;
    }
    return a->nlabels < b->nlabels ? -1 : a->nlabels > b->nlabels;
}

/* Alertmanager's alertsSlice order: by job, then instance (alerts having them first), then
 * the whole label set. */
static int alert_order(const void *x, const void *y)
{
    const nalert_t *a = *(nalert_t *const *)x, *b = *(nalert_t *const *)y;
    static const char *const keys[] = { "job", "instance" };
    for (int k = 0; k < 2; k++) {
        const char *va = NULL, *vb = NULL;
        for (size_t i = 0; i < a->nlabels; i++)
            if (strcmp(a->labels[i].name, keys[k]) == 0)
                va = a->labels[i].value;
        for (size_t i = 0; i < b->nlabels; i++)
            if (strcmp(b->labels[i].name, keys[k]) == 0)
                vb = b->labels[i].value;
        if (va == NULL && vb == NULL)
            continue;
        if (va == NULL)
            return 1;
        if (vb == NULL)
            return -1;
        int c = strcmp(va, vb);
        if (c != 0)
            return c;
    }
    return labels_cmp(a, b);
}

/* Labels (or annotations) equal in every alert: `which` 0 labels, 1 annotations. Returns a
 * malloc'd array of borrowed pairs (caller frees the array only). */
static notify_kv_t *common(nalert_t *const *alerts, size_t n, int which, size_t *count)
{
    *count = 0;
    if (n == 0)
        return calloc(1, sizeof(notify_kv_t));
    const notify_kv_t *first = which ? alerts[0]->annotations : alerts[0]->labels;
    size_t nf = which ? alerts[0]->nannotations : alerts[0]->nlabels;
    notify_kv_t *out = calloc(nf ? nf : 1, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < nf; i++) {
        bool all = true;
        for (size_t j = 1; all && j < n; j++) {
            const notify_kv_t *kv = which ? alerts[j]->annotations : alerts[j]->labels;
            size_t nk = which ? alerts[j]->nannotations : alerts[j]->nlabels;
            bool found = false;
            for (size_t k = 0; k < nk && !found; k++)
                found = strcmp(kv[k].name, first[i].name) == 0 &&
                        strcmp(kv[k].value, first[i].value) == 0;
            all = found;
        }
        if (all)
            out[(*count)++] = first[i];
    }
    return out;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool subset(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
    for (size_t i = 0; i < na; i++)
        if (bsearch(&a[i], b, nb, sizeof(*b), cmp_u64) == NULL)
            return false;
    return true;
}

/* Alertmanager's DedupStage.needsUpdate. */
static bool needs_update(const nlog_entry_t *e, const uint64_t *firing, size_t nf,
                         const uint64_t *resolved, size_t nr, bool send_resolved,
                         int64_t repeat_ms, int64_t now)
{
    if (e == NULL)
        return nf > 0;
    if (!subset(firing, nf, e->firing, e->nfiring))
        return true;
    if (nf == 0)
        return e->nfiring > 0;
    if (send_resolved && !subset(resolved, nr, e->resolved, e->nresolved))
        return true;
    return e->ts_ms < now - repeat_ms;
}

/* Sends to one integration with retries (or to the delivery hook). 0 when delivered. */
static int send_one(notify_t *n, const nintegration_t *it, const nreceiver_t *rcv,
                    const nmessage_t *m, int64_t timeout_ms)
{
    int attempts = n->opts.max_attempts > 0 ? n->opts.max_attempts : 5;
    int64_t backoff = n->opts.backoff_ms > 0 ? n->opts.backoff_ms : 1000;
    char why[512] = "";
    int rc = 0;
    for (int i = 0; i < attempts; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (n->opts.deliver != NULL) {
            char *body = npayload_webhook(m, 0);
            notify_delivery_t d = { .receiver = rcv->name, .integration = it->ops->name,
                                    .index = it->index, .group_key = m->group_key,
                                    .status = m->status, .firing = m->firing,
                                    .resolved = m->nresolved, .body = body ? body : "" };
            rc = body ? n->opts.deliver(n->opts.deliver_ctx, &d) : VIGIL_ENOMEM;
            snprintf(why, sizeof(why), "delivery hook returned %d", rc);
            free(body);
        } else {
            rc = it->ops->notify(it->conf, m, (int)timeout_ms, why, sizeof(why));
        }
        bool last = rc == 0 || rc == VIGIL_EINVAL || i + 1 == attempts;
        if (n->opts.on_attempt != NULL) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            n->opts.on_attempt(n->opts.on_attempt_ctx, it->ops->name, rc,
                               (double)(t1.tv_sec - t0.tv_sec) +
                                   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                               last);
        }
        if (rc == 0 || rc == VIGIL_EINVAL)
            break;
        log_warn(n->opts.log, "notify", "notification failed, retrying",
                 LF_STR("receiver", rcv->name), LF_STR("integration", it->ops->name),
                 LF_INT("attempt", i + 1), LF_STR("error", why));
        if (n->opts.manual || i + 1 == attempts)
            continue;  /* tests drive time themselves: retry at once */
        /* wait, but give up early when the notifier is stopping */
        pthread_mutex_lock(&n->mu);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (backoff % 1000) * 1000000;
        ts.tv_sec += backoff / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        while (!n->stopping && pthread_cond_timedwait(&n->cond, &n->mu, &ts) != ETIMEDOUT) {
        }
        bool stop = n->stopping;
        pthread_mutex_unlock(&n->mu);
        if (stop)
            break;
        backoff *= 2;
    }
    if (rc != 0)
        log_error(n->opts.log, "notify", "notification failed", LF_STR("receiver", rcv->name),
                  LF_STR("integration", it->ops->name), LF_STR("group", m->group_key),
                  LF_STR("error", why));
    return rc;
}

/* Runs the pipeline of every integration of the snapshot's receiver. True when all
 * integrations are up to date (so resolved alerts may leave the group). */
static bool flush(notify_t *n, snapshot_t *s, int64_t now)
{
    const nreceiver_t *rcv = &s->cfg->receivers[s->route->receiver_idx];
    /* mute: inhibition and silences, decided under the lock on the current state */
    nalert_t **live = calloc(s->n ? s->n : 1, sizeof(*live));
    bool *res = calloc(s->n ? s->n : 1, sizeof(*res));
    uint64_t *firing = calloc(s->n ? s->n : 1, sizeof(*firing));
    uint64_t *resolved = calloc(s->n ? s->n : 1, sizeof(*resolved));
    size_t nl = 0, nf = 0, nr = 0;
    bool ok = true;
    if (live == NULL || res == NULL || firing == NULL || resolved == NULL) {
        ok = false;
        goto out;
    }
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < s->n; i++) {
        nalert_t *a = s->alerts[i];
        if (nmute_inhibited(n, a, now) || nmute_silenced(n, a->labels, a->nlabels, now))
            continue;
        res[nl] = resolved_at(a, now);
        live[nl++] = a;
        if (res[nl - 1])
            resolved[nr++] = a->fp;
        else
            firing[nf++] = a->fp;
    }
    pthread_mutex_unlock(&n->mu);
    qsort(firing, nf, sizeof(*firing), cmp_u64);
    qsort(resolved, nr, sizeof(*resolved), cmp_u64);
    if (nl == 0)
        goto out;
    size_t nca, ncl;
    notify_kv_t *cl = common(live, nl, 0, &ncl);
    notify_kv_t *ca = common(live, nl, 1, &nca);
    int64_t timeout = s->route->group_interval_ms < 30000 ? s->route->group_interval_ms : 30000;
    for (size_t k = 0; k < rcv->nints && cl && ca; k++) {
        const nintegration_t *it = &rcv->ints[k];
        char key[4096];
        snprintf(key, sizeof(key), "%s\x1f%s\x1f%s\x1f%d", s->key, rcv->name, it->ops->name,
                 it->index);
        pthread_mutex_lock(&n->mu);
        bool needed = needs_update(nflog_get(n, key), firing, nf, resolved, nr,
                                   it->send_resolved, s->route->repeat_interval_ms, now);
        pthread_mutex_unlock(&n->mu);
        if (!needed)
            continue;
        if (it->disabled) {
            log_warn(n->opts.log, "notify", "integration disabled by its configuration",
                     LF_STR("receiver", rcv->name), LF_STR("integration", it->ops->name));
            continue;
        }
        /* send_resolved off: only the firing alerts go out; none firing, nothing is sent but
         * the log still learns that everything resolved */
        const nalert_t *sent[nl];
        bool sent_res[nl];
        size_t ns = 0;
        for (size_t i = 0; i < nl; i++)
            if (it->send_resolved || !res[i]) {
                sent_res[ns] = res[i];
                sent[ns++] = live[i];
            }
        int rc = 0;
        if (ns > 0) {
            nmessage_t m = { .receiver = rcv->name, .group_key = s->key,
                             .status = nf > 0 ? "firing" : "resolved", .alerts = sent,
                             .resolved = sent_res, .nalerts = ns, .firing = nf,
                             .nresolved = ns - (it->send_resolved ? nf : ns),
                             .group_labels = s->glabels, .ngroup = s->nglabels,
                             .common_labels = cl, .ncommon = ncl, .common_annotations = ca,
                             .ncommon_ann = nca, .external_url = n->external_url,
                             .now_ms = now };
            m.nresolved = it->send_resolved ? nr : 0;
            m.data = npayload_data(&m);
            rc = m.data ? send_one(n, it, rcv, &m, timeout) : VIGIL_ENOMEM;
            template_value_free(m.data);
        }
        if (rc == 0) {
            pthread_mutex_lock(&n->mu);
            if (nflog_set(n, key, now, firing, nf, resolved, nr) != 0)
                ok = false;
            pthread_mutex_unlock(&n->mu);
        } else {
            ok = false;
        }
    }
    if (cl == NULL || ca == NULL)
        ok = false;
    free(cl);
    free(ca);
out:
    free(live);
    free(res);
    free(firing);
    free(resolved);
    return ok;
}

/* After a successful flush: drop the alerts that were resolved in the snapshot and have not
 * changed since; drop the group when empty. Caller holds the lock. */
static void prune(notify_t *n, const snapshot_t *s, int64_t now)
{
    ngroup_t *g = group_find(n, s->key);
    if (g == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (!resolved_at(s->alerts[i], now))
            continue;
        for (size_t j = 0; j < g->n; j++) {
            nalert_t *a = g->alerts[j];
            if (a->fp == s->alerts[i]->fp && a->updated_ms == s->alerts[i]->updated_ms &&
                resolved_at(a, now)) {
                alert_free(a);
                g->alerts[j] = g->alerts[--g->n];
                n->nalerts_total--;
                break;
            }
        }
    }
    if (g->n == 0) {
        for (size_t i = 0; i < n->ngroups; i++)
            if (n->groups[i] == g) {
                n->groups[i] = n->groups[--n->ngroups];
                break;
            }
        group_free(g);
    }
}

int64_t notify_tick(notify_t *n, int64_t now)
{
    snapshot_t *snaps = NULL;
    size_t nsnaps = 0;
    pthread_mutex_lock(&n->mu);
    nmute_gc(n, now);
    nflog_gc(n, now);
    for (size_t i = 0; i < n->ngroups; i++) {
        ngroup_t *g = n->groups[i];
        if (g->next_flush > now)
            continue;
        g->flushed = true;
        g->next_flush = now + g->route->group_interval_ms;
        snapshot_t *v = realloc(snaps, (nsnaps + 1) * sizeof(*v));
        if (v == NULL)
            break;
        snaps = v;
        snapshot_t *s = &snaps[nsnaps];
        memset(s, 0, sizeof(*s));
        s->cfg = n->cfg;
        n->cfg->refs++;
        s->key = strdup(g->key);
        s->route = g->route;
        s->glabels = kv_copy(g->labels, g->nlabels);
        s->nglabels = g->nlabels;
        s->alerts = calloc(g->n ? g->n : 1, sizeof(*s->alerts));
        if (s->key == NULL || s->glabels == NULL || s->alerts == NULL) {
            snapshot_free(s);
            n->cfg->refs--;  /* not the last: the notifier holds one */
            break;
        }
        for (size_t j = 0; j < g->n; j++)
            if ((s->alerts[s->n] = alert_dup(g->alerts[j])) != NULL)
                s->n++;
        qsort(s->alerts, s->n, sizeof(*s->alerts), alert_order);
        nsnaps++;
    }
    pthread_mutex_unlock(&n->mu);

    for (size_t i = 0; i < nsnaps; i++) {
        bool ok = flush(n, &snaps[i], now);
        pthread_mutex_lock(&n->mu);
        if (ok)
            prune(n, &snaps[i], now);
        bool last = config_unref(snaps[i].cfg);
        pthread_mutex_unlock(&n->mu);
        notify_config_t *done = last ? snaps[i].cfg : NULL;
        snapshot_free(&snaps[i]);
        notify_config_free(done);  /* a reload replaced it during the flush */
    }
    free(snaps);

    pthread_mutex_lock(&n->mu);
    if (n->dirty && n->data_dir != NULL) {
        vigil_error_t err = { 0 };
        if (nflog_save(n, &err) != 0)
            log_error(n->opts.log, "notify", "cannot write the notification log",
                      LF_STR("error", err.message));
    }
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < n->ngroups; i++)
        if (n->groups[i]->next_flush < next)
            next = n->groups[i]->next_flush;
    pthread_mutex_unlock(&n->mu);
    return next;
}

/* ---- the thread and the lifecycle ----------------------------------------------------------- */

static void *run(void *arg)
{
    notify_t *n = arg;
    for (;;) {
        int64_t next = notify_tick(n, notify_now(n));
        pthread_mutex_lock(&n->mu);
        if (n->stopping) {
            pthread_mutex_unlock(&n->mu);
            break;
        }
        int64_t wait_ms = next == INT64_MAX ? 60000 : next - notify_now(n);
        if (wait_ms > 60000)
            wait_ms = 60000;  /* also runs the garbage collection now and then */
        if (wait_ms > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = ts.tv_nsec + (wait_ms % 1000) * 1000000;
            ts.tv_sec += wait_ms / 1000 + ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            /* woken early by notify_push (a new group may be due sooner) or notify_stop */
            pthread_cond_timedwait(&n->cond, &n->mu, &ts);
        }
        bool stop = n->stopping;
        pthread_mutex_unlock(&n->mu);
        if (stop)
            break;
    }
    return NULL;
}

int notify_create(notify_t **out, notify_config_t *cfg, const notify_options_t *opts,
                  vigil_error_t *err)
{
    static const notify_options_t defaults = { 0 };
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    notify_t *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        notify_config_free(cfg);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    n->cfg = cfg;
    cfg->refs = 1;
    n->opts = *opts;
    n->data_dir = opts->data_dir ? strdup(opts->data_dir) : NULL;
    n->external_url = strdup(opts->external_url ? opts->external_url : "");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = 0;
    if ((opts->data_dir && n->data_dir == NULL) || n->external_url == NULL)
        rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    if (rc == 0 && n->data_dir != NULL)
        rc = nflog_load(n, err);
    if (rc == 0 && !opts->manual) {
        if (pthread_create(&n->thread, NULL, run, n) != 0)
            rc = vigil_error_set(err, VIGIL_ESYS, "cannot start the notifier thread");
        else
            n->has_thread = true;
    }
    if (rc != 0) {
        notify_stop(n);
        return rc;
    }
    *out = n;
    return 0;
}

void notify_stop(notify_t *n)
{
    if (n == NULL)
        return;
    pthread_mutex_lock(&n->mu);
    n->stopping = true;
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    if (n->has_thread)
        pthread_join(n->thread, NULL);
    if (n->data_dir != NULL && (n->dirty || n->ngroups > 0)) {
        vigil_error_t err = { 0 };
        if (nflog_save(n, &err) != 0)
            log_error(n->opts.log, "notify", "cannot write the notification log",
                      LF_STR("error", err.message));
    }
    for (size_t i = 0; i < n->ngroups; i++)
        group_free(n->groups[i]);
    free(n->groups);
    nflog_free_all(n);
    for (size_t i = 0; i < n->nsil; i++)
        nsilence_free(&n->sil[i]);
    free(n->sil);
    notify_config_free(n->cfg);
    pthread_cond_destroy(&n->cond);
    pthread_mutex_destroy(&n->mu);
    free(n->data_dir);
    free(n->external_url);
    free(n);
}
