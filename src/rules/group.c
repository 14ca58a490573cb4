/*
 * group.c - one rule group's evaluation (Prometheus' Group.Eval) and the restore of alert
 * `for` state after a restart (Group.RestoreForState).
 *
 * For each rule in file order: query at ts - query_offset; a recording rule renames the result
 * (__name__ = record, plus its labels) and refuses duplicate label sets and more series than
 * the group's limit; an alerting rule updates its alerts (alerting.c). The samples go to the
 * store through one appender per evaluation; series the rule wrote last time but not now get
 * a staleness marker, so they end at once in queries instead of after the 5m lookback. A
 * failing rule is marked unhealthy with its error and the group goes on with the next rule.
 */
#include "rules/rules_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double stale_nan(void)
{
    uint64_t bits = PROMQL_STALE_NAN_BITS;
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static int64_t env_now(const rules_eval_env_t *env)
{
    if (env->now_ms != NULL)
        return env->now_ms(env->now_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rgroup_init(rgroup_t *g, const rules_group_t *def, int64_t default_interval_ms,
                int64_t default_query_offset_ms)
{
    memset(g, 0, sizeof(*g));
    g->def = def;
    g->interval_ms = def->interval_ms > 0 ? def->interval_ms : default_interval_ms;
    g->query_offset_ms = def->has_query_offset ? def->query_offset_ms : default_query_offset_ms;
    g->rules = calloc(def->n_rules ? def->n_rules : 1, sizeof(*g->rules));
    if (g->rules == NULL)
        return VIGIL_ENOMEM;
    g->n_rules = def->n_rules;
    for (size_t i = 0; i < g->n_rules; i++)
        g->rules[i].def = &def->rules[i];
    pthread_mutex_init(&g->mu, NULL);
    return 0;
}

static void prev_free(rrule_t *r)
{
    for (size_t i = 0; i < r->n_prev; i++)
        rl_free(&r->prev[i]);
    free(r->prev);
    r->prev = NULL;
    r->n_prev = 0;
}

void rgroup_destroy(rgroup_t *g)
{
    for (size_t i = 0; i < g->n_rules; i++) {
        ralert_clear(&g->rules[i]);
        prev_free(&g->rules[i]);
        free(g->rules[i].last_error);
    }
    free(g->rules);
    g->rules = NULL;
    g->n_rules = 0;
    pthread_mutex_destroy(&g->mu);
}

static bool kvs_equal(const rules_kv_t *a, size_t na, const rules_kv_t *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].name, b[i].name) != 0 || strcmp(a[i].value, b[i].value) != 0)
            return false;
    return true;
}

/* Same rule across a reload: kind, name, expression and labels (Prometheus matches on the
 * rule's String(); annotations and `for` may change without losing state). */
static bool same_rule(const rules_rule_t *a, const rules_rule_t *b)
{
    return a->alert == b->alert && strcmp(a->name, b->name) == 0 &&
           strcmp(a->expr, b->expr) == 0 &&
           kvs_equal(a->labels, a->n_labels, b->labels, b->n_labels);
}

void rgroup_copy_state(rgroup_t *g, rgroup_t *old)
{
    g->last_eval_ms = old->last_eval_ms;
    g->last_eval_ts = old->last_eval_ts;
    g->last_duration_s = old->last_duration_s;
    g->last_rule_duration_sum_s = old->last_rule_duration_sum_s;
    for (size_t i = 0; i < g->n_rules; i++) {
        rrule_t *r = &g->rules[i];
        for (size_t j = 0; j < old->n_rules; j++) {
            rrule_t *o = &old->rules[j];
            if (o->def == NULL || !same_rule(r->def, o->def))
                continue;
            r->health = o->health;
            r->last_error = o->last_error;
            r->last_eval_ms = o->last_eval_ms;
            r->eval_seconds = o->eval_seconds;
            r->active = o->active;
            r->n_active = o->n_active;
            r->cap_active = o->cap_active;
            r->restored = o->restored;
            r->prev = o->prev;
            r->n_prev = o->n_prev;
            memset(o, 0, sizeof(*o));   /* taken: o->def NULL marks it used */
            break;
        }
    }
}

/* Sets the rule's health and last error (copied; NULL clears). */
static void set_health(rrule_t *r, const char *error)
{
    free(r->last_error);
    r->last_error = error ? strdup(error) : NULL;
    r->health = error ? HEALTH_BAD : HEALTH_GOOD;
}

/* The recording rule's output series (owned by *out). */
static int record(const rrule_t *r, const promql_result_t *res, int limit, rsamples_t *out,
                  vigil_error_t *err)
{
    size_t n = res->type == PROMQL_VALUE_SCALAR ? 1 : res->n_vector;
    for (size_t i = 0; i < n; i++) {
        rlabels_t l = { 0 };
        promql_labels_t m = { NULL, 0 };
        double v = res->scalar;
        if (res->type == PROMQL_VALUE_VECTOR) {
            m = res->vector[i].labels;
            v = res->vector[i].v;
        }
        int rc = rl_copy(&l, m);
        if (rc == 0)
            rc = rl_set(&l, "__name__", r->def->name);
        for (size_t j = 0; rc == 0 && j < r->def->n_labels; j++)
            rc = rl_set(&l, r->def->labels[j].name, r->def->labels[j].value);
        if (rc == 0)
            rc = rsamples_push(out, &l, v);
        if (rc != 0) {
            rl_free(&l);
            return vigil_error_set(err, rc, "out of memory");
        }
    }
    for (size_t i = 0; i < out->n; i++)
        for (size_t j = 0; j < i; j++)
            if (rl_equal(rl_view(&out->l[i]), rl_view(&out->l[j])))
                return vigil_error_set(err, VIGIL_EINVAL, "vector contains metrics with the "
                                       "same labelset after applying rule labels");
    if (limit > 0 && out->n > (size_t)limit)
        return vigil_error_set(err, VIGIL_ELIMIT, "exceeded limit of %d with %zu series", limit,
                               out->n);
    return 0;
}

/* Whether `l` is among the samples, searching from *hint on and wrapping around: a rule lists
 * its series in the same order round after round, so walking the previous round's series with
 * one hint finds each at once instead of scanning (quadratic for rules with many alerts). */
static bool in_set(const rsamples_t *s, promql_labels_t l, size_t *hint)
{
    for (size_t k = 0; k < s->n; k++) {
        size_t i = (*hint + k) % s->n;
        if (rl_equal(rl_view(&s->l[i]), l)) {
            *hint = i + 1;
            return true;
        }
    }
    return false;
}

/* Writes the samples, marks what went missing stale, and remembers what was written. */
static void write_out(rrule_t *r, const rules_eval_env_t *env, rsamples_t *out, int64_t t)
{
    const rules_store_t *st = env->store;
    void *app = st->open(st->ctx);
    if (app == NULL) {
        set_health(r, "out of memory");
        return;
    }
    vigil_error_t err;
    size_t rejected = 0;
    bool *ok = calloc(out->n ? out->n : 1, sizeof(*ok));
    for (size_t i = 0; i < out->n; i++) {
        int rc = st->append(app, rl_view(&out->l[i]), t, out->v[i], &err);
        if (rc != 0) {
            rejected++;
            set_health(r, err.message);
        } else if (ok != NULL) {
            ok[i] = true;
        }
    }
    size_t hint = 0;
    for (size_t i = 0; i < r->n_prev; i++)
        if (!in_set(out, rl_view(&r->prev[i]), &hint))
            st->append(app, rl_view(&r->prev[i]), t, stale_nan(), &err);
    if (rejected > 0)
        log_warn(env->log, "rules", "rule evaluation result discarded",
                 LF_STR("rule", r->def->name), LF_UINT("samples", rejected));
    if (st->commit(app, &err) != 0) {
        log_warn(env->log, "rules", "rule sample appending failed", LF_STR("err", err.message));
        st->close(app);
        free(ok);
        return;
    }
    st->close(app);
    /* What was accepted becomes the previous evaluation's series (moved out of `out`). */
    prev_free(r);
    r->prev = calloc(out->n ? out->n : 1, sizeof(*r->prev));
    if (r->prev != NULL && ok != NULL) {
        for (size_t i = 0; i < out->n; i++)
            if (ok[i]) {
                r->prev[r->n_prev++] = out->l[i];
                memset(&out->l[i], 0, sizeof(out->l[i]));
            }
    }
    free(ok);
}

void rgroup_eval(rgroup_t *g, const rules_eval_env_t *env, int64_t ts)
{
    size_t samples = 0;
    double sum = 0;
    int64_t t = ts - g->query_offset_ms;
    for (size_t i = 0; i < g->n_rules; i++) {
        rrule_t *r = &g->rules[i];
        int64_t start = env_now(env);
        struct timespec c0, c1;
        clock_gettime(CLOCK_MONOTONIC, &c0);
        if (g->m_evals != NULL)
            vigil_counter_inc(g->m_evals);
        promql_result_t *res = NULL;
        vigil_error_t err;
        vigil_error_clear(&err);
        rsamples_t out = { 0 };
        int rc = promql_query_instant(env->engine, &env->store->query, r->def->expr, t, NULL,
                                      &res, &err);
        if (rc == 0 && res->type != PROMQL_VALUE_VECTOR && res->type != PROMQL_VALUE_SCALAR)
            rc = vigil_error_set(&err, VIGIL_EINVAL, "rule result is not a vector or scalar");
        if (rc == 0)
            rc = r->def->alert ? ralert_eval(r, env, res, ts, g->query_offset_ms,
                                             g->def->limit, &out, &err)
                               : record(r, res, g->def->limit, &out, &err);
        promql_result_free(res);
        if (rc != 0) {
            set_health(r, err.message);
            if (g->m_failures != NULL)
                vigil_counter_inc(g->m_failures);
            log_warn(env->log, "rules", "evaluating rule failed", LF_STR("rule", r->def->name),
                     LF_STR("group", g->def->name), LF_STR("err", err.message));
        } else {
            set_health(r, NULL);
            samples += out.n;
            if (r->def->alert)
                ralert_send(r, env, ts, g->interval_ms);
            write_out(r, env, &out, t);
        }
        rsamples_free(&out);
        clock_gettime(CLOCK_MONOTONIC, &c1);
        r->eval_seconds = (double)(c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
        r->last_eval_ms = start;
        sum += r->eval_seconds;
        if (env->m_rule_duration != NULL)
            vigil_summary_observe(env->m_rule_duration, r->eval_seconds);
    }
    g->last_samples = samples;
    g->last_rule_duration_sum_s = sum;
    if (g->m_samples != NULL)
        vigil_gauge_set(g->m_samples, (double)samples);
    if (g->m_rule_sum != NULL)
        vigil_gauge_set(g->m_rule_sum, sum);
}

void rgroup_mark_all_stale(rgroup_t *g, const rules_eval_env_t *env, int64_t ts)
{
    const rules_store_t *st = env->store;
    void *app = st->open(st->ctx);
    if (app == NULL)
        return;
    vigil_error_t err;
    for (size_t i = 0; i < g->n_rules; i++) {
        rrule_t *r = &g->rules[i];
        for (size_t j = 0; j < r->n_prev; j++)
            st->append(app, rl_view(&r->prev[j]), ts, stale_nan(), &err);
        prev_free(r);
    }
    st->commit(app, &err);
    st->close(app);
}

/* The newest sample of the series set's current series within its range. */
static bool last_sample(promql_series_set_t *ss, int64_t *t, double *v)
{
    bool any = false;
    int64_t st;
    double sv;
    vigil_error_t err;
    int k;
    while ((k = ss->ops->sample(ss, &st, &sv, &err)) > 0) {
        if (k != PROMQL_SAMPLE_FLOAT)
            continue;
        *t = st;
        *v = sv;
        any = true;
    }
    return any;
}

static void restore_rule(rrule_t *r, const rules_eval_env_t *env, int64_t ts, int64_t grace,
                         int64_t outage)
{
    promql_matcher_t ms[2] = {
        { PROMQL_MATCH_EQ, "__name__", "ALERTS_FOR_STATE", NULL },
        { PROMQL_MATCH_EQ, "alertname", r->def->name, NULL },
    };
    promql_series_set_t *ss;
    vigil_error_t err;
    const promql_storage_t *q = &env->store->query;
    if (q->ops->select(q->ctx, ms, 2, ts - outage, ts, &ss, &err) != 0) {
        log_warn(env->log, "rules", "failed to restore 'for' state",
                 LF_STR("alert", r->def->name), LF_STR("err", err.message));
        return;
    }
    while (ss->ops->next(ss, &err) > 0) {
        promql_labels_t l = ss->ops->labels(ss);
        rlabels_t key;
        if (rl_copy(&key, l) != 0)
            break;
        rl_del(&key, "__name__");
        ralert_t *a = NULL;
        uint64_t h = rl_hash(rl_view(&key));
        for (size_t i = 0; i < r->n_active && a == NULL; i++)
            if (r->active[i]->hash == h && rl_equal(rl_view(&r->active[i]->labels),
                                                    rl_view(&key)))
                a = r->active[i];
        rl_free(&key);
        int64_t t;
        double v;
        if (a == NULL || !last_sample(ss, &t, &v))
            continue;
        uint64_t bits;
        memcpy(&bits, &v, sizeof(bits));
        if (bits == PROMQL_STALE_NAN_BITS)
            continue;   /* the alert was not active when the process went down */
        int64_t down_at = t / 1000 * 1000;
        int64_t restored_active = (int64_t)v * 1000;
        int64_t remaining = r->def->for_ms - (down_at - restored_active);
        if (remaining <= 0) {
            /* it was firing: the next evaluation fires it again if still true */
        } else if (remaining < grace) {
            restored_active = ts + grace - r->def->for_ms;
        } else {
            restored_active += ts - down_at;
        }
        a->active_at = restored_active;
    }
    ss->ops->close(ss);
}

void rgroup_restore(rgroup_t *g, const rules_eval_env_t *env, int64_t ts, int64_t grace,
                    int64_t outage)
{
    for (size_t i = 0; i < g->n_rules; i++) {
        rrule_t *r = &g->rules[i];
        if (!r->def->alert)
            continue;
        /* A `for` shorter than the grace period would wait longer restored than not. */
        if (r->def->for_ms >= grace && r->n_active > 0)
            restore_rule(r, env, ts, grace, outage);
        r->restored = true;
    }
}
