// ConnectionPool: the client side of "persistent TCP connections between servers". One pool
// per loop per upstream address; it keeps connected TcpConnections and lends them out.
//
//   checkout(callback)  gives a connected TcpConnection as a PooledConnection (a move-only
//                       lease): an idle one at once (the most recently returned: LIFO, so the
//                       oldest ones age out under the idle timeout when load drops), or a new
//                       one through a Connector, or, at max_connections, the next one returned
//                       (a bounded FIFO of waiters, each with a total deadline). Or an error:
//                       pool_errc (closed, queue_full, wait_timeout, upstream_down) or the
//                       connect's own error (connection_refused, timed_out, ...).
//   the lease           returns the connection to the idle list when destroyed, unless it was
//                       marked broken, its connection closed, or bytes are still queued or
//                       unread on it (a response not consumed: the next user would read it).
//   idle connections    are read from while idle: end of stream or any byte (the upstream
//                       closed it, or sent something nobody asked for) closes them at once; a
//                       checkout also peeks at the socket before handing one out, so a
//                       connection whose FIN arrived but was not yet read is never lent.
//   health              down after `down_after_failures` consecutive connect failures; while
//                       down, checkouts fail at once with upstream_down (a balancer picks
//                       another upstream) and one background Connector retries with its
//                       backoff; its success brings the upstream back up.
//   counters            connects, reuses, failures, waits, timeouts...: a proxy reports its
//                       reuse ratio from them.
//   close()             closes idle connections at once, fails the waiters, closes leased ones
//                       when they are returned; on_closed runs once no connection is left.
//
// A client pipeline (Pipeline<C>: a FIFO of pending requests matched to responses in order)
// sits on a lease: `Pipeline<C> pipeline(*lease, ...)`. Its owner returns the lease when no
// request is outstanding, destroying the pipeline first (it stops reading: once returned, the
// connection may be lent again at once), and marks the lease broken if the pipeline failed or
// holds bytes it has not decoded (the stream is out of step). A pipeline that fails closes the
// connection; the pool then frees it and the lease finds nothing. A connection that closes
// by itself (a write error) is freed too, right after its on_close: the borrower sets on_close
// on the lease's connection to fail its pipeline there (Pipeline::connection_closed), so
// nothing of the borrower's touches the connection after it is gone.
//
// Thread rule: loop thread only, like TcpConnection; PooledConnection too. The pool must
// outlive every PooledConnection it lent (destroying it with leases out aborts with a message):
// return them, or close() and destroy it from on_closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/result.h"
#include "tern/loop/timer_id.h"
#include "tern/net/connector.h"
#include "tern/net/inet_address.h"
#include "tern/net/tcp_connection.h"

namespace tern {

class EventLoop;
class ConnectionPool;

// Why a checkout got no connection, apart from the connect's own errors.
enum class pool_errc {
  closed = 1,      // the pool is closed (or was closed while the checkout waited)
  queue_full,      // at max_connections, and max_waiters checkouts already wait
  wait_timeout,    // no connection within wait_timeout
  upstream_down,   // the upstream is marked down: no connect is tried until it is back up
};

const std::error_category& pool_error_category() noexcept;
inline std::error_code make_error_code(pool_errc e) noexcept {
  return {static_cast<int>(e), pool_error_category()};
}

struct ConnectionPoolOptions {
  size_t max_connections = 64;  // open or connecting, leased or idle
  size_t max_idle = 64;         // more returned at once are closed
  // An idle connection is closed after this long unused; zero: never.
  Duration idle_timeout = std::chrono::seconds(60);
  // Per checkout connect: timeout per attempt, attempts (1: the caller decides about retrying
  // elsewhere). While the upstream is down, the background reconnect uses the backoff.
  ConnectOptions connect{};
  size_t max_waiters = 128;  // checkouts that may wait at max_connections; 0: none wait
  // The total time a checkout may wait for its connection, connecting included.
  Duration wait_timeout = std::chrono::seconds(1);
  int down_after_failures = 3;  // consecutive connect failures that mark the upstream down
  bool no_delay = true;         // TCP_NODELAY on every connection
};

// What a balancer reads.
struct PoolHealth {
  bool up = true;
  int consecutive_failures = 0;  // connect failures since the last success
  TimePoint down_since{};        // when it went down (meaningful while !up)
  std::error_code last_error;    // of the last failed connect
};

struct PoolCounters {
  uint64_t connects = 0;          // connections made (checkouts and reconnects)
  uint64_t reuses = 0;            // checkouts served by a connection that was used before
  uint64_t connect_failures = 0;  // connects that failed (after their own attempts)
  uint64_t waits = 0;             // checkouts that had to wait at max_connections
  uint64_t wait_timeouts = 0;     // checkouts that failed with wait_timeout
  uint64_t queue_full = 0;        // checkouts refused with queue_full
  uint64_t down_rejections = 0;   // checkouts refused with upstream_down
  uint64_t idle_expired = 0;      // idle connections closed by the idle timeout
  uint64_t stale_dropped = 0;     // idle connections the upstream closed (or wrote to)
  // reuses / (reuses + connects): the share of checkouts that needed no new connection.
  double reuse_ratio() const noexcept {
    uint64_t total = reuses + connects;
    return total == 0 ? 0.0 : static_cast<double>(reuses) / static_cast<double>(total);
  }
};

// A lent connection. Move-only; returns the connection to its pool when destroyed or
// release()d. Loop thread only.
class PooledConnection {
 public:
  PooledConnection() = default;
  PooledConnection(PooledConnection&& other) noexcept;
  PooledConnection& operator=(PooledConnection&& other) noexcept;
  PooledConnection(const PooledConnection&) = delete;
  PooledConnection& operator=(const PooledConnection&) = delete;
  ~PooledConnection() { release(); }

  // The connection, or null: empty handle, returned, or the connection closed (a closed
  // connection is released by the pool at once; the handle then finds nothing).
  TcpConnection* get() const noexcept;
  TcpConnection& operator*() const noexcept { return *get(); }
  TcpConnection* operator->() const noexcept { return get(); }
  explicit operator bool() const noexcept { return get() != nullptr; }

  // Not to be reused: the pool closes it when it comes back (a response not fully read, a
  // framing error, a half-closed stream).
  void mark_broken() noexcept;
  // Returns the connection now; the handle becomes empty.
  void release() noexcept;
  // Whether the connection served an earlier checkout (it may have been closed by the
  // upstream in flight: a request that fails on it before any response byte may be retried).
  bool reused() const noexcept { return reused_; }

 private:
  friend class ConnectionPool;
  PooledConnection(ConnectionPool* pool, uint32_t slot, uint32_t generation, bool reused)
      : pool_(pool), slot_(slot), generation_(generation), reused_(reused) {}

  ConnectionPool* pool_ = nullptr;  // borrowed: the pool outlives its leases
  uint32_t slot_ = 0;
  uint32_t generation_ = 0;
  bool reused_ = false;
};

class ConnectionPool {
 public:
  // Runs once per checkout: with a lease, or with the reason there is none. It may run before
  // checkout() returns (an idle connection, or an immediate refusal), otherwise later on the
  // loop. Do not destroy the pool inside it (close() it).
  using CheckoutCallback = std::function<void(Result<PooledConnection>)>;
  using CheckoutId = uint64_t;  // 0: the checkout was answered before checkout() returned
  using HealthCallback = std::function<void(const PoolHealth&)>;

  // Loop thread only; makes no connection until the first checkout.
  ConnectionPool(EventLoop& loop, InetAddress upstream, ConnectionPoolOptions options = {});
  // Aborts if a lease is still out. Connections still open are closed without callbacks;
  // pending checkouts are dropped without their callbacks (close() fails them first).
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Loop thread only. Returns an id for cancel_checkout() while the checkout waits.
  CheckoutId checkout(CheckoutCallback callback);
  // Withdraws a waiting checkout: its callback never runs. False if it was already answered.
  // Loop thread only.
  bool cancel_checkout(CheckoutId id) noexcept;

  // Closes idle connections now, fails waiting checkouts with pool_errc::closed, stops
  // connecting; leased connections are closed as they come back. `on_closed` runs on the loop
  // (never inside close()) once every connection is gone. Loop thread only.
  void close(std::function<void()> on_closed = {});
  bool closed() const noexcept { return closed_; }

  // Runs whenever the upstream goes down or comes back up. Loop thread only.
  void on_health_change(HealthCallback callback) { on_health_change_ = std::move(callback); }

  // --- about (loop thread only)
  const InetAddress& upstream() const noexcept { return upstream_; }
  const ConnectionPoolOptions& options() const noexcept { return options_; }
  const PoolHealth& health() const noexcept { return health_; }
  const PoolCounters& counters() const noexcept { return counters_; }
  size_t open_connections() const noexcept { return open_; }  // connecting ones included
  size_t idle_connections() const noexcept { return idle_.size(); }
  size_t leased_connections() const noexcept { return leased_; }
  size_t waiting_checkouts() const noexcept { return requests_.size(); }

 private:
  friend class PooledConnection;
  enum class SlotState : uint8_t { free, idle, leased, closing };
  struct Slot {
    std::unique_ptr<TcpConnection> connection;
    uint32_t generation = 0;
    SlotState state = SlotState::free;
    bool reusable = true;
    bool used = false;  // served a checkout before
    TimePoint idle_since{};
  };
  struct Request {
    CheckoutId id = 0;
    CheckoutCallback callback;
    TimePoint deadline{};
  };
  struct ConnectorSlot {
    std::unique_ptr<Connector> connector;
    bool busy = false;
  };

  // Lending and returning.
  std::optional<uint32_t> take_idle();
  bool fresh(uint32_t slot) const noexcept;
  void lend(uint32_t slot, CheckoutCallback& callback);
  void give_back(uint32_t slot, uint32_t generation) noexcept;
  Slot* find(uint32_t slot, uint32_t generation) noexcept;
  void make_idle(uint32_t slot);
  void remove_idle(uint32_t slot) noexcept;
  void close_slot(uint32_t slot) noexcept;
  void on_release(uint32_t slot);
  uint32_t adopt(Socket socket);

  // Waiting checkouts.
  void serve();
  size_t unmatched_requests() const noexcept;
  void fail_front(std::error_code error);
  void fail_unservable(std::error_code error);
  void arm_wait_timer();
  void expire_waiters();

  // Connecting and health.
  void start_connect();
  void schedule_probe(Duration delay);
  void start_probe();
  size_t take_connector();
  void on_connected(size_t connector, bool probe, std::error_code error, Socket socket);
  void record_failure(std::error_code error);
  void record_success();
  void set_up(bool up);

  void arm_idle_timer();
  void expire_idle();
  void maybe_report_closed();

  EventLoop& loop_;
  InetAddress upstream_;
  ConnectionPoolOptions options_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> idle_;  // oldest first; lent from the back (LIFO)
  std::deque<Request> requests_;
  std::vector<ConnectorSlot> connectors_;
  std::unique_ptr<Connector> probe_;  // the background reconnect while the upstream is down
  size_t open_ = 0;        // connections held or being made: bounded by max_connections
  size_t connecting_ = 0;  // connects on the way for waiting checkouts
  size_t leased_ = 0;
  size_t handles_ = 0;     // PooledConnection objects that name this pool
  bool probing_ = false;   // the background reconnect runs
  bool closed_ = false;
  CheckoutId next_id_ = 1;
  PoolHealth health_;
  PoolCounters counters_;
  TimerId wait_timer_;
  TimerId idle_timer_;
  TimerId probe_retry_timer_;
  TimerId closed_timer_;
  std::function<void()> on_closed_;
  HealthCallback on_health_change_;
};

}  // namespace tern

template <>
struct std::is_error_code_enum<tern::pool_errc> : std::true_type {};
