// ModelFigures: what a concurrency model measures beyond ServerStats, read for its metrics
// (ServerMetrics::fill_model) on a collecting thread. Engines fill the fields of their model
// and leave the rest empty; an empty field is a series not exported.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "tern/backend/backend_kind.h"
#include "tern/loop/event_loop.h"
#include "tern/metrics/histogram.h"

namespace tern {

struct ModelFigures {
  // hsha with metrics: every worker's task waits in the request queue, merged (nanoseconds).
  std::optional<metrics::Histogram> queue_wait;
  // hsha with metrics: element i is worker i's time running tasks, in nanoseconds.
  std::vector<uint64_t> worker_busy_ns;
  // lf: times leadership passed from one thread to another.
  std::optional<uint64_t> handovers;
  // lf with metrics: element i is thread i's turns as loop figures (ThreadMeter), exported as
  // loop i's, with the backend of the shared set as their label.
  std::vector<LoopCounters> lf_threads;
  BackendKind lf_backend = BackendKind::epoll;
};

}  // namespace tern
