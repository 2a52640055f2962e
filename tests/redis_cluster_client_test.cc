// redis::ClusterClient against a real 3-master Redis Cluster on loopback (three redis-server
// children made into a cluster by `redis-cli --cluster create`): keys routed to their masters
// (no redirection needed, every master holding some), a MOVED after a slot migration and an
// ASK during one followed without an error to the caller, a migration under load that loses
// nothing, the redirection limit, and a cluster that cannot be reached.
#include "tern/redis/cluster_client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <sstream>
#include <ostream>
#include <string>
#include <vector>

#include "child_process.h"
#include "redis_server.h"
#include "redis_test_cluster.h"
#include "test_support.h"
#include "tern/redis/key_slot.h"
#include "tern/tern.h"

namespace tern {
// Addresses in failure messages as "127.0.0.1:7000", not as bytes.
inline void PrintTo(const InetAddress& address, std::ostream* out) { *out << address.to_string(); }
}  // namespace tern

namespace tern::redis {
namespace {

using namespace std::chrono_literals;
using test::RedisServer;
using TestCluster = test::RedisTestCluster;

// A ClusterClient on a loop thread of its own; made and destroyed on that thread.
class ClientOnLoop {
 public:
  ClientOnLoop(BackendKind kind, std::vector<InetAddress> seeds, ClusterOptions options = {})
      : loop_(kind, [](EventLoop&) {}) {
    loop_.call([&](EventLoop& loop) {
      client_ = std::make_unique<ClusterClient>(loop, std::move(seeds), std::move(options));
    });
  }
  ~ClientOnLoop() {
    loop_.call([&](EventLoop&) { client_.reset(); });
  }

  // Runs `command` and waits (bounded) for its callback: the reply rendered, or "error: ...".
  std::string run(Command command) {
    auto result = std::make_shared<std::promise<std::string>>();
    loop_.call([&](EventLoop&) {
      client_->command(std::move(command), [result](std::error_code error, const Value* reply) {
        result->set_value(error ? "error: " + error.message() +
                                      (reply != nullptr ? " " + reply->to_string() : "")
                                : reply->to_string());
      });
    });
    auto future = result->get_future();
    if (future.wait_for(30s) != std::future_status::ready) return "no answer in 30 s";
    return future.get();
  }

  // Any read of the client's state, on its loop.
  template <class F>
  auto on_loop(F read) {
    return loop_.call([&](EventLoop&) { return read(*client_); });
  }

  test::LoopThread& loop() { return loop_; }

 private:
  test::LoopThread loop_;
  std::unique_ptr<ClusterClient> client_;
};

class ClusterRoutingTest : public test::BackendTest {};

constexpr size_t kKeys = 300;

// Every SET is sent at once, before the client has a map: they wait for it, then go straight
// to their masters (not one redirection), and the keys end up spread over all three.
TEST_P(ClusterRoutingTest, KeysGoStraightToTheirMasters) {
  auto cluster = TestCluster::create();
  if (!cluster) return;
  ClientOnLoop client(GetParam(), cluster->seeds());
  auto all_set = std::make_shared<std::promise<std::vector<std::string>>>();
  auto replies = std::make_shared<std::vector<std::string>>();
  client.on_loop([&](ClusterClient& c) {
    EXPECT_FALSE(c.has_map());
    for (size_t i = 0; i < kKeys; ++i) {
      c.command(Command::of("SET", "key:" + std::to_string(i), "value " + std::to_string(i)),
                [replies, all_set](std::error_code error, const Value* reply) {
                  replies->push_back(error ? "error: " + error.message() : reply->to_string());
                  if (replies->size() == kKeys) all_set->set_value(*replies);
                });
    }
    EXPECT_EQ(c.waiting(), kKeys);
    return 0;
  });
  auto future = all_set->get_future();
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready);
  for (const std::string& reply : future.get()) ASSERT_EQ(reply, "OK");
  for (size_t i = 0; i < kKeys; i += 7) {
    EXPECT_EQ(client.run(Command::of("GET", "key:" + std::to_string(i))),
              "\"value " + std::to_string(i) + "\"");
  }
  EXPECT_EQ(client.on_loop([](ClusterClient& c) { return c.redirections(); }), 0u);
  EXPECT_EQ(client.on_loop([](ClusterClient& c) { return c.nodes(); }), TestCluster::kNodes);
  int total = 0;
  for (size_t i = 0; i < TestCluster::kNodes; ++i) {
    int keys = std::stoi(cluster->cli(i, {"DBSIZE"}));
    EXPECT_GT(keys, 0) << "node " << i << " holds no key";
    total += keys;
  }
  EXPECT_EQ(size_t(total), kKeys);
  // key_slot agrees with the server's own CLUSTER KEYSLOT (a keyless command: any master).
  for (std::string key : {"foo", "{user1000}.following", "a{b}c", "{}x", "x{y"}) {
    EXPECT_EQ(client.run(Command::of("CLUSTER", "KEYSLOT", key)),
              "(integer) " + std::to_string(key_slot(key)));
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ClusterRoutingTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         test::backend_test_name);

// The slot of a key moves to another master under a client that has the old map: its next
// command meets MOVED, which the client follows (the caller sees the value), and the map takes
// the new owner at once (the command after needs no redirection; this client refreshes its map
// once an hour, so only the MOVED can have told it). A client allowed no redirection fails
// instead, with too_many_redirects, and refreshes its map: its next command goes straight.
TEST(ClusterRedirectionTest, MovedAfterASlotMigrationIsFollowed) {
  auto cluster = TestCluster::create();
  if (!cluster) return;
  ClusterOptions hourly;
  hourly.refresh_min_interval = std::chrono::hours(1);
  ClientOnLoop client(BackendKind::epoll, cluster->seeds(), hourly);
  ClusterOptions strict_options;
  strict_options.max_redirects = 0;
  ClientOnLoop strict(BackendKind::epoll, cluster->seeds(), strict_options);
  const std::string key = "{moving}key";
  uint16_t slot = key_slot(key);
  ASSERT_EQ(client.run(Command::of("SET", key, "v1")), "OK");
  ASSERT_EQ(strict.run(Command::of("GET", key)), "\"v1\"");  // it has its map
  size_t from = cluster->owner_of(slot);
  size_t to = (from + 1) % TestCluster::kNodes;

  cluster->begin_migration(slot, from, to);
  cluster->migrate_key(key, from, to);
  cluster->end_migration(slot, to);
  ASSERT_EQ(cluster->owner_of(slot), to);

  EXPECT_EQ(client.run(Command::of("GET", key)), "\"v1\"");
  EXPECT_EQ(client.on_loop([](ClusterClient& c) { return c.redirections(); }), 1u);
  EXPECT_EQ(client.on_loop([&](ClusterClient& c) { return *c.slot_map().master_for(slot); }),
            cluster->address(to));
  EXPECT_EQ(client.run(Command::of("SET", key, "v2")), "OK");
  EXPECT_EQ(client.on_loop([](ClusterClient& c) { return c.redirections(); }), 1u);
  EXPECT_EQ(cluster->cli(to, {"GET", key}), "v2\n");

  EXPECT_EQ(client.on_loop([](ClusterClient& c) { return c.refreshes(); }), 1u);

  EXPECT_EQ(strict.run(Command::of("GET", key)),
            "error: " + make_error_code(errc::too_many_redirects).message());
  EXPECT_TRUE(test::wait_until(
      [&] { return strict.on_loop([](ClusterClient& c) { return c.refreshes(); }) >= 2; }, 30s));
  EXPECT_EQ(strict.run(Command::of("GET", key)), "\"v2\"");
  EXPECT_EQ(strict.on_loop([](ClusterClient& c) { return c.redirections(); }), 1u);
}

// Mid-migration: a key already moved is answered with ASK by the old owner; the client sends
// ASKING and the command to the new one, and leaves its map alone (the slot is still the old
// owner's). A key not moved yet is served where it is, without redirection.
TEST(ClusterRedirectionTest, AskDuringAMigrationIsFollowed) {
  auto cluster = TestCluster::create();
  if (!cluster) return;
  ClientOnLoop client(BackendKind::epoll, cluster->seeds());
  const std::string moved = "{asking}moved", staying = "{asking}staying", fresh = "{asking}new";
  uint16_t slot = key_slot(moved);
  ASSERT_EQ(client.run(Command::of("SET", moved, "m")), "OK");
  ASSERT_EQ(client.run(Command::of("SET", staying, "s")), "OK");
  size_t from = cluster->owner_of(slot);
  size_t to = (from + 2) % TestCluster::kNodes;

  cluster->begin_migration(slot, from, to);
  cluster->migrate_key(moved, from, to);
  EXPECT_EQ(client.run(Command::of("GET", moved)), "\"m\"");
  EXPECT_EQ(client.on_loop([](ClusterClient& c) { return c.redirections(); }), 1u);
  EXPECT_EQ(client.on_loop([&](ClusterClient& c) { return *c.slot_map().master_for(slot); }),
            cluster->address(from));
  EXPECT_EQ(client.run(Command::of("GET", staying)), "\"s\"");
  EXPECT_EQ(client.on_loop([](ClusterClient& c) { return c.redirections(); }), 1u);
  // A key that exists nowhere yet is created on the importing node.
  EXPECT_EQ(client.run(Command::of("SET", fresh, "n")), "OK");
  EXPECT_EQ(client.on_loop([](ClusterClient& c) { return c.redirections(); }), 2u);

  cluster->migrate_key(staying, from, to);
  cluster->end_migration(slot, to);
  EXPECT_EQ(client.run(Command::of("MGET", moved, staying, fresh)), "[\"m\", \"s\", \"n\"]");
}

// INCRs on keys of one slot and of others, 32 in flight, while that slot moves key by key to
// another master: no command fails, and every acknowledged INCR is counted in the end.
TEST(ClusterRedirectionTest, ASlotMigrationUnderLoadLosesNothing) {
  auto cluster = TestCluster::create();
  if (!cluster) return;
  ClientOnLoop client(BackendKind::epoll, cluster->seeds());
  std::vector<std::string> keys;
  for (int i = 0; i < 16; ++i) keys.push_back("{migrating}" + std::to_string(i));
  for (int i = 0; i < 16; ++i) keys.push_back("steady:" + std::to_string(i));
  uint16_t slot = key_slot(keys[0]);

  // The load, on the loop: each completion sends the next command until told to stop or
  // bounded by kMaxCommands. Counters are read by the test thread.
  constexpr uint64_t kMaxCommands = 200000;
  constexpr int kInFlight = 32;
  struct Load {
    std::vector<int64_t> acked;       // loop thread
    std::string first_error;          // loop thread
    std::atomic<uint64_t> done{0};
    std::atomic<uint64_t> errors{0};
    std::atomic<bool> stop{false};
    int in_flight = 0;                // loop thread
    uint64_t sent = 0;                // loop thread
    std::promise<void> drained;
  } load;
  load.acked.assign(keys.size(), 0);
  std::function<void(ClusterClient&)> send_next = [&](ClusterClient& c) {
    if (load.stop.load() || load.sent >= kMaxCommands) {
      if (load.in_flight == 0) load.drained.set_value();
      return;
    }
    size_t k = load.sent++ % keys.size();
    ++load.in_flight;
    c.command(Command::of("INCR", keys[k]), [&, k, cp = &c](std::error_code error, const Value*) {
      --load.in_flight;
      if (error) {  // the load stops at the first error (no storm of failures)
        if (load.errors.fetch_add(1) == 0) load.first_error = error.message();
        load.stop = true;
      } else {
        ++load.acked[k];
      }
      load.done.fetch_add(1);
      send_next(*cp);
    });
  };
  client.on_loop([&](ClusterClient& c) {
    for (int i = 0; i < kInFlight; ++i) send_next(c);
    return 0;
  });
  auto progressed_by = [&](uint64_t n) {
    uint64_t target = load.done.load() + n;
    return test::wait_until([&] { return load.done.load() >= target; }, 30s);
  };
  ASSERT_TRUE(progressed_by(500));
  size_t from = cluster->owner_of(slot);
  size_t to = (from + 1) % TestCluster::kNodes;
  cluster->begin_migration(slot, from, to);
  for (int i = 0; i < 16; ++i) {
    cluster->migrate_key(keys[i], from, to);
    EXPECT_TRUE(progressed_by(50));
  }
  cluster->end_migration(slot, to);
  EXPECT_TRUE(progressed_by(1000));
  load.stop = true;
  ASSERT_EQ(load.drained.get_future().wait_for(30s), std::future_status::ready);

  EXPECT_EQ(load.errors.load(), 0u) << "first: " << load.first_error;
  EXPECT_GT(client.on_loop([](ClusterClient& c) { return c.redirections(); }), 0u);
  for (size_t k = 0; k < keys.size(); ++k) {
    EXPECT_EQ(client.run(Command::of("GET", keys[k])),
              "\"" + std::to_string(load.acked[k]) + "\"") << keys[k];
  }
}

// No seed answers: the commands waiting for the first map fail with cluster_down; after
// close(), commands fail with closed and on_closed runs.
TEST(ClusterClientTest, NoReachableSeedFailsWithClusterDown) {
  InetAddress nobody = InetAddress::loopback_v4(RedisServer::free_port());  // nothing listens there
  ClientOnLoop client(BackendKind::epoll, {nobody});
  EXPECT_EQ(client.run(Command::of("GET", "k")),
            "error: " + make_error_code(errc::cluster_down).message());
  EXPECT_EQ(client.on_loop([](ClusterClient& c) { return c.has_map(); }), false);
  std::promise<void> closed;
  client.on_loop([&](ClusterClient& c) {
    c.close([&] { closed.set_value(); });
    return 0;
  });
  ASSERT_EQ(closed.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(client.run(Command::of("GET", "k")), "error: " + make_error_code(errc::closed).message());
}

}  // namespace
}  // namespace tern::redis
