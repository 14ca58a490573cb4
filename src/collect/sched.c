/*
 * sched.c - the collector scheduler: a small elastic pool of workers over a deadline-ordered
 * table of collectors (see collect.h for the rules), the latest complete batch per collector,
 * the self-metrics and the text exposition.
 *
 * Threads and locks:
 *   c->run_lock + c->run_cond   every slot's next/running/started_ns, the worker table, the
 *                               idle count and the stop flag; the sleep of every worker and
 *                               of the watchdog (one condition variable, broadcast on change)
 *   slot->lock                  slot->latest, slot->has_latest, slot->stats
 * A collector's state and its work batch belong to the worker that marked the slot running
 * (or, before start and after stop, to the caller of collect_run_once), so collect() runs
 * without any lock and a collector never runs twice at once.
 */
#include "collect/collect_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SUBSCRIBERS 8
/* Collectors parse with fixed-size stack buffers (paths) and regexec(); 256 KiB is ample and
 * keeps the workers' reserved address space small. */
#define THREAD_STACK_BYTES (256u << 10)
/* The watchdog only compares times and starts threads. */
#define WATCHDOG_STACK_BYTES (64u << 10)
/* A due run that has waited this long because every worker is busy gets a new worker: the
 * most a slow or stuck collector can delay another one. A tenth of the shortest interval
 * allowed (100 ms), and ten times what a whole round of host collectors takes, so a normal
 * round never starts a worker. */
#define COLLECT_HOLD_NS (10u * 1000000u)

typedef struct slot {
    collect_t           *c;
    const collect_def_t *def;
    void                *state;
    bool                 enabled;
    bool                 inited;
    bool                 failing;      /* last run failed: log the next failure at debug only */
    uint64_t             interval_ns;
    uint64_t             next_ns;      /* CLOCK_MONOTONIC due time; guarded by c->run_lock */
    bool                 running;      /* a worker owns the slot; guarded by c->run_lock */
    collect_batch_t     *work;         /* owned by the running worker */
    pthread_mutex_t      lock;
    collect_batch_t     *latest;       /* guarded by lock */
    bool                 has_latest;   /* guarded by lock */
    collect_stats_t      stats;        /* guarded by lock */
} slot_t;

/* One entry of the worker table; guarded by c->run_lock. A worker that leaves (the pool has
 * a spare) sets `exited`; whoever reuses the entry, or collect_stop, joins it. */
typedef struct worker {
    struct collect *c;
    pthread_t       thread;
    bool            started;
    bool            exited;
} worker_t;

typedef struct subscriber {
    void (*fn)(void *ctx, const collect_batch_t *b);
    void *ctx;
} subscriber_t;

struct collect {
    log_t          *log;
    char           *procfs, *sysfs, *rootfs;
    collect_sys_t   sys;
    collect_env_t   env;
    collect_shared_t *shared;
    slot_t         *slots;
    size_t          nslots;
    subscriber_t    subs[MAX_SUBSCRIBERS];
    size_t          nsubs;
    pthread_mutex_t run_lock;
    pthread_cond_t  run_cond;  /* CLOCK_MONOTONIC */
    bool            stopping;  /* guarded by run_lock */
    bool            running;   /* threads exist; only the owner's thread changes it */
    worker_t       *workers;   /* one entry per enabled collector: the pool's ceiling */
    size_t          nworkers;  /* entries; guarded by run_lock (the table) */
    size_t          nlive;     /* started and not exited; guarded by run_lock */
    size_t          nidle;     /* live workers waiting for work; guarded by run_lock */
    pthread_t       watchdog;
    bool            watchdog_started;
    pthread_attr_t  worker_attr;
};

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s != NULL && *s != '\0' ? s : dflt);
}

static bool name_valid(const char *name)
{
    if (name == NULL || *name == '\0')
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static slot_t *find_slot(collect_t *c, const char *name)
{
    for (size_t i = 0; i < c->nslots; i++)
        if (strcmp(c->slots[i].def->name, name) == 0)
            return &c->slots[i];
    return NULL;
}

/* Applies the enable and interval overrides; an unknown name is a configuration error. */
static int apply_overrides(collect_t *c, const collect_options_t *o, vigil_error_t *err)
{
    for (size_t i = 0; i < o->n_enable; i++) {
        slot_t *s = find_slot(c, o->enable[i].name ? o->enable[i].name : "");
        if (s == NULL)
            return vigil_error_set(err, VIGIL_EINVAL, "unknown collector \"%s\"",
                                   o->enable[i].name ? o->enable[i].name : "");
        s->enabled = o->enable[i].enabled;
    }
    for (size_t i = 0; i < o->n_intervals; i++) {
        slot_t *s = find_slot(c, o->intervals[i].name ? o->intervals[i].name : "");
        if (s == NULL)
            return vigil_error_set(err, VIGIL_EINVAL, "unknown collector \"%s\"",
                                   o->intervals[i].name ? o->intervals[i].name : "");
        if (o->intervals[i].interval_ms == 0)
            return vigil_error_set(err, VIGIL_EINVAL, "collector \"%s\": interval must be > 0",
                                   s->def->name);
        s->interval_ns = (uint64_t)o->intervals[i].interval_ms * 1000000u;
    }
    return 0;
}

int collect_create(collect_t **out, const collect_options_t *opts, log_t *log,
                   vigil_error_t *err)
{
    static const collect_options_t no_opts;
    const collect_options_t *o = opts != NULL ? opts : &no_opts;
    int rc;
    collect_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "collect: no memory");
    c->log = log;
    pthread_mutex_init(&c->run_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->run_cond, &ca);
    pthread_condattr_destroy(&ca);

    c->procfs = dup_or(o->procfs, "/proc");
    c->sysfs = dup_or(o->sysfs, "/sys");
    c->rootfs = dup_or(o->rootfs, "/");
    if (o->sys != NULL)
        c->sys = *o->sys;
    c->shared = collect_shared_new();
    if (c->procfs == NULL || c->sysfs == NULL || c->rootfs == NULL || c->shared == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "collect: no memory");
        goto out_free;
    }
    c->env = (collect_env_t){ .procfs = c->procfs, .sysfs = c->sysfs, .rootfs = c->rootfs,
                              .opts = o, .sys = &c->sys, .log = log,
                              .shared = c->shared };

    size_t nhost;
    const collect_def_t *const *host = collect_host_table(&nhost);
    c->slots = calloc(nhost + o->n_extra, sizeof(slot_t));
    if (c->slots == NULL) {
        rc = vigil_error_set(err, VIGIL_ENOMEM, "collect: no memory");
        goto out_free;
    }
    uint64_t dflt_ns = (uint64_t)(o->default_interval_ms ? o->default_interval_ms : 1000) *
                       1000000u;
    for (size_t i = 0; i < nhost + o->n_extra; i++) {
        const collect_def_t *d = i < nhost ? host[i] : &o->extra[i - nhost];
        if (!name_valid(d->name) || d->collect == NULL) {
            rc = vigil_error_set(err, VIGIL_EINVAL, "collector %zu: name must be [a-z0-9_]+ "
                                 "and collect() set", i);
            goto out_free;
        }
        if (find_slot(c, d->name) != NULL) {
            rc = vigil_error_set(err, VIGIL_EEXIST, "collector \"%s\" defined twice", d->name);
            goto out_free;
        }
        slot_t *s = &c->slots[c->nslots++];
        s->c = c;
        s->def = d;
        s->enabled = d->enabled;
        s->interval_ns = d->interval_ms ? (uint64_t)d->interval_ms * 1000000u : dflt_ns;
        pthread_mutex_init(&s->lock, NULL);
    }
    rc = apply_overrides(c, o, err);
    if (rc != 0)
        goto out_free;

    /* Only enabled collectors are initialised: a disabled one must not be able to fail the
     * agent's start (a pattern it would compile, a device it would open). */
    for (size_t i = 0; i < c->nslots; i++) {
        slot_t *s = &c->slots[i];
        if (!s->enabled)
            continue;
        s->work = collect_batch_new(s->def->name);
        s->latest = collect_batch_new(s->def->name);
        if (s->work == NULL || s->latest == NULL) {
            rc = vigil_error_set(err, VIGIL_ENOMEM, "collect: no memory");
            goto out_free;
        }
        if (s->def->init != NULL) {
            rc = s->def->init(&s->state, &c->env, err);
            if (rc != 0)
                goto out_free;
        }
        s->inited = true;
    }
    c->env.opts = NULL; /* the caller's options need not outlive create */
    *out = c;
    return 0;

out_free:
    collect_free(c);
    return rc;
}

/* One run of one collector, on whichever thread owns the slot's work batch; the failure's
 * detail goes to *err (the caller's, on its stack). */
static int slot_run(slot_t *s, vigil_error_t *err)
{
    collect_t *c = s->c;
    struct timespec t0, t1;
    collect_batch_reset(s->work, collect_now(&c->env));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vigil_error_clear(err);
    int rc = s->def->collect(s->state, s->work, err);
    if (rc == 0)
        rc = collect_batch_finish(s->work);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dur = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    if (rc == 0)
        for (size_t i = 0; i < c->nsubs; i++)
            c->subs[i].fn(c->subs[i].ctx, s->work);

    pthread_mutex_lock(&s->lock);
    s->stats.runs++;
    s->stats.last_duration_seconds = dur;
    if (rc != 0) {
        s->stats.errors++;
    } else {
        collect_batch_t *t = s->latest;
        s->latest = s->work;
        s->work = t;
        s->has_latest = true;
    }
    pthread_mutex_unlock(&s->lock);
    /* The work batch (the previous latest, or this failed run's) waits a whole interval for
     * the next run: its memory goes back to the allocator meanwhile, for the other
     * collectors' runs to reuse, instead of one idle batch per collector. */
    collect_batch_trim(s->work);

    if (rc != 0) {
        const char *msg = err->message[0] ? err->message : vigil_strerror(rc);
        /* A collector failing every second must not flood the log: warn on the first failure
         * of a streak, then debug. */
        if (!s->failing)
            log_warn(c->log, "collect", "collector failed", LF_STR("collector", s->def->name),
                     LF_STR("error", msg));
        else
            log_debug(c->log, "collect", "collector failed", LF_STR("collector", s->def->name),
                      LF_STR("error", msg));
    } else if (s->failing) {
        log_info(c->log, "collect", "collector recovered", LF_STR("collector", s->def->name));
    }
    s->failing = rc != 0;
    return rc;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps on run_cond until woken or until `until_ns` (CLOCK_MONOTONIC; UINT64_MAX: until
 * woken). run_lock held. */
static void wait_until(collect_t *c, uint64_t until_ns)
{
    if (until_ns == UINT64_MAX) {
        pthread_cond_wait(&c->run_cond, &c->run_lock);
        return;
    }
    struct timespec ts = { .tv_sec = (time_t)(until_ns / 1000000000u),
                           .tv_nsec = (long)(until_ns % 1000000000u) };
    pthread_cond_timedwait(&c->run_cond, &c->run_lock, &ts);
}

/* The enabled slot that no worker runs with the earliest due time (table order breaks ties),
 * or NULL. run_lock held. */
static slot_t *earliest_slot(collect_t *c)
{
    slot_t *best = NULL;
    for (size_t i = 0; i < c->nslots; i++) {
        slot_t *s = &c->slots[i];
        if (s->inited && !s->running && (best == NULL || s->next_ns < best->next_ns))
            best = s;
    }
    return best;
}

static void *worker_main(void *arg);

/* Starts one more worker in a free entry of the table, joining an exited one first. 0 or the
 * pthread_create error (EAGAIN when the table is full). run_lock held. */
static int spawn_worker(collect_t *c)
{
    for (size_t i = 0; i < c->nworkers; i++) {
        worker_t *w = &c->workers[i];
        if (w->started && !w->exited)
            continue;
        if (w->started) {
            /* It marked itself exited under run_lock and takes no lock after that. */
            pthread_join(w->thread, NULL);
            w->started = false;
        }
        w->c = c;
        int e = pthread_create(&w->thread, &c->worker_attr, worker_main, w);
        if (e != 0)
            return e;
        w->started = true;
        w->exited = false;
        c->nlive++;
        return 0;
    }
    return EAGAIN;
}

/* Fixed rate: the next tick after the one just run; ticks the run overran are skipped, never
 * queued. */
static void slot_advance(slot_t *s, uint64_t now_ns)
{
    s->next_ns += s->interval_ns;
    if (now_ns >= s->next_ns)
        s->next_ns += ((now_ns - s->next_ns) / s->interval_ns + 1) * s->interval_ns;
}

/* A worker: runs the due collector with the earliest due time, again and again, and sleeps
 * until the next due time when none is due. A worker that finds nothing due while another
 * one already waits is a spare (the watchdog started it when a collector overran) and
 * leaves, so the pool shrinks back once the slow run is over. */
static void *worker_main(void *arg)
{
    worker_t *self = arg;
    collect_t *c = self->c;
    pthread_mutex_lock(&c->run_lock);
    while (!c->stopping) {
        slot_t *s = earliest_slot(c);
        uint64_t now = mono_ns();
        if (s != NULL && s->next_ns <= now) {
            s->running = true;
            pthread_mutex_unlock(&c->run_lock);
            vigil_error_t why; /* on the worker's stack: 512 bytes per slot less */
            slot_run(s, &why);
            now = mono_ns();
            pthread_mutex_lock(&c->run_lock);
            s->running = false;
            slot_advance(s, now);
            /* Sleepers chose their wake-up time without this slot: let them choose again. */
            pthread_cond_broadcast(&c->run_cond);
            continue;
        }
        if (c->nidle > 0)
            break;
        c->nidle++;
        wait_until(c, s != NULL ? s->next_ns : UINT64_MAX);
        c->nidle--;
    }
    self->exited = true;
    c->nlive--;
    pthread_cond_broadcast(&c->run_cond);
    pthread_mutex_unlock(&c->run_lock);
    return NULL;
}

/* The watchdog: when a collector has been due for COLLECT_HOLD_NS and no worker is free to
 * run it (every live worker is inside a run that overran, or stuck), starts another worker,
 * up to one per collector. It runs no collector itself, so nothing a collector does can
 * stop it. */
static void *watchdog_main(void *arg)
{
    collect_t *c = arg;
    pthread_mutex_lock(&c->run_lock);
    while (!c->stopping) {
        slot_t *s = earliest_slot(c);
        uint64_t now = mono_ns();
        if (s != NULL && c->nidle == 0 && now >= s->next_ns + COLLECT_HOLD_NS) {
            int e = spawn_worker(c);
            if (e == 0) {
                log_debug(c->log, "collect", "collector overran: worker added",
                          LF_STR("waiting", s->def->name), LF_UINT("workers", c->nlive));
                continue;
            }
            /* Out of threads or table entries: the running ones will come back. */
            wait_until(c, UINT64_MAX);
            continue;
        }
        /* Woken by every finished run and every worker that leaves. */
        wait_until(c, s != NULL && c->nidle == 0 ? s->next_ns + COLLECT_HOLD_NS : UINT64_MAX);
    }
    pthread_mutex_unlock(&c->run_lock);
    return NULL;
}

int collect_start(collect_t *c, vigil_error_t *err)
{
    if (c->running)
        return vigil_error_set(err, VIGIL_ESTATE, "collect: already started");
    size_t ninited = 0;
    for (size_t i = 0; i < c->nslots; i++)
        ninited += c->slots[i].inited;
    c->workers = calloc(ninited ? ninited : 1, sizeof(*c->workers));
    if (c->workers == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "collect: no memory");
    c->nworkers = ninited;
    uint64_t now = mono_ns();
    pthread_mutex_lock(&c->run_lock);
    c->stopping = false;
    for (size_t i = 0; i < c->nslots; i++)
        c->slots[i].next_ns = now; /* every collector runs at once, then at its interval */
    pthread_mutex_unlock(&c->run_lock);
    c->running = true;
    pthread_attr_init(&c->worker_attr);
    pthread_attr_setstacksize(&c->worker_attr, THREAD_STACK_BYTES);
    int e = 0;
    if (ninited > 0) {
        pthread_mutex_lock(&c->run_lock);
        e = spawn_worker(c);
        pthread_mutex_unlock(&c->run_lock);
        if (e == 0) {
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setstacksize(&attr, WATCHDOG_STACK_BYTES);
            e = pthread_create(&c->watchdog, &attr, watchdog_main, c);
            pthread_attr_destroy(&attr);
            c->watchdog_started = e == 0;
        }
    }
    if (e != 0) {
        collect_stop(c);
        return vigil_error_set(err, VIGIL_ESYS, "collect: starting the scheduler's threads: %s",
                               strerror(e));
    }
    log_info(c->log, "collect", "collectors started", LF_UINT("count", c->nslots));
    return 0;
}

void collect_stop(collect_t *c)
{
    if (c == NULL || !c->running)
        return;
    pthread_mutex_lock(&c->run_lock);
    c->stopping = true;
    pthread_cond_broadcast(&c->run_cond);
    pthread_mutex_unlock(&c->run_lock);
    if (c->watchdog_started)
        pthread_join(c->watchdog, NULL);
    c->watchdog_started = false;
    /* No thread starts workers any more: the table is this thread's to read. */
    for (size_t i = 0; i < c->nworkers; i++)
        if (c->workers[i].started)
            pthread_join(c->workers[i].thread, NULL);
    free(c->workers);
    c->workers = NULL;
    c->nworkers = c->nlive = c->nidle = 0;
    pthread_attr_destroy(&c->worker_attr);
    c->running = false;
}

void collect_free(collect_t *c)
{
    if (c == NULL)
        return;
    collect_stop(c);
    for (size_t i = 0; i < c->nslots; i++) {
        slot_t *s = &c->slots[i];
        if (s->inited && s->def->destroy != NULL)
            s->def->destroy(s->state);
        collect_batch_free(s->work);
        collect_batch_free(s->latest);
        pthread_mutex_destroy(&s->lock);
    }
    free(c->slots);
    free(c->procfs);
    free(c->sysfs);
    free(c->rootfs);
    collect_shared_free(c->shared);
    pthread_cond_destroy(&c->run_cond);
    pthread_mutex_destroy(&c->run_lock);
    free(c);
}

int collect_on_batch(collect_t *c, void (*fn)(void *ctx, const collect_batch_t *b), void *ctx)
{
    if (c->running)
        return VIGIL_ESTATE;
    if (c->nsubs == MAX_SUBSCRIBERS)
        return VIGIL_ELIMIT;
    c->subs[c->nsubs++] = (subscriber_t){ .fn = fn, .ctx = ctx };
    return 0;
}

static int expose_slot(slot_t *s, bool openmetrics, buf_t *out)
{
    pthread_mutex_lock(&s->lock);
    int rc = s->has_latest ? collect_batch_expose(s->latest, openmetrics, out) : 0;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* The scheduler's own families, one sample per enabled collector. */
static int expose_self(collect_t *c, bool openmetrics, buf_t *out)
{
    static const struct {
        const char *name, *help;
        collect_type_t type;
        bool duration;
    } fams[] = {
        { "vigil_collector_duration_seconds", "Duration of the collector's last run.",
          COLLECT_GAUGE, true },
        { "vigil_collector_errors_total", "Failed runs of the collector.", COLLECT_COUNTER,
          false },
    };
    int rc = 0;
    for (size_t f = 0; rc == 0 && f < sizeof(fams) / sizeof(fams[0]); f++) {
        rc = collect_put_family_header(out, fams[f].name, fams[f].help, fams[f].type,
                                       openmetrics);
        for (size_t i = 0; rc == 0 && i < c->nslots; i++) {
            slot_t *s = &c->slots[i];
            if (!s->inited)
                continue;
            pthread_mutex_lock(&s->lock);
            collect_stats_t st = s->stats;
            pthread_mutex_unlock(&s->lock);
            rc = buf_printf(out, "%s{collector=\"%s\"} ", fams[f].name, s->def->name);
            if (rc == 0)
                rc = fams[f].duration ? buf_put_double(out, st.last_duration_seconds)
                                      : buf_printf(out, "%llu", (unsigned long long)st.errors);
            if (rc == 0)
                rc = buf_putc(out, '\n');
        }
    }
    return rc;
}

static int expose_all(collect_t *c, bool openmetrics, buf_t *out)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->nslots; i++)
        if (c->slots[i].inited)
            rc = expose_slot(&c->slots[i], openmetrics, out);
    return rc != 0 ? rc : expose_self(c, openmetrics, out);
}

int collect_expose_text(collect_t *c, buf_t *out)
{
    return expose_all(c, false, out);
}

int collect_expose_openmetrics(collect_t *c, buf_t *out)
{
    return expose_all(c, true, out);
}

int collect_run_once(collect_t *c, const char *name, buf_t *out, vigil_error_t *err)
{
    if (c->running)
        return vigil_error_set(err, VIGIL_ESTATE, "collect: run_once while the scheduler runs");
    int first_rc = 0;
    for (size_t i = 0; i < c->nslots; i++) {
        slot_t *s = &c->slots[i];
        if (name != NULL ? strcmp(s->def->name, name) != 0 : !s->inited)
            continue;
        if (!s->inited)
            return vigil_error_set(err, VIGIL_ESTATE, "collector \"%s\" is disabled", name);
        vigil_error_t why;
        int rc = slot_run(s, &why);
        if (rc == 0 && out != NULL)
            rc = expose_slot(s, false, out);
        else if (rc != 0 && err != NULL) {
            *err = why;
            err->code = rc;
        }
        if (rc != 0 && first_rc == 0)
            first_rc = rc;
        if (name != NULL)
            return rc;
    }
    if (name != NULL)
        return vigil_error_set(err, VIGIL_ENOENT, "unknown collector \"%s\"", name);
    return first_rc;
}

int collect_get_stats(collect_t *c, const char *name, collect_stats_t *out)
{
    slot_t *s = find_slot(c, name);
    if (s == NULL)
        return VIGIL_ENOENT;
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
    return 0;
}
