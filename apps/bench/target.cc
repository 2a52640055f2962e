#include "target.h"

#include <charconv>

namespace tern::bench {
namespace {

bool parse_port(std::string_view text, uint16_t& port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<uint16_t>(value);
  return true;
}

// "host:port", "[v6]:port".
bool parse_host_port(std::string_view text, Target& out, std::string& why) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      why = "expected [IPv6]:PORT";
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      why = "expected HOST:PORT (the port is required)";
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) {
    why = "the host is empty";
    return false;
  }
  if (!parse_port(port, out.port)) {
    why = "the port '" + std::string(port) + "' is not in 1..65535";
    return false;
  }
  auto address = InetAddress::parse(host, out.port);
  if (!address) {
    why = "'" + std::string(host) + "' is not an IPv4/IPv6 address or localhost (no DNS)";
    return false;
  }
  out.host = std::string(host);
  out.address = address.value();
  out.authority = std::string(text);
  return true;
}

}  // namespace

bool parse_target(const std::string& text, Target& out, std::string& why) {
  std::string_view rest = text;
  std::string reason;
  out = Target{};
  if (rest.starts_with("https://")) {
    why = "bad target '" + text + "': https is not supported (plain http:// only)";
    return false;
  }
  if (rest.starts_with("http://")) {
    out.is_http = true;
    rest.remove_prefix(7);
    auto slash = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
      std::string_view path = rest.substr(slash);
      out.path = path.front() == '?' ? "/" + std::string(path) : std::string(path);
    }
    if (!parse_host_port(authority, out, reason)) {
      why = "bad target '" + text + "': " + reason;
      return false;
    }
    for (char c : out.path) {
      if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#') {
        why = "bad target '" + text + "': the path has a space, control character or '#'";
        return false;
      }
    }
    return true;
  }
  if (rest.find("://") != std::string_view::npos) {
    why = "bad target '" + text + "': only http:// URLs or HOST:PORT";
    return false;
  }
  if (!parse_host_port(rest, out, reason)) {
    why = "bad target '" + text + "': " + reason;
    return false;
  }
  return true;
}

}  // namespace tern::bench
