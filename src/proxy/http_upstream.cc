// HttpUpstream: an http::Client behind the UpstreamTransport interface.
#include "http_upstream.h"

#include <utility>

#include "tern/loop/event_loop.h"

namespace tern::proxy {

HttpUpstream::HttpUpstream(EventLoop& loop, const UpstreamConfig& upstream,
                           http::ClientOptions options)
    : loop_(loop), client_(loop, upstream.address, std::move(options)), pool_(client_.pool()) {}

bool HttpUpstream::can_take_request() const noexcept {
  const http::ClientOptions& options = client_.options();
  if (client_.closed()) return false;
  if (client_.outstanding() < client_.connections_in_use() * options.pipelining) return true;
  if (pool_.idle_connections() > 0) return true;
  if (pool_.open_connections() < options.pool.max_connections) return true;
  return pool_.waiting_checkouts() < options.pool.max_waiters &&
         client_.queued() < options.max_queued;
}

void HttpUpstream::close(std::function<void()> on_closed) {
  loop_.post([this, alive = std::weak_ptr<int>(alive_),
              on_closed = std::move(on_closed)]() mutable {
    if (alive.expired()) return;  // destroyed first (the table went): nobody waits for it
    client_.close(std::move(on_closed));
  });
}

}  // namespace tern::proxy
