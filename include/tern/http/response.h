// http::Response: what a handler answers. A builder: status, header fields, and a body that is
// bytes in memory (moved in, never copied), a constant, or a range of an open file (sent with
// sendfile or its io_uring equivalent, never read into user space by the server).
//
//   return http::Response::text(200, "Hello, World!");
//   return http::Response(404).header("Cache-Control", "no-store").body("no such key\n");
//   return http::Response(200).content_type("application/octet-stream").file(range);
//
// The protocol writes the framing fields itself: Content-Length (or chunked for a stream),
// Connection, Date and Server. A handler must not set those (header() ignores them); it can
// ask for the connection to close after this response with close().
//
// A streamed response: the handler answers std::move(reply).stream(head) with a head Response
// (status and fields, no body) and then writes std::string chunks from any thread; on
// HTTP/1.1 they go out chunked, on HTTP/1.0 until the connection closes; with a
// stream_length(n) on the head, as a body of Content-Length n on both.
//
// Thread rule: a value; build it on any thread, hand it over once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "tern/http/route_label.h"
#include "tern/protocol/output.h"

namespace tern::http {

class Response {
 public:
  enum class BodyKind : uint8_t { none, owned, constant, shared, file };

  Response() = default;  // 200, empty body
  explicit Response(int status) noexcept : status_(status) {}
  // A text/plain (UTF-8) response.
  static Response text(int status, std::string body);

  Response& status(int status) noexcept {
    status_ = status;
    return *this;
  }
  // Appends a field (copied). The framing fields (Content-Length, Transfer-Encoding,
  // Connection, Date, Server) are the protocol's and are ignored here, as are names that are
  // not tokens and values with CR, LF or NUL (a handler cannot split a response).
  Response& header(std::string_view name, std::string_view value);
  // The common types (text/plain, text/html, application/json, with or without a UTF-8
  // charset) cost no copy: their field line is a constant.
  Response& content_type(std::string_view type);
  Response& body(std::string bytes) {
    body_ = std::move(bytes);
    constant_ = {};
    file_ = {};
    kind_ = BodyKind::owned;
    return *this;
  }
  // `bytes` must outlive the response's write: literals and other constants.
  Response& body_constant(std::string_view bytes) {
    body_.clear();
    constant_ = bytes;
    file_ = {};
    kind_ = BodyKind::constant;
    return *this;
  }
  Response& file(FileRange range) {
    body_.clear();
    constant_ = {};
    file_ = std::move(range);
    kind_ = BodyKind::file;
    return *this;
  }
  // Bytes shared with others (a cache's copy of a small file): kept alive by the response
  // until they are encoded, where they are copied next to the head (one write, no sendfile).
  // For small bodies; a large one is better sent as a file().
  Response& body_shared(std::shared_ptr<const std::string> bytes) {
    body_.clear();
    constant_ = bytes ? std::string_view(*bytes) : std::string_view();
    file_ = {};
    shared_ = std::move(bytes);
    kind_ = BodyKind::shared;
    return *this;
  }
  // The connection closes once this response is sent.
  Response& close() noexcept {
    close_ = true;
    return *this;
  }
  // A streamed response whose body length is known before its body (a proxy relaying an
  // upstream's Content-Length): the protocol writes that Content-Length instead of chunked,
  // writes no byte past it, and closes the connection after a stream that ended short of it
  // (or tried to go past it). Ignored by send().
  Response& stream_length(uint64_t bytes) noexcept {
    stream_length_ = bytes;
    return *this;
  }
  // The route that answered, the label of its duration in the HTTP metrics (loop_metrics.h).
  // The router sets it to its route's label (route_label.h: a number interned when the route
  // was added); a response without one counts as "unrouted". By name: interns `pattern`
  // (takes a lock: fine now and then, but a label per request is better made once).
  Response& route(RouteLabel label) noexcept {
    route_ = label;
    return *this;
  }
  Response& route(std::string_view pattern) {
    route_ = route_label(pattern);
    return *this;
  }

  // For the protocol.
  int status_code() const noexcept { return status_; }
  std::string_view fields() const noexcept { return fields_; }  // "Name: value\r\n" lines
  std::string_view content_type_line() const noexcept { return content_type_line_; }
  BodyKind body_kind() const noexcept { return kind_; }
  uint64_t body_size() const noexcept;
  std::string& owned_body() noexcept { return body_; }
  std::string_view constant_body() const noexcept { return constant_; }  // constant, shared
  FileRange& file_body() noexcept { return file_; }
  bool closes() const noexcept { return close_; }
  RouteLabel route() const noexcept { return route_; }
  static constexpr uint64_t kUnknownLength = UINT64_MAX;
  uint64_t stream_length() const noexcept { return stream_length_; }  // or kUnknownLength

 private:
  void append_field(std::string_view name, std::string_view value);

  int status_ = 200;
  BodyKind kind_ = BodyKind::none;
  bool close_ = false;
  std::string_view content_type_line_;  // a constant "Content-Type: ...\r\n", or empty
  std::string fields_;
  std::string body_;
  std::string_view constant_;
  FileRange file_;
  std::shared_ptr<const std::string> shared_;
  RouteLabel route_ = kUnroutedRoute;
  uint64_t stream_length_ = kUnknownLength;
};

}  // namespace tern::http
