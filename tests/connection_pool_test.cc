// The client pool: reuse, the connection limit with its bounded wait, the idle timeout, idle
// connections the upstream closed, reconnect and health, close. Every test runs on every
// backend; the upstream is a plain listening socket on the test thread (no tern code).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "tern/net/connection_pool.h"
#include "test_support.h"
#include "upstream_listener.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kBound = 20s;  // liveness bound of every wait: a failure, not a measurement

// A port with nothing listening: bind a socket, note its port, close it.
uint16_t unused_port() {
  UpstreamListener probe;
  return probe.port();
}

// The state column of /proc/net/tcp for the IPv4 socket local_port -> remote_port ("01"
// established, "08" close-wait, ...), or "" when there is none.
std::string tcp_state(uint16_t local_port, uint16_t remote_port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  char local_suffix[8];
  char remote_suffix[8];
  std::snprintf(local_suffix, sizeof local_suffix, ":%04X", local_port);
  std::snprintf(remote_suffix, sizeof remote_suffix, ":%04X", remote_port);
  auto ends_with = [](const std::string& s, const char* suffix) {
    return s.size() >= 5 && s.compare(s.size() - 5, 5, suffix) == 0;
  };
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (ends_with(local, local_suffix) && ends_with(remote, remote_suffix)) return state;
  }
  return "";
}

struct Outcome {
  std::error_code error;
  uint16_t local_port = 0;
  bool reused = false;
  size_t lease = SIZE_MAX;  // index into PoolRig::leases
};

// A ConnectionPool on a loop thread; the leases it hands out are kept there, by index.
class PoolRig {
 public:
  PoolRig(BackendKind kind, InetAddress upstream, ConnectionPoolOptions options)
      : thread_(kind, [this, upstream, options](EventLoop& loop) {
          pool = std::make_unique<ConnectionPool>(loop, upstream, options);
          pool->on_health_change([this](const PoolHealth&) { health_changes.add(); });
        }) {}
  ~PoolRig() {
    call([this](EventLoop&) {
      leases.clear();
      pool.reset();
    });
  }

  template <class F>
  auto call(F fn) -> decltype(fn(std::declval<EventLoop&>())) {
    return thread_.call(fn);
  }

  // Starts a checkout; the future has its outcome. Test thread.
  std::future<Outcome> start_checkout() {
    return call([this](EventLoop&) { return checkout_here(); });
  }
  // The same, on the loop thread (inside call()).
  std::future<Outcome> checkout_here() {
    auto done = std::make_shared<std::promise<Outcome>>();
    auto future = done->get_future();
    pool->checkout([this, done](auto r) { answer(r, *done); });
    return future;
  }
  static Outcome wait(std::future<Outcome>& future) {
    if (future.wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "the checkout was never answered";
      return Outcome{make_error_code(errc::not_connected)};
    }
    return future.get();
  }
  Outcome checkout() {
    auto future = start_checkout();
    return wait(future);
  }
  void release(size_t lease) {
    call([this, lease](EventLoop&) { leases.at(lease).release(); });
  }
  PoolCounters counters() {
    return call([this](EventLoop&) { return pool->counters(); });
  }
  PoolHealth health() {
    return call([this](EventLoop&) { return pool->health(); });
  }

  // Loop thread only, like the pool.
  void answer(Result<PooledConnection>& result, std::promise<Outcome>& done) {
    Outcome outcome;
    if (!result) {
      outcome.error = result.error();
    } else {
      outcome.local_port = result->get()->local_address().port();
      outcome.reused = result->reused();
      outcome.lease = leases.size();
      leases.push_back(std::move(result.value()));
    }
    done.set_value(outcome);
  }

  std::unique_ptr<ConnectionPool> pool;
  std::vector<PooledConnection> leases;
  EventCount health_changes;  // raised on the loop thread

 private:
  LoopThread thread_;  // last: its setup fills the members above
};

std::string receive(int fd, size_t n) {
  std::string got(n, '\0');
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::recv(fd, got.data() + done, n - done, 0);
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  got.resize(done);
  return got;
}

// The upstream ends of two pooled connections, matched to them by the pool's local ports.
struct AcceptedPair {
  AcceptedPair(UpstreamListener& listener, uint16_t first_port, uint16_t second_port) {
    for (int i = 0; i < 2; ++i) {
      int fd = listener.accept_one();
      if (fd < 0) return;
      sockaddr_in peer{};
      socklen_t length = sizeof peer;
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length);
      uint16_t port = ntohs(peer.sin_port);
      if (port == first_port) first = fd;
      else if (port == second_port) second = fd;
      else ::close(fd);
    }
  }
  ~AcceptedPair() {
    if (first >= 0) ::close(first);
    if (second >= 0) ::close(second);
  }
  bool ok() const { return first >= 0 && second >= 0; }
  int first = -1;
  int second = -1;
};

class ConnectionPoolTest : public BackendTest {};

// Two checkouts one after the other get one connection (same local port), and it still
// carries bytes the second time.
TEST_P(ConnectionPoolTest, SequentialCheckoutsReuseOneConnection) {
  UpstreamListener upstream;
  ASSERT_TRUE(upstream.ok());
  PoolRig rig(GetParam(), upstream.address(), {});
  Outcome first = rig.checkout();
  ASSERT_FALSE(first.error) << first.error.message();
  EXPECT_FALSE(first.reused);
  rig.release(first.lease);
  Outcome second = rig.checkout();
  ASSERT_FALSE(second.error) << second.error.message();
  EXPECT_EQ(second.local_port, first.local_port);
  EXPECT_TRUE(second.reused);

  int server_side = upstream.accept_one();
  ASSERT_GE(server_side, 0);
  rig.call([&](EventLoop&) { rig.leases[second.lease]->write(std::string_view("ping")); });
  EXPECT_EQ(receive(server_side, 4), "ping");
  EXPECT_EQ(upstream.accept_one(0), -1) << "a second connection was made";
  PoolCounters counters = rig.counters();
  EXPECT_EQ(counters.connects, 1u);
  EXPECT_EQ(counters.reuses, 1u);
  EXPECT_DOUBLE_EQ(counters.reuse_ratio(), 0.5);
  ::close(server_side);
}

// At max_connections a checkout waits (at most max_waiters of them) until a connection comes
// back or its deadline passes.
TEST_P(ConnectionPoolTest, LimitWaitsBoundedlyThenTimesOut) {
  UpstreamListener upstream;
  ConnectionPoolOptions options;
  options.max_connections = 2;
  options.max_waiters = 1;
  options.wait_timeout = 50ms;
  PoolRig rig(GetParam(), upstream.address(), options);
  Outcome a = rig.checkout();
  Outcome b = rig.checkout();
  ASSERT_FALSE(a.error);
  ASSERT_FALSE(b.error);
  EXPECT_NE(a.local_port, b.local_port);

  // In one loop task, so the first still waits when the second asks.
  std::future<Outcome> waiting, refused;
  rig.call([&](EventLoop&) {
    waiting = rig.checkout_here();
    refused = rig.checkout_here();
  });
  EXPECT_EQ(PoolRig::wait(refused).error, pool_errc::queue_full);
  EXPECT_EQ(PoolRig::wait(waiting).error, pool_errc::wait_timeout);

  // A waiter gets the connection given back (the same one).
  std::future<Outcome> served;
  rig.call([&](EventLoop&) {
    served = rig.checkout_here();
    rig.leases.at(a.lease).release();
  });
  Outcome c = PoolRig::wait(served);
  ASSERT_FALSE(c.error) << c.error.message();
  EXPECT_EQ(c.local_port, a.local_port);
  EXPECT_TRUE(c.reused);

  PoolCounters counters = rig.counters();
  EXPECT_EQ(counters.connects, 2u);
  EXPECT_EQ(counters.waits, 2u);
  EXPECT_EQ(counters.queue_full, 1u);
  EXPECT_EQ(counters.wait_timeouts, 1u);
  rig.call([&](EventLoop&) { EXPECT_EQ(rig.pool->open_connections(), 2u); });
}

// More connections returned than max_idle: the surplus is closed, the rest kept.
TEST_P(ConnectionPoolTest, MaxIdleClosesTheSurplus) {
  UpstreamListener upstream;
  ConnectionPoolOptions options;
  options.max_idle = 1;
  PoolRig rig(GetParam(), upstream.address(), options);
  Outcome a = rig.checkout();
  Outcome b = rig.checkout();
  ASSERT_FALSE(a.error);
  ASSERT_FALSE(b.error);
  AcceptedPair sides(upstream, a.local_port, b.local_port);
  ASSERT_TRUE(sides.ok());
  rig.release(a.lease);  // kept
  rig.release(b.lease);  // one too many: closed
  char byte;
  EXPECT_EQ(::recv(sides.second, &byte, 1, 0), 0) << "the surplus connection stayed open";
  rig.call([&](EventLoop&) { EXPECT_EQ(rig.pool->idle_connections(), 1u); });
  Outcome again = rig.checkout();
  ASSERT_FALSE(again.error);
  EXPECT_EQ(again.local_port, a.local_port);
}

// Waiters are served in the order they came, each by the connection given back.
TEST_P(ConnectionPoolTest, WaitersAreServedInOrder) {
  UpstreamListener upstream;
  ConnectionPoolOptions options;
  options.max_connections = 1;
  options.max_waiters = 4;
  options.wait_timeout = 20s;
  PoolRig rig(GetParam(), upstream.address(), options);
  Outcome first = rig.checkout();
  ASSERT_FALSE(first.error);
  std::vector<int> order;
  rig.call([&](EventLoop&) {
    for (int i = 0; i < 4; ++i) {
      rig.pool->checkout([&order, i](Result<PooledConnection> lease) {
        EXPECT_TRUE(lease.ok());
        order.push_back(i);
        // Give it back at once: the next waiter gets it, from inside this release.
      });
    }
    EXPECT_EQ(rig.pool->waiting_checkouts(), 4u);
    rig.leases.at(first.lease).release();
  });
  EXPECT_EQ(rig.call([&](EventLoop&) { return order; }), (std::vector<int>{0, 1, 2, 3}));
  PoolCounters counters = rig.counters();
  EXPECT_EQ(counters.connects, 1u);
  EXPECT_EQ(counters.reuses, 4u);
}

// A waiting checkout withdrawn with cancel_checkout() never hears back; the connection given
// back meanwhile goes to the idle list instead.
TEST_P(ConnectionPoolTest, CancelledCheckoutIsNeverAnswered) {
  UpstreamListener upstream;
  ConnectionPoolOptions options;
  options.max_connections = 1;
  options.wait_timeout = 20s;
  PoolRig rig(GetParam(), upstream.address(), options);
  Outcome a = rig.checkout();
  ASSERT_FALSE(a.error);
  bool answered = false;
  rig.call([&](EventLoop&) {
    auto id = rig.pool->checkout([&answered](auto) { answered = true; });
    EXPECT_NE(id, 0u);
    EXPECT_TRUE(rig.pool->cancel_checkout(id));
    EXPECT_FALSE(rig.pool->cancel_checkout(id));
    rig.leases.at(a.lease).release();
    EXPECT_EQ(rig.pool->idle_connections(), 1u);
    EXPECT_EQ(rig.pool->waiting_checkouts(), 0u);
  });
  EXPECT_FALSE(rig.call([&](EventLoop&) { return answered; }));
}

// An idle connection is closed by the idle timeout: the upstream reads its end of stream.
TEST_P(ConnectionPoolTest, IdleTimeoutClosesIdleConnections) {
  UpstreamListener upstream;
  ConnectionPoolOptions options;
  options.idle_timeout = 30ms;
  PoolRig rig(GetParam(), upstream.address(), options);
  Outcome first = rig.checkout();
  ASSERT_FALSE(first.error);
  int server_side = upstream.accept_one();
  ASSERT_GE(server_side, 0);
  rig.release(first.lease);
  char byte;
  EXPECT_EQ(::recv(server_side, &byte, 1, 0), 0) << "the idle connection was not closed";
  ::close(server_side);
  rig.call([&](EventLoop&) {
    EXPECT_EQ(rig.pool->idle_connections(), 0u);
    EXPECT_EQ(rig.pool->counters().idle_expired, 1u);
  });
  Outcome second = rig.checkout();
  ASSERT_FALSE(second.error);
  EXPECT_FALSE(second.reused);
  EXPECT_NE(second.local_port, first.local_port);
}

// The upstream closes an idle connection: the pool reads the end of stream while idle and
// drops the connection on its own; the next checkout makes a new one.
TEST_P(ConnectionPoolTest, ConnectionClosedByUpstreamWhileIdleIsDropped) {
  UpstreamListener upstream;
  PoolRig rig(GetParam(), upstream.address(), {});
  Outcome first = rig.checkout();
  ASSERT_FALSE(first.error);
  int server_side = upstream.accept_one();
  ASSERT_GE(server_side, 0);
  rig.release(first.lease);
  ::close(server_side);
  EXPECT_TRUE(wait_until(
      [&] { return rig.call([&](EventLoop&) { return rig.pool->idle_connections(); }) == 0; },
      kBound))
      << "the pool kept the closed connection";
  EXPECT_EQ(rig.counters().stale_dropped, 1u);
  Outcome second = rig.checkout();
  ASSERT_FALSE(second.error) << second.error.message();
  EXPECT_FALSE(second.reused);
  EXPECT_NE(second.local_port, first.local_port);
}

// The FIN arrives while the loop is busy (it cannot have read it yet), and a checkout comes
// next in the same loop task: the pool must still not hand the closed connection out.
TEST_P(ConnectionPoolTest, ConnectionClosedByUpstreamWhileIdleIsNotHandedOut) {
  UpstreamListener upstream;
  PoolRig rig(GetParam(), upstream.address(), {});
  Outcome first = rig.checkout();
  ASSERT_FALSE(first.error);
  int server_side = upstream.accept_one();
  ASSERT_GE(server_side, 0);
  rig.release(first.lease);

  std::promise<void> loop_busy;
  std::thread closer([&] {
    loop_busy.get_future().wait();
    ::close(server_side);
  });
  std::future<Outcome> second_future;
  rig.call([&](EventLoop&) {
    loop_busy.set_value();
    EXPECT_TRUE(wait_until(
        [&] { return tcp_state(first.local_port, upstream.port()) != "01"; }, kBound))
        << "the FIN never reached the pooled socket";
    second_future = rig.checkout_here();
  });
  closer.join();
  Outcome second = PoolRig::wait(second_future);
  ASSERT_FALSE(second.error) << second.error.message();
  EXPECT_FALSE(second.reused);
  EXPECT_NE(second.local_port, first.local_port);
  PoolCounters counters = rig.counters();
  EXPECT_EQ(counters.reuses, 0u);
  EXPECT_EQ(counters.connects, 2u);
  EXPECT_EQ(counters.stale_dropped, 1u);
}

// The upstream goes away (listener and connections closed): checkouts fail, the upstream is
// marked down; when the listener comes back on its port the background reconnect brings it up
// and checkouts succeed again.
TEST_P(ConnectionPoolTest, ReconnectsAfterTheUpstreamListenerComesBack) {
  auto upstream = std::make_unique<UpstreamListener>();
  uint16_t port = upstream->port();
  ConnectionPoolOptions options;
  options.down_after_failures = 2;
  options.connect.initial_backoff = 5ms;
  options.connect.max_backoff = 20ms;
  PoolRig rig(GetParam(), upstream->address(), options);
  Outcome first = rig.checkout();
  ASSERT_FALSE(first.error);
  int server_side = upstream->accept_one();
  ASSERT_GE(server_side, 0);
  rig.release(first.lease);
  ::close(server_side);
  upstream->close();
  EXPECT_TRUE(wait_until([&] { return tcp_state(first.local_port, port) != "01"; }, kBound));

  EXPECT_EQ(rig.checkout().error, std::errc::connection_refused);
  EXPECT_EQ(rig.checkout().error, std::errc::connection_refused);
  EXPECT_FALSE(rig.health().up);
  EXPECT_EQ(rig.checkout().error, pool_errc::upstream_down);

  upstream = std::make_unique<UpstreamListener>(port);
  ASSERT_TRUE(upstream->ok()) << "port " << port << " was taken meanwhile";
  EXPECT_TRUE(rig.health_changes.wait_until_at_least(2, kBound)) << "never came back up";
  EXPECT_TRUE(rig.health().up);
  Outcome again = rig.checkout();
  ASSERT_FALSE(again.error) << again.error.message();
  EXPECT_NE(again.local_port, first.local_port);
  PoolCounters counters = rig.counters();
  EXPECT_EQ(counters.connects, 2u);  // the first, and the reconnect (lent from the idle list)
  EXPECT_EQ(counters.connect_failures, 2u);
}

// Health: down after N consecutive connect failures, with the time it went down; a checkout
// then fails at once; the first successful connect brings it back up.
TEST_P(ConnectionPoolTest, HealthGoesDownAfterNFailuresAndUpAgain) {
  uint16_t port = unused_port();
  ConnectionPoolOptions options;
  options.down_after_failures = 3;
  options.connect.initial_backoff = 5ms;
  options.connect.max_backoff = 20ms;
  PoolRig rig(GetParam(), InetAddress::loopback_v4(port), options);
  for (int i = 1; i <= 2; ++i) {
    EXPECT_EQ(rig.checkout().error, std::errc::connection_refused);
    PoolHealth health = rig.health();
    EXPECT_TRUE(health.up);
    EXPECT_EQ(health.consecutive_failures, i);
  }
  TimePoint before = Clock::now();
  EXPECT_EQ(rig.checkout().error, std::errc::connection_refused);
  PoolHealth down = rig.health();  // read on the loop after the failure was recorded
  TimePoint after = Clock::now();
  EXPECT_FALSE(down.up);
  EXPECT_EQ(down.consecutive_failures, 3);
  EXPECT_EQ(down.last_error, std::errc::connection_refused);
  EXPECT_GE(down.down_since, before);
  EXPECT_LE(down.down_since, after);
  EXPECT_EQ(rig.checkout().error, pool_errc::upstream_down);
  EXPECT_EQ(rig.counters().down_rejections, 1u);
  EXPECT_EQ(rig.health_changes.value(), 1);

  UpstreamListener upstream(port);
  ASSERT_TRUE(upstream.ok()) << "port " << port << " was taken meanwhile";
  EXPECT_TRUE(rig.health_changes.wait_until_at_least(2, kBound)) << "never came back up";
  PoolHealth up = rig.health();
  EXPECT_TRUE(up.up);
  EXPECT_EQ(up.consecutive_failures, 0);
  Outcome served = rig.checkout();
  EXPECT_FALSE(served.error) << served.error.message();
}

// close() with every connection lent and a checkout waiting: the waiter and later checkouts
// fail with closed; lent connections keep working until they come back, and are closed then;
// on_closed runs once the last one is gone.
TEST_P(ConnectionPoolTest, CloseFailsWaitersAndClosesLentConnectionsOnReturn) {
  UpstreamListener upstream;
  ConnectionPoolOptions options;
  options.max_connections = 2;
  options.wait_timeout = 20s;
  PoolRig rig(GetParam(), upstream.address(), options);
  Outcome a = rig.checkout();
  Outcome b = rig.checkout();
  ASSERT_FALSE(a.error);
  ASSERT_FALSE(b.error);
  AcceptedPair sides(upstream, a.local_port, b.local_port);
  ASSERT_TRUE(sides.ok());
  std::future<Outcome> waiter = rig.start_checkout();
  EventCount closed;
  rig.call([&](EventLoop&) {
    EXPECT_EQ(rig.pool->waiting_checkouts(), 1u);
    rig.pool->close([&closed] { closed.add(); });
  });
  EXPECT_EQ(PoolRig::wait(waiter).error, pool_errc::closed);
  EXPECT_EQ(rig.checkout().error, pool_errc::closed);

  rig.call([&](EventLoop&) { rig.leases.at(a.lease)->write(std::string_view("still")); });
  EXPECT_EQ(receive(sides.first, 5), "still");
  rig.release(a.lease);
  char byte;
  EXPECT_EQ(::recv(sides.first, &byte, 1, 0), 0) << "a returned connection stayed open";
  rig.call([&](EventLoop&) { EXPECT_EQ(rig.pool->open_connections(), 1u); });
  EXPECT_EQ(closed.value(), 0);
  rig.release(b.lease);
  EXPECT_EQ(::recv(sides.second, &byte, 1, 0), 0);
  EXPECT_TRUE(closed.wait_until_at_least(1, kBound)) << "on_closed never ran";
}

// close() closes idle connections at once, while a lent one stays open.
TEST_P(ConnectionPoolTest, CloseClosesIdleConnectionsAtOnce) {
  UpstreamListener upstream;
  PoolRig rig(GetParam(), upstream.address(), {});
  Outcome a = rig.checkout();
  Outcome b = rig.checkout();
  ASSERT_FALSE(a.error);
  ASSERT_FALSE(b.error);
  AcceptedPair sides(upstream, a.local_port, b.local_port);
  ASSERT_TRUE(sides.ok());
  rig.release(a.lease);
  rig.call([&](EventLoop&) { rig.pool->close(); });
  char byte;
  EXPECT_EQ(::recv(sides.first, &byte, 1, 0), 0) << "the idle connection stayed open";
  rig.call([&](EventLoop&) {
    ASSERT_TRUE(rig.leases.at(b.lease));
    EXPECT_FALSE(rig.leases.at(b.lease)->closing());
  });
}

INSTANTIATE_TEST_SUITE_P(AllBackends, ConnectionPoolTest, testing::ValuesIn(all_backend_kinds()),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
