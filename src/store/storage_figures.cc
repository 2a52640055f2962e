// StorageFigures: the storage thread's histograms behind one mutex.
#include "store/storage_figures.h"

#include <chrono>
#include <optional>

namespace tern::store {

StorageFigures::StorageFigures()
    : batch_sizes_(metrics::make_histogram()), commit_durations_(metrics::make_histogram()) {}

void StorageFigures::record(size_t operations, Duration commit) noexcept {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(commit).count();
  std::lock_guard lock(mutex_);
  batch_sizes_.record(operations);
  commit_durations_.record(ns > 0 ? static_cast<uint64_t>(ns) : 0);
}

void StorageFigures::fill(metrics::Snapshot& snapshot) const {
  // Copied under the lock, added to the snapshot outside it: the storage thread waits for a
  // copy (about 30 KiB each), not for the snapshot's bookkeeping.
  std::optional<metrics::Histogram> batches, commits;
  {
    std::lock_guard lock(mutex_);
    batches.emplace(batch_sizes_);
    commits.emplace(commit_durations_);
  }
  snapshot.add_histogram("tern_store_batch_size",
                         "Operations per SQLite write transaction (group commit).", {}, *batches,
                         metrics::Unit::plain);
  snapshot.add_histogram("tern_store_commit_duration_seconds",
                         "One SQLite write transaction's commit, fsync included.", {}, *commits);
}

}  // namespace tern::store
