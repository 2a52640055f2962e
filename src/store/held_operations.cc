// HeldOperations: hold in order, start when there is room, fail at the deadline.
#include "store/held_operations.h"

#include <utility>

#include "tern/loop/event_loop.h"
#include "tern/store/store.h"

namespace tern::store {

HeldOperations::HeldOperations(EventLoop& loop, Duration deadline, size_t max_held)
    : loop_(loop), deadline_(deadline), max_held_(max_held) {}

HeldOperations::~HeldOperations() { clear(); }

void HeldOperations::hold(TimePoint issued, Operation operation) {
  held_.push_back(Held{issued + deadline_, std::move(operation)});
  arm_timer();
}

// One whose deadline passed (its timer has not run yet) ends instead of starting: it would have
// none of its time left.
void HeldOperations::room() {
  if (starting_) return;
  starting_ = true;
  const TimePoint now = loop_.now();
  while (!held_.empty()) {
    // Out of the queue while it starts: what its start runs may hold more behind it.
    Held next = std::move(held_.front());
    held_.pop_front();
    if (next.deadline <= now) {
      next.operation(make_error_code(errc::timeout));
      continue;
    }
    if (!next.operation({})) {
      held_.push_front(std::move(next));  // still no room: the next room() resumes here
      break;
    }
  }
  starting_ = false;
  give_back_if_empty();
}

void HeldOperations::clear() {
  cancel_timer();
  held_.clear();
}

// The front has the earliest deadline: end every operation whose deadline passed, then wait
// for the next front's.
void HeldOperations::expire() {
  timer_armed_ = false;
  const TimePoint now = loop_.now();
  while (!held_.empty() && held_.front().deadline <= now) {
    Held expired = std::move(held_.front());
    held_.pop_front();
    expired.operation(make_error_code(errc::timeout));
  }
  give_back_if_empty();
  arm_timer();
}

// Not while an operation is out of the ring starting: it may still hold more behind it.
void HeldOperations::give_back_if_empty() {
  if (held_.empty() && !starting_ && held_.capacity() > kKeptPlaces) held_ = RingQueue<Held>();
}

// Armed for the front's deadline while anything is held. A front that started meanwhile
// leaves the timer early: it fires, finds nothing due, and re-arms for the new front.
void HeldOperations::arm_timer() {
  if (timer_armed_ || held_.empty()) return;
  Duration left = held_.front().deadline - loop_.now();
  if (left < Duration::zero()) left = Duration::zero();
  timer_ = loop_.run_after(left, [this] { expire(); });
  timer_armed_ = true;
}

void HeldOperations::cancel_timer() {
  if (!timer_armed_) return;
  loop_.cancel(timer_);
  timer_armed_ = false;
}

}  // namespace tern::store
