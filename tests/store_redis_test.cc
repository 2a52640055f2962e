// The Redis storage (src/store/redis_storage.cc, redis_store.cc) against a real redis-server
// child (tests/redis_server.h), on every backend that runs the RESP client (epoll, io_uring):
// each Store operation and what it left on the server (read back with redis-cli, not with the
// code under test), binary keys and values, prefixes holding glob characters, batches through
// MULTI/EXEC, the put script through EVALSHA and its EVAL fallback, the bounds (bad keys, large
// values, a full queue), and the faults: a paused server (SIGSTOP) fails operations with
// timeout and they work again after SIGCONT; a port nothing listens on fails with unavailable,
// without waiting for the deadline. And the same operations on a three-master Redis Cluster.
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis_server.h"
#include "redis_test_cluster.h"
#include "store/redis_commands.h"
#include "store/redis_storage.h"
#include "store/redis_url.h"
#include "test_support.h"
#include "tern/store/store.h"
#include "upstream_listener.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;
using store::errc;
using store::Store;
using store::Write;

// The liveness bound of every wait: a failure when it passes, never a measurement.
constexpr auto kBound = 20s;

template <class T>
T wait_for(std::future<T>& future, const char* what) {
  if (future.wait_for(kBound) != std::future_status::ready) {
    ADD_FAILURE() << what << ": no callback within " << kBound.count() << " s";
    return T(make_error_code(errc::closed));
  }
  return future.get();
}

// A Store attached to a loop of the backend under test, on the loop's own thread. Each
// operation is issued there; its result comes back through a future.
class StoreRig {
 public:
  StoreRig(BackendKind kind, store::StorageConfig config)
      : thread_(kind, [this, config](EventLoop& loop) {
          storage = store::make_redis_storage(config, why);
          if (storage) store = storage->attach(loop);
        }) {}
  ~StoreRig() {
    thread_.call([this](EventLoop&) {
      store.reset();
      storage.reset();
    });
  }

  Result<bool> put(std::string key, std::string value) {
    auto future = issue<Result<bool>>([&](Store& s, auto done) { s.put(key, value, std::move(done)); });
    return wait_for(future, "put");
  }
  Result<std::optional<std::string>> get(std::string key) {
    auto future = issue<Result<std::optional<std::string>>>(
        [&](Store& s, auto done) { s.get(key, std::move(done)); });
    return wait_for(future, "get");
  }
  Result<bool> remove(std::string key) {
    auto future = issue<Result<bool>>([&](Store& s, auto done) { s.remove(key, std::move(done)); });
    return wait_for(future, "remove");
  }
  Result<std::vector<std::string>> scan(std::string prefix, size_t limit) {
    auto future = issue<Result<std::vector<std::string>>>(
        [&](Store& s, auto done) { s.scan(prefix, limit, std::move(done)); });
    return wait_for(future, "scan");
  }
  std::error_code batch(std::vector<Write> writes) {
    auto future = issue<std::error_code>(
        [&](Store& s, auto done) { s.batch(std::move(writes), std::move(done)); });
    if (future.wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "batch: no callback";
      return make_error_code(errc::closed);
    }
    return future.get();
  }

  // Issues `op` on the loop thread with a callback that fulfils the returned future.
  template <class T, class Op>
  std::future<T> issue(Op op) {
    return thread_.call([&](EventLoop&) {
      auto promise = std::make_shared<std::promise<T>>();
      auto future = promise->get_future();
      op(*store, [promise](T outcome) mutable { promise->set_value(std::move(outcome)); });
      return future;
    });
  }

  store::StoreStats stats() {
    return thread_.call([this](EventLoop&) { return store->stats(); });
  }
  template <class F>
  auto call(F fn) {
    return thread_.call(fn);
  }

  std::string why;
  std::unique_ptr<store::Storage> storage;
  std::unique_ptr<Store> store;

 private:
  LoopThread thread_;  // last: its setup fills the members above
};

store::StorageConfig config_for(uint16_t port) {
  store::StorageConfig config;
  config.url = "redis://127.0.0.1:" + std::to_string(port);
  config.deadline = 2s;
  return config;
}

// redis-cli's raw answer to GET (the value and a newline; a missing key: an empty line).
std::string server_value(RedisServer& redis, const std::string& key) {
  return redis.cli({"GET", key});
}

// How many times the server ran `command` (INFO commandstats: "cmdstat_evalsha:calls=3,...").
long long calls_of(RedisServer& redis, const std::string& command) {
  std::string stats = redis.cli({"INFO", "commandstats"});
  std::string marker = "cmdstat_" + command + ":calls=";
  size_t at = stats.find(marker);
  if (at == std::string::npos) return 0;
  return std::atoll(stats.c_str() + at + marker.size());
}

class StoreRedisTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped()) return;
    redis_ = RedisServer::start();
    if (!redis_) return;
    rig_ = std::make_unique<StoreRig>(GetParam(), config_for(redis_->port()));
    ASSERT_TRUE(rig_->store) << rig_->why;
  }
  void TearDown() override { rig_.reset(); }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<StoreRig> rig_;
};

TEST_P(StoreRedisTest, PutSaysWhetherTheKeyWasNewAndStoresTheValueOnTheServer) {
  if (!rig_) return;
  auto first = rig_->put("greeting", "hello");
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_TRUE(*first) << "a new key";
  EXPECT_EQ(server_value(*redis_, "greeting"), "hello\n");

  auto second = rig_->put("greeting", "bonjour");
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_FALSE(*second) << "the key existed";
  EXPECT_EQ(server_value(*redis_, "greeting"), "bonjour\n");
}

TEST_P(StoreRedisTest, GetReadsWhatTheServerHoldsAndNothingForAMissingKey) {
  if (!rig_) return;
  redis_->cli({"SET", "planted", "by redis-cli"});
  auto planted = rig_->get("planted");
  ASSERT_TRUE(planted.ok()) << planted.error().message();
  ASSERT_TRUE(planted->has_value());
  EXPECT_EQ(**planted, "by redis-cli");

  auto missing = rig_->get("never-set");
  ASSERT_TRUE(missing.ok()) << missing.error().message();
  EXPECT_FALSE(missing->has_value());
}

TEST_P(StoreRedisTest, RemoveSaysWhetherTheKeyExisted) {
  if (!rig_) return;
  redis_->cli({"SET", "doomed", "x"});
  auto existed = rig_->remove("doomed");
  ASSERT_TRUE(existed.ok()) << existed.error().message();
  EXPECT_TRUE(*existed);
  EXPECT_EQ(redis_->cli({"EXISTS", "doomed"}), "0\n");

  auto again = rig_->remove("doomed");
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_FALSE(*again);
}

TEST_P(StoreRedisTest, BinaryKeysAndValuesComeBackByteForByte) {
  if (!rig_) return;
  std::string key("k\0\r\n*?[\xff", 9);
  std::string value;
  for (int i = 0; i < 256; ++i) value += static_cast<char>(i);
  std::string large(1 << 20, 'v');  // Limits::max_value: the largest value allowed
  large[12345] = '\0';

  ASSERT_TRUE(rig_->put(key, value).ok());
  ASSERT_TRUE(rig_->put("large", large).ok());
  auto got = rig_->get(key);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, value);
  auto got_large = rig_->get("large");
  ASSERT_TRUE(got_large.ok() && got_large->has_value());
  EXPECT_TRUE(**got_large == large) << "1 MiB value differs";
  EXPECT_EQ(redis_->cli({"STRLEN", "large"}), std::to_string(large.size()) + "\n");
}

TEST_P(StoreRedisTest, ScanGivesTheKeysWithThePrefixSortedAndLimited) {
  if (!rig_) return;
  // Enough keys that SCAN answers in several pages (COUNT 1000 a page).
  std::vector<Write> writes;
  for (int i = 0; i < 2500; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "user:%05d", 2499 - i);
    writes.push_back({Write::Kind::put, key, "v"});
    writes.push_back({Write::Kind::put, "other:" + std::to_string(i), "v"});
  }
  ASSERT_FALSE(rig_->batch(std::move(writes)));
  ASSERT_EQ(redis_->cli({"DBSIZE"}), "5000\n");

  auto first = rig_->scan("user:", 3);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_EQ(*first, (std::vector<std::string>{"user:00000", "user:00001", "user:00002"}));

  auto many = rig_->scan("user:", 5000);  // clamped to Limits::max_scan
  ASSERT_TRUE(many.ok()) << many.error().message();
  ASSERT_EQ(many->size(), 1000u);
  for (size_t i = 0; i < many->size(); ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "user:%05zu", i);
    ASSERT_EQ((*many)[i], key) << "at " << i;
  }

  auto none = rig_->scan("nobody:", 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreRedisTest, ScanTakesGlobCharactersInThePrefixLiterally) {
  if (!rig_) return;
  for (const char* key : {"a*b1", "a*b2", "axb1", "a?c", "abc", "a[b]1", "ab]", "a\\b", "a\\\\"}) {
    ASSERT_TRUE(rig_->put(key, "v").ok()) << key;
  }
  auto star = rig_->scan("a*", 10);
  ASSERT_TRUE(star.ok());
  EXPECT_EQ(*star, (std::vector<std::string>{"a*b1", "a*b2"}));
  auto question = rig_->scan("a?", 10);
  ASSERT_TRUE(question.ok());
  EXPECT_EQ(*question, (std::vector<std::string>{"a?c"}));
  auto bracket = rig_->scan("a[b]", 10);
  ASSERT_TRUE(bracket.ok());
  EXPECT_EQ(*bracket, (std::vector<std::string>{"a[b]1"}));
  auto backslash = rig_->scan("a\\", 10);
  ASSERT_TRUE(backslash.ok());
  EXPECT_EQ(*backslash, (std::vector<std::string>{"a\\\\", "a\\b"}));
}

TEST_P(StoreRedisTest, BatchAppliesTheWritesInOrderInOneTransaction) {
  if (!rig_) return;
  redis_->cli({"SET", "gone", "x"});
  long long exec_before = calls_of(*redis_, "exec");
  std::error_code error = rig_->batch({{Write::Kind::put, "x", "1"},
                                       {Write::Kind::put, "y", "2"},
                                       {Write::Kind::remove, "gone", ""},
                                       {Write::Kind::put, "x", "3"}});
  ASSERT_FALSE(error) << error.message();
  EXPECT_EQ(server_value(*redis_, "x"), "3\n");
  EXPECT_EQ(server_value(*redis_, "y"), "2\n");
  EXPECT_EQ(redis_->cli({"EXISTS", "gone"}), "0\n");
  EXPECT_EQ(calls_of(*redis_, "exec"), exec_before + 1) << "one MULTI/EXEC";
  EXPECT_FALSE(rig_->batch({})) << "an empty batch succeeds";
}

TEST_P(StoreRedisTest, PutGoesThroughEvalshaAndFallsBackToEvalAfterAScriptFlush) {
  if (!rig_) return;
  // The first put loads the script (SCRIPT LOAD) and goes as EVAL; once the SHA is back, puts
  // go as EVALSHA. The answer to SCRIPT LOAD may come on another connection after the first
  // put's: put until one goes by SHA (bounded), then every put does.
  int puts = 0;
  long long evalsha = calls_of(*redis_, "evalsha");
  while (calls_of(*redis_, "evalsha") == evalsha && puts < 50) {
    ASSERT_TRUE(rig_->put("warm" + std::to_string(puts++), "1").ok());
  }
  ASSERT_EQ(calls_of(*redis_, "script|load"), 1) << "one SCRIPT LOAD";
  ASSERT_GT(calls_of(*redis_, "evalsha"), evalsha) << "no put went by SHA in " << puts;
  long long evalsha_before = calls_of(*redis_, "evalsha");
  long long eval_before = calls_of(*redis_, "eval");
  auto created = rig_->put("by-sha", "1");
  ASSERT_TRUE(created.ok()) << created.error().message();
  EXPECT_TRUE(*created);
  EXPECT_EQ(calls_of(*redis_, "evalsha"), evalsha_before + 1);
  EXPECT_EQ(calls_of(*redis_, "eval"), eval_before) << "no EVAL once the SHA is known";

  redis_->cli({"SCRIPT", "FLUSH"});  // as after a server restart: EVALSHA gets NOSCRIPT
  auto after_flush = rig_->put("after-flush", "2");
  ASSERT_TRUE(after_flush.ok()) << after_flush.error().message();
  EXPECT_TRUE(*after_flush);
  EXPECT_EQ(server_value(*redis_, "after-flush"), "2\n");
  EXPECT_EQ(calls_of(*redis_, "eval"), eval_before + 1) << "the put went again as EVAL";
  auto existing = rig_->put("after-flush", "3");
  ASSERT_TRUE(existing.ok()) << existing.error().message();
  EXPECT_FALSE(*existing);
  EXPECT_EQ(server_value(*redis_, "after-flush"), "3\n");
}

TEST_P(StoreRedisTest, RefusesBadKeysAndLargeValuesWithoutAskingTheServer) {
  if (!rig_) return;
  long long commands_before = calls_of(*redis_, "get") + calls_of(*redis_, "eval");
  EXPECT_EQ(rig_->get("").error(), errc::bad_key);
  EXPECT_EQ(rig_->put(std::string(513, 'k'), "v").error(), errc::bad_key);
  EXPECT_EQ(rig_->put("k", std::string((1 << 20) + 1, 'v')).error(), errc::too_large);
  EXPECT_EQ(rig_->remove("").error(), errc::bad_key);
  EXPECT_EQ(rig_->batch({{Write::Kind::put, "fine", "v"}, {Write::Kind::put, "", "v"}}),
            errc::bad_key);
  EXPECT_EQ(calls_of(*redis_, "get") + calls_of(*redis_, "eval"), commands_before);
  EXPECT_EQ(redis_->cli({"EXISTS", "fine"}), "0\n") << "a refused batch applies nothing";
  auto stats = rig_->stats();
  EXPECT_EQ(stats.failures, 5u);
  EXPECT_EQ(stats.pending, 0u);
}

TEST_P(StoreRedisTest, AStoreCallbackMayCallTheStoreAgain) {
  if (!rig_) return;
  auto future = rig_->issue<Result<std::optional<std::string>>>([&](Store& s, auto done) {
    s.put("chained", "value", [&s, done = std::move(done)](Result<bool> created) mutable {
      if (!created) return done(created.error());
      s.get("chained", std::move(done));
    });
  });
  auto got = wait_for(future, "chained get");
  ASSERT_TRUE(got.ok()) << got.error().message();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, "value");
}

// SIGSTOP: the connection stays open and nothing answers. Each operation fails with timeout
// (the deadline is short: 1 s), none hangs; after SIGCONT the store works again.
TEST_P(StoreRedisTest, APausedServerTimesOutAndTheStoreRecoversAfterSigcont) {
  if (!rig_) return;
  auto config = config_for(redis_->port());
  config.deadline = 1s;  // the connect timeout too: long enough for a loaded sanitizer build
  StoreRig rig(GetParam(), config);
  ASSERT_TRUE(rig.store) << rig.why;
  ASSERT_TRUE(rig.put("before", "pause").ok());

  redis_->pause();
  EXPECT_EQ(rig.get("before").error(), errc::timeout);
  EXPECT_EQ(rig.put("during", "pause").error(), errc::timeout);
  EXPECT_EQ(rig.scan("", 10).error(), errc::timeout);
  redis_->resume();

  // The timed-out connections were closed; the next operation takes a new one.
  Result<std::optional<std::string>> after = make_error_code(errc::unavailable);
  for (int attempt = 0; attempt < 3 && !after.ok(); ++attempt) after = rig.get("before");
  ASSERT_TRUE(after.ok()) << after.error().message();
  ASSERT_TRUE(after->has_value());
  EXPECT_EQ(**after, "pause");
  ASSERT_TRUE(rig.put("after", "resume").ok());
  EXPECT_EQ(server_value(*redis_, "after"), "resume\n");
  EXPECT_EQ(rig.stats().pending, 0u);
}

// At most queue_capacity operations pending per loop: the next one is refused at once with
// overloaded (the paused server holds the first ones).
TEST_P(StoreRedisTest, AFullQueueRefusesWithOverloaded) {
  if (!rig_) return;
  auto config = config_for(redis_->port());
  config.queue_capacity = 2;
  config.deadline = 10s;
  StoreRig rig(GetParam(), config);
  ASSERT_TRUE(rig.store) << rig.why;
  ASSERT_TRUE(rig.put("k", "v").ok());

  redis_->pause();
  auto first = rig.issue<Result<std::optional<std::string>>>(
      [](Store& s, auto done) { s.get("k", std::move(done)); });
  auto second = rig.issue<Result<std::optional<std::string>>>(
      [](Store& s, auto done) { s.get("k", std::move(done)); });
  auto third = rig.issue<Result<std::optional<std::string>>>(
      [](Store& s, auto done) { s.get("k", std::move(done)); });
  ASSERT_EQ(third.wait_for(0s), std::future_status::ready) << "refused before the call returned";
  EXPECT_EQ(third.get().error(), errc::overloaded);
  EXPECT_EQ(rig.stats().pending, 2u);
  redis_->resume();

  auto one = wait_for(first, "first get");
  auto two = wait_for(second, "second get");
  ASSERT_TRUE(one.ok()) << one.error().message();
  ASSERT_TRUE(two.ok()) << two.error().message();
  EXPECT_EQ(**one, "v");
  EXPECT_EQ(rig.stats().pending, 0u);
}

// Nothing listens on the port: operations fail with unavailable (the connect is refused), not
// with timeout after the deadline (a minute here: a test that waited for it would hit kBound).
TEST_P(StoreRedisTest, AClosedPortIsUnavailableWithoutWaitingForTheDeadline) {
  if (!rig_) return;
  uint16_t closed_port = UpstreamListener().port();
  auto config = config_for(closed_port);
  config.deadline = 60s;
  StoreRig rig(GetParam(), config);
  ASSERT_TRUE(rig.store) << rig.why;
  EXPECT_EQ(rig.get("k").error(), errc::unavailable);
  EXPECT_EQ(rig.put("k", "v").error(), errc::unavailable);
  EXPECT_EQ(rig.batch({{Write::Kind::put, "k", "v"}}), errc::unavailable);
  EXPECT_EQ(rig.stats().failures, 3u);
}

// Destroying a Store with an operation pending drops its callback (store.h): nothing runs
// after the Store is gone.
TEST_P(StoreRedisTest, DestroyingTheStoreDropsPendingCallbacks) {
  if (!rig_) return;
  auto called = std::make_shared<std::atomic<int>>(0);
  redis_->pause();
  rig_->call([&](EventLoop&) {
    rig_->store->get("k", [called](Result<std::optional<std::string>>) { ++*called; });
    rig_->store.reset();
  });
  redis_->resume();
  rig_->call([](EventLoop&) {});  // a turn of the loop after the destruction
  EXPECT_EQ(called->load(), 0);
}

TEST_P(StoreRedisTest, AuthAndSelectFromTheConfig) {
  if (!rig_) return;
  auto locked = RedisServer::start({"requirepass secret"});
  if (!locked) return;
  auto config = config_for(locked->port());
  config.redis_password = "secret";
  config.redis_database = 3;
  {
    StoreRig rig(GetParam(), config);
    ASSERT_TRUE(rig.store) << rig.why;
    auto created = rig.put("in-db-3", "yes");
    ASSERT_TRUE(created.ok()) << created.error().message();
    EXPECT_EQ(locked->cli({"-a", "secret", "--no-auth-warning", "-n", "3", "GET", "in-db-3"}),
              "yes\n");
    EXPECT_EQ(locked->cli({"-a", "secret", "--no-auth-warning", "GET", "in-db-3"}), "\n");
  }
  config.redis_password = "wrong";
  StoreRig refused(GetParam(), config);
  ASSERT_TRUE(refused.store) << refused.why;
  EXPECT_EQ(refused.get("in-db-3").error(), errc::unavailable);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreRedisTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         backend_test_name);

class StoreRedisClusterTest : public BackendTest {};

TEST_P(StoreRedisClusterTest, EveryOperationOnAThreeMasterCluster) {
  if (IsSkipped()) return;
  auto cluster = RedisTestCluster::create();
  if (!cluster) return;
  auto config = config_for(0);
  config.url = cluster->url();
  StoreRig rig(GetParam(), config);
  ASSERT_TRUE(rig.store) << rig.why;
  EXPECT_NE(rig.storage->describe().find("redis-cluster"), std::string::npos);

  // 60 keys land on every master (their slots spread over 0..16383).
  for (int i = 0; i < 60; ++i) {
    std::string key = "k:" + std::to_string(100 + i);
    auto created = rig.put(key, "v" + std::to_string(i));
    ASSERT_TRUE(created.ok()) << key << ": " << created.error().message();
    EXPECT_TRUE(*created) << key;
  }
  for (size_t i = 0; i < RedisTestCluster::kNodes; ++i) {
    EXPECT_NE(cluster->cli(i, {"DBSIZE"}), "0\n") << "master " << i << " holds none of the keys";
  }
  EXPECT_EQ(cluster->value("k:142"), "v42\n");
  auto again = rig.put("k:142", "w");
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_FALSE(*again);
  auto got = rig.get("k:142");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, "w");
  auto removed = rig.remove("k:101");
  ASSERT_TRUE(removed.ok() && *removed);
  EXPECT_EQ(cluster->value("k:101"), "\n");

  // The scan asks every master and merges: sorted, limited.
  auto keys = rig.scan("k:1", 5);
  ASSERT_TRUE(keys.ok()) << keys.error().message();
  EXPECT_EQ(*keys, (std::vector<std::string>{"k:100", "k:102", "k:103", "k:104", "k:105"}));
  auto all = rig.scan("k:", 1000);
  ASSERT_TRUE(all.ok()) << all.error().message();
  EXPECT_EQ(all->size(), 59u);

  // A batch over many slots: one MULTI/EXEC per slot, on their masters.
  std::vector<Write> writes;
  for (int i = 0; i < 20; ++i) writes.push_back({Write::Kind::put, "b:" + std::to_string(i), "x"});
  writes.push_back({Write::Kind::remove, "k:100", ""});
  writes.push_back({Write::Kind::put, "b:0", "last"});
  ASSERT_FALSE(rig.batch(std::move(writes)));
  EXPECT_EQ(cluster->value("b:0"), "last\n");
  EXPECT_EQ(cluster->value("b:19"), "x\n");
  EXPECT_EQ(cluster->value("k:100"), "\n");
  EXPECT_EQ(rig.stats().pending, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreRedisClusterTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         backend_test_name);

// The factory and the URL, without a server.
TEST(RedisStorageConfigTest, UrlsAreParsedOrRefusedWithAReason) {
  std::string why;
  auto one = store::parse_redis_url("redis://127.0.0.1:6390", why);
  ASSERT_TRUE(one) << why;
  EXPECT_FALSE(one->cluster);
  ASSERT_EQ(one->servers.size(), 1u);
  EXPECT_EQ(one->servers[0].to_string(), "127.0.0.1:6390");

  auto defaulted = store::parse_redis_url("redis://localhost", why);
  ASSERT_TRUE(defaulted) << why;
  EXPECT_EQ(defaulted->servers[0].port(), 6379);

  auto seeds = store::parse_redis_url("redis-cluster://127.0.0.1:7000,[::1]:7001", why);
  ASSERT_TRUE(seeds) << why;
  EXPECT_TRUE(seeds->cluster);
  ASSERT_EQ(seeds->servers.size(), 2u);
  EXPECT_EQ(seeds->servers[1].to_string(), "[::1]:7001");

  for (const char* bad : {"redis://", "redis://127.0.0.1:0", "redis://127.0.0.1:70000",
                          "redis://host.example:6379", "redis://::1:6379", "redis://a:1,b:2",
                          "redis-cluster://127.0.0.1:7000,", "redis-cluster://[::1]x",
                          "http://127.0.0.1:6379"}) {
    why.clear();
    EXPECT_FALSE(store::parse_redis_url(bad, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(RedisStorageConfigTest, MakeRedisStorageChecksTheUrlAndConnectsNothingYet) {
  store::StorageConfig config;
  std::string why;
  config.url = "redis://127.0.0.1:1";  // nothing listens there: not checked until first use
  auto storage = store::make_redis_storage(config, why);
  ASSERT_TRUE(storage) << why;
  EXPECT_NE(storage->describe().find("redis 127.0.0.1:1"), std::string::npos)
      << storage->describe();

  config.url = "redis://nowhere";
  EXPECT_FALSE(store::make_redis_storage(config, why));
  EXPECT_NE(why.find("nowhere"), std::string::npos) << why;

  config.url = "redis-cluster://127.0.0.1:1,127.0.0.1:2";
  auto cluster = store::make_redis_storage(config, why);
  ASSERT_TRUE(cluster) << why;
  EXPECT_NE(cluster->describe().find("redis-cluster 127.0.0.1:1,127.0.0.1:2"), std::string::npos)
      << cluster->describe();
  config.redis_database = 2;
  EXPECT_FALSE(store::make_redis_storage(config, why)) << "a cluster has database 0 only";
}

TEST(RedisStorageConfigTest, ScanPatternEscapesEveryGlobCharacter) {
  EXPECT_EQ(store::redis_ops::scan_pattern(""), "*");
  EXPECT_EQ(store::redis_ops::scan_pattern("user:"), "user:*");
  EXPECT_EQ(store::redis_ops::scan_pattern("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f*");
}

}  // namespace
}  // namespace tern::test
