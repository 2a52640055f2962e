// The client end of the process tests: one blocking TCP connection to 127.0.0.1:PORT, plain
// POSIX and no tern code, so a server under test is checked by something that does not share
// its bugs. Every send and recv is bounded by the timeout given at connect (SO_SNDTIMEO /
// SO_RCVTIMEO), so no test waits forever on a silent server.
//
// The protocol clients of the tests (HTTP in proxy_process.h and httpd_test.cc, echo in
// echo_signal_test.cc and echo_faults_test.cc) build on it.
//
// Thread rule: one thread at a time; movable, owns its fd.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace tern::test {

class LoopbackClient {
 public:
  LoopbackClient() = default;
  // Connects at once; check connected().
  explicit LoopbackClient(uint16_t port, std::chrono::milliseconds timeout,
                          int receive_buffer = 0) {
    connect(port, timeout, receive_buffer);
  }
  LoopbackClient(LoopbackClient&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  LoopbackClient& operator=(LoopbackClient&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  LoopbackClient(const LoopbackClient&) = delete;
  LoopbackClient& operator=(const LoopbackClient&) = delete;
  ~LoopbackClient() { close(); }

  // Closes any previous connection, then connects to 127.0.0.1:`port`, every later send and
  // recv bounded by `timeout`. A `receive_buffer` > 0 is set before the handshake, so the
  // window is negotiated for it (a client that does not read fills it at once). False, and not
  // connected, when the connect failed.
  bool connect(uint16_t port, std::chrono::milliseconds timeout, int receive_buffer = 0) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    timeval limit{static_cast<time_t>(timeout.count() / 1000),
                  static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      close();
      return false;
    }
    return true;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // The client's own port: how the server's end of the connection is found in the kernel.
  uint16_t local_port() const {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
  }

  // All of `data`; false on an error, the timeout, or no connection.
  bool send_all(std::string_view data) {
    if (fd_ < 0) return false;
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Up to `count` bytes, fewer if the server closes, an error comes or the timeout passes first.
  std::string receive(size_t count) {
    std::string got;
    char buffer[65536];
    while (got.size() < count) {
      ssize_t n = ::recv(fd_, buffer, std::min(sizeof buffer, count - got.size()), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got.append(buffer, static_cast<size_t>(n));
    }
    return got;
  }

  // Appends whatever arrives to `into` until the server closes: true then; false on an error
  // (a reset) or the timeout first.
  bool receive_to_eof(std::string& into) {
    char buffer[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) return true;
      if (n < 0) return false;
      into.append(buffer, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
};

}  // namespace tern::test
