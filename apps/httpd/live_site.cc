#include "live_site.h"

namespace tern::apps {

LiveSite::LiveSite(std::shared_ptr<const Site> first) : site_(std::move(first)) {}

void LiveSite::publish(std::shared_ptr<const Site> next) {
  {
    std::lock_guard lock(mutex_);
    site_.swap(next);
  }
  // After the swap: a reader that sees the new version takes the new site. The old one
  // (now in `next`) is released on return, outside the lock.
  version_.fetch_add(1, std::memory_order_release);
}

const Site& LiveSite::current() const {
  struct Held {
    const LiveSite* owner = nullptr;
    uint64_t version = 0;
    std::shared_ptr<const Site> site;
  };
  thread_local Held held;
  uint64_t version = version_.load(std::memory_order_acquire);
  if (held.owner != this || held.version != version) {
    std::lock_guard lock(mutex_);
    held.site = site_;
    held.owner = this;
    held.version = version;
  }
  return *held.site;
}

}  // namespace tern::apps
