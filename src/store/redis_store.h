// RedisStore: one loop's Store on a Redis server or a Redis Cluster, through that loop's own
// client (a RedisTarget over a redis::Client or a redis::ClusterClient: a few pipelined
// connections per node). Each operation is one round trip (redis_commands.h says which
// command); scan is one SCAN per page until each master's iteration ends; a batch is one
// MULTI/EXEC, in a cluster one per hash slot (all applied on each node or none, not atomic
// across them). Nothing is shared with other loops: RedisStorage::attach makes one per loop.
//
// Bounds: at most config.queue_capacity operations pending per loop (more: overloaded at
// once); each command has config.deadline as its timeout (redis::Client closes a connection
// whose command timed out, so a stopped server costs one deadline per command in flight, then
// the next commands try a new connection); a scan also stops with timeout once its pages have
// taken longer than the deadline.
//
// Thread rule: loop thread only (the loop given), every method; callbacks run there.
// Destroying it drops the callbacks of what is still pending (the commands already sent
// complete on the server).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/redis_target.h"
#include "tern/store/store.h"

namespace tern::store {

class RedisStore final : public Store {
 public:
  RedisStore(EventLoop& loop, std::unique_ptr<RedisTarget> target, const StorageConfig& config);
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  void get(std::string_view key, GetCallback done) override;
  void put(std::string_view key, std::string_view value, PutCallback done) override;
  void remove(std::string_view key, RemoveCallback done) override;
  void scan(std::string_view prefix, size_t limit, ScanCallback done) override;
  void batch(std::vector<Write> writes, BatchCallback done) override;
  StoreStats stats() const override;

 private:
  struct ScanState;
  struct BatchState;

  // Why an operation is refused before anything is sent (bad_key, too_large, overloaded), or
  // no error.
  std::error_code refusal(std::string_view key, size_t value_size) const;
  // Counts the end of one pending operation and runs its callback, unless the store is being
  // destroyed (then the callback is dropped).
  template <class Callback, class Outcome>
  void finish(Callback& done, Outcome outcome);
  // The store::errc for a failed command; an error reply is logged with the server's text.
  std::error_code failure(std::error_code error, const redis::Value* reply) const;

  void load_put_script();
  void send_put(std::string key, std::string value, bool by_sha, PutCallback done);
  void scan_page(std::unique_ptr<ScanState> state, std::string cursor);
  void end_scan(std::unique_ptr<ScanState> state, std::error_code error);

  EventLoop& loop_;
  const Limits limits_;
  const size_t queue_capacity_;
  const Duration deadline_;
  StoreStats stats_;
  std::string put_script_sha_;   // empty until SCRIPT LOAD answered: puts use EVAL meanwhile
  bool loading_script_ = false;
  bool destroying_ = false;      // set first in the destructor: callbacks are dropped
  // Last: destroyed first, while the members above are still there for the callbacks it fails.
  std::unique_ptr<RedisTarget> target_;
};

}  // namespace tern::store
