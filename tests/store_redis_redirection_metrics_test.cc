// tern_redis_redirections_total{kind}: a Store on a real 3-master Redis Cluster (redis-server
// children, tests/redis_test_cluster.h) counts the MOVED and the ASK it followed apart, in its
// StoreStats (read on its loop) and in the series fill_store_metrics makes of them. Skipped
// when redis-server is absent.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "redis_test_cluster.h"
#include "store_test_support.h"
#include "tern/metrics/snapshot.h"
#include "tern/redis/key_slot.h"
#include "tern/store/store.h"
#include "tern/store/store_metrics.h"

namespace tern::store {
namespace {

using test::LoopStore;
using TestCluster = test::RedisTestCluster;

double redirections(const StoreStats& stats, const char* kind) {
  metrics::Snapshot snapshot;
  fill_store_metrics(stats, snapshot);
  return snapshot.value("tern_redis_redirections_total", {{"kind", kind}}).value_or(-1);
}

// A slot moved away from under the store's map: one MOVED. A key moved mid-migration: one ASK
// (the map stays, so reading it again asks again).
TEST(StoreRedisRedirectionMetrics, MovedAndAskAreCountedApart) {
  auto cluster = TestCluster::create();
  if (!cluster) return;
  StorageConfig config;
  config.url = cluster->url();
  std::string why;
  auto storage = open_storage(config, why);
  ASSERT_TRUE(storage) << why;
  LoopStore store(BackendKind::epoll, *storage);

  const std::string moving = "{moving}key";
  ASSERT_TRUE(store.put(moving, "v1"));
  EXPECT_EQ(redirections(store.stats(), "moved"), 0);
  uint16_t slot = redis::key_slot(moving);
  size_t from = cluster->owner_of(slot);
  size_t to = (from + 1) % TestCluster::kNodes;
  cluster->begin_migration(slot, from, to);
  cluster->migrate_key(moving, from, to);
  cluster->end_migration(slot, to);
  EXPECT_EQ(store.get(moving).value(), std::optional<std::string>("v1"));
  EXPECT_EQ(redirections(store.stats(), "moved"), 1);
  EXPECT_EQ(redirections(store.stats(), "ask"), 0);

  const std::string asked = "{asking}key";
  ASSERT_TRUE(store.put(asked, "a"));
  uint16_t ask_slot = redis::key_slot(asked);
  size_t ask_from = cluster->owner_of(ask_slot);
  size_t ask_to = (ask_from + 1) % TestCluster::kNodes;
  cluster->begin_migration(ask_slot, ask_from, ask_to);
  cluster->migrate_key(asked, ask_from, ask_to);
  EXPECT_EQ(store.get(asked).value(), std::optional<std::string>("a"));
  EXPECT_EQ(redirections(store.stats(), "ask"), 1);
  EXPECT_EQ(redirections(store.stats(), "moved"), 1);
  cluster->end_migration(ask_slot, ask_to);
}

}  // namespace
}  // namespace tern::store
