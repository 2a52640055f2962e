// The protocol seam. A protocol is one type whose object is one connection's protocol state:
// it turns the connection's input into requests (decode) and responses into bytes (encode).
// It does no I/O, so it can be unit-tested and fuzzed alone; Session<P> does the rest
// (pipelining, response order, read limits, backpressure, deadlines, drain, lingering close)
// the same way for every protocol and under every concurrency model.
//
//   struct MyProtocol {
//     using Request = ...;   // what decode yields: may view the input (valid while the
//                            // handler runs on the loop)
//     using Owned = ...;     // a request that owns its bytes (handed to a worker thread)
//     using Response = ...;  // what a handler answers
//     struct Options { ... };
//     explicit MyProtocol(const Options&);
//
//     Decoded<Request> decode(std::string_view input);   // input: unconsumed bytes, starting
//                                                        // at the current message
//     After encode(Response&& response, Output& out);    // keep_open, or close after it
//     static Owned own(const Request&);
//     static Request view(const Owned&);
//
//     // Optional:
//     Deadlines deadlines() const;                        // idle / read / body / write
//     std::optional<Response> on_failure(const Failure&); // a last response (400, 408) or none
//     void on_open(const InetAddress& peer);              // once, before the first decode
//     void on_drain();                                    // the server is stopping: the
//                                                         // responses still to come are the
//                                                         // connection's last
//     bool in_body() const;                               // the current message's head is
//                                                         // read: its body deadline runs
//     void interim(Output& out);                          // after need_more, with no response
//                                                         // owed: bytes to send before the
//                                                         // message is whole (100 Continue)
//
//     // Optional, for request bodies taken in pieces (BasicReply::read_body, body_sink.h):
//     // decode may answer `head` (a message whose body follows: dispatched at once, consumed
//     // covers the head); the session then calls decode_body with the input after what it
//     // has consumed, piece by piece, until `end` (the next decode starts the next message).
//     BodyStep decode_body(std::string_view input);
//
//     // Optional, for streamed responses (BasicReply::stream):
//     using Chunk = ...;
//     void encode_head(Response&& head, Output& out);
//     void encode_chunk(Chunk&& chunk, Output& out);
//     After encode_end(Output& out);
//   };
//
// decode is incremental: called again with the same bytes plus more after need_more, it must
// not rescan what it already looked at (keep a scan offset in the protocol state; the bytes of
// the current message keep their offsets from `input.data()`).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "tern/base/clock.h"
#include "tern/protocol/output.h"

namespace tern {

template <class Request>
struct Decoded {
  // head: a message whose body is still to come and is taken in pieces (decode_body), not
  // gathered: `request` and `consumed` as for message, the body not in either.
  enum class Status : uint8_t { need_more, message, invalid, head };
  Status status = Status::need_more;
  Request request{};
  size_t consumed = 0;   // message: bytes of input the message used, framing included
  std::error_code error; // invalid: why (the session closes after a last response)

  static Decoded more() { return {}; }
  static Decoded message(Request request, size_t consumed) {
    return {Status::message, std::move(request), consumed, {}};
  }
  static Decoded invalid(std::error_code error) { return {Status::invalid, {}, 0, error}; }
  static Decoded head(Request request, size_t consumed) {
    return {Status::head, std::move(request), consumed, {}};
  }
};

// One step through a body taken in pieces (decode_body): the framing undone, the piece handed
// on. `consumed` counts framing and piece; `piece` views the input (valid during the call).
struct BodyStep {
  enum class Status : uint8_t {
    more_input,  // nothing more can be done with these bytes (any consumed were framing)
    piece,       // a piece of the body (it may be empty), more to come
    end,         // the body is complete (with its last piece, maybe empty)
    invalid      // the body's framing is broken (error): the connection closes
  };
  Status status = Status::more_input;
  size_t consumed = 0;
  std::string_view piece;
  std::error_code error;
};

// What a connection does after a response is written.
enum class After : uint8_t { keep_open, close };

// Per-connection deadlines, totals (not reset per byte); zero means none.
struct Deadlines {
  Duration idle{};   // no request in progress and nothing to send
  Duration read{};   // from a message's first byte to its last (slowloris); with a body
                     // deadline, to the end of its head
  Duration body{};   // from the end of a message's head to its last byte (protocols that say
                     // where the head ends: in_body())
  Duration write{};  // for unsent output to drain to the low-water mark (a peer not reading).
                     // It covers only output the session still holds: answers the kernel took
                     // (up to its send buffer, megabytes on loopback) are out of its reach, so
                     // a peer that stops reading with less than that outstanding is closed by
                     // the idle deadline, not this one.
};

// Why the session is about to close a connection; the protocol may answer it (on_failure).
struct Failure {
  enum class Kind : uint8_t { malformed, read_timeout, idle_timeout, write_timeout };
  Kind kind;
  std::error_code error;  // malformed: the decode error
};

template <class P>
concept Protocol = requires(P& protocol, std::string_view input, typename P::Response&& response,
                            Output& out, const typename P::Request& request,
                            const typename P::Owned& owned) {
  typename P::Options;
  { protocol.decode(input) } -> std::same_as<Decoded<typename P::Request>>;
  { protocol.encode(std::move(response), out) } -> std::same_as<After>;
  { P::own(request) } -> std::same_as<typename P::Owned>;
  { P::view(owned) } -> std::same_as<typename P::Request>;
};

// A protocol that can send a response in pieces.
template <class P>
concept StreamingProtocol = Protocol<P> && requires(P& protocol, typename P::Response&& head,
                                                    typename P::Chunk&& chunk, Output& out) {
  protocol.encode_head(std::move(head), out);
  protocol.encode_chunk(std::move(chunk), out);
  { protocol.encode_end(out) } -> std::same_as<After>;
};

// A protocol whose request bodies can be taken in pieces.
template <class P>
concept StreamingBodyProtocol = Protocol<P> && requires(P& protocol, std::string_view input) {
  { protocol.decode_body(input) } -> std::same_as<BodyStep>;
};

// The type of a protocol's stream pieces (its Response when it does not stream).
template <class P>
struct chunk_of {
  using type = typename P::Response;
};
template <class P>
  requires requires { typename P::Chunk; }
struct chunk_of<P> {
  using type = typename P::Chunk;
};
template <class P>
using chunk_of_t = typename chunk_of<P>::type;

}  // namespace tern
