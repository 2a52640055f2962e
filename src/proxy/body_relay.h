// BodyRelay: one streamed response body on its way from an upstream connection to the
// client, with bounded memory both ways. Each piece read from the upstream is written to the
// client's stream at once; the relay then asks the stream when it can take more
// (when_writable: the client's connection below its high-water mark). A piece that comes while
// the last one is still unconfirmed is written too, and the upstream's reading pauses
// (ReadControl) until the client catches up: a slow client holds the proxy to its connection's
// high-water mark plus about two reads, and the rest waits in the upstream's socket, then in
// the upstream itself (its send blocks). A client that goes away aborts the upstream's
// response (its connection closes: it is mid-body, never reusable).
//
// Shared (a std::shared_ptr) between the exchange and the client stream's pending writable
// callback, which may run after the exchange is over: then it does nothing.
//
// Thread rule: the client connection's loop thread, which is the upstream's (the proxy
// forwards on the connection's loop).
#pragma once

#include <memory>
#include <string_view>

#include "tern/http/router.h"
#include "tern/loop/loop_handle.h"
#include "tern/protocol/read_control.h"

namespace tern::proxy {

class BodyRelay : public std::enable_shared_from_this<BodyRelay> {
 public:
  // `upstream` is valid until end() or abandon() is called; `loop` is this thread's.
  BodyRelay(http::Stream stream, ReadControl& upstream, LoopHandle loop) noexcept
      : stream_(std::move(stream)), upstream_(&upstream), loop_(loop) {}

  // Writes `piece` to the client; false: the upstream should read no more for now.
  bool write(std::string_view piece);
  // The body is complete: the client's response ends.
  void end();
  // The upstream failed midway: the client's response is cut short (its connection closes).
  void abandon();
  // The client went away while the body was relayed (the upstream's failure is then ours).
  bool client_gone() const noexcept { return client_gone_; }

 private:
  void on_writable(bool open);

  http::Stream stream_;
  ReadControl* upstream_;        // null once the body is over
  LoopHandle loop_;
  bool awaiting_room_ = false;   // a when_writable is pending
  bool paused_ = false;          // the upstream's reading is paused until that answers
  bool client_gone_ = false;
};

}  // namespace tern::proxy
