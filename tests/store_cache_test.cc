// The LRU cache of tern::store: its byte budget and LRU order (LruCache alone), and the
// CachedStore in front of a backend: hits answered at once, invalidation on write across
// loops, and the stale-read race (a read that began before a write must not put the old value
// back), forced with a backend whose operations the test completes in any order it likes.
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "store/cached_storage.h"
#include "store/lru_cache.h"
#include "store/sqlite_storage.h"
#include "store_test_support.h"
#include "temp_dir.h"
#include "tern/store/store.h"

namespace tern::store {
namespace {

using test::LoopStore;
using namespace std::chrono_literals;

std::optional<std::string> cached(LruCache& cache, std::string_view key) {
  LruCache::Version ignored = 0;
  return cache.lookup(key, ignored);
}

void fill(LruCache& cache, std::string_view key, std::string_view value) {
  LruCache::Version version = 0;
  cache.lookup(key, version);
  cache.fill(key, value, version);
}

TEST(LruCache, NeverHoldsMoreThanItsBudget) {
  constexpr size_t kBudget = 4096;
  LruCache cache(kBudget, 1);
  size_t most = 0;
  for (int i = 0; i < 200; ++i) {
    fill(cache, "key-" + std::to_string(i), std::string(static_cast<size_t>(i % 37) * 11, 'v'));
    most = std::max(most, cache.bytes());
    ASSERT_LE(cache.bytes(), kBudget) << "after entry " << i;
  }
  EXPECT_GT(most, kBudget / 2) << "the cache should be used, not only bounded";
  EXPECT_TRUE(cached(cache, "key-199")) << "the newest entry is kept";
  EXPECT_FALSE(cached(cache, "key-0")) << "the oldest went";
  // An entry larger than the whole budget is not cached (and evicts nothing).
  size_t entries = cache.entries();
  fill(cache, "huge", std::string(kBudget, 'h'));
  EXPECT_FALSE(cached(cache, "huge"));
  EXPECT_EQ(cache.entries(), entries);
}

TEST(LruCache, EvictsTheLeastRecentlyUsed) {
  const size_t entry = LruCache::charge("a", std::string(100, 'x'));
  LruCache cache(3 * entry, 1);
  fill(cache, "a", std::string(100, 'a'));
  fill(cache, "b", std::string(100, 'b'));
  fill(cache, "c", std::string(100, 'c'));
  ASSERT_EQ(cache.entries(), 3u);
  EXPECT_TRUE(cached(cache, "a"));  // a is now the most recent; b the least
  fill(cache, "d", std::string(100, 'd'));
  EXPECT_FALSE(cached(cache, "b")) << "b was the least recently used";
  EXPECT_TRUE(cached(cache, "a"));
  EXPECT_TRUE(cached(cache, "c"));
  EXPECT_TRUE(cached(cache, "d"));
  EXPECT_EQ(cache.bytes(), 3 * entry);
}

TEST(LruCache, AFillAfterAWriteBeganIsDropped) {
  LruCache cache(1 << 20, 1);
  LruCache::Version read = 0;
  ASSERT_FALSE(cache.lookup("k", read));
  LruCache::Version write = cache.begin_write("k");
  cache.fill("k", "old", read);
  EXPECT_FALSE(cached(cache, "k")) << "the read began before the write: its value may be old";
  std::string_view written = "new";
  cache.end_write("k", &written, write);
  EXPECT_EQ(cached(cache, "k"), std::optional<std::string>("new"));
  // Two writes ending in the other order leave nothing rather than the older value.
  LruCache::Version first = cache.begin_write("k");
  LruCache::Version second = cache.begin_write("k");
  std::string_view v2 = "v2";
  std::string_view v1 = "v1";
  cache.end_write("k", &v2, second);
  cache.end_write("k", &v1, first);
  EXPECT_FALSE(cached(cache, "k"));
}

TEST(LruCache, ShardsSplitTheBudget) {
  LruCache cache(64u << 20);
  for (int i = 0; i < 1000; ++i) fill(cache, "k" + std::to_string(i), "v");
  EXPECT_EQ(cache.entries(), 1000u);
  EXPECT_LE(cache.bytes(), 64u << 20);
}

// A backend whose operations wait until the test completes them, in the order it chooses.
class HeldStore final : public Store {
 public:
  void get(std::string_view, GetCallback done) override { gets.push_back(std::move(done)); }
  void put(std::string_view, std::string_view, PutCallback done) override {
    puts.push_back(std::move(done));
  }
  void remove(std::string_view, RemoveCallback done) override { removes.push_back(std::move(done)); }
  void scan(std::string_view, size_t, ScanCallback done) override {
    done(std::vector<std::string>{});
  }
  void batch(std::vector<Write>, BatchCallback done) override { batches.push_back(std::move(done)); }
  StoreStats stats() const override { return {}; }

  std::deque<GetCallback> gets;
  std::deque<PutCallback> puts;
  std::deque<RemoveCallback> removes;
  std::deque<BatchCallback> batches;
};

class HeldStorage final : public Storage {
 public:
  std::unique_ptr<Store> attach(EventLoop&) override {
    auto store = std::make_unique<HeldStore>();
    last = store.get();
    return store;
  }
  std::string describe() const override { return "held"; }
  HeldStore* last = nullptr;
};

class StoreCacheTest : public test::BackendTest {};

// get starts (a miss: the backend holds it), put starts and completes, then the get's read
// comes back with the value from before the put: that value must not enter the cache.
TEST_P(StoreCacheTest, AReadThatBeganBeforeAWriteDoesNotCacheTheOldValue) {
  auto held = std::make_unique<HeldStorage>();
  HeldStorage* backend = held.get();
  CachedStorage storage(std::move(held), 1 << 20);
  LoopStore store(GetParam(), storage);
  std::optional<std::string> first_read;
  store.on_loop([&](Store& s, EventLoop&) {
    s.get("k", [&](Result<std::optional<std::string>> v) { first_read = *v; });
    s.put("k", "new", [](Result<bool> r) { EXPECT_TRUE(r); });
    HeldStore& h = *backend->last;
    ASSERT_EQ(h.gets.size(), 1u);
    ASSERT_EQ(h.puts.size(), 1u);
    h.puts.front()(false);                                   // the put is stored
    h.gets.front()(std::optional<std::string>("old"));      // the earlier read answers late
  });
  EXPECT_EQ(first_read, std::optional<std::string>("old"));
  EXPECT_NE(cached(storage.cache(), "k"), std::optional<std::string>("old"))
      << "the late read put the value from before the write back into the cache";
  auto now = store.get("k");
  ASSERT_TRUE(now);
  EXPECT_EQ(*now, std::optional<std::string>("new"));
}

// The same race the other way round: the old read answers first, the put ends after it.
TEST_P(StoreCacheTest, AWriteEndingAfterAnOldReadLeavesTheNewValue) {
  auto held = std::make_unique<HeldStorage>();
  HeldStorage* backend = held.get();
  CachedStorage storage(std::move(held), 1 << 20);
  LoopStore store(GetParam(), storage);
  store.on_loop([&](Store& s, EventLoop&) {
    s.get("k", [](Result<std::optional<std::string>>) {});
    s.put("k", "new", [](Result<bool>) {});
    HeldStore& h = *backend->last;
    h.gets.front()(std::optional<std::string>("old"));
    h.puts.front()(true);
  });
  EXPECT_EQ(cached(storage.cache(), "k"), std::optional<std::string>("new"));
}

// A write that fails leaves the key out of the cache (it may or may not have been applied).
TEST_P(StoreCacheTest, AFailedWriteInvalidates) {
  auto held = std::make_unique<HeldStorage>();
  HeldStorage* backend = held.get();
  CachedStorage storage(std::move(held), 1 << 20);
  LoopStore store(GetParam(), storage);
  store.on_loop([&](Store& s, EventLoop&) {
    s.get("k", [](Result<std::optional<std::string>>) {});
    backend->last->gets.front()(std::optional<std::string>("v1"));
    s.put("k", "v2", [](Result<bool>) {});
    backend->last->puts.front()(make_error_code(errc::timeout));
  });
  EXPECT_FALSE(cached(storage.cache(), "k"));
}

class StoreCacheSqliteTest : public test::SqliteStoreTest {
 protected:
  std::unique_ptr<CachedStorage> open_cached(size_t budget) {
    auto sqlite = open(config());
    if (!sqlite) return nullptr;
    sqlite_ = sqlite.get();
    return std::make_unique<CachedStorage>(std::move(sqlite), budget);
  }
  SqliteStorage* sqlite_ = nullptr;
};

TEST_P(StoreCacheSqliteTest, HitsAreAnsweredWithoutTheStorageThread) {
  auto storage = open_cached(1 << 20);
  ASSERT_TRUE(storage);
  LoopStore store(GetParam(), *storage);
  ASSERT_TRUE(store.put("k", "v"));
  store.on_loop([&](Store& s, EventLoop&) {
    bool answered = false;
    s.get("k", [&](Result<std::optional<std::string>> v) {
      answered = true;
      EXPECT_EQ(*v, std::optional<std::string>("v"));
    });
    EXPECT_TRUE(answered) << "a value put through the cache is a hit, answered at once";
  });
  uint64_t reads = sqlite_->stats().reads;
  EXPECT_EQ(store.get("k").value(), std::optional<std::string>("v"));
  EXPECT_EQ(sqlite_->stats().reads, reads) << "a hit must not reach the storage thread";
  EXPECT_EQ(store.stats().cache_hits, 2u);
  EXPECT_FALSE(store.get("missing")->has_value());
  EXPECT_EQ(store.stats().cache_misses, 1u);
  EXPECT_EQ(sqlite_->stats().reads, reads + 1);
}

// The cache is shared by the loops: a write on one loop is seen by a read on another.
TEST_P(StoreCacheSqliteTest, AWriteOnOneLoopInvalidatesForEveryLoop) {
  auto storage = open_cached(1 << 20);
  ASSERT_TRUE(storage);
  LoopStore a(GetParam(), *storage);
  LoopStore b(GetParam(), *storage);
  ASSERT_TRUE(a.put("k", "one"));
  EXPECT_EQ(b.get("k").value(), std::optional<std::string>("one"));
  EXPECT_EQ(a.get("k").value(), std::optional<std::string>("one"));
  ASSERT_TRUE(b.put("k", "two"));
  EXPECT_EQ(a.get("k").value(), std::optional<std::string>("two"));
  ASSERT_TRUE(a.remove("k"));
  EXPECT_FALSE(b.get("k")->has_value());
  EXPECT_FALSE(b.batch({{Write::Kind::put, "k", "three"}}));
  EXPECT_EQ(a.get("k").value(), std::optional<std::string>("three"));
}

TEST_P(StoreCacheSqliteTest, BudgetHoldsUnderLoad) {
  constexpr size_t kBudget = 8192;
  auto storage = open_cached(kBudget);
  ASSERT_TRUE(storage);
  LoopStore store(GetParam(), *storage);
  for (int i = 0; i < 100; ++i) {
    std::string key = "key-" + std::to_string(i);
    ASSERT_TRUE(store.put(key, std::string(300, static_cast<char>('a' + i % 26))));
    ASSERT_TRUE(store.get(key));
    ASSERT_LE(storage->cache().bytes(), kBudget);
  }
  for (int i = 0; i < 100; ++i) {
    std::string key = "key-" + std::to_string(i);
    EXPECT_EQ(store.get(key).value(), std::optional<std::string>(std::string(300, static_cast<char>('a' + i % 26))));
  }
  EXPECT_GT(store.stats().cache_misses, 0u) << "evicted entries come back from the storage";
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreCacheTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         test::backend_test_name);
INSTANTIATE_TEST_SUITE_P(Backends, StoreCacheSqliteTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         test::backend_test_name);

}  // namespace
}  // namespace tern::store
