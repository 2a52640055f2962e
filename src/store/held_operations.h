// HeldOperations: one loop's storage operations that met a full queue and wait for room, in
// the order they were issued, each until room lets it start or its deadline passes. The one
// "hold, then run in order" logic of both storages: SQLite's PendingJobs holds jobs the storage
// thread's queue refused, RedisStore holds operations beyond its per-loop queue of commands.
//
// An operation is one callable. Called with no error, there may be room: it starts and
// returns true (it leaves the hold; it may also have ended itself, with a refusal other than a
// full queue), or returns false having done nothing (still no room: it stays first, and the
// ones behind it wait too; it is called again at the next room()). Called with an error
// (errc::timeout: its deadline passed while it was held), it will never start and must end:
// run its caller's callback with the error. Dropped uncalled by clear() and the destructor.
// While any operation is held, a new one must hold behind it (holding()), so a loop's
// operations reach the storage in issue order: a PUT never overtakes an earlier one of its key.
//
// Deadlines are `deadline` after each operation's issue time, and issue times never decrease
// in hold order, so the oldest held operation always expires first: one timer, armed for the
// front, serves them all (no timer per operation, nothing to search).
//
// Bounded: at most max_held at once (can_hold()); a caller refuses beyond it.
// Thread rule: loop thread only (the loop given), every method; operations run there. An
// operation may call the storage again (hold another), not destroy this.
#pragma once

#include <cstddef>
#include <system_error>

#include "tern/base/clock.h"
#include "tern/base/ring_queue.h"
#include "tern/base/unique_function.h"
#include "tern/loop/timer_id.h"

namespace tern {
class EventLoop;
}

namespace tern::store {

class HeldOperations {
 public:
  using Operation = UniqueFunction<bool(std::error_code failed)>;

  HeldOperations(EventLoop& loop, Duration deadline, size_t max_held);
  // Drops what is held without calling it (the owner is going), cancels the timer.
  ~HeldOperations();
  HeldOperations(const HeldOperations&) = delete;
  HeldOperations& operator=(const HeldOperations&) = delete;

  bool holding() const noexcept { return !held_.empty(); }
  bool can_hold() const noexcept { return held_.size() < max_held_; }
  size_t size() const noexcept { return held_.size(); }
  // How many operations the ring has places for: what a burst left, until the hold empties.
  size_t places() const noexcept { return held_.capacity(); }
  // Places kept when the hold empties; a ring grown beyond them by a burst is given back then.
  static constexpr size_t kKeptPlaces = 64;

  // Holds `operation` behind the others until room() starts it or `issued` + deadline passes.
  // Call only when can_hold(); `issued` not before the last one's.
  void hold(TimePoint issued, Operation operation);
  // There may be room: starts the held operations, oldest first, until one finds none (one
  // whose deadline has passed is ended with timeout instead, as the timer would). A call
  // made while one of them is starting (its completion freed room at once) returns: the outer
  // call goes on.
  void room();
  // Drops what is held without calling it (the owner is going).
  void clear();

 private:
  struct Held {
    TimePoint deadline;
    Operation operation;
  };

  void expire();
  void give_back_if_empty();
  void arm_timer();
  void cancel_timer();

  EventLoop& loop_;
  const Duration deadline_;
  const size_t max_held_;
  // A ring, not a deque: no node allocated and freed as operations come and go. An operation
  // that starts may hold another (push_back, which may grow the ring) while the front is out,
  // so room() and expire() move the front out before calling it and keep no reference into the
  // ring across the call; one still without room goes back with push_front. A ring a burst
  // grew (up to max_held places, 1.8 MiB at tern-kv's defaults) is given back when the hold
  // empties; a small one is kept (kKeptPlaces).
  RingQueue<Held> held_;
  TimerId timer_;
  bool timer_armed_ = false;
  bool starting_ = false;
};

}  // namespace tern::store
