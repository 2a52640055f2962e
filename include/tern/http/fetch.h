// http::fetch: one request, answered on the calling thread. For tests and tools; a server
// uses http::Client on its loop instead.
//
//   auto response = http::fetch(InetAddress::loopback_v4(8080), http::ClientRequest::get("/"));
//   if (response) std::printf("%d %s\n", response->status, response->body.c_str());
//
// Thread rule: any thread that runs no loop; it blocks, running a loop of its own until the
// response (or the error) is there.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/backend/backend_kind.h"
#include "tern/base/clock.h"
#include "tern/base/result.h"
#include "tern/http/client_request.h"
#include "tern/http/message.h"
#include "tern/net/inet_address.h"

namespace tern::http {

// A response that owns its bytes.
struct FetchedResponse {
  int status = 0;
  std::string reason;
  Version version = Version::http11;
  std::vector<Field> headers;  // in the order received
  std::string body;
  bool keep_alive = true;

  // The first field named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
};

struct FetchOptions {
  // Each of connecting and waiting for the whole response.
  Duration timeout = std::chrono::seconds(10);
  BackendKind backend = BackendKind::epoll;
};

// The response to `request` sent to `address`, or the error (tern/http/client_error.h).
Result<FetchedResponse> fetch(const InetAddress& address, ClientRequest request,
                              FetchOptions options = {});

}  // namespace tern::http
