/*
 * api.c - the documents of GET /api/v1/rules and GET /api/v1/alerts, field for field as
 * Prometheus' web/api/v1 writes them (RuleGroup, AlertingRule, RecordingRule, Alert):
 * durations and evaluation times in float seconds, times in RFC 3339 with nanoseconds (Go's
 * zero time "0001-01-01T00:00:00Z" when never), alert values as strconv 'e' strings, queries
 * in PromQL's canonical form, and only pending and firing alerts listed.
 */
#include "rules/rules_int.h"
#include "template/template.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Go's encoding/json float64: shortest digits, 'f' form unless |v| < 1e-6 or >= 1e21. */
static int put_json_float(buf_t *b, double v)
{
    if (!isfinite(v))
        return buf_puts(b, "0");   /* Go refuses to encode these; never produced here */
    char s[64];
    double a = fabs(v);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        template_format_float(v, s, sizeof(s));   /* exponent form */
        /* Go's JSON writes e-07 as e-7 */
        char *e = strstr(s, "e-0");
        if (e != NULL)
            memmove(e + 2, e + 3, strlen(e + 3) + 1);
        return buf_puts(b, s);
    }
    int prec = 1;
    char t[40];
    for (; prec <= 17; prec++) {
        snprintf(t, sizeof(t), "%.*e", prec - 1, v);
        if (strtod(t, NULL) == v)
            break;
    }
    int exp = 0;
    char *e = strchr(t, 'e');
    if (e != NULL)
        exp = atoi(e + 1);
    int dec = prec - 1 - exp;
    snprintf(s, sizeof(s), "%.*f", dec > 0 ? dec : 0, v);
    return buf_puts(b, s);
}

/* RFC 3339 with nanoseconds as Go's time.Time marshals to JSON (UTC, trailing zeros cut). */
static int put_time(buf_t *b, int64_t ms)
{
    if (ms == RULES_T_ZERO || ms == 0)
        return buf_puts(b, "\"0001-01-01T00:00:00Z\"");
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    /* The fraction without trailing zeros: strip them from the number, not the text. */
    char f[16] = "";
    if (frac > 0) {
        int digits = 3;
        for (; frac % 10 == 0; frac /= 10)
            digits--;
        snprintf(f, sizeof(f), ".%0*d", digits, frac);
    }
    return buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d%sZ\"", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f);
}

static int put_labels(buf_t *b, promql_labels_t l)
{
    int rc = buf_putc(b, '{');
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        if (i > 0)
            rc = buf_putc(b, ',');
        if (rc == 0)
            rc = buf_put_json_string(b, l.v[i].name);
        if (rc == 0)
            rc = buf_putc(b, ':');
        if (rc == 0)
            rc = buf_put_json_string(b, l.v[i].value);
    }
    return rc ? rc : buf_putc(b, '}');
}

static int put_kvs(buf_t *b, const rules_kv_t *kv, size_t n)
{
    int rc = buf_putc(b, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i > 0)
            rc = buf_putc(b, ',');
        if (rc == 0)
            rc = buf_put_json_string(b, kv[i].name);
        if (rc == 0)
            rc = buf_putc(b, ':');
        if (rc == 0)
            rc = buf_put_json_string(b, kv[i].value);
    }
    return rc ? rc : buf_putc(b, '}');
}

/* strconv.FormatFloat(v, 'e', -1, 64): "1e+00", "2.5e+01", "NaN", "+Inf". */
static int put_value_e(buf_t *b, double v)
{
    if (isnan(v))
        return buf_puts(b, "\"NaN\"");
    if (isinf(v))
        return buf_puts(b, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
    char t[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(t, sizeof(t), "%.*e", prec - 1, v);
        if (strtod(t, NULL) == v)
            break;
    }
    return buf_printf(b, "\"%s\"", t);
}

static int put_alert(buf_t *b, const ralert_t *a)
{
    int rc = buf_puts(b, "{\"labels\":");
    if (rc == 0)
        rc = put_labels(b, rl_view(&a->labels));
    if (rc == 0)
        rc = buf_puts(b, ",\"annotations\":");
    if (rc == 0)
        rc = put_labels(b, rl_view(&a->annotations));
    if (rc == 0)
        rc = buf_printf(b, ",\"state\":\"%s\",\"activeAt\":", rules_alert_state_name(a->state));
    if (rc == 0)
        rc = put_time(b, a->active_at);
    if (rc == 0 && a->keep_firing_since != RULES_T_ZERO) {
        rc = buf_puts(b, ",\"keepFiringSince\":");
        if (rc == 0)
            rc = put_time(b, a->keep_firing_since);
    }
    if (rc == 0)
        rc = buf_puts(b, ",\"value\":");
    if (rc == 0)
        rc = put_value_e(b, a->value);
    return rc ? rc : buf_putc(b, '}');
}

static const char *health_name(rule_health_t h)
{
    return h == HEALTH_GOOD ? "ok" : h == HEALTH_BAD ? "err" : "unknown";
}

/* The rule's query as Prometheus prints it (the parsed expression's String()). */
static int put_query(buf_t *b, const char *expr)
{
    buf_t q;
    buf_init(&q, 1 << 20);
    int rc = promql_format(expr, false, &q, NULL) == 0 ? buf_put_json_string(b, q.data)
                                                       : buf_put_json_string(b, expr);
    buf_free(&q);
    return rc;
}

static int put_rule(buf_t *b, const rrule_t *r)
{
    const rules_rule_t *d = r->def;
    int rc = 0;
    if (d->alert) {
        alert_state_t st = ALERT_INACTIVE;
        for (size_t i = 0; i < r->n_active; i++)
            if (r->active[i]->state > st)
                st = r->active[i]->state;
        rc = buf_printf(b, "{\"state\":\"%s\",\"name\":", rules_alert_state_name(st));
        if (rc == 0)
            rc = buf_put_json_string(b, d->name);
        if (rc == 0)
            rc = buf_puts(b, ",\"query\":");
        if (rc == 0)
            rc = put_query(b, d->expr);
        if (rc == 0)
            rc = buf_puts(b, ",\"duration\":");
        if (rc == 0)
            rc = put_json_float(b, (double)d->for_ms / 1000);
        if (rc == 0)
            rc = buf_puts(b, ",\"keepFiringFor\":");
        if (rc == 0)
            rc = put_json_float(b, (double)d->keep_firing_for_ms / 1000);
        if (rc == 0)
            rc = buf_puts(b, ",\"labels\":");
        if (rc == 0)
            rc = put_kvs(b, d->labels, d->n_labels);
        if (rc == 0)
            rc = buf_puts(b, ",\"annotations\":");
        if (rc == 0)
            rc = put_kvs(b, d->annotations, d->n_annotations);
        if (rc == 0)
            rc = buf_puts(b, ",\"alerts\":[");
        bool first = true;
        for (size_t i = 0; rc == 0 && i < r->n_active; i++) {
            if (r->active[i]->state == ALERT_INACTIVE)
                continue;
            if (!first)
                rc = buf_putc(b, ',');
            first = false;
            if (rc == 0)
                rc = put_alert(b, r->active[i]);
        }
        if (rc == 0)
            rc = buf_putc(b, ']');
    } else {
        rc = buf_puts(b, "{\"name\":");
        if (rc == 0)
            rc = buf_put_json_string(b, d->name);
        if (rc == 0)
            rc = buf_puts(b, ",\"query\":");
        if (rc == 0)
            rc = put_query(b, d->expr);
        if (rc == 0 && d->n_labels > 0) {
            rc = buf_puts(b, ",\"labels\":");
            if (rc == 0)
                rc = put_kvs(b, d->labels, d->n_labels);
        }
    }
    if (rc == 0)
        rc = buf_printf(b, ",\"health\":\"%s\"", health_name(r->health));
    if (rc == 0 && r->last_error != NULL) {
        rc = buf_puts(b, ",\"lastError\":");
        if (rc == 0)
            rc = buf_put_json_string(b, r->last_error);
    }
    if (rc == 0)
        rc = buf_puts(b, ",\"evaluationTime\":");
    if (rc == 0)
        rc = put_json_float(b, r->eval_seconds);
    if (rc == 0)
        rc = buf_puts(b, ",\"lastEvaluation\":");
    if (rc == 0)
        rc = put_time(b, r->last_eval_ms);
    if (rc == 0)
        rc = buf_printf(b, ",\"type\":\"%s\"}", d->alert ? "alerting" : "recording");
    return rc;
}

int rules_api_rules_json(rules_manager_t *m, const char *type, buf_t *out)
{
    bool want_alert = type == NULL || strcmp(type, "alert") == 0;
    bool want_record = type == NULL || strcmp(type, "record") == 0;
    rules_manager_lock(m);
    size_t n;
    rgroup_t **gs = rules_manager_groups(m, &n);
    int rc = buf_puts(out, "{\"status\":\"success\",\"data\":{\"groups\":[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rgroup_t *g = gs[i];
        pthread_mutex_lock(&g->mu);
        if (i > 0)
            rc = buf_putc(out, ',');
        if (rc == 0)
            rc = buf_puts(out, "{\"name\":");
        if (rc == 0)
            rc = buf_put_json_string(out, g->def->name);
        if (rc == 0)
            rc = buf_puts(out, ",\"file\":");
        if (rc == 0)
            rc = buf_put_json_string(out, g->def->file);
        if (rc == 0)
            rc = buf_puts(out, ",\"rules\":[");
        bool first = true;
        for (size_t j = 0; rc == 0 && j < g->n_rules; j++) {
            const rrule_t *r = &g->rules[j];
            if ((r->def->alert && !want_alert) || (!r->def->alert && !want_record))
                continue;
            if (!first)
                rc = buf_putc(out, ',');
            first = false;
            if (rc == 0)
                rc = put_rule(out, r);
        }
        if (rc == 0)
            rc = buf_puts(out, "],\"interval\":");
        if (rc == 0)
            rc = put_json_float(out, (double)g->interval_ms / 1000);
        if (rc == 0)
            rc = buf_printf(out, ",\"limit\":%d,\"evaluationTime\":", g->def->limit);
        if (rc == 0)
            rc = put_json_float(out, g->last_duration_s);
        if (rc == 0)
            rc = buf_puts(out, ",\"lastEvaluation\":");
        if (rc == 0)
            rc = put_time(out, g->last_eval_ms);
        if (rc == 0)
            rc = buf_putc(out, '}');
        pthread_mutex_unlock(&g->mu);
    }
    if (rc == 0)
        rc = buf_puts(out, "]}}");
    rules_manager_unlock(m);
    return rc;
}

int rules_api_alerts_json(rules_manager_t *m, buf_t *out)
{
    rules_manager_lock(m);
    size_t n;
    rgroup_t **gs = rules_manager_groups(m, &n);
    int rc = buf_puts(out, "{\"status\":\"success\",\"data\":{\"alerts\":[");
    bool first = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rgroup_t *g = gs[i];
        pthread_mutex_lock(&g->mu);
        for (size_t j = 0; rc == 0 && j < g->n_rules; j++)
            for (size_t k = 0; rc == 0 && k < g->rules[j].n_active; k++) {
                const ralert_t *a = g->rules[j].active[k];
                if (a->state == ALERT_INACTIVE)
                    continue;
                if (!first)
                    rc = buf_putc(out, ',');
                first = false;
                if (rc == 0)
                    rc = put_alert(out, a);
            }
        pthread_mutex_unlock(&g->mu);
    }
    if (rc == 0)
        rc = buf_puts(out, "]}}");
    rules_manager_unlock(m);
    return rc;
}
