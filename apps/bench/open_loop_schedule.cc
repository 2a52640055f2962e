#include "open_loop_schedule.h"

namespace tern::bench {

OpenLoopSchedule::OpenLoopSchedule(double rate) noexcept : interval_ns_(1e9 / rate) {}

void OpenLoopSchedule::start(TimePoint at) noexcept {
  start_ = at;
  issued_ = 0;
}

TimePoint OpenLoopSchedule::due(uint64_t k) const noexcept {
  // From the start, not from the previous request: rounding never accumulates.
  return start_ + std::chrono::nanoseconds(static_cast<int64_t>(double(k) * interval_ns_));
}

}  // namespace tern::bench
