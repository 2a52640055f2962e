#include "tern/proxy/tcp_proxy.h"

#include <algorithm>
#include <vector>

#include "proxy/tcp_upstream.h"
#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"
#include "tern/proxy/hash_key.h"

namespace tern::proxy {

// One accepted client from serve() until its relay has ended (or it was refused). Members are
// destroyed bottom up: the relay lets go of both connections before the lease returns the
// upstream one to its pool.
struct TcpProxy::Client {
  TcpConnection* connection = nullptr;  // borrowed from its TcpServer
  uint64_t hash = 0;                    // what maglev places it by: the client's IP
  std::vector<UpstreamId> tried;        // every attempt's upstream; the last is the current one
  ConnectionPool::CheckoutId checkout = 0;  // the checkout waiting for a connection, or 0
  bool began = false;                   // table_.begin() ran for the current attempt
  bool retrying = false;                // the current attempt holds a retry budget slot
  PooledConnection lease;
  std::unique_ptr<Relay> relay;
};

namespace {

std::unique_ptr<UpstreamTransport> make_transport(EventLoop& loop, const UpstreamConfig& upstream,
                                                  const ConnectionPoolOptions& options) {
  return std::make_unique<TcpUpstream>(loop, upstream.address, options);
}

// A connect that failed for the upstream's sake (refused, timed out, unreachable, marked
// down after such failures) feeds its ejection; a refusal of the pool's own (its limit, its
// queue, closed by a reload) says nothing about the upstream.
bool upstream_at_fault(std::error_code error) noexcept {
  if (error.category() != pool_error_category()) return true;
  return error == pool_errc::upstream_down;
}

}  // namespace

TcpProxy::TcpProxy(EventLoop& loop, TcpProxyOptions options,
                   std::span<const UpstreamConfig> upstreams)
    : loop_(loop),
      options_(std::move(options)),
      table_(loop, options_.balance, options_.ejection,
             [&loop, pool = options_.pool](const UpstreamConfig& upstream) {
               return make_transport(loop, upstream, pool);
             }),
      budget_(options_.retry) {
  table_.apply(upstreams);
}

// Relays are destroyed without their done callbacks (they close both connections); clients
// still waiting for an upstream are closed. Leases go back before the table destroys the
// pools (clients_ is declared after table_).
TcpProxy::~TcpProxy() {
  clients_.for_each([this](Client& client) {
    if (client.relay) return;
    if (client.checkout != 0 && client.began) {
      if (auto* upstream = static_cast<TcpUpstream*>(table_.transport(client.tried.back()))) {
        upstream->pool().cancel_checkout(client.checkout);
      }
    }
    client.connection->on_close({});
    client.connection->close();
  });
}

void TcpProxy::serve(TcpConnection& connection) {
  loop_.assert_in_loop_thread("TcpProxy::serve");
  ++stats_.connections;
  auto client = std::make_unique<Client>();
  client->connection = &connection;
  if (table_.balancer().algorithm() == Algorithm::maglev) client->hash = hash_client(connection.peer_address());
  client->tried.reserve(static_cast<size_t>(std::max(1, options_.retry.max_attempts)));
  ClientKey key = clients_.insert(std::move(client));
  budget_.request_started();
  // Until the relay takes the connection over: a client closed while its upstream connects
  // (a drain, a failed write) withdraws the checkout.
  connection.on_close([this, key](TcpConnection&) { on_client_closed(key); });
  attempt(key);
}

// One try: pick an upstream not tried yet and ask its pool for a connection. The pool may
// answer before checkout() returns (an idle connection, a refusal), and that answer may start
// the next attempt or end the client: the client is looked up again afterwards.
void TcpProxy::attempt(ClientKey key) {
  Client* client = find(key);
  if (!client) return;
  bool retry = !client->tried.empty();
  if (retry && static_cast<int>(client->tried.size()) >= options_.retry.max_attempts) {
    refuse(key);
    return;
  }
  std::optional<UpstreamId> picked = table_.pick(client->hash, client->tried);
  if (!picked) {
    refuse(key);
    return;
  }
  if (retry) {
    if (!budget_.try_start_retry()) {
      refuse(key);
      return;
    }
    client->retrying = true;
    ++stats_.retries;
  }
  auto* upstream = static_cast<TcpUpstream*>(table_.transport(*picked));
  client->tried.push_back(*picked);
  table_.begin(*picked, retry);
  client->began = true;
  ConnectionPool::CheckoutId id = upstream->pool().checkout(
      [this, key](Result<PooledConnection> lease) { on_checkout(key, std::move(lease)); });
  // Non-zero only while the checkout waits: its callback has not run, nothing replaced it.
  if (id != 0) {
    if (Client* waiting = find(key)) waiting->checkout = id;
  }
}

void TcpProxy::on_checkout(ClientKey key, Result<PooledConnection> lease) {
  Client* client = find(key);
  if (!client) return;  // cannot happen (closing withdraws the checkout); the lease goes back
  client->checkout = 0;
  if (client->retrying) {
    client->retrying = false;
    budget_.retry_finished();
  }
  if (!lease) {
    client->began = false;
    bool fault = upstream_at_fault(lease.error());
    table_.end(client->tried.back(), fault ? Outcome::failure : Outcome::neutral);
    attempt(key);  // another upstream, or refuse
    return;
  }
  client->lease = std::move(lease.value());
  start_relay(key);
}

void TcpProxy::start_relay(ClientKey key) {
  Client* client = find(key);
  client->relay = std::make_unique<Relay>(*client->connection, *client->lease, options_.relay);
  ++stats_.active;
  // start() takes over both connections' on_close: from here the relay reports every end.
  client->relay->start([this, key](const RelayResult& result) { on_relay_done(key, result); });
}

// Both connections have closed. Success is the orderly end; a failure of the upstream (a
// reset, a write it refused) feeds its ejection; anything else (the client failed or went
// away, the relay was aborted) says nothing about the upstream.
void TcpProxy::on_relay_done(ClientKey key, const RelayResult& result) {
  Client* client = find(key);
  if (!client) return;
  --stats_.active;
  stats_.bytes_to_upstream += result.client_to_upstream;
  stats_.bytes_to_client += result.upstream_to_client;
  stats_.peak_queued = std::max({stats_.peak_queued, client->relay->peak_queued(Relay::kToUpstream),
                                 client->relay->peak_queued(Relay::kToClient)});
  Outcome outcome = !result.error          ? Outcome::success
                    : result.upstream_error ? Outcome::failure
                                            : Outcome::neutral;
  table_.end(client->tried.back(), outcome);
  client->began = false;
  finish(key);  // destroys the relay: allowed inside its done callback
}

// The client closed before its relay started (it has no relay yet: the relay's on_close
// replaces this one).
void TcpProxy::on_client_closed(ClientKey key) {
  Client* client = find(key);
  if (!client) return;
  if (client->checkout != 0) {
    if (auto* upstream = static_cast<TcpUpstream*>(table_.transport(client->tried.back()))) {
      upstream->pool().cancel_checkout(client->checkout);
    }
    client->checkout = 0;
  }
  if (client->retrying) {
    client->retrying = false;
    budget_.retry_finished();
  }
  if (client->began) table_.end(client->tried.back(), Outcome::neutral);
  client->began = false;
  client->connection = nullptr;  // the server destroys it after this callback
  finish(key);
}

// No upstream can take this client: close it now rather than leave it waiting.
void TcpProxy::refuse(ClientKey key) {
  Client* client = find(key);
  if (!client) return;
  ++stats_.refused;
  TcpConnection* connection = client->connection;
  finish(key);
  connection->on_close({});
  connection->close();
}

void TcpProxy::finish(ClientKey key) {
  budget_.request_finished();
  clients_.erase(key.slot, key.generation);  // the returned object dies here
}

TcpProxy::Client* TcpProxy::find(ClientKey key) noexcept {
  return clients_.find(key.slot, key.generation);
}

UpstreamTable& TcpProxy::upstreams() noexcept { return table_; }

const TcpProxyStats& TcpProxy::stats() const noexcept {
  clients_.for_each([this](const Client& client) {
    if (!client.relay) return;
    stats_.peak_queued = std::max({stats_.peak_queued, client.relay->peak_queued(Relay::kToUpstream),
                                   client.relay->peak_queued(Relay::kToClient)});
  });
  return stats_;
}

}  // namespace tern::proxy
