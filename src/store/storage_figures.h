// StorageFigures: what the SQLite storage thread measures of its rounds (operations per
// transaction, how long each commit took), for metrics.
//
// The storage thread records once per committed round, under a mutex of its own that only a
// scrape also takes: one uncontended lock per round (per fsync), nothing per request and
// nothing on the loops. A scrape copies the histograms under the same lock, so the reader
// never sees a histogram being written (TSan-clean without atomics in the histograms).
//
// Thread rule: record() the storage thread; fill() any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "tern/base/clock.h"
#include "tern/metrics/histogram.h"
#include "tern/metrics/snapshot.h"

namespace tern::store {

class StorageFigures {
 public:
  StorageFigures();

  // One committed write transaction: `operations` jobs in it, its commit took `commit`.
  void record(size_t operations, Duration commit) noexcept;

  // Adds tern_store_batch_size and tern_store_commit_duration_seconds to `snapshot`.
  void fill(metrics::Snapshot& snapshot) const;

 private:
  mutable std::mutex mutex_;
  metrics::Histogram batch_sizes_;      // guarded by mutex_
  metrics::Histogram commit_durations_; // guarded by mutex_; nanoseconds
};

}  // namespace tern::store
