/*
 * tsdb_storage.h - the store seen through PromQL's storage interface: the glue that lets the
 * query engine and the HTTP API read src/tsdb without either knowing the other.
 */
#ifndef VIGIL_AGENT_TSDB_STORAGE_H
#define VIGIL_AGENT_TSDB_STORAGE_H

#include "promql/storage.h"
#include "tsdb/tsdb.h"

/* The storage interface over `db` (borrowed: valid while db is open). */
promql_storage_t tsdb_storage(tsdb_t *db);

#endif /* VIGIL_AGENT_TSDB_STORAGE_H */
