// RequestBodyRelay: one client's request body on its way to an upstream connection, piece by
// piece, with bounded memory both ways: the request-side mirror of BodyRelay. It is the sink of
// the client's body (tern/protocol/body_sink.h) and the source of the upstream request's body
// (tern/protocol/body_writer.h).
//
// The client's body is asked for only once the request's head is on an upstream connection
// (on_body_open): until then it waits in the client's socket, and a request that fails before
// (no connection, a connect failure) can still be retried elsewhere (opened() is false). Each
// piece read from the client is written to the upstream at once; when the upstream
// connection's unsent bytes reach its mark, reading from the client pauses until they drain.
// So a slow upstream holds the proxy to about one mark plus one read per upload, and the rest
// waits in the client.
//
// Either side may end it early. The upstream connection fails, or answers before the whole
// body (on_body_closed): nothing more of the client's body is read, and the client's connection
// closes after the answer. The client goes away or breaks its framing (on_body_end with an
// error): the upstream request is aborted (its connection closes: it is mid-body), from a task
// of its own, since the client's session may be in its destructor.
//
// Shared (a std::shared_ptr) between the exchange and that task.
//
// Thread rule: the client connection's loop thread, which is the upstream's (the proxy
// forwards on the connection's loop).
#pragma once

#include <memory>
#include <string_view>
#include <system_error>

#include "tern/http/router.h"
#include "tern/loop/loop_handle.h"
#include "tern/protocol/body_sink.h"
#include "tern/protocol/body_writer.h"

namespace tern::proxy {

class RequestBodyRelay final : public BodySink,
                               public BodySource,
                               public std::enable_shared_from_this<RequestBodyRelay> {
 public:
  // `reply` answers the client's request; it must stay in place (the exchange's) while the
  // relay is open. `loop` is this thread's.
  RequestBodyRelay(http::Reply& reply, LoopHandle loop) noexcept : reply_(reply), loop_(loop) {}

  // The client's body was asked for: a retry could not send it again.
  bool opened() const noexcept { return opened_; }
  // The client ended the body with an error (went away, broke the framing, stalled): the
  // upstream's failure that follows is the client's doing.
  bool client_failed() const noexcept { return client_failed_; }

  // BodySource (the upstream connection's pipeline).
  void on_body_open(BodyWriter& writer) override;
  void on_body_closed(std::error_code error) override;
  // BodySink (the client's session).
  void on_body_start(ReadControl& control) override { client_ = &control; }
  bool on_body(std::string_view piece) override;
  void on_body_end(std::error_code error) override;

 private:
  http::Reply& reply_;
  LoopHandle loop_;
  BodyWriter* upstream_ = nullptr;  // null: not open yet, or over
  ReadControl* client_ = nullptr;   // null: not started yet, or over
  bool opened_ = false;
  bool client_failed_ = false;
};

}  // namespace tern::proxy
