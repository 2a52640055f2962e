// http::ClientProtocol: requests out, responses in, matched by the FIFO of methods sent.
#include "tern/http/client_protocol.h"

#include <charconv>
#include <optional>

#include "tern/http/client_error.h"

namespace tern::http {

namespace {

// How the body of a response whose head `head` is (parsed as if to HEAD, so complete) is
// framed. The whole-message parser has already checked these fields on the same bytes
// (Content-Length values agree, Transfer-Encoding ends in chunked or the body runs to the
// close, not both).
BodyDecoder::Framing framing_of(const ParsedResponse& head, std::optional<uint64_t>& length) {
  length.reset();
  bool transfer_encoding = false;
  bool chunked = false;
  for (const Header& field : head.headers) {
    if (field.name.size() == 17 && iequals(field.name, "transfer-encoding")) {
      transfer_encoding = true;
      std::string_view value = field.value;
      size_t last = value.rfind(',');
      std::string_view coding = last == std::string_view::npos ? value : value.substr(last + 1);
      size_t begin = coding.find_first_not_of(" \t");
      size_t end = coding.find_last_not_of(" \t");
      chunked = begin != std::string_view::npos &&
                iequals(coding.substr(begin, end - begin + 1), "chunked");
    } else if (field.name.size() == 14 && iequals(field.name, "content-length") && !length) {
      uint64_t value = 0;
      for (char c : field.value) {
        if (c < '0' || c > '9') break;
        value = value * 10 + static_cast<uint64_t>(c - '0');
      }
      length = value;
    }
  }
  if (transfer_encoding) {
    length.reset();
    return chunked ? BodyDecoder::Framing::chunked : BodyDecoder::Framing::until_close;
  }
  return length ? BodyDecoder::Framing::length : BodyDecoder::Framing::until_close;
}

template <class Response>
Decoded<Response> consumed_so_far(size_t used) {
  Decoded<Response> decoded;
  decoded.consumed = used;
  return decoded;
}

}  // namespace

ClientProtocol::ClientProtocol(const Options& options)
    : options_(options), parser_(options_.limits), head_parser_(options_.limits) {}

void ClientProtocol::encode_request(Request&& request, Output& out) {
  methods_.push_back(Sent{request.method, request.sink});
  if (request.body_source != nullptr) {
    opened_ = request.body_source;
    body_open_ = true;
    body_chunked_ = !request.body_length;
    body_left_ = request.body_length.value_or(0);
  }
  ResponseSink* sink = request.sink;
  encode(std::move(request), options_.host, out);
  if (sink != nullptr) sink->on_request_written();
}

bool ClientProtocol::encode_body_piece(std::string_view piece, Output& out) {
  if (piece.empty()) return true;
  if (!body_chunked_) {
    if (piece.size() > body_left_) return false;
    body_left_ -= piece.size();
    out.append_static(piece);
    return true;
  }
  char size[20];
  auto [end, ec] = std::to_chars(size, size + sizeof size, piece.size(), 16);
  out.append_copy(std::string_view(size, static_cast<size_t>(end - size)));
  out.append_copy("\r\n");
  out.append_static(piece);
  out.append_copy("\r\n");
  return true;
}

bool ClientProtocol::encode_body_end(Output& out) {
  body_open_ = false;
  if (!body_chunked_) return body_left_ == 0;
  out.append_copy("0\r\n\r\n");
  return true;
}

// The parser keeps the last response (its views, a de-chunked body) until the next one starts:
// the pipeline's callback reads it in between.
void ClientProtocol::start_next() {
  if (!message_done_) return;
  parser_.reset();
  message_done_ = false;
}

Decoded<ParsedResponse> ClientProtocol::decode_response(std::string_view input) {
  if (streaming_ != nullptr) return decode_body(input, 0);
  start_next();
  if (methods_.empty()) return Decoded<Response>::invalid(client_errc::unsolicited_response);
  const Sent& sent = methods_.front();
  switch (parser_.parse(input, sent.method)) {
    case ParseStatus::need_more:
      // The head is in and the body is not: whether to stream it is decided once, here.
      if (sent.sink != nullptr && !buffering_ && parser_.in_body()) {
        return start_stream(input, *sent.sink);
      }
      return Decoded<Response>::more();
    case ParseStatus::error:
      return Decoded<Response>::invalid(parser_.error());
    case ParseStatus::complete:
      break;
  }
  return complete();
}

// The head is parsed a second time, as the answer to a HEAD (complete at the head's end, with
// its views): once per streamed response, never for the small ones.
Decoded<ParsedResponse> ClientProtocol::start_stream(std::string_view input, ResponseSink& sink) {
  sink.on_response_head();
  head_parser_.reset();
  if (head_parser_.parse(input, Method::head) != ParseStatus::complete) {
    return Decoded<Response>::invalid(head_parser_.error());
  }
  const ParsedResponse& head = head_parser_.response();
  std::optional<uint64_t> length;
  BodyDecoder::Framing framing = framing_of(head, length);
  if (length && *length <= sink.stream_above()) {
    buffering_ = true;  // the parser goes on gathering it
    return Decoded<Response>::more();
  }
  streaming_ = &sink;
  streamed_ = ParsedResponse{};
  streamed_.status = head.status;
  streamed_.version = head.version;
  streamed_.keep_alive = head.keep_alive && framing != BodyDecoder::Framing::until_close;
  body_.start(framing, length.value_or(0), options_.limits);
  if (control_ != nullptr) sink.on_head(head, length, *control_);
  return decode_body(input, head_parser_.consumed());
}

// Hands the body bytes of `input` from `used` on to the sink, consuming them, until the input
// is used up, the body ends, or the sink declines more.
Decoded<ParsedResponse> ClientProtocol::decode_body(std::string_view input, size_t used) {
  while (true) {
    BodyDecoder::Step step = body_.next(input.substr(used));
    if (step.status == BodyDecoder::Step::Status::invalid) {
      return Decoded<Response>::invalid(step.error);
    }
    used += step.consumed;
    bool more = step.piece.empty() || streaming_->on_body(step.piece);
    if (step.status == BodyDecoder::Step::Status::complete) return finish_stream(used);
    if (step.status == BodyDecoder::Step::Status::more_input) return consumed_so_far<Response>(used);
    if (!more) {
      paused_ = true;
      return consumed_so_far<Response>(used);
    }
  }
}

Decoded<ParsedResponse> ClientProtocol::finish_stream(size_t used) {
  methods_.pop_front();
  message_done_ = true;  // the parser saw the head only: start the next one afresh
  streaming_ = nullptr;
  buffering_ = false;
  paused_ = false;  // the connection reads on for the next response
  if (body_open_) streamed_.keep_alive = false;  // answered before its body was all sent
  return Decoded<Response>::message(streamed_, used);
}

Decoded<ParsedResponse> ClientProtocol::decode_end(std::string_view input) {
  if (streaming_ != nullptr) {
    BodyDecoder::Step step = body_.finish_at_close(input);
    if (step.status != BodyDecoder::Step::Status::complete) return Decoded<Response>::more();
    if (!step.piece.empty()) streaming_->on_body(step.piece);
    return finish_stream(step.consumed);
  }
  start_next();
  if (methods_.empty() || input.empty()) return Decoded<Response>::more();
  if (parser_.end_of_input(input) != ParseStatus::complete) return Decoded<Response>::more();
  return complete();
}

Decoded<ParsedResponse> ClientProtocol::complete() {
  // A response whose head and body came in one read: start_stream never saw its head.
  ResponseSink* sink = methods_.front().sink;
  if (sink != nullptr && !buffering_) sink->on_response_head();
  methods_.pop_front();
  message_done_ = true;
  buffering_ = false;
  Decoded<Response> decoded = Decoded<Response>::message(parser_.response(), parser_.consumed());
  if (body_open_) decoded.request.keep_alive = false;  // answered before its body was all sent
  return decoded;
}

}  // namespace tern::http
