// The HTTP/1.1 message parser (RFC 9112): bytes in, a parsed message out, no I/O. One state
// machine for requests (the server) and responses (the client): the start lines differ, the
// header fields and the body framing (Content-Length, chunked, trailers) are the same code.
//
// Incremental and zero-copy: parse() is given the bytes of the current message from its first
// byte on, again with more appended after need_more (the buffer may have moved: the parser
// keeps offsets, never pointers), and never rescans what it already looked at, so a message fed
// one byte at a time costs linear time. The parsed message's views point into the last input
// passed; only a chunked body is copied (de-chunked into the parser's own buffer, reused).
// Passing an input shorter than the last one is misuse and aborts with a message.
//
// Strict (docs/http.md lists every rule and its status code): a violation is an error with a
// code whose status_of() is the response to send (400, 413, 414, 431, 501, 505); the connection
// must close after it. Bare LF is rejected everywhere (request line, status line, fields, chunk
// lines, trailers): one policy, the strict one, because a lenient line ending is where request
// smuggling between two parsers starts.
//
// Thread rule: one parser per connection and direction; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/http/message.h"
#include "tern/http/message_parser.h"
#include "tern/http/request.h"

namespace tern::http {

struct Limits {
  size_t max_request_line = 8 * 1024;  // request line (status line for a response): 414
  size_t max_header_bytes = 16 * 1024; // the field block: 431
  size_t max_headers = 64;             // fields in the block: 431
  uint64_t max_body = 8 << 20;         // body bytes (Content-Length or chunked total): 413
  size_t max_chunk_line = 1024;        // a chunk-size line with its extensions: 400
  size_t max_trailer_bytes = 4 * 1024; // the trailer block: 431
};

enum class ParseError {
  bad_request_line = 1,      // 400
  bad_method,                // 400: not a token
  bad_target,                // 400
  target_too_long,           // 414
  unsupported_version,       // 505
  bad_version,               // 400: not HTTP/x.y
  bare_lf,                   // 400
  bad_field_name,            // 400: not a token, or whitespace before ':'
  bad_field_value,           // 400: CR, NUL or another control character
  obsolete_line_folding,     // 400
  headers_too_large,         // 431: the block, or the number of fields
  missing_host,              // 400: HTTP/1.1 without Host
  duplicate_host,            // 400
  bad_content_length,        // 400: not digits, overflow, or differing duplicates
  content_length_with_transfer_encoding,  // 400
  unsupported_transfer_coding,            // 501: not chunked as the final coding
  transfer_encoding_on_http10,            // 400
  body_too_large,            // 413
  bad_chunk,                 // 400: size not hex, overflow, missing CRLF
  chunk_line_too_long,       // 400
  trailers_too_large,        // 431
  bad_status_line,           // a response's status line (client side)
  bad_host,                  // 400: a Host value that is not host[:port]
  truncated_message,         // the peer closed in the middle of a message (client side)
  body_refused,              // 503: Expect: 100-continue, and the server cannot take the body
                             //   now (ProtocolOptions::accepts_body); not malformed
};
std::error_code make_error_code(ParseError error) noexcept;
const std::error_category& parse_category() noexcept;
// The status to answer a parse error with (400 for anything not of this category).
int status_of(std::error_code error) noexcept;

enum class ParseStatus : uint8_t { need_more, complete, error };

class RequestParser {
 public:
  explicit RequestParser(const Limits& limits);

  // `input` starts at the current message (leading empty lines are skipped and counted in
  // consumed()). complete: request() holds the message, consumed() its length.
  ParseStatus parse(std::string_view input);
  // After complete: views into the last input (and the parser's de-chunked body). From
  // in_body() on, its flags (method, version, keep_alive, expects_continue) are already set;
  // its views only at complete. remote and params are never touched.
  const Request& request() const noexcept { return request_; }
  size_t consumed() const noexcept { return engine_.consumed(); }
  std::error_code error() const noexcept { return engine_.error(); }
  // True once the header block of the current message is parsed (body still to come): the
  // point to answer Expect: 100-continue, and to switch from the header deadline to the body's.
  bool in_body() const noexcept { return engine_.in_body(); }
  // Once in_body(): the head asked for "Expect: 100-continue" (HTTP/1.1 only).
  bool expects_continue() const noexcept { return engine_.expects_continue(); }
  // Forgets the message; the next parse() starts a new one. Buffers keep their capacity.
  void reset() noexcept { engine_.reset(); }
  // Bytes examined since reset() (see MessageParser::bytes_examined).
  uint64_t bytes_examined() const noexcept { return engine_.bytes_examined(); }

  // Once in_body(), for a body taken in pieces instead (http::Protocol): the request with its
  // head's views into `input` (the input of the last parse) and no body; where the body starts
  // in that input; and its framing (chunked, else a Content-Length of body_length() bytes).
  const Request& head(std::string_view input);
  size_t body_start() const noexcept { return engine_.body_start(); }
  bool chunked() const noexcept { return engine_.chunked(); }
  uint64_t body_length() const noexcept { return engine_.content_length(); }

 private:
  void fill_flags() noexcept;
  void fill_views(std::string_view input);

  MessageParser engine_;
  std::vector<Header> headers_;  // views of the last complete message; capacity kept
  Request request_;
};


// A parsed response (client side). Views into the last input, like Request.
struct ParsedResponse {
  int status = 0;
  std::string_view reason;
  Version version = Version::http11;
  Headers headers;
  std::string_view body;
  bool keep_alive = true;  // the connection may carry another request
};

class ResponseParser {
 public:
  explicit ResponseParser(const Limits& limits);
  // `request_method`: the method of the request this answers (a response to HEAD, and 1xx,
  // 204 and 304 responses, have no body). 1xx interim responses are skipped (counted in
  // consumed()). A body delimited by the connection's close completes at end_of_input().
  ParseStatus parse(std::string_view input, Method request_method);
  // The peer closed: completes a close-delimited body (ParseStatus::complete), else error.
  ParseStatus end_of_input(std::string_view input);
  const ParsedResponse& response() const noexcept { return response_; }
  // True once the head of the current response is parsed and its body is still to come.
  bool in_body() const noexcept { return engine_.in_body(); }
  size_t consumed() const noexcept { return engine_.consumed(); }
  std::error_code error() const noexcept { return engine_.error(); }
  void reset() noexcept { engine_.reset(); }
  uint64_t bytes_examined() const noexcept { return engine_.bytes_examined(); }

 private:
  ParseStatus finish(ParseStatus status, std::string_view input);

  MessageParser engine_;
  std::vector<Header> headers_;
  ParsedResponse response_;
};

}  // namespace tern::http

template <>
struct std::is_error_code_enum<tern::http::ParseError> : std::true_type {};
