// http::ClientRequest: a request as http::Client sends it. A value that owns its bytes (it may
// wait for a connection after the caller's buffers are gone); the body is moved into the write,
// never copied.
//
//   auto request = http::ClientRequest::get("/users/7").header("Accept", "application/json");
//   auto upload = http::ClientRequest::post("/upload", std::move(bytes));
//
// The client frames the message itself: Host from the client's upstream unless given here,
// Content-Length from the body (sent for a body, and for POST, PUT and PATCH even when empty),
// never chunked. Content-Length and Transfer-Encoding set here are ignored (framing the caller
// could get wrong is not the caller's to set); "Connection: close" is honoured (the connection
// is not reused after the response).
//
// Fields live in one of two places, sent in this order: `headers`, a string per name and per
// value (easy to build and to inspect), and the field block, their wire form ("Name: value\r\n"
// lines) in one buffer, filled with field() and parsed_field(): a request that copies many
// fields (a proxy's) allocates once for all of them, copies once, and is encoded by one copy.
//
//   http::ClientRequest out;
//   out.reserve_fields(512);
//   out.parsed_field(name, value);   // a field tern's HTTP parser has already checked
//   out.field("Via", {"1.1 ", pseudonym});
//
// Thread rule: a value; build it on any thread, hand it over once.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "tern/http/message.h"
#include "tern/protocol/body_writer.h"
#include "tern/protocol/output.h"

namespace tern::http {

class ResponseSink;

// A header field the request owns.
struct Field {
  std::string name;
  std::string value;
};

struct ClientRequest {
  Method method = Method::get;
  std::string method_token;  // the method as sent when `method` is Method::other
  std::string target = "/";  // origin-form: "/path?query"
  std::vector<Field> headers;
  std::string body;
  // Takes a large or open-ended response body in pieces (tern/http/response_sink.h); not
  // owned: it must outlive the request's callback. Null: the response is answered whole.
  ResponseSink* sink = nullptr;
  // A body that follows the head in pieces (tern/protocol/body_writer.h): not null, `body` is
  // not sent; the source writes the body once the head is on its connection. It goes with
  // "Content-Length: *body_length" when that is known, else chunked. Not owned: it must outlive
  // the request's callback. Not on a client that pipelines (ClientOptions::pipelining > 1).
  BodySource* body_source = nullptr;
  std::optional<uint64_t> body_length;

  static ClientRequest get(std::string target) { return make(Method::get, std::move(target)); }
  static ClientRequest head(std::string target) { return make(Method::head, std::move(target)); }
  static ClientRequest post(std::string target, std::string body) {
    ClientRequest request = make(Method::post, std::move(target));
    request.body = std::move(body);
    return request;
  }

  // Adds a field (after those already there).
  ClientRequest& header(std::string name, std::string value) & {
    headers.push_back(Field{std::move(name), std::move(value)});
    return *this;
  }
  ClientRequest&& header(std::string name, std::string value) && {
    return std::move(header(std::move(name), std::move(value)));
  }

  // Adds a field to the field block (after those already there), its value the concatenation
  // of `value_parts`. Checked now as validate() checks `headers`: a name that is not a token or
  // a value with a control character is not added and makes validate() fail.
  // Content-Length and Transfer-Encoding are dropped (the client frames the body).
  ClientRequest& field(std::string_view name,
                       std::initializer_list<std::string_view> value_parts) &;
  ClientRequest&& field(std::string_view name,
                        std::initializer_list<std::string_view> value_parts) && {
    return std::move(field(name, value_parts));
  }
  // The same without the checks, for a field whose name and value tern's HTTP parser has
  // already checked (a token; field-value bytes, no CR, LF or NUL): the caller vouches for
  // them. A proxy copying a received request's fields saves checking them twice.
  ClientRequest& parsed_field(std::string_view name,
                              std::initializer_list<std::string_view> value_parts) &;
  ClientRequest& parsed_field(std::string_view name, std::string_view value) & {
    return parsed_field(name, {value});
  }
  // Room for `bytes` of field lines in the block: one allocation for a request's fields.
  void reserve_fields(size_t bytes) { block_.reserve(bytes); }
  // Back to a new request's state (GET "/", no fields, no body), the buffers' capacity kept up
  // to kKeptCapacity each: a caller that builds request after request in one object allocates
  // for the first only, and one large request does not pin its memory in it.
  void clear() noexcept;
  static constexpr size_t kKeptCapacity = 4096;
  // The block's wire form: "Name: value\r\n" lines.
  std::string_view field_block() const noexcept { return block_; }
  // Calls visit(name, value) for every field, those of `headers` first, then the block's.
  template <class Visit>
  void for_each_field(Visit&& visit) const;

  // The method's name on the wire ("GET", or method_token for Method::other).
  std::string_view method_text() const noexcept {
    return method == Method::other ? std::string_view(method_token) : method_name(method);
  }
  // The first field of `headers` named `name` (case-insensitive), or null. The block's fields
  // are not Field objects: field_value() looks in both.
  const Field* find(std::string_view name) const noexcept;
  // The value of the first field named `name` (case-insensitive), in `headers` or the block.
  std::optional<std::string_view> field_value(std::string_view name) const noexcept;
  // Whether the request carries a Host field (in `headers` or the block).
  bool has_host() const noexcept;
  // Whether the request asks for the connection to close after its response.
  bool asks_close() const noexcept;
  // Whether a field given to field() was refused (validate() then fails).
  bool has_invalid_field() const noexcept { return invalid_field_; }

 private:
  static ClientRequest make(Method method, std::string target) {
    ClientRequest request;
    request.method = method;
    request.target = std::move(target);
    return request;
  }
  void append_line(std::string_view name, std::initializer_list<std::string_view> value_parts);

  std::string block_;            // "Name: value\r\n" lines: names are tokens, values have no CR/LF
  bool invalid_field_ = false;   // field() refused one
  bool block_has_host_ = false;  // found once, when added: encode() and has_host() ask per request
  bool block_asks_close_ = false;
};

template <class Visit>
void ClientRequest::for_each_field(Visit&& visit) const {
  for (const Field& entry : headers) {
    visit(std::string_view(entry.name), std::string_view(entry.value));
  }
  std::string_view rest = block_;
  while (!rest.empty()) {
    // A line is "name: value\r\n": a token holds no ':' and a checked value no CR, so the
    // first ':' ends the name and the next CR the value.
    size_t colon = rest.find(':');
    size_t cr = rest.find('\r', colon);
    visit(rest.substr(0, colon), rest.substr(colon + 2, cr - colon - 2));
    rest.remove_prefix(cr + 2);
  }
}

// client_errc::invalid_request if `request` cannot be sent as given: a method that is not a
// token, a target that is empty or holds whitespace or control characters, a field name that
// is not a token, a field value with CR, LF, NUL or another control character (each of them
// would let the request say something other than what its fields say), or a field that
// field() refused. Otherwise no error. The block's fields were checked when added (field())
// or by the parser they came from (parsed_field()): they are not read again.
std::error_code validate(const ClientRequest& request) noexcept;

// Writes `request` (validated) into `out` as HTTP/1.1: the head copied into the Output's arena
// (no allocation once the connection's Output has grown), the body moved in after it.
// `default_host` is the Host field when the request has none.
void encode(ClientRequest&& request, std::string_view default_host, Output& out);

}  // namespace tern::http
