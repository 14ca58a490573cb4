/*
 * notify_int.h - private to src/notify: the loaded configuration, matchers, routes, the
 * integration table and the notifier's state.
 */
#ifndef VIGIL_NOTIFY_INT_H
#define VIGIL_NOTIFY_INT_H

#include "notify/notify.h"
#include "template/template.h"
#include "util/buf.h"
#include "util/re2posix.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- matchers (matcher.c) --------------------------------------------------------------- */

typedef enum nm_op { NM_EQ, NM_NE, NM_RE, NM_NRE } nm_op_t;

typedef struct nmatcher {
    char   *name;
    char   *value;
    nm_op_t op;
    re2posix_t re;  /* anchored ^(?:value)$ for =~ and !~, zeroed otherwise */
} nmatcher_t;

typedef struct nmatchers {
    nmatcher_t *m;
    size_t      n;
} nmatchers_t;

/* Parses Alertmanager's matcher list syntax ("a=b", "{a=\"b\", c=~d}") and appends to `ms`.
 * 0 or VIGIL_EPARSE with amtool's message in why. */
int nm_parse(nmatchers_t *ms, const char *text, char *why, size_t why_len);
/* Appends one matcher (regex compiled for =~ / !~). 0, VIGIL_EPARSE (why), VIGIL_ENOMEM. */
int nm_add(nmatchers_t *ms, const char *name, const char *value, nm_op_t op, char *why,
           size_t why_len);
/* Sorts by name, then op, then value (Alertmanager's order for route keys). */
void nm_sort(nmatchers_t *ms);
bool nm_matches(const nmatchers_t *ms, const notify_kv_t *labels, size_t n);
/* Appends "{a=\"b\",c=~\"d\"}" (Matchers.String()). */
int nm_format(const nmatchers_t *ms, buf_t *b);
void nm_free(nmatchers_t *ms);
/* Label name syntax of Prometheus 2 / Alertmanager 0.25: [a-zA-Z_][a-zA-Z0-9_]*. */
bool nm_valid_label_name(const char *s);
/* The value of label `name` in a sorted-or-not label array, "" when absent. */
const char *nm_label(const notify_kv_t *labels, size_t n, const char *name);

/* ---- configuration (config.c) ------------------------------------------------------------ */

typedef struct nroute nroute_t;
struct nroute {
    char       *receiver;       /* inherited from the parent when not given */
    size_t      receiver_idx;
    char      **group_by;       /* sorted */
    size_t      ngroup_by;
    bool        group_by_all;   /* "..." */
    nmatchers_t matchers;
    int64_t     group_wait_ms, group_interval_ms, repeat_interval_ms;
    bool        cont;
    nroute_t   *routes;
    size_t      nroutes;
    char       *key;            /* Route.Key(): "{}/{severity=\"critical\"}" */
    int         line, col;
};

typedef struct nintegration_ops nintegration_ops_t;

/* One entry of a receiver's *_configs list. */
typedef struct nintegration {
    const nintegration_ops_t *ops;
    int                       index;          /* within its kind */
    bool                      send_resolved;
    bool                      disabled;       /* lenient load: a placeholder URL */
    void                     *conf;           /* ops->free()s it */
} nintegration_t;

typedef struct nreceiver {
    char           *name;
    nintegration_t *ints;
    size_t          nints;
} nreceiver_t;

typedef struct ninhibit {
    nmatchers_t source, target;
    char      **equal;
    size_t      nequal;
} ninhibit_t;

typedef struct nglobal {
    int64_t resolve_timeout_ms;
    char   *smtp_from, *smtp_hello, *smtp_smarthost, *smtp_auth_username, *smtp_auth_password,
           *smtp_auth_identity, *smtp_auth_secret;
    bool    smtp_require_tls;
    char   *slack_api_url;
    char   *pagerduty_url;
} nglobal_t;

struct notify_config {
    nglobal_t    global;
    nroute_t     route;
    nreceiver_t *receivers;
    size_t       nreceivers;
    ninhibit_t  *inhibits;
    size_t       ninhibits;
    size_t       ntemplates;
    template_t  *lib;        /* Alertmanager's default templates + the `templates` files */
    char       **warnings;
    size_t       nwarnings;
    unsigned     refs;       /* a notifier's users of it (its own reference and each flush in
                                progress), under the notifier's lock: a reload frees the old
                                configuration only once the last flush using it is done */
};

/* The loader state handed to integration parsers (config.c). */
typedef struct nloader nloader_t;
typedef struct yaml_node_s nyaml_node_t;

/* A field of a YAML mapping: how to read it into a struct at `offset`. */
typedef enum nfield_type {
    NF_STRING, NF_TEMPLATE, NF_SECRET, NF_URL, NF_BOOL, NF_DURATION, NF_STRLIST, NF_TMPLMAP,
    NF_INT, NF_UNSUPPORTED, NF_IGNORED,
    NF_EXTENSION,  /* a string field that is not Alertmanager's (the seeds' email `subject` /
                      `body`): an unknown field in strict loads, read with a warning in
                      lenient ones */
} nfield_type_t;

typedef struct nstrlist { char **v; size_t n; } nstrlist_t;
typedef struct nstrmap { char **k, **v; size_t n; } nstrmap_t;

typedef struct nfield {
    const char   *name;
    nfield_type_t type;
    size_t        offset;
} nfield_t;

/* ---- integrations (receivers.c) ------------------------------------------------------------ */

/* An alert as the notifier holds it (owned copies; labels sorted by name). */
typedef struct nalert {
    notify_kv_t *labels;
    size_t       nlabels;
    notify_kv_t *annotations;
    size_t       nannotations;
    int64_t      starts_ms, ends_ms, updated_ms;
    char        *generator_url;
    uint64_t     fp;
} nalert_t;

/* What a flush hands the integrations. Everything is borrowed for the send. */
typedef struct nmessage {
    const char             *receiver;
    const char             *group_key;
    const char             *status;      /* "firing" when any alert fires */
    const nalert_t *const  *alerts;      /* firing first... in the notifier's order */
    const bool             *resolved;    /* per alert */
    size_t                  nalerts;
    size_t                  firing, nresolved;
    const notify_kv_t      *group_labels, *common_labels, *common_annotations;
    size_t                  ngroup, ncommon, ncommon_ann;
    const char             *external_url;
    int64_t                 now_ms;
    template_value_t       *data;        /* Alertmanager's template.Data for these alerts */
} nmessage_t;

/* payload.c: the template data tree (caller frees with template_value_free) and the webhook
 * JSON version 4 byte for byte as Alertmanager's encoding/json writes it, without the newline
 * its json.Encoder adds (malloc'd, caller frees; max_alerts 0: all). NULL when out of memory. */
template_value_t *npayload_data(const nmessage_t *m);
char *npayload_webhook(const nmessage_t *m, int max_alerts);
/* The cap of a buffer a webhook document is built in: far above any real group. */
#define NPAYLOAD_MAX_BYTES ((size_t)64 << 20)
/* The same document appended to `out`: 0, or VIGIL_ENOMEM/VIGIL_ELIMIT with `out` as it was. */
int npayload_webhook_buf(const nmessage_t *m, int max_alerts, buf_t *out);
/* Splits `ms` (since the epoch) into UTC calendar fields and returns the milliseconds. */
int npayload_utc(int64_t ms, struct tm *tm);
/* RFC 3339 with nanoseconds as Go's time.Time JSON encoding writes it; 0 -> Go's zero time. */
void npayload_rfc3339(int64_t ms, char *out, size_t cap);

struct nintegration_ops {
    const char *key;              /* "webhook_configs" */
    const char *name;             /* "webhook" */
    bool        send_resolved;    /* default */
    size_t      conf_size;
    const nfield_t *fields;       /* NULL-name terminated */
    /* After the fields are read: defaults from global, checks (amtool's messages),
     * compiling templates. 0 or an error through the loader; `placeholder` is set when the
     * only problem is a placeholder URL (lenient loads disable the integration). */
    int  (*finish)(nloader_t *ld, void *conf, const nyaml_node_t *node, bool *placeholder);
    /* Sends one notification; 0, or a negative code (retried) with why. */
    int  (*notify)(const void *conf, const nmessage_t *m, int timeout_ms, char *why,
                   size_t why_len);
    void (*free)(void *conf);
};

/* The table: NULL-key terminated. */
extern const nintegration_ops_t notify_integrations[];

/* Loader services for finish hooks (config.c). */
int nloader_fail(nloader_t *ld, const nyaml_node_t *node, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const nglobal_t *nloader_global(const nloader_t *ld);
/* The value node of `field` in mapping `node`, or `node` itself when absent (for positions). */
const nyaml_node_t *nloader_field(nloader_t *ld, const nyaml_node_t *node, const char *field);
const template_t *nloader_lib(const nloader_t *ld);
/* Checks a URL like Alertmanager's config.URL: http/https scheme and a host. NULL when fine,
 * else amtool's message (static). */
const char *notify_url_problem(const char *url);

/* A compiled template field: the text and its template (NULL when plain). */
typedef struct ntmpl {
    char       *text;
    template_t *t;
} ntmpl_t;

/* Compiles `text` against the default library; 0 or an error at `node`. */
int ntmpl_compile(nloader_t *ld, ntmpl_t *out, const char *text, const nyaml_node_t *node,
                  const char *field);
/* Renders into b (appending). */
int ntmpl_render(const ntmpl_t *t, const nmessage_t *m, buf_t *b, char *why, size_t why_len);
void ntmpl_free(ntmpl_t *t);

/* HTTP POST through libcurl (receivers.c): 2xx is success; 5xx/429/transport errors are
 * retryable (negative), 4xx is VIGIL_EINVAL (not retried). */
int notify_http_post(const char *url, const char *content_type, const char *body,
                     int timeout_ms, char *why, size_t why_len);

/* The default templates (defaults.c). */
extern const char notify_default_templates[];

/* Route tree helpers (route.c). */
int nroute_finish(notify_config_t *cfg, char *why, size_t why_len, int *line, int *col);
void nroute_free(nroute_t *r);
/* Routes matching `labels` (first match unless continue), appended to out (max cap). */
size_t nroute_match(const nroute_t *root, const notify_kv_t *labels, size_t n,
                    const nroute_t **out, size_t cap);
/* Appends the group labels of an alert for route r in LabelSet.String() form, filling
 * glabels (borrowed pointers into labels). */
int nroute_group_key(const nroute_t *r, const notify_kv_t *labels, size_t n, buf_t *key);

#endif /* VIGIL_NOTIFY_INT_H */

/* ---- the notifier's state (dispatch.c, mute.c, nflog.c) ----------------------------------- */
#ifndef VIGIL_NOTIFY_STATE_H
#define VIGIL_NOTIFY_STATE_H

/* An aggregation group: the alerts of one route with equal group labels. */
typedef struct ngroup {
    char           *key;          /* Alertmanager's group key */
    const nroute_t *route;
    notify_kv_t    *labels;       /* the group labels (owned) */
    size_t          nlabels;
    nalert_t      **alerts;       /* owned */
    size_t          n, cap;
    int64_t         next_flush;   /* INT64_MAX: nothing scheduled */
    bool            flushed;      /* has flushed once: later flushes every group_interval */
} ngroup_t;

/* What the receiver was last told about a group (Alertmanager's nflog entry). */
typedef struct nlog_entry {
    char     *key;                /* group key \x1f receiver \x1f integration \x1f index */
    int64_t   ts_ms;
    int64_t   expires_ms;
    uint64_t *firing, *resolved;  /* sorted fingerprints */
    size_t    nfiring, nresolved;
} nlog_entry_t;

typedef struct nsilence {
    char        id[40];
    char       *matchers_text;
    nmatchers_t matchers;
    int64_t     starts_ms, ends_ms, updated_ms;
    char       *created_by, *comment;
} nsilence_t;

struct notify {
    notify_config_t *cfg;         /* the current configuration (one reference held) */
    notify_options_t opts;        /* strings below are our copies */
    char            *data_dir;
    char            *external_url;
    pthread_mutex_t  mu;
    pthread_cond_t   cond;        /* CLOCK_MONOTONIC: pushes, stop */
    pthread_t        thread;
    bool             has_thread, stopping;
    ngroup_t       **groups;
    size_t           ngroups, capgroups;
    size_t           nalerts_total;
    nlog_entry_t    *log;
    size_t           nlog;
    nsilence_t      *sil;
    size_t           nsil;
    bool             dirty;       /* the state file is behind */
};

#define NOTIFY_MAX_ALERTS 100000
#define NOTIFY_MAX_SILENCES 10000
#define NOTIFY_RETENTION_MS (120LL * 3600 * 1000)  /* Alertmanager's --data.retention */

int64_t notify_now(const notify_t *n);

/* dispatch.c (caller holds n->mu): puts a copy of `a` into the groups of every route it
 * matches (the state file's alerts at start-up). 0, VIGIL_ENOMEM, VIGIL_ELIMIT. */
int nalert_route(notify_t *n, const nalert_t *a, int64_t now);

/* api.c (caller holds n->mu): the alerts held, each fingerprint once, sorted by fingerprint;
 * with `resolved` false only those not resolved at `now`. *out is malloc'd and points into
 * the groups (valid while the lock is held); the caller frees the array. 0 or VIGIL_ENOMEM. */
int nalert_unique(const notify_t *n, int64_t now, bool resolved, const nalert_t ***out,
                  size_t *count);

/* mute.c: inhibition and silences (caller holds n->mu). */
bool nmute_inhibited(const notify_t *n, const nalert_t *a, int64_t now);
/* Calls each(ctx, source) for every firing alert that inhibits `a` (an alert held in several
 * groups comes once per group) and returns how many; with each NULL, stops at the first.
 * Caller holds the lock. */
size_t nmute_inhibitors(const notify_t *n, const nalert_t *a, int64_t now,
                        void (*each)(void *ctx, const nalert_t *source), void *ctx);
bool nmute_silenced(const notify_t *n, const notify_kv_t *labels, size_t nl, int64_t now);
void nmute_gc(notify_t *n, int64_t now);
void nsilence_free(nsilence_t *s);

/* nflog.c (caller holds n->mu). */
const nlog_entry_t *nflog_get(const notify_t *n, const char *key);
int nflog_set(notify_t *n, const char *key, int64_t now, const uint64_t *firing, size_t nf,
              const uint64_t *resolved, size_t nr);
void nflog_gc(notify_t *n, int64_t now);
void nflog_free_all(notify_t *n);
/* The state file <data_dir>/notify.state: notification log, silences and the alerts held. */
int nflog_load(notify_t *n, vigil_error_t *err);
int nflog_save(notify_t *n, vigil_error_t *err);
uint32_t nflog_crc32(const void *data, size_t len);

#endif
