// Percent-decoding, path normalisation and query parameters. The path rules are the static
// file server's defence against traversal, so every doubtful input is refused, not repaired.
#include "tern/http/uri.h"

#include <vector>

#include "http/field_rules.h"

namespace tern::http {
namespace {

// Appends the decoded `in`, or returns false (see percent_decode); `decoded_slash` is set when
// a "%2F" was decoded, which a path segment must refuse.
bool decode(std::string_view in, std::string& out, bool plus_is_space, bool* decoded_slash) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = rules::hex_value(in[i + 1]);
      int lo = rules::hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '/' && decoded_slash != nullptr) *decoded_slash = true;
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return false;
    out.push_back(c);
  }
  return true;
}

// One decoded segment of a path, and what it means for the walk.
enum class Segment { name, current, parent };

Segment classify(std::string_view segment) noexcept {
  if (segment.empty() || segment == ".") return Segment::current;
  if (segment == "..") return Segment::parent;
  return Segment::name;
}

}  // namespace

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  return decode(in, out, plus_is_space, nullptr);
}

// Decodes segment by segment (so that "%2e%2e" is seen as "..", and "%2F" cannot smuggle a
// separator into a segment), then resolves the walk on a stack of segment ends in `out`.
std::optional<std::string> normalize_path(std::string_view raw_path) {
  if (raw_path.empty() || raw_path.front() != '/') return std::nullopt;
  std::string out = "/";
  std::string segment;
  std::vector<size_t> starts;  // where each kept segment begins in `out`
  bool ends_in_directory = true;
  size_t pos = 1;
  while (pos <= raw_path.size()) {
    size_t slash = raw_path.find('/', pos);
    if (slash == std::string_view::npos) slash = raw_path.size();
    segment.clear();
    bool decoded_slash = false;
    if (!decode(raw_path.substr(pos, slash - pos), segment, false, &decoded_slash)) {
      return std::nullopt;
    }
    // A backslash is a separator to other systems' file APIs and to some proxies: refused, so
    // that no layer behind this one can read "..\" as a step up.
    if (decoded_slash || segment.find('\\') != std::string::npos) return std::nullopt;
    switch (classify(segment)) {
      case Segment::current:
        // "//" and "/./" vanish; a path ending in "/" or "/." names a directory.
        ends_in_directory = true;
        break;
      case Segment::parent:
        if (starts.empty()) return std::nullopt;  // climbs above the root
        out.resize(starts.back());
        starts.pop_back();
        ends_in_directory = true;
        break;
      case Segment::name:
        starts.push_back(out.size());
        out += segment;
        out += '/';
        ends_in_directory = false;
        break;
    }
    pos = slash + 1;
  }
  if (!ends_in_directory && out.size() > 1) out.pop_back();
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  std::string key;
  while (true) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    std::string_view raw_key = pair.substr(0, eq);
    key.clear();
    if (!raw_key.empty() && decode(raw_key, key, true, nullptr) && key == name) {
      std::string value;
      std::string_view raw_value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
      if (!decode(raw_value, value, true, nullptr)) return std::nullopt;
      return value;
    }
    if (amp == std::string_view::npos) return std::nullopt;
    query.remove_prefix(amp + 1);
  }
}

}  // namespace tern::http
