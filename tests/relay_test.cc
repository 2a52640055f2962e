// The relay: bytes both ways byte-exact, half-close in each direction, bounded memory with a
// slow reader, an error closes both. Every test runs on every backend. A TcpServer (the proxy's
// front) relays each client to a plain upstream socket over a ConnectionPool lease, as a TCP
// proxy does; the client and the upstream are plain sockets on the test thread.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>

#include "tern/net/connection_pool.h"
#include "tern/net/relay.h"
#include "test_support.h"
#include "two_way_exchange.h"
#include "upstream_listener.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kBound = 20s;  // liveness bound of every wait: a failure, not a measurement

// The proxy: a server on a loop thread whose connections are each relayed to the upstream.
class RelayRig {
 public:
  struct Session {
    PooledConnection lease;
    std::unique_ptr<Relay> relay;
    std::optional<RelayResult> result;
  };

  RelayRig(BackendKind kind, InetAddress upstream, RelayOptions options)
      : thread_(kind, [this, upstream, options](EventLoop& loop) {
          pool = std::make_unique<ConnectionPool>(loop, upstream);
          server = std::make_unique<TcpServer>(loop, InetAddress::loopback_v4(0));
          server->on_connection(
              [this, options](TcpConnection& client) { relay(client.id(), options); });
          start_error = server->start();
          address = server->local_address();
        }) {}
  ~RelayRig() {
    call([this](EventLoop&) {
      sessions.clear();
      server.reset();
      pool.reset();
    });
  }

  template <class F>
  auto call(F fn) -> decltype(fn(std::declval<EventLoop&>())) {
    return thread_.call(fn);
  }
  RelayResult result(size_t session) {
    return call([&](EventLoop&) { return sessions.at(session)->result.value_or(RelayResult{}); });
  }

  std::unique_ptr<ConnectionPool> pool;
  std::unique_ptr<TcpServer> server;
  std::vector<std::unique_ptr<Session>> sessions;
  std::error_code start_error;
  InetAddress address;
  EventCount started;   // raised on the loop thread as each relay starts
  EventCount finished;  // and as each one's done callback runs

 private:
  // Loop thread.
  void relay(ConnId client_id, RelayOptions options) {
    pool->checkout([this, client_id, options](Result<PooledConnection> lease) {
      TcpConnection* client = server->find(client_id);
      if (!client) return;  // the client left meanwhile; the lease goes back
      if (!lease) {
        ADD_FAILURE() << "no upstream connection: " << lease.error().message();
        client->close();
        return;
      }
      auto session = std::make_unique<Session>();
      session->lease = std::move(lease.value());
      session->relay = std::make_unique<Relay>(*client, *session->lease, options);
      Session& s = *session;
      sessions.push_back(std::move(session));
      s.relay->start([this, &s](const RelayResult& result) {
        s.result = result;
        finished.add();
      });
      started.add();
    });
  }

  LoopThread thread_;  // last: its setup fills the members above
};

class RelayTest : public BackendTest {};

TEST_P(RelayTest, BytesBothWaysByteExact) {
  UpstreamListener upstream;
  RelayRig rig(GetParam(), upstream.address(), {});
  ASSERT_FALSE(rig.start_error) << rig.start_error.message();
  int client = connect_blocking(rig.address);
  ASSERT_GE(client, 0);
  int server_side = upstream.accept_one();
  ASSERT_GE(server_side, 0);
  ExchangeEnd from_client{client, 0, (4u << 20) + 123};
  ExchangeEnd from_upstream{server_side, 1, (3u << 20) + 4567};
  EXPECT_EQ(exchange_both_ways(from_client, from_upstream, 120s), "");
  EXPECT_TRUE(rig.finished.wait_until_at_least(1, kBound)) << "done never ran";
  RelayResult result = rig.result(0);
  EXPECT_FALSE(result.error) << result.error.message();
  EXPECT_EQ(result.client_to_upstream, from_client.to_send);
  EXPECT_EQ(result.upstream_to_client, from_upstream.to_send);
  ::close(client);
  ::close(server_side);
}

// End of stream from one side reaches the other as a FIN, and the other direction goes on:
// the answer sent after the half-close arrives whole. Client first, then upstream first.
TEST_P(RelayTest, HalfCloseInEachDirection) {
  UpstreamListener upstream;
  RelayRig rig(GetParam(), upstream.address(), {});
  ASSERT_FALSE(rig.start_error);
  for (bool client_first : {true, false}) {
    SCOPED_TRACE(client_first ? "client half-closes first" : "upstream half-closes first");
    int client = connect_blocking(rig.address);
    ASSERT_GE(client, 0);
    int server_side = upstream.accept_one();
    ASSERT_GE(server_side, 0);
    int first = client_first ? client : server_side;
    int second = client_first ? server_side : client;
    ASSERT_EQ(::send(first, "question", 8, MSG_NOSIGNAL), 8);
    ASSERT_EQ(::shutdown(first, SHUT_WR), 0);
    EXPECT_EQ(read_string_until_eof(second), "question");
    ASSERT_EQ(::send(second, "answer", 6, MSG_NOSIGNAL), 6);
    ASSERT_EQ(::shutdown(second, SHUT_WR), 0);
    EXPECT_EQ(read_string_until_eof(first), "answer");
    size_t index = client_first ? 0 : 1;
    EXPECT_TRUE(rig.finished.wait_until_at_least(static_cast<int>(index) + 1, kBound));
    RelayResult result = rig.result(index);
    EXPECT_FALSE(result.error) << result.error.message();
    EXPECT_EQ(result.client_to_upstream, client_first ? 8u : 6u);
    EXPECT_EQ(result.upstream_to_client, client_first ? 6u : 8u);
    ::close(client);
    ::close(server_side);
  }
}

// The upstream reads slowly: the relay stops reading the client at the high-water mark, so
// the upstream connection's write queue never holds more than that plus one read.
TEST_P(RelayTest, SlowReaderKeepsMemoryBounded) {
  UpstreamListener upstream(0, 16 * 1024);  // a small window: the relay's queue fills at once
  RelayOptions options;
  options.high_water = 64 * 1024;
  options.low_water = 16 * 1024;
  RelayRig rig(GetParam(), upstream.address(), options);
  ASSERT_FALSE(rig.start_error);
  int client = connect_blocking(rig.address);
  ASSERT_GE(client, 0);
  int server_side = upstream.accept_one();
  ASSERT_GE(server_side, 0);
  ASSERT_TRUE(rig.started.wait_until_at_least(1, kBound));

  constexpr size_t kTotal = 16u << 20;
  std::thread sender([client] {
    std::vector<std::byte> chunk(256 * 1024);
    size_t sent = 0;
    while (sent < kTotal) {
      size_t n = std::min(chunk.size(), kTotal - sent);
      Pattern::get().fill(0, sent, std::span(chunk).first(n));
      ssize_t w = ::send(client, chunk.data(), n, MSG_NOSIGNAL);
      if (w <= 0) return;
      sent += static_cast<size_t>(w);
    }
    ::shutdown(client, SHUT_WR);
  });

  auto relay_state = [&] {
    return rig.call([&](EventLoop&) {
      RelayRig::Session& s = *rig.sessions.at(0);
      struct {
        size_t queued, largest_read, peak;
        uint64_t pauses;
      } state{s.lease ? s.lease->write_queue_bytes() : 0, s.relay->largest_read(Relay::kToUpstream),
              s.relay->peak_queued(Relay::kToUpstream), s.relay->pauses(Relay::kToUpstream)};
      return state;
    });
  };
  // Nobody reads yet: the relay must pause reading the client (its /proc-free sign: the count).
  EXPECT_TRUE(wait_until([&] { return relay_state().pauses > 0; }, kBound))
      << "the relay never paused reading";

  std::vector<std::byte> buffer(16 * 1024);
  size_t received = 0;
  bool intact = true;
  size_t largest_sample = 0;
  for (int reads = 0; received < kTotal; ++reads) {
    ssize_t n = ::recv(server_side, buffer.data(), buffer.size(), 0);
    if (n <= 0) break;
    intact = intact && Pattern::get().matches(0, received, std::span(buffer).first(n));
    received += static_cast<size_t>(n);
    if (reads % 32 == 0) {
      auto state = relay_state();
      largest_sample = std::max(largest_sample, state.queued);
      EXPECT_LE(state.queued, options.high_water + state.largest_read);
    }
  }
  sender.join();
  EXPECT_EQ(received, kTotal);
  EXPECT_TRUE(intact);
  char byte;
  EXPECT_EQ(::recv(server_side, &byte, 1, 0), 0) << "the client's FIN was not relayed";
  ::shutdown(server_side, SHUT_WR);
  EXPECT_EQ(::recv(client, &byte, 1, 0), 0);
  EXPECT_TRUE(rig.finished.wait_until_at_least(1, kBound));

  auto state = relay_state();
  EXPECT_GE(state.pauses, 1u);
  EXPECT_LE(state.peak, options.high_water + state.largest_read)
      << "largest read " << state.largest_read << ", largest sampled queue " << largest_sample;
  EXPECT_LE(state.peak, options.high_water + 256 * 1024);
  RelayResult result = rig.result(0);
  EXPECT_FALSE(result.error) << result.error.message();
  EXPECT_EQ(result.client_to_upstream, kTotal);
  ::close(client);
  ::close(server_side);
}

// A reset on one side closes the other at once (without waiting for it to finish), and done
// reports the error. Client resets, then upstream resets.
TEST_P(RelayTest, ErrorClosesBoth) {
  UpstreamListener upstream;
  RelayRig rig(GetParam(), upstream.address(), {});
  ASSERT_FALSE(rig.start_error);
  for (bool client_resets : {true, false}) {
    SCOPED_TRACE(client_resets ? "client resets" : "upstream resets");
    int client = connect_blocking(rig.address);
    ASSERT_GE(client, 0);
    int server_side = upstream.accept_one();
    ASSERT_GE(server_side, 0);
    char byte = 'a';
    ASSERT_EQ(::send(client, &byte, 1, MSG_NOSIGNAL), 1);
    ASSERT_EQ(::recv(server_side, &byte, 1, 0), 1);  // the relay runs
    int resetting = client_resets ? client : server_side;
    int other = client_resets ? server_side : client;
    linger reset{1, 0};
    ::setsockopt(resetting, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(resetting);
    ssize_t n = ::recv(other, &byte, 1, 0);
    EXPECT_TRUE(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        << "the other side stayed open";
    size_t index = client_resets ? 0 : 1;
    EXPECT_TRUE(rig.finished.wait_until_at_least(static_cast<int>(index) + 1, kBound))
        << "done never ran";
    RelayResult result = rig.result(index);
    EXPECT_EQ(result.error, std::errc::connection_reset) << result.error.message();
    EXPECT_EQ(result.upstream_error, !client_resets) << "the failure named the wrong side";
    ::close(other);
  }
}

INSTANTIATE_TEST_SUITE_P(AllBackends, RelayTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
