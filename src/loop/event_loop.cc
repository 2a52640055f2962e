#include "tern/loop/event_loop.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include "backend/backend.h"
#include "loop/loop_registry.h"
#include "loop/signal_source.h"
#include "loop/task_queue.h"
#include "loop/timer_queue.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"

namespace tern {

// The loop's own event sources, watched through the backend like any fd: the timerfd, the
// eventfd of the task queue and the signalfd. Each is a multishot poll op.
class LoopSources final : private OpHandler {
 public:
  LoopSources(EventLoop& loop, int timer_fd) : loop_(loop), timer_fd_(timer_fd) {}
  ~LoopSources() { ::close(timer_fd_); }

  std::error_code start() {
    if (auto error = watch(timer_op_, timer_fd_)) return error;
    if (auto error = watch(task_op_, loop_.tasks_->fd())) return error;
    return watch(signal_op_, loop_.signals_->fd());
  }

  int timer_fd() const noexcept { return timer_fd_; }

 private:
  std::error_code watch(Op& op, int fd) {
    op.code = OpCode::poll;
    op.fd = fd;
    op.interest = ready::readable;
    op.multishot = true;
    op.handler = this;
    return loop_.backend_->submit(op);
  }

  void on_complete(Op& op, const Completion& completion) override {
    if (completion.result < 0) {
      log(LogLevel::error, "loop source fd %d failed: %s", op.fd,
          system_error(-completion.result).message().c_str());
      return;
    }
    if (&op == &timer_op_) {
      uint64_t expirations;
      ssize_t ignored = ::read(timer_fd_, &expirations, sizeof expirations);
      (void)ignored;  // the timers phase checks the clock itself
    } else if (&op == &task_op_) {
      loop_.tasks_->clear_wakeup();
    } else {
      loop_.signals_->dispatch();
    }
  }

  EventLoop& loop_;
  int timer_fd_;
  Op timer_op_;
  Op task_op_;
  Op signal_op_;
};

Result<std::unique_ptr<EventLoop>> EventLoop::create(BackendKind kind, BackendOptions options) {
  std::unique_ptr<EventLoop> loop(new EventLoop(kind, PrivateTag{}));
  if (auto error = loop->init(options)) return error;
  return loop;
}

EventLoop::EventLoop(BackendKind kind, PrivateTag)
    : kind_(kind),
      thread_(std::this_thread::get_id()),
      created_(Clock::now()),
      timers_(std::make_unique<TimerQueue>()),
      handle_(LoopRegistry::instance().add(*this)) {}

EventLoop::EventLoop(BackendKind kind, BackendOptions options) : EventLoop(kind, PrivateTag{}) {
  if (auto error = init(options)) {
    fatal("cannot create an event loop on %s: %s", to_string(kind).data(),
          error.message().c_str());
  }
}

std::error_code EventLoop::init(const BackendOptions& options) {
  std::error_code error;
  backend_ = make_backend(kind_, options, error);
  if (!backend_) return error;
  kind_ = backend_->kind();
  auto tasks = TaskQueue::create();
  if (!tasks) return tasks.error();
  tasks_ = std::move(tasks.value());
  auto signals = SignalSource::create();
  if (!signals) return signals.error();
  signals_ = std::move(signals.value());
  int timer_fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd < 0) return last_system_error();
  sources_ = std::make_unique<LoopSources>(*this, timer_fd);
  return sources_->start();
}

EventLoop::~EventLoop() { LoopRegistry::instance().remove(handle_); }

void EventLoop::assert_in_loop_thread(const char* what) const noexcept {
  if (!in_loop_thread()) fatal("%s called off the loop's thread", what);
}

void EventLoop::run() {
  assert_in_loop_thread("EventLoop::run");
  while (!stop_requested_.load(std::memory_order_acquire)) run_once(true);
  stop_requested_.store(false, std::memory_order_relaxed);
}

void EventLoop::run_once(bool block) {
  assert_in_loop_thread("EventLoop::run_once");
  ++iterations_;
  bool may_block = block && !has_queued_work() && !stop_requested_.load(std::memory_order_acquire);
  const size_t events = backend_->wait(may_block);
  counters_.events += events;
  counters_.events_per_wait.record(events);
  counters_.timers += run_timers();
  counters_.tasks += tasks_->run_batch();
  run_closing();
}

LoopCounters EventLoop::counters() const {
  assert_in_loop_thread("EventLoop::counters");
  LoopCounters counters = counters_;
  counters.iterations = iterations_;
  counters.wait_ns = backend_->stats().wait_ns;
  const auto alive = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - created_);
  const uint64_t alive_ns = uint64_t(alive.count());
  counters.busy_ns = alive_ns > counters.wait_ns ? alive_ns - counters.wait_ns : 0;
  return counters;
}

bool EventLoop::has_queued_work() const {
  if (!closing_.empty() || !tasks_->empty()) return true;
  auto next = timers_->next_deadline();
  return next && *next <= Clock::now();
}

void EventLoop::stop() noexcept {
  stop_requested_.store(true, std::memory_order_release);
  if (!in_loop_thread()) tasks_->wake();
}

void EventLoop::post(Task task) { tasks_->push(std::move(task), !in_loop_thread()); }

TimerId EventLoop::run_after(Duration delay, TimerCallback callback) {
  assert_in_loop_thread("EventLoop::run_after");
  TimerId id = timers_->add(Clock::now() + delay, Duration::zero(), std::move(callback));
  arm_timer_fd();
  return id;
}

TimerId EventLoop::run_every(Duration interval, TimerCallback callback) {
  assert_in_loop_thread("EventLoop::run_every");
  if (interval <= Duration::zero()) fatal("run_every needs a positive interval");
  TimerId id = timers_->add(Clock::now() + interval, interval, std::move(callback));
  arm_timer_fd();
  return id;
}

bool EventLoop::cancel(TimerId id) noexcept {
  assert_in_loop_thread("EventLoop::cancel");
  return timers_->cancel(id);
}

bool EventLoop::reset(TimerId id, Duration delay) noexcept {
  assert_in_loop_thread("EventLoop::reset");
  bool live = timers_->reset(id, Clock::now() + delay);
  if (live) arm_timer_fd();
  return live;
}

size_t EventLoop::run_timers() {
  auto next = timers_->next_deadline();
  if (!next) return 0;
  TimePoint now = Clock::now();
  const size_t ran = *next <= now ? timers_->run_due(now) : 0;
  arm_timer_fd();
  return ran;
}

// Keeps the timerfd armed for the earliest deadline; a system call only when that changes.
void EventLoop::arm_timer_fd() {
  auto next = timers_->next_deadline();
  TimePoint wanted = next ? *next : TimePoint{};
  if (wanted == armed_deadline_) return;
  armed_deadline_ = wanted;
  itimerspec spec{};
  if (next) {
    auto since_epoch = wanted.time_since_epoch();
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - seconds);
    spec.it_value.tv_sec = seconds.count();
    spec.it_value.tv_nsec = nanos.count();
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  // steady_clock is CLOCK_MONOTONIC on Linux, the clock of the timerfd.
  ::timerfd_settime(sources_->timer_fd(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

std::error_code EventLoop::on_signal(int signo, SignalCallback callback) {
  assert_in_loop_thread("EventLoop::on_signal");
  return signals_->add(signo, std::move(callback));
}

void EventLoop::remove_signal(int signo) {
  assert_in_loop_thread("EventLoop::remove_signal");
  signals_->remove(signo);
}

void EventLoop::defer_close(Task callback) {
  assert_in_loop_thread("EventLoop::defer_close");
  closing_.push_back(std::move(callback));
}

void EventLoop::run_closing() {
  closing_now_.swap(closing_);
  for (Task& task : closing_now_) task();
  closing_now_.clear();
}

const BackendStats& EventLoop::stats() const noexcept { return backend_->stats(); }

// Any thread: backend_ is set once in init(), before the loop can be shared, and a backend's
// traits never change.
BackendTraits EventLoop::traits() const noexcept { return backend_->traits(); }

}  // namespace tern
