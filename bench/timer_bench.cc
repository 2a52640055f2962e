// Timer queue cost at a server's scale: 1,000,000 live timers (one idle timer per connection).
//
// Each operation is measured on tern's TimerQueue and on the structure muduo-style loops use,
// a std::multimap keyed by deadline with an iterator kept per timer. The baseline re-keys with
// node extract/insert, so it never allocates on reset: that is the strongest form of it.
//
// An iteration is a batch of kBatch operations timed with the steady clock (manual time), so
// the untimed work that keeps the population at 1M (cancelling what was just added, adding
// back what was cancelled or fired) stays out of the numbers. Each benchmark runs a fixed
// number of batches once, so its 1M-timer set-up is paid once. Read items_per_second, or
// ns_per_op; "Time" is per batch.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "loop/timer_queue.h"

namespace tern {
namespace {

constexpr size_t kLive = 1'000'000;
constexpr size_t kBatch = 1'000;
constexpr int64_t kBatches = 2'000;
constexpr Duration kSpread = std::chrono::seconds(1);  // initial deadlines: [0, 1 s)

TimePoint at_ns(int64_t ns) { return TimePoint{} + std::chrono::nanoseconds(ns); }

class TernTimers {
 public:
  using Handle = TimerId;
  Handle add(TimePoint deadline, TimerCallback callback) {
    return queue_.add(deadline, Duration::zero(), std::move(callback));
  }
  void cancel(Handle handle) { queue_.cancel(handle); }
  Handle reset(Handle handle, TimePoint deadline) {
    queue_.reset(handle, deadline);
    return handle;
  }
  size_t run_due(TimePoint now) { return queue_.run_due(now); }

 private:
  TimerQueue queue_;
};

class MultimapTimers {
 public:
  using Map = std::multimap<TimePoint, TimerCallback>;
  using Handle = Map::iterator;
  Handle add(TimePoint deadline, TimerCallback callback) {
    return timers_.emplace(deadline, std::move(callback));
  }
  void cancel(Handle handle) { timers_.erase(handle); }
  Handle reset(Handle handle, TimePoint deadline) {
    auto node = timers_.extract(handle);
    node.key() = deadline;
    return timers_.insert(std::move(node));
  }
  size_t run_due(TimePoint now) {
    size_t ran = 0;
    while (!timers_.empty() && timers_.begin()->first <= now) {
      auto node = timers_.extract(timers_.begin());
      node.mapped()();
      ++ran;
    }
    return ran;
  }

 private:
  Map timers_;
};

// 1M timers with random deadlines in [0, kSpread), a handle and deadline kept for each, and a
// shuffled order to pick batches of distinct timers from.
template <typename Timers>
class Population {
 public:
  Population() : order_(kLive) {
    handles.reserve(kLive);
    deadlines.reserve(kLive);
    for (size_t i = 0; i < kLive; ++i) {
      deadlines.push_back(TimePoint{} + random_offset(kSpread));
      handles.push_back(timers.add(deadlines.back(), callback()));
    }
    std::iota(order_.begin(), order_.end(), size_t{0});
    std::shuffle(order_.begin(), order_.end(), rng);
  }

  Duration random_offset(Duration range) {
    return Duration(static_cast<Duration::rep>(rng() % static_cast<uint64_t>(range.count())));
  }
  TimerCallback callback() {
    return [this] { ++fired; };
  }

  // The next kBatch distinct timers, in random order.
  const size_t* next_batch() {
    if (cursor_ + kBatch > order_.size()) cursor_ = 0;
    const size_t* batch = order_.data() + cursor_;
    cursor_ += kBatch;
    return batch;
  }

  std::mt19937_64 rng{42};
  Timers timers;
  std::vector<typename Timers::Handle> handles;
  std::vector<TimePoint> deadlines;
  uint64_t fired = 0;

 private:
  std::vector<size_t> order_;
  size_t cursor_ = 0;
};

using Stopwatch = std::chrono::steady_clock;

template <typename Body>
void timed(benchmark::State& state, Body&& body) {
  const auto start = Stopwatch::now();
  body();
  state.SetIterationTime(std::chrono::duration<double>(Stopwatch::now() - start).count());
}

void report(benchmark::State& state, int64_t items) {
  state.SetItemsProcessed(items);
  state.counters["ns_per_op"] = benchmark::Counter(
      static_cast<double>(items), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

template <typename Timers>
void BM_Add(benchmark::State& state) {
  Population<Timers> population;
  std::vector<TimePoint> deadlines(kBatch);
  std::vector<typename Timers::Handle> added(kBatch);
  for (auto _ : state) {
    for (TimePoint& deadline : deadlines) {
      deadline = TimePoint{} + population.random_offset(kSpread);
    }
    timed(state, [&] {
      for (size_t i = 0; i < kBatch; ++i) {
        added[i] = population.timers.add(deadlines[i], population.callback());
      }
    });
    for (const auto& handle : added) population.timers.cancel(handle);  // back to 1M
  }
  report(state, state.iterations() * static_cast<int64_t>(kBatch));
}

template <typename Timers>
void BM_Cancel(benchmark::State& state) {
  Population<Timers> population;
  for (auto _ : state) {
    const size_t* batch = population.next_batch();
    timed(state, [&] {
      for (size_t i = 0; i < kBatch; ++i) population.timers.cancel(population.handles[batch[i]]);
    });
    for (size_t i = 0; i < kBatch; ++i) {  // back to 1M
      const TimePoint deadline = TimePoint{} + population.random_offset(kSpread);
      population.handles[batch[i]] = population.timers.add(deadline, population.callback());
    }
  }
  report(state, state.iterations() * static_cast<int64_t>(kBatch));
}

// The idle-timer case: every request pushes its connection's deadline to now + timeout,
// which is later than any deadline already set.
template <typename Timers>
void BM_ResetLater(benchmark::State& state) {
  Population<Timers> population;
  int64_t horizon_ns = kSpread.count();
  for (auto _ : state) {
    const size_t* batch = population.next_batch();
    timed(state, [&] {
      for (size_t i = 0; i < kBatch; ++i) {
        auto& handle = population.handles[batch[i]];
        handle = population.timers.reset(handle, at_ns(++horizon_ns));
      }
    });
  }
  report(state, state.iterations() * static_cast<int64_t>(kBatch));
}

template <typename Timers>
void BM_ResetEarlier(benchmark::State& state) {
  Population<Timers> population;
  std::vector<TimePoint> targets(kBatch);
  for (auto _ : state) {
    const size_t* batch = population.next_batch();
    for (size_t i = 0; i < kBatch; ++i) {
      TimePoint& deadline = population.deadlines[batch[i]];
      deadline -= population.random_offset(kSpread) + Duration(1);
      targets[i] = deadline;
    }
    timed(state, [&] {
      for (size_t i = 0; i < kBatch; ++i) {
        auto& handle = population.handles[batch[i]];
        handle = population.timers.reset(handle, targets[i]);
      }
    });
  }
  report(state, state.iterations() * static_cast<int64_t>(kBatch));
}

// The clock advances by kSpread / kBatch per iteration, so about kBatch timers expire each
// time; what fired is replaced one spread ahead, keeping the population and its density.
template <typename Timers>
void BM_RunDue(benchmark::State& state) {
  Population<Timers> population;
  const Duration step = kSpread / static_cast<Duration::rep>(kBatch);
  TimePoint now{};
  int64_t ran_total = 0;
  for (auto _ : state) {
    now += step;
    size_t ran = 0;
    timed(state, [&] { ran = population.timers.run_due(now); });
    ran_total += static_cast<int64_t>(ran);
    for (size_t i = 0; i < ran; ++i) {
      const TimePoint deadline = now + kSpread - step + population.random_offset(step);
      population.timers.add(deadline, population.callback());
    }
  }
  benchmark::DoNotOptimize(population.fired);
  report(state, ran_total);
}

#define TERN_TIMER_BENCH(name)                                                           \
  BENCHMARK_TEMPLATE(name, TernTimers)->Name(#name "/tern/1M")                           \
      ->UseManualTime()->Iterations(kBatches)->Unit(benchmark::kMicrosecond);            \
  BENCHMARK_TEMPLATE(name, MultimapTimers)->Name(#name "/multimap/1M")                   \
      ->UseManualTime()->Iterations(kBatches)->Unit(benchmark::kMicrosecond)

TERN_TIMER_BENCH(BM_Add);
TERN_TIMER_BENCH(BM_Cancel);
TERN_TIMER_BENCH(BM_ResetLater);
TERN_TIMER_BENCH(BM_ResetEarlier);
TERN_TIMER_BENCH(BM_RunDue);

}  // namespace
}  // namespace tern

BENCHMARK_MAIN();
