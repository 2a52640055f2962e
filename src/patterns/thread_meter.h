// ThreadMeter: the loop figures (LoopCounters) of a thread that serves events but is not an
// EventLoop: an lf thread, whose turns are its iterations. The status page's per-loop busy
// chart and the tern_loop_* series then read the same under lf as under the loop models.
//
//   per turn:  ──(waits for the lead, then in the set's wait)──► woke ──(handles)──► done
//              wait_ns += woke - previous done                   busy_ns += done - woke
//
// So wait_ns is all the time the thread was not handling an event (a follower waiting for the
// lead too, not only the leader inside epoll_wait), and busy / (busy + wait) is the share of
// its time it worked. Two clock reads per turn, and only with a metrics registry. Events per
// wait are not kept: a leader waits for one event at a time (its histogram stays empty).
//
// The thread records once per turn; a scrape reads once per collect. Both take the meter's
// metrics::ShardLock, as an hsha worker's WorkerMeter does: a thread waits only while a scrape
// copies its figures.
//
// Thread rule: record() on the meter's thread; read() any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>

#include "tern/base/clock.h"
#include "tern/loop/event_loop.h"
#include "tern/metrics/shard_lock.h"

namespace tern {

class ThreadMeter {
 public:
  // `started`: when the thread began (its first wait counts from there).
  explicit ThreadMeter(TimePoint started) : last_done_(started) {}
  ThreadMeter(const ThreadMeter&) = delete;
  ThreadMeter& operator=(const ThreadMeter&) = delete;

  // One turn: `events` delivered by the wait that ended at `woke` (0: it timed out), handled
  // until `done`, with `timers` deadlines run.
  void record(TimePoint woke, TimePoint done, size_t events, size_t timers) noexcept {
    const uint64_t waited = nanoseconds(woke - last_done_);
    const uint64_t worked = nanoseconds(done - woke);
    last_done_ = done;
    std::lock_guard hold(lock_);
    ++counters_.iterations;
    counters_.events += events;
    counters_.timers += timers;
    counters_.wait_ns += waited;
    counters_.busy_ns += worked;
  }

  // A copy of the figures (allocates: the histogram's).
  LoopCounters read() const {
    std::lock_guard hold(lock_);
    return counters_;
  }

 private:
  static uint64_t nanoseconds(Duration d) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return ns > 0 ? uint64_t(ns) : 0;
  }

  TimePoint last_done_;  // the meter's thread only
  mutable metrics::ShardLock lock_;
  LoopCounters counters_;
};

}  // namespace tern
