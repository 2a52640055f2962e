// SqliteStore: one loop's Store on the embedded storage. Checks the request (bad_key,
// too_large at once), wraps it in a StoreJob, submits it to the SqliteStorage's bounded queue
// (overloaded or closed at once when refused) and completes the callback on this loop when the
// storage thread posts the job back or its deadline passes, whichever comes first.
//
// Thread rule: loop thread only (the loop it was attached to), every method, as tern::store::
// Store says; construct with SqliteStorage::attach() there.
#pragma once

#include <memory>

#include "store/pending_jobs.h"
#include "tern/store/store.h"

namespace tern {
class EventLoop;
}

namespace tern::store {

class SqliteStorage;

class SqliteStore final : public Store {
 public:
  SqliteStore(EventLoop& loop, SqliteStorage& storage);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void get(std::string_view key, GetCallback done) override;
  void put(std::string_view key, std::string_view value, PutCallback done) override;
  void remove(std::string_view key, RemoveCallback done) override;
  void scan(std::string_view prefix, size_t limit, ScanCallback done) override;
  void batch(std::vector<Write> writes, BatchCallback done) override;
  StoreStats stats() const override;

 private:
  std::shared_ptr<StoreJob> make_job(JobKind kind, const char* what);
  void submit(std::shared_ptr<StoreJob> job);

  EventLoop& loop_;
  SqliteStorage& storage_;
  std::shared_ptr<PendingJobs> pending_;
};

}  // namespace tern::store
