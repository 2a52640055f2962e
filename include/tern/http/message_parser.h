// http::MessageParser: the one HTTP/1.1 state machine behind RequestParser and ResponseParser
// (tern/http/parser.h; use those). It parses a start line (a request line or a status line, the
// only part that differs), the field block, the body framing (Content-Length, chunked with its
// extensions and trailers, or until the connection closes), and records everything as offsets
// into the message's bytes, so the input may move between calls. A scan offset remembers where
// the search for the next line end stopped: no byte is looked at twice by the search, and each
// line is validated once, when its end arrives.
//
// Thread rule: one per connection and direction; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tern/http/message.h"

namespace tern::http {

struct Limits;
enum class ParseStatus : uint8_t;

// A stretch of the message's head, by offset (the bytes may move; offsets stay true). 32 bits:
// the head is bounded by the limits, which the parser clamps to 1 GiB; 16 bytes a field keep
// the per-connection field list small.
struct Span {
  uint32_t offset = 0;
  uint32_t size = 0;
  static Span of(size_t offset, size_t size) noexcept {
    return {static_cast<uint32_t>(offset), static_cast<uint32_t>(size)};
  }
  std::string_view in(std::string_view input) const noexcept {
    return input.substr(offset, size);
  }
};

struct FieldSpan {
  Span name;
  Span value;
};

class MessageParser {
 public:
  enum class Kind : uint8_t { request, response };

  MessageParser(const Limits& limits, Kind kind);

  // Runs the machine over `input` (the message's bytes from its first byte, more appended since
  // the last call). Thread rule: the owner's thread, like every method here.
  ParseStatus parse(std::string_view input);
  // The peer closed after `input`: completes a body delimited by the close, else an error.
  ParseStatus finish_at_close(std::string_view input);
  // Forgets the message; keeps the capacity of the field list, and of the body buffer up to
  // 64 KiB.
  void reset() noexcept;
  // Response side: the method of the request being answered (HEAD: no body). Set before parse.
  void answer_to(Method method) noexcept { request_method_ = method; }

  // Results (valid once complete; the flags once the field block is parsed).
  bool head_done() const noexcept;
  bool in_body() const noexcept;
  size_t consumed() const noexcept { return consumed_; }
  std::error_code error() const noexcept { return error_; }
  Version version() const noexcept { return version_; }
  bool keep_alive() const noexcept;
  bool expects_continue() const noexcept { return expects_continue_; }
  // The body's framing, once the field block is parsed: where it starts in the input, chunked
  // or not, the Content-Length (0 without one).
  size_t body_start() const noexcept { return body_start_; }
  bool chunked() const noexcept { return chunked_; }
  uint64_t content_length() const noexcept { return content_length_; }
  const std::vector<FieldSpan>& fields() const noexcept { return fields_; }
  // The body: a view into `input`, or the de-chunked copy.
  std::string_view body(std::string_view input) const noexcept;
  // Request line.
  Method method() const noexcept { return method_; }
  Span method_token() const noexcept { return method_token_; }
  Span target() const noexcept { return target_; }
  // The path: a Span, or "/" (a constant) for an absolute-form target without a path.
  std::string_view path(std::string_view input) const noexcept;
  Span query() const noexcept { return query_; }
  // Status line.
  int status() const noexcept { return status_; }
  Span reason() const noexcept { return reason_; }
  // Bytes the line search and the line checks have examined since reset(): the evidence that
  // nothing is rescanned (tests assert it is linear in the message size).
  uint64_t bytes_examined() const noexcept { return examined_; }

 private:
  enum class State : uint8_t {
    start_line, fields, fixed_body, chunk_size, chunk_data, chunk_data_end, trailers,
    until_close, done, failed
  };
  enum class Step : uint8_t { next, need_more };

  Step on_start_line(std::string_view input);
  Step on_field_line(std::string_view input, bool trailer);
  Step on_fixed_body(std::string_view input);
  Step on_chunk_size(std::string_view input);
  Step on_chunk_data(std::string_view input);
  Step on_chunk_data_end(std::string_view input);

  // The offset of the next '\n' at or after scan_, or npos (scan_ is then input.size()).
  size_t find_line_end(std::string_view input);
  // The line [line_start_, lf) without its CR; fails with bare_lf if the CR is missing.
  bool take_line(std::string_view input, size_t lf, std::string_view& line);
  std::error_code parse_request_line(std::string_view input, std::string_view line);
  std::error_code parse_status_line(std::string_view line);
  std::error_code parse_target(std::string_view input, std::string_view target);
  std::error_code on_field(std::string_view name, std::string_view value);
  std::error_code on_head_end();
  std::error_code on_response_head_end();
  void begin_body(size_t at);
  void start_message(size_t at) noexcept;
  Step fail(std::error_code error) noexcept;
  Step complete(size_t end) noexcept;

  // Configuration.
  size_t max_start_line_;
  size_t max_header_bytes_;
  size_t max_headers_;
  uint64_t max_body_;
  size_t max_chunk_line_;
  size_t max_trailer_bytes_;
  Kind kind_;
  Method request_method_ = Method::get;

  // Where the machine is.
  State state_ = State::start_line;
  size_t head_start_ = 0;   // the start line (or the empty lines before it)
  size_t line_start_ = 0;   // the line being read
  size_t scan_ = 0;         // the line-end search resumes here
  size_t block_start_ = 0;  // the field block or trailer block being read
  size_t body_start_ = 0;
  uint64_t body_size_ = 0;  // a Content-Length body's (a response without a body has none)
  size_t data_pos_ = 0;     // next chunk-data byte to copy
  uint64_t chunk_left_ = 0;
  size_t consumed_ = 0;
  size_t seen_ = 0;         // the input's size at the last call: it may only grow
  size_t trailer_count_ = 0;
  uint64_t examined_ = 0;
  std::error_code error_;

  // What the message said.
  Version version_ = Version::http11;
  Method method_ = Method::get;
  Span method_token_, target_, path_, query_, reason_;
  bool path_is_root_ = false;
  int status_ = 0;
  uint64_t content_length_ = 0;
  bool has_content_length_ = false;
  bool chunked_ = false;
  bool has_transfer_encoding_ = false;
  bool until_close_ = false;
  unsigned host_count_ = 0;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool expects_continue_ = false;
  std::vector<FieldSpan> fields_;  // capacity kept across messages
  std::string chunked_body_;       // de-chunked body; capacity kept across messages
};

}  // namespace tern::http
