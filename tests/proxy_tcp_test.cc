// TcpProxy, TCP mode of tern-proxy, on one loop: a TcpServer whose connections are each handed
// to TcpProxy::serve, in front of plain upstream sockets the test thread accepts from
// (tests/upstream_listener.h: no tern code on the far side). The client is a plain socket too.
// Rows: epoll and io_uring (a row whose backend is missing is skipped with the reason).
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tern/proxy/tcp_proxy.h"
#include "test_support.h"
#include "two_way_exchange.h"
#include "upstream_listener.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;
using proxy::TcpProxy;
using proxy::TcpProxyOptions;
using proxy::TcpProxyStats;
using proxy::UpstreamConfig;
using proxy::UpstreamSnapshot;

constexpr auto kBound = 20s;  // liveness bound of every wait: a failure, not a measurement
constexpr auto kExchangeBound = 60s;  // the same, for a two-way exchange of megabytes

UpstreamConfig upstream_at(uint16_t port) {
  InetAddress address = InetAddress::loopback_v4(port);
  return UpstreamConfig{address.to_string(), address, 1};
}

// A port nothing listens on: bound and closed again, so a connect to it is refused.
uint16_t refusing_port() {
  UpstreamListener listener;
  return listener.port();
}

// The proxy on a loop thread: a TcpServer on 127.0.0.1:0 whose clients go to one TcpProxy.
class ProxyRig {
 public:
  ProxyRig(BackendKind kind, std::vector<UpstreamConfig> upstreams, TcpProxyOptions options = {})
      : thread_(kind, [this, upstreams, options](EventLoop& loop) {
          proxy = std::make_unique<TcpProxy>(loop, options, upstreams);
          server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
          server->on_connection([this](TcpConnection& client) { proxy->serve(client); });
          start_error = server->start();
          address = server->local_address();
        }) {}
  ~ProxyRig() {
    thread_.call([this](EventLoop&) {
      proxy.reset();  // first: its relays borrow the server's connections
      server.reset();
    });
  }

  // Destroys the proxy with whatever clients it has (relaying or waiting for an upstream).
  void destroy_proxy() {
    thread_.call([this](EventLoop&) { proxy.reset(); });
  }
  // A reload: the table's new upstream list.
  void apply(std::vector<UpstreamConfig> upstreams) {
    thread_.call([&](EventLoop&) { proxy->upstreams().apply(upstreams); });
  }
  size_t table_size() {
    return thread_.call([this](EventLoop&) { return proxy->upstreams().size(); });
  }
  TcpProxyStats stats() {
    return thread_.call([this](EventLoop&) { return proxy->stats(); });
  }
  std::vector<UpstreamSnapshot> snapshot() {
    return thread_.call([this](EventLoop&) { return proxy->upstreams().snapshot(); });
  }
  // Waits until `condition` holds of the proxy's stats (read on the loop thread).
  template <class Condition>
  bool wait_for_stats(Condition condition) {
    return wait_until([&] { return condition(stats()); }, kBound);
  }

  std::unique_ptr<TcpProxy> proxy;
  std::unique_ptr<TcpServer> server;
  std::error_code start_error;
  InetAddress address;

 private:
  LoopThread thread_;  // last: its setup fills the members above
};

// A blocking client socket whose receive buffer is small (set before the handshake, so the
// window is negotiated for it): a client that does not read fills it at once.
int connect_with_small_window(const InetAddress& address) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int small = 16 * 1024;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  timeval timeout{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, address.sockaddr_ptr(), address.length()) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A blocking client socket bound to source address 127.0.0.`host` (all of 127/8 is
// loopback): clients that differ in IP, as maglev's key sees them.
int connect_from(uint8_t host, const InetAddress& address) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr.s_addr = htonl((127u << 24) | host);
  timeval timeout{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0 ||
      ::connect(fd, address.sockaddr_ptr(), address.length()) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when `fd` has been closed by the peer: end of stream or a reset, not a timeout.
bool closed_by_peer(int fd) {
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, 0);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// Which of `listeners` the next connection arrived on (accepted into *fd), or -1 if none came
// within the bound. Each listener is polled for a short while in turn: waiting on its fd.
int accept_any(std::vector<UpstreamListener*> listeners, int* fd) {
  auto deadline = std::chrono::steady_clock::now() + kBound;
  while (std::chrono::steady_clock::now() < deadline) {
    for (size_t i = 0; i < listeners.size(); ++i) {
      *fd = listeners[i]->accept_one(20);
      if (*fd >= 0) return static_cast<int>(i);
    }
  }
  return -1;
}

const UpstreamSnapshot* find(const std::vector<UpstreamSnapshot>& all, const UpstreamConfig& u) {
  for (const auto& s : all) {
    if (s.name == u.name) return &s;
  }
  return nullptr;
}

// A client of the proxy and the upstream end of its relay; -1 where a step failed.
struct RelayedPair {
  int client = -1;
  int upstream = -1;
};

// Connects a client to the proxy and accepts the connection the proxy opens for it upstream.
RelayedPair connect_through(const ProxyRig& rig, UpstreamListener& upstream) {
  RelayedPair pair;
  pair.client = connect_blocking(rig.address);
  if (pair.client >= 0) pair.upstream = upstream.accept_one();
  return pair;
}

// True when a byte the client sends reaches the upstream: the relay runs.
bool relay_runs(const RelayedPair& pair) {
  char byte = 'q';
  return ::send(pair.client, &byte, 1, MSG_NOSIGNAL) == 1 &&
         ::recv(pair.upstream, &byte, 1, 0) == 1;
}

// Closes `fd` with a reset (RST) instead of a FIN.
void close_with_reset(int fd) {
  linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
}

class ProxyTcpTest : public BackendTest {};

// 1 MiB each way at once, every byte checked, then both half-close: the relay ends in order,
// the stats count the bytes and the upstream's success.
TEST_P(ProxyTcpTest, BytesBothWaysExact) {
  UpstreamListener upstream;
  auto config = upstream_at(upstream.port());
  ProxyRig rig(GetParam(), {config});
  ASSERT_FALSE(rig.start_error) << rig.start_error.message();
  int client = connect_blocking(rig.address);
  ASSERT_GE(client, 0);
  int server_side = upstream.accept_one();
  ASSERT_GE(server_side, 0);
  ExchangeEnd from_client{client, 0, 1u << 20};
  ExchangeEnd from_upstream{server_side, 1, (1u << 20) + 17};
  EXPECT_EQ(exchange_both_ways(from_client, from_upstream, kExchangeBound), "");
  EXPECT_TRUE(rig.wait_for_stats([](const TcpProxyStats& s) { return s.connections == 1 && s.active == 0; }))
      << "the relay never ended";
  TcpProxyStats stats = rig.stats();
  EXPECT_EQ(stats.bytes_to_upstream, from_client.to_send);
  EXPECT_EQ(stats.bytes_to_client, from_upstream.to_send);
  EXPECT_EQ(stats.refused, 0u);
  auto snapshot = rig.snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].stats.requests, 1u);
  EXPECT_EQ(snapshot[0].stats.successes, 1u);
  EXPECT_EQ(snapshot[0].stats.failures, 0u);
  EXPECT_EQ(snapshot[0].outstanding, 0u);
  ::close(client);
  ::close(server_side);
}

// The client half-closes: the upstream reads its question then end of stream, still answers,
// and the client reads the answer, then end of stream.
TEST_P(ProxyTcpTest, ClientHalfCloseStillGetsAnswer) {
  UpstreamListener upstream;
  ProxyRig rig(GetParam(), {upstream_at(upstream.port())});
  ASSERT_FALSE(rig.start_error);
  auto [client, server_side] = connect_through(rig, upstream);
  ASSERT_GE(client, 0);
  ASSERT_GE(server_side, 0);
  ASSERT_EQ(::send(client, "question", 8, MSG_NOSIGNAL), 8);
  ASSERT_EQ(::shutdown(client, SHUT_WR), 0);
  EXPECT_EQ(read_string_until_eof(server_side), "question");
  ASSERT_EQ(::send(server_side, "answer", 6, MSG_NOSIGNAL), 6);
  ASSERT_EQ(::shutdown(server_side, SHUT_WR), 0);
  EXPECT_EQ(read_string_until_eof(client), "answer");
  EXPECT_TRUE(rig.wait_for_stats([](const TcpProxyStats& s) { return s.active == 0; }));
  EXPECT_EQ(rig.stats().bytes_to_client, 6u);
  ::close(client);
  ::close(server_side);
}

// Round-robin over two upstreams of equal weight: consecutive clients alternate.
TEST_P(ProxyTcpTest, RoundRobinSpreadsConnections) {
  UpstreamListener a, b;
  ProxyRig rig(GetParam(), {upstream_at(a.port()), upstream_at(b.port())});
  ASSERT_FALSE(rig.start_error);
  constexpr int kClients = 8;
  int per_upstream[2] = {0, 0};
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int client = connect_blocking(rig.address);
    ASSERT_GE(client, 0);
    int server_side = -1;
    int which = accept_any({&a, &b}, &server_side);
    ASSERT_GE(which, 0) << "client " << i << " reached no upstream";
    ++per_upstream[which];
    fds.push_back(client);
    fds.push_back(server_side);
  }
  EXPECT_EQ(per_upstream[0], kClients / 2);
  EXPECT_EQ(per_upstream[1], kClients / 2);
  auto snapshot = rig.snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  EXPECT_EQ(snapshot[0].stats.requests, kClients / 2u);
  EXPECT_EQ(snapshot[1].stats.requests, kClients / 2u);
  for (int fd : fds) ::close(fd);
}

// Maglev places a client by its IP: every connection from one IP goes to the same upstream,
// and clients from different IPs spread over both.
TEST_P(ProxyTcpTest, MaglevKeepsEachClientIpOnOneUpstream) {
  UpstreamListener a, b;
  TcpProxyOptions options;
  options.balance = proxy::Algorithm::maglev;
  ProxyRig rig(GetParam(), {upstream_at(a.port()), upstream_at(b.port())}, options);
  ASSERT_FALSE(rig.start_error);
  constexpr int kHosts = 16;
  int per_upstream[2] = {0, 0};
  for (int host = 1; host <= kHosts; ++host) {
    int first_choice = -1;
    for (int round = 0; round < 3; ++round) {
      SCOPED_TRACE("127.0.0." + std::to_string(host) + ", connection " + std::to_string(round));
      int client = connect_from(static_cast<uint8_t>(host), rig.address);
      ASSERT_GE(client, 0) << strerror(errno);
      int server_side = -1;
      int which = accept_any({&a, &b}, &server_side);
      ASSERT_GE(which, 0) << "the client reached no upstream";
      if (round == 0) first_choice = which;
      EXPECT_EQ(which, first_choice) << "one client IP went to two upstreams";
      ::close(client);
      ::close(server_side);
    }
    ++per_upstream[first_choice];
  }
  EXPECT_GT(per_upstream[0], 0) << "every client IP went to the second upstream";
  EXPECT_GT(per_upstream[1], 0) << "every client IP went to the first upstream";
}

// One upstream refuses connections: every client is still served, by the other one (a retry),
// and the table counts the refusals as that upstream's failures.
TEST_P(ProxyTcpTest, RefusedConnectRetriedOnOtherUpstream) {
  auto dead = upstream_at(refusing_port());
  UpstreamListener live;
  ProxyRig rig(GetParam(), {dead, upstream_at(live.port())});
  ASSERT_FALSE(rig.start_error);
  constexpr int kClients = 4;
  for (int i = 0; i < kClients; ++i) {
    SCOPED_TRACE("client " + std::to_string(i));
    int client = connect_blocking(rig.address);
    ASSERT_GE(client, 0);
    int server_side = live.accept_one();
    ASSERT_GE(server_side, 0) << "the client never reached the live upstream";
    ASSERT_EQ(::send(client, "x", 1, MSG_NOSIGNAL), 1);
    char byte = 0;
    ASSERT_EQ(::recv(server_side, &byte, 1, 0), 1);
    EXPECT_EQ(byte, 'x');
    ::close(client);
    ::close(server_side);
  }
  TcpProxyStats stats = rig.stats();
  EXPECT_EQ(stats.refused, 0u);
  EXPECT_GE(stats.retries, 1u);
  auto snapshot = rig.snapshot();
  const UpstreamSnapshot* refused = find(snapshot, dead);
  ASSERT_NE(refused, nullptr);
  EXPECT_GE(refused->stats.failures, 1u);
  EXPECT_EQ(refused->stats.successes, 0u);
  EXPECT_EQ(refused->outstanding, 0u);
}

// Every upstream refuses: the client is closed by the proxy (end of stream or a reset), not
// left waiting, and counted as refused.
TEST_P(ProxyTcpTest, AllUpstreamsDownClosesClient) {
  ProxyRig rig(GetParam(), {upstream_at(refusing_port()), upstream_at(refusing_port())});
  ASSERT_FALSE(rig.start_error);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("client " + std::to_string(i));
    int client = connect_blocking(rig.address);  // reads time out after 10 s: a hang fails
    ASSERT_GE(client, 0);
    EXPECT_TRUE(closed_by_peer(client)) << "the client was left open";
    ::close(client);
  }
  EXPECT_TRUE(rig.wait_for_stats([](const TcpProxyStats& s) { return s.refused == 3; }))
      << "refused " << rig.stats().refused;
  EXPECT_EQ(rig.stats().active, 0u);
}

// The client does not read while the upstream sends 16 MiB: the proxy stops reading the
// upstream at the relay's high-water mark (the sender blocks), so what it queues for the
// client stays bounded; then the client reads everything, intact.
TEST_P(ProxyTcpTest, NonReadingClientKeepsQueueBounded) {
  UpstreamListener upstream;
  TcpProxyOptions options;
  options.relay.high_water = 64 * 1024;
  options.relay.low_water = 16 * 1024;
  ProxyRig rig(GetParam(), {upstream_at(upstream.port())}, options);
  ASSERT_FALSE(rig.start_error);
  int client = connect_with_small_window(rig.address);
  ASSERT_GE(client, 0);
  int server_side = upstream.accept_one();
  ASSERT_GE(server_side, 0);

  constexpr size_t kTotal = 16u << 20;
  std::atomic<pid_t> sender_tid{0};
  std::thread sender([&] {
    sender_tid = static_cast<pid_t>(::syscall(SYS_gettid));
    std::vector<std::byte> chunk(256 * 1024);
    size_t sent = 0;
    while (sent < kTotal) {
      size_t n = std::min(chunk.size(), kTotal - sent);
      Pattern::get().fill(0, sent, std::span(chunk).first(n));
      ssize_t w = ::send(server_side, chunk.data(), n, MSG_NOSIGNAL);
      if (w <= 0) return;
      sent += static_cast<size_t>(w);
    }
    ::shutdown(server_side, SHUT_WR);
  });
  // The sender blocks in send() once every buffer on the way is full: the proxy has stopped
  // reading. (Asleep alone was not enough: once, under ASan, the sender was seen asleep before
  // anything was queued, the client then read at once, and peak_queued stayed 0. A sleep on a
  // lock, such as the allocator's, looks the same in /proc as a blocked send.)
  ASSERT_TRUE(wait_until([&] { return sender_tid.load() != 0; }, kBound));
  EXPECT_TRUE(wait_until_blocked_in(sender_tid.load(), SYS_sendto, kBound))
      << "the sender never blocked in send()";
  size_t bound = options.relay.high_water + 256 * 1024;  // plus one read at most
  EXPECT_LE(rig.stats().peak_queued, bound) << "while the client did not read";

  std::vector<std::byte> buffer(64 * 1024);
  size_t received = 0;
  bool intact = true;
  for (;;) {
    ssize_t n = ::recv(client, buffer.data(), buffer.size(), 0);
    if (n <= 0) break;
    intact = intact && Pattern::get().matches(0, received, std::span(buffer).first(n));
    received += static_cast<size_t>(n);
  }
  sender.join();
  EXPECT_EQ(received, kTotal);
  EXPECT_TRUE(intact);
  ::shutdown(client, SHUT_WR);
  EXPECT_TRUE(closed_by_peer(server_side));
  EXPECT_TRUE(rig.wait_for_stats([](const TcpProxyStats& s) { return s.active == 0; }));
  TcpProxyStats stats = rig.stats();
  EXPECT_EQ(stats.bytes_to_client, kTotal);
  EXPECT_GT(stats.peak_queued, 0u);
  EXPECT_LE(stats.peak_queued, bound);
  ::close(client);
  ::close(server_side);
}

// The upstream resets mid-stream: the client gets what was sent before, then its connection
// is closed; the reset counts as the upstream's failure.
TEST_P(ProxyTcpTest, UpstreamResetClosesClient) {
  UpstreamListener upstream;
  ProxyRig rig(GetParam(), {upstream_at(upstream.port())});
  ASSERT_FALSE(rig.start_error);
  auto [client, server_side] = connect_through(rig, upstream);
  ASSERT_GE(client, 0);
  ASSERT_GE(server_side, 0);
  ASSERT_TRUE(relay_runs({client, server_side}));
  ASSERT_EQ(::send(server_side, "partial", 7, MSG_NOSIGNAL), 7);
  char got[7];
  ASSERT_EQ(::recv(client, got, sizeof got, MSG_WAITALL), 7);
  EXPECT_EQ(std::string(got, 7), "partial");
  close_with_reset(server_side);
  EXPECT_TRUE(closed_by_peer(client)) << "the client stayed open";
  EXPECT_TRUE(rig.wait_for_stats([](const TcpProxyStats& s) { return s.active == 0; }));
  auto snapshot = rig.snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].stats.failures, 1u);
  EXPECT_EQ(snapshot[0].stats.successes, 0u);
  ::close(client);
}

// The client resets mid-stream: the proxy closes the upstream connection, and that counts
// neither as the upstream's success nor as its failure.
TEST_P(ProxyTcpTest, ClientResetIsNeutral) {
  UpstreamListener upstream;
  ProxyRig rig(GetParam(), {upstream_at(upstream.port())});
  ASSERT_FALSE(rig.start_error);
  auto [client, server_side] = connect_through(rig, upstream);
  ASSERT_GE(client, 0);
  ASSERT_GE(server_side, 0);
  ASSERT_TRUE(relay_runs({client, server_side}));
  close_with_reset(client);
  EXPECT_TRUE(closed_by_peer(server_side));
  EXPECT_TRUE(rig.wait_for_stats([](const TcpProxyStats& s) { return s.active == 0; }));
  auto snapshot = rig.snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].stats.failures, 0u);
  EXPECT_EQ(snapshot[0].stats.successes, 0u);
  EXPECT_EQ(snapshot[0].outstanding, 0u);
  ::close(server_side);
}

// A reload removes the upstream a client is relayed to: that client's relay goes on (its
// connection is not dropped), new clients go to the new upstream, and the removed entry is
// erased once its last relay has ended.
TEST_P(ProxyTcpTest, RemovedUpstreamKeepsItsRelaysUntilTheyEnd) {
  UpstreamListener old_upstream, new_upstream;
  ProxyRig rig(GetParam(), {upstream_at(old_upstream.port())});
  ASSERT_FALSE(rig.start_error);
  int first = connect_blocking(rig.address);
  ASSERT_GE(first, 0);
  int first_upstream = old_upstream.accept_one();
  ASSERT_GE(first_upstream, 0);

  rig.apply({upstream_at(new_upstream.port())});
  EXPECT_EQ(rig.table_size(), 2u) << "the removed upstream is erased while a relay uses it";
  int second = connect_blocking(rig.address);
  ASSERT_GE(second, 0);
  int second_upstream = new_upstream.accept_one();
  ASSERT_GE(second_upstream, 0) << "a new client did not go to the new upstream";

  ExchangeEnd from_client{first, 2, 256 * 1024};
  ExchangeEnd from_upstream{first_upstream, 3, 128 * 1024};
  EXPECT_EQ(exchange_both_ways(from_client, from_upstream, kExchangeBound), "")
      << "the removed upstream's relay broke";
  EXPECT_TRUE(wait_until([&] { return rig.table_size() == 1; }, kBound))
      << "the removed upstream was never erased";
  auto snapshot = rig.snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].name, upstream_at(new_upstream.port()).name);
  for (int fd : {first, first_upstream, second, second_upstream}) ::close(fd);
}

// The per-upstream connection limit: at one connection, a second client waits for its
// upstream connection (it is not refused) and is relayed once the first has ended. Destroying
// the proxy then closes both the client being relayed and the one still waiting.
TEST_P(ProxyTcpTest, ConnectionLimitQueuesThenDestroyClosesAll) {
  UpstreamListener upstream;
  TcpProxyOptions options;
  options.pool.max_connections = 1;
  options.pool.wait_timeout = 60s;  // longer than any wait here: the queue, not a timeout
  ProxyRig rig(GetParam(), {upstream_at(upstream.port())}, options);
  ASSERT_FALSE(rig.start_error);
  int first = connect_blocking(rig.address);
  ASSERT_GE(first, 0);
  int first_upstream = upstream.accept_one();
  ASSERT_GE(first_upstream, 0);
  int second = connect_blocking(rig.address);
  ASSERT_GE(second, 0);
  EXPECT_TRUE(rig.wait_for_stats([](const TcpProxyStats& s) { return s.connections == 2; }));
  EXPECT_EQ(rig.stats().active, 1u) << "the second client must wait for the connection";

  ::shutdown(first, SHUT_WR);
  ::shutdown(first_upstream, SHUT_WR);
  EXPECT_TRUE(closed_by_peer(first));
  int second_upstream = upstream.accept_one();
  ASSERT_GE(second_upstream, 0) << "the waiting client never got the connection";
  ASSERT_EQ(::send(second, "y", 1, MSG_NOSIGNAL), 1);
  char byte = 0;
  ASSERT_EQ(::recv(second_upstream, &byte, 1, 0), 1);
  int third = connect_blocking(rig.address);
  ASSERT_GE(third, 0);
  EXPECT_TRUE(rig.wait_for_stats([](const TcpProxyStats& s) { return s.connections == 3; }));
  EXPECT_EQ(rig.stats().refused, 0u);

  rig.destroy_proxy();
  EXPECT_TRUE(closed_by_peer(second)) << "the relayed client stayed open";
  EXPECT_TRUE(closed_by_peer(second_upstream)) << "its upstream connection stayed open";
  EXPECT_TRUE(closed_by_peer(third)) << "the waiting client stayed open";
  for (int fd : {first, first_upstream, second, second_upstream, third}) ::close(fd);
}

INSTANTIATE_TEST_SUITE_P(Backends, ProxyTcpTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
