// TimerQueue: see timer_queue.h for the contract. The rules the header leaves open:
//
// * Arming order. Every add, reset and repeat re-arm takes the next `sequence`, so ties on a
//   deadline run in the order the timers were last armed: a reset timer queues behind timers
//   already waiting for the same instant, as if it had been added again. The same number
//   bounds run_due: a timer whose sequence is not below the counter's value at entry was armed
//   during the call, and is held back (kDeferred) until run_due returns, even if already due.
//   That covers resets too, so two timers that keep resetting each other to `now` cannot keep
//   one call spinning.
//
// * Cancel while running. A one-shot timer is released just before its callback runs: it has
//   fired, so from then on its id is stale and cancel (or reset) returns false, even from its
//   own callback. A repeating timer stays live while its callback runs (kRunning): cancel from
//   anywhere returns true, once, and stops the re-arm; reset sets the deadline it is re-armed
//   at instead of the interval rule below.
//
// * Repeat rule. A repeating timer is re-armed at its previous deadline + interval, so it does
//   not drift; if that is already <= now (the loop stalled for more than an interval), at
//   now + interval instead, so a stalled loop fires it once rather than in a burst. A
//   non-positive interval means one-shot.
//
// Callbacks must not throw (tern reports failures as error codes); run_due is not re-entrant
// and returns 0 if a callback calls it.
#include "loop/timer_queue.h"

#include <algorithm>
#include <utility>

namespace tern {

namespace {

constexpr size_t kArity = 4;

size_t parent_of(size_t index) noexcept { return (index - 1) / kArity; }
size_t first_child_of(size_t index) noexcept { return index * kArity + 1; }

// Saturates instead of overflowing the signed tick count for far-future deadlines.
TimePoint add_saturating(TimePoint when, Duration interval) noexcept {
  if (when > TimePoint::max() - interval) return TimePoint::max();
  return when + interval;
}

TimePoint next_repeat(TimePoint fired_deadline, Duration interval, TimePoint now) noexcept {
  const TimePoint on_schedule = add_saturating(fired_deadline, interval);
  if (on_schedule > now) return on_schedule;
  return add_saturating(now, interval);
}

bool repeats(Duration interval) noexcept { return interval > Duration::zero(); }

}  // namespace

TimerId TimerQueue::add(TimePoint deadline, Duration interval, TimerCallback callback) {
  const uint32_t slot = acquire_slot();
  Timer& timer = timers_[slot];
  timer.deadline = deadline;
  timer.interval = interval;
  timer.sequence = next_sequence_++;
  timer.callback = std::move(callback);
  timer.live = true;
  heap_push(slot);
  ++live_;
  return TimerId{slot, timer.generation};
}

bool TimerQueue::cancel(TimerId id) noexcept {
  Timer* timer = lookup(id);
  if (timer == nullptr) return false;
  // kDeferred and kRunning are never valid indices: such a timer is held by run_due, which
  // notices the release through `live` and the generation.
  if (timer->heap_index < heap_.size()) heap_remove(timer->heap_index);
  release(id.slot);
  return true;
}

bool TimerQueue::reset(TimerId id, TimePoint deadline) noexcept {
  Timer* timer = lookup(id);
  if (timer == nullptr) return false;
  timer->deadline = deadline;
  timer->sequence = next_sequence_++;
  // Deferred and running timers get their heap key when run_due pushes them back.
  if (timer->heap_index >= heap_.size()) return true;
  // Later (or equal): keep the earlier heap key; run_due re-keys the timer when that key
  // comes due. The new sequence is larger than the heap's, so the stale entry is recognised.
  if (deadline >= timer->heap_key) return true;
  timer->heap_key = deadline;
  timer->heap_sequence = timer->sequence;
  sift_up(timer->heap_index);
  return true;
}

std::optional<TimePoint> TimerQueue::next_deadline() const noexcept {
  if (heap_.empty()) return std::nullopt;
  return timers_[heap_.front()].heap_key;
}

size_t TimerQueue::run_due(TimePoint now) {
  if (running_due_) return 0;
  running_due_ = true;
  const uint64_t first_armed_during_run = next_sequence_;
  size_t ran = 0;
  while (!heap_.empty()) {
    const Timer& top = timers_[heap_.front()];
    if (top.heap_key > now) break;
    if (top.heap_sequence != top.sequence) {
      rekey_top();
    } else if (top.sequence >= first_armed_during_run) {
      defer_top();
    } else {
      run_top(now, first_armed_during_run);
      ++ran;
    }
  }
  requeue_deferred();
  running_due_ = false;
  return ran;
}

TimerQueue::Timer* TimerQueue::lookup(TimerId id) noexcept {
  if (id.slot >= timers_.size()) return nullptr;
  Timer& timer = timers_[id.slot];
  if (!timer.live || timer.generation != id.generation) return nullptr;
  return &timer;
}

// The slab, heap and free list allocate only here, before any state changes: the heap and the
// free list never hold more entries than the slab has slots, so reserving them with the slab
// keeps cancel, reset and the re-arms in run_due allocation-free. (deferred_ grows on its own,
// but keeps its capacity, so a steady state does not allocate either.)
uint32_t TimerQueue::acquire_slot() {
  if (!free_slots_.empty()) {
    const uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  timers_.emplace_back();
  heap_.reserve(timers_.capacity());
  free_slots_.reserve(timers_.capacity());
  return static_cast<uint32_t>(timers_.size() - 1);
}

bool TimerQueue::heap_less(uint32_t a, uint32_t b) const noexcept {
  const Timer& x = timers_[a];
  const Timer& y = timers_[b];
  if (x.heap_key != y.heap_key) return x.heap_key < y.heap_key;
  return x.heap_sequence < y.heap_sequence;
}

void TimerQueue::heap_push(uint32_t slot) noexcept {
  Timer& timer = timers_[slot];
  timer.heap_key = timer.deadline;
  timer.heap_sequence = timer.sequence;
  heap_.push_back(slot);  // never reallocates: see acquire_slot
  sift_up(static_cast<uint32_t>(heap_.size() - 1));
}

void TimerQueue::heap_remove(uint32_t index) noexcept {
  const uint32_t removed = heap_[index];
  const uint32_t last = heap_.back();
  heap_.pop_back();
  timers_[removed].heap_index = kNotInHeap;
  if (index == heap_.size()) return;
  heap_set(index, last);
  if (index > 0 && heap_less(last, heap_[parent_of(index)])) {
    sift_up(index);
  } else {
    sift_down(index);
  }
}

// Both sifts move a hole rather than swapping, so each step writes one heap entry.
void TimerQueue::sift_up(uint32_t index) noexcept {
  const uint32_t slot = heap_[index];
  size_t hole = index;
  while (hole > 0) {
    const size_t parent = parent_of(hole);
    if (!heap_less(slot, heap_[parent])) break;
    heap_set(static_cast<uint32_t>(hole), heap_[parent]);
    hole = parent;
  }
  heap_set(static_cast<uint32_t>(hole), slot);
}

void TimerQueue::sift_down(uint32_t index) noexcept {
  const uint32_t slot = heap_[index];
  const size_t count = heap_.size();
  size_t hole = index;
  for (;;) {
    const size_t first_child = first_child_of(hole);
    if (first_child >= count) break;
    const size_t end_child = std::min(first_child + kArity, count);
    size_t smallest = first_child;
    for (size_t child = first_child + 1; child < end_child; ++child) {
      if (heap_less(heap_[child], heap_[smallest])) smallest = child;
    }
    if (!heap_less(heap_[smallest], slot)) break;
    heap_set(static_cast<uint32_t>(hole), heap_[smallest]);
    hole = smallest;
  }
  heap_set(static_cast<uint32_t>(hole), slot);
}

void TimerQueue::heap_set(uint32_t index, uint32_t slot) noexcept {
  heap_[index] = slot;
  timers_[slot].heap_index = index;
}

// The caller has taken the timer out of the heap (or it never was in it: deferred, running).
void TimerQueue::release(uint32_t slot) noexcept {
  Timer& timer = timers_[slot];
  timer.live = false;
  ++timer.generation;  // every id naming this use of the slot is now stale (until 2^32 reuses)
  timer.heap_index = kNotInHeap;
  TimerCallback doomed = std::move(timer.callback);
  free_slots_.push_back(slot);  // never reallocates: see acquire_slot
  --live_;
  // `doomed` dies last: whatever its captures' destructors do, the queue is consistent.
}

// The top was reset to a later deadline after it was pushed: give it its real place.
void TimerQueue::rekey_top() noexcept {
  Timer& top = timers_[heap_.front()];
  top.heap_key = top.deadline;
  top.heap_sequence = top.sequence;
  sift_down(0);
}

void TimerQueue::defer_top() {
  const uint32_t slot = heap_.front();
  heap_remove(0);
  timers_[slot].heap_index = kDeferred;
  deferred_.push_back(slot);
}

// Never holds a Timer& across the callback: the callback may add timers and grow the slab.
void TimerQueue::run_top(TimePoint now, uint64_t first_armed_during_run) {
  const uint32_t slot = heap_.front();
  heap_remove(0);
  Timer& timer = timers_[slot];
  TimerCallback callback = std::move(timer.callback);
  if (!repeats(timer.interval)) {
    release(slot);
    if (callback) callback();
    return;
  }
  timer.heap_index = kRunning;
  const uint32_t generation = timer.generation;
  const TimePoint fired_deadline = timer.deadline;
  if (callback) callback();
  const Timer& after = timers_[slot];
  if (!after.live || after.generation != generation) return;  // cancelled by its callback
  timers_[slot].callback = std::move(callback);
  rearm(slot, fired_deadline, now, first_armed_during_run);
}

void TimerQueue::rearm(uint32_t slot, TimePoint fired_deadline, TimePoint now,
                       uint64_t first_armed_during_run) noexcept {
  Timer& timer = timers_[slot];
  // A sequence taken during this call means the callback reset its own timer: that deadline
  // wins over the interval. Either way run_due holds it back if it is already due.
  if (timer.sequence < first_armed_during_run) {
    timer.deadline = next_repeat(fired_deadline, timer.interval, now);
    timer.sequence = next_sequence_++;
  }
  heap_push(slot);
}

// A deferred slot may have been cancelled, and even reused by a later add, since it was held
// back: only a timer still marked kDeferred goes back, and only once.
void TimerQueue::requeue_deferred() noexcept {
  for (const uint32_t slot : deferred_) {
    const Timer& timer = timers_[slot];
    if (timer.live && timer.heap_index == kDeferred) heap_push(slot);
  }
  deferred_.clear();
}

}  // namespace tern
