// The embedded storage (SqliteStorage) through its Store interface, on real event loops (one
// row per backend): every operation's result and the loop its callback runs on, arbitrary
// bytes, scan order and limits, batches, refusals (bad_key, too_large, overloaded, timeout),
// several loops at once, reopening, and the errors of open_storage().
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "store/kv_table.h"
#include "store/sqlite_storage.h"
#include "store_test_support.h"
#include "temp_dir.h"
#include "tern/loop/loop_group.h"
#include "tern/store/store.h"

namespace tern::store {
namespace {

using test::CommitGate;
using test::LoopStore;
using test::TempDir;
using namespace std::chrono_literals;

class StoreSqliteTest : public test::SqliteStoreTest {};

std::string all_bytes() {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  return bytes;
}

TEST_P(StoreSqliteTest, PutGetRemoveAnswerOnTheCallersLoop) {
  auto storage = open(config());
  ASSERT_TRUE(storage);
  LoopStore store(GetParam(), *storage);
  auto created = store.put("alpha", "one");
  ASSERT_TRUE(created) << created.error().message();
  EXPECT_TRUE(*created);
  auto replaced = store.put("alpha", "two");
  ASSERT_TRUE(replaced);
  EXPECT_FALSE(*replaced) << "a second put of the same key is not a creation";
  auto value = store.get("alpha");
  ASSERT_TRUE(value);
  EXPECT_EQ(*value, std::optional<std::string>("two"));
  auto missing = store.get("beta");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  auto existed = store.remove("alpha");
  ASSERT_TRUE(existed);
  EXPECT_TRUE(*existed);
  auto again = store.remove("alpha");
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
  auto gone = store.get("alpha");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  StoreStats stats = store.stats();
  EXPECT_EQ(stats.puts, 2u);
  EXPECT_EQ(stats.gets, 3u);
  EXPECT_EQ(stats.removes, 2u);
  EXPECT_EQ(stats.failures, 0u);
  EXPECT_EQ(stats.pending, 0u);
}

TEST_P(StoreSqliteTest, KeysAndValuesAreArbitraryBytes) {
  auto storage = open(config());
  ASSERT_TRUE(storage);
  LoopStore store(GetParam(), *storage);
  const std::string nul_key("a\0b", 3);
  const std::string other_nul_key("a\0c", 3);
  const std::string high_key("\xff\xfe\x00\x01", 4);
  const std::string value = all_bytes() + std::string("\0\0", 2);
  ASSERT_TRUE(store.put(nul_key, value));
  ASSERT_TRUE(store.put(other_nul_key, "other"));
  ASSERT_TRUE(store.put(high_key, ""));
  auto got = store.get(nul_key);
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, value) << "the bytes after a NUL were lost or changed";
  auto other = store.get(other_nul_key);
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, std::optional<std::string>("other")) << "keys were cut at their NUL";
  auto empty = store.get(high_key);
  ASSERT_TRUE(empty);
  ASSERT_TRUE(empty->has_value()) << "an empty value is a value, not a missing key";
  EXPECT_EQ(**empty, "");
  auto prefix_end = KvTable::prefix_end(std::string("a\xff", 2));
  ASSERT_TRUE(prefix_end);
  EXPECT_EQ(*prefix_end, "b");
  EXPECT_FALSE(KvTable::prefix_end("\xff\xff"));
  EXPECT_FALSE(KvTable::prefix_end(""));
}

TEST_P(StoreSqliteTest, ScanReturnsKeysInByteOrderWithinTheLimit) {
  StorageConfig c = config();
  c.limits.max_scan = 5;
  auto storage = open(c);
  ASSERT_TRUE(storage);
  LoopStore store(GetParam(), *storage);
  std::vector<std::string> keys = {"a",          std::string("a\0", 2), "a\x01", "a\x7f",
                                   "a\x80",      "a\xff",               "a\xff\xff", "ab",
                                   "b",          "B",                   "\xff"};
  std::vector<std::string> shuffled = keys;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(12));
  for (const auto& key : shuffled) ASSERT_TRUE(store.put(key, "v"));

  std::vector<std::string> with_a;
  for (const auto& key : keys) {
    if (key[0] == 'a') with_a.push_back(key);
  }
  std::sort(with_a.begin(), with_a.end());  // std::string compares as unsigned bytes
  auto first = store.scan("a", 100);
  ASSERT_TRUE(first);
  std::vector<std::string> expected(with_a.begin(), with_a.begin() + 5);
  EXPECT_EQ(*first, expected) << "byte order, clamped to max_scan";
  auto two = store.scan("a", 2);
  ASSERT_TRUE(two);
  EXPECT_EQ(*two, std::vector<std::string>(with_a.begin(), with_a.begin() + 2));
  auto high = store.scan("a\xff", 10);
  ASSERT_TRUE(high);
  EXPECT_EQ(*high, (std::vector<std::string>{"a\xff", "a\xff\xff"}));
  auto top = store.scan("\xff", 10);
  ASSERT_TRUE(top);
  EXPECT_EQ(*top, std::vector<std::string>{"\xff"});
  auto none = store.scan("c", 10);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto all = store.scan("", 3);
  ASSERT_TRUE(all);
  EXPECT_EQ(*all, (std::vector<std::string>{"B", "a", std::string("a\0", 2)}));
  auto zero = store.scan("a", 0);
  ASSERT_TRUE(zero);
  EXPECT_TRUE(zero->empty());
}

TEST_P(StoreSqliteTest, BadKeysAndLargeValuesAreRefusedAtOnce) {
  StorageConfig c = config();
  c.limits.max_key = 8;
  c.limits.max_value = 16;
  auto storage = open(c);
  ASSERT_TRUE(storage);
  LoopStore store(GetParam(), *storage);
  // Refusals complete before the call returns: nothing is queued for them.
  store.on_loop([](Store& s, EventLoop&) {
    bool called = false;
    s.put("", "v", [&](Result<bool> r) {
      called = true;
      EXPECT_EQ(r.error(), make_error_code(errc::bad_key));
    });
    EXPECT_TRUE(called) << "bad_key must complete before put() returns";
    called = false;
    s.get("123456789", [&](Result<std::optional<std::string>> r) {
      called = true;
      EXPECT_EQ(r.error(), make_error_code(errc::bad_key));
    });
    EXPECT_TRUE(called);
    called = false;
    s.put("k", std::string(17, 'x'), [&](Result<bool> r) {
      called = true;
      EXPECT_EQ(r.error(), make_error_code(errc::too_large));
    });
    EXPECT_TRUE(called);
  });
  EXPECT_EQ(store.remove("").error(), make_error_code(errc::bad_key));
  EXPECT_EQ(store.scan("123456789", 5).error(), make_error_code(errc::bad_key));
  EXPECT_TRUE(store.put("12345678", std::string(16, 'x'))) << "the limits themselves are allowed";
  EXPECT_FALSE(storage_side(make_error_code(errc::bad_key)));
  EXPECT_FALSE(storage_side(make_error_code(errc::too_large)));
  EXPECT_TRUE(storage_side(make_error_code(errc::overloaded)));
  EXPECT_EQ(store.stats().failures, 5u);
  auto nothing = store.get("k");
  ASSERT_TRUE(nothing);
  EXPECT_FALSE(nothing->has_value());
}

TEST_P(StoreSqliteTest, BatchAppliesAllOrNothing) {
  auto storage = open(config());
  ASSERT_TRUE(storage);
  LoopStore store(GetParam(), *storage);
  ASSERT_TRUE(store.put("c", "old"));
  using Kind = Write::Kind;
  EXPECT_FALSE(store.batch({{Kind::put, "a", "1"}, {Kind::put, "b", "2"}, {Kind::remove, "c", ""}}));
  EXPECT_EQ(store.get("a").value(), std::optional<std::string>("1"));
  EXPECT_EQ(store.get("b").value(), std::optional<std::string>("2"));
  EXPECT_FALSE(store.get("c")->has_value());

  // A bad write anywhere refuses the whole batch.
  EXPECT_EQ(store.batch({{Kind::put, "d", "4"}, {Kind::put, "", "bad"}}),
            make_error_code(errc::bad_key));
  EXPECT_FALSE(store.get("d")->has_value());

  // A commit that fails (the disk, here the hook) leaves nothing of the batch, and fails the
  // puts that shared its transaction too.
  CommitGate gate;
  storage->set_before_commit(gate.hook());
  std::atomic<int> done{0};
  std::error_code batch_error;
  std::error_code put_error;
  store.on_loop([&](Store& s, EventLoop&) {
    s.batch({{Kind::put, "e", "5"}, {Kind::remove, "a", ""}, {Kind::put, "f", "6"}},
            [&](std::error_code e) { batch_error = e; ++done; });
    s.put("g", "7", [&](Result<bool> r) { put_error = r.error(); ++done; });
  });
  ASSERT_TRUE(gate.wait_entered());
  gate.open(std::make_error_code(std::errc::io_error));
  ASSERT_TRUE(test::wait_until([&] { return done.load() == 2; }, 30s));
  storage->set_before_commit({});
  EXPECT_EQ(batch_error, make_error_code(errc::unavailable));
  EXPECT_EQ(put_error, make_error_code(errc::unavailable));
  EXPECT_FALSE(store.get("e")->has_value());
  EXPECT_FALSE(store.get("f")->has_value());
  EXPECT_FALSE(store.get("g")->has_value());
  EXPECT_EQ(store.get("a").value(), std::optional<std::string>("1")) << "the batch's remove stayed";
  EXPECT_GE(storage->stats().failed_rounds, 1u);
}

// A full queue refuses at once with overloaded (backpressure, not an unbounded queue), and
// everything queued before completes once the disk moves again.
TEST_P(StoreSqliteTest, FullQueueRefusesWithOverloaded) {
  StorageConfig c = config();
  c.queue_capacity = 4;
  auto storage = open(c);
  ASSERT_TRUE(storage);
  CommitGate gate;
  storage->set_before_commit(gate.hook());
  LoopStore store(GetParam(), *storage);
  std::atomic<int> ok{0};
  store.on_loop([&](Store& s, EventLoop&) {
    s.put("first", "v", [&](Result<bool> r) { ok += r.ok(); });
  });
  ASSERT_TRUE(gate.wait_entered()) << "the first put reaches the (held) commit";
  bool refused_at_once = false;
  store.on_loop([&](Store& s, EventLoop&) {
    for (int i = 0; i < 4; ++i) {
      s.put("queued-" + std::to_string(i), "v", [&](Result<bool> r) { ok += r.ok(); });
    }
    s.put("one-too-many", "v", [&](Result<bool> r) {
      refused_at_once = true;
      EXPECT_EQ(r.error(), make_error_code(errc::overloaded));
    });
  });
  EXPECT_TRUE(refused_at_once) << "the fifth queued put must fail before put() returns";
  EXPECT_EQ(store.stats().pending, 5u);
  gate.open();
  ASSERT_TRUE(test::wait_until([&] { return ok.load() == 5; }, 30s));
  EXPECT_TRUE(store.get("queued-3")->has_value());
  EXPECT_FALSE(store.get("one-too-many")->has_value());
}

// A request still queued when its deadline passes fails with timeout at the deadline (the
// disk is stuck: the loop's timer answers), and never runs afterwards.
TEST_P(StoreSqliteTest, QueuedRequestPastItsDeadlineTimesOutWithoutRunning) {
  StorageConfig c = config();
  c.deadline = 300ms;
  auto storage = open(c);
  ASSERT_TRUE(storage);
  CommitGate gate;
  storage->set_before_commit(gate.hook());
  LoopStore store(GetParam(), *storage);
  std::atomic<int> first{0};
  store.on_loop([&](Store& s, EventLoop&) {
    s.put("first", "v", [&](Result<bool> r) { first = r.ok() ? 1 : 2; });
  });
  ASSERT_TRUE(gate.wait_entered());
  // The storage thread is held in the commit: only the deadline can answer this one.
  auto late = store.put("late", "v");
  EXPECT_EQ(late.error(), make_error_code(errc::timeout));
  gate.open();
  ASSERT_TRUE(test::wait_until([&] { return first.load() != 0; }, 30s));
  storage->set_before_commit({});
  auto value = store.get("late");
  ASSERT_TRUE(value);
  EXPECT_FALSE(value->has_value()) << "a request that timed out while queued must not run";
  EXPECT_GE(storage->stats().expired, 1u);
}

// Deadlines racing completions (a slow disk, a deadline shorter than a commit): every callback
// runs exactly once, with success or timeout, and every success is stored.
TEST_P(StoreSqliteTest, DeadlinesRacingCompletionsEndEachRequestOnce) {
  StorageConfig c = config();
  c.deadline = 3ms;
  auto storage = open(c);
  ASSERT_TRUE(storage);
  storage->set_before_commit([] {
    std::this_thread::sleep_for(1ms);  // the slow disk itself, not a synchronisation
    return std::error_code{};
  });
  LoopStore store(GetParam(), *storage);
  constexpr int kPuts = 400;
  std::vector<int> calls(kPuts, 0);
  std::vector<char> stored(kPuts, 0);
  std::atomic<int> unexpected{0};
  test::EventCount ended;
  // A few in flight, each acknowledgement issuing the next: some rounds beat the deadline,
  // some lose, and the two ends of a job meet in every order.
  constexpr int kInFlight = 8;
  std::function<void(Store&, int)> issue = [&](Store& s, int i) {
    s.put("key-" + std::to_string(i), "v", [&, i, target = &s](Result<bool> r) {
      ++calls[i];
      if (r) {
        stored[i] = 1;
      } else if (r.error() != make_error_code(errc::timeout)) {
        ++unexpected;
      }
      if (i + kInFlight < kPuts) issue(*target, i + kInFlight);
      ended.add();  // last: the test may return once it counts them all
    });
  };
  store.on_loop([&](Store& s, EventLoop&) {
    for (int i = 0; i < kInFlight; ++i) issue(s, i);
  });
  ASSERT_TRUE(ended.wait_until_at_least(kPuts, 60s));
  storage->set_before_commit({});
  EXPECT_EQ(store.stats().pending, 0u);
  EXPECT_EQ(unexpected.load(), 0);
  int timeouts = 0;
  for (int i = 0; i < kPuts; ++i) {
    EXPECT_EQ(calls[i], 1) << "put " << i;
    timeouts += stored[i] ? 0 : 1;
  }
  store.destroy_store();
  storage.reset();
  auto reopened = open(config());  // the default deadline: the reads must not time out
  ASSERT_TRUE(reopened);
  LoopStore reader(GetParam(), *reopened);
  for (int i = 0; i < kPuts; ++i) {
    if (!stored[i]) continue;
    auto value = reader.get("key-" + std::to_string(i));
    ASSERT_TRUE(value) << value.error().message();
    EXPECT_TRUE(value->has_value()) << "acknowledged put " << i << " is missing";
  }
  std::printf("[ figure ] deadline 3 ms, commits of 1 ms and more: %d of %d puts timed out\n", timeouts, kPuts);
}

TEST_P(StoreSqliteTest, SeveralLoopsShareOneStorage) {
  auto storage = open(config());
  ASSERT_TRUE(storage);
  constexpr int kLoops = 3;
  constexpr int kKeys = 200;
  std::vector<std::unique_ptr<Store>> stores(kLoops);
  LoopGroup group;
  ASSERT_FALSE(group.start(
      LoopGroupOptions{GetParam(), backend_options(), kLoops, "test-store"},
      [&](size_t i, EventLoop& loop) {
        stores[i] = storage->attach(loop);
        return std::error_code{};
      },
      [&](size_t i, EventLoop&) { stores[i].reset(); }));
  test::EventCount written;
  test::EventCount read_back;
  std::atomic<int> wrong{0};
  for (size_t i = 0; i < kLoops; ++i) {
    group.post(i, [&, i] {
      EventLoop& loop = group.loop(i);
      for (int k = 0; k < kKeys; ++k) {
        std::string key = "loop" + std::to_string(i) + "-" + std::to_string(k);
        stores[i]->put(key, key + "=value", [&, key, i](Result<bool> r) {
          if (!r || !*r || !loop.in_loop_thread()) ++wrong;
          // Read it back from this loop once acknowledged.
          stores[i]->get(key, [&, key](Result<std::optional<std::string>> v) {
            if (!v || *v != std::optional<std::string>(key + "=value") || !loop.in_loop_thread()) {
              ++wrong;
            }
            read_back.add();
          });
          written.add();
        });
      }
    });
  }
  ASSERT_TRUE(written.wait_until_at_least(kLoops * kKeys, 60s));
  ASSERT_TRUE(read_back.wait_until_at_least(kLoops * kKeys, 60s));
  EXPECT_EQ(wrong.load(), 0);
  for (size_t i = 0; i < kLoops; ++i) {
    group.run_and_wait(i, [&, i] {
      EXPECT_EQ(stores[i]->stats().puts, size_t(kKeys));
      EXPECT_EQ(stores[i]->stats().pending, 0u);
    });
  }
  group.stop();
  EXPECT_EQ(storage->stats().writes, uint64_t(kLoops * kKeys));
}

TEST_P(StoreSqliteTest, ReopenedDatabaseKeepsItsData) {
  StorageConfig c = config("reopen.db");
  {
    auto storage = open(c);
    ASSERT_TRUE(storage);
    LoopStore store(GetParam(), *storage);
    ASSERT_TRUE(store.put("kept", std::string("\0kept\0", 6)));
    ASSERT_TRUE(store.put("dropped", "x"));
    ASSERT_TRUE(store.remove("dropped"));
  }
  auto storage = open(c);
  ASSERT_TRUE(storage);
  LoopStore store(GetParam(), *storage);
  EXPECT_EQ(store.get("kept").value(), std::optional<std::string>(std::string("\0kept\0", 6)));
  EXPECT_FALSE(store.get("dropped")->has_value());
}

// Destroying a Store with writes queued: the writes still happen, their callbacks are dropped.
TEST_P(StoreSqliteTest, WritesQueuedByADestroyedStoreStillHappen) {
  auto storage = open(config());
  ASSERT_TRUE(storage);
  CommitGate gate;
  storage->set_before_commit(gate.hook());
  {
    LoopStore store(GetParam(), *storage);
    store.on_loop([&](Store& s, EventLoop&) {
      s.put("first", "v", [](Result<bool>) {});
    });
    ASSERT_TRUE(gate.wait_entered());
    store.on_loop([&](Store& s, EventLoop&) {
      s.put("orphan", "v", [](Result<bool>) { ADD_FAILURE() << "callback of a destroyed Store"; });
    });
    store.destroy_store();
  }
  gate.open();
  storage->set_before_commit({});
  LoopStore reader(GetParam(), *storage);
  EXPECT_EQ(reader.get("orphan").value(), std::optional<std::string>("v"));
}

TEST_P(StoreSqliteTest, DescribeNamesThePathAndTheDurability) {
  StorageConfig c = config("described.db");
  c.durability = Durability::normal;
  std::string why;
  auto storage = open_storage(c, why);
  ASSERT_TRUE(storage) << why;
  EXPECT_EQ(storage->describe(), "sqlite " + dir_ / "described.db" + " (WAL, durability normal)");
  c.cache_bytes = 64u << 20;
  c.url = "sqlite:" + dir_ / "cached.db";
  auto cached = open_storage(c, why);
  ASSERT_TRUE(cached) << why;
  EXPECT_EQ(cached->describe(),
            "sqlite " + dir_ / "cached.db" + " (WAL, durability normal, cache 64 MiB)");
  LoopStore store(GetParam(), *cached);
  ASSERT_TRUE(store.put("k", "v"));
  EXPECT_EQ(store.get("k").value(), std::optional<std::string>("v"));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreSqliteTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         test::backend_test_name);

TEST(StoreOpen, PathThatCannotBeOpenedGivesAClearError) {
  TempDir dir("tern-store-");
  std::string why;
  StorageConfig c;
  c.url = "sqlite:" + dir / "no-such-dir/kv.db";
  EXPECT_FALSE(open_storage(c, why));
  EXPECT_NE(why.find(dir / "no-such-dir/kv.db"), std::string::npos) << why;
  EXPECT_NE(why.find("unable to open"), std::string::npos) << why;

  why.clear();
  c.url = "sqlite:" + dir.path().string();  // a directory
  EXPECT_FALSE(open_storage(c, why));
  EXPECT_NE(why.find(dir.path().string()), std::string::npos) << why;

  why.clear();
  std::string not_a_database = dir / "text.db";
  test::write_file(not_a_database, std::string(4096, 'x'));
  c.url = "sqlite:" + not_a_database;
  EXPECT_FALSE(open_storage(c, why));
  EXPECT_NE(why.find("not a database"), std::string::npos) << why;

  why.clear();
  c.url = "sqlite:";
  EXPECT_FALSE(open_storage(c, why));
  EXPECT_NE(why.find("sqlite:PATH"), std::string::npos) << why;

  why.clear();
  c.url = "mysql://localhost";
  EXPECT_FALSE(open_storage(c, why));
  EXPECT_NE(why.find("mysql://localhost"), std::string::npos) << why;
}

TEST(StoreOpen, InMemoryDatabase) {
  StorageConfig c;
  c.url = "sqlite::memory:";
  std::string why;
  auto storage = open_storage(c, why);
  ASSERT_TRUE(storage) << why;
  EXPECT_EQ(storage->describe(), "sqlite :memory: (in memory, nothing durable)");
  LoopStore store(BackendKind::epoll, *storage);
  ASSERT_TRUE(store.put("k", "v"));
  EXPECT_EQ(store.get("k").value(), std::optional<std::string>("v"));
}

TEST(StoreOpen, VocabularyFunctions) {
  EXPECT_EQ(parse_durability("full"), Durability::full);
  EXPECT_EQ(parse_durability("normal"), Durability::normal);
  EXPECT_FALSE(parse_durability("FULL"));
  EXPECT_STREQ(durability_name(Durability::normal), "normal");
  EXPECT_EQ(make_error_code(errc::overloaded).message(), "the storage's request queue is full");
  EXPECT_FALSE(storage_side(std::make_error_code(std::errc::io_error)));
  EXPECT_TRUE(storage_side(errc::closed));
}

}  // namespace
}  // namespace tern::store
