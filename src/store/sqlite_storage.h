// SqliteStorage: the embedded storage. One storage thread owns the SQLite connection (WAL
// mode, synchronous=FULL for Durability::full, NORMAL for normal) and serves a bounded queue
// of jobs that the loops' SqliteStores submit (half-sync/half-async: the loops never block on
// the disk).
//
// Group commit: each round the thread takes every job queued at that moment, runs them in ONE
// transaction, commits it (one fsync in full mode) and only then posts the results back to
// each job's loop, one post per loop. Writes that arrive while a commit is on the disk wait
// for the next round and share its fsync, so the cost of durability is one fsync per round,
// not per write. A failed statement or commit rolls the whole round back and fails every job
// of it with unavailable: a batch is atomic because it never straddles two transactions.
//
// Deadline: a job still queued when its deadline passed does not run (the loop's timer failed
// it with timeout already; the thread checks again when it takes it).
//
// Room (StorageConfig::wait_for_room): a submit refused because the queue is full notes the
// job's loop; when the thread next takes jobs off the queue it posts "room" to each loop noted
// (PendingJobs::room, on that loop), which submits its waiting jobs again. The note and the
// refusal happen under one lock, and every refusal finds a non-empty queue that the thread
// will take, so no loop waits for a signal that never comes (no timer, no polling).
//
// This header is private (src/store/): open_storage() is the public way in; tests and the
// benchmark use the hooks and counters below.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "store/kv_table.h"
#include "store/sqlite_database.h"
#include "store/storage_figures.h"
#include "store/store_job.h"
#include "tern/store/store.h"

namespace tern::store {

struct SqliteOptions {
  // false: one transaction (one fsync) per write, the comparison the benchmark makes.
  bool group_commit = true;
};

// Counters of the storage thread (a snapshot).
struct SqliteStats {
  uint64_t transactions = 0;  // committed write transactions
  uint64_t writes = 0;        // write jobs (put, remove, batch) they committed
  uint64_t reads = 0;         // get and scan jobs served
  uint64_t expired = 0;       // jobs skipped or failed because their deadline had passed
  uint64_t failed_rounds = 0; // rounds rolled back (a disk error, the test hook)
};

class SqliteStorage final : public Storage {
 public:
  // A loop side that a full queue refused: where to signal room.
  struct RoomWaiter {
    LoopHandle loop;
    std::weak_ptr<PendingJobs> owner;
  };

  // Runs on the storage thread before each COMMIT of a round with writes: a test's slow disk
  // (block on a condition, or wait) or a failing one (a returned error rolls the round back).
  using BeforeCommit = std::function<std::error_code()>;

  // Opens or creates the database `config.url` names ("sqlite:PATH") and starts the thread;
  // nullptr with `why` set when the path cannot be opened or is not a database. Any thread.
  static std::unique_ptr<SqliteStorage> open(const StorageConfig& config, std::string& why,
                                             SqliteOptions options = {});
  // Finishes every queued job (their results are posted to loops still alive), then stops the
  // thread and closes the database. Destroy after every Store it made.
  ~SqliteStorage() override;

  std::unique_ptr<Store> attach(EventLoop& loop) override;  // the loop's thread
  std::string describe() const override;                   // any thread
  void fill_metrics(metrics::Snapshot& snapshot) const override;  // any thread

  // Any thread (loop threads, through their Stores): queues `job`, or says why not
  // (overloaded: the queue holds queue_capacity jobs; closed: shutting down). With
  // config().wait_for_room an overloaded refusal also notes the job's loop and owner: room is
  // signalled to them (see the header comment).
  std::error_code submit(std::shared_ptr<StoreJob> job);
  size_t queue_depth() const;  // any thread: jobs queued now

  const StorageConfig& config() const noexcept { return config_; }  // any thread
  SqliteStats stats() const noexcept;                                 // any thread
  // Any thread. Empty: none. Also set from $TERN_STORE_TEST_COMMIT_DELAY_MS at open (a delay
  // before each commit, for process tests of a slow disk).
  void set_before_commit(BeforeCommit hook);

 private:
  SqliteStorage(const StorageConfig& config, SqliteOptions options, std::string path);
  bool open_database(std::string& why);
  void run();
  // Every job queued now; `waiting` receives the loops to signal room to.
  std::vector<std::shared_ptr<StoreJob>> take_round(std::vector<RoomWaiter>& waiting);
  static void signal_room(std::vector<RoomWaiter>& waiting);
  void serve_round(std::vector<std::shared_ptr<StoreJob>>& round);
  bool execute(StoreJob& job);
  bool commit();
  void fail_round(std::vector<std::shared_ptr<StoreJob>>& runnable);
  void hand_back(std::vector<std::shared_ptr<StoreJob>>& round);
  void log_sqlite_error(const char* what);

  const StorageConfig config_;
  const SqliteOptions options_;
  const std::string path_;
  SqliteDatabase db_;             // storage thread only, after open
  std::optional<KvTable> table_;  // storage thread only, after open

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<StoreJob>> queue_;  // guarded by mutex_
  bool stopping_ = false;                        // guarded by mutex_
  BeforeCommit before_commit_;                   // guarded by mutex_
  std::vector<RoomWaiter> room_waiters_;         // guarded by mutex_: loops refused for room
  StorageFigures figures_;

  std::atomic<uint64_t> transactions_{0}, writes_{0}, reads_{0}, expired_{0}, failed_rounds_{0};
  std::thread thread_;
};

}  // namespace tern::store
