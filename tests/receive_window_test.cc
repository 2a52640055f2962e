// A connection receives no further ahead of its reader than the window it was given
// (TcpConnection::set_receive_window): a peer that sends and never reads the echo leaves the
// connection holding at most the high-water mark plus one read, on every backend. On io_uring
// that is the multishot receive the kernel ends at its byte limit; an unlimited one went on
// draining the socket after the reader stopped (issue 8, fault 4: about 1.5 MiB per peer).
#include <sys/socket.h>
#include <sys/utsname.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "test_support.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

constexpr size_t kHighWater = 64 * 1024;
constexpr size_t kPayload = 16u << 20;  // the bound of the sender's loop
constexpr const char* kNoLimit = "TERN_URING_NO_RECV_LIMIT";  // the backend's test switch

// What the echo server saw, on its loop thread.
struct Observed {
  size_t max_queue = 0;  // the write queue after a read
  size_t max_kept = 0;   // bytes received while stopped, counted when reading resumes
  int pauses = 0;
  BackendTraits traits;
  BackendStats stats;
};

// An echo server whose connections stop reading once kHighWater bytes of echo are queued and
// resume at a quarter of it, with the receive window set to the mark.
class StoppingEcho {
 public:
  StoppingEcho(BackendKind kind, BackendOptions options)
      : thread(
            kind,
            [this](EventLoop& loop) {
              server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
              server->on_connection([this](TcpConnection& conn) { serve(conn); });
              start_error = server->start();
              address = server->local_address();
            },
            options) {}
  ~StoppingEcho() {
    thread.call([this](EventLoop&) { server.reset(); });
  }

  // True once the connection is stopped with bytes waiting in its socket: no receive is taking
  // them any more (a limited one ended, an unlimited one was cancelled), so what it took while
  // stopped is all it will take. Any thread.
  bool stopped_with_input_waiting() {
    return thread.call([this](EventLoop&) {
      TcpConnection* conn = server->find(id);
      return conn != nullptr && !conn->reading() && conn->unread_bytes() > conn->kept_bytes();
    });
  }

  Observed observed() {
    return thread.call([this](EventLoop& loop) {
      Observed copy = seen;
      copy.traits = loop.traits();
      copy.stats = loop.stats();
      return copy;
    });
  }

  std::unique_ptr<TcpServer> server;
  std::error_code start_error;
  InetAddress address;
  EventCount paused;  // raised on the loop thread, waited on by the test

 private:
  void serve(TcpConnection& conn) {
    id = conn.id();
    conn.set_receive_window(kHighWater);
    auto on_read = [this](TcpConnection& c, std::error_code error, std::span<std::byte> data) {
      if (error) {
        if (error == errc::eof) c.shutdown([](TcpConnection& done, std::error_code) { done.close(); });
        else c.close();
        return;
      }
      c.write_received(ConstBuffer(data));
      seen.max_queue = std::max(seen.max_queue, c.write_queue_bytes());
    };
    conn.set_water_marks(
        kHighWater, kHighWater / 4,
        [this](TcpConnection& c, size_t) {
          ++seen.pauses;
          c.read_stop();
          paused.add();
        },
        [this, on_read](TcpConnection& c, size_t) {
          seen.max_kept = std::max(seen.max_kept, c.kept_bytes());
          c.read_start(on_read);
        });
    conn.read_start(on_read);
  }

  ConnId id;
  Observed seen;

 public:
  LoopThread thread;  // last: started once the members above exist, stopped first
};

// The most one receive takes: a lent buffer (io_uring's ring buffer, a readiness backend's read).
size_t one_read(const Observed& seen, const BackendOptions& options) {
  return seen.traits.provided_buffers ? options.recv_buffer_size : 64 * 1024;
}

// A peer sends kPayload without reading until the server has stopped and its socket holds
// bytes it no longer takes; then reads everything back. Returns what the server saw.
Observed run_stopped_reader(StoppingEcho& echo) {
  int fd = connect_blocking(echo.address);
  EXPECT_GE(fd, 0);
  if (fd < 0) return {};
  std::thread sender([fd] {
    std::vector<std::byte> chunk(64 * 1024);
    size_t sent = 0;
    while (sent < kPayload) {
      size_t n = std::min(chunk.size(), kPayload - sent);
      Pattern::get().fill(5, sent, std::span(chunk).first(n));
      ssize_t done = ::send(fd, chunk.data(), n, MSG_NOSIGNAL);
      if (done <= 0) return;
      sent += static_cast<size_t>(done);
    }
  });
  EXPECT_TRUE(echo.paused.wait_until_at_least(1)) << "the server never stopped reading";
  EXPECT_TRUE(wait_until([&] { return echo.stopped_with_input_waiting(); }))
      << "the stopped server kept taking bytes from its socket";
  std::vector<std::byte> buffer(256 * 1024);
  size_t received = 0;
  bool intact = true;
  while (received < kPayload) {
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) break;
    intact = intact && Pattern::get().matches(5, received,
                                              std::span(buffer).first(static_cast<size_t>(n)));
    received += static_cast<size_t>(n);
  }
  sender.join();
  ::close(fd);
  EXPECT_EQ(received, kPayload);
  EXPECT_TRUE(intact) << "the echo differs from what was sent";
  return echo.observed();
}

void expect_bounded(const Observed& seen, const BackendOptions& options) {
  EXPECT_GE(seen.pauses, 1) << "the server never had to stop";
  EXPECT_LE(seen.max_kept, one_read(seen, options))
      << "the connection took " << seen.max_kept / 1024 << " KiB from the socket after its "
      << "reader stopped (one read is " << one_read(seen, options) / 1024 << " KiB)";
  EXPECT_LE(seen.max_queue, kHighWater + one_read(seen, options));
}

class ReceiveWindowTest : public BackendTest {};

TEST_P(ReceiveWindowTest, AStoppedReaderHoldsAtMostTheMarkPlusOneRead) {
  StoppingEcho echo(GetParam(), backend_options());
  ASSERT_FALSE(echo.start_error);
  Observed seen = run_stopped_reader(echo);
  expect_bounded(seen, backend_options());
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ReceiveWindowTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

// The kernel release, as major * 100 + minor (6.17 -> 617); 0 when unknown.
int kernel_release() {
  utsname name{};
  if (::uname(&name) != 0) return 0;
  int major = 0, minor = 0;
  if (std::sscanf(name.release, "%d.%d", &major, &minor) != 2) return 0;
  return major * 100 + minor;
}

// The byte limit of a multishot receive came with Linux 6.17 ("io_uring/net: Support multishot
// receive len cap", July 2025): on 6.18 and later (a margin of one release) the probe must find
// it, and nothing falls back.
TEST(ReceiveWindowUring, TheProbeFindsTheKernelsReceiveLimit) {
  if (auto why = backend_unavailable(BackendKind::uring)) GTEST_SKIP() << *why;
  StoppingEcho echo(BackendKind::uring, backend_options_for(BackendKind::uring));
  ASSERT_FALSE(echo.start_error);
  Observed seen = echo.observed();
  if (kernel_release() < 618 && !seen.traits.bounded_multishot_recv) {
    GTEST_SKIP() << "this kernel (before 6.18) does not end a multishot receive at a byte "
                    "limit: receives go one buffer at a time here";
  }
  EXPECT_TRUE(seen.traits.bounded_multishot_recv);
  EXPECT_EQ(seen.stats.fallbacks, 0u);
}

// Where the limit is there, a receive stays armed across many reads: small request/response
// exchanges cost about one submission each (the send), not two (send and a new receive).
TEST(ReceiveWindowUring, ALimitedReceiveStaysArmedAcrossReads) {
  if (auto why = backend_unavailable(BackendKind::uring)) GTEST_SKIP() << *why;
  StoppingEcho echo(BackendKind::uring, backend_options_for(BackendKind::uring));
  ASSERT_FALSE(echo.start_error);
  if (!echo.observed().traits.bounded_multishot_recv) {
    GTEST_SKIP() << "this kernel does not end a multishot receive at a byte limit";
  }
  int fd = connect_blocking(echo.address);
  ASSERT_GE(fd, 0);
  constexpr int kExchanges = 200;
  const std::string request(512, 'q');
  std::string reply(request.size(), '\0');
  for (int i = 0; i < kExchanges; ++i) {
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
    ASSERT_EQ(::recv(fd, reply.data(), reply.size(), MSG_WAITALL), ssize_t(reply.size()));
    ASSERT_EQ(reply, request);
  }
  ::close(fd);
  Observed seen = echo.observed();
  // Each exchange completes a receive and a send. Single-shot receives would submit as many
  // ops as complete; an armed one leaves the sends (about half).
  EXPECT_LT(seen.stats.submitted * 4, seen.stats.completions * 3)
      << "submitted " << seen.stats.submitted << " ops for " << seen.stats.completions
      << " completions";
}

// A kernel without the limit (simulated by the backend's test switch): the ring says so once
// (a fallback), and receives go one buffer at a time, still bounded.
TEST(ReceiveWindowUring, WithoutTheKernelLimitReceivesOneBufferAtATime) {
  if (auto why = backend_unavailable(BackendKind::uring)) GTEST_SKIP() << *why;
  ::setenv(kNoLimit, "1", 1);
  StoppingEcho echo(BackendKind::uring, backend_options_for(BackendKind::uring));
  ::unsetenv(kNoLimit);
  ASSERT_FALSE(echo.start_error);
  Observed before = echo.observed();
  EXPECT_FALSE(before.traits.bounded_multishot_recv);
  EXPECT_EQ(before.stats.fallbacks, 1u);
  Observed seen = run_stopped_reader(echo);
  expect_bounded(seen, backend_options_for(BackendKind::uring));
}

}  // namespace
}  // namespace tern::test
