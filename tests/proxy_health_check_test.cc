// proxy::HealthChecker on every backend, against an upstream the test controls (a loopback
// listener served by a thread of its own with poll(2), no tern code): what each check sends
// (path, Host, Connection: close, one fresh connection per check), the verdict's rise and fall
// counted against the checks the upstream actually received, each way a check fails (a status,
// a refused connect, an upstream that never answers, a connect that never completes), the tcp
// kind, and tearing a checker down with its check in flight.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tern/http/client_error.h"
#include "tern/http/parser.h"
#include "tern/proxy/health_check.h"
#include "test_support.h"
#include "upstream_listener.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;
using proxy::HealthChecker;
using proxy::HealthCheckOptions;
using proxy::HealthCheckStats;
using Kind = HealthCheckOptions::Kind;

constexpr auto kBound = 20s;  // liveness bound of every wait: a failure, not a measurement

// A port with nothing listening: bind a socket, note its port, close it.
uint16_t unused_port() {
  UpstreamListener probe;
  return probe.port();
}

// What the upstream has seen so far.
struct Seen {
  int accepted = 0;        // connections
  int requests = 0;        // request heads received
  int passed = 0;          // answered with a 2xx or 3xx
  int failed = 0;          // answered with another status
  int closed_by_peer = 0;  // connections the checker closed (EOF or reset)
  int most_requests_on_one_connection = 0;
  int most_open_at_once = 0;  // connections open together (one check in flight at a time)
  std::string last_request;   // the bytes of the last request head
};

// The upstream under check. Answers each request with the next status of its script (cycled):
// a status line with Content-Length and keep-alive; 0: no answer, the connection held open;
// kCloseAtOnce: the connection closed unanswered; kGarbage: bytes that are not HTTP. It never
// closes a connection after an answer: a checker that reused one would be seen sending two
// requests on it, and each connection's end is the checker's doing. Counts every event and
// wakes the waiters. Every method: any thread.
class CheckedUpstream {
 public:
  static constexpr int kCloseAtOnce = -1;
  static constexpr int kGarbage = -2;

  explicit CheckedUpstream(std::vector<int> statuses = {200}) : statuses_(std::move(statuses)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto any_port = InetAddress::loopback_v4(0);
    sockaddr_in bound{};
    socklen_t length = sizeof bound;
    int pipe_fds[2];
    ok_ = ::bind(listener_, any_port.sockaddr_ptr(), any_port.length()) == 0 &&
          ::listen(listener_, 64) == 0 &&
          ::getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &length) == 0 &&
          ::pipe2(pipe_fds, O_CLOEXEC) == 0;
    if (!ok_) return;
    port_ = ntohs(bound.sin_port);
    wake_read_ = pipe_fds[0];
    wake_write_ = pipe_fds[1];
    thread_ = std::thread([this] { serve(); });
  }
  ~CheckedUpstream() {
    if (thread_.joinable()) {
      char byte = 1;
      (void)!::write(wake_write_, &byte, 1);
      thread_.join();
    }
    if (wake_read_ >= 0) ::close(wake_read_);
    if (wake_write_ >= 0) ::close(wake_write_);
    ::close(listener_);
  }
  CheckedUpstream(const CheckedUpstream&) = delete;
  CheckedUpstream& operator=(const CheckedUpstream&) = delete;

  bool ok() const { return ok_; }
  InetAddress address() const { return InetAddress::loopback_v4(port_); }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }

  // The statuses of the next requests, from now on (cycled).
  void set_statuses(std::vector<int> statuses) {
    std::lock_guard lock(mutex_);
    statuses_ = std::move(statuses);
    next_status_ = 0;
  }
  Seen seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  // Waits until `condition(seen)` holds; false when the bound passes first.
  bool wait_for(const std::function<bool(const Seen&)>& condition) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kBound, [&] { return condition(seen_); });
  }

 private:
  struct Connection {
    int fd = -1;
    std::string pending;  // received, not yet a whole request head
    int requests = 0;
  };

  void serve() {
    std::vector<Connection> connections;
    for (;;) {
      std::vector<pollfd> fds{{wake_read_, POLLIN, 0}, {listener_, POLLIN, 0}};
      for (const auto& c : connections) fds.push_back({c.fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) break;
      // Connections first, so that one the checker closed is gone before the next is counted
      // open (fds[2 + i] is connections[i]).
      for (size_t i = connections.size(); i-- > 0;) {
        if (fds[i + 2].revents == 0) continue;
        if (!receive(connections[i])) {
          ::close(connections[i].fd);
          connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
      if (fds[1].revents != 0) {
        int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
          connections.push_back(Connection{fd});
          int open = static_cast<int>(connections.size());
          note([&](Seen& seen) {
            ++seen.accepted;
            seen.most_open_at_once = std::max(seen.most_open_at_once, open);
          });
        }
      }
    }
    for (auto& c : connections) ::close(c.fd);
  }

  // Reads everything that arrived, the end of the stream included (a request and the FIN
  // after it are seen in one pass: a connection the checker closed is never counted open next
  // to the one it opens after); false when the checker closed the connection.
  bool receive(Connection& c) {
    char buffer[4096];
    for (;;) {
      ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return true;
      if (n <= 0) {
        note([](Seen& seen) { ++seen.closed_by_peer; });
        return false;
      }
      c.pending.append(buffer, static_cast<size_t>(n));
      size_t end;
      while ((end = c.pending.find("\r\n\r\n")) != std::string::npos) {
        std::string head = c.pending.substr(0, end + 4);
        c.pending.erase(0, end + 4);
        if (!answer(c, head)) return false;
      }
    }
  }

  // Counts the request (before answering it: the checker cannot complete the check, and start
  // the next one, before the count is there to see), then answers it, or not. False: close the
  // connection.
  bool answer(Connection& c, const std::string& head) {
    int status = 0;
    int on_connection = ++c.requests;
    note([&](Seen& seen) {
      status = statuses_.empty() ? 0 : statuses_[next_status_++ % statuses_.size()];
      ++seen.requests;
      seen.last_request = head;
      seen.most_requests_on_one_connection =
          std::max(seen.most_requests_on_one_connection, on_connection);
      if (status >= 200 && status < 400) ++seen.passed;
      if (status != 0 && (status < 200 || status >= 400)) ++seen.failed;
    });
    if (status == 0) return true;
    if (status == kCloseAtOnce) return false;
    std::string response = status == kGarbage ? std::string("SMTP ready\r\n\r\n")
                                              : "HTTP/1.1 " + std::to_string(status) +
                                                    " Status\r\nContent-Length: 3\r\n\r\nok\n";
    (void)!::send(c.fd, response.data(), response.size(), MSG_NOSIGNAL);
    return true;
  }

  template <class F>
  void note(F change) {
    std::lock_guard lock(mutex_);
    change(seen_);
    changed_.notify_all();
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  int wake_read_ = -1;
  int wake_write_ = -1;
  bool ok_ = false;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<int> statuses_;
  size_t next_status_ = 0;
  Seen seen_;
  std::thread thread_;
};

// A listener whose accept queue is full and never drained: a further connect to it never
// completes (Linux drops the SYN), the way a connect to an overloaded or black-holed host hangs.
class FullListener {
 public:
  FullListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto any_port = InetAddress::loopback_v4(0);
    ok_ = ::bind(fd_, any_port.sockaddr_ptr(), any_port.length()) == 0 && ::listen(fd_, 0) == 0;
    sockaddr_in bound{};
    socklen_t length = sizeof bound;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &length);
    port_ = ntohs(bound.sin_port);
    // Backlog 0 queues one connection: this one fills the queue.
    filler_ = connect_blocking(address());
    ok_ = ok_ && filler_ >= 0;
  }
  ~FullListener() {
    if (filler_ >= 0) ::close(filler_);
    ::close(fd_);
  }
  bool ok() const { return ok_; }
  InetAddress address() const { return InetAddress::loopback_v4(port_); }

 private:
  int fd_ = -1;
  int filler_ = -1;
  uint16_t port_ = 0;
  bool ok_ = false;
};

// Lets the loop of `thread` run for `span`: a timer of its own ends the wait.
void run_timers_for(LoopThread& thread, Duration span) {
  auto fired = std::make_shared<std::promise<void>>();
  thread.call([&](EventLoop& loop) { loop.run_after(span, [fired] { fired->set_value(); }); });
  EXPECT_EQ(fired->get_future().wait_for(kBound), std::future_status::ready);
}

// One verdict change, with what the checker and the upstream had seen when it came.
struct Change {
  bool healthy = true;
  HealthCheckStats stats;
  Seen upstream;
};

// A HealthChecker on a loop thread of the backend under test. The callback records each change
// (with the checker's stats and, when given, the upstream's counts at that moment).
class CheckerRig {
 public:
  CheckerRig(BackendKind kind, InetAddress upstream, HealthCheckOptions options,
             const CheckedUpstream* observed = nullptr)
      : observed_(observed), thread_(kind, [this, upstream, options](EventLoop& loop) {
          checker_ = std::make_unique<HealthChecker>(loop, upstream, options,
                                                     [this](bool healthy) { record(healthy); });
        }) {}
  ~CheckerRig() { destroy(); }

  // Destroys the checker on its loop (whatever it is doing).
  void destroy() {
    thread_.call([this](EventLoop&) { checker_.reset(); });
  }
  // Lets the loop run its timers for `span` (a timer of its own ends the wait): after a
  // checker is destroyed, a check it left scheduled would run in that time.
  void turn_for(Duration span) { run_timers_for(thread_, span); }
  std::vector<Change> changes() const {
    std::lock_guard lock(mutex_);
    return changes_;
  }
  // Waits until `count` changes came; false when the bound passes first.
  bool wait_changes(size_t count) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kBound, [&] { return changes_.size() >= count; });
  }
  HealthCheckStats stats() {
    return thread_.call([this](EventLoop&) { return checker_->stats(); });
  }
  bool healthy() {
    return thread_.call([this](EventLoop&) { return checker_->healthy(); });
  }
  bool checking() {
    return thread_.call([this](EventLoop&) { return checker_->checking(); });
  }

 private:
  void record(bool healthy) {  // on the loop, inside the checker's callback
    Change change{healthy, checker_->stats(), observed_ ? observed_->seen() : Seen{}};
    std::lock_guard lock(mutex_);
    changes_.push_back(std::move(change));
    changed_.notify_all();
  }

  const CheckedUpstream* observed_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<Change> changes_;
  std::unique_ptr<HealthChecker> checker_;
  LoopThread thread_;  // last: its setup fills the members above
};

HealthCheckOptions quick(Kind kind = Kind::http) {
  HealthCheckOptions options;
  options.kind = kind;
  options.interval = 10ms;
  options.timeout = 5s;  // a liveness backstop only, unless a test sets its own
  options.rise = 2;
  options.fall = 3;
  return options;
}

class HealthCheckTest : public BackendTest {};

TEST_P(HealthCheckTest, HealthyUpstreamStaysHealthyWithoutCallback) {
  CheckedUpstream upstream({200});
  ASSERT_TRUE(upstream.ok());
  auto options = quick();
  options.fall = 1;  // a single failed check would show
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.requests >= 5; }));
  HealthCheckStats stats = rig.stats();
  rig.destroy();
  EXPECT_TRUE(rig.changes().empty());
  EXPECT_GE(stats.checks, 4u);
  EXPECT_EQ(stats.failures, 0u);
  EXPECT_EQ(stats.consecutive_successes, static_cast<int>(stats.checks));
  EXPECT_EQ(stats.last_error, "");
  // A fresh connection per check (the upstream keeps each open), closed by the checker.
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.closed_by_peer == s.accepted; }));
  Seen seen = upstream.seen();
  EXPECT_EQ(seen.most_requests_on_one_connection, 1);
  EXPECT_EQ(seen.most_open_at_once, 1);
  EXPECT_LE(seen.accepted - seen.requests, 1);  // the last one may have been cut short
}

TEST_P(HealthCheckTest, FirstCheckRunsAtOnce) {
  CheckedUpstream upstream({200});
  ASSERT_TRUE(upstream.ok());
  auto options = quick();
  options.interval = 1h;  // only the first check can come within the bound
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.requests == 1; }));
}

TEST_P(HealthCheckTest, FallFailuresInARowTakeItDownOnce) {
  CheckedUpstream upstream({503});
  ASSERT_TRUE(upstream.ok());
  auto options = quick();
  options.fall = 3;
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(rig.wait_changes(1));
  Change down = rig.changes().front();
  EXPECT_FALSE(down.healthy);
  EXPECT_EQ(down.upstream.failed, 3) << "the verdict changed at another check than the fall-th";
  EXPECT_EQ(down.stats.checks, 3u);
  EXPECT_EQ(down.stats.consecutive_failures, 3);
  EXPECT_EQ(down.stats.last_error, "status 503");
  // Later failures change nothing.
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.requests >= 7; }));
  EXPECT_FALSE(rig.healthy());
  EXPECT_EQ(rig.changes().size(), 1u);
}

TEST_P(HealthCheckTest, FailuresNotInARowKeepItUp) {
  CheckedUpstream upstream({503, 503, 200});  // two failures, then a success resets the run
  ASSERT_TRUE(upstream.ok());
  auto options = quick();
  options.fall = 3;
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.requests >= 10; }));
  HealthCheckStats stats = rig.stats();
  EXPECT_TRUE(rig.changes().empty());
  EXPECT_GE(stats.failures, 6u);
}

TEST_P(HealthCheckTest, RiseSuccessesInARowBringItBackOnce) {
  CheckedUpstream upstream({503});
  ASSERT_TRUE(upstream.ok());
  auto options = quick();
  options.fall = 2;
  options.rise = 3;
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(rig.wait_changes(1));
  EXPECT_FALSE(rig.changes().front().healthy);
  // One success, a failure (the run starts again), then successes only.
  upstream.set_statuses({200, 503, 200, 200, 200, 200, 200, 200, 200});
  ASSERT_TRUE(rig.wait_changes(2));
  Change up = rig.changes()[1];
  EXPECT_TRUE(up.healthy);
  EXPECT_EQ(up.upstream.passed, 4) << "the verdict changed at another check than the rise-th";
  EXPECT_EQ(up.stats.consecutive_successes, 3);
  EXPECT_EQ(up.stats.last_error, "");
  ASSERT_TRUE(
      upstream.wait_for([&](const Seen& s) { return s.requests >= up.upstream.requests + 3; }));
  EXPECT_TRUE(rig.healthy());
  EXPECT_EQ(rig.changes().size(), 2u);
}

TEST_P(HealthCheckTest, RedirectPassesAndNotFoundFails) {
  CheckedUpstream upstream({302});
  ASSERT_TRUE(upstream.ok());
  auto options = quick();
  options.fall = 1;
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.passed >= 3; }));
  EXPECT_TRUE(rig.changes().empty());
  upstream.set_statuses({404});
  ASSERT_TRUE(rig.wait_changes(1));
  EXPECT_FALSE(rig.changes().front().healthy);
  EXPECT_EQ(rig.changes().front().stats.last_error, "status 404");
}

// A connection closed before the answer, and an answer that is not HTTP, each fail a check; the
// verdict goes down, up and down again.
TEST_P(HealthCheckTest, ClosedOrMalformedAnswersFail) {
  CheckedUpstream upstream({CheckedUpstream::kCloseAtOnce});
  ASSERT_TRUE(upstream.ok());
  auto options = quick();
  options.fall = 1;
  options.rise = 1;
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(rig.wait_changes(1));
  upstream.set_statuses({200});
  ASSERT_TRUE(rig.wait_changes(2));
  upstream.set_statuses({CheckedUpstream::kGarbage});
  ASSERT_TRUE(rig.wait_changes(3));
  auto changes = rig.changes();
  EXPECT_FALSE(changes[0].healthy);
  EXPECT_EQ(changes[0].stats.last_error,
            make_error_code(http::client_errc::closed_before_response).message());
  EXPECT_TRUE(changes[1].healthy);
  EXPECT_FALSE(changes[2].healthy);
  EXPECT_EQ(changes[2].stats.last_error,
            make_error_code(http::ParseError::bad_status_line).message());
}

TEST_P(HealthCheckTest, UpstreamThatNeverAnswersTimesOut) {
  CheckedUpstream upstream({0});
  ASSERT_TRUE(upstream.ok());
  auto options = quick();
  options.timeout = 50ms;
  options.fall = 2;
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(rig.wait_changes(1));
  Change down = rig.changes().front();
  EXPECT_FALSE(down.healthy);
  EXPECT_EQ(down.stats.checks, 2u);
  EXPECT_EQ(down.stats.last_error, "timed out after 50 ms");
  EXPECT_LE(down.upstream.accepted, 2);
  // Each timed-out check closed its connection, before the next check opened one.
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.closed_by_peer >= 2; }));
  EXPECT_EQ(upstream.seen().most_open_at_once, 1);
}

TEST_P(HealthCheckTest, RefusedConnectionsFail) {
  auto options = quick();
  options.fall = 2;
  CheckerRig rig(GetParam(), InetAddress::loopback_v4(unused_port()), options);
  ASSERT_TRUE(rig.wait_changes(1));
  Change down = rig.changes().front();
  EXPECT_FALSE(down.healthy);
  EXPECT_EQ(down.stats.checks, 2u);
  EXPECT_EQ(down.stats.failures, 2u);
  EXPECT_EQ(down.stats.last_error, "connection refused");
}

TEST_P(HealthCheckTest, SendsPathHostAndConnectionClose) {
  CheckedUpstream upstream({200});
  ASSERT_TRUE(upstream.ok());
  auto options = quick();
  options.path = "/ready?probe=1";
  options.host = "health.internal";
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.requests >= 1; }));
  EXPECT_EQ(upstream.seen().last_request,
            "GET /ready?probe=1 HTTP/1.1\r\nHost: health.internal\r\nConnection: close\r\n\r\n");
}

TEST_P(HealthCheckTest, DefaultHostIsTheUpstreamAddress) {
  CheckedUpstream upstream({200});
  ASSERT_TRUE(upstream.ok());
  CheckerRig rig(GetParam(), upstream.address(), quick(), &upstream);
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.requests >= 1; }));
  EXPECT_EQ(upstream.seen().last_request,
            "GET /health HTTP/1.1\r\nHost: " + upstream.host() + "\r\nConnection: close\r\n\r\n");
}

TEST_P(HealthCheckTest, TcpKindConnectsAndClosesWithoutSending) {
  CheckedUpstream upstream({200});
  ASSERT_TRUE(upstream.ok());
  auto options = quick(Kind::tcp);
  options.fall = 1;
  CheckerRig rig(GetParam(), upstream.address(), options, &upstream);
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.closed_by_peer >= 5; }));
  HealthCheckStats stats = rig.stats();
  rig.destroy();
  EXPECT_TRUE(rig.changes().empty());
  EXPECT_GE(stats.checks, 4u);
  EXPECT_EQ(stats.failures, 0u);
  EXPECT_EQ(upstream.seen().requests, 0);
}

TEST_P(HealthCheckTest, TcpKindFailsOnClosedPort) {
  auto options = quick(Kind::tcp);
  options.fall = 2;
  CheckerRig rig(GetParam(), InetAddress::loopback_v4(unused_port()), options);
  ASSERT_TRUE(rig.wait_changes(1));
  Change down = rig.changes().front();
  EXPECT_FALSE(down.healthy);
  EXPECT_EQ(down.stats.checks, 2u);
  EXPECT_EQ(down.stats.last_error, "connection refused");
}

TEST_P(HealthCheckTest, TcpKindTimesOutWhenTheConnectHangs) {
  FullListener listener;
  ASSERT_TRUE(listener.ok());
  auto options = quick(Kind::tcp);
  options.timeout = 50ms;
  options.fall = 1;
  CheckerRig rig(GetParam(), listener.address(), options);
  ASSERT_TRUE(rig.wait_changes(1));
  EXPECT_FALSE(rig.changes().front().healthy);
  EXPECT_EQ(rig.changes().front().stats.last_error, "timed out after 50 ms");
}

TEST_P(HealthCheckTest, HttpKindTimesOutWhenTheConnectHangs) {
  FullListener listener;
  ASSERT_TRUE(listener.ok());
  auto options = quick();
  options.timeout = 50ms;
  options.fall = 1;
  CheckerRig rig(GetParam(), listener.address(), options);
  ASSERT_TRUE(rig.wait_changes(1));
  EXPECT_EQ(rig.changes().front().stats.last_error, "timed out after 50 ms");
}

// The request is out and unanswered: destroying the checker closes its connection, runs no
// callback and leaves nothing behind (ASan and LSan would say).
TEST_P(HealthCheckTest, DestroyWithRequestInFlight) {
  CheckedUpstream upstream({0});
  ASSERT_TRUE(upstream.ok());
  CheckerRig rig(GetParam(), upstream.address(), quick(), &upstream);
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.requests == 1; }));
  rig.destroy();
  ASSERT_TRUE(upstream.wait_for([](const Seen& s) { return s.closed_by_peer == 1; }));
  rig.turn_for(50ms);  // five intervals: no check may start on the freed checker
  EXPECT_TRUE(rig.changes().empty());
  EXPECT_EQ(upstream.seen().accepted, 1);
}

// The connect is in flight (it never completes here) when the checker goes.
TEST_P(HealthCheckTest, DestroyWithConnectInFlight) {
  FullListener listener;
  ASSERT_TRUE(listener.ok());
  for (Kind kind : {Kind::http, Kind::tcp}) {
    CheckerRig rig(GetParam(), listener.address(), quick(kind));
    ASSERT_TRUE(wait_until([&] { return rig.checking(); }, kBound));
    rig.destroy();
    rig.turn_for(50ms);
    EXPECT_TRUE(rig.changes().empty());
  }
}

// Made and destroyed in one turn of the loop, before its first check started: the scheduled
// check must not run on the freed checker (ASan would report it).
TEST_P(HealthCheckTest, DestroyBeforeTheFirstCheck) {
  CheckedUpstream upstream({200});
  ASSERT_TRUE(upstream.ok());
  LoopThread thread(GetParam(), [](EventLoop&) {});
  int callbacks = 0;
  thread.call([&](EventLoop& loop) {
    HealthChecker checker(loop, upstream.address(), quick(), [&](bool) { ++callbacks; });
  });
  run_timers_for(thread, 50ms);  // five intervals: the first check must not start
  EXPECT_EQ(callbacks, 0);
  EXPECT_EQ(upstream.seen().accepted, 0);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, HealthCheckTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
