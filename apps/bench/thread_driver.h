// ThreadDriver: the load of one thread, on its own tern EventLoop: its share of the
// connections, its share of --requests (the budget) and of --rate (the open-loop schedule),
// the connect slots (at most kMaxConnecting attempts at once), the periodic check of reply
// timeouts and reconnects, and the counters (ThreadStats, plain fields merged at the end).
// The main thread moves the phase (RunControl) and posts go()/drain() to the loop.
//
// Thread rule: built, used and destroyed on its loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "bench_connection.h"
#include "exchange.h"
#include "open_loop_schedule.h"
#include "run_control.h"
#include "run_stats.h"
#include "tern/base/clock.h"
#include "tern/loop/event_loop.h"
#include "tern/net/inet_address.h"

namespace tern::bench {

// What a connection does with its requests.
enum class Role {
  load,      // keep `depth` requests in flight, forever (http, echo, rr)
  connrate,  // connect, one request, close, again
  idle,      // connect, at most one request, hold
};

struct ThreadPlan {
  size_t index = 0;
  Role role = Role::load;
  size_t connections = 1;
  size_t depth = 1;
  bool limited = false;  // --requests given
  uint64_t budget = 0;   // this thread's share of --requests (may be 0)
  double rate = 0;       // this thread's share of --rate; 0: closed loop
  Duration timeout = std::chrono::seconds(5);
  InetAddress peer;
  bool idle_request = false;
};

class ThreadDriver {
 public:
  static constexpr size_t kMaxConnecting = 256;

  ThreadDriver(EventLoop& loop, ThreadPlan plan, Workload& workload, RunControl& control);
  ~ThreadDriver();
  ThreadDriver(const ThreadDriver&) = delete;
  ThreadDriver& operator=(const ThreadDriver&) = delete;

  // Opens the connections (no request is sent before go()).
  void start();
  // The phase left `connecting`: requests go out (and the open-loop schedule starts).
  void go();
  // The phase is `draining` or `holding`: nothing new is sent; reports quiet when nothing
  // is outstanding.
  void drain();
  // Closes every connection for good.
  void finish();
  ThreadStats& stats() noexcept { return stats_; }

  // --- for the connections
  EventLoop& loop() noexcept { return loop_; }
  const ThreadPlan& plan() const noexcept { return plan_; }
  // Reads the clock and the phase once for the callback that is starting.
  void refresh() noexcept {
    now_ = Clock::now();
    phase_ = control_.phase();
  }
  TimePoint now() const noexcept { return now_; }
  bool measuring() const noexcept { return phase_ == Phase::measuring; }
  bool sending() const noexcept { return phase_ == Phase::warmup || phase_ == Phase::measuring; }
  Phase phase() const noexcept { return phase_; }
  // Closed loop: how many of `want` requests may be sent now (phase, budget). A connection
  // holding a reservation (below) sends it first, then asks for the rest here.
  size_t grant(size_t want) noexcept {
    // Idle connections send their one request as soon as they are connected.
    if ((!sending() && plan_.role != Role::idle) || plan_.rate > 0) return 0;
    if (!plan_.limited) return want;
    size_t n = want < unsent_ ? want : size_t(unsent_);
    unsent_ -= n;
    return n;
  }
  // A closed-loop --requests budget: a connect starts only when a request of the budget is
  // left for it, which the connection reserves (its first request); so no connection is
  // opened that would have nothing to send (connrate: exactly N connects for N requests).
  bool budgeted() const noexcept { return plan_.limited && plan_.rate == 0; }
  // The connection's reserved request is sent (true), or given back to the budget (false:
  // the connect failed, the connection closed or stopped before sending it).
  void reservation_ended(bool sent) noexcept {
    --reserved_;
    if (!sent) ++unsent_;
  }
  void sent(size_t n) noexcept { in_flight_ += n; }
  void replied() noexcept { --in_flight_; }
  // Requests lost with a connection: back to the budget (they are sent again).
  void lost(size_t in_flight, size_t queued) noexcept;
  // Open loop: a request left a connection's queue (sent, or dropped with `dropped`).
  void dequeued(size_t n) noexcept { queued_ -= n; }
  // A connection wants a connect attempt; it starts when a slot is free. False (and nothing
  // starts) when a --requests budget has no request left for it.
  bool want_connect(BenchConnection& conn);
  // A connect attempt ended (ok or not).
  void connect_ended(BenchConnection& conn, bool ok);
  void connection_closed() noexcept { --open_; }
  // Idle: a connection is connected (and answered), or failed for good.
  void settled() noexcept;
  void note_error(const std::string& message);
  // After each callback: publishes the live counters, reports quiet if it is.
  void after_callback() noexcept {
    publish();
    if (in_flight_ == 0) maybe_quiet();
  }

 private:
  // Stores the live counters. Called before every report (ready, quiet), whose release
  // store publishes them with it: the main thread decides on the report's figures.
  void publish() noexcept {
    auto& live = control_.live(plan_.index);
    live.replies.store(stats_.totals.replies, std::memory_order_relaxed);
    live.measured_replies.store(stats_.measured_replies, std::memory_order_relaxed);
    live.errors.store(stats_.errors.total(), std::memory_order_relaxed);
    live.open.store(open_, std::memory_order_relaxed);
    live.connects.store(stats_.totals.connects, std::memory_order_relaxed);
  }
  // A first connect attempt is resolved (or was never made: no budget for it).
  void first_attempt_done() noexcept;
  void report_ready() noexcept;
  void maybe_quiet() noexcept;
  void start_connects();
  void on_tick();
  void on_schedule();
  void arm_schedule();

  EventLoop& loop_;
  ThreadPlan plan_;
  Workload& workload_;
  RunControl& control_;
  ThreadStats stats_;
  std::vector<std::unique_ptr<BenchConnection>> connections_;
  std::vector<BenchConnection*> connect_queue_;  // FIFO of connections waiting for a slot
  size_t connect_queue_head_ = 0;
  size_t connecting_ = 0;
  size_t open_ = 0;
  size_t first_attempts_left_;  // ready once every connection has tried once (load, connrate)
  size_t settled_ = 0;          // idle
  bool ready_reported_ = false;
  bool quiet_reported_ = false;
  TimePoint now_{};
  Phase phase_ = Phase::connecting;
  uint64_t unsent_ = 0;     // budget: requests of this thread's share not yet sent
  uint64_t in_flight_ = 0;  // sent, reply outstanding
  uint64_t queued_ = 0;     // open loop: due, waiting in a connection's queue
  uint64_t reserved_ = 0;   // budgeted(): taken from unsent_ by connections not yet sending
  std::optional<OpenLoopSchedule> schedule_;
  size_t next_for_schedule_ = 0;  // round-robin over connections
  TimerId tick_timer_;
  TimerId schedule_timer_;
  bool schedule_timer_armed_ = false;
};

}  // namespace tern::bench
