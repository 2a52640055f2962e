// PendingJobs: the jobs one loop's SqliteStore has handed to the storage thread and waits for,
// each with a deadline timer, and that Store's counters.
//
// A job ends exactly once, on the loop: by finished() when the storage thread posts it back,
// or by its timer (errc::timeout) when the deadline passes first, whether the job is still
// queued (the thread will then skip it) or running (its late result is dropped). That is what
// bounds a caller's wait by the deadline even when the disk stalls.
//
// Shared (std::shared_ptr) so that a finished job posted back after its Store was destroyed
// finds the owner gone (a weak_ptr) instead of freed memory. Thread rule: loop thread only,
// every method.
#pragma once

#include <cstdint>
#include <memory>
#include <system_error>
#include <unordered_map>

#include "store/store_job.h"
#include "tern/base/clock.h"
#include "tern/store/store.h"

namespace tern {
class EventLoop;
}

namespace tern::store {

class PendingJobs : public std::enable_shared_from_this<PendingJobs> {
 public:
  PendingJobs(EventLoop& loop, Duration deadline);
  PendingJobs(const PendingJobs&) = delete;
  PendingJobs& operator=(const PendingJobs&) = delete;

  // Fills in the job's loop, owner, id and queue time: call it before submitting.
  void prepare(StoreJob& job);
  // The job is queued: wait for it, with its deadline timer.
  void add(std::shared_ptr<StoreJob> job);
  // The job was refused (or never submitted): its callback runs now with `error`.
  void refuse(StoreJob& job, std::error_code error);
  // The storage thread's result for `job` (a no-op if the deadline ended it already).
  void finished(const std::shared_ptr<StoreJob>& job);
  // The Store is going: timers cancelled, callbacks dropped (destroyed here, on the loop);
  // writes already queued still run, reads still queued are skipped.
  void abandon();

  StoreStats& stats() noexcept { return stats_; }

 private:
  void expire(uint64_t id);
  void complete(StoreJob& job, std::error_code error);

  EventLoop& loop_;
  const Duration deadline_;
  std::unordered_map<uint64_t, std::shared_ptr<StoreJob>> jobs_;
  uint64_t next_id_ = 1;
  StoreStats stats_;
};

}  // namespace tern::store
