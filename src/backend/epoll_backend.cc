// The epoll backend, level- or edge-triggered. Level-triggered: interest follows the ops in
// flight (EPOLL_CTL_MOD when it changes, at most once per fd per wait). Edge-triggered: each
// fd is added once for both directions and left alone until it is closed.
#include <sys/epoll.h>
#include <unistd.h>

#include <array>

#include "backend/backend.h"
#include "backend/poller.h"
#include "backend/ready_bits.h"
#include "tern/base/error.h"
#include "tern/backend/op.h"

namespace tern {
namespace {

class EpollPoller final : public Poller {
 public:
  EpollPoller(int epoll_fd, bool edge_triggered)
      : epoll_fd_(epoll_fd), edge_triggered_(edge_triggered) {}
  ~EpollPoller() override { ::close(epoll_fd_); }

  bool edge_triggered() const noexcept override { return edge_triggered_; }

  std::error_code set_interest(int fd, uint32_t old_interest,
                               uint32_t new_interest) noexcept override {
    epoll_event event{};
    event.events = to_epoll(new_interest);
    event.data.fd = fd;
    if (new_interest == 0) {
      // The fd may already be closed (and so removed); nothing is left to undo then.
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &event);
      return {};
    }
    int op = old_interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (::epoll_ctl(epoll_fd_, op, fd, &event) == 0) return {};
    // Our record and the kernel's can disagree when an fd was closed (the kernel dropped it)
    // and its number reused before we were told: switch verbs once.
    if (errno == ENOENT && op == EPOLL_CTL_MOD) op = EPOLL_CTL_ADD;
    else if (errno == EEXIST && op == EPOLL_CTL_ADD) op = EPOLL_CTL_MOD;
    else return last_system_error();
    if (::epoll_ctl(epoll_fd_, op, fd, &event) == 0) return {};
    return last_system_error();
  }

  // Closing the fd removes it from the epoll set: no EPOLL_CTL_DEL needed.
  void forget(int) noexcept override {}

  std::error_code wait(bool block, std::vector<ReadyEvent>& out) noexcept override {
    int n = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()),
                         block ? -1 : 0);
    if (n < 0) return errno == EINTR ? std::error_code{} : last_system_error();
    for (int i = 0; i < n; ++i) {
      out.push_back({events_[i].data.fd, ready_bits::from_epoll(events_[i].events)});
    }
    return {};
  }

 private:
  uint32_t to_epoll(uint32_t interest) const noexcept {
    return ready_bits::to_epoll(interest) | (edge_triggered_ ? EPOLLET : 0u);
  }

  int epoll_fd_;
  bool edge_triggered_;
  std::array<epoll_event, 256> events_{};
};

}  // namespace

// Both modes can share their readiness between threads: EPOLLONESHOT disarms an fd as it is
// reported, edge- or level-triggered alike, and a re-arm (EPOLL_CTL_MOD) reports the state the
// fd is in at that moment (src/backend/readiness_set.h).
BackendTraits epoll_traits(bool edge_triggered) noexcept {
  BackendTraits traits;
  traits.edge_triggered = edge_triggered;
  traits.shared_readiness = true;
  return traits;
}

std::unique_ptr<Poller> make_epoll_poller(bool edge_triggered, std::error_code& error) {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    error = last_system_error();
    return nullptr;
  }
  return std::make_unique<EpollPoller>(fd, edge_triggered);
}

}  // namespace tern
