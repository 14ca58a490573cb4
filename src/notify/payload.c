/*
 * payload.c - what a notification carries: Alertmanager's template.Data (the tree templates
 * see) and the webhook JSON, version 4, with every field in Alertmanager's order:
 *
 *   {"receiver","status","alerts":[{"status","labels","annotations","startsAt","endsAt",
 *    "generatorURL","fingerprint"}],"groupLabels","commonLabels","commonAnnotations",
 *    "externalURL","version":"4","groupKey","truncatedAlerts"}
 *
 * Times are RFC 3339 with the fraction Go's time.Time JSON encoding writes (trailing zeros
 * dropped); an unset time is Go's zero time "0001-01-01T00:00:00Z".
 */
#include "notify/notify_int.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int npayload_utc(int64_t ms, struct tm *tm)
{
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {  /* before 1970: the fraction counts up from the earlier second */
        frac += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    gmtime_r(&t, tm);
    return (int)frac;
}

void npayload_rfc3339(int64_t ms, char *out, size_t cap)
{
    if (ms == 0) {
        snprintf(out, cap, "0001-01-01T00:00:00Z");
        return;
    }
    struct tm tm;
    int frac = npayload_utc(ms, &tm);
    char f[8] = "";
    if (frac) {
        snprintf(f, sizeof(f), ".%03d", frac);
        for (size_t n = strlen(f); n > 1 && f[n - 1] == '0'; n--)
            f[n - 1] = '\0';
    }
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f);
}

/* Go's time.Time String() in UTC, for templates printing .StartsAt. */
static void go_time_string(int64_t ms, char *out, size_t cap)
{
    if (ms == 0) {
        snprintf(out, cap, "0001-01-01 00:00:00 +0000 UTC");
        return;
    }
    char r[64];
    npayload_rfc3339(ms, r, sizeof(r));
    /* 2006-01-02T15:04:05.999Z -> 2006-01-02 15:04:05.999 +0000 UTC */
    r[10] = ' ';
    r[strlen(r) - 1] = '\0';
    snprintf(out, cap, "%s +0000 UTC", r);
}

static template_value_t *kv_map(const notify_kv_t *kv, size_t n)
{
    template_value_t *m = template_value_map(TEMPLATE_F_LABELS);
    for (size_t i = 0; m != NULL && i < n; i++)
        if (template_map_set_string(m, kv[i].name, kv[i].value) != 0) {
            template_value_free(m);
            return NULL;
        }
    return m;
}

template_value_t *npayload_data(const nmessage_t *m)
{
    template_value_t *d = template_value_map(TEMPLATE_F_STRUCT);
    template_value_t *alerts = template_value_list(TEMPLATE_F_ALERTS);
    int rc = d && alerts ? 0 : VIGIL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < m->nalerts; i++) {
        const nalert_t *a = m->alerts[i];
        template_value_t *x = template_value_map(TEMPLATE_F_STRUCT);
        char t[64], fp[24];
        if (x == NULL) {
            rc = VIGIL_ENOMEM;
            break;
        }
        snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)a->fp);
        rc = template_map_set_string(x, "Status", m->resolved[i] ? "resolved" : "firing");
        if (rc == 0)
            rc = template_map_set(x, "Labels", kv_map(a->labels, a->nlabels));
        if (rc == 0)
            rc = template_map_set(x, "Annotations", kv_map(a->annotations, a->nannotations));
        go_time_string(a->starts_ms, t, sizeof(t));
        if (rc == 0)
            rc = template_map_set_string(x, "StartsAt", t);
        go_time_string(a->ends_ms, t, sizeof(t));
        if (rc == 0)
            rc = template_map_set_string(x, "EndsAt", t);
        if (rc == 0)
            rc = template_map_set_string(x, "GeneratorURL", a->generator_url);
        if (rc == 0)
            rc = template_map_set_string(x, "Fingerprint", fp);
        if (rc == 0)
            rc = template_list_append(alerts, x);
        else
            template_value_free(x);
    }
    if (rc == 0)
        rc = template_map_set_string(d, "Receiver", m->receiver);
    if (rc == 0)
        rc = template_map_set_string(d, "Status", m->status);
    if (rc == 0) {
        rc = template_map_set(d, "Alerts", alerts);
        alerts = NULL;
    }
    if (rc == 0)
        rc = template_map_set(d, "GroupLabels", kv_map(m->group_labels, m->ngroup));
    if (rc == 0)
        rc = template_map_set(d, "CommonLabels", kv_map(m->common_labels, m->ncommon));
    if (rc == 0)
        rc = template_map_set(d, "CommonAnnotations",
                              kv_map(m->common_annotations, m->ncommon_ann));
    if (rc == 0)
        rc = template_map_set_string(d, "ExternalURL", m->external_url ? m->external_url : "");
    template_value_free(alerts);
    if (rc != 0) {
        template_value_free(d);
        return NULL;
    }
    return d;
}

static json_t *kv_json(const notify_kv_t *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < n; i++)
        json_object_set_new(o, kv[i].name, json_string(kv[i].value));
    return o;
}

char *npayload_webhook(const nmessage_t *m, int max_alerts)
{
    json_t *root = json_object(), *alerts = json_array();
    if (root == NULL || alerts == NULL) {
        json_decref(root);
        json_decref(alerts);
        return NULL;
    }
    size_t n = m->nalerts, truncated = 0;
    if (max_alerts > 0 && n > (size_t)max_alerts) {
        truncated = n - (size_t)max_alerts;
        n = (size_t)max_alerts;
    }
    for (size_t i = 0; i < n; i++) {
        const nalert_t *a = m->alerts[i];
        json_t *x = json_object();
        char t[64], fp[24];
        json_object_set_new(x, "status", json_string(m->resolved[i] ? "resolved" : "firing"));
        json_object_set_new(x, "labels", kv_json(a->labels, a->nlabels));
        json_object_set_new(x, "annotations", kv_json(a->annotations, a->nannotations));
        npayload_rfc3339(a->starts_ms, t, sizeof(t));
        json_object_set_new(x, "startsAt", json_string(t));
        npayload_rfc3339(a->ends_ms, t, sizeof(t));
        json_object_set_new(x, "endsAt", json_string(t));
        json_object_set_new(x, "generatorURL", json_string(a->generator_url));
        snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)a->fp);
        json_object_set_new(x, "fingerprint", json_string(fp));
        json_array_append_new(alerts, x);
    }
    json_object_set_new(root, "receiver", json_string(m->receiver));
    json_object_set_new(root, "status", json_string(m->status));
    json_object_set_new(root, "alerts", alerts);
    json_object_set_new(root, "groupLabels", kv_json(m->group_labels, m->ngroup));
    json_object_set_new(root, "commonLabels", kv_json(m->common_labels, m->ncommon));
    json_object_set_new(root, "commonAnnotations",
                        kv_json(m->common_annotations, m->ncommon_ann));
    json_object_set_new(root, "externalURL", json_string(m->external_url ? m->external_url : ""));
    json_object_set_new(root, "version", json_string("4"));
    json_object_set_new(root, "groupKey", json_string(m->group_key));
    json_object_set_new(root, "truncatedAlerts", json_integer((json_int_t)truncated));
    char *s = json_dumps(root, JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(root);
    return s;
}
