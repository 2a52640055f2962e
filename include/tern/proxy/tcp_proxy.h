// TcpProxy: TCP mode of tern-proxy, one per loop. Each accepted client is given an upstream
// connection (picked by the loop's UpstreamTable, connected through that upstream's
// ConnectionPool), then a Relay copies bytes both ways with half-close and bounded memory
// until both sides have ended.
//
// - A connect failure (or the pool's upstream_down) counts as a failure of that upstream
//   (ejection); a refusal of the pool's own (at its connection limit past pool.wait_timeout,
//   its queue full, closed by a reload) is neutral. Either way the client is tried on an
//   upstream not tried yet, within retry.max_attempts and the RetryBudget.
// - A client no upstream can take (none available, every attempt failed, the budget refused
//   a retry) is closed at once and counted in `refused`.
// - Upstream connections of a relay are never reused: the relay closes them. The pool gives
//   the connect, its per-upstream limit and its counters.
// - Outcome per connection: success when the relay ends in order, failure for a connect
//   failure or a reset (any error) from the upstream, neutral otherwise (the client failed or
//   went away).
//
// Each client's state (its relay, lease, attempts) lives in a Slab of the TcpProxy, named by
// a generation-counted key; callbacks carry the key, so a stale one finds nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "tern/base/slab.h"
#include "tern/net/connection_pool.h"
#include "tern/net/relay.h"
#include "tern/net/tcp_connection.h"
#include "tern/proxy/balancer.h"
#include "tern/proxy/ejection.h"
#include "tern/proxy/retry_budget.h"
#include "tern/proxy/upstream_config.h"
#include "tern/proxy/upstream_table.h"

namespace tern {
class EventLoop;
}

namespace tern::proxy {

struct TcpProxyOptions {
  Algorithm balance = Algorithm::round_robin;  // maglev hashes the client's IP
  EjectionOptions ejection;
  RetryOptions retry;          // connect failures are retried on another upstream
  ConnectionPoolOptions pool;  // connect timeout, per-upstream connection limit
  RelayOptions relay;          // water marks: bounded memory per direction
};

struct TcpProxyStats {
  uint64_t connections = 0;  // clients served
  uint64_t active = 0;       // relaying now
  uint64_t refused = 0;      // closed because no upstream could be had
  uint64_t retries = 0;
  uint64_t bytes_to_upstream = 0, bytes_to_client = 0;
  // The largest write queue a relay of this loop (running or ended) held on its receiving
  // side, either direction, right after a relayed read: at most relay.high_water plus one
  // read. Not in the spec's list: how a test (or the admin view) sees memory stay bounded.
  size_t peak_queued = 0;
};

// One per loop. Thread rule: loop thread only, every method.
class TcpProxy {
 public:
  TcpProxy(EventLoop& loop, TcpProxyOptions options, std::span<const UpstreamConfig> upstreams);
  ~TcpProxy();  // aborts the relays
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // A client accepted on this loop (owned by its TcpServer, which must outlive this proxy or
  // close its connections (drain) before destroying them: a relay borrows the connection): pick, connect (a connect failure
  // goes to another upstream within the retry budget), relay both ways until both sides end.
  // A client no upstream can take is closed.
  void serve(TcpConnection& client);
  UpstreamTable& upstreams() noexcept;
  // The counters; peak_queued includes the relays running now (O(clients)).
  const TcpProxyStats& stats() const noexcept;
  const RetryBudget& retry_budget() const noexcept { return budget_; }

 private:
  struct Client;  // one accepted client: its attempts, lease and relay (tcp_proxy.cc)
  using ClientKey = Slab<Client>::Key;

  void attempt(ClientKey key);
  void on_checkout(ClientKey key, Result<PooledConnection> lease);
  void start_relay(ClientKey key);
  void on_relay_done(ClientKey key, const RelayResult& result);
  void on_client_closed(ClientKey key);
  void refuse(ClientKey key);
  void finish(ClientKey key);
  Client* find(ClientKey key) noexcept;

  EventLoop& loop_;
  TcpProxyOptions options_;
  UpstreamTable table_;  // declared before clients_: leases die before their pools
  RetryBudget budget_;
  Slab<Client> clients_;
  mutable TcpProxyStats stats_;  // stats() folds the running relays' peaks in
};

}  // namespace tern::proxy
