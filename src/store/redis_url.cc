#include "store/redis_url.h"

#include <charconv>

namespace tern::store {
namespace {

std::optional<uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

// "HOST:PORT", "[V6]:PORT", "HOST" or "[V6]" (the last two: the default port).
std::optional<InetAddress> parse_server(std::string_view text, std::string& why) {
  std::string_view host = text;
  std::optional<std::string_view> port_text;
  if (text.starts_with('[')) {
    size_t bracket = text.find(']');
    std::string_view after = bracket == std::string_view::npos ? "?" : text.substr(bracket + 1);
    if (!after.empty() && !after.starts_with(':')) {
      why = "'" + std::string(text) + "': expected [IPV6]:PORT";
      return std::nullopt;
    }
    host = text.substr(0, bracket + 1);
    if (!after.empty()) port_text = after.substr(1);
  } else if (size_t colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (port_text->find(':') != std::string_view::npos) {
      why = "'" + std::string(text) + "': an IPv6 address needs brackets, as in [::1]:6379";
      return std::nullopt;
    }
  }
  uint16_t port = kRedisDefaultPort;
  if (port_text) {
    auto parsed = parse_port(*port_text);
    if (!parsed) {
      why = "'" + std::string(text) + "': bad port '" + std::string(*port_text) + "' (1-65535)";
      return std::nullopt;
    }
    port = *parsed;
  }
  auto address = InetAddress::parse(host, port);
  if (!address) {
    why = "'" + std::string(text) + "': bad host '" + std::string(host) +
          "' (an IP address or localhost)";
    return std::nullopt;
  }
  return *address;
}

}  // namespace

bool is_redis_url(std::string_view url) noexcept {
  return url.starts_with(kRedisScheme) || url.starts_with(kRedisClusterScheme);
}

std::optional<RedisUrl> parse_redis_url(std::string_view url, std::string& why) {
  RedisUrl parsed;
  std::string_view rest;
  if (url.starts_with(kRedisScheme)) {
    rest = url.substr(kRedisScheme.size());
  } else if (url.starts_with(kRedisClusterScheme)) {
    parsed.cluster = true;
    rest = url.substr(kRedisClusterScheme.size());
  } else {
    why = "'" + std::string(url) + "': expected redis://HOST:PORT or redis-cluster://HOST:PORT,...";
    return std::nullopt;
  }
  if (!parsed.cluster && rest.find(',') != std::string_view::npos) {
    why = "'" + std::string(url) + "': redis:// names one server (redis-cluster:// takes a list)";
    return std::nullopt;
  }
  while (true) {
    std::string_view item = rest.substr(0, rest.find(','));
    if (item.empty()) {
      why = "'" + std::string(url) + "': a server is missing (expected HOST:PORT)";
      return std::nullopt;
    }
    std::string item_why;
    auto server = parse_server(item, item_why);
    if (!server) {
      why = "storage URL " + item_why;
      return std::nullopt;
    }
    parsed.servers.push_back(*server);
    if (item.size() == rest.size()) break;
    rest.remove_prefix(item.size() + 1);
  }
  return parsed;
}

}  // namespace tern::store
