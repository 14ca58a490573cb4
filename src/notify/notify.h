/*
 * notify.h - the notifier: Alertmanager's configuration format, routing, grouping, timers,
 * inhibition, silences, the notification log and the receivers, inside the agent.
 *
 * Reading order: config.c (the YAML file -> notify_config_t, with amtool's checks),
 * matcher.c (label matchers), route.c (the route tree and group keys), dispatch.c (alerts ->
 * groups -> flushes on timers; the notifier thread), pipeline.c (inhibit, silence, dedup
 * against the notification log, send with retries), receivers.c (the integration table:
 * webhook, slack, pagerduty, email, exec, file), payload.c (the JSON bodies), nflog.c (the
 * state file), am_forward.c (sending alerts to a real Alertmanager instead).
 *
 * Thread safety: notify_push, the silence functions and notify_stop may be called from any
 * thread; the notifier owns its state behind one mutex and sends outside it.
 */
#ifndef VIGIL_NOTIFY_H
#define VIGIL_NOTIFY_H

#include "log/log.h"
#include "util/buf.h"
#include "vigil/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration ------------------------------------------------------------------------ */

typedef struct notify_config notify_config_t;

/* Loading flags. */
#define NOTIFY_LOAD_LENIENT 0x1u /* a receiver URL that is a placeholder (no scheme, no host,
                                    "YOUR_SLACK_WEBHOOK_URL") disables that one integration
                                    with a warning instead of failing the file, so a config
                                    like the seeds' loads unchanged. Without it the file fails
                                    exactly where `amtool check-config` fails. */

/* Loads an Alertmanager configuration file. On success *out is owned by the caller and freed
 * with notify_config_free(). Errors: VIGIL_EIO (cannot read), VIGIL_EPARSE ("file:line:col:
 * what", amtool's wording where it has one), VIGIL_ENOTSUP (a part of the format vigil does
 * not implement yet, named), VIGIL_ELIMIT, VIGIL_ENOMEM. */
int notify_config_load_file(notify_config_t **out, const char *path, unsigned flags,
                            vigil_error_t *err);
int notify_config_load_buffer(notify_config_t **out, const char *name, const char *data,
                              size_t len, unsigned flags, vigil_error_t *err);
void notify_config_free(notify_config_t *cfg);

/* `vigil check notify FILE`: 0 when the file is valid (the verdict of amtool check-config),
 * otherwise the load error. */
int notify_config_check_file(const char *path, vigil_error_t *err);

/* Counts for the check summary ("- 1 inhibit rules ..."). */
typedef struct notify_config_summary {
    size_t receivers, inhibit_rules, templates, routes, integrations, disabled;
} notify_config_summary_t;
void notify_config_summarize(const notify_config_t *cfg, notify_config_summary_t *out);

/* The i-th warning of a lenient load (a disabled integration and why), NULL past the last.
 * Borrowed from the config. */
const char *notify_config_warning(const notify_config_t *cfg, size_t i);

/* The name of the i-th integration vigil has ("webhook", "slack", ...: the `integration` label
 * of the metrics), NULL past the last. Static. */
const char *notify_integration_name(size_t i);

/* ---- alerts ------------------------------------------------------------------------------- */

typedef struct notify_kv {
    const char *name;
    const char *value;
} notify_kv_t;

/* An alert as the rule engine hands it over. Everything is borrowed for the call only. */
typedef struct notify_alert {
    const notify_kv_t *labels;       /* any order; names unique */
    size_t             nlabels;
    const notify_kv_t *annotations;
    size_t             nannotations;
    int64_t            starts_at_ms; /* 0: now */
    int64_t            ends_at_ms;   /* 0: unknown (now + resolve_timeout); <= now: resolved */
    const char        *generator_url;
} notify_alert_t;

/* Alertmanager's fingerprint of a label set (FNV-1a 64 over sorted names and values). */
uint64_t notify_fingerprint(const notify_kv_t *labels, size_t n);

/* ---- the notifier -------------------------------------------------------------------------- */

typedef struct notify notify_t;

/* A notification as delivered: what tests and the delivery hook see. Borrowed for the call. */
typedef struct notify_delivery {
    const char *receiver;      /* receiver name */
    const char *integration;   /* "webhook", "slack", ... */
    int         index;         /* index of the integration within its kind in the receiver */
    const char *group_key;     /* Alertmanager's group key ("{}/{a=\"b\"}:{alertname=\"X\"}") */
    const char *status;        /* "firing" / "resolved" */
    size_t      firing, resolved;
    const char *body;          /* the webhook JSON (version 4) of the notification */
} notify_delivery_t;

/* Replaces the integrations' sending (tests): return 0 for delivered, a negative code to
 * have the notification retried. */
typedef int (*notify_deliver_fn)(void *ctx, const notify_delivery_t *d);

typedef struct notify_options {
    const char       *data_dir;      /* notification log and silences file; NULL: in memory */
    const char       *external_url;  /* .ExternalURL; NULL: "" */
    log_t            *log;
    int64_t         (*now_ms)(void *ctx);  /* clock; NULL: the real one (CLOCK_REALTIME) */
    void             *clock_ctx;
    bool              manual;        /* no thread: the caller runs notify_tick() (tests) */
    notify_deliver_fn deliver;       /* NULL: the integrations send for real */
    void             *deliver_ctx;
    int               max_attempts;  /* send attempts per notification; 0: 5 */
    int64_t           backoff_ms;    /* first retry delay, doubled each time; 0: 1000 */
    /* Called after every send attempt (the agent's metrics): the integration's name, the
     * attempt's result (0 or a negative code), how long it took, and whether it was the
     * notification's last attempt (delivered, not retryable, or out of attempts). Runs on
     * the notifier thread without the notifier's lock; NULL: not called. */
    void            (*on_attempt)(void *ctx, const char *integration, int rc, double seconds,
                                  bool last);
    void             *on_attempt_ctx;
} notify_options_t;

/* Creates a notifier that takes ownership of `cfg` (also on failure). With a data_dir the
 * notification log and silences are restored from it. Unless opts->manual, starts the
 * notifier thread. *out is freed with notify_stop(). */
int notify_create(notify_t **out, notify_config_t *cfg, const notify_options_t *opts,
                  vigil_error_t *err);

/* Hands alerts to the notifier (copied). Returns 0, VIGIL_ESTATE after notify_stop started,
 * VIGIL_EINVAL for an alert without labels, VIGIL_ELIMIT when too many alerts are held. */
int notify_push(notify_t *n, const notify_alert_t *alerts, size_t count);

/* Runs everything due at `now_ms`: resolve timeouts, group flushes, sends (with retries) and
 * the log write. Returns the time of the next due work (INT64_MAX: none). The thread calls
 * this; with opts->manual the caller does. */
int64_t notify_tick(notify_t *n, int64_t now_ms);

/* Replaces the configuration of a running notifier (SIGHUP), taking ownership of `cfg`. The
 * alerts held are routed again through the new route tree into new groups, as Alertmanager's
 * reload does; the notification log and silences stay, so a group whose key and receiver are
 * unchanged is not notified again. A flush in progress finishes with the configuration it
 * started with. Returns 0, or VIGIL_ESTATE after notify_stop started (cfg is freed). */
int notify_reload(notify_t *n, notify_config_t *cfg);

/* Counts of the alerts held (each fingerprint once): `active` ones are firing and neither
 * silenced nor inhibited, `suppressed` ones are firing and muted (alertmanager_alerts). */
void notify_alert_counts(notify_t *n, size_t *active, size_t *suppressed);

/* Stops the thread (waiting for a send in progress, which is bounded by its timeout), writes
 * the state file and frees everything, `cfg` included. NULL is a no-op. */
void notify_stop(notify_t *n);

/* ---- silences ------------------------------------------------------------------------------- */

typedef struct notify_silence {
    char        id[40];         /* set by notify_silence_add */
    const char *matchers;       /* "a=\"b\", c=~\"d.*\"" (Alertmanager's matcher syntax) */
    int64_t     starts_at_ms;   /* 0: now */
    int64_t     ends_at_ms;     /* must be after starts_at */
    const char *created_by;
    const char *comment;
} notify_silence_t;

/* Adds a silence; s->id receives its id. VIGIL_EPARSE (bad matchers, with why),
 * VIGIL_EINVAL (ends before it starts, no matchers), VIGIL_ELIMIT. */
int notify_silence_add(notify_t *n, notify_silence_t *s, vigil_error_t *err);

/* Expires a silence now. VIGIL_ENOENT when unknown; one that has already expired is left as
 * it is and the call succeeds, as Alertmanager 0.25's DELETE /api/v2/silence/{id} does. */
int notify_silence_expire(notify_t *n, const char *id);

/* Calls `fn` for every silence (active, pending and expired ones not yet garbage-collected)
 * with its state ("active", "pending", "expired"); strings are borrowed for the call. */
void notify_silence_list(notify_t *n,
                         void (*fn)(void *ctx, const notify_silence_t *s, const char *state),
                         void *ctx);

/* True when the label set would be muted by an active silence now. */
bool notify_silenced(notify_t *n, const notify_kv_t *labels, size_t nlabels);

/* ---- Alertmanager's API v2 documents (api.c) ----------------------------------------------- */

/* Appends the GettableSilences array of GET /api/v2/silences (every silence kept, expired ones
 * included, as Alertmanager lists them). 0 or VIGIL_ELIMIT/VIGIL_ENOMEM from the buffer. */
int notify_api_silences_json(notify_t *n, buf_t *out);

/* Appends the GettableSilence of GET /api/v2/silence/{id}. VIGIL_ENOENT when unknown. */
int notify_api_silence_json(notify_t *n, const char *id, buf_t *out);

/* POST /api/v2/silences: creates a silence from a PostableSilence document (`body`, `len`
 * bytes of JSON: matchers [{name, value, isRegex, isEqual}], startsAt, endsAt, createdBy,
 * comment, optional id of a silence it replaces, which is expired). `id_out` (40 bytes)
 * receives the new id. VIGIL_EPARSE / VIGIL_EINVAL with the field at fault in err,
 * VIGIL_ENOENT for an unknown id to replace, VIGIL_ELIMIT. */
int notify_api_silence_post(notify_t *n, const char *body, size_t len, char id_out[40],
                            vigil_error_t *err);

/* The query parameters of GET /api/v2/alerts, as Alertmanager reads them. */
typedef struct notify_alert_filter {
    const char *const *matchers;   /* `filter`: each one matcher ("severity=~\"crit.*\"") that
                                      the alert's labels must satisfy */
    size_t             nmatchers;
    bool               active;     /* include alerts neither silenced nor inhibited */
    bool               silenced;   /* include alerts some silence mutes */
    bool               inhibited;  /* include alerts some other alert inhibits */
    const char        *receiver;   /* RE2, anchored: keep alerts routed to a matching
                                      receiver; NULL or "": all */
} notify_alert_filter_t;

/* Everything in, as the endpoint's defaults (active, silenced and inhibited all true). */
#define NOTIFY_ALERT_FILTER_ALL ((notify_alert_filter_t){ .active = true, .silenced = true, \
                                                          .inhibited = true })

/* Appends the GettableAlerts array of GET /api/v2/alerts: the alerts held that have not
 * resolved and pass `filter`, each fingerprint once, with its receivers and status (state
 * "active" or "suppressed", silencedBy the ids of the active silences muting it, inhibitedBy
 * the fingerprints of the alerts inhibiting it). VIGIL_EPARSE with the reason in err for a bad
 * matcher or receiver regex; else 0 or VIGIL_ELIMIT/VIGIL_ENOMEM from the buffer. */
int notify_api_alerts_json(notify_t *n, const notify_alert_filter_t *filter, buf_t *out,
                           vigil_error_t *err);

/* ---- forwarding to a real Alertmanager (am_forward.c) --------------------------------------- */

/*
 * Prometheus's notifier: alerts are queued (the oldest dropped past the capacity), sent in
 * batches to every Alertmanager's POST /api/v2/alerts, and a batch counts as delivered when at
 * least one Alertmanager took it. Resending firing alerts is the rule engine's job (every
 * resend delay); this side fills in what Prometheus's rule manager would: an alert without
 * an end gets endsAt = now + valid_for (Prometheus: 4 x max(resend delay, interval)), so
 * Alertmanager resolves it by itself if vigil stops sending; a resolved alert keeps its end.
 */
typedef struct am_forward am_forward_t;

typedef struct am_forward_options {
    const char *const *urls;            /* Alertmanager base URLs ("http://127.0.0.1:9093") */
    size_t             nurls;
    const notify_kv_t *external_labels; /* added unless the alert has the label */
    size_t             nexternal;
    int64_t            valid_for_ms;    /* 0: 4 minutes (4 x the default 1m resend delay) */
    int                timeout_ms;      /* per request; 0: 10 s */
    size_t             capacity;        /* queued alerts; 0: 10000 */
    size_t             max_batch;       /* alerts per request; 0: 64 */
    log_t             *log;
    int64_t          (*now_ms)(void *ctx);
    void              *clock_ctx;
    bool               manual;          /* no thread: the caller runs am_forward_flush() */
    /* Called after each request with the index of the Alertmanager in `urls`, the number of
     * alerts in the batch and whether that Alertmanager took it (the agent's per-Alertmanager
     * metrics). Runs on the sending thread; NULL: not called. */
    void             (*on_result)(void *ctx, size_t url_index, size_t alerts, bool ok);
    void              *on_result_ctx;
} am_forward_options_t;

typedef struct am_forward_stats {
    uint64_t sent;     /* alerts at least one Alertmanager took */
    uint64_t dropped;  /* alerts pushed out of a full queue or refused by every Alertmanager */
    uint64_t errors;   /* failed requests */
    size_t   queued;   /* alerts waiting */
    size_t   capacity; /* the queue's size */
} am_forward_stats_t;

/* Creates a forwarder; *out is freed with am_forward_stop(). VIGIL_EINVAL (no URL or a URL
 * that is not http(s)), VIGIL_ENOMEM, VIGIL_ESYS. */
int am_forward_create(am_forward_t **out, const am_forward_options_t *opts, vigil_error_t *err);
/* Queues copies of the alerts. 0, or VIGIL_ESTATE after stop began. */
int am_forward_push(am_forward_t *f, const notify_alert_t *alerts, size_t count);
/* Sends everything queued now (batch by batch). 0 when every batch reached an Alertmanager. */
int am_forward_flush(am_forward_t *f);
void am_forward_stats(am_forward_t *f, am_forward_stats_t *out);
/* Sends what is queued (each request bounded by the timeout), stops the thread, frees. */
void am_forward_stop(am_forward_t *f);

#endif /* VIGIL_NOTIFY_H */
