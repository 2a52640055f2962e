// OpenLoopSchedule: the fixed schedule of an open-loop run (--rate): request k is due at
// start + k / rate, whatever happened to the ones before it, so a slow server cannot slow the
// client down (no coordinated omission: latency counts from the intended time).
// Thread rule: one thread (the load thread that owns it).
#pragma once

#include <cstdint>

#include "tern/base/clock.h"

namespace tern::bench {

class OpenLoopSchedule {
 public:
  // rate: requests per second (> 0).
  explicit OpenLoopSchedule(double rate) noexcept;
  void start(TimePoint at) noexcept;
  // The intended time of the next request.
  TimePoint next_due() const noexcept { return due(issued_); }
  // Calls take(intended) for each request due by `now` in order, at most `limit` of them.
  template <class F>
  uint64_t take_due(TimePoint now, uint64_t limit, F&& take) {
    uint64_t n = 0;
    for (TimePoint t = next_due(); t <= now && n < limit; t = next_due()) {
      take(t);
      ++issued_;
      ++n;
    }
    return n;
  }
  uint64_t issued() const noexcept { return issued_; }

 private:
  TimePoint due(uint64_t k) const noexcept;

  double interval_ns_;
  TimePoint start_{};
  uint64_t issued_ = 0;
};

}  // namespace tern::bench
