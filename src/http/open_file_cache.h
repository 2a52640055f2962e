// OpenFileCache: StaticFiles' bounded map from a normalised path to what serving it needs (the
// open file shared with every response that sends from it, size, ETag, Last-Modified, type,
// gzip sibling), so a hot file costs no open, stat or formatting per request.
//
// Entries are immutable (shared_ptr<const CachedFile>); replacing one never disturbs a response
// still sending from the old file, which closes when the last owner lets go. Each entry
// remembers when it was last checked against the disk; find() tells exactly one caller per
// interval to check again (it claims the check by stamping the entry), the others go on with
// the entry they have. Bounded by LRU eviction, per shard: capacity / shards entries each.
// Small caches (under 64 entries) have one shard, so their LRU order is exact.
//
// Thread rule: every method is thread-safe (a mutex per shard, held only to look up, link or
// unlink a node: no system call, no formatting under it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tern/base/file.h"

namespace tern::http {

// One representation of a file: the plain bytes or its gzip sibling.
struct Representation {
  std::shared_ptr<const File> file;
  uint64_t size = 0;
  std::string etag;
  // A small file's bytes, read when the entry is loaded (null for larger ones): a whole-file
  // response is then one gathered write, with no sendfile call.
  std::shared_ptr<const std::string> bytes;
};

struct CachedFile {
  bool directory = false;  // a directory asked for without the trailing slash: 301
  Representation plain;
  std::optional<Representation> gzip;
  std::time_t modified = 0;       // the plain file's mtime, seconds
  std::string last_modified;      // IMF-fixdate of `modified`
  std::string_view content_type;  // a constant from mime_types
};

class OpenFileCache {
 public:
  using Clock = std::chrono::steady_clock;

  // `capacity` > 0 entries in all; an entry is re-checked once `interval` has passed.
  OpenFileCache(size_t capacity, Clock::duration interval);

  struct Found {
    std::shared_ptr<const CachedFile> entry;  // null: not cached
    bool check = false;                       // the caller must load the file again and put()
  };
  // The entry for `key` and whether this caller must re-check it (absent, or due: then the
  // entry is stamped `now` so concurrent callers do not check too). Any thread.
  Found find(const std::string& key, Clock::time_point now);
  // Inserts or replaces `key`'s entry, checked at `now`, evicting the least recently used
  // when the shard is full. Any thread.
  void put(const std::string& key, std::shared_ptr<const CachedFile> entry,
           Clock::time_point now);
  // Forgets `key` (its file disappeared). Any thread.
  void erase(const std::string& key);
  // Entries now, all shards. Any thread.
  size_t size() const;

 private:
  struct Node {
    std::string key;
    std::shared_ptr<const CachedFile> entry;
    Clock::time_point checked;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::list<Node> lru;  // most recently used first
    std::unordered_map<std::string, std::list<Node>::iterator> index;
  };
  Shard& shard_of(const std::string& key);

  size_t shard_capacity_;
  Clock::duration interval_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace tern::http
