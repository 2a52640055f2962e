// HttpUpstream: the HTTP proxy's transport for one upstream on one loop, the UpstreamTransport
// the UpstreamTable holds: an http::Client (its ConnectionPool inside) that carries the
// requests the table routes to this upstream over persistent connections.
//
// Thread rule: loop thread only, like the client it owns.
#pragma once

#include <functional>
#include <memory>

#include "tern/http/client.h"
#include "tern/proxy/upstream_config.h"
#include "tern/proxy/upstream_table.h"

namespace tern::proxy {

class HttpUpstream final : public UpstreamTransport {
 public:
  HttpUpstream(EventLoop& loop, const UpstreamConfig& upstream, http::ClientOptions options);

  http::Client& client() noexcept { return client_; }

  // The client refuses new requests, those in flight finish, then its connections close and
  // `on_closed` runs. The client's close starts from a task on the loop: it fails the requests
  // still waiting for a connection at once, and their callbacks (the proxy's retries, which
  // pick from the table) must not run inside the table's apply() that called this.
  void close(std::function<void()> on_closed) override;
  PoolCounters counters() const noexcept override { return client_.counters(); }
  size_t open_connections() const noexcept override { return pool_.open_connections(); }
  size_t idle_connections() const noexcept override { return pool_.idle_connections(); }
  // A kept connection free, one more may be opened, or the request may wait for one (the
  // pool's and the client's queues have room): what the client would not refuse at once.
  bool can_take_request() const noexcept override;

 private:
  EventLoop& loop_;
  http::Client client_;
  ConnectionPool& pool_;  // the client's
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // the posted close finds it gone
};

}  // namespace tern::proxy
