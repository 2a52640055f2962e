// The echo peers of `make bench` (bench/peers/: libevent, libuv tuned and
// naive, standalone Asio) as black boxes: each runs as a child process and must
// echo every byte, in order, over several connections at once; stop reading
// while its echo is not read (backpressure); echo the rest to a client that
// half-closes; and exit 0 on SIGTERM and SIGINT. A peer that fails here would
// make `make bench` compare tern with a broken server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "child_process.h"
#include "test_support.h"

#if !defined(TERN_LIBEVENT_ECHO_PATH) || !defined(TERN_LIBUV_ECHO_PATH) || \
    !defined(TERN_ASIO_ECHO_PATH)
#error "the peers' paths must be defined (tests/CMakeLists.txt)"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using tern::test::ChildProcess;
using tern::test::Pattern;

constexpr auto kStartTimeout = 10s;
constexpr auto kExitTimeout = 15s;
constexpr auto kTransferTimeout = 60s;  // a bound, not an expectation: transfers take < 1 s
// A client that writes without reading concludes that the peer stopped reading
// when its socket has stayed full this long. A peer that keeps reading empties
// it within microseconds; a slow machine can only make a peer without
// backpressure look like one with it, never fail a good peer.
constexpr int kStallMs = 1000;
// More than every socket buffer on the path can hold (tcp_rmem/tcp_wmem maxima,
// both ends): a client that writes this much without reading has met a peer
// that buffers without bound.
constexpr size_t kUnboundedBytes = 256u << 20;

struct Peer {
  const char *name;  // the test row
  const char *path;
  std::vector<std::string> args;
};

void PrintTo(const Peer &peer, std::ostream *out) { *out << peer.name; }

std::string peer_name(const testing::TestParamInfo<Peer> &info) { return info.param.name; }

std::string program_name(const std::string &path) { return path.substr(path.rfind('/') + 1); }

// One client connection with its own byte stream (Pattern, indexed by the
// connection).
class Stream {
 public:
  Stream(int fd, size_t index, size_t size) : fd_(fd), index_(index), size_(size) {}
  Stream(Stream &&other) noexcept { *this = std::move(other); }
  Stream &operator=(Stream &&other) noexcept {
    std::swap(fd_, other.fd_);
    index_ = other.index_;
    size_ = other.size_;
    sent_ = other.sent_;
    received_ = other.received_;
    mismatch_at_ = other.mismatch_at_;
    return *this;
  }
  ~Stream() {
    if (fd_ >= 0) ::close(fd_);
  }

  int fd() const { return fd_; }
  size_t sent() const { return sent_; }
  size_t received() const { return received_; }
  bool sending() const { return sent_ < size_; }
  bool receiving() const { return received_ < size_; }
  // Offset of the first echoed byte that differs from what was sent, or
  // SIZE_MAX.
  size_t mismatch_at() const { return mismatch_at_; }
  void set_size(size_t size) { size_ = size; }

  // Sends up to `chunk` more bytes; false on a socket error other than EAGAIN.
  bool send_some(size_t chunk) {
    chunk = std::min(chunk, size_ - sent_);
    std::vector<std::byte> bytes(chunk);
    Pattern::get().fill(index_, sent_, bytes);
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) sent_ += static_cast<size_t>(n);
    return n >= 0 || errno == EAGAIN || errno == EINTR;
  }
  // Reads what is there and checks it; false on EOF or an error other than
  // EAGAIN.
  bool receive_some() {
    std::vector<std::byte> bytes(256 * 1024);
    ssize_t n = ::recv(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (n == 0) return false;
    if (mismatch_at_ == SIZE_MAX) {
      std::vector<std::byte> expected(static_cast<size_t>(n));
      Pattern::get().fill(index_, received_, expected);
      auto [at, _] = std::mismatch(expected.begin(), expected.end(), bytes.begin());
      if (at != expected.end())
        mismatch_at_ = received_ + static_cast<size_t>(at - expected.begin());
    }
    received_ += static_cast<size_t>(n);
    return true;
  }

 private:
  int fd_ = -1;
  size_t index_ = 0;
  size_t size_ = 0;
  size_t sent_ = 0;
  size_t received_ = 0;
  size_t mismatch_at_ = SIZE_MAX;
};

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp<long long>(left.count(), 0, 1000 * 1000));
}

// Writes and reads every stream at once (random write sizes, so the peer sees
// reads split and merged anywhere) until each has got its echo back or the
// deadline passes; false then.
bool run_duplex(std::vector<Stream> &streams, Clock::time_point deadline, std::string &why) {
  std::mt19937 random(20261130);
  std::uniform_int_distribution<size_t> chunk(1, 96 * 1024);
  for (;;) {
    std::vector<pollfd> polls;
    std::vector<Stream *> owners;
    for (auto &stream : streams) {
      short events = (stream.sending() ? POLLOUT : 0) | (stream.receiving() ? POLLIN : 0);
      if (events == 0) continue;
      polls.push_back({stream.fd(), events, 0});
      owners.push_back(&stream);
    }
    if (polls.empty()) return true;
    if (Clock::now() >= deadline) {
      why = "the echo did not complete in time";
      return false;
    }
    if (::poll(polls.data(), polls.size(), remaining_ms(deadline)) < 0 && errno != EINTR) {
      why = std::string("poll: ") + std::strerror(errno);
      return false;
    }
    for (size_t i = 0; i < polls.size(); ++i) {
      Stream &stream = *owners[i];
      if ((polls[i].revents & (POLLIN | POLLHUP | POLLERR)) && stream.receiving() &&
          !stream.receive_some()) {
        why = "a connection closed after " + std::to_string(stream.received()) + " bytes";
        return false;
      }
      if ((polls[i].revents & POLLOUT) && !stream.send_some(chunk(random))) {
        why = std::string("send: ") + std::strerror(errno);
        return false;
      }
    }
  }
}

class BenchPeersTest : public testing::TestWithParam<Peer> {
 protected:
  // Starts the peer on a port of the kernel's choice and reads the port from
  // its line.
  void SetUp() override {
    std::vector<std::string> args = GetParam().args;
    args.insert(args.end(), {"--host", "127.0.0.1", "--port", "0"});
    std::string error;
    ASSERT_TRUE(peer_.spawn(GetParam().path, args, error)) << error;
    auto line = peer_.read_stdout_line(kStartTimeout);
    ASSERT_TRUE(line) << GetParam().path << " printed no line; stderr: " << peer_.stderr_text();
    std::string prefix = program_name(GetParam().path) + ": listening on 127.0.0.1:";
    ASSERT_EQ(line->rfind(prefix, 0), 0u) << *line;
    int port = std::atoi(line->c_str() + prefix.size());
    ASSERT_GT(port, 0) << *line;
    port_ = static_cast<uint16_t>(port);
  }

  std::vector<Stream> connect_streams(size_t count, size_t size) {
    std::vector<Stream> streams;
    for (size_t i = 0; i < count; ++i) {
      int fd = connect_to(port_);
      EXPECT_GE(fd, 0) << "connect: " << std::strerror(errno);
      if (fd < 0) break;
      streams.emplace_back(fd, i, size);
    }
    return streams;
  }

  // Reads until the peer closes: all that `stream` sent must have come back, in
  // order.
  void expect_echo_then_close(Stream &stream) {
    auto deadline = Clock::now() + kTransferTimeout;
    bool open = true;
    while (open && Clock::now() < deadline) {
      pollfd p{stream.fd(), POLLIN, 0};
      ASSERT_GE(::poll(&p, 1, remaining_ms(deadline)), 0) << std::strerror(errno);
      open = stream.receive_some();
    }
    EXPECT_FALSE(open) << "the peer did not close after the echo";
    EXPECT_EQ(stream.received(), stream.sent());
    EXPECT_EQ(stream.mismatch_at(), SIZE_MAX)
        << "the echo differs from byte " << stream.mismatch_at();
  }

  void expect_exit_zero_on(int signo) {
    ASSERT_TRUE(peer_.send_signal(signo));
    auto status = peer_.wait(kExitTimeout);
    EXPECT_TRUE(status.exited_with(0)) << "after signal " << signo << ": " << status.describe()
                                       << "; stderr: " << peer_.stderr_text();
  }

  ChildProcess peer_;
  uint16_t port_ = 0;
};

TEST_P(BenchPeersTest, EchoesRandomBytesOverSeveralConnectionsInOrder) {
  constexpr size_t kConnections = 8;
  constexpr size_t kBytes = (1u << 20) + 12345;
  auto streams = connect_streams(kConnections, kBytes);
  ASSERT_EQ(streams.size(), kConnections);
  std::string why;
  ASSERT_TRUE(run_duplex(streams, Clock::now() + kTransferTimeout, why)) << why;
  for (size_t i = 0; i < streams.size(); ++i) {
    EXPECT_EQ(streams[i].received(), kBytes) << "connection " << i;
    EXPECT_EQ(streams[i].mismatch_at(), SIZE_MAX)
        << "connection " << i << ": the echo differs from byte " << streams[i].mismatch_at();
  }
  expect_exit_zero_on(SIGTERM);
}

// The client writes and never reads: once the socket buffers on the way are
// full, the peer must stop reading (and so stop buffering) instead of queueing
// the echo without bound. Then the client half-closes and reads: every byte
// must come back, in order, then the peer's FIN (the peer meets the EOF while
// its echo is still queued).
TEST_P(BenchPeersTest, StopsReadingWhileItsEchoIsNotReadThenEchoesItAll) {
  auto streams = connect_streams(1, kUnboundedBytes);
  ASSERT_EQ(streams.size(), 1u);
  Stream &stream = streams[0];
  bool stalled = false;
  while (stream.sending() && !stalled) {
    pollfd p{stream.fd(), POLLOUT, 0};
    int ready = ::poll(&p, 1, kStallMs);
    ASSERT_GE(ready, 0) << std::strerror(errno);
    stalled = ready == 0;
    if (!stalled) {
      ASSERT_TRUE(stream.send_some(256 * 1024)) << std::strerror(errno);
    }
  }
  ASSERT_TRUE(stalled) << "the peer read all " << stream.sent()
                       << " bytes without its echo being read: it buffers without bound";
  ASSERT_EQ(::shutdown(stream.fd(), SHUT_WR), 0) << std::strerror(errno);
  stream.set_size(stream.sent());
  expect_echo_then_close(stream);
  expect_exit_zero_on(SIGTERM);
}

// A client that half-closes gets the echo of everything it sent, then the
// peer's FIN.
TEST_P(BenchPeersTest, EchoesEverythingToAClientThatHalfCloses) {
  constexpr size_t kBytes = 300'000;
  auto streams = connect_streams(1, kBytes);
  ASSERT_EQ(streams.size(), 1u);
  Stream &stream = streams[0];
  auto deadline = Clock::now() + kTransferTimeout;
  while (stream.sending() && Clock::now() < deadline) {
    pollfd p{stream.fd(), POLLOUT, 0};
    ASSERT_GE(::poll(&p, 1, remaining_ms(deadline)), 0);
    ASSERT_TRUE(stream.send_some(kBytes));
  }
  ASSERT_EQ(::shutdown(stream.fd(), SHUT_WR), 0) << std::strerror(errno);
  expect_echo_then_close(stream);
  expect_exit_zero_on(SIGTERM);
}

TEST_P(BenchPeersTest, ExitsZeroOnSigtermWithConnectionsOpen) {
  auto streams = connect_streams(3, 1000);
  ASSERT_EQ(streams.size(), 3u);
  std::string why;
  ASSERT_TRUE(run_duplex(streams, Clock::now() + kTransferTimeout, why)) << why;  // all accepted
  expect_exit_zero_on(SIGTERM);
}

TEST_P(BenchPeersTest, ExitsZeroOnSigint) { expect_exit_zero_on(SIGINT); }

TEST(BenchPeersUsageTest, EveryPeerRejectsABadFlagWithExitStatusTwo) {
  for (const char *path : {TERN_LIBEVENT_ECHO_PATH, TERN_LIBUV_ECHO_PATH, TERN_ASIO_ECHO_PATH}) {
    auto result = tern::test::run_command(path, {"--port", "70000"}, kExitTimeout);
    EXPECT_TRUE(result.status.exited_with(2)) << path << ": " << result.status.describe();
    EXPECT_NE(result.err.find("--port"), std::string::npos) << path << ": " << result.err;
  }
}

INSTANTIATE_TEST_SUITE_P(Peers, BenchPeersTest,
                         testing::Values(Peer{"libevent", TERN_LIBEVENT_ECHO_PATH, {}},
                                         Peer{"libuv", TERN_LIBUV_ECHO_PATH, {}},
                                         Peer{"libuv_naive", TERN_LIBUV_ECHO_PATH, {"--naive"}},
                                         Peer{"asio", TERN_ASIO_ECHO_PATH, {}}),
                         peer_name);

}  // namespace
