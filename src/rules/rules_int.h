/*
 * rules_int.h - private to src/rules: how rule files are read as YAML (config/yamldoc.h),
 * owned label sets, the label hash, and the runtime structures of groups, rules and alerts
 * shared by group.c, manager.c and api.c.
 */
#ifndef VIGIL_RULES_INT_H
#define VIGIL_RULES_INT_H

#include "config/yamldoc.h"
#include "rules/rules.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest rule or unit-test file read (promtool's rules_large.yml is 1.1 MB). */
#define RULES_FILE_MAX (64u * 1024 * 1024)

/* ---- rulefmt.c: YAML ---------------------------------------------------------------------- */

/* How rule files and unit-test files are loaded (yamldoc_load_file() and yamldoc_load()); their
 * mappings are read with yamldoc_pairs(), which resolves merge keys as yaml.v3 does. */
extern const yamldoc_opts_t rules_yaml;

/* ---- labels.c ---------------------------------------------------------------------------- */

/* An owned label set: array and strings malloc'd, sorted by name, no empty values. */
typedef struct rlabels {
    promql_label_t *v;
    size_t n;
    size_t cap;     /* entries allocated in v (zero-initialised sets have none) */
} rlabels_t;

static inline promql_labels_t rl_view(const rlabels_t *l) { return (promql_labels_t){ l->v, l->n }; }

/* Deep copy of `src` (dropping empty values, sorting), with room for a few more labels (a
 * rule adds alertname, __name__, alertstate). 0 or VIGIL_ENOMEM (*dst empty). */
int rl_copy(rlabels_t *dst, promql_labels_t src);
/* Sets name=value (copied; empty value deletes). 0 or VIGIL_ENOMEM. */
int rl_set(rlabels_t *l, const char *name, const char *value);
/* Removes a label when present. */
void rl_del(rlabels_t *l, const char *name);
const char *rl_get(promql_labels_t l, const char *name);
void rl_free(rlabels_t *l);
int rl_cmp(promql_labels_t a, promql_labels_t b);
bool rl_equal(promql_labels_t a, promql_labels_t b);
/* Prometheus' labels.Hash: xxhash64 of name 0xff value 0xff ... */
uint64_t rl_hash(promql_labels_t l);
/* Appends {a="b", c="d"} as Go's Labels.String(). */
int rl_format(buf_t *b, promql_labels_t l);
/* XXH64 with seed 0 (what Go's cespare/xxhash computes). */
uint64_t rules_xxh64(const void *p, size_t len);

/* Valid label / metric names under the chosen validation scheme. */
bool rules_label_name_valid(const char *s, bool legacy);
bool rules_metric_name_valid(const char *s, bool legacy);
bool rules_utf8_valid(const char *s);

/* ---- tmpl.c --------------------------------------------------------------------------- */

/* The expansions of one alert: the engine's view of its data is built at the first label or
 * annotation that has a template and shared by the rest. Zero-initialise with ops and d set;
 * finish with rules_expander_done(). `d` is borrowed for the expander's life. */
typedef struct rules_expander {
    const rules_tmpl_ops_t  *ops;
    const rules_tmpl_data_t *d;
    void                    *data;   /* ops->data_new(d); NULL until a template needs it */
} rules_expander_t;

/* Appends one label's or annotation's expansion to `out`: its template's when compiled, its
 * text otherwise. A run-time error appends "<error expanding template: MSG>" instead, as
 * Prometheus does, and is not an error here. 0, or VIGIL_ENOMEM / VIGIL_ELIMIT from `out`. */
int rules_kv_expand(rules_expander_t *x, const rules_kv_t *kv, buf_t *out);

/* Frees what the expander built. */
void rules_expander_done(rules_expander_t *x);

/* ---- runtime (alerting.c, group.c, manager.c) ------------------------------------------ */

typedef enum alert_state { ALERT_INACTIVE = 0, ALERT_PENDING, ALERT_FIRING } alert_state_t;

const char *rules_alert_state_name(alert_state_t s);  /* "inactive", "pending", "firing" */

typedef struct ralert {
    uint64_t hash;            /* rl_hash(labels) */
    rlabels_t labels;
    rlabels_t annotations;
    alert_state_t state;
    bool in_result;           /* in the current evaluation's result (alerting.c scratch) */
    double value;
    /* ms since the epoch; RULES_T_ZERO stands for Go's zero time.Time{} ("never") */
    int64_t active_at, fired_at, resolved_at, last_sent_at, valid_until, keep_firing_since;
} ralert_t;

#define RULES_T_ZERO INT64_MIN

/* How long a resolved alert is kept so the notifier hears of the resolve (Prometheus'
 * resolvedRetention). */
#define RULES_RESOLVED_RETENTION_MS (15 * 60 * 1000LL)

typedef enum rule_health { HEALTH_UNKNOWN = 0, HEALTH_GOOD, HEALTH_BAD } rule_health_t;

/* A rule while it runs: its definition plus state. */
typedef struct rrule {
    const rules_rule_t *def;     /* borrowed from the group's file */
    rule_health_t health;
    char *last_error;            /* malloc'd; NULL when the last evaluation succeeded */
    int64_t last_eval_ms;        /* wall time of the last evaluation (0: never) */
    double eval_seconds;
    /* alerting */
    ralert_t **active;           /* hash-ordered array of owned alerts */
    size_t n_active, cap_active;
    bool restored;
    /* recording and alerting: label sets written at the previous evaluation (for staleness) */
    rlabels_t *prev;
    size_t n_prev;
} rrule_t;

typedef struct rgroup rgroup_t;

struct rgroup {
    const rules_group_t *def;    /* borrowed from a rules_file_t the manager holds */
    int64_t interval_ms, query_offset_ms;
    rrule_t *rules;
    size_t n_rules;
    bool should_restore;
    int64_t last_eval_ms;        /* wall time the last iteration started */
    int64_t last_eval_ts;        /* its slot timestamp */
    double last_duration_s;
    double last_rule_duration_sum_s;
    size_t last_samples;
    /* metrics children (NULL without a registry) */
    vigil_counter_t *m_evals, *m_failures, *m_iterations, *m_missed;
    vigil_gauge_t *m_interval, *m_last_ts, *m_last_duration, *m_rules, *m_samples,
                  *m_rule_sum;
    /* guards the rules' state against API readers while the group's thread evaluates */
    pthread_mutex_t mu;
    /* thread */
    pthread_t thread;
    bool running;
    rules_manager_t *mgr;
};

/* Evaluation context a group needs from its manager. */
typedef struct rules_eval_env {
    promql_engine_t *engine;
    const rules_store_t *store;
    const rules_tmpl_ops_t *tmpl;
    promql_labels_t external_labels;
    const char *external_url;
    int64_t resend_delay_ms;
    rules_alert_sink_fn sink;
    void *sink_ctx;
    log_t *log;
    vigil_summary_t *m_rule_duration;   /* NULL without a registry */
    int64_t (*now_ms)(void *);
    void *now_ctx;
} rules_eval_env_t;

/* Sets up the runtime of group `def` (rules zeroed, interval resolved). 0 or VIGIL_ENOMEM. */
int rgroup_init(rgroup_t *g, const rules_group_t *def, int64_t default_interval_ms,
                int64_t default_query_offset_ms);
/* Frees the rules' state (not def). */
void rgroup_destroy(rgroup_t *g);
/* Moves alert state and previous series of rules with the same name+expr+labels from `old`
 * (Prometheus' CopyState). */
void rgroup_copy_state(rgroup_t *g, rgroup_t *old);
/* One evaluation at slot `ts_ms` (Prometheus' Group.Eval). The caller holds the group's lock
 * (the manager's mutex) only around state reads by the API, see manager.c. */
void rgroup_eval(rgroup_t *g, const rules_eval_env_t *env, int64_t ts_ms);
/* Restores `for` state from ALERTS_FOR_STATE (Group.RestoreForState). */
void rgroup_restore(rgroup_t *g, const rules_eval_env_t *env, int64_t ts_ms, int64_t grace_ms,
                    int64_t outage_ms);
/* Writes stale markers for every series this group wrote at its last evaluation. */
void rgroup_mark_all_stale(rgroup_t *g, const rules_eval_env_t *env, int64_t ts_ms);

/* Alerting rule evaluation (alerting.c): updates r's alerts from the query result `res` at
 * `ts_ms`; appends the ALERTS and ALERTS_FOR_STATE samples to *out (owned label sets the
 * caller frees) when restored. 0, or an error with err filled (limit exceeded, duplicates). */
typedef struct rsamples {
    rlabels_t *l;     /* owned label sets */
    double *v;
    size_t n, cap;
} rsamples_t;

int rsamples_push(rsamples_t *s, rlabels_t *l, double v);   /* takes l; 0 or VIGIL_ENOMEM */
void rsamples_free(rsamples_t *s);

int ralert_eval(rrule_t *r, const rules_eval_env_t *env, const promql_result_t *res,
                int64_t ts_ms, int64_t query_offset_ms, int limit, rsamples_t *out,
                vigil_error_t *err);
/* Hands the alerts that need sending to the sink (Prometheus' sendAlerts). */
void ralert_send(rrule_t *r, const rules_eval_env_t *env, int64_t ts_ms, int64_t interval_ms);
/* Frees one rule's alerts. */
void ralert_clear(rrule_t *r);

/* The manager's lock guards every group's state against the API readers. */
void rules_manager_lock(rules_manager_t *m);
void rules_manager_unlock(rules_manager_t *m);
/* The groups in load order (borrowed, under the lock). */
rgroup_t **rules_manager_groups(rules_manager_t *m, size_t *n);

#endif /* VIGIL_RULES_INT_H */
