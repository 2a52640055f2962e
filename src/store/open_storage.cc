// open_storage(): the URL names the backend; cache_bytes > 0 puts the LRU cache in front.
#include <string_view>

#include "store/cached_storage.h"
#include "store/redis_storage.h"
#include "store/sqlite_storage.h"
#include "tern/store/store.h"

namespace tern::store {
namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::unique_ptr<Storage> open_backend(const StorageConfig& config, std::string& why) {
  if (starts_with(config.url, "sqlite:")) return SqliteStorage::open(config, why);
  if (starts_with(config.url, "redis://") || starts_with(config.url, "redis-cluster://")) {
    return make_redis_storage(config, why);
  }
  why = "storage URL '" + config.url +
        "': expected sqlite:PATH, redis://HOST:PORT or redis-cluster://HOST:PORT,...";
  return nullptr;
}

}  // namespace

std::unique_ptr<Storage> open_storage(const StorageConfig& config, std::string& why) {
  auto storage = open_backend(config, why);
  if (storage && config.cache_bytes > 0) {
    storage = std::make_unique<CachedStorage>(std::move(storage), config.cache_bytes);
  }
  return storage;
}

}  // namespace tern::store
