// The metrics of one loop's Store (tern/store/store.h) in the registry's names, so that every
// program that keeps a Store per loop exports them alike:
//   tern_store_cache_hits_total, tern_store_cache_misses_total  (zero without a cache)
//   tern_redis_redirections_total{kind="moved"|"ask"}           (zero outside Redis Cluster)
// The storage's own figures (the SQLite queue and its transactions) come from
// Storage::fill_metrics.
//
// Thread rule: any thread, on a StoreStats copy (read it with Store::stats() on the Store's
// loop: a registry loop source).
#pragma once

#include "tern/metrics/snapshot.h"
#include "tern/store/store.h"

namespace tern::store {

void fill_store_metrics(const StoreStats& stats, metrics::Snapshot& snapshot);

}  // namespace tern::store
