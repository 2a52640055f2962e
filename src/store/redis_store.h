// RedisStore: one loop's Store on a Redis server or a Redis Cluster, through that loop's own
// client (a RedisTarget over a redis::Client or a redis::ClusterClient: a few pipelined
// connections per node). Each operation is one round trip (redis_commands.h says which
// command); scan is one SCAN per page until each master's iteration ends; a batch is one
// MULTI/EXEC, in a cluster one per hash slot (all applied on each node or none, not atomic
// across them). Nothing is shared with other loops: RedisStorage::attach makes one per loop.
//
// Bounds: at most config.queue_capacity operations sent per loop (handed to the client, not
// answered yet). One that finds them all taken is held (config.wait_for_room: tern-kv), in
// issue order behind the others held, until an answer frees a place (HeldOperations,
// held_operations.h, the same hold as SQLite's); at most config.max_waiting are held, more
// fail with overloaded at once, as every one does without wait_for_room. A held operation
// still waiting at config.deadline (from its issue) fails with timeout and is never sent.
// Every operation ends within config.deadline of its issue, held or not: a command sent at
// once has it as the client's command timeout (ClientOptions::command_timeout, from its send,
// which is its issue); a held one, once sent, carries the rest of it as its own deadline
// (redis::Client::command's `deadline`), not a whole command timeout again. A command past
// its deadline fails with timeout (redis::Client closes its connection, so a stopped server
// costs one deadline per command in flight, then the next commands try a new connection); a
// scan's pages all carry the scan's deadline. A dead server fails what was sent
// (connection_lost), which frees the places for the held ones; those then fail at once with
// the connect's error (unavailable): never a hang.
//
// Thread rule: loop thread only (the loop given), every method; callbacks run there.
// Destroying it drops the callbacks of what is still pending (the commands already sent
// complete on the server).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/held_operations.h"
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

  // The deadline of an operation sent at its issue: none of its own. The client's command
  // timeout, config.deadline from the send, is then the operation's deadline; the fast path
  // reads no clock for it.
  static constexpr TimePoint kSentAtOnce = TimePoint::max();

  // Why an operation is refused before anything is sent (bad_key, too_large), or no error.
  std::error_code refusal(std::string_view key, size_t value_size) const;
  // True when an operation may be sent now: none held before it, fewer than queue_capacity
  // sent.
  bool has_room() const noexcept { return !held_.holding() && sent_ < queue_capacity_; }
  // An operation (counted pending) that found no room: held until there is, then
  // `send(done, deadline)` with the deadline from its issue; or failed with overloaded when it
  // may not be held.
  template <class Callback, class Send>
  void hold(Callback done, Send send);
  // Ends an operation refused before it was counted pending.
  template <class Callback>
  void refuse(Callback& done, std::error_code error);
  // Ends a sent operation: its callback runs, then its place goes to the oldest held one.
  template <class Callback, class Outcome>
  void finish(Callback& done, Outcome outcome);
  // Counts the end of one pending operation and runs its callback, unless the store is being
  // destroyed (then the callback is dropped).
  template <class Callback, class Outcome>
  void end(Callback& done, Outcome outcome);
  // The store::errc for a failed command; an error reply is logged with the server's text.
  std::error_code failure(std::error_code error, const redis::Value* reply) const;

  // Checks, then sends or holds a get or a remove (`send`: send_get, send_remove).
  template <class Callback>
  void issue_keyed(std::string_view key, Callback&& done,
                   void (RedisStore::*send)(std::string_view, Callback&&, TimePoint));
  // Each sends one operation that has its place (counts it sent). The callbacks are taken by
  // reference on the way and moved once, into the command's completion: a UniqueFunction's
  // move costs tens of instructions, and these are every request's path. `deadline`: a held
  // operation's, from its issue; kSentAtOnce for one sent at its issue.
  void send_get(std::string_view key, GetCallback&& done, TimePoint deadline);
  void send_remove(std::string_view key, RemoveCallback&& done, TimePoint deadline);
  void start_put(std::string_view key, std::string_view value, PutCallback&& done,
                 TimePoint deadline);
  void send_scan(std::string_view prefix, size_t limit, ScanCallback&& done, TimePoint deadline);
  void send_batch(std::vector<Write> writes, BatchCallback&& done, TimePoint deadline);

  void load_put_script();
  void send_put(std::string key, std::string value, bool by_sha, PutCallback done,
                TimePoint deadline);
  void scan_page(std::unique_ptr<ScanState> state, std::string cursor);
  void end_scan(std::unique_ptr<ScanState> state, std::error_code error);

  EventLoop& loop_;
  const Limits limits_;
  const size_t queue_capacity_;
  const Duration deadline_;
  StoreStats stats_;              // pending: sent + held
  size_t sent_ = 0;               // handed to the client, not answered yet
  std::string put_script_sha_;   // empty until SCRIPT LOAD answered: puts use EVAL meanwhile
  bool loading_script_ = false;
  bool destroying_ = false;      // set first in the destructor: callbacks are dropped
  HeldOperations held_;           // waiting for a place, oldest first
  // Last: destroyed first, while the members above are still there for the callbacks it fails.
  std::unique_ptr<RedisTarget> target_;
};

}  // namespace tern::store
