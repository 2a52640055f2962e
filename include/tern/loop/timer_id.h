// TimerId: names a timer of one EventLoop. A slot plus a generation, so an id kept after its
// timer fired or was cancelled is recognised as stale and never touches another timer.
#pragma once

#include <cstdint>
#include <functional>

namespace tern {

struct TimerId {
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  uint32_t slot = kNoSlot;
  uint32_t generation = 0;

  bool valid() const noexcept { return slot != kNoSlot; }
  friend bool operator==(TimerId, TimerId) = default;
};

using TimerCallback = std::function<void()>;

}  // namespace tern
