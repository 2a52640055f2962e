// EventLoop: one per thread. Owns one backend, the timers (driven by a timerfd), the signal
// source (a signalfd), the cross-thread task queue (woken by an eventfd) and the closing queue.
//
// Each iteration runs four phases in a fixed order, each bounded so no source starves another:
//   1. I/O      one backend wait; at most one batch of ready events, attempts and cancellations
//               (signals arrive here too, as reads of the signalfd)
//   2. timers   the timers due when the phase starts (re-armed ones wait for the next round)
//   3. tasks    the tasks posted before the phase starts, in FIFO order
//   4. closing  the close callbacks queued before the phase starts: memory is released here,
//               after every event of the iteration has been delivered
// The wait blocks only when none of the queues has work.
//
// Thread rules: every method is "loop thread only" (it aborts with a message otherwise) except
// post(), stop(), in_loop_thread() and the accessors marked "any thread". The loop thread is
// the thread that constructed the loop.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <system_error>
#include <thread>

#include "tern/backend/backend_kind.h"
#include "tern/backend/backend_options.h"
#include "tern/backend/backend_traits.h"
#include "tern/base/clock.h"
#include "tern/base/result.h"
#include "tern/base/unique_function.h"
#include "tern/loop/loop_handle.h"
#include "tern/loop/timer_id.h"
#include "tern/metrics/histogram.h"

namespace tern {

class Backend;
class TimerQueue;
class TaskQueue;
class SignalSource;
class LoopSources;

// Move-only, so a task may own what it carries (a response, a Reply); small captures are
// stored inline (no allocation per post).
using Task = UniqueFunction<void()>;
using SignalCallback = std::function<void(int signo)>;

// What a loop has done since it was created, for metrics. Plain integers that only the loop's
// thread writes (read them there: a metrics fill runs on the loop), so counting costs a few
// additions per iteration and nothing per event beyond the wait's own count.
struct LoopCounters {
  uint64_t iterations = 0;
  uint64_t events = 0;   // completions the backend's waits delivered
  uint64_t tasks = 0;    // posted tasks run
  uint64_t timers = 0;   // timer callbacks run
  // Time blocked in the backend's wait system call (the backend times the calls that may
  // block; handlers run by the wait count as busy), and the rest of the loop's life.
  uint64_t wait_ns = 0;
  uint64_t busy_ns = 0;
  // Completions delivered per wait; the shape of tern::metrics::make_histogram().
  metrics::Histogram events_per_wait{60'000'000'000ull, 2};
};

class EventLoop {
 public:
  // Creates a loop on `backend`; aborts with a message if the kernel refuses (use create() to
  // get the error instead).
  explicit EventLoop(BackendKind backend = BackendKind::epoll, BackendOptions options = {});
  static Result<std::unique_ptr<EventLoop>> create(BackendKind backend,
                                                   BackendOptions options = {});
  ~EventLoop();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs iterations until stop(). Loop thread only.
  void run();
  // Runs one iteration; blocks in the wait only if `block` and no work is queued.
  void run_once(bool block = true);
  // Makes run() return after the current iteration. Any thread, and from any callback; from
  // another thread, the loop must not be destroyed before stop() returns (LoopGroup orders it).
  void stop() noexcept;

  // Runs `task` on the loop thread, after the tasks posted before it. Any thread.
  void post(Task task);

  // Timers. Loop thread only; from another thread, post() a task that adds the timer.
  TimerId run_after(Duration delay, TimerCallback callback);
  TimerId run_every(Duration interval, TimerCallback callback);
  // False if the timer already fired (one-shot) or was cancelled. Safe inside any callback.
  bool cancel(TimerId id) noexcept;
  // Moves a live timer to now + delay (an idle timeout pushed back on every request: O(1)).
  bool reset(TimerId id, Duration delay) noexcept;

  // Runs `callback` on the loop each time `signo` arrives. The signal is blocked in the calling
  // thread (and stays blocked) and read through a signalfd: no work happens in a signal
  // handler. One loop per process should own a given signal. Loop thread only.
  std::error_code on_signal(int signo, SignalCallback callback);
  void remove_signal(int signo);

  // Queues `callback` for the closing phase of this iteration. Loop thread only.
  void defer_close(Task callback);

  bool in_loop_thread() const noexcept { return std::this_thread::get_id() == thread_; }
  // Aborts with a message naming `what` when called off the loop thread.
  void assert_in_loop_thread(const char* what) const noexcept;

  // The backend in use: the one asked for, or epoll where io_uring fell back.
  BackendKind backend_kind() const noexcept { return kind_; }  // any thread
  const BackendStats& stats() const noexcept;                 // loop thread
  // What the backend in use can do (io_uring that fell back reports epoll's). Any thread.
  BackendTraits traits() const noexcept;
  TimePoint now() const noexcept { return Clock::now(); }       // any thread
  uint64_t iterations() const noexcept { return iterations_; }  // loop thread
  // A copy of the loop's counters, wait and busy time up to now. Loop thread.
  LoopCounters counters() const;
  // Names this loop from any thread, safely after it is gone: tern::post_to(handle, task) is a
  // no-op once the loop is destroyed. Any thread.
  LoopHandle handle() const noexcept { return handle_; }

  // For tern's own net layer.
  Backend& backend() noexcept { return *backend_; }

 private:
  friend class LoopSources;
  struct PrivateTag {};
  EventLoop(BackendKind kind, PrivateTag);
  std::error_code init(const BackendOptions& options);
  size_t run_timers();  // how many timer callbacks ran
  void arm_timer_fd();
  void run_closing();
  bool has_queued_work() const;

  BackendKind kind_;
  std::thread::id thread_;
  std::atomic<bool> stop_requested_{false};
  uint64_t iterations_ = 0;
  LoopCounters counters_;    // iterations, wait_ns and busy_ns are filled in by counters()
  TimePoint created_;
  std::unique_ptr<TimerQueue> timers_;
  std::unique_ptr<TaskQueue> tasks_;
  std::unique_ptr<SignalSource> signals_;
  std::vector<Task> closing_;
  std::vector<Task> closing_now_;
  TimePoint armed_deadline_{};
  LoopHandle handle_;
  // Declared last so it is destroyed first: the ops of the sources below point into it.
  std::unique_ptr<LoopSources> sources_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace tern
