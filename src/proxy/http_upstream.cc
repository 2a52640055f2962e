// HttpUpstream: an http::Client behind the UpstreamTransport interface.
#include "http_upstream.h"

#include <utility>

#include "tern/loop/event_loop.h"

namespace tern::proxy {

HttpUpstream::HttpUpstream(EventLoop& loop, const UpstreamConfig& upstream,
                           http::ClientOptions options)
    : loop_(loop), client_(loop, upstream.address, std::move(options)), pool_(client_.pool()) {}

void HttpUpstream::close(std::function<void()> on_closed) {
  loop_.post([this, alive = std::weak_ptr<int>(alive_),
              on_closed = std::move(on_closed)]() mutable {
    if (alive.expired()) return;  // destroyed first (the table went): nobody waits for it
    client_.close(std::move(on_closed));
  });
}

}  // namespace tern::proxy
