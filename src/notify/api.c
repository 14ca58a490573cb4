/*
 * api.c - the notifier's part of Alertmanager's HTTP API v2 (the agent serves it, see
 * docs/notify.md): the silence documents, creating a silence from a PostableSilence, the
 * alert list and the alert counts of the agent's gauges. Only JSON in and out; the HTTP side is
 * the agent's route table.
 *
 * Shapes (Alertmanager 0.25's OpenAPI models, times as strfmt.DateTime writes them, always
 * with milliseconds):
 *
 *   GettableSilence  {"id","status":{"state"},"updatedAt","comment","createdBy","endsAt",
 *                     "matchers":[{"name","value","isRegex","isEqual"}],"startsAt"}
 *   PostableSilence  the same without status/updatedAt; "id" names a silence it replaces
 *   GettableAlert    {"labels","annotations","startsAt","endsAt","updatedAt","generatorURL",
 *                     "fingerprint","receivers":[{"name"}],
 *                     "status":{"state","silencedBy":[],"inhibitedBy":[]}}
 */
#include "notify/notify_int.h"

#include <jansson.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* strfmt.DateTime: "2006-01-02T15:04:05.000Z". */
static int put_time(buf_t *b, int64_t ms)
{
    struct tm tm;
    int frac = npayload_utc(ms, &tm);
    return buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int put_kv_map(buf_t *b, const notify_kv_t *kv, size_t n)
{
    int rc = buf_putc(b, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = buf_putc(b, ',');
        rc = rc ? rc : buf_put_json_string(b, kv[i].name);
        rc = rc ? rc : buf_putc(b, ':');
        rc = rc ? rc : buf_put_json_string(b, kv[i].value);
    }
    return rc ? rc : buf_putc(b, '}');
}

/* ---- silences ------------------------------------------------------------------------------ */

static const char *silence_state(const nsilence_t *s, int64_t now)
{
    return now < s->starts_ms ? "pending" : now < s->ends_ms ? "active" : "expired";
}

/* One GettableSilence. Caller holds the lock. */
static int put_silence(buf_t *b, const nsilence_t *s, int64_t now)
{
    int rc = buf_puts(b, "{\"id\":");
    rc = rc ? rc : buf_put_json_string(b, s->id);
    rc = rc ? rc : buf_printf(b, ",\"status\":{\"state\":\"%s\"},\"updatedAt\":",
                              silence_state(s, now));
    rc = rc ? rc : put_time(b, s->updated_ms);
    rc = rc ? rc : buf_puts(b, ",\"comment\":");
    rc = rc ? rc : buf_put_json_string(b, s->comment);
    rc = rc ? rc : buf_puts(b, ",\"createdBy\":");
    rc = rc ? rc : buf_put_json_string(b, s->created_by);
    rc = rc ? rc : buf_puts(b, ",\"endsAt\":");
    rc = rc ? rc : put_time(b, s->ends_ms);
    rc = rc ? rc : buf_puts(b, ",\"matchers\":[");
    for (size_t i = 0; rc == 0 && i < s->matchers.n; i++) {
        const nmatcher_t *m = &s->matchers.m[i];
        rc = buf_puts(b, i > 0 ? ",{\"name\":" : "{\"name\":");
        rc = rc ? rc : buf_put_json_string(b, m->name);
        rc = rc ? rc : buf_puts(b, ",\"value\":");
        rc = rc ? rc : buf_put_json_string(b, m->value);
        rc = rc ? rc : buf_printf(b, ",\"isRegex\":%s,\"isEqual\":%s}",
                                  m->op == NM_RE || m->op == NM_NRE ? "true" : "false",
                                  m->op == NM_EQ || m->op == NM_RE ? "true" : "false");
    }
    rc = rc ? rc : buf_puts(b, "],\"startsAt\":");
    rc = rc ? rc : put_time(b, s->starts_ms);
    return rc ? rc : buf_putc(b, '}');
}

int notify_api_silences_json(notify_t *n, buf_t *out)
{
    pthread_mutex_lock(&n->mu);
    int64_t now = notify_now(n);
    int rc = buf_putc(out, '[');
    for (size_t i = 0; rc == 0 && i < n->nsil; i++) {
        if (i > 0)
            rc = buf_putc(out, ',');
        rc = rc ? rc : put_silence(out, &n->sil[i], now);
    }
    pthread_mutex_unlock(&n->mu);
    return rc ? rc : buf_putc(out, ']');
}

int notify_api_silence_json(notify_t *n, const char *id, buf_t *out)
{
    int rc = VIGIL_ENOENT;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->nsil; i++)
        if (strcmp(n->sil[i].id, id) == 0) {
            rc = put_silence(out, &n->sil[i], notify_now(n));
            break;
        }
    pthread_mutex_unlock(&n->mu);
    return rc;
}

/* Parses strfmt.DateTime's input forms: RFC 3339 with an optional fraction and Z or an
 * offset. 0 on success. */
static int parse_time(const char *s, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
               isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
               isdigit((unsigned char)p[5])) {
        offset = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
        if (*p == '-')
            offset = -offset;
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *ms = ((int64_t)timegm(&tm) - offset) * 1000 + frac;
    return 0;
}

/* Appends `v` double-quoted in the matcher syntax nm_parse reads. */
static int put_matcher_value(buf_t *b, const char *v)
{
    int rc = buf_putc(b, '"');
    for (; rc == 0 && *v; v++)
        rc = *v == '"' || *v == '\\' ? buf_printf(b, "\\%c", *v)
           : *v == '\n'              ? buf_puts(b, "\\n")
                                     : buf_putc(b, *v);
    return rc ? rc : buf_putc(b, '"');
}

/* The matcher list of a PostableSilence as matcher text ("a=\"b\", c=~\"d\""). */
static int matchers_text(json_t *arr, buf_t *out, vigil_error_t *err)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return vigil_error_set(err, VIGIL_EINVAL, "matchers: want a non-empty array");
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m) {
        json_t *name = json_object_get(m, "name"), *value = json_object_get(m, "value");
        json_t *re = json_object_get(m, "isRegex"), *eq = json_object_get(m, "isEqual");
        if (!json_is_object(m))
            return vigil_error_set(err, VIGIL_EINVAL, "matchers[%zu]: want an object", i);
        if (!json_is_string(name) || !nm_valid_label_name(json_string_value(name)))
            return vigil_error_set(err, VIGIL_EINVAL,
                                   "matchers[%zu].name: want a label name ([a-zA-Z_][a-zA-Z0-9_]*)",
                                   i);
        if (!json_is_string(value))
            return vigil_error_set(err, VIGIL_EINVAL, "matchers[%zu].value: want a string", i);
        if (!json_is_boolean(re))
            return vigil_error_set(err, VIGIL_EINVAL, "matchers[%zu].isRegex: want true or false",
                                   i);
        if (eq != NULL && !json_is_boolean(eq))
            return vigil_error_set(err, VIGIL_EINVAL, "matchers[%zu].isEqual: want true or false",
                                   i);
        bool regex = json_is_true(re), equal = eq == NULL || json_is_true(eq);
        const char *op = regex ? (equal ? "=~" : "!~") : (equal ? "=" : "!=");
        int rc = i > 0 ? buf_puts(out, ", ") : 0;
        rc = rc ? rc : buf_printf(out, "%s%s", json_string_value(name), op);
        rc = rc ? rc : put_matcher_value(out, json_string_value(value));
        if (rc != 0)
            return vigil_error_set(err, rc, "matchers: %s", vigil_strerror(rc));
    }
    return 0;
}

static int required_string(json_t *doc, const char *field, const char **out, vigil_error_t *err)
{
    json_t *v = json_object_get(doc, field);
    if (!json_is_string(v))
        return vigil_error_set(err, VIGIL_EINVAL, "%s: want a string (required)", field);
    *out = json_string_value(v);
    return 0;
}

static int required_time(json_t *doc, const char *field, int64_t *ms, vigil_error_t *err)
{
    const char *s = NULL;
    int rc = required_string(doc, field, &s, err);
    if (rc == 0 && parse_time(s, ms) != 0)
        rc = vigil_error_set(err, VIGIL_EINVAL,
                             "%s: want an RFC 3339 time (2006-01-02T15:04:05.000Z), got \"%s\"",
                             field, s);
    return rc;
}

int notify_api_silence_post(notify_t *n, const char *body, size_t len, char id_out[40],
                            vigil_error_t *err)
{
    json_error_t je;
    json_t *doc = json_loadb(body, len, 0, &je);
    if (doc == NULL)
        return vigil_error_set(err, VIGIL_EPARSE, "body:%d:%d: %s", je.line, je.column, je.text);
    buf_t text;
    buf_init(&text, 1u << 20);
    notify_silence_t s;
    memset(&s, 0, sizeof(s));
    const char *replaces = NULL;
    json_t *idv = json_object_get(doc, "id");
    int rc = json_is_object(doc) ? 0
                                 : vigil_error_set(err, VIGIL_EINVAL, "body: want a JSON object");
    if (rc == 0 && idv != NULL && !json_is_string(idv))
        rc = vigil_error_set(err, VIGIL_EINVAL, "id: want a string");
    if (rc == 0 && idv != NULL && json_string_length(idv) > 0)
        replaces = json_string_value(idv);
    rc = rc ? rc : matchers_text(json_object_get(doc, "matchers"), &text, err);
    rc = rc ? rc : required_time(doc, "startsAt", &s.starts_at_ms, err);
    rc = rc ? rc : required_time(doc, "endsAt", &s.ends_at_ms, err);
    rc = rc ? rc : required_string(doc, "createdBy", &s.created_by, err);
    rc = rc ? rc : required_string(doc, "comment", &s.comment, err);
    if (rc == 0) {
        /* Alertmanager starts a silence whose start is in the past now. */
        int64_t now = notify_now(n);
        if (s.starts_at_ms < now)
            s.starts_at_ms = now;
        s.matchers = text.data;
    }
    /* Replacing: the old silence is expired once the new one exists, so a bad document
     * leaves it in force. */
    if (rc == 0 && replaces != NULL) {
        pthread_mutex_lock(&n->mu);
        bool known = false;
        for (size_t i = 0; i < n->nsil && !known; i++)
            known = strcmp(n->sil[i].id, replaces) == 0;
        pthread_mutex_unlock(&n->mu);
        if (!known)
            rc = vigil_error_set(err, VIGIL_ENOENT, "silence %s not found", replaces);
    }
    rc = rc ? rc : notify_silence_add(n, &s, err);
    if (rc == 0 && replaces != NULL)
        notify_silence_expire(n, replaces);  /* 0 also when it had expired already */
    if (rc == 0)
        snprintf(id_out, 40, "%s", s.id);
    buf_free(&text);
    json_decref(doc);
    return rc;
}

/* ---- alerts -------------------------------------------------------------------------------- */

static int cmp_fp(const void *x, const void *y)
{
    uint64_t a = (*(const nalert_t *const *)x)->fp, b = (*(const nalert_t *const *)y)->fp;
    return a < b ? -1 : a > b;
}

/* An alert is in one group per matching route: sorting by fingerprint dedupes them in
 * O(n log n), which matters for the scrape-time gauges. */
int nalert_unique(const notify_t *n, int64_t now, bool resolved, const nalert_t ***out,
                  size_t *count)
{
    const nalert_t **v = malloc((n->nalerts_total ? n->nalerts_total : 1) * sizeof(*v));
    size_t k = 0;
    if (v == NULL)
        return VIGIL_ENOMEM;
    for (size_t g = 0; g < n->ngroups; g++)
        for (size_t i = 0; i < n->groups[g]->n && k < n->nalerts_total; i++)
            if (resolved || n->groups[g]->alerts[i]->ends_ms > now)
                v[k++] = n->groups[g]->alerts[i];
    qsort(v, k, sizeof(*v), cmp_fp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || v[u - 1]->fp != v[i]->fp)
            v[u++] = v[i];
    *out = v;
    *count = u;
    return 0;
}

static bool muted(const notify_t *n, const nalert_t *a, int64_t now)
{
    return nmute_inhibited(n, a, now) || nmute_silenced(n, a->labels, a->nlabels, now);
}

void notify_alert_counts(notify_t *n, size_t *active, size_t *suppressed)
{
    *active = *suppressed = 0;
    pthread_mutex_lock(&n->mu);
    int64_t now = notify_now(n);
    const nalert_t **v;
    size_t k;
    if (nalert_unique(n, now, false, &v, &k) == 0) {
        for (size_t i = 0; i < k; i++)
            (*(muted(n, v[i], now) ? suppressed : active))++;
        free(v);
    }
    pthread_mutex_unlock(&n->mu);
}

/* Appends the ids of the active silences muting `a`, as a JSON array. Caller holds the lock. */
static int put_silenced_by(buf_t *b, const notify_t *n, const nalert_t *a, int64_t now)
{
    int rc = buf_putc(b, '[');
    bool first = true;
    for (size_t i = 0; rc == 0 && i < n->nsil; i++) {
        const nsilence_t *s = &n->sil[i];
        if (!(s->starts_ms <= now && now < s->ends_ms &&
              nm_matches(&s->matchers, a->labels, a->nlabels)))
            continue;
        rc = first ? 0 : buf_putc(b, ',');
        rc = rc ? rc : buf_put_json_string(b, s->id);
        first = false;
    }
    return rc ? rc : buf_putc(b, ']');
}

/* Appends [{"name":R},...] for every receiver whose groups hold fingerprint `fp`, each once.
 * Caller holds the lock. */
static int put_receivers(buf_t *b, const notify_t *n, uint64_t fp)
{
    int rc = buf_putc(b, '[');
    size_t nr = n->cfg->nreceivers, listed = 0;
    bool *seen = calloc(nr ? nr : 1, sizeof(*seen));
    if (seen == NULL)
        return VIGIL_ENOMEM;
    for (size_t g = 0; rc == 0 && g < n->ngroups; g++) {
        const ngroup_t *grp = n->groups[g];
        size_t r = grp->route->receiver_idx;
        bool has = false;
        for (size_t i = 0; i < grp->n && !has; i++)
            has = grp->alerts[i]->fp == fp;
        if (!has || seen[r])
            continue;
        seen[r] = true;
        rc = buf_puts(b, listed++ > 0 ? ",{\"name\":" : "{\"name\":");
        rc = rc ? rc : buf_put_json_string(b, n->cfg->receivers[r].name);
        rc = rc ? rc : buf_putc(b, '}');
    }
    free(seen);
    return rc ? rc : buf_putc(b, ']');
}

/* Collects the fingerprints of the alerts inhibiting one alert (an inhibitor held in several
 * groups is reported once per group: deduplicated before printing). */
typedef struct fp_list {
    uint64_t *fp;
    size_t    n, cap;
    bool      oom;
} fp_list_t;

static void collect_fp(void *ctx, const nalert_t *source)
{
    fp_list_t *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        uint64_t *grown = realloc(l->fp, cap * sizeof(*grown));
        if (grown == NULL) {
            l->oom = true;
            return;
        }
        l->fp = grown;
        l->cap = cap;
    }
    l->fp[l->n++] = source->fp;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* One alert with what mutes it, worked out once for the filter and the document. */
typedef struct alert_view {
    const nalert_t *a;
    bool            silenced;
    fp_list_t       inhibitors;   /* sorted, unique */
} alert_view_t;

static int view_alert(alert_view_t *v, const notify_t *n, const nalert_t *a, int64_t now)
{
    memset(v, 0, sizeof(*v));
    v->a = a;
    v->silenced = nmute_silenced(n, a->labels, a->nlabels, now);
    nmute_inhibitors(n, a, now, collect_fp, &v->inhibitors);
    if (v->inhibitors.oom) {
        free(v->inhibitors.fp);
        return VIGIL_ENOMEM;
    }
    fp_list_t *l = &v->inhibitors;
    if (l->n > 1)
        qsort(l->fp, l->n, sizeof(*l->fp), cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < l->n; i++)
        if (u == 0 || l->fp[u - 1] != l->fp[i])
            l->fp[u++] = l->fp[i];
    l->n = u;
    return 0;
}

static int put_alert(buf_t *b, const notify_t *n, const alert_view_t *v, int64_t now)
{
    const nalert_t *a = v->a;
    int rc = buf_puts(b, "{\"labels\":");
    rc = rc ? rc : put_kv_map(b, a->labels, a->nlabels);
    rc = rc ? rc : buf_puts(b, ",\"annotations\":");
    rc = rc ? rc : put_kv_map(b, a->annotations, a->nannotations);
    rc = rc ? rc : buf_puts(b, ",\"startsAt\":");
    rc = rc ? rc : put_time(b, a->starts_ms);
    rc = rc ? rc : buf_puts(b, ",\"endsAt\":");
    rc = rc ? rc : put_time(b, a->ends_ms);
    rc = rc ? rc : buf_puts(b, ",\"updatedAt\":");
    rc = rc ? rc : put_time(b, a->updated_ms);
    rc = rc ? rc : buf_puts(b, ",\"generatorURL\":");
    rc = rc ? rc : buf_put_json_string(b, a->generator_url);
    rc = rc ? rc : buf_printf(b, ",\"fingerprint\":\"%016llx\",\"receivers\":",
                              (unsigned long long)a->fp);
    rc = rc ? rc : put_receivers(b, n, a->fp);
    rc = rc ? rc : buf_printf(b, ",\"status\":{\"state\":\"%s\",\"silencedBy\":",
                              v->silenced || v->inhibitors.n > 0 ? "suppressed" : "active");
    rc = rc ? rc : put_silenced_by(b, n, a, now);
    rc = rc ? rc : buf_puts(b, ",\"inhibitedBy\":[");
    for (size_t i = 0; rc == 0 && i < v->inhibitors.n; i++)
        rc = buf_printf(b, "%s\"%016llx\"", i > 0 ? "," : "",
                        (unsigned long long)v->inhibitors.fp[i]);
    return rc ? rc : buf_puts(b, "]}}");
}

/* True when one of the receivers whose groups hold `fp` matches `re`. Caller holds the lock. */
static bool routed_to(const notify_t *n, uint64_t fp, const re2posix_t *re)
{
    for (size_t g = 0; g < n->ngroups; g++) {
        const ngroup_t *grp = n->groups[g];
        bool has = false;
        for (size_t i = 0; i < grp->n && !has; i++)
            has = grp->alerts[i]->fp == fp;
        if (has && re2posix_matches(re, n->cfg->receivers[grp->route->receiver_idx].name))
            return true;
    }
    return false;
}

static bool wanted(const notify_t *n, const notify_alert_filter_t *f, const nmatchers_t *ms,
                   const re2posix_t *receiver, const alert_view_t *v)
{
    bool inhibited = v->inhibitors.n > 0;
    if (!f->active && !v->silenced && !inhibited)
        return false;
    if (!f->silenced && v->silenced)
        return false;
    if (!f->inhibited && inhibited)
        return false;
    if (!nm_matches(ms, v->a->labels, v->a->nlabels))
        return false;
    return receiver == NULL || routed_to(n, v->a->fp, receiver);
}

int notify_api_alerts_json(notify_t *n, const notify_alert_filter_t *f, buf_t *out,
                           vigil_error_t *err)
{
    nmatchers_t ms = { 0 };
    char why[256];
    for (size_t i = 0; i < f->nmatchers; i++)
        if (nm_parse(&ms, f->matchers[i], why, sizeof(why)) != 0) {
            nm_free(&ms);
            return vigil_error_set(err, VIGIL_EPARSE, "filter %s: %s", f->matchers[i], why);
        }
    re2posix_t receiver_re = { 0 };
    bool by_receiver = f->receiver != NULL && f->receiver[0] != '\0';
    if (by_receiver) {
        vigil_error_t rerr;
        int rc = re2posix_compile(&receiver_re, f->receiver, RE2POSIX_ANCHORED | RE2POSIX_NOSUB,
                                  &rerr);
        if (rc != 0) {
            nm_free(&ms);
            return vigil_error_set(err, VIGIL_EPARSE, "receiver %s: %s", f->receiver,
                                   rerr.message);
        }
    }
    pthread_mutex_lock(&n->mu);
    int64_t now = notify_now(n);
    const nalert_t **v = NULL;
    size_t k = 0;
    int rc = nalert_unique(n, now, false, &v, &k);
    rc = rc ? rc : buf_putc(out, '[');
    bool first = true;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        alert_view_t view;
        if ((rc = view_alert(&view, n, v[i], now)) != 0)
            break;
        if (wanted(n, f, &ms, by_receiver ? &receiver_re : NULL, &view)) {
            rc = first ? 0 : buf_putc(out, ',');
            rc = rc ? rc : put_alert(out, n, &view, now);
            first = false;
        }
        free(view.inhibitors.fp);
    }
    free(v);
    pthread_mutex_unlock(&n->mu);
    nm_free(&ms);
    re2posix_free(&receiver_re);
    return rc ? rc : buf_putc(out, ']');
}
