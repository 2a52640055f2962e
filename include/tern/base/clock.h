// Time: the loop's clock is the monotonic clock; deadlines never jump with the wall clock.
#pragma once

#include <chrono>

namespace tern {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

}  // namespace tern
