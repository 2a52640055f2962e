// BodyRelay: a streamed response body relayed piece by piece, paced by the client.
#include "body_relay.h"

#include <string>
#include <system_error>
#include <utility>

namespace tern::proxy {

bool BodyRelay::write(std::string_view piece) {
  stream_.write(std::string(piece));
  if (awaiting_room_) {
    paused_ = true;
    return false;
  }
  awaiting_room_ = true;
  stream_.when_writable([self = shared_from_this()](bool open) { self->on_writable(open); });
  return true;
}

void BodyRelay::on_writable(bool open) {
  awaiting_room_ = false;
  if (upstream_ == nullptr) return;  // the body is over
  if (!open) {
    // The client's session may be in its destructor (it tells its producers so): the abort,
    // whose callbacks end this relay's stream, runs from a task of its own.
    client_gone_ = true;
    post_to(loop_, [self = shared_from_this()] {
      if (self->upstream_ == nullptr) return;
      std::exchange(self->upstream_, nullptr)->abort(
          std::make_error_code(std::errc::connection_aborted));
    });
    return;
  }
  if (paused_) {
    paused_ = false;
    upstream_->resume_reading();
  }
}

void BodyRelay::end() {
  upstream_ = nullptr;
  stream_.end();
}

void BodyRelay::abandon() {
  upstream_ = nullptr;
  stream_ = http::Stream();  // dropped before end(): cut short
}

}  // namespace tern::proxy
