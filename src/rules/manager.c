/*
 * manager.c - the rule manager: loads rule files all-or-nothing, runs one thread per group at
 * Prometheus' slotted timestamps, carries state across reloads, restores alert `for` state
 * after a restart, and exports the evaluation metrics.
 *
 * Slots: a group with interval I is evaluated at times t with t ≡ offset (mod I), where offset
 * is the xxhash of the labels {file, name} modulo I in nanoseconds (Group.EvalTimestamp). So
 * groups spread over the interval, and vigil and Prometheus pick the same instants.
 *
 * A group's thread (Group.run): wait for the first slot after start, evaluate; a group new at
 * the first load evaluates once more and then restores `for` state from ALERTS_FOR_STATE
 * (until then its alerting rules write no ALERTS series, as Prometheus' do not); afterwards
 * one evaluation per slot, counting slots missed while an evaluation overran.
 *
 * Locks: `mu` guards the group list and the stop flag (threads wait on `cond` with it);
 * each group's own mutex guards its rules' state while its thread evaluates, so the API
 * readers (api.c: mu, then a group's mutex) see whole evaluations.
 *
 * Metrics (Prometheus name -> vigil name, label rule_group="FILE;GROUP"):
 *   prometheus_rule_evaluations_total             -> vigil_rule_evaluations_total
 *   prometheus_rule_evaluation_failures_total     -> vigil_rule_evaluation_failures_total
 *   prometheus_rule_evaluation_duration_seconds   -> vigil_rule_evaluation_duration_seconds
 *   prometheus_rule_group_duration_seconds        -> vigil_rule_group_duration_seconds
 *   prometheus_rule_group_iterations_total        -> vigil_rule_group_iterations_total
 *   prometheus_rule_group_iterations_missed_total -> vigil_rule_group_iterations_missed_total
 *   prometheus_rule_group_interval_seconds        -> vigil_rule_group_interval_seconds
 *   prometheus_rule_group_last_evaluation_timestamp_seconds
 *                                       -> vigil_rule_group_last_evaluation_timestamp_seconds
 *   prometheus_rule_group_last_duration_seconds   -> vigil_rule_group_last_duration_seconds
 *   prometheus_rule_group_last_rule_duration_sum_seconds
 *                                       -> vigil_rule_group_last_rule_duration_sum_seconds
 *   prometheus_rule_group_rules                   -> vigil_rule_group_rules
 *   prometheus_rule_group_last_evaluation_samples -> vigil_rule_group_last_evaluation_samples
 */
#include "rules/rules_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rules_manager {
    rules_eval_env_t env;
    rules_store_t store;
    rlabels_t ext;
    char *url;
    int64_t default_interval_ms, default_query_offset_ms, grace_ms, outage_ms;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    rules_file_t **files;
    size_t n_files;
    rgroup_t **groups;
    size_t n_groups;
    bool loaded_once, started, stopping;
    vigil_family_t *f_evals, *f_failures, *f_iter, *f_missed, *f_interval, *f_last_ts,
                   *f_last_dur, *f_rules, *f_samples, *f_rule_sum;
    vigil_summary_t *group_duration;
};

static int64_t now_ms(const rules_manager_t *m)
{
    if (m->env.now_ms != NULL)
        return m->env.now_ms(m->env.now_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rules_group_eval_timestamp(const char *file, const char *name, int64_t interval_ms,
                                   int64_t now)
{
    if (interval_ms <= 0)
        return now;
    promql_label_t l[2] = { { "file", file }, { "name", name } };
    uint64_t h = rl_hash((promql_labels_t){ l, 2 });
    int64_t iv = interval_ms * 1000000;   /* Go works in nanoseconds */
    int64_t offset = (int64_t)(h % (uint64_t)iv);
    int64_t adj = now * 1000000 - offset;
    int64_t base = adj - (((adj % iv) + iv) % iv);
    return (base + offset) / 1000000;
}

static int register_metrics(rules_manager_t *m, vigil_registry_t *reg, vigil_error_t *err)
{
    static const char *const lbl[] = { "rule_group", NULL };
    vigil_family_t *f;
    int rc;
    if ((rc = vigil_counter_new(reg, "vigil_rule_evaluations_total",
                                "The total number of rule evaluations.", lbl, &m->f_evals,
                                err)) != 0 ||
        (rc = vigil_counter_new(reg, "vigil_rule_evaluation_failures_total",
                                "The total number of rule evaluation failures.", lbl,
                                &m->f_failures, err)) != 0 ||
        (rc = vigil_counter_new(reg, "vigil_rule_group_iterations_total",
                                "The total number of scheduled rule group evaluations, whether "
                                "executed or missed.", lbl, &m->f_iter, err)) != 0 ||
        (rc = vigil_counter_new(reg, "vigil_rule_group_iterations_missed_total",
                                "The total number of rule group evaluations missed due to slow "
                                "rule group evaluation.", lbl, &m->f_missed, err)) != 0 ||
        (rc = vigil_gauge_new(reg, "vigil_rule_group_interval_seconds",
                              "The interval of a rule group.", lbl, &m->f_interval, err)) != 0 ||
        (rc = vigil_gauge_new(reg, "vigil_rule_group_last_evaluation_timestamp_seconds",
                              "The timestamp of the last rule group evaluation in seconds.", lbl,
                              &m->f_last_ts, err)) != 0 ||
        (rc = vigil_gauge_new(reg, "vigil_rule_group_last_duration_seconds",
                              "The duration of the last rule group evaluation.", lbl,
                              &m->f_last_dur, err)) != 0 ||
        (rc = vigil_gauge_new(reg, "vigil_rule_group_rules", "The number of rules.", lbl,
                              &m->f_rules, err)) != 0 ||
        (rc = vigil_gauge_new(reg, "vigil_rule_group_last_evaluation_samples",
                              "The number of samples returned during the last rule group "
                              "evaluation.", lbl, &m->f_samples, err)) != 0 ||
        (rc = vigil_gauge_new(reg, "vigil_rule_group_last_rule_duration_sum_seconds",
                              "The sum of time in seconds it took to evaluate each rule in the "
                              "group regardless of concurrency.", lbl, &m->f_rule_sum,
                              err)) != 0)
        return rc;
    static const double q[] = { 0.5, 0.9, 0.99 };
    vigil_summary_opts_t so = { q, 3, 0, 0 };
    if ((rc = vigil_summary_new(reg, "vigil_rule_evaluation_duration_seconds",
                                "The duration for a rule to execute.", NULL, &so, &f, err)) != 0)
        return rc;
    m->env.m_rule_duration = vigil_summary_with(f);
    if ((rc = vigil_summary_new(reg, "vigil_rule_group_duration_seconds",
                                "The duration of rule group evaluations.", NULL, &so, &f,
                                err)) != 0)
        return rc;
    m->group_duration = vigil_summary_with(f);
    return 0;
}

int rules_manager_create(const rules_manager_opts_t *o, rules_manager_t **out,
                         vigil_error_t *err)
{
    if (o == NULL || o->engine == NULL || o->store.append == NULL)
        return vigil_error_set(err, VIGIL_EINVAL, "rules: an engine and a store are required");
    rules_manager_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    m->store = o->store;
    m->default_interval_ms = o->default_interval_ms > 0 ? o->default_interval_ms : 60000;
    m->default_query_offset_ms = o->default_query_offset_ms;
    m->grace_ms = o->for_grace_ms > 0 ? o->for_grace_ms : 10 * 60000;
    m->outage_ms = o->outage_tolerance_ms > 0 ? o->outage_tolerance_ms : 3600000;
    if (rl_copy(&m->ext, o->external_labels) != 0 ||
        (m->url = strdup(o->external_url ? o->external_url : "")) == NULL) {
        rl_free(&m->ext);
        free(m);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    m->env = (rules_eval_env_t){
        .engine = o->engine,
        .store = &m->store,
        .tmpl = o->tmpl ? o->tmpl : rules_tmpl_default(),
        .external_labels = rl_view(&m->ext),
        .external_url = m->url,
        .resend_delay_ms = o->resend_delay_ms > 0 ? o->resend_delay_ms : 60000,
        .sink = o->sink,
        .sink_ctx = o->sink_ctx,
        .log = o->log,
        .now_ms = o->now_ms,
        .now_ctx = o->now_ctx,
    };
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    int rc;
    if (o->registry != NULL && (rc = register_metrics(m, o->registry, err)) != 0) {
        rules_manager_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Sets the group's metric children (label "FILE;NAME"). */
static void group_metrics(rules_manager_t *m, rgroup_t *g)
{
    if (m->f_evals == NULL)
        return;
    char key[2048];
    snprintf(key, sizeof(key), "%s;%s", g->def->file, g->def->name);
    const char *v[] = { key };
    g->m_evals = vigil_counter_labels(m->f_evals, v, 1, NULL);
    g->m_failures = vigil_counter_labels(m->f_failures, v, 1, NULL);
    g->m_iterations = vigil_counter_labels(m->f_iter, v, 1, NULL);
    g->m_missed = vigil_counter_labels(m->f_missed, v, 1, NULL);
    g->m_interval = vigil_gauge_labels(m->f_interval, v, 1, NULL);
    g->m_last_ts = vigil_gauge_labels(m->f_last_ts, v, 1, NULL);
    g->m_last_duration = vigil_gauge_labels(m->f_last_dur, v, 1, NULL);
    g->m_rules = vigil_gauge_labels(m->f_rules, v, 1, NULL);
    g->m_samples = vigil_gauge_labels(m->f_samples, v, 1, NULL);
    g->m_rule_sum = vigil_gauge_labels(m->f_rule_sum, v, 1, NULL);
    if (g->m_interval != NULL)
        vigil_gauge_set(g->m_interval, (double)g->interval_ms / 1000);
    if (g->m_rules != NULL)
        vigil_gauge_set(g->m_rules, (double)g->n_rules);
}

static void groups_free(rgroup_t **gs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rgroup_destroy(gs[i]);
        free(gs[i]);
    }
    free(gs);
}

static void files_free(rules_file_t **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rules_file_free(fs[i]);
    free(fs);
}

int rules_manager_load(rules_manager_t *m, const char *const *paths, size_t n,
                       vigil_error_t *err)
{
    rules_file_t **files = calloc(n ? n : 1, sizeof(*files));
    if (files == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    rules_load_opts_t lo = { .tmpl = m->env.tmpl };
    buf_t msg;
    buf_init(&msg, sizeof(err->message) - 1);
    int rc = 0;
    size_t n_groups = 0;
    for (size_t i = 0; i < n; i++) {
        rules_errors_t errs = { 0 };
        vigil_error_t e;
        int r = rules_file_load(paths[i], NULL, 0, &lo, &files[i], &errs, &e);
        if (r != 0) {
            rc = rc ? rc : r;
            for (size_t j = 0; j < errs.n; j++)
                buf_printf(&msg, "%s%s", msg.len ? "\n" : "", errs.v[j]);
            rules_errors_free(&errs);
            continue;
        }
        n_groups += files[i]->n_groups;
    }
    if (rc != 0) {
        vigil_error_set(err, rc, "%s", msg.data ? msg.data : "rules: load failed");
        buf_free(&msg);
        files_free(files, n);
        return rc;
    }
    buf_free(&msg);

    rgroup_t **groups = calloc(n_groups ? n_groups : 1, sizeof(*groups));
    if (groups == NULL) {
        files_free(files, n);
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    }
    bool was_started = m->started;
    rules_manager_stop(m);
    pthread_mutex_lock(&m->mu);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < files[i]->n_groups; j++) {
            const rules_group_t *def = &files[i]->groups[j];
            rgroup_t *g = calloc(1, sizeof(*g));
            if (g == NULL || rgroup_init(g, def, m->default_interval_ms,
                                         m->default_query_offset_ms) != 0) {
                free(g);
                groups_free(groups, k);
                pthread_mutex_unlock(&m->mu);
                files_free(files, n);
                return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
            }
            g->mgr = m;
            rgroup_t *old = NULL;
            for (size_t x = 0; x < m->n_groups && old == NULL; x++)
                if (m->groups[x]->def != NULL &&
                    strcmp(m->groups[x]->def->file, def->file) == 0 &&
                    strcmp(m->groups[x]->def->name, def->name) == 0)
                    old = m->groups[x];
            for (size_t x = 0; x < g->n_rules; x++)
                g->rules[x].restored = m->loaded_once;
            g->should_restore = !m->loaded_once;
            if (old != NULL) {
                rgroup_copy_state(g, old);
                g->should_restore = false;
            }
            group_metrics(m, g);
            groups[k++] = g;
        }
    /* Groups that went away end their series now rather than after the lookback. */
    for (size_t x = 0; x < m->n_groups; x++)
        rgroup_mark_all_stale(m->groups[x], &m->env, now_ms(m));
    groups_free(m->groups, m->n_groups);
    files_free(m->files, m->n_files);
    m->groups = groups;
    m->n_groups = k;
    m->files = files;
    m->n_files = n;
    m->loaded_once = true;
    pthread_mutex_unlock(&m->mu);
    if (was_started)
        rules_manager_start(m);
    return 0;
}

/* One iteration at slot ts: evaluation plus bookkeeping, under the group's lock. */
static void iterate(rules_manager_t *m, rgroup_t *g, int64_t ts)
{
    pthread_mutex_lock(&g->mu);
    if (g->m_iterations != NULL)
        vigil_counter_inc(g->m_iterations);
    int64_t start = now_ms(m);
    struct timespec c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &c0);
    rgroup_eval(g, &m->env, ts);
    clock_gettime(CLOCK_MONOTONIC, &c1);
    g->last_duration_s = (double)(c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
    g->last_eval_ms = start;
    g->last_eval_ts = ts;
    if (m->group_duration != NULL)
        vigil_summary_observe(m->group_duration, g->last_duration_s);
    if (g->m_last_duration != NULL)
        vigil_gauge_set(g->m_last_duration, g->last_duration_s);
    if (g->m_last_ts != NULL)
        vigil_gauge_set(g->m_last_ts, (double)start / 1000);
    pthread_mutex_unlock(&g->mu);
}

void rules_manager_eval_all(rules_manager_t *m, int64_t ts)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_groups; i++)
        iterate(m, m->groups[i], ts);
    pthread_mutex_unlock(&m->mu);
}

void rules_manager_restore_all(rules_manager_t *m, int64_t ts)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_groups; i++) {
        rgroup_t *g = m->groups[i];
        pthread_mutex_lock(&g->mu);
        rgroup_restore(g, &m->env, ts, m->grace_ms, m->outage_ms);
        g->should_restore = false;
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_unlock(&m->mu);
}

/* Waits (holding mu) until the wall clock reaches `deadline`; false when asked to stop. */
static bool wait_until(rules_manager_t *m, int64_t deadline)
{
    while (!m->stopping) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t n = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        if (n >= deadline)
            return true;
        struct timespec dl = { (time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000 };
        pthread_cond_timedwait(&m->cond, &m->mu, &dl);
    }
    return false;
}

/* Evaluates the slot after the one `ts` names once its time came, counting missed slots. */
static bool next_slot(rules_manager_t *m, rgroup_t *g, int64_t *ts)
{
    if (!wait_until(m, *ts + g->interval_ms))
        return false;
    int64_t missed = (now_ms(m) - *ts) / g->interval_ms - 1;
    if (missed > 0) {
        if (g->m_missed != NULL)
            vigil_counter_add_u64(g->m_missed, (uint64_t)missed);
        if (g->m_iterations != NULL)
            vigil_counter_add_u64(g->m_iterations, (uint64_t)missed);
    } else {
        missed = 0;
    }
    *ts += (missed + 1) * g->interval_ms;
    return true;
}

static void *group_thread(void *arg)
{
    rgroup_t *g = arg;
    rules_manager_t *m = g->mgr;
    pthread_mutex_lock(&m->mu);
    int64_t ts = rules_group_eval_timestamp(g->def->file, g->def->name, g->interval_ms,
                                            now_ms(m)) + g->interval_ms;
    if (!wait_until(m, ts))
        goto out;
    pthread_mutex_unlock(&m->mu);
    iterate(m, g, ts);
    pthread_mutex_lock(&m->mu);
    if (g->should_restore) {
        /* One more evaluation first: recording rules the alerts depend on must have run. */
        if (!next_slot(m, g, &ts))
            goto out;
        pthread_mutex_unlock(&m->mu);
        iterate(m, g, ts);
        pthread_mutex_lock(&g->mu);
        rgroup_restore(g, &m->env, now_ms(m), m->grace_ms, m->outage_ms);
        g->should_restore = false;
        pthread_mutex_unlock(&g->mu);
        pthread_mutex_lock(&m->mu);
    }
    while (next_slot(m, g, &ts)) {
        pthread_mutex_unlock(&m->mu);
        iterate(m, g, ts);
        pthread_mutex_lock(&m->mu);
    }
out:
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int rules_manager_start(rules_manager_t *m)
{
    pthread_mutex_lock(&m->mu);
    if (m->started) {
        pthread_mutex_unlock(&m->mu);
        return 0;
    }
    m->stopping = false;
    int rc = 0;
    for (size_t i = 0; i < m->n_groups; i++) {
        rgroup_t *g = m->groups[i];
        if (pthread_create(&g->thread, NULL, group_thread, g) != 0) {
            rc = VIGIL_ESYS;
            break;
        }
        g->running = true;
    }
    m->started = true;
    pthread_mutex_unlock(&m->mu);
    if (rc != 0)
        rules_manager_stop(m);
    return rc;
}

void rules_manager_stop(rules_manager_t *m)
{
    pthread_mutex_lock(&m->mu);
    if (!m->started) {
        pthread_mutex_unlock(&m->mu);
        return;
    }
    m->stopping = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
    /* The group list changes only under load(), which stops first: safe to walk unlocked. */
    for (size_t i = 0; i < m->n_groups; i++)
        if (m->groups[i]->running) {
            pthread_join(m->groups[i]->thread, NULL);
            m->groups[i]->running = false;
        }
    pthread_mutex_lock(&m->mu);
    m->started = false;
    pthread_mutex_unlock(&m->mu);
}

void rules_manager_free(rules_manager_t *m)
{
    if (m == NULL)
        return;
    rules_manager_stop(m);
    groups_free(m->groups, m->n_groups);
    files_free(m->files, m->n_files);
    rl_free(&m->ext);
    free(m->url);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    free(m);
}

void rules_manager_lock(rules_manager_t *m)
{
    pthread_mutex_lock(&m->mu);
}

void rules_manager_unlock(rules_manager_t *m)
{
    pthread_mutex_unlock(&m->mu);
}

rgroup_t **rules_manager_groups(rules_manager_t *m, size_t *n)
{
    *n = m->n_groups;
    return m->groups;
}
