#include "backend/readiness_set.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>

#include "backend/ready_bits.h"
#include "tern/backend/backend_traits.h"
#include "tern/base/error.h"

namespace tern {
namespace {

// Events taken per wait() call at most: each waiter has its own array, on its stack.
constexpr size_t kMaxEventsPerWait = 64;

// Milliseconds for epoll_wait, rounded up so a short timeout still sleeps instead of spinning.
int timeout_ms(std::optional<Duration> timeout) noexcept {
  if (!timeout) return -1;
  if (*timeout <= Duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*timeout).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
}

class EpollReadinessSet final : public ReadinessSet {
 public:
  EpollReadinessSet(int epoll_fd, int wake_fd) : epoll_fd_(epoll_fd), wake_fd_(wake_fd) {}
  ~EpollReadinessSet() override {
    ::close(wake_fd_);
    ::close(epoll_fd_);
  }

  // The wake-up eventfd: level-triggered and never read, so once written every epoll_wait
  // reports it; after one waiter collects it the kernel puts it back on the ready list and
  // wakes the next, so a single write reaches every waiter in turn.
  std::error_code watch_wake_fd() noexcept {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kReservedTag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) != 0) return last_system_error();
    return {};
  }

  std::error_code add(int fd, uint64_t tag, uint32_t interest) noexcept override {
    return control(EPOLL_CTL_ADD, fd, tag, interest);
  }

  std::error_code arm(int fd, uint64_t tag, uint32_t interest) noexcept override {
    return control(EPOLL_CTL_MOD, fd, tag, interest);
  }

  std::error_code remove(int fd) noexcept override {
    if (fd == wake_fd_) return make_error_code(errc::invalid_argument);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) != 0) return last_system_error();
    return {};
  }

  Result<size_t> wait(std::span<ReadinessEvent> out,
                      std::optional<Duration> timeout) noexcept override {
    if (out.empty()) return make_error_code(errc::invalid_argument);
    // Never more than `out` holds: every event collected is disarmed and must be delivered.
    // (The wake-up fd may take one of the places.)
    epoll_event events[kMaxEventsPerWait];
    int capacity = static_cast<int>(std::min(out.size(), kMaxEventsPerWait));
    int n = ::epoll_wait(epoll_fd_, events, capacity, timeout_ms(timeout));
    if (n < 0) {
      if (errno == EINTR) return size_t{0};
      return last_system_error();
    }
    size_t delivered = 0;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kReservedTag) continue;
      out[delivered++] = {events[i].data.u64, ready_bits::from_epoll(events[i].events)};
    }
    return delivered;
  }

  void wake() noexcept override {
    if (woken_.exchange(true)) return;
    uint64_t one = 1;
    // Cannot fail short of a bad fd: the counter is far from its limit after one write.
    [[maybe_unused]] ssize_t written = ::write(wake_fd_, &one, sizeof one);
  }

  bool woken() const noexcept override { return woken_.load(std::memory_order_acquire); }

 private:
  std::error_code control(int op, int fd, uint64_t tag, uint32_t interest) noexcept {
    if (tag == kReservedTag || fd == wake_fd_ || fd == epoll_fd_) {
      return make_error_code(errc::invalid_argument);
    }
    epoll_event event{};
    event.events = EPOLLONESHOT | ready_bits::to_epoll(interest);
    event.data.u64 = tag;
    if (::epoll_ctl(epoll_fd_, op, fd, &event) != 0) return last_system_error();
    return {};
  }

  const int epoll_fd_;
  const int wake_fd_;
  std::atomic<bool> woken_{false};
};

Result<std::unique_ptr<ReadinessSet>> make_epoll_readiness_set() {
  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return last_system_error();
  int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    std::error_code error = last_system_error();
    ::close(epoll_fd);
    return error;
  }
  auto set = std::make_unique<EpollReadinessSet>(epoll_fd, wake_fd);
  if (auto error = set->watch_wake_fd()) return error;
  return std::unique_ptr<ReadinessSet>(std::move(set));
}

}  // namespace

Result<std::unique_ptr<ReadinessSet>> make_readiness_set(BackendKind kind) {
  // The kinds are named here, in backend/, so that nothing above has to: the traits say which
  // kinds can share (one truth, checked against this switch by readiness_set_test).
  if (!traits_of(kind).shared_readiness) {
    return std::make_error_code(std::errc::operation_not_supported);
  }
  switch (kind) {
    case BackendKind::epoll:
    case BackendKind::epoll_et:
      return make_epoll_readiness_set();
    default:
      return std::make_error_code(std::errc::operation_not_supported);
  }
}

}  // namespace tern
