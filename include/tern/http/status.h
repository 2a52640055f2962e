// HTTP status codes and their reason phrases (RFC 9110, section 15).
//
// Thread rule: pure functions; any thread.
#pragma once

#include <string_view>

namespace tern::http {

// The reason phrase of `status` ("Not Found"); "Unknown" for a code it does not list.
std::string_view reason_phrase(int status) noexcept;
// The whole status line with its CRLF, "HTTP/1.1 404 Not Found\r\n": a constant for the listed
// codes (no formatting per response), empty for others.
std::string_view status_line(int status) noexcept;
// 1xx, 204 and 304 responses have no body (RFC 9110 6.4.1).
constexpr bool status_has_body(int status) noexcept {
  return status >= 200 && status != 204 && status != 304;
}

}  // namespace tern::http
