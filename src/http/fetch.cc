// http::fetch: a Client on a loop of the caller's thread, for one request.
#include "tern/http/fetch.h"

#include <utility>

#include "tern/http/client.h"
#include "tern/loop/event_loop.h"

namespace tern::http {
namespace {

FetchedResponse own(const ParsedResponse& response) {
  FetchedResponse owned;
  owned.status = response.status;
  owned.reason = std::string(response.reason);
  owned.version = response.version;
  for (const Header& field : response.headers) {
    owned.headers.push_back(Field{std::string(field.name), std::string(field.value)});
  }
  owned.body = std::string(response.body);
  owned.keep_alive = response.keep_alive;
  return owned;
}

}  // namespace

std::optional<std::string_view> FetchedResponse::header(std::string_view name) const noexcept {
  for (const Field& field : headers) {
    if (iequals(field.name, name)) return std::string_view(field.value);
  }
  return std::nullopt;
}

Result<FetchedResponse> fetch(const InetAddress& address, ClientRequest request,
                              FetchOptions options) {
  auto loop = EventLoop::create(options.backend, {});
  if (!loop) return loop.error();
  std::optional<Result<FetchedResponse>> result;
  {
    ClientOptions client_options;
    client_options.pool.max_connections = 1;
    client_options.pool.connect.timeout = options.timeout;
    client_options.pool.wait_timeout = options.timeout;
    client_options.response_timeout = options.timeout;
    Client client(**loop, address, std::move(client_options));
    client.request(std::move(request),
                   [&](std::error_code error, const ParsedResponse* response) {
                     result = error ? Result<FetchedResponse>(error)
                                    : Result<FetchedResponse>(own(*response));
                     (*loop)->stop();
                   });
    // Bounded: the connect and the response each have their deadline, and either ends the
    // request with its callback.
    if (!result) (*loop)->run();
  }
  return std::move(*result);
}

}  // namespace tern::http
