// WorkerMeter: one hsha worker's figures for the metrics (issue 13): how long each task it took
// had waited in the request queue, and the time it spent running tasks.
//
// The worker writes once per task; a collecting thread reads once per scrape. Both take this
// worker's own metrics::ShardLock (the lock of every per-thread shard a scrape reads: workers
// never share it), so a worker waits only while a scrape adds its figures into the scrape's (a
// merge of counters, no allocation: microseconds, once a scrape). Measured with a std::mutex
// (thread CPU time, g++ -O2, this project's VM): record() about 19 ns; with the pool's three
// clock reads (about 21 ns each) a metered task costs about 80 ns more, against the
// microseconds of its trip through the queue and back to its loop.
//
// Thread rule: record() on the worker's thread; add_to() any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "tern/base/clock.h"
#include "tern/metrics/shard_lock.h"
#include "tern/metrics/snapshot.h"

namespace tern {

class WorkerMeter {
 public:
  WorkerMeter() : queue_wait_(metrics::make_histogram()) {}
  WorkerMeter(const WorkerMeter&) = delete;
  WorkerMeter& operator=(const WorkerMeter&) = delete;

  // One task: `waited` from its push to the worker's pop, `ran` the worker's time on it.
  void record(Duration waited, Duration ran) noexcept {
    const uint64_t waited_ns = nanoseconds(waited);
    const uint64_t ran_ns = nanoseconds(ran);
    std::lock_guard hold(lock_);
    queue_wait_.record(waited_ns);
    busy_ns_ += ran_ns;
  }

  // Adds this worker's waits into `queue_wait` (a make_histogram() one) and returns its busy
  // time in nanoseconds.
  uint64_t add_to(metrics::Histogram& queue_wait) const noexcept {
    std::lock_guard hold(lock_);
    queue_wait.merge(queue_wait_);
    return busy_ns_;
  }

 private:
  static uint64_t nanoseconds(Duration d) noexcept {
    return uint64_t(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
  }

  mutable metrics::ShardLock lock_;
  metrics::Histogram queue_wait_;
  uint64_t busy_ns_ = 0;
};

}  // namespace tern
