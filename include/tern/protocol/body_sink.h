// BodySink: takes a request's body in pieces as it arrives, instead of the whole request at
// once: what a handler needs to take an upload larger than memory should hold, and what a proxy
// needs to relay one to its upstream with bounded memory. The mirror of the client's
// http::ResponseSink.
//
// Which requests come with their body to follow is the protocol's choice (for HTTP,
// http::ProtocolOptions::stream_body); such a request reaches its handler as soon as its head
// is read (http::Request::body_follows), and the handler asks for the body with
// reply.read_body(sink), before it answers. The session then hands the body to the sink piece by
// piece, on the connection's loop thread, and ends it with on_body_end.
//
// Backpressure: on_body returning false stops reading from the client (the rest waits in the
// kernel's buffers, then in the client, whose send blocks) until the sink calls
// control.resume_reading(); control.abort(error) gives up on the body: nothing more of it is
// read, and the connection closes once the request is answered.
//
// Until a handler asks for the body nothing of it is read past one read's worth. A request
// answered without its body having been asked for closes its connection after the answer
// (the unread body cannot be told from the next request).
//
// Thread rule: every call on the connection's loop thread (for a connection without a loop,
// leader/followers, on the thread that drives it, under its lock). The sink must stay alive
// until on_body_end has run, and may use `control` until then, never from inside on_body.
#pragma once

#include <string_view>
#include <system_error>

#include "tern/protocol/read_control.h"

namespace tern {

class BodySink {
 public:
  // Once, first: the control for this body (valid until on_body_end has run).
  virtual void on_body_start(ReadControl& control) = 0;
  // A piece of the body (a view, valid during the call only). False: read no more until
  // control.resume_reading().
  virtual bool on_body(std::string_view piece) = 0;
  // Once, last: the body is complete (no error), or never will be (the client closed, broke
  // the framing, the connection closed, or the route cannot stream bodies). The sink may be
  // destroyed from here.
  virtual void on_body_end(std::error_code error) = 0;

 protected:
  ~BodySink() = default;
};

}  // namespace tern
