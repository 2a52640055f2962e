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
// Thread rule: the connection's (Pipeline's) thread.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

#include "tern/http/client_request.h"
#include "tern/http/message.h"
#include "tern/http/parser.h"
#include "tern/protocol/protocol.h"

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

 private:
  Decoded<Response> complete();
  void start_next();

  const Options& options_;
  ResponseParser parser_;
  std::deque<Method> methods_;  // of the requests sent and not answered, oldest first
  bool message_done_ = false;   // the parser holds the last response: reset before the next
};

}  // namespace tern::http
