#include "run_control.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace tern::bench {

RunControl::RunControl(size_t threads)
    : ready_(new std::atomic<bool>[threads]), quiet_(new std::atomic<bool>[threads]) {
  for (size_t i = 0; i < threads; ++i) {
    live_.push_back(std::make_unique<LiveCounters>());
    ready_[i] = false;
    quiet_[i] = false;
  }
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    std::perror("tern-bench: eventfd");
    std::abort();
  }
}

RunControl::~RunControl() { ::close(wake_fd_); }

void RunControl::wake() noexcept {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

void RunControl::report_ready(size_t thread) noexcept {
  ready_[thread].store(true, std::memory_order_release);
  wake();
}

void RunControl::report_quiet(size_t thread) noexcept {
  quiet_[thread].store(true, std::memory_order_release);
  wake();
}

bool RunControl::all_ready() const noexcept {
  for (size_t i = 0; i < live_.size(); ++i) {
    if (!ready_[i].load(std::memory_order_acquire)) return false;
  }
  return true;
}

bool RunControl::all_quiet() const noexcept {
  for (size_t i = 0; i < live_.size(); ++i) {
    if (!quiet_[i].load(std::memory_order_acquire)) return false;
  }
  return true;
}

void RunControl::drain_wakeups() noexcept {
  uint64_t count;
  [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
}

}  // namespace tern::bench
