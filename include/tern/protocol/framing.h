// The three framings every tern program offers (--codec raw|line|length) as protocols on the
// seam: requests are views of the input, responses are strings moved into the output.
//
//   RawProtocol            every chunk read is one message (echo, proxies)
//   LineProtocol           messages end with '\n' (a '\r' before it stays in the message)
//   LengthPrefixedProtocol a 4-byte big-endian length, then that many bytes
//
// A message longer than Options::max_message is errc::message_too_large: the session closes
// that connection instead of buffering without bound.
//
// Streamed responses (BasicReply::stream): raw sends each piece as it comes; line sends the
// pieces as one line and its '\n' at the end; length-prefixed must know the length first, so
// it gathers the pieces and sends one framed message at the end.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "tern/protocol/protocol.h"

namespace tern {

struct FramingOptions {
  size_t max_message = 1 << 20;
  Deadlines deadlines;
};

// What the three framings share: requests are views of the input, responses and stream pieces
// are strings, a request is owned as a string.
class StringFraming {
 public:
  using Request = std::string_view;
  using Owned = std::string;
  using Response = std::string;
  using Chunk = std::string;
  using Options = FramingOptions;

  explicit StringFraming(const Options& options) : options_(options) {}
  static Owned own(const Request& request) { return Owned(request); }
  static Request view(const Owned& owned) { return owned; }
  Deadlines deadlines() const noexcept { return options_.deadlines; }

 protected:
  const Options& options_;
};

class RawProtocol : public StringFraming {
 public:
  using StringFraming::StringFraming;
  Decoded<Request> decode(std::string_view input) const;
  After encode(Response&& response, Output& out) const;
  void encode_head(Response&& head, Output& out) const { out.append(std::move(head)); }
  void encode_chunk(Chunk&& chunk, Output& out) const { out.append(std::move(chunk)); }
  After encode_end(Output&) const { return After::keep_open; }
};

class LineProtocol : public StringFraming {
 public:
  using StringFraming::StringFraming;
  // Scans only the bytes that arrived since the last call for this message.
  Decoded<Request> decode(std::string_view input);
  After encode(Response&& response, Output& out) const;
  void encode_head(Response&& head, Output& out) const { out.append(std::move(head)); }
  void encode_chunk(Chunk&& chunk, Output& out) const { out.append(std::move(chunk)); }
  After encode_end(Output& out) const {
    out.append_static("\n");
    return After::keep_open;
  }

 private:
  size_t scanned_ = 0;  // bytes of the current message known to hold no '\n'
};

class LengthPrefixedProtocol : public StringFraming {
 public:
  using StringFraming::StringFraming;
  static constexpr size_t kHeader = 4;

  Decoded<Request> decode(std::string_view input) const;
  After encode(Response&& response, Output& out) const;
  // Only the stream first in line is encoded at a time, so one buffer serves.
  void encode_head(Response&& head, Output&) { streamed_ = std::move(head); }
  void encode_chunk(Chunk&& chunk, Output&) { streamed_ += chunk; }
  After encode_end(Output& out) { return encode(std::move(streamed_), out); }

 private:
  std::string streamed_;  // a streamed response, gathered until its end
};

// The client side of a framing (Pipeline<C>): the same framing, directions swapped.
template <class Framing>
class FramingClient {
 public:
  using Request = std::string;        // sent, framed
  using Response = std::string_view;  // received, a view valid during the callback
  using Options = FramingOptions;

  explicit FramingClient(const Options& options) : framing_(options) {}
  void encode_request(Request&& request, Output& out) { framing_.encode(std::move(request), out); }
  Decoded<Response> decode_response(std::string_view input) { return framing_.decode(input); }

 private:
  Framing framing_;
};
using LineClient = FramingClient<LineProtocol>;
using LengthPrefixedClient = FramingClient<LengthPrefixedProtocol>;

static_assert(StreamingProtocol<RawProtocol>);
static_assert(StreamingProtocol<LineProtocol>);
static_assert(StreamingProtocol<LengthPrefixedProtocol>);
static_assert(Protocol<RawProtocol>);
static_assert(Protocol<LineProtocol>);
static_assert(Protocol<LengthPrefixedProtocol>);

}  // namespace tern
