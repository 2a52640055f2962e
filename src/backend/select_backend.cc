// The select(2) backend. fd_set is a fixed bitmap of FD_SETSIZE bits: an fd at or above it
// would be written past the end of the set, so such fds are refused (errc::fd_too_large) rather
// than corrupting memory. A refused fd is usually a connection just accepted, which its owner
// then closes: the client sees a reset, so the log says why (rate-limited: clients trigger it).
#include <sys/select.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "backend/poller.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/backend/op.h"

namespace tern {
namespace {

// Per process, shared by every loop's poller.
std::atomic<uint64_t> g_fds_refused{0};
LogLimiter g_refusal_log;

void report_refused(int fd) noexcept {
  uint64_t refused = g_fds_refused.fetch_add(1, std::memory_order_relaxed) + 1;
  log_limited(g_refusal_log, LogLevel::warn,
              "select cannot watch fd %d: fd >= FD_SETSIZE (%d); refused, so a new connection "
              "on it is closed (fds refused so far: %llu; poll and epoll have no such limit)",
              fd, FD_SETSIZE, static_cast<unsigned long long>(refused));
}

class SelectPoller final : public Poller {
 public:
  SelectPoller() {
    FD_ZERO(&read_set_);
    FD_ZERO(&write_set_);
  }

  std::error_code check_fd(int fd) const noexcept override {
    if (fd < FD_SETSIZE) return {};
    report_refused(fd);
    return make_error_code(errc::fd_too_large);
  }

  std::error_code set_interest(int fd, uint32_t, uint32_t new_interest) noexcept override {
    if (auto error = check_fd(fd)) return error;
    update(fd, new_interest);
    return {};
  }

  void forget(int fd) noexcept override {
    if (fd < FD_SETSIZE) update(fd, 0);
  }

  std::error_code wait(bool block, std::vector<ReadyEvent>& out) noexcept override {
    fd_set readable = read_set_;
    fd_set writable = write_set_;
    timeval zero{0, 0};
    int n = ::select(max_fd_ + 1, &readable, &writable, nullptr, block ? nullptr : &zero);
    if (n < 0) return errno == EINTR ? std::error_code{} : last_system_error();
    for (int fd = 0; fd <= max_fd_ && n > 0; ++fd) {
      uint32_t bits = 0;
      if (FD_ISSET(fd, &readable)) bits |= ready::readable;
      if (FD_ISSET(fd, &writable)) bits |= ready::writable;
      if (bits == 0) continue;
      n -= (bits & ready::readable ? 1 : 0) + (bits & ready::writable ? 1 : 0);
      out.push_back({fd, bits});
    }
    return {};
  }

 private:
  void update(int fd, uint32_t interest) noexcept {
    if (interest & ready::readable) FD_SET(fd, &read_set_); else FD_CLR(fd, &read_set_);
    if (interest & ready::writable) FD_SET(fd, &write_set_); else FD_CLR(fd, &write_set_);
    if (interest != 0 && fd > max_fd_) max_fd_ = fd;
    while (max_fd_ >= 0 && !FD_ISSET(max_fd_, &read_set_) && !FD_ISSET(max_fd_, &write_set_)) {
      --max_fd_;
    }
  }

  fd_set read_set_;
  fd_set write_set_;
  int max_fd_ = -1;
};

}  // namespace

BackendTraits select_traits() noexcept {
  BackendTraits traits;
  traits.fd_limit = FD_SETSIZE;  // check_fd refuses the rest
  return traits;
}

std::unique_ptr<Poller> make_select_poller(std::error_code&) {
  return std::make_unique<SelectPoller>();
}

}  // namespace tern
