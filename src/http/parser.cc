// RequestParser and ResponseParser: the two faces of MessageParser. Each turns the machine's
// offsets into the views of its message once the message is complete, so the views always
// point into the last input, wherever it has moved.
#include "tern/http/parser.h"

namespace tern::http {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "http"; }
  std::string message(int value) const override {
    switch (static_cast<ParseError>(value)) {
      case ParseError::bad_request_line:
        return "malformed request line (expected: method SP target SP version CRLF)";
      case ParseError::bad_method: return "the method is not a token";
      case ParseError::bad_target:
        return "malformed request target (origin-form; '*' for OPTIONS; authority-form for "
               "CONNECT; http(s) absolute-form)";
      case ParseError::target_too_long: return "request line longer than the limit";
      case ParseError::unsupported_version: return "HTTP version other than 1.0 and 1.1";
      case ParseError::bad_version: return "malformed HTTP version (expected HTTP/x.y)";
      case ParseError::bare_lf: return "line ended by LF without CR";
      case ParseError::bad_field_name:
        return "malformed field name (not a token, whitespace before ':', or no ':')";
      case ParseError::bad_field_value:
        return "field value holds CR, NUL, DEL or another control character";
      case ParseError::obsolete_line_folding:
        return "obsolete line folding (a field line starting with whitespace)";
      case ParseError::headers_too_large: return "header block or field count over the limit";
      case ParseError::missing_host: return "HTTP/1.1 request without Host";
      case ParseError::duplicate_host: return "more than one Host field";
      case ParseError::bad_content_length:
        return "Content-Length not digits only, overflowing, or differing duplicates";
      case ParseError::content_length_with_transfer_encoding:
        return "both Content-Length and Transfer-Encoding";
      case ParseError::unsupported_transfer_coding:
        return "transfer coding other than a single final chunked";
      case ParseError::transfer_encoding_on_http10: return "Transfer-Encoding on HTTP/1.0";
      case ParseError::body_too_large: return "body larger than the limit";
      case ParseError::bad_chunk:
        return "malformed chunk (size not hex, overflow, bad extension, or missing CRLF)";
      case ParseError::chunk_line_too_long: return "chunk-size line longer than the limit";
      case ParseError::trailers_too_large: return "trailer block or count over the limit";
      case ParseError::bad_status_line: return "malformed status line";
      case ParseError::bad_host: return "Host value is not host[:port]";
      case ParseError::truncated_message: return "connection closed inside a message";
      case ParseError::body_refused:
        return "Expect: 100-continue refused: the server cannot take the body now";
    }
    return "unknown http parse error";
  }
};

// The fields as views into `input`, in a vector whose capacity is kept across messages.
void fill_headers(const MessageParser& engine, std::string_view input,
                  std::vector<Header>& headers) {
  headers.clear();
  headers.reserve(engine.fields().size());  // exact: one allocation at first, then none
  for (const FieldSpan& f : engine.fields()) {
    headers.push_back({f.name.in(input), f.value.in(input)});
  }
}

}  // namespace

const std::error_category& parse_category() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(ParseError error) noexcept {
  return {static_cast<int>(error), parse_category()};
}

int status_of(std::error_code error) noexcept {
  if (error.category() != parse_category()) return 400;
  switch (static_cast<ParseError>(error.value())) {
    case ParseError::target_too_long: return 414;
    case ParseError::unsupported_version: return 505;
    case ParseError::headers_too_large:
    case ParseError::trailers_too_large: return 431;
    case ParseError::unsupported_transfer_coding: return 501;
    case ParseError::body_too_large: return 413;
    case ParseError::body_refused: return 503;
    default: return 400;
  }
}

RequestParser::RequestParser(const Limits& limits)
    : engine_(limits, MessageParser::Kind::request) {}

ParseStatus RequestParser::parse(std::string_view input) {
  ParseStatus status = engine_.parse(input);
  if (status == ParseStatus::complete) {
    fill_flags();
    fill_views(input);
  } else if (status == ParseStatus::need_more && engine_.in_body()) {
    fill_flags();
  }
  return status;
}

const Request& RequestParser::head(std::string_view input) {
  fill_flags();
  fill_views(input);
  request_.body = {};
  return request_;
}

void RequestParser::fill_flags() noexcept {
  request_.method = engine_.method();
  request_.version = engine_.version();
  request_.keep_alive = engine_.keep_alive();
  request_.expects_continue = engine_.expects_continue();
}

void RequestParser::fill_views(std::string_view input) {
  request_.method_token = engine_.method_token().in(input);
  request_.target = engine_.target().in(input);
  request_.path = engine_.path(input);
  request_.query = engine_.query().in(input);
  fill_headers(engine_, input, headers_);
  request_.headers = Headers(headers_);
  request_.body = engine_.body(input);
}

ResponseParser::ResponseParser(const Limits& limits)
    : engine_(limits, MessageParser::Kind::response) {}

ParseStatus ResponseParser::parse(std::string_view input, Method request_method) {
  engine_.answer_to(request_method);
  return finish(engine_.parse(input), input);
}

ParseStatus ResponseParser::end_of_input(std::string_view input) {
  return finish(engine_.finish_at_close(input), input);
}

ParseStatus ResponseParser::finish(ParseStatus status, std::string_view input) {
  if (status != ParseStatus::complete) return status;
  response_.status = engine_.status();
  response_.reason = engine_.reason().in(input);
  response_.version = engine_.version();
  response_.keep_alive = engine_.keep_alive();
  fill_headers(engine_, input, headers_);
  response_.headers = Headers(headers_);
  response_.body = engine_.body(input);
  return status;
}

}  // namespace tern::http
