// ReadControl: what a consumer of a streamed answer may ask of the connection it comes from.
// A Pipeline hands it, through its protocol, to whoever takes an answer's body in pieces (an
// HTTP response body relayed to a slow client): that consumer stops the reading by declining
// more (the protocol then says reading_paused()), and starts it again here once it has room,
// so the bytes it has not taken wait in the peer's socket, not in this process.
//
// Thread rule: the connection's loop thread only. Valid until the answer it was given for
// completes or fails (the request's callback has run); never use it after that.
#pragma once

#include <system_error>

namespace tern {

class ReadControl {
 public:
  // Reads again after a pause: the bytes kept from the last read are decoded first.
  virtual void resume_reading() = 0;
  // Gives up on the answer: the connection closes and what waits on it fails with `error`.
  virtual void abort(std::error_code error) = 0;

 protected:
  ~ReadControl() = default;
};

}  // namespace tern
