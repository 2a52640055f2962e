// http::ResponseSink: takes a response's body in pieces as it arrives, instead of the whole
// response at the end: what a proxy needs to relay a large or endless body with bounded memory.
// A ClientRequest that names a sink (ClientRequest::sink) is answered as usual when the body is
// small: the callback gets the whole response and the sink is not used. When the body is larger
// than the sink's threshold, or its length is not known in advance (chunked, or until the
// connection closes), the head goes to on_head, the body (de-chunked) to on_body piece by
// piece, and the request's callback runs at the end with the head's status and no fields
// (the body empty): the response is complete. A failure midway reaches the callback as an
// error, as for any response.
//
// Backpressure: on_body returning false pauses reading from the upstream connection (its bytes
// wait in the kernel's buffers, and then the upstream's send blocks) until the sink calls
// control.resume_reading(); control.abort(error) gives up on the response (the connection
// closes, the callback gets the error).
//
// Thread rule: called on the client's loop thread, inside the connection's read; the sink
// must stay alive until the request's callback has run, and may use `control` until then.
// It must not call resume_reading() from inside on_head or on_body.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "tern/http/parser.h"
#include "tern/protocol/read_control.h"

namespace tern::http {

class ResponseSink {
 public:
  // Bodies up to this many bytes, with a known length, are answered whole (no sink).
  virtual uint64_t stream_above() const noexcept = 0;
  // The head (views valid during the call only; `head.body` empty). `length` is the body's
  // Content-Length, nullopt when not known (chunked, until close).
  virtual void on_head(const ParsedResponse& head, std::optional<uint64_t> length,
                       ReadControl& control) = 0;
  // A piece of the body (a view, valid during the call only; the sink copies what it keeps).
  // The piece is taken; false: read no more until control.resume_reading().
  virtual bool on_body(std::string_view piece) = 0;

  // Timing hooks, for every request that names a sink, its body streamed or not (the proxy's
  // tern_proxy_upstream_duration_seconds): the request has been encoded onto its connection
  // (it goes out in this loop iteration's write), and its response's head has been parsed.
  // Neither is called for a request that never reached a connection, nor the second for a
  // response whose head was malformed.
  virtual void on_request_written() noexcept {}
  virtual void on_response_head() noexcept {}

 protected:
  ~ResponseSink() = default;
};

}  // namespace tern::http
