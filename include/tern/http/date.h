// HTTP dates (RFC 9110 5.6.7): the IMF-fixdate servers send ("Sun, 06 Nov 1994 08:49:37 GMT"),
// parsed in the three forms a recipient must accept.
//
// Thread rule: pure functions, except current_date(), which keeps one cache per thread.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace tern::http {

inline constexpr size_t kHttpDateLength = 29;  // "Sun, 06 Nov 1994 08:49:37 GMT"

// Writes the IMF-fixdate of `seconds` (UTC) into out[0..29).
void format_http_date(std::time_t seconds, char* out) noexcept;
std::string format_http_date(std::time_t seconds);
// IMF-fixdate, RFC 850 or asctime form; nullopt if it is none of them.
std::optional<std::time_t> parse_http_date(std::string_view text) noexcept;
// The current date for the Date field, formatted at most once a second per thread (a coarse
// clock read per call, no system call).
std::string_view current_date() noexcept;

}  // namespace tern::http
