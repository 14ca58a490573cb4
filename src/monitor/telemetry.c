/*
 * telemetry.c - the telemetry collector (seed 000 TelemetryCollector).
 *
 * State, all under one lock:
 *   in_flight  - array of started operations (swap-remove on end), at most max_events
 *   ring       - the last max_events finished operations, oldest at `head`
 *   types      - per-type exact totals, at most max_types, in order of first sight
 * Lookups by id are linear scans. The bound is max_events (10000 by default) and a scan of
 * that many short strings costs microseconds, less than the HTTP request that asks for it; a
 * hash table would have to be kept in step with the ring's evictions for no visible gain.
 * Percentiles are computed on demand by copying a type's durations out of the ring and
 * sorting them, so stats cost O(max_events log max_events) and recording costs O(1).
 */
#include "vigil/telemetry.h"

#include "monitor/monitor_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_MAX 32

typedef struct op_type {
    char             name[VIGIL_OP_TYPE_MAX];
    uint64_t         count, success, slow;
    double           sum, max;
    vigil_summary_t *duration;  /* NULL without a registry */
    vigil_counter_t *slow_total;
} op_type_t;

typedef struct live_op {
    char    id[VIGIL_OP_ID_MAX];
    size_t  type;          /* index into types */
    double  start_mono;
    double  start_wall;
    char   *metadata;      /* JSON object text, owned */
} live_op_t;

typedef struct done_op {
    char    id[VIGIL_OP_ID_MAX];
    size_t  type;
    char    status[STATUS_MAX];
    double  start_wall;
    double  duration;
    bool    slow;
    char   *metadata;      /* JSON object text, owned */
    char   *metrics;       /* JSON object text, owned */
} done_op_t;

struct vigil_telemetry {
    pthread_mutex_t lock;
    size_t          max_events, max_types;
    double          slow_threshold;
    double          pct[VIGIL_TELEMETRY_MAX_PERCENTILES];
    size_t          n_pct;
    live_op_t      *live;
    size_t          n_live;
    done_op_t      *ring;
    size_t          head, n_done;
    op_type_t      *types;
    size_t          n_types;
    uint64_t        started, finished, success, slow, dropped, rejected, next_gen;
    vigil_family_t *ops_total, *duration, *slow_total;
    vigil_gauge_t  *in_flight_g;
    vigil_counter_t *dropped_c;
    vigil_monitor_log_fn log;
    void           *log_ctx;
};

static const double default_pct[] = { 50, 90, 95, 99 };

static int register_metrics(vigil_telemetry_t *t, vigil_registry_t *reg, vigil_error_t *err)
{
    double q[VIGIL_TELEMETRY_MAX_PERCENTILES];
    for (size_t i = 0; i < t->n_pct; i++)
        q[i] = t->pct[i] / 100.0;
    vigil_summary_opts_t so = { .quantiles = q, .n_quantiles = t->n_pct };
    vigil_family_t *inflight, *dropped;
    int rc = vigil_counter_new(reg, "vigil_monitor_operations_total",
                               "Finished operations, by type and status.",
                               (const char *const[]){ "type", "status", NULL }, &t->ops_total,
                               err);
    rc = rc ? rc : vigil_summary_new(reg, "vigil_monitor_operation_duration_seconds",
                                     "Duration of finished operations, by type.",
                                     (const char *const[]){ "type", NULL }, &so, &t->duration,
                                     err);
    rc = rc ? rc : vigil_counter_new(reg, "vigil_monitor_slow_operations_total",
                                     "Operations slower than the slow-request threshold.",
                                     (const char *const[]){ "type", NULL }, &t->slow_total, err);
    rc = rc ? rc : vigil_gauge_new(reg, "vigil_monitor_operations_in_flight",
                                   "Operations started and not yet ended.", NULL, &inflight, err);
    rc = rc ? rc : vigil_counter_new(reg, "vigil_monitor_operation_events_dropped_total",
                                     "Finished operations pushed out of the bounded event "
                                     "ring (their totals stay counted).", NULL, &dropped, err);
    if (rc != 0)
        return rc;
    t->in_flight_g = vigil_gauge_with(inflight);
    t->dropped_c = vigil_counter_with(dropped);
    return 0;
}

int vigil_telemetry_create(const vigil_telemetry_opts_t *opts, vigil_telemetry_t **out,
                           vigil_error_t *err)
{
    *out = NULL;
    vigil_telemetry_opts_t o = opts != NULL ? *opts : (vigil_telemetry_opts_t){ 0 };
    if (o.percentiles == NULL) {
        o.percentiles = default_pct;
        o.n_percentiles = sizeof(default_pct) / sizeof(default_pct[0]);
    }
    if (o.n_percentiles > VIGIL_TELEMETRY_MAX_PERCENTILES)
        return vigil_error_set(err, VIGIL_EINVAL, "at most %d percentiles",
                               VIGIL_TELEMETRY_MAX_PERCENTILES);
    for (size_t i = 0; i < o.n_percentiles; i++)
        if (!(o.percentiles[i] > 0 && o.percentiles[i] <= 100))
            return vigil_error_set(err, VIGIL_EINVAL, "percentile %g: must be in (0, 100]",
                                   o.percentiles[i]);
    if (o.slow_threshold_s < 0 || isnan(o.slow_threshold_s))
        return vigil_error_set(err, VIGIL_EINVAL, "slow threshold must be >= 0");
    vigil_telemetry_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    t->max_events = o.max_events > 0 ? o.max_events : 10000;
    t->max_types = o.max_types > 0 ? o.max_types : 256;
    t->slow_threshold = o.slow_threshold_s > 0 ? o.slow_threshold_s : 30.0;
    t->n_pct = o.n_percentiles;
    memcpy(t->pct, o.percentiles, o.n_percentiles * sizeof(double));
    t->log = o.log;
    t->log_ctx = o.log_ctx;
    pthread_mutex_init(&t->lock, NULL);
    t->live = calloc(t->max_events, sizeof(*t->live));
    t->ring = calloc(t->max_events, sizeof(*t->ring));
    t->types = calloc(t->max_types, sizeof(*t->types));
    if (t->live == NULL || t->ring == NULL || t->types == NULL) {
        vigil_telemetry_free(t);
        return vigil_error_set(err, VIGIL_ENOMEM, "telemetry for %zu events: out of memory",
                               t->max_events);
    }
    if (o.registry != NULL) {
        int rc = register_metrics(t, o.registry, err);
        if (rc != 0) {
            vigil_telemetry_free(t);
            return rc;
        }
    }
    *out = t;
    return 0;
}

void vigil_telemetry_free(vigil_telemetry_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; t->live != NULL && i < t->n_live; i++)
        free(t->live[i].metadata);
    for (size_t k = 0; t->ring != NULL && k < t->n_done; k++) {
        done_op_t *d = &t->ring[(t->head + k) % t->max_events];
        free(d->metadata);
        free(d->metrics);
    }
    free(t->live);
    free(t->ring);
    free(t->types);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* Ids and types: printable ASCII without space; ids also without '/', so that
 * /api/v1/operations/{id}/end can name every id. */
static bool token_ok(const char *s, size_t max, bool is_id)
{
    if (s == NULL || s[0] == '\0' || strnlen(s, max) >= max)
        return false;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p > '~' || (is_id && *p == '/'))
            return false;
    return true;
}

static int encode_metrics(const vigil_kv_num_t *m, size_t n, char **out, vigil_error_t *err)
{
    if (n > MONITOR_MD_MAX_ITEMS)
        return vigil_error_set(err, VIGIL_EINVAL, "metrics: at most %d items", MONITOR_MD_MAX_ITEMS);
    buf_t b;
    buf_init(&b, MONITOR_MD_MAX_BYTES);
    int rc = buf_putc(&b, '{');
    bool first = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (m[i].key == NULL || m[i].key[0] == '\0' || !isfinite(m[i].value)) {
            buf_free(&b);
            return vigil_error_set(err, VIGIL_EINVAL, "metrics item %zu: empty key or "
                                                      "non-finite value", i);
        }
        rc = monitor_put_json_key(&b, &first, m[i].key);
        rc = rc ? rc : monitor_put_json_number(&b, m[i].value);
    }
    rc = rc ? rc : buf_putc(&b, '}');
    if (rc != 0) {
        buf_free(&b);
        return rc == VIGIL_ELIMIT
                   ? vigil_error_set(err, VIGIL_EINVAL, "metrics: over %d bytes", MONITOR_MD_MAX_BYTES)
                   : vigil_error_set(err, rc, "metrics: %s", vigil_strerror(rc));
    }
    *out = buf_detach(&b, NULL);
    return *out != NULL ? 0 : vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
}

/* Index of `type`, created on first sight; lock held. */
static int type_index(vigil_telemetry_t *t, const char *type, size_t *idx, vigil_error_t *err)
{
    for (size_t i = 0; i < t->n_types; i++)
        if (strcmp(t->types[i].name, type) == 0) {
            *idx = i;
            return 0;
        }
    if (t->n_types == t->max_types)
        return vigil_error_set(err, VIGIL_ELIMIT, "more than %zu operation types",
                               t->max_types);
    op_type_t *ty = &t->types[t->n_types];
    memset(ty, 0, sizeof(*ty));
    snprintf(ty->name, sizeof(ty->name), "%s", type);
    if (t->duration != NULL) {
        /* Lookups fail only at the series limit or out of memory; the type then simply has
         * no Prometheus series while its exact totals are still kept here. */
        ty->duration = vigil_summary_with(t->duration, ty->name);
        ty->slow_total = vigil_counter_with(t->slow_total, ty->name);
    }
    *idx = t->n_types++;
    return 0;
}

static live_op_t *find_live(vigil_telemetry_t *t, const char *id)
{
    for (size_t i = 0; i < t->n_live; i++)
        if (strcmp(t->live[i].id, id) == 0)
            return &t->live[i];
    return NULL;
}

static bool in_ring(vigil_telemetry_t *t, const char *id)
{
    for (size_t k = 0; k < t->n_done; k++)
        if (strcmp(t->ring[(t->head + k) % t->max_events].id, id) == 0)
            return true;
    return false;
}

int vigil_telemetry_start(vigil_telemetry_t *t, const char *id, const char *type,
                          const vigil_kv_t *md, size_t n_md, char *id_out, size_t cap,
                          vigil_error_t *err)
{
    bool generate = id == NULL || id[0] == '\0';
    if (!generate && !token_ok(id, VIGIL_OP_ID_MAX, true))
        return vigil_error_set(err, VIGIL_EINVAL, "id: 1..%d printable characters without "
                                                  "space or '/'", VIGIL_OP_ID_MAX - 1);
    if (!token_ok(type, VIGIL_OP_TYPE_MAX, false))
        return vigil_error_set(err, VIGIL_EINVAL, "type: 1..%d printable characters without "
                                                  "space", VIGIL_OP_TYPE_MAX - 1);
    char *mdj;
    int rc = monitor_encode_metadata(md, n_md, &mdj, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&t->lock);
    char gen[VIGIL_OP_ID_MAX];
    if (generate) {
        /* "op-N" may collide with an id a client chose: skip to the next free N. */
        do
            snprintf(gen, sizeof(gen), "op-%llu", (unsigned long long)++t->next_gen);
        while (find_live(t, gen) != NULL || in_ring(t, gen));
        id = gen;
    }
    size_t ti;
    if (find_live(t, id) != NULL)
        rc = vigil_error_set(err, VIGIL_EEXIST, "operation \"%s\" is already in flight", id);
    else if (t->n_live == t->max_events) {
        t->rejected++;
        rc = vigil_error_set(err, VIGIL_ELIMIT, "%zu operations in flight (max_events)",
                             t->max_events);
    } else
        rc = type_index(t, type, &ti, err);
    if (rc == 0) {
        live_op_t *op = &t->live[t->n_live++];
        snprintf(op->id, sizeof(op->id), "%s", id);
        op->type = ti;
        op->start_mono = monitor_mono_now();
        op->start_wall = monitor_wall_now();
        op->metadata = mdj;
        mdj = NULL;
        t->started++;
        if (t->in_flight_g != NULL)
            vigil_gauge_set(t->in_flight_g, (double)t->n_live);
        if (id_out != NULL && cap > 0)
            snprintf(id_out, cap, "%s", id);
    }
    pthread_mutex_unlock(&t->lock);
    free(mdj);
    return rc;
}

/* Files a finished operation into the totals, the ring and the metrics; lock held. Takes
 * ownership of metadata and metrics. */
static void finish(vigil_telemetry_t *t, const char *id, size_t ti, const char *status,
                   double start_wall, double duration, char *metadata, char *metrics)
{
    op_type_t *ty = &t->types[ti];
    bool ok = strcmp(status, "success") == 0;
    bool slow = duration > t->slow_threshold;
    ty->count++;
    ty->sum += duration;
    if (duration > ty->max)
        ty->max = duration;
    t->finished++;
    if (ok) {
        ty->success++;
        t->success++;
    }
    if (slow) {
        ty->slow++;
        t->slow++;
    }
    if (t->n_done == t->max_events) {
        done_op_t *old = &t->ring[t->head];
        free(old->metadata);
        free(old->metrics);
        t->head = (t->head + 1) % t->max_events;
        t->n_done--;
        t->dropped++;
        if (t->dropped_c != NULL)
            vigil_counter_inc(t->dropped_c);
    }
    done_op_t *d = &t->ring[(t->head + t->n_done) % t->max_events];
    t->n_done++;
    snprintf(d->id, sizeof(d->id), "%s", id);
    d->type = ti;
    snprintf(d->status, sizeof(d->status), "%s", status);
    d->start_wall = start_wall;
    d->duration = duration;
    d->slow = slow;
    d->metadata = metadata;
    d->metrics = metrics;
    if (t->ops_total != NULL) {
        vigil_counter_t *c = vigil_counter_with(t->ops_total, ty->name, status);
        if (c != NULL)
            vigil_counter_inc(c);
        if (ty->duration != NULL)
            vigil_summary_observe(ty->duration, duration);
        if (slow && ty->slow_total != NULL)
            vigil_counter_inc(ty->slow_total);
    }
}

static void log_slow(vigil_telemetry_t *t, const char *id, const char *type, double duration)
{
    if (t->log == NULL || !(duration > t->slow_threshold))
        return;
    char msg[512];
    snprintf(msg, sizeof(msg), "slow operation: id=%s type=%s duration_s=%.6g threshold_s=%.6g",
             id, type, duration, t->slow_threshold);
    t->log(t->log_ctx, 1, "telemetry", msg);
}

static bool status_ok(const char *s)
{
    return token_ok(s, STATUS_MAX, true);
}

int vigil_telemetry_end(vigil_telemetry_t *t, const char *id, const char *status,
                        const vigil_kv_num_t *m, size_t n_m, double *duration_s,
                        vigil_error_t *err)
{
    if (!status_ok(status))
        return vigil_error_set(err, VIGIL_EINVAL, "status: 1..%d printable characters without "
                                                  "space or '/'", STATUS_MAX - 1);
    if (id == NULL)
        return vigil_error_set(err, VIGIL_ENOENT, "no operation id");
    char *mj;
    int rc = encode_metrics(m, n_m, &mj, err);
    if (rc != 0)
        return rc;
    double now = monitor_mono_now();
    char type[VIGIL_OP_TYPE_MAX], idc[VIGIL_OP_ID_MAX];
    double duration = 0;
    pthread_mutex_lock(&t->lock);
    live_op_t *op = find_live(t, id);
    if (op == NULL) {
        rc = in_ring(t, id)
                 ? vigil_error_set(err, VIGIL_ESTATE, "operation \"%s\" has already ended", id)
                 : vigil_error_set(err, VIGIL_ENOENT, "no operation \"%s\" in flight", id);
    } else {
        duration = now - op->start_mono;
        if (duration < 0)
            duration = 0;
        snprintf(type, sizeof(type), "%s", t->types[op->type].name);
        snprintf(idc, sizeof(idc), "%s", op->id);
        finish(t, op->id, op->type, status, op->start_wall, duration, op->metadata, mj);
        mj = NULL;
        *op = t->live[--t->n_live];  /* swap-remove; harmless when op is the last */
        if (t->in_flight_g != NULL)
            vigil_gauge_set(t->in_flight_g, (double)t->n_live);
    }
    pthread_mutex_unlock(&t->lock);
    free(mj);
    if (rc == 0) {
        log_slow(t, idc, type, duration);
        if (duration_s != NULL)
            *duration_s = duration;
    }
    return rc;
}

int vigil_telemetry_record(vigil_telemetry_t *t, const char *type, const char *status,
                           double duration_s, const vigil_kv_t *md, size_t n_md,
                           vigil_error_t *err)
{
    if (!token_ok(type, VIGIL_OP_TYPE_MAX, false))
        return vigil_error_set(err, VIGIL_EINVAL, "type: 1..%d printable characters without "
                                                  "space", VIGIL_OP_TYPE_MAX - 1);
    if (!status_ok(status))
        return vigil_error_set(err, VIGIL_EINVAL, "status: 1..%d printable characters without "
                                                  "space or '/'", STATUS_MAX - 1);
    if (!(duration_s >= 0) || isinf(duration_s))
        return vigil_error_set(err, VIGIL_EINVAL, "duration must be a finite number >= 0");
    char *mdj, *mj = NULL;
    int rc = monitor_encode_metadata(md, n_md, &mdj, err);
    rc = rc ? rc : encode_metrics(NULL, 0, &mj, err);
    if (rc != 0) {
        free(mdj);
        return rc;
    }
    char id[VIGIL_OP_ID_MAX];
    size_t ti;
    pthread_mutex_lock(&t->lock);
    rc = type_index(t, type, &ti, err);
    if (rc == 0) {
        snprintf(id, sizeof(id), "op-%llu", (unsigned long long)++t->next_gen);
        t->started++;
        finish(t, id, ti, status, monitor_wall_now() - duration_s, duration_s, mdj, mj);
        mdj = mj = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    free(mdj);
    free(mj);
    if (rc == 0)
        log_slow(t, id, type, duration_s);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Fills per-type stats for index ti; `scratch` holds max_events doubles; lock held. */
static void type_stats(vigil_telemetry_t *t, size_t ti, double *scratch,
                       vigil_op_type_stats_t *out)
{
    const op_type_t *ty = &t->types[ti];
    memset(out, 0, sizeof(*out));
    snprintf(out->type, sizeof(out->type), "%s", ty->name);
    out->count = ty->count;
    out->success_count = ty->success;
    out->slow_count = ty->slow;
    out->success_rate = ty->count > 0 ? (double)ty->success / (double)ty->count : NAN;
    out->mean_duration_s = ty->count > 0 ? ty->sum / (double)ty->count : NAN;
    out->max_duration_s = ty->count > 0 ? ty->max : NAN;
    size_t n = 0;
    for (size_t k = 0; scratch != NULL && k < t->n_done; k++) {
        const done_op_t *d = &t->ring[(t->head + k) % t->max_events];
        if (d->type == ti)
            scratch[n++] = d->duration;
    }
    if (n > 1)
        qsort(scratch, n, sizeof(double), cmp_double);
    out->window = n;
    for (size_t i = 0; i < t->n_pct; i++)
        out->percentiles[i] = scratch != NULL ? monitor_percentile_sorted(scratch, n, t->pct[i])
                                              : NAN;
}

size_t vigil_telemetry_stats(vigil_telemetry_t *t, vigil_telemetry_stats_t *totals,
                             vigil_op_type_stats_t *types, size_t cap)
{
    /* Allocated outside the lock; NULL (out of memory) reports NaN percentiles. */
    double *scratch = cap > 0 ? malloc(t->max_events * sizeof(double)) : NULL;
    pthread_mutex_lock(&t->lock);
    if (totals != NULL) {
        memset(totals, 0, sizeof(*totals));
        totals->in_flight = t->n_live;
        totals->started = t->started;
        totals->finished = t->finished;
        totals->success = t->success;
        totals->slow = t->slow;
        totals->dropped = t->dropped;
        totals->rejected = t->rejected;
        totals->success_rate = t->finished > 0 ? (double)t->success / (double)t->finished : NAN;
        totals->n_types = t->n_types;
        totals->n_percentiles = t->n_pct;
        memcpy(totals->percentile_points, t->pct, t->n_pct * sizeof(double));
    }
    size_t n = 0;
    for (; n < t->n_types && n < cap; n++)
        type_stats(t, n, scratch, &types[n]);
    pthread_mutex_unlock(&t->lock);
    free(scratch);
    return n;
}

int vigil_telemetry_stats_json(vigil_telemetry_t *t, char **json, size_t *len)
{
    vigil_telemetry_stats_t tot;
    vigil_telemetry_stats(t, &tot, NULL, 0);
    size_t cap = tot.n_types > 0 ? tot.n_types : 1;
    vigil_op_type_stats_t *ts = calloc(cap, sizeof(*ts));
    if (ts == NULL)
        return VIGIL_ENOMEM;
    /* Totals again, together with the types, so both come from one instant. */
    size_t n = vigil_telemetry_stats(t, &tot, ts, cap);
    buf_t b;
    buf_init(&b, 64u << 20);
    int rc = buf_printf(&b, "{\"in_flight\":%zu,\"started\":%llu,\"finished\":%llu,"
                            "\"success_rate\":",
                        tot.in_flight, (unsigned long long)tot.started,
                        (unsigned long long)tot.finished);
    rc = rc ? rc : monitor_put_json_number(&b, tot.success_rate);
    rc = rc ? rc : buf_printf(&b, ",\"slow\":%llu,\"dropped\":%llu,\"rejected\":%llu,"
                                  "\"types\":{",
                              (unsigned long long)tot.slow, (unsigned long long)tot.dropped,
                              (unsigned long long)tot.rejected);
    bool first = true;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const vigil_op_type_stats_t *s = &ts[i];
        rc = monitor_put_json_key(&b, &first, s->type);
        rc = rc ? rc : buf_printf(&b, "{\"count\":%llu,\"success_count\":%llu,"
                                      "\"success_rate\":",
                                  (unsigned long long)s->count,
                                  (unsigned long long)s->success_count);
        rc = rc ? rc : monitor_put_json_number(&b, s->success_rate);
        rc = rc ? rc : buf_printf(&b, ",\"slow_count\":%llu,\"mean_duration\":",
                                  (unsigned long long)s->slow_count);
        rc = rc ? rc : monitor_put_json_number(&b, s->mean_duration_s);
        rc = rc ? rc : buf_puts(&b, ",\"max_duration\":");
        rc = rc ? rc : monitor_put_json_number(&b, s->max_duration_s);
        rc = rc ? rc : buf_printf(&b, ",\"window\":%zu,\"percentiles\":{", s->window);
        bool pf = true;
        for (size_t j = 0; rc == 0 && j < tot.n_percentiles; j++) {
            char key[32];
            snprintf(key, sizeof(key), "p%g", tot.percentile_points[j]);
            rc = monitor_put_json_key(&b, &pf, key);
            rc = rc ? rc : monitor_put_json_number(&b, s->percentiles[j]);
        }
        rc = rc ? rc : buf_puts(&b, "}}");
    }
    rc = rc ? rc : buf_puts(&b, "}}");
    free(ts);
    return monitor_buf_finish(&b, rc, json, len);
}

int vigil_telemetry_recent_json(vigil_telemetry_t *t, size_t count, char **json, size_t *len)
{
    buf_t b;
    buf_init(&b, 256u << 20);
    int rc = buf_putc(&b, '[');
    pthread_mutex_lock(&t->lock);
    size_t from = count < t->n_done ? t->n_done - count : 0;
    for (size_t k = from; rc == 0 && k < t->n_done; k++) {
        const done_op_t *d = &t->ring[(t->head + k) % t->max_events];
        rc = buf_puts(&b, k > from ? ",{\"id\":" : "{\"id\":");
        rc = rc ? rc : buf_put_json_string(&b, d->id);
        rc = rc ? rc : buf_puts(&b, ",\"type\":");
        rc = rc ? rc : buf_put_json_string(&b, t->types[d->type].name);
        rc = rc ? rc : buf_puts(&b, ",\"status\":");
        rc = rc ? rc : buf_put_json_string(&b, d->status);
        rc = rc ? rc : buf_puts(&b, ",\"start_time\":");
        rc = rc ? rc : monitor_put_json_number(&b, d->start_wall);
        rc = rc ? rc : buf_puts(&b, ",\"duration\":");
        rc = rc ? rc : monitor_put_json_number(&b, d->duration);
        rc = rc ? rc : buf_printf(&b, ",\"slow\":%s,\"metadata\":%s,\"metrics\":%s}",
                                  d->slow ? "true" : "false", d->metadata, d->metrics);
    }
    pthread_mutex_unlock(&t->lock);
    rc = rc ? rc : buf_putc(&b, ']');
    return monitor_buf_finish(&b, rc, json, len);
}
