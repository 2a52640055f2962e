// The poll(2) backend: a dense pollfd array (removal swaps in the last entry) and an index from
// fd to its position, so interest changes are O(1) and a wait is O(number of watched fds).
#include <poll.h>

#include "backend/backend.h"
#include "backend/poller.h"
#include "backend/ready_bits.h"
#include "tern/base/error.h"
#include "tern/backend/op.h"

namespace tern {
namespace {

class PollPoller final : public Poller {
 public:
  std::error_code set_interest(int fd, uint32_t, uint32_t new_interest) noexcept override {
    if (new_interest == 0) {
      remove(fd);
      return {};
    }
    auto events = static_cast<short>(ready_bits::to_poll(new_interest));
    int position = position_of(fd);
    if (position < 0) {
      if (static_cast<size_t>(fd) >= positions_.size()) {
        positions_.resize(static_cast<size_t>(fd) + 64, -1);
      }
      positions_[static_cast<size_t>(fd)] = static_cast<int>(pollfds_.size());
      pollfds_.push_back(pollfd{fd, events, 0});
    } else {
      pollfds_[static_cast<size_t>(position)].events = events;
    }
    return {};
  }

  void forget(int fd) noexcept override { remove(fd); }

  std::error_code wait(bool block, std::vector<ReadyEvent>& out) noexcept override {
    int n = ::poll(pollfds_.data(), pollfds_.size(), block ? -1 : 0);
    if (n < 0) return errno == EINTR ? std::error_code{} : last_system_error();
    for (const pollfd& p : pollfds_) {
      if (n == 0) break;
      if (p.revents == 0) continue;
      --n;
      out.push_back({p.fd, ready_bits::from_poll(static_cast<uint16_t>(p.revents))});
    }
    return {};
  }

 private:
  int position_of(int fd) const noexcept {
    return static_cast<size_t>(fd) < positions_.size() ? positions_[static_cast<size_t>(fd)] : -1;
  }

  void remove(int fd) noexcept {
    int position = position_of(fd);
    if (position < 0) return;
    pollfd last = pollfds_.back();
    pollfds_[static_cast<size_t>(position)] = last;
    positions_[static_cast<size_t>(last.fd)] = position;
    pollfds_.pop_back();
    positions_[static_cast<size_t>(fd)] = -1;
  }

  std::vector<pollfd> pollfds_;
  std::vector<int> positions_;  // fd -> index in pollfds_, or -1
};

}  // namespace

BackendTraits poll_traits() noexcept { return {}; }  // level-triggered, any fd number

std::unique_ptr<Poller> make_poll_poller(std::error_code&) {
  return std::make_unique<PollPoller>();
}

}  // namespace tern
