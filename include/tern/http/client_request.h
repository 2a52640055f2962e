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
// Thread rule: a value; build it on any thread, hand it over once.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "tern/http/message.h"
#include "tern/protocol/output.h"

namespace tern::http {

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

  // The method's name on the wire ("GET", or method_token for Method::other).
  std::string_view method_text() const noexcept {
    return method == Method::other ? std::string_view(method_token) : method_name(method);
  }
  // The first field named `name` (case-insensitive), or null.
  const Field* find(std::string_view name) const noexcept;
  // Whether the request asks for the connection to close after its response.
  bool asks_close() const noexcept;

 private:
  static ClientRequest make(Method method, std::string target) {
    ClientRequest request;
    request.method = method;
    request.target = std::move(target);
    return request;
  }
};

// client_errc::invalid_request if `request` cannot be sent as given: a method that is not a
// token, a target that is empty or holds whitespace or control characters, a field name that
// is not a token, a field value with CR, LF, NUL or another control character (each of them
// would let the request say something other than what its fields say). Otherwise no error.
std::error_code validate(const ClientRequest& request) noexcept;

// Writes `request` (validated) into `out` as HTTP/1.1: the head in one piece, the body moved in
// after it. `default_host` is the Host field when the request has none.
void encode(ClientRequest&& request, std::string_view default_host, Output& out);

}  // namespace tern::http
