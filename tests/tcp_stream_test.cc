// The stream suite: every test runs on every backend.
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <memory>

#include "test_support.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

// An echo server on a LoopThread, instrumented for the tests.
struct EchoServer {
  struct Stats {
    size_t max_queue = 0;
    int high_water_hits = 0;
    int closes = 0;
  };

  EchoServer(BackendKind kind, size_t high_water = SIZE_MAX, InetAddress bind = InetAddress::loopback_v4(0))
      : thread(kind, [&](EventLoop& loop) {
          server = std::make_unique<TcpServer>(loop, bind);
          server->on_connection([this, high_water](TcpConnection& conn) { serve(conn, high_water); });
          server->on_close([this](TcpConnection&) { ++stats.closes; });
          start_error = server->start();
          address = server->local_address();
        }) {}

  ~EchoServer() {
    thread.call([this](EventLoop&) { server.reset(); });
  }

  void serve(TcpConnection& conn, size_t high_water) {
    auto on_read = [this](TcpConnection& c, std::error_code error, std::span<std::byte> data) {
      if (error) {
        if (error == errc::eof) {
          c.shutdown([](TcpConnection& done, std::error_code) { done.close(); });
        } else {
          c.close();
        }
        return;
      }
      c.write_received(ConstBuffer(data));  // io_uring: keeps the receive buffer until sent
      stats.max_queue = std::max(stats.max_queue, c.write_queue_bytes());
    };
    if (high_water != SIZE_MAX) {
      conn.set_water_marks(
          high_water, high_water / 4,
          [this](TcpConnection& c, size_t) {
            ++stats.high_water_hits;
            high_water_reached.add();
            c.read_stop();
          },
          [on_read](TcpConnection& c, size_t) { c.read_start(on_read); });
    }
    conn.read_start(on_read);
  }

  Stats read_stats() {
    return thread.call([this](EventLoop&) { return stats; });
  }

  std::unique_ptr<TcpServer> server;
  std::error_code start_error;
  InetAddress address;
  Stats stats;
  EventCount high_water_reached;  // raised on the loop thread, waited on by the test
  LoopThread thread;
};

class TcpStreamTest : public BackendTest {};

TEST_P(TcpStreamTest, EchoOneByteOver200Connections) {
  EchoServer echo(GetParam());
  ASSERT_FALSE(echo.start_error) << echo.start_error.message();
  auto result = run_echo_load(echo.address, 200, 1);
  EXPECT_EQ(result.first_error, "");
  EXPECT_EQ(result.completed, 200);
}

TEST_P(TcpStreamTest, Echo64KiBOver200Connections) {
  EchoServer echo(GetParam());
  ASSERT_FALSE(echo.start_error);
  auto result = run_echo_load(echo.address, 200, 64 * 1024);
  EXPECT_EQ(result.first_error, "");
  EXPECT_EQ(result.completed, 200);
}

TEST_P(TcpStreamTest, Echo16MiBOver200Connections) {
  EchoServer echo(GetParam());
  ASSERT_FALSE(echo.start_error);
  auto result = run_echo_load(echo.address, 200, 16 * 1024 * 1024, 600s);
  EXPECT_EQ(result.first_error, "");
  EXPECT_EQ(result.completed, 200);
}

TEST_P(TcpStreamTest, EchoOverIpv6) {
  int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  auto v6 = InetAddress::loopback_v6(0);
  bool has_v6 = probe >= 0 && ::bind(probe, v6.sockaddr_ptr(), v6.length()) == 0;
  if (probe >= 0) ::close(probe);
  if (!has_v6) GTEST_SKIP() << "::1 is not configured here";
  EchoServer echo(GetParam(), SIZE_MAX, v6);
  ASSERT_FALSE(echo.start_error);
  EXPECT_EQ(echo.address.family(), AF_INET6);
  auto result = run_echo_load(echo.address, 20, 100000);
  EXPECT_EQ(result.first_error, "");
  EXPECT_EQ(result.completed, 20);
}

// The client closes its sending side; the server still echoes everything, then closes its own.
TEST_P(TcpStreamTest, HalfCloseEchoesEverythingThenEof) {
  EchoServer echo(GetParam());
  int fd = connect_blocking(echo.address);
  ASSERT_GE(fd, 0);
  std::vector<std::byte> sent(300000);
  Pattern::get().fill(1, 0, sent);
  ASSERT_EQ(::send(fd, sent.data(), sent.size(), MSG_NOSIGNAL), static_cast<ssize_t>(sent.size()));
  ASSERT_EQ(::shutdown(fd, SHUT_WR), 0);
  std::vector<std::byte> got = read_until_eof(fd);
  ::close(fd);
  EXPECT_EQ(got, sent);
}

// The peer resets while a large write is queued: every write callback runs once (with an error
// for what was not sent), the connection closes, and the server keeps serving. SIGPIPE is not
// ignored in this process: a send to the reset peer must not raise it.
TEST_P(TcpStreamTest, PeerResetMidWrite) {
  struct Outcome {
    int callbacks = 0;
    int errors = 0;
    int closes = 0;
  };
  auto outcome = std::make_shared<Outcome>();
  auto closed = std::make_shared<EventCount>();
  std::unique_ptr<TcpServer> server;
  InetAddress address;
  constexpr int kWrites = 64;
  LoopThread thread(GetParam(), [&](EventLoop& loop) {
    server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
    server->on_connection([outcome, closed](TcpConnection& conn) {
      conn.on_close([outcome, closed](TcpConnection&) {
        ++outcome->closes;
        closed->add();
      });
      std::string chunk(1 << 20, 'x');
      for (int i = 0; i < kWrites; ++i) {
        conn.write(chunk, [outcome](TcpConnection&, std::error_code error) {
          ++outcome->callbacks;
          if (error) ++outcome->errors;
        });
      }
    });
    ASSERT_FALSE(server->start());
    address = server->local_address();
  });
  int fd = connect_blocking(address);
  ASSERT_GE(fd, 0);
  char buffer[4096];
  ASSERT_GT(::recv(fd, buffer, sizeof buffer, MSG_WAITALL), 0);
  linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);  // RST

  EXPECT_TRUE(closed->wait_until_at_least(1)) << "the server never closed the reset connection";
  thread.call([&](EventLoop&) {
    EXPECT_EQ(outcome->closes, 1);
    EXPECT_EQ(outcome->callbacks, kWrites);
    EXPECT_GT(outcome->errors, 0);
    EXPECT_EQ(server->connection_count(), 0u);
  });
  // Still serving: a new connection gets its writes.
  int again = connect_blocking(address);
  ASSERT_GE(again, 0);
  ASSERT_GT(::recv(again, buffer, sizeof buffer, MSG_WAITALL), 0);
  ::close(again);
  thread.call([&](EventLoop&) { server.reset(); });
}

// Writes queued behind a full socket go out in order, and their callbacks run in that order.
TEST_P(TcpStreamTest, WriteOrderUnderFullSocketBuffer) {
  constexpr uint32_t kRecords = 3000;
  constexpr size_t kRecordSize = 4096;
  auto order = std::make_shared<std::vector<uint32_t>>();
  auto max_queue = std::make_shared<size_t>(0);
  std::unique_ptr<TcpServer> server;
  InetAddress address;
  LoopThread thread(GetParam(), [&](EventLoop& loop) {
    server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
    server->on_connection([order, max_queue](TcpConnection& conn) {
      for (uint32_t i = 0; i < kRecords; ++i) {
        std::vector<std::byte> record(kRecordSize);
        Pattern::get().fill(0, i * kRecordSize, record);
        conn.write(ConstBuffer(record), [order, i](TcpConnection&, std::error_code error) {
          if (!error) order->push_back(i);
        });
        *max_queue = std::max(*max_queue, conn.write_queue_bytes());
      }
      conn.shutdown([](TcpConnection& c, std::error_code) { c.close(); });
    });
    ASSERT_FALSE(server->start());
    address = server->local_address();
  });
  int fd = connect_blocking(address);
  ASSERT_GE(fd, 0);
  std::vector<std::byte> got = read_until_eof(fd);
  ::close(fd);
  ASSERT_EQ(got.size(), kRecords * kRecordSize);
  EXPECT_TRUE(Pattern::get().matches(0, 0, got));
  thread.call([&](EventLoop&) {
    EXPECT_GT(*max_queue, 1u << 20) << "the socket buffer never filled: the test proved nothing";
    ASSERT_EQ(order->size(), kRecords);
    for (uint32_t i = 0; i < kRecords; ++i) ASSERT_EQ((*order)[i], i);
    server.reset();
  });
}

// A client that sends but does not read: the echo server's queue stops at the high-water mark
// (plus at most one read's worth) because it stops reading, and nothing is lost.
TEST_P(TcpStreamTest, SlowReaderKeepsMemoryBounded) {
  constexpr size_t kHighWater = 256 * 1024;
  constexpr size_t kPayload = 16 * 1024 * 1024;
  EchoServer echo(GetParam(), kHighWater);
  int fd = connect_blocking(echo.address);
  ASSERT_GE(fd, 0);
  std::atomic<size_t> sent{0};
  std::thread sender([&] {
    std::vector<std::byte> chunk(64 * 1024);
    while (sent < kPayload) {
      Pattern::get().fill(3, sent, chunk);
      ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  });
  // Let the pipe fill while nobody reads, until the server pauses reading at its high-water
  // mark (the sender then blocks).
  EXPECT_TRUE(echo.high_water_reached.wait_until_at_least(1)) << "the server never paused";
  std::vector<std::byte> buffer(256 * 1024);
  size_t received = 0;
  bool intact = true;
  while (received < kPayload) {
    ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) break;
    intact = intact && Pattern::get().matches(3, received,
                                              std::span(buffer).first(static_cast<size_t>(n)));
    received += static_cast<size_t>(n);
  }
  sender.join();
  ::close(fd);
  EXPECT_EQ(received, kPayload);
  EXPECT_TRUE(intact);
  auto stats = echo.read_stats();
  EXPECT_GE(stats.high_water_hits, 1) << "the writer never had to pause";
  EXPECT_LT(stats.max_queue, kHighWater + 64 * 1024);
}

// close() with writes queued: their callbacks see operation_canceled, on_close runs once.
TEST_P(TcpStreamTest, CloseCancelsQueuedWrites) {
  auto canceled = std::make_shared<int>(0);
  auto closes = std::make_shared<EventCount>();
  std::unique_ptr<TcpServer> server;
  InetAddress address;
  LoopThread thread(GetParam(), [&](EventLoop& loop) {
    server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
    server->on_connection([canceled, closes](TcpConnection& conn) {
      conn.on_close([closes](TcpConnection&) { closes->add(); });
      std::string big(8 << 20, 'y');
      for (int i = 0; i < 4; ++i) {
        conn.write(big, [canceled](TcpConnection&, std::error_code error) {
          if (error == std::errc::operation_canceled) ++*canceled;
        });
      }
      conn.close();
      EXPECT_EQ(conn.write(std::string_view("late")), make_error_code(errc::not_connected));
    });
    ASSERT_FALSE(server->start());
    address = server->local_address();
  });
  int fd = connect_blocking(address);
  ASSERT_GE(fd, 0);
  char buffer[65536];
  while (::recv(fd, buffer, sizeof buffer, 0) > 0) {
  }
  ::close(fd);
  EXPECT_TRUE(closes->wait_until_at_least(1)) << "on_close never ran";
  thread.call([&](EventLoop&) {
    EXPECT_EQ(closes->value(), 1);
    EXPECT_GE(*canceled, 3);  // the first may have gone out whole before close()
    server.reset();
  });
}

// Bytes that arrive while reading is stopped are delivered, in order, after read_start.
TEST_P(TcpStreamTest, ReadStopKeepsBytesForTheNextStart) {
  auto received = std::make_shared<std::string>();
  std::unique_ptr<TcpServer> server;
  InetAddress address;
  LoopThread thread(GetParam(), [&](EventLoop& loop) {
    server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
    TcpServer* srv = server.get();
    server->on_connection([received, srv](TcpConnection& conn) {
      // Every read stops reading and resumes 2 ms later, so bytes arrive while stopped.
      auto on_read = std::make_shared<ReadCallback>();
      *on_read = [received, srv, weak = std::weak_ptr<ReadCallback>(on_read)](
                     TcpConnection& c, std::error_code error, std::span<std::byte> data) {
        if (error) {
          c.write(std::string_view(*received),
                  [](TcpConnection& done, std::error_code) { done.close(); });
          return;
        }
        received->append(reinterpret_cast<const char*>(data.data()), data.size());
        c.read_stop();
        c.loop().run_after(2ms, [srv, id = c.id(), weak] {
          TcpConnection* again = srv->find(id);
          auto callback = weak.lock();
          if (again && callback) again->read_start(*callback);
        });
      };
      conn.context() = on_read;  // the callback lives as long as the connection
      conn.read_start(*on_read);
    });
    ASSERT_FALSE(server->start());
    address = server->local_address();
  });
  int fd = connect_blocking(address);
  ASSERT_GE(fd, 0);
  std::string message;
  for (int i = 0; i < 20000; ++i) message += std::to_string(i) + ",";
  for (size_t offset = 0; offset < message.size(); offset += 1000) {
    size_t n = std::min<size_t>(1000, message.size() - offset);
    ASSERT_EQ(::send(fd, message.data() + offset, n, MSG_NOSIGNAL), static_cast<ssize_t>(n));
  }
  ::shutdown(fd, SHUT_WR);
  std::string echoed = read_string_until_eof(fd);
  ::close(fd);
  EXPECT_EQ(echoed, message);
  thread.call([&](EventLoop&) { server.reset(); });
}

TEST_P(TcpStreamTest, WriteAfterShutdownFails) {
  auto result = std::make_shared<std::error_code>();
  std::unique_ptr<TcpServer> server;
  InetAddress address;
  LoopThread thread(GetParam(), [&](EventLoop& loop) {
    server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
    server->on_connection([result](TcpConnection& conn) {
      conn.write(std::string_view("bye"));
      conn.shutdown();
      *result = conn.write(std::string_view("too late"));
      conn.read_start([](TcpConnection& c, std::error_code error, std::span<std::byte>) {
        if (error) c.close();
      });
    });
    ASSERT_FALSE(server->start());
    address = server->local_address();
  });
  int fd = connect_blocking(address);
  ASSERT_GE(fd, 0);
  std::string got = read_string_until_eof(fd);
  ::close(fd);
  EXPECT_EQ(got, "bye");
  thread.call([&](EventLoop&) {
    EXPECT_EQ(*result, make_error_code(errc::not_connected));
    server.reset();
  });
}

INSTANTIATE_TEST_SUITE_P(AllBackends, TcpStreamTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
