// The conformance suite of the concurrency models: every test runs on every valid
// combination of model x pattern x backend (and both ways of balancing), in process, against
// real loopback sockets driven by an independent poll(2) client.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_support.h"
#include "tern/tern.h"

namespace tern {
namespace {

using namespace std::chrono_literals;

constexpr auto kLimit = 60s;  // liveness bound of every wait (a failure, not a measurement)

struct Config {
  Model model;
  Pattern pattern;
  BackendKind backend;
  int threads;
  int workers;
  Balancing balancing = Balancing::round_robin;
};

std::vector<Config> valid_matrix() {
  const std::vector<std::pair<Pattern, std::vector<BackendKind>>> patterns = {
      {Pattern::emulated,
       {BackendKind::select, BackendKind::poll, BackendKind::epoll, BackendKind::epoll_et,
        BackendKind::sigio}},
      {Pattern::proactor, {BackendKind::uring, BackendKind::aio}},
      {Pattern::reactor,
       {BackendKind::select, BackendKind::poll, BackendKind::epoll, BackendKind::uring}},
  };
  std::vector<Config> configs;
  for (const auto& [pattern, backends] : patterns) {
    for (BackendKind backend : backends) {
      configs.push_back({Model::single, pattern, backend, 1, 0});
      configs.push_back({Model::loops, pattern, backend, 2, 0});
      configs.push_back({Model::hsha, pattern, backend, 1, 2});
    }
  }
  configs.push_back({Model::loops, Pattern::emulated, BackendKind::epoll, 2, 0,
                     Balancing::reuse_port});
  configs.push_back({Model::loops, Pattern::proactor, BackendKind::uring, 2, 0,
                     Balancing::reuse_port});
  configs.push_back({Model::hsha, Pattern::reactor, BackendKind::epoll, 2, 3,
                     Balancing::round_robin});
  configs.push_back({Model::lf, Pattern::reactor, BackendKind::epoll, 1, 0});
  configs.push_back({Model::lf, Pattern::reactor, BackendKind::epoll, 3, 0});
  return configs;
}

std::string config_name(const testing::TestParamInfo<Config>& info) {
  const Config& c = info.param;
  std::string name = std::string(model_name(c.model)) + "_" + pattern_name(c.pattern) + "_" +
                     std::string(to_string(c.backend)) + "_t" + std::to_string(c.threads) +
                     "_w" + std::to_string(c.workers);
  if (c.balancing == Balancing::reuse_port) name += "_reuseport";
  for (char& ch : name) {
    if (ch == '-') ch = '_';
  }
  return name;
}

ServerOptions options_for(const Config& c, Framing framing = Framing::line) {
  ServerOptions options;
  options.address = InetAddress::loopback_v4(0);
  options.backend = c.backend;
  options.backend_options.strict = true;  // a fallback would test epoll twice
  options.model = c.model;
  options.pattern = c.pattern;
  options.threads = c.threads;
  options.workers = c.workers;
  options.balancing = c.balancing;
  options.codec = Codec(framing, 1 << 20);
  return options;
}

// A threads-safe latch that handlers block on until the test opens it.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // Until `n` handlers are blocked in wait(); false at the limit.
  bool wait_for_waiters(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kLimit, [&] { return waiting_ >= n; });
  }
  int waiting() {
    std::lock_guard lock(mutex_);
    return waiting_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = false;
  int waiting_ = 0;
};

// One client connection of the poll(2) driver.
struct ClientConn {
  int fd = -1;
  std::string to_send;
  size_t sent = 0;
  std::string received;
  size_t expect = 0;      // stop reading once this many bytes arrived (0: until EOF)
  bool eof = false;
  int error = 0;          // errno of a failed recv (ECONNRESET ...)
  bool done() const { return eof || error != 0 || (expect > 0 && received.size() >= expect); }
};

int connect_nonblocking(const InetAddress& address) {
  int fd = test::connect_blocking(address);
  if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Sends each connection's bytes while reading, until every connection is done or `limit`.
::testing::AssertionResult drive(std::vector<ClientConn>& conns, std::chrono::seconds limit = kLimit) {
  std::vector<pollfd> fds(conns.size());
  char buffer[65536];
  auto deadline = std::chrono::steady_clock::now() + limit;
  int passes = 0;
  for (;;) {
    size_t open = 0;
    for (size_t i = 0; i < conns.size(); ++i) {
      ClientConn& c = conns[i];
      fds[i] = pollfd{c.done() ? -1 : c.fd,
                      static_cast<short>(POLLIN | (c.sent < c.to_send.size() ? POLLOUT : 0)), 0};
      if (!c.done()) ++open;
    }
    if (open == 0) return ::testing::AssertionSuccess();
    // At least one pass, so a zero limit means "send and receive what can go now".
    if (passes++ > 0 && std::chrono::steady_clock::now() > deadline) {
      return ::testing::AssertionFailure() << open << " connections not done within the limit";
    }
    int n = ::poll(fds.data(), fds.size(), limit.count() == 0 ? 0 : 200);
    if (n < 0 && errno != EINTR) return ::testing::AssertionFailure() << "poll: " << strerror(errno);
    for (size_t i = 0; i < conns.size(); ++i) {
      ClientConn& c = conns[i];
      if (fds[i].revents & POLLOUT) {
        ssize_t w = ::send(c.fd, c.to_send.data() + c.sent, c.to_send.size() - c.sent,
                           MSG_NOSIGNAL);
        if (w > 0) c.sent += static_cast<size_t>(w);
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t r = ::recv(c.fd, buffer, sizeof buffer, 0);
        if (r > 0) {
          c.received.append(buffer, static_cast<size_t>(r));
        } else if (r == 0) {
          c.eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          c.error = errno;
        }
      }
    }
  }
}

void close_all(std::vector<ClientConn>& conns) {
  for (auto& c : conns) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
  }
}

std::string request_text(size_t conn, size_t i) {
  // Sizes vary from a few bytes to ~3 KiB so messages straddle reads.
  std::string body = "c" + std::to_string(conn) + "-r" + std::to_string(i) + ":";
  body.append((conn * 131 + i * 977) % 3000, static_cast<char>('a' + (i % 26)));
  return body;
}

std::string short_request(size_t conn, size_t i) {
  return "c" + std::to_string(conn) + "-r" + std::to_string(i);
}

std::string answer(std::string_view request) { return "ok " + std::string(request); }

class PatternsTest : public ::testing::TestWithParam<Config> {
 protected:
  // A row whose backend cannot run here is skipped with the reason (the rows are strict).
  void SetUp() override {
    const Config& config = GetParam();
    if (auto why = test::backend_unavailable(config.backend, options_for(config).backend_options)) {
      GTEST_SKIP() << *why;
    }
  }
  void TearDown() override {
    gate_.open();  // a failed test may have left handlers blocked
    if (server_) server_->shutdown(5s);
  }
  void start(Handler handler, ServerOptions options) {
    server_ = std::make_unique<Server>(options, std::move(handler));
    auto error = server_->start();
    ASSERT_FALSE(error) << error.message() << "\n" << server_->error_detail();
    ASSERT_EQ(server_->backend_in_use(), options.backend);
  }
  void start(Handler handler) { start(std::move(handler), options_for(GetParam())); }
  InetAddress address() const { return server_->local_address(); }

  // `connections` clients, each with `requests` lines (make_request(conn, i)) queued to send
  // at once, pipelined, and the answers each must get back, in order.
  ::testing::AssertionResult open_pipelined(size_t connections, size_t requests,
                                            std::string (*make_request)(size_t, size_t),
                                            std::vector<ClientConn>& conns,
                                            std::vector<std::string>& expected) {
    conns.assign(connections, ClientConn{});
    expected.assign(connections, std::string());
    for (size_t c = 0; c < connections; ++c) {
      conns[c].fd = connect_nonblocking(address());
      if (conns[c].fd < 0) {
        return ::testing::AssertionFailure() << "connect " << c << ": " << strerror(errno);
      }
      for (size_t i = 0; i < requests; ++i) {
        std::string request = make_request(c, i);
        conns[c].to_send += request + "\n";
        expected[c] += answer(request) + "\n";
      }
      conns[c].expect = expected[c].size();
    }
    return ::testing::AssertionSuccess();
  }

  // How many handlers can block before new connections stop being served: the workers
  // (hsha), the loops or lf threads (handlers run there), one for single.
  int handler_slots() const {
    const Config& c = GetParam();
    return c.model == Model::hsha ? c.workers : c.threads;
  }

  Gate gate_;  // declared first: handlers may wait on it until the server is shut down
  std::unique_ptr<Server> server_;
};

// 500 connections, each pipelining 20 requests of mixed sizes in one go: every response is
// the handler's answer to its request, in request order, per connection.
TEST_P(PatternsTest, PipelinedRequestsAnsweredInOrder) {
  start(Handler::sync(answer));
  constexpr size_t kConnections = 500;
  constexpr size_t kRequests = 20;
  std::vector<ClientConn> conns;
  std::vector<std::string> expected;
  ASSERT_TRUE(open_pipelined(kConnections, kRequests, request_text, conns, expected));
  EXPECT_TRUE(drive(conns));
  size_t correct = 0;
  for (size_t c = 0; c < kConnections; ++c) {
    if (conns[c].received == expected[c]) {
      ++correct;
    } else if (correct + 1 == c + 1) {
      ADD_FAILURE() << "connection " << c << " got " << conns[c].received.size() << " of "
                    << expected[c].size() << " bytes; first difference at "
                    << std::mismatch(expected[c].begin(), expected[c].end(),
                                     conns[c].received.begin(), conns[c].received.end())
                               .first - expected[c].begin();
    }
  }
  EXPECT_EQ(correct, kConnections);
  close_all(conns);
}

// An asynchronous handler that answers from another thread, in reverse order of arrival in
// batches: the responses still go out in request order.
TEST_P(PatternsTest, AsyncRepliesFromAnotherThreadKeepOrder) {
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<std::pair<std::string, Reply>> pending;
  bool stop = false;
  std::thread replier([&] {
    std::unique_lock lock(mutex);
    while (!stop) {
      arrived.wait_for(lock, 2ms);
      auto batch = std::move(pending);
      pending.clear();
      lock.unlock();
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) it->second.send(answer(it->first));
      lock.lock();
    }
  });
  start(Handler::async([&](Request request, Reply reply) {
    std::lock_guard lock(mutex);
    pending.emplace_back(std::string(request), std::move(reply));
    arrived.notify_one();
  }));
  constexpr size_t kConnections = 50;
  constexpr size_t kRequests = 40;
  std::vector<ClientConn> conns;
  std::vector<std::string> expected;
  ASSERT_TRUE(open_pipelined(kConnections, kRequests, short_request, conns, expected));
  EXPECT_TRUE(drive(conns));
  for (size_t c = 0; c < kConnections; ++c) EXPECT_EQ(conns[c].received, expected[c]) << c;
  close_all(conns);
  server_->shutdown(5s);
  {
    std::lock_guard lock(mutex);
    stop = true;
  }
  replier.join();
}

// Messages with every byte value (length-prefixed framing), split across writes.
TEST_P(PatternsTest, LengthPrefixedBinaryMessages) {
  start(Handler::sync([](Request r) { return Response(r.rbegin(), r.rend()); }),
        options_for(GetParam(), Framing::length_prefixed));
  Codec codec(Framing::length_prefixed);
  constexpr size_t kConnections = 10;
  constexpr size_t kMaxMessage = 70000;  // larger than a read, so messages arrive in pieces
  // Each message is a slice of `bytes` (every byte value), its echo the matching slice of the
  // reversed copy: copied whole, not built byte by byte, which under ThreadSanitizer at -O0
  // took most of this test's 94 s.
  std::string bytes(kMaxMessage + 256, '\0');
  for (size_t b = 0; b < bytes.size(); ++b) bytes[b] = static_cast<char>((b * 31) & 0xff);
  const std::string reversed(bytes.rbegin(), bytes.rend());
  std::vector<ClientConn> conns(kConnections);
  std::vector<std::string> expected(kConnections);
  for (size_t c = 0; c < kConnections; ++c) {
    conns[c].fd = connect_nonblocking(address());
    ASSERT_GE(conns[c].fd, 0);
    for (size_t i = 0; i < 16; ++i) {
      size_t size = (c * 7919 + i * 104729) % kMaxMessage;  // 0 to 70 KB
      size_t offset = (c * 16 + i) % 256;
      std::string_view message = std::string_view(bytes).substr(offset, size);
      codec.encode(message, conns[c].to_send);
      codec.encode(std::string_view(reversed).substr(bytes.size() - offset - size, size),
                   expected[c]);
    }
    conns[c].expect = expected[c].size();
  }
  EXPECT_TRUE(drive(conns));
  for (size_t c = 0; c < kConnections; ++c) EXPECT_TRUE(conns[c].received == expected[c]) << c;
  close_all(conns);
}

// Handlers that block hold up only their own slot: with all slots but one blocked, a new
// connection is still answered. (With every slot blocked nothing can be: that is the
// difference between the models, measured by make bench-patterns.)
TEST_P(PatternsTest, SlowHandlerDoesNotDelayOthersBeyondTheSlots) {
  const Config& config = GetParam();
  if (config.balancing == Balancing::reuse_port) {
    GTEST_SKIP() << "reuse-port: the kernel's hash may put the fast client on the blocked loop";
  }
  Gate& gate = gate_;
  start(Handler::sync([&gate](Request request) {
    if (request == "slow") gate.wait();
    return answer(request);
  }));
  // Round-robin over the loops from loop 0, which also accepts for all (a handler blocking it
  // stops accepting: docs/patterns.md): an idle first connection takes loop 0, and the slow
  // ones loops 1..slots-1.
  const int blocked = handler_slots() - 1;
  std::vector<ClientConn> idle(1);
  idle[0].fd = connect_nonblocking(address());
  ASSERT_GE(idle[0].fd, 0);
  idle[0].to_send = "hello\n";
  idle[0].expect = answer("hello").size() + 1;
  ASSERT_TRUE(drive(idle));
  std::vector<ClientConn> slow(static_cast<size_t>(blocked));
  for (auto& c : slow) {
    c.fd = connect_nonblocking(address());
    ASSERT_GE(c.fd, 0);
    ASSERT_EQ(::send(c.fd, "slow\n", 5, MSG_NOSIGNAL), 5);
    // One at a time, so each lands in its own slot before the next connects.
    ASSERT_TRUE(gate.wait_for_waiters(static_cast<int>(&c - slow.data()) + 1));
  }
  std::vector<ClientConn> fast(1);
  fast[0].fd = connect_nonblocking(address());
  ASSERT_GE(fast[0].fd, 0);
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    std::string request = "fast-" + std::to_string(i);
    fast[0].to_send += request + "\n";
    expected += answer(request) + "\n";
  }
  fast[0].expect = expected.size();
  EXPECT_TRUE(drive(fast));
  EXPECT_EQ(fast[0].received, expected);
  EXPECT_EQ(gate.waiting(), blocked) << "the slow handlers were still blocked meanwhile";
  gate.open();
  for (auto& c : slow) c.expect = answer("slow").size() + 1;
  EXPECT_TRUE(drive(slow));
  for (auto& c : slow) EXPECT_EQ(c.received, answer("slow") + "\n");
  close_all(slow);
  close_all(fast);
  close_all(idle);
}

// hsha: with the workers blocked, a small queue fills; the I/O side stops reading instead of
// buffering (pushbacks counted), and once the workers run again every request is answered,
// in order.
TEST_P(PatternsTest, FullQueuePushesBackAndRecovers) {
  const Config& config = GetParam();
  if (config.model != Model::hsha) GTEST_SKIP() << "the request queue is hsha's";
  Gate& gate = gate_;
  ServerOptions options = options_for(config);
  options.queue_capacity = 8;
  std::atomic<int> started{0};
  start(Handler::sync([&](Request request) {
          ++started;
          gate.wait();
          return answer(request);
        }),
        options);
  constexpr size_t kConnections = 20;
  constexpr size_t kRequests = 200;
  std::vector<ClientConn> conns;
  std::vector<std::string> expected;
  ASSERT_TRUE(open_pipelined(kConnections, kRequests, short_request, conns, expected));
  // Send while the workers are blocked, until they are all busy and the queue has pushed back.
  auto deadline = std::chrono::steady_clock::now() + kLimit;
  while ((server_->stats().pushbacks == 0 || gate.waiting() < config.workers) &&
         std::chrono::steady_clock::now() < deadline) {
    drive(conns, std::chrono::seconds(0));
    // Paces this bounded send loop only: what it waits for (the server's counters) offers
    // nothing to block on, and the loop condition, not the pause, decides when it ends.
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_GT(server_->stats().pushbacks, 0u);
  // Bounded: the handlers started no more requests than there are workers.
  EXPECT_EQ(started.load(), config.workers);
  gate.open();
  EXPECT_TRUE(drive(conns));
  for (size_t c = 0; c < kConnections; ++c) EXPECT_EQ(conns[c].received, expected[c]) << c;
  EXPECT_EQ(started.load(), static_cast<int>(kConnections * kRequests));
  close_all(conns);
}

// Shutdown while a handler is running: the request in the handler is answered, every
// connection ends with a clean EOF (no reset) after an in-order prefix of its answers, and
// shutdown() returns with every thread joined once the clients have closed.
TEST_P(PatternsTest, ShutdownWithRequestsInFlight) {
  Gate& gate = gate_;
  start(Handler::sync([&gate](Request request) {
    if (request == "slow") gate.wait();
    return answer(request);
  }));
  constexpr size_t kConnections = 10;
  std::vector<ClientConn> conns(kConnections);
  std::vector<std::string> expected(kConnections);
  // Every connection accepted and served once, so none is still in the listen backlog (those
  // the kernel resets when the listener closes).
  for (size_t c = 0; c < kConnections; ++c) {
    conns[c].fd = connect_nonblocking(address());
    ASSERT_GE(conns[c].fd, 0);
    conns[c].to_send = "hello\n";
    expected[c] = answer("hello") + "\n";
    conns[c].expect = expected[c].size();
  }
  ASSERT_TRUE(drive(conns));
  conns[0].to_send += "slow\n";
  expected[0] += answer("slow") + "\n";
  for (size_t c = 1; c < kConnections; ++c) {
    for (int i = 0; i < 5; ++i) {
      std::string request = "c" + std::to_string(c) + "-r" + std::to_string(i);
      conns[c].to_send += request + "\n";
      expected[c] += answer(request) + "\n";
    }
  }
  for (auto& c : conns) c.expect = 0;  // now: until EOF
  drive(conns, std::chrono::seconds(0));
  ASSERT_TRUE(gate.wait_for_waiters(1));
  drive(conns, std::chrono::seconds(0));  // the rest goes out before the shutdown starts
  std::promise<pid_t> stopper_thread;
  std::thread stopper([&] {
    stopper_thread.set_value(::gettid());
    server_->shutdown(30s);
  });
  // Let the handler finish only once the shutdown has begun: it must still be answered. Begun:
  // the stopper is asleep inside shutdown(), waiting for the drain the blocked handler holds up.
  EXPECT_TRUE(test::wait_until_sleeping(stopper_thread.get_future().get()))
      << "shutdown() never blocked waiting for the drain";
  gate.open();
  EXPECT_TRUE(drive(conns));  // until EOF on every connection
  close_all(conns);           // as a client does: the server's lingering close ends here
  stopper.join();
  for (size_t c = 0; c < kConnections; ++c) {
    EXPECT_EQ(conns[c].error, 0) << c << ": " << strerror(conns[c].error);
    EXPECT_TRUE(conns[c].eof) << c;
    EXPECT_EQ(expected[c].compare(0, conns[c].received.size(), conns[c].received), 0)
        << c << ": not a prefix of the answers: '" << conns[c].received << "'";
  }
  EXPECT_EQ(conns[0].received, expected[0]) << "the request in the handler was not answered";
}

// A handler that drops its Reply: the answers before it go out, then the connection closes;
// the server keeps serving others.
TEST_P(PatternsTest, DroppedReplyClosesOnlyThatConnection) {
  start(Handler::async([](Request request, Reply reply) {
    if (request != "drop") reply.send(answer(request));
  }));
  std::vector<ClientConn> conns(2);
  for (auto& c : conns) {
    c.fd = connect_nonblocking(address());
    ASSERT_GE(c.fd, 0);
  }
  conns[0].to_send = "a\ndrop\nb\n";
  conns[1].to_send = "x\ny\n";
  conns[1].expect = answer("x").size() + answer("y").size() + 2;
  EXPECT_TRUE(drive(conns));
  EXPECT_EQ(conns[0].received, answer("a") + "\n");
  EXPECT_TRUE(conns[0].eof || conns[0].error != 0);
  EXPECT_EQ(conns[1].received, answer("x") + "\n" + answer("y") + "\n");
  close_all(conns);
}

// The per-loop hooks: on_loop_start runs once on each loop's own thread before it serves (so
// handlers that run on the loop find what it built there), on_loop_stop on the same thread
// after it stopped. lf has no loops and refuses them.
thread_local EventLoop* hooked_loop = nullptr;

TEST_P(PatternsTest, LoopHooksRunOnEachLoopsThread) {
  const Config& config = GetParam();
  ServerOptions options = options_for(config);
  std::mutex mutex;
  std::vector<size_t> started, stopped;
  int wrong_thread = 0;
  options.on_loop_start = [&](size_t index, EventLoop& loop) {
    std::lock_guard lock(mutex);
    if (!loop.in_loop_thread() || hooked_loop != nullptr) ++wrong_thread;
    hooked_loop = &loop;
    started.push_back(index);
    return std::error_code{};
  };
  options.on_loop_stop = [&](size_t index, EventLoop& loop) {
    std::lock_guard lock(mutex);
    if (!loop.in_loop_thread() || hooked_loop != &loop) ++wrong_thread;
    hooked_loop = nullptr;
    stopped.push_back(index);
  };
  Handler handler = Handler::sync([](std::string_view request) {
    return std::string(request) + (hooked_loop != nullptr ? " on a loop" : " on a worker");
  });
  if (config.model == Model::lf) {
    Server server(options, handler);
    EXPECT_EQ(server.start(), make_error_code(errc::invalid_argument));
    EXPECT_NE(server.error_detail().find("per-loop"), std::string::npos) << server.error_detail();
    return;
  }
  start(handler, options);
  std::vector<ClientConn> conns(1);
  conns[0].fd = connect_nonblocking(address());
  ASSERT_GE(conns[0].fd, 0);
  conns[0].to_send = "hello\n";
  std::string expected = config.model == Model::hsha ? "hello on a worker\n" : "hello on a loop\n";
  conns[0].expect = expected.size();
  EXPECT_TRUE(drive(conns));
  EXPECT_EQ(conns[0].received, expected);
  close_all(conns);
  server_->shutdown(5s);
  std::lock_guard lock(mutex);
  std::sort(started.begin(), started.end());
  std::sort(stopped.begin(), stopped.end());
  std::vector<size_t> all(static_cast<size_t>(config.threads));
  std::iota(all.begin(), all.end(), size_t{0});
  EXPECT_EQ(started, all);
  EXPECT_EQ(stopped, all);
  EXPECT_EQ(wrong_thread, 0);
}

// A line longer than the codec's limit closes that connection, and only that one.
TEST_P(PatternsTest, OversizedMessageClosesTheConnection) {
  ServerOptions options = options_for(GetParam());
  options.codec = Codec(Framing::line, 1024);
  start(Handler::sync(answer), options);
  std::vector<ClientConn> conns(2);
  for (auto& c : conns) {
    c.fd = connect_nonblocking(address());
    ASSERT_GE(c.fd, 0);
  }
  conns[0].to_send = "short\n" + std::string(4096, 'x');
  conns[1].to_send = "fine\n";
  conns[1].expect = answer("fine").size() + 1;
  EXPECT_TRUE(drive(conns));
  EXPECT_EQ(conns[0].received, answer("short") + "\n");
  EXPECT_TRUE(conns[0].eof || conns[0].error != 0);
  EXPECT_EQ(conns[1].received, answer("fine") + "\n");
  close_all(conns);
}

// Connections waiting, accepted by the kernel but not yet by the server, in the backlogs of the
// listeners on 127.0.0.1:`port` (every SO_REUSEPORT listener counted): /proc/net/tcp gives a
// listening socket's accept queue length as its rx_queue. -1 when no listener is found.
int listen_backlog(uint16_t port) {
  FILE* file = std::fopen("/proc/net/tcp", "r");
  if (file == nullptr) return -1;
  char line[512];
  int backlog = -1;
  while (std::fgets(line, sizeof line, file) != nullptr) {
    unsigned ip = 0, local_port = 0, state = 0, tx = 0, rx = 0;
    if (std::sscanf(line, " %*d: %x:%x %*x:%*x %x %x:%x", &ip, &local_port, &state, &tx, &rx) != 5) {
      continue;
    }
    constexpr unsigned kListen = 0x0A;
    if (state != kListen || local_port != port) continue;
    backlog = std::max(backlog, 0) + static_cast<int>(rx);
  }
  std::fclose(file);
  return backlog;
}

// Until `count` connections wait in the listeners' backlog, or `client` receives something
// (which a limited server must not send it), or the limit. Each round polls the client's socket
// for up to 10 ms: what it waits for is the client's bytes, and /proc is read between rounds.
::testing::AssertionResult wait_in_backlog(uint16_t port, int count, int client) {
  auto deadline = std::chrono::steady_clock::now() + kLimit;
  int backlog = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    backlog = listen_backlog(port);
    if (backlog == count) return ::testing::AssertionSuccess();
    pollfd p{client, POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) {
      return ::testing::AssertionFailure() << "the client waiting for a slot was answered";
    }
  }
  return ::testing::AssertionFailure() << "backlog " << backlog << ", expected " << count;
}

// Nothing has arrived on `fd` yet (and it is not closed): a non-blocking read finds no data.
bool nothing_received(int fd) {
  char byte;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
}

// max_connections = 2: two clients are served; a third completes its handshake (the kernel's
// backlog) but is not accepted, so its request goes unanswered while the two keep working;
// when one of them closes, the third is accepted and answered.
TEST_P(PatternsTest, ConnectionLimitLeavesNewClientsInTheBacklog) {
  ServerOptions options = options_for(GetParam());
  options.max_connections = 2;
  start(Handler::sync(answer), options);
  std::vector<ClientConn> served(2);
  for (size_t c = 0; c < served.size(); ++c) {
    served[c].fd = connect_nonblocking(address());
    ASSERT_GE(served[c].fd, 0);
    served[c].to_send = short_request(c, 0) + "\n";
    served[c].expect = answer(short_request(c, 0)).size() + 1;
  }
  ASSERT_TRUE(drive(served));
  std::vector<ClientConn> waiting(1);
  waiting[0].fd = connect_nonblocking(address());  // returns once the kernel has queued it
  ASSERT_GE(waiting[0].fd, 0);
  ASSERT_EQ(::send(waiting[0].fd, "third\n", 6, MSG_NOSIGNAL), 6);
  waiting[0].expect = answer("third").size() + 1;
  ASSERT_TRUE(wait_in_backlog(address().port(), 1, waiting[0].fd));
  // The two served ones keep working meanwhile.
  for (size_t c = 0; c < served.size(); ++c) {
    served[c].to_send += short_request(c, 1) + "\n";
    served[c].expect += answer(short_request(c, 1)).size() + 1;
  }
  ASSERT_TRUE(drive(served));
  for (size_t c = 0; c < served.size(); ++c) {
    EXPECT_EQ(served[c].received, answer(short_request(c, 0)) + "\n" +
                                      answer(short_request(c, 1)) + "\n");
  }
  // Still queued in the kernel, never accepted (so neither answered nor closed).
  EXPECT_EQ(listen_backlog(address().port()), 1);
  EXPECT_TRUE(nothing_received(waiting[0].fd));
  ServerStats stats = server_->stats();
  EXPECT_EQ(stats.accepted, 2u);
  EXPECT_EQ(stats.open_connections, 2u);
  EXPECT_GE(stats.accept_pauses, 1u);
  // A slot frees: the waiting client is accepted and answered.
  ::close(served[0].fd);
  served[0].fd = -1;
  EXPECT_TRUE(drive(waiting));
  EXPECT_EQ(waiting[0].received, answer("third") + "\n");
  EXPECT_EQ(server_->stats().accepted, 3u);
  close_all(served);
  close_all(waiting);
}

// Churn under max_connections = 1: 50 clients in turn, each connecting while the one before is
// still open (so each waits in the backlog), answered once the one before closes.
TEST_P(PatternsTest, ConnectionLimitHoldsUnderChurn) {
  ServerOptions options = options_for(GetParam());
  options.max_connections = 1;
  start(Handler::sync(answer), options);
  constexpr size_t kClients = 50;
  std::vector<ClientConn> previous;
  for (size_t i = 0; i < kClients; ++i) {
    std::vector<ClientConn> next(1);
    next[0].fd = connect_nonblocking(address());
    ASSERT_GE(next[0].fd, 0) << i;
    std::string request = short_request(i, 0) + "\n";
    ASSERT_EQ(::send(next[0].fd, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
    next[0].expect = answer(short_request(i, 0)).size() + 1;
    // The ones before were all accepted (each was answered); this one waits while the one
    // before holds the slot (the first finds it free and may already be in).
    if (i > 0) {
      EXPECT_EQ(server_->stats().accepted, i) << "accepted past the limit";
    }
    EXPECT_LE(server_->stats().open_connections, 1u);
    close_all(previous);  // frees the slot the next one waits for
    ASSERT_TRUE(drive(next)) << i;
    EXPECT_EQ(next[0].received, answer(short_request(i, 0)) + "\n") << i;
    previous = std::move(next);
  }
  close_all(previous);
  EXPECT_EQ(server_->stats().accepted, kClients);
}

INSTANTIATE_TEST_SUITE_P(Matrix, PatternsTest, ::testing::ValuesIn(valid_matrix()), config_name);

TEST(ServerOptionsTest, InvalidCombinationsAreRefusedWithTheValidOnes) {
  auto refused = [](auto change) {
    ServerOptions options;
    change(options);
    return check_options(options);
  };
  std::string why = refused([](ServerOptions& o) {
    o.model = Model::lf;
    o.backend = BackendKind::uring;
  });
  EXPECT_NE(why.find("leader/followers"), std::string::npos) << why;
  EXPECT_NE(why.find("valid combinations"), std::string::npos) << why;
  EXPECT_NE(refused([](ServerOptions& o) { o.pattern = Pattern::proactor; }), "");  // epoll
  EXPECT_NE(refused([](ServerOptions& o) {
              o.backend = BackendKind::uring;
              o.pattern = Pattern::emulated;
            }),
            "");
  EXPECT_NE(refused([](ServerOptions& o) { o.threads = 2; }), "");        // single
  EXPECT_NE(refused([](ServerOptions& o) { o.model = Model::hsha; }), "");  // no workers
  EXPECT_NE(refused([](ServerOptions& o) {
              o.model = Model::loops;
              o.workers = 2;
            }),
            "");
  for (BackendKind edge : {BackendKind::sigio, BackendKind::epoll_et}) {
    EXPECT_NE(refused([edge](ServerOptions& o) {
                o.backend = edge;
                o.pattern = Pattern::reactor;
              }),
              "");
  }
  EXPECT_EQ(refused([](ServerOptions&) {}), "");
  for (const Config& c : valid_matrix()) {
    EXPECT_EQ(check_options(options_for(c)), "") << model_name(c.model);
  }
  Server server(ServerOptions{.model = Model::hsha}, Handler::sync(answer));
  EXPECT_EQ(server.start(), make_error_code(errc::invalid_argument));
  EXPECT_NE(server.error_detail().find("--workers"), std::string::npos) << server.error_detail();
}

TEST(ServerTest, BindFailureIsReported) {
  ServerOptions options;
  Server first(options, Handler::sync(answer));
  ASSERT_FALSE(first.start());
  options.address = first.local_address();
  for (Model model : {Model::single, Model::lf}) {
    options.model = model;
    Server second(options, Handler::sync(answer));
    EXPECT_EQ(second.start(), std::errc::address_in_use) << model_name(model);
  }
}

}  // namespace
}  // namespace tern
