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

/*
 * Every writer below takes `lead`, the punctuation and key that stand before its value in the
 * document (",\"query\":"), so that one call writes one member; each returns 0 or the buf_t
 * error of the first append that failed.
 */

/* The fewest %e digits of v that read back as v (strconv's precision -1) into t; returns how
 * many digits that is (18 if none of 1..17 round-trips, which a finite double never does). */
static int shortest_e(double v, char *t, size_t cap)
{
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(t, cap, "%.*e", prec - 1, v);
        if (strtod(t, NULL) == v)
            break;
    }
    return prec;
}

/* Go's encoding/json float64: shortest digits, 'f' form unless |v| < 1e-6 or >= 1e21. */
static int put_json_float(buf_t *b, const char *lead, double v)
{
    if (!isfinite(v))
        return buf_printf(b, "%s0", lead);   /* Go refuses to encode these; never produced here */
    char s[64];
    double a = fabs(v);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        template_format_float(v, s, sizeof(s));   /* exponent form */
        /* Go's JSON writes e-07 as e-7 */
        char *e = strstr(s, "e-0");
        if (e != NULL)
            memmove(e + 2, e + 3, strlen(e + 3) + 1);
        return buf_printf(b, "%s%s", lead, s);
    }
    char t[40];
    int prec = shortest_e(v, t, sizeof(t));
    int exp = 0;
    char *e = strchr(t, 'e');
    if (e != NULL)
        exp = atoi(e + 1);
    int dec = prec - 1 - exp;
    snprintf(s, sizeof(s), "%.*f", dec > 0 ? dec : 0, v);
    return buf_printf(b, "%s%s", lead, s);
}

/* RFC 3339 with nanoseconds as Go's time.Time marshals to JSON (UTC, trailing zeros cut). */
static int put_time(buf_t *b, const char *lead, int64_t ms)
{
    if (ms == RULES_T_ZERO || ms == 0)
        return buf_printf(b, "%s\"0001-01-01T00:00:00Z\"", lead);
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
    return buf_printf(b, "%s\"%04d-%02d-%02dT%02d:%02d:%02d%sZ\"", lead, tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, f);
}

static int put_string(buf_t *b, const char *lead, const char *s)
{
    int rc = buf_puts(b, lead);
    return rc ? rc : buf_put_json_string(b, s);
}

/* `"name":"value"`, one member of a JSON object of strings, after a comma unless first. */
static int put_pair(buf_t *b, bool first, const char *name, const char *value)
{
    int rc = put_string(b, first ? "" : ",", name);
    return rc ? rc : put_string(b, ":", value);
}

/* Labels (a label set) and rules_kv_t arrays (a rule's own labels and annotations) are both
 * written as Go's map[string]string: one object, members in the given order. */
static int put_labels(buf_t *b, const char *lead, promql_labels_t l)
{
    int rc = buf_printf(b, "%s{", lead);
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        rc = put_pair(b, i == 0, l.v[i].name, l.v[i].value);
    return rc ? rc : buf_putc(b, '}');
}

static int put_kvs(buf_t *b, const char *lead, const rules_kv_t *kv, size_t n)
{
    int rc = buf_printf(b, "%s{", lead);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = put_pair(b, i == 0, kv[i].name, kv[i].value);
    return rc ? rc : buf_putc(b, '}');
}

/* strconv.FormatFloat(v, 'e', -1, 64): "1e+00", "2.5e+01", "NaN", "+Inf". */
static int put_value_e(buf_t *b, const char *lead, double v)
{
    if (isnan(v))
        return buf_printf(b, "%s\"NaN\"", lead);
    if (isinf(v))
        return buf_printf(b, "%s%s", lead, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
    char t[40];
    shortest_e(v, t, sizeof(t));
    return buf_printf(b, "%s\"%s\"", lead, t);
}

/* The rule's query as Prometheus prints it (the parsed expression's String()). */
static int put_query(buf_t *b, const char *lead, const char *expr)
{
    buf_t q;
    buf_init(&q, 1 << 20);
    int rc = put_string(b, lead, promql_format(expr, false, &q, NULL) == 0 ? q.data : expr);
    buf_free(&q);
    return rc;
}

/* The comma before every element of a JSON array but the first. */
static int put_sep(buf_t *b, bool *first)
{
    bool was_first = *first;
    *first = false;
    return was_first ? 0 : buf_putc(b, ',');
}

static int put_alert(buf_t *b, const ralert_t *a)
{
    int rc = put_labels(b, "{\"labels\":", rl_view(&a->labels));
    rc = rc ? rc : put_labels(b, ",\"annotations\":", rl_view(&a->annotations));
    rc = rc ? rc : buf_printf(b, ",\"state\":\"%s\"", rules_alert_state_name(a->state));
    rc = rc ? rc : put_time(b, ",\"activeAt\":", a->active_at);
    if (a->keep_firing_since != RULES_T_ZERO)
        rc = rc ? rc : put_time(b, ",\"keepFiringSince\":", a->keep_firing_since);
    rc = rc ? rc : put_value_e(b, ",\"value\":", a->value);
    return rc ? rc : buf_putc(b, '}');
}

/* The alerts of r that the API lists (pending and firing), as elements of an array that
 * *first says is still empty: /api/v1/rules lists one rule's, /api/v1/alerts all rules'. */
static int put_listed_alerts(buf_t *b, const rrule_t *r, bool *first)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->n_active; i++) {
        if (r->active[i]->state == ALERT_INACTIVE)
            continue;
        rc = put_sep(b, first);
        rc = rc ? rc : put_alert(b, r->active[i]);
    }
    return rc;
}

/* Rules and groups alike end their members with how long the last evaluation took and when
 * it ran. */
static int put_evaluation(buf_t *b, double seconds, int64_t last_ms)
{
    int rc = put_json_float(b, ",\"evaluationTime\":", seconds);
    return rc ? rc : put_time(b, ",\"lastEvaluation\":", last_ms);
}

static const char *health_name(rule_health_t h)
{
    return h == HEALTH_GOOD ? "ok" : h == HEALTH_BAD ? "err" : "unknown";
}

static int put_rule(buf_t *b, const rrule_t *r)
{
    const rules_rule_t *d = r->def;
    int rc;
    if (d->alert) {
        alert_state_t st = ALERT_INACTIVE;
        for (size_t i = 0; i < r->n_active; i++)
            if (r->active[i]->state > st)
                st = r->active[i]->state;
        rc = buf_printf(b, "{\"state\":\"%s\",", rules_alert_state_name(st));
    } else {
        rc = buf_putc(b, '{');
    }
    rc = rc ? rc : put_string(b, "\"name\":", d->name);
    rc = rc ? rc : put_query(b, ",\"query\":", d->expr);
    if (d->alert) {
        bool first = true;
        rc = rc ? rc : put_json_float(b, ",\"duration\":", (double)d->for_ms / 1000);
        rc = rc ? rc : put_json_float(b, ",\"keepFiringFor\":",
                                      (double)d->keep_firing_for_ms / 1000);
        rc = rc ? rc : put_kvs(b, ",\"labels\":", d->labels, d->n_labels);
        rc = rc ? rc : put_kvs(b, ",\"annotations\":", d->annotations, d->n_annotations);
        rc = rc ? rc : buf_puts(b, ",\"alerts\":[");
        rc = rc ? rc : put_listed_alerts(b, r, &first);
        rc = rc ? rc : buf_putc(b, ']');
    } else if (d->n_labels > 0) {
        /* Prometheus omits a recording rule's empty labels, never an alerting rule's */
        rc = rc ? rc : put_kvs(b, ",\"labels\":", d->labels, d->n_labels);
    }
    rc = rc ? rc : buf_printf(b, ",\"health\":\"%s\"", health_name(r->health));
    if (r->last_error != NULL)
        rc = rc ? rc : put_string(b, ",\"lastError\":", r->last_error);
    rc = rc ? rc : put_evaluation(b, r->eval_seconds, r->last_eval_ms);
    return rc ? rc : buf_printf(b, ",\"type\":\"%s\"}", d->alert ? "alerting" : "recording");
}

int rules_api_rules_json(rules_manager_t *m, const char *type, buf_t *out)
{
    bool want_alert = type == NULL || strcmp(type, "alert") == 0;
    bool want_record = type == NULL || strcmp(type, "record") == 0;
    rules_manager_lock(m);
    size_t n;
    rgroup_t **gs = rules_manager_groups(m, &n);
    int rc = buf_puts(out, "{\"status\":\"success\",\"data\":{\"groups\":[");
    bool first_group = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rgroup_t *g = gs[i];
        pthread_mutex_lock(&g->mu);
        rc = put_sep(out, &first_group);
        rc = rc ? rc : put_string(out, "{\"name\":", g->def->name);
        rc = rc ? rc : put_string(out, ",\"file\":", g->def->file);
        rc = rc ? rc : buf_puts(out, ",\"rules\":[");
        bool first = true;
        for (size_t j = 0; rc == 0 && j < g->n_rules; j++) {
            const rrule_t *r = &g->rules[j];
            if ((r->def->alert && !want_alert) || (!r->def->alert && !want_record))
                continue;
            rc = put_sep(out, &first);
            rc = rc ? rc : put_rule(out, r);
        }
        rc = rc ? rc : put_json_float(out, "],\"interval\":", (double)g->interval_ms / 1000);
        rc = rc ? rc : buf_printf(out, ",\"limit\":%d", g->def->limit);
        rc = rc ? rc : put_evaluation(out, g->last_duration_s, g->last_eval_ms);
        rc = rc ? rc : buf_putc(out, '}');
        pthread_mutex_unlock(&g->mu);
    }
    rc = rc ? rc : buf_puts(out, "]}}");
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
            rc = put_listed_alerts(out, &g->rules[j], &first);
        pthread_mutex_unlock(&g->mu);
    }
    rc = rc ? rc : buf_puts(out, "]}}");
    rules_manager_unlock(m);
    return rc;
}
