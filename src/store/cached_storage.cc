// CachedStorage: the LRU cache decorator of a Storage.
#include "store/cached_storage.h"

#include <utility>

#include "store/cached_store.h"

namespace tern::store {
namespace {

std::string size_text(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

CachedStorage::CachedStorage(std::unique_ptr<Storage> backend, size_t budget_bytes)
    : backend_(std::move(backend)), cache_(budget_bytes) {}

std::unique_ptr<Store> CachedStorage::attach(EventLoop& loop) {
  return std::make_unique<CachedStore>(backend_->attach(loop), cache_);
}

std::string CachedStorage::describe() const {
  std::string line = backend_->describe();
  std::string cache = "cache " + size_text(cache_.budget());
  if (!line.empty() && line.back() == ')') {
    line.insert(line.size() - 1, ", " + cache);
  } else {
    line += " (" + cache + ")";
  }
  return line;
}

}  // namespace tern::store
