// http::ClientProtocol: HTTP/1.1 as a client protocol for Pipeline<C> (tern/protocol/pipeline.h).
// One object per connection: it encodes requests (tern/http/client_request.h) and parses
// responses with ResponseParser, which must know each response's request method (a response to
// HEAD has no body whatever its Content-Length says): the methods sent wait in a FIFO here,
// matched to responses in order, as the pipeline matches its callbacks.
//
// A response body delimited by the connection's close completes in decode_end, which the
// pipeline calls when the stream ends. Responses are bounded by Options::limits: a status line,
// header block or body beyond them is an error (the connection closes).
//
// A request with a ResponseSink (tern/http/response_sink.h) whose response body is larger than
// the sink's threshold, or of unknown length, is streamed: once the head is in, it goes to the
// sink, and the body is decoded (BodyDecoder) and handed on piece by piece as it arrives, each
// piece consumed from the connection's input at once (need_more with bytes consumed); a sink
// that declines more pauses the reading (reading_paused(), the pipeline's hooks).
//
// Thread rule: the connection's (Pipeline's) thread.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "tern/http/body_decoder.h"
#include "tern/http/client_request.h"
#include "tern/http/message.h"
#include "tern/http/parser.h"
#include "tern/http/response_sink.h"
#include "tern/protocol/protocol.h"
#include "tern/protocol/read_control.h"

namespace tern::http {

struct ClientProtocolOptions {
  Limits limits;     // of a response (max_request_line bounds its status line)
  std::string host;  // the Host field of requests that do not carry one
};

class ClientProtocol {
 public:
  using Request = ClientRequest;
  using Response = ParsedResponse;  // views into the connection's input: valid in the callback
  using Options = ClientProtocolOptions;

  // Keeps a reference to `options` (the pipeline keeps them for its lifetime).
  explicit ClientProtocol(const Options& options);

  void encode_request(Request&& request, Output& out);
  Decoded<Response> decode_response(std::string_view input);
  // The peer closed: completes a close-delimited body; need_more when no response had begun
  // or it was cut short (the pipeline then fails it as closed).
  Decoded<Response> decode_end(std::string_view input);

  // Requests sent and not yet answered.
  size_t waiting() const noexcept { return methods_.size(); }

  // The pipeline's hooks for streamed bodies (tern/protocol/pipeline.h).
  void attach(ReadControl& control) noexcept { control_ = &control; }
  bool reading_paused() const noexcept { return paused_; }
  void resume() noexcept { paused_ = false; }

  // The pipeline's hooks for a request body in pieces (tern/protocol/body_writer.h): the
  // source of the request just encoded (once), the framing of each piece (a view, written
  // before the pipeline returns; false, nothing framed: it would pass the Content-Length), the
  // end of the body (false: short of its Content-Length), and a body given up. While a body is
  // open, a response that completes says the connection closes after it.
  BodySource* take_opened_body() noexcept { return std::exchange(opened_, nullptr); }
  bool encode_body_piece(std::string_view piece, Output& out);
  bool encode_body_end(Output& out);
  void close_body() noexcept { body_open_ = false; }

 private:
  struct Sent {
    Method method;
    ResponseSink* sink;  // null: answered whole
  };

  Decoded<Response> complete();
  void start_next();
  Decoded<Response> start_stream(std::string_view input, ResponseSink& sink);
  Decoded<Response> decode_body(std::string_view input, size_t used);
  Decoded<Response> finish_stream(size_t used);

  const Options& options_;
  ResponseParser parser_;
  std::deque<Sent> methods_;    // the requests sent and not answered, oldest first
  bool message_done_ = false;   // the parser holds the last response: reset before the next
  // Streaming (a request with a sink).
  ReadControl* control_ = nullptr;
  ResponseParser head_parser_;  // the head of a response to stream, parsed as if to HEAD
  BodyDecoder body_;
  ResponseSink* streaming_ = nullptr;  // the sink taking the current response's body
  ParsedResponse streamed_;     // what the callback gets at its end: status, version, keep-alive
  bool buffering_ = false;      // the current response's head was looked at: answered whole
  bool paused_ = false;         // the sink declined more: stop reading until resume()
  // A request body in pieces (a request with a body_source).
  BodySource* opened_ = nullptr;  // encoded, not yet opened by the pipeline
  bool body_open_ = false;
  bool body_chunked_ = false;
  uint64_t body_left_ = 0;        // of its Content-Length
};

}  // namespace tern::http
