// LruCache: sharded, byte-budgeted LRU with versioned fills.
#include "store/lru_cache.h"

#include <algorithm>
#include <functional>

namespace tern::store {

LruCache::LruCache(size_t budget_bytes, size_t shards) : budget_(budget_bytes) {
  if (shards == 0) shards = std::clamp<size_t>(budget_bytes / (4u << 20), 1, 16);
  shard_budget_ = budget_bytes / shards;
  for (size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

LruCache::Shard& LruCache::shard_of(std::string_view key) const noexcept {
  return *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

std::optional<std::string> LruCache::lookup(std::string_view key, Version& version) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) {
    version = shard.version;
    return std::nullopt;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  return it->second->value;
}

void LruCache::fill(std::string_view key, std::string_view value, Version version) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  if (shard.version != version) return;  // a write started or ended since the read began
  store(shard, key, value);
}

LruCache::Version LruCache::begin_write(std::string_view key) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  erase(shard, key);
  return ++shard.version;
}

void LruCache::end_write(std::string_view key, const std::string_view* value, Version version) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  if (value != nullptr && shard.version == version) {
    store(shard, key, *value);
  } else {
    erase(shard, key);
  }
  ++shard.version;  // a read that began during the write must not fill what it saw
}

bool LruCache::fits(std::string_view key, std::string_view value) const noexcept {
  return charge(key, value) <= shard_budget_;
}

size_t LruCache::bytes() const {
  size_t total = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->bytes;
  }
  return total;
}

size_t LruCache::entries() const {
  size_t total = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->index.size();
  }
  return total;
}

void LruCache::store(Shard& shard, std::string_view key, std::string_view value) {
  erase(shard, key);
  size_t cost = charge(key, value);
  if (cost > shard_budget_) return;  // would evict everything and still not fit
  while (shard.bytes + cost > shard_budget_) {
    const Entry& oldest = shard.lru.back();
    shard.bytes -= charge(oldest.key, oldest.value);
    shard.index.erase(oldest.key);
    shard.lru.pop_back();
  }
  shard.lru.push_front(Entry{std::string(key), std::string(value)});
  shard.index.emplace(shard.lru.front().key, shard.lru.begin());
  shard.bytes += cost;
}

void LruCache::erase(Shard& shard, std::string_view key) {
  auto it = shard.index.find(key);
  if (it == shard.index.end()) return;
  auto entry = it->second;
  shard.bytes -= charge(entry->key, entry->value);
  shard.index.erase(it);
  shard.lru.erase(entry);
}

}  // namespace tern::store
