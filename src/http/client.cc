// http::Client: PooledClient's link logic with HTTP's policy (keep-alive, "Connection: close",
// no greeting), the request validated and its Host defaulted before it is queued.
#include "tern/http/client.h"

#include <utility>

#include "tern/loop/event_loop.h"

namespace tern::http {
namespace {

PooledClientOptions pooled_options_of(const ClientOptions& options) {
  return PooledClientOptions{options.pool, options.response_timeout, options.pipelining,
                             options.max_queued};
}

ClientProtocolOptions protocol_options_of(const ClientOptions& options,
                                          const InetAddress& upstream) {
  return ClientProtocolOptions{options.limits,
                               options.host.empty() ? upstream.to_string() : options.host};
}

}  // namespace

// The checkout's errors, told apart from the response's (both would be timed_out).
std::error_code ClientPolicy::checkout_error(std::error_code error) const noexcept {
  if (error == std::errc::timed_out) return make_error_code(client_errc::connect_timeout);
  return error;
}

// The pipeline's errors, named for what they mean to an HTTP caller. Exact matches: the
// pipeline's own codes only, not a system error that happens to be equivalent.
std::error_code ClientPolicy::transport_error(std::error_code error) const noexcept {
  if (error == make_error_code(errc::eof)) {
    return make_error_code(client_errc::closed_before_response);
  }
  if (error == std::make_error_code(std::errc::timed_out)) {
    return make_error_code(client_errc::response_timeout);
  }
  if (error == std::make_error_code(std::errc::operation_canceled)) {
    return make_error_code(client_errc::closed);
  }
  return error;
}

Client::Client(EventLoop& loop, InetAddress upstream, ClientOptions options)
    : loop_(loop),
      options_(std::move(options)),
      links_(loop, upstream, pooled_options_of(options_), protocol_options_of(options_, upstream)) {
  if (options_.pipelining == 0) options_.pipelining = 1;
}

Client::~Client() = default;

void Client::request(ClientRequest request, Callback on_response) {
  loop_.assert_in_loop_thread("http::Client::request");
  // The client's own refusals first (closed, queue_full), then the request's.
  std::error_code refusal = links_.refusal();
  if (!refusal) refusal = validate(request);
  // A body in pieces holds its connection to the body's end: a pipelined request behind it
  // would be written into the middle of it.
  if (!refusal && request.body_source != nullptr && options_.pipelining > 1) {
    refusal = make_error_code(client_errc::invalid_request);
  }
  if (refusal) {
    on_response(refusal, nullptr);
    return;
  }
  links_.request(std::move(request), std::move(on_response));
}

void Client::close(std::function<void()> on_closed) {
  loop_.assert_in_loop_thread("http::Client::close");
  links_.close(std::move(on_closed));
}

}  // namespace tern::http
