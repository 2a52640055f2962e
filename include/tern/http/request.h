// http::Request: one parsed request, as a handler sees it. Its views point into the
// connection's input (or, under a model whose handlers run on workers, into an OwnedRequest's
// copy): valid only while the handler runs. Copy what must outlive it.
//
//   router.get("/users/{id}", [](const http::Request& request) {
//     auto id = request.param("id");                 // a router {param}, decoded
//     auto agent = request.header("user-agent");     // case-insensitive
//     return http::Response::text(200, "hello\n");
//   });
//
// Thread rule: a value; read it from the thread the handler runs on.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tern/http/message.h"
#include "tern/net/inet_address.h"

namespace tern::http {

// A router's {name} segment, percent-decoded.
struct Param {
  std::string_view name;
  std::string_view value;
};

struct Request {
  Method method = Method::get;
  std::string_view method_token;  // as sent ("GET", or an extension method)
  std::string_view target;        // the request-target as sent
  std::string_view path;          // the target up to '?' (still percent-encoded)
  std::string_view query;         // after '?', without it (still percent-encoded)
  Version version = Version::http11;
  Headers headers;
  std::string_view body;          // the whole body (chunked bodies de-chunked); empty when
                                  // body_follows
  // The body is still to come and is taken in pieces: reply.read_body(sink), before
  // answering (ProtocolOptions::stream_body chose this request; tern/protocol/body_sink.h).
  bool body_follows = false;
  bool keep_alive = true;         // what the client asked for (version and Connection)
  bool expects_continue = false;  // Expect: 100-continue (answered by the protocol)
  InetAddress remote;             // the peer
  std::span<const Param> params;  // the router's {param} segments

  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return headers.find(name);
  }
  std::optional<std::string_view> param(std::string_view name) const noexcept;
};

// A request that owns its bytes, for a handler on a worker thread (the protocol's Owned): one
// copy of the head and body, the views rebased onto it.
class OwnedRequest {
 public:
  OwnedRequest() = default;
  explicit OwnedRequest(const Request& request);
  OwnedRequest(const OwnedRequest& other) : OwnedRequest(other.view()) {}
  OwnedRequest& operator=(const OwnedRequest& other) {
    if (this != &other) *this = OwnedRequest(other.view());
    return *this;
  }
  // Moves keep the heap buffers, so the views stay valid.
  OwnedRequest(OwnedRequest&&) noexcept = default;
  OwnedRequest& operator=(OwnedRequest&&) noexcept = default;
  const Request& view() const noexcept { return request_; }

 private:
  void rebase(const Request& from);
  std::vector<char> bytes_;  // not a std::string: a moved short string would move its bytes
  std::vector<Header> headers_;
  std::vector<Param> params_;
  Request request_;
};

}  // namespace tern::http
