// tern::store: the storage unit behind one asynchronous interface, so a handler is written
// once and runs on every storage backend: SQLite embedded in the process (the single-server
// form: a storage thread fed by a bounded request queue, group commit) or a Redis server or
// cluster (the cluster form: a native RESP client on each loop).
//
//   // once, at start-up (any thread):
//   auto storage = store::open_storage({.url = "sqlite:/var/lib/kv.db"}, why);
//   // on each loop's thread (ServerOptions::on_loop_start), one Store per loop:
//   std::unique_ptr<store::Store> store = (*storage)->attach(loop);
//   // in a handler running on that loop:
//   store->get(key, [reply = std::move(reply)](Result<std::optional<std::string>> value) mutable {
//     if (!value) return reply.send(unavailable(value.error()));   // errc below: 503
//     reply.send(*value ? ok(**value) : not_found());
//   });
//
// Completion: every callback runs exactly once, on the loop the Store was attached to, possibly
// before the call returns (a cache hit, a refusal such as bad_key or overloaded). A callback
// may call the Store again. Destroying a Store fails nothing that was acknowledged: writes
// already handed to the backend complete there, their callbacks are dropped.
//
// Durability: a successful put, remove or batch means the change is stored at the storage's
// promise (sqlite, Durability::full: fsynced before the callback runs; normal: written to the
// WAL, fsynced at checkpoints; redis: the server's appendfsync policy).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/result.h"
#include "tern/base/unique_function.h"

namespace tern {
class EventLoop;
}
namespace tern::metrics {
class Snapshot;
}

namespace tern::store {

// Why an operation failed. unavailable, timeout and overloaded are the storage's state, not the
// request's fault: a server answers 503 with Retry-After for them.
enum class errc {
  unavailable = 1,  // the storage cannot be reached or failed (disk error, connection refused)
  timeout,          // not completed within the deadline (the write may still happen)
  overloaded,       // the bounded request queue is full
  bad_key,          // empty, longer than Limits::max_key
  too_large,        // value longer than Limits::max_value
  closed,           // the storage is shutting down
};
const std::error_category& store_error_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), store_error_category()};
}
// True for unavailable, timeout, overloaded, closed: the storage, not the request.
bool storage_side(std::error_code error) noexcept;

enum class Durability { full, normal };
std::optional<Durability> parse_durability(std::string_view text) noexcept;  // "full", "normal"
const char* durability_name(Durability durability) noexcept;

struct Limits {
  size_t max_key = 512;          // bytes; keys are 1..max_key arbitrary bytes
  size_t max_value = 1 << 20;    // bytes
  size_t max_scan = 1000;        // scan's limit is clamped to this
};

// One change of a batch.
struct Write {
  enum class Kind { put, remove } kind = Kind::put;
  std::string key;
  std::string value;  // put only
};

// What one loop's Store has done, for metrics and tests.
struct StoreStats {
  uint64_t gets = 0, puts = 0, removes = 0, scans = 0, batches = 0;
  uint64_t cache_hits = 0, cache_misses = 0;  // zero without a cache
  uint64_t failures = 0;                      // callbacks that got an error
  uint64_t pending = 0;                       // issued, callback not run yet
  uint64_t room_waits = 0;  // operations that met a full queue and waited for room
                            // (StorageConfig::wait_for_room)
  uint64_t redirections_moved = 0, redirections_ask = 0;  // Redis Cluster redirections followed
};

// The storage as one loop sees it. Thread rule: loop thread only (the loop it was attached to),
// every method; callbacks run there.
class Store {
 public:
  using GetCallback = UniqueFunction<void(Result<std::optional<std::string>> value)>;
  using PutCallback = UniqueFunction<void(Result<bool> created)>;   // true: the key was new
  using RemoveCallback = UniqueFunction<void(Result<bool> existed)>;
  using ScanCallback = UniqueFunction<void(Result<std::vector<std::string>> keys)>;
  using BatchCallback = UniqueFunction<void(std::error_code error)>;  // all applied, or none

  virtual ~Store() = default;

  virtual void get(std::string_view key, GetCallback done) = 0;
  virtual void put(std::string_view key, std::string_view value, PutCallback done) = 0;
  virtual void remove(std::string_view key, RemoveCallback done) = 0;
  // Keys starting with `prefix` (empty: all), in byte order, at most min(limit, max_scan).
  virtual void scan(std::string_view prefix, size_t limit, ScanCallback done) = 0;
  // The writes in order, atomically where the backend can (sqlite: one transaction; redis: one
  // MULTI/EXEC on a single node, per node in a cluster).
  virtual void batch(std::vector<Write> writes, BatchCallback done) = 0;

  virtual StoreStats stats() const = 0;
};

struct StorageConfig {
  // "sqlite:PATH" (PATH ":memory:" for a private in-memory database), "redis://HOST:PORT",
  // "redis-cluster://HOST:PORT,HOST:PORT,...".
  std::string url = "sqlite:tern-kv.db";
  Durability durability = Durability::full;
  size_t cache_bytes = 0;          // an LRU cache in front of the storage; 0: none
  size_t queue_capacity = 4096;    // requests waiting for the storage (sqlite: its thread's
                                   // queue; redis: commands sent per loop, not answered yet);
                                   // more wait (wait_for_room) or fail with overloaded
  // What an operation that meets a full queue does. false: fails with overloaded at once.
  // true: waits on its loop, in order behind the loop's other waiting operations and with its
  // deadline running, until there is room (sqlite: the storage thread signals it; redis: an
  // answer frees a place), then it is queued or sent; at the deadline it fails with timeout;
  // at most max_waiting operations wait per loop, more fail with overloaded. A caller that
  // holds its client's request meanwhile (tern-kv's handlers hold the reply) stops that
  // client: backpressure instead of refusals. The waiting are requests their callers read
  // already (tern-kv: at most one pipeline per connection), so max_waiting is a guard, not the
  // bound that matters.
  bool wait_for_room = false;
  size_t max_waiting = 16384;
  Duration deadline = std::chrono::seconds(2);  // per operation; past it: timeout
  Limits limits;
  std::string redis_password;      // AUTH on every new connection (redis only); empty: none
  int redis_database = 0;          // SELECT (redis only, not cluster)
};

// Process-wide: owns the storage thread (sqlite), the cache, the configuration. Thread rule:
// attach() from each loop's thread; describe() any thread; destroy it after every Store it
// made is gone (the sqlite thread finishes the queued writes first).
class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::unique_ptr<Store> attach(EventLoop& loop) = 0;
  // One line for a program's start-up banner: "sqlite /path/kv.db (WAL, durability full, cache 64 MiB)".
  virtual std::string describe() const = 0;
  // Any thread: adds the storage's own figures to `snapshot` (sqlite: tern_store_queue_depth,
  // tern_store_queue_capacity, tern_store_batch_size, tern_store_commit_duration_seconds);
  // redis has none (its figures are each loop's: fill_store_metrics, store_metrics.h).
  virtual void fill_metrics(metrics::Snapshot& snapshot) const { (void)snapshot; }
};

// Opens the storage `config.url` names (sqlite: opens or creates the database and its table;
// redis: checks nothing yet, connections are made per loop on first use), or nullptr with `why`
// set to a message naming what is wrong.
std::unique_ptr<Storage> open_storage(const StorageConfig& config, std::string& why);

}  // namespace tern::store

template <>
struct std::is_error_code_enum<tern::store::errc> : std::true_type {};
