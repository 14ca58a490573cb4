/*
 * rules.h - Prometheus recording and alerting rules for vigil: rule files, evaluation, the
 * promtool unit-test runner and the /api/v1/rules and /api/v1/alerts documents.
 *
 * Reading order of the implementation (docs/rules.md has the tour and the metric mapping):
 *   rulefmt.c   rule files -> rules_file_t (validation with file:line:col, templates compiled);
 *               YAML through config/yamldoc.h (positions, merge keys, duplicate keys)
 *   labels.c    owned label sets, Prometheus' label hash (xxhash64)
 *   tmpl.c      alert labels and annotations through src/template (rules_tmpl_ops_t)
 *   alerting.c  one alerting rule's state machine (inactive -> pending -> firing -> resolved)
 *   group.c     one group's evaluation: queries, ALERTS/ALERTS_FOR_STATE, staleness, metrics
 *   manager.c   groups on threads at aligned timestamps, reload, restore of `for` state
 *   api.c       the JSON of /api/v1/rules and /api/v1/alerts
 *   unittest.c  `promtool test rules` files (series.c: input_series values)
 *
 *   rules_manager_t *m;
 *   rules_manager_opts_t o = { .engine = eng, .store = rules_store_tsdb(...), ... };
 *   rules_manager_create(&o, &m, &err);
 *   rules_manager_load(m, files, n, &err);      // reload: same call, old rules kept on error
 *   rules_manager_start(m);                     // one thread per group
 *   ...
 *   rules_manager_free(m);                      // stops the threads
 */
#ifndef VIGIL_RULES_H
#define VIGIL_RULES_H

#include "log/log.h"
#include "promql/promql.h"
#include "promql/storage.h"
#include "tsdb/tsdb.h"
#include "util/buf.h"
#include "vigil/error.h"
#include "vigil/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- templates ------------------------------------------------------------------------- */

/* What an alerting rule's label and annotation templates see. */
typedef struct rules_tmpl_data {
    promql_labels_t labels;           /* $labels / .Labels: the result sample's labels, __name__
                                         included as in Prometheus (not the rule's labels) */
    promql_labels_t external_labels;  /* $externalLabels */
    const char     *external_url;     /* $externalURL */
    double          value;            /* $value / .Value */
} rules_tmpl_data_t;

/*
 * The template language as rules use it (src/template behind rules_tmpl_default(); tests may
 * plug in another engine through this table).
 *   compile:   parses `text` of the template named `name` ("__alert_<rule>") with the
 *              variables $labels, $externalLabels, $externalURL and $value defined; *out is
 *              freed with release(). VIGIL_EPARSE (or VIGIL_ENOTSUP, VIGIL_ELIMIT) with
 *              "template: NAME:LINE:COL: ..." in err for a syntax error or an unsupported
 *              construct; VIGIL_ENOMEM.
 *   data_new:  builds the engine's view of `d` once per alert, shared by all its label and
 *              annotation expansions; *out borrows nothing from `d` and is freed with
 *              data_free(). 0 or VIGIL_ENOMEM.
 *   expand:    appends the expansion of `tmpl` for `data` to `out`; on error (a function
 *              failing at run time) the caller writes "<error expanding template: MSG>" as
 *              Prometheus does.
 */
typedef struct rules_tmpl_ops {
    int  (*compile)(void *ctx, const char *name, const char *text, void **out, vigil_error_t *err);
    int  (*data_new)(void *ctx, const rules_tmpl_data_t *d, void **out);
    int  (*expand)(void *ctx, const void *tmpl, const void *data, buf_t *out,
                   vigil_error_t *err);
    void (*data_free)(void *ctx, void *data);
    void (*release)(void *ctx, void *tmpl);
    void *ctx;
} rules_tmpl_ops_t;

/* The template engine vigil ships (src/template); static, never freed. */
const rules_tmpl_ops_t *rules_tmpl_default(void);

/* ---- rule files ------------------------------------------------------------------------ */

/* One label or annotation of a rule: the text as written and, for alerting rules whose text
 * contains "{{", its compiled template. */
typedef struct rules_kv {
    char *name;
    char *value;
    void *tmpl;     /* compiled by the file's template ops; NULL for plain text */
} rules_kv_t;

typedef struct rules_rule {
    bool        alert;            /* alerting (true) or recording rule */
    char       *name;             /* `alert` or `record` */
    char       *expr;
    int64_t     for_ms;           /* alerting only */
    int64_t     keep_firing_for_ms;
    rules_kv_t *labels;           /* group labels merged in (the rule's win), sorted by name */
    size_t      n_labels;
    rules_kv_t *annotations;      /* sorted by name */
    size_t      n_annotations;
    unsigned    line, col;        /* of the `record:` / `alert:` value */
} rules_rule_t;

typedef struct rules_group {
    char         *name;
    char         *file;           /* the path the file was loaded from */
    int64_t       interval_ms;    /* 0: the manager's default */
    int64_t       query_offset_ms;
    bool          has_query_offset;
    int           limit;          /* 0: none */
    rules_rule_t *rules;
    size_t        n_rules;
    unsigned      line, col;
} rules_group_t;

typedef struct rules_file {
    char          *path;
    rules_group_t *groups;
    size_t         n_groups;
    const rules_tmpl_ops_t *tmpl;  /* what compiled the templates (frees them) */
} rules_file_t;

/* Every problem found in a file, in file order, each "FILE:LINE:COL: message". */
typedef struct rules_errors {
    char  **v;
    size_t  n;
} rules_errors_t;

void rules_errors_free(rules_errors_t *e);

typedef struct rules_load_opts {
    const rules_tmpl_ops_t *tmpl;   /* NULL: rules_tmpl_default() */
    bool legacy_names;              /* label/annotation names [a-zA-Z_][a-zA-Z0-9_]* (Prometheus
                                       2 / --validation-scheme=legacy); default: any UTF-8 */
    bool ignore_unknown_fields;     /* promtool --ignore-unknown-fields */
} rules_load_opts_t;

/*
 * Parses the rule file `path` (data/len when data != NULL, else read from disk). On success
 * *out is the caller's, freed with rules_file_free(). On failure every problem is appended to
 * `errs` (caller frees with rules_errors_free()) and VIGIL_EPARSE (or VIGIL_EIO, VIGIL_ENOMEM)
 * is returned; `err` carries the first one.
 */
int rules_file_load(const char *path, const char *data, size_t len, const rules_load_opts_t *o,
                    rules_file_t **out, rules_errors_t *errs, vigil_error_t *err);
void rules_file_free(rules_file_t *f);

/* Number of rules in the file. */
size_t rules_file_count(const rules_file_t *f);

/* ---- the store rules write to ---------------------------------------------------------- */

/*
 * Where recording rules and ALERTS/ALERTS_FOR_STATE samples go, and what rules query. Each
 * group thread opens its own appender: open() returns a per-thread handle (NULL on ENOMEM),
 * append() adds one sample (labels sorted, any empty value already dropped), commit() makes
 * the batch durable, close() frees the handle. Out-of-order and duplicate rejections are
 * VIGIL_ERANGE, as tsdb_appender_add() returns them.
 */
typedef struct rules_store {
    promql_storage_t query;
    void *(*open)(void *ctx);
    int   (*append)(void *app, promql_labels_t ls, int64_t t_ms, double v, vigil_error_t *err);
    int   (*commit)(void *app, vigil_error_t *err);
    void  (*close)(void *app);
    void *ctx;
} rules_store_t;

/* A store over an in-memory promql_memstore_t (tests and `vigil test rules`); borrowed.
 * Single-threaded: evaluate with rules_manager_eval_all(), not with started threads. */
rules_store_t rules_store_memstore(promql_memstore_t *m);

/* The agent's store: samples through tsdb appenders (committed TSDB_ASYNC), queries through
 * `query` (the agent's tsdb_storage(db)). Both borrowed. */
rules_store_t rules_store_tsdb(tsdb_t *db, promql_storage_t query);

/* ---- alerts handed out ----------------------------------------------------------------- */

/* One alert as the notifier receives it (Prometheus' notifier.Alert). Everything is borrowed
 * for the duration of the sink call: copy what you keep. */
typedef struct rules_alert_out {
    promql_labels_t labels;        /* alertname and the rule's labels included */
    promql_labels_t annotations;
    int64_t starts_at_ms;          /* FiredAt */
    int64_t ends_at_ms;            /* ResolvedAt when resolved, else ValidUntil */
    bool    resolved;
    const char *generator_url;     /* externalURL + "/graph?g0.expr=...&g0.tab=1" */
} rules_alert_out_t;

/* Called from a group's thread after each evaluation of an alerting rule with the alerts that
 * need (re)sending (Prometheus' sendAlerts: firing ones every resend_delay, resolved ones
 * once more). `expr` is the rule's expression. Must not call back into the manager. */
typedef void (*rules_alert_sink_fn)(void *ctx, const char *expr, const rules_alert_out_t *alerts,
                                    size_t n);

/* ---- the manager ----------------------------------------------------------------------- */

typedef struct rules_manager rules_manager_t;

typedef struct rules_manager_opts {
    promql_engine_t *engine;         /* borrowed; required */
    rules_store_t    store;          /* required */
    int64_t default_interval_ms;     /* global.evaluation_interval; 0: 1m */
    int64_t default_query_offset_ms; /* global.rule_query_offset; 0 */
    int64_t for_grace_ms;            /* --rules.alert.for-grace-period; 0: 10m */
    int64_t outage_tolerance_ms;     /* --rules.alert.for-outage-tolerance; 0: 1h */
    int64_t resend_delay_ms;         /* --rules.alert.resend-delay; 0: 1m */
    promql_labels_t external_labels; /* copied */
    const char *external_url;        /* copied; NULL: "" */
    rules_alert_sink_fn sink;        /* NULL: alerts are not sent anywhere */
    void *sink_ctx;
    vigil_registry_t *registry;      /* NULL: no metrics */
    log_t *log;                      /* NULL: silent */
    const rules_tmpl_ops_t *tmpl;    /* NULL: rules_tmpl_default() */
    /* Clock for tests: now in ms since the epoch. NULL: CLOCK_REALTIME. */
    int64_t (*now_ms)(void *ctx);
    void *now_ctx;
} rules_manager_opts_t;

/* Creates a manager with no rules. *out is freed with rules_manager_free(). */
int rules_manager_create(const rules_manager_opts_t *o, rules_manager_t **out, vigil_error_t *err);

/*
 * (Re)loads the rule files (paths; globs are the caller's business). All or nothing: when any
 * file is bad nothing changes and err says why (all problems, one per line). Groups that keep
 * their file and name keep their alert state and series, as Prometheus' Update does; a running
 * manager restarts its threads for the new groups. Groups new at the first load restore their
 * alerts' `for` state from ALERTS_FOR_STATE after their second evaluation.
 */
int rules_manager_load(rules_manager_t *m, const char *const *files, size_t n,
                       vigil_error_t *err);

/* Starts one evaluation thread per group. 0 or VIGIL_ESYS. */
int rules_manager_start(rules_manager_t *m);

/* Stops and joins the threads (idempotent). Groups keep their state. */
void rules_manager_stop(rules_manager_t *m);

/* Stops, then frees everything. NULL is a no-op. */
void rules_manager_free(rules_manager_t *m);

/* Evaluates every group once at `ts_ms`, in load order, on the calling thread (tests, the
 * unit-test runner; not while started). */
void rules_manager_eval_all(rules_manager_t *m, int64_t ts_ms);

/* Restores every group's alert `for` state as of `ts_ms` (what a thread does after its second
 * evaluation when the group is new). */
void rules_manager_restore_all(rules_manager_t *m, int64_t ts_ms);

/* Prometheus' slot of a group: the evaluation time at or before `now_ms`, offset within the
 * interval by the hash of (file, name). */
int64_t rules_group_eval_timestamp(const char *file, const char *name, int64_t interval_ms,
                                   int64_t now_ms);

/* ---- the HTTP API documents ------------------------------------------------------------ */

/* Appends {"status":"success","data":{"groups":[...]}} of GET /api/v1/rules (type filter:
 * NULL, "alert" or "record"). 0 or VIGIL_ELIMIT/VIGIL_ENOMEM from the buffer. */
int rules_api_rules_json(rules_manager_t *m, const char *type, buf_t *out);

/* Appends {"status":"success","data":{"alerts":[...]}} of GET /api/v1/alerts. */
int rules_api_alerts_json(rules_manager_t *m, buf_t *out);

/* ---- promtool unit tests --------------------------------------------------------------- */

typedef struct rules_test_opts {
    const char *run;           /* --run REGEX: only test groups whose name matches; NULL: all */
    bool ignore_unknown_fields;
    bool legacy_names;
    const rules_tmpl_ops_t *tmpl;  /* NULL: rules_tmpl_default() */
} rules_test_opts_t;

/*
 * Runs one unit-test file as `promtool test rules` does, printing "Unit Testing:  FILE",
 * "  SUCCESS" or "  FAILED:" and each failure to `out`. Returns 0 when every test passed,
 * 1 when a test failed or the file (or a rule file) could not be used.
 */
int rules_test_file(const char *path, const rules_test_opts_t *o, FILE *out);

#endif /* VIGIL_RULES_H */
