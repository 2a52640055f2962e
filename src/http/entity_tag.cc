#include "entity_tag.h"

#include <charconv>

#include "tern/http/date.h"

namespace tern::http {
namespace {

void append_hex(std::string& out, uint64_t value) {
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value, 16);
  out.append(digits, end);
}

bool is_space(char c) noexcept { return c == ' ' || c == '\t'; }

// One entity-tag at the front of `list`: its opaque part (quotes included) and whether it is
// weak; `list` advances past it. False if the front is not a well-formed tag.
bool take_tag(std::string_view& list, std::string_view& opaque, bool& weak) noexcept {
  weak = list.starts_with("W/");
  if (weak) list.remove_prefix(2);
  if (list.empty() || list.front() != '"') return false;
  size_t close = list.find('"', 1);
  if (close == std::string_view::npos) return false;
  opaque = list.substr(0, close + 1);
  list.remove_prefix(close + 1);
  return true;
}

std::string_view opaque_of(std::string_view etag) noexcept {
  return etag.starts_with("W/") ? etag.substr(2) : etag;
}

}  // namespace

std::string make_etag(uint64_t size, timespec mtime, std::string_view suffix) {
  std::string tag;
  tag.reserve(48);
  tag.push_back('"');
  append_hex(tag, static_cast<uint64_t>(mtime.tv_sec));
  tag.push_back('.');
  append_hex(tag, static_cast<uint64_t>(mtime.tv_nsec));
  tag.push_back('-');
  append_hex(tag, size);
  tag.append(suffix);
  tag.push_back('"');
  return tag;
}

bool none_match_matches(std::string_view header, std::string_view etag) noexcept {
  std::string_view ours = opaque_of(etag);
  std::string_view list = header;
  for (;;) {
    while (!list.empty() && (is_space(list.front()) || list.front() == ',')) list.remove_prefix(1);
    if (list.empty()) return false;
    if (list.front() == '*') return true;
    std::string_view opaque;
    bool weak = false;
    if (!take_tag(list, opaque, weak)) return false;
    if (opaque == ours) return true;
  }
}

bool if_range_holds(std::string_view header, std::string_view etag, std::time_t modified) noexcept {
  while (!header.empty() && is_space(header.front())) header.remove_prefix(1);
  while (!header.empty() && is_space(header.back())) header.remove_suffix(1);
  if (header.starts_with("W/")) return false;  // a weak tag never satisfies If-Range
  if (header.starts_with("\"")) return !etag.starts_with("W/") && header == etag;
  std::optional<std::time_t> date = parse_http_date(header);
  return date.has_value() && *date == modified;
}

}  // namespace tern::http
