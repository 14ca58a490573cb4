/*
 * store.c - the stores rules write to: the in-memory promql_memstore_t of tests and `vigil
 * test rules`, and the agent's tsdb (one tsdb_appender per evaluation, committed async like
 * the collectors' samples: rule output is recomputable, so it does not wait for fsync).
 */
#include "rules/rules_int.h"
#include "tsdb/tsdb.h"

#include <stdlib.h>

/* ---- memstore ---- */

static void *mem_open(void *ctx)
{
    return ctx;   /* the memstore itself: single-threaded users only */
}

static int mem_append(void *app, promql_labels_t ls, int64_t t, double v, vigil_error_t *err)
{
    int rc = promql_memstore_add(app, ls.v, ls.n, t, v, false);
    return rc ? vigil_error_set(err, rc, "out of memory") : 0;
}

static int mem_commit(void *app, vigil_error_t *err)
{
    (void)app;
    (void)err;
    return 0;
}

static void mem_close(void *app)
{
    (void)app;
}

rules_store_t rules_store_memstore(promql_memstore_t *m)
{
    return (rules_store_t){
        .query = promql_memstore_storage(m),
        .open = mem_open,
        .append = mem_append,
        .commit = mem_commit,
        .close = mem_close,
        .ctx = m,
    };
}

/* ---- tsdb ---- */

static void *tsdb_open_app(void *ctx)
{
    return tsdb_appender_new(ctx);
}

static int tsdb_append_one(void *app, promql_labels_t ls, int64_t t, double v,
                           vigil_error_t *err)
{
    /* promql_label_t and tsdb_label_t are both {name, value} string pairs */
    tsdb_label_t stack[64] = { { NULL, NULL } };
    tsdb_label_t *l = ls.n <= 64 ? stack : malloc(ls.n * sizeof(*l));
    if (l == NULL)
        return vigil_error_set(err, VIGIL_ENOMEM, "out of memory");
    for (size_t i = 0; i < ls.n; i++)
        l[i] = (tsdb_label_t){ ls.v[i].name, ls.v[i].value };
    int rc = tsdb_appender_add(app, l, ls.n, t, v, NULL, err);
    if (l != stack)
        free(l);
    return rc;
}

static int tsdb_commit_app(void *app, vigil_error_t *err)
{
    return tsdb_appender_commit(app, TSDB_ASYNC, err);
}

static void tsdb_close_app(void *app)
{
    tsdb_appender_free(app);
}

rules_store_t rules_store_tsdb(tsdb_t *db, promql_storage_t query)
{
    return (rules_store_t){
        .query = query,
        .open = tsdb_open_app,
        .append = tsdb_append_one,
        .commit = tsdb_commit_app,
        .close = tsdb_close_app,
        .ctx = db,
    };
}
