// PendingJobs: the jobs one loop's SqliteStore has handed to the storage thread and waits for,
// each with a deadline timer, and that Store's counters.
//
// A job ends exactly once, on the loop: by finished() when the storage thread posts it back,
// or by its timer (errc::timeout) when the deadline passes first, whether the job is still
// queued (the thread will then skip it) or running (its late result is dropped). That is what
// bounds a caller's wait by the deadline even when the disk stalls.
//
// Waiting for room (StorageConfig::wait_for_room): a job the full queue refused is parked in
// a HeldOperations (held_operations.h: in order, bounded, failed with timeout at its
// deadline); the storage thread's room signal (room()) submits the parked jobs again, oldest
// first, until one is refused again. While any job is parked, later jobs of this loop park
// behind it, so this loop's operations reach the storage in the order they were issued (a PUT
// never overtakes an earlier one of the same key). A parked job's deadline is the one it got
// when issued: the wait counts, and once queued its timer gets only what is left.
//
// Shared (std::shared_ptr) so that a finished job posted back after its Store was destroyed
// finds the owner gone (a weak_ptr) instead of freed memory. Thread rule: loop thread only,
// every method.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>
#include <unordered_map>

#include "store/held_operations.h"
#include "store/store_job.h"
#include "tern/base/clock.h"
#include "tern/base/unique_function.h"
#include "tern/store/store.h"

namespace tern {
class EventLoop;
}

namespace tern::store {

class PendingJobs : public std::enable_shared_from_this<PendingJobs> {
 public:
  // Submits a parked job again: no error (queued), overloaded (still full: stays parked) or
  // another refusal (the job fails with it).
  using Resubmit = UniqueFunction<std::error_code(const std::shared_ptr<StoreJob>& job)>;

  // `max_parked`: jobs that may wait for room at once (0: none park).
  PendingJobs(EventLoop& loop, Duration deadline, size_t max_parked = 0,
              Resubmit resubmit = nullptr);
  PendingJobs(const PendingJobs&) = delete;
  PendingJobs& operator=(const PendingJobs&) = delete;

  // Fills in the job's loop, owner, id and queue time: call it before submitting.
  void prepare(StoreJob& job);
  // The job is queued: wait for it, with its deadline timer.
  void add(std::shared_ptr<StoreJob> job);
  // The job was refused (or never submitted): its callback runs now with `error`.
  void refuse(StoreJob& job, std::error_code error);
  // True while a job waits for room: a new job must park behind it (keep the order).
  bool has_parked() const noexcept { return parked_.holding(); }
  // Waits for room, with its deadline timer; false (nothing done) when max_parked wait already.
  bool park(const std::shared_ptr<StoreJob>& job);
  // The storage thread signalled room: resubmits the parked jobs in order (see above).
  void room();
  // The storage thread's result for `job` (a no-op if the deadline ended it already).
  void finished(const std::shared_ptr<StoreJob>& job);
  // The Store is going: timers cancelled, callbacks dropped (destroyed here, on the loop);
  // writes already queued still run, reads still queued are skipped.
  void abandon();

  StoreStats& stats() noexcept { return stats_; }

 private:
  void expire(uint64_t id);
  void complete(StoreJob& job, std::error_code error);
  // Waits for the queued job with its deadline timer (pending already counts it).
  void track(std::shared_ptr<StoreJob> job);
  // A parked job, when there may be room: true once it left the hold (queued, or failed with
  // a refusal other than overloaded), false when the queue is still full.
  bool resubmit(const std::shared_ptr<StoreJob>& job);

  EventLoop& loop_;
  const Duration deadline_;
  Resubmit resubmit_;
  std::unordered_map<uint64_t, std::shared_ptr<StoreJob>> jobs_;  // queued or running
  HeldOperations parked_;  // waiting for room, oldest first
  uint64_t next_id_ = 1;
  StoreStats stats_;
};

}  // namespace tern::store
