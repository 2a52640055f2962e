// io_uring specifics: the provided-buffer ring running dry, closing with ops in flight, the
// fallback when io_uring is unavailable, and the counters.
#include <stdlib.h>

#include "test_support.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

// An echo server on io_uring, with the loop's counters readable from the test thread.
struct UringEcho {
  explicit UringEcho(BackendOptions options)
      : thread(
            BackendKind::uring,
            [&](EventLoop& loop) {
              kind = loop.backend_kind();
              server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
              server->on_connection([](TcpConnection& conn) {
                conn.read_start([](TcpConnection& c, std::error_code error, std::span<std::byte> d) {
                  if (error) {
                    c.close();
                    return;
                  }
                  c.write_received(ConstBuffer(d));
                });
              });
              start_error = server->start();
              address = server->local_address();
            },
            options) {}
  ~UringEcho() {
    thread.call([this](EventLoop&) { server.reset(); });
  }
  BackendStats stats() {
    return thread.call([](EventLoop& loop) { return loop.stats(); });
  }

  BackendKind kind{};
  std::unique_ptr<TcpServer> server;
  std::error_code start_error;
  InetAddress address;
  LoopThread thread;
};

// The options of a test that wants io_uring itself (strict: no fallback), before its own changes.
BackendOptions uring_options() { return backend_options_for(BackendKind::uring); }

// Runs `task` on `loop` once the loop has waited again since its stats().wait_calls was
// `waits`: io_uring hands the queued requests to the kernel in its wait, so by then every op
// started before is in flight there. Loop thread only.
void run_after_next_wait(EventLoop& loop, uint64_t waits, Task task) {
  loop.post([&loop, waits, task = std::move(task)]() mutable {
    if (loop.stats().wait_calls > waits) {
      task();
    } else {
      run_after_next_wait(loop, waits, std::move(task));  // a queued task: the wait will not block
    }
  });
}

// 1000 connections sending at once into a ring of 16 buffers: the ring runs dry again and
// again (-ENOBUFS), receives are re-armed as buffers come back, and every byte arrives in order.
TEST(Uring, BufferRingExhaustionLosesNothing) {
  if (auto why = backend_unavailable(BackendKind::uring)) GTEST_SKIP() << *why;
  BackendOptions options = uring_options();
  options.recv_buffer_count = 16;
  options.recv_buffer_size = 4096;
  UringEcho echo(options);
  ASSERT_FALSE(echo.start_error);
  ASSERT_EQ(echo.kind, BackendKind::uring);
  auto result = run_echo_load(echo.address, 1000, 64 * 1024, 300s);
  EXPECT_EQ(result.first_error, "");
  EXPECT_EQ(result.completed, 1000);
  BackendStats stats = echo.stats();
  EXPECT_GT(stats.enobufs, 0u) << "the ring never ran dry: the test proved nothing";
  // Each dry spell ends a receive; it is armed again as buffers come back.
  EXPECT_GT(stats.rearms, 0u);
  EXPECT_GT(stats.submitted, 1000u);
}

// close() and destruction while a multishot recv and a send are in the kernel: the memory is
// released only after their completions (close) or a synchronous cancel (destruction). ASan
// watches for a use after free.
TEST(Uring, CloseWithRecvAndSendInFlight) {
  if (auto why = backend_unavailable(BackendKind::uring)) GTEST_SKIP() << *why;
  auto accepted = std::make_shared<EventCount>();
  auto closes = std::make_shared<EventCount>();
  auto torn_down = std::make_shared<EventCount>();
  auto canceled = std::make_shared<int>(0);
  auto second_accepted_at = std::make_shared<uint64_t>(0);  // the loop's wait_calls then
  std::unique_ptr<TcpServer> server;
  InetAddress address;
  LoopThread thread(BackendKind::uring, [&](EventLoop& loop) {
    server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
    TcpServer* srv = server.get();
    server->on_connection([accepted, closes, canceled, second_accepted_at, srv,
                           &loop](TcpConnection& conn) {
      conn.on_close([closes](TcpConnection&) { closes->add(); });
      conn.read_start([](TcpConnection&, std::error_code, std::span<std::byte>) {});
      std::string big(16 << 20, 'z');  // far more than the socket takes: the send stays queued
      conn.write(big, [canceled](TcpConnection&, std::error_code error) {
        if (error) ++*canceled;
      });
      if (accepted->value() == 0) {
        // Close the first once the recv and the send have reached the kernel.
        run_after_next_wait(loop, loop.stats().wait_calls, [srv, id = conn.id()] {
          if (TcpConnection* c = srv->find(id)) c->close();
        });
      } else {
        *second_accepted_at = loop.stats().wait_calls;
      }
      accepted->add();
    });
    ASSERT_FALSE(server->start());
    address = server->local_address();
  });
  int fd = connect_blocking(address);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(closes->wait_until_at_least(1)) << "the first connection never closed";
  thread.call([&](EventLoop&) {
    EXPECT_EQ(closes->value(), 1);
    EXPECT_EQ(*canceled, 1);
    EXPECT_EQ(server->connection_count(), 0u);
  });
  // A second connection is destroyed with its ops in flight (teardown: abandon), once they
  // have reached the kernel.
  int second = connect_blocking(address);
  ASSERT_GE(second, 0);
  EXPECT_TRUE(accepted->wait_until_at_least(2)) << "the second connection was never accepted";
  thread.call([&](EventLoop& loop) {
    run_after_next_wait(loop, *second_accepted_at, [&server, torn_down] {
      EXPECT_EQ(server->connection_count(), 1u);
      server.reset();
      torn_down->add();
    });
  });
  EXPECT_TRUE(torn_down->wait_until_at_least(1));
  ::close(fd);
  ::close(second);
}

// Zero-copy sends (SEND_ZC, finished by the kernel's notification) deliver every byte in order.
TEST(Uring, ZeroCopySendsEchoCorrectly) {
  if (auto why = backend_unavailable(BackendKind::uring)) GTEST_SKIP() << *why;
  BackendOptions options = uring_options();
  options.send_zc_threshold = 1;  // every send
  UringEcho echo(options);
  ASSERT_FALSE(echo.start_error);
  auto result = run_echo_load(echo.address, 100, 1 << 20);
  EXPECT_EQ(result.first_error, "");
  EXPECT_EQ(result.completed, 100);
}

// Fixed files: every connection's fd is registered on its first op and unregistered before it
// is closed; fd numbers are reused across connections, so stale registrations would show.
TEST(Uring, FixedFilesEchoAcrossConnectionChurn) {
  if (auto why = backend_unavailable(BackendKind::uring)) GTEST_SKIP() << *why;
  BackendOptions options = uring_options();
  options.fixed_files = true;
  UringEcho echo(options);
  ASSERT_FALSE(echo.start_error);
  for (int round = 0; round < 5; ++round) {  // each round reuses the fd numbers of the last
    auto result = run_echo_load(echo.address, 100, 64 * 1024);
    ASSERT_EQ(result.first_error, "") << "round " << round;
    ASSERT_EQ(result.completed, 100);
  }
  EXPECT_EQ(echo.stats().fallbacks, 0u);
}

// io_uring reported unavailable: the loop falls back to epoll, says so once, and serves.
TEST(Uring, FallbackToEpollStillServes) {
  ::setenv("TERN_URING_UNAVAILABLE", "1", 1);
  UringEcho echo(BackendOptions{});
  ::unsetenv("TERN_URING_UNAVAILABLE");
  ASSERT_FALSE(echo.start_error);
  EXPECT_EQ(echo.kind, BackendKind::epoll);
  EXPECT_EQ(echo.stats().fallbacks, 1u);
  auto result = run_echo_load(echo.address, 50, 100000);
  EXPECT_EQ(result.first_error, "");
  EXPECT_EQ(result.completed, 50);
}

TEST(Uring, StrictRefusesInsteadOfFallingBack) {
  ::setenv("TERN_URING_UNAVAILABLE", "1", 1);
  auto loop = EventLoop::create(BackendKind::uring, BackendOptions{.strict = true});
  ::unsetenv("TERN_URING_UNAVAILABLE");
  EXPECT_FALSE(loop.ok());
  EXPECT_EQ(loop.error(), std::errc::function_not_supported);
}

TEST(Uring, RejectsABufferCountThatIsNotAPowerOfTwo) {
  if (auto why = backend_unavailable(BackendKind::uring)) GTEST_SKIP() << *why;
  auto loop = EventLoop::create(BackendKind::uring,
                                BackendOptions{.strict = true, .recv_buffer_count = 1000});
  EXPECT_EQ(loop.error(), make_error_code(errc::invalid_argument));
}

}  // namespace
}  // namespace tern::test
