// TcpUpstream: the UpstreamTransport of TCP mode, one per loop per upstream: a ConnectionPool
// used for connecting, its per-upstream connection limit and its counters. Connections it
// lends are relayed and then closed by the relay, never returned for reuse.
//
// Thread rule: loop thread only, every method (like the pool).
#pragma once

#include <cstddef>
#include <functional>

#include "tern/net/connection_pool.h"
#include "tern/proxy/upstream_table.h"

namespace tern::proxy {

class TcpUpstream final : public UpstreamTransport {
 public:
  TcpUpstream(EventLoop& loop, const InetAddress& address, const ConnectionPoolOptions& options)
      : pool_(loop, address, options) {}

  // Stops lending; open relays keep their connections until they end; `on_closed` runs on
  // the loop once the last one is gone.
  void close(std::function<void()> on_closed) override { pool_.close(std::move(on_closed)); }
  PoolCounters counters() const noexcept override { return pool_.counters(); }
  size_t open_connections() const noexcept override { return pool_.open_connections(); }
  size_t idle_connections() const noexcept override { return pool_.idle_connections(); }

  ConnectionPool& pool() noexcept { return pool_; }

 private:
  ConnectionPool pool_;
};

}  // namespace tern::proxy
