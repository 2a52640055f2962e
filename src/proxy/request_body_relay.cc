// RequestBodyRelay: a client's request body relayed piece by piece, paced by the upstream.
#include "request_body_relay.h"

#include <utility>

namespace tern::proxy {

void RequestBodyRelay::on_body_open(BodyWriter& writer) {
  upstream_ = &writer;
  opened_ = true;
  reply_.read_body(*this);  // on this loop: the session takes the sink now
}

void RequestBodyRelay::on_body_closed(std::error_code error) {
  upstream_ = nullptr;
  // Nothing more of the client's body can go anywhere: its connection closes once answered.
  if (client_ != nullptr) std::exchange(client_, nullptr)->abort(error);
}

bool RequestBodyRelay::on_body(std::string_view piece) {
  if (upstream_ == nullptr) return false;
  if (upstream_->write(piece)) return true;
  if (upstream_ == nullptr) return false;  // the write failed: on_body_closed has run
  upstream_->when_writable([self = shared_from_this()](bool open) {
    if (open && self->client_ != nullptr) self->client_->resume_reading();
  });
  return false;
}

void RequestBodyRelay::on_body_end(std::error_code error) {
  client_ = nullptr;
  if (upstream_ == nullptr) return;
  if (!error) {
    std::exchange(upstream_, nullptr)->end();
    return;
  }
  client_failed_ = true;
  // The client's session may be in its destructor: the abort, whose callbacks answer that
  // session's request, runs from a task of its own.
  post_to(loop_, [self = shared_from_this(), error] {
    if (self->upstream_ != nullptr) std::exchange(self->upstream_, nullptr)->abort(error);
  });
}

}  // namespace tern::proxy
