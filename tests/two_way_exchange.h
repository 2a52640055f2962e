// Both ends of a relayed TCP stream driven at once from the test thread: each end sends its
// own Pattern stream, half-closes, and checks every byte it receives against the other end's
// stream. Neither end waits for the other, so the exchange cannot deadlock however the relay in
// between buffers. Used by the relay tests and the TCP proxy tests.
//
// Thread rule: one thread (the test's); the fds are borrowed, made non-blocking, not closed.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "test_support.h"

namespace tern::test {

// One end of a two-way exchange: sends `to_send` bytes of Pattern stream `index`, then
// half-closes; checks what it receives against the other end's stream.
struct ExchangeEnd {
  int fd;
  size_t index;
  size_t to_send;
  size_t sent = 0;
  bool shut = false;
  size_t received = 0;
  bool eof = false;
};

// Runs both ends until both have read end of stream, for at most `limit`: "" or what went
// wrong.
inline std::string exchange_both_ways(ExchangeEnd& a, ExchangeEnd& b, std::chrono::seconds limit) {
  ExchangeEnd* ends[2] = {&a, &b};
  for (ExchangeEnd* end : ends) ::fcntl(end->fd, F_SETFL, ::fcntl(end->fd, F_GETFL) | O_NONBLOCK);
  const Pattern& pattern = Pattern::get();
  std::vector<std::byte> buffer(64 * 1024);
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!a.eof || !b.eof) {
    if (std::chrono::steady_clock::now() > deadline) return "timed out";
    pollfd fds[2];
    for (int i = 0; i < 2; ++i) {
      ExchangeEnd& me = *ends[i];
      fds[i].fd = me.eof && me.shut ? -1 : me.fd;
      fds[i].events = static_cast<short>((me.eof ? 0 : POLLIN) | (me.shut ? 0 : POLLOUT));
      fds[i].revents = 0;
    }
    if (::poll(fds, 2, 1000) < 0 && errno != EINTR) return "poll failed";
    for (int i = 0; i < 2; ++i) {
      ExchangeEnd& me = *ends[i];
      const ExchangeEnd& peer = *ends[1 - i];
      if ((fds[i].revents & POLLOUT) && me.sent < me.to_send) {
        size_t chunk = std::min(buffer.size(), me.to_send - me.sent);
        pattern.fill(me.index, me.sent, std::span(buffer).first(chunk));
        ssize_t n = ::send(me.fd, buffer.data(), chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) me.sent += static_cast<size_t>(n);
        else if (n < 0 && errno != EAGAIN) return "send: " + std::string(strerror(errno));
      }
      if (me.sent == me.to_send && !me.shut) {
        ::shutdown(me.fd, SHUT_WR);
        me.shut = true;
      }
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && !me.eof) {
        ssize_t n = ::recv(me.fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n > 0) {
          auto got = std::span(buffer).first(static_cast<size_t>(n));
          if (me.received + got.size() > peer.to_send ||
              !pattern.matches(peer.index, me.received, got)) {
            return "wrong bytes at offset " + std::to_string(me.received);
          }
          me.received += got.size();
        } else if (n == 0) {
          me.eof = true;
          if (me.received != peer.to_send) {
            return "early end of stream at " + std::to_string(me.received);
          }
        } else if (errno != EAGAIN) {
          return "recv: " + std::string(strerror(errno));
        }
      }
    }
  }
  return "";
}

}  // namespace tern::test
