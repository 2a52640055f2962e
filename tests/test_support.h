// Helpers shared by the tests: a loop on its own thread, an independent load client (plain
// poll(2), no tern code, so tern is checked by something that does not share its bugs), and
// parameter naming.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tern/tern.h"

namespace tern::test {

inline std::string backend_test_name(const testing::TestParamInfo<BackendKind>& info) {
  std::string name(to_string(info.param));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

// An EventLoop running on its own thread. `setup` runs first on that thread (build servers
// there: loop objects belong to the loop's thread); call() runs more work there and waits.
class LoopThread {
 public:
  LoopThread(BackendKind kind, std::function<void(EventLoop&)> setup,
             BackendOptions options = {}) {
    std::promise<void> ready;
    thread_ = std::thread([&, kind, options] {
      EventLoop loop(kind, options);
      loop_ = &loop;
      setup(loop);
      ready.set_value();
      loop.run();
      // Objects that setup created are destroyed by the caller through call() before stop().
    });
    ready.get_future().wait();
  }
  ~LoopThread() { stop(); }

  template <class F>
  auto call(F fn) -> decltype(fn(std::declval<EventLoop&>())) {
    using R = decltype(fn(std::declval<EventLoop&>()));
    std::promise<R> done;
    loop_->post([&] {
      if constexpr (std::is_void_v<R>) {
        fn(*loop_);
        done.set_value();
      } else {
        done.set_value(fn(*loop_));
      }
    });
    return done.get_future().get();
  }

  void stop() {
    if (!thread_.joinable()) return;
    loop_->stop();
    thread_.join();
  }

 private:
  EventLoop* loop_ = nullptr;
  std::thread thread_;
};

// The bytes connection `index` sends: a fixed pseudo-random stream, different per connection.
class Pattern {
 public:
  static constexpr size_t kSize = (1u << 20) + 4099;  // not a power of two: no aliasing
  static const Pattern& get() {
    static const Pattern pattern;
    return pattern;
  }
  // Copies stream bytes [offset, offset + out.size()) of connection `index` into out.
  void fill(size_t index, size_t offset, std::span<std::byte> out) const {
    size_t position = (offset + index * 7919) % kSize;
    size_t done = 0;
    while (done < out.size()) {
      size_t n = std::min(out.size() - done, kSize - position);
      std::memcpy(out.data() + done, bytes_.data() + position, n);
      done += n;
      position = 0;
    }
  }
  bool matches(size_t index, size_t offset, std::span<const std::byte> in) const {
    size_t position = (offset + index * 7919) % kSize;
    size_t done = 0;
    while (done < in.size()) {
      size_t n = std::min(in.size() - done, kSize - position);
      if (std::memcmp(in.data() + done, bytes_.data() + position, n) != 0) return false;
      done += n;
      position = 0;
    }
    return true;
  }

 private:
  Pattern() : bytes_(kSize) {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (auto& b : bytes_) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      b = static_cast<std::byte>(x);
    }
  }
  std::vector<std::byte> bytes_;
};

inline int connect_blocking(const InetAddress& address) {
  int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, address.sockaddr_ptr(), address.length()) < 0) {
    // Interrupted by a signal, the connect goes on in the background (POSIX): wait for it.
    bool completed = false;
    if (errno == EINTR) {
      pollfd p{fd, POLLOUT, 0};
      int error = 0;
      socklen_t length = sizeof error;
      completed = ::poll(&p, 1, 10000) == 1 &&
                  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
      if (!completed && error != 0) errno = error;
    }
    if (!completed) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      return -1;
    }
  }
  return fd;
}

// Reads from a blocking socket until EOF (or an error or timeout, which end it too).
inline std::vector<std::byte> read_until_eof(int fd) {
  std::vector<std::byte> got;
  std::byte buffer[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.insert(got.end(), buffer, buffer + n);
  }
  return got;
}

inline std::string read_string_until_eof(int fd) {
  auto bytes = read_until_eof(fd);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

struct EchoLoadResult {
  int connections = 0;
  int completed = 0;        // got back exactly what they sent
  std::string first_error;  // empty when all completed
};

// Opens `connections` sockets to an echo server, each sends `payload` bytes (its own Pattern
// stream) while reading the echo back, and checks every byte. Bounded by `limit`.
inline EchoLoadResult run_echo_load(const InetAddress& server, int connections, size_t payload,
                                    std::chrono::seconds limit = std::chrono::seconds(120)) {
  struct Conn {
    int fd = -1;
    size_t sent = 0;
    size_t received = 0;
    bool done = false;
  };
  EchoLoadResult result;
  result.connections = connections;
  std::vector<Conn> conns(static_cast<size_t>(connections));
  for (auto& c : conns) {
    c.fd = connect_blocking(server);
    if (c.fd < 0) {
      result.first_error = "connect failed: " + std::string(strerror(errno));
      for (auto& open : conns) {
        if (open.fd >= 0) ::close(open.fd);
      }
      return result;
    }
  }
  const Pattern& pattern = Pattern::get();
  std::vector<std::byte> buffer(256 * 1024);
  std::vector<pollfd> fds(conns.size());
  auto deadline = std::chrono::steady_clock::now() + limit;
  int remaining = connections;
  while (remaining > 0 && result.first_error.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      result.first_error = "timed out with " + std::to_string(remaining) + " connections left";
      break;
    }
    for (size_t i = 0; i < conns.size(); ++i) {
      fds[i].fd = conns[i].done ? -1 : conns[i].fd;
      fds[i].events = POLLIN | (conns[i].sent < payload ? POLLOUT : 0);
      fds[i].revents = 0;
    }
    int n = ::poll(fds.data(), fds.size(), 1000);
    if (n < 0 && errno != EINTR) {
      result.first_error = "poll: " + std::string(strerror(errno));
      break;
    }
    for (size_t i = 0; i < conns.size() && result.first_error.empty(); ++i) {
      Conn& c = conns[i];
      if (fds[i].revents & POLLOUT) {
        size_t chunk = std::min(payload - c.sent, buffer.size());
        pattern.fill(i, c.sent, std::span(buffer).first(chunk));
        ssize_t w = ::send(c.fd, buffer.data(), chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) c.sent += static_cast<size_t>(w);
        else if (w < 0 && errno != EAGAIN) result.first_error = "send: " + std::string(strerror(errno));
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t r = ::recv(c.fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (r > 0) {
          if (c.received + static_cast<size_t>(r) > payload ||
              !pattern.matches(i, c.received, std::span(buffer).first(static_cast<size_t>(r)))) {
            result.first_error = "connection " + std::to_string(i) + ": wrong bytes at offset " +
                                 std::to_string(c.received);
          }
          c.received += static_cast<size_t>(r);
          if (c.received == payload) {
            c.done = true;
            ++result.completed;
            --remaining;
          }
        } else if (r == 0) {
          result.first_error = "connection " + std::to_string(i) + ": early EOF at " +
                               std::to_string(c.received);
        } else if (errno != EAGAIN) {
          result.first_error = "recv: " + std::string(strerror(errno));
        }
      }
    }
  }
  for (auto& c : conns) ::close(c.fd);
  return result;
}

}  // namespace tern::test
