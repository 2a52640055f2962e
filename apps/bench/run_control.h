// RunControl: what the main thread and the load threads share while a run goes on: the phase
// (written by the main thread, read by the threads once per callback) and the threads' reports
// (ready, quiet) that wake the main thread through an eventfd.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "run_stats.h"

namespace tern::bench {

enum class Phase : int {
  connecting,  // connections open; no request is sent yet
  warmup,      // load, not counted
  measuring,   // load, counted
  draining,    // no new request; replies still outstanding are collected
  holding,     // idle mode: connections held
};

class RunControl {
 public:
  explicit RunControl(size_t threads);
  ~RunControl();
  RunControl(const RunControl&) = delete;
  RunControl& operator=(const RunControl&) = delete;

  // Any thread.
  Phase phase() const noexcept { return phase_.load(std::memory_order_acquire); }
  void set_phase(Phase phase) noexcept { phase_.store(phase, std::memory_order_release); }

  // Load thread i: its first connect attempts are all resolved (idle: and the one request
  // each answered). Once per thread.
  void report_ready(size_t thread) noexcept;
  // Load thread i: nothing is outstanding and nothing more will be sent (the --requests
  // share is done, or draining finished). Once per thread.
  void report_quiet(size_t thread) noexcept;
  bool all_ready() const noexcept;
  bool all_quiet() const noexcept;

  // The eventfd the main thread polls; readable after any report. drain_wakeups() empties it.
  int wake_fd() const noexcept { return wake_fd_; }
  void drain_wakeups() noexcept;

  LiveCounters& live(size_t thread) noexcept { return *live_[thread]; }
  size_t threads() const noexcept { return live_.size(); }

 private:
  void wake() noexcept;

  std::atomic<Phase> phase_{Phase::connecting};
  std::vector<std::unique_ptr<LiveCounters>> live_;
  std::unique_ptr<std::atomic<bool>[]> ready_;
  std::unique_ptr<std::atomic<bool>[]> quiet_;
  int wake_fd_ = -1;
};

}  // namespace tern::bench
