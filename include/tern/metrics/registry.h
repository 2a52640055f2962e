// Registry: the sources of one process's metrics, and the collect that gathers them.
//
// A source is a fill: a function that adds its series to a Snapshot. A loop source's fill runs
// on its loop's thread (posted there at each collect), so the counters it reads are plain
// integers that only that loop writes: no atomics on the hot path, and the cost of metrics is
// paid at scrape time, not per event. A plain source's fill runs on the collecting thread.
//
// Lifetime: a collect keeps what it needs alive itself (the registry's state is shared with
// the tasks it posts), so a Registry may be destroyed while a collect is outstanding; that
// collect still completes. A loop that goes away with a fill queued answers with nothing.
//
// A fill must not call the registry (its source is locked while it runs: a remove of itself
// or a nested collect would wait for itself).
//
// Thread rule: every method any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "tern/loop/loop_handle.h"
#include "tern/metrics/snapshot.h"

namespace tern::metrics {

using Fill = std::function<void(Snapshot&)>;
using SourceId = uint64_t;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Any thread. `fill` runs on `loop`'s thread at each collect.
  SourceId add_loop_source(LoopHandle loop, Fill fill);
  // Any thread. `fill` runs on the collecting thread: it must be thread-safe.
  SourceId add_source(Fill fill);
  // Any thread. After remove returns, the fill is not started again (one already running on
  // its loop may finish). Remove a loop source from its own loop's thread (on_loop_stop) so
  // that no fill of it is running then. An unknown id is a no-op.
  void remove(SourceId id) noexcept;
  // Any thread. Gathers every source into one Snapshot and calls done once with it: on the
  // thread of the last loop source to answer, or the caller's when there are none. A loop
  // that goes away with the fill still queued counts as answered (empty): a collect always
  // completes. Series appear in the order of the sources' registration.
  void collect(std::function<void(Snapshot)> done) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace tern::metrics
