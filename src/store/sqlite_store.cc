// SqliteStore: the loop side of the embedded storage.
#include "store/sqlite_store.h"

#include <algorithm>
#include <utility>

#include "store/limits_check.h"
#include "store/sqlite_storage.h"
#include "tern/loop/event_loop.h"

namespace tern::store {

namespace {

// With wait_for_room, up to max_waiting jobs of this loop wait for room; they go to the
// storage again through `storage` (which outlives every Store it made).
std::shared_ptr<PendingJobs> make_pending(EventLoop& loop, SqliteStorage& storage) {
  const StorageConfig& config = storage.config();
  if (!config.wait_for_room) return std::make_shared<PendingJobs>(loop, config.deadline);
  return std::make_shared<PendingJobs>(
      loop, config.deadline, config.max_waiting,
      [&storage](const std::shared_ptr<StoreJob>& job) { return storage.submit(job); });
}

}  // namespace

SqliteStore::SqliteStore(EventLoop& loop, SqliteStorage& storage)
    : loop_(loop), storage_(storage), pending_(make_pending(loop, storage)) {}

SqliteStore::~SqliteStore() {
  loop_.assert_in_loop_thread("store::Store::~Store");
  pending_->abandon();
}

std::shared_ptr<StoreJob> SqliteStore::make_job(JobKind kind, const char* what) {
  loop_.assert_in_loop_thread(what);
  auto job = std::make_shared<StoreJob>();
  job->kind = kind;
  return job;
}

void SqliteStore::get(std::string_view key, GetCallback done) {
  auto job = make_job(JobKind::get, "store::Store::get");
  ++pending_->stats().gets;
  job->finish = [done = std::move(done)](StoreJob& done_job, std::error_code error) mutable {
    if (!error) error = done_job.error;
    if (error) return done(error);
    done(std::move(done_job.found));
  };
  if (auto error = check_key(key, storage_.config().limits)) return pending_->refuse(*job, error);
  job->key = key;
  submit(std::move(job));
}

void SqliteStore::put(std::string_view key, std::string_view value, PutCallback done) {
  auto job = make_job(JobKind::put, "store::Store::put");
  ++pending_->stats().puts;
  job->finish = [done = std::move(done)](StoreJob& done_job, std::error_code error) mutable {
    if (!error) error = done_job.error;
    if (error) return done(error);
    done(done_job.flag);
  };
  const Limits& limits = storage_.config().limits;
  std::error_code error = check_key(key, limits);
  if (!error) error = check_value(value, limits);
  if (error) return pending_->refuse(*job, error);
  job->key = key;
  job->value = value;
  submit(std::move(job));
}

void SqliteStore::remove(std::string_view key, RemoveCallback done) {
  auto job = make_job(JobKind::remove, "store::Store::remove");
  ++pending_->stats().removes;
  job->finish = [done = std::move(done)](StoreJob& done_job, std::error_code error) mutable {
    if (!error) error = done_job.error;
    if (error) return done(error);
    done(done_job.flag);
  };
  if (auto error = check_key(key, storage_.config().limits)) return pending_->refuse(*job, error);
  job->key = key;
  submit(std::move(job));
}

void SqliteStore::scan(std::string_view prefix, size_t limit, ScanCallback done) {
  auto job = make_job(JobKind::scan, "store::Store::scan");
  ++pending_->stats().scans;
  job->finish = [done = std::move(done)](StoreJob& done_job, std::error_code error) mutable {
    if (!error) error = done_job.error;
    if (error) return done(error);
    done(std::move(done_job.keys));
  };
  const Limits& limits = storage_.config().limits;
  if (auto error = check_prefix(prefix, limits)) return pending_->refuse(*job, error);
  job->key = prefix;
  job->limit = std::min(limit, limits.max_scan);
  submit(std::move(job));
}

void SqliteStore::batch(std::vector<Write> writes, BatchCallback done) {
  auto job = make_job(JobKind::batch, "store::Store::batch");
  ++pending_->stats().batches;
  job->finish = [done = std::move(done)](StoreJob& done_job, std::error_code error) mutable {
    if (!error) error = done_job.error;
    done(error);
  };
  if (auto error = check_batch(writes, storage_.config().limits)) {
    return pending_->refuse(*job, error);
  }
  job->batch = std::move(writes);
  submit(std::move(job));
}

StoreStats SqliteStore::stats() const {
  loop_.assert_in_loop_thread("store::Store::stats");
  return pending_->stats();
}

// A full queue refuses (overloaded), or with wait_for_room parks the job until the storage
// thread signals room; while jobs are parked, new ones park behind them (this loop's order).
void SqliteStore::submit(std::shared_ptr<StoreJob> job) {
  pending_->prepare(*job);
  std::error_code error = pending_->has_parked() ? errc::overloaded : storage_.submit(job);
  if (!error) return pending_->add(std::move(job));
  if (error == errc::overloaded && storage_.config().wait_for_room) {
    if (pending_->park(job)) return;
  }
  pending_->refuse(*job, error);
}

}  // namespace tern::store
