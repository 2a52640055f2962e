// UpstreamTable: one loop's view of the upstreams, the part of balancing the http and tcp
// proxies share (neither keeps upstream state of its own). It holds, per upstream, the mode's
// transport (an http::Client, a ConnectionPool), the health verdict, the admin state, the
// passive Ejection and the counters, and asks its Balancer which one takes a request.
//
//   auto id = table.pick(hash, tried);          // nullopt: 503 / close the client
//   table.begin(*id, /*retry=*/false);
//   ... table.transport(*id) carries the request ...
//   table.end(*id, Outcome::success);
//
// Reload: apply() makes the table match a new list by name. A removed upstream is never picked
// again; its transport is close()d (in-flight work finishes) and the entry erased once it
// reports closed, so an UpstreamId held across that finds nothing (ids carry a generation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/slab.h"
#include "tern/metrics/histogram.h"
#include "tern/net/connection_pool.h"
#include "tern/proxy/balancer.h"
#include "tern/proxy/ejection.h"
#include "tern/proxy/upstream_config.h"

namespace tern {
class EventLoop;
}

namespace tern::proxy {

// What the table needs of a mode's per-upstream object (http: an http::Client; tcp: a
// ConnectionPool). Made by the mode through the factory, destroyed by the table.
// Thread rule: loop thread only, every method.
class UpstreamTransport {
 public:
  virtual ~UpstreamTransport() = default;
  // Take no new work, let what is in flight finish, close the connections, then call
  // `on_closed` on the loop (never inside close()). The table destroys it after that.
  virtual void close(std::function<void()> on_closed) = 0;
  virtual PoolCounters counters() const noexcept = 0;
  virtual size_t open_connections() const noexcept = 0;
  virtual size_t idle_connections() const noexcept = 0;
  // Whether one more request would be taken now rather than refused at once (a connection
  // free or openable, or room to wait for one). Transports that never refuse say true.
  virtual bool can_take_request() const noexcept { return true; }
};

struct UpstreamId {               // names an entry; a stale id finds nothing
  uint32_t slot = UINT32_MAX;
  uint32_t generation = 0;
  friend bool operator==(UpstreamId, UpstreamId) = default;
};

enum class AdminState { enabled, drained };  // drained: no new picks (admin API)
const char* admin_state_name(AdminState state) noexcept;  // "enabled", "drained"

enum class Outcome { success, failure, neutral };
  // failure: connect failure, reset, timeout, bad framing, 5xx (feeds ejection)
  // neutral: the client went away, a 4xx, a request refused before it was sent

struct UpstreamStats {            // per loop; the program sums over loops
  uint64_t requests = 0;          // begin() calls (tcp: connections)
  uint64_t retries = 0;           // begin(id, /*retry=*/true)
  uint64_t successes = 0;
  uint64_t failures = 0;
  uint64_t ejections = 0;
};

struct UpstreamSnapshot {         // one upstream as one loop sees it
  std::string name;
  uint32_t weight = 1;
  bool healthy = true;            // the active checks' verdict (true when checks are off)
  bool ejected = false;           // passive, now
  AdminState admin = AdminState::enabled;
  bool removed = false;           // dropped by a reload; draining until its transport closed
  double weight_factor = 1.0;
  size_t outstanding = 0;
  UpstreamStats stats;
  PoolCounters pool;              // from its transport
  size_t open_connections = 0;
  size_t idle_connections = 0;
  // http: from each request written to the upstream to its response head parsed, in ns
  // (metrics::make_histogram's shape); nullopt until the upstream has answered once.
  std::optional<metrics::Histogram> response_times;
};

// Thread rule: loop thread only, every method (constructor and destructor included).
class UpstreamTable {
 public:
  using TransportFactory =
      std::function<std::unique_ptr<UpstreamTransport>(const UpstreamConfig& upstream)>;
  using ClockFunction = std::function<TimePoint()>;

  UpstreamTable(EventLoop& loop, Algorithm algorithm, EjectionOptions ejection,
                TransportFactory factory);
  ~UpstreamTable();  // destroys the transports (their outstanding work fails)
  UpstreamTable(const UpstreamTable&) = delete;
  UpstreamTable& operator=(const UpstreamTable&) = delete;

  // Makes the table match `upstreams` by name: new names are added (factory), weights
  // updated, names no longer listed are removed: never picked again, their transport
  // close()d, the entry erased once it reports closed. A removed name listed again before
  // that comes back as a new entry.
  void apply(std::span<const UpstreamConfig> upstreams);

  // An upstream that may take traffic now (healthy, not ejected, enabled, not removed) and
  // is not in `tried`, chosen by the balancer with `key`; nullopt when there is none.
  // Allocates nothing in steady state.
  std::optional<UpstreamId> pick(uint64_t key, std::span<const UpstreamId> tried = {});
  UpstreamTransport* transport(UpstreamId id) noexcept;      // null for a stale id
  const UpstreamConfig* config(UpstreamId id) const noexcept;  // null for a stale id

  // Accounting of one request (tcp: one connection): begin when it is handed to the upstream
  // (outstanding + 1), end with its outcome (outstanding - 1; success/failure feed ejection).
  // A stale id is ignored (a removed entry's late end() is harmless).
  void begin(UpstreamId id, bool retry) noexcept;
  void end(UpstreamId id, Outcome outcome) noexcept;
  // http: one response's head came `elapsed` after its request was written to upstream `id`
  // (a stale id is ignored). The histogram is made at the first one (tcp mode never has one);
  // after that it allocates nothing.
  void record_response_time(UpstreamId id, Duration elapsed);

  // By name; false for an unknown (or removed) name. Health: from the active checker (coming
  // back up starts slow start). Admin: drain / enable.
  bool set_healthy(std::string_view name, bool healthy);
  bool set_admin(std::string_view name, AdminState state);
  // Balances with `algorithm` from the next pick on (SIGHUP): a new balancer, its state built
  // afresh from the entries as they are; what is in flight is not moved.
  void set_algorithm(Algorithm algorithm);

  size_t available() const noexcept;   // entries that could be picked now
  // Some entry could be picked now and its transport would take a request (not refuse it as
  // queue full): false means a request arriving now gets a 503.
  bool can_take_request() const noexcept;
  size_t size() const noexcept;        // entries, removed-and-draining ones included
  std::vector<UpstreamSnapshot> snapshot() const;  // in the order of apply()'s list
  const Balancer& balancer() const noexcept;

  // Where the table reads the time (ejection, slow start): the loop's clock unless set.
  // Tests pass a fake clock.
  void set_clock(ClockFunction clock);

 private:
  struct Entry;
  Entry* find(UpstreamId id) const noexcept;
  std::optional<UpstreamId> find_live(std::string_view name) const noexcept;
  UpstreamId add(const UpstreamConfig& upstream);
  void remove(UpstreamId id);
  void erase(UpstreamId id);
  bool pickable(const Entry& entry, TimePoint now) const noexcept;
  TimePoint now() const;

  EventLoop& loop_;
  EjectionOptions ejection_options_;
  TransportFactory factory_;
  ClockFunction clock_;
  Balancer balancer_;
  Slab<Entry> entries_;                     // stable addresses, generation-counted ids
  std::vector<UpstreamId> order_;           // live and draining entries, in apply() order
  std::vector<Candidate> candidates_;       // scratch of pick(), capacity kept
  std::vector<UpstreamId> candidate_ids_;   // candidates_[i] is candidate_ids_[i]
  std::shared_ptr<UpstreamTable*> self_;    // on_closed callbacks find the table through it
};

}  // namespace tern::proxy
