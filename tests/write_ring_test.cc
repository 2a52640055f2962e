// Write rings (src/net/write_ring.h): a connection holds its ring of queued writes only while it
// has something to send, and gives it back to its thread's spares when the queue empties, so
// idle connections hold none. This suite checks the other half of the bargain on every
// backend: connections that take turns writing and going idle reuse the kept rings, so a
// server in steady state allocates nothing for them.
#include <sys/socket.h>

#include <array>
#include <memory>
#include <vector>

#include "counting_new.h"
#include "test_support.h"

namespace tern::test {
namespace {

constexpr size_t kConnections = 4;
constexpr int kWarmUpRounds = 20;
constexpr int kRounds = 200;
constexpr std::array<char, 8> kReply = {'p', 'o', 'n', 'g', '.', '.', '.', '\n'};

// Answers every read with kReply through write_ref, which always queues (no write-through),
// so every answer takes a ring and gives it back once sent, on every backend.
struct PongServer {
  explicit PongServer(BackendKind kind)
      : thread(kind, [&](EventLoop& loop) {
          server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
          server->on_connection([](TcpConnection& conn) {
            conn.read_start([](TcpConnection& c, std::error_code error, std::span<std::byte>) {
              if (error) {
                c.close();
                return;
              }
              c.write_ref(ConstBuffer(std::as_bytes(std::span(kReply))),
                          [](TcpConnection&, std::error_code) {});
            });
          });
          start_error = server->start();
          address = server->local_address();
        }) {}
  ~PongServer() {
    thread.call([this](EventLoop&) { server.reset(); });
  }

  std::unique_ptr<TcpServer> server;
  std::error_code start_error;
  InetAddress address;
  LoopThread thread;
};

// One round: each client sends a ping and reads its whole reply (blocking sockets, 10 s
// timeouts). Allocates nothing itself. False when a client failed.
bool ping_each(const std::vector<int>& clients) {
  for (int fd : clients) {
    if (::send(fd, "ping", 4, MSG_NOSIGNAL) != 4) return false;
    std::array<char, kReply.size()> reply{};
    size_t got = 0;
    while (got < reply.size()) {
      ssize_t n = ::recv(fd, reply.data() + got, reply.size() - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    if (reply != kReply) return false;
  }
  return true;
}

class WriteRingTest : public BackendTest {};

TEST_P(WriteRingTest, ConnectionsTakingTurnsToWriteAllocateNothingOnceWarm) {
  if (GetParam() == BackendKind::aio) {
    GTEST_SKIP() << "glibc's POSIX AIO allocates by itself now and then (its request records "
                    "and helper threads): a count of the process's allocations cannot isolate "
                    "the rings there";
  }
  PongServer pong(GetParam());
  ASSERT_FALSE(pong.start_error) << pong.start_error.message();
  std::vector<int> clients;
  for (size_t i = 0; i < kConnections; ++i) {
    int fd = connect_blocking(pong.address);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    clients.push_back(fd);
  }
  for (int i = 0; i < kWarmUpRounds; ++i) ASSERT_TRUE(ping_each(clients));

  uint64_t before = heap_allocations.load();
  bool all_answered = true;
  for (int i = 0; i < kRounds && all_answered; ++i) all_answered = ping_each(clients);
  uint64_t allocations = heap_allocations.load() - before;

  EXPECT_TRUE(all_answered);
  EXPECT_EQ(allocations, 0u) << "over " << kRounds << " rounds of " << kConnections
                             << " connections, each writing then going idle";
  for (int fd : clients) ::close(fd);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, WriteRingTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
