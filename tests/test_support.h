// Helpers shared by the tests: a loop on its own thread, an independent load client (plain
// poll(2), no tern code, so tern is checked by something that does not share its bugs),
// parameter naming, the options and skip rule of backend-parameterised rows, and conditions to
// wait on instead of sleeping.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
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

// The options a test row named after `kind` runs with: strict, so the row runs on that backend
// or not at all. (Without it io_uring falls back to epoll, and the uring row would quietly test
// epoll a second time.) Every kind gets the same options: nothing here switches on the kind.
inline BackendOptions backend_options_for(BackendKind kind) {
  (void)kind;
  BackendOptions options;
  options.strict = true;
  return options;
}

// Why no loop on `kind` with `options` can be created here (io_uring missing, disabled by
// kernel.io_uring_disabled or seccomp, or TERN_URING_UNAVAILABLE set), or nullopt when one can.
// It asks the loop itself, so it says exactly what the row would meet. Any thread.
//
// The probe loop lives on a thread of its own: tearing down an io_uring ring queues task work
// to the thread that submitted its requests, and that interrupts the thread's next blocking
// system call (a recv with SO_RCVTIMEO then fails with EINTR). The caller's thread stays clear.
inline std::optional<std::string> backend_unavailable(BackendKind kind,
                                                      const BackendOptions& options) {
  std::error_code refusal;
  std::thread probe([&] {
    auto loop = EventLoop::create(kind, options);
    if (!loop.ok()) refusal = loop.error();
  });
  probe.join();
  if (!refusal) return std::nullopt;
  return "backend " + std::string(to_string(kind)) + " is unavailable here (" +
         refusal.message() + "); strict row: not run on another backend";
}
inline std::optional<std::string> backend_unavailable(BackendKind kind) {
  return backend_unavailable(kind, backend_options_for(kind));
}

// The fixture of suites parameterised by backend: a row whose backend cannot run here is skipped
// with the reason (GTEST_SKIP in SetUp: the test body does not run), never run on another one.
// Use backend_options() for every loop the test makes.
class BackendTest : public testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    if (auto why = backend_unavailable(GetParam())) GTEST_SKIP() << *why;
  }
  BackendOptions backend_options() const { return backend_options_for(GetParam()); }
};

// An EventLoop running on its own thread. `setup` runs first on that thread (build servers
// there: loop objects belong to the loop's thread); call() runs more work there and waits.
// Without explicit options the loop is strict (backend_options_for): a loop that cannot be
// created on `kind` aborts with the reason instead of running on another backend; suites
// derive from BackendTest so that such rows are skipped before they get here.
class LoopThread {
 public:
  LoopThread(BackendKind kind, std::function<void(EventLoop&)> setup)
      : LoopThread(kind, std::move(setup), backend_options_for(kind)) {}
  LoopThread(BackendKind kind, std::function<void(EventLoop&)> setup, BackendOptions options) {
    std::promise<void> ready;
    thread_ = std::thread([&, kind, options] {
      EventLoop loop(kind, options);
      loop_ = &loop;
      setup(loop);
      ready.set_value();
      loop.run();
      // stop() may still be inside loop.stop() (its eventfd write) on the caller's thread: the
      // loop is destroyed only once stop() is done with it (a race TSan reported).
      stopped_.get_future().wait();
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
    stopped_.set_value();
    thread_.join();
  }

 private:
  EventLoop* loop_ = nullptr;
  std::promise<void> stopped_;
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

// A count that threads raise when something happens (a connection closed, the server paused
// reading) and a test thread waits on: the condition a test synchronises on instead of a
// sleep. Every method: any thread.
class EventCount {
 public:
  void add(int n = 1) {
    std::lock_guard lock(mutex_);
    count_ += n;
    changed_.notify_all();
  }
  int value() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  // Waits until the count reaches `target`; false if `limit` passes first (a liveness bound:
  // the failure of a test, not a measurement).
  bool wait_until_at_least(int target,
                           std::chrono::milliseconds limit = std::chrono::seconds(60)) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return count_ >= target; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  int count_ = 0;
};

// Re-checks `condition` until it holds or `limit` passes; true if it held. Only for state that
// offers nothing to block on (/proc files): the short pause between checks paces the re-reads,
// it is not what the caller synchronises on.
template <class Condition>
bool wait_until(Condition condition, std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// The scheduler state of thread `tid` of this process, from /proc/self/task/TID/stat: 'R'
// running or runnable (a preempted thread too), 'S' asleep in a system call, ...; '?' when
// unreadable. Plain open/read (no allocation), so reading it cannot block on the allocator.
inline char thread_state(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(tid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  char text[512];
  ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return '?';
  text[n] = '\0';
  // "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
  const char* end_of_comm = std::strrchr(text, ')');
  if (end_of_comm == nullptr || end_of_comm[1] != ' ' || end_of_comm[2] == '\0') return '?';
  return end_of_comm[2];
}

// Waits until thread `tid` is asleep in a system call. Call it once the thread has nothing left
// to do but the blocking call the test is about (its loop's wait, a shutdown waiting for a
// drain): then "asleep" means "blocked there".
inline bool wait_until_sleeping(pid_t tid,
                                std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  return wait_until([tid] { return thread_state(tid) == 'S'; }, limit);
}

// The number of the system call thread `tid` of this process is blocked in, from
// /proc/self/task/<tid>/syscall; -1 when it is running, blocked outside a system call, or the
// file is unreadable. Plain open/read, like thread_state().
inline long blocking_syscall(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", static_cast<int>(tid));
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[256];
  ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return -1;
  text[n] = '\0';
  char* end = nullptr;
  long number = std::strtol(text, &end, 10);
  return end == text ? -1 : number;
}

// Waits until thread `tid` sleeps inside system call `number` (SYS_sendto for a send() that
// blocks on a full socket buffer). Sleeping alone is not enough where it matters which call
// blocks: under a sanitizer a thread also sleeps briefly on its allocator's lock.
inline bool wait_until_blocked_in(pid_t tid, long number,
                                  std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  return wait_until(
      [tid, number] { return thread_state(tid) == 'S' && blocking_syscall(tid) == number; },
      limit);
}

// One row of the model matrix every protocol-level suite runs: a model, its pattern, a
// backend, and its thread counts.
struct ServerConfig {
  Model model;
  tern::Pattern pattern;
  BackendKind backend;
  int threads;
  int workers;
};

// Every model, over both transports: the stream transport (emulated, proactor) and one-shot
// readiness (reactor: the loop or a worker does the I/O; lf).
inline std::vector<ServerConfig> server_matrix() {
  std::vector<ServerConfig> configs;
  for (auto [pattern, backend] : {std::pair{tern::Pattern::emulated, BackendKind::epoll},
                                  std::pair{tern::Pattern::emulated, BackendKind::poll},
                                  std::pair{tern::Pattern::proactor, BackendKind::uring},
                                  std::pair{tern::Pattern::proactor, BackendKind::aio},
                                  std::pair{tern::Pattern::reactor, BackendKind::epoll},
                                  std::pair{tern::Pattern::reactor, BackendKind::uring}}) {
    configs.push_back({Model::single, pattern, backend, 1, 0});
    configs.push_back({Model::loops, pattern, backend, 2, 0});
    configs.push_back({Model::hsha, pattern, backend, 1, 2});
  }
  configs.push_back({Model::lf, tern::Pattern::reactor, BackendKind::epoll, 2, 0});
  return configs;
}

inline std::string server_config_name(const testing::TestParamInfo<ServerConfig>& info) {
  const ServerConfig& c = info.param;
  std::string name = std::string(model_name(c.model)) + "_" + pattern_name(c.pattern) + "_" +
                     std::string(to_string(c.backend));
  for (char& ch : name) {
    if (ch == '-') ch = '_';
  }
  return name;
}

// ServerOptions for a matrix row (strict: a backend that cannot run fails, never falls back).
inline ServerOptions server_options(const ServerConfig& c) {
  ServerOptions o;
  o.backend = c.backend;
  o.backend_options.strict = true;
  o.model = c.model;
  o.pattern = c.pattern;
  o.threads = c.threads;
  o.workers = c.workers;
  return o;
}

}  // namespace tern::test
