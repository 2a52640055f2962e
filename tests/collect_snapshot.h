// One Registry::collect, waited for: the snapshot, or nullopt when it did not complete within
// `bound` (a liveness bound: a failure, not a measurement).
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <optional>

#include "tern/metrics/registry.h"

namespace tern::test {

inline std::optional<metrics::Snapshot> collect_snapshot(
    const metrics::Registry& registry,
    std::chrono::milliseconds bound = std::chrono::seconds(10)) {
  auto promise = std::make_shared<std::promise<metrics::Snapshot>>();
  auto future = promise->get_future();
  registry.collect(
      [promise](metrics::Snapshot snapshot) { promise->set_value(std::move(snapshot)); });
  if (future.wait_for(bound) != std::future_status::ready) return std::nullopt;
  return future.get();
}

}  // namespace tern::test
