// The vocabulary of HTTP/1.1 messages (RFC 9110, RFC 9112) shared by the parser, the server's
// Request and Response, and the client: methods, versions, header fields as views, and the
// case-insensitive comparisons field names and tokens need.
//
// Thread rule: value types and pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace tern::http {

enum class Method : uint8_t { get, head, post, put, delete_, options, connect, trace, patch, other };
enum class Version : uint8_t { http10, http11 };

// Method::other for a valid token that is none of the above (the token stays in the request).
Method parse_method(std::string_view token) noexcept;
std::string_view method_name(Method method) noexcept;  // "GET"; "" for other
std::string_view version_name(Version version) noexcept;  // "HTTP/1.1"

// ASCII case-insensitive equality (field names, tokens). Inline: field lookups call it once per
// field, and most calls end at the size check.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? char(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? char(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}
// True if the comma-separated list `list` (Connection, Accept-Encoding, TE) holds `token`,
// compared case-insensitively, parameters after ';' ignored.
bool has_token(std::string_view list, std::string_view token) noexcept;

// A header field as received: views into the connection's input.
struct Header {
  std::string_view name;
  std::string_view value;  // leading and trailing whitespace removed
};

// The fields of one message, in the order received.
class Headers {
 public:
  Headers() = default;
  explicit Headers(std::span<const Header> fields) noexcept : fields_(fields) {}

  // The first field named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> find(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return find(name).has_value(); }
  size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  const Header* begin() const noexcept { return fields_.data(); }
  const Header* end() const noexcept { return fields_.data() + fields_.size(); }
  std::span<const Header> fields() const noexcept { return fields_; }

 private:
  std::span<const Header> fields_;
};

}  // namespace tern::http
