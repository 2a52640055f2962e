// The one mapping between tern's readiness bits (ready::, tern/backend/op.h) and the kernel's
// epoll and poll event masks. Every backend that speaks epoll or poll(2) (epoll, poll, sigio,
// io_uring's POLL_ADD, the shared readiness set) converts here, so they all report the same
// bits for the same state. Private to tern.
//
// Interest: readable asks for EPOLLIN/POLLIN and for the peer's FIN (EPOLLRDHUP/POLLRDHUP),
// which a reader must hear about even when it has no data to read; writable asks for OUT.
// Errors and hang-ups need no asking: the kernel always reports them.
// Reports: anything a reader should act on (data, urgent data, the peer's FIN) is readable;
// the FIN is also read_closed (edge-triggered backends keep it: it is reported once, behind the
// data); POLLNVAL (the fd was closed under the poller) is an error.
#pragma once

#include <poll.h>
#include <sys/epoll.h>

#include <cstdint>

#include "tern/backend/op.h"

namespace tern::ready_bits {

constexpr uint32_t to_epoll(uint32_t interest) noexcept {
  uint32_t events = 0;
  if (interest & ready::readable) events |= EPOLLIN | EPOLLRDHUP;
  if (interest & ready::writable) events |= EPOLLOUT;
  return events;
}

constexpr uint32_t from_epoll(uint32_t events) noexcept {
  uint32_t bits = 0;
  if (events & (EPOLLIN | EPOLLRDNORM | EPOLLRDBAND | EPOLLPRI | EPOLLRDHUP)) {
    bits |= ready::readable;
  }
  if (events & EPOLLRDHUP) bits |= ready::read_closed;
  if (events & (EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND)) bits |= ready::writable;
  if (events & EPOLLERR) bits |= ready::error;
  if (events & EPOLLHUP) bits |= ready::hangup;
  return bits;
}

// poll(2) masks are shorts in pollfd and ints in io_uring's POLL_ADD and siginfo's si_band:
// uint32_t here, narrowed by the caller where it stores them.
constexpr uint32_t to_poll(uint32_t interest) noexcept {
  uint32_t events = 0;
  if (interest & ready::readable) events |= POLLIN | POLLRDHUP;
  if (interest & ready::writable) events |= POLLOUT;
  return events;
}

constexpr uint32_t from_poll(uint32_t events) noexcept {
  uint32_t bits = 0;
  if (events & (POLLIN | POLLRDNORM | POLLRDBAND | POLLPRI | POLLRDHUP)) bits |= ready::readable;
  if (events & POLLRDHUP) bits |= ready::read_closed;
  if (events & (POLLOUT | POLLWRNORM | POLLWRBAND)) bits |= ready::writable;
  if (events & (POLLERR | POLLNVAL)) bits |= ready::error;
  if (events & POLLHUP) bits |= ready::hangup;
  return bits;
}

}  // namespace tern::ready_bits
