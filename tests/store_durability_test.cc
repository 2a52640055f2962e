// Durability and group commit of the embedded storage in full mode: a child (store-writer)
// that printed the puts it saw acknowledged is killed with SIGKILL, and every one of them is
// in the database afterwards; with many puts in flight, they share transactions (fewer commits,
// so fewer fsyncs, than puts), and the test prints the figure.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>

#include "child_process.h"
#include "store/sqlite_storage.h"
#include "store_test_support.h"
#include "temp_dir.h"
#include "tern/store/store.h"

namespace tern::store {
namespace {

using namespace std::chrono_literals;

std::string value_for(int n) {  // as tests/store_writer.cc
  std::string value = "value-" + std::to_string(n) + "-";
  value.append(static_cast<size_t>(n % 200), static_cast<char>('a' + n % 26));
  return value;
}

// The N of every complete "ack N" line of `output`.
std::set<int> acknowledged(const std::string& output) {
  std::set<int> keys;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (lines.eof()) break;  // the last line had no '\n': cut by the kill, not a whole ack
    int n = 0;
    if (std::sscanf(line.c_str(), "ack %d", &n) == 1) keys.insert(n);
  }
  return keys;
}

TEST(StoreDurability, AcknowledgedPutsSurviveKill9) {
  test::TempDir dir("tern-store-durable-");
  std::string path = dir / "kv.db";
  test::ChildProcess writer;
  std::string error;
  ASSERT_TRUE(writer.spawn(TERN_STORE_WRITER_PATH, {path, "100000", "64", "full"}, error))
      << error;
  constexpr int kAcks = 2000;
  int acks = 0;
  while (acks < kAcks) {
    auto line = writer.read_stdout_line(30s);
    ASSERT_TRUE(line) << "store-writer stopped answering after " << acks
                      << " acks; stderr: " << writer.stderr_text();
    ASSERT_EQ(line->rfind("ack ", 0), 0u) << *line;
    ++acks;
  }
  ASSERT_TRUE(writer.send_signal(SIGKILL));
  auto status = writer.wait(30s);
  ASSERT_TRUE(status.signaled && status.signo == SIGKILL) << status.describe();
  std::set<int> keys = acknowledged(writer.stdout_text());
  ASSERT_GE(keys.size(), size_t(kAcks));

  StorageConfig config;
  config.url = "sqlite:" + path;
  std::string why;
  auto storage = open_storage(config, why);
  ASSERT_TRUE(storage) << why;
  test::LoopStore store(BackendKind::epoll, *storage);
  int missing = 0;
  int wrong = 0;
  for (int n : keys) {
    auto value = store.get("key-" + std::to_string(n));
    ASSERT_TRUE(value) << value.error().message();
    if (!value->has_value()) {
      ++missing;
    } else if (**value != value_for(n)) {
      ++wrong;
    }
  }
  EXPECT_EQ(missing, 0) << "acknowledged puts lost by kill -9";
  EXPECT_EQ(wrong, 0);
  std::printf("[ figure ] %zu acknowledged puts before kill -9: %d missing after reopening\n",
              keys.size(), missing);
}

class StoreGroupCommit : public test::SqliteStoreTest {
 protected:
  std::unique_ptr<SqliteStorage> open_full(SqliteOptions options = {}) {
    StorageConfig c = config();
    c.durability = Durability::full;
    return open(c, options);
  }
  // Issues `count` puts from the loop, `in_flight` at a time, and waits for them all.
  static void put_many(test::LoopStore& store, int count, int in_flight) {
    test::EventCount acked;
    std::atomic<int> failed{0};
    struct Issuer {
      Store* store = nullptr;
      int count = 0;
      int next = 0;
      test::EventCount* acked = nullptr;
      std::atomic<int>* failed = nullptr;
      void issue() {
        int n = next++;
        store->put("key-" + std::to_string(n), value_for(n), [this](Result<bool> r) {
          if (!r) ++*failed;
          if (next < count) issue();
          acked->add();  // last: the test may return (and free this issuer) once it counts all
        });
      }
    };
    Issuer issuer;
    store.on_loop([&](Store& s, EventLoop&) {
      issuer = Issuer{&s, count, 0, &acked, &failed};
      for (int i = 0; i < in_flight && i < count; ++i) issuer.issue();
    });
    ASSERT_TRUE(acked.wait_until_at_least(count, 120s));
    EXPECT_EQ(failed.load(), 0);
  }
};

// Deterministic: the first commit is held until every other put is queued, so they all share
// the second transaction.
TEST_P(StoreGroupCommit, PutsQueuedDuringACommitShareTheNext) {
  auto storage = open_full();
  ASSERT_TRUE(storage);
  test::CommitGate gate;
  storage->set_before_commit(gate.hook());
  test::LoopStore store(GetParam(), *storage);
  constexpr int kPuts = 500;
  test::EventCount acked;
  store.on_loop([&](Store& s, EventLoop&) {
    s.put("first", "v", [&](Result<bool> r) { EXPECT_TRUE(r); acked.add(); });
  });
  ASSERT_TRUE(gate.wait_entered());
  store.on_loop([&](Store& s, EventLoop&) {
    for (int i = 0; i < kPuts; ++i) {
      s.put("key-" + std::to_string(i), "v", [&](Result<bool> r) { EXPECT_TRUE(r); acked.add(); });
    }
  });
  gate.open();
  ASSERT_TRUE(acked.wait_until_at_least(kPuts + 1, 60s));
  SqliteStats stats = storage->stats();
  EXPECT_EQ(stats.writes, uint64_t(kPuts + 1));
  EXPECT_EQ(stats.transactions, 2u) << "the held commit, then one for all the queued puts";
  std::printf("[ figure ] group commit, commit held: %llu puts in %llu transactions (%.1f puts/transaction)\n",
              static_cast<unsigned long long>(stats.writes),
              static_cast<unsigned long long>(stats.transactions),
              double(stats.writes) / double(stats.transactions));
}

// Undisturbed: 64 puts always in flight, durability full, on the disk of $TMPDIR.
TEST_P(StoreGroupCommit, ManyPutsInFlightTakeFewerTransactions) {
  auto storage = open_full();
  ASSERT_TRUE(storage);
  test::LoopStore store(GetParam(), *storage);
  constexpr int kPuts = 3000;
  put_many(store, kPuts, 64);
  SqliteStats stats = storage->stats();
  EXPECT_EQ(stats.writes, uint64_t(kPuts));
  EXPECT_LT(stats.transactions, stats.writes);
  std::printf("[ figure ] group commit, 64 in flight: %llu puts in %llu transactions (%.1f puts/transaction)\n",
              static_cast<unsigned long long>(stats.writes),
              static_cast<unsigned long long>(stats.transactions),
              double(stats.writes) / double(std::max<uint64_t>(stats.transactions, 1)));
}

// The benchmark's comparison switch: without group commit every put is its own transaction.
TEST_P(StoreGroupCommit, WithoutGroupCommitEachPutIsATransaction) {
  auto storage = open_full(SqliteOptions{.group_commit = false});
  ASSERT_TRUE(storage);
  test::LoopStore store(GetParam(), *storage);
  put_many(store, 200, 64);
  SqliteStats stats = storage->stats();
  EXPECT_EQ(stats.writes, 200u);
  EXPECT_EQ(stats.transactions, 200u);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreGroupCommit,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         test::backend_test_name);

}  // namespace
}  // namespace tern::store
