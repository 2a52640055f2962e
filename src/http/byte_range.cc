// Byte ranges: a small hand parser. Positions are parsed saturating (a number longer than 64
// bits is "very large"), so an absurd first position is unsatisfiable rather than malformed.
#include "byte_range.h"

#include <limits>

#include "field_rules.h"
#include "tern/http/message.h"

namespace tern::http {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Digits only (no sign, no space); nullopt-like false if empty or not all digits.
bool parse_position(std::string_view text, uint64_t& value) noexcept {
  if (text.empty()) return false;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  value = 0;
  for (char c : text) {
    if (!is_digit(c)) return false;
    auto digit = static_cast<uint64_t>(c - '0');
    value = value > (kMax - digit) / 10 ? kMax : value * 10 + digit;
  }
  return true;
}

RangeRequest partial(uint64_t first, uint64_t last) noexcept {
  return {RangeRequest::Kind::partial, first, last - first + 1};
}

constexpr RangeRequest kWhole{};
constexpr RangeRequest kUnsatisfiable{RangeRequest::Kind::unsatisfiable, 0, 0};

}  // namespace

RangeRequest parse_range(std::string_view header, uint64_t size) noexcept {
  header = rules::trim_ows(header);
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size() || !iequals(header.substr(0, kUnit.size()), kUnit)) {
    return kWhole;
  }
  std::string_view spec = rules::trim_ows(header.substr(kUnit.size()));
  if (spec.find(',') != std::string_view::npos) return kWhole;  // several ranges
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return kWhole;
  std::string_view first_text = spec.substr(0, dash);
  std::string_view last_text = spec.substr(dash + 1);

  if (first_text.empty()) {  // suffix: the last n bytes
    uint64_t suffix = 0;
    if (!parse_position(last_text, suffix)) return kWhole;
    if (suffix == 0 || size == 0) return kUnsatisfiable;
    return partial(suffix >= size ? 0 : size - suffix, size - 1);
  }
  uint64_t first = 0;
  if (!parse_position(first_text, first)) return kWhole;
  uint64_t last = std::numeric_limits<uint64_t>::max();
  if (!last_text.empty()) {
    if (!parse_position(last_text, last)) return kWhole;
    if (last < first) return kWhole;  // invalid syntax (RFC 9110 14.1.1): ignored
  }
  if (first >= size) return kUnsatisfiable;
  return partial(first, last >= size ? size - 1 : last);
}

}  // namespace tern::http
