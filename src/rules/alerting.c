/*
 * alerting.c - one alerting rule's alerts, as Prometheus' rules/alerting.go keeps them.
 *
 * Each evaluation turns the query result into candidate alerts (the sample's labels without
 * __name__, plus the rule's labels expanded as templates, plus alertname), then:
 *   - a new label set becomes a pending alert, active since this evaluation;
 *   - a known, still-active one only gets its value and annotations refreshed;
 *   - pending for `for` or longer -> firing (FiredAt = now);
 *   - gone from the result: pending alerts are dropped; firing ones turn inactive with
 *     ResolvedAt = now, unless keep_firing_for is still running since it first went missing;
 *     resolved alerts stay 15 minutes (so the notifier hears of the resolve), then go.
 * When restored (see group.c), ALERTS{alertstate} = 1 and ALERTS_FOR_STATE = ActiveAt in
 * seconds are produced for every pending and firing alert, stamped now - query_offset.
 */
#include "rules/rules_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *rules_alert_state_name(alert_state_t s)
{
    switch (s) {
    case ALERT_PENDING: return "pending";
    case ALERT_FIRING:  return "firing";
    default:            return "inactive";
    }
}

int rsamples_push(rsamples_t *s, rlabels_t *l, double v)
{
    if (s->n == s->cap) {
        size_t nc = s->cap * 2 + 16;
        rlabels_t *nl = realloc(s->l, nc * sizeof(*nl));
        if (nl == NULL) {
            rl_free(l);
            return VIGIL_ENOMEM;
        }
        s->l = nl;
        double *nv = realloc(s->v, nc * sizeof(*nv));
        if (nv == NULL) {
            rl_free(l);
            return VIGIL_ENOMEM;
        }
        s->v = nv;
        s->cap = nc;
    }
    s->l[s->n] = *l;
    s->v[s->n++] = v;
    memset(l, 0, sizeof(*l));
    return 0;
}

void rsamples_free(rsamples_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        rl_free(&s->l[i]);
    free(s->l);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static void alert_free(ralert_t *a)
{
    if (a == NULL)
        return;
    rl_free(&a->labels);
    rl_free(&a->annotations);
    free(a);
}

void ralert_clear(rrule_t *r)
{
    for (size_t i = 0; i < r->n_active; i++)
        alert_free(r->active[i]);
    free(r->active);
    r->active = NULL;
    r->n_active = r->cap_active = 0;
}

/* Index of the first active alert with hash >= h (the array is sorted by hash). */
static size_t lower_bound(const rrule_t *r, uint64_t h)
{
    size_t lo = 0, hi = r->n_active;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->active[mid]->hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static ralert_t *find(const rrule_t *r, uint64_t h, promql_labels_t l)
{
    for (size_t i = lower_bound(r, h); i < r->n_active && r->active[i]->hash == h; i++)
        if (rl_equal(rl_view(&r->active[i]->labels), l))
            return r->active[i];
    return NULL;
}

static int insert(rrule_t *r, ralert_t *a)
{
    if (r->n_active == r->cap_active) {
        size_t nc = r->cap_active * 2 + 8;
        ralert_t **nv = realloc(r->active, nc * sizeof(*nv));
        if (nv == NULL)
            return VIGIL_ENOMEM;
        r->active = nv;
        r->cap_active = nc;
    }
    size_t i = lower_bound(r, a->hash);
    memmove(&r->active[i + 1], &r->active[i], (r->n_active - i) * sizeof(r->active[0]));
    r->active[i] = a;
    r->n_active++;
    return 0;
}

/* Expands each kv of `kvs` into `out` (owned); an empty expansion removes the label, as
 * Prometheus' label builder does. 0 or VIGIL_ENOMEM. */
static int expand_kvs(rules_expander_t *x, const rules_kv_t *kvs, size_t n, buf_t *b,
                      rlabels_t *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        buf_reset(b);
        rc = rules_kv_expand(x, &kvs[i], b);
        if (rc == 0)
            rc = rl_set(out, kvs[i].name, b->data ? b->data : "");
    }
    return rc;
}

/* The candidate alert for one result sample; *out owned by the caller. */
static int make_alert(const rrule_t *r, const rules_eval_env_t *env, promql_labels_t metric,
                      double v, int64_t ts, ralert_t **out)
{
    ralert_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return VIGIL_ENOMEM;
    rules_tmpl_data_t d = { metric, env->external_labels, env->external_url, v };
    rules_expander_t x = { .ops = env->tmpl, .d = &d };
    buf_t b;
    buf_init(&b, 1 << 20);
    int rc = rl_copy(&a->labels, metric);
    if (rc == 0) {
        rl_del(&a->labels, "__name__");
        rc = expand_kvs(&x, r->def->labels, r->def->n_labels, &b, &a->labels);
    }
    if (rc == 0)
        rc = rl_set(&a->labels, "alertname", r->def->name);
    if (rc == 0)
        rc = expand_kvs(&x, r->def->annotations, r->def->n_annotations, &b, &a->annotations);
    buf_free(&b);
    rules_expander_done(&x);
    if (rc != 0) {
        alert_free(a);
        return rc;
    }
    a->hash = rl_hash(rl_view(&a->labels));
    a->state = ALERT_PENDING;
    a->value = v;
    a->active_at = ts;
    a->fired_at = a->resolved_at = a->last_sent_at = a->valid_until = RULES_T_ZERO;
    a->keep_firing_since = RULES_T_ZERO;
    *out = a;
    return 0;
}

/* ALERTS{..., alertstate} or ALERTS_FOR_STATE{...} for alert `a`. */
static int series_for(const rrule_t *r, const ralert_t *a, const char *metric, bool state,
                      rlabels_t *out)
{
    int rc = rl_copy(out, rl_view(&a->labels));
    if (rc == 0)
        rc = rl_set(out, "__name__", metric);
    if (rc == 0)
        rc = rl_set(out, "alertname", r->def->name);
    if (rc == 0 && state)
        rc = rl_set(out, "alertstate", rules_alert_state_name(a->state));
    return rc;
}

int ralert_eval(rrule_t *r, const rules_eval_env_t *env, const promql_result_t *res,
                int64_t ts, int64_t qoff, int limit, rsamples_t *out, vigil_error_t *err)
{
    size_t n = res->type == PROMQL_VALUE_SCALAR ? 1 : res->n_vector;
    ralert_t **cand = calloc(n ? n : 1, sizeof(*cand));
    if (cand == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    int rc = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        promql_labels_t metric = { NULL, 0 };
        double v = res->scalar;
        if (res->type == PROMQL_VALUE_VECTOR) {
            metric = res->vector[i].labels;
            v = res->vector[i].v;
        }
        if ((rc = make_alert(r, env, metric, v, ts, &cand[k])) != 0) {
            rc = vigil_error_set(err, rc, "out of memory");
            goto out_cand;
        }
        for (size_t j = 0; j < k; j++)
            if (cand[j]->hash == cand[k]->hash &&
                rl_equal(rl_view(&cand[j]->labels), rl_view(&cand[k]->labels))) {
                k++;
                rc = vigil_error_set(err, VIGIL_EINVAL, "vector contains metrics with the same "
                                     "labelset after applying alert labels");
                goto out_cand;
            }
        k++;
    }

    /* Merge: known active alerts keep their state; the rest (re)start pending. */
    for (size_t i = 0; i < r->n_active; i++)
        r->active[i]->in_result = false;
    for (size_t i = 0; i < k; i++) {
        ralert_t *a = find(r, cand[i]->hash, rl_view(&cand[i]->labels));
        if (a != NULL && a->state != ALERT_INACTIVE) {
            a->in_result = true;
            a->value = cand[i]->value;
            rl_free(&a->annotations);
            a->annotations = cand[i]->annotations;
            memset(&cand[i]->annotations, 0, sizeof(cand[i]->annotations));
            continue;
        }
        if (a != NULL) {
            /* an inactive (resolved) alert with the same labels is replaced */
            size_t j = lower_bound(r, a->hash);
            while (r->active[j] != a)
                j++;
            memmove(&r->active[j], &r->active[j + 1], (r->n_active - j - 1) * sizeof(a));
            r->n_active--;
            alert_free(a);
        }
        cand[i]->in_result = true;
        if ((rc = insert(r, cand[i])) != 0) {
            rc = vigil_error_set(err, rc, "out of memory");
            goto out_cand;
        }
        cand[i] = NULL;
    }

    size_t active_pending = 0;
    for (size_t i = 0; i < r->n_active;) {
        ralert_t *a = r->active[i];
        bool in_result = a->in_result;
        if (!in_result) {
            bool keep_firing = false;
            if (a->state == ALERT_FIRING && r->def->keep_firing_for_ms > 0) {
                if (a->keep_firing_since == RULES_T_ZERO)
                    a->keep_firing_since = ts;
                if (ts - a->keep_firing_since < r->def->keep_firing_for_ms)
                    keep_firing = true;
            }
            bool drop = a->state == ALERT_PENDING ||
                        (a->resolved_at != RULES_T_ZERO &&
                         ts - a->resolved_at > RULES_RESOLVED_RETENTION_MS);
            if (a->state != ALERT_INACTIVE && !keep_firing) {
                a->state = ALERT_INACTIVE;
                a->resolved_at = ts;
            }
            if (drop) {
                memmove(&r->active[i], &r->active[i + 1], (r->n_active - i - 1) * sizeof(a));
                r->n_active--;
                alert_free(a);
                continue;
            }
            if (!keep_firing) {
                i++;
                continue;
            }
        } else {
            a->keep_firing_since = RULES_T_ZERO;
        }
        active_pending++;
        if (a->state == ALERT_PENDING && ts - a->active_at >= r->def->for_ms) {
            a->state = ALERT_FIRING;
            a->fired_at = ts;
        }
        if (r->restored) {
            rlabels_t l1, l2;
            if ((rc = series_for(r, a, "ALERTS", true, &l1)) != 0 ||
                (rc = rsamples_push(out, &l1, 1)) != 0 ||
                (rc = series_for(r, a, "ALERTS_FOR_STATE", false, &l2)) != 0 ||
                (rc = rsamples_push(out, &l2, (double)(a->active_at / 1000))) != 0) {
                rc = vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
                goto out_cand;
            }
        }
        i++;
    }
    (void)qoff;
    if (limit > 0 && active_pending > (size_t)limit) {
        ralert_clear(r);
        rsamples_free(out);
        rc = vigil_error_set(err, VIGIL_ELIMIT, "exceeded limit of %d with %zu alerts", limit,
                             active_pending);
    }
out_cand:
    for (size_t i = 0; i < k; i++)
        alert_free(cand[i]);
    free(cand);
    return rc;
}

/* Go's url.QueryEscape. */
static int query_escape(buf_t *b, const char *s)
{
    int rc = 0;
    for (; rc == 0 && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~')
            rc = buf_putc(b, (char)c);
        else if (c == ' ')
            rc = buf_putc(b, '+');
        else
            rc = buf_printf(b, "%%%02X", c);
    }
    return rc;
}

void ralert_send(rrule_t *r, const rules_eval_env_t *env, int64_t ts, int64_t interval_ms)
{
    if (env->sink == NULL || r->n_active == 0)
        return;
    rules_alert_out_t *v = calloc(r->n_active, sizeof(*v));
    buf_t url;
    buf_init(&url, 1 << 20);
    if (v == NULL || buf_puts(&url, env->external_url ? env->external_url : "") != 0 ||
        buf_puts(&url, "/graph?g0.expr=") != 0 || query_escape(&url, r->def->expr) != 0 ||
        buf_puts(&url, "&g0.tab=1") != 0) {
        free(v);
        buf_free(&url);
        return;
    }
    int64_t delta = env->resend_delay_ms > interval_ms ? env->resend_delay_ms : interval_ms;
    size_t n = 0;
    for (size_t i = 0; i < r->n_active; i++) {
        ralert_t *a = r->active[i];
        if (a->state == ALERT_PENDING)
            continue;
        bool needs = a->resolved_at > a->last_sent_at ||
                     (a->last_sent_at == RULES_T_ZERO ||
                      a->last_sent_at + env->resend_delay_ms < ts);
        if (!needs)
            continue;
        a->last_sent_at = ts;
        a->valid_until = ts + 4 * delta;
        bool resolved = a->resolved_at != RULES_T_ZERO;
        v[n++] = (rules_alert_out_t){
            .labels = rl_view(&a->labels),
            .annotations = rl_view(&a->annotations),
            .starts_at_ms = a->fired_at,
            .ends_at_ms = resolved ? a->resolved_at : a->valid_until,
            .resolved = resolved,
            .generator_url = url.data,
        };
    }
    if (n > 0)
        env->sink(env->sink_ctx, r->def->expr, v, n);
    free(v);
    buf_free(&url);
}
