// CachedStore: the LRU cache around one loop's backend Store.
#include "store/cached_store.h"

#include <string>
#include <utility>

namespace tern::store {

CachedStore::CachedStore(std::unique_ptr<Store> backend, LruCache& cache)
    : cache_(cache), backend_(std::move(backend)) {}

template <class T>
void CachedStore::finished(const Result<T>& result) noexcept {
  --stats_.pending;
  if (!result) ++stats_.failures;
}

void CachedStore::get(std::string_view key, GetCallback done) {
  ++stats_.gets;
  LruCache::Version version = 0;
  if (auto value = cache_.lookup(key, version)) {
    ++stats_.cache_hits;
    return done(std::optional<std::string>(std::move(*value)));
  }
  ++stats_.cache_misses;
  ++stats_.pending;
  backend_->get(key, [this, key = std::string(key), version, done = std::move(done)](
                         Result<std::optional<std::string>> value) mutable {
    finished(value);
    if (value && value->has_value()) cache_.fill(key, **value, version);
    done(std::move(value));
  });
}

void CachedStore::put(std::string_view key, std::string_view value, PutCallback done) {
  ++stats_.puts;
  ++stats_.pending;
  LruCache::Version version = cache_.begin_write(key);
  // The value is kept only when the cache could hold it: a large value is not copied twice.
  std::optional<std::string> kept;
  if (cache_.fits(key, value)) kept.emplace(value);
  backend_->put(key, value, [this, key = std::string(key), kept = std::move(kept), version,
                             done = std::move(done)](Result<bool> created) mutable {
    finished(created);
    std::string_view written = kept ? std::string_view(*kept) : std::string_view();
    cache_.end_write(key, created && kept ? &written : nullptr, version);
    done(std::move(created));
  });
}

void CachedStore::remove(std::string_view key, RemoveCallback done) {
  ++stats_.removes;
  ++stats_.pending;
  LruCache::Version version = cache_.begin_write(key);
  backend_->remove(key, [this, key = std::string(key), version,
                         done = std::move(done)](Result<bool> existed) mutable {
    finished(existed);
    cache_.end_write(key, nullptr, version);
    done(std::move(existed));
  });
}

void CachedStore::scan(std::string_view prefix, size_t limit, ScanCallback done) {
  ++stats_.scans;
  ++stats_.pending;
  backend_->scan(prefix, limit, [this, done = std::move(done)](
                                    Result<std::vector<std::string>> keys) mutable {
    finished(keys);
    done(std::move(keys));
  });
}

void CachedStore::batch(std::vector<Write> writes, BatchCallback done) {
  ++stats_.batches;
  ++stats_.pending;
  std::vector<std::pair<std::string, LruCache::Version>> started;
  started.reserve(writes.size());
  for (const Write& write : writes) started.emplace_back(write.key, cache_.begin_write(write.key));
  backend_->batch(std::move(writes), [this, started = std::move(started),
                                      done = std::move(done)](std::error_code error) mutable {
    --stats_.pending;
    if (error) ++stats_.failures;
    for (auto& [key, version] : started) cache_.end_write(key, nullptr, version);
    done(error);
  });
}

// The cache's counts and the operations' own; what only the backend knows (waits for room,
// redirections) from it.
StoreStats CachedStore::stats() const {
  StoreStats backend = backend_->stats();
  StoreStats stats = stats_;
  stats.room_waits = backend.room_waits;
  stats.redirections_moved = backend.redirections_moved;
  stats.redirections_ask = backend.redirections_ask;
  return stats;
}

}  // namespace tern::store
