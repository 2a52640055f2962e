// Reason phrases and whole status lines: one table, so that a response's status line is a
// constant copied into the output, never formatted.
#include "tern/http/status.h"

#include <array>
#include <cstdint>

namespace tern::http {
namespace {

struct Status {
  int code;
  std::string_view reason;
  std::string_view line;
};

#define TERN_HTTP_STATUS(code, reason) {code, reason, "HTTP/1.1 " #code " " reason "\r\n"}
// The line is spelled from the same literals as the reason, so the two cannot disagree.
constexpr Status kStatuses[] = {
    TERN_HTTP_STATUS(100, "Continue"),
    TERN_HTTP_STATUS(101, "Switching Protocols"),
    TERN_HTTP_STATUS(200, "OK"),
    TERN_HTTP_STATUS(201, "Created"),
    TERN_HTTP_STATUS(202, "Accepted"),
    TERN_HTTP_STATUS(204, "No Content"),
    TERN_HTTP_STATUS(206, "Partial Content"),
    TERN_HTTP_STATUS(301, "Moved Permanently"),
    TERN_HTTP_STATUS(302, "Found"),
    TERN_HTTP_STATUS(303, "See Other"),
    TERN_HTTP_STATUS(304, "Not Modified"),
    TERN_HTTP_STATUS(307, "Temporary Redirect"),
    TERN_HTTP_STATUS(308, "Permanent Redirect"),
    TERN_HTTP_STATUS(400, "Bad Request"),
    TERN_HTTP_STATUS(401, "Unauthorized"),
    TERN_HTTP_STATUS(403, "Forbidden"),
    TERN_HTTP_STATUS(404, "Not Found"),
    TERN_HTTP_STATUS(405, "Method Not Allowed"),
    TERN_HTTP_STATUS(406, "Not Acceptable"),
    TERN_HTTP_STATUS(408, "Request Timeout"),
    TERN_HTTP_STATUS(409, "Conflict"),
    TERN_HTTP_STATUS(411, "Length Required"),
    TERN_HTTP_STATUS(412, "Precondition Failed"),
    TERN_HTTP_STATUS(413, "Content Too Large"),
    TERN_HTTP_STATUS(414, "URI Too Long"),
    TERN_HTTP_STATUS(415, "Unsupported Media Type"),
    TERN_HTTP_STATUS(416, "Range Not Satisfiable"),
    TERN_HTTP_STATUS(417, "Expectation Failed"),
    TERN_HTTP_STATUS(421, "Misdirected Request"),
    TERN_HTTP_STATUS(422, "Unprocessable Content"),
    TERN_HTTP_STATUS(426, "Upgrade Required"),
    TERN_HTTP_STATUS(428, "Precondition Required"),
    TERN_HTTP_STATUS(429, "Too Many Requests"),
    TERN_HTTP_STATUS(431, "Request Header Fields Too Large"),
    TERN_HTTP_STATUS(500, "Internal Server Error"),
    TERN_HTTP_STATUS(501, "Not Implemented"),
    TERN_HTTP_STATUS(502, "Bad Gateway"),
    TERN_HTTP_STATUS(503, "Service Unavailable"),
    TERN_HTTP_STATUS(504, "Gateway Timeout"),
    TERN_HTTP_STATUS(505, "HTTP Version Not Supported"),
};
#undef TERN_HTTP_STATUS

constexpr int kFirst = 100;
constexpr int kLast = 599;
constexpr uint8_t kNone = 0xff;

// Code -> index into kStatuses (kNone if unlisted): one load per lookup.
constexpr auto make_index() {
  std::array<uint8_t, kLast - kFirst + 1> index{};
  for (auto& slot : index) slot = kNone;
  for (size_t i = 0; i < std::size(kStatuses); ++i) {
    index[kStatuses[i].code - kFirst] = static_cast<uint8_t>(i);
  }
  return index;
}
constexpr auto kIndex = make_index();

const Status* lookup(int code) noexcept {
  if (code < kFirst || code > kLast) return nullptr;
  uint8_t i = kIndex[code - kFirst];
  return i == kNone ? nullptr : &kStatuses[i];
}

}  // namespace

std::string_view reason_phrase(int status) noexcept {
  const Status* s = lookup(status);
  return s ? s->reason : "Unknown";
}

std::string_view status_line(int status) noexcept {
  const Status* s = lookup(status);
  return s ? s->line : std::string_view();
}

}  // namespace tern::http
