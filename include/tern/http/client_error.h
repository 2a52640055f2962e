// The errors of http::Client that no lower layer names. Together with them a request fails
// with one of:
//   before anything was sent   client_errc::invalid_request, queue_full, closed,
//                              client_errc::connect_timeout, the connect's own error
//                              (connection_refused, ...) or a pool_errc (upstream_down,
//                              wait_timeout, queue_full);
//   after the request went out client_errc::closed_before_response, response_timeout,
//                              unsolicited_response, a ParseError (a malformed response), or the
//                              connection's system error (a reset).
// The first group means the upstream never saw the request (safe to send elsewhere); the
// second, that it may have: only the caller knows whether repeating it is safe. (closed is in
// both: a request already sent when the client is destroyed fails with it too.)
//
// Thread rule: pure functions and constants; any thread.
#pragma once

#include <system_error>

namespace tern::http {

enum class client_errc {
  invalid_request = 1,     // the request cannot be sent as given (a bad token, CR or LF in a field)
  queue_full,              // max_queued requests already wait for a connection
  closed,                  // the client is closed (or destroyed) with the request unanswered
  connect_timeout,         // no connection within the connect timeout
  closed_before_response,  // the server closed the connection before the whole response
  response_timeout,        // no whole response within the response timeout
  unsolicited_response,    // the server sent a response nobody asked for
};

const std::error_category& client_category() noexcept;
inline std::error_code make_error_code(client_errc e) noexcept {
  return {static_cast<int>(e), client_category()};
}

}  // namespace tern::http

template <>
struct std::is_error_code_enum<tern::http::client_errc> : std::true_type {};
