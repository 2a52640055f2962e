// fill_store_metrics: one loop's Store counters as registry series.
#include "tern/store/store_metrics.h"

namespace tern::store {

void fill_store_metrics(const StoreStats& stats, metrics::Snapshot& snapshot) {
  snapshot.add_counter("tern_store_cache_hits_total", "Store gets answered by the LRU cache.",
                       {}, static_cast<double>(stats.cache_hits));
  snapshot.add_counter("tern_store_cache_misses_total",
                       "Store gets the LRU cache did not hold (read from the storage).", {},
                       static_cast<double>(stats.cache_misses));
  constexpr const char* kRedirectionsHelp =
      "Redis Cluster redirections followed, by kind (MOVED: the slot's owner changed; ASK: a "
      "key of a migrating slot).";
  snapshot.add_counter("tern_redis_redirections_total", kRedirectionsHelp, {{"kind", "moved"}},
                       static_cast<double>(stats.redirections_moved));
  snapshot.add_counter("tern_redis_redirections_total", kRedirectionsHelp, {{"kind", "ask"}},
                       static_cast<double>(stats.redirections_ask));
}

}  // namespace tern::store
