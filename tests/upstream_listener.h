// UpstreamListener: a plain listening socket on 127.0.0.1 that the test thread accepts from,
// standing for an upstream server in the client-side tests (no tern code, so it does not share
// tern's bugs).
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>

#include "tern/net/inet_address.h"

namespace tern::test {

// A listening socket on 127.0.0.1 whose connections the test thread accepts.
class UpstreamListener {
 public:
  // receive_buffer > 0: SO_RCVBUF of every accepted socket (a small one makes a slow reader
  // slow at once, instead of after the kernel's autotuned megabytes).
  explicit UpstreamListener(uint16_t port = 0, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // rebind over TIME_WAIT
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    auto address = InetAddress::loopback_v4(port);
    ok_ = ::bind(fd_, address.sockaddr_ptr(), address.length()) == 0 && ::listen(fd_, 64) == 0;
    sockaddr_in bound{};
    socklen_t length = sizeof bound;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &length);
    port_ = ntohs(bound.sin_port);
  }
  ~UpstreamListener() { close(); }
  UpstreamListener(const UpstreamListener&) = delete;
  UpstreamListener& operator=(const UpstreamListener&) = delete;

  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }
  InetAddress address() const { return InetAddress::loopback_v4(port_); }
  // One connection (blocking, reads bounded by a timeout), or -1 if none came in time.
  int accept_one(int timeout_ms = 20000) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return -1;
    int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    timeval timeout{20, 0};
    if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    return fd;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  uint16_t port_ = 0;
};

}  // namespace tern::test
