// Ejection: passive health of one upstream on one loop. Failures in a row eject it for an
// exponentially growing time; once back, its weight ramps up (slow start).
//
//   failures 1..5   on_failure() returns true at the 5th: ejected for base_time
//   ejection k      (k-th in a row, without max_time admitted in between) lasts
//                   base_time * 2^(k-1), at most max_time
//   re-admission    weight_factor() ramps linearly from 0.1 to 1 over slow_start
//
// Pure: time is passed in, so tests drive it without a clock.
#pragma once

#include <chrono>
#include <cstdint>

#include "tern/base/clock.h"

namespace tern::proxy {

struct EjectionOptions {
  int consecutive_failures = 5;   // failures in a row that eject; 0: never eject
  Duration base_time = std::chrono::seconds(1);   // the k-th ejection in a row lasts
  Duration max_time = std::chrono::seconds(30);   //   base * 2^(k-1), at most max_time
  Duration slow_start = std::chrono::seconds(10); // after re-admission the weight factor ramps
                                                  // linearly from 0.1 to 1 over this; 0: none
};

// One upstream's passive state on one loop. Thread rule: loop thread only, every method.
class Ejection {
 public:
  explicit Ejection(EjectionOptions options = {});

  void on_success(TimePoint now) noexcept;        // resets the run of failures
  // Counts a failure; true when this failure ejects it (failures while ejected count nothing).
  bool on_failure(TimePoint now) noexcept;
  bool ejected(TimePoint now) const noexcept;     // until its ejection time has passed
  TimePoint ejected_until() const noexcept;       // the epoch when never ejected
  // 1.0, or the slow-start ramp after an ejection ended or begin_slow_start().
  double weight_factor(TimePoint now) const noexcept;
  void begin_slow_start(TimePoint now) noexcept;  // an active check brought it back up
  int consecutive_failures() const noexcept;
  uint64_t ejections() const noexcept;            // in total
  // The backoff level (k) drops back to 0 once the upstream has stayed admitted for max_time.
  int level(TimePoint now) const noexcept;
  const EjectionOptions& options() const noexcept;

 private:
  EjectionOptions options_;
  int failures_ = 0;
  int level_ = 0;                 // ejections in a row (k of the last one)
  uint64_t ejections_ = 0;
  TimePoint ejected_until_{};
  TimePoint slow_start_from_{};   // the ramp starts here (valid when ramping_)
  bool ramping_ = false;
};

}  // namespace tern::proxy
