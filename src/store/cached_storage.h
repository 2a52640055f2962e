// CachedStorage: a Storage decorator that puts one LruCache (config.cache_bytes) in front of
// any Storage; each loop's Store is a CachedStore over the backend's Store of that loop.
// open_storage() adds it when cache_bytes > 0.
//
// Thread rule: as Storage: attach() on each loop's thread, describe() any thread; destroyed
// after every Store it made.
#pragma once

#include <memory>
#include <string>

#include "store/lru_cache.h"
#include "tern/store/store.h"

namespace tern::store {

class CachedStorage final : public Storage {
 public:
  CachedStorage(std::unique_ptr<Storage> backend, size_t budget_bytes);

  std::unique_ptr<Store> attach(EventLoop& loop) override;
  // The backend's line with the cache added inside its parentheses:
  // "sqlite /path/kv.db (WAL, durability full, cache 64 MiB)".
  std::string describe() const override;
  void fill_metrics(metrics::Snapshot& snapshot) const override { backend_->fill_metrics(snapshot); }

  Storage& backend() noexcept { return *backend_; }  // tests reach the sqlite hooks
  LruCache& cache() noexcept { return cache_; }

 private:
  std::unique_ptr<Storage> backend_;
  LruCache cache_;
};

}  // namespace tern::store
