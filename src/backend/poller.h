// Poller: the readiness multiplexer under a ReadinessBackend (muduo's Poller). One
// implementation per system call: select, poll, epoll (level- or edge-triggered). It only
// records interest and reports readiness; it never performs I/O. Loop thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <system_error>
#include <vector>

namespace tern {

struct ReadyEvent {
  int fd;
  uint32_t events;  // ready:: bits
};

class Poller {
 public:
  virtual ~Poller() = default;

  // Edge-triggered pollers report a change of readiness once; the backend then remembers it.
  virtual bool edge_triggered() const noexcept { return false; }

  // Whether this poller can watch `fd` at all (select: only fds below FD_SETSIZE).
  virtual std::error_code check_fd(int /*fd*/) const noexcept { return {}; }

  // Changes the interest of `fd` from `old_interest` to `new_interest` (ready:: bits; 0 means
  // not watched). Called only when the two differ.
  virtual std::error_code set_interest(int fd, uint32_t old_interest,
                                       uint32_t new_interest) noexcept = 0;

  // The fd is about to be closed: drop it without a system call where closing is enough.
  virtual void forget(int fd) noexcept = 0;

  // Waits (forever if `block`, else returns at once) and appends ready fds to `out`.
  // Returns 0 or the error of the wait itself (EINTR is not an error: it returns 0 events).
  virtual std::error_code wait(bool block, std::vector<ReadyEvent>& out) noexcept = 0;
};

std::unique_ptr<Poller> make_select_poller(std::error_code& error);
std::unique_ptr<Poller> make_poll_poller(std::error_code& error);
std::unique_ptr<Poller> make_epoll_poller(bool edge_triggered, std::error_code& error);
std::unique_ptr<Poller> make_sigio_poller(std::error_code& error);

}  // namespace tern
