// CachedStore: one loop's Store with the process's LruCache in front of the backend's Store.
// get: a hit completes at once (before get() returns); a miss reads the backend and fills the
// cache with what it found, unless a write moved the cache's version meanwhile. put, remove,
// batch: the keys are invalidated when the write starts; a successful put stores its value
// when it ends (if it fits and nothing else wrote meanwhile), anything else leaves the key
// out. scan goes to the backend.
//
// Thread rule: loop thread only (the loop it was attached to), every method.
#pragma once

#include <memory>

#include "store/lru_cache.h"
#include "tern/store/store.h"

namespace tern::store {

class CachedStore final : public Store {
 public:
  // `cache` must outlive the store (the CachedStorage owns both).
  CachedStore(std::unique_ptr<Store> backend, LruCache& cache);

  void get(std::string_view key, GetCallback done) override;
  void put(std::string_view key, std::string_view value, PutCallback done) override;
  void remove(std::string_view key, RemoveCallback done) override;
  void scan(std::string_view prefix, size_t limit, ScanCallback done) override;
  void batch(std::vector<Write> writes, BatchCallback done) override;
  StoreStats stats() const override;

 private:
  // Counts the callback's end (pending, failures) around the user's callback.
  template <class T>
  void finished(const Result<T>& result) noexcept;

  LruCache& cache_;
  StoreStats stats_;
  // Last: destroyed first, so the callbacks it drops (which point at this store) never run.
  std::unique_ptr<Store> backend_;
};

}  // namespace tern::store
