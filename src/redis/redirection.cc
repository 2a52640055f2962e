// parse_redirection: "MOVED|ASK <slot> <host>:<port>".
#include "tern/redis/redirection.h"

#include <charconv>

#include "tern/redis/key_slot.h"

namespace tern::redis {
namespace {

template <class T>
bool parse_number(std::string_view text, T& value) noexcept {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

std::optional<InetAddress> parse_endpoint(std::string_view endpoint) {
  size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = endpoint.substr(0, colon);
  uint16_t port = 0;
  if (!parse_number(endpoint.substr(colon + 1), port)) return std::nullopt;
  auto address = InetAddress::parse(host.empty() ? std::string_view("0.0.0.0") : host, port);
  if (!address.ok()) return std::nullopt;
  return *address;
}

}  // namespace

std::optional<Redirection> parse_redirection(std::string_view error_text) {
  Redirection::Kind kind;
  if (error_text.starts_with("MOVED ")) {
    kind = Redirection::Kind::moved;
    error_text.remove_prefix(6);
  } else if (error_text.starts_with("ASK ")) {
    kind = Redirection::Kind::ask;
    error_text.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  size_t space = error_text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  uint16_t slot = 0;
  if (!parse_number(error_text.substr(0, space), slot) || slot >= kClusterSlots) {
    return std::nullopt;
  }
  std::optional<InetAddress> address = parse_endpoint(error_text.substr(space + 1));
  if (!address) return std::nullopt;
  return Redirection{kind, slot, *address};
}

bool is_unspecified_host(const InetAddress& address) noexcept {
  return address.family() == AF_INET &&
         reinterpret_cast<const sockaddr_in*>(address.sockaddr_ptr())->sin_addr.s_addr ==
             INADDR_ANY;
}

}  // namespace tern::redis
