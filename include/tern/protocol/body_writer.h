// BodyWriter and BodySource: a request body that follows its head onto a client connection
// piece by piece, as it becomes available, instead of being sent whole: how a proxy relays a
// client's upload to its upstream with bounded memory (the client side's mirror of BodySink).
//
// The request names its source (for HTTP, http::ClientRequest::body_source). Once the request's
// head is written, the Pipeline opens the body: source.on_body_open(writer). The source then
// writes the pieces in order and ends the body; the connection carries nothing else until the
// end. write() says when to wait: false once the connection's unsent bytes reach the writer's
// mark, and when_writable's callback runs once they have drained.
//
// The writer is gone, and the source hears of it through on_body_closed(error), when the
// connection fails (the request's callback gets the error too) or when the response arrives
// before the body's end (an upstream that answers early: the response is delivered, and the
// connection closes after it, since the rest of the body can never be sent on it).
//
// Thread rule: the connection's loop thread. The source must outlive the request's callback;
// the writer is valid from on_body_open until end(), abort() or on_body_closed.
#pragma once

#include <string_view>
#include <system_error>

#include "tern/base/unique_function.h"

namespace tern {

class BodyWriter {
 public:
  // Queues `piece` (a view, copied if the socket does not take it at once). True while the
  // connection's unsent bytes are below the mark: write more; false: wait for when_writable.
  virtual bool write(std::string_view piece) = 0;
  // `callback(open)` runs once, later on the loop, when the unsent bytes have drained (open),
  // or when the writer is gone first (false). Only after write() said false.
  virtual void when_writable(UniqueFunction<void(bool open)> callback) = 0;
  // The body is complete (its framing ends); the writer is gone.
  virtual void end() = 0;
  // Gives up on the body: the connection closes and the request fails with `error`; the writer
  // is gone (on_body_closed is not called).
  virtual void abort(std::error_code error) = 0;

 protected:
  ~BodyWriter() = default;
};

class BodySource {
 public:
  // The head is written: the body goes through `writer` from here on.
  virtual void on_body_open(BodyWriter& writer) = 0;
  // The writer is gone before end(): the connection failed, or the response came first.
  virtual void on_body_closed(std::error_code error) = 0;

 protected:
  ~BodySource() = default;
};

}  // namespace tern
