// Errors: tern reports failures as std::error_code. System failures keep errno's value in
// std::system_category(); conditions that have no errno (end of stream, an fd select cannot
// hold, ...) live in tern::error_category().
#pragma once

#include <cerrno>
#include <system_error>

namespace tern {

enum class errc {
  eof = 1,            // the peer closed its side of the stream
  fd_too_large,       // select cannot watch an fd >= FD_SETSIZE
  already_in_use,     // an fd already has an operation of this direction in flight
  not_connected,      // the connection is closing or closed
  invalid_argument,   // a caller passed something tern cannot use (see the message)
  message_too_large,  // a framed message is longer than the codec's limit
  unanswered,         // a handler dropped its Reply without sending a response
  answered_early,     // the peer answered a request before its body was all sent
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// The error for a positive errno value.
inline std::error_code system_error(int errno_value) noexcept {
  return {errno_value, std::system_category()};
}

// The error for the current errno.
inline std::error_code last_system_error() noexcept { return system_error(errno); }

}  // namespace tern

template <>
struct std::is_error_code_enum<tern::errc> : std::true_type {};
