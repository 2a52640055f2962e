// What the load generators in bench/ share: opening many non-blocking connections to a server
// that may still be starting. Standalone (libc only, no tern code), so every server is measured
// by the same client code.
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace bench {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_UNSPEC;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// The first address of host:port (numeric port); false, with a message naming `program`.
inline bool resolve(const char* program, const std::string& host, int port, Address& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    std::fprintf(stderr, "%s: cannot resolve %s: %s\n", program, host.c_str(), ::gai_strerror(rc));
    return false;
  }
  std::memcpy(&out.storage, res->ai_addr, res->ai_addrlen);
  out.length = res->ai_addrlen;
  out.family = res->ai_family;
  ::freeaddrinfo(res);
  return true;
}

// One non-blocking TCP_NODELAY connection, retried every 20 ms (the server may still be
// starting) until `deadline`. The fd, or -1 with `error` set.
inline int connect_until(const Address& address, std::chrono::steady_clock::time_point deadline,
                         int& error) {
  using Clock = std::chrono::steady_clock;
  for (;;) {
    int fd = ::socket(address.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = errno;
      return -1;
    }
    int err = 0;
    if (::connect(fd, address.get(), address.length) < 0) {
      err = errno;
      if (err == EINPROGRESS) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        pollfd p{fd, POLLOUT, 0};
        int n = ::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
        socklen_t len = sizeof err;
        if (n == 1) {
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        } else {
          err = n == 0 ? ETIMEDOUT : errno;
        }
      }
    }
    if (err == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    ::close(fd);
    error = err;
    if (Clock::now() + std::chrono::milliseconds(20) >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace bench
