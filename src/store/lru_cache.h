// LruCache: key -> value bytes with a byte budget, least recently used out first, shared by
// every loop of a process (in front of any Storage, by CachedStore).
//
// Budget: an entry costs key + value + kEntryOverhead bytes (the list node, the index node and
// two string headers, roughly); the sum over the entries never exceeds the budget. The cache
// is split into shards by key hash, each with its own mutex, LRU list and an equal part of the
// budget, so loops on different keys rarely wait for each other (one shard when the budget is
// small, so a small cache keeps a single, exact LRU order).
//
// Stale reads: a value read from the backend may be older than a write that started or ended
// meanwhile (another loop's put, completed first). Each shard therefore keeps a version,
// moved forward by every write's start and end; a read takes the version before it goes to
// the backend (lookup) and fill() stores its value only if the version has not moved since.
// A write invalidates at its start (begin_write) and, at its end, stores its own value only
// if nothing else touched the shard in between (end_write), so two writes completing in the
// other order never leave the older value behind. Conservative: a write to another key of the
// same shard also makes a concurrent fill a no-op (a later get fills it).
//
// Thread rule: any thread, every method.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tern::store {

class LruCache {
 public:
  static constexpr size_t kEntryOverhead = 96;
  using Version = uint64_t;

  // `shards` 0: one shard per 4 MiB of budget, at most 16.
  explicit LruCache(size_t budget_bytes, size_t shards = 0);
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // The value of `key` (now the most recently used), or nullopt with `version` set for the
  // fill() that follows the backend read.
  std::optional<std::string> lookup(std::string_view key, Version& version);
  // Stores `value` read from the backend, unless a write moved the version since lookup().
  void fill(std::string_view key, std::string_view value, Version version);
  // A write of `key` starts: the entry goes; returns the version to give end_write().
  Version begin_write(std::string_view key);
  // The write ended: stores `value` (the written bytes; null: a removal or a failure) if nothing
  // else moved the version since begin_write(), otherwise only removes the entry.
  void end_write(std::string_view key, const std::string_view* value, Version version);

  // Whether an entry of `key` and `value` would fit in its shard at all.
  bool fits(std::string_view key, std::string_view value) const noexcept;
  size_t bytes() const;    // charged bytes now
  size_t entries() const;
  size_t budget() const noexcept { return budget_; }
  static size_t charge(std::string_view key, std::string_view value) noexcept {
    return key.size() + value.size() + kEntryOverhead;
  }

 private:
  struct Entry {
    std::string key;
    std::string value;
  };
  struct Shard {
    std::mutex mutex;
    std::list<Entry> lru;  // front: most recently used
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index;  // views into lru
    size_t bytes = 0;
    Version version = 0;
  };

  Shard& shard_of(std::string_view key) const noexcept;
  void store(Shard& shard, std::string_view key, std::string_view value);  // shard locked
  void erase(Shard& shard, std::string_view key);                          // shard locked

  const size_t budget_;
  size_t shard_budget_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace tern::store
