// TimerQueue: behaviour on synthetic time points (nothing sleeps), plus a randomized comparison
// against a std::multimap reference model.
#include "loop/timer_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace tern {
namespace {

using std::chrono::milliseconds;

TimePoint at(int64_t ms) { return TimePoint{} + milliseconds(ms); }

constexpr Duration kOnce = Duration::zero();

// Adds a one-shot timer that appends `tag` to `fired`.
TimerId add_tagged(TimerQueue& queue, int64_t ms, int tag, std::vector<int>& fired) {
  return queue.add(at(ms), kOnce, [&fired, tag] { fired.push_back(tag); });
}

using Tags = std::vector<int>;

TEST(TimerQueueTest, FiresInDeadlineOrderWithTiesInInsertionOrder) {
  TimerQueue queue;
  Tags fired;
  add_tagged(queue, 30, 1, fired);
  add_tagged(queue, 10, 2, fired);
  add_tagged(queue, 20, 3, fired);
  add_tagged(queue, 10, 4, fired);
  add_tagged(queue, 20, 5, fired);
  add_tagged(queue, 10, 6, fired);
  EXPECT_EQ(queue.run_due(at(100)), 6u);
  EXPECT_EQ(fired, (Tags{2, 4, 6, 3, 5, 1}));
  EXPECT_EQ(queue.size(), 0u);
}

TEST(TimerQueueTest, RunsOnlyWhatIsDueAndDeadlineIsInclusive) {
  TimerQueue queue;
  Tags fired;
  add_tagged(queue, 10, 1, fired);
  add_tagged(queue, 20, 2, fired);
  EXPECT_EQ(queue.run_due(at(9)), 0u);
  EXPECT_TRUE(fired.empty());
  EXPECT_EQ(queue.run_due(at(10)), 1u);
  EXPECT_EQ(fired, (Tags{1}));
  EXPECT_EQ(queue.run_due(at(19)), 0u);
  EXPECT_EQ(queue.run_due(at(25)), 1u);
  EXPECT_EQ(fired, (Tags{1, 2}));
  EXPECT_EQ(queue.run_due(at(1000)), 0u);
}

TEST(TimerQueueTest, ManyTiesKeepInsertionOrder) {
  TimerQueue queue;
  Tags fired, expected;
  for (int i = 0; i < 1000; ++i) {
    add_tagged(queue, i % 7, i, fired);
  }
  for (int ms = 0; ms < 7; ++ms) {
    for (int i = ms; i < 1000; i += 7) expected.push_back(i);
  }
  EXPECT_EQ(queue.run_due(at(7)), 1000u);
  EXPECT_EQ(fired, expected);
}

TEST(TimerQueueTest, CancelBeforeDueStopsIt) {
  TimerQueue queue;
  Tags fired;
  add_tagged(queue, 10, 1, fired);
  const TimerId doomed = add_tagged(queue, 20, 2, fired);
  add_tagged(queue, 30, 3, fired);
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_TRUE(queue.cancel(doomed));
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_EQ(queue.run_due(at(100)), 2u);
  EXPECT_EQ(fired, (Tags{1, 3}));
}

TEST(TimerQueueTest, CancelStaleIdReturnsFalse) {
  TimerQueue queue;
  Tags fired;
  EXPECT_FALSE(queue.cancel(TimerId{}));
  EXPECT_FALSE(queue.cancel(TimerId{12345, 0}));

  const TimerId fired_id = add_tagged(queue, 10, 1, fired);
  queue.run_due(at(10));
  EXPECT_FALSE(queue.cancel(fired_id));
  EXPECT_FALSE(queue.reset(fired_id, at(50)));

  const TimerId cancelled = add_tagged(queue, 10, 2, fired);
  EXPECT_TRUE(queue.cancel(cancelled));
  EXPECT_FALSE(queue.cancel(cancelled));
  EXPECT_FALSE(queue.reset(cancelled, at(50)));
  EXPECT_EQ(queue.size(), 0u);
}

TEST(TimerQueueTest, StaleIdNeverTouchesTheTimerThatReusedItsSlot) {
  TimerQueue queue;
  Tags fired;
  const TimerId old_id = add_tagged(queue, 10, 1, fired);
  ASSERT_TRUE(queue.cancel(old_id));
  const TimerId new_id = add_tagged(queue, 20, 2, fired);
  ASSERT_EQ(new_id.slot, old_id.slot);  // the slab reuses the slot...
  EXPECT_NE(new_id.generation, old_id.generation);  // ...under a new generation
  EXPECT_FALSE(queue.cancel(old_id));
  EXPECT_FALSE(queue.reset(old_id, at(500)));
  EXPECT_EQ(queue.run_due(at(20)), 1u);
  EXPECT_EQ(fired, (Tags{2}));
}

TEST(TimerQueueTest, OneShotCancellingItselfFromItsCallbackGetsFalse) {
  TimerQueue queue;
  TimerId self;
  std::optional<bool> cancel_result, reset_result;
  self = queue.add(at(10), kOnce, [&] {
    cancel_result = queue.cancel(self);
    reset_result = queue.reset(self, at(20));
  });
  EXPECT_EQ(queue.run_due(at(10)), 1u);
  EXPECT_EQ(cancel_result, false);  // it has already fired
  EXPECT_EQ(reset_result, false);
  EXPECT_EQ(queue.run_due(at(100)), 0u);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(TimerQueueTest, CallbackCancelsAnotherTimer) {
  TimerQueue queue;
  Tags fired;
  TimerId due_now, due_later;
  std::vector<bool> results;
  queue.add(at(10), kOnce, [&] {
    fired.push_back(1);
    results.push_back(queue.cancel(due_now));
    results.push_back(queue.cancel(due_later));
    results.push_back(queue.cancel(due_later));
  });
  due_now = add_tagged(queue, 10, 2, fired);
  due_later = add_tagged(queue, 50, 3, fired);
  add_tagged(queue, 10, 4, fired);
  EXPECT_EQ(queue.run_due(at(100)), 2u);
  EXPECT_EQ(fired, (Tags{1, 4}));
  EXPECT_EQ(results, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(queue.size(), 0u);
}

TEST(TimerQueueTest, ResetLaterIsLazyButNeverFiresEarly) {
  TimerQueue queue;
  Tags fired;
  const TimerId id = add_tagged(queue, 10, 1, fired);
  ASSERT_TRUE(queue.reset(id, at(50)));
  EXPECT_EQ(queue.size(), 1u);
  // The heap may still report the old key; it must not report anything later than the truth.
  ASSERT_TRUE(queue.next_deadline().has_value());
  EXPECT_LE(*queue.next_deadline(), at(50));

  EXPECT_EQ(queue.run_due(at(10)), 0u);  // the old key comes due: re-keyed, not run
  EXPECT_TRUE(fired.empty());
  EXPECT_EQ(queue.next_deadline(), at(50));
  EXPECT_EQ(queue.run_due(at(49)), 0u);
  EXPECT_EQ(queue.run_due(at(50)), 1u);
  EXPECT_EQ(fired, (Tags{1}));
  EXPECT_EQ(queue.size(), 0u);
}

TEST(TimerQueueTest, RepeatedLazyResetsLandOnTheLastDeadline) {
  TimerQueue queue;
  Tags fired;
  const TimerId id = add_tagged(queue, 10, 1, fired);
  for (int ms = 20; ms <= 1000; ms += 10) ASSERT_TRUE(queue.reset(id, at(ms)));
  EXPECT_EQ(queue.run_due(at(999)), 0u);
  EXPECT_EQ(queue.run_due(at(1000)), 1u);
  EXPECT_EQ(fired, (Tags{1}));
}

TEST(TimerQueueTest, ResetLaterRespectsOrderAgainstOtherTimers) {
  TimerQueue queue;
  Tags fired;
  const TimerId a = add_tagged(queue, 10, 1, fired);
  add_tagged(queue, 20, 2, fired);
  add_tagged(queue, 40, 3, fired);
  ASSERT_TRUE(queue.reset(a, at(30)));
  EXPECT_EQ(queue.run_due(at(100)), 3u);
  EXPECT_EQ(fired, (Tags{2, 1, 3}));
}

TEST(TimerQueueTest, ResetToATieQueuesBehindTimersAlreadyWaiting) {
  TimerQueue queue;
  Tags fired;
  const TimerId a = add_tagged(queue, 10, 1, fired);
  add_tagged(queue, 20, 2, fired);
  const TimerId c = add_tagged(queue, 30, 3, fired);
  add_tagged(queue, 20, 4, fired);
  ASSERT_TRUE(queue.reset(a, at(20)));  // later: lazy path
  ASSERT_TRUE(queue.reset(c, at(20)));  // earlier: sift path
  EXPECT_EQ(queue.run_due(at(100)), 4u);
  EXPECT_EQ(fired, (Tags{2, 4, 1, 3}));
}

TEST(TimerQueueTest, ResetEarlierMovesAheadOfOthers) {
  TimerQueue queue;
  Tags fired;
  add_tagged(queue, 10, 1, fired);
  add_tagged(queue, 20, 2, fired);
  const TimerId c = add_tagged(queue, 30, 3, fired);
  ASSERT_TRUE(queue.reset(c, at(5)));
  EXPECT_EQ(queue.next_deadline(), at(5));
  EXPECT_EQ(queue.run_due(at(5)), 1u);
  EXPECT_EQ(fired, (Tags{3}));
  EXPECT_EQ(queue.run_due(at(100)), 2u);
  EXPECT_EQ(fired, (Tags{3, 1, 2}));
}

TEST(TimerQueueTest, ResetEarlierAfterALazyResetLater) {
  TimerQueue queue;
  Tags fired;
  const TimerId a = add_tagged(queue, 10, 1, fired);
  add_tagged(queue, 15, 2, fired);
  ASSERT_TRUE(queue.reset(a, at(50)));  // lazy: the heap still holds 10
  ASSERT_TRUE(queue.reset(a, at(12)));  // later than the heap key 10, earlier than the truth
  EXPECT_EQ(queue.run_due(at(11)), 0u);
  EXPECT_EQ(queue.run_due(at(12)), 1u);
  EXPECT_EQ(fired, (Tags{1}));
  ASSERT_TRUE(queue.reset(queue.add(at(100), kOnce, [&] { fired.push_back(3); }), at(1)));
  EXPECT_EQ(queue.run_due(at(15)), 2u);
  EXPECT_EQ(fired, (Tags{1, 3, 2}));
}

TEST(TimerQueueTest, RepeatingTimerFiresAtEachIntervalWithoutDrift) {
  TimerQueue queue;
  int count = 0;
  queue.add(at(10), milliseconds(10), [&] { ++count; });
  EXPECT_EQ(queue.run_due(at(10)), 1u);
  EXPECT_EQ(queue.next_deadline(), at(20));
  EXPECT_EQ(queue.run_due(at(19)), 0u);
  EXPECT_EQ(queue.run_due(at(20)), 1u);
  // Late by 5: the next deadline stays on the 10 ms grid.
  EXPECT_EQ(queue.run_due(at(35)), 1u);
  EXPECT_EQ(queue.next_deadline(), at(40));
  EXPECT_EQ(count, 3);
  EXPECT_EQ(queue.size(), 1u);
}

TEST(TimerQueueTest, StalledLoopFiresRepeatingTimerOnceAndRearmsFromNow) {
  TimerQueue queue;
  int count = 0;
  queue.add(at(10), milliseconds(10), [&] { ++count; });
  EXPECT_EQ(queue.run_due(at(1005)), 1u);  // no burst of 100 catch-up calls
  EXPECT_EQ(count, 1);
  EXPECT_EQ(queue.next_deadline(), at(1015));
  EXPECT_EQ(queue.run_due(at(1014)), 0u);
  EXPECT_EQ(queue.run_due(at(1015)), 1u);
  EXPECT_EQ(queue.next_deadline(), at(1025));
}

TEST(TimerQueueTest, RepeatingTimerStopsWhenCancelledFromItsOwnCallback) {
  TimerQueue queue;
  int count = 0;
  TimerId self;
  std::vector<bool> results;
  self = queue.add(at(10), milliseconds(10), [&] {
    if (++count == 3) {
      results.push_back(queue.cancel(self));
      results.push_back(queue.cancel(self));
    }
  });
  for (int ms = 10; ms <= 100; ms += 10) queue.run_due(at(ms));
  EXPECT_EQ(count, 3);
  EXPECT_EQ(results, (std::vector<bool>{true, false}));
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_FALSE(queue.next_deadline().has_value());
  EXPECT_FALSE(queue.cancel(self));
}

TEST(TimerQueueTest, RepeatingTimerCancelledByAnotherTimerInTheSameRun) {
  TimerQueue queue;
  int count = 0;
  const TimerId repeating = queue.add(at(10), milliseconds(10), [&] { ++count; });
  std::optional<bool> result;
  queue.add(at(10), kOnce, [&] { result = queue.cancel(repeating); });
  EXPECT_EQ(queue.run_due(at(10)), 2u);
  EXPECT_EQ(count, 1);
  EXPECT_EQ(result, true);
  EXPECT_EQ(queue.run_due(at(100)), 0u);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(TimerQueueTest, RepeatingTimerResetFromItsOwnCallbackUsesTheNewDeadline) {
  TimerQueue queue;
  std::vector<int64_t> fired_at;
  TimePoint now;
  TimerId self;
  self = queue.add(at(10), milliseconds(10), [&] {
    fired_at.push_back((now - at(0)) / milliseconds(1));
    if (fired_at.size() == 1) {
      EXPECT_TRUE(queue.reset(self, at(100)));
    }
  });
  for (int64_t ms = 10; ms <= 120; ++ms) {
    now = at(ms);
    queue.run_due(now);
  }
  EXPECT_EQ(fired_at, (std::vector<int64_t>{10, 100, 110, 120}));
}

TEST(TimerQueueTest, RepeatingTimerResetToDueFromItsOwnCallbackWaitsForTheNextRun) {
  TimerQueue queue;
  int count = 0;
  TimerId self;
  self = queue.add(at(10), milliseconds(10), [&] {
    ++count;
    queue.reset(self, at(0));
  });
  EXPECT_EQ(queue.run_due(at(10)), 1u);
  EXPECT_EQ(queue.run_due(at(10)), 1u);
  EXPECT_EQ(count, 2);
  EXPECT_EQ(queue.size(), 1u);
}

TEST(TimerQueueTest, CallbackAddingADueTimerDoesNotRunItInTheSameCall) {
  TimerQueue queue;
  Tags fired;
  queue.add(at(10), kOnce, [&] {
    fired.push_back(1);
    add_tagged(queue, 5, 2, fired);   // already due, and earlier than the next timer
    add_tagged(queue, 10, 3, fired);  // due, ties with the next timer
  });
  add_tagged(queue, 10, 4, fired);
  add_tagged(queue, 10, 5, fired);
  EXPECT_EQ(queue.run_due(at(10)), 3u);
  EXPECT_EQ(fired, (Tags{1, 4, 5}));
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_EQ(queue.next_deadline(), at(5));
  EXPECT_EQ(queue.run_due(at(10)), 2u);
  EXPECT_EQ(fired, (Tags{1, 4, 5, 2, 3}));
}

TEST(TimerQueueTest, CallbackResettingAnotherTimerToDueDoesNotRunItInTheSameCall) {
  TimerQueue queue;
  Tags fired;
  const TimerId later = add_tagged(queue, 100, 2, fired);
  queue.add(at(10), kOnce, [&] {
    fired.push_back(1);
    EXPECT_TRUE(queue.reset(later, at(1)));
  });
  EXPECT_EQ(queue.run_due(at(10)), 1u);
  EXPECT_EQ(fired, (Tags{1}));
  EXPECT_EQ(queue.run_due(at(10)), 1u);
  EXPECT_EQ(fired, (Tags{1, 2}));
}

TEST(TimerQueueTest, HeldBackTimerCanBeCancelledAndItsSlotReusedInTheSameRun) {
  TimerQueue queue;
  Tags fired;
  TimerId held_back;
  queue.add(at(10), kOnce, [&] { held_back = add_tagged(queue, 1, 2, fired); });
  queue.add(at(10), kOnce, [&] {
    // held_back is due and out of the heap now; cancel it and let a new timer take its slot.
    EXPECT_TRUE(queue.cancel(held_back));
    add_tagged(queue, 1, 3, fired);
    add_tagged(queue, 1, 4, fired);
  });
  EXPECT_EQ(queue.run_due(at(10)), 2u);
  EXPECT_TRUE(fired.empty());
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_EQ(queue.run_due(at(10)), 2u);
  EXPECT_EQ(fired, (Tags{3, 4}));
  EXPECT_EQ(queue.size(), 0u);
}

TEST(TimerQueueTest, TimersResettingEachOtherToNowCannotSpinOneCall) {
  TimerQueue queue;
  TimerId a, b;
  int runs = 0;
  TimePoint now = at(10);
  a = queue.add(at(10), milliseconds(1), [&] { ++runs; queue.reset(b, now); });
  b = queue.add(at(10), milliseconds(1), [&] { ++runs; queue.reset(a, now); });
  // Each reset re-arms the other one, so each call runs exactly one of them and returns.
  EXPECT_EQ(queue.run_due(now), 1u);
  EXPECT_EQ(queue.run_due(now), 1u);
  EXPECT_EQ(queue.run_due(now), 1u);
  EXPECT_EQ(runs, 3);
}

TEST(TimerQueueTest, RunDueFromACallbackDoesNothing) {
  TimerQueue queue;
  Tags fired;
  std::optional<size_t> nested;
  queue.add(at(10), kOnce, [&] { nested = queue.run_due(at(10)); });
  add_tagged(queue, 10, 2, fired);
  EXPECT_EQ(queue.run_due(at(10)), 2u);
  EXPECT_EQ(nested, 0u);
  EXPECT_EQ(fired, (Tags{2}));
}

TEST(TimerQueueTest, AddingTenThousandTimersInsideCallbacksIsSafe) {
  TimerQueue queue;
  std::vector<int> fired;
  int repeats = 0;
  // A repeating timer whose callback grows the slab many times over while it runs: its own
  // callback must survive the move and come back for the next round.
  const TimerId repeating = queue.add(at(1), milliseconds(1), [&] {
    ++repeats;
    if (repeats > 1) return;
    for (int i = 0; i < 5000; ++i) add_tagged(queue, 100 + i, i, fired);
  });
  // One-shots that each add more while the slab grows.
  for (int round = 0; round < 50; ++round) {
    queue.add(at(2), kOnce, [&, round] {
      for (int i = 0; i < 100; ++i) {
        const int tag = 5000 + round * 100 + i;
        add_tagged(queue, 100 + tag, tag, fired);
      }
    });
  }
  EXPECT_EQ(queue.run_due(at(2)), 51u);
  EXPECT_EQ(queue.size(), 10001u);
  EXPECT_EQ(queue.run_due(at(3)), 1u);  // the repeating timer again, callback intact
  EXPECT_TRUE(queue.cancel(repeating));
  EXPECT_EQ(queue.run_due(at(100000)), 10000u);
  ASSERT_EQ(fired.size(), 10000u);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(fired[i], i);
  EXPECT_EQ(repeats, 2);
  EXPECT_EQ(queue.size(), 0u);
}

TEST(TimerQueueTest, ChainOfCallbacksEachAddingTheNext) {
  TimerQueue queue;
  int depth = 0;
  std::function<void()> next = [&] {
    if (++depth < 10000) queue.add(at(0), kOnce, next);
  };
  queue.add(at(0), kOnce, next);
  size_t calls = 0;
  while (queue.size() > 0) {
    ASSERT_EQ(queue.run_due(at(0)), 1u);  // bounded: one link per call
    ++calls;
  }
  EXPECT_EQ(calls, 10000u);
  EXPECT_EQ(depth, 10000);
}

TEST(TimerQueueTest, NextDeadline) {
  TimerQueue queue;
  EXPECT_FALSE(queue.next_deadline().has_value());
  const TimerId a = queue.add(at(30), kOnce, [] {});
  EXPECT_EQ(queue.next_deadline(), at(30));
  const TimerId b = queue.add(at(20), kOnce, [] {});
  EXPECT_EQ(queue.next_deadline(), at(20));
  queue.add(at(40), kOnce, [] {});
  EXPECT_EQ(queue.next_deadline(), at(20));
  ASSERT_TRUE(queue.cancel(b));
  EXPECT_EQ(queue.next_deadline(), at(30));
  ASSERT_TRUE(queue.reset(a, at(5)));
  EXPECT_EQ(queue.next_deadline(), at(5));
  ASSERT_TRUE(queue.reset(a, at(35)));  // lazy: may report 5, never later than 35
  ASSERT_TRUE(queue.next_deadline().has_value());
  EXPECT_LE(*queue.next_deadline(), at(35));
  EXPECT_EQ(queue.run_due(at(30)), 0u);
  EXPECT_EQ(queue.next_deadline(), at(35));
  EXPECT_EQ(queue.run_due(at(40)), 2u);
  EXPECT_FALSE(queue.next_deadline().has_value());
}

TEST(TimerQueueTest, Size) {
  TimerQueue queue;
  EXPECT_EQ(queue.size(), 0u);
  const TimerId a = queue.add(at(10), kOnce, [] {});
  queue.add(at(20), milliseconds(5), [] {});
  queue.add(at(30), kOnce, [] {});
  EXPECT_EQ(queue.size(), 3u);
  queue.cancel(a);
  EXPECT_EQ(queue.size(), 2u);
  queue.cancel(a);
  EXPECT_EQ(queue.size(), 2u);
  queue.run_due(at(20));
  EXPECT_EQ(queue.size(), 2u);  // the repeating timer stays
  queue.run_due(at(30));
  EXPECT_EQ(queue.size(), 1u);
}

TEST(TimerQueueTest, SizeInsideCallbacks) {
  TimerQueue queue;
  std::vector<size_t> seen;
  queue.add(at(10), kOnce, [&] { seen.push_back(queue.size()); });             // fired: gone
  queue.add(at(10), milliseconds(1), [&] { seen.push_back(queue.size()); });   // repeating: live
  EXPECT_EQ(queue.run_due(at(10)), 2u);
  EXPECT_EQ(seen, (std::vector<size_t>{1, 1}));
}

TEST(TimerQueueTest, EmptyCallbackIsHarmless) {
  TimerQueue queue;
  queue.add(at(10), kOnce, nullptr);
  queue.add(at(10), milliseconds(10), nullptr);
  EXPECT_EQ(queue.run_due(at(10)), 2u);
  EXPECT_EQ(queue.run_due(at(20)), 1u);
  EXPECT_EQ(queue.size(), 1u);
}

TEST(TimerQueueTest, FarFutureRepeatDoesNotOverflow) {
  TimerQueue queue;
  int count = 0;
  queue.add(TimePoint::max() - milliseconds(1), milliseconds(10), [&] { ++count; });
  EXPECT_EQ(queue.run_due(TimePoint::max()), 1u);
  EXPECT_EQ(queue.next_deadline(), TimePoint::max());
  EXPECT_EQ(count, 1);
}

// ---- Randomized comparison against a reference model -------------------------------------
//
// The model is the specification written as plainly as possible: a std::multimap from deadline
// to timer, where inserting a key equal to existing ones goes after them, so arming order is
// the tie order. Both worlds see the same top-level operations; inside callbacks each draws
// from its own identically seeded generator, which stays in step exactly as long as the two
// agree on the firing order. Logical timer numbers are assigned in add order in both.

// What a callback does when it fires, beyond recording itself.
template <typename World>
void on_fire(World& world, size_t logical) {
  world.log.push_back("fire " + std::to_string(logical));
  std::mt19937_64& rng = world.callback_rng;
  const auto pick = [&] {
    // Mostly recent timers, which are more likely still live.
    const size_t count = world.timer_count();
    if (rng() % 2 == 0 && count > 16) return count - 1 - static_cast<size_t>(rng() % 16);
    return static_cast<size_t>(rng() % count);
  };
  const auto later = [&](int64_t span) { return world.now + milliseconds(rng() % span); };
  switch (rng() % 20) {
    case 0:
    case 1:
      world.log.push_back("self cancel " + std::to_string(world.cancel(logical)));
      break;
    case 2: {
      const size_t other = pick();
      world.log.push_back("cancel " + std::to_string(world.cancel(other)));
      break;
    }
    case 3:
      world.log.push_back("self reset " + std::to_string(world.reset(logical, later(300))));
      break;
    case 4: {
      const size_t other = pick();
      const TimePoint when = later(300) - milliseconds(50);
      world.log.push_back("reset " + std::to_string(world.reset(other, when)));
      break;
    }
    case 5: {
      const TimePoint when = later(100);  // often 0: due at once, must wait for the next run
      const Duration interval = rng() % 20 == 0 ? milliseconds(1 + rng() % 200) : kOnce;
      world.add(when, interval);
      break;
    }
    default:
      break;
  }
}

class RealWorld {
 public:
  size_t timer_count() const { return ids_.size(); }

  void add(TimePoint deadline, Duration interval) {
    const size_t logical = ids_.size();
    ids_.push_back(queue_.add(deadline, interval, [this, logical] { on_fire(*this, logical); }));
  }
  bool cancel(size_t logical) { return queue_.cancel(ids_[logical]); }
  bool reset(size_t logical, TimePoint deadline) { return queue_.reset(ids_[logical], deadline); }
  size_t run_due(TimePoint at_time) {
    now = at_time;
    return queue_.run_due(at_time);
  }
  size_t size() const { return queue_.size(); }
  std::optional<TimePoint> next_deadline() const { return queue_.next_deadline(); }

  std::vector<std::string> log;
  std::mt19937_64 callback_rng{7};
  TimePoint now;

 private:
  TimerQueue queue_;
  std::vector<TimerId> ids_;
};

class ModelWorld {
 public:
  size_t timer_count() const { return timers_.size(); }

  void add(TimePoint deadline, Duration interval) {
    timers_.push_back(Timer{interval > Duration::zero() ? interval : kOnce});
    arm(timers_.size() - 1, deadline);
  }

  bool cancel(size_t logical) {
    Timer& timer = timers_[logical];
    if (timer.state == State::kDead) return false;
    if (timer.state == State::kQueued) by_deadline_.erase(timer.where);
    timer.state = State::kDead;
    --live_;
    return true;
  }

  bool reset(size_t logical, TimePoint deadline) {
    Timer& timer = timers_[logical];
    if (timer.state == State::kDead) return false;
    if (timer.state == State::kQueued) by_deadline_.erase(timer.where);
    --live_;
    arm(logical, deadline);
    // A running timer reset from its callback is queued at once in the model; the queue keeps
    // it aside until the callback returns, which nothing observable can tell apart.
    return true;
  }

  size_t run_due(TimePoint at_time) {
    now = at_time;
    const uint64_t first_armed_during_run = next_sequence_;
    size_t ran = 0;
    for (;;) {
      auto due = by_deadline_.begin();
      while (due != by_deadline_.end() && due->first <= now &&
             timers_[due->second].sequence >= first_armed_during_run) {
        ++due;
      }
      if (due == by_deadline_.end() || due->first > now) break;
      fire(due);
      ++ran;
    }
    return ran;
  }

  size_t size() const { return live_; }
  std::optional<TimePoint> true_next_deadline() const {
    if (by_deadline_.empty()) return std::nullopt;
    return by_deadline_.begin()->first;
  }

  std::vector<std::string> log;
  std::mt19937_64 callback_rng{7};
  TimePoint now;

 private:
  enum class State { kQueued, kRunning, kDead };
  using Map = std::multimap<TimePoint, size_t>;
  struct Timer {
    Duration interval;
    State state = State::kDead;
    TimePoint deadline;
    uint64_t sequence = 0;
    Map::iterator where;
  };

  void arm(size_t logical, TimePoint deadline) {
    Timer& timer = timers_[logical];
    timer.deadline = deadline;
    timer.sequence = next_sequence_++;
    timer.where = by_deadline_.emplace(deadline, logical);
    timer.state = State::kQueued;
    ++live_;
  }

  void fire(Map::iterator due) {
    const size_t logical = due->second;
    by_deadline_.erase(due);
    Timer& timer = timers_[logical];
    const bool repeating = timer.interval > Duration::zero();
    const TimePoint fired_deadline = timer.deadline;
    if (repeating) {
      timer.state = State::kRunning;
    } else {
      timer.state = State::kDead;
      --live_;
    }
    on_fire(*this, logical);
    Timer& after = timers_[logical];
    if (!repeating || after.state != State::kRunning) return;  // cancelled, or reset and queued
    TimePoint next = fired_deadline + after.interval;
    if (next <= now) next = now + after.interval;
    --live_;
    arm(logical, next);
  }

  Map by_deadline_;
  std::vector<Timer> timers_;
  uint64_t next_sequence_ = 0;
  size_t live_ = 0;
};

// Index of the first difference at or after `from`, or npos.
size_t first_difference(const std::vector<std::string>& a, const std::vector<std::string>& b,
                        size_t from) {
  const size_t common = std::min(a.size(), b.size());
  for (size_t i = from; i < common; ++i) {
    if (a[i] != b[i]) return i;
  }
  return a.size() == b.size() ? std::string::npos : common;
}

std::string around(const std::vector<std::string>& log, size_t index) {
  std::string text;
  for (size_t i = index >= 5 ? index - 5 : 0; i < std::min(log.size(), index + 5); ++i) {
    text += (i == index ? " >>" : " ") + log[i] + ";";
  }
  return text;
}

TEST(TimerQueueTest, RandomizedAgainstMultimapModel) {
  RealWorld real;
  ModelWorld model;
  std::mt19937_64 rng(20240611);
  TimePoint now = at(0);
  // Deadlines cluster on a coarse grid (many ties) within about a second, with a tail far out
  // so that a few thousand timers stay live and the heap is deep.
  const auto deadline_after = [&](int64_t earliest) {
    const int64_t span = rng() % 5 == 0 ? 1'000'000 : 1'000;
    return now + milliseconds(earliest + static_cast<int64_t>(rng() % span));
  };
  const auto pick = [&]() -> size_t {
    const size_t count = real.timer_count();
    // Mostly recent timers, which are more likely still live.
    if (rng() % 2 == 0 && count > 64) return count - 1 - rng() % 64;
    return rng() % count;
  };
  size_t total_fired = 0;
  size_t most_live = 0;
  size_t log_checked = 0;  // the logs agree up to here
  constexpr int kOperations = 100'000;
  for (int op = 0; op < kOperations; ++op) {
    const uint64_t kind = real.timer_count() == 0 ? 0 : rng() % 100;
    if (kind < 35) {
      const TimePoint deadline = deadline_after(0);
      const Duration interval = rng() % 25 == 0 ? milliseconds(1 + rng() % 500) : kOnce;
      real.add(deadline, interval);
      model.add(deadline, interval);
    } else if (kind < 50) {
      const size_t target = pick();
      ASSERT_EQ(real.cancel(target), model.cancel(target)) << "op " << op;
    } else if (kind < 70) {
      const size_t target = pick();
      // Mostly later (the idle-timer case), sometimes earlier, sometimes already past.
      const TimePoint deadline = deadline_after(-100);
      ASSERT_EQ(real.reset(target, deadline), model.reset(target, deadline)) << "op " << op;
    } else {
      now += milliseconds(rng() % 60);
      const size_t ran = real.run_due(now);
      ASSERT_EQ(ran, model.run_due(now)) << "op " << op;
      total_fired += ran;
    }
    const size_t mismatch = first_difference(real.log, model.log, log_checked);
    ASSERT_EQ(mismatch, std::string::npos)
        << "op " << op << "\n  real: " << around(real.log, mismatch)
        << "\n  model:" << around(model.log, mismatch);
    log_checked = real.log.size();
    most_live = std::max(most_live, real.size());
    ASSERT_EQ(real.size(), model.size()) << "op " << op;
    const std::optional<TimePoint> truth = model.true_next_deadline();
    const std::optional<TimePoint> reported = real.next_deadline();
    ASSERT_EQ(reported.has_value(), truth.has_value()) << "op " << op;
    if (truth) {
      ASSERT_LE(*reported, *truth) << "op " << op;
    }
  }
  // The run must have exercised the interesting paths, not just idled.
  EXPECT_GT(total_fired, 20'000u);
  EXPECT_GT(most_live, 1'000u);
  // Drain: every remaining one-shot fires and the sequences still agree.
  now += milliseconds(2'000'000);
  ASSERT_EQ(real.run_due(now), model.run_due(now));
  const size_t mismatch = first_difference(real.log, model.log, log_checked);
  EXPECT_EQ(mismatch, std::string::npos) << "\n  real: " << around(real.log, mismatch)
                                         << "\n  model:" << around(model.log, mismatch);
  EXPECT_EQ(real.log.size(), model.log.size());
}

}  // namespace
}  // namespace tern
