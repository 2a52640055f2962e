// http::BodyDecoder: a response body's framing undone piece by piece, for a body that is
// relayed as it arrives instead of gathered whole (tern/http/response_sink.h). The bytes it is
// given are consumed as they are decoded, so nothing of the body stays behind in the
// connection's input: a Content-Length body is counted down, a chunked one is de-chunked (its
// trailers read and dropped: the proxy that relays it re-frames the body), and a body that
// ends with the connection is passed on whole, completed by finish_at_close().
//
// As strict as the whole-message parser where the framing is at stake (a chunk size line
// ends in CRLF, never a bare LF; sizes are hex without overflow; the CRLF after the data is
// checked; lines are bounded by the limits), looser about chunk extensions, whose meaning is
// ignored: they only have to be field-value bytes after a ';'.
//
// Thread rule: one per connection; the connection's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "tern/http/parser.h"

namespace tern::http {

class BodyDecoder {
 public:
  enum class Framing : uint8_t { length, chunked, until_close };

  struct Step {
    enum class Status : uint8_t { more_input, progress, complete, invalid };
    Status status = Status::more_input;
    size_t consumed = 0;     // bytes of the input this step used (framing and piece)
    std::string_view piece;  // body bytes, a view into the input (progress or complete; may be empty)
    std::error_code error;   // invalid
  };

  // Starts a body: `length` counts for Framing::length only.
  void start(Framing framing, uint64_t length, const Limits& limits) noexcept;
  // Decodes from the start of `input` (the bytes after what earlier steps consumed): one piece,
  // or the framing up to the next piece, or the end. more_input: nothing more can be done
  // with these bytes (any it consumed are framing).
  Step next(std::string_view input);
  // The connection ended after `input`: a body until close completes with it as its last
  // piece; any other body is cut short (invalid, truncated_message).
  Step finish_at_close(std::string_view input) noexcept;
  Framing framing() const noexcept { return framing_; }

 private:
  enum class State : uint8_t { data, size_line, data_end, trailers, done, failed };

  Step on_size_line(std::string_view input);
  Step on_data_end(std::string_view input);
  Step on_trailers(std::string_view input);
  Step fail(ParseError error) noexcept;

  Framing framing_ = Framing::length;
  State state_ = State::done;
  uint64_t left_ = 0;           // of the Content-Length body, or of the current chunk
  size_t trailer_bytes_ = 0;
  size_t max_chunk_line_ = 0;
  size_t max_trailer_bytes_ = 0;
};

}  // namespace tern::http
