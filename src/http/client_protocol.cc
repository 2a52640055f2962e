// http::ClientProtocol: requests out, responses in, matched by the FIFO of methods sent.
#include "tern/http/client_protocol.h"

#include "tern/http/client_error.h"

namespace tern::http {

ClientProtocol::ClientProtocol(const Options& options)
    : options_(options), parser_(options_.limits) {}

void ClientProtocol::encode_request(Request&& request, Output& out) {
  methods_.push_back(request.method);
  encode(std::move(request), options_.host, out);
}

// The parser keeps the last response (its views, a de-chunked body) until the next one starts:
// the pipeline's callback reads it in between.
void ClientProtocol::start_next() {
  if (!message_done_) return;
  parser_.reset();
  message_done_ = false;
}

Decoded<ParsedResponse> ClientProtocol::decode_response(std::string_view input) {
  start_next();
  if (methods_.empty()) return Decoded<Response>::invalid(client_errc::unsolicited_response);
  switch (parser_.parse(input, methods_.front())) {
    case ParseStatus::need_more:
      return Decoded<Response>::more();
    case ParseStatus::error:
      return Decoded<Response>::invalid(parser_.error());
    case ParseStatus::complete:
      break;
  }
  return complete();
}

Decoded<ParsedResponse> ClientProtocol::decode_end(std::string_view input) {
  start_next();
  if (methods_.empty() || input.empty()) return Decoded<Response>::more();
  if (parser_.end_of_input(input) != ParseStatus::complete) return Decoded<Response>::more();
  return complete();
}

Decoded<ParsedResponse> ClientProtocol::complete() {
  methods_.pop_front();
  message_done_ = true;
  return Decoded<Response>::message(parser_.response(), parser_.consumed());
}

}  // namespace tern::http
