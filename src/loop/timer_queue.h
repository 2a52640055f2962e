// TimerQueue: the loop's timers. Loop thread only (the EventLoop guards its public methods).
//
// Built for a server's main use: one idle or deadline timer per connection, pushed later on
// every request. A 4-ary min-heap of slot indices with an intrusive heap index in each timer
// gives O(log n) add and cancel; `reset` to a later deadline is O(1) (the heap keeps the old,
// earlier key and the timer is re-keyed lazily when that key comes due), which is the common
// case for idle timers. Timers live in a slab of slots with generation counters (TimerId).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "tern/base/clock.h"
#include "tern/loop/timer_id.h"

namespace tern {

class TimerQueue {
 public:
  TimerQueue() = default;
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Adds a timer due at `deadline`; with a non-zero `interval` it repeats every interval
  // (measured from its previous deadline, so it does not drift) until cancelled.
  TimerId add(TimePoint deadline, Duration interval, TimerCallback callback);

  // Cancels the timer; false if the id is stale (already fired one-shot, or cancelled).
  // Safe from inside any timer callback, including the timer's own.
  bool cancel(TimerId id) noexcept;

  // Moves a live timer's deadline (earlier or later); false if the id is stale.
  bool reset(TimerId id, TimePoint deadline) noexcept;

  // The earliest deadline that may be due, or nullopt when there are no timers. May be earlier
  // than the true next deadline (a lazily reset timer), never later.
  std::optional<TimePoint> next_deadline() const noexcept;

  // Runs every timer whose deadline is <= now, in deadline order (ties in the order they were
  // added). Bounded: a timer added or re-armed during this call runs at the earliest on the
  // next call, even if already due. Returns how many callbacks ran.
  size_t run_due(TimePoint now);

  size_t size() const noexcept { return live_; }

 private:
  struct Timer {
    TimePoint deadline;         // the true deadline
    TimePoint heap_key;         // the key the heap orders by (<= deadline)
    Duration interval{};
    uint64_t sequence = 0;      // arming order (add, reset, re-arm): ties run earlier-armed first
    uint64_t heap_sequence = 0; // the sequence the heap orders by; != sequence after a lazy reset
    TimerCallback callback;
    uint32_t generation = 0;
    uint32_t heap_index = kNotInHeap;  // or kDeferred / kRunning while run_due holds the timer
    bool live = false;
  };
  static constexpr uint32_t kNotInHeap = UINT32_MAX;
  static constexpr uint32_t kDeferred = UINT32_MAX - 1;  // armed during run_due and already due
  static constexpr uint32_t kRunning = UINT32_MAX - 2;   // a repeating timer inside its callback

  Timer* lookup(TimerId id) noexcept;
  uint32_t acquire_slot();
  bool heap_less(uint32_t a, uint32_t b) const noexcept;
  void heap_push(uint32_t slot) noexcept;
  void heap_remove(uint32_t index) noexcept;
  void sift_up(uint32_t index) noexcept;
  void sift_down(uint32_t index) noexcept;
  void heap_set(uint32_t index, uint32_t slot) noexcept;
  void release(uint32_t slot) noexcept;
  void rekey_top() noexcept;
  void defer_top();
  void run_top(TimePoint now, uint64_t first_armed_during_run);
  void rearm(uint32_t slot, TimePoint fired_deadline, TimePoint now,
             uint64_t first_armed_during_run) noexcept;
  void requeue_deferred() noexcept;

  std::vector<Timer> timers_;        // the slab; a slot's Timer moves only when the vector grows
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> heap_;       // slot indices
  std::vector<uint32_t> deferred_;   // slots held out of the heap until run_due returns
  uint64_t next_sequence_ = 0;
  size_t live_ = 0;
  bool running_due_ = false;
};

}  // namespace tern
