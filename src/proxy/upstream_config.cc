// Parsing of the --upstream syntax and the mode name.
#include "tern/proxy/upstream_config.h"

#include <charconv>
#include <system_error>

namespace tern::proxy {
namespace {

Result<UpstreamConfig> invalid(std::string& why, std::string message) {
  why = std::move(message);
  return std::make_error_code(std::errc::invalid_argument);
}

// A decimal number in [low, high], the whole of `text`.
std::optional<uint32_t> parse_number(std::string_view text, uint32_t low, uint32_t high) {
  uint32_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  if (value < low || value > high) return std::nullopt;
  return value;
}

// Splits "host:port" / "[v6]:port" into host and port text; false when there is no port.
bool split_host_port(std::string_view name, std::string_view& host, std::string_view& port) {
  size_t colon = name.rfind(':');
  if (colon == std::string_view::npos) return false;
  host = name.substr(0, colon);
  port = name.substr(colon + 1);
  return true;
}

}  // namespace

std::optional<Mode> parse_mode(std::string_view text) noexcept {
  if (text == "http") return Mode::http;
  if (text == "tcp") return Mode::tcp;
  return std::nullopt;
}

const char* mode_name(Mode mode) noexcept { return mode == Mode::tcp ? "tcp" : "http"; }

Result<UpstreamConfig> parse_upstream(std::string_view text, std::string& why) {
  std::string_view name = text.substr(0, text.find(','));
  std::string_view host, port_text;
  if (name.empty() || !split_host_port(name, host, port_text)) {
    return invalid(why, "upstream '" + std::string(text) + "': expected HOST:PORT");
  }
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (!bracketed && host.find(':') != std::string_view::npos) {
    return invalid(why, "upstream '" + std::string(name) +
                            "': an IPv6 address needs brackets, as in [::1]:8081");
  }
  auto port = parse_number(port_text, 1, 65535);
  if (!port) return invalid(why, "upstream '" + std::string(name) + "': bad port '" +
                                     std::string(port_text) + "' (1-65535)");
  auto address = InetAddress::parse(host, static_cast<uint16_t>(*port));
  if (!address) {
    return invalid(why, "upstream '" + std::string(name) + "': bad host '" + std::string(host) +
                            "' (an IP address or localhost)");
  }
  UpstreamConfig upstream{std::string(name), *address, 1};
  std::string_view rest = text.substr(name.size());
  while (!rest.empty()) {  // ",key=value" options
    rest.remove_prefix(1);
    std::string_view option = rest.substr(0, rest.find(','));
    rest.remove_prefix(option.size());
    if (option.starts_with("weight=")) {
      auto weight = parse_number(option.substr(7), kMinWeight, kMaxWeight);
      if (!weight) {
        return invalid(why, "upstream '" + std::string(name) + "': bad weight '" +
                                std::string(option.substr(7)) + "' (1-1000)");
      }
      upstream.weight = *weight;
    } else {
      return invalid(why, "upstream '" + std::string(name) + "': unknown option '" +
                              std::string(option) + "' (expected weight=W)");
    }
  }
  return upstream;
}

}  // namespace tern::proxy
