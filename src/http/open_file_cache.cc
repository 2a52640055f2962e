#include "open_file_cache.h"

#include <functional>

namespace tern::http {
namespace {

constexpr size_t kShards = 8;
constexpr size_t kShardedFrom = 64;  // entries; smaller caches keep one exact LRU

}  // namespace

OpenFileCache::OpenFileCache(size_t capacity, Clock::duration interval) : interval_(interval) {
  size_t shards = capacity < kShardedFrom ? 1 : kShards;
  shard_capacity_ = capacity == 0 ? 1 : (capacity + shards - 1) / shards;
  shards_.reserve(shards);
  for (size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

OpenFileCache::Shard& OpenFileCache::shard_of(const std::string& key) {
  return *shards_[std::hash<std::string>{}(key) % shards_.size()];
}

OpenFileCache::Found OpenFileCache::find(const std::string& key, Clock::time_point now) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) return {nullptr, true};
  Node& node = *it->second;
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  bool due = now - node.checked >= interval_;
  if (due) node.checked = now;  // this caller checks; the others keep serving meanwhile
  return {node.entry, due};
}

void OpenFileCache::put(const std::string& key, std::shared_ptr<const CachedFile> entry,
                        Clock::time_point now) {
  Shard& shard = shard_of(key);
  // The evicted entry is released after the lock: its destructor may close files.
  std::shared_ptr<const CachedFile> evicted;
  std::lock_guard lock(shard.mutex);
  auto it = shard.index.find(key);
  if (it != shard.index.end()) {
    evicted = std::exchange(it->second->entry, std::move(entry));
    it->second->checked = now;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return;
  }
  if (shard.lru.size() >= shard_capacity_) {
    Node& last = shard.lru.back();
    evicted = std::move(last.entry);
    shard.index.erase(last.key);
    shard.lru.pop_back();
  }
  shard.lru.push_front(Node{key, std::move(entry), now});
  shard.index.emplace(key, shard.lru.begin());
}

void OpenFileCache::erase(const std::string& key) {
  Shard& shard = shard_of(key);
  std::shared_ptr<const CachedFile> evicted;
  std::lock_guard lock(shard.mutex);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) return;
  evicted = std::move(it->second->entry);
  shard.lru.erase(it->second);
  shard.index.erase(it);
}

size_t OpenFileCache::size() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    total += shard->lru.size();
  }
  return total;
}

}  // namespace tern::http
