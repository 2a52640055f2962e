#include "thread_driver.h"

#include <algorithm>

namespace tern::bench {
namespace {

// How often reply timeouts and reconnect back-offs are checked.
Duration tick_interval(Duration timeout) {
  return std::clamp<Duration>(timeout / 4, std::chrono::milliseconds(5),
                              std::chrono::milliseconds(100));
}

}  // namespace

ThreadDriver::ThreadDriver(EventLoop& loop, ThreadPlan plan, Workload& workload,
                           RunControl& control)
    : loop_(loop),
      plan_(plan),
      workload_(workload),
      control_(control),
      first_attempts_left_(plan.connections),
      unsent_(plan.budget) {
  if (plan_.rate > 0) schedule_.emplace(plan_.rate);
  connections_.reserve(plan_.connections);
  connect_queue_.reserve(plan_.connections);
}

ThreadDriver::~ThreadDriver() {
  loop_.cancel(tick_timer_);
  loop_.cancel(schedule_timer_);
  // Connections are destroyed here; an open one closes its fd without callbacks.
  for (auto& conn : connections_) conn->stop();
}

void ThreadDriver::start() {
  refresh();
  for (size_t i = 0; i < plan_.connections; ++i) {
    // Connection ids are unique across threads: the stamps of rr and echo carry them.
    const auto id = static_cast<uint32_t>(i * 256 + plan_.index);
    connections_.push_back(
        std::make_unique<BenchConnection>(*this, id, workload_));
    // A connection with no request of the budget left for it is never opened.
    if (!want_connect(*connections_.back())) first_attempt_done();
  }
  tick_timer_ = loop_.run_every(tick_interval(plan_.timeout), [this] { on_tick(); });
  // A share of --requests of 0 (or smaller than the connections) may leave nothing to open.
  after_callback();
}

void ThreadDriver::go() {
  refresh();
  if (schedule_) {
    schedule_->start(now_);
    arm_schedule();
  }
  for (auto& conn : connections_) conn->pump();
  after_callback();
}

void ThreadDriver::drain() {
  refresh();
  loop_.cancel(schedule_timer_);
  // Requests due and not sent stay unsent (pump() sends nothing once draining).
  maybe_quiet();
  after_callback();
}

void ThreadDriver::finish() {
  refresh();
  stats_.open = open_;  // held to the end (idle mode reports it)
  loop_.cancel(tick_timer_);
  loop_.cancel(schedule_timer_);
  for (auto& conn : connections_) conn->stop();
}

void ThreadDriver::lost(size_t in_flight, size_t queued) noexcept {
  in_flight_ -= in_flight;
  if (!plan_.limited) return;
  unsent_ += in_flight + queued;
  // The open-loop schedule stops when the budget is spent: lost requests restart it.
  if (schedule_ && !schedule_timer_armed_ && unsent_ > 0 && sending()) arm_schedule();
}

bool ThreadDriver::want_connect(BenchConnection& conn) {
  if (budgeted() && !conn.reserved()) {
    if (unsent_ == 0) {
      conn.no_budget();
      return false;
    }
    --unsent_;
    ++reserved_;
    conn.reserve();
  }
  // Open loop: the schedule hands out the requests. Once it runs, a connection reopens only to
  // carry requests due on it (a request due later on a parked connection reopens it:
  // enqueue()): connrate always so (one connection per request), the others once the
  // schedule has taken the whole budget.
  if (plan_.rate > 0 && phase_ != Phase::connecting && !conn.has_queued() &&
      (plan_.role == Role::connrate || (plan_.limited && unsent_ == 0))) {
    conn.no_budget();
    return false;
  }
  if (connecting_ < kMaxConnecting && connect_queue_head_ == connect_queue_.size()) {
    ++connecting_;
    conn.start();
    return true;
  }
  connect_queue_.push_back(&conn);
  return true;
}

void ThreadDriver::start_connects() {
  while (connecting_ < kMaxConnecting && connect_queue_head_ < connect_queue_.size()) {
    BenchConnection* next = connect_queue_[connect_queue_head_++];
    ++connecting_;
    next->start();
  }
  if (connect_queue_head_ == connect_queue_.size()) {
    connect_queue_.clear();
    connect_queue_head_ = 0;
  }
}

void ThreadDriver::connect_ended(BenchConnection&, bool ok) {
  --connecting_;
  if (ok) ++open_;
  if (first_attempts_left_ > 0) {
    if (!ok && plan_.role == Role::idle) settled();
    first_attempt_done();
  }
  start_connects();
}

void ThreadDriver::first_attempt_done() noexcept {
  if (first_attempts_left_ == 0) return;
  --first_attempts_left_;
  if (first_attempts_left_ == 0 && plan_.role != Role::idle) report_ready();
}

void ThreadDriver::settled() noexcept {
  if (++settled_ == plan_.connections) report_ready();
}

void ThreadDriver::report_ready() noexcept {
  if (ready_reported_) return;
  ready_reported_ = true;
  // The main thread decides "unreachable" from the connects this report carries: publish
  // them first (the callback's own publish comes after this report).
  publish();
  control_.report_ready(plan_.index);
}

void ThreadDriver::note_error(const std::string& message) {
  if (stats_.first_error.empty()) stats_.first_error = message;
}

void ThreadDriver::maybe_quiet() noexcept {
  if (quiet_reported_ || in_flight_ > 0) return;
  const bool budget_done = plan_.limited && unsent_ == 0 && queued_ == 0 && reserved_ == 0;
  if (budget_done || phase_ == Phase::draining || phase_ == Phase::holding) {
    quiet_reported_ = true;
    publish();  // the report carries the final live figures
    control_.report_quiet(plan_.index);
  }
}

void ThreadDriver::on_tick() {
  refresh();
  for (auto& conn : connections_) {
    conn->check_timeout(now_, plan_.timeout);
    if (plan_.role != Role::idle && phase_ != Phase::draining && conn->wants_retry(now_)) {
      want_connect(*conn);
    }
  }
  after_callback();
}

void ThreadDriver::arm_schedule() {
  const Duration wait = schedule_->next_due() - Clock::now();
  schedule_timer_armed_ = true;
  schedule_timer_ = loop_.run_after(std::max(wait, Duration{}), [this] {
    schedule_timer_armed_ = false;
    on_schedule();
  });
}

void ThreadDriver::on_schedule() {
  refresh();
  if (!sending()) return;
  const uint64_t limit = plan_.limited ? unsent_ : UINT64_MAX;
  const size_t n = connections_.size();
  const size_t first = next_for_schedule_;
  const uint64_t taken = schedule_->take_due(now_, limit, [&](TimePoint intended) {
    BenchConnection& conn = *connections_[next_for_schedule_];
    next_for_schedule_ = next_for_schedule_ + 1 == n ? 0 : next_for_schedule_ + 1;
    ++queued_;
    conn.enqueue(intended);
  });
  if (plan_.limited) unsent_ -= taken;
  // Round robin: the connections given requests are the `taken` ones from `first` on.
  for (size_t i = 0; i < std::min<uint64_t>(taken, n); ++i) connections_[(first + i) % n]->pump();
  if (!plan_.limited || unsent_ > 0) arm_schedule();
  after_callback();
}

}  // namespace tern::bench
