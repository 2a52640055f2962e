// SqliteStorage: the storage thread, its bounded queue and group commit.
#include "store/sqlite_storage.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "store/pending_jobs.h"
#include "store/sqlite_store.h"
#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"

namespace tern::store {
namespace {

constexpr std::string_view kScheme = "sqlite:";

// A delay before each commit from the environment: how a process test slows the disk of a
// tern program it cannot reach into. Unset or invalid: no hook.
SqliteStorage::BeforeCommit commit_delay_from_environment() {
  const char* text = std::getenv("TERN_STORE_TEST_COMMIT_DELAY_MS");
  if (text == nullptr) return {};
  char* end = nullptr;
  long ms = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || ms <= 0) return {};
  log(LogLevel::warn, "tern-store: TERN_STORE_TEST_COMMIT_DELAY_MS=%ld: each commit waits first",
      ms);
  return [delay = std::chrono::milliseconds(ms)] {
    std::this_thread::sleep_for(delay);
    return std::error_code{};
  };
}

std::string display_path(const std::string& path) {
  if (path == ":memory:") return path;
  std::error_code ignored;
  auto absolute = std::filesystem::absolute(path, ignored);
  return ignored ? path : absolute.string();
}

}  // namespace

std::unique_ptr<SqliteStorage> SqliteStorage::open(const StorageConfig& config, std::string& why,
                                                   SqliteOptions options) {
  std::string_view url = config.url;
  if (url.substr(0, kScheme.size()) != kScheme || url.size() == kScheme.size()) {
    why = "storage URL '" + config.url + "': expected sqlite:PATH";
    return nullptr;
  }
  std::string path(url.substr(kScheme.size()));
  std::unique_ptr<SqliteStorage> storage(new SqliteStorage(config, options, path));
  if (!storage->open_database(why)) {
    why = "sqlite " + display_path(path) + ": " + why;
    return nullptr;
  }
  storage->before_commit_ = commit_delay_from_environment();
  storage->thread_ = std::thread([raw = storage.get()] { raw->run(); });
  return storage;
}

SqliteStorage::SqliteStorage(const StorageConfig& config, SqliteOptions options,
                             std::string path)
    : config_(config), options_(options), path_(std::move(path)) {}

bool SqliteStorage::open_database(std::string& why) {
  db_ = SqliteDatabase::open(path_, /*read_only=*/false, why);
  if (!db_) return false;
  // Another process holding the write lock (a second tern-kv on the same file) is waited for a
  // little, then the round fails with unavailable instead of blocking the thread for good.
  if (!db_.exec("PRAGMA busy_timeout = 1000", why)) return false;
  std::string mode = db_.query_text("PRAGMA journal_mode = WAL");
  if (mode != "wal" && !(path_ == ":memory:" && mode == "memory")) {
    why = mode.empty() ? db_.last_error() : "cannot use WAL mode (journal_mode is " + mode + ")";
    return false;
  }
  const char* synchronous = config_.durability == Durability::full
                                ? "PRAGMA synchronous = FULL"
                                : "PRAGMA synchronous = NORMAL";
  if (!db_.exec(synchronous, why)) return false;
  table_ = KvTable::open(db_, why);
  return table_.has_value();
}

SqliteStorage::~SqliteStorage() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  table_.reset();  // its statements before the connection
}

std::unique_ptr<Store> SqliteStorage::attach(EventLoop& loop) {
  loop.assert_in_loop_thread("store::Storage::attach");
  return std::make_unique<SqliteStore>(loop, *this);
}

std::string SqliteStorage::describe() const {
  if (path_ == ":memory:") return "sqlite :memory: (in memory, nothing durable)";
  return "sqlite " + display_path(path_) + " (WAL, durability " +
         durability_name(config_.durability) + ")";
}

std::error_code SqliteStorage::submit(std::shared_ptr<StoreJob> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return errc::closed;
    if (queue_.size() >= config_.queue_capacity) {
      if (config_.wait_for_room) room_waiters_.push_back(RoomWaiter{job->loop, job->owner});
      return errc::overloaded;
    }
    queue_.push_back(std::move(job));
    if (queue_.size() > 1) return {};  // the thread is awake: it takes the queue when it looks
  }
  wake_.notify_one();
  return {};
}

size_t SqliteStorage::queue_depth() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

void SqliteStorage::fill_metrics(metrics::Snapshot& snapshot) const {
  snapshot.add_gauge("tern_store_queue_depth",
                     "Storage requests queued for the SQLite storage thread now.", {},
                     static_cast<double>(queue_depth()));
  snapshot.add_gauge("tern_store_queue_capacity",
                     "The SQLite storage thread's queue bound (--store-queue).", {},
                     static_cast<double>(config_.queue_capacity));
  figures_.fill(snapshot);
}

SqliteStats SqliteStorage::stats() const noexcept {
  SqliteStats s;
  s.transactions = transactions_.load(std::memory_order_relaxed);
  s.writes = writes_.load(std::memory_order_relaxed);
  s.reads = reads_.load(std::memory_order_relaxed);
  s.expired = expired_.load(std::memory_order_relaxed);
  s.failed_rounds = failed_rounds_.load(std::memory_order_relaxed);
  return s;
}

void SqliteStorage::set_before_commit(BeforeCommit hook) {
  std::lock_guard lock(mutex_);
  before_commit_ = std::move(hook);
}

void SqliteStorage::run() {
  pthread_setname_np(pthread_self(), "tern-store");
  std::vector<RoomWaiter> waiting;
  for (;;) {
    auto round = take_round(waiting);
    signal_room(waiting);
    if (round.empty()) return;  // stopping, and nothing is left
    serve_round(round);
    hand_back(round);
  }
}

// Every job queued now (group commit), or the first one alone (the comparison without).
std::vector<std::shared_ptr<StoreJob>> SqliteStorage::take_round(
    std::vector<RoomWaiter>& waiting) {
  std::unique_lock lock(mutex_);
  wake_.wait(lock, [&] { return !queue_.empty() || stopping_; });
  std::vector<std::shared_ptr<StoreJob>> round;
  size_t count = options_.group_commit ? queue_.size() : std::min<size_t>(queue_.size(), 1);
  round.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    round.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  if (count > 0) waiting.swap(room_waiters_);  // the queue has room now
  return round;
}

// One task per noted loop side (a loop refused several times is noted once per refusal: the
// extra signals find nothing waiting). Outside the lock: a post may allocate.
void SqliteStorage::signal_room(std::vector<RoomWaiter>& waiting) {
  for (RoomWaiter& waiter : waiting) {
    post_to(waiter.loop, [owner = std::move(waiter.owner)] {
      if (auto self = owner.lock()) self->room();
    });
  }
  waiting.clear();
}

void SqliteStorage::serve_round(std::vector<std::shared_ptr<StoreJob>>& round) {
  TimePoint now = Clock::now();
  std::vector<std::shared_ptr<StoreJob>> runnable;
  runnable.reserve(round.size());
  bool writes = false;
  for (auto& job : round) {
    JobState expected = JobState::queued;
    if (!job->state.compare_exchange_strong(expected, JobState::taken)) {
      expired_.fetch_add(1, std::memory_order_relaxed);  // the loop's timer failed it first
      continue;
    }
    if (now - job->enqueued > config_.deadline) {
      expired_.fetch_add(1, std::memory_order_relaxed);
      job->error = errc::timeout;
      continue;
    }
    writes = writes || job->writes();
    runnable.push_back(job);
  }
  if (runnable.empty()) return;
  std::string why;
  if (writes && !db_.exec("BEGIN IMMEDIATE", why)) {
    log_sqlite_error("begin");
    return fail_round(runnable);
  }
  for (auto& job : runnable) {
    if (!execute(*job)) {
      log_sqlite_error("statement");
      return fail_round(runnable);
    }
  }
  if (!writes) {
    reads_.fetch_add(runnable.size(), std::memory_order_relaxed);
    return;
  }
  TimePoint commit_start = Clock::now();
  if (!commit()) return fail_round(runnable);
  figures_.record(runnable.size(), Clock::now() - commit_start);
  uint64_t write_jobs = 0;
  for (auto& job : runnable) write_jobs += job->writes() ? 1 : 0;
  transactions_.fetch_add(1, std::memory_order_relaxed);
  writes_.fetch_add(write_jobs, std::memory_order_relaxed);
  reads_.fetch_add(runnable.size() - write_jobs, std::memory_order_relaxed);
}

bool SqliteStorage::execute(StoreJob& job) {
  switch (job.kind) {
    case JobKind::get:
      return table_->get(job.key, job.found);
    case JobKind::put:
      return table_->put(job.key, job.value, job.flag);
    case JobKind::remove:
      return table_->remove(job.key, job.flag);
    case JobKind::scan:
      return table_->scan(job.key, job.limit, job.keys);
    case JobKind::batch:
      return table_->apply(job.batch);
  }
  return false;
}

// The test hook (a slow or failing disk), then COMMIT: the fsync the round's writes share.
bool SqliteStorage::commit() {
  BeforeCommit hook;
  {
    std::lock_guard lock(mutex_);
    hook = before_commit_;
  }
  if (hook) {
    if (std::error_code error = hook()) {
      log(LogLevel::warn, "tern-store: commit refused by the test hook: %s",
          error.message().c_str());
      return false;
    }
  }
  std::string why;
  if (!db_.exec("COMMIT", why)) {
    log_sqlite_error("commit");
    return false;
  }
  return true;
}

// Nothing of the round is stored (the transaction is rolled back, if SQLite did not already):
// every job of it fails, reads too, since they may have seen the round's uncommitted writes.
void SqliteStorage::fail_round(std::vector<std::shared_ptr<StoreJob>>& runnable) {
  std::string ignored;
  if (!db_.autocommit()) db_.exec("ROLLBACK", ignored);
  failed_rounds_.fetch_add(1, std::memory_order_relaxed);
  for (auto& job : runnable) job->error = errc::unavailable;
}

// One post per loop with that loop's finished jobs, in the order they were queued. A job whose
// loop timer fired meanwhile has had its callback: its result is dropped here.
void SqliteStorage::hand_back(std::vector<std::shared_ptr<StoreJob>>& round) {
  std::vector<std::pair<LoopHandle, std::vector<std::shared_ptr<StoreJob>>>> by_loop;
  for (auto& job : round) {
    if (job->state.exchange(JobState::finished) == JobState::expired) continue;
    auto it = std::find_if(by_loop.begin(), by_loop.end(),
                           [&](const auto& entry) { return entry.first == job->loop; });
    if (it == by_loop.end()) it = by_loop.insert(by_loop.end(), {job->loop, {}});
    it->second.push_back(std::move(job));
  }
  for (auto& [loop, jobs] : by_loop) {
    post_to(loop, [jobs = std::move(jobs)]() mutable {
      for (auto& job : jobs) {
        if (auto owner = job->owner.lock()) owner->finished(job);
      }
    });
  }
}

void SqliteStorage::log_sqlite_error(const char* what) {
  static LogLimiter limiter;
  log_limited(limiter, LogLevel::error, "tern-store: sqlite %s failed on %s: %s", what,
              path_.c_str(), db_.last_error().c_str());
}

}  // namespace tern::store
