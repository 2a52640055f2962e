// The embedded storage with StorageConfig::wait_for_room (what tern-kv runs with): an operation
// that meets the full queue waits on its loop instead of failing with overloaded, in the order
// the loop issued it, until the storage thread signals room; one still waiting at its deadline
// fails with timeout; the loop's waiting operations are bounded too (max_waiting). And the storage's
// figures (Storage::fill_metrics): queue depth and capacity, operations per transaction, commit
// durations. On real event loops, one row per backend; the slow disk is the CommitGate (no
// sleep).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "store/sqlite_storage.h"
#include "store_test_support.h"
#include "temp_dir.h"
#include "tern/metrics/snapshot.h"
#include "tern/store/store.h"

namespace tern::store {
namespace {

using test::CommitGate;
using test::LoopStore;
using namespace std::chrono_literals;

class StoreWaitForRoomTest : public test::SqliteStoreTest {
 protected:
  // A queue of two: the third operation behind a held commit meets it full.
  StorageConfig config() const {
    StorageConfig c = SqliteStoreTest::config();
    c.queue_capacity = 2;
    c.wait_for_room = true;
    c.deadline = 30s;
    return c;
  }
  // Holds the storage thread in the commit of a first put, so the queue behind it fills.
  void hold_first_commit(LoopStore& store, CommitGate& gate, std::atomic<int>& ok) {
    store.on_loop([&](Store& s, EventLoop&) {
      s.put("first", "v", [&](Result<bool> r) { ok += r.ok(); });
    });
    ASSERT_TRUE(gate.wait_entered()) << "the first put reaches the (held) commit";
  }
};

// Ten puts of one key behind a held commit and a queue of two: none is refused, eight wait for
// room, and once the disk moves all succeed, applied in the order issued (the last value wins).
TEST_P(StoreWaitForRoomTest, FullQueueWaitsInOrderInsteadOfRefusing) {
  auto storage = open(config());
  ASSERT_TRUE(storage);
  CommitGate gate;
  storage->set_before_commit(gate.hook());
  LoopStore store(GetParam(), *storage);
  std::atomic<int> ok{0};
  hold_first_commit(store, gate, ok);
  std::atomic<int> failed{0};
  store.on_loop([&](Store& s, EventLoop&) {
    for (int i = 1; i <= 10; ++i) {
      s.put("key", std::to_string(i), [&](Result<bool> r) {
        if (r) {
          ++ok;
        } else {
          ++failed;
          ADD_FAILURE() << "put failed: " << r.error().message();
        }
      });
    }
  });
  EXPECT_EQ(failed.load(), 0) << "nothing is refused at once";
  StoreStats held = store.stats();
  EXPECT_EQ(held.pending, 11u);
  EXPECT_EQ(held.room_waits, 8u) << "two fit in the queue, eight wait for room";
  EXPECT_EQ(storage->queue_depth(), 2u);
  gate.open();
  ASSERT_TRUE(test::wait_until([&] { return ok.load() + failed.load() == 11; }, 30s));
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(store.get("key").value(), std::optional<std::string>("10"))
      << "the waiting puts must reach the storage in the order they were issued";
  EXPECT_EQ(store.stats().pending, 0u);
}

// A put still waiting for room when its deadline passes fails with timeout (a 503 for
// tern-kv, never a hang), and is never applied afterwards.
TEST_P(StoreWaitForRoomTest, WaitingPastTheDeadlineTimesOutAndNeverRuns) {
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
  std::atomic<int> answered{0};
  store.on_loop([&](Store& s, EventLoop&) {
    for (int i = 0; i < 2; ++i) {
      s.put("queued-" + std::to_string(i), "v", [&](Result<bool>) { ++answered; });
    }
  });
  // The queue is full and the disk is stuck: only the deadline can answer this one.
  auto late = store.put("late", "v");
  EXPECT_EQ(late.error(), make_error_code(errc::timeout));
  EXPECT_EQ(store.stats().room_waits, 1u);
  gate.open();
  ASSERT_TRUE(test::wait_until([&] { return first.load() != 0 && answered.load() == 2; }, 30s));
  storage->set_before_commit({});
  auto value = store.get("late");
  ASSERT_TRUE(value);
  EXPECT_FALSE(value->has_value()) << "a put that timed out while waiting must not run";
}

// At most max_waiting operations wait per loop: the next one is refused with overloaded at
// once, so a loop's waiting list is bounded like the queue.
TEST_P(StoreWaitForRoomTest, WaitingOperationsAreBoundedPerLoop) {
  StorageConfig c = config();
  c.max_waiting = 2;
  auto storage = open(c);
  ASSERT_TRUE(storage);
  CommitGate gate;
  storage->set_before_commit(gate.hook());
  LoopStore store(GetParam(), *storage);
  std::atomic<int> ok{0};
  hold_first_commit(store, gate, ok);
  bool refused_at_once = false;
  store.on_loop([&](Store& s, EventLoop&) {
    for (int i = 0; i < 4; ++i) {  // two queued, two waiting
      s.put("k" + std::to_string(i), "v", [&](Result<bool> r) { ok += r.ok(); });
    }
    s.put("one-too-many", "v", [&](Result<bool> r) {
      refused_at_once = true;
      EXPECT_EQ(r.error(), make_error_code(errc::overloaded));
    });
  });
  EXPECT_TRUE(refused_at_once) << "a third waiting put must fail before put() returns";
  gate.open();
  ASSERT_TRUE(test::wait_until([&] { return ok.load() == 5; }, 30s));
}

// fill_metrics: the queue's depth and bound, one batch-size sample per committed transaction
// whose sum is the operations committed, and one commit duration per transaction.
TEST_P(StoreWaitForRoomTest, MetricsCountTransactionsAndTheirOperations) {
  auto storage = open(config());
  ASSERT_TRUE(storage);
  CommitGate gate;
  storage->set_before_commit(gate.hook());
  LoopStore store(GetParam(), *storage);
  std::atomic<int> ok{0};
  hold_first_commit(store, gate, ok);
  store.on_loop([&](Store& s, EventLoop&) {
    for (int i = 0; i < 5; ++i) {
      s.put("m" + std::to_string(i), "v", [&](Result<bool> r) { ok += r.ok(); });
    }
  });
  metrics::Snapshot held;
  storage->fill_metrics(held);
  EXPECT_EQ(held.value("tern_store_queue_depth", {}), 2.0);
  EXPECT_EQ(held.value("tern_store_queue_capacity", {}), 2.0);
  gate.open();
  ASSERT_TRUE(test::wait_until([&] { return ok.load() == 6; }, 30s));
  metrics::Snapshot after;
  storage->fill_metrics(after);
  EXPECT_EQ(after.value("tern_store_queue_depth", {}), 0.0);
  const metrics::Family* batches = after.find("tern_store_batch_size");
  const metrics::Family* commits = after.find("tern_store_commit_duration_seconds");
  ASSERT_TRUE(batches && commits);
  ASSERT_EQ(batches->series.size(), 1u);
  const metrics::Histogram& sizes = *batches->series[0].histogram;
  SqliteStats stats = storage->stats();
  EXPECT_EQ(sizes.count(), stats.transactions);
  EXPECT_EQ(static_cast<uint64_t>(sizes.mean() * static_cast<double>(sizes.count()) + 0.5), 6u)
      << "the operations of every transaction add up to the puts";
  EXPECT_GE(sizes.max(), 2u) << "puts that waited together share a transaction";
  EXPECT_EQ(commits->series[0].histogram->count(), stats.transactions);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreWaitForRoomTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         test::backend_test_name);

}  // namespace
}  // namespace tern::store
