// LiveSite: what tern-httpd's handlers read per request (the static files and whether the
// TechEmpower endpoints are on), as an immutable snapshot that SIGHUP replaces whole: a request
// sees the old site or the new one, never a mix.
//
// Reading costs no shared_ptr traffic on the hot path: each thread keeps its own reference to
// the snapshot it last saw and compares one version number per request; only after a publish
// does it take the new snapshot (one atomic shared_ptr load). An old snapshot (its open files)
// lives until every thread that held it has served its next request.
//
// Thread rule: publish() from one thread (main); current() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "tern/http/static_files.h"

namespace tern::apps {

struct Site {
  http::StaticFiles files;
  bool endpoints = true;  // /plaintext and /json; off: those paths are files like any other
};

class LiveSite {
 public:
  explicit LiveSite(std::shared_ptr<const Site> first);
  LiveSite(const LiveSite&) = delete;
  LiveSite& operator=(const LiveSite&) = delete;

  // Main thread. Requests that start from now on see `next`.
  void publish(std::shared_ptr<const Site> next);

  // Any thread. The site now; the reference stays valid until this thread's next current().
  const Site& current() const;

 private:
  // Not std::atomic<std::shared_ptr>: libstdc++ 12 unlocks it with a relaxed store after a
  // load, which ThreadSanitizer reports as a race with the next store. Readers lock only
  // after a publish, so a mutex costs nothing per request.
  mutable std::mutex mutex_;
  std::shared_ptr<const Site> site_;  // guarded by mutex_
  std::atomic<uint64_t> version_{1};
};

}  // namespace tern::apps
