/*
 * payload.c - what a notification carries: Alertmanager's template.Data (the tree templates
 * see) and the webhook JSON, version 4, with every field in Alertmanager's order:
 *
 *   {"receiver","status","alerts":[{"status","labels","annotations","startsAt","endsAt",
 *    "generatorURL","fingerprint"}],"groupLabels","commonLabels","commonAnnotations",
 *    "externalURL","version":"4","groupKey","truncatedAlerts"}
 *
 * Times are RFC 3339 with the fraction Go's time.Time JSON encoding writes (trailing zeros
 * dropped); an unset time is Go's zero time "0001-01-01T00:00:00Z". Every string is written
 * with buf_put_json_string, Go's encoding/json escaping (<, >, & as \u003c \u003e \u0026,
 * U+2028/9, invalid UTF-8 as \ufffd), so a receiver gets the bytes Alertmanager would send;
 * the webhook receiver ends the document with the newline json.Encoder writes after it.
 */
#include "notify/notify_int.h"

#include <stdbool.h>
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

/* A JSON string member value; NULL is written as "" (Go's zero string). */
static int put_str(buf_t *b, const char *s)
{
    return buf_put_json_string(b, s != NULL ? s : "");
}

/* `"key":` then the string `v`, preceded by a comma unless it is the first member. */
static int put_member(buf_t *b, bool first, const char *key, const char *v)
{
    int rc = first ? 0 : buf_putc(b, ',');
    rc = rc ? rc : put_str(b, key);
    rc = rc ? rc : buf_putc(b, ':');
    return rc ? rc : put_str(b, v);
}

/* A label set as Go's encoding/json writes a map[string]string: keys in byte order (kv is
 * sorted by name; of equal names the last is kept, as the map would). */
static int put_kv(buf_t *b, const notify_kv_t *kv, size_t n)
{
    int rc = buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i + 1 < n && strcmp(kv[i].name, kv[i + 1].name) == 0)
            continue;
        rc = put_member(b, first, kv[i].name, kv[i].value);
        first = false;
    }
    return rc ? rc : buf_putc(b, '}');
}

int npayload_webhook_buf(const nmessage_t *m, int max_alerts, buf_t *out)
{
    size_t n = m->nalerts, truncated = 0;
    if (max_alerts > 0 && n > (size_t)max_alerts) {
        truncated = n - (size_t)max_alerts;
        n = (size_t)max_alerts;
    }
    size_t start_len = out->len;
    int rc = buf_putc(out, '{');
    rc = rc ? rc : put_member(out, true, "receiver", m->receiver);
    rc = rc ? rc : put_member(out, false, "status", m->status);
    rc = rc ? rc : buf_puts(out, ",\"alerts\":[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const nalert_t *a = m->alerts[i];
        char t[64], fp[24];
        rc = i ? buf_putc(out, ',') : 0;
        rc = rc ? rc : buf_putc(out, '{');
        rc = rc ? rc : put_member(out, true, "status", m->resolved[i] ? "resolved" : "firing");
        rc = rc ? rc : buf_puts(out, ",\"labels\":");
        rc = rc ? rc : put_kv(out, a->labels, a->nlabels);
        rc = rc ? rc : buf_puts(out, ",\"annotations\":");
        rc = rc ? rc : put_kv(out, a->annotations, a->nannotations);
        npayload_rfc3339(a->starts_ms, t, sizeof(t));
        rc = rc ? rc : put_member(out, false, "startsAt", t);
        npayload_rfc3339(a->ends_ms, t, sizeof(t));
        rc = rc ? rc : put_member(out, false, "endsAt", t);
        rc = rc ? rc : put_member(out, false, "generatorURL", a->generator_url);
        snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)a->fp);
        rc = rc ? rc : put_member(out, false, "fingerprint", fp);
        rc = rc ? rc : buf_putc(out, '}');
    }
    rc = rc ? rc : buf_puts(out, "],\"groupLabels\":");
    rc = rc ? rc : put_kv(out, m->group_labels, m->ngroup);
    rc = rc ? rc : buf_puts(out, ",\"commonLabels\":");
    rc = rc ? rc : put_kv(out, m->common_labels, m->ncommon);
    rc = rc ? rc : buf_puts(out, ",\"commonAnnotations\":");
    rc = rc ? rc : put_kv(out, m->common_annotations, m->ncommon_ann);
    rc = rc ? rc : put_member(out, false, "externalURL", m->external_url);
    rc = rc ? rc : put_member(out, false, "version", "4");
    rc = rc ? rc : put_member(out, false, "groupKey", m->group_key);
    rc = rc ? rc : buf_printf(out, ",\"truncatedAlerts\":%zu}", truncated);
    if (rc != 0 && out->len > start_len) {
        out->len = start_len;
        out->data[start_len] = '\0';
    }
    return rc;
}

char *npayload_webhook(const nmessage_t *m, int max_alerts)
{
    buf_t b;
    buf_init(&b, NPAYLOAD_MAX_BYTES);
    if (npayload_webhook_buf(m, max_alerts, &b) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}
