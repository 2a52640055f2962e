// Helpers of the tern::store suites: a Store attached on a loop that runs on its own thread,
// whose operations a test calls as if they were blocking (each waits, bounded, for its
// callback and checks that the callback ran on the Store's loop), a gate that holds the
// storage thread before a commit until the test opens it (the slow disk, without a sleep), and
// the fixture of the suites on the embedded storage (SqliteStoreTest: a database in the test's
// own directory, one row per backend).
//
// Thread rule: the test thread (the callbacks run on the loop's thread and hand their result
// over through a promise).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "store/sqlite_storage.h"
#include "temp_dir.h"
#include "test_support.h"
#include "tern/store/store.h"

namespace tern::test {

using namespace std::chrono_literals;

// Results the helpers wait for; a callback that never comes fails the test after this long.
inline constexpr auto kStoreWait = std::chrono::seconds(30);

class LoopStore {
 public:
  LoopStore(BackendKind kind, store::Storage& storage)
      : thread_(kind, [&](EventLoop& loop) {
          loop_ = &loop;
          store_ = storage.attach(loop);
        }) {}
  ~LoopStore() { destroy_store(); }
  LoopStore(const LoopStore&) = delete;
  LoopStore& operator=(const LoopStore&) = delete;

  // Runs `start(store, done)` on the loop; `done` is the callback to give the operation.
  // Returns its result once the callback ran (on the loop: checked), or `error` if it did not
  // come within kStoreWait.
  template <class R, class Start>
  R run(Start start, R error = R(std::make_error_code(std::errc::timed_out))) {
    auto promise = std::make_shared<std::promise<R>>();
    auto future = promise->get_future();
    thread_.call([&](EventLoop& loop) {
      start(*store_, [promise, &loop](R result) mutable {
        EXPECT_TRUE(loop.in_loop_thread()) << "a Store callback ran off its loop";
        promise->set_value(std::move(result));
      });
    });
    if (future.wait_for(kStoreWait) != std::future_status::ready) {
      ADD_FAILURE() << "no callback within " << kStoreWait.count() << " s";
      return error;
    }
    return future.get();
  }

  Result<bool> put(std::string_view key, std::string_view value) {
    return run<Result<bool>>([&](store::Store& s, auto done) { s.put(key, value, std::move(done)); });
  }
  Result<std::optional<std::string>> get(std::string_view key) {
    return run<Result<std::optional<std::string>>>(
        [&](store::Store& s, auto done) { s.get(key, std::move(done)); });
  }
  Result<bool> remove(std::string_view key) {
    return run<Result<bool>>([&](store::Store& s, auto done) { s.remove(key, std::move(done)); });
  }
  Result<std::vector<std::string>> scan(std::string_view prefix, size_t limit) {
    return run<Result<std::vector<std::string>>>(
        [&](store::Store& s, auto done) { s.scan(prefix, limit, std::move(done)); });
  }
  std::error_code batch(std::vector<store::Write> writes) {
    return run<std::error_code>([&](store::Store& s, auto done) {
      s.batch(std::move(writes), [done = std::move(done)](std::error_code e) mutable { done(e); });
    });
  }
  store::StoreStats stats() {
    return thread_.call([&](EventLoop&) { return store_->stats(); });
  }

  // Runs `fn(store, loop)` on the loop and waits for it (issue several operations at once).
  template <class F>
  void on_loop(F fn) {
    thread_.call([&](EventLoop& loop) { fn(*store_, loop); });
  }
  void destroy_store() {
    thread_.call([&](EventLoop&) { store_.reset(); });
  }

 private:
  EventLoop* loop_ = nullptr;
  std::unique_ptr<store::Store> store_;
  LoopThread thread_;
};

// Holds the storage thread inside its before-commit hook until open() (or until a generous
// bound passes, so a failing test never hangs the destructor that joins the thread).
class CommitGate {
 public:
  std::function<std::error_code()> hook() {
    return [this] {
      entered_.add();
      std::unique_lock lock(mutex_);
      if (!opened_.wait_for(lock, kStoreWait, [&] { return open_; })) {
        ADD_FAILURE() << "the commit gate was never opened";
      }
      return fail_with_;
    };
  }
  // Waits until the storage thread has entered the hook `count` times in all.
  bool wait_entered(int count = 1) { return entered_.wait_until_at_least(count, kStoreWait); }
  void open(std::error_code fail_with = {}) {
    std::lock_guard lock(mutex_);
    open_ = true;
    fail_with_ = fail_with;
    opened_.notify_all();
  }

 private:
  EventCount entered_;
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
  std::error_code fail_with_;
};

// The fixture of the suites on SQLite, parameterised by backend: config() names a database in
// the test's own directory (removed after it), open() opens it (a failure is recorded with the
// reason, and null returned).
class SqliteStoreTest : public BackendTest {
 protected:
  store::StorageConfig config(std::string_view name = "kv.db") const {
    store::StorageConfig c;
    c.url = "sqlite:" + dir_ / name;
    return c;
  }
  std::unique_ptr<store::SqliteStorage> open(const store::StorageConfig& c,
                                             store::SqliteOptions options = {}) {
    std::string why;
    auto storage = store::SqliteStorage::open(c, why, options);
    EXPECT_TRUE(storage) << why;
    return storage;
  }
  TempDir dir_{"tern-store-"};
};

}  // namespace tern::test
